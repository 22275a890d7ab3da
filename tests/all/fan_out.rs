//! Fan-out/fan-in with `await-all`, and a long sequential chain served by a hot instance.

use serde_json::json;

use crate::support::{assert_completed, engine, finish};

#[tokio::test(flavor = "multi_thread")]
async fn fan_out_runs_every_activity_and_joins_the_results() {
    let t = engine(&["fan_out"]).await;
    let id = t
        .keel
        .start("FanOut", r#"{"count":50}"#, None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    let sum: u64 = (0..50u64).map(|i| i * i).sum();
    assert_eq!(instance.output, Some(json!({"count": 50, "sum": sum})));
    let history = t.keel.history(id.as_str()).await.unwrap();
    let scheduled = history
        .iter()
        .filter(|r| r.event.kind() == "TaskScheduled")
        .count();
    let completed = history
        .iter()
        .filter(|r| r.event.kind() == "TaskCompleted")
        .count();
    assert_eq!((scheduled, completed), (50, 50));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sequence_is_served_by_one_hot_guest_without_replays() {
    let t = engine(&["fan_out"]).await;
    let id = t
        .keel
        .start("Sequence", r#"{"steps":100}"#, None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!({"steps": 100, "value": 100})));
    let metrics = t.keel.metrics();
    // One guest start for the first turn; every later turn resumed the suspended guest.
    assert_eq!(
        metrics.replays.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        metrics.hot_hits.load(std::sync::atomic::Ordering::Relaxed),
        100
    );
}
