//! Heartbeat fixtures: `Progress` (the scenario every language's fixture has), `Beating` (a long
//! activity that reports progress and listens for "stop"), and the orchestrators that call them.

use std::time::Duration;

use keel_sdk::{ActivityOptions, Context, Failure, RetryPolicy, heartbeat, last_heartbeat};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ProgressInput {
    steps: u32,
    fail_at: u32,
}

#[derive(Debug, Deserialize)]
struct Done {
    done: u32,
}

/// Calls `Progress` with two attempts and a heartbeat timeout; answers its output.
pub(crate) fn heartbeats(ctx: &Context, input: Value) -> Result<Value, Failure> {
    let options = ActivityOptions::new()
        .retry(RetryPolicy::new(2, Duration::from_millis(10)))
        .heartbeat_timeout(Duration::from_secs(30));
    ctx.call_activity_with("Progress", &input, options).get()
}

/// Heartbeats `{"done": k}` for each step from where the last attempt got to; a first attempt
/// fails (`Flaky`) once it has reported `fail_at` steps.
pub(crate) fn progress(input: ProgressInput) -> Result<Value, Failure> {
    let last = last_heartbeat::<Done>()?;
    let start = last.as_ref().map_or(0, |d| d.done);
    for step in start..input.steps {
        heartbeat(&json!({ "done": step + 1 }));
        if last.is_none() && step + 1 == input.fail_at {
            return Err(Failure::new("Flaky", "fails once after heartbeating"));
        }
    }
    Ok(json!({ "resumedFrom": start, "done": input.steps }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct BeatingInput {
    /// Heartbeats to send, `{"n": 1}`, `{"n": 2}`, ...
    beats: u32,
    /// Time between two.
    every_ms: u64,
    /// Time spent after the last one, without heartbeating.
    #[serde(default)]
    then_sleep_ms: u64,
    /// Called when a heartbeat answers "stop", before the attempt returns.
    #[serde(default)]
    stopped_url: Option<String>,
}

/// A long activity: heartbeats `beats` times, `every_ms` apart, then sleeps `then_sleep_ms`. When
/// a heartbeat answers "stop" it calls `stopped_url` (its clean-up) and fails `Stopped`. An attempt
/// after one that heartbeated answers at once with `{"resumedFrom": <its last details>}`.
pub(crate) fn beating(input: BeatingInput) -> Result<Value, Failure> {
    if let Some(last) = last_heartbeat::<Value>()? {
        return Ok(json!({ "resumedFrom": last }));
    }
    for n in 1..=input.beats {
        if heartbeat(&json!({ "n": n })) {
            if let Some(url) = &input.stopped_url {
                keel_sdk::http::Request::get(url).send()?;
            }
            return Err(Failure::new("Stopped", format!("told to stop at beat {n}")));
        }
        std::thread::sleep(Duration::from_millis(input.every_ms));
    }
    std::thread::sleep(Duration::from_millis(input.then_sleep_ms));
    Ok(json!({ "beats": input.beats }))
}

/// Calls `Beating` with `input`, waits for a `Cancel` event, cancels the call and answers what it
/// resolved with.
pub(crate) fn cancel_beating(ctx: &Context, input: Value) -> Result<Value, Failure> {
    let task = ctx.call_activity("Beating", &input);
    ctx.wait_event("Cancel").get::<Value>()?;
    ctx.cancel(task);
    Ok(match task.get::<Value>() {
        Ok(value) => value,
        Err(failure) => json!(failure.kind),
    })
}

/// An orchestrator that heartbeats: it fails, since only activities may.
pub(crate) fn beats_in_orchestrator(_ctx: &Context, _input: Value) -> Result<Value, Failure> {
    heartbeat(&json!({ "n": 1 }));
    Ok(Value::Null)
}
