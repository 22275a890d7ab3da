//! Test fixture `keel-test-patterns`: one orchestrator or activity per engine behaviour the end-to-end
//! tests exercise (sub-orchestrations, continue-as-new, failures, retries, timeouts, runaway guests,
//! replay and determinism).
//! It must never be used as an example of good workflow code: several functions misbehave on purpose
//! (infinite loops, unbounded allocation, traps, non-determinism).

use std::cell::Cell;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod heartbeats;
mod inline;

use keel_sdk::{ActivityOptions, Context, Failure, RetryPolicy, activity_info};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Orchestrators
// ---------------------------------------------------------------------------------------------

/// Waits for one `Tick` the way SDKs from before queries did, with the raw `await-any` (which
/// cannot take a query), after registering a handler that is therefore never reached.
fn old_wait(ctx: &Context, _: Value) -> Result<(), Failure> {
    ctx.on_query("Count", |_: Value| Ok(0));
    let tick = ctx.wait_event("Tick");
    keel_sdk::bindings::keel::workflow::context::await_any(&[tick.id()]);
    Ok(())
}

#[derive(Debug, Deserialize)]
struct CarryInput {
    round: u32,
    keep: bool,
}

/// Continue-as-new carrying unanswered events over (the same in every language's fixture): round 1
/// waits for `Go` and continues as new, keeping the events it never waited for when its input says
/// `keep`; round 2 waits for `Later` and returns its data.
fn carry(ctx: &Context, input: CarryInput) -> Result<Value, Failure> {
    if input.round == 1 {
        ctx.wait_event("Go").get::<Value>()?;
        let next = json!({"round": 2, "keep": input.keep});
        if input.keep {
            ctx.continue_as_new_keeping_events(&next);
        } else {
            ctx.continue_as_new(&next);
        }
        return Ok(Value::Null);
    }
    let later: Value = ctx.wait_event("Later").get()?;
    Ok(json!({"round": input.round, "later": later}))
}

/// Counts `Tick` events until it has `input` of them, answering queries about them as it goes:
/// `Count` (the ticks so far), `Plus` (the count plus its input, a number), `Fail` (always fails)
/// and `Schedule` (misbehaves: schedules an activity, which a query may not).
fn queried(ctx: &Context, ticks: u32) -> Result<u32, Failure> {
    let count = Rc::new(Cell::new(0u32));
    let seen = count.clone();
    ctx.on_query("Count", move |_: Value| Ok(seen.get()));
    let seen = count.clone();
    ctx.on_query("Plus", move |n: u32| Ok(seen.get() + n));
    ctx.on_query("Fail", |_: Value| -> Result<(), Failure> {
        Err(Failure::new("NotToday", "this query always fails"))
    });
    // A handler holds no context; the raw host call is how one would break the rule anyway.
    ctx.on_query("Schedule", |_: Value| {
        use keel_sdk::bindings::keel::workflow::{context, types};
        let options = types::ActivityOptions {
            retry: None,
            timeout_ms: None,
        };
        Ok(context::call_activity("Echo", "1", &options))
    });
    while count.get() < ticks {
        ctx.wait_event("Tick").get::<Value>()?;
        count.set(count.get() + 1);
    }
    Ok(count.get())
}

/// Answers the query `Random` with a number drawn by the raw host call, waits for a `Tick`, and
/// returns a number it draws itself afterwards: the same whether or not a query drew one before.
fn queried_random(ctx: &Context, _: Value) -> Result<u64, Failure> {
    ctx.on_query("Random", |_: Value| {
        Ok(keel_sdk::bindings::keel::workflow::context::random_u64())
    });
    ctx.wait_event("Tick").get::<Value>()?;
    Ok(ctx.random_u64())
}

