//! Replay after a restart: a new engine on the same database rebuilds a waiting orchestrator from its
//! history, and the deterministic WASI makes time, randomness and hash-map order identical.

use std::time::Duration;

use serde_json::json;

use crate::support::{Running, assert_completed, engine, reopen, wait_for_event};

#[tokio::test(flavor = "multi_thread")]
async fn a_waiting_orchestration_resumes_after_a_restart() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start("Steps", "null", None).await.unwrap();
    wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    worker.stop().await;
    drop(t.keel);

    let keel = reopen(&t.config, None).await;
    let worker = Running::start(&keel);
    keel.raise_event(id.as_str(), "go", r#""after restart""#)
        .await
        .unwrap();
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!(["a", "after restart", "b"])));
    assert_eq!(
        keel.metrics()
            .replays
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Replay added nothing: "a" was scheduled once.
    let history = keel.history(id.as_str()).await.unwrap();
    let echoes = history
        .iter()
        .filter(|r| r.event.kind() == "TaskScheduled")
        .count();
    assert_eq!(echoes, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_time_random_and_hash_order_are_identical_on_replay() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start("Determinism", "null", None).await.unwrap();
    let history = wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    worker.stop().await;
    drop(t.keel);

    // What the first turn read, as recorded in the Echo call's input.
    let first = history
        .iter()
        .find_map(|r| match &r.event {
            keel::HistoryEvent::TaskScheduled { input, .. } => Some(input.clone()),
            _ => None,
        })
        .unwrap();
    let first_turn_time = history
        .iter()
        .find_map(|r| match r.event {
            keel::HistoryEvent::OrchestratorStarted { time_ms } => Some(time_ms),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        first["timeMs"],
        json!(first_turn_time),
        "WASI time is the orchestration time"
    );

    // After a restart the orchestrator is replayed from scratch: had any reading differed, the Echo
    // call would not match its history and the instance would fail with a non-determinism error.
    let keel = reopen(&t.config, None).await;
    let worker = Running::start(&keel);
    keel.raise_event(id.as_str(), "go", "null").await.unwrap();
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    let output = instance.output.unwrap();
    assert_eq!(output["first"], first);
    assert_ne!(
        output["first"]["wasiRandom"],
        output["second"]["wasiRandom"]
    );
}
