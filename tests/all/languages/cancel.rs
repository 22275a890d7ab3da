//! `ctx.cancel` in every language: a canceled timer and a canceled wait for an event resolve at once
//! as `Canceled` (a second cancel does nothing), and the event the canceled wait would have taken
//! goes to the next wait of that name.

use std::time::Duration;

use keel::cli::build::Lang;
use keel::store::Status;
use serde_json::json;

use super::engine_for;
use crate::support::{Running, wait_for_event};

/// The fixture's orchestrator, per language.
fn cancel_tasks(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust | Lang::JavaScript => "CancelTasks",
        Lang::Python => "PyCancelTasks",
        Lang::C => "CCancelTasks",
    }
}

pub(crate) async fn a_canceled_timer_and_wait_resolve_canceled_and_the_next_wait_takes_the_event(
    lang: Lang,
) {
    let t = engine_for(lang, "determinism").await;
    let worker = Running::start(&t.keel);
    let id = "cancel-tasks";
    t.keel
        .start(cancel_tasks(lang), "null", Some(id))
        .await
        .unwrap();
    wait_for_event(&t.keel, id, "TaskCanceled").await;
    t.keel.raise_event(id, "Go", r#"{"n":1}"#).await.unwrap();
    let done = t.keel.wait(id, Duration::from_secs(60)).await.unwrap();
    worker.stop().await;
    assert_eq!(done.status, Status::Completed, "{lang}: {done:?}");
    assert_eq!(
        done.output,
        Some(json!({"timer": "Canceled", "first": "Canceled", "go": {"n": 1}})),
        "{lang}"
    );
    // Two cancellations recorded: the timer's second one found it resolved.
    let history = t.keel.history(id).await.unwrap();
    let canceled: Vec<String> = history
        .iter()
        .filter(|r| r.event.kind() == "TaskCanceled")
        .map(|r| r.event.summary())
        .collect();
    assert_eq!(canceled, ["#0", "#1"], "{lang}");
}
