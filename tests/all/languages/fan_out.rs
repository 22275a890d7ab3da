//! Fan-out/fan-in with `await-all`, a long sequential chain served by one hot guest, and an input the
//! SDK refuses, in every language.

use std::sync::atomic::Ordering;

use keel::cli::build::Lang;
use keel::store::Status;
use serde_json::json;

use super::{Order, run, same_as_rust};
use crate::support::{assert_completed, kinds};

pub(crate) async fn fan_out_runs_every_activity_and_joins_the_results(lang: Lang) {
    let (instance, history) =
        same_as_rust(lang, "fan_out", "FanOut", r#"{"count":50}"#, Order::Any).await;
    assert_completed(&instance);
    let sum: u64 = (0..50u64).map(|i| i * i).sum();
    assert_eq!(instance.output, Some(json!({"count": 50, "sum": sum})));
    let count = |kind: &str| history.iter().filter(|r| r.event.kind() == kind).count();
    assert_eq!((count("TaskScheduled"), count("TaskCompleted")), (50, 50));
    // Every task was scheduled before the first wait: all 50 in the first turn.
    let first_turn: Vec<_> = kinds(&history).into_iter().take(51).collect();
    assert!(
        first_turn[1..].iter().all(|k| *k == "TaskScheduled"),
        "{lang}: {first_turn:?}"
    );
}

pub(crate) async fn a_sequence_is_served_by_one_hot_guest_without_replays(lang: Lang) {
    let t = super::engine_for(lang, "fan_out").await;
    let (instance, history) = run(&t, "Sequence", r#"{"steps":100}"#, "seq").await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!({"steps": 100, "value": 100})));
    // One guest start for the first turn; every later turn resumed the suspended guest.
    let metrics = t.keel.metrics();
    assert_eq!(metrics.replays.load(Ordering::Relaxed), 1, "{lang}");
    assert_eq!(metrics.hot_hits.load(Ordering::Relaxed), 100, "{lang}");
    // Each result reached the guest in memory and committed with the turn it unblocked: one
    // transaction per step, none of them through the inbox.
    assert_eq!(
        metrics.results_with_turn.load(Ordering::Relaxed),
        100,
        "{lang}"
    );
    if lang != Lang::Rust {
        let r = super::engine_for(Lang::Rust, "fan_out").await;
        let (_, rust_history) = run(&r, "Sequence", r#"{"steps":100}"#, "seq").await;
        assert_eq!(
            super::comparable(&history),
            super::comparable(&rust_history),
            "{lang}"
        );
    }
}

pub(crate) async fn an_invalid_input_fails_with_the_sdk_failure_kind(lang: Lang) {
    // A negative count is not a u64: refused before the orchestrator schedules anything.
    let t = super::engine_for(lang, "fan_out").await;
    let (instance, history) = run(&t, "FanOut", r#"{"count":-1}"#, "bad").await;
    assert_eq!(instance.status, Status::Failed, "{lang}");
    assert_eq!(instance.failure.expect("a failure").kind, "InvalidInput");
    assert_eq!(kinds(&history), ["ExecutionStarted", "ExecutionFailed"]);
}
