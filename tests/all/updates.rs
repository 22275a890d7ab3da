//! Updates: a client's change to a running instance, answered by a handler its orchestrator
//! registered. An accepted update is recorded with its result and replays; a validator's rejection,
//! an unknown name or input of the wrong type records nothing; a handler's failure fails the update,
//! not the instance; an id sent twice is one update. Through the engine, the CLI (locally and
//! through a server) and the HTTP API.

use std::time::Duration;

use keel::engine::Error;
use keel::store::Status;
use serde_json::json;

use crate::support::{Cli, Running, engine, guests, http, serve, wait_for_event};

const WAIT: Duration = Duration::from_secs(60);

/// The number of events of `kind` in instance `id`'s history.
async fn count(keel: &keel::Keel, id: &str, kind: &str) -> usize {
    let history = keel.history(id).await.unwrap();
    history.iter().filter(|r| r.event.kind() == kind).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_update_changes_the_state_and_answers_and_a_rejection_records_nothing() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    t.keel.start("Updated", "null", Some("u1")).await.unwrap();
    wait_for_event(&t.keel, "u1", "EventAwaited").await;
    let add = |n: &'static str| t.keel.update("u1", "Add", n, None, WAIT);
    assert_eq!(add("5").await.unwrap().result, Some(json!(5)));
    let len = t.keel.history("u1").await.unwrap().len();

    // Rejected: by the validator, for input of the wrong type, for an unknown name. No history.
    match add("-1").await {
        Err(e @ Error::UpdateRejected { .. }) => {
            let text = e.to_string();
            assert!(text.starts_with("[KEEL-E25]"), "{text}");
            assert!(text.contains("Negative"), "{text}");
        }
        other => panic!("a negative amount gave {other:?}"),
    }
    match add(r#""x""#).await {
        Err(Error::UpdateRejected { failure, .. }) => {
            assert_eq!(failure.kind, "InvalidInput", "{failure}");
        }
        other => panic!("input of the wrong type gave {other:?}"),
    }
    match t.keel.update("u1", "Nope", "1", None, WAIT).await {
        Err(e @ Error::UnknownUpdate { .. }) => {
            assert!(e.to_string().starts_with("[KEEL-E24]"), "{e}")
        }
        other => panic!("an unknown update gave {other:?}"),
    }
    assert_eq!(t.keel.history("u1").await.unwrap().len(), len);

    // Refused before anything is sent: bad JSON, an unknown instance.
    assert!(matches!(add("{").await, Err(Error::InvalidJson { .. })));
    assert!(matches!(
        t.keel.update("nobody", "Add", "1", None, WAIT).await,
        Err(Error::NotFound(_))
    ));

    // The handler's failure is recorded and answered; the instance goes on, the total unchanged.
    match add("13").await {
        Err(e @ Error::UpdateFailed { .. }) => {
            let text = e.to_string();
            assert!(text.starts_with("[KEEL-E26]"), "{text}");
            assert!(text.contains("Unlucky"), "{text}");
        }
        other => panic!("a failing handler gave {other:?}"),
    }
    assert_eq!(count(&t.keel, "u1", "UpdateFailed").await, 1);

    // An id sent twice is one update; the same id for another input is refused.
    let first = t.keel.update("u1", "Add", "2", Some("two"), WAIT).await;
    assert_eq!(first.unwrap().result, Some(json!(7)));
    let again = t.keel.update("u1", "Add", "2", Some("two"), WAIT).await;
    assert_eq!(again.unwrap().result, Some(json!(7)));
    match t.keel.update("u1", "Add", "3", Some("two"), WAIT).await {
        Err(e @ Error::UpdateIdReused { .. }) => {
            assert!(e.to_string().starts_with("[KEEL-E27]"), "{e}")
        }
        other => panic!("a reused id gave {other:?}"),
    }
    let fetched = t.keel.update_result("u1", "Add", "two", WAIT).await;
    assert_eq!(fetched.unwrap().result, Some(json!(7)));
    assert!(matches!(
        t.keel.update_result("u1", "Add", "zzz", WAIT).await,
        Err(Error::UnknownUpdateId { .. })
    ));

    // A handler may schedule: the activity runs, although nothing waits for it.
    let echo = t.keel.update("u1", "Echo", r#""hi""#, None, WAIT).await;
    assert!(echo.unwrap().result.is_some());
    for _ in 0..3000 {
        if count(&t.keel, "u1", "TaskCompleted").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(count(&t.keel, "u1", "TaskCompleted").await, 1);
    assert_eq!(count(&t.keel, "u1", "UpdateAccepted").await, 4);

    // A new worker replays the handlers: the total goes on from 7.
    worker.stop().await;
    let worker = Running::start(&t.keel);
    assert_eq!(add("1").await.unwrap().result, Some(json!(8)));
    t.keel.raise_event("u1", "Close", "null").await.unwrap();
    let done = t.keel.wait("u1", WAIT).await.unwrap();
    worker.stop().await;
    assert_eq!(done.status, Status::Completed, "{done:?}");
    assert_eq!(done.output, Some(json!(8)));
    assert!(matches!(add("1").await, Err(Error::Ended { .. })));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_handler_that_waits_or_a_validator_that_schedules_fails_the_instance() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    for (id, update, kind) in [
        ("w1", "Wait", "ContextMisuse"),
        ("w2", "Sneaky", "ValidatorNotReadOnly"),
    ] {
        t.keel.start("Updated", "null", Some(id)).await.unwrap();
        wait_for_event(&t.keel, id, "EventAwaited").await;
        match t.keel.update(id, update, "null", None, WAIT).await {
            Err(Error::UpdateRejected { failure, .. }) => {
                assert_eq!(failure.kind, "InstanceEnded", "{failure}");
            }
            other => panic!("{update} gave {other:?}"),
        }
        let failed = t.keel.wait(id, WAIT).await.unwrap();
        assert_eq!(failed.status, Status::Failed, "{failed:?}");
        let failure = failed.failure.unwrap();
        assert_eq!(failure.kind, kind, "{failure}");
    }
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_orchestrator_built_before_updates_rejects_them_and_runs_on() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    t.keel.start("OldWait", "null", Some("old")).await.unwrap();
    wait_for_event(&t.keel, "old", "EventAwaited").await;
    let len = t.keel.history("old").await.unwrap().len();
    match t.keel.update("old", "Add", "1", None, WAIT).await {
        Err(Error::UpdateRejected { failure, .. }) => {
            assert_eq!(failure.kind, "UpdatesUnsupported", "{failure}");
        }
        other => panic!("an update of an await-any orchestrator gave {other:?}"),
    }
    assert_eq!(t.keel.history("old").await.unwrap().len(), len);
    t.keel.raise_event("old", "Tick", "null").await.unwrap();
    let done = t.keel.wait("old", WAIT).await.unwrap();
    worker.stop().await;
    assert_eq!(done.status, Status::Completed, "{done:?}");
}

#[test]
fn updates_through_the_cli_locally_and_through_a_server_and_the_http_api() {
    const TOKEN: &str = "tok-updates";
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let server = serve(&db, TOKEN);
    let cli = Cli {
        dir: dir.path(),
        db: &db,
        url: format!("http://127.0.0.1:{}", server.port),
        token: TOKEN,
    };
    let keel = |args: &[&str], remote: bool| cli.run(args, remote);
    let module = guests().join("keel_test_patterns.wasm");
    cli.ok(&["deploy", module.to_str().unwrap()], true);
    cli.ok(&["start", "Updated", "--id", "u2"], true);
    // Served by the server's worker, sent from a client of the server and from the database.
    assert_eq!(
        cli.ok(&["update", "u2", "Add", "--input", "40"], true)
            .trim(),
        "40"
    );
    assert_eq!(
        cli.ok(&["update", "u2", "Add", "--input", "2"], false)
            .trim(),
        "42"
    );
    let rejected = keel(&["update", "u2", "Add", "--input", "-5"], true);
    assert!(!rejected.status.success());
    let stderr = String::from_utf8_lossy(&rejected.stderr);
    assert!(stderr.contains("[KEEL-E25]"), "{stderr}");

    // The HTTP API: the result under "result", and the coded errors.
    for (path, body, want, body_has) in [
        ("Add?updateId=h1", "1", 200, r#""result":43"#),
        ("Add?updateId=h1", "1", 200, r#""result":43"#),
        ("Add?updateId=h1", "2", 409, "update_id_reused"),
        ("Add", "-1", 422, "update_rejected"),
        ("Add", "13", 422, "update_failed"),
        ("Nope", "1", 404, "unknown_update"),
        ("Add", "{", 400, "invalid_json"),
        ("Add?wait=forever", "1", 400, "bad_request"),
    ] {
        let path = format!("/api/instances/u2/updates/{path}");
        let (status, reply) = http(server.port, "POST", &path, body.as_bytes(), TOKEN);
        assert_eq!(status, want, "{path} {body}: {reply}");
        assert!(reply.contains(body_has), "{path} {body}: {reply}");
    }
    let (status, reply) = http(
        server.port,
        "GET",
        "/api/instances/u2/updates/Add/h1",
        b"",
        TOKEN,
    );
    assert_eq!(
        (status, reply.contains(r#""result":43"#)),
        (200, true),
        "{reply}"
    );
    let (status, reply) = http(
        server.port,
        "GET",
        "/api/instances/u2/updates/Add/nope",
        b"",
        TOKEN,
    );
    assert_eq!(status, 404, "{reply}");
    assert!(reply.contains("unknown_update_id"), "{reply}");

    // Suspended, the instance holds updates: sent without waiting, the update is 202, and its
    // result comes once the instance is resumed.
    cli.ok(&["suspend", "u2"], true);
    let mut suspended = false;
    for _ in 0..600 {
        let out = cli.ok(&["--json", "status", "u2"], true);
        if out.contains("Suspended") {
            suspended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(suspended, "the instance never suspended");
    let (status, reply) = http(
        server.port,
        "POST",
        "/api/instances/u2/updates/Add?updateId=held&wait=0s",
        b"7",
        TOKEN,
    );
    assert_eq!(status, 202, "{reply}");
    assert!(reply.contains(r#""updateId":"held""#), "{reply}");
    let pending = keel(
        &[
            "update",
            "u2",
            "Add",
            "--input",
            "7",
            "--update-id",
            "held",
            "--wait",
            "0s",
        ],
        true,
    );
    assert!(!pending.status.success());
    let stderr = String::from_utf8_lossy(&pending.stderr);
    assert!(stderr.contains("--update-id held"), "{stderr}");
    cli.ok(&["resume", "u2"], true);
    let (status, reply) = http(
        server.port,
        "GET",
        "/api/instances/u2/updates/Add/held?wait=60s",
        b"",
        TOKEN,
    );
    assert_eq!(
        (status, reply.contains(r#""result":50"#)),
        (200, true),
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_count_against_the_inbox_bound_with_raised_events() {
    // No worker runs: what is sent stays in the inbox.
    let t = crate::support::engine_with(&["keel_test_patterns"], |c| c.max_inbox_events = 2).await;
    let keel = &t.keel;
    keel.start("Updated", "null", Some("full")).await.unwrap();
    keel.raise_event("full", "x", "1").await.unwrap();
    let pending = keel
        .update("full", "Add", "1", Some("a"), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(pending.result, None, "not served: no worker runs");
    let refused = keel
        .update("full", "Add", "2", Some("b"), Duration::ZERO)
        .await;
    assert!(
        matches!(refused, Err(Error::InboxFull { limit: 2, .. })),
        "{refused:?}"
    );
    let refused = keel.raise_event("full", "x", "2").await;
    assert!(
        matches!(refused, Err(Error::InboxFull { .. })),
        "{refused:?}"
    );
    assert!(keel.store().update("full", "b").await.unwrap().is_none());
}
