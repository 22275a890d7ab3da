//! PostgreSQL: The reads of a turn and of a worker's poll: an instance, its history and inbox, and what is due.
//! Not written yet: each operation fails with [`Error::Unsupported`].

#![allow(unused_imports, unused_variables)]

use std::collections::HashMap;

use keel_core::history::HistoryEvent;

use super::Postgres;
use crate::{
    AfterFailure, CapabilityChange, Error, FinishWorkItem, Finished, FunctionRow, HistoryRecord,
    Holdings, Instance, InstanceFilter, Message, ModuleRow, MoveInstance, MoveRefused, NewInstance,
    OutMessage, Result, Rewound, StartPolicy, Started, Status, TurnCommit, TurnFailed, WorkItem,
};

#[allow(unused_variables, reason = "stubs until each operation lands")]
impl Postgres {
    pub(crate) async fn instance(&self, id: &str) -> Result<Option<Instance>> {
        Err(Error::Unsupported("instance"))
    }

    pub(crate) async fn history(&self, id: &str) -> Result<Vec<HistoryRecord>> {
        Err(Error::Unsupported("history"))
    }

    pub(crate) async fn execution_history(
        &self,
        id: &str,
        execution: u32,
    ) -> Result<Vec<HistoryEvent>> {
        Err(Error::Unsupported("execution_history"))
    }

    pub(crate) async fn inbox(
        &self,
        id: &str,
        now: u64,
    ) -> Result<Vec<(i64, Option<u32>, Message)>> {
        Err(Error::Unsupported("inbox"))
    }

    pub(crate) async fn due_work(&self, now: u64, most: u32) -> Result<(u32, u32)> {
        Err(Error::Unsupported("due_work"))
    }

    pub(crate) async fn next_due(&self, now: u64) -> Result<Option<u64>> {
        Err(Error::Unsupported("next_due"))
    }
}
