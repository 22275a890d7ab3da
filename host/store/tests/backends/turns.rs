//! The step path's writes: starting instances (and their start policies), sending messages,
//! claiming, releasing and renewing leases, committing turns, purging.

use std::collections::HashSet;

use keel_core::history::{ActivityOptions, HistoryEvent, ParentRef};
use keel_store::{
    Error, Incarnation, Instance, Message, NewInstance, NewWorkItem, OutMessage, StartPolicy,
    Started, Status, Store, TurnCommit,
};
use serde_json::json;

use crate::support::stores;

/// A new top-level instance `id` of orchestrator `name`.
pub(crate) fn new_instance(id: &str, name: &str) -> NewInstance {
    NewInstance {
        id: id.to_owned(),
        name: name.to_owned(),
        module: "d1".to_owned(),
        input: json!({"n": 1}),
        parent: None,
    }
}

/// A message for whichever incarnation and execution holds `id`, visible at `at`.
pub(crate) fn message(id: &str, message: Message, at: u64) -> OutMessage {
    OutMessage {
        instance: id.to_owned(),
        execution: None,
        incarnation: Incarnation::Any,
        message,
        visible_at: at,
    }
}

/// A raised event.
pub(crate) fn event(name: &str) -> Message {
    Message::Deliver {
        event: HistoryEvent::EventRaised {
            name: name.to_owned(),
            data: json!(name),
        },
    }
}

pub(crate) async fn read(s: &Store, id: &str) -> Instance {
    s.instance(id).await.unwrap().expect("instance exists")
}

/// The messages of `id` visible at `now`, without their row ids.
async fn messages(s: &Store, id: &str, now: u64) -> Vec<Message> {
    s.inbox(id, now)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, _, m)| m)
        .collect()
}

/// A turn of `id` by `owner` at `now` that consumes every visible message, records `events` and
/// leaves the instance `status`.
pub(crate) async fn turn(
    s: &Store,
    id: &str,
    owner: &str,
    now: u64,
    events: Vec<HistoryEvent>,
    status: Status,
) -> TurnCommit {
    let mut c = TurnCommit::of(&read(s, id).await, owner, now);
    c.consumed = s
        .inbox(id, now)
        .await
        .unwrap()
        .into_iter()
        .map(|(row, _, _)| row)
        .collect();
    c.events = events;
    c.status = status;
    c
}

pub(crate) fn started(name: &str) -> HistoryEvent {
    HistoryEvent::ExecutionStarted {
        name: name.to_owned(),
        module: "d1".to_owned(),
        input: json!({"n": 1}),
        parent: None,
    }
}

fn scheduled(id: u32) -> HistoryEvent {
    HistoryEvent::TaskScheduled {
        id,
        name: "Greet".to_owned(),
        input: json!(id),
        options: ActivityOptions::default(),
    }
}

fn work(task_id: u32) -> NewWorkItem {
    NewWorkItem {
        task_id,
        name: "Greet".to_owned(),
        input: json!(task_id),
        options: ActivityOptions::default(),
        attempt: 1,
        not_before: None,
    }
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::Conflict(_)))
}

/// Creates `id`, claims it for `owner` and commits its first turn (started, Running).
pub(crate) async fn running(s: &Store, id: &str, owner: &str, now: u64) {
    s.create_instance(new_instance(id, "Hello"), now)
        .await
        .unwrap();
    assert!(
        s.claim_instances(owner, now, now + 1000, 100)
            .await
            .unwrap()
            .contains(&id.to_owned())
    );
    let c = turn(s, id, owner, now, vec![started("Hello")], Status::Running).await;
    s.commit_turn(c).await.unwrap();
}

#[tokio::test]
async fn a_created_instance_is_pending_with_its_start_queued_and_its_id_taken() {
    for t in stores().await {
        let s = &t.store;
        s.create_instance(new_instance("a", "Hello"), 10)
            .await
            .unwrap();
        let i = read(s, "a").await;
        assert_eq!(
            (
                i.status,
                i.execution,
                i.history_len,
                i.created_at,
                i.updated_at
            ),
            (Status::Pending, 1, 0, 10, 10),
            "{}",
            t.backend
        );
        assert_eq!(i.input, json!({"n": 1}), "{}", t.backend);
        let run = i.run.clone().expect("a run token");
        assert_eq!(run.len(), 16, "{}", t.backend);
        let inbox = s.inbox("a", 10).await.unwrap();
        assert_eq!(inbox.len(), 1, "{}", t.backend);
        assert_eq!(
            (inbox[0].1, &inbox[0].2),
            (Some(1), &Message::Start),
            "{}",
            t.backend
        );
        let again = s.create_instance(new_instance("a", "Hello"), 11).await;
        assert!(is_conflict(&again), "{}: {again:?}", t.backend);
        assert_eq!(read(s, "a").await.run, Some(run), "{}", t.backend);
        assert_eq!(s.inbox("a", 11).await.unwrap().len(), 1, "{}", t.backend);
    }
}

