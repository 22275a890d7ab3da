//! Operator changes: moving an instance to another module, rewinding failed instances (and the
//! failed sub-orchestrations they waited for), purging ended instances, deleting unused modules;
//! and the read of an instance's running children.

use keel_core::history::{Failure, HistoryEvent, ParentRef};
use keel_store::{
    Error, FinishWorkItem, Incarnation, Instance, Message, MoveInstance, MoveRefused, NewInstance,
    OutMessage, Rewound, Status, Store, TurnCommit,
};
use serde_json::json;

use crate::support::stores;
use crate::work_items::{LEASE, create, failed, lease, result, scheduled};

/// Commits a turn of leased `id` at `now` that consumes its visible messages, records `events` and
/// ends in `status`.
async fn turn(s: &Store, id: &str, now: u64, events: Vec<HistoryEvent>, status: Status) {
    let (instance, consumed) = lease(s, id, "turns", now).await;
    let mut commit = TurnCommit::of(&instance, "turns", now);
    commit.consumed = consumed;
    commit.events = events;
    commit.status = status;
    if status == Status::Failed {
        commit.failure = Some(Failure::new("Boom", "it broke"));
    }
    if status == Status::Completed {
        commit.output = Some(json!("done"));
    }
    s.commit_turn(commit).await.expect("commit_turn");
}

fn execution_failed() -> HistoryEvent {
    HistoryEvent::ExecutionFailed {
        failure: Failure::new("Boom", "it broke"),
    }
}

async fn get(s: &Store, id: &str) -> Instance {
    s.instance(id).await.expect("instance").expect("exists")
}

#[tokio::test]
async fn running_children_are_those_of_the_incarnation_not_ended_in_byte_order() {
    for t in stores().await {
        let s = &t.store;
        let parent = scheduled(s, "p", 0, 0).await;
        s.send(vec![result("p", 0, 10)]).await.unwrap();
        let (instance, consumed) = lease(s, "p", "turns", 10).await;
        let mut commit = TurnCommit::of(&instance, "turns", 10);
        commit.consumed = consumed;
        for (task, id) in ["c", "a", "B"].into_iter().enumerate() {
            commit.children.push(NewInstance {
                id: id.to_owned(),
                name: "Child".to_owned(),
                module: "d1".to_owned(),
                input: json!(task),
                parent: Some(ParentRef {
                    instance: "p".to_owned(),
                    execution: 1,
                    task_id: u32::try_from(task).unwrap(),
                    run: parent.run.clone(),
                }),
            });
        }
        s.commit_turn(commit).await.unwrap();
        let children = s
            .running_children("p", parent.run.as_deref())
            .await
            .unwrap();
        let ids: Vec<&str> = children.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["B", "a", "c"], "{}", t.backend);
        for (id, run) in &children {
            assert_eq!(run, &get(s, id).await.run, "{}", t.backend);
            assert!(run.is_some(), "{}", t.backend);
        }
        // Another incarnation's, or nobody's.
        assert!(
            s.running_children("p", Some("other"))
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.backend
        );
        assert!(
            s.running_children("p", None).await.unwrap().is_empty(),
            "{}",
            t.backend
        );
        // An ended child is not running.
        turn(s, "a", 20, vec![], Status::Completed).await;
        let children = s
            .running_children("p", parent.run.as_deref())
            .await
            .unwrap();
        let ids: Vec<&str> = children.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["B", "c"], "{}", t.backend);
    }
}

