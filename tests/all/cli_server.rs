//! `keel --server URL <command>` against a real `keel serve`, beside the same command on the server's
//! database: both print the same lines and the same coded errors, and a command that cannot be sent to
//! a server says so instead of quietly opening a local database.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::support::{guests, serve};

const TOKEN: &str = "tok-cli-server";

/// `keel --db DB ARGS` in `dir`, without any server.
fn local(dir: &Path, db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .current_dir(dir)
        .arg("--db")
        .arg(db)
        .envs(crate::support::process_env(db))
        .args(args)
        .env_remove("KEEL_SERVER")
        .env_remove("KEEL_DB")
        .env("RUST_LOG", "warn")
        .output()
        .expect("running keel")
}

/// `keel --server URL ARGS` in `dir`, with the server's token and no `--db`.
fn remote(dir: &Path, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .current_dir(dir)
        .args(["--server", url])
        .args(args)
        .env_remove("KEEL_DB")
        .env("KEEL_API_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running keel --server")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts the command succeeded and returns its stdout.
fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn status_of_an_unknown_instance_is_keel_e4_locally_and_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let out = local(dir.path(), &db, &["status", "nope"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("[KEEL-E4]"),
        "{}",
        text(&out.stderr)
    );

    let server = serve(&db, TOKEN);
    let url = format!("http://127.0.0.1:{}", server.port);
    let out = remote(dir.path(), &url, &["status", "nope"]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains("[KEEL-E4]"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn history_status_and_list_print_the_same_lines_locally_and_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let server = serve(&db, TOKEN);
    let url = format!("http://127.0.0.1:{}", server.port);
    let module = guests().join("fan_out.wasm");
    ok(&remote(
        dir.path(),
        &url,
        &["deploy", module.to_str().unwrap()],
    ));
    let started = ok(&remote(
        dir.path(),
        &url,
        &["start", "FanOut", "--id", "f1", "--input", r#"{"count":3}"#],
    ));
    assert_eq!(started.trim(), "f1");
    let mut completed = false;
    for _ in 0..600 {
        let status: Value =
            serde_json::from_str(&ok(&remote(dir.path(), &url, &["--json", "status", "f1"])))
                .expect("status JSON");
        if status["status"] == "Completed" {
            completed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(completed, "f1 never completed");

    // The server's database is SQLite: a second process reads it while the server runs.
    for args in [
        &["history", "f1"][..],
        &["status", "f1"],
        &["list"],
        &["--json", "history", "f1"],
        &["--json", "status", "f1"],
    ] {
        let here = ok(&local(dir.path(), &db, args));
        let there = ok(&remote(dir.path(), &url, args));
        assert!(!here.trim().is_empty(), "{args:?} printed nothing");
        assert_eq!(
            here.lines().collect::<Vec<_>>(),
            there.lines().collect::<Vec<_>>(),
            "{args:?}"
        );
    }
    let history = ok(&local(dir.path(), &db, &["history", "f1"]));
    assert!(!history.contains(r#"{"timeMs""#), "{history}");

    // An export through the server is the same file as one from the database, and it replays.
    ok(&local(
        dir.path(),
        &db,
        &["history", "f1", "--export", "here.json"],
    ));
    ok(&remote(
        dir.path(),
        &url,
        &["history", "f1", "--export", "there.json"],
    ));
    let here = std::fs::read_to_string(dir.path().join("here.json")).unwrap();
    let there = std::fs::read_to_string(dir.path().join("there.json")).unwrap();
    assert_eq!(here, there);
    assert!(here.contains("\"ExecutionCompleted\""), "{here}");
    let replayed = ok(&local(
        dir.path(),
        &db,
        &["replay", "there.json", module.to_str().unwrap()],
    ));
    assert!(replayed.contains("replays against"), "{replayed}");
}

#[test]
fn a_server_behind_https_is_reached_when_its_certificate_is_trusted_and_refused_when_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let server = serve(&db, TOKEN);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let front = runtime.block_on(crate::tls_front::TlsFront::start(server.port, dir.path()));
    let module = guests().join("fan_out.wasm");

    let trusted = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keel"));
        command
            .current_dir(dir.path())
            .args(["--server", &front.url()])
            .args(args)
            .env_remove("KEEL_DB")
            .env("KEEL_API_TOKEN", TOKEN)
            .env("SSL_CERT_FILE", &front.ca_file)
            .env("RUST_LOG", "warn");
        command.output().expect("running keel --server https://")
    };
    ok(&trusted(&["deploy", module.to_str().unwrap()]));
    let started = ok(&trusted(&[
        "start",
        "FanOut",
        "--id",
        "tls-1",
        "--input",
        r#"{"count":2}"#,
    ]));
    assert_eq!(started.trim(), "tls-1");
    // The server runs it: compare the listings once it has ended, so that both see one status.
    let mut completed = false;
    for _ in 0..600 {
        let status: Value = serde_json::from_str(&ok(&trusted(&["--json", "status", "tls-1"])))
            .expect("status JSON");
        if status["status"] == "Completed" {
            completed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(completed, "tls-1 never completed");
    assert_eq!(
        ok(&trusted(&["list"])),
        ok(&local(dir.path(), &db, &["list"]))
    );

    // Without the test's certificate in the trust store, the handshake fails and says why.
    let untrusted = remote(dir.path(), &front.url(), &["list"]);
    assert!(!untrusted.status.success(), "{}", text(&untrusted.stdout));
    let stderr = text(&untrusted.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
    assert!(
        stderr.contains(&format!("localhost:{}", front.port)),
        "{stderr}"
    );
}

/// Asserts that `keel --server URL ARGS` fails with `KEEL-E14` and leaves no `./keel.db` behind.
fn refused(args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens there: the command must be refused before any connection is tried.
    let out = remote(dir.path(), "http://127.0.0.1:9", args);
    assert!(!out.status.success(), "{args:?}: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("[KEEL-E14]"), "{args:?}: {stderr}");
    assert!(
        !dir.path().join("keel.db").exists(),
        "{args:?} opened a local database"
    );
}

#[test]
fn commands_that_cannot_go_to_a_server_say_so_instead_of_using_a_local_database() {
    let module = guests().join("fan_out.wasm");
    let module = module.to_str().unwrap();
    refused(&[
        "run",
        module,
        "--orchestrator",
        "FanOut",
        "--input",
        r#"{"count":1}"#,
    ]);
    refused(&["worker"]);
    refused(&["serve", "--listen", "127.0.0.1:0"]);
    refused(&["activate", "FanOut@1"]);
    refused(&["upgrade", "--check", module]);
    refused(&["modules", "gc", "--dry-run"]);
}