#[tokio::test]
async fn start_policies_conflict_use_the_running_instance_or_signal_it() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        let fail = StartPolicy::default();
        let use_existing = StartPolicy {
            use_running: true,
            event: None,
        };
        assert_eq!(
            s.start_instance(new_instance("a", "Hello"), 10, fail.clone())
                .await
                .unwrap(),
            Started::Created,
            "{b}"
        );
        let r = s
            .start_instance(new_instance("a", "Hello"), 11, fail.clone())
            .await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        assert_eq!(
            s.start_instance(new_instance("a", "Hello"), 12, use_existing.clone())
                .await
                .unwrap(),
            Started::Running,
            "{b}"
        );
        // Another orchestrator under the same id is a conflict even when using the running one.
        let r = s
            .start_instance(new_instance("a", "Other"), 13, use_existing.clone())
            .await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        // Signal-with-start: the running instance gets the event.
        let signal = StartPolicy {
            use_running: false,
            event: Some(event("go")),
        };
        assert_eq!(
            s.start_instance(new_instance("a", "Hello"), 14, signal.clone())
                .await
                .unwrap(),
            Started::Running,
            "{b}"
        );
        assert_eq!(
            messages(s, "a", 14).await,
            [Message::Start, event("go")],
            "{b}"
        );
        // ... and a new one gets its start, then the event.
        assert_eq!(
            s.start_instance(new_instance("n", "Hello"), 15, signal)
                .await
                .unwrap(),
            Started::Created,
            "{b}"
        );
        assert_eq!(
            messages(s, "n", 15).await,
            [Message::Start, event("go")],
            "{b}"
        );
        // An ended instance's id is started again as a new incarnation, its old rows gone.
        let old_run = read(s, "a").await.run;
        s.claim_instances("w", 20, 1000, 10).await.unwrap();
        let mut c = turn(s, "a", "w", 20, vec![started("Hello")], Status::Completed).await;
        c.output = Some(json!("done"));
        s.commit_turn(c).await.unwrap();
        assert_eq!(
            s.start_instance(new_instance("a", "Hello"), 30, fail)
                .await
                .unwrap(),
            Started::Created,
            "{b}"
        );
        let i = read(s, "a").await;
        assert_eq!(
            (i.status, i.history_len, i.output, i.created_at),
            (Status::Pending, 0, None, 30),
            "{b}"
        );
        assert_ne!(i.run, old_run, "{b}");
        assert!(s.history("a").await.unwrap().is_empty(), "{b}");
        assert_eq!(messages(s, "a", 30).await, [Message::Start], "{b}");
    }
}

#[tokio::test]
async fn messages_reach_their_incarnation_and_are_dropped_for_others() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        s.create_instance(new_instance("a", "Hello"), 10)
            .await
            .unwrap();
        let run = read(s, "a").await.run;
        let mut timer = message("a", event("later"), 100);
        timer.execution = Some(1);
        let mut mine = message("a", event("mine"), 10);
        mine.incarnation = Incarnation::Run(run);
        let mut other = message("a", event("other"), 10);
        other.incarnation = Incarnation::Run(Some("0000000000000000".to_owned()));
        let nobody = message("gone", event("nobody"), 10);
        s.send(vec![timer, mine, other, nobody]).await.unwrap();
        assert_eq!(
            messages(s, "a", 10).await,
            [Message::Start, event("mine")],
            "{b}"
        );
        let later = s.inbox("a", 100).await.unwrap();
        assert_eq!(later.len(), 3, "{b}");
        assert_eq!((later[2].1, &later[2].2), (Some(1), &event("later")), "{b}");
        assert_eq!(later[1].1, None, "{b}");
        assert!(s.instance("gone").await.unwrap().is_none(), "{b}");
        assert!(s.inbox("gone", 100).await.unwrap().is_empty(), "{b}");
    }
}

#[tokio::test]
async fn a_claim_leases_instances_with_visible_messages_once_until_the_lease_ends() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        for id in ["a", "b", "c"] {
            s.create_instance(new_instance(id, "Hello"), 10)
                .await
                .unwrap();
        }
        let first = s.claim_instances("w1", 10, 100, 2).await.unwrap();
        assert_eq!(first.len(), 2, "{b}");
        let second = s.claim_instances("w2", 10, 100, 10).await.unwrap();
        assert_eq!(second.len(), 1, "{b}");
        assert!(!first.contains(&second[0]), "{b}");
        assert!(
            s.claim_instances("w3", 100, 200, 10)
                .await
                .unwrap()
                .is_empty(),
            "{b}: a lease holds up to its end"
        );
        let mut after = s.claim_instances("w3", 101, 200, 10).await.unwrap();
        after.sort();
        assert_eq!(after, ["a", "b", "c"], "{b}: expired leases are taken over");
        // A message not yet visible gives nothing to claim.
        s.create_instance(new_instance("t", "Hello"), 10)
            .await
            .unwrap();
        s.claim_instances("w1", 10, 20, 10).await.unwrap();
        let c = turn(s, "t", "w1", 10, vec![started("Hello")], Status::Running).await;
        s.commit_turn(c).await.unwrap();
        s.send(vec![message("t", event("timer"), 500)])
            .await
            .unwrap();
        assert!(
            !s.claim_instances("w1", 499, 600, 10)
                .await
                .unwrap()
                .contains(&"t".to_owned()),
            "{b}"
        );
        assert_eq!(
            s.claim_instances("w1", 500, 600, 10).await.unwrap(),
            ["t"],
            "{b}"
        );
    }
}

