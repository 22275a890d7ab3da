//! The {{name}} module: the orchestrator `Hello` asks the activity `Greet` for a greeting. The
//! activity `Fetch` shows an HTTP call: it may reach only what it is granted
//! (`keel grant Fetch https://example.com`) at the URL it is configured with
//! (`keel config set Fetch URL=https://example.com/`).

use keel_sdk::{Context, Failure, http};
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

/// An activity that calls a web service: GETs `$URL` and returns the body's first line.
fn fetch(_input: keel_sdk::Value) -> Result<String, Failure> {
    let url = std::env::var("URL").map_err(|_| Failure::new("NotConfigured", "set URL"))?;
    let response = http::Request::get(&url).send()?.error_for_status()?;
    Ok(response.text().lines().next().unwrap_or_default().to_owned())
}

keel_sdk::module! {
    orchestrators: { "Hello" => hello },
    activities: { "Greet" => greet, "Fetch" => fetch },
}
