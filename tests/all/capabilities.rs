//! Grants, configuration and secrets as operators use them: the CLI on a database and through
//! `keel serve`, bad input with its codes, secrets masked in whatever an activity hands back, an
//! unopenable secret, and names reserved for Keel's built-ins.

use std::process::{Command, Output};

use keel::store::Status;
use serde_json::{Value, json};

use crate::support::{engine, engine_with, guest, guests, http, serve};

fn keel(db: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(db)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("KEEL_SECRET_KEY")
        .envs(crate::support::process_env(db))
        .output()
        .expect("running keel")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn refused(out: &Output, code: &str) -> String {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "expected a failure: {stderr}");
    assert!(stderr.contains(code), "expected {code}: {stderr}");
    stderr
}

#[test]
fn the_cli_grants_configures_and_shows_without_ever_printing_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keel.db");
    let secret = "s3cret-value-91c2";
    std::fs::write(dir.path().join("token"), format!("{secret}\n")).unwrap();
    let token = dir.path().join("token");

    ok(&keel(&db, &["grant", "Pay", "http://127.0.0.1:8080"]));
    ok(&keel(&db, &["grant", "Pay", "https://*.Example.com/"]));
    ok(&keel(
        &db,
        &[
            "config",
            "set",
            "Pay",
            "URL=http://127.0.0.1:8080/pay",
            "MODE=test",
        ],
    ));
    let set = keel(
        &db,
        &[
            "secret",
            "set",
            "Pay",
            "TOKEN",
            "--from-file",
            token.to_str().unwrap(),
        ],
    );
    ok(&set);
    // The first secret creates the key file beside the database, and says so.
    assert!(
        text(&set.stderr).contains("created the secret key file"),
        "{}",
        text(&set.stderr)
    );
    assert!(dir.path().join("keel.db.key").exists());

    let shown = ok(&keel(&db, &["config", "show", "Pay"]));
    assert!(
        shown.contains("https://*.example.com") && shown.contains("http://127.0.0.1:8080"),
        "{shown}"
    );
    assert!(
        shown.contains("URL=http://127.0.0.1:8080/pay") && shown.contains("TOKEN"),
        "{shown}"
    );
    assert!(!shown.contains(secret), "{shown}");
    let json: Value =
        serde_json::from_str(&ok(&keel(&db, &["--json", "config", "show", "Pay"]))).unwrap();
    assert_eq!(json["secrets"], json!(["TOKEN"]));
    assert_eq!(json["config"]["MODE"], "test");
    assert_eq!(json["deployed"], false);
    let grants = ok(&keel(&db, &["grants", "Pay"]));
    assert!(
        grants.contains("Pay") && grants.contains("https://*.example.com"),
        "{grants}"
    );

    ok(&keel(&db, &["revoke", "Pay", "https://*.example.com"]));
    ok(&keel(&db, &["config", "unset", "Pay", "MODE"]));
    let shown = ok(&keel(&db, &["config", "show", "Pay"]));
    assert!(
        !shown.contains("example.com") && !shown.contains("MODE"),
        "{shown}"
    );

    // Bad input, each with its code; nothing is changed.
    let err = refused(
        &keel(&db, &["revoke", "Pay", "http://nowhere.test"]),
        "[KEEL-C5]",
    );
    assert!(
        err.contains("http://127.0.0.1:8080"),
        "the held grants are listed: {err}"
    );
    for bad in [
        "127.0.0.1:8080",
        "ftp://x.test",
        "http://x.test/path",
        "http://*.com",
    ] {
        refused(&keel(&db, &["grant", "Pay", bad]), "[KEEL-C1]");
    }
    refused(
        &keel(&db, &["config", "set", "Pay", "KEEL_ATTEMPT=1"]),
        "[KEEL-C2]",
    );
    refused(&keel(&db, &["config", "set", "Pay", "1BAD=x"]), "[KEEL-C2]");
    refused(
        &keel(&db, &["config", "set", "Pay", "TOKEN=x"]),
        "[KEEL-C2]",
    );
    let big = format!("BIG={}", "x".repeat(40 * 1024));
    refused(&keel(&db, &["config", "set", "Pay", &big]), "[KEEL-C3]");
    let missing = keel(
        &db,
        &[
            "secret",
            "set",
            "Pay",
            "X",
            "--from-file",
            "/nonexistent/file",
        ],
    );
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("/nonexistent/file"),
        "{}",
        text(&missing.stderr)
    );
    let shown = ok(&keel(&db, &["--json", "config", "show", "Pay"]));
    assert!(
        !shown.contains("BIG") && !shown.contains("\"X\""),
        "{shown}"
    );

    ok(&keel(&db, &["secret", "unset", "Pay", "TOKEN"]));
    refused(
        &keel(&db, &["secret", "unset", "Pay", "TOKEN"]),
        "[KEEL-C5]",
    );

    // The database never held the value in clear.
    let mut bytes = std::fs::read(&db).unwrap();
    bytes.extend(std::fs::read(dir.path().join("keel.db-wal")).unwrap_or_default());
    assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_commands_work_through_keel_serve_and_its_api_never_answers_a_secret() {
    let t = engine(&["http_calls"]).await;
    let server = serve(&t.db(), "tok-api-caps");
    let url = format!("http://127.0.0.1:{}", server.port);
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("s");
    std::fs::write(&secret_file, "remote-secret-7d21").unwrap();
    let remote = move |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["--server", &url])
            .args(args)
            .env("KEEL_API_TOKEN", "tok-api-caps")
            .output()
            .expect("running keel")
    };
    let out = tokio::task::spawn_blocking({
        let secret_file = secret_file.clone();
        move || {
            let grant = remote(&["grant", "Fetch", "http://127.0.0.1:9"]);
            let config = remote(&["config", "set", "Fetch", "BASE_URL=http://127.0.0.1:9"]);
            let secret = remote(&[
                "secret",
                "set",
                "Fetch",
                "API_TOKEN",
                "--from-file",
                secret_file.to_str().unwrap(),
            ]);
            let show = remote(&["--json", "config", "show", "Fetch"]);
            let bad = remote(&["grant", "Fetch", "http://x.test/path"]);
            (grant, config, secret, show, bad)
        }
    })
    .await
    .unwrap();
    ok(&out.0);
    ok(&out.1);
    ok(&out.2);
    let shown: Value = serde_json::from_str(&ok(&out.3)).unwrap();
    assert_eq!(shown["grants"], json!(["http://127.0.0.1:9"]));
    assert_eq!(shown["secrets"], json!(["API_TOKEN"]));
    assert_eq!(shown["deployed"], true);
    refused(&out.4, "[KEEL-C1]");
    assert!(
        text(&out.4.stderr).contains("invalid_grant"),
        "{}",
        text(&out.4.stderr)
    );

    // The API: a value in, never out.
    let (status, body) = http(
        server.port,
        "GET",
        "/api/functions/Fetch/capabilities",
        b"",
        "tok-api-caps",
    );
    assert_eq!(status, 200);
    assert!(!body.contains("remote-secret-7d21"), "{body}");
    let (status, body) = http(
        server.port,
        "PUT",
        "/api/functions/Fetch/config/%20bad",
        b"x",
        "tok-api-caps",
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_name"), "{body}");
    let big = vec![b'x'; 64 * 1024];
    let (status, _) = http(
        server.port,
        "PUT",
        "/api/functions/Fetch/secrets/BIG",
        &big,
        "tok-api-caps",
    );
    assert_eq!(status, 413);
    let (status, body) = http(
        server.port,
        "DELETE",
        "/api/functions/Fetch/secrets/NOPE",
        b"",
        "tok-api-caps",
    );
    assert_eq!(status, 404, "{body}");
    let declared = json!({"grants": ["http://127.0.0.1:10"], "config": {"A": "1"}, "secrets": {"S": "declared-secret-1"}});
    let (status, body) = http(
        server.port,
        "PUT",
        "/api/functions/Fetch/capabilities",
        declared.to_string().as_bytes(),
        "tok-api-caps",
    );
    assert_eq!(status, 200, "{body}");
    let shown = t.keel.capabilities("Fetch").await.unwrap();
    assert_eq!(shown.grants, ["http://127.0.0.1:10"]);
    assert_eq!(shown.config.keys().collect::<Vec<_>>(), ["A"]);
    assert_eq!(shown.secrets, ["API_TOKEN", "S"]);
}

