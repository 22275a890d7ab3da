//! Human approval: an external event races a durable timer; whichever comes first wins.

use std::time::Duration;

use serde_json::json;

use crate::support::{
    Running, assert_completed, engine, engine_with, manual_clock, wait_for_event,
};

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_before_the_deadline_wins() {
    let t = engine(&["approval"]).await;
    let worker = Running::start(&t.keel);
    let id = t
        .keel
        .start(
            "Approval",
            r#"{"requestId":"req-1","timeoutMs":600000}"#,
            None,
        )
        .await
        .unwrap();
    wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    let waiting = t.keel.status(id.as_str()).await.unwrap().unwrap();
    assert_eq!(waiting.custom_status, Some(json!({"state": "waiting"})));
    t.keel
        .raise_event(id.as_str(), "Approved", r#"{"by":"alice"}"#)
        .await
        .unwrap();
    let instance = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    assert_eq!(
        instance.output,
        Some(json!({"requestId": "req-1", "outcome": "approved", "approvedBy": "alice"}))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_durable_timer_escalates_when_nobody_approves() {
    let clock = manual_clock(1_000_000);
    let t = engine_with(&[], |_| {}).await;
    // Reopen on the same database with the manual clock so the timer fires when the test says.
    let keel = crate::support::reopen(&t.config, Some(clock.clone())).await;
    keel.deploy(crate::support::guest("approval"), None)
        .await
        .unwrap();
    let worker = Running::start(&keel);
    let id = keel
        .start(
            "Approval",
            r#"{"requestId":"req-2","timeoutMs":60000}"#,
            None,
        )
        .await
        .unwrap();
    let history = wait_for_event(&keel, id.as_str(), "TimerCreated").await;
    let fire_at = history
        .iter()
        .find_map(|r| match r.event {
            keel::HistoryEvent::TimerCreated { fire_at_ms, .. } => Some(fire_at_ms),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        fire_at,
        1_000_000 + 60_000,
        "the timer is set from orchestration time"
    );
    clock.advance(60_000);
    keel.wake();
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    assert_eq!(
        instance.output,
        Some(json!({"requestId": "req-2", "outcome": "escalated"}))
    );
    let fired = keel.history(id.as_str()).await.unwrap();
    assert!(fired.iter().any(|r| r.event.kind() == "TimerFired"));
}
