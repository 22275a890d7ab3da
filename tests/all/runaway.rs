//! Runaway guests fail only their own task or instance, with a clear error; the host and every other
//! instance carry on.

use keel::store::Status;
use serde_json::json;

use crate::support::{Running, Shop, assert_completed, engine};

async fn run_bad(activity: &str) -> serde_json::Value {
    let t = engine(&["keel_test_patterns", "order_processing"]).await;
    let shop = Shop::start("tok-runaway");
    shop.configure(&t.keel).await;
    let worker = Running::start(&t.keel);
    let bad = t
        .keel
        .start("RunBad", &json!({ "activity": activity }).to_string(), None)
        .await
        .unwrap();
    // A healthy instance started alongside must not notice.
    let good = t
        .keel
        .start(
            "ProcessOrder",
            r#"{"orderId":"o-1","amount":5,"items":["pen"]}"#,
            None,
        )
        .await
        .unwrap();
    let timeout = std::time::Duration::from_secs(60);
    let good = t.keel.wait(good.as_str(), timeout).await.unwrap();
    let bad = t.keel.wait(bad.as_str(), timeout).await.unwrap();
    worker.stop().await;
    assert_completed(&good);
    assert_completed(&bad);
    bad.output.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_activity_that_loops_forever_times_out() {
    let output = run_bad("Loop").await;
    assert_eq!(output["kind"], json!("Timeout"), "{output}");
    assert!(
        output["message"].as_str().unwrap().contains("2000 ms"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_activity_that_allocates_without_bound_hits_the_memory_limit() {
    let output = run_bad("Bomb").await;
    assert_eq!(output["kind"], json!("MemoryLimitExceeded"), "{output}");
    assert!(
        output["message"].as_str().unwrap().contains("64 MiB"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_activity_that_traps_fails_its_task_with_the_trap() {
    let output = run_bad("Trap").await;
    assert_eq!(output["kind"], json!("Trap"), "{output}");
    assert!(
        output["message"].as_str().unwrap().contains("unreachable"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_orchestrator_that_loops_forever_fails_its_instance() {
    let t = engine(&["keel_test_patterns", "order_processing"]).await;
    let shop = Shop::start("tok-runaway");
    shop.configure(&t.keel).await;
    let worker = Running::start(&t.keel);
    let bad = t.keel.start("LoopForever", "null", None).await.unwrap();
    let good = t
        .keel
        .start(
            "ProcessOrder",
            r#"{"orderId":"o-2","amount":5,"items":["pen"]}"#,
            None,
        )
        .await
        .unwrap();
    let timeout = std::time::Duration::from_secs(60);
    let bad = t.keel.wait(bad.as_str(), timeout).await.unwrap();
    let good = t.keel.wait(good.as_str(), timeout).await.unwrap();
    worker.stop().await;
    assert_completed(&good);
    assert_eq!(bad.status, Status::Failed);
    let failure = bad.failure.unwrap();
    assert_eq!(failure.kind, "CpuLimitExceeded", "{failure}");
    assert!(failure.message.contains("2000 ms"), "{failure}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_orchestrator_that_sleeps_in_real_time_fails_at_the_turn_time_limit() {
    let t = crate::support::engine_with(&["keel_test_patterns"], |c| {
        c.limits.turn_wall_ms = 1_000;
    })
    .await;
    let worker = Running::start(&t.keel);
    let sleeper = t.keel.start("SleepInTurn", "null", None).await.unwrap();
    let other = t
        .keel
        .start("Parent", r#"{"children":[1]}"#, None)
        .await
        .unwrap();
    let timeout = std::time::Duration::from_secs(60);
    let slept = t.keel.wait(sleeper.as_str(), timeout).await.unwrap();
    let healthy = t.keel.wait(other.as_str(), timeout).await.unwrap();
    worker.stop().await;
    assert_completed(&healthy);
    assert_eq!(slept.status, keel::store::Status::Failed);
    let failure = slept.failure.unwrap();
    assert_eq!(failure.kind, "TurnTimeout", "{failure}");
    assert!(failure.message.contains("1000 ms"), "{failure}");
}

/// An execution whose history grows past `max_history_events` fails with `HistoryTooLarge`, telling
/// the author to continue as new; an orchestration that continues as new keeps each execution short
/// and runs on past the same bound in total.
#[tokio::test(flavor = "multi_thread")]
async fn a_history_past_its_bound_fails_the_execution_and_continue_as_new_stays_under_it() {
    let t = crate::support::engine_with(&["keel_test_patterns", "fan_out"], |c| {
        c.max_history_events = 30;
    })
    .await;
    let worker = Running::start(&t.keel);
    let long = t
        .keel
        .start("Sequence", r#"{"steps":40}"#, None)
        .await
        .unwrap();
    let eternal = t
        .keel
        .start("Counter", r#"{"n":0,"until":40}"#, None)
        .await
        .unwrap();
    let long = t
        .keel
        .wait(long.as_str(), std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let eternal = t
        .keel
        .wait(eternal.as_str(), std::time::Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_eq!(long.status, Status::Failed);
    let failure = long.failure.expect("a failure");
    assert_eq!(failure.kind, "HistoryTooLarge", "{failure:?}");
    assert!(failure.message.contains("continue"), "{}", failure.message);
    let history = t.keel.history(long.id.as_str()).await.unwrap();
    assert!(history.len() <= 34, "{} events", history.len());
    assert_completed(&eternal);
    assert_eq!(eternal.output, Some(json!({"n": 40})));
}
