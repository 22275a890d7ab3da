//! Every language's determinism fixture reads time, randomness and hash/map order from its own
//! runtime (not from the context); after a restart the orchestrator is replayed from scratch and
//! must read the very same values, with the time being the orchestration time.

use std::sync::atomic::Ordering;
use std::time::Duration;

use keel::HistoryEvent;
use keel::cli::build::Lang;
use serde_json::json;

use super::engine_for;
use crate::support::{Running, assert_completed, reopen, wait_for_event};

/// The fixture's orchestrator and the field holding a runtime random value, per language.
fn fixture(lang: Lang) -> (&'static str, &'static str) {
    match lang {
        Lang::Rust => ("Determinism", "wasiRandom"),
        Lang::Python => ("PyDeterminism", "random"),
        Lang::JavaScript => ("Determinism", "mathRandom"),
        Lang::C => ("CDeterminism", "random"),
    }
}

pub(crate) async fn time_random_and_map_order_are_identical_on_replay(lang: Lang) {
    let (orchestrator, random) = fixture(lang);
    let t = engine_for(lang, "determinism").await;
    let worker = Running::start(&t.keel);
    let id = t.keel.start(orchestrator, "null", None).await.unwrap();
    let history = wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    worker.stop().await;
    drop(t.keel);

    // What the first turn read, as recorded in the Echo call's input.
    let first = history
        .iter()
        .find_map(|r| match &r.event {
            HistoryEvent::TaskScheduled { input, .. } => Some(input.clone()),
            _ => None,
        })
        .expect("the Echo call");
    let first_turn_time = history
        .iter()
        .find_map(|r| match r.event {
            HistoryEvent::OrchestratorStarted { time_ms } => Some(time_ms),
            _ => None,
        })
        .expect("a turn");
    assert_eq!(
        first["timeMs"],
        json!(first_turn_time),
        "{lang}: the runtime's clock shows the orchestration time"
    );

    // After a restart the orchestrator is replayed from scratch: had any reading differed, the Echo
    // call would not match its history and the instance would fail with a non-determinism error.
    let keel = reopen(&t.config, None).await;
    let worker = Running::start(&keel);
    keel.raise_event(id.as_str(), "go", "null").await.unwrap();
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&instance);
    assert_eq!(keel.metrics().replays.load(Ordering::Relaxed), 1, "{lang}");
    let output = instance.output.expect("an output");
    assert_eq!(
        output["first"], first,
        "{lang}: the replay read other values"
    );
    // Randomness moves on within an execution: it is seeded, not frozen.
    assert_ne!(output["first"][random], output["second"][random], "{lang}");
}
