//! What only the C SDK has: its own JSON reader and writer. Documents go through the C parser and
//! writer and must come back as serde_json reads them, doubles must be spelt as serde_json spells an
//! f64, escapes must survive, and an output that is not JSON must fail with `InvalidOutput`.

use keel::cli::build::Lang;
use keel::store::Status;
use serde_json::{Value, json};

use super::{engine_for, run};
use crate::support::{TestEngine, assert_completed};

/// Runs the fixture's activity `activity` on `input` through the `Call` orchestrator.
async fn call(t: &TestEngine, id: &str, activity: &str, input: Value) -> keel::store::Instance {
    let input = json!({"activity": activity, "input": input}).to_string();
    run(t, "Call", &input, id).await.0
}

#[tokio::test(flavor = "multi_thread")]
async fn c_json_round_trips_documents_numbers_and_escapes() {
    let t = engine_for(Lang::C, "determinism").await;
    let document = json!({
        "unicode": "é 😀 \u{1} \"quoted\" back\\slash\nline",
        "numbers": [0, -1, 2.5, 1e300, -0.0, 18446744073709551615u64, -9223372036854775808i64],
        "nested": {"array": [[], {}, [null, true, false]], "empty": ""},
    });
    let instance = call(&t, "reencode", "Reencode", document.clone()).await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(document));

    let doubles = [
        25.0,
        0.1,
        1e-7,
        1e21,
        123456789.125,
        -3.5,
        5e-324,
        1e15,
        1e16,
        0.0001,
        0.00001,
        1e-6,
        -0.0,
        f64::MAX,
        2.5e-5,
        1.2345678901234567e19,
    ];
    let instance = call(&t, "doubles", "Doubles", json!(doubles)).await;
    assert_completed(&instance);
    let expected = serde_json::to_string(&doubles.to_vec()).expect("f64s serialise");
    assert_eq!(instance.output, Some(Value::String(expected)));

    let instance = call(&t, "escapes", "Escapes", json!("\u{1}")).await;
    assert_completed(&instance);
    assert_eq!(
        instance.output,
        Some(json!({
            "quote\"key": "line\nbreak\ttab \\ back \u{1} control é ✓ 😀",
            "echo": "\u{1}"
        }))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn c_output_that_is_not_json_fails_with_invalid_output() {
    let t = engine_for(Lang::C, "determinism").await;
    let instance = call(&t, "bad", "BadOutput", json!(1)).await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.expect("a failure");
    assert_eq!(failure.kind, "InvalidOutput", "{failure}");
    assert!(failure.message.contains("BadOutput"), "{failure}");
}
