//! `keel new`, `keel build` and `keel run` end to end, through the real binary: the skeleton of every
//! language builds as written and its orchestrator gives the documented output.

use std::path::Path;
use std::process::Command;

use keel::cli::build::Lang;
use serde_json::{Value, json};

use super::builds::keel_command;
use crate::support::{target_dir, xdg_cache_home};

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
        .env("CARGO_TARGET_DIR", target_dir().join("keel-new-guests"))
        .env("XDG_CACHE_HOME", xdg_cache_home());
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
    sdk_is_found_from_the_skeleton(lang, &module);
    // The language is detected from what `keel new` wrote.
    let built = keel(&module)
        .arg("build")
        .output()
        .expect("running keel build");
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "keel build: {stderr}");
    // Each toolchain step is named as it starts.
    let steps: &[&str] = match lang {
        Lang::Rust => &["keel build [1/1] cargo build"],
        Lang::Python => &["keel build [1/1] componentize-py"],
        // The SDK's componentize-js is installed by the suite's set-up.
        Lang::JavaScript => &["keel build [1/1] componentize-js"],
        Lang::C => &[
            "keel build [1/3] wit-bindgen",
            "keel build [2/3] clang-19: compiling 1 source file(s)",
            "keel build [3/3] wit-component",
        ],
    };
    for step in steps {
        assert!(stderr.contains(step), "{lang}: no {step:?} in\n{stderr}");
    }
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

/// What the skeleton names to reach the SDK (the Rust dependency; for editors, the JavaScript types,
/// the C header and the Python package) exists from the module's directory.
fn sdk_is_found_from_the_skeleton(lang: Lang, module: &Path) {
    let read = |file: &str| {
        std::fs::read_to_string(module.join(file))
            .unwrap_or_else(|e| panic!("{lang}: the skeleton has no {file}: {e}"))
    };
    let found = match lang {
        Lang::Rust => {
            let manifest = read("Cargo.toml");
            let path = manifest
                .lines()
                .find_map(|l| l.strip_prefix("keel-sdk = { path = \""))
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("no keel-sdk path in:\n{manifest}"));
            module.join(path).join("Cargo.toml")
        }
        Lang::JavaScript => {
            let config: Value =
                serde_json::from_str(&read("jsconfig.json")).expect("jsconfig.json");
            let types = config["compilerOptions"]["paths"]["@keel/sdk"][0]
                .as_str()
                .expect("a path for @keel/sdk");
            let package: Value = serde_json::from_str(&read("package.json")).expect("package.json");
            assert!(
                package["scripts"]["test"]
                    .as_str()
                    .is_some_and(|t| t.contains("keel test")),
                "{package}"
            );
            module.join(types)
        }
        Lang::C => {
            let flags = read("compile_flags.txt");
            let include = flags
                .lines()
                .find_map(|l| l.strip_prefix("-I"))
                .expect("an -I line");
            module.join(include).join("keel.h")
        }
        Lang::Python => {
            let config: Value =
                serde_json::from_str(&read("pyrightconfig.json")).expect("pyrightconfig.json");
            let path = config["extraPaths"][0].as_str().expect("an extra path");
            module.join(path).join("keel_sdk").join("__init__.py")
        }
    };
    assert!(
        found.is_file(),
        "{lang}: {} does not exist",
        found.display()
    );
}