#[tokio::test]
async fn a_suspended_instance_is_claimed_only_for_resume_or_terminate() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        running(s, "a", "w", 10).await;
        s.claim_instances("w", 20, 30, 10).await.unwrap();
        s.send(vec![message("a", event("go"), 20)]).await.unwrap();
        s.claim_instances("w", 20, 30, 10).await.unwrap();
        let mut c = turn(s, "a", "w", 20, vec![], Status::Suspended).await;
        c.consumed.clear();
        s.commit_turn(c).await.unwrap();
        assert_eq!(read(s, "a").await.status, Status::Suspended, "{b}");
        assert!(
            s.claim_instances("w", 40, 50, 10).await.unwrap().is_empty(),
            "{b}: an event waits while suspended"
        );
        assert_eq!(s.due_work(40, 10).await.unwrap(), (0, 0), "{b}");
        s.send(vec![message(
            "a",
            Message::Resume {
                reason: "r".to_owned(),
            },
            40,
        )])
        .await
        .unwrap();
        assert_eq!(s.due_work(40, 10).await.unwrap(), (1, 0), "{b}");
        assert_eq!(
            s.claim_instances("w", 40, 50, 10).await.unwrap(),
            ["a"],
            "{b}"
        );
    }
}

#[tokio::test]
async fn a_backed_off_instance_is_not_claimed_before_its_time() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        s.create_instance(new_instance("a", "Hello"), 10)
            .await
            .unwrap();
        s.claim_instances("w", 10, 1000, 10).await.unwrap();
        let failed = s
            .turn_failed(keel_store::TurnFailed {
                id: "a".to_owned(),
                owner: "w".to_owned(),
                reason: "module would not load".to_owned(),
                now: 20,
                backoff_ms: 100,
                max_backoff_ms: 1000,
                max_failures: 5,
            })
            .await;
        assert_eq!(
            failed.unwrap(),
            keel_store::AfterFailure::RetryAt(120),
            "{b}"
        );
        assert!(
            s.claim_instances("w", 119, 2000, 10)
                .await
                .unwrap()
                .is_empty(),
            "{b}"
        );
        assert_eq!(s.due_work(119, 10).await.unwrap(), (0, 0), "{b}");
        assert_eq!(
            s.claim_instances("w", 120, 2000, 10).await.unwrap(),
            ["a"],
            "{b}"
        );
        // A committed turn clears the backoff.
        let c = turn(s, "a", "w", 130, vec![started("Hello")], Status::Running).await;
        s.commit_turn(c).await.unwrap();
    }
}