/// Runs the patterns fixture's `Leak` activity through `keel run`, holding secret `SECRET`.
fn leak(fail: bool) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let value = "leaky-secret-4f0a9";
    std::fs::write(dir.path().join("v"), value).unwrap();
    ok(&keel(
        &db,
        &[
            "secret",
            "set",
            "Leak",
            "SECRET",
            "--from-file",
            dir.path().join("v").to_str().unwrap(),
        ],
    ));
    let module = guests().join("keel_test_patterns.wasm");
    let input = json!({"activity": "Leak", "input": {"var": "SECRET", "fail": fail}}).to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(&db)
        .envs(crate::support::process_env(&db))
        .args(["--json", "run"])
        .arg(module)
        .args(["-o", "Call", "-i", &input])
        .env("RUST_LOG", "info")
        .output()
        .expect("running keel");
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let mut everything = stdout.clone();
    everything.push_str(&stderr);
    assert!(
        !crate::raw_db::holds(&db, value),
        "the secret reached the database"
    );
    assert!(
        !everything.contains(value),
        "the secret was printed: {everything}"
    );
    // `--json run` prints the deploy, then the instance.
    let last = stdout.lines().last().unwrap_or_default();
    let instance: Value = serde_json::from_str(last).expect("the instance as JSON");
    (instance["output"].clone(), stderr)
}

