//! The engine's own measurements: counters of turns, replays, hot-cache hits and evictions, activity
//! attempts and failures per activity name, and latency histograms of turns and activity attempts.
//!
//! Everything is an atomic or a short critical section, updated where the work happens and read by
//! whoever renders it (`/metrics`); recording never waits on I/O.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histograms' buckets; the last bucket is `+Inf`.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A latency histogram with fixed buckets ([`LATENCY_BUCKETS`]).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the extra last one counts `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound in seconds, observations at or below it)`, cumulative, ending with `+Inf`.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of the observations, in seconds.
    pub sum_seconds: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The cumulative buckets, sum and count.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(self.buckets.len());
        for (i, n) in self.buckets.iter().enumerate() {
            total += n.load(Ordering::Relaxed);
            buckets.push((
                LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY),
                total,
            ));
        }
        HistogramSnapshot {
            buckets,
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
            count: self.count.load(Ordering::Relaxed),
        }
    }
}

/// Attempts and failed attempts of one activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    /// Attempts run.
    pub attempts: u64,
    /// Attempts that failed (retried or not).
    pub failures: u64,
}

/// Counters and histograms of one engine.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Turns served by a hot instance.
    pub hot_hits: AtomicU64,
    /// Guests started by replaying history (cold start, eviction, restart).
    pub replays: AtomicU64,
    /// Hot instances dropped because the cache was full.
    pub hot_evictions: AtomicU64,
    /// Queries answered by the instance's guest kept in memory.
    pub queries_hot: AtomicU64,
    /// Queries answered by a guest replayed for them.
    pub queries_replayed: AtomicU64,
    /// Turns committed.
    pub turns: AtomicU64,
    /// Activity results committed with the turn they unblocked, in the worker that produced them,
    /// instead of through the instance's inbox and a turn of their own.
    pub results_with_turn: AtomicU64,
    /// Attempts of local activities, run by the turn that called them (also counted per name with
    /// every other attempt).
    pub local_attempts: AtomicU64,
    /// Turns abandoned (lease lost, store conflict, guest could not start); they run again later.
    pub turns_abandoned: AtomicU64,
    /// How long turns took, from claim to commit.
    pub turn_latency: Histogram,
    /// How long activity attempts took, from start to the committed result.
    pub activity_latency: Histogram,
    /// Instances parked because their turns kept failing outside the orchestrator.
    pub instances_parked: AtomicU64,
    attempts: Mutex<BTreeMap<String, AttemptCounts>>,
}

/// Distinct activity names counted under their own label.
pub const MAX_ACTIVITY_LABELS: usize = 1_000;

/// The label the attempts of further names are counted under.
pub const OTHER_ACTIVITIES: &str = "(other)";

impl Metrics {
    /// Records an attempt of activity `name` (as called, without a version range).
    pub fn record_attempt(&self, name: &str, failed: bool) {
        let mut attempts = self.attempts.lock().unwrap_or_else(|p| p.into_inner());
        let count = |counts: &mut AttemptCounts| {
            counts.attempts += 1;
            counts.failures += u64::from(failed);
        };
        // Only the first attempt of a name allocates its key; past `MAX_ACTIVITY_LABELS` names (an
        // orchestrator calling made-up names), the rest share one label.
        if let Some(counts) = attempts.get_mut(name) {
            count(counts);
        } else if attempts.len() >= MAX_ACTIVITY_LABELS {
            count(attempts.entry(OTHER_ACTIVITIES.to_owned()).or_default());
        } else {
            count(attempts.entry(name.to_owned()).or_default());
        }
    }

    /// Attempts and failures per activity name.
    pub fn attempts(&self) -> BTreeMap<String, AttemptCounts> {
        self.attempts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_count_everything() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], (0.000_5, 1));
        assert_eq!(s.buckets[3], (0.005, 2));
        assert_eq!(s.buckets.last(), Some(&(f64::INFINITY, 3)));
        assert!((s.sum_seconds - 60.0033).abs() < 1e-6);
    }

    #[test]
    fn activity_labels_are_bounded() {
        let m = Metrics::default();
        for i in 0..MAX_ACTIVITY_LABELS + 50 {
            m.record_attempt(&format!("made-up-{i}"), true);
        }
        m.record_attempt("made-up-0", false);
        let attempts = m.attempts();
        assert_eq!(attempts.len(), MAX_ACTIVITY_LABELS + 1);
        assert_eq!(attempts[OTHER_ACTIVITIES].attempts, 50);
        assert_eq!(attempts["made-up-0"].attempts, 2);
    }
}
