//! PostgreSQL: Claiming activity work items and recording the end of an attempt.
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
    pub(crate) async fn claim_work_items(
        &self,
        owner: &str,
        now: u64,
        until: u64,
        limit: u32,
    ) -> Result<Vec<WorkItem>> {
        Err(Error::Unsupported("claim_work_items"))
    }

    pub(crate) async fn finish_work_item(
        &self,
        finish: FinishWorkItem,
        claim_until: Option<u64>,
        now: u64,
    ) -> Result<Finished> {
        Err(Error::Unsupported("finish_work_item"))
    }
}