#[tokio::test]
async fn a_turn_appends_dense_history_consumes_messages_and_leases_its_first_work() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        s.create_instance(new_instance("a", "Hello"), 10)
            .await
            .unwrap();
        s.claim_instances("w", 10, 100, 10).await.unwrap();
        let run = read(s, "a").await.run;
        let mut c = turn(
            s,
            "a",
            "w",
            20,
            vec![
                started("Hello"),
                HistoryEvent::OrchestratorStarted { time_ms: 20 },
                scheduled(0),
                scheduled(1),
            ],
            Status::Running,
        )
        .await;
        c.custom_status = Some(json!({"step": 1}));
        c.work_items = vec![work(0), work(1)];
        c.claim_work = Some((300, 1));
        let mut timer = message("a", event("timer"), 700);
        timer.execution = Some(1);
        c.messages = vec![timer];
        let leased = s.commit_turn(c).await.unwrap();
        assert_eq!(leased.len(), 1, "{b}");
        let w = &leased[0];
        assert_eq!(
            (
                &w.instance[..],
                w.execution,
                w.task_id,
                &w.name[..],
                w.attempt
            ),
            ("a", 1, 0, "Greet", 1),
            "{b}"
        );
        assert_eq!(
            (w.first_at, w.deliveries, &w.run, &w.input),
            (20, 1, &run, &json!(0)),
            "{b}"
        );
        let i = read(s, "a").await;
        assert_eq!(
            (i.status, i.history_len, i.updated_at),
            (Status::Running, 4, 20),
            "{b}"
        );
        assert_eq!(i.custom_status, Some(json!({"step": 1})), "{b}");
        let h = s.history("a").await.unwrap();
        assert_eq!(
            h.iter()
                .map(|r| (r.execution, r.seq, r.recorded_at))
                .collect::<Vec<_>>(),
            [(1, 0, 20), (1, 1, 20), (1, 2, 20), (1, 3, 20)],
            "{b}"
        );
        assert_eq!(h[2].event, scheduled(0), "{b}");
        // The start was consumed; the timer waits; one work item is leased and one is due.
        assert!(s.inbox("a", 20).await.unwrap().is_empty(), "{b}");
        assert_eq!(messages(s, "a", 700).await, [event("timer")], "{b}");
        assert_eq!(s.due_work(20, 10).await.unwrap(), (0, 1), "{b}");
        assert_eq!(s.due_work(301, 10).await.unwrap(), (0, 2), "{b}");
        assert_eq!(s.next_due(20).await.unwrap(), Some(700), "{b}");
        // The lease was given back with the commit: the next turn continues the history.
        assert_eq!(
            s.claim_instances("w2", 700, 800, 10).await.unwrap(),
            ["a"],
            "{b}"
        );
        let c = turn(
            s,
            "a",
            "w2",
            700,
            vec![HistoryEvent::OrchestratorStarted { time_ms: 700 }],
            Status::Running,
        )
        .await;
        assert_eq!(c.consumed.len(), 1, "{b}");
        s.commit_turn(c).await.unwrap();
        let h = s.history("a").await.unwrap();
        assert_eq!(
            h.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4],
            "{b}"
        );
        assert_eq!(read(s, "a").await.history_len, 5, "{b}");
        assert!(s.inbox("a", 10_000).await.unwrap().is_empty(), "{b}");
    }
}

#[tokio::test]
async fn a_turn_whose_lease_or_history_moved_on_writes_nothing() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        running(s, "a", "w1", 10).await;
        s.send(vec![message("a", event("go"), 20)]).await.unwrap();
        assert_eq!(
            s.claim_instances("w1", 20, 100, 10).await.unwrap(),
            ["a"],
            "{b}"
        );
        let good = turn(
            s,
            "a",
            "w1",
            30,
            vec![HistoryEvent::OrchestratorStarted { time_ms: 30 }],
            Status::Running,
        )
        .await;
        let mut stale = good.clone();
        stale.expected_len = 0;
        stale.work_items = vec![work(0)];
        let r = s.commit_turn(stale).await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        let mut wrong_run = good.clone();
        wrong_run.run = Some("0000000000000000".to_owned());
        let r = s.commit_turn(wrong_run).await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        let mut wrong_execution = good.clone();
        wrong_execution.execution = 2;
        let r = s.commit_turn(wrong_execution).await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        let mut other_owner = good.clone();
        other_owner.owner = "w2".to_owned();
        let r = s.commit_turn(other_owner).await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        // Nothing of the refused commits was written.
        assert_eq!(read(s, "a").await.history_len, 1, "{b}");
        assert_eq!(s.history("a").await.unwrap().len(), 1, "{b}");
        assert_eq!(messages(s, "a", 30).await, [event("go")], "{b}");
        assert_eq!(s.due_work(30, 10).await.unwrap(), (0, 0), "{b}");
        // The lease expires and another worker takes the instance: the first one's turn is refused.
        assert_eq!(
            s.claim_instances("w2", 101, 200, 10).await.unwrap(),
            ["a"],
            "{b}"
        );
        let r = s.commit_turn(good.clone()).await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        let mut taken = good;
        taken.owner = "w2".to_owned();
        s.commit_turn(taken).await.unwrap();
        assert_eq!(read(s, "a").await.history_len, 2, "{b}");
        assert!(s.inbox("a", 200).await.unwrap().is_empty(), "{b}");
    }
}

