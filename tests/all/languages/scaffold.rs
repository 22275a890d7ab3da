//! `keel new`, `keel build` and `keel run` end to end, through the real binary: the skeleton of every
//! language builds as written and its orchestrator gives the documented output.

use std::path::Path;
use std::process::Command;

use keel::cli::build::Lang;
use serde_json::{Value, json};

use super::builds::keel_command;
use crate::support::target_dir;

/// Runs `cmd`, asserting success, and returns its standard output.
fn ok(cmd: &mut Command, what: &str) -> String {
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
fn keel(dir: &Path) -> Command {
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
}

/// A skeleton of `lang` with a syntax error appended to its entry file: `keel build` fails with the
/// language's own two-line report (file, line, message, the line itself) instead of the
/// componentizer's dozens of lines.
fn a_syntax_error_is_reported_briefly(lang: Lang, entry: &str, broken: &str) {
    let work = tempfile::tempdir().expect("temporary directory");
    ok(
        keel(work.path()).args(["new", "--lang", lang.as_str(), "broken"]),
        "keel new",
    );
    let module = work.path().join("broken");
    let app = module.join(entry);
    let mut text = std::fs::read_to_string(&app).expect("the skeleton's entry file");
    let line = text.lines().count() + 1;
    text.push_str(broken);
    text.push('\n');
    std::fs::write(&app, text).unwrap();

    let output = keel(&module)
        .arg("build")
        .output()
        .expect("running keel build");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{lang}: the build passed");
    let lines: Vec<&str> = stderr.lines().collect();
    let language = if lang == Lang::Python {
        "Python"
    } else {
        "JavaScript"
    };
    assert_eq!(
        lines.first().copied(),
        Some(format!("error: the {language} source does not parse:").as_str()),
        "{stderr}"
    );
    assert!(
        lines.get(1).is_some_and(
            |l| l.contains(&format!("{}:{line}", app.display())) && l.contains("SyntaxError")
        ),
        "{lang}: the report does not name {entry}:{line}:\n{stderr}"
    );
    assert!(lines.len() <= 4, "{lang}: {} lines:\n{stderr}", lines.len());
}

#[test]
fn a_python_syntax_error_is_reported_in_two_lines() {
    a_syntax_error_is_reported_briefly(Lang::Python, "app.py", "def broken(x:");
}

#[test]
fn a_javascript_syntax_error_is_reported_in_two_lines() {
    a_syntax_error_is_reported_briefly(Lang::JavaScript, "app.js", "export function broken(x {");
}
