//! Exported histories replayed against builds, as users do in their own CI: the shipped export of the
//! order example (`tests/histories/order-42.json`, written by `keel history ID --export` after
//! `./scripts/demo.sh`) replays against the order example, and every change to it is named as the
//! first divergence. Regenerate it the same way when the order example changes on purpose.

use std::path::{Path, PathBuf};
use std::process::Command;

use keel::history::HistoryEvent;
use keel::replayer::{ExportedHistory, replay_file};
use keel::upgrade::ReplayCheck;
use serde_json::json;

use crate::support::guests;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/histories/order-42.json")
}

fn order_module() -> PathBuf {
    guests().join("order_processing.wasm")
}

fn read_fixture() -> ExportedHistory {
    let text = std::fs::read_to_string(fixture()).expect("reading the fixture");
    ExportedHistory::parse(&text, "the fixture").expect("the fixture is an export")
}

/// Writes `export` into `dir` and replays it against the order example.
async fn replay(dir: &Path, export: &ExportedHistory) -> ReplayCheck {
    let file = dir.join("changed.json");
    std::fs::write(&file, export.to_json()).unwrap();
    replay_file(&file, &order_module())
        .await
        .expect("a replay that runs")
}

/// The divergence message of `check`, or a panic naming what was expected.
fn divergence(check: ReplayCheck, what: &str) -> String {
    match check {
        ReplayCheck::Diverged { failure } => {
            assert_eq!(failure.kind, "NonDeterminism", "{what}: {failure:?}");
            failure.message
        }
        ReplayCheck::Compatible => panic!("{what}: the changed history replayed"),
    }
}

fn keel(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(args)
        .env_remove("KEEL_SERVER")
        .env_remove("KEEL_DB")
        .output()
        .expect("running keel")
}

#[test]
fn keel_replay_accepts_the_shipped_order_history_against_the_order_example() {
    let module = order_module();
    let out = keel(&["replay".as_ref(), fixture().as_os_str(), module.as_os_str()]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("replays against"), "{stdout}");

    let out = keel(&[
        "--json".as_ref(),
        "replay".as_ref(),
        fixture().as_os_str(),
        module.as_os_str(),
    ]);
    assert!(out.status.success());
    let check: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(check, json!({"result": "compatible"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_change_to_the_order_history_is_named_as_its_first_divergence() {
    let dir = tempfile::tempdir().unwrap();
    let original = read_fixture();
    assert_eq!(replay(dir.path(), &original).await, ReplayCheck::Compatible);

    // Another activity scheduled at #7: the build asks for CheckInventory there.
    let mut renamed = original.clone();
    let HistoryEvent::TaskScheduled { name, .. } = &mut renamed.events[7] else {
        panic!(
            "event #7 of the fixture is not a TaskScheduled: {:?}",
            renamed.events[7]
        );
    };
    *name = "CountStock".into();
    let message = divergence(replay(dir.path(), &renamed).await, "renamed activity");
    assert!(message.starts_with("[KEEL-ND1]"), "{message}");
    assert!(message.contains("event #7"), "{message}");
    assert!(message.contains("CountStock"), "{message}");
    assert!(message.contains("CheckInventory"), "{message}");

    // Another input: the build schedules VerifyPayment with the amount it was given.
    let mut input = original.clone();
    input.input["amount"] = json!(99.5);
    let message = divergence(replay(dir.path(), &input).await, "changed input");
    assert!(message.contains("event #3"), "{message}");
    assert!(message.contains("99.5"), "{message}");

    // Another recorded output: the build completes with the one the history's results give.
    let mut output = original.clone();
    let last = output.events.len() - 1;
    let HistoryEvent::ExecutionCompleted { output: value } = &mut output.events[last] else {
        panic!("the fixture does not end with ExecutionCompleted");
    };
    value["emailSent"] = json!(false);
    let message = divergence(replay(dir.path(), &output).await, "changed output");
    assert!(message.contains(&format!("event #{last}")), "{message}");
    assert!(
        message.contains("ends with ExecutionCompleted"),
        "{message}"
    );

    // A recorded end where the build goes on: cut the history after the shipping, then end it.
    let mut early = original.clone();
    early.events.truncate(16);
    early.events.push(HistoryEvent::ExecutionCompleted {
        output: json!("early"),
    });
    let message = divergence(replay(dir.path(), &early).await, "early end");
    assert!(message.contains("event #16"), "{message}");
    assert!(
        message.contains(r#"set-custom-status {"step":"confirmation"}"#),
        "{message}"
    );

    // A history that had not ended (exported while the e-mail was being sent) replays: the build
    // waits where the recorded execution waited.
    let mut running = original.clone();
    running.events.truncate(18);
    assert_eq!(replay(dir.path(), &running).await, ReplayCheck::Compatible);
}

#[test]
fn files_that_are_not_exports_and_modules_without_the_orchestrator_get_coded_errors() {
    let dir = tempfile::tempdir().unwrap();
    let order = order_module();
    let cases: [(&str, &str, PathBuf, &str); 5] = [
        ("not JSON", "{ not json", order.clone(), "[KEEL-E16]"),
        (
            "no format",
            r#"{"instance":"a","events":[]}"#,
            order.clone(),
            "has no \"format\" field",
        ),
        (
            "a newer format",
            r#"{"format":"keel-history/9","events":[]}"#,
            order.clone(),
            "keel-history/9",
        ),
        (
            "a module without the orchestrator",
            "",
            guests().join("fan_out.wasm"),
            "[KEEL-E17] the history is of orchestrator \"ProcessOrder\"",
        ),
        (
            "a module that is not there",
            "",
            dir.path().join("missing.wasm"),
            "cannot read",
        ),
    ];
    for (what, text, module, expected) in cases {
        let history = if text.is_empty() {
            fixture()
        } else {
            let file = dir.path().join("history.json");
            std::fs::write(&file, text).unwrap();
            file
        };
        let out = keel(&["replay".as_ref(), history.as_os_str(), module.as_os_str()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: succeeded");
        assert!(stderr.contains(expected), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
    let out = keel(&[
        "replay".as_ref(),
        fixture().as_os_str(),
        guests().join("fan_out.wasm").as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("it exports FanOut"), "{stderr}");
}
