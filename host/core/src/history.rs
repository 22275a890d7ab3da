//! The history of an execution: the append-only events Keel records, and the value types they carry.
//!
//! Variants are only ever added, never changed in meaning: stored histories must stay readable by every
//! later version of Keel. Payloads are kept as parsed JSON so that a history reads as plain JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Why a task or an execution did not succeed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    /// Short machine-readable classification, e.g. `PaymentDeclined`, `Timeout`, `Trap`.
    pub kind: String,
    /// Human-readable explanation.
    pub message: String,
    /// Optional structured details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl Failure {
    /// A failure without details.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
            details: None,
        }
    }

    /// A failure a guest reported, with its kind and message cut to `max_text` bytes and its
    /// details (JSON text) kept only if they parse and fit in `max_details` bytes.
    pub fn from_guest(
        kind: &str,
        message: &str,
        details: Option<&str>,
        max_text: usize,
        max_details: usize,
    ) -> Self {
        let mut message = crate::text::cut(message, max_text).into_owned();
        let details = details.and_then(|d| {
            if d.len() > max_details {
                message.push_str(&format!(
                    " (details of {} bytes dropped; the limit is {max_details} bytes)",
                    d.len()
                ));
                return None;
            }
            serde_json::from_str(d).ok()
        });
        Self {
            kind: crate::text::cut(kind, max_text.min(256)).into_owned(),
            message,
            details,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// How an activity is retried after a failed attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Delay before the second attempt.
    pub first_interval_ms: u64,
    /// Multiplier applied to each further delay.
    pub backoff_coefficient: f64,
    /// Upper bound of one delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_interval_ms: Option<u64>,
    /// Upper bound of the time spent on all attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Failure kinds that end the task without another attempt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_retryable: Vec<String>,
}

/// Options of one activity call.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityOptions {
    /// Retry policy; `None` means a single attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Time limit of one attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Longest time an attempt may go without a heartbeat (from its start) before it fails with
    /// kind `HeartbeatTimeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_timeout_ms: Option<u64>,
    /// A local (inline) activity: run by the worker holding the orchestrator as soon as it waits,
    /// its result recorded with the turn's commit rather than through a work item of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub local: bool,
}

/// The result of a task.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Succeeded with a value.
    Ok(Value),
    /// Failed.
    Err(Failure),
}

/// The instance that started a sub-orchestration, and the task that waits for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    /// The parent instance.
    pub instance: String,
    /// The parent's execution at the time.
    pub execution: u32,
    /// The parent's task waiting for the result.
    pub task_id: u32,
    /// The parent's incarnation (its `run` token): a result is delivered only while the parent's id
    /// still belongs to it. Absent in references recorded before run tokens existed, whose parents
    /// have none either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// An event raised to an execution that continued as new before waiting for it, carried over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarriedEvent {
    /// The event's name.
    pub name: String,
    /// Its data.
    pub data: Value,
}

/// One record of what happened to an execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
pub enum HistoryEvent {
    /// The execution began.
    ExecutionStarted {
        name: String,
        module: String,
        input: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<ParentRef>,
    },
    /// A turn began at this orchestration time.
    OrchestratorStarted { time_ms: u64 },
    /// The orchestrator scheduled an activity.
    TaskScheduled {
        id: u32,
        name: String,
        input: Value,
        #[serde(default)]
        options: ActivityOptions,
    },
    /// An activity completed.
    TaskCompleted { id: u32, output: Value },
    /// An activity failed for good after `attempt` attempts.
    TaskFailed {
        id: u32,
        failure: Failure,
        attempt: u32,
    },
    /// An attempt failed and another one is scheduled.
    TaskRetrying {
        id: u32,
        failure: Failure,
        attempt: u32,
        retry_at_ms: u64,
    },
    /// The orchestrator created a durable timer.
    TimerCreated { id: u32, fire_at_ms: u64 },
    /// A timer fired.
    TimerFired { id: u32 },
    /// The orchestrator began waiting for an external event.
    EventAwaited { id: u32, name: String },
    /// An external event arrived.
    EventRaised { name: String, data: Value },
    /// The orchestrator started a sub-orchestration.
    SubOrchestrationCreated {
        id: u32,
        name: String,
        instance: String,
        input: Value,
    },
    /// A sub-orchestration completed.
    SubOrchestrationCompleted { id: u32, output: Value },
    /// A sub-orchestration failed or was terminated.
    SubOrchestrationFailed { id: u32, failure: Failure },
    /// The orchestrator set its custom status.
    CustomStatusSet { status: Value },
    /// A client suspended the instance.
    ExecutionSuspended { reason: String },
    /// A client resumed the instance.
    ExecutionResumed { reason: String },
    /// A client terminated the instance.
    ExecutionTerminated { reason: String },
    /// The execution ended and a new one starts with this input; `carried` are the events raised to
    /// this execution that it never waited for, raised again to the next one when it asked for that.
    ContinuedAsNew {
        input: Value,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        carried: Vec<CarriedEvent>,
    },
    /// The execution completed.
    ExecutionCompleted { output: Value },
    /// An operator moved the execution to another module after its history replayed against it;
    /// later turns run `to`.
    ExecutionUpgraded {
        from: String,
        to: String,
        version: String,
    },
    /// An operator rewound a failed execution: the events at the `voided` positions (the failures
    /// that ended it) no longer count, and the failed tasks among them run again.
    ExecutionRewound { reason: String, voided: Vec<u32> },
    /// The execution failed.
    ExecutionFailed { failure: Failure },
    /// The orchestrator canceled a task that had not resolved; it resolved as `Canceled`. `child`
    /// is the instance of a canceled sub-orchestration, which is terminated.
    TaskCanceled {
        id: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        child: Option<String>,
    },
    /// The orchestrator's validator accepted a client's update; its handler ran next.
    UpdateAccepted {
        update_id: String,
        name: String,
        input: Value,
    },
    /// The handler of an accepted update returned this result, the client's response.
    UpdateCompleted { update_id: String, output: Value },
    /// The handler of an accepted update failed; the client's response is the failure.
    UpdateFailed { update_id: String, failure: Failure },
}

