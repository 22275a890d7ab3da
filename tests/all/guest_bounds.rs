//! Bounds on what a guest or a client can make the host hold: tasks per turn, names and ids, log
//! lines per turn and their length, failure kinds and messages, raised events waiting per instance.
//! Each violation fails (or is refused for) that instance only.

use std::time::Duration;

use keel::store::Status;
use serde_json::json;

use crate::support::{assert_completed, engine_with, finish, serve_with, wait_for_event};

#[tokio::test]
async fn a_turn_that_schedules_too_many_tasks_fails_its_instance_and_no_other() {
    let t = engine_with(&["keel_test_patterns"], |c| c.limits.max_turn_tasks = 10).await;
    let greedy = t
        .keel
        .start("Fan", r#"{"count":11}"#, Some("greedy"))
        .await
        .unwrap();
    let modest = t
        .keel
        .start("Fan", r#"{"count":10}"#, Some("modest"))
        .await
        .unwrap();
    let failed = finish(&t.keel, greedy.as_str()).await;
    assert_eq!(failed.status, Status::Failed);
    let failure = failed.failure.expect("a failure");
    assert_eq!(failure.kind, "TooManyTasks", "{failure:?}");
    assert!(failure.message.contains("10 tasks"), "{failure:?}");
    // The tasks within the bound are recorded as scheduled, the eleventh is not.
    let history = t.keel.history("greedy").await.unwrap();
    let scheduled = history
        .iter()
        .filter(|r| r.event.kind() == "TaskScheduled")
        .count();
    assert_eq!(scheduled, 10, "{history:?}");
    let done = finish(&t.keel, modest.as_str()).await;
    assert_completed(&done);
    assert_eq!(done.output, Some(json!(45)));
}

#[tokio::test]
async fn names_and_ids_past_the_limit_are_refused_with_a_code() {
    let t = engine_with(&["keel_test_patterns"], |c| c.limits.max_name_bytes = 64).await;
    // A guest naming an activity of 65 bytes fails; one of 64 bytes gets as far as the call.
    let long = "A".repeat(65);
    let id = t
        .keel
        .start("Call", &json!({"activity": long}).to_string(), None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.expect("a failure");
    assert_eq!(failure.kind, "NameTooLong", "{failure:?}");
    assert!(failure.message.contains("65 bytes"), "{failure:?}");
    let id = t
        .keel
        .start(
            "Call",
            &json!({"activity": "A".repeat(64)}).to_string(),
            None,
        )
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(
        instance.output.as_ref().unwrap()["kind"],
        "ActivityNotFound",
        "{instance:?}"
    );
    // A client's instance id and event name.
    let error = t
        .keel
        .start("Call", "{}", Some(&"i".repeat(65)))
        .await
        .expect_err("a 65-byte id");
    assert!(error.to_string().starts_with("[KEEL-E9]"), "{error}");
    let waiting = t
        .keel
        .start("WaitForEvent", "{}", Some("waiting"))
        .await
        .unwrap();
    let error = t
        .keel
        .raise_event(waiting.as_str(), &"e".repeat(65), "{}")
        .await
        .expect_err("a 65-byte event name");
    assert!(error.to_string().starts_with("[KEEL-E9]"), "{error}");
}

#[tokio::test]
async fn a_guest_that_logs_in_a_loop_writes_its_budget_per_turn_and_no_more() {
    let t = engine_with(&["keel_test_patterns"], |_| {}).await;
    let server = serve_with(&t.db(), "token", &["--max-log-lines", "20"], "info");
    // 100 lines of 10 KiB in each of two turns, half logged, half printed.
    let input = json!({"lines": 100, "bytes": 10 * 1024}).to_string();
    let id = t
        .keel
        .start("Chatty", &input, Some("chatty"))
        .await
        .unwrap();
    wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    t.keel.raise_event(id.as_str(), "go", "{}").await.unwrap();
    let instance = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_completed(&instance);
    // The server writes the lines as they come; give the last ones a moment to arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = server.log.lock().unwrap().clone();
    for turn in ["first", "second"] {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(&format!("{turn} ")) && l.contains("xxxx"))
            .collect();
        assert_eq!(lines.len(), 20, "{turn} turn: {} lines", lines.len());
        // Each line is cut at 8 KiB of guest text.
        assert!(
            lines.iter().all(|l| l.len() < 9 * 1024),
            "{turn}: a line was not cut"
        );
    }
    let warnings = log.matches("more than 20 log lines").count();
    assert_eq!(warnings, 2, "one warning per turn:\n{log}");
}

#[tokio::test]
async fn a_failure_s_kind_and_message_are_cut_to_size() {
    let t = engine_with(&["keel_test_patterns"], |c| {
        c.limits.max_failure_bytes = 1024
    })
    .await;
    let input = json!({
        "activity": "FailLoudly",
        "input": {"kind_bytes": 5000, "message_bytes": 100_000},
    });
    let id = t
        .keel
        .start("Call", &input.to_string(), None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    let output = instance.output.unwrap();
    let kind = output["kind"].as_str().unwrap();
    let message = output["message"].as_str().unwrap();
    assert!(kind.len() < 300, "kind of {} bytes", kind.len());
    assert!(kind.ends_with("(cut: 5000 bytes in all)"), "{kind}");
    assert!(message.len() < 1100, "message of {} bytes", message.len());
    assert!(message.ends_with("(cut: 100000 bytes in all)"), "{message}");
}

#[tokio::test]
async fn raised_events_past_the_inbox_bound_are_refused_for_that_instance_only() {
    let t = engine_with(&["keel_test_patterns"], |c| c.max_inbox_events = 3).await;
    // No worker runs yet: the events wait in the inbox.
    let full = t
        .keel
        .start("WaitForEvent", "{}", Some("full"))
        .await
        .unwrap();
    let other = t
        .keel
        .start("WaitForEvent", "{}", Some("other"))
        .await
        .unwrap();
    for i in 0..3 {
        t.keel
            .raise_event(full.as_str(), "Other", &i.to_string())
            .await
            .unwrap();
    }
    let error = t
        .keel
        .raise_event(full.as_str(), "Go", "{}")
        .await
        .expect_err("a fourth waiting event");
    assert!(error.to_string().starts_with("[KEEL-E10]"), "{error}");
    t.keel
        .raise_event(other.as_str(), "Go", "{}")
        .await
        .unwrap();
    // Once the instance has taken its events in, it accepts more.
    let worker = t.keel.run_worker();
    wait_for_event(&t.keel, full.as_str(), "EventRaised").await;
    let mut raised = false;
    for _ in 0..250 {
        if t.keel.raise_event(full.as_str(), "Go", "{}").await.is_ok() {
            raised = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(raised, "the inbox never drained");
    for id in ["full", "other"] {
        let instance = t.keel.wait(id, Duration::from_secs(30)).await.unwrap();
        assert_completed(&instance);
    }
    worker.shutdown().await;
}