/// Cancellation in the shared language suite (every language's fixture does the same): a timer an
/// hour away and the first of two waits for `Go` are canceled (the timer twice, the second time a
/// no-op); awaiting them gives their failures' kinds, and the first `Go` raised goes to the second
/// wait.
fn cancel_tasks(ctx: &Context, _: Value) -> Result<Value, Failure> {
    let timer = ctx.timer(Duration::from_secs(3600));
    let first = ctx.wait_event("Go");
    let second = ctx.wait_event("Go");
    ctx.cancel(timer);
    ctx.cancel(first);
    ctx.cancel(timer);
    let kind = |result: Result<Value, Failure>| match result {
        Err(failure) => json!(failure.kind),
        Ok(_) => json!("none"),
    };
    let timer = kind(timer.get());
    let first = kind(first.get());
    let go: Value = second.get()?;
    Ok(json!({"timer": timer, "first": first, "go": go}))
}

#[derive(Debug, Deserialize)]
struct CancelsInput {
    #[serde(rename = "loop")]
    http_loop: Value,
}

/// Cancels an activity in the turn that scheduled it (it is never written), and once a `Cancel`
/// event comes, a running activity (`HttpLoop` with `loop` as its input) and a waiting
/// sub-orchestration (`WaitForEvent`, as `cancels-child`); answers each task's failure kind.
fn cancels(ctx: &Context, input: CancelsInput) -> Result<Value, Failure> {
    let never = ctx.call_activity("Echo", "never");
    ctx.cancel(never);
    let running = ctx.call_activity("HttpLoop", &input.http_loop);
    let child = ctx.call_orchestrator("WaitForEvent", Some("cancels-child"), &Value::Null);
    ctx.wait_event("Cancel").get::<Value>()?;
    ctx.cancel(running);
    ctx.cancel(child);
    let kinds: Vec<Value> = ctx
        .all(&[never, running, child])
        .into_iter()
        .map(|result| match result {
            Err(failure) => json!(failure.kind),
            Ok(value) => value,
        })
        .collect();
    Ok(json!(kinds))
}

/// Keeps a total that clients change with updates until a `Close` event, and returns it:
/// - `Add` (a number): the validator rejects a negative one (`Negative`); the handler adds it and
///   answers the total, except 13, which it refuses (`Unlucky`) without adding;
/// - `Echo` (text): schedules the `Echo` activity, which nothing waits for, and answers its task id;
/// - `Wait` and `Sneaky` misbehave: the first's handler waits, the second's validator schedules.
fn updated(ctx: &Context, _: Value) -> Result<i64, Failure> {
    let total = Rc::new(Cell::new(0i64));
    let kept = total.clone();
    let positive = |n: &i64| match *n {
        n if n < 0 => Err(Failure::new(
            "Negative",
            "only amounts of 0 or more are added",
        )),
        _ => Ok(()),
    };
    ctx.on_update_validated("Add", positive, move |_: &Context, n: i64| {
        if n == 13 {
            return Err(Failure::new("Unlucky", "13 is not added"));
        }
        kept.set(kept.get() + n);
        Ok(kept.get())
    });
    ctx.on_update("Echo", |ctx: &Context, text: String| {
        Ok(ctx.call_activity("Echo", &text).id())
    });
    ctx.on_update("Wait", |ctx: &Context, _: Value| {
        ctx.wait_event("Never").get::<Value>()
    });
    let sneaky = |_: &Value| {
        // A validator holds no context; the raw host call is how one would break the rule anyway.
        use keel_sdk::bindings::keel::workflow::{context, types};
        let options = types::ActivityOptions {
            retry: None,
            timeout_ms: None,
        };
        context::call_activity("Echo", "1", &options);
        Ok(())
    };
    ctx.on_update_validated("Sneaky", sneaky, |_: &Context, _: Value| Ok(0));
    ctx.wait_event("Close").get::<Value>()?;
    Ok(total.get())
}

#[derive(Debug, Deserialize)]
struct ParentInput {
    children: Vec<i64>,
}

/// Starts one `Child` sub-orchestration per number, all at once, and sums their outputs.
fn parent(ctx: &Context, input: ParentInput) -> Result<Value, Failure> {
    let tasks: Vec<_> = input
        .children
        .iter()
        .map(|n| ctx.call_orchestrator("Child", None, n))
        .collect();
    let outputs: Vec<i64> = ctx.all_as(&tasks)?;
    let sum = outputs
        .into_iter()
        .try_fold(0i64, i64::checked_add)
        .ok_or_else(|| Failure::new("Overflow", "the sum of the children overflows an i64"))?;
    Ok(json!({ "sum": sum }))
}

