//! Activity work items: claims lease them (never one item to two workers, even from two store
//! handles at once), finishing an attempt is conditional on the lease, retries and host failures
//! reschedule them, and deliveries are counted. Also the helpers the parking and maintenance tests
//! share: an instance that ran its first turn and scheduled activities.

use std::collections::HashSet;

use keel_core::history::{ActivityOptions, Failure, HistoryEvent};
use keel_store::{
    FinishWorkItem, Finished, Incarnation, Instance, Message, NewInstance, NewWorkItem, OutMessage,
    Status, Store, TurnCommit, WorkItem,
};
use serde_json::json;

use crate::support::stores;

/// How long the tests' leases last.
pub(crate) const LEASE: u64 = 1_000;

/// Creates instance `id` of `Flow` on module `d1` at `now`.
pub(crate) async fn create(s: &Store, id: &str, now: u64) {
    s.create_instance(
        NewInstance {
            id: id.to_owned(),
            name: "Flow".to_owned(),
            module: "d1".to_owned(),
            input: json!({"n": 1}),
            parent: None,
        },
        now,
    )
    .await
    .expect("create_instance");
}

/// Leases instance `id` to `owner` at `now` (it must have a visible message), giving back any other
/// instance the claim took, and returns it with the ids of its visible messages.
pub(crate) async fn lease(s: &Store, id: &str, owner: &str, now: u64) -> (Instance, Vec<i64>) {
    let claimed = s
        .claim_instances(owner, now, now + LEASE, 100)
        .await
        .expect("claim_instances");
    assert!(
        claimed.iter().any(|c| c == id),
        "{}: {id} claimed at {now}: {claimed:?}",
        s.backend_name()
    );
    for other in claimed.iter().filter(|c| *c != id) {
        s.release_instance(other, owner).await.expect("release");
    }
    let instance = s.instance(id).await.expect("instance").expect("exists");
    let inbox = s.inbox(id, now).await.expect("inbox");
    (instance, inbox.into_iter().map(|(m, _, _)| m).collect())
}

/// Creates `id` and commits its first turn at `now`, which schedules activities `0..tasks`
/// (named `Act`, input `{"task": i}`); returns the instance as it is afterwards.
pub(crate) async fn scheduled(s: &Store, id: &str, tasks: u32, now: u64) -> Instance {
    create(s, id, now).await;
    let (instance, consumed) = lease(s, id, "turns", now).await;
    let mut commit = TurnCommit::of(&instance, "turns", now);
    commit.consumed = consumed;
    commit.status = Status::Running;
    commit
        .events
        .push(HistoryEvent::OrchestratorStarted { time_ms: now });
    for task in 0..tasks {
        commit.events.push(HistoryEvent::TaskScheduled {
            id: task,
            name: "Act".to_owned(),
            input: json!({"task": task}),
            options: ActivityOptions::default(),
        });
        commit.work_items.push(NewWorkItem {
            task_id: task,
            name: "Act".to_owned(),
            input: json!({"task": task}),
            options: ActivityOptions::default(),
            attempt: 1,
            not_before: None,
        });
    }
    s.commit_turn(commit).await.expect("commit_turn");
    s.instance(id).await.expect("instance").expect("exists")
}

/// The result message of task `task` of `instance`.
pub(crate) fn result(instance: &str, task: u32, now: u64) -> OutMessage {
    OutMessage {
        instance: instance.to_owned(),
        execution: Some(1),
        incarnation: Incarnation::Any,
        message: Message::Deliver {
            event: HistoryEvent::TaskCompleted {
                id: task,
                output: json!({"done": task}),
            },
        },
        visible_at: now,
    }
}

/// The failure message of task `task` of `instance`, after one attempt.
pub(crate) fn failed(instance: &str, task: u32, now: u64) -> OutMessage {
    OutMessage {
        message: Message::Deliver {
            event: HistoryEvent::TaskFailed {
                id: task,
                failure: Failure::new("Boom", "it broke"),
                attempt: 1,
            },
        },
        ..result(instance, task, now)
    }
}

fn ids(items: &[WorkItem]) -> Vec<i64> {
    items.iter().map(|w| w.id).collect()
}

