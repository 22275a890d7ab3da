//! Hints for a user who is stuck: when `keel run --timeout` expires, what the instance waits for and
//! the command that would unblock it. Fed by the caller with the instance and its history; it reads
//! nothing itself.

use crate::store::{HistoryRecord, Instance, Status};
use crate::waiting::{Waiting, waiting};

use super::print::local_time;

/// The message for an instance that did not end within `seconds`: its status, each task it waits
/// for with what would resolve it, and that it keeps its place for a worker.
pub(crate) fn did_not_end(instance: &Instance, records: &[HistoryRecord], seconds: u64) -> String {
    let id = &instance.id;
    let mut lines = vec![format!(
        "[KEEL-E15] instance {id} did not end within {seconds} s; it is {}",
        instance.status
    )];
    match instance.status {
        Status::Suspended => lines.push(format!("  it is suspended: `keel resume {id}`")),
        Status::Parked => lines.push(format!(
            "  it is parked ({}): fix that, then `keel resume {id}`",
            instance.parked.as_deref().unwrap_or("no reason recorded")
        )),
        Status::Pending => lines.push("  its first turn has not run yet".to_owned()),
        _ => {}
    }
    let open = waiting(records);
    if !open.is_empty() {
        lines.push("  it waits for:".to_owned());
    }
    for task in &open {
        lines.push(format!("    {}", task_hint(id, task)));
    }
    lines.push(format!(
        "  it keeps its place: `keel worker` carries it on, `keel status {id}` shows it, `keel run \
         --timeout SECONDS` waits longer"
    ));
    lines.join("\n")
}

/// One task an instance waits for, with what would resolve it.
fn task_hint(id: &str, task: &Waiting) -> String {
    match task {
        Waiting::Event { id: task, name } => {
            format!("event {name} (task #{task}): `keel raise {id} {name} --data '<JSON>'`")
        }
        Waiting::Timer {
            id: task,
            fire_at_ms,
        } => format!("timer #{task}, due {}", local_time(*fire_at_ms)),
        Waiting::Activity {
            id: task,
            name,
            retry_at_ms: Some(at),
        } => format!(
            "activity {name} (task #{task}): an attempt failed; the next one starts at {}",
            local_time(*at)
        ),
        Waiting::Activity {
            id: task,
            name,
            retry_at_ms: None,
        } => format!("activity {name} (task #{task}): running or waiting for a worker"),
        Waiting::SubOrchestration {
            id: task,
            name,
            instance,
        } => format!(
            "sub-orchestration {name} (task #{task}) as {instance}: `keel status {instance}`"
        ),
    }
}

/// The line `keel run` prints on a terminal while it waits: how long, and what the instance waits
/// for now.
pub(crate) fn still_waiting(id: &str, seconds: u64, records: &[HistoryRecord]) -> String {
    let open = waiting(records);
    let what = if open.is_empty() {
        "its next turn".to_owned()
    } else {
        open.iter()
            .map(|task| task_hint(id, task))
            .collect::<Vec<_>>()
            .join("; ")
    };
    format!("still waiting for {id} after {seconds} s: it waits for {what}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::HistoryEvent;

    fn records(events: Vec<HistoryEvent>) -> Vec<HistoryRecord> {
        events
            .into_iter()
            .enumerate()
            .map(|(seq, event)| HistoryRecord {
                execution: 1,
                seq: u32::try_from(seq).unwrap(),
                recorded_at: 0,
                event,
            })
            .collect()
    }

    #[test]
    fn the_waiting_line_names_what_the_instance_waits_for_and_how_to_unblock_it() {
        let started = records(vec![HistoryEvent::OrchestratorStarted { time_ms: 1 }]);
        assert_eq!(
            still_waiting("r-1", 10, &started),
            "still waiting for r-1 after 10 s: it waits for its next turn"
        );
        let awaiting = records(vec![
            HistoryEvent::OrchestratorStarted { time_ms: 1 },
            HistoryEvent::EventAwaited {
                id: 0,
                name: "Approved".into(),
            },
        ]);
        assert_eq!(
            still_waiting("r-1", 20, &awaiting),
            "still waiting for r-1 after 20 s: it waits for event Approved (task #0): \
             `keel raise r-1 Approved --data '<JSON>'`"
        );
    }
}
