//! The lines a guest's [`GuestLog`](keel_runtime::guest_log::GuestLog) kept, as the store records
//! them: with the instance, execution and source (the orchestrator, or an activity's task and
//! attempt) they were written for.

use keel_runtime::guest_log::KeptLine;

use crate::store::LogLine;

/// Who wrote a batch of lines.
pub(crate) struct Writer<'a> {
    pub(crate) instance: &'a str,
    pub(crate) execution: u32,
    /// The orchestrator's or the activity's name.
    pub(crate) source: &'a str,
    /// An activity's task id and attempt; `None` for the orchestrator.
    pub(crate) task: Option<(u32, u32)>,
}

impl Writer<'_> {
    /// `kept`, ready for the store.
    pub(crate) fn lines(&self, kept: Vec<KeptLine>) -> Vec<LogLine> {
        kept.into_iter()
            .map(|k| LogLine {
                instance: self.instance.to_owned(),
                execution: self.execution,
                at_ms: k.at_ms,
                source: self.source.to_owned(),
                task: self.task.map(|(task, _)| task),
                attempt: self.task.map(|(_, attempt)| attempt),
                stream: k.stream.to_owned(),
                text: k.text,
            })
            .collect()
    }
}
