//! Local (inline) activities, end to end: a chain of local calls runs and commits in the turn that
//! made them (one turn for the whole chain, no work items), with the same results and history as
//! ordinary calls apart from the `local` option; retries with a short delay run in place and a
//! longer one continues as an ordinary work item at the next attempt; a local call of a missing
//! activity fails the call; under a manual clock a retry waits for the clock, not in real time; one
//! canceled before the orchestrator waits never runs; a fan-out past
//! the batch's bound runs the rest as ordinary activities; and a `keel serve` killed in the middle
//! of a batch loses the batch, which the next worker runs again (the documented trade).

use std::sync::atomic::Ordering;
use std::time::Duration;

use keel::HistoryEvent;
use keel::clock::Clock as _;
use keel::store::{HistoryRecord, Status};
use serde_json::{Value, json};

use crate::support::{
    Running, config_on, engine, finish, guest, guests, manual_clock, reopen, serve_with,
    wait_for_event,
};
use crate::test_server::TestServer;

/// An activity call as (task, local).
type Scheduled = (u32, bool);

/// An outcome of a call as (task, event kind, attempt; 0 for a completion).
type Outcome = (u32, &'static str, u32);

/// The activity calls of `history`, and their outcomes.
fn calls(history: &[HistoryRecord]) -> (Vec<Scheduled>, Vec<Outcome>) {
    let mut scheduled = Vec::new();
    let mut outcomes = Vec::new();
    for record in history {
        match &record.event {
            HistoryEvent::TaskScheduled { id, options, .. } => scheduled.push((*id, options.local)),
            HistoryEvent::TaskCompleted { id, .. } => outcomes.push((*id, "TaskCompleted", 0)),
            HistoryEvent::TaskRetrying { id, attempt, .. } => {
                outcomes.push((*id, "TaskRetrying", *attempt))
            }
            HistoryEvent::TaskFailed { id, attempt, .. } => {
                outcomes.push((*id, "TaskFailed", *attempt))
            }
            _ => {}
        }
    }
    (scheduled, outcomes)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chain_of_local_calls_runs_and_commits_in_the_turn_that_made_them() {
    let t = engine(&["keel_test_patterns"]).await;
    let metrics = t.keel.metrics();

    let id = t
        .keel
        .start("LocalChain", r#"{"steps": 50}"#, Some("local-chain"))
        .await
        .unwrap();
    let done = finish(&t.keel, id.as_str()).await;
    assert_eq!(done.status, Status::Completed, "{done:?}");
    assert_eq!(done.output, Some(json!(50)));
    // The start's turn ran all fifty and returned: one turn, fifty local attempts.
    assert_eq!(metrics.turns.load(Ordering::Relaxed), 1);
    assert_eq!(metrics.local_attempts.load(Ordering::Relaxed), 50);
    let local = t.keel.history(id.as_str()).await.unwrap();
    let (scheduled, outcomes) = calls(&local);
    assert_eq!(scheduled.len(), 50);
    assert!(scheduled.iter().all(|(_, local)| *local), "{scheduled:?}");
    assert_eq!(outcomes.len(), 50);
    assert!(outcomes.iter().all(|(_, kind, _)| *kind == "TaskCompleted"));

    // The same chain of ordinary calls: the same output and calls, one turn per step.
    let id = t
        .keel
        .start(
            "LocalChain",
            r#"{"steps": 50, "local": false}"#,
            Some("ordinary-chain"),
        )
        .await
        .unwrap();
    let done = finish(&t.keel, id.as_str()).await;
    assert_eq!(done.output, Some(json!(50)));
    assert_eq!(metrics.turns.load(Ordering::Relaxed), 1 + 51);
    assert_eq!(metrics.local_attempts.load(Ordering::Relaxed), 50);
    let ordinary = t.keel.history(id.as_str()).await.unwrap();
    let (scheduled_ordinary, outcomes_ordinary) = calls(&ordinary);
    assert!(scheduled_ordinary.iter().all(|(_, local)| !*local));
    let ids = |s: &[Scheduled]| s.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    assert_eq!(ids(&scheduled), ids(&scheduled_ordinary));
    assert_eq!(outcomes, outcomes_ordinary);
    // A replay of the local chain's history reproduces it (the check the replayer runs).
    let check = t
        .keel
        .check_replay("local-chain", &guest("keel_test_patterns"))
        .await
        .unwrap();
    assert_eq!(check, keel::upgrade::ReplayCheck::Compatible);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_retry_runs_in_place_and_a_long_one_continues_as_a_work_item() {
    let t = engine(&["keel_test_patterns"]).await;
    let metrics = t.keel.metrics();

    // Fails until its third attempt; 10 ms between attempts: all three in the start's turn.
    let input =
        json!({"activity": "FailUntilAttempt", "input": 3, "retry": [5, 10], "local": true});
    let id = t
        .keel
        .start("Call", &input.to_string(), Some("retry-in-place"))
        .await
        .unwrap();
    let done = finish(&t.keel, id.as_str()).await;
    assert_eq!(done.output, Some(json!({"ok": {"attempt": 3}})), "{done:?}");
    assert_eq!(metrics.turns.load(Ordering::Relaxed), 1);
    assert_eq!(metrics.local_attempts.load(Ordering::Relaxed), 3);
    let history = t.keel.history(id.as_str()).await.unwrap();
    assert_eq!(
        calls(&history),
        (
            vec![(0, true)],
            vec![
                (0, "TaskRetrying", 1),
                (0, "TaskRetrying", 2),
                (0, "TaskCompleted", 0)
            ]
        )
    );

    // Fails once; the retry is 1.5 s away, too long to wait in the turn: attempt 2 is an ordinary
    // work item, due then.
    let input =
        json!({"activity": "FailUntilAttempt", "input": 2, "retry": [3, 1500], "local": true});
    let id = t
        .keel
        .start("Call", &input.to_string(), Some("retry-later"))
        .await
        .unwrap();
    let done = finish(&t.keel, id.as_str()).await;
    assert_eq!(done.output, Some(json!({"ok": {"attempt": 2}})), "{done:?}");
    // One more local attempt; the second ran as an ordinary one.
    assert_eq!(metrics.local_attempts.load(Ordering::Relaxed), 4);
    let history = t.keel.history(id.as_str()).await.unwrap();
    assert_eq!(
        calls(&history),
        (
            vec![(0, true)],
            vec![(0, "TaskRetrying", 1), (0, "TaskCompleted", 0)]
        )
    );
    let retry_at = history.iter().find_map(|r| match &r.event {
        HistoryEvent::TaskRetrying { retry_at_ms, .. } => Some(*retry_at_ms),
        _ => None,
    });
    let completed_at = history
        .iter()
        .find(|r| matches!(r.event, HistoryEvent::TaskCompleted { .. }))
        .map(|r| r.recorded_at);
    assert!(
        completed_at >= retry_at,
        "completed at {completed_at:?}, before the retry was due at {retry_at:?}"
    );
}

/// The test kit's clock only moves when told to: a local retry must not be waited out in real time
/// (and recorded at a clock time before it was due), but wait for the clock like any retry.
#[tokio::test(flavor = "multi_thread")]
async fn under_a_manual_clock_a_local_retry_waits_for_the_clock_not_in_real_time() {
    let t = engine(&["keel_test_patterns"]).await;
    let clock = manual_clock(1_000_000);
    let keel = reopen(&t.config, Some(clock.clone())).await;
    // Fails once; the retry is 50 ms away, short enough to be waited for in place in real time.
    let input =
        json!({"activity": "FailUntilAttempt", "input": 2, "retry": [3, 50], "local": true});
    let id = keel
        .start("Call", &input.to_string(), Some("manual-clock-retry"))
        .await
        .unwrap();
    let worker = Running::start(&keel);
    let history = wait_for_event(&keel, id.as_str(), "TaskRetrying").await;
    let retry_at = history
        .iter()
        .find_map(|r| match &r.event {
            HistoryEvent::TaskRetrying { retry_at_ms, .. } => Some(*retry_at_ms),
            _ => None,
        })
        .expect("a retry");
    // Six times the delay in real time, with the clock standing still: the retry is not due.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let history = keel.history(id.as_str()).await.unwrap();
    assert!(
        !history
            .iter()
            .any(|r| matches!(r.event, HistoryEvent::TaskCompleted { .. })),
        "the retry ran while the clock stood at {} ms, before its time {retry_at} ms: {:?}",
        clock.now_ms(),
        calls(&history)
    );
    clock.set(retry_at);
    keel.wake();
    let done = keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_eq!(done.output, Some(json!({"ok": {"attempt": 2}})), "{done:?}");
    let history = keel.history(id.as_str()).await.unwrap();
    assert_eq!(
        calls(&history),
        (
            vec![(0, true)],
            vec![(0, "TaskRetrying", 1), (0, "TaskCompleted", 0)]
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_call_of_an_activity_nobody_deployed_fails_the_call() {
    let t = engine(&["keel_test_patterns"]).await;
    let input = json!({"activity": "NoSuchActivity", "retry": [5, 10], "local": true});
    let id = t
        .keel
        .start("Call", &input.to_string(), Some("local-missing"))
        .await
        .unwrap();
    let done = finish(&t.keel, id.as_str()).await;
    let output = done.output.clone().unwrap_or(Value::Null);
    assert_eq!(output["kind"], "ActivityNotFound", "{done:?}");
    // Not retried: another attempt cannot find what is not deployed.
    let history = t.keel.history(id.as_str()).await.unwrap();
    assert_eq!(
        calls(&history),
        (vec![(0, true)], vec![(0, "TaskFailed", 1)])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_call_canceled_before_the_orchestrator_waits_never_runs() {
    let t = engine(&["keel_test_patterns"]).await;
    let metrics = t.keel.metrics();
    let id = t
        .keel
        .start("LocalCanceled", "null", Some("local-canceled"))
        .await
        .unwrap();
    let done = finish(&t.keel, id.as_str()).await;
    assert_eq!(
        done.output,
        Some(json!({"canceled": "Canceled", "bumped": 6})),
        "{done:?}"
    );
    assert_eq!(metrics.local_attempts.load(Ordering::Relaxed), 1);
    let history = t.keel.history(id.as_str()).await.unwrap();
    assert_eq!(
        calls(&history),
        (vec![(0, true), (1, true)], vec![(1, "TaskCompleted", 0)])
    );
    assert!(
        history
            .iter()
            .any(|r| matches!(r.event, HistoryEvent::TaskCanceled { id: 0, .. })),
        "{history:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fan_out_past_the_batch_bound_runs_the_rest_as_ordinary_activities() {
    let t = engine(&["keel_test_patterns"]).await;
    let metrics = t.keel.metrics();
    let id = t
        .keel
        .start("LocalFan", r#"{"count": 1200}"#, Some("local-fan"))
        .await
        .unwrap();
    let done = finish(&t.keel, id.as_str()).await;
    // 1 + 2 + … + 1,200.
    assert_eq!(done.output, Some(json!(720_600)), "{done:?}");
    // The first 1,000 ran in the batch, the other 200 as ordinary work items.
    assert_eq!(metrics.local_attempts.load(Ordering::Relaxed), 1_000);
    assert_eq!(
        metrics.attempts()["Bump"].attempts,
        1_200,
        "{:?}",
        metrics.attempts()
    );
    let (scheduled, outcomes) = calls(&t.keel.history(id.as_str()).await.unwrap());
    assert_eq!(scheduled.len(), 1_200);
    assert!(scheduled.iter().all(|(_, local)| *local));
    assert_eq!(outcomes.len(), 1_200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_lost_with_its_killed_worker_runs_again_on_the_next() {
    const TOKEN: &str = "tok-local";
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    {
        let keel = keel::Keel::open(config_on(db.clone())).await.unwrap();
        let module = std::fs::read(guests().join("keel_test_patterns.wasm")).unwrap();
        keel.deploy(module, None).await.unwrap();
        keel.grant("HttpLoop", &server.url).await.unwrap();
        // Two local GETs: the first answers at once, the second after 4 s.
        let input = json!({"url": server.url, "paths": ["/echo", "/sleep/4000"]});
        keel.start("LocalGets", &input.to_string(), Some("local-kill"))
            .await
            .unwrap();
    }
    let mut served = serve_with(&db, TOKEN, &["--lease-ms", "1000"], "warn");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.most_sleeping() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the batch never reached its second call"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.hits("/echo"), 1);
    served.child.kill().expect("SIGKILL keel serve");
    served.child.wait().expect("reaping keel serve");

    let keel = keel::Keel::open(config_on(db.clone())).await.unwrap();
    // Nothing of the batch was committed: the first call and its result died with the worker.
    let history = keel.history("local-kill").await.unwrap();
    assert_eq!(calls(&history), (vec![], vec![]), "{history:?}");
    let worker = keel.run_worker();
    let done = keel
        .wait("local-kill", Duration::from_secs(60))
        .await
        .unwrap();
    worker.shutdown().await;
    assert_eq!(done.status, Status::Completed, "{done:?}");
    assert_eq!(done.output, Some(json!(2)));
    // The replayed orchestrator called both again: the first GET was sent twice.
    assert_eq!(server.hits("/echo"), 2);
    let history = keel.history("local-kill").await.unwrap();
    assert_eq!(
        calls(&history),
        (
            vec![(0, true), (1, true)],
            vec![(0, "TaskCompleted", 0), (1, "TaskCompleted", 0)]
        )
    );
}
