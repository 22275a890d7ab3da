//! PostgreSQL: What a function holds (grants, configuration, secrets) and the changes to it.
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
    pub(crate) async fn change_capability(
        &self,
        change: CapabilityChange,
        now: u64,
    ) -> Result<bool> {
        Err(Error::Unsupported("change_capability"))
    }

    pub(crate) async fn holdings(&self, function: &str) -> Result<Holdings> {
        Err(Error::Unsupported("holdings"))
    }

    pub(crate) async fn activity_setup(
        &self,
        function: &str,
    ) -> Result<(Option<String>, Holdings)> {
        Err(Error::Unsupported("activity_setup"))
    }

    pub(crate) async fn all_grants(&self) -> Result<Vec<(String, String)>> {
        Err(Error::Unsupported("all_grants"))
    }
}
