//! Activity heartbeats, end to end: an attempt's latest details show in the instance's status (the
//! engine, the CLI and the API), go to the next attempt after a failure, and a heartbeat answers
//! "stop" once the task is canceled; an attempt that stops heartbeating for longer than its
//! heartbeat timeout fails with `HeartbeatTimeout`, and so does one whose worker was killed, as
//! soon as its lease runs out; an orchestrator that heartbeats fails.

use std::time::Duration;

use keel::HistoryEvent;
use keel::store::{HistoryRecord, Status};
use serde_json::{Value, json};

use crate::support::{Cli, config_on, engine, engine_with, finish, guests, http, serve_with};
use crate::test_server::TestServer;

/// The failures of the attempts recorded as retried, as (kind, message).
fn retried(history: &[HistoryRecord]) -> Vec<(String, String)> {
    history
        .iter()
        .filter_map(|r| match &r.event {
            HistoryEvent::TaskRetrying { failure, .. } => {
                Some((failure.kind.clone(), failure.message.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Waits until `id`'s first activity is running and has reported a heartbeat `{"n": k}` with
/// k >= `n`; returns those details.
pub(crate) async fn heartbeat_reaches(keel: &keel::Keel, id: &str, n: u64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let activities = keel.activities(id).await.unwrap();
        if let Some(a) = activities.first()
            && a.running
            && let Some(details) = &a.heartbeat
            && details["n"].as_u64().is_some_and(|k| k >= n)
        {
            assert_eq!((a.task_id, a.name.as_str(), a.attempt), (0, "Beating", 1));
            assert!(a.heartbeat_ms.is_some());
            return details.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no heartbeat {n} of {id}: {activities:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_canceled_attempt_is_told_by_its_next_heartbeat_and_cleans_up() {
    let server = TestServer::start().await;
    let t = engine_with(&["keel_test_patterns"], |c| c.lease_ms = 600).await;
    t.keel.grant("Beating", &server.url).await.unwrap();
    // A minute of heartbeats, 50 ms apart; told to stop, it calls /echo and fails `Stopped`.
    let input =
        json!({"beats": 1200, "every_ms": 50, "stopped_url": format!("{}/echo", server.url)});
    let id = t
        .keel
        .start("CancelBeating", &input.to_string(), Some("beat-cancel"))
        .await
        .unwrap();
    let worker = t.keel.run_worker();
    heartbeat_reaches(&t.keel, id.as_str(), 3).await;

    // `keel status` shows the activity and its latest heartbeat.
    let dir = tempfile::tempdir().unwrap();
    let db = t.db();
    let cli = Cli {
        dir: dir.path(),
        db: &db,
        url: String::new(),
        token: "",
    };
    let shown = cli.ok(&["status", "beat-cancel"], false);
    assert!(
        shown.contains("activity  #0 Beating attempt 1 running"),
        "{shown}"
    );
    assert!(shown.contains("heartbeat {\"n\":"), "{shown}");
    let json: Value = serde_json::from_str(&cli.ok(&["--json", "status", "beat-cancel"], false))
        .expect("status as JSON");
    assert_eq!(json["activities"][0]["name"], "Beating", "{json}");
    assert!(json["activities"][0]["heartbeat"]["n"].is_u64(), "{json}");

    t.keel
        .raise_event(id.as_str(), "Cancel", "null")
        .await
        .unwrap();
    let done = t
        .keel
        .wait(id.as_str(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(done.status, Status::Completed, "{done:?}");
    assert_eq!(done.output, Some(json!("Canceled")));
    // The attempt learnt it from a heartbeat and ran its clean-up, once.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while server.hits("/echo") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the canceled attempt never cleaned up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(server.hits("/echo"), 1);
    assert!(t.keel.activities(id.as_str()).await.unwrap().is_empty());
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attempt_that_stops_heartbeating_fails_and_the_next_resumes_from_its_details() {
    let t = engine(&["keel_test_patterns"]).await;
    // Three heartbeats, then 20 s of silence against a heartbeat timeout of 1 s; two attempts.
    let input = json!({
        "activity": "Beating",
        "input": {"beats": 3, "every_ms": 50, "then_sleep_ms": 20_000},
        "retry": [2, 10],
        "heartbeat_timeout_ms": 1_000,
    });
    let id = t
        .keel
        .start("Call", &input.to_string(), Some("beat-silent"))
        .await
        .unwrap();
    let done = finish(&t.keel, id.as_str()).await;
    assert_eq!(done.status, Status::Completed, "{done:?}");
    // The second attempt was given the first one's last details.
    assert_eq!(done.output, Some(json!({"ok": {"resumedFrom": {"n": 3}}})));
    let history = t.keel.history(id.as_str()).await.unwrap();
    assert_eq!(
        retried(&history),
        [(
            "HeartbeatTimeout".to_owned(),
            "the attempt sent no heartbeat for 1000 ms".to_owned()
        )]
    );
    // The option is recorded with the call.
    let scheduled = history
        .iter()
        .find_map(|r| match &r.event {
            HistoryEvent::TaskScheduled { options, .. } => Some(options.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(scheduled.heartbeat_timeout_ms, Some(1_000));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_workers_attempt_fails_when_its_lease_runs_out_and_the_next_resumes() {
    const TOKEN: &str = "tok-heartbeats";
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let server = serve_with(&db, TOKEN, &["--lease-ms", "1000"], "warn");
    let cli = Cli {
        dir: dir.path(),
        db: &db,
        url: format!("http://127.0.0.1:{}", server.port),
        token: TOKEN,
    };
    let module = guests().join("keel_test_patterns.wasm");
    cli.ok(&["deploy", module.to_str().unwrap()], true);
    // Heartbeats for hours, against a heartbeat timeout of a minute: the lease finds the dead
    // worker long before the timeout would.
    let input = json!({
        "activity": "Beating",
        "input": {"beats": 1_000_000, "every_ms": 100},
        "retry": [2, 10],
        "heartbeat_timeout_ms": 60_000,
    });
    cli.ok(
        &[
            "start",
            "Call",
            "--id",
            "beat-kill",
            "--input",
            &input.to_string(),
        ],
        true,
    );
    // The API's status shows the running attempt's heartbeats.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let seen = loop {
        let (code, body) = http(server.port, "GET", "/api/instances/beat-kill", b"", TOKEN);
        assert_eq!(code, 202, "{body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        let activity = &status["activities"][0];
        if activity["running"] == json!(true) && activity["heartbeat"]["n"].as_u64() >= Some(3) {
            assert_eq!(activity["name"], "Beating", "{body}");
            assert_eq!(activity["attempt"], 1, "{body}");
            break activity["heartbeat"]["n"].as_u64().unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no heartbeat: {body}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let shown = cli.ok(&["status", "beat-kill"], true);
    assert!(shown.contains("heartbeat {\"n\":"), "{shown}");

    let mut server = server;
    server.child.kill().expect("SIGKILL keel serve");
    server.child.wait().expect("reaping keel serve");

    let keel = keel::Keel::open(config_on(db.clone())).await.unwrap();
    let worker = keel.run_worker();
    let done = keel
        .wait("beat-kill", Duration::from_secs(45))
        .await
        .unwrap();
    worker.shutdown().await;
    assert_eq!(done.status, Status::Completed, "{done:?}");
    let resumed = done.output.as_ref().unwrap()["ok"]["resumedFrom"]["n"]
        .as_u64()
        .unwrap_or_else(|| panic!("{done:?}"));
    assert!(resumed >= seen, "resumed from {resumed}, saw {seen}");
    let history = keel.history("beat-kill").await.unwrap();
    let retried = retried(&history);
    assert_eq!(retried.len(), 1, "{retried:?}");
    assert_eq!(retried[0].0, "HeartbeatTimeout");
    assert!(
        retried[0]
            .1
            .contains("the worker running attempt 1 stopped"),
        "{retried:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_orchestrator_that_heartbeats_fails() {
    let t = engine(&["keel_test_patterns"]).await;
    let id = t
        .keel
        .start("BeatsInOrchestrator", "null", None)
        .await
        .unwrap();
    let done = finish(&t.keel, id.as_str()).await;
    assert_eq!(done.status, Status::Failed, "{done:?}");
    let failure = done.failure.unwrap();
    assert_eq!(failure.kind, "ContextMisuse", "{failure}");
    assert!(
        failure.message.contains("only activities heartbeat"),
        "{failure}"
    );
}
