//! Terminating an instance stops the activity attempts it has running: the attempt's work item goes
//! with the termination, the worker running it learns so at its next lease renewal, and the attempt is
//! dropped there — not run on to its own end or its timeout.

use std::time::Duration;

use serde_json::json;

use crate::support::engine_with;
use crate::test_server::TestServer;

/// Waits until the `HttpLoop` attempt calling `server` has made 20 calls.
async fn attempt_runs(server: &TestServer) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while server.hits("/ok") < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the attempt never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Asserts that the calls to `server` stop growing after a second (a lease renewal or two).
async fn attempt_stops(server: &TestServer, why: &str) {
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let after_stop = server.hits("/ok");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(server.hits("/ok"), after_stop, "{why}");
}

#[tokio::test(flavor = "multi_thread")]
async fn terminating_an_instance_stops_its_running_attempts() {
    let server = TestServer::start().await;
    // Leases renewed every 200 ms.
    let t = engine_with(&["keel_test_patterns"], |c| c.lease_ms = 600).await;
    t.keel.grant("HttpLoop", &server.url).await.unwrap();
    // An activity that calls the test server as fast as it can, a million times.
    let input = json!({
        "activity": "HttpLoop",
        "input": {"url": format!("{}/ok", server.url), "times": 1_000_000}
    });
    let id = t
        .keel
        .start("Call", &input.to_string(), None)
        .await
        .unwrap();
    let worker = t.keel.run_worker();
    attempt_runs(&server).await;
    t.keel
        .terminate(id.as_str(), "no longer wanted")
        .await
        .unwrap();
    let ended = t
        .keel
        .wait(id.as_str(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(ended.status, keel::store::Status::Terminated);
    // Within a renewal period or two the attempt is gone: the hits stop growing.
    attempt_stops(&server, "the terminated instance's attempt still runs").await;
    // And the worker has no attempt left to wait for: it stops at once.
    let stopping = std::time::Instant::now();
    worker.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "the worker waited {:?} for its attempts",
        stopping.elapsed()
    );
}

/// `ctx.cancel`: an activity canceled in the turn that scheduled it never runs; a running attempt
/// of a canceled activity is stopped at its worker's next lease renewal; a canceled
/// sub-orchestration is terminated; each resolves as `Canceled` at once, and the orchestrator goes
/// on.
#[tokio::test(flavor = "multi_thread")]
async fn an_orchestrator_cancels_a_running_activity_and_a_sub_orchestration() {
    let server = TestServer::start().await;
    let t = engine_with(&["keel_test_patterns"], |c| c.lease_ms = 600).await;
    t.keel.grant("HttpLoop", &server.url).await.unwrap();
    let input = json!({"loop": {"url": format!("{}/ok", server.url), "times": 1_000_000}});
    t.keel
        .start("Cancels", &input.to_string(), Some("cancels"))
        .await
        .unwrap();
    let worker = t.keel.run_worker();
    attempt_runs(&server).await;
    crate::support::wait_for_event(&t.keel, "cancels-child", "EventAwaited").await;
    t.keel
        .raise_event("cancels", "Cancel", "null")
        .await
        .unwrap();
    let done = t
        .keel
        .wait("cancels", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(done.status, keel::store::Status::Completed, "{done:?}");
    assert_eq!(
        done.output,
        Some(json!(["Canceled", "Canceled", "Canceled"]))
    );
    let child = t
        .keel
        .wait("cancels-child", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(child.status, keel::store::Status::Terminated, "{child:?}");
    let history = t.keel.history("cancels").await.unwrap();
    let canceled: Vec<String> = history
        .iter()
        .filter(|r| r.event.kind() == "TaskCanceled")
        .map(|r| r.event.summary())
        .collect();
    assert_eq!(
        canceled,
        ["#0", "#1", "#2 (sub-orchestration cancels-child)"]
    );
    // The running attempt stops within a renewal period or two: the hits stop growing.
    attempt_stops(&server, "the canceled attempt still runs").await;
    // The activity canceled in its own turn never ran.
    assert!(
        !t.keel.metrics().attempts().contains_key("Echo"),
        "Echo ran: {:?}",
        t.keel.metrics().attempts()
    );
    worker.shutdown().await;
}