/// Doubles its input through the `Double` activity.
fn child(ctx: &Context, n: i64) -> Result<i64, Failure> {
    ctx.call_activity("Double", &n).get()
}

#[derive(Debug, Serialize, Deserialize)]
struct CounterInput {
    n: u64,
    until: u64,
}

/// Counts from `n` to `until` with one execution per step, through continue-as-new.
fn counter(ctx: &Context, input: CounterInput) -> Result<Value, Failure> {
    if input.n < input.until {
        ctx.continue_as_new(&CounterInput {
            n: input.n + 1,
            until: input.until,
        });
        // Ignored by the host: continue-as-new replaces the result.
        return Ok(json!({}));
    }
    Ok(json!({ "n": input.n }))
}

/// An eternal orchestration that starts a `Child` (with a host-derived id) in every execution and
/// continues as new until `until`; returns the last child's output.
fn eternal_parent(ctx: &Context, input: CounterInput) -> Result<Value, Failure> {
    let doubled: i64 = ctx.call_orchestrator("Child", None, &input.n).get()?;
    if input.n < input.until {
        ctx.continue_as_new(&CounterInput {
            n: input.n + 1,
            until: input.until,
        });
        return Ok(json!({}));
    }
    Ok(json!({ "n": input.n, "doubled": doubled }))
}

#[derive(Debug, Deserialize)]
struct BusyThenCallInput {
    spins: u64,
    activity: String,
    #[serde(default)]
    input: Value,
}

/// Computes for a while in its first turn (`spins` rounds of busy work), then calls an activity: a
/// turn that takes longer than a lease.
fn busy_then_call(ctx: &Context, input: BusyThenCallInput) -> Result<Value, Failure> {
    let mut x = 0u64;
    for i in 0..input.spins {
        x = black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
    }
    black_box(x);
    ctx.call_activity(&input.activity, &input.input).get()
}

/// Starts a durable timer of `ms`, then waits for `FailUnlessReady` before the timer: the instance
/// fails while its timer is still pending, which a rewind must not lose.
fn timer_and_activity(ctx: &Context, ms: u64) -> Result<Value, Failure> {
    let timer = ctx.timer(Duration::from_millis(ms));
    let ready: Value = ctx.call_activity("FailUnlessReady", &Value::Null).get()?;
    timer.get::<()>()?;
    Ok(json!({ "ready": ready }))
}

/// Starts `n` `WaitForEvent` children (ids `{instance}:0`, ...) and waits for all of them.
fn waiting_parent(ctx: &Context, n: u32) -> Result<Value, Failure> {
    let tasks: Vec<_> = (0..n)
        .map(|_| ctx.call_orchestrator("WaitForEvent", None, &Value::Null))
        .collect();
    let outputs: Vec<Value> = ctx.all_as(&tasks)?;
    Ok(json!({ "children": outputs }))
}

#[derive(Debug, Deserialize)]
struct NamedChildInput {
    child: String,
    /// The child's orchestrator; `WaitForEvent` when absent.
    #[serde(default = "wait_for_event_name")]
    orchestrator: String,
    /// The child's input.
    #[serde(default)]
    input: Value,
}

fn wait_for_event_name() -> String {
    "WaitForEvent".to_owned()
}

/// Starts one child (`WaitForEvent` unless `orchestrator` names another) under the id it is given
/// and returns `{"child": its output}`, or fails with the child's failure: two incarnations of one
/// parent id can each have a child of their own, and a test can reuse a child's id on purpose.
fn parent_of_named(ctx: &Context, input: NamedChildInput) -> Result<Value, Failure> {
    let output: Value = ctx
        .call_orchestrator(&input.orchestrator, Some(&input.child), &input.input)
        .get()?;
    Ok(json!({ "child": output }))
}

