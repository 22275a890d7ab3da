//! Retry policy arithmetic: when the next attempt of a failed activity is due, if at all.
//!
//! Pure functions of the policy, the attempt number and times passed in; no clock is read here.

use crate::history::RetryPolicy;

/// Delay before the attempt after `attempt` (1-based) failed with a failure of `kind` at `now`, or
/// `None` when the policy allows no further attempt. `first_at` is when the first attempt became due.
pub fn next_delay(
    policy: Option<&RetryPolicy>,
    kind: &str,
    attempt: u32,
    first_at: u64,
    now: u64,
) -> Option<u64> {
    let policy = policy?;
    if attempt >= policy.max_attempts || policy.non_retryable.iter().any(|k| k == kind) {
        return None;
    }
    let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
    let coefficient = if policy.backoff_coefficient.is_finite() && policy.backoff_coefficient >= 1.0
    {
        policy.backoff_coefficient
    } else {
        1.0
    };
    let raw = policy.first_interval_ms as f64 * coefficient.powi(exponent);
    let mut delay = if raw.is_finite() && raw < u64::MAX as f64 {
        raw as u64
    } else {
        u64::MAX
    };
    if let Some(max) = policy.max_interval_ms {
        delay = delay.min(max);
    }
    if let Some(total) = policy.timeout_ms
        && now.saturating_add(delay) > first_at.saturating_add(total)
    {
        return None;
    }
    Some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            first_interval_ms: 100,
            backoff_coefficient: 2.0,
            max_interval_ms: Some(300),
            timeout_ms: None,
            non_retryable: vec!["Declined".to_owned()],
        }
    }

    #[test]
    fn non_retryable_kinds_end_the_task_at_once() {
        let p = policy();
        assert_eq!(next_delay(Some(&p), "Declined", 1, 0, 0), None);
        assert_eq!(next_delay(Some(&p), "Busy", 1, 0, 0), Some(100));
    }

    #[test]
    fn delays_grow_by_the_coefficient_up_to_the_maximum() {
        let p = policy();
        assert_eq!(next_delay(Some(&p), "X", 1, 0, 0), Some(100));
        assert_eq!(next_delay(Some(&p), "X", 2, 0, 0), Some(200));
        assert_eq!(next_delay(Some(&p), "X", 3, 0, 0), Some(300));
        assert_eq!(next_delay(Some(&p), "X", 4, 0, 0), None);
    }

    #[test]
    fn no_policy_means_no_retry() {
        assert_eq!(next_delay(None, "X", 1, 0, 0), None);
    }

    #[test]
    fn the_total_timeout_stops_retries() {
        let p = RetryPolicy {
            timeout_ms: Some(250),
            ..policy()
        };
        assert_eq!(next_delay(Some(&p), "X", 1, 0, 100), Some(100));
        assert_eq!(next_delay(Some(&p), "X", 2, 0, 100), None);
    }
}
