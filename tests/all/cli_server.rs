//! `keel --server URL <command>` against a real `keel serve`, beside the same command on the server's
//! database: both print the same lines and the same coded errors, and a command that cannot be sent to
//! a server says so instead of quietly opening a local database.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::serve;

const TOKEN: &str = "tok-cli-server";

/// `keel --db DB ARGS` in `dir`, without any server.
fn local(dir: &Path, db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .current_dir(dir)
        .arg("--db")
        .arg(db)
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

#[test]
fn status_of_an_unknown_instance_is_keel_e4_locally_and_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keel.db");
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