#[tokio::test]
async fn a_completed_instance_drops_its_inbox_and_unleased_work_and_tells_its_parent() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        running(s, "p", "w", 10).await;
        let parent_run = read(s, "p").await.run;
        // The parent starts a child.
        s.send(vec![message("p", event("go"), 20)]).await.unwrap();
        s.claim_instances("w", 20, 100, 10).await.unwrap();
        let mut c = turn(s, "p", "w", 20, vec![], Status::Running).await;
        let child_ref = ParentRef {
            instance: "p".to_owned(),
            execution: 1,
            task_id: 7,
            run: parent_run.clone(),
        };
        let mut child = new_instance("c", "Child");
        child.parent = Some(child_ref.clone());
        c.children = vec![child];
        s.commit_turn(c).await.unwrap();
        let ci = read(s, "c").await;
        assert_eq!(
            (ci.status, ci.parent.clone(), &ci.name[..]),
            (Status::Pending, Some(child_ref), "Child"),
            "{b}"
        );
        assert_eq!(messages(s, "c", 20).await, [Message::Start], "{b}");
        // The child schedules two activities (one leased to it), gets a timer, then completes.
        assert_eq!(
            s.claim_instances("w", 30, 100, 10).await.unwrap(),
            ["c"],
            "{b}"
        );
        let mut c = turn(s, "c", "w", 30, vec![started("Child")], Status::Running).await;
        c.work_items = vec![work(0), work(1)];
        c.claim_work = Some((100, 1));
        c.messages = vec![message("c", event("timer"), 900)];
        s.commit_turn(c).await.unwrap();
        s.send(vec![message("c", event("go"), 40)]).await.unwrap();
        s.claim_instances("w", 40, 100, 10).await.unwrap();
        let mut c = turn(s, "c", "w", 40, vec![], Status::Completed).await;
        c.output = Some(json!("result"));
        c.messages = vec![OutMessage {
            instance: "p".to_owned(),
            execution: Some(1),
            incarnation: Incarnation::Run(parent_run),
            message: Message::Deliver {
                event: HistoryEvent::SubOrchestrationCompleted {
                    id: 7,
                    output: json!("result"),
                },
            },
            visible_at: 40,
        }];
        s.commit_turn(c).await.unwrap();
        let ci = read(s, "c").await;
        assert_eq!(
            (ci.status, ci.output),
            (Status::Completed, Some(json!("result"))),
            "{b}"
        );
        assert!(s.inbox("c", 10_000).await.unwrap().is_empty(), "{b}");
        // The unleased work item went; the leased one stays until its worker finishes it.
        assert_eq!(s.due_work(101, 10).await.unwrap(), (1, 1), "{b}");
        assert_eq!(s.next_due(40).await.unwrap(), None, "{b}");
        assert_eq!(
            messages(s, "p", 40).await,
            [Message::Deliver {
                event: HistoryEvent::SubOrchestrationCompleted {
                    id: 7,
                    output: json!("result"),
                },
            }],
            "{b}"
        );
    }
}

#[tokio::test]
async fn a_child_whose_id_is_taken_fails_in_the_parent_inbox() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        running(s, "p", "w", 10).await;
        s.create_instance(new_instance("c", "Other"), 10)
            .await
            .unwrap();
        s.send(vec![message("p", event("go"), 20)]).await.unwrap();
        assert_eq!(
            s.claim_instances("w", 20, 100, 10).await.unwrap().len(),
            2,
            "{b}"
        );
        let mut c = turn(s, "p", "w", 20, vec![], Status::Running).await;
        let mut child = new_instance("c", "Child");
        child.parent = Some(ParentRef {
            instance: "p".to_owned(),
            execution: 1,
            task_id: 3,
            run: read(s, "p").await.run,
        });
        c.children = vec![child];
        s.commit_turn(c).await.unwrap();
        let existing = read(s, "c").await;
        assert_eq!(
            (&existing.name[..], existing.parent),
            ("Other", None),
            "{b}"
        );
        let inbox = s.inbox("p", 20).await.unwrap();
        assert_eq!(inbox.len(), 1, "{b}");
        assert_eq!(inbox[0].1, Some(1), "{b}");
        match &inbox[0].2 {
            Message::Deliver {
                event: HistoryEvent::SubOrchestrationFailed { id, failure },
            } => assert_eq!((*id, &failure.kind[..]), (3, "InstanceExists"), "{b}"),
            other => panic!("{b}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn continue_as_new_starts_the_next_execution_with_an_empty_history() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        running(s, "a", "w", 10).await;
        s.send(vec![message("a", event("go"), 20)]).await.unwrap();
        s.claim_instances("w", 20, 100, 10).await.unwrap();
        let mut c = turn(
            s,
            "a",
            "w",
            20,
            vec![HistoryEvent::ContinuedAsNew {
                input: json!({"n": 2}),
                carried: Vec::new(),
            }],
            Status::ContinuedAsNew,
        )
        .await;
        c.next_execution = Some(json!({"n": 2}));
        s.commit_turn(c).await.unwrap();
        let i = read(s, "a").await;
        assert_eq!(
            (i.execution, i.history_len, i.status, i.input, i.output),
            (2, 0, Status::ContinuedAsNew, json!({"n": 2}), None),
            "{b}"
        );
        let inbox = s.inbox("a", 20).await.unwrap();
        assert_eq!(inbox.len(), 1, "{b}");
        assert_eq!((inbox[0].1, &inbox[0].2), (Some(2), &Message::Start), "{b}");
        assert_eq!(s.execution_history("a", 1).await.unwrap().len(), 2, "{b}");
        assert!(s.execution_history("a", 2).await.unwrap().is_empty(), "{b}");
        // The next execution's first turn starts its history at 0.
        assert_eq!(
            s.claim_instances("w", 20, 100, 10).await.unwrap(),
            ["a"],
            "{b}"
        );
        let c = turn(s, "a", "w", 21, vec![started("Hello")], Status::Running).await;
        s.commit_turn(c).await.unwrap();
        let h = s.history("a").await.unwrap();
        assert_eq!(
            h.iter().map(|r| (r.execution, r.seq)).collect::<Vec<_>>(),
            [(1, 0), (1, 1), (2, 0)],
            "{b}"
        );
        // Continuing again, keeping the executions from 2 on: execution 1's history goes.
        s.send(vec![message("a", event("go"), 30)]).await.unwrap();
        s.claim_instances("w", 30, 100, 10).await.unwrap();
        let mut c = turn(
            s,
            "a",
            "w",
            30,
            vec![HistoryEvent::ContinuedAsNew {
                input: json!({"n": 3}),
                carried: Vec::new(),
            }],
            Status::ContinuedAsNew,
        )
        .await;
        c.next_execution = Some(json!({"n": 3}));
        c.prune_history_before = Some(2);
        s.commit_turn(c).await.unwrap();
        let h = s.history("a").await.unwrap();
        assert_eq!(
            h.iter().map(|r| (r.execution, r.seq)).collect::<Vec<_>>(),
            [(2, 0), (2, 1)],
            "{b}"
        );
        assert_eq!(read(s, "a").await.execution, 3, "{b}");
    }
}

