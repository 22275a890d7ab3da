//! Human approval in every language: an external event races a durable timer; whichever comes first
//! wins, and the history has the same shape as the Rust build's.

use std::time::Duration;

use keel::HistoryEvent;
use keel::cli::build::Lang;
use serde_json::json;

use super::{builds, comparable, engine_for};
use crate::support::{
    Running, assert_completed, engine, kinds, manual_clock, reopen, wait_for_event,
};

/// Starts an approval, approves it while it waits, and returns the comparable history.
async fn approve(lang: Lang) -> Vec<serde_json::Value> {
    let t = engine_for(lang, "approval").await;
    let worker = Running::start(&t.keel);
    let id = waiting_approval(&t.keel, "req-1").await;
    let waiting = t.keel.status(id.as_str()).await.unwrap().unwrap();
    assert_eq!(
        waiting.custom_status,
        Some(json!({"state": "waiting"})),
        "{lang}"
    );
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
        Some(json!({"requestId": "req-1", "outcome": "approved", "approvedBy": "alice"})),
        "{lang}"
    );
    assert_eq!(
        instance.custom_status,
        Some(json!({"state": "approved", "by": "alice"})),
        "{lang}"
    );
    let history = t.keel.history(id.as_str()).await.unwrap();
    assert_eq!(
        kinds(&history),
        [
            "ExecutionStarted",
            "CustomStatusSet",
            "TimerCreated",
            "EventAwaited",
            "EventRaised",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskCompleted",
            "ExecutionCompleted"
        ],
        "{lang}"
    );
    // The timer's fire time depends on when the test ran: compared as a shape only.
    comparable(&history)
        .into_iter()
        .filter(|e| e["type"] != "TimerCreated")
        .collect()
}

