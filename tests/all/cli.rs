//! The `keel` binary as a user runs it: `run` prints the output and exits 0, `history` lists the
//! events, failures exit non-zero with the failure printed, and a separate worker process picks up
//! instances started and events raised from other processes.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::support::guests;

/// `keel --db DB ARGS`, logging warnings only; shared by the tests that run the binary on a database.
pub(crate) fn keel(db: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(db)
        .envs(crate::support::process_env(db))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running keel")
}

/// Output bytes as text, for assertions and messages.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn keel_run_completes_the_order_and_history_shows_the_steps() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("order_processing.wasm");
    // The activities' grants, configuration and secret, with the commands a user types.
    let shop = crate::support::Shop::start("tok-cli");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "tok-cli\n").unwrap();
    for args in [
        vec!["grant", "VerifyPayment", shop.url.as_str()],
        vec!["grant", "SendConfirmationEmail", shop.url.as_str()],
    ] {
        let out = keel(&db, &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        // Nobody deployed these functions yet: a warning, not an error.
        assert!(
            text(&out.stderr).contains("warning: no deployed module provides"),
            "{}",
            text(&out.stderr)
        );
    }
    let payment_url = format!("PAYMENT_URL={}/payments", shop.url);
    let mail_url = format!("MAIL_URL={}/mail", shop.url);
    for args in [
        vec!["config", "set", "VerifyPayment", payment_url.as_str()],
        vec!["config", "set", "SendConfirmationEmail", mail_url.as_str()],
        vec![
            "secret",
            "set",
            "VerifyPayment",
            "PAYMENT_TOKEN",
            "--from-file",
            token_file.to_str().unwrap(),
        ],
    ] {
        let out = keel(&db, &args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let out = keel(
        &db,
        &[
            "run",
            module.to_str().unwrap(),
            "--orchestrator",
            "ProcessOrder",
            "--input",
            r#"{"orderId":"order-42","amount":25.0,"items":["book"]}"#,
            "--id",
            "order-42",
        ],
    );
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Completed"), "{stdout}");
    assert!(
        stdout.contains(r#""trackingNumber":"TRK-order-42""#),
        "{stdout}"
    );

    let out = keel(&db, &["history", "order-42"]);
    assert!(out.status.success());
    let history = text(&out.stdout);
    let order: Vec<usize> = [
        "ExecutionStarted",
        "VerifyPayment",
        "CheckInventory",
        "ShipOrder",
        "SendConfirmationEmail",
        "ExecutionCompleted",
    ]
    .iter()
    .map(|needle| {
        history
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} missing from\n{history}"))
    })
    .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "events out of order:\n{history}"
    );

    let out = keel(&db, &["--json", "status", "order-42"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["status"], "Completed");
}

#[test]
fn keel_run_of_a_failing_order_exits_non_zero_with_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("order_processing.wasm");
    let out = keel(
        &db,
        &[
            "run",
            module.to_str().unwrap(),
            "-o",
            "ProcessOrder",
            "-i",
            r#"{"orderId":"order-9","amount":-1,"items":["book"]}"#,
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("PaymentFailed"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn a_worker_process_picks_up_starts_and_events_from_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("approval.wasm");
    assert!(
        keel(&db, &["deploy", module.to_str().unwrap()])
            .status
            .success()
    );
    let mut worker = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(&db)
        .envs(crate::support::process_env(&db))
        .arg("worker")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = keel(
        &db,
        &[
            "start",
            "Approval",
            "--input",
            r#"{"requestId":"r-9","timeoutMs":600000}"#,
            "--id",
            "r-9",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "r-9");
    let wait_for = |predicate: &dyn Fn(&str) -> bool| {
        for _ in 0..500 {
            let out = keel(&db, &["history", "r-9"]);
            if predicate(&text(&out.stdout)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the worker did not pick the instance up");
    };
    wait_for(&|h| h.contains("EventAwaited"));
    let out = keel(
        &db,
        &["raise", "r-9", "Approved", "--data", r#"{"by":"bob"}"#],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    wait_for(&|h| h.contains("ExecutionCompleted"));
    worker.kill().ok();
    worker.wait().ok();
    let out = keel(&db, &["--json", "status", "r-9"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["output"]["approvedBy"], "bob");
}

/// Runs keel with its stdout a pipe whose reading end is already closed, as in `keel list | head -0`.
fn keel_into_closed_pipe(db: &std::path::Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(db)
        .envs(crate::support::process_env(db))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("running keel")
}

#[test]
fn a_closed_stdout_pipe_ends_every_command_quietly() {
    use std::os::unix::process::ExitStatusExt as _;
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("approval.wasm");
    let out = keel(&db, &["deploy", module.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for args in [
        &["list"][..],
        &["--json", "list"],
        &["modules"],
        &["modules", "show", "Approval"],
        &["grants"],
    ] {
        let out = keel_into_closed_pipe(&db, args);
        let stderr = text(&out.stderr);
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "{args:?}: {stderr}"
        );
        // Success, or the quiet end of a Unix tool whose reader went away: killed by SIGPIPE (13).
        assert!(
            out.status.success() || out.status.signal() == Some(13),
            "{args:?} ended with {:?}: {stderr}",
            out.status
        );
    }
}

#[test]
fn a_database_in_a_missing_directory_is_one_coded_error_naming_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing-dir").join("x");
    let out = keel(&missing.join("keel.db"), &["list"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("[KEEL-E11]"), "{stderr}");
    assert!(
        stderr.contains(&format!("{} does not exist", missing.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("unable to open database file"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        !dir.path().join("missing-dir").exists(),
        "nothing is created"
    );
}

/// The `deploy` line keel printed on stderr for `path`.
fn deploy_line(out: &Output) -> String {
    text(&out.stderr)
        .lines()
        .find(|l| l.contains("version"))
        .unwrap_or_else(|| panic!("no deploy line in {}", text(&out.stderr)))
        .to_owned()
}

#[test]
fn a_version_label_given_for_known_bytes_is_recorded_and_activates() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("approval.wasm");
    let module = module.to_str().unwrap();
    let out = keel(&db, &["deploy", module]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        deploy_line(&out).contains("version 1"),
        "{}",
        deploy_line(&out)
    );
    let out = keel(&db, &["deploy", module, "--version", "9.9.9"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(deploy_line(&out).contains("9.9.9"), "{}", deploy_line(&out));

    // Both labels name the one module.
    let out = keel(&db, &["--json", "modules", "show", "Approval"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let versions: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 1, "one module: {versions:?}");
    assert_eq!(
        versions[0]["labels"],
        serde_json::json!(["1", "9.9.9"]),
        "{versions:?}"
    );
    let out = keel(&db, &["modules"]);
    assert!(text(&out.stdout).contains("9.9.9"), "{}", text(&out.stdout));
    for name in ["Approval@9.9.9", "Approval@1"] {
        let out = keel(&db, &["activate", name]);
        assert!(out.status.success(), "{name}: {}", text(&out.stderr));
    }
}

#[test]
fn running_an_unchanged_module_again_keeps_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("order_processing.wasm");
    for _ in 0..2 {
        let out = keel(
            &db,
            &[
                "run",
                module.to_str().unwrap(),
                "-o",
                "ProcessOrder",
                "-i",
                r#"{"orderId":"order-9","amount":-1,"items":["book"]}"#,
            ],
        );
        let line = deploy_line(&out);
        assert!(
            line.contains("version 1") && !line.contains("version 2"),
            "{line}"
        );
    }
    let out = keel(&db, &["--json", "modules"]);
    let modules: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let labels: Vec<&serde_json::Value> = modules["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["labels"])
        .collect();
    assert_eq!(labels, [&serde_json::json!(["1"])]);
}

#[test]
fn the_default_version_counts_per_function() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    for module in ["approval", "fan_out", "versioned_v1", "versioned_v2"] {
        let path = guests().join(format!("{module}.wasm"));
        let out = keel(&db, &["deploy", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let expected = if module == "versioned_v2" {
            "version 2"
        } else {
            "version 1"
        };
        assert!(
            deploy_line(&out).contains(expected),
            "{module}: {}",
            deploy_line(&out)
        );
    }
    let out = keel(&db, &["activate", "Stamp@1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = keel(&db, &["activate", "FanOut@1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn a_label_that_names_other_bytes_of_the_same_function_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let v1 = guests().join("versioned_v1.wasm");
    let v2 = guests().join("versioned_v2.wasm");
    let out = keel(&db, &["deploy", v1.to_str().unwrap(), "--version", "1.0.0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = keel(&db, &["deploy", v2.to_str().unwrap(), "--version", "1.0.0"]);
    assert!(!out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[KEEL-M9]") && stderr.contains("version 1.0.0 of"),
        "{stderr}"
    );
    // Nothing was stored: 1.0.0 still names the one module, and it stays active.
    let out = keel(&db, &["--json", "modules"]);
    let modules: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(modules["modules"].as_array().unwrap().len(), 1, "{modules}");
    // The same bytes under a label of their own are fine.
    let out = keel(&db, &["deploy", v2.to_str().unwrap(), "--version", "2.0.0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Starts `Drift` of the versioned fixture as `drift` and runs a worker process until it waits for
/// its event: an instance no other module of the fixture can take over.
fn drift_waiting(db: &std::path::Path) {
    let v1 = guests().join("versioned_v1.wasm");
    let out = keel(db, &["deploy", v1.to_str().unwrap(), "--version", "1.0.0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = keel(db, &["start", "Drift", "--id", "drift"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut worker = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(db)
        .envs(crate::support::process_env(db))
        .arg("worker")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut waiting = false;
    for _ in 0..500 {
        if text(&keel(db, &["history", "drift"]).stdout).contains("EventAwaited") {
            waiting = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    worker.kill().ok();
    worker.wait().ok();
    assert!(waiting, "the worker did not run Drift");
}

#[test]
fn an_upgrade_that_moves_nothing_does_not_activate_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    drift_waiting(&db);
    let v2 = guests().join("versioned_v2.wasm");
    let out = keel(
        &db,
        &["upgrade", v2.to_str().unwrap(), "--version", "3.0.0"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("not activated"), "{said}");
    let out = keel(&db, &["--json", "modules", "show", "Drift"]);
    let versions: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let active: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["active"] == true)
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(active, ["1.0.0"], "{versions}");
    // It is deployed all the same, and can be activated by hand.
    let out = keel(&db, &["activate", "Drift@3.0.0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn activate_names_what_exists_when_the_version_or_function_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let v1 = guests().join("versioned_v1.wasm");
    let out = keel(&db, &["deploy", v1.to_str().unwrap(), "--version", "1.0.0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = keel(&db, &["activate", "Drift", "1.0"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[KEEL-E13]") && stderr.contains("\"1.0\"") && stderr.contains("1.0.0"),
        "{stderr}"
    );

    let out = keel(&db, &["activate", "Nope@1"]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[KEEL-E12]") && stderr.contains("no function named \"Nope\""),
        "{stderr}"
    );
}

#[test]
fn modules_show_counts_pinned_instances_for_orchestrators_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    drift_waiting(&db);
    let show = |name: &str| {
        let out = keel(&db, &["--json", "modules", "show", name]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(show("Drift")[0]["pinned"], 1);
    let stamp = show("Stamp");
    assert!(stamp[0].get("pinned").is_none(), "{stamp}");
    let out = keel(&db, &["modules", "show", "Stamp"]);
    let shown = text(&out.stdout);
    let row = shown.lines().nth(1).unwrap_or_default();
    assert!(
        !row.contains(" 1 "),
        "an activity's row shows no pinned count: {shown}"
    );
}
