//! The Python guest SDK end to end: the three examples built with componentize-py run the scenarios of
//! the Rust builds and must record the same histories, outputs and failures; a Python orchestrator that
//! reads time, randomness and hash order from the interpreter replays identically after a restart.
//!
//! The Python components are built once per run with `sdk/python/build.sh` (skipped when the output is
//! newer than every source), which needs `componentize-py` (see `scripts/setup.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use keel::HistoryEvent;
use keel::store::{HistoryRecord, Instance, Status};
use serde_json::json;

use crate::support::{
    Running, TestEngine, assert_completed, engine, engine_with, finish, kinds, manual_clock,
    reopen, target_dir, wait_for_event,
};

/// The Python apps the tests use: (name of the built file, app directory from the repository root).
const APPS: [(&str, &str); 4] = [
    ("order_processing", "guest-examples/order-processing/python"),
    ("fan_out", "guest-examples/fan-out/python"),
    ("approval", "guest-examples/approval/python"),
    ("python_determinism", "tests/guests/python-determinism"),
];

const ORDER: &str = r#"{"orderId":"order-42","amount":25.0,"items":["book"]}"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds every Python app once per test run (in parallel: each build takes seconds) and returns the
/// directory holding the `.wasm` files.
fn python_guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out_dir = target_dir().join("python-guests");
        std::fs::create_dir_all(&out_dir).expect("creating the python-guests directory");
        let root = repo_root();
        let sdk = root.join("sdk/python");
        let builds: Vec<_> = APPS
            .iter()
            .map(|(file, app)| {
                let app_dir = root.join(app);
                let out = out_dir.join(format!("{file}.wasm"));
                let sdk = sdk.clone();
                std::thread::spawn(move || {
                    if is_up_to_date(&out, &[&app_dir, &sdk]) {
                        return;
                    }
                    let status = Command::new("bash")
                        .arg(sdk.join("build.sh"))
                        .arg(&app_dir)
                        .arg(&out)
                        .status()
                        .expect("running sdk/python/build.sh (is bash installed?)");
                    assert!(
                        status.success(),
                        "building the Python app {} failed; is componentize-py installed \
                         (python3 -m pip install -r sdk/python/requirements.txt)?",
                        app_dir.display()
                    );
                })
            })
            .collect();
        for build in builds {
            build.join().expect("a Python build panicked");
        }
        out_dir
    })
}

/// True if `out` exists and is newer than every file under `sources`.
fn is_up_to_date(out: &Path, sources: &[&Path]) -> bool {
    fn newest(path: &Path) -> Option<SystemTime> {
        let meta = std::fs::metadata(path).ok()?;
        if meta.is_file() {
            return meta.modified().ok();
        }
        std::fs::read_dir(path)
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() != "__pycache__")
            .filter_map(|e| newest(&e.path()))
            .max()
    }
    let Some(built) = std::fs::metadata(out).ok().and_then(|m| m.modified().ok()) else {
        return false;
    };
    sources
        .iter()
        .all(|source| newest(source).is_none_or(|t| t < built))
}