/// Starts approval `id` with a deadline ten minutes away and returns once it waits for `Approved`.
async fn waiting_approval(keel: &keel::Keel, id: &str) -> keel::InstanceId {
    let input = format!(r#"{{"requestId":"{id}","timeoutMs":600000}}"#);
    let id = keel.start("Approval", &input, Some(id)).await.unwrap();
    wait_for_event(keel, id.as_str(), "EventAwaited").await;
    id
}

pub(crate) async fn an_approval_before_the_deadline_wins(lang: Lang) {
    let history = approve(lang).await;
    if lang != Lang::Rust {
        assert_eq!(history, approve(Lang::Rust).await, "{lang}");
    }
}

/// Lets the deadline pass on a manual clock and returns the comparable history.
async fn escalate(lang: Lang) -> Vec<serde_json::Value> {
    let clock = manual_clock(1_000_000);
    let t = engine(&[]).await;
    // Reopen on the same database with the manual clock so the timer fires when the test says.
    let keel = reopen(&t.config, Some(clock.clone())).await;
    keel.deploy(builds::module(lang, "approval"), None)
        .await
        .unwrap();
    let worker = Running::start(&keel);
    let input = r#"{"requestId":"req-2","timeoutMs":60000}"#;
    let id = keel.start("Approval", input, Some("req-2")).await.unwrap();
    let history = wait_for_event(&keel, id.as_str(), "TimerCreated").await;
    let fire_at = history
        .iter()
        .find_map(|r| match r.event {
            HistoryEvent::TimerCreated { fire_at_ms, .. } => Some(fire_at_ms),
            _ => None,
        })
        .expect("a TimerCreated event");
    assert_eq!(
        fire_at,
        1_000_000 + 60_000,
        "{lang}: the timer is set from orchestration time"
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
        Some(json!({"requestId": "req-2", "outcome": "escalated"})),
        "{lang}"
    );
    assert_eq!(
        instance.custom_status,
        Some(json!({"state": "escalated"})),
        "{lang}"
    );
    let fired = keel.history(id.as_str()).await.unwrap();
    assert_eq!(
        kinds(&fired),
        [
            "ExecutionStarted",
            "CustomStatusSet",
            "TimerCreated",
            "EventAwaited",
            "TimerFired",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskCompleted",
            "ExecutionCompleted"
        ],
        "{lang}"
    );
    comparable(&fired)
}

pub(crate) async fn the_durable_timer_escalates_when_nobody_approves(lang: Lang) {
    let history = escalate(lang).await;
    if lang != Lang::Rust {
        assert_eq!(history, escalate(Lang::Rust).await, "{lang}");
    }
}

/// A waiting approval answers its `Request` query from its current state: a raised event not yet
/// taken in (the instance is suspended) changes nothing, and once it is, the query sees the change.
pub(crate) async fn a_waiting_approval_answers_its_request_query(lang: Lang) {
    let t = engine_for(lang, "approval").await;
    let worker = Running::start(&t.keel);
    let id = waiting_approval(&t.keel, "req-q").await;
    crate::queries::until_hot(&worker).await;
    let request = t.keel.query(id.as_str(), "Request", "null").await;
    assert_eq!(
        request.unwrap(),
        json!({"requestId": "req-q", "state": "waiting"}),
        "{lang}"
    );
    let unknown = t.keel.query(id.as_str(), "Nope", "null").await;
    assert!(
        matches!(unknown, Err(keel::engine::Error::UnknownQuery { .. })),
        "{lang}: {unknown:?}"
    );
    // Both answered by the guest the worker keeps in memory, which waited on after each.
    assert_eq!(crate::queries::answered(&t.keel), (2, 0), "{lang}");
    // Suspended, an approval waits in the inbox: the query still sees the request waiting.
    t.keel.suspend(id.as_str(), "held").await.unwrap();
    wait_for_event(&t.keel, id.as_str(), "ExecutionSuspended").await;
    t.keel
        .raise_event(id.as_str(), "Approved", r#"{"by":"alice"}"#)
        .await
        .unwrap();
    let before = t.keel.history(id.as_str()).await.unwrap();
    let request = t.keel.query(id.as_str(), "Request", "null").await;
    assert_eq!(
        request.unwrap(),
        json!({"requestId": "req-q", "state": "waiting"}),
        "{lang}"
    );
    // The query recorded nothing.
    let after = t.keel.history(id.as_str()).await.unwrap();
    assert_eq!(after.len(), before.len(), "{lang}: {:?}", kinds(&after));
    t.keel.resume(id.as_str(), "go on").await.unwrap();
    let instance = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    let ended = t.keel.query(id.as_str(), "Request", "null").await;
    assert!(
        matches!(ended, Err(keel::engine::Error::Ended { .. })),
        "{lang}: {ended:?}"
    );
}

/// A waiting approval takes reviewers' comments through its `AddComment` update: each accepted
/// comment is recorded and answered with the count so far; an empty one is rejected by the
/// validator and records nothing; an unknown update is refused; once the guest was dropped from
/// memory, a replay runs the handlers again, so the count goes on; an update id sent twice is
/// served once.
pub(crate) async fn a_waiting_approval_takes_comments_through_its_update(lang: Lang) {
    use keel::engine::Error;
    let t = engine_for(lang, "approval").await;
    let worker = Running::start(&t.keel);
    let id = waiting_approval(&t.keel, "req-u").await;
    let wait = Duration::from_secs(60);
    let comment = |text: &str| json!({"by": "bob", "text": text}).to_string();
    let first = t
        .keel
        .update(
            id.as_str(),
            "AddComment",
            &comment("looks fine"),
            None,
            wait,
        )
        .await
        .unwrap();
    assert_eq!(first.result, Some(json!({"comments": 1})), "{lang}");

    let before = t.keel.history(id.as_str()).await.unwrap().len();
    let empty = t
        .keel
        .update(id.as_str(), "AddComment", &comment("  "), None, wait)
        .await;
    assert!(
        matches!(&empty, Err(Error::UpdateRejected { failure, .. }) if failure.kind == "EmptyComment"),
        "{lang}: {empty:?}"
    );
    let unknown = t.keel.update(id.as_str(), "Nope", "{}", None, wait).await;
    assert!(
        matches!(unknown, Err(Error::UnknownUpdate { .. })),
        "{lang}: {unknown:?}"
    );
    let after = t.keel.history(id.as_str()).await.unwrap().len();
    assert_eq!(after, before, "{lang}: rejected updates record nothing");

    // A new worker has no guest in memory: the update replays the history, handler included.
    worker.stop().await;
    let worker = Running::start(&t.keel);
    let second = t
        .keel
        .update(
            id.as_str(),
            "AddComment",
            &comment("ship it"),
            Some("u-2"),
            wait,
        )
        .await
        .unwrap();
    assert_eq!(second.result, Some(json!({"comments": 2})), "{lang}");
    let again = t
        .keel
        .update(
            id.as_str(),
            "AddComment",
            &comment("ship it"),
            Some("u-2"),
            wait,
        )
        .await
        .unwrap();
    assert_eq!(again, second, "{lang}: the same id is the same update");
    let history = t.keel.history(id.as_str()).await.unwrap();
    let count = |kind: &str| history.iter().filter(|r| r.event.kind() == kind).count();
    assert_eq!(
        (count("UpdateAccepted"), count("UpdateCompleted")),
        (2, 2),
        "{lang}: {:?}",
        kinds(&history)
    );
    // The comments changed nothing else: the approval goes on as before.
    let request = t.keel.query(id.as_str(), "Request", "null").await;
    assert_eq!(
        request.unwrap(),
        json!({"requestId": "req-u", "state": "waiting"}),
        "{lang}"
    );
    t.keel
        .raise_event(id.as_str(), "Approved", r#"{"by":"alice"}"#)
        .await
        .unwrap();
    let instance = t.keel.wait(id.as_str(), wait).await.unwrap();
    worker.stop().await;
    assert_completed(&instance);
    let ended = t
        .keel
        .update(id.as_str(), "AddComment", &comment("late"), None, wait)
        .await;
    assert!(
        matches!(ended, Err(Error::Ended { .. })),
        "{lang}: {ended:?}"
    );
}
