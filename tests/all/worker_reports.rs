//! Workers report on the database they run on: `keel workers` lists the running ones, a worker that
//! stops removes its report, and `keel start` says so when no worker runs, since nothing will run
//! the instance until one does.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cli::{keel, text};
use crate::multi_worker::Worker;
use crate::support::guests;

/// `keel --json workers`, decoded.
fn workers(db: &Path) -> Vec<Value> {
    let out = keel(db, &["--json", "workers"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("keel workers --json prints a JSON array")
}

fn start(db: &Path, id: &str) -> Output {
    let input = format!(r#"{{"requestId":"{id}","timeoutMs":600000}}"#);
    let out = keel(db, &["start", "Approval", "--input", &input, "--id", id]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), id);
    out
}

#[test]
fn keel_start_says_when_no_worker_runs_and_keel_workers_lists_the_running_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("approval.wasm");
    let out = keel(&db, &["deploy", module.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // No worker ever ran here: the start succeeds and says that nothing will run the instance yet.
    assert_eq!(workers(&db), Vec::<Value>::new());
    let out = start(&db, "before");
    let hint = text(&out.stderr);
    assert!(
        hint.contains("no worker has reported on this database")
            && hint.contains("nothing runs before yet")
            && hint.contains("keel worker"),
        "{hint}"
    );
    let out = keel(&db, &["workers"]);
    assert!(
        text(&out.stderr).contains("no worker has reported on this database"),
        "{}",
        text(&out.stderr)
    );

    // A worker reports as soon as it runs, with this machine's process id.
    let worker = Worker::start(&db, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let listed = workers(&db);
        if !listed.is_empty() || Instant::now() > deadline {
            break listed;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(listed.len(), 1, "{listed:?}");
    let reported = &listed[0];
    assert_eq!(reported["pid"], worker.pid(), "{reported}");
    assert!(
        reported["owner"].as_str().unwrap().starts_with("worker-"),
        "{reported}"
    );
    assert_eq!(reported["version"], env!("CARGO_PKG_VERSION"));
    assert!(reported["seenMs"].as_u64() >= reported["startedMs"].as_u64());
    let table = text(&keel(&db, &["workers"]).stdout);
    assert!(
        table.starts_with("WORKER") && table.contains(reported["owner"].as_str().unwrap()),
        "{table}"
    );

    // With it running, a start prints the id and nothing else; the worker takes the instance up.
    let out = start(&db, "after");
    assert_eq!(text(&out.stderr), "", "no hint while a worker runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let history = text(&keel(&db, &["history", "after"]).stdout);
        if history.contains("EventAwaited") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker did not run the instance"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // A worker that stops removes its report.
    worker.stop();
    assert_eq!(workers(&db), Vec::<Value>::new());
    let out = start(&db, "stopped");
    assert!(
        text(&out.stderr).contains("no worker has reported"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn keel_workers_through_a_server_lists_the_servers_own_worker() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let server = crate::support::serve(&db, "tok-workers");
    let url = format!("http://127.0.0.1:{}", server.port);
    let remote = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["--server", &url])
            .args(args)
            .env_remove("KEEL_DB")
            .env("KEEL_API_TOKEN", "tok-workers")
            .env("RUST_LOG", "warn")
            .output()
            .expect("running keel --server")
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed: Vec<Value> = loop {
        let out = remote(&["--json", "workers"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        if !listed.is_empty() || Instant::now() > deadline {
            break listed;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The server runs a worker of its own, and reports it like any other.
    assert_eq!(listed.len(), 1, "{listed:?}");
    let local = workers(&db);
    assert_eq!(
        listed[0]["owner"], local[0]["owner"],
        "the server and the database agree"
    );
    let table = text(&remote(&["workers"]).stdout);
    assert!(
        table.starts_with("WORKER") && table.contains(listed[0]["owner"].as_str().unwrap()),
        "{table}"
    );
}
