//! PostgreSQL: Listings and module reads, and the writes that deploy and activate modules.
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
    pub(crate) async fn list(&self, filter: &InstanceFilter) -> Result<Vec<Instance>> {
        Err(Error::Unsupported("list"))
    }

    pub(crate) async fn modules(&self) -> Result<Vec<ModuleRow>> {
        Err(Error::Unsupported("modules"))
    }

    pub(crate) async fn functions(&self) -> Result<Vec<FunctionRow>> {
        Err(Error::Unsupported("functions"))
    }

    pub(crate) async fn function_versions(
        &self,
        name: &str,
        kind: &str,
    ) -> Result<Vec<FunctionRow>> {
        Err(Error::Unsupported("function_versions"))
    }

    pub(crate) async fn pinned_counts(&self) -> Result<HashMap<String, u64>> {
        Err(Error::Unsupported("pinned_counts"))
    }

    pub(crate) async fn queued_activity_names(&self) -> Result<Vec<String>> {
        Err(Error::Unsupported("queued_activity_names"))
    }

    pub(crate) async fn active_function(&self, name: &str, kind: &str) -> Result<Option<String>> {
        Err(Error::Unsupported("active_function"))
    }

    pub(crate) async fn module_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        Err(Error::Unsupported("module_bytes"))
    }

    pub(crate) async fn waiting_events(&self, id: &str) -> Result<u64> {
        Err(Error::Unsupported("waiting_events"))
    }

    pub(crate) async fn module_count(&self) -> Result<u64> {
        Err(Error::Unsupported("module_count"))
    }

    pub(crate) async fn module_labels(&self, digest: &str) -> Result<Vec<String>> {
        Err(Error::Unsupported("module_labels"))
    }

    pub(crate) async fn deploy(
        &self,
        digest: &str,
        bytes: Vec<u8>,
        version: &str,
        functions: Vec<(String, String)>,
        activate: bool,
        now: u64,
    ) -> Result<()> {
        Err(Error::Unsupported("deploy"))
    }

    pub(crate) async fn activate(&self, name: &str, kind: &str, digest: &str) -> Result<bool> {
        Err(Error::Unsupported("activate"))
    }
}
