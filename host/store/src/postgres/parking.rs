//! PostgreSQL: Failed turns backed off or parked, and parked instances taken back.
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
    pub(crate) async fn turn_failed(&self, failed: TurnFailed) -> Result<AfterFailure> {
        Err(Error::Unsupported("turn_failed"))
    }

    pub(crate) async fn unpark(&self, id: &str, now: u64) -> Result<bool> {
        Err(Error::Unsupported("unpark"))
    }
}
