//! Poison work is parked, not spun: an instance whose turns keep failing outside the orchestrator (an
//! undecodable inbox or history row) is retried with backoff a few times, then parked with the reason,
//! while every other instance carries on; once the row is fixed, `resume` takes it back.

use std::sync::atomic::Ordering;
use std::time::Duration;

use keel::store::Status;
use serde_json::json;

use crate::raw_db::{Arg, RawDb};
use crate::support::{Running, assert_completed, engine_with, wait_for_event};

const FAILURES: u32 = 3;

async fn wait_for_status(keel: &keel::Keel, id: &str, status: Status) -> keel::store::Instance {
    for _ in 0..1500 {
        let instance = keel.status(id).await.unwrap().unwrap();
        if instance.status == status {
            return instance;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let instance = keel.status(id).await.unwrap().unwrap();
    panic!("instance {id} never became {status}: {instance:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_rows_park_their_instances_and_leave_the_others_alone() {
    let t = engine_with(&["approval"], |c| {
        c.max_turn_failures = FAILURES;
        c.turn_retry_ms = 50;
        c.turn_retry_max_ms = 200;
    })
    .await;
    let worker = Running::start(&t.keel);
    for id in ["inbox-poisoned", "history-poisoned", "healthy"] {
        let input = json!({"requestId": id, "timeoutMs": 600_000}).to_string();
        t.keel.start("Approval", &input, Some(id)).await.unwrap();
        wait_for_event(&t.keel, id, "EventAwaited").await;
    }
    worker.stop().await;

    // Damage one inbox row and one history row behind the engine's back.
    for id in ["inbox-poisoned", "history-poisoned", "healthy"] {
        t.keel
            .raise_event(id, "Approved", r#"{"by":"alice"}"#)
            .await
            .unwrap();
    }
    let mut db = RawDb::open(&t.db()).await;
    let raised = "FROM inbox WHERE instance = 'inbox-poisoned' AND kind = 'EventRaised'";
    let inbox_row: i64 = db.one(&format!("SELECT id {raised}"), &[]).await;
    let message: String = db.one(&format!("SELECT message {raised}"), &[]).await;
    db.execute(
        "UPDATE inbox SET message = '{\"type\":\"Deliver\",' WHERE id = ?",
        &[Arg::Int(inbox_row)],
    )
    .await;
    let seq_1 = "WHERE instance = 'history-poisoned' AND seq = 1";
    let event: String = db
        .one(&format!("SELECT event FROM history {seq_1}"), &[])
        .await;
    db.execute(
        &format!("UPDATE history SET event = 'not json' {seq_1}"),
        &[],
    )
    .await;

    // A fresh engine (no hot guests: the damaged history must be read and replayed).
    let keel = crate::support::reopen(&t.config, None).await;
    let worker = Running::start(&keel);
    let healthy = keel.wait("healthy", Duration::from_secs(60)).await.unwrap();
    assert_completed(&healthy);
    let inbox = wait_for_status(&keel, "inbox-poisoned", Status::Parked).await;
    let history = wait_for_status(&keel, "history-poisoned", Status::Parked).await;
    let reason = inbox.parked.expect("a reason");
    assert!(
        reason.contains("3 turns in a row") && reason.contains("inbox message"),
        "{reason}"
    );
    let reason = history.parked.expect("a reason");
    assert!(reason.contains("history"), "{reason}");

    // Parked means no more turns: the failures stop at the limit instead of spinning.
    let failed = keel.metrics().turns_abandoned.load(Ordering::Relaxed);
    assert_eq!(failed, u64::from(2 * FAILURES));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        keel.metrics().turns_abandoned.load(Ordering::Relaxed),
        failed
    );
    assert_eq!(keel.metrics().instances_parked.load(Ordering::Relaxed), 2);
    let listed = keel
        .list(&keel::store::InstanceFilter {
            status: Some(Status::Parked),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);

    // Repaired, and resumed: both finish as if nothing had happened.
    db.execute(
        "UPDATE inbox SET message = ? WHERE id = ?",
        &[Arg::Text(&message), Arg::Int(inbox_row)],
    )
    .await;
    db.execute(
        &format!("UPDATE history SET event = ? {seq_1}"),
        &[Arg::Text(&event)],
    )
    .await;
    for id in ["inbox-poisoned", "history-poisoned"] {
        keel.resume(id, "repaired").await.unwrap();
        let instance = keel.wait(id, Duration::from_secs(60)).await.unwrap();
        assert_completed(&instance);
        assert_eq!(instance.output.unwrap()["approvedBy"], "alice");
    }
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_the_host_cannot_run_is_delivered_again_without_spending_an_attempt() {
    let t = engine_with(&["keel_test_patterns", "fan_out"], |c| {
        c.turn_retry_ms = 50;
        c.turn_retry_max_ms = 200;
        c.max_deliveries = 50;
    })
    .await;
    // Break the activity's module behind the engine's back, and start an engine that has never
    // compiled it (an empty cache): loading it fails until the bytes are repaired.
    let mut db = RawDb::open(&t.db()).await;
    let digest: String = db
        .one("SELECT digest FROM functions WHERE name = 'Square'", &[])
        .await;
    let bytes: Vec<u8> = db
        .one(
            "SELECT bytes FROM modules WHERE digest = ?",
            &[Arg::Text(&digest)],
        )
        .await;
    // A component header of a layer no runtime knows.
    let broken = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    db.execute(
        "UPDATE modules SET bytes = ? WHERE digest = ?",
        &[Arg::Bytes(&broken), Arg::Text(&digest)],
    )
    .await;
    let cache = tempfile::tempdir().unwrap();
    let mut config = t.config.clone();
    config.cache_dir = Some(cache.path().to_path_buf());
    let keel = keel::Keel::open(config).await.unwrap();
    let worker = Running::start(&keel);
    // A single attempt allowed: a host failure must not be counted as that attempt.
    let input = json!({"activity": "Square", "input": 7}).to_string();
    let id = keel
        .start("Call", &input, Some("host-failure"))
        .await
        .unwrap();
    for _ in 0..1500 {
        let deliveries: Option<i64> = db
            .optional(
                "SELECT deliveries FROM work_items WHERE instance = 'host-failure'",
                &[],
            )
            .await;
        if deliveries.unwrap_or(0) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    db.execute(
        "UPDATE modules SET bytes = ? WHERE digest = ?",
        &[Arg::Bytes(&bytes), Arg::Text(&digest)],
    )
    .await;
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!({"ok": 49})));
    let history = keel.history(id.as_str()).await.unwrap();
    assert!(
        history
            .iter()
            .all(|r| !matches!(r.event.kind(), "TaskRetrying" | "TaskFailed")),
        "a host failure was recorded as an attempt: {history:?}"
    );
}
