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
    for task in open {
        lines.push(match task {
            Waiting::Event { id: task, name } => format!(
                "    event {name} (task #{task}): `keel raise {id} {name} --data '<JSON>'`"
            ),
            Waiting::Timer {
                id: task,
                fire_at_ms,
            } => format!("    timer #{task}, due {}", local_time(fire_at_ms)),
            Waiting::Activity {
                id: task,
                name,
                retry_at_ms: Some(at),
            } => format!(
                "    activity {name} (task #{task}): an attempt failed; the next one starts at {}",
                local_time(at)
            ),
            Waiting::Activity {
                id: task,
                name,
                retry_at_ms: None,
            } => format!("    activity {name} (task #{task}): running or waiting for a worker"),
            Waiting::SubOrchestration {
                id: task,
                name,
                instance,
            } => format!(
                "    sub-orchestration {name} (task #{task}) as {instance}: `keel status {instance}`"
            ),
        });
    }
    lines.push(format!(
        "  it keeps its place: `keel worker` carries it on, `keel status {id}` shows it, `keel run \
         --timeout SECONDS` waits longer"
    ));
    lines.join("\n")
}
