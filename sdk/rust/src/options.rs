//! `ActivityOptions` and `RetryPolicy`: how one activity call is timed out and retried.
//! They only describe a policy for the host to apply; they must never sleep or retry anything themselves.

use std::time::Duration;

use crate::bindings::keel::workflow::types as wit;

/// How an activity is retried after a failed attempt; the host applies it and records each attempt.
///
/// ```
/// use std::time::Duration;
/// use keel_sdk::RetryPolicy;
///
/// // 3 attempts: the second 100 ms after the first failure, the third 200 ms after the second.
/// let policy = RetryPolicy::new(3, Duration::from_millis(100)).backoff(2.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_attempts: u32,
    first_interval: Duration,
    backoff_coefficient: f64,
    max_interval: Option<Duration>,
    total_timeout: Option<Duration>,
    non_retryable: Vec<String>,
}

impl RetryPolicy {
    /// At most `max_attempts` attempts in total (the first included), waiting `first_interval` before
    /// the second. The interval stays fixed unless [`backoff`](Self::backoff) is set.
    ///
    /// A `max_attempts` of 0 is taken as 1: there is always a first attempt.
    pub fn new(max_attempts: u32, first_interval: Duration) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            first_interval,
            backoff_coefficient: 1.0,
            max_interval: None,
            total_timeout: None,
            non_retryable: Vec::new(),
        }
    }

    /// Multiplies each further interval by `coefficient` (1.0 keeps it fixed).
    #[must_use]
    pub fn backoff(mut self, coefficient: f64) -> Self {
        self.backoff_coefficient = coefficient;
        self
    }

    /// Caps a single interval at `interval`.
    #[must_use]
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = Some(interval);
        self
    }

    /// Caps the time spent on all attempts together at `timeout`.
    #[must_use]
    pub fn total_timeout(mut self, timeout: Duration) -> Self {
        self.total_timeout = Some(timeout);
        self
    }

    /// Failure kinds that end the task at once, without another attempt (Temporal's
    /// non-retryable error types), e.g. `["PaymentDeclined"]`.
    #[must_use]
    pub fn non_retryable(mut self, kinds: &[&str]) -> Self {
        self.non_retryable = kinds.iter().map(|k| (*k).to_owned()).collect();
        self
    }

    /// Attempts in total, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    pub(crate) fn to_wit(&self) -> wit::RetryPolicy {
        wit::RetryPolicy {
            max_attempts: self.max_attempts,
            first_interval_ms: millis(self.first_interval),
            backoff_coefficient: self.backoff_coefficient,
            max_interval_ms: self.max_interval.map(millis),
            timeout_ms: self.total_timeout.map(millis),
            non_retryable: self.non_retryable.clone(),
        }
    }
}

/// Options of one activity call: its retry policy, the time limit of one attempt, its heartbeat
/// timeout, and the versions of the activity it accepts.
///
/// The default is a single attempt with the module's default time limit, on the active version.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityOptions {
    retry: Option<RetryPolicy>,
    timeout: Option<Duration>,
    heartbeat_timeout: Option<Duration>,
    version: Option<String>,
    local: bool,
}

impl ActivityOptions {
    /// A single attempt with the module's default time limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Retries failed attempts according to `policy`.
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Limits each attempt to `timeout`; an attempt that runs longer is interrupted and fails.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Fails an attempt that goes `timeout` without a [`heartbeat`](crate::heartbeat) (counted from
    /// its start) with kind `HeartbeatTimeout`, which the retry policy may retry; an attempt whose
    /// worker stopped fails so as soon as its lease runs out. For long activities that report
    /// progress: a hung or lost attempt is found well before its overall time limit.
    #[must_use]
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = Some(timeout);
        self
    }

    /// Runs the call on a version of the activity matching `range` (Cargo's semver requirement
    /// syntax, e.g. `^2`, `>=1.4, <2`): the active version if it matches, else the highest deployed
    /// version that does. Version labels such as `2` or `2.1` read as `2.0.0` and `2.1.0`.
    #[must_use]
    pub fn version(mut self, range: &str) -> Self {
        self.version = Some(range.to_owned());
        self
    }

    /// Makes the call a *local* (inline) activity: the worker running the orchestrator runs it as
    /// soon as the orchestrator waits, without a work item of its own, and records the call and its
    /// result with the turn's commit, together with the other local calls of the batch — one commit
    /// for a chain of local calls instead of one per step. The trade: a crash before that commit
    /// runs the batch's local activities again, so they must be short and safe to repeat. Retries
    /// whose delay is at most a second run in place; a later retry continues as an ordinary
    /// activity call. Heartbeats are accepted and ignored. Durable HTTP calls are never local.
    #[must_use]
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// The same options for an ordinary call (durable HTTP calls are never local).
    pub(crate) fn not_local(mut self) -> Self {
        self.local = false;
        self
    }

    /// Whether the call is a local activity (see [`local`](Self::local)).
    pub fn is_local(&self) -> bool {
        self.local
    }

    /// The name the host is asked to call: `name`, or `name@range` with a version range.
    pub(crate) fn target(&self, name: &str) -> String {
        match &self.version {
            Some(range) => format!("{name}@{range}"),
            None => name.to_owned(),
        }
    }

    pub(crate) fn to_wit(&self) -> wit::CallOptions {
        wit::CallOptions {
            retry: self.retry.as_ref().map(RetryPolicy::to_wit),
            timeout_ms: self.timeout.map(millis),
            heartbeat_timeout_ms: self.heartbeat_timeout.map(millis),
        }
    }
}

/// Whole milliseconds of `duration`, saturating: a duration too long for u64 milliseconds is
/// effectively "never" and must not wrap into a short one.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_maps_to_milliseconds() {
        let policy = RetryPolicy::new(3, Duration::from_millis(100))
            .backoff(2.0)
            .max_interval(Duration::from_secs(1))
            .total_timeout(Duration::from_secs(10));
        let wit = policy.to_wit();
        assert_eq!(wit.max_attempts, 3);
        assert_eq!(wit.first_interval_ms, 100);
        assert_eq!(wit.backoff_coefficient, 2.0);
        assert_eq!(wit.max_interval_ms, Some(1_000));
        assert_eq!(wit.timeout_ms, Some(10_000));
    }

    #[test]
    fn a_local_call_keeps_its_other_options() {
        let options = ActivityOptions::new()
            .timeout(Duration::from_millis(250))
            .local();
        assert!(options.is_local());
        assert_eq!(options.to_wit().timeout_ms, Some(250));
        assert!(!options.clone().not_local().is_local());
        assert!(!ActivityOptions::new().is_local());
    }

    #[test]
    fn zero_attempts_means_one() {
        assert_eq!(RetryPolicy::new(0, Duration::ZERO).max_attempts(), 1);
    }

    #[test]
    fn default_options_are_a_single_attempt() {
        let wit = ActivityOptions::default().to_wit();
        assert!(wit.retry.is_none());
        assert!(wit.timeout_ms.is_none());
        assert!(wit.heartbeat_timeout_ms.is_none());
        let wit = ActivityOptions::new()
            .timeout(Duration::from_secs(2))
            .heartbeat_timeout(Duration::from_millis(1_500))
            .to_wit();
        assert_eq!(wit.timeout_ms, Some(2_000));
        assert_eq!(wit.heartbeat_timeout_ms, Some(1_500));
    }

    #[test]
    fn huge_durations_saturate() {
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
