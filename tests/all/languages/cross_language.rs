//! Modules in different languages share one engine: a Python orchestrator calls the activities a
//! Rust module provides.

use keel::cli::build::Lang;
use serde_json::json;

use super::{builds, engine_for, run};
use crate::support::assert_completed;

#[tokio::test(flavor = "multi_thread")]
async fn a_python_orchestrator_calls_a_rust_activity() {
    let t = engine_for(Lang::Python, "fan_out").await;
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
    let python = active("FanOut").await;
    // The Rust module takes over every name, then FanOut goes back to Python: Square stays Rust.
    let rust = t
        .keel
        .deploy(builds::module(Lang::Rust, "fan_out"), None)
        .await
        .unwrap()
        .digest;
    t.keel.activate("FanOut", &python).await.unwrap();
    assert_eq!(active("FanOut").await, python);
    assert_eq!(active("Square").await, rust);
    let (instance, _) = run(&t, "FanOut", r#"{"count":10}"#, "mixed").await;
    assert_completed(&instance);
    assert_eq!(instance.module, python);
    assert_eq!(instance.output, Some(json!({"count": 10, "sum": 285})));
}