#[tokio::test]
async fn a_move_checks_the_instance_it_was_asked_for_and_records_the_upgrade() {
    for t in stores().await {
        let s = &t.store;
        scheduled(s, "i1", 1, 0).await;
        let change = MoveInstance {
            id: "i1".to_owned(),
            execution: 1,
            expected_len: 2,
            from: "d1".to_owned(),
            to: "d2".to_owned(),
            version: "2".to_owned(),
            now: 50,
        };
        for wrong in [
            MoveInstance {
                expected_len: 1,
                ..change.clone()
            },
            MoveInstance {
                execution: 2,
                ..change.clone()
            },
            MoveInstance {
                from: "d0".to_owned(),
                ..change.clone()
            },
            MoveInstance {
                id: "nobody".to_owned(),
                ..change.clone()
            },
        ] {
            assert_eq!(
                s.move_instance(wrong).await.unwrap(),
                Err(MoveRefused::Changed),
                "{}",
                t.backend
            );
        }
        // A worker holds it: busy until its lease runs out.
        s.send(vec![result("i1", 0, 10)]).await.unwrap();
        lease(s, "i1", "w", 10).await;
        assert_eq!(
            s.move_instance(change.clone()).await.unwrap(),
            Err(MoveRefused::Busy),
            "{}",
            t.backend
        );
        let later = MoveInstance {
            now: 10 + LEASE,
            ..change.clone()
        };
        assert_eq!(
            s.move_instance(later).await.unwrap(),
            Ok(()),
            "{}",
            t.backend
        );
        let moved = get(s, "i1").await;
        assert_eq!(moved.module, "d2", "{}", t.backend);
        assert_eq!(moved.history_len, 3, "{}", t.backend);
        assert_eq!(moved.updated_at, 10 + LEASE, "{}", t.backend);
        let history = s.history("i1").await.unwrap();
        assert_eq!(history.len(), 3, "{}", t.backend);
        assert_eq!(history[2].seq, 2, "{}", t.backend);
        assert_eq!(history[2].recorded_at, 10 + LEASE, "{}", t.backend);
        assert_eq!(
            history[2].event,
            HistoryEvent::ExecutionUpgraded {
                from: "d1".into(),
                to: "d2".into(),
                version: "2".into()
            },
            "{}",
            t.backend
        );
        // Moved on: the same request again is refused.
        assert_eq!(
            s.move_instance(MoveInstance {
                now: 10 + LEASE,
                ..change
            })
            .await
            .unwrap(),
            Err(MoveRefused::Changed),
            "{}",
            t.backend
        );
        // An ended instance is not moved.
        turn(s, "i1", 5000, vec![], Status::Completed).await;
        let ended = MoveInstance {
            id: "i1".to_owned(),
            execution: 1,
            expected_len: 3,
            from: "d2".to_owned(),
            to: "d3".to_owned(),
            version: "3".to_owned(),
            now: 6000,
        };
        assert_eq!(
            s.move_instance(ended).await.unwrap(),
            Err(MoveRefused::Changed),
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn a_rewind_schedules_the_failed_activity_again_and_runs_the_instance_on() {
    for t in stores().await {
        let s = &t.store;
        scheduled(s, "i1", 1, 100).await;
        let item = s.claim_work_items("a", 100, 100 + LEASE, 1).await.unwrap();
        s.finish_work_item(
            FinishWorkItem::Done {
                id: item[0].id,
                owner: "a".into(),
                message: failed("i1", 0, 200),
            },
            Vec::new(),
            None,
            200,
        )
        .await
        .unwrap();
        let task_failed = match failed("i1", 0, 0).message {
            Message::Deliver { event } => event,
            other => panic!("{other:?}"),
        };
        turn(
            s,
            "i1",
            200,
            vec![task_failed, execution_failed()],
            Status::Failed,
        )
        .await;
        assert_eq!(get(s, "i1").await.status, Status::Failed, "{}", t.backend);
        let rewound = s.rewind("i1", "fixed it", 300).await.unwrap();
        assert_eq!(
            rewound,
            Some(Rewound {
                instances: vec!["i1".into()],
                tasks: vec!["i1/0".into()],
            }),
            "{}",
            t.backend
        );
        let back = get(s, "i1").await;
        assert_eq!(back.status, Status::Running, "{}", t.backend);
        assert_eq!(back.failure, None, "{}", t.backend);
        assert_eq!(back.history_len, 5, "{}", t.backend);
        assert_eq!(back.updated_at, 300, "{}", t.backend);
        let history = s.history("i1").await.unwrap();
        assert_eq!(
            history.last().map(|r| (r.seq, &r.event)),
            Some((
                4,
                &HistoryEvent::ExecutionRewound {
                    reason: "fixed it".into(),
                    voided: vec![2, 3],
                }
            )),
            "{}",
            t.backend
        );
        let again = s.claim_work_items("b", 300, 300 + LEASE, 10).await.unwrap();
        assert_eq!(again.len(), 1, "{}", t.backend);
        assert_eq!(again[0].task_id, 0, "{}", t.backend);
        assert_eq!(again[0].attempt, 1, "{}", t.backend);
        assert_eq!(again[0].first_at, 300, "{}", t.backend);
        assert_eq!(again[0].input, json!({"task": 0}), "{}", t.backend);
        // Nothing to wake it for: the activity's result will.
        assert!(
            s.inbox("i1", 300).await.unwrap().is_empty(),
            "{}",
            t.backend
        );
        // Only a failed instance is rewound.
        assert!(
            matches!(s.rewind("i1", "again", 400).await, Err(Error::Conflict(_))),
            "{}",
            t.backend
        );
        assert_eq!(
            s.rewind("nobody", "x", 400).await.unwrap(),
            None,
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn a_rewind_of_a_failed_orchestrator_wakes_it() {
    for t in stores().await {
        let s = &t.store;
        scheduled(s, "i1", 0, 100).await;
        s.send(vec![result("i1", 9, 150)]).await.unwrap();
        turn(s, "i1", 200, vec![execution_failed()], Status::Failed).await;
        let rewound = s.rewind("i1", "fixed", 300).await.unwrap().unwrap();
        assert_eq!(rewound.instances, ["i1"], "{}", t.backend);
        assert!(rewound.tasks.is_empty(), "{}", t.backend);
        let inbox = s.inbox("i1", 300).await.unwrap();
        assert_eq!(inbox.len(), 1, "{}", t.backend);
        assert_eq!(inbox[0].1, Some(1), "{}", t.backend);
        assert_eq!(inbox[0].2, Message::Wake, "{}", t.backend);
    }
}

/// Parent `p` started child `c`, which failed, and so did `p`.
async fn failed_parent_and_child(s: &Store) -> Instance {
    let parent = scheduled(s, "p", 0, 0).await;
    s.send(vec![result("p", 9, 10)]).await.unwrap();
    let (instance, consumed) = lease(s, "p", "turns", 10).await;
    let mut commit = TurnCommit::of(&instance, "turns", 10);
    commit.consumed = consumed;
    commit.events.push(HistoryEvent::SubOrchestrationCreated {
        id: 0,
        name: "Child".into(),
        instance: "c".into(),
        input: json!({"child": true}),
    });
    let parent_ref = ParentRef {
        instance: "p".into(),
        execution: 1,
        task_id: 0,
        run: parent.run.clone(),
    };
    commit.children.push(NewInstance {
        id: "c".into(),
        name: "Child".into(),
        module: "d1".into(),
        input: json!({"child": true}),
        parent: Some(parent_ref),
    });
    s.commit_turn(commit).await.unwrap();
    // The child fails and tells its parent.
    let (child, consumed) = lease(s, "c", "turns", 20).await;
    let mut commit = TurnCommit::of(&child, "turns", 20);
    commit.consumed = consumed;
    commit.events = vec![execution_failed()];
    commit.status = Status::Failed;
    commit.failure = Some(Failure::new("Boom", "it broke"));
    let sub_failed = HistoryEvent::SubOrchestrationFailed {
        id: 0,
        failure: Failure::new("Boom", "it broke"),
    };
    commit.messages.push(OutMessage {
        instance: "p".into(),
        execution: Some(1),
        incarnation: Incarnation::Run(parent.run.clone()),
        message: Message::Deliver {
            event: sub_failed.clone(),
        },
        visible_at: 20,
    });
    s.commit_turn(commit).await.unwrap();
    turn(
        s,
        "p",
        30,
        vec![sub_failed, execution_failed()],
        Status::Failed,
    )
    .await;
    parent
}

#[tokio::test]
async fn a_rewind_rewinds_the_failed_child_the_parent_waited_for() {
    for t in stores().await {
        let s = &t.store;
        failed_parent_and_child(s).await;
        let rewound = s.rewind("p", "fixed", 100).await.unwrap().unwrap();
        assert_eq!(rewound.instances, ["p", "c"], "{}", t.backend);
        assert!(rewound.tasks.is_empty(), "{}", t.backend);
        assert_eq!(get(s, "p").await.status, Status::Running, "{}", t.backend);
        let child = get(s, "c").await;
        assert_eq!(child.status, Status::Running, "{}", t.backend);
        // The parent waits for its child; the child gets a turn.
        assert!(s.inbox("p", 100).await.unwrap().is_empty(), "{}", t.backend);
        let inbox = s.inbox("c", 100).await.unwrap();
        assert_eq!(inbox.len(), 1, "{}", t.backend);
        assert_eq!(inbox[0].2, Message::Wake, "{}", t.backend);
        let history = s.history("p").await.unwrap();
        assert_eq!(
            history.last().map(|r| &r.event),
            Some(&HistoryEvent::ExecutionRewound {
                reason: "fixed".into(),
                voided: vec![2, 3],
            }),
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn a_rewind_starts_a_purged_child_again_and_fails_the_task_of_an_id_taken_since() {
    for t in stores().await {
        let s = &t.store;
        s.deploy(
            "d1",
            b"m".to_vec(),
            "1",
            vec![("Child".to_owned(), "orchestrator".to_owned())],
            true,
            0,
        )
        .await
        .unwrap();
        let parent = failed_parent_and_child(s).await;
        let old_run = get(s, "c").await.run;
        assert_eq!(s.purge_ended(vec!["c".into()]).await.unwrap(), 1);
        let rewound = s.rewind("p", "fixed", 100).await.unwrap().unwrap();
        assert_eq!(rewound.instances, ["p"], "{}", t.backend);
        let child = get(s, "c").await;
        assert_eq!(child.status, Status::Pending, "{}", t.backend);
        assert_eq!(child.module, "d1", "{}", t.backend);
        assert_eq!(child.input, json!({"child": true}), "{}", t.backend);
        assert_eq!(child.created_at, 100, "{}", t.backend);
        assert_eq!(
            child.parent,
            Some(ParentRef {
                instance: "p".into(),
                execution: 1,
                task_id: 0,
                run: parent.run.clone(),
            }),
            "{}",
            t.backend
        );
        assert!(child.run.is_some() && child.run != old_run, "{}", t.backend);
        let inbox = s.inbox("c", 100).await.unwrap();
        assert_eq!(inbox.len(), 1, "{}", t.backend);
        assert_eq!(inbox[0].2, Message::Start, "{}", t.backend);

        // The child fails again, and the parent too; then another instance takes the child's id.
        let (child, consumed) = lease(s, "c", "turns", 200).await;
        let mut commit = TurnCommit::of(&child, "turns", 200);
        commit.consumed = consumed;
        commit.events = vec![execution_failed()];
        commit.status = Status::Failed;
        commit.failure = Some(Failure::new("Boom", "again"));
        s.commit_turn(commit).await.unwrap();
        let sub_failed = HistoryEvent::SubOrchestrationFailed {
            id: 0,
            failure: Failure::new("Boom", "again"),
        };
        s.send(vec![OutMessage {
            instance: "p".into(),
            execution: Some(1),
            incarnation: Incarnation::Any,
            message: Message::Deliver {
                event: sub_failed.clone(),
            },
            visible_at: 200,
        }])
        .await
        .unwrap();
        turn(
            s,
            "p",
            210,
            vec![sub_failed, execution_failed()],
            Status::Failed,
        )
        .await;
        assert_eq!(s.purge_ended(vec!["c".into()]).await.unwrap(), 1);
        create(s, "c", 220).await;
        let rewound = s.rewind("p", "fixed again", 300).await.unwrap().unwrap();
        assert_eq!(rewound.instances, ["p"], "{}", t.backend);
        let other = get(s, "c").await;
        assert_eq!(other.name, "Flow", "{}", t.backend);
        assert_eq!(other.status, Status::Pending, "{}", t.backend);
        let inbox = s.inbox("p", 300).await.unwrap();
        assert_eq!(inbox.len(), 1, "{}", t.backend);
        match &inbox[0].2 {
            Message::Deliver {
                event: HistoryEvent::SubOrchestrationFailed { id: 0, failure },
            } => assert_eq!(failure.kind, "InstanceExists", "{}", t.backend),
            other => panic!("{}: {other:?}", t.backend),
        }
    }
}

#[tokio::test]
async fn purge_ended_purges_only_ended_instances() {
    for t in stores().await {
        let s = &t.store;
        create(s, "pending", 0).await;
        scheduled(s, "done", 1, 0).await;
        s.send(vec![result("done", 0, 10)]).await.unwrap();
        turn(s, "done", 10, vec![], Status::Completed).await;
        scheduled(s, "broken", 0, 0).await;
        s.send(vec![result("broken", 0, 10)]).await.unwrap();
        turn(s, "broken", 10, vec![execution_failed()], Status::Failed).await;
        let purged = s
            .purge_ended(vec![
                "pending".into(),
                "done".into(),
                "broken".into(),
                "nobody".into(),
            ])
            .await
            .unwrap();
        assert_eq!(purged, 2, "{}", t.backend);
        for gone in ["done", "broken"] {
            assert_eq!(s.instance(gone).await.unwrap(), None, "{}", t.backend);
            assert!(s.history(gone).await.unwrap().is_empty(), "{}", t.backend);
            assert!(
                s.inbox(gone, 100).await.unwrap().is_empty(),
                "{}",
                t.backend
            );
        }
        assert!(
            s.claim_work_items("w", 100, 100 + LEASE, 10)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.backend
        );
        assert_eq!(
            get(s, "pending").await.status,
            Status::Pending,
            "{}",
            t.backend
        );
        assert_eq!(s.purge_ended(vec!["done".into()]).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn only_modules_nothing_uses_are_deleted() {
    for t in stores().await {
        let s = &t.store;
        let flow = || vec![("Flow".to_owned(), "orchestrator".to_owned())];
        s.deploy("d1", b"1".to_vec(), "1", flow(), true, 0)
            .await
            .unwrap();
        s.deploy("d2", b"2".to_vec(), "2", flow(), true, 1)
            .await
            .unwrap();
        s.deploy("d3", b"3".to_vec(), "3", flow(), false, 2)
            .await
            .unwrap();
        s.deploy("d4", b"4".to_vec(), "4", flow(), false, 3)
            .await
            .unwrap();
        // d1 is inactive but an instance runs on it; d2 is active; d3 is pinned by a failed
        // (rewindable) instance; d4 is used by nothing, nor is d5, which is not stored.
        create(s, "i1", 10).await;
        s.create_instance(
            NewInstance {
                id: "i3".into(),
                name: "Flow".into(),
                module: "d3".into(),
                input: json!(null),
                parent: None,
            },
            10,
        )
        .await
        .unwrap();
        turn(s, "i3", 20, vec![execution_failed()], Status::Failed).await;
        let deleted = s
            .delete_modules(vec![
                "d1".into(),
                "d2".into(),
                "d3".into(),
                "d4".into(),
                "d5".into(),
            ])
            .await
            .unwrap();
        assert_eq!(deleted, ["d4"], "{}", t.backend);
        assert!(
            s.delete_modules(vec!["d4".into()])
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.backend
        );
        // Once its instance ended, d1 goes too.
        turn(s, "i1", 30, vec![], Status::Completed).await;
        assert_eq!(
            s.delete_modules(vec!["d1".into(), "d2".into()])
                .await
                .unwrap(),
            ["d1"],
            "{}",
            t.backend
        );
        let left: Vec<String> = s
            .modules()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.digest)
            .collect();
        assert_eq!(left.len(), 2, "{}: {left:?}", t.backend);
        assert!(left.contains(&"d2".to_owned()) && left.contains(&"d3".to_owned()));
        assert_eq!(s.module_labels("d4").await.unwrap(), Vec::<String>::new());
        let versions = s.function_versions("Flow", "orchestrator").await.unwrap();
        assert_eq!(versions.len(), 2, "{}", t.backend);
    }
}

/// The digests of the active versions of activity `Greet`.
async fn active_greets(s: &Store) -> Vec<String> {
    s.function_versions("Greet", "activity")
        .await
        .unwrap()
        .into_iter()
        .filter(|f| f.active)
        .map(|f| f.digest)
        .collect()
}

/// How many sessions of the test's database wait for a lock.
async fn lock_waiters(watcher: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*)::BIGINT FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(watcher)
    .await
    .unwrap()
}

/// A module deleted while one of its versions is being activated: either the activation comes
/// first and the module stays, or the delete does and the activation finds no version. Never a
/// function left without an active version (the activation having deactivated the others, and the
/// delete the version it activated). On PostgreSQL the test holds the active version's row, so that
/// the activation has found its version and waits in the middle of deactivating the others while
/// the delete runs.
#[tokio::test]
async fn a_module_deleted_while_its_version_is_activated_leaves_one_active_version() {
    use sqlx::Connection;
    for t in stores().await {
        let b = t.backend;
        let s = &t.store;
        let greet = vec![("Greet".to_owned(), "activity".to_owned())];
        // `da` is active and stored first (its row is the first an activation's update reaches).
        s.deploy("da", b"a".to_vec(), "1", greet.clone(), true, 10)
            .await
            .unwrap();
        s.deploy("db", b"b".to_vec(), "2", greet, false, 20)
            .await
            .unwrap();
        let Some(url) = t.postgres_url() else {
            // One writer: the activation and the delete run one after the other.
            assert!(s.activate("Greet", "activity", "db").await.unwrap(), "{b}");
            assert!(
                s.delete_modules(vec!["db".into()])
                    .await
                    .unwrap()
                    .is_empty(),
                "{b}"
            );
            assert_eq!(active_greets(s).await, ["db"], "{b}");
            continue;
        };
        let mut holder = sqlx::PgConnection::connect(&url).await.unwrap();
        let mut watcher = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query("SELECT 1 FROM functions WHERE digest = 'da' FOR UPDATE")
            .execute(&mut holder)
            .await
            .unwrap();
        let activating = tokio::spawn({
            let s = s.clone();
            async move { s.activate("Greet", "activity", "db").await }
        });
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        while lock_waiters(&mut watcher).await < 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{b}: no activation waits"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let other = t.reopen().await;
        let deleting = tokio::spawn(async move { other.delete_modules(vec!["db".into()]).await });
        // The delete either ends on its own or waits for the activation.
        while !deleting.is_finished() && lock_waiters(&mut watcher).await < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{b}: the delete hangs"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
        let activated = activating.await.unwrap().unwrap();
        let deleted = deleting.await.unwrap().unwrap();
        let active = active_greets(s).await;
        assert_eq!(
            active.len(),
            1,
            "{b}: activated {activated}, deleted {deleted:?}, active {active:?}"
        );
        // The activation began first, so it wins: its version is active and its module stays.
        assert!(activated && deleted.is_empty(), "{b}: {deleted:?}");
        assert_eq!(active, ["db"], "{b}");
    }
}