/// Waits for the event `Go` and returns its data.
fn wait_for_event(ctx: &Context, _input: Value) -> Result<Value, Failure> {
    ctx.wait_event("Go").get()
}

/// Waits an hour the wrong way: a WASI sleep (a real-time wait the host's virtual clock does not
/// cover) instead of a durable timer.
fn sleep_in_turn(_ctx: &Context, _input: Value) -> Result<Value, Failure> {
    std::thread::sleep(Duration::from_secs(3600));
    Ok(json!("woke up"))
}

/// Shows that an activity's failure reaches the orchestrator as a value it can handle.
fn catch_failure(ctx: &Context, _input: Value) -> Result<Value, Failure> {
    match ctx
        .call_activity("AlwaysFails", &Value::Null)
        .get::<Value>()
    {
        Err(failure) => Ok(json!({ "caught": failure.kind, "message": failure.message })),
        Ok(output) => Err(Failure::new(
            "Unexpected",
            format!("AlwaysFails succeeded with {output}"),
        )),
    }
}

#[derive(Debug, Deserialize)]
struct RetryingInput {
    failures: u32,
}

/// Calls an activity that fails `failures` times before succeeding, under a 5-attempt retry policy.
fn retrying(ctx: &Context, input: RetryingInput) -> Result<Value, Failure> {
    let options =
        ActivityOptions::new().retry(RetryPolicy::new(5, Duration::from_millis(10)).backoff(2.0));
    ctx.call_activity_with(
        "FailUntilAttempt",
        &input.failures.saturating_add(1),
        options,
    )
    .get()
}

/// Runs `Spin` under a per-attempt time limit of `ms` and reports how it ended.
fn with_timeout(ctx: &Context, ms: u64) -> Result<Value, Failure> {
    let options = ActivityOptions::new().timeout(Duration::from_millis(ms));
    match ctx
        .call_activity_with("Spin", &Value::Null, options)
        .get::<Value>()
    {
        Ok(_) => Ok(json!({ "outcome": "ok" })),
        Err(failure) => Ok(json!({
            "outcome": "failed",
            "kind": failure.kind,
            "message": failure.message,
        })),
    }
}

#[derive(Debug, Deserialize)]
struct RunBadInput {
    activity: String,
}

/// Runs a misbehaving activity (`Loop`, `Bomb` or `Trap`) with a 2 s limit and reports its failure.
fn run_bad(ctx: &Context, input: RunBadInput) -> Result<Value, Failure> {
    let options = ActivityOptions::new().timeout(Duration::from_secs(2));
    match ctx
        .call_activity_with(&input.activity, &Value::Null, options)
        .get::<Value>()
    {
        Ok(output) => Ok(json!({ "ok": output })),
        Err(failure) => Ok(json!({ "kind": failure.kind, "message": failure.message })),
    }
}

#[derive(Debug, Deserialize)]
struct CallInput {
    activity: String,
    #[serde(default)]
    input: Value,
    /// Attempts and first retry interval of a retry policy, when given.
    #[serde(default)]
    retry: Option<(u32, u64)>,
    /// Heartbeat timeout of the call, when given.
    #[serde(default)]
    heartbeat_timeout_ms: Option<u64>,
    /// A local activity call.
    #[serde(default)]
    local: bool,
}

/// Runs any activity (once, or under the retry policy given) and reports its output or its failure
/// as data.
fn call(ctx: &Context, input: CallInput) -> Result<Value, Failure> {
    let mut options = ActivityOptions::new();
    if let Some((attempts, first_ms)) = input.retry {
        options = options.retry(RetryPolicy::new(attempts, Duration::from_millis(first_ms)));
    }
    if let Some(ms) = input.heartbeat_timeout_ms {
        options = options.heartbeat_timeout(Duration::from_millis(ms));
    }
    if input.local {
        options = options.local();
    }
    match ctx
        .call_activity_with(&input.activity, &input.input, options)
        .get::<Value>()
    {
        Ok(output) => Ok(json!({ "ok": output })),
        Err(failure) => Ok(json!({
            "kind": failure.kind,
            "message": failure.message,
            "details": failure.details,
        })),
    }
}

