//! The CPU time a guest uses, counted while its future is polled, from the polling thread's own CPU
//! clock: time spent waiting for a core (in the executor's queue, or preempted by the system) is not
//! charged, so a busy machine does not fail healthy turns with `CpuLimitExceeded`.
//!
//! [`Metered`] wraps the future that runs the guest; the epoch callback asks `CpuMeter::used` at each
//! tick, which adds the running poll's share to the completed ones. Guest code run outside a
//! [`Metered`] future (instantiation) is charged one tick per epoch callback, as a wall-clock bound.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::thread::ThreadId;
use std::time::Duration;

use cpu_time::ThreadTime;

use crate::limits::EPOCH_TICK_MS;

/// CPU time used by one store's guest since its budget was last reset.
#[derive(Debug, Default)]
pub struct CpuMeter {
    /// Nanoseconds used by completed polls (and ticks charged outside any poll).
    used_ns: AtomicU64,
    /// The poll running now: its thread and that thread's CPU clock when it began.
    running: Mutex<Option<(ThreadId, Duration)>>,
}

/// The current thread's CPU clock, if the system has one.
fn thread_clock() -> Option<Duration> {
    ThreadTime::try_now().ok().map(|t| t.as_duration())
}

impl CpuMeter {
    fn running(&self) -> std::sync::MutexGuard<'_, Option<(ThreadId, Duration)>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The CPU time used so far; called by the epoch callback, on the thread running the guest.
    /// Outside a metered poll, or without a thread clock, each call charges one epoch tick.
    pub(crate) fn used(&self) -> Duration {
        let running = *self.running();
        let now = thread_clock();
        let share = match (running, now) {
            (Some((thread, began)), Some(now)) if thread == std::thread::current().id() => {
                now.saturating_sub(began)
            }
            _ => {
                let tick = Duration::from_millis(EPOCH_TICK_MS);
                self.used_ns
                    .fetch_add(tick.as_nanos() as u64, Ordering::Relaxed);
                Duration::ZERO
            }
        };
        Duration::from_nanos(self.used_ns.load(Ordering::Relaxed)) + share
    }

    /// Starts a fresh budget (the guest resumes after waiting on the host).
    pub(crate) fn reset(&self) {
        self.used_ns.store(0, Ordering::Relaxed);
        let mut running = self.running();
        if let Some((thread, began)) = running.as_mut()
            && *thread == std::thread::current().id()
            && let Some(now) = thread_clock()
        {
            *began = now;
        }
    }

    fn begin(&self) {
        *self.running() = thread_clock().map(|now| (std::thread::current().id(), now));
    }

    fn end(&self) {
        let began = self.running().take();
        if let (Some((_, began)), Some(now)) = (began, thread_clock()) {
            let ns = u64::try_from(now.saturating_sub(began).as_nanos()).unwrap_or(u64::MAX);
            self.used_ns.fetch_add(ns, Ordering::Relaxed);
        }
    }
}

/// A guest's future whose polls are charged to `meter`.
pub struct Metered<F> {
    inner: Pin<Box<F>>,
    meter: Arc<CpuMeter>,
}

impl<F: Future> Metered<F> {
    /// Charges the polls of `inner` to `meter`.
    pub fn new(inner: F, meter: Arc<CpuMeter>) -> Self {
        Self {
            inner: Box::pin(inner),
            meter,
        }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.meter.begin();
        let result = self.inner.as_mut().poll(cx);
        self.meter.end();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Computes for `ms` of this thread's CPU time (however long that takes on a busy machine).
    fn spin(ms: u64) {
        let start = ThreadTime::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(ms) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    #[tokio::test]
    async fn polls_are_charged_their_cpu_and_waiting_is_not() {
        let meter = Arc::new(CpuMeter::default());
        let inner = meter.clone();
        Metered::new(
            async move {
                spin(30);
                assert!(inner.used() >= Duration::from_millis(30));
                // Waiting (a sleep, or the executor's queue) costs no CPU.
                tokio::time::sleep(Duration::from_millis(100)).await;
                spin(30);
            },
            meter.clone(),
        )
        .await;
        let used = meter.used_ns.load(Ordering::Relaxed);
        assert!(
            (60_000_000..100_000_000).contains(&used),
            "{used} ns charged for 60 ms of computing and 100 ms of waiting"
        );
        meter.reset();
        assert_eq!(meter.used_ns.load(Ordering::Relaxed), 0);
    }
}
