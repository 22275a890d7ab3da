//! PostgreSQL: Aggregate reads for monitoring.
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
    pub(crate) async fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        Err(Error::Unsupported("count_by_status"))
    }

    pub(crate) async fn inbox_depth(&self, now: u64) -> Result<(u64, u64)> {
        Err(Error::Unsupported("inbox_depth"))
    }

    pub(crate) async fn work_queue_depth(&self, now: u64) -> Result<(u64, u64)> {
        Err(Error::Unsupported("work_queue_depth"))
    }
}