#[derive(Debug, Deserialize)]
struct LeakInput {
    var: String,
    #[serde(default)]
    fail: bool,
}

/// Fails unless the configuration value `READY` is set (`keel config set FailUnlessReady READY=…`).
fn fail_unless_ready(_input: Value) -> Result<Value, Failure> {
    std::env::var("READY")
        .map(Value::String)
        .map_err(|_| Failure::new("NotReady", "READY is not configured"))
}

/// Does everything an activity should not do with a secret: prints it, returns it, fails with it.
fn leak(input: LeakInput) -> Result<Value, Failure> {
    let value = std::env::var(&input.var).unwrap_or_default();
    println!("the value of {} is {value}", input.var);
    eprintln!("stderr also gets {value}");
    if input.fail {
        return Err(Failure::new("Leaked", format!("failed holding {value}"))
            .with_details(&json!({ "value": value })));
    }
    Ok(json!({ "value": value, "nested": [format!("x{value}x")] }))
}

#[derive(Debug, Deserialize)]
struct HttpLoopInput {
    url: String,
    times: u32,
}

/// Sends `times` GET requests to `url` one after the other and returns how long each took, in
/// microseconds of the attempt's real monotonic clock (the HTTP benchmark's probe).
fn http_loop(input: HttpLoopInput) -> Result<Value, Failure> {
    let mut micros = Vec::with_capacity(input.times as usize);
    for _ in 0..input.times {
        let started = std::time::Instant::now();
        let response = keel_sdk::http::Request::get(&input.url).send()?;
        micros.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        if response.status != 200 {
            return Err(Failure::new(
                "HttpStatus",
                format!("status {}", response.status),
            ));
        }
    }
    Ok(json!({ "micros": micros }))
}

/// An orchestrator that never yields to the host: the host must interrupt it.
fn loop_forever(_ctx: &Context, _input: Value) -> Result<Value, Failure> {
    busy_loop()
}

/// Activity, event, activity: a history with a wait in the middle, for replay and restart tests.
fn steps(ctx: &Context, _input: Value) -> Result<Value, Failure> {
    let a: Value = ctx.call_activity("Echo", "a").get()?;
    let data: Value = ctx.wait_event("go").get()?;
    let b: Value = ctx.call_activity("Echo", "b").get()?;
    Ok(json!([a, data, b]))
}

/// Deliberately non-deterministic: schedules a different input when replaying than when live, so a
/// replay after a restart diverges from its history.
fn flipflop(ctx: &Context, _input: Value) -> Result<Value, Failure> {
    let input = if ctx.is_replaying() { "replay" } else { "live" };
    ctx.call_activity("Echo", input).get::<Value>()?;
    ctx.wait_event("go").get()
}

/// Reads time and randomness through plain WASI and the context; the host's deterministic WASI must
/// make the first reading identical on replay, or the `Echo` call carrying it is reported as a
/// non-deterministic divergence.
fn determinism(ctx: &Context, _input: Value) -> Result<Value, Failure> {
    let first = ambient_reading(ctx);
    ctx.call_activity("Echo", &first).get::<Value>()?;
    ctx.wait_event("go").get::<Value>()?;
    // A later turn: its time differs from the first's, which is why it is kept apart.
    let second = ambient_reading(ctx);
    Ok(json!({ "first": first, "second": second, "ctxNow": ctx.now_ms() }))
}

/// Everything an orchestrator could read from its environment without asking the context, plus the
/// context's own random number.
fn ambient_reading(ctx: &Context) -> Value {
    let time_ms = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since_epoch) => json!(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)),
        Err(error) => json!(format!("clock before the epoch: {error}")),
    };
    // RandomState's keys come from WASI random; hashing a fixed value exposes them.
    let wasi_random = RandomState::new().hash_one(0x6b65_656cu64);
    let map: HashMap<String, u32> = (0..5u32).map(|i| (format!("key-{i}"), i)).collect();
    let map_order: Vec<&String> = map.keys().collect();
    json!({
        "timeMs": time_ms,
        "wasiRandom": wasi_random,
        "ctxRandom": ctx.random_u64(),
        "mapOrder": map_order,
    })
}