impl HistoryEvent {
    /// The variant's name, as stored in the `type` field.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ExecutionStarted { .. } => "ExecutionStarted",
            Self::OrchestratorStarted { .. } => "OrchestratorStarted",
            Self::TaskScheduled { .. } => "TaskScheduled",
            Self::TaskCompleted { .. } => "TaskCompleted",
            Self::TaskFailed { .. } => "TaskFailed",
            Self::TaskRetrying { .. } => "TaskRetrying",
            Self::TimerCreated { .. } => "TimerCreated",
            Self::TimerFired { .. } => "TimerFired",
            Self::EventAwaited { .. } => "EventAwaited",
            Self::EventRaised { .. } => "EventRaised",
            Self::SubOrchestrationCreated { .. } => "SubOrchestrationCreated",
            Self::SubOrchestrationCompleted { .. } => "SubOrchestrationCompleted",
            Self::SubOrchestrationFailed { .. } => "SubOrchestrationFailed",
            Self::CustomStatusSet { .. } => "CustomStatusSet",
            Self::ExecutionSuspended { .. } => "ExecutionSuspended",
            Self::ExecutionResumed { .. } => "ExecutionResumed",
            Self::ExecutionTerminated { .. } => "ExecutionTerminated",
            Self::ContinuedAsNew { .. } => "ContinuedAsNew",
            Self::ExecutionCompleted { .. } => "ExecutionCompleted",
            Self::ExecutionFailed { .. } => "ExecutionFailed",
            Self::ExecutionUpgraded { .. } => "ExecutionUpgraded",
            Self::ExecutionRewound { .. } => "ExecutionRewound",
            Self::TaskCanceled { .. } => "TaskCanceled",
            Self::UpdateAccepted { .. } => "UpdateAccepted",
            Self::UpdateCompleted { .. } => "UpdateCompleted",
            Self::UpdateFailed { .. } => "UpdateFailed",
        }
    }

    /// True for events the orchestrator itself produces by calling the host: these are what replay
    /// checks the guest's calls against.
    pub fn is_command(&self) -> bool {
        matches!(
            self,
            Self::TaskScheduled { .. }
                | Self::TimerCreated { .. }
                | Self::EventAwaited { .. }
                | Self::SubOrchestrationCreated { .. }
                | Self::CustomStatusSet { .. }
                | Self::TaskCanceled { .. }
                | Self::UpdateAccepted { .. }
                | Self::UpdateCompleted { .. }
                | Self::UpdateFailed { .. }
        )
    }

    /// True for the events that end an execution.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::ContinuedAsNew { .. }
                | Self::ExecutionCompleted { .. }
                | Self::ExecutionFailed { .. }
                | Self::ExecutionTerminated { .. }
        )
    }

    /// A one-line description for humans: `TaskScheduled #3 VerifyPayment {"orderId":"order-42"}`.
    pub fn summary(&self) -> String {
        let text = |v: &Value| truncate(&v.to_string(), 120);
        match self {
            Self::ExecutionStarted { name, input, .. } => format!("{name} {}", text(input)),
            Self::OrchestratorStarted { time_ms } => format!("time {time_ms}"),
            Self::TaskScheduled {
                id, name, input, ..
            } => format!("#{id} {name} {}", text(input)),
            Self::TaskCompleted { id, output } => format!("#{id} {}", text(output)),
            Self::TaskFailed {
                id,
                failure,
                attempt,
            } => format!("#{id} attempt {attempt}: {failure}"),
            Self::TaskRetrying {
                id,
                failure,
                attempt,
                retry_at_ms,
            } => format!("#{id} attempt {attempt}: {failure}; retry at {retry_at_ms}"),
            Self::TimerCreated { id, fire_at_ms } => format!("#{id} fires at {fire_at_ms}"),
            Self::TimerFired { id } => format!("#{id}"),
            Self::EventAwaited { id, name } => format!("#{id} {name}"),
            Self::EventRaised { name, data } => format!("{name} {}", text(data)),
            Self::SubOrchestrationCreated {
                id,
                name,
                instance,
                input,
            } => format!("#{id} {name} as {instance} {}", text(input)),
            Self::SubOrchestrationCompleted { id, output } => format!("#{id} {}", text(output)),
            Self::SubOrchestrationFailed { id, failure } => format!("#{id} {failure}"),
            Self::CustomStatusSet { status } => text(status),
            Self::ExecutionSuspended { reason }
            | Self::ExecutionResumed { reason }
            | Self::ExecutionTerminated { reason } => reason.clone(),
            Self::ContinuedAsNew { input, carried } if carried.is_empty() => text(input),
            Self::ContinuedAsNew { input, carried } => {
                format!("{} ({} event(s) carried over)", text(input), carried.len())
            }
            Self::ExecutionCompleted { output } => text(output),
            Self::ExecutionFailed { failure } => failure.to_string(),
            Self::ExecutionUpgraded { from, to, version } => format!(
                "{} -> {} (version {version})",
                truncate(from, 12),
                truncate(to, 12)
            ),
            Self::ExecutionRewound { reason, voided } => format!("{reason}; voided {voided:?}"),
            Self::TaskCanceled { id, child: None } => format!("#{id}"),
            Self::TaskCanceled {
                id,
                child: Some(child),
            } => format!("#{id} (sub-orchestration {child})"),
            Self::UpdateAccepted {
                update_id,
                name,
                input,
            } => format!("{update_id} {name} {}", text(input)),
            Self::UpdateCompleted { update_id, output } => format!("{update_id} {}", text(output)),
            Self::UpdateFailed { update_id, failure } => format!("{update_id} {failure}"),
        }
    }
}

