//! `ActivityInfo`: what the host tells one activity attempt about itself, read from its environment.
//! It must never fail an activity: missing or malformed variables simply mean "no information".

use std::env;

/// The instance, task and attempt an activity attempt belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityInfo {
    /// The orchestration instance that scheduled the activity.
    pub instance_id: String,
    /// The task id of the call within that instance's execution.
    pub task_id: u32,
    /// The attempt number, 1 for the first attempt.
    pub attempt: u32,
    /// A key stable across every attempt of this call and new for each incarnation of the instance
    /// id (`instance/run/task-id`, `instance/run@execution/task-id` after a continue-as-new), for
    /// deduplicating side effects: execution is at least once.
    pub idempotency_key: String,
}

/// Environment variable carrying the instance id.
pub const INSTANCE_ID_VAR: &str = "KEEL_INSTANCE_ID";
/// Environment variable carrying the task id.
pub const TASK_ID_VAR: &str = "KEEL_TASK_ID";
/// Environment variable carrying the 1-based attempt number.
pub const ATTEMPT_VAR: &str = "KEEL_ATTEMPT";
/// Environment variable carrying the idempotency key.
pub const IDEMPOTENCY_KEY_VAR: &str = "KEEL_IDEMPOTENCY_KEY";

/// The current activity attempt's information, or `None` outside an activity attempt run by Keel
/// (e.g. in a unit test, or when a variable is missing or malformed).
pub fn activity_info() -> Option<ActivityInfo> {
    ActivityInfo::from_lookup(|name| env::var(name).ok())
}

impl ActivityInfo {
    /// Builds the information from a variable lookup; separate from [`activity_info`] so it can be
    /// tested without touching the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let instance_id = lookup(INSTANCE_ID_VAR)?;
        let task_id = lookup(TASK_ID_VAR)?.trim().parse().ok()?;
        let attempt = lookup(ATTEMPT_VAR)?.trim().parse().ok()?;
        // A host that does not set the variable used `instance/task-id` (it had no run tokens);
        // deriving that keeps the information usable with it.
        let idempotency_key =
            lookup(IDEMPOTENCY_KEY_VAR).unwrap_or_else(|| format!("{instance_id}/{task_id}"));
        Some(Self {
            instance_id,
            task_id,
            attempt,
            idempotency_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn reads_every_variable() {
        let vars = [
            (INSTANCE_ID_VAR, "order-42"),
            (TASK_ID_VAR, "3"),
            (ATTEMPT_VAR, "2"),
            (IDEMPOTENCY_KEY_VAR, "order-42/3"),
        ];
        let info = ActivityInfo::from_lookup(lookup(&vars));
        assert_eq!(
            info,
            Some(ActivityInfo {
                instance_id: "order-42".into(),
                task_id: 3,
                attempt: 2,
                idempotency_key: "order-42/3".into(),
            })
        );
    }

    #[test]
    fn derives_a_missing_idempotency_key() {
        let vars = [
            (INSTANCE_ID_VAR, "i"),
            (TASK_ID_VAR, "7"),
            (ATTEMPT_VAR, "1"),
        ];
        let info = ActivityInfo::from_lookup(lookup(&vars));
        assert_eq!(info.map(|info| info.idempotency_key), Some("i/7".into()));
    }

    #[test]
    fn malformed_or_missing_variables_give_none() {
        let vars = [
            (INSTANCE_ID_VAR, "i"),
            (TASK_ID_VAR, "seven"),
            (ATTEMPT_VAR, "1"),
        ];
        assert_eq!(ActivityInfo::from_lookup(lookup(&vars)), None);
        assert_eq!(ActivityInfo::from_lookup(lookup(&[])), None);
    }
}