fn python_guest(file: &str) -> Vec<u8> {
    let path = python_guests().join(format!("{file}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// An engine on a fresh database with the Python app `file` deployed.
async fn python_engine(file: &str) -> TestEngine {
    let t = engine(&[]).await;
    t.keel
        .deploy(python_guest(file), None)
        .await
        .expect("deploying a Python module");
    t
}

/// Starts `name` with `input` as `id` and runs it to its end.
async fn run(t: &TestEngine, name: &str, input: &str, id: &str) -> (Instance, Vec<HistoryRecord>) {
    let id = t.keel.start(name, input, Some(id)).await.unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    let history = t.keel.history(id.as_str()).await.unwrap();
    (instance, history)
}

/// A history without what legitimately differs between two runs: turn markers, the module digest and
/// wall-clock times.
fn comparable(history: &[HistoryRecord]) -> Vec<HistoryEvent> {
    history
        .iter()
        .filter_map(|r| match r.event.clone() {
            HistoryEvent::OrchestratorStarted { .. } => None,
            HistoryEvent::ExecutionStarted {
                name,
                input,
                parent,
                ..
            } => Some(HistoryEvent::ExecutionStarted {
                name,
                module: String::new(),
                input,
                parent,
            }),
            HistoryEvent::TaskRetrying {
                id,
                failure,
                attempt,
                ..
            } => Some(HistoryEvent::TaskRetrying {
                id,
                failure,
                attempt,
                retry_at_ms: 0,
            }),
            event => Some(event),
        })
        .collect()
}

/// Runs the same orchestration against the Rust and the Python build of `example` (both built as the
/// same file name) and asserts that the outputs, failures, custom statuses and histories are the same.
async fn same_as_rust(example: &str, name: &str, input: &str) -> Instance {
    let r = engine(&[example]).await;
    let p = python_engine(example).await;
    let (rust_instance, rust_history) = run(&r, name, input, "same-id").await;
    let (py_instance, py_history) = run(&p, name, input, "same-id").await;
    assert_eq!(py_instance.status, rust_instance.status, "{py_instance:?}");
    assert_eq!(py_instance.output, rust_instance.output);
    assert_eq!(py_instance.failure, rust_instance.failure);
    assert_eq!(py_instance.custom_status, rust_instance.custom_status);
    assert_eq!(kinds(&py_history), kinds(&rust_history));
    assert_eq!(comparable(&py_history), comparable(&rust_history));
    py_instance
}

// ---------------------------------------------------------------------------------------------------------
// order-processing

#[tokio::test(flavor = "multi_thread")]
async fn python_order_is_paid_reserved_shipped_and_confirmed() {
    let t = python_engine("order_processing").await;
    let (instance, history) = run(&t, "ProcessOrder", ORDER, "order-42").await;
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
    // The flaky carrier failed its first attempt (KEEL_ATTEMPT=1) and was retried under the policy.
    let retry = history
        .iter()
        .find_map(|r| match &r.event {
            HistoryEvent::TaskRetrying {
                failure, attempt, ..
            } => Some((failure.kind.clone(), *attempt)),
            _ => None,
        })
        .unwrap();
    assert_eq!(retry, ("CarrierUnavailable".to_owned(), 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn python_order_histories_match_the_rust_build() {
    // The happy path, with the same retry policy recorded in the ShipOrder call's options.
    same_as_rust("order_processing", "ProcessOrder", ORDER).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_declined_payment_fails_like_the_rust_build() {
    let input = r#"{"orderId":"order-7","amount":0,"items":["book"]}"#;
    let instance = same_as_rust("order_processing", "ProcessOrder", input).await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.unwrap();
    assert_eq!(failure.kind, "PaymentFailed");
    assert!(failure.message.contains("order-7"), "{failure}");
}

#[tokio::test(flavor = "multi_thread")]
async fn python_missing_stock_fails_like_the_rust_build() {
    let input = r#"{"orderId":"order-8","amount":10,"items":["book","unobtainium"]}"#;
    let instance = same_as_rust("order_processing", "ProcessOrder", input).await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.unwrap();
    assert_eq!(failure.kind, "InventoryFailed");
    assert!(failure.message.contains("unobtainium"), "{failure}");
}

// ---------------------------------------------------------------------------------------------------------
// fan-out

#[tokio::test(flavor = "multi_thread")]
async fn python_fan_out_runs_every_activity_and_joins_the_results() {
    let t = python_engine("fan_out").await;
    let (instance, history) = run(&t, "FanOut", r#"{"count":50}"#, "fan-out").await;
    assert_completed(&instance);
    let sum: u64 = (0..50u64).map(|i| i * i).sum();
    assert_eq!(instance.output, Some(json!({"count": 50, "sum": sum})));
    let count = |kind: &str| history.iter().filter(|r| r.event.kind() == kind).count();
    assert_eq!((count("TaskScheduled"), count("TaskCompleted")), (50, 50));
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sequence_is_served_by_one_hot_guest_and_matches_rust() {
    let r = engine(&["fan_out"]).await;
    let (_, rust_history) = run(&r, "Sequence", r#"{"steps":100}"#, "seq").await;
    let t = python_engine("fan_out").await;
    let (instance, history) = run(&t, "Sequence", r#"{"steps":100}"#, "seq").await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(json!({"steps": 100, "value": 100})));
    assert_eq!(comparable(&history), comparable(&rust_history));
    let metrics = t.keel.metrics();
    // One guest start for the first turn; every later turn resumed the suspended Python guest.
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
async fn a_python_orchestrator_calls_a_rust_activity() {
    let t = python_engine("fan_out").await;
    let python = t
        .keel
        .functions()
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.name == "FanOut" && f.active)
        .unwrap()
        .digest;
    // The Rust module takes over every name, then FanOut goes back to Python: Square stays Rust.
    let rust = t
        .keel
        .deploy(crate::support::guest("fan_out"), None)
        .await
        .unwrap()
        .digest;
    assert!(t.keel.activate("FanOut", &python).await.unwrap());
    let active = |name: &'static str| {
        let keel = &t.keel;
        async move {
            keel.functions()
                .await
                .unwrap()
                .into_iter()
                .find(|f| f.name == name && f.active)
                .unwrap()
                .digest
        }
    };
    assert_eq!(active("FanOut").await, python);
    assert_eq!(active("Square").await, rust);
    let (instance, _) = run(&t, "FanOut", r#"{"count":10}"#, "mixed").await;
    assert_completed(&instance);
    assert_eq!(instance.module, python);
    assert_eq!(instance.output, Some(json!({"count": 10, "sum": 285})));
}

// ---------------------------------------------------------------------------------------------------------
// approval

#[tokio::test(flavor = "multi_thread")]
async fn python_approval_before_the_deadline_wins() {
    let t = python_engine("approval").await;
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
    let history = t.keel.history(id.as_str()).await.unwrap();
    assert_eq!(
        kinds(&history),
        [
            "ExecutionStarted",
            "CustomStatusSet",
            "TimerCreated",
            "EventAwaited",
            "EventRaised",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskCompleted",
            "ExecutionCompleted"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn python_durable_timer_escalates_when_nobody_approves() {
    let clock = manual_clock(1_000_000);
    let t = engine_with(&[], |_| {}).await;
    // Reopen on the same database with the manual clock so the timer fires when the test says.
    let keel = reopen(&t.config, Some(clock.clone())).await;
    keel.deploy(python_guest("approval"), None).await.unwrap();
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
    assert_eq!(
        kinds(&fired),
        [
            "ExecutionStarted",
            "CustomStatusSet",
            "TimerCreated",
            "EventAwaited",
            "TimerFired",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskCompleted",
            "ExecutionCompleted"
        ]
    );
}

// ---------------------------------------------------------------------------------------------------------
// determinism and failures of the SDK itself

#[tokio::test(flavor = "multi_thread")]
async fn python_time_random_and_hash_order_are_identical_on_replay() {
    let t = python_engine("python_determinism").await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start("PyDeterminism", "null", None).await.unwrap();
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
        "Python's time.time() is the orchestration time"
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
    assert_eq!(
        keel.metrics()
            .replays
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    let output = instance.output.unwrap();
    assert_eq!(output["first"], first);
    // Randomness moves on within an execution: it is seeded, not frozen.
    assert_ne!(output["first"]["random"], output["second"]["random"]);
    assert_ne!(output["first"]["urandom"], output["second"]["urandom"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn python_exceptions_and_bad_calls_become_failures() {
    let t = python_engine("python_determinism").await;
    // A plain Python exception fails the instance with the exception's class name as the kind.
    let (instance, _) = run(&t, "Fails", "null", "fails").await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.unwrap();
    assert_eq!(
        (failure.kind.as_str(), failure.message.as_str()),
        ("ZeroDivisionError", "division by zero")
    );
    let traceback = failure.details.unwrap()["traceback"].clone();
    assert!(
        // Source lines are not in the component; the frames and the exception are.
        traceback
            .as_str()
            .is_some_and(|t| t.contains("in Fails") && t.contains("ZeroDivisionError")),
        "{traceback}"
    );
    // The manifest lists every registered function with its kind, orchestrators first.
    let mut functions: Vec<(String, String)> = t
        .keel
        .functions()
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.kind))
        .collect();
    functions.sort();
    assert_eq!(
        functions,
        [
            ("Echo".to_owned(), "activity".to_owned()),
            ("Fails".to_owned(), "orchestrator".to_owned()),
            ("PyDeterminism".to_owned(), "orchestrator".to_owned()),
        ]
    );
}
