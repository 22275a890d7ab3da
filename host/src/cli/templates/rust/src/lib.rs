//! The {{name}} module: the orchestrator `Hello` asks the activity `Greet` for a greeting.

use keel_sdk::{Context, Failure};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Input {
    name: String,
}

#[derive(Serialize)]
struct Output {
    greeting: String,
}

/// An orchestrator: deterministic, it only schedules work and waits for it.
fn hello(ctx: &Context, input: Input) -> Result<Output, Failure> {
    let greeting: String = ctx.call_activity("Greet", &input.name).get()?;
    Ok(Output { greeting })
}

/// An activity: ordinary code, retried under the caller's retry policy when it fails.
fn greet(name: String) -> Result<String, Failure> {
    if name.is_empty() {
        return Err(Failure::new("NoName", "cannot greet nobody"));
    }
    Ok(format!("Hello, {name}!"))
}

keel_sdk::module! {
    orchestrators: { "Hello" => hello },
    activities: { "Greet" => greet },
}
