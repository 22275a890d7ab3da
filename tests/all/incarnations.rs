//! Reused instance ids: an ended instance's id may be started again (directly, or after a purge),
//! and nothing of the earlier incarnation — a late child result, a cascading terminate, an activity
//! result, an idempotency key — may reach or be mistaken for the later one.

use std::time::Duration;

use keel::HistoryEvent;
use keel::Keel;
use keel::store::Status;
use serde_json::{Value, json};

use crate::raw_db::{Arg, RawDb};
use crate::support::{Running, TestEngine, assert_completed, engine, finish, wait_for_event};

/// How an ended instance's id is taken again.
#[derive(Debug, Clone, Copy)]
enum Reuse {
    /// `start` with the id of an ended instance (which replaces it).
    Start,
    /// `purge`, then `start`.
    PurgeThenStart,
}

/// Waits until instance `id` exists and has recorded `kind`.
async fn wait_for_instance_event(keel: &Keel, id: &str, kind: &str) {
    for _ in 0..1000 {
        if keel.status(id).await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_for_event(keel, id, kind).await;
}

/// Starts `ParentOfNamed` as `parent` with child `child`, and waits until the child waits for `Go`.
async fn start_parent(keel: &Keel, parent: &str, child: &str) {
    keel.start(
        "ParentOfNamed",
        &json!({ "child": child }).to_string(),
        Some(parent),
    )
    .await
    .unwrap();
    wait_for_instance_event(keel, child, "EventAwaited").await;
}

/// Ends `id` by terminating it with its children abandoned, then purges it if `reuse` says so.
async fn end_abandoning_children(keel: &Keel, id: &str, reuse: Reuse) {
    keel.terminate_with(id, "replaced by a new order", true)
        .await
        .unwrap();
    let ended = keel.wait(id, Duration::from_secs(60)).await.unwrap();
    assert_eq!(ended.status, Status::Terminated);
    if matches!(reuse, Reuse::PurgeThenStart) {
        keel.purge(id).await.unwrap();
    }
}

/// Inbox rows of `instance` whose kind is `kind`, read from the database itself.
async fn inbox_rows(t: &TestEngine, instance: &str, kind: &str) -> i64 {
    count(
        t,
        "SELECT COUNT(*) FROM inbox WHERE instance = ? AND kind = ?",
        &[instance, kind],
    )
    .await
}

/// The count `sql` returns with `binds`, read from the database itself.
async fn count(t: &TestEngine, sql: &str, binds: &[&str]) -> i64 {
    let args: Vec<Arg> = binds.iter().map(|b| Arg::Text(b)).collect();
    RawDb::open(&t.db()).await.one(sql, &args).await
}

fn sub_orchestration_results(history: &[keel::store::HistoryRecord]) -> Vec<(u32, Value)> {
    history
        .iter()
        .filter_map(|r| match &r.event {
            HistoryEvent::SubOrchestrationCompleted { id, output } => Some((*id, output.clone())),
            HistoryEvent::SubOrchestrationFailed { id, failure } => {
                Some((*id, json!({ "failed": failure.kind })))
            }
            _ => None,
        })
        .collect()
}

/// A parent terminated with its children abandoned, then started again under the same id: the old
/// child's result is for the old incarnation's task 0, and the new incarnation, waiting on a task 0
/// of its own, must not take it for its child's.
#[tokio::test(flavor = "multi_thread")]
async fn a_child_of_an_earlier_incarnation_does_not_report_to_the_later_one() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    for (parent, reuse) in [("reused", Reuse::Start), ("purged", Reuse::PurgeThenStart)] {
        let (old_child, new_child) = (format!("{parent}-old"), format!("{parent}-new"));
        start_parent(&t.keel, parent, &old_child).await;
        end_abandoning_children(&t.keel, parent, reuse).await;
        start_parent(&t.keel, parent, &new_child).await;
        // Each incarnation has a run of its own, and its child records it.
        let run = t.keel.status(parent).await.unwrap().unwrap().run;
        assert!(run.is_some());
        let old_ref = t.keel.status(&old_child).await.unwrap().unwrap().parent;
        let new_ref = t.keel.status(&new_child).await.unwrap().unwrap().parent;
        assert_eq!(new_ref.unwrap().run, run);
        assert_ne!(old_ref.unwrap().run, run);

        // The old child finishes; its result is committed with its completion.
        t.keel
            .raise_event(&old_child, "Go", r#""old""#)
            .await
            .unwrap();
        assert_completed(
            &t.keel
                .wait(&old_child, Duration::from_secs(60))
                .await
                .unwrap(),
        );
        let history = t.keel.history(parent).await.unwrap();
        assert_eq!(
            sub_orchestration_results(&history),
            [],
            "{parent} ({reuse:?}): the new incarnation received the old child's result"
        );
        assert_eq!(
            inbox_rows(&t, parent, "SubOrchestrationCompleted").await,
            0,
            "{parent} ({reuse:?}): the old child's result waits in the new incarnation's inbox"
        );
        let status = t.keel.status(parent).await.unwrap().unwrap().status;
        assert_eq!(status, Status::Running, "{parent} ({reuse:?})");

        // The new child's result is the one the new incarnation gets.
        t.keel
            .raise_event(&new_child, "Go", r#""new""#)
            .await
            .unwrap();
        let done = t.keel.wait(parent, Duration::from_secs(60)).await.unwrap();
        assert_completed(&done);
        assert_eq!(done.output, Some(json!({"child": "new"})), "{reuse:?}");
        let history = t.keel.history(parent).await.unwrap();
        assert_eq!(
            sub_orchestration_results(&history),
            [(0, json!("new"))],
            "{reuse:?}"
        );
    }
    worker.stop().await;
}

/// Terminating the later incarnation terminates its own children, not the ones an earlier
/// incarnation abandoned.
#[tokio::test(flavor = "multi_thread")]
async fn terminating_a_later_incarnation_leaves_the_children_an_earlier_one_abandoned() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    start_parent(&t.keel, "twice", "twice-old").await;
    end_abandoning_children(&t.keel, "twice", Reuse::Start).await;
    start_parent(&t.keel, "twice", "twice-new").await;
    t.keel.terminate("twice", "cancelled").await.unwrap();
    for id in ["twice", "twice-new"] {
        let instance = t.keel.wait(id, Duration::from_secs(60)).await.unwrap();
        assert_eq!(instance.status, Status::Terminated, "{id}");
    }
    // The cascade's messages commit with the parent's termination: none went to the old child.
    assert_eq!(inbox_rows(&t, "twice-old", "Terminate").await, 0);
    let old = t.keel.history("twice-old").await.unwrap();
    assert!(
        !old.iter().any(|r| r.event.kind() == "ExecutionTerminated"),
        "the new incarnation's terminate reached the old one's abandoned child"
    );
    t.keel
        .raise_event("twice-old", "Go", r#""still here""#)
        .await
        .unwrap();
    let old = t
        .keel
        .wait("twice-old", Duration::from_secs(60))
        .await
        .unwrap();
    assert_completed(&old);
    worker.stop().await;
}

/// An attempt still running when its instance ended and its id was taken again commits nothing
/// into the new incarnation: its work item went with the old incarnation, and the commit of a result
/// is conditional on the work item.
#[tokio::test(flavor = "multi_thread")]
async fn an_activity_result_of_an_earlier_incarnation_is_dropped() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    let input = json!({"activity": "Sleep", "input": 1_000});
    t.keel
        .start("Call", &input.to_string(), Some("busy"))
        .await
        .unwrap();
    wait_for_event(&t.keel, "busy", "TaskScheduled").await;
    t.keel.terminate("busy", "replaced").await.unwrap();
    t.keel.wait("busy", Duration::from_secs(60)).await.unwrap();
    // The new incarnation waits on an event and schedules no task.
    t.keel
        .start("WaitForEvent", "null", Some("busy"))
        .await
        .unwrap();
    wait_for_event(&t.keel, "busy", "EventAwaited").await;
    // The old incarnation's leased work item went with it (a terminate keeps leased ones).
    assert_eq!(
        count(
            &t,
            "SELECT COUNT(*) FROM work_items WHERE instance = ?",
            &["busy"]
        )
        .await,
        0
    );
    let mut finished = false;
    for _ in 0..1000 {
        if t.keel
            .metrics()
            .attempts()
            .get("Sleep")
            .is_some_and(|c| c.attempts > 0)
        {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(finished, "the old attempt never finished");
    // Its commit follows the count at once; give it time to land if it were going to.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let history = t.keel.history("busy").await.unwrap();
    assert!(
        !history
            .iter()
            .any(|r| matches!(r.event, HistoryEvent::TaskCompleted { .. })),
        "{history:?}"
    );
    assert_eq!(inbox_rows(&t, "busy", "TaskCompleted").await, 0);
    t.keel.raise_event("busy", "Go", "1").await.unwrap();
    assert_completed(&t.keel.wait("busy", Duration::from_secs(60)).await.unwrap());
    worker.stop().await;
}

/// The key of task 0 of `id` as the `IdempotencyKey` activity saw it in each attempt, from the
/// output and the failures recorded in the history (`TaskRetrying`, `TaskFailed`).
async fn keys_seen(keel: &Keel, id: &str) -> Vec<String> {
    let history = keel.history(id).await.unwrap();
    let mut keys: Vec<String> = history
        .iter()
        .filter_map(|r| match &r.event {
            HistoryEvent::TaskRetrying { failure, .. }
            | HistoryEvent::TaskFailed { failure, .. } => {
                failure.details.as_ref().map(|d| d["key"].clone())
            }
            HistoryEvent::TaskCompleted { output, .. } => Some(output["key"].clone()),
            _ => None,
        })
        .map(|key| key.as_str().expect("a key").to_owned())
        .collect();
    keys.dedup();
    keys
}

/// `KEEL_IDEMPOTENCY_KEY` is the same for every attempt of one task and after a rewind, and differs
/// between two incarnations of one id, whether the id was reused directly or after a purge: a
/// service that deduplicates by key must not take a new order's charge for the old one's.
#[tokio::test(flavor = "multi_thread")]
async fn the_idempotency_key_is_stable_for_a_task_and_new_for_each_incarnation() {
    let t = engine(&["keel_test_patterns"]).await;
    // Fails its first attempt and succeeds at the second, under a retry policy.
    let input = json!({"activity": "IdempotencyKey", "input": 2, "retry": [3, 10]}).to_string();
    let mut keys = Vec::new();
    for round in 0..3 {
        if round == 2 {
            t.keel.purge("order").await.unwrap();
        }
        t.keel.start("Call", &input, Some("order")).await.unwrap();
        let done = finish(&t.keel, "order").await;
        assert_completed(&done);
        assert_eq!(done.output.unwrap()["ok"]["attempt"], json!(2));
        let seen = keys_seen(&t.keel, "order").await;
        assert_eq!(
            seen.len(),
            1,
            "round {round}: one key for both attempts: {seen:?}"
        );
        let key = seen.into_iter().next().unwrap();
        let run = done.run.expect("a new instance has a run");
        assert_eq!(key, format!("order/{run}/0"));
        keys.push(key);
    }
    assert_ne!(keys[0], keys[1], "the id was reused directly");
    assert_ne!(keys[0], keys[2], "the id was reused after a purge");
    assert_ne!(keys[1], keys[2], "the id was reused after a purge");

    // A rewind runs the failed task again in the same incarnation, under the same key.
    let failing = json!({"spins": 0, "activity": "IdempotencyKey", "input": 2}).to_string();
    t.keel
        .start("BusyThenCall", &failing, Some("rewound"))
        .await
        .unwrap();
    assert_eq!(finish(&t.keel, "rewound").await.status, Status::Failed);
    t.keel.rewind("rewound", "try again").await.unwrap();
    assert_eq!(finish(&t.keel, "rewound").await.status, Status::Failed);
    let history = t.keel.history("rewound").await.unwrap();
    let failures = history
        .iter()
        .filter(|r| r.event.kind() == "TaskFailed")
        .count();
    assert_eq!(failures, 2, "{history:?}");
    let seen = keys_seen(&t.keel, "rewound").await;
    assert_eq!(
        seen.len(),
        1,
        "one key before and after the rewind: {seen:?}"
    );
    let run = t
        .keel
        .status("rewound")
        .await
        .unwrap()
        .unwrap()
        .run
        .unwrap();
    assert_eq!(seen[0], format!("rewound/{run}/0"));
}
