//! The fan-out example: a fan-out/fan-in orchestrator (`FanOut`) and a sequential chain (`Sequence`)
//! over two trivial arithmetic activities.
//! It must never await inside the fan-out loop: every task is scheduled before the first wait, which is
//! what lets the host run them in parallel.

use keel_sdk::{Context, Failure};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
struct FanOutInput {
    count: u64,
}

#[derive(Debug, Serialize)]
struct FanOutOutput {
    count: u64,
    sum: u64,
}

#[derive(Debug, Deserialize)]
struct SequenceInput {
    steps: u64,
}

#[derive(Debug, Serialize)]
struct SequenceOutput {
    steps: u64,
    value: u64,
}

/// Squares 0..count in parallel and sums the squares.
fn fan_out(ctx: &Context, input: FanOutInput) -> Result<FanOutOutput, Failure> {
    let tasks: Vec<_> = (0..input.count)
        .map(|i| ctx.call_activity("Square", &i))
        .collect();
    let squares: Vec<u64> = ctx.all_as(&tasks)?;
    let sum = squares
        .into_iter()
        .try_fold(0u64, u64::checked_add)
        .ok_or_else(|| Failure::new("Overflow", "the sum of squares does not fit in a u64"))?;
    Ok(FanOutOutput {
        count: input.count,
        sum,
    })
}

/// Increments a counter `steps` times, one activity call after the other.
fn sequence(ctx: &Context, input: SequenceInput) -> Result<SequenceOutput, Failure> {
    let mut value = 0u64;
    for _ in 0..input.steps {
        value = ctx.call_activity("Increment", &value).get()?;
    }
    Ok(SequenceOutput {
        steps: input.steps,
        value,
    })
}

fn square(n: u64) -> Result<u64, Failure> {
    n.checked_mul(n)
        .ok_or_else(|| Failure::new("Overflow", format!("{n} squared does not fit in a u64")))
}

fn increment(n: u64) -> Result<u64, Failure> {
    n.checked_add(1)
        .ok_or_else(|| Failure::new("Overflow", "the counter is at u64::MAX"))
}

keel_sdk::module! {
    orchestrators: { "FanOut" => fan_out, "Sequence" => sequence },
    activities: { "Square" => square, "Increment" => increment },
}
