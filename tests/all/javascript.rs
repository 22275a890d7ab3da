//! The JavaScript guests: the three examples built with the JavaScript SDK (componentize-js) run the
//! same scenarios as their Rust twins and must leave the same history shapes, and a JavaScript
//! orchestrator's ambient time, randomness and map order must survive a replay after a restart.
//! It must never depend on the Rust guests: each JS module is deployed alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use keel::HistoryEvent;
use keel::store::Status;
use serde_json::json;

use crate::support::{
    Running, TestEngine, assert_completed, engine, finish, kinds, manual_clock, reopen,
    wait_for_event,
};

/// The JS modules of a run: name of the output file, and the app it is built from (relative to the
/// repository root).
const GUESTS: [(&str, &str); 4] = [
    (
        "order_processing",
        "guest-examples/order-processing/javascript/app.js",
    ),
    ("fan_out", "guest-examples/fan-out/javascript/app.js"),
    ("approval", "guest-examples/approval/javascript/app.js"),
    ("determinism", "tests/guests/javascript-determinism/app.js"),
];

const ORDER: &str = r#"{"orderId":"order-42","amount":25.0,"items":["book"]}"#;

/// Builds every JS guest once per test run (in parallel: each build is mostly single-threaded) and
/// returns the directory holding the `.wasm` files.
fn js_guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the tests crate lives in the repository")
            .to_path_buf();
        let out = crate::support::target_dir().join("javascript-guests");
        std::fs::create_dir_all(&out).expect("creating the JS guest directory");
        let script = root.join("sdk/javascript/build.sh");
        let builds: Vec<_> = GUESTS
            .iter()
            .filter(|(name, app)| {
                !up_to_date(&root, &root.join(app), &out.join(format!("{name}.wasm")))
            })
            .map(|(name, app)| {
                let child = Command::new("bash")
                    .arg(&script)
                    .arg(root.join(app))
                    .arg(out.join(format!("{name}.wasm")))
                    .current_dir(&root)
                    .spawn()
                    .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
                (*name, child)
            })
            .collect();
        for (name, mut child) in builds {
            let status = child.wait().expect("waiting for a JS build");
            assert!(status.success(), "building the JS guest {name} failed");
        }
        out
    })
}

