//! Non-determinism detection: an orchestrator that changes its calls on replay fails with an error that
//! names the event index, what history holds and what the orchestrator asked for.

use std::time::Duration;

use keel::store::Status;
use keel::upgrade::ReplayCheck;

use crate::support::{Running, engine, guest, reopen, wait_for_event};

#[tokio::test(flavor = "multi_thread")]
async fn an_orchestrator_that_diverges_on_replay_fails_with_a_precise_error() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start("Flipflop", "null", None).await.unwrap();
    wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    worker.stop().await;
    drop(t.keel);

    let keel = reopen(&t.config, None).await;
    let worker = Running::start(&keel);
    keel.raise_event(id.as_str(), "go", "1").await.unwrap();
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.unwrap();
    assert_eq!(failure.kind, "NonDeterminism");
    let message = failure.message;
    assert!(message.contains(&format!("instance {id}")), "{message}");
    assert!(message.contains("history event #2"), "{message}");
    assert!(
        message.contains(r#"TaskScheduled #0 Echo "live""#),
        "{message}"
    );
    assert!(
        message.contains(r#"call-activity #0 Echo "replay""#),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_orchestrator_is_reported_against_the_recorded_history() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start("Steps", "null", None).await.unwrap();
    wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    worker.stop().await;

    // The same code replays cleanly.
    let same = t
        .keel
        .check_replay(id.as_str(), &guest("keel_test_patterns"))
        .await
        .unwrap();
    assert_eq!(same, ReplayCheck::Compatible);
    // The changed code calls Echo("x") where history holds Echo("a").
    let changed = t
        .keel
        .check_replay(id.as_str(), &guest("keel_test_changed"))
        .await
        .unwrap();
    let ReplayCheck::Diverged { failure } = changed else {
        panic!("the changed orchestrator was not reported: {changed:?}");
    };
    assert_eq!(failure.kind, "NonDeterminism");
    assert!(
        failure.message.contains(r#"TaskScheduled #0 Echo "a""#),
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains(r#"Echo "x""#),
        "{}",
        failure.message
    );
    // Checking recorded nothing: the instance still waits, pinned to its module.
    let instance = t.keel.status(id.as_str()).await.unwrap().unwrap();
    assert_eq!(instance.status, Status::Running);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upgrade_check_reports_each_running_instance() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    let waiting = t
        .keel
        .start("Steps", "null", Some("waiting"))
        .await
        .unwrap();
    wait_for_event(&t.keel, waiting.as_str(), "EventAwaited").await;
    worker.stop().await;
    // Not yet started: an empty history replays against anything.
    t.keel
        .start("Steps", "null", Some("pending"))
        .await
        .unwrap();

    let checks = t
        .keel
        .check_upgrade(&guest("keel_test_changed"))
        .await
        .unwrap();
    let mut results: Vec<(String, bool)> = checks
        .iter()
        .map(|c| (c.instance.clone(), c.check == ReplayCheck::Compatible))
        .collect();
    results.sort();
    assert_eq!(
        results,
        [("pending".to_owned(), true), ("waiting".to_owned(), false)]
    );
}
