//! The test kit (`keel test`): every example's scenarios pass against every language's build, a
//! scenario that does not hold fails with each mismatch named, and one the engine cannot run is a
//! coded error.

use std::path::{Path, PathBuf};

use keel::cli::build::Lang;

use super::EXAMPLES;
use super::builds::{keel_command, module_path, repo_root};

/// The scenario files of `example`.
fn scenarios(example: &str) -> Vec<PathBuf> {
    let dir = repo_root()
        .join("guest-examples")
        .join(example)
        .join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} has no scenario", dir.display());
    files
}

/// `keel test` of `files` against `module`, in a directory of its own that it must leave as it
/// found it: (success, stdout, stderr).
fn keel_test(files: &[PathBuf], module: Option<&Path>) -> (bool, String, String) {
    let cwd = tempfile::tempdir().expect("temporary directory");
    let mut command = keel_command();
    command.current_dir(cwd.path());
    // The compiled modules go to the user's cache: here one of the test run's own.
    command
        .arg("test")
        .args(files)
        .env("RUST_LOG", "warn")
        .env("XDG_CACHE_HOME", crate::support::xdg_cache_home());
    if let Some(module) = module {
        command.arg("--module").arg(module);
    }
    let out = command.output().expect("running keel test");
    let left: Vec<_> = std::fs::read_dir(cwd.path())
        .expect("the directory")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert!(left.is_empty(), "keel test left {left:?} in its directory");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) async fn every_example_s_scenarios_pass(lang: Lang) {
    for (example, artefact) in EXAMPLES {
        let files = scenarios(example);
        let module = module_path(lang, artefact);
        let (ok, stdout, stderr) = keel_test(&files, Some(&module));
        assert!(ok, "{lang} {example}:\n{stdout}{stderr}");
        assert_eq!(
            stdout.lines().filter(|l| l.starts_with("ok ")).count(),
            files.len(),
            "{lang} {example}:\n{stdout}"
        );
    }
}

/// Writes `scenario` into `dir` and returns its path.
fn write(dir: &Path, name: &str, scenario: &serde_json::Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, scenario.to_string()).unwrap();
    path
}

#[test]
fn a_scenario_that_does_not_hold_fails_naming_each_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let module = module_path(Lang::Rust, "approval");
    let wrong = write(
        dir.path(),
        "wrong.json",
        &serde_json::json!({
            "orchestrator": "Approval",
            "input": {"requestId": "r", "timeoutMs": 3_600_000},
            "expect": {"output": {"outcome": "approved"}, "activities": ["ApplyChange"],
                       "logs": ["approved by"]},
        }),
    );
    // A mocked activity's failure reaches the orchestrator like a real one.
    let declined = write(
        dir.path(),
        "declined.json",
        &serde_json::json!({
            "orchestrator": "Approval",
            "input": {"requestId": "r", "timeoutMs": 1000},
            "mocks": {"Escalate": {"failure": {"kind": "Down", "message": "no"}}},
            "expect": {"status": "Failed"},
        }),
    );
    let (ok, stdout, stderr) = keel_test(&[wrong, declined], Some(&module));
    assert!(!ok, "{stdout}{stderr}");
    assert!(stdout.contains("FAIL wrong"), "{stdout}");
    assert!(
        stdout.contains(r#"output: expected {"outcome":"approved"}, got {"requestId":"r","outcome":"escalated"}"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"activities: expected ["ApplyChange"], got ["Escalate"]"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"logs: no line contains "approved by""#),
        "{stdout}"
    );
    // An hour of orchestration time went by in no time.
    assert!(
        stdout.contains("1 h of orchestration time skipped"),
        "{stdout}"
    );
    // The mocked escalation fails the instance, as the scenario expects.
    assert!(stdout.contains("ok   declined"), "{stdout}");
    assert!(
        stdout.contains("2 scenario(s): 1 passed, 1 failed"),
        "{stdout}"
    );

    let waits = write(
        dir.path(),
        "waits.json",
        &serde_json::json!({
            "orchestrator": "Approval",
            "input": {"requestId": "r", "timeoutMs": 1000},
            "mocks": {"Escalate": {"output": null}},
            "events": [{"name": "Approved", "data": {"by": "al"}, "when": "start"}],
        }),
    );
    let (ok, stdout, _) = keel_test(&[waits], Some(&module));
    assert!(
        ok,
        "an event raised at the start waits for the orchestrator:\n{stdout}"
    );

    // Waits for an event the scenario does not raise: it says which, at once.
    let stuck = write(
        dir.path(),
        "stuck.json",
        &serde_json::json!({"modules": ["keel_test_patterns.wasm"], "orchestrator": "WaitForEvent"}),
    );
    let patterns = crate::support::guests().join("keel_test_patterns.wasm");
    std::fs::copy(&patterns, dir.path().join("keel_test_patterns.wasm")).unwrap();
    let (ok, stdout, _) = keel_test(&[stuck], None);
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("the instance waits for event Go, and nothing in the scenario will come"),
        "{stdout}"
    );

    let bad = write(
        dir.path(),
        "bad.json",
        &serde_json::json!({"orchestrator": "Approval", "mocks": {"A": {"outptu": 1}}}),
    );
    let (ok, _, stderr) = keel_test(&[bad], Some(&module));
    assert!(!ok);
    assert!(
        stderr.contains("[KEEL-E18]") && stderr.contains("mock A"),
        "{stderr}"
    );
    let typo = write(
        dir.path(),
        "typo.json",
        &serde_json::json!({"orchestrator": "Approval", "expcet": {}}),
    );
    let (ok, _, stderr) = keel_test(&[typo], Some(&module));
    assert!(!ok);
    assert!(
        stderr.contains("[KEEL-E18]") && stderr.contains("expcet"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rust_test_runs_a_scenario_through_the_library() {
    let file = repo_root().join("guest-examples/approval/scenarios/approved.json");
    let module = module_path(Lang::Rust, "approval");
    let config = keel::Config::new("unused.db");
    let outcome = keel::testkit::run_file(&file, &[module], config)
        .await
        .expect("the scenario runs");
    assert!(outcome.passed(), "{:?}", outcome.mismatches);
    let instance = outcome.instance.expect("the instance");
    assert_eq!(instance.output.unwrap()["approvedBy"], "alice");
}
