//! Heartbeats in every language: an activity that heartbeats its progress and fails once is given
//! its last details by the next attempt, which resumes from them; the heartbeat timeout the
//! orchestrator set is recorded with the call.

use keel::HistoryEvent;
use keel::cli::build::Lang;
use keel::store::Status;
use serde_json::json;

use super::{engine_for, run};

/// The fixture's orchestrator, per language.
fn heartbeats(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust | Lang::JavaScript => "Heartbeats",
        Lang::Python => "PyHeartbeats",
        Lang::C => "CHeartbeats",
    }
}

pub(crate) async fn an_attempt_resumes_from_the_last_heartbeat_of_the_one_before(lang: Lang) {
    let t = engine_for(lang, "determinism").await;
    let (done, history) = run(
        &t,
        heartbeats(lang),
        r#"{"steps": 5, "failAt": 3}"#,
        "heartbeats",
    )
    .await;
    assert_eq!(done.status, Status::Completed, "{lang}: {done:?}");
    assert_eq!(
        done.output,
        Some(json!({"resumedFrom": 3, "done": 5})),
        "{lang}"
    );
    let kinds: Vec<(&str, Option<u64>)> = history
        .iter()
        .filter_map(|r| match &r.event {
            HistoryEvent::TaskScheduled { options, .. } => {
                Some(("TaskScheduled", options.heartbeat_timeout_ms))
            }
            HistoryEvent::TaskRetrying { failure, .. } if failure.kind == "Flaky" => {
                Some(("TaskRetrying", None))
            }
            HistoryEvent::TaskCompleted { .. } => Some(("TaskCompleted", None)),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("TaskScheduled", Some(30_000)),
            ("TaskRetrying", None),
            ("TaskCompleted", None)
        ],
        "{lang}"
    );
}
