//! The other Durable Functions patterns: sub-orchestrations, continue-as-new, handled failures,
//! retries, timeouts, durable timers, and the management operations suspend, resume, terminate, purge.

use std::time::Duration;

use keel::engine::Error;
use keel::store::Status;
use serde_json::json;

use crate::support::{Running, assert_completed, engine, finish, kinds, wait_for_event};

#[tokio::test(flavor = "multi_thread")]
async fn sub_orchestrations_run_as_their_own_instances_and_report_back() {
    let t = engine(&["keel_test_patterns"]).await;
    let id = t
        .keel
        .start("Parent", r#"{"children":[1,2,3]}"#, Some("parent"))
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!({"sum": 12})));
    // Children get ids derived from the parent and the task, and record their parent.
    for task in 0..3 {
        let child = t
            .keel
            .status(&format!("parent:{task}"))
            .await
            .unwrap()
            .unwrap();
        assert_completed(&child);
        assert_eq!(child.name, "Child");
        assert_eq!(child.parent.unwrap().task_id, task);
    }
    let history = t.keel.history("parent").await.unwrap();
    let completed = history
        .iter()
        .filter(|r| r.event.kind() == "SubOrchestrationCompleted")
        .count();
    assert_eq!(completed, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn continue_as_new_starts_fresh_executions_until_done() {
    let t = engine(&["keel_test_patterns"]).await;
    let id = t
        .keel
        .start("Counter", r#"{"n":0,"until":3}"#, None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!({"n": 3})));
    assert_eq!(instance.execution, 4);
    let history = t.keel.history(id.as_str()).await.unwrap();
    let per_execution: Vec<(u32, &str)> = history
        .iter()
        .filter(|r| r.event.is_terminal())
        .map(|r| (r.execution, r.event.kind()))
        .collect();
    assert_eq!(
        per_execution,
        [
            (1, "ContinuedAsNew"),
            (2, "ContinuedAsNew"),
            (3, "ContinuedAsNew"),
            (4, "ExecutionCompleted")
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn continuing_as_new_keeps_the_histories_of_the_last_executions_only() {
    let t = crate::support::engine_with(&["keel_test_patterns"], |c| c.keep_executions = 2).await;
    let id = t
        .keel
        .start("Counter", r#"{"n":0,"until":5}"#, None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(instance.execution, 6);
    let history = t.keel.history(id.as_str()).await.unwrap();
    let executions: std::collections::BTreeSet<u32> = history.iter().map(|r| r.execution).collect();
    assert_eq!(executions, [5, 6].into(), "{history:?}");
    assert_eq!(
        history.last().map(|r| r.event.kind()),
        Some("ExecutionCompleted")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_eternal_orchestration_starts_a_child_in_every_execution() {
    // Task ids restart with every execution, so a child id derived from the task alone would be the
    // same in each execution and the second start would find the first child's id taken.
    let t = engine(&["keel_test_patterns"]).await;
    let id = t
        .keel
        .start("EternalParent", r#"{"n":1,"until":3}"#, Some("eternal"))
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!({"n": 3, "doubled": 6})));
    assert_eq!(instance.execution, 3);
    let history = t.keel.history("eternal").await.unwrap();
    let children: Vec<(u32, String)> = history
        .iter()
        .filter_map(|r| match &r.event {
            keel::HistoryEvent::SubOrchestrationCreated { instance, .. } => {
                Some((r.execution, instance.clone()))
            }
            _ => None,
        })
        .collect();
    // The first execution keeps the id it always had; later ones name their execution.
    assert_eq!(
        children,
        [
            (1, "eternal:0".to_owned()),
            (2, "eternal@2:0".to_owned()),
            (3, "eternal@3:0".to_owned())
        ]
    );
    for (_, child) in &children {
        assert_completed(&t.keel.status(child).await.unwrap().unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_activity_failure_is_an_error_the_orchestrator_can_handle() {
    let t = engine(&["keel_test_patterns"]).await;
    let id = t.keel.start("CatchFailure", "null", None).await.unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(instance.output.unwrap()["caught"], json!("Boom"));
}

#[tokio::test(flavor = "multi_thread")]
async fn retries_follow_the_policy_and_are_recorded() {
    let t = engine(&["keel_test_patterns"]).await;
    let id = t
        .keel
        .start("Retrying", r#"{"failures":3}"#, None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!({"attempt": 4})));
    let history = t.keel.history(id.as_str()).await.unwrap();
    let retries: Vec<(u32, u64)> = history
        .iter()
        .filter_map(|r| match &r.event {
            keel::HistoryEvent::TaskRetrying {
                attempt,
                retry_at_ms,
                ..
            } => Some((*attempt, *retry_at_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(retries.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_activity_over_its_timeout_is_interrupted_and_fails_its_task() {
    let t = engine(&["keel_test_patterns"]).await;
    let id = t.keel.start("WithTimeout", "300", None).await.unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    let output = instance.output.unwrap();
    assert_eq!(output["outcome"], json!("failed"));
    assert_eq!(output["kind"], json!("Timeout"), "{output}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_durable_timer_fires() {
    let t = engine(&["keel_test_patterns"]).await;
    let id = t.keel.start("Timer", "50", None).await.unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(
        kinds(&t.keel.history(id.as_str()).await.unwrap()),
        [
            "ExecutionStarted",
            "TimerCreated",
            "TimerFired",
            "ExecutionCompleted"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_suspended_instance_holds_its_events_until_resumed() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start("Steps", "null", None).await.unwrap();
    wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    t.keel.suspend(id.as_str(), "maintenance").await.unwrap();
    wait_for_event(&t.keel, id.as_str(), "ExecutionSuspended").await;
    assert_eq!(
        t.keel.status(id.as_str()).await.unwrap().unwrap().status,
        Status::Suspended
    );
    t.keel
        .raise_event(id.as_str(), "go", r#""held""#)
        .await
        .unwrap();
    // The event waits in the inbox; resuming delivers it.
    t.keel.resume(id.as_str(), "done").await.unwrap();
    let instance = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!(["a", "held", "b"])));
    let history = kinds(&t.keel.history(id.as_str()).await.unwrap());
    let suspended = history
        .iter()
        .position(|k| *k == "ExecutionSuspended")
        .unwrap();
    let raised = history.iter().position(|k| *k == "EventRaised").unwrap();
    assert!(suspended < raised, "{history:?}");
}

/// A suspend that reaches the inbox ordered before the instance's start (sent by a process whose clock
/// is behind the one that created it) still suspends the instance after it starts, and a resume lets
/// it go on: it is not left suspended with its start held forever.
#[tokio::test(flavor = "multi_thread")]
async fn a_suspend_ordered_before_the_start_suspends_after_it_and_resume_lets_it_run() {
    use keel::store::{Incarnation, Message, OutMessage};
    let t = engine(&["keel_test_patterns"]).await;
    let id = t.keel.start("Steps", "null", None).await.unwrap();
    t.keel
        .store()
        .send(vec![OutMessage {
            instance: id.to_string(),
            execution: None,
            incarnation: Incarnation::Any,
            message: Message::Suspend {
                reason: "skewed clock".into(),
            },
            visible_at: 1,
        }])
        .await
        .unwrap();
    let worker = Running::start(&t.keel);
    wait_for_event(&t.keel, id.as_str(), "ExecutionSuspended").await;
    assert_eq!(
        t.keel.status(id.as_str()).await.unwrap().unwrap().status,
        Status::Suspended
    );
    t.keel.resume(id.as_str(), "go on").await.unwrap();
    wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    t.keel
        .raise_event(id.as_str(), "go", r#""x""#)
        .await
        .unwrap();
    let instance = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    let history = kinds(&t.keel.history(id.as_str()).await.unwrap());
    assert_eq!(history[0], "ExecutionStarted", "{history:?}");
    let suspended = history.iter().position(|k| *k == "ExecutionSuspended");
    let resumed = history.iter().position(|k| *k == "ExecutionResumed");
    assert!(suspended.is_some() && suspended < resumed, "{history:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn terminate_ends_an_instance_and_purge_removes_it() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start("Steps", "null", None).await.unwrap();
    wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    assert!(matches!(
        t.keel.purge(id.as_str()).await,
        Err(Error::NotEnded { .. })
    ));
    t.keel
        .terminate(id.as_str(), "no longer needed")
        .await
        .unwrap();
    let instance = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_eq!(instance.status, Status::Terminated);
    assert!(matches!(
        t.keel.raise_event(id.as_str(), "go", "1").await,
        Err(Error::Ended { .. })
    ));
    t.keel.purge(id.as_str()).await.unwrap();
    assert!(t.keel.status(id.as_str()).await.unwrap().is_none());
    assert!(t.keel.history(id.as_str()).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_id_in_use_is_refused() {
    let t = engine(&["keel_test_patterns"]).await;
    t.keel.start("Steps", "null", Some("same")).await.unwrap();
    let again = t.keel.start("Steps", "null", Some("same")).await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn terminating_a_parent_terminates_its_running_children_unless_abandoned() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    for parent in ["closed", "abandoning"] {
        t.keel
            .start("WaitingParent", "2", Some(parent))
            .await
            .unwrap();
        for child in 0..2 {
            let child = format!("{parent}:{child}");
            wait_for_event(&t.keel, parent, "SubOrchestrationCreated").await;
            for _ in 0..1000 {
                if t.keel.status(&child).await.unwrap().is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            wait_for_event(&t.keel, &child, "EventAwaited").await;
        }
    }
    t.keel
        .terminate("closed", "no longer needed")
        .await
        .unwrap();
    t.keel
        .terminate_with("abandoning", "the children may finish", true)
        .await
        .unwrap();
    for id in ["closed", "closed:0", "closed:1", "abandoning"] {
        let instance = t.keel.wait(id, Duration::from_secs(60)).await.unwrap();
        assert_eq!(instance.status, Status::Terminated, "{id}");
    }
    for child in ["closed:0", "closed:1"] {
        let history = t.keel.history(child).await.unwrap();
        let reason = history
            .iter()
            .find_map(|r| match &r.event {
                keel::HistoryEvent::ExecutionTerminated { reason } => Some(reason.clone()),
                _ => None,
            })
            .expect("the child recorded its termination");
        assert!(reason.contains("parent closed was terminated"), "{reason}");
    }
    // Abandoned children run on, and finish when their event comes.
    for child in ["abandoning:0", "abandoning:1"] {
        let status = t.keel.status(child).await.unwrap().unwrap().status;
        assert_eq!(status, Status::Running, "{child}");
        t.keel.raise_event(child, "Go", "1").await.unwrap();
        assert_completed(&t.keel.wait(child, Duration::from_secs(60)).await.unwrap());
    }
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_for_a_purged_parent_leaves_no_orphan_message() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    t.keel
        .start("WaitingParent", "1", Some("gone"))
        .await
        .unwrap();
    wait_for_event(&t.keel, "gone", "SubOrchestrationCreated").await;
    for _ in 0..1000 {
        if t.keel.status("gone:0").await.unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    wait_for_event(&t.keel, "gone:0", "EventAwaited").await;
    t.keel
        .terminate_with("gone", "abandon", true)
        .await
        .unwrap();
    t.keel.wait("gone", Duration::from_secs(60)).await.unwrap();
    t.keel.purge("gone").await.unwrap();
    // The child finishes and reports to a parent that no longer exists.
    t.keel.raise_event("gone:0", "Go", "1").await.unwrap();
    assert_completed(
        &t.keel
            .wait("gone:0", Duration::from_secs(60))
            .await
            .unwrap(),
    );
    worker.stop().await;
    let orphans: i64 = crate::raw_db::RawDb::open(&t.db())
        .await
        .one(
            "SELECT COUNT(*) FROM inbox WHERE instance NOT IN (SELECT id FROM instances)",
            &[],
        )
        .await;
    assert_eq!(
        orphans, 0,
        "messages wait forever for an instance that is gone"
    );
}

/// A retry interval near the largest number a policy can hold puts the next attempt at the end of
/// time, not (wrapped around) in the past: the task waits instead of being retried at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_interval_at_the_end_of_time_does_not_wrap_into_the_past() {
    let t = engine(&["keel_test_patterns"]).await;
    let input = json!({"activity": "AlwaysFails", "retry": [3, u64::MAX - 1]});
    let id = t
        .keel
        .start("Call", &input.to_string(), None)
        .await
        .unwrap();
    let worker = Running::start(&t.keel);
    let history = wait_for_event(&t.keel, id.as_str(), "TaskRetrying").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = t.keel.status(id.as_str()).await.unwrap().unwrap().status;
    let later = kinds(&t.keel.history(id.as_str()).await.unwrap());
    worker.stop().await;
    let retry_at = history.iter().find_map(|r| match &r.event {
        keel::HistoryEvent::TaskRetrying { retry_at_ms, .. } => Some(*retry_at_ms),
        _ => None,
    });
    assert!(retry_at >= Some(u64::MAX - 1), "{retry_at:?}");
    assert_eq!(status, Status::Running, "{later:?}");
    assert_eq!(
        later.iter().filter(|k| **k == "TaskRetrying").count(),
        1,
        "{later:?}"
    );
}
