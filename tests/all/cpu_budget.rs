//! CPU budgets count the time a guest runs, not the time it waits for a core: on a busy machine a turn
//! that stays within its budget completes however long it waited.

use serde_json::json;

use crate::support::{Running, assert_completed, engine_with};

#[tokio::test(flavor = "multi_thread")]
async fn turns_within_their_cpu_budget_complete_on_a_busy_machine() {
    const N: usize = 16;
    let t = engine_with(&["keel_test_patterns"], |c| {
        c.limits.turn_cpu_ms = 1_000;
        c.max_turns = N;
    })
    .await;
    // About 0.3 s of computing per first turn: sixteen at once on two cores wait about 2.4 s each for
    // a core, more than twice the budget, while each uses less than a third of it.
    let input = json!({"spins": 450_000_000u64, "activity": "Echo", "input": 1}).to_string();
    let mut ids = Vec::new();
    for _ in 0..N {
        ids.push(t.keel.start("BusyThenCall", &input, None).await.unwrap());
    }
    let started = std::time::Instant::now();
    let worker = Running::start(&t.keel);
    let mut outcomes = Vec::new();
    for id in &ids {
        outcomes.push(
            t.keel
                .wait(id.as_str(), std::time::Duration::from_secs(120))
                .await
                .unwrap(),
        );
    }
    worker.stop().await;
    eprintln!(
        "{N} busy turns ended in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for instance in &outcomes {
        assert_completed(instance);
    }
}
