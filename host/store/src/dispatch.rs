//! The store's operations, each handed to the backend the store was opened on. Every operation has
//! the same meaning on both (see ARCHITECTURE.md, "The store"); SQLite's SQL is in the files named
//! after what it holds, PostgreSQL's in `postgres/` under the same names.

use std::collections::HashMap;

use keel_core::history::HistoryEvent;

use crate::{
    AfterFailure, Backend, CapabilityChange, FinishWorkItem, Finished, FunctionRow, HistoryRecord,
    Holdings, Instance, InstanceFilter, LogLine, Message, ModuleRow, MoveInstance, MoveRefused,
    NewInstance, NewUpdate, OutMessage, Result, Rewound, ScheduleChange, ScheduleRow, StartPolicy,
    Started, Status, Store, StoredLogLine, TurnCommit, TurnFailed, UpdateRow, WorkItem, WorkerRow,
};

/// Calls the method of the same name and arguments on the store's backend.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(b) => b.$method($($arg),*).await,
            Backend::Postgres(b) => b.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// The instance with this id.
    /// Read on the calling thread: every turn that is not handed its result in memory reads it.
    pub async fn instance(&self, id: &str) -> Result<Option<Instance>> {
        dispatch!(self.instance(id))
    }

    /// Instances matching `filter`, newest first.
    pub async fn list(&self, filter: &InstanceFilter) -> Result<Vec<Instance>> {
        dispatch!(self.list(filter))
    }

    /// Every recorded event of an instance, all executions, in order.
    pub async fn history(&self, id: &str) -> Result<Vec<HistoryRecord>> {
        dispatch!(self.history(id))
    }

    /// The events of one execution, in order.
    pub async fn execution_history(&self, id: &str, execution: u32) -> Result<Vec<HistoryEvent>> {
        dispatch!(self.execution_history(id, execution))
    }

    /// The visible inbox messages of an instance, oldest first, with their row ids and executions.
    /// Read on the calling thread, like [`Store::instance`].
    pub async fn inbox(&self, id: &str, now: u64) -> Result<Vec<(i64, Option<u32>, Message)>> {
        dispatch!(self.inbox(id, now))
    }

    /// The sub-orchestrations of incarnation `run` of `parent` that have not ended, with their own
    /// runs: children an earlier incarnation of the id abandoned are not its own.
    pub async fn running_children(
        &self,
        parent: &str,
        run: Option<&str>,
    ) -> Result<Vec<(String, Option<String>)>> {
        dispatch!(self.running_children(parent, run))
    }

    /// How many instances a claim could lease now, and how many work items, each counted up to
    /// `most`: a read that spares idle workers a write transaction and lets a busy one take only the
    /// slots the due work needs (so that the step path, which leases work as it commits, still finds
    /// slots free while a claim is under way).
    pub async fn due_work(&self, now: u64, most: u32) -> Result<(u32, u32)> {
        dispatch!(self.due_work(now, most))
    }

    /// The earliest time at which a message or work item becomes visible after `now`.
    pub async fn next_due(&self, now: u64) -> Result<Option<u64>> {
        dispatch!(self.next_due(now))
    }

    /// Deployed modules, newest first.
    pub async fn modules(&self) -> Result<Vec<ModuleRow>> {
        dispatch!(self.modules())
    }

    /// Every function of every deployed module.
    pub async fn functions(&self) -> Result<Vec<FunctionRow>> {
        dispatch!(self.functions())
    }

    /// Every deployed version of function `name` of `kind`, newest first.
    pub async fn function_versions(&self, name: &str, kind: &str) -> Result<Vec<FunctionRow>> {
        dispatch!(self.function_versions(name, kind))
    }

    /// How many instances that may still run code (pending, running, suspended, failed) are pinned
    /// to each module.
    pub async fn pinned_counts(&self) -> Result<HashMap<String, u64>> {
        dispatch!(self.pinned_counts())
    }

    /// The distinct activity names of the queued activity calls, as called (`name` or
    /// `name@range`).
    pub async fn queued_activity_names(&self) -> Result<Vec<String>> {
        dispatch!(self.queued_activity_names())
    }

    /// The digest of the active module providing `name` of `kind`.
    pub async fn active_function(&self, name: &str, kind: &str) -> Result<Option<String>> {
        dispatch!(self.active_function(name, kind))
    }

    /// The bytes of a deployed module.
    pub async fn module_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        dispatch!(self.module_bytes(digest))
    }

    /// Raised events and clients' updates waiting in instance `id`'s inbox for its next turn.
    pub async fn waiting_events(&self, id: &str) -> Result<u64> {
        dispatch!(self.waiting_events(id))
    }

    /// Number of deployed modules.
    pub async fn module_count(&self) -> Result<u64> {
        dispatch!(self.module_count())
    }

    /// The version labels of the module `digest`, oldest first; empty when it is not stored.
    pub async fn module_labels(&self, digest: &str) -> Result<Vec<String>> {
        dispatch!(self.module_labels(digest))
    }

    /// Stores a module and its functions, or finds them stored, and labels the module `version`
    /// (one more label when it carries others); `activate` makes it the active version of each.
    #[allow(clippy::too_many_arguments, reason = "a flat record of one deploy")]
    pub async fn deploy(
        &self,
        digest: &str,
        bytes: Vec<u8>,
        version: &str,
        functions: Vec<(String, String)>,
        activate: bool,
        now: u64,
    ) -> Result<()> {
        dispatch!(self.deploy(digest, bytes, version, functions, activate, now))
    }

    /// Makes `digest` the active module of a function. False if that module does not provide it.
    pub async fn activate(&self, name: &str, kind: &str, digest: &str) -> Result<bool> {
        dispatch!(self.activate(name, kind, digest))
    }

    /// Starts an instance for a client under `policy` (see [`StartPolicy`]).
    pub async fn start_instance(
        &self,
        instance: NewInstance,
        now: u64,
        policy: StartPolicy,
    ) -> Result<Started> {
        dispatch!(self.start_instance(instance, now, policy))
    }

    /// Creates an instance and queues its start.
    pub async fn create_instance(&self, instance: NewInstance, now: u64) -> Result<()> {
        dispatch!(self.create_instance(instance, now))
    }

    /// Queues messages.
    pub async fn send(&self, messages: Vec<OutMessage>) -> Result<()> {
        dispatch!(self.send(messages))
    }

    /// Leases up to `limit` instances that have visible messages.
    pub async fn claim_instances(
        &self,
        owner: &str,
        now: u64,
        until: u64,
        limit: u32,
    ) -> Result<Vec<String>> {
        dispatch!(self.claim_instances(owner, now, until, limit))
    }

    /// Gives an instance's lease back without changing it.
    pub async fn release_instance(&self, id: &str, owner: &str) -> Result<()> {
        dispatch!(self.release_instance(id, owner))
    }

    /// Commits a turn.
    /// Returns the work items leased to the committing worker (see [`TurnCommit::claim_work`]).
    pub async fn commit_turn(&self, commit: TurnCommit) -> Result<Vec<WorkItem>> {
        dispatch!(self.commit_turn(commit))
    }

    /// Leases up to `limit` due work items.
    pub async fn claim_work_items(
        &self,
        owner: &str,
        now: u64,
        until: u64,
        limit: u32,
    ) -> Result<Vec<WorkItem>> {
        dispatch!(self.claim_work_items(owner, now, until, limit))
    }

    /// Records the end of an activity attempt. False if the lease had been lost.
    /// With `claim_until`, the waiting instance is also leased to the committing worker when free.
    /// `logs` are the lines the attempt wrote, stored when the result is.
    pub async fn finish_work_item(
        &self,
        finish: FinishWorkItem,
        logs: Vec<LogLine>,
        claim_until: Option<u64>,
        now: u64,
    ) -> Result<Finished> {
        dispatch!(self.finish_work_item(finish, logs, claim_until, now))
    }

    /// Extends the leases `owner` holds on `instances` and `work_items`; returns the work items of
    /// `work_items` no longer leased to `owner` (deleted with their terminated instance, or leased
    /// to another worker since), whose attempts are to stop.
    pub async fn renew_leases(
        &self,
        owner: &str,
        until: u64,
        instances: Vec<String>,
        work_items: Vec<i64>,
    ) -> Result<Vec<i64>> {
        dispatch!(self.renew_leases(owner, until, instances, work_items))
    }

    /// Records `details` as the latest heartbeat of the attempt holding work item `id`, if `owner`
    /// still holds it; false if not (the task was canceled, its instance terminated, or another
    /// worker took the item over).
    pub async fn record_heartbeat(
        &self,
        id: i64,
        owner: &str,
        details: serde_json::Value,
        now: u64,
    ) -> Result<bool> {
        dispatch!(self.record_heartbeat(id, owner, details, now))
    }

    /// The activities instance `id`'s current execution waits for, with their attempts and latest
    /// heartbeats, at time `now`.
    pub async fn activities(&self, id: &str, now: u64) -> Result<Vec<crate::ActivityRow>> {
        dispatch!(self.activities(id, now))
    }

    /// Deletes an instance and everything recorded for it. False if it did not exist.
    pub async fn purge(&self, id: &str) -> Result<bool> {
        dispatch!(self.purge(id))
    }

    /// Moves an instance's current execution to another module, recording it in its history.
    pub async fn move_instance(
        &self,
        change: MoveInstance,
    ) -> Result<std::result::Result<(), MoveRefused>> {
        dispatch!(self.move_instance(change))
    }

    /// Rewinds failed instance `id`; `None` if there is no such instance.
    pub async fn rewind(&self, id: &str, reason: &str, now: u64) -> Result<Option<Rewound>> {
        dispatch!(self.rewind(id, reason, now))
    }

    /// Purges the ended instances among `ids`; returns how many went.
    pub async fn purge_ended(&self, ids: Vec<String>) -> Result<u64> {
        dispatch!(self.purge_ended(ids))
    }

    /// Deletes the modules among `digests` that nothing uses; returns those deleted.
    pub async fn delete_modules(&self, digests: Vec<String>) -> Result<Vec<String>> {
        dispatch!(self.delete_modules(digests))
    }

    /// Counts a failed turn of `failed.id`: backs its next turn off, or parks it.
    pub async fn turn_failed(&self, failed: TurnFailed) -> Result<AfterFailure> {
        dispatch!(self.turn_failed(failed))
    }

    /// Takes a parked instance back: its turns run again. False if it was not parked.
    pub async fn unpark(&self, id: &str, now: u64) -> Result<bool> {
        dispatch!(self.unpark(id, now))
    }

    /// Applies `change`; false when a revoke or unset found nothing to remove.
    pub async fn change_capability(&self, change: CapabilityChange, now: u64) -> Result<bool> {
        dispatch!(self.change_capability(change, now))
    }

    /// What `function` holds, in one query.
    pub async fn holdings(&self, function: &str) -> Result<Holdings> {
        dispatch!(self.holdings(function))
    }

    /// The active module of activity `function` and what the function holds, in one query: what
    /// every attempt of an unversioned activity call reads.
    pub async fn activity_setup(&self, function: &str) -> Result<(Option<String>, Holdings)> {
        dispatch!(self.activity_setup(function))
    }

    /// Every grant, as `(function, pattern)`, ordered.
    pub async fn all_grants(&self) -> Result<Vec<(String, String)>> {
        dispatch!(self.all_grants())
    }

    /// The number of instances in each status that has any, in [`Status::ALL`] order.
    pub async fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        dispatch!(self.count_by_status())
    }

    /// Messages due now (`<= now`) and messages waiting for a later time (timers, retries).
    pub async fn inbox_depth(&self, now: u64) -> Result<(u64, u64)> {
        dispatch!(self.inbox_depth(now))
    }

    /// Activity calls due now and calls waiting for a retry's time.
    pub async fn work_queue_depth(&self, now: u64) -> Result<(u64, u64)> {
        dispatch!(self.work_queue_depth(now))
    }

    /// Records a running worker's report: its row is written or its `seen_ms` moved on, and rows of
    /// workers silent for a day are removed.
    pub async fn report_worker(&self, worker: WorkerRow) -> Result<()> {
        dispatch!(self.report_worker(worker))
    }

    /// Deletes the report of a worker that stops.
    pub async fn worker_stopped(&self, owner: &str) -> Result<()> {
        dispatch!(self.worker_stopped(owner))
    }

    /// Every reported worker, the most recently seen first.
    pub async fn workers(&self) -> Result<Vec<WorkerRow>> {
        dispatch!(self.workers())
    }

    /// Up to `limit` of the lines instance `id`'s guests wrote, stored after line `after` (0 for
    /// the first), oldest first.
    pub async fn logs(&self, id: &str, after: i64, limit: u32) -> Result<Vec<StoredLogLine>> {
        dispatch!(self.logs(id, after, limit))
    }

    /// Deletes the guests' lines written before `before_ms`, of every instance; how many.
    pub async fn prune_logs(&self, before_ms: u64) -> Result<u64> {
        dispatch!(self.prune_logs(before_ms))
    }

    /// Sends a client's update (the row and its message, in one transaction), unless the instance
    /// has an update of that id already; returns the update of that id as stored.
    pub async fn request_update(&self, update: NewUpdate) -> Result<UpdateRow> {
        dispatch!(self.request_update(update))
    }

    /// The update `id` of `instance`.
    pub async fn update(&self, instance: &str, id: &str) -> Result<Option<UpdateRow>> {
        dispatch!(self.update(instance, id))
    }

    /// Applies a change to the schedules (see [`ScheduleChange`]); whether a row changed.
    pub async fn change_schedule(&self, change: ScheduleChange) -> Result<bool> {
        dispatch!(self.change_schedule(change))
    }

    /// Every schedule by name; with `due_at`, only those due then (not paused, their next firing
    /// reached), the earliest first.
    pub async fn schedules(&self, due_at: Option<u64>) -> Result<Vec<ScheduleRow>> {
        dispatch!(self.schedules(due_at))
    }
}
