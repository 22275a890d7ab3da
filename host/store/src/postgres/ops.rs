//! PostgreSQL: Starting instances, sending messages, claiming and releasing instances, and committing turns.
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
    pub(crate) async fn start_instance(
        &self,
        instance: NewInstance,
        now: u64,
        policy: StartPolicy,
    ) -> Result<Started> {
        Err(Error::Unsupported("start_instance"))
    }

    pub(crate) async fn create_instance(&self, instance: NewInstance, now: u64) -> Result<()> {
        Err(Error::Unsupported("create_instance"))
    }

    pub(crate) async fn send(&self, messages: Vec<OutMessage>) -> Result<()> {
        Err(Error::Unsupported("send"))
    }

    pub(crate) async fn claim_instances(
        &self,
        owner: &str,
        now: u64,
        until: u64,
        limit: u32,
    ) -> Result<Vec<String>> {
        Err(Error::Unsupported("claim_instances"))
    }

    pub(crate) async fn release_instance(&self, id: &str, owner: &str) -> Result<()> {
        Err(Error::Unsupported("release_instance"))
    }

    pub(crate) async fn commit_turn(&self, commit: TurnCommit) -> Result<Vec<WorkItem>> {
        Err(Error::Unsupported("commit_turn"))
    }

    pub(crate) async fn renew_leases(
        &self,
        owner: &str,
        until: u64,
        instances: Vec<String>,
        work_items: Vec<i64>,
    ) -> Result<()> {
        Err(Error::Unsupported("renew_leases"))
    }

    pub(crate) async fn purge(&self, id: &str) -> Result<bool> {
        Err(Error::Unsupported("purge"))
    }
}