#[tokio::test]
async fn a_turn_fused_with_an_activity_result_needs_the_item_leased_and_the_instance_free() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        s.create_instance(new_instance("a", "Hello"), 10)
            .await
            .unwrap();
        s.claim_instances("w", 10, 100, 10).await.unwrap();
        let mut c = turn(
            s,
            "a",
            "w",
            10,
            vec![started("Hello"), scheduled(0)],
            Status::Running,
        )
        .await;
        c.work_items = vec![work(0)];
        c.claim_work = Some((100, 1));
        let item = s.commit_turn(c).await.unwrap().remove(0);
        let result = |owner: &'static str, len: u32| fused(s, owner, len, item.id);
        // The item is leased to w, not to x.
        let r = s.commit_turn(result("x", 2).await).await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        // While another worker leases the instance, the fused turn is refused.
        s.send(vec![message("a", event("go"), 20)]).await.unwrap();
        assert_eq!(
            s.claim_instances("v", 20, 50, 10).await.unwrap(),
            ["a"],
            "{b}"
        );
        let r = s.commit_turn(result("w", 2).await).await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        s.release_instance("a", "v").await.unwrap();
        // A wrong history length is refused too.
        let r = s.commit_turn(result("w", 1).await).await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        assert_eq!(read(s, "a").await.history_len, 2, "{b}");
        assert_eq!(s.due_work(200, 10).await.unwrap(), (1, 1), "{b}");
        // Free instance, item leased to w: the result and the turn are one commit.
        assert!(
            s.commit_turn(result("w", 2).await)
                .await
                .unwrap()
                .is_empty()
        );
        let i = read(s, "a").await;
        assert_eq!(i.history_len, 3, "{b}");
        assert_eq!(s.due_work(200, 10).await.unwrap(), (1, 0), "{b}");
        // The item is gone: the same turn again finds nothing to finish.
        let r = s.commit_turn(result("w", 3).await).await;
        assert!(is_conflict(&r), "{b}: {r:?}");
        assert_eq!(read(s, "a").await.history_len, 3, "{b}");
    }
}

/// A turn of `id` read now, at `now`, by nobody in particular (the caller sets the owner).
async fn turn_of(s: &Store, id: &str, now: u64) -> TurnCommit {
    TurnCommit::of(&read(s, id).await, "", now)
}

/// The turn `owner` runs on task 0's result (work item `item`) of instance `a` at 20, from a history
/// of `len` events.
async fn fused(s: &Store, owner: &str, len: u32, item: i64) -> TurnCommit {
    let mut c = turn_of(s, "a", 20).await;
    c.owner = owner.to_owned();
    c.expected_len = len;
    c.events = vec![HistoryEvent::TaskCompleted {
        id: 0,
        output: json!("hi"),
    }];
    c.finishes = Some(item);
    c
}

#[tokio::test]
async fn a_released_instance_is_claimed_again_by_anyone() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        s.create_instance(new_instance("a", "Hello"), 10)
            .await
            .unwrap();
        s.claim_instances("w1", 10, 1000, 10).await.unwrap();
        s.release_instance("a", "w2").await.unwrap();
        assert!(
            s.claim_instances("w3", 20, 1000, 10)
                .await
                .unwrap()
                .is_empty(),
            "{b}: only the holder releases"
        );
        s.release_instance("a", "w1").await.unwrap();
        assert_eq!(
            s.claim_instances("w3", 20, 1000, 10).await.unwrap(),
            ["a"],
            "{b}"
        );
        assert_eq!(messages(s, "a", 20).await, [Message::Start], "{b}");
    }
}

