//! Starting with an id in use: refused by default (`KEEL-E5`), answered with the running instance on
//! request (start if not running), and signal-with-start, which raises an event to the instance that
//! holds the id or starts it and raises the event in one transaction — in the engine, through the
//! CLI on a database, and through `keel --server` and the HTTP API.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use keel::engine::{Error, IfRunning, StartOptions};
use keel::history::HistoryEvent;
use keel::store::Status;
use serde_json::{Value, json};

use crate::support::{Running, assert_completed, engine, engine_with, guests, serve};

fn use_existing() -> StartOptions {
    StartOptions {
        if_running: IfRunning::UseExisting,
        event: None,
    }
}

fn with_event(name: &str, data: &str) -> StartOptions {
    StartOptions {
        if_running: IfRunning::Fail,
        event: Some((name.to_owned(), data.to_owned())),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_id_is_refused_used_or_signalled_as_the_start_asks() {
    let t = engine(&["keel_test_patterns"]).await;
    let keel = &t.keel;
    let worker = Running::start(keel);
    // `Steps` calls Echo("a"), waits for event "go", calls Echo("b"): [a, data, b].
    let first = keel
        .start_with("Steps", "null", Some("s1"), &StartOptions::default())
        .await
        .unwrap();
    assert!(first.created);
    let again = keel.start("Steps", "null", Some("s1")).await;
    assert!(
        matches!(&again, Err(Error::Conflict(_))),
        "a second start of a running id: {again:?}"
    );
    let used = keel
        .start_with("Steps", r#""other input""#, Some("s1"), &use_existing())
        .await
        .unwrap();
    assert_eq!((used.id.as_str(), used.created), ("s1", false));
    let other = keel
        .start_with("Timer", "null", Some("s1"), &use_existing())
        .await;
    match other {
        Err(Error::Conflict(message)) => {
            assert!(message.contains("runs orchestrator Steps"), "{message}")
        }
        other => panic!("another orchestrator's id was used: {other:?}"),
    }

    // Signal-with-start on the running instance raises the event and starts nothing.
    let signalled = keel
        .start_with("Steps", "null", Some("s1"), &with_event("go", r#""first""#))
        .await
        .unwrap();
    assert!(!signalled.created);
    let s1 = keel.wait("s1", Duration::from_secs(30)).await.unwrap();
    assert_completed(&s1);
    assert_eq!(s1.output, Some(json!(["a", "first", "b"])));
    assert_eq!(s1.input, Value::Null, "the running instance kept its input");
    let starts = keel
        .history("s1")
        .await
        .unwrap()
        .iter()
        .filter(|r| matches!(r.event, HistoryEvent::ExecutionStarted { .. }))
        .count();
    assert_eq!(starts, 1, "one execution started");

    // On an id nobody holds, and on an ended one, it starts the instance with the event queued.
    for id in ["s2", "s1"] {
        let started = keel
            .start_with("Steps", "null", Some(id), &with_event("go", r#""second""#))
            .await
            .unwrap();
        assert!(started.created, "{id}");
        let instance = keel.wait(id, Duration::from_secs(30)).await.unwrap();
        assert_eq!(instance.output, Some(json!(["a", "second", "b"])), "{id}");
    }

    // Bad event data is refused before anything is written.
    let bad = keel
        .start_with("Steps", "null", Some("s3"), &with_event("go", "{not json"))
        .await;
    assert!(matches!(bad, Err(Error::InvalidJson { .. })), "{bad:?}");
    assert!(keel.status("s3").await.unwrap().is_none());
    worker.stop().await;
}

fn keel_cli(dir: &Path, target: &[&str], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .current_dir(dir)
        .args(target)
        .args(args)
        .env_remove("KEEL_SERVER")
        .env_remove("KEEL_DB")
        .env("KEEL_API_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running keel")
}

const TOKEN: &str = "tok-start-policies";

fn json_line(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

#[test]
fn the_cli_and_the_api_use_a_running_instance_or_signal_it_with_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let db_arg = ["--db", db.to_str().unwrap()];
    let module = guests().join("keel_test_patterns.wasm");
    let out = keel_cli(dir.path(), &db_arg, &["deploy", module.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // On the database, with no worker yet: the first start creates, the second uses it.
    let start = ["--json", "start", "Steps", "--id", "c1"];
    assert_eq!(
        json_line(&keel_cli(dir.path(), &db_arg, &start)),
        json!({"id": "c1", "created": true})
    );
    let refused = keel_cli(dir.path(), &db_arg, &start);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("[KEEL-E5]"));
    let reuse = [&start[..], &["--if-running", "use-existing"]].concat();
    assert_eq!(
        json_line(&keel_cli(dir.path(), &db_arg, &reuse)),
        json!({"id": "c1", "created": false})
    );

    // Through the server: the same, and signal-with-start both ways.
    let server = serve(&db, TOKEN);
    let url = format!("http://127.0.0.1:{}", server.port);
    let remote = ["--server", url.as_str()];
    assert_eq!(
        json_line(&keel_cli(dir.path(), &remote, &reuse)),
        json!({"id": "c1", "created": false})
    );
    for (id, created) in [("c1", false), ("c2", true)] {
        let signal = [
            "--json",
            "start",
            "Steps",
            "--id",
            id,
            "--event",
            "go",
            "--data",
            r#"{"by":"cli"}"#,
        ];
        assert_eq!(
            json_line(&keel_cli(dir.path(), &remote, &signal)),
            json!({"id": id, "created": created}),
            "{id}"
        );
    }
    for id in ["c1", "c2"] {
        let mut output = Value::Null;
        for _ in 0..300 {
            let status = json_line(&keel_cli(dir.path(), &remote, &["--json", "status", id]));
            if status["status"] == json!(Status::Completed) {
                output = status["output"].clone();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(output, json!(["a", {"by": "cli"}, "b"]), "{id}");
    }
    // A body the route cannot read is a coded error, and nothing starts.
    let bad = keel_cli(
        dir.path(),
        &remote,
        &[
            "start", "Steps", "--id", "c3", "--event", "go", "--data", "{nope",
        ],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("[KEEL-E1]"));
    let missing = keel_cli(dir.path(), &remote, &["status", "c3"]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("[KEEL-E4]"));
}

#[tokio::test(flavor = "multi_thread")]
async fn signal_with_start_is_refused_when_the_inbox_is_full_and_writes_nothing() {
    // No worker runs: the raised events stay in the inbox.
    let t = engine_with(&["keel_test_patterns"], |c| c.max_inbox_events = 2).await;
    let keel = &t.keel;
    keel.start("Steps", "null", Some("full")).await.unwrap();
    for n in 0..2 {
        keel.raise_event("full", "x", &n.to_string()).await.unwrap();
    }
    let refused = keel
        .start_with("Steps", "null", Some("full"), &with_event("go", "true"))
        .await;
    assert!(
        matches!(refused, Err(Error::InboxFull { limit: 2, .. })),
        "{refused:?}"
    );
    assert_eq!(
        keel.store().waiting_events("full").await.unwrap(),
        2,
        "the refused event was queued"
    );
}
