//! Strategies for the values Keel records: small JSON values and history events of every variant,
//! with names and task ids drawn from small sets so that random events meet a guest's calls.
//!
//! They generate inputs only; what is checked belongs to the targets that use them.

use keel::history::{ActivityOptions, Failure, HistoryEvent, ParentRef, RetryPolicy};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::Value;

/// Names the programs and the random histories draw from, few enough to collide.
pub(crate) const NAMES: [&str; 3] = ["A", "B", "Go"];

/// A small JSON value (integers only, so that values survive a text round trip unchanged).
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1_000i64..1_000).prop_map(Value::from),
        "[a-c\"\\\\é]{0,3}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(Value::Array),
            vec(("[a-c]{1,2}", inner), 0..3)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A function or event name: mostly one of [`NAMES`], sometimes any short one.
pub(crate) fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(&NAMES[..]).prop_map(str::to_owned),
        "[a-zA-Z.@:]{0,6}",
    ]
}

/// A short reason or message.
pub(crate) fn text() -> impl Strategy<Value = String> {
    "[ -~é]{0,8}"
}

/// A failure with any kind, message and details.
pub(crate) fn failure() -> impl Strategy<Value = Failure> {
    (name(), text(), option::of(json_value())).prop_map(|(kind, message, details)| Failure {
        kind,
        message,
        details,
    })
}

/// Activity options, with or without a retry policy.
pub(crate) fn options() -> impl Strategy<Value = ActivityOptions> {
    let retry = (
        0u32..5,
        0u64..10_000,
        proptest::sample::select(&[1.0, 1.5, 2.0][..]),
        option::of(0u64..100_000),
        option::of(0u64..100_000),
        vec(name(), 0..2),
    )
        .prop_map(
            |(
                max_attempts,
                first_interval_ms,
                backoff_coefficient,
                max_interval,
                timeout,
                kinds,
            )| {
                RetryPolicy {
                    max_attempts,
                    first_interval_ms,
                    backoff_coefficient,
                    max_interval_ms: max_interval,
                    timeout_ms: timeout,
                    non_retryable: kinds,
                }
            },
        );
    (
        option::of(retry),
        option::of(0u64..60_000),
        option::of(0u64..60_000),
        any::<bool>(),
    )
        .prop_map(
            |(retry, timeout_ms, heartbeat_timeout_ms, local)| ActivityOptions {
                retry,
                timeout_ms,
                heartbeat_timeout_ms,
                local,
            },
        )
}

/// Task ids small enough to meet the ids a guest schedules.
pub(crate) fn task_id() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..6, 1 => any::<u32>()]
}

/// The events a guest's calls record.
fn command_event() -> impl Strategy<Value = HistoryEvent> {
    prop_oneof![
        (task_id(), name(), json_value(), options()).prop_map(|(id, name, input, options)| {
            HistoryEvent::TaskScheduled {
                id,
                name,
                input,
                options,
            }
        }),
        (task_id(), any::<u64>())
            .prop_map(|(id, fire_at_ms)| HistoryEvent::TimerCreated { id, fire_at_ms }),
        (task_id(), name()).prop_map(|(id, name)| HistoryEvent::EventAwaited { id, name }),
        (task_id(), name(), name(), json_value()).prop_map(|(id, name, instance, input)| {
            HistoryEvent::SubOrchestrationCreated {
                id,
                name,
                instance,
                input,
            }
        }),
        json_value().prop_map(|status| HistoryEvent::CustomStatusSet { status }),
    ]
}

/// The events messages deliver.
fn message_event() -> impl Strategy<Value = HistoryEvent> {
    prop_oneof![
        (task_id(), json_value())
            .prop_map(|(id, output)| HistoryEvent::TaskCompleted { id, output }),
        (task_id(), failure(), any::<u32>()).prop_map(|(id, failure, attempt)| {
            HistoryEvent::TaskFailed {
                id,
                failure,
                attempt,
            }
        }),
        (task_id(), failure(), any::<u32>(), any::<u64>()).prop_map(
            |(id, failure, attempt, retry_at_ms)| HistoryEvent::TaskRetrying {
                id,
                failure,
                attempt,
                retry_at_ms,
            }
        ),
        task_id().prop_map(|id| HistoryEvent::TimerFired { id }),
        (name(), json_value()).prop_map(|(name, data)| HistoryEvent::EventRaised { name, data }),
        (task_id(), json_value())
            .prop_map(|(id, output)| HistoryEvent::SubOrchestrationCompleted { id, output }),
        (task_id(), failure())
            .prop_map(|(id, failure)| HistoryEvent::SubOrchestrationFailed { id, failure }),
        text().prop_map(|reason| HistoryEvent::ExecutionSuspended { reason }),
        text().prop_map(|reason| HistoryEvent::ExecutionResumed { reason }),
        text().prop_map(|reason| HistoryEvent::ExecutionTerminated { reason }),
    ]
}

/// Turn markers and the events that start, end or change an execution.
fn lifecycle_event() -> impl Strategy<Value = HistoryEvent> {
    let parent = (name(), any::<u32>(), task_id(), option::of(name())).prop_map(
        |(instance, execution, task_id, run)| ParentRef {
            instance,
            execution,
            task_id,
            run,
        },
    );
    prop_oneof![
        4 => any::<u64>().prop_map(|time_ms| HistoryEvent::OrchestratorStarted { time_ms }),
        1 => (name(), name(), json_value(), option::of(parent)).prop_map(
            |(name, module, input, parent)| HistoryEvent::ExecutionStarted {
                name,
                module,
                input,
                parent,
            }
        ),
        1 => json_value().prop_map(|input| HistoryEvent::ContinuedAsNew {
            input,
            carried: Vec::new()
        }),
        1 => json_value().prop_map(|output| HistoryEvent::ExecutionCompleted { output }),
        1 => failure().prop_map(|failure| HistoryEvent::ExecutionFailed { failure }),
        1 => (name(), name(), text())
            .prop_map(|(from, to, version)| HistoryEvent::ExecutionUpgraded { from, to, version }),
        1 => (text(), vec(0u32..40, 0..3))
            .prop_map(|(reason, voided)| HistoryEvent::ExecutionRewound { reason, voided }),
    ]
}

/// Any history event, every variant included.
pub(crate) fn history_event() -> impl Strategy<Value = HistoryEvent> {
    prop_oneof![
        2 => command_event(),
        2 => message_event(),
        1 => lifecycle_event(),
    ]
}
