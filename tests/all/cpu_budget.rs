//! CPU budgets count the time a guest runs, not the time it waits for a core: on a busy machine a turn
//! that stays within its budget completes however long it waited.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Running, TestEngine, assert_completed, engine_with};

/// The budget every turn runs under.
const BUDGET: Duration = Duration::from_millis(1_000);

/// Busy turns started at once: on two cores each waits for a core most of the time.
const N: usize = 24;

#[tokio::test(flavor = "multi_thread")]
async fn turns_within_their_cpu_budget_complete_on_a_busy_machine() {
    let t = engine_with(&["keel_test_patterns"], |c| {
        c.limits.turn_cpu_ms = BUDGET.as_millis() as u64;
        c.max_turns = N;
    })
    .await;
    // A third of the budget per turn, measured on this machine rather than assumed: a fixed count of
    // rounds is a different share of the budget on every machine and under every load.
    let spins = spins_for(&t, BUDGET / 3).await;
    let input = json!({"spins": spins, "activity": "Echo", "input": 1}).to_string();
    let mut ids = Vec::new();
    for _ in 0..N {
        ids.push(t.keel.start("BusyThenCall", &input, None).await.unwrap());
    }
    // All of them waiting before a worker takes any, so that their turns compete for the cores.
    let started = Instant::now();
    let worker = Running::start(&t.keel);
    let mut outcomes = Vec::new();
    for id in &ids {
        outcomes.push(
            t.keel
                .wait(id.as_str(), Duration::from_secs(120))
                .await
                .unwrap(),
        );
    }
    let elapsed = started.elapsed();
    worker.stop().await;
    eprintln!(
        "{N} turns of {spins} rounds each ended in {:.1} s",
        elapsed.as_secs_f64()
    );
    for instance in &outcomes {
        assert_completed(instance);
    }
    // Twenty-four turns of a third of the budget on two cores take at least four budgets (more than
    // one even if the probe overstated a turn's CPU threefold); had they not waited longer than their
    // budget, this test would show nothing.
    assert!(
        elapsed > BUDGET,
        "the turns ended within {elapsed:?}, before their budget of {BUDGET:?} could have run out \
         in waiting"
    );
}

/// How many of `BusyThenCall`'s rounds take about `share` of CPU here: one instance of a known count
/// is timed alone, from a worker's start to the instance's completion. Its wall time includes scheduling and waiting
/// (never less than the CPU it used), so the count errs towards less CPU, never more.
async fn spins_for(t: &TestEngine, share: Duration) -> u64 {
    const PROBE: u64 = 150_000_000;
    let input = json!({"spins": PROBE, "activity": "Echo", "input": 1}).to_string();
    let id = t.keel.start("BusyThenCall", &input, None).await.unwrap();
    let began = Instant::now();
    let worker = Running::start(&t.keel);
    let probe = t
        .keel
        .wait(id.as_str(), Duration::from_secs(120))
        .await
        .unwrap();
    let took = began.elapsed().as_secs_f64();
    worker.stop().await;
    assert_completed(&probe);
    (PROBE as f64 * share.as_secs_f64() / took) as u64
}
