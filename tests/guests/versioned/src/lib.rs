//! Test fixture `keel-test-versioned`: one module built in two versions (1.0.0, and 2.0.0 with the
//! `v2` feature), whose activity and orchestrators report the version that ran them, for the
//! hot-swap, pinning, upgrade and rollback tests.
//!
//! Between the two versions, `StampAfterEvent` makes the same calls (an upgrade may move its
//! instances) while `Drift` calls its activity with another input (an upgrade must leave its
//! instances pinned).

use keel_sdk::{ActivityOptions, Context, Failure};
use serde_json::{Value, json};

/// The version of this build.
const VERSION: &str = if cfg!(feature = "v2") {
    "2.0.0"
} else {
    "1.0.0"
};

/// Reports the version that ran, the wall-clock time the attempt started, and its input.
fn stamp(input: Value) -> Result<Value, Failure> {
    let started_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    // A little work, so that attempts overlap whatever happens meanwhile (a deploy).
    std::thread::sleep(std::time::Duration::from_millis(2));
    Ok(json!({"version": VERSION, "startedMs": started_ms, "input": input}))
}

/// Calls `Stamp` `n` times in sequence.
fn stamp_many(ctx: &Context, n: Value) -> Result<Value, Failure> {
    let n = n.as_u64().unwrap_or(0);
    let mut results = Vec::new();
    for i in 0..n {
        results.push(ctx.call_activity("Stamp", &i).get::<Value>()?);
    }
    Ok(json!({"orchestratorVersion": VERSION, "results": results}))
}

/// `Stamp`, a wait for the event `go`, `Stamp` again.
fn stamp_after_event(ctx: &Context, _input: Value) -> Result<Value, Failure> {
    let before: Value = ctx.call_activity("Stamp", "before").get()?;
    let go: Value = ctx.wait_event("go").get()?;
    let after: Value = ctx.call_activity("Stamp", "after").get()?;
    Ok(json!({"orchestratorVersion": VERSION, "results": [before, go, after]}))
}

/// Like `StampAfterEvent`, but version 2 calls `Stamp` with another first input.
fn drift(ctx: &Context, _input: Value) -> Result<Value, Failure> {
    let first = if cfg!(feature = "v2") {
        "changed"
    } else {
        "before"
    };
    let before: Value = ctx.call_activity("Stamp", first).get()?;
    let go: Value = ctx.wait_event("go").get()?;
    Ok(json!({"orchestratorVersion": VERSION, "results": [before, go]}))
}

/// Calls `Stamp` on the versions matching the range given as input.
fn stamp_ranged(ctx: &Context, range: Value) -> Result<Value, Failure> {
    let range = range.as_str().unwrap_or("*");
    let options = ActivityOptions::new().version(range);
    let result: Value = ctx.call_activity_with("Stamp", "ranged", options).get()?;
    Ok(result)
}

/// Fails with `TooEarly` until the wall clock reaches the time (ms since the epoch) given as input.
fn not_before(input: Value) -> Result<Value, Failure> {
    let at = input.as_u64().unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if now < at {
        return Err(Failure::new(
            "TooEarly",
            format!("{} ms too early", at - now),
        ));
    }
    Ok(json!({"version": VERSION, "ranAtMs": now}))
}

/// `Stamp`, then `NotBefore(input)` without retries: fails if run too early, for the rewind tests.
fn stamp_then_not_before(ctx: &Context, at: Value) -> Result<Value, Failure> {
    let first: Value = ctx.call_activity("Stamp", "first").get()?;
    let second: Value = ctx.call_activity("NotBefore", &at).get()?;
    Ok(json!({"orchestratorVersion": VERSION, "results": [first, second]}))
}

keel_sdk::module! {
    orchestrators: {
        "StampMany" => stamp_many,
        "StampAfterEvent" => stamp_after_event,
        "Drift" => drift,
        "StampRanged" => stamp_ranged,
        "StampThenNotBefore" => stamp_then_not_before,
    },
    activities: { "Stamp" => stamp, "NotBefore" => not_before },
}