#[tokio::test]
async fn renewing_extends_only_the_leases_the_owner_holds_and_lists() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        for id in ["a", "b"] {
            s.create_instance(new_instance(id, "Hello"), 10)
                .await
                .unwrap();
        }
        s.create_instance(new_instance("c", "Hello"), 10)
            .await
            .unwrap();
        s.claim_instances("w", 10, 100, 10).await.unwrap();
        let mut c = turn(s, "c", "w", 10, vec![scheduled(0)], Status::Running).await;
        c.work_items = vec![work(0), work(1)];
        c.claim_work = Some((100, 2));
        let items = s.commit_turn(c).await.unwrap();
        // Nothing is lost while the owner holds its leases; a work item leased to another owner
        // is reported lost to the one that asks.
        let lost = s
            .renew_leases("w", 500, vec!["a".to_owned()], vec![items[0].id])
            .await
            .unwrap();
        assert_eq!(lost, Vec::<i64>::new(), "{b}");
        let lost = s
            .renew_leases("x", 900, vec!["b".to_owned()], vec![items[1].id])
            .await
            .unwrap();
        assert_eq!(lost, [items[1].id], "{b}");
        assert_eq!(
            s.claim_instances("v", 101, 200, 10).await.unwrap(),
            ["b"],
            "{b}"
        );
        assert_eq!(s.due_work(101, 10).await.unwrap(), (0, 1), "{b}");
        assert_eq!(s.due_work(501, 10).await.unwrap(), (2, 2), "{b}");
        let mut claimed = s.claim_instances("v", 501, 600, 10).await.unwrap();
        claimed.sort();
        assert_eq!(claimed, ["a", "b"], "{b}");
    }
}

#[tokio::test]
async fn terminating_deletes_the_running_attempts_work_items_and_renewal_reports_them_lost() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        for id in ["ends", "stops"] {
            s.create_instance(new_instance(id, "Hello"), 10)
                .await
                .unwrap();
        }
        s.claim_instances("w", 10, 100, 10).await.unwrap();
        let mut leased = Vec::new();
        for id in ["ends", "stops"] {
            let mut c = turn(s, id, "w", 10, vec![scheduled(0)], Status::Running).await;
            c.work_items = vec![work(0)];
            c.claim_work = Some((100, 1));
            leased.push(s.commit_turn(c).await.unwrap()[0].id);
            // Something for the next turn, so that the instance is claimed again.
            s.send(vec![message(id, event("go"), 20)]).await.unwrap();
        }
        let mut claimed = s.claim_instances("w", 20, 100, 10).await.unwrap();
        claimed.sort();
        assert_eq!(claimed, ["ends", "stops"], "{b}");
        // One instance completes: its running attempt is left to finish (its result is dropped).
        let done = turn(s, "ends", "w", 20, vec![], Status::Completed).await;
        s.commit_turn(done).await.unwrap();
        // The other is terminated: its running attempt's work item goes with it.
        let stop = HistoryEvent::ExecutionTerminated {
            reason: "no longer wanted".to_owned(),
        };
        let stopped = turn(s, "stops", "w", 20, vec![stop], Status::Terminated).await;
        s.commit_turn(stopped).await.unwrap();
        let lost = s
            .renew_leases("w", 150, Vec::new(), leased.clone())
            .await
            .unwrap();
        assert_eq!(lost, [leased[1]], "{b}");
    }
}

#[tokio::test]
async fn purging_removes_an_instance_and_everything_recorded_for_it() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        running(s, "a", "w", 10).await;
        s.send(vec![message("a", event("go"), 20)]).await.unwrap();
        s.claim_instances("w", 20, 100, 10).await.unwrap();
        let mut c = turn_of(s, "a", 20).await;
        c.owner = "w".to_owned();
        c.work_items = vec![work(0)];
        s.commit_turn(c).await.unwrap();
        running(s, "keep", "w", 10).await;
        assert_eq!(s.due_work(1000, 10).await.unwrap(), (1, 1), "{b}");
        assert!(s.purge("a").await.unwrap(), "{b}");
        assert!(s.instance("a").await.unwrap().is_none(), "{b}");
        assert!(s.history("a").await.unwrap().is_empty(), "{b}");
        assert!(s.inbox("a", 1000).await.unwrap().is_empty(), "{b}");
        assert_eq!(s.due_work(1000, 10).await.unwrap(), (0, 0), "{b}");
        assert!(!s.purge("a").await.unwrap(), "{b}");
        s.send(vec![message("a", event("late"), 30)]).await.unwrap();
        assert!(s.inbox("a", 1000).await.unwrap().is_empty(), "{b}");
        assert_eq!(s.history("keep").await.unwrap().len(), 1, "{b}");
    }
}

