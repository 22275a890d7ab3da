//! The lines a guest writes in one turn (orchestrators) or one attempt (activities), from its stdout,
//! its stderr and the `log` call: how many it may write and how long each may be, so that a guest
//! that logs in a loop cannot flood the host's log; each line written to the host's log (target
//! `keel::guest`) and kept, with its time, until the engine takes it to store with the turn or the
//! result. Lines past the budget are dropped, with one warning saying so.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use tracing::Level;

use crate::clock::SharedClock;

/// A line kept for the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptLine {
    /// When it was written, ms since the epoch.
    pub at_ms: u64,
    /// `stdout`, `stderr`, or the level of a `log` call.
    pub stream: &'static str,
    /// The line, masked and cut as it was logged.
    pub text: String,
}

/// The log of a guest's current turn or attempt.
#[derive(Debug)]
pub struct GuestLog {
    lines: u32,
    line_bytes: usize,
    left: AtomicU32,
    warned: AtomicBool,
    clock: SharedClock,
    kept: Mutex<Vec<KeptLine>>,
}

impl GuestLog {
    /// `lines` lines of at most `line_bytes` bytes each, timed by `clock`.
    pub fn new(lines: u32, line_bytes: usize, clock: SharedClock) -> Self {
        Self {
            lines,
            line_bytes,
            left: AtomicU32::new(lines),
            warned: AtomicBool::new(false),
            clock,
            kept: Mutex::new(Vec::new()),
        }
    }

    /// The log `limits` allow a turn or an attempt (`max_log_lines` lines of `max_log_bytes`),
    /// timed by `clock`.
    pub fn for_limits(limits: &crate::limits::Limits, clock: SharedClock) -> Self {
        Self::new(limits.max_log_lines, limits.max_log_bytes, clock)
    }

    /// Longest line, in bytes.
    pub(crate) fn line_bytes(&self) -> usize {
        self.line_bytes
    }

    /// Writes a line of `source` at `level` to the host's log and keeps it, if the budget allows;
    /// the first refusal warns.
    pub(crate) fn write(&self, source: &str, level: Level, stream: &'static str, text: &str) {
        let took = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if !took {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    target: "keel::guest",
                    source,
                    "the guest wrote more than {} log lines in one turn or attempt; the rest are dropped",
                    self.lines
                );
            }
            return;
        }
        match level {
            Level::TRACE => tracing::trace!(target: "keel::guest", source, stream, "{text}"),
            Level::DEBUG => tracing::debug!(target: "keel::guest", source, stream, "{text}"),
            Level::INFO => tracing::info!(target: "keel::guest", source, stream, "{text}"),
            Level::WARN => tracing::warn!(target: "keel::guest", source, stream, "{text}"),
            Level::ERROR => tracing::error!(target: "keel::guest", source, stream, "{text}"),
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        // Lines a turn left untaken (it failed) count too: memory stays within one budget.
        if kept.len() < self.lines as usize {
            kept.push(KeptLine {
                at_ms: self.clock.now_ms(),
                stream,
                // PostgreSQL's text cannot hold NUL.
                text: text.replace('\0', "\u{fffd}"),
            });
        }
    }

    /// A new turn: the full budget again.
    pub(crate) fn refill(&self) {
        self.left.store(self.lines, Ordering::Relaxed);
        self.warned.store(false, Ordering::Relaxed);
    }

    /// The lines kept since the last call, oldest first.
    pub fn take_lines(&self) -> Vec<KeptLine> {
        std::mem::take(&mut *self.kept.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn a_log_keeps_its_budget_of_lines_and_refills() {
        let clock = Arc::new(ManualClock::new(7));
        let log = GuestLog::new(2, 10, clock.clone());
        log.write("t", Level::INFO, "stdout", "one");
        clock.advance(5);
        log.write("t", Level::WARN, "warn", "two\0");
        log.write("t", Level::INFO, "stdout", "three");
        let taken = log.take_lines();
        let texts: Vec<_> = taken
            .iter()
            .map(|l| (l.at_ms, l.stream, l.text.as_str()))
            .collect();
        assert_eq!(texts, [(7, "stdout", "one"), (12, "warn", "two\u{fffd}")]);
        assert!(log.take_lines().is_empty());
        log.refill();
        log.write("t", Level::INFO, "stderr", "four");
        assert_eq!(log.take_lines().len(), 1);
    }
}
