//! Poison work is parked, not spun: an instance whose turns keep failing outside the orchestrator (an
//! undecodable inbox or history row) is retried with backoff a few times, then parked with the reason,
//! while every other instance carries on; once the row is fixed, `resume` takes it back.

use std::sync::atomic::Ordering;
use std::time::Duration;

use keel::store::Status;
use serde_json::json;
use sqlx::Connection as _;

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
    let url = format!("sqlite://{}", t.db().display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (inbox_row, message): (i64, String) = sqlx::query_as(
        "SELECT id, message FROM inbox WHERE instance = 'inbox-poisoned' AND kind = 'EventRaised'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    sqlx::query("UPDATE inbox SET message = '{\"type\":\"Deliver\",' WHERE id = ?")
        .bind(inbox_row)
        .execute(&mut db)
        .await
        .unwrap();
    let event: String = sqlx::query_scalar(
        "SELECT event FROM history WHERE instance = 'history-poisoned' AND seq = 1",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE history SET event = 'not json' WHERE instance = 'history-poisoned' AND seq = 1",
    )
    .execute(&mut db)
    .await
    .unwrap();

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
    sqlx::query("UPDATE inbox SET message = ? WHERE id = ?")
        .bind(&message)
        .bind(inbox_row)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("UPDATE history SET event = ? WHERE instance = 'history-poisoned' AND seq = 1")
        .bind(&event)
        .execute(&mut db)
        .await
        .unwrap();
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
    let url = format!("sqlite://{}", t.db().display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let (digest, bytes): (String, Vec<u8>) = sqlx::query_as(
        "SELECT m.digest, m.bytes FROM modules m JOIN functions f ON f.digest = m.digest
         WHERE f.name = 'Square'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    sqlx::query("UPDATE modules SET bytes = x'0061736d0d000100' WHERE digest = ?")
        .bind(&digest)
        .execute(&mut db)
        .await
        .unwrap();
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
        let deliveries: Option<i64> =
            sqlx::query_scalar("SELECT deliveries FROM work_items WHERE instance = 'host-failure'")
                .fetch_optional(&mut db)
                .await
                .unwrap();
        if deliveries.unwrap_or(0) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sqlx::query("UPDATE modules SET bytes = ? WHERE digest = ?")
        .bind(&bytes)
        .bind(&digest)
        .execute(&mut db)
        .await
        .unwrap();
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