/// True if `wasm` is newer than everything it is built from. componentize-js does not build
/// reproducibly (every build has a new digest, hence a new compilation in Keel), so skipping a build
/// whose inputs did not change is what lets a second test run hit the compiled-artefact cache.
fn up_to_date(root: &Path, app: &Path, wasm: &Path) -> bool {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let Some(built) = modified(wasm) else {
        return false;
    };
    let sdk = root.join("sdk/javascript");
    let mut inputs = vec![
        root.join("wit/keel.wit"),
        sdk.join("build.sh"),
        sdk.join("package-lock.json"),
        sdk.join("src/index.js"),
        sdk.join("wit/world.wit"),
        sdk.join("wit/deps/wasi-cli/environment.wit"),
    ];
    // build.sh stages every script beside the app.
    if let Some(Ok(entries)) = app.parent().map(std::fs::read_dir) {
        inputs.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    inputs
        .iter()
        .all(|input| modified(input).is_some_and(|m| m < built))
}

/// The bytes of JS guest `name`.
fn js_guest(name: &str) -> Vec<u8> {
    let path = js_guests().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// An engine on a fresh database with JS guest `name` deployed.
async fn js_engine(name: &str) -> TestEngine {
    let bytes = js_guest(name);
    let t = engine(&[]).await;
    t.keel
        .deploy(bytes, None)
        .await
        .expect("deploying a JS module");
    t
}

// ---------------------------------------------------------------------------------------------
// order-processing (mirrors order_processing.rs)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn js_an_order_is_paid_reserved_shipped_and_confirmed() {
    let t = js_engine("order_processing").await;
    let id = t
        .keel
        .start("ProcessOrder", ORDER, Some("order-42"))
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(
        instance.output,
        Some(json!({
            "orderId": "order-42",
            "status": "completed",
            "transactionId": "txn-order-42",
            "trackingNumber": "TRK-order-42",
            "emailSent": true
        }))
    );
    assert_eq!(instance.custom_status, Some(json!({"step": "completed"})));

    let history = t.keel.history(id.as_str()).await.unwrap();
    // The same shape as the Rust module's history.
    assert_eq!(
        kinds(&history),
        [
            "ExecutionStarted",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskCompleted",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskCompleted",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskRetrying",
            "TaskCompleted",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskCompleted",
            "CustomStatusSet",
            "ExecutionCompleted"
        ]
    );
    let scheduled: Vec<String> = history
        .iter()
        .filter_map(|r| match &r.event {
            HistoryEvent::TaskScheduled { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        scheduled,
        [
            "VerifyPayment",
            "CheckInventory",
            "ShipOrder",
            "SendConfirmationEmail"
        ]
    );
    // The flaky carrier failed its first attempt (read from KEEL_ATTEMPT through wasi:cli/environment)
    // and was retried under the policy.
    let retry = history
        .iter()
        .find_map(|r| match &r.event {
            HistoryEvent::TaskRetrying {
                failure, attempt, ..
            } => Some((failure.kind.clone(), failure.message.clone(), *attempt)),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        retry,
        (
            "CarrierUnavailable".to_owned(),
            "no carrier could take order order-42 on the first try".to_owned(),
            1
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn js_a_declined_payment_fails_the_order_with_a_clear_error() {
    let t = js_engine("order_processing").await;
    let input = r#"{"orderId":"order-7","amount":0,"items":["book"]}"#;
    let id = t.keel.start("ProcessOrder", input, None).await.unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.unwrap();
    assert_eq!(failure.kind, "PaymentFailed");
    assert!(failure.message.contains("order-7"), "{failure}");
    // The cause is kept in the details, as the Rust module does.
    assert_eq!(
        failure.details.as_ref().map(|d| d["cause"]["kind"].clone()),
        Some(json!("PaymentDeclined")),
        "{failure:?}"
    );
    let history = t.keel.history(id.as_str()).await.unwrap();
    assert_eq!(
        kinds(&history),
        [
            "ExecutionStarted",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskFailed",
            "ExecutionFailed"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn js_missing_stock_fails_the_order_and_names_the_item() {
    let t = js_engine("order_processing").await;
    let input = r#"{"orderId":"order-8","amount":10,"items":["book","unobtainium"]}"#;
    let id = t.keel.start("ProcessOrder", input, None).await.unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.unwrap();
    assert_eq!(failure.kind, "InventoryFailed");
    assert!(failure.message.contains("unobtainium"), "{failure}");
}

#[tokio::test(flavor = "multi_thread")]
async fn js_an_unknown_orchestrator_fails_with_unknown_function() {
    let t = js_engine("order_processing").await;
    // Not in the manifest: the engine may refuse it at start or the SDK at dispatch.
    match t.keel.start("NoSuchThing", "null", None).await {
        Err(_) => {}
        Ok(id) => {
            let instance = finish(&t.keel, id.as_str()).await;
            assert_eq!(instance.status, Status::Failed);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// fan-out (mirrors fan_out.rs)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn js_fan_out_runs_every_activity_and_joins_the_results() {
    let t = js_engine("fan_out").await;
    let id = t
        .keel
        .start("FanOut", r#"{"count":50}"#, None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    let sum: u64 = (0..50u64).map(|i| i * i).sum();
    assert_eq!(instance.output, Some(json!({"count": 50, "sum": sum})));
    let history = t.keel.history(id.as_str()).await.unwrap();
    let scheduled = history
        .iter()
        .filter(|r| r.event.kind() == "TaskScheduled")
        .count();
    let completed = history
        .iter()
        .filter(|r| r.event.kind() == "TaskCompleted")
        .count();
    assert_eq!((scheduled, completed), (50, 50));
    // Every task was scheduled before the first wait: all 50 in the first turn.
    let first_turn: Vec<_> = kinds(&history).into_iter().take(51).collect();
    assert!(
        first_turn[1..].iter().all(|k| *k == "TaskScheduled"),
        "{first_turn:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn js_a_sequence_is_served_by_one_hot_guest_without_replays() {
    let t = js_engine("fan_out").await;
    let id = t
        .keel
        .start("Sequence", r#"{"steps":100}"#, None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!({"steps": 100, "value": 100})));
    let metrics = t.keel.metrics();
    // One guest start for the first turn; every later turn resumed the suspended guest.
    assert_eq!(
        metrics.replays.load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(
        metrics.hot_hits.load(std::sync::atomic::Ordering::Relaxed),
        100
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn js_an_invalid_input_fails_with_the_sdk_failure_kind() {
    let t = js_engine("fan_out").await;
    // A negative count is refused by the orchestrator itself, with a catchable KeelFailure.
    let id = t
        .keel
        .start("FanOut", r#"{"count":-1}"#, None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_eq!(instance.status, Status::Failed);
    assert_eq!(instance.failure.unwrap().kind, "InvalidInput");
}

// ---------------------------------------------------------------------------------------------
// approval (mirrors approval.rs)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn js_an_approval_before_the_deadline_wins() {
    let t = js_engine("approval").await;
    let worker = Running::start(&t.keel);
    let id = t
        .keel
        .start(
            "Approval",
            r#"{"requestId":"req-1","timeoutMs":600000}"#,
            None,
        )
        .await
        .unwrap();
    wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    let waiting = t.keel.status(id.as_str()).await.unwrap().unwrap();
    assert_eq!(waiting.custom_status, Some(json!({"state": "waiting"})));
    t.keel
        .raise_event(id.as_str(), "Approved", r#"{"by":"alice"}"#)
        .await
        .unwrap();
    let instance = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    assert_eq!(
        instance.output,
        Some(json!({"requestId": "req-1", "outcome": "approved", "approvedBy": "alice"}))
    );
    assert_eq!(
        instance.custom_status,
        Some(json!({"state": "approved", "by": "alice"}))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn js_the_durable_timer_escalates_when_nobody_approves() {
    let bytes = js_guest("approval");
    let clock = manual_clock(1_000_000);
    let t = engine(&[]).await;
    // Reopen on the same database with the manual clock so the timer fires when the test says.
    let keel = reopen(&t.config, Some(clock.clone())).await;
    keel.deploy(bytes, None).await.unwrap();
    let worker = Running::start(&keel);
    let id = keel
        .start(
            "Approval",
            r#"{"requestId":"req-2","timeoutMs":60000}"#,
            None,
        )
        .await
        .unwrap();
    let history = wait_for_event(&keel, id.as_str(), "TimerCreated").await;
    let fire_at = history
        .iter()
        .find_map(|r| match r.event {
            HistoryEvent::TimerCreated { fire_at_ms, .. } => Some(fire_at_ms),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        fire_at,
        1_000_000 + 60_000,
        "the timer is set from orchestration time"
    );
    clock.advance(60_000);
    keel.wake();
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    assert_eq!(
        instance.output,
        Some(json!({"requestId": "req-2", "outcome": "escalated"}))
    );
    assert_eq!(instance.custom_status, Some(json!({"state": "escalated"})));
    let fired = keel.history(id.as_str()).await.unwrap();
    assert!(fired.iter().any(|r| r.event.kind() == "TimerFired"));
}

// ---------------------------------------------------------------------------------------------
// determinism (mirrors replay.rs)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn js_time_random_and_map_order_are_identical_on_replay() {
    let t = js_engine("determinism").await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start("Determinism", "null", None).await.unwrap();
    let history = wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    worker.stop().await;
    drop(t.keel);

    // What the first turn read, as recorded in the Echo call's input.
    let first = history
        .iter()
        .find_map(|r| match &r.event {
            HistoryEvent::TaskScheduled { input, .. } => Some(input.clone()),
            _ => None,
        })
        .unwrap();
    let first_turn_time = history
        .iter()
        .find_map(|r| match r.event {
            HistoryEvent::OrchestratorStarted { time_ms } => Some(time_ms),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        first["timeMs"],
        json!(first_turn_time),
        "Date.now() is the orchestration time"
    );

    // After a restart the orchestrator is replayed from scratch: had any reading differed, the Echo
    // call would not match its history and the instance would fail with a non-determinism error.
    let keel = reopen(&t.config, None).await;
    let worker = Running::start(&keel);
    keel.raise_event(id.as_str(), "go", "null").await.unwrap();
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    let output = instance.output.unwrap();
    assert_eq!(output["first"], first);
    assert_ne!(
        output["first"]["mathRandom"],
        output["second"]["mathRandom"]
    );
    assert_eq!(
        keel.metrics()
            .replays
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