#[tokio::test]
async fn a_claim_leases_due_items_and_does_not_claim_a_leased_one_again() {
    for t in stores().await {
        let s = &t.store;
        let instance = scheduled(s, "i1", 2, 100).await;
        let claimed = s.claim_work_items("a", 100, 100 + LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 2, "{}", t.backend);
        let mut tasks: Vec<u32> = claimed.iter().map(|w| w.task_id).collect();
        tasks.sort_unstable();
        assert_eq!(tasks, [0, 1], "{}", t.backend);
        for w in &claimed {
            assert_eq!(w.instance, "i1", "{}", t.backend);
            assert_eq!(w.execution, 1, "{}", t.backend);
            assert_eq!(w.name, "Act", "{}", t.backend);
            assert_eq!(w.input, json!({"task": w.task_id}), "{}", t.backend);
            assert_eq!(w.options, ActivityOptions::default(), "{}", t.backend);
            assert_eq!(w.attempt, 1, "{}", t.backend);
            assert_eq!(w.first_at, 100, "{}", t.backend);
            assert_eq!(w.deliveries, 1, "{}", t.backend);
            assert_eq!(w.run, instance.run, "{}", t.backend);
        }
        assert!(instance.run.is_some(), "{}", t.backend);
        // Leased: nobody else gets them, until the lease runs out.
        let again = s.claim_work_items("b", 500, 500 + LEASE, 10).await.unwrap();
        assert!(again.is_empty(), "{}: {again:?}", t.backend);
        let at_expiry = s
            .claim_work_items("b", 1100, 1100 + LEASE, 10)
            .await
            .unwrap();
        assert!(at_expiry.is_empty(), "{}: {at_expiry:?}", t.backend);
        // Expired: claimed again, one delivery more, up to the limit.
        let one = s
            .claim_work_items("b", 1101, 1101 + LEASE, 1)
            .await
            .unwrap();
        assert_eq!(one.len(), 1, "{}", t.backend);
        assert_eq!(one[0].deliveries, 2, "{}", t.backend);
        assert_eq!(one[0].attempt, 1, "{}", t.backend);
        let rest = s
            .claim_work_items("c", 1101, 1101 + LEASE, 10)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1, "{}", t.backend);
        assert_ne!(rest[0].id, one[0].id, "{}", t.backend);
        // Not due yet: nothing.
        assert!(
            s.claim_work_items("d", 50, 50 + LEASE, 10)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn the_items_of_a_failed_instance_are_not_claimed() {
    for t in stores().await {
        let s = &t.store;
        scheduled(s, "i1", 1, 100).await;
        s.send(vec![failed("i1", 7, 100)]).await.unwrap();
        let (instance, consumed) = lease(s, "i1", "turns", 100).await;
        let mut commit = TurnCommit::of(&instance, "turns", 100);
        commit.consumed = consumed;
        commit.status = Status::Failed;
        commit.failure = Some(Failure::new("Boom", "it broke"));
        commit.events.push(HistoryEvent::ExecutionFailed {
            failure: Failure::new("Boom", "it broke"),
        });
        s.commit_turn(commit).await.unwrap();
        let claimed = s.claim_work_items("a", 200, 200 + LEASE, 10).await.unwrap();
        assert!(claimed.is_empty(), "{}: {claimed:?}", t.backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_claiming_at_once_from_two_handles_never_take_one_item_twice() {
    const TASKS: u32 = 40;
    for t in stores().await {
        // A second handle on the same database, as another process opens it.
        let other = t.reopen().await;
        scheduled(&t.store, "i1", TASKS, 100).await;
        let mut workers = Vec::new();
        for w in 0..8 {
            let store = if w % 2 == 0 {
                t.store.clone()
            } else {
                other.clone()
            };
            workers.push(tokio::spawn(async move {
                let owner = format!("w{w}");
                let mut mine = Vec::new();
                loop {
                    let got = store
                        .claim_work_items(&owner, 200, 200 + LEASE, 3)
                        .await
                        .expect("claim_work_items");
                    if got.is_empty() {
                        return mine;
                    }
                    assert!(got.iter().all(|w| w.deliveries == 1), "{got:?}");
                    mine.extend(ids(&got));
                }
            }));
        }
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.expect("worker"));
        }
        let distinct: HashSet<i64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len(), "{}: {all:?}", t.backend);
        assert_eq!(all.len(), TASKS as usize, "{}", t.backend);
    }
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_finishes_nothing() {
    for t in stores().await {
        let s = &t.store;
        scheduled(s, "i1", 1, 100).await;
        let first = s.claim_work_items("a", 100, 100 + LEASE, 1).await.unwrap();
        let second = s
            .claim_work_items("b", 2000, 2000 + LEASE, 1)
            .await
            .unwrap();
        assert_eq!(ids(&first), ids(&second), "{}", t.backend);
        let id = first[0].id;
        for finish in [
            FinishWorkItem::Done {
                id,
                owner: "a".into(),
                message: result("i1", 0, 2100),
            },
            FinishWorkItem::Retry {
                id,
                owner: "a".into(),
                next_attempt: 2,
                visible_at: 5000,
                message: result("i1", 0, 2100),
                heartbeat: None,
            },
            FinishWorkItem::HostFailed {
                id,
                owner: "a".into(),
                visible_at: 5000,
                heartbeat: None,
            },
        ] {
            let done = s
                .finish_work_item(finish, Vec::new(), Some(9000), 2100)
                .await
                .unwrap();
            assert_eq!(done, Finished::LeaseLost, "{}", t.backend);
        }
        assert!(
            s.inbox("i1", 10_000).await.unwrap().is_empty(),
            "{}",
            t.backend
        );
        // Still b's, untouched: b's result goes through.
        let done = s
            .finish_work_item(
                FinishWorkItem::Done {
                    id,
                    owner: "b".into(),
                    message: result("i1", 0, 2100),
                },
                Vec::new(),
                None,
                2100,
            )
            .await
            .unwrap();
        assert_eq!(
            done,
            Finished::Committed {
                claimed_instance: false
            },
            "{}",
            t.backend
        );
        let inbox = s.inbox("i1", 2100).await.unwrap();
        assert_eq!(inbox.len(), 1, "{}", t.backend);
        assert_eq!(inbox[0].1, Some(1), "{}", t.backend);
        assert_eq!(inbox[0].2, result("i1", 0, 0).message, "{}", t.backend);
        // The item is gone.
        assert!(
            s.claim_work_items("c", 10_000, 20_000, 10)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn a_retry_reschedules_the_next_attempt_and_a_host_failure_the_same_one() {
    for t in stores().await {
        let s = &t.store;
        scheduled(s, "i1", 1, 100).await;
        let claimed = s.claim_work_items("a", 100, 100 + LEASE, 1).await.unwrap();
        let id = claimed[0].id;
        let retrying = OutMessage {
            message: Message::Deliver {
                event: HistoryEvent::TaskRetrying {
                    id: 0,
                    failure: Failure::new("Boom", "once"),
                    attempt: 1,
                    retry_at_ms: 5000,
                },
            },
            ..result("i1", 0, 200)
        };
        let done = s
            .finish_work_item(
                FinishWorkItem::Retry {
                    id,
                    owner: "a".into(),
                    next_attempt: 2,
                    visible_at: 5000,
                    message: retrying.clone(),
                    heartbeat: None,
                },
                Vec::new(),
                None,
                200,
            )
            .await
            .unwrap();
        assert_eq!(
            done,
            Finished::Committed {
                claimed_instance: false
            },
            "{}",
            t.backend
        );
        let inbox = s.inbox("i1", 200).await.unwrap();
        assert_eq!(inbox.len(), 1, "{}", t.backend);
        assert_eq!(inbox[0].2, retrying.message, "{}", t.backend);
        // Not before its time, then with the next attempt and deliveries counted afresh.
        assert!(
            s.claim_work_items("b", 4999, 4999 + LEASE, 1)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.backend
        );
        assert_eq!(s.next_due(200).await.unwrap(), Some(5000), "{}", t.backend);
        let next = s
            .claim_work_items("b", 5000, 5000 + LEASE, 1)
            .await
            .unwrap();
        assert_eq!(ids(&next), [id], "{}", t.backend);
        assert_eq!(next[0].attempt, 2, "{}", t.backend);
        assert_eq!(next[0].deliveries, 1, "{}", t.backend);
        assert_eq!(next[0].first_at, 100, "{}", t.backend);
        // A host failure: the same attempt again later, nothing recorded, deliveries go on counting.
        let done = s
            .finish_work_item(
                FinishWorkItem::HostFailed {
                    id,
                    owner: "b".into(),
                    visible_at: 7000,
                    heartbeat: None,
                },
                Vec::new(),
                Some(9000),
                5100,
            )
            .await
            .unwrap();
        assert_eq!(
            done,
            Finished::Committed {
                claimed_instance: false
            },
            "{}",
            t.backend
        );
        assert_eq!(s.inbox("i1", 9000).await.unwrap().len(), 1, "{}", t.backend);
        assert!(
            s.claim_work_items("c", 6999, 6999 + LEASE, 1)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.backend
        );
        let again = s
            .claim_work_items("c", 7000, 7000 + LEASE, 1)
            .await
            .unwrap();
        assert_eq!(ids(&again), [id], "{}", t.backend);
        assert_eq!(again[0].attempt, 2, "{}", t.backend);
        assert_eq!(again[0].deliveries, 2, "{}", t.backend);
    }
}

#[tokio::test]
async fn a_result_leases_the_waiting_instance_to_its_worker_only_when_free() {
    for t in stores().await {
        let s = &t.store;
        scheduled(s, "i1", 2, 100).await;
        let claimed = s.claim_work_items("a", 100, 100 + LEASE, 2).await.unwrap();
        let done = s
            .finish_work_item(
                FinishWorkItem::Done {
                    id: claimed[0].id,
                    owner: "a".into(),
                    message: result("i1", claimed[0].task_id, 200),
                },
                Vec::new(),
                Some(200 + LEASE),
                200,
            )
            .await
            .unwrap();
        assert_eq!(
            done,
            Finished::Committed {
                claimed_instance: true
            },
            "{}",
            t.backend
        );
        // Leased to "a": another worker's claim does not get it although its result is waiting.
        assert!(
            s.claim_instances("other", 300, 300 + LEASE, 10)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.backend
        );
        // Still leased: the second result is committed without a lease on the instance.
        let done = s
            .finish_work_item(
                FinishWorkItem::Done {
                    id: claimed[1].id,
                    owner: "b-not-the-owner".into(),
                    message: result("i1", claimed[1].task_id, 300),
                },
                Vec::new(),
                Some(300 + LEASE),
                300,
            )
            .await
            .unwrap();
        assert_eq!(done, Finished::LeaseLost, "{}", t.backend);
        let done = s
            .finish_work_item(
                FinishWorkItem::Done {
                    id: claimed[1].id,
                    owner: "a".into(),
                    message: result("i1", claimed[1].task_id, 300),
                },
                Vec::new(),
                Some(300 + LEASE),
                300,
            )
            .await
            .unwrap();
        assert_eq!(
            done,
            Finished::Committed {
                claimed_instance: false
            },
            "{}",
            t.backend
        );
        assert_eq!(s.inbox("i1", 300).await.unwrap().len(), 2, "{}", t.backend);
        // Once "a"'s lease ran out, anyone can claim it.
        assert_eq!(
            s.claim_instances("other", 1300, 1300 + LEASE, 10)
                .await
                .unwrap(),
            ["i1"],
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn a_work_item_written_at_a_later_attempt_and_time_is_neither_leased_nor_claimed_early() {
    for t in stores().await {
        let s = &t.store;
        create(s, "later", 100).await;
        let (instance, consumed) = lease(s, "later", "turns", 100).await;
        let mut commit = TurnCommit::of(&instance, "turns", 100);
        commit.consumed = consumed;
        commit.status = Status::Running;
        let options = ActivityOptions {
            local: true,
            ..ActivityOptions::default()
        };
        commit.events.extend([
            HistoryEvent::OrchestratorStarted { time_ms: 100 },
            HistoryEvent::TaskScheduled {
                id: 0,
                name: "Act".to_owned(),
                input: json!(0),
                options: options.clone(),
            },
        ]);
        // A local call whose retry continues as a work item: attempt 3, due at 2,000; and an
        // ordinary one due at once.
        for (task, attempt, not_before) in [(0, 3, Some(2_000)), (1, 1, None)] {
            commit.work_items.push(NewWorkItem {
                task_id: task,
                name: "Act".to_owned(),
                input: json!(task),
                options: options.clone(),
                attempt,
                not_before,
            });
        }
        commit.claim_work = Some((100 + LEASE, 2));
        let leased = s.commit_turn(commit).await.expect("commit_turn");
        // Two slots offered; only the item due now is leased with the turn.
        assert_eq!(
            leased.iter().map(|w| w.task_id).collect::<Vec<_>>(),
            [1],
            "{}",
            t.backend
        );
        // (Task 1's lease has run out by then: it may be claimed again; task 0 is not due yet.)
        let early = s.claim_work_items("w", 1_999, 1_999 + LEASE, 10).await;
        let early: Vec<u32> = early.unwrap().iter().map(|w| w.task_id).collect();
        assert!(!early.contains(&0), "{}: {early:?}", t.backend);
        let due = s.claim_work_items("v", 2_000, 2_000 + LEASE, 10).await;
        let due = due.unwrap();
        assert_eq!(due.len(), 1, "{}", t.backend);
        assert_eq!((due[0].task_id, due[0].attempt), (0, 3), "{}", t.backend);
        assert!(due[0].options.local, "{}", t.backend);
    }
}
