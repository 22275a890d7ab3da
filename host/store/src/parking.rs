//! Poison work: the rows of a turn that failed for a host reason (counted, backed off, parked after
//! too many tries) and of an operator taking a parked instance back.
//!
//! The caller decides the backoff and the limit; this only writes them, and only while the failing
//! worker still holds the instance's lease.

use rusqlite::{Connection, OptionalExtension, params};

use super::writer::execute;
use super::{Result, to_i64};

/// A turn of a leased instance failed for a reason outside the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnFailed {
    /// The instance.
    pub id: String,
    /// The worker that held its lease.
    pub owner: String,
    /// What went wrong, as shown to operators.
    pub reason: String,
    /// When.
    pub now: u64,
    /// The first delay; each further failure doubles it.
    pub backoff_ms: u64,
    /// Upper bound of one delay.
    pub max_backoff_ms: u64,
    /// Failures in a row after which the instance is parked.
    pub max_failures: u32,
}

/// What became of the instance after a failed turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Its next turn waits until this time.
    RetryAt(u64),
    /// It is parked: no turn runs until an operator resumes it.
    Parked,
    /// The worker no longer held its lease: nothing was written.
    NotLeased,
}

/// Delay before the turn after `failures` failures in a row: `backoff · 2^(failures-1)`, capped.
pub fn backoff(failures: u32, backoff_ms: u64, max_ms: u64) -> u64 {
    let exponent = failures.saturating_sub(1).min(62);
    backoff_ms.saturating_mul(1u64 << exponent).min(max_ms)
}

pub(super) fn turn_failed(conn: &Connection, f: &TurnFailed) -> Result<AfterFailure> {
    let failures: Option<i64> = conn
        .prepare_cached(
            "UPDATE instances SET turn_failures = turn_failures + 1, locked_by = NULL,
                 locked_until = NULL, updated_at = ?3
             WHERE id = ?1 AND locked_by = ?2
             RETURNING turn_failures",
        )?
        .query_row(params![f.id, f.owner, to_i64(f.now)], |r| r.get(0))
        .optional()?;
    let Some(failures) = failures else {
        return Ok(AfterFailure::NotLeased);
    };
    let failures = u32::try_from(failures).unwrap_or(u32::MAX);
    if failures >= f.max_failures {
        let reason = format!(
            "{failures} turns in a row failed outside the orchestrator; the last: {}",
            f.reason
        );
        execute(
            conn,
            "UPDATE instances SET status = 'Parked', parked = ?2, not_before = NULL WHERE id = ?1",
            params![f.id, reason],
        )?;
        return Ok(AfterFailure::Parked);
    }
    let at = f
        .now
        .saturating_add(backoff(failures, f.backoff_ms, f.max_backoff_ms));
    execute(
        conn,
        "UPDATE instances SET not_before = ?2 WHERE id = ?1",
        params![f.id, to_i64(at)],
    )?;
    Ok(AfterFailure::RetryAt(at))
}

pub(super) fn unpark(conn: &Connection, id: &str, now: u64) -> Result<bool> {
    // Back to Pending if it never completed a turn, else Running; its next turn decides the rest.
    let done = execute(
        conn,
        "UPDATE instances SET status = CASE WHEN history_len = 0 THEN 'Pending' ELSE 'Running' END,
             parked = NULL, turn_failures = 0, not_before = NULL, updated_at = ?2
         WHERE id = ?1 AND status = 'Parked'",
        params![id, to_i64(now)],
    )?;
    Ok(done == 1)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn the_backoff_doubles_up_to_its_cap_without_overflowing() {
        assert_eq!(backoff(1, 1000, 60_000), 1000);
        assert_eq!(backoff(2, 1000, 60_000), 2000);
        assert_eq!(backoff(4, 1000, 60_000), 8000);
        assert_eq!(backoff(7, 1000, 60_000), 60_000);
        assert_eq!(backoff(u32::MAX, u64::MAX, u64::MAX), u64::MAX);
        assert_eq!(backoff(0, 1000, 60_000), 1000);
    }
}
