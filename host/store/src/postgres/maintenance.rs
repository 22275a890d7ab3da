//! PostgreSQL: Operator changes: moving, rewinding and purging instances, deleting modules.
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
    pub(crate) async fn running_children(
        &self,
        parent: &str,
        run: Option<&str>,
    ) -> Result<Vec<(String, Option<String>)>> {
        Err(Error::Unsupported("running_children"))
    }

    pub(crate) async fn move_instance(
        &self,
        change: MoveInstance,
    ) -> Result<std::result::Result<(), MoveRefused>> {
        Err(Error::Unsupported("move_instance"))
    }

    pub(crate) async fn rewind(&self, id: &str, reason: &str, now: u64) -> Result<Option<Rewound>> {
        Err(Error::Unsupported("rewind"))
    }

    pub(crate) async fn purge_ended(&self, ids: Vec<String>) -> Result<u64> {
        Err(Error::Unsupported("purge_ended"))
    }

    pub(crate) async fn delete_modules(&self, digests: Vec<String>) -> Result<Vec<String>> {
        Err(Error::Unsupported("delete_modules"))
    }
}
