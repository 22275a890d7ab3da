//! Queries: a running instance answers with a handler its orchestrator registered, from the state
//! its last committed turn left, recording nothing; a handler that fails, misbehaves or does not
//! exist fails the query with a coded error and leaves the instance as it was. Through the engine,
//! the CLI (locally and through a server) and the HTTP API.

use std::time::Duration;

use keel::engine::Error;
use keel::store::Status;
use serde_json::json;

use crate::support::{Cli, Running, engine, guests, http, serve, wait_for_event};

/// Waits until instance `id` has waited for an event `times` times (the `Queried` loop's turns).
async fn awaited(keel: &keel::Keel, id: &str, times: usize) -> usize {
    for _ in 0..3000 {
        let history = keel.history(id).await.unwrap();
        if history
            .iter()
            .filter(|r| r.event.kind() == "EventAwaited")
            .count()
            >= times
        {
            return history.len();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("instance {id} never waited {times} times");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_reads_the_current_state_and_records_nothing() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start("Queried", "3", Some("q1")).await.unwrap();
    wait_for_event(&t.keel, "q1", "EventAwaited").await;
    assert_eq!(t.keel.query("q1", "Count", "null").await.unwrap(), json!(0));

    // Two ticks taken in: the query replays to the state after them.
    for _ in 0..2 {
        t.keel.raise_event("q1", "Tick", "null").await.unwrap();
    }
    let len = awaited(&t.keel, "q1", 3).await;
    assert_eq!(t.keel.query("q1", "Count", "null").await.unwrap(), json!(2));
    assert_eq!(t.keel.query("q1", "Plus", "5").await.unwrap(), json!(7));

    // Every way a query can fail, each with its code; none of them touches the instance.
    match t.keel.query("q1", "Fail", "null").await {
        Err(Error::QueryFailed { failure, .. }) => {
            assert_eq!(failure.kind, "NotToday", "{failure}");
        }
        other => panic!("a failing handler gave {other:?}"),
    }
    match t.keel.query("q1", "Plus", r#""x""#).await {
        Err(e @ Error::QueryFailed { .. }) => {
            let text = e.to_string();
            assert!(text.starts_with("[KEEL-E23]"), "{text}");
            assert!(text.contains("InvalidInput"), "{text}");
        }
        other => panic!("input of the wrong type gave {other:?}"),
    }
    match t.keel.query("q1", "Schedule", "null").await {
        Err(Error::QueryFailed { failure, .. }) => {
            assert_eq!(failure.kind, "QueryNotReadOnly", "{failure}");
            assert!(failure.message.contains("scheduled a task"), "{failure}");
        }
        other => panic!("a handler that schedules gave {other:?}"),
    }
    let unknown = t.keel.query("q1", "Nope", "null").await.unwrap_err();
    assert!(matches!(unknown, Error::UnknownQuery { .. }), "{unknown:?}");
    assert!(unknown.to_string().starts_with("[KEEL-E22]"), "{unknown}");
    let not_json = t.keel.query("q1", "Count", "{").await.unwrap_err();
    assert!(
        matches!(not_json, Error::InvalidJson { .. }),
        "{not_json:?}"
    );
    let missing = t.keel.query("nobody", "Count", "null").await.unwrap_err();
    assert!(matches!(missing, Error::NotFound(_)), "{missing:?}");

    // Nothing was recorded, and the instance goes on as if no query had come.
    let history = t.keel.history("q1").await.unwrap();
    assert_eq!(history.len(), len, "a query added to the history");
    let running = t.keel.status("q1").await.unwrap().unwrap();
    assert_eq!(running.status, Status::Running);
    t.keel.raise_event("q1", "Tick", "null").await.unwrap();
    let done = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_eq!(done.status, Status::Completed, "{done:?}");
    assert_eq!(done.output, Some(json!(3)));
    let ended = t.keel.query("q1", "Count", "null").await.unwrap_err();
    assert!(matches!(ended, Error::Ended { .. }), "{ended:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_orchestrator_waiting_with_await_any_says_it_cannot_take_queries() {
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    t.keel.start("OldWait", "null", Some("old")).await.unwrap();
    wait_for_event(&t.keel, "old", "EventAwaited").await;
    match t.keel.query("old", "Count", "null").await {
        Err(Error::QueryFailed { failure, .. }) => {
            assert_eq!(failure.kind, "QueriesUnsupported", "{failure}");
            assert!(failure.message.contains("rebuild it"), "{failure}");
        }
        other => panic!("a query of an await-any orchestrator gave {other:?}"),
    }
    // It still runs, and ends when its event comes.
    t.keel.raise_event("old", "Tick", "null").await.unwrap();
    let done = t.keel.wait("old", Duration::from_secs(60)).await.unwrap();
    worker.stop().await;
    assert_eq!(done.status, Status::Completed, "{done:?}");
}

#[test]
fn queries_through_the_cli_locally_and_through_a_server_and_the_http_api() {
    const TOKEN: &str = "tok-queries";
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
    cli.ok(&["start", "Queried", "--id", "q2", "--input", "2"], true);
    cli.ok(&["raise", "q2", "Tick"], true);
    // The server's worker takes the tick in: then Count answers 1.
    let mut count = String::new();
    for _ in 0..600 {
        let out = keel(&["--json", "query", "q2", "Count"], true);
        if out.status.success() {
            count = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if count == "1" {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(count, "1", "the query never saw the tick");
    // The same answer from the database directly, and with an argument.
    assert_eq!(cli.ok(&["query", "q2", "Count"], false).trim(), "1");
    assert_eq!(
        cli.ok(&["query", "q2", "Plus", "--input", "41"], true)
            .trim(),
        "42"
    );
    let failed = keel(&["query", "q2", "Nope"], true);
    assert!(!failed.status.success());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("[KEEL-E22]"), "{stderr}");

    // The HTTP API: the answer under "result", and the coded errors.
    for (path, want, body_has) in [
        ("Plus?input=2", 200, r#"{"result":3}"#),
        ("Plus?input=%7B%7D", 422, "query_failed"),
        ("Nope", 404, "unknown_query"),
        ("Count?input=%7B", 400, "invalid_json"),
    ] {
        let path = format!("/api/instances/q2/queries/{path}");
        let (status, body) = http(server.port, "GET", &path, b"", TOKEN);
        assert_eq!(status, want, "{path}: {body}");
        assert!(body.contains(body_has), "{path}: {body}");
    }

    // Ended: 410 through the API.
    cli.ok(&["raise", "q2", "Tick"], true);
    let mut status = 0;
    for _ in 0..600 {
        (status, _) = http(
            server.port,
            "GET",
            "/api/instances/q2/queries/Count",
            b"",
            TOKEN,
        );
        if status == 410 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(status, 410, "a query of an ended instance");
}

/// Waits until `worker` keeps one guest in memory (put back just after its turn committed).
pub(crate) async fn until_hot(worker: &Running) {
    let handle = worker.0.as_ref().expect("a running worker");
    for _ in 0..3000 {
        if handle.hot_instances() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("no hot guest");
}

/// The engine's query counters: (answered by the hot guest, answered by a replayed one).
pub(crate) fn answered(keel: &keel::Keel) -> (u64, u64) {
    use std::sync::atomic::Ordering;
    let metrics = keel.metrics();
    (
        metrics.queries_hot.load(Ordering::Relaxed),
        metrics.queries_replayed.load(Ordering::Relaxed),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hot_guest_answers_queries_and_one_that_breaks_the_rules_is_dropped_not_the_instance() {
    use std::sync::atomic::Ordering;
    let t = engine(&["keel_test_patterns"]).await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start("Queried", "3", Some("hq")).await.unwrap();
    awaited(&t.keel, "hq", 1).await;
    until_hot(&worker).await;
    // The guest that ran the turn, kept in memory, answers; it waits on as it was.
    assert_eq!(t.keel.query("hq", "Count", "null").await.unwrap(), json!(0));
    assert_eq!(answered(&t.keel), (1, 0));
    for _ in 0..2 {
        t.keel.raise_event("hq", "Tick", "null").await.unwrap();
    }
    awaited(&t.keel, "hq", 3).await;
    until_hot(&worker).await;
    assert_eq!(t.keel.query("hq", "Plus", "5").await.unwrap(), json!(7));
    assert_eq!(answered(&t.keel), (2, 0));
    // The turns after the queries were served by the same guest: one replay in all so far.
    assert_eq!(t.keel.metrics().replays.load(Ordering::Relaxed), 1);

    // A handler that schedules fails the query and takes the guest with it, not the instance: the
    // next query replays a guest of its own, and so does the next turn.
    match t.keel.query("hq", "Schedule", "null").await {
        Err(Error::QueryFailed { failure, .. }) => {
            assert_eq!(failure.kind, "QueryNotReadOnly", "{failure}");
        }
        other => panic!("a handler that schedules gave {other:?}"),
    }
    assert_eq!(t.keel.query("hq", "Count", "null").await.unwrap(), json!(2));
    assert_eq!(answered(&t.keel), (3, 1));
    t.keel.raise_event("hq", "Tick", "null").await.unwrap();
    let done = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_eq!(done.status, Status::Completed, "{done:?}");
    assert_eq!(done.output, Some(json!(3)));
    assert_eq!(t.keel.metrics().replays.load(Ordering::Relaxed), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_that_draws_random_numbers_on_the_hot_guest_leaves_the_orchestrators_draws_as_they_were()
 {
    // Once with a query answered by the hot guest before the event, once without: the number the
    // orchestrator draws after it is the same (a replay would draw it too).
    let mut outputs = Vec::new();
    for ask in [true, false] {
        let t = engine(&["keel_test_patterns"]).await;
        let worker = Running::start(&t.keel);
        t.keel
            .start("QueriedRandom", "null", Some("rq"))
            .await
            .unwrap();
        awaited(&t.keel, "rq", 1).await;
        until_hot(&worker).await;
        if ask {
            let drawn = t.keel.query("rq", "Random", "null").await.unwrap();
            assert!(drawn.is_u64(), "{drawn}");
            assert_eq!(answered(&t.keel), (1, 0));
        }
        t.keel.raise_event("rq", "Tick", "null").await.unwrap();
        let done = t.keel.wait("rq", Duration::from_secs(60)).await.unwrap();
        worker.stop().await;
        assert_eq!(done.status, Status::Completed, "{done:?}");
        outputs.push(done.output);
    }
    assert_eq!(outputs[0], outputs[1]);
}
