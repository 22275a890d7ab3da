//! Test fixture `keel-test-changed`: a changed version of the patterns fixture's `Steps` orchestrator,
//! whose first call differs (`Echo("x")` instead of `Echo("a")`).
//! It must never converge with the original: replaying an old `Steps` history against it has to be
//! reported as non-deterministic at the very first scheduled task.

use keel_sdk::{Context, Failure};
use serde_json::{Value, json};

/// Like the original `Steps`, except that the first activity's input is `"x"`.
fn steps(ctx: &Context, _input: Value) -> Result<Value, Failure> {
    let x: Value = ctx.call_activity("Echo", "x").get()?;
    let data: Value = ctx.wait_event("go").get()?;
    let b: Value = ctx.call_activity("Echo", "b").get()?;
    Ok(json!([x, data, b]))
}

fn echo(value: Value) -> Result<Value, Failure> {
    Ok(value)
}

keel_sdk::module! {
    orchestrators: { "Steps" => steps },
    activities: { "Echo" => echo },
}
