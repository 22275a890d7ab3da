//! Continue-as-new in every language: the events raised to an execution that it never waited for
//! are raised again to the next execution when the orchestrator asks for that, and dropped with it
//! when it does not.

use std::time::Duration;

use keel::cli::build::Lang;
use keel::store::Status;
use serde_json::json;

use super::engine_for;
use crate::support::{Running, wait_for_event};

/// The fixture's orchestrator, per language.
fn carry(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust | Lang::JavaScript => "Carry",
        Lang::Python => "PyCarry",
        Lang::C => "CCarry",
    }
}

/// Waits until instance `id` runs execution 2 and waits there for an event.
async fn waits_in_execution_two(keel: &keel::Keel, id: &str) {
    for _ in 0..3000 {
        let history = keel.history(id).await.unwrap();
        if history
            .iter()
            .any(|r| r.execution == 2 && r.event.kind() == "EventAwaited")
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{id} never waited in its second execution");
}

pub(crate) async fn continue_as_new_carries_unanswered_events_over_only_when_asked(lang: Lang) {
    let t = engine_for(lang, "determinism").await;
    let worker = Running::start(&t.keel);
    for keep in [true, false] {
        let id = format!("carry-{keep}");
        let input = json!({"round": 1, "keep": keep}).to_string();
        t.keel.start(carry(lang), &input, Some(&id)).await.unwrap();
        wait_for_event(&t.keel, &id, "EventAwaited").await;
        // "Later" is taken into the first execution, which never waits for it; then "Go" ends it.
        t.keel
            .raise_event(&id, "Later", r#"{"x":1}"#)
            .await
            .unwrap();
        wait_for_event(&t.keel, &id, "EventRaised").await;
        t.keel.raise_event(&id, "Go", "null").await.unwrap();
        waits_in_execution_two(&t.keel, &id).await;
        if keep {
            let done = t.keel.wait(&id, Duration::from_secs(60)).await.unwrap();
            assert_eq!(done.status, Status::Completed, "{lang}: {done:?}");
            assert_eq!(done.execution, 2, "{lang}");
            assert_eq!(
                done.output,
                Some(json!({"round": 2, "later": {"x": 1}})),
                "{lang}"
            );
        } else {
            // Dropped: the second execution waits for a "Later" of its own.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let waiting = t.keel.status(&id).await.unwrap().unwrap();
            assert_eq!(waiting.status, Status::Running, "{lang}: {waiting:?}");
            t.keel
                .raise_event(&id, "Later", r#"{"x":2}"#)
                .await
                .unwrap();
            let done = t.keel.wait(&id, Duration::from_secs(60)).await.unwrap();
            assert_eq!(
                done.output,
                Some(json!({"round": 2, "later": {"x": 2}})),
                "{lang}"
            );
        }
    }
    worker.stop().await;
}