/// The events of an execution's history that count for replay: `recorded` (in sequence order, from
/// position 0) without the events a rewind voided.
pub fn effective(recorded: Vec<HistoryEvent>) -> Vec<HistoryEvent> {
    let voided = voided(&recorded);
    if voided.is_empty() {
        return recorded;
    }
    recorded
        .into_iter()
        .enumerate()
        .filter(|(seq, _)| !u32::try_from(*seq).is_ok_and(|s| voided.contains(&s)))
        .map(|(_, e)| e)
        .collect()
}

/// `recorded` up to (not including) the event that ended the execution, if a rewind did not void it.
pub fn before_end(mut recorded: Vec<HistoryEvent>) -> Vec<HistoryEvent> {
    let voided = voided(&recorded);
    let end = recorded.iter().enumerate().position(|(seq, e)| {
        e.is_terminal() && !u32::try_from(seq).is_ok_and(|s| voided.contains(&s))
    });
    if let Some(end) = end {
        recorded.truncate(end);
    }
    recorded
}

fn voided(recorded: &[HistoryEvent]) -> std::collections::HashSet<u32> {
    recorded
        .iter()
        .filter_map(|e| match e {
            HistoryEvent::ExecutionRewound { voided, .. } => Some(voided.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_as_tagged_json() {
        let event = HistoryEvent::TaskScheduled {
            id: 3,
            name: "VerifyPayment".into(),
            input: serde_json::json!({"orderId": "order-42"}),
            options: ActivityOptions::default(),
        };
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(
            text,
            r#"{"type":"TaskScheduled","id":3,"name":"VerifyPayment","input":{"orderId":"order-42"},"options":{}}"#
        );
        assert_eq!(serde_json::from_str::<HistoryEvent>(&text).unwrap(), event);
    }

    /// A parent reference stored before run tokens existed still decodes and is written back as it
    /// was; one with the parent's run keeps it.
    #[test]
    fn parent_refs_with_and_without_a_run_round_trip() {
        for stored in [
            serde_json::json!({"instance": "order-7", "execution": 2, "taskId": 3}),
            serde_json::json!({"instance": "order-7", "execution": 2, "taskId": 3,
                               "run": "9f86d081884c7d65"}),
        ] {
            let parent: ParentRef = serde_json::from_value(stored.clone()).unwrap();
            assert_eq!(parent.run.is_some(), stored.get("run").is_some());
            assert_eq!(serde_json::to_value(&parent).unwrap(), stored);
        }
    }
}