/// Waits on a durable timer of `ms` milliseconds.
fn timer(ctx: &Context, ms: u64) -> Result<Value, Failure> {
    ctx.timer(Duration::from_millis(ms)).get::<Value>()?;
    Ok(json!({ "fired": true }))
}

// ---------------------------------------------------------------------------------------------
// Activities
// ---------------------------------------------------------------------------------------------

fn double(n: i64) -> Result<i64, Failure> {
    n.checked_mul(2)
        .ok_or_else(|| Failure::new("Overflow", format!("2 × {n} overflows an i64")))
}

fn echo(value: Value) -> Result<Value, Failure> {
    Ok(value)
}

fn always_fails(_input: Value) -> Result<Value, Failure> {
    Err(Failure::new("Boom", "this activity always fails"))
}

/// Fails with kind `NotYet` until the attempt number reaches `k`.
fn fail_until_attempt(k: u32) -> Result<Value, Failure> {
    let Some(info) = activity_info() else {
        // Without attempt numbers the fixture cannot tell attempts apart: say so rather than guess.
        return Err(Failure::new(
            "NoActivityInfo",
            "KEEL_ATTEMPT and the other KEEL_* variables are not set for this attempt",
        ));
    };
    if info.attempt < k {
        return Err(Failure::new(
            "NotYet",
            format!("attempt {} of the {k} needed", info.attempt),
        ));
    }
    Ok(json!({ "attempt": info.attempt }))
}

/// Reports the attempt's `KEEL_IDEMPOTENCY_KEY`: fails with kind `NotYet` (the key in the details)
/// until the attempt number reaches `k`, then returns `{"key", "attempt"}`.
fn idempotency_key(k: u32) -> Result<Value, Failure> {
    let info = activity_info().ok_or_else(|| {
        Failure::new(
            "NoActivityInfo",
            "KEEL_ATTEMPT and the other KEEL_* variables are not set for this attempt",
        )
    })?;
    let reading = json!({ "key": info.idempotency_key, "attempt": info.attempt });
    if info.attempt < k {
        return Err(Failure::new(
            "NotYet",
            format!("attempt {} of the {k} needed", info.attempt),
        )
        .with_details(&reading));
    }
    Ok(reading)
}

/// Waits `ms` milliseconds of real time (a WASI sleep), then returns `ms`: an attempt that is still
/// running when the test changes the instance under it.
fn sleep(ms: u64) -> Result<u64, Failure> {
    std::thread::sleep(Duration::from_millis(ms));
    Ok(ms)
}

/// Burns CPU forever; only the host's time limit ends it.
fn spin(_input: Value) -> Result<Value, Failure> {
    busy_loop()
}

/// Allocates without bound, 1 MiB at a time, writing every chunk so the memory is really used; only
/// the host's memory limit ends it.
fn bomb(_input: Value) -> Result<Value, Failure> {
    const CHUNK: usize = 1 << 20;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Non-zero fill: zeroed allocations could be satisfied by fresh pages without a write.
        let chunk = vec![0xA5u8; CHUNK];
        hoard.push(black_box(chunk));
        black_box(&hoard);
    }
}

/// Traps through a panic (panics abort on wasm32-wasip2).
fn trap(_input: Value) -> Result<Value, Failure> {
    panic!("deliberate trap")
}

#[derive(Debug, Deserialize)]
struct ChattyInput {
    /// Lines to log in each of the two turns, half through the context and half on stdout.
    lines: u32,
    /// Bytes of each line.
    bytes: usize,
}