#[tokio::test]
async fn two_stores_claiming_at_once_never_lease_one_instance_twice() {
    for t in stores().await {
        let b = t.backend;
        let other = t.reopen().await;
        let total = 60;
        for n in 0..total {
            t.store
                .create_instance(new_instance(&format!("i{n}"), "Hello"), 10)
                .await
                .unwrap();
        }
        let claimer = |s: Store, owner: &'static str| {
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = s.claim_instances(owner, 10, 1000, 3).await.unwrap();
                    if got.is_empty() {
                        break mine;
                    }
                    mine.extend(got);
                }
            })
        };
        let tasks = [
            claimer(t.store.clone(), "w1"),
            claimer(other.clone(), "w2"),
            claimer(t.store.clone(), "w3"),
            claimer(other, "w4"),
        ];
        let mut seen = HashSet::new();
        let mut counts = Vec::new();
        for task in tasks {
            let mine = task.await.unwrap();
            counts.push(mine.len());
            for id in mine {
                assert!(seen.insert(id.clone()), "{b}: {id} leased twice");
            }
        }
        assert_eq!(seen.len(), total, "{b}: {counts:?}");
    }
}

#[tokio::test]
async fn two_workers_committing_one_turn_at_once_commit_it_once() {
    for t in stores().await {
        let b = t.backend;
        let other = t.reopen().await;
        running(&t.store, "a", "w", 10).await;
        s_send(&t.store, "a", 20).await;
        t.store.claim_instances("w", 20, 100, 10).await.unwrap();
        let c = turn(
            &t.store,
            "a",
            "w",
            20,
            vec![HistoryEvent::OrchestratorStarted { time_ms: 20 }],
            Status::Running,
        )
        .await;
        let one = tokio::spawn({
            let (s, c) = (t.store.clone(), c.clone());
            async move { s.commit_turn(c).await }
        });
        let two = tokio::spawn(async move { other.commit_turn(c).await });
        let results = [one.await.unwrap(), two.await.unwrap()];
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "{b}: {results:?}"
        );
        assert!(results.iter().any(is_conflict), "{b}: {results:?}");
        assert_eq!(s_history_len(&t.store, "a").await, 2, "{b}");
    }
}

async fn s_send(s: &Store, id: &str, at: u64) {
    s.send(vec![message(id, event("go"), at)]).await.unwrap();
}

async fn s_history_len(s: &Store, id: &str) -> usize {
    s.history(id).await.unwrap().len()
}

#[tokio::test]
async fn two_stores_starting_one_id_at_once_create_it_once() {
    for t in stores().await {
        let b = t.backend;
        let other = t.reopen().await;
        for n in 0..20 {
            let id = format!("s{n}");
            let policy = StartPolicy {
                use_running: n % 2 == 0,
                event: None,
            };
            let one = tokio::spawn({
                let (s, i, p) = (t.store.clone(), new_instance(&id, "Hello"), policy.clone());
                async move { s.start_instance(i, 10, p).await }
            });
            let two = tokio::spawn({
                let (s, i) = (other.clone(), new_instance(&id, "Hello"));
                async move { s.start_instance(i, 10, policy).await }
            });
            let results = [one.await.unwrap(), two.await.unwrap()];
            let created = results
                .iter()
                .filter(|r| matches!(r, Ok(Started::Created)))
                .count();
            assert_eq!(created, 1, "{b}: {results:?}");
            // The other start found it: running (use-existing) or a conflict, never another error.
            assert!(
                results.iter().all(|r| match r {
                    Ok(_) => true,
                    Err(e) => n % 2 == 1 && matches!(e, Error::Conflict(_)),
                }),
                "{b}: {results:?}"
            );
            assert_eq!(messages(&t.store, &id, 10).await, [Message::Start], "{b}");
        }
    }
}

/// A write refused with an error leaves none of its locks behind: another process's claim right
/// after it takes the instance. (A PostgreSQL transaction dropped on an error would keep the id's
/// row locked until the pool next touched its connection, and the claim, `SKIP LOCKED`, would pass
/// over the instance; the loop makes that race, which the old code lost nearly every time, show.)
#[tokio::test]
async fn a_refused_start_leaves_the_instance_free_for_the_next_claim() {
    for t in stores().await {
        let b = t.backend;
        let other = t.reopen().await;
        for n in 0..100 {
            let id = format!("r{n}");
            t.store
                .create_instance(new_instance(&id, "Hello"), 10)
                .await
                .unwrap();
            // The refusal comes after the start locked the row holding the id.
            let refused = t
                .store
                .start_instance(new_instance(&id, "Hello"), 10, StartPolicy::default())
                .await;
            assert!(
                matches!(refused, Err(Error::Conflict(_))),
                "{b}: {refused:?}"
            );
            // The instances of earlier rounds are leased: only this one is claimable.
            let claimed = other.claim_instances("w", 10, 1000, 10).await.unwrap();
            assert_eq!(claimed, [id], "{b}: round {n}");
        }
    }
}