#[test]
fn secrets_are_masked_in_an_activitys_output_failure_and_log_lines() {
    let (output, log) = leak(false);
    assert_eq!(
        output,
        json!({"ok": {"value": "[redacted]", "nested": ["x[redacted]x"]}})
    );
    assert!(log.contains("the value of SECRET is [redacted]"), "{log}");
    assert!(log.contains("stderr also gets [redacted]"), "{log}");
    let (output, _) = leak(true);
    assert_eq!(output["kind"], "Leaked");
    assert_eq!(output["message"], "failed holding [redacted]");
    assert_eq!(output["details"], json!({"value": "[redacted]"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_the_key_cannot_open_fails_the_attempt_with_a_coded_error() {
    // A key file (also on PostgreSQL, where the tests' key is otherwise given inline).
    let keys = tempfile::tempdir().unwrap();
    let t = engine_with(&["keel_test_patterns"], |c| {
        c.secret_key.inline = None;
        c.secret_key.file = keys.path().join("keel.key");
    })
    .await;
    t.keel
        .set_secret("Leak", "SECRET", "held-value-31")
        .await
        .unwrap();
    let key = t.config.secret_key.file.clone();
    assert!(key.exists());
    let call = json!({"activity": "Leak", "input": {"var": "SECRET"}}).to_string();

    // The key file is gone: every attempt that needs it fails, naming the file.
    std::fs::rename(&key, key.with_extension("moved")).unwrap();
    let id = t.keel.start("Call", &call, None).await.unwrap();
    let instance = crate::support::finish(&t.keel, id.as_str()).await;
    assert_eq!(instance.status, Status::Completed);
    let output = instance.output.unwrap();
    assert_eq!(output["kind"], "SecretUnavailable", "{output}");
    let message = output["message"].as_str().unwrap();
    assert!(
        message.contains("[KEEL-C4]") && message.contains(&key.display().to_string()),
        "{message}"
    );

    // Another key: the secret was sealed with a different one, and both fingerprints are named.
    std::fs::write(&key, "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n").unwrap();
    let id = t.keel.start("Call", &call, None).await.unwrap();
    let instance = crate::support::finish(&t.keel, id.as_str()).await;
    let output = instance.output.unwrap();
    assert_eq!(output["kind"], "SecretUnavailable", "{output}");
    assert!(
        output["message"]
            .as_str()
            .unwrap()
            .contains("sealed with key"),
        "{output}"
    );

    // The right key back: the same call works without a restart.
    std::fs::rename(key.with_extension("moved"), &key).unwrap();
    let id = t.keel.start("Call", &call, None).await.unwrap();
    let instance = crate::support::finish(&t.keel, id.as_str()).await;
    assert_eq!(instance.output.unwrap()["ok"]["value"], "[redacted]");
}

#[tokio::test(flavor = "multi_thread")]
async fn names_of_keel_builtins_cannot_be_deployed() {
    let t = engine(&[]).await;
    let err = t
        .keel
        .deploy(guest("reserved_name"), None)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("[KEEL-M8]") && text.contains("keel.http"),
        "{text}"
    );
    assert!(t.keel.functions().await.unwrap().is_empty());
}
