//! Local activity fixtures: `Inline` and `Bump` (the scenario every language's fixture has),
//! `LocalChain` (a chain of local calls as long as asked), `LocalGets` (local HTTP requests in a
//! row), `LocalCanceled` (a local call canceled before it runs) and `LocalFan` (many local calls
//! at once).

use keel_sdk::{ActivityOptions, Context, Failure};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
pub(crate) struct Steps {
    steps: u32,
}

/// Bumps a counter `steps` times with local calls of `Bump`, then makes one local call that fails;
/// answers `{"total": steps, "failed": "Negative"}`.
pub(crate) fn inline(ctx: &Context, input: Steps) -> Result<Value, Failure> {
    let local = || ActivityOptions::new().local();
    let mut total: i64 = 0;
    for _ in 0..input.steps {
        total = ctx.call_activity_with("Bump", &total, local()).get()?;
    }
    let failed = match ctx.call_activity_with("Bump", &-1, local()).get::<i64>() {
        Ok(_) => None,
        Err(failure) => Some(failure.kind),
    };
    Ok(json!({ "total": total, "failed": failed }))
}

/// `n + 1`; a negative `n` fails with kind `Negative`.
pub(crate) fn bump(n: i64) -> Result<i64, Failure> {
    if n < 0 {
        return Err(Failure::new("Negative", "cannot bump a negative number"));
    }
    Ok(n + 1)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChainInput {
    steps: u32,
    /// Local calls when true (the default), ordinary ones when false.
    #[serde(default = "yes")]
    local: bool,
}

fn yes() -> bool {
    true
}

/// Calls `Bump` `steps` times in a row, each call waiting for the one before; answers the total.
pub(crate) fn local_chain(ctx: &Context, input: ChainInput) -> Result<Value, Failure> {
    let mut options = ActivityOptions::new();
    if input.local {
        options = options.local();
    }
    let mut total: i64 = 0;
    for _ in 0..input.steps {
        total = ctx
            .call_activity_with("Bump", &total, options.clone())
            .get()?;
    }
    Ok(json!(total))
}

#[derive(Debug, Deserialize)]
pub(crate) struct GetsInput {
    url: String,
    paths: Vec<String>,
}

/// GETs `url` + each of `paths` in turn, each through a local call of `HttpLoop`; answers how many.
pub(crate) fn local_gets(ctx: &Context, input: GetsInput) -> Result<Value, Failure> {
    for path in &input.paths {
        let get = json!({ "url": format!("{}{path}", input.url), "times": 1 });
        ctx.call_activity_with("HttpLoop", &get, ActivityOptions::new().local())
            .get::<Value>()?;
    }
    Ok(json!(input.paths.len()))
}

/// Makes a local call and cancels it before waiting (it never runs), then makes another; answers
/// `{"canceled": <the first's failure kind>, "bumped": 6}`.
pub(crate) fn local_canceled(ctx: &Context, _input: Value) -> Result<Value, Failure> {
    let never = ctx.call_activity_with("Bump", &1, ActivityOptions::new().local());
    ctx.cancel(never);
    let bumped: i64 = ctx
        .call_activity_with("Bump", &5, ActivityOptions::new().local())
        .get()?;
    let canceled = match never.get::<Value>() {
        Err(failure) => json!(failure.kind),
        Ok(_) => json!("none"),
    };
    Ok(json!({ "canceled": canceled, "bumped": bumped }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct FanInput {
    count: u32,
}

/// Makes `count` local calls of `Bump` (inputs 0, 1, …) before waiting for all of them; answers the
/// sum of their outputs.
pub(crate) fn local_fan(ctx: &Context, input: FanInput) -> Result<Value, Failure> {
    let tasks: Vec<_> = (0..input.count)
        .map(|i| ctx.call_activity_with("Bump", &i64::from(i), ActivityOptions::new().local()))
        .collect();
    let mut total: i64 = 0;
    for task in tasks {
        total += task.get::<i64>()?;
    }
    Ok(json!(total))
}
