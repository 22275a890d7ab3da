//! One attempt of one activity call, as the code that runs it sees it — whether a worker leased it
//! as a work item or the turn that made the call runs it locally (`orchestration::local`), where no
//! work item exists.

use serde_json::Value;

use crate::history::ActivityOptions;
use crate::store::WorkItem;

/// What running an attempt needs to know about it: the call, its instance and which attempt it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt<'a> {
    /// The instance that made the call.
    pub(crate) instance: &'a str,
    /// Its execution.
    pub(crate) execution: u32,
    /// The run token of its incarnation, if it has one.
    pub(crate) run: Option<&'a str>,
    /// The call's task id.
    pub(crate) task_id: u32,
    /// The activity's name, as called (with a version range if one was given).
    pub(crate) name: &'a str,
    /// The call's input.
    pub(crate) input: &'a Value,
    /// The call's options.
    pub(crate) options: &'a ActivityOptions,
    /// Which attempt this is, from 1.
    pub(crate) number: u32,
    /// When the call's first attempt became due (the retry policy's total timeout counts from it).
    pub(crate) first_at: u64,
}

impl<'a> Attempt<'a> {
    /// The attempt a leased work item runs.
    pub(crate) fn of(item: &'a WorkItem) -> Self {
        Self {
            instance: &item.instance,
            execution: item.execution,
            run: item.run.as_deref(),
            task_id: item.task_id,
            name: &item.name,
            input: &item.input,
            options: &item.options,
            number: item.attempt,
            first_at: item.first_at,
        }
    }
}
