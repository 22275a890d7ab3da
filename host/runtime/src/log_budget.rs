//! How many log lines a guest may write per turn (orchestrators) or per attempt (activities), and
//! how long each may be: a guest that logs in a loop cannot flood the host's log. Lines past the
//! budget are dropped, with one warning saying so.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The log lines left to a guest in its current turn or attempt.
#[derive(Debug)]
pub struct LogBudget {
    lines: u32,
    line_bytes: usize,
    left: AtomicU32,
    warned: AtomicBool,
}

impl LogBudget {
    /// `lines` lines of at most `line_bytes` bytes each.
    pub fn new(lines: u32, line_bytes: usize) -> Self {
        Self {
            lines,
            line_bytes,
            left: AtomicU32::new(lines),
            warned: AtomicBool::new(false),
        }
    }

    /// Longest line, in bytes.
    pub(crate) fn line_bytes(&self) -> usize {
        self.line_bytes
    }

    /// True if one more line of `source` may be written; the first refusal warns.
    pub(crate) fn take(&self, source: &str) -> bool {
        let took = self
            .left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok();
        if !took && !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                target: "keel::guest",
                source,
                "the guest wrote more than {} log lines in one turn or attempt; the rest are dropped",
                self.lines
            );
        }
        took
    }

    /// A new turn: the full budget again.
    pub(crate) fn refill(&self) {
        self.left.store(self.lines, Ordering::Relaxed);
        self.warned.store(false, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_allows_its_lines_and_refills() {
        let budget = LogBudget::new(2, 10);
        assert!(budget.take("t") && budget.take("t"));
        assert!(!budget.take("t") && !budget.take("t"));
        budget.refill();
        assert!(budget.take("t"));
    }
}
