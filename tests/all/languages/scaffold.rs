//! `keel new`, `keel build` and `keel run` end to end, through the real binary: the skeleton of every
//! language builds as written and its orchestrator gives the documented output.

use std::path::Path;
use std::process::Command;

use keel::cli::build::Lang;
use serde_json::{Value, json};

use super::builds::keel_command;
use crate::support::target_dir;

/// Runs `cmd`, asserting success, and returns its standard output.
pub(crate) fn ok(cmd: &mut Command, what: &str) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `keel` in `dir`, with the SDKs of the checkout it was built from and, for Rust, a target
/// directory shared by every run so that the skeleton's dependencies compile once.
pub(crate) fn keel(dir: &Path) -> Command {
    let mut cmd = keel_command();
    cmd.current_dir(dir)
        .env_remove("KEEL_SDK_DIR")
        .env_remove("KEEL_DB")
        .env_remove("RUSTFLAGS")
        .env("CARGO_TARGET_DIR", target_dir().join("keel-new-guests"));
    cmd
}

pub(crate) async fn keel_new_builds_and_runs(lang: Lang) {
    let work = tempfile::tempdir().expect("temporary directory");
    let name = format!("hello-{lang}");
    ok(
        keel(work.path()).args(["new", "--lang", lang.as_str(), &name]),
        "keel new",
    );
    let module = work.path().join(&name);
    assert!(module.join("README.md").is_file(), "{lang}: no README");
    // The language is detected from what `keel new` wrote.
    ok(keel(&module).arg("build"), "keel build");
    let wasm = module.join(format!("{name}.wasm"));
    assert!(
        wasm.is_file(),
        "{lang}: keel build wrote no {}",
        wasm.display()
    );
    let stdout = ok(
        keel(&module).args([
            "--json",
            "--db",
            "keel.db",
            "run",
            &format!("{name}.wasm"),
            "--orchestrator",
            keel::cli::new::ORCHESTRATOR,
            "--input",
            keel::cli::new::SAMPLE_INPUT,
        ]),
        "keel run",
    );
    let instance: Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .find(|v| v.get("status").is_some())
        .unwrap_or_else(|| panic!("{lang}: keel run printed no instance:\n{stdout}"));
    assert_eq!(instance["status"], "Completed", "{lang}: {instance}");
    assert_eq!(
        instance["output"],
        json!({"greeting": "Hello, Keel!"}),
        "{lang}"
    );
    // The skeleton's own tests, as its README says to run them.
    let tested = ok(
        keel(&module).args([
            "test",
            "scenarios/hello.json",
            "scenarios/hello-mocked.json",
        ]),
        "keel test",
    );
    assert!(
        tested.contains("2 scenario(s): 2 passed, 0 failed"),
        "{lang}: {tested}"
    );
}
