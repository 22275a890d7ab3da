//! Local activities in every language: a chain of local calls and a local call that fails give the
//! same output in each, all of it in the start's one turn, each call recorded as local.

use std::sync::atomic::Ordering;

use keel::HistoryEvent;
use keel::cli::build::Lang;
use keel::store::Status;
use serde_json::json;

use super::{engine_for, run};

/// The fixture's orchestrator, per language.
fn inline(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust | Lang::JavaScript => "Inline",
        Lang::Python => "PyInline",
        Lang::C => "CInline",
    }
}

pub(crate) async fn local_calls_run_in_the_turn_that_made_them(lang: Lang) {
    let t = engine_for(lang, "determinism").await;
    let (done, history) = run(&t, inline(lang), r#"{"steps": 3}"#, "inline").await;
    assert_eq!(done.status, Status::Completed, "{lang}: {done:?}");
    assert_eq!(
        done.output,
        Some(json!({"total": 3, "failed": "Negative"})),
        "{lang}"
    );
    let metrics = t.keel.metrics();
    assert_eq!(metrics.turns.load(Ordering::Relaxed), 1, "{lang}");
    assert_eq!(metrics.local_attempts.load(Ordering::Relaxed), 4, "{lang}");
    let calls: Vec<(&str, bool)> = history
        .iter()
        .filter_map(|r| match &r.event {
            HistoryEvent::TaskScheduled { options, .. } => Some(("TaskScheduled", options.local)),
            HistoryEvent::TaskCompleted { .. } => Some(("TaskCompleted", true)),
            HistoryEvent::TaskFailed { failure, .. } if failure.kind == "Negative" => {
                Some(("TaskFailed", true))
            }
            _ => None,
        })
        .collect();
    let step = [("TaskScheduled", true), ("TaskCompleted", true)];
    let mut expected = [step, step, step].concat();
    expected.extend([("TaskScheduled", true), ("TaskFailed", true)]);
    assert_eq!(calls, expected, "{lang}");
}