/// Logs `lines` lines of `bytes` bytes, waits for event `go`, and logs as many again: the host's
/// log budget per turn bounds both turns.
fn chatty(ctx: &Context, input: ChattyInput) -> Result<Value, Failure> {
    let line = "x".repeat(input.bytes);
    for turn in ["first", "second"] {
        for i in 0..input.lines {
            if i % 2 == 0 {
                ctx.info(format!("{turn} {i} {line}"));
            } else {
                println!("{turn} {i} {line}");
            }
        }
        if turn == "first" {
            ctx.wait_event("go").get::<Value>()?;
        }
    }
    Ok(Value::Null)
}

#[derive(Debug, Deserialize)]
struct FanInput {
    count: u32,
    /// `Sleep` with this many milliseconds instead of `Echo`, for attempts that take a while.
    #[serde(default)]
    sleep_ms: Option<u64>,
}

/// Schedules `count` `Echo` calls (or `Sleep` calls) in one turn and waits for them all; returns
/// the sum of their outputs.
fn fan(ctx: &Context, input: FanInput) -> Result<Value, Failure> {
    let tasks: Vec<_> = (0..input.count)
        .map(|i| match input.sleep_ms {
            Some(ms) => ctx.call_activity("Sleep", &ms),
            None => ctx.call_activity("Echo", &u64::from(i)),
        })
        .collect();
    let mut total = 0u64;
    for task in tasks {
        total += task.get::<u64>()?;
    }
    Ok(json!(total))
}

#[derive(Debug, Deserialize)]
struct FailLoudlyInput {
    kind_bytes: usize,
    message_bytes: usize,
}

/// Fails with a kind and a message of the sizes asked for.
fn fail_loudly(input: FailLoudlyInput) -> Result<Value, Failure> {
    Err(Failure::new(
        "K".repeat(input.kind_bytes),
        "m".repeat(input.message_bytes),
    ))
}

fn busy_loop() -> ! {
    let mut counter = 0u64;
    loop {
        // black_box keeps the loop from being optimised into nothing.
        counter = black_box(counter.wrapping_add(1));
    }
}

keel_sdk::module! {
    orchestrators: {
        "Parent" => parent,
        "Queried" => queried,
        "QueriedRandom" => queried_random,
        "Updated" => updated,
        "CancelTasks" => cancel_tasks,
        "Cancels" => cancels,
        "Carry" => carry,
        "OldWait" => old_wait,
        "Child" => child,
        "Counter" => counter,
        "EternalParent" => eternal_parent,
        "SleepInTurn" => sleep_in_turn,
        "WaitingParent" => waiting_parent,
        "WaitForEvent" => wait_for_event,
        "ParentOfNamed" => parent_of_named,
        "TimerAndActivity" => timer_and_activity,
        "BusyThenCall" => busy_then_call,
        "CatchFailure" => catch_failure,
        "Retrying" => retrying,
        "WithTimeout" => with_timeout,
        "RunBad" => run_bad,
        "LoopForever" => loop_forever,
        "Steps" => steps,
        "Flipflop" => flipflop,
        "Determinism" => determinism,
        "Timer" => timer,
        "Call" => call,
        "Chatty" => chatty,
        "Fan" => fan,
        "Heartbeats" => heartbeats::heartbeats,
        "CancelBeating" => heartbeats::cancel_beating,
        "BeatsInOrchestrator" => heartbeats::beats_in_orchestrator,
        "Inline" => inline::inline,
        "LocalChain" => inline::local_chain,
        "LocalGets" => inline::local_gets,
        "LocalCanceled" => inline::local_canceled,
        "LocalFan" => inline::local_fan,
    },
    activities: {
        "Double" => double,
        "Echo" => echo,
        "AlwaysFails" => always_fails,
        "FailUntilAttempt" => fail_until_attempt,
        "Spin" => spin,
        "Loop" => spin,
        "Bomb" => bomb,
        "Trap" => trap,
        "Leak" => leak,
        "FailUnlessReady" => fail_unless_ready,
        "HttpLoop" => http_loop,
        "IdempotencyKey" => idempotency_key,
        "Sleep" => sleep,
        "FailLoudly" => fail_loudly,
        "Progress" => heartbeats::progress,
        "Beating" => heartbeats::beating,
        "Bump" => inline::bump,
    },
}
