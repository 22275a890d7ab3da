//! SQLite: reads (from the read pool, or on the calling thread where the step path needs them), and the
//! typed front of the writer's operations.
//!
//! Reads never write; every write goes through `writer.rs` so that it joins a group commit.

use std::sync::LazyLock;

use rusqlite::params;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::capabilities::CapabilityChange;
use super::maintenance::{MoveInstance, MoveRefused, Rewound};
use super::ops::{Op, TurnCommit, claimable_instances};
use super::parking::{AfterFailure, TurnFailed};
use super::rows::{NewInstance, OutMessage, StartPolicy, Started};
use super::work_items::{FinishWorkItem, Finished, claimable_work_items};
use super::{
    Error, HistoryRecord, Instance, Message, Result, Status, WorkItem, parse_json, to_i64, to_u32,
    to_u64,
};
use crate::sqlite::Sqlite;
use keel_core::history::HistoryEvent;

/// Filters of an instance listing.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    /// Only instances with this status.
    pub status: Option<Status>,
    /// Only instances of this orchestrator.
    pub name: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
    /// Only instances created at or after this time (ms since the epoch).
    pub created_from: Option<u64>,
    /// Only instances created at or before this time.
    pub created_to: Option<u64>,
    /// Only instances listed after this one: `(created_at, id)` of the last instance of the previous
    /// page.
    pub after: Option<(u64, String)>,
}

/// A deployed module.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModuleRow {
    /// Its digest.
    pub digest: String,
    /// The version label it was first deployed with.
    pub version: String,
    /// Every version label it carries, oldest first (the first is `version`).
    pub labels: Vec<String>,
    /// Deploy time.
    pub deployed_at: u64,
    /// Size in bytes.
    pub size: u64,
    /// Functions listed by its manifest.
    pub functions: Value,
}

/// A function and the module version providing it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionRow {
    /// Function name.
    pub name: String,
    /// `orchestrator` or `activity`.
    pub kind: String,
    /// Module digest.
    pub digest: String,
    /// The version label the module was first deployed with.
    pub version: String,
    /// Every version label of the module, oldest first (the first is `version`).
    pub labels: Vec<String>,
    /// Whether this version is the active one.
    pub active: bool,
}

/// The labels of the module whose digest is column `digest` of the query, as a JSON list, oldest
/// first.
fn labels_of(digest: &str) -> String {
    format!(
        "(SELECT json_group_array(label) FROM \
          (SELECT label FROM labels WHERE labels.digest = {digest} ORDER BY rowid))"
    )
}

fn labels_from(r: &SqliteRow, i: usize) -> Result<Vec<String>> {
    let text: String = r.try_get(i)?;
    serde_json::from_str(&text).map_err(|e| Error::Corrupt {
        what: "module labels",
        message: e.to_string(),
    })
}

/// The columns [`instance_from_row`] reads, in its order (the same on both backends).
pub(crate) const INSTANCE_COLUMNS: &str = "id, name, execution, status, module, input, output, failure, \
     custom_status, parent, created_at, updated_at, history_len, parked, run";

const INSTANCE_BY_ID: &str = "SELECT id, name, execution, status, module, input, output, failure, \
     custom_status, parent, created_at, updated_at, history_len, parked, run \
     FROM instances WHERE id = ?";

/// A result row of any of the store's connections (sqlx's SQLite and PostgreSQL rows, rusqlite's),
/// read by column index.
pub(crate) trait Columns {
    fn text(&self, i: usize) -> Result<String>;
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<i64>;
}

impl Columns for SqliteRow {
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get(i)?)
    }
}

impl Columns for sqlx::postgres::PgRow {
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.try_get(i)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> Result<Option<String>> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64> {
        Ok(self.get(i)?)
    }
}

fn function_from_row(r: &SqliteRow) -> Result<FunctionRow> {
    Ok(FunctionRow {
        name: r.try_get(0)?,
        kind: r.try_get(1)?,
        digest: r.try_get(2)?,
        version: r.try_get(3)?,
        active: r.try_get(4)?,
        labels: labels_from(r, 5)?,
    })
}

/// An instance from a row of [`INSTANCE_COLUMNS`].
pub(crate) fn instance_from_row(r: &impl Columns) -> Result<Instance> {
    let opt_json = |i: usize, what: &'static str| -> Result<Option<Value>> {
        r.opt_text(i)?.map(|t| parse_json(what, &t)).transpose()
    };
    let status = r.text(3)?;
    Ok(Instance {
        id: r.text(0)?,
        name: r.text(1)?,
        execution: to_u32(r.int(2)?),
        status: status.parse().map_err(|message| Error::Corrupt {
            what: "instance status",
            message,
        })?,
        module: r.text(4)?,
        input: parse_json("instance input", &r.text(5)?)?,
        output: opt_json(6, "instance output")?,
        failure: r
            .opt_text(7)?
            .map(|t| parse_json("instance failure", &t))
            .transpose()?,
        custom_status: opt_json(8, "custom status")?,
        parent: r
            .opt_text(9)?
            .map(|t| parse_json("instance parent", &t))
            .transpose()?,
        created_at: to_u64(r.int(10)?),
        updated_at: to_u64(r.int(11)?),
        history_len: to_u32(r.int(12)?),
        parked: r.opt_text(13)?,
        run: r.opt_text(14)?,
    })
}

impl Sqlite {
    /// The instance with this id.
    /// Read on the calling thread: every turn that is not handed its result in memory reads it.
    pub(crate) async fn instance(&self, id: &str) -> Result<Option<Instance>> {
        self.read_here(|c| {
            let mut stmt = c.prepare_cached(INSTANCE_BY_ID)?;
            let mut rows = stmt.query([id])?;
            rows.next()?.map(instance_from_row).transpose()
        })
    }

    /// Instances matching `filter`, newest first.
    pub(crate) async fn list(&self, filter: &InstanceFilter) -> Result<Vec<Instance>> {
        let rows = sqlx::query(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances
             WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR name = ?2)
               AND (?4 IS NULL OR created_at >= ?4) AND (?5 IS NULL OR created_at <= ?5)
               AND (?6 IS NULL OR created_at < ?6 OR (created_at = ?6 AND id > ?7))
             ORDER BY created_at DESC, id LIMIT ?3"
        ))
        .bind(filter.status.map(Status::as_str))
        .bind(filter.name.as_deref())
        .bind(filter.limit.map_or(-1, i64::from))
        .bind(filter.created_from.map(to_i64))
        .bind(filter.created_to.map(to_i64))
        .bind(filter.after.as_ref().map(|(at, _)| to_i64(*at)))
        .bind(filter.after.as_ref().map(|(_, id)| id.as_str()))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(instance_from_row).collect()
    }

    /// Every recorded event of an instance, all executions, in order.
    pub(crate) async fn history(&self, id: &str) -> Result<Vec<HistoryRecord>> {
        let rows = sqlx::query(
            "SELECT execution, seq, recorded_at, event FROM history WHERE instance = ?
             ORDER BY execution, seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryRecord {
                    execution: to_u32(r.try_get(0)?),
                    seq: to_u32(r.try_get(1)?),
                    recorded_at: to_u64(r.try_get(2)?),
                    event: parse_json("history event", &r.try_get::<String, _>(3)?)?,
                })
            })
            .collect()
    }

    /// The events of one execution, in order.
    pub(crate) async fn execution_history(
        &self,
        id: &str,
        execution: u32,
    ) -> Result<Vec<HistoryEvent>> {
        let rows = sqlx::query(
            "SELECT event FROM history WHERE instance = ? AND execution = ? ORDER BY seq",
        )
        .bind(id)
        .bind(i64::from(execution))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| parse_json("history event", &r.try_get::<String, _>(0)?))
            .collect()
    }

    /// The visible inbox messages of an instance, oldest first, with their row ids and executions.
    /// Read on the calling thread, like `instance`.
    pub(crate) async fn inbox(
        &self,
        id: &str,
        now: u64,
    ) -> Result<Vec<(i64, Option<u32>, Message)>> {
        self.read_here(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, execution, message FROM inbox WHERE instance = ? AND visible_at <= ?
                 ORDER BY visible_at, id",
            )?;
            let mut rows = stmt.query(rusqlite::params![id, to_i64(now)])?;
            let mut messages = Vec::new();
            while let Some(r) = rows.next()? {
                messages.push((
                    r.get(0)?,
                    r.get::<_, Option<i64>>(1)?.map(to_u32),
                    parse_json("inbox message", &r.get::<_, String>(2)?)?,
                ));
            }
            Ok(messages)
        })
    }

    /// The sub-orchestrations of incarnation `run` of `parent` that have not ended, with their own
    /// runs: children an earlier incarnation of the id abandoned are not its own.
    pub(crate) async fn running_children(
        &self,
        parent: &str,
        run: Option<&str>,
    ) -> Result<Vec<(String, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT id, run FROM instances WHERE json_extract(parent, '$.instance') = ?
               AND json_extract(parent, '$.run') IS ?
               AND status NOT IN ('Completed', 'Failed', 'Terminated') ORDER BY id",
        )
        .bind(parent)
        .bind(run)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// How many instances a claim could lease now, and how many work items, each counted up to
    /// `most`: a read that spares idle workers a write transaction and lets a busy one take only the
    /// slots the due work needs (so that the step path, which leases work as it commits, still finds
    /// slots free while a claim is under way).
    pub(crate) async fn due_work(&self, now: u64, most: u32) -> Result<(u32, u32)> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT (SELECT COUNT(*) FROM ({} LIMIT ?2)),
                        (SELECT COUNT(*) FROM ({} LIMIT ?2))",
                claimable_instances("?1"),
                claimable_work_items("?1")
            )
        });
        self.read_here(|c| {
            Ok(c.prepare_cached(&SQL)?
                .query_row(params![to_i64(now), i64::from(most)], |r| {
                    Ok((to_u32(r.get(0)?), to_u32(r.get(1)?)))
                })?)
        })
    }

    /// The earliest time at which a message or work item becomes visible after `now`.
    pub(crate) async fn next_due(&self, now: u64) -> Result<Option<u64>> {
        let due: Option<i64> = self.read_here(|c| {
            Ok(c.prepare_cached(
                "SELECT MIN(t) FROM (SELECT MIN(visible_at) AS t FROM inbox WHERE visible_at > ?1
                                     UNION ALL
                                     SELECT MIN(visible_at) FROM work_items WHERE visible_at > ?1)",
            )?
            .query_row([to_i64(now)], |r| r.get(0))?)
        })?;
        Ok(due.map(to_u64))
    }

    /// Deployed modules, newest first.
    pub(crate) async fn modules(&self) -> Result<Vec<ModuleRow>> {
        let rows = sqlx::query(&format!(
            "SELECT digest, version, deployed_at, length(bytes), functions, {} FROM modules
             ORDER BY deployed_at DESC",
            labels_of("modules.digest")
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ModuleRow {
                    digest: r.try_get(0)?,
                    version: r.try_get(1)?,
                    deployed_at: to_u64(r.try_get(2)?),
                    size: to_u64(r.try_get(3)?),
                    functions: parse_json("module functions", &r.try_get::<String, _>(4)?)?,
                    labels: labels_from(r, 5)?,
                })
            })
            .collect()
    }

    /// Every function of every deployed module.
    pub(crate) async fn functions(&self) -> Result<Vec<FunctionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT name, kind, digest, version, active, {} FROM functions
             ORDER BY name, kind, deployed_at DESC",
            labels_of("functions.digest")
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(function_from_row).collect()
    }

    /// Every deployed version of function `name` of `kind`, newest first.
    pub(crate) async fn function_versions(
        &self,
        name: &str,
        kind: &str,
    ) -> Result<Vec<FunctionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT name, kind, digest, version, active, {} FROM functions
             WHERE name = ? AND kind = ? ORDER BY deployed_at DESC",
            labels_of("functions.digest")
        ))
        .bind(name)
        .bind(kind)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(function_from_row).collect()
    }

    /// How many instances that may still run code (pending, running, suspended, failed) are pinned
    /// to each module.
    pub(crate) async fn pinned_counts(&self) -> Result<std::collections::HashMap<String, u64>> {
        let rows = sqlx::query(
            "SELECT module, count(*) FROM instances
             WHERE status IN ('Pending', 'Running', 'Suspended', 'Failed') GROUP BY module",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, to_u64(r.try_get(1)?))))
            .collect()
    }

    /// The distinct activity names of the queued activity calls, as called (`name` or
    /// `name@range`).
    pub(crate) async fn queued_activity_names(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT DISTINCT name FROM work_items")
            .fetch_all(self.pool())
            .await?)
    }

    /// The digest of the active module providing `name` of `kind`.
    pub(crate) async fn active_function(&self, name: &str, kind: &str) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT digest FROM functions WHERE name = ? AND kind = ? AND active = 1")
                .bind(name)
                .bind(kind)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| r.try_get(0).map_err(Error::from)).transpose()
    }

    /// The bytes of a deployed module.
    pub(crate) async fn module_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT bytes FROM modules WHERE digest = ?")
            .bind(digest)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get(0).map_err(Error::from)).transpose()
    }

    /// Raised events waiting in instance `id`'s inbox for its next turn.
    pub(crate) async fn waiting_events(&self, id: &str) -> Result<u64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM inbox WHERE instance = ? AND kind IN ('EventRaised', 'Update')",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        Ok(to_u64(row.try_get(0)?))
    }

    /// Number of deployed modules.
    pub(crate) async fn module_count(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*) FROM modules")
            .fetch_one(self.pool())
            .await?;
        Ok(to_u64(row.try_get(0)?))
    }

    /// The version labels of the module `digest`, oldest first; empty when it is not stored.
    pub(crate) async fn module_labels(&self, digest: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT label FROM labels WHERE digest = ? ORDER BY rowid")
                .bind(digest)
                .fetch_all(self.pool())
                .await?,
        )
    }

    // ---- writes, through the group-commit writer ----

    /// Stores a module and its functions, or finds them stored, and labels the module `version`
    /// (one more label when it carries others); `activate` makes it the active version of each.
    #[allow(clippy::too_many_arguments, reason = "a flat record of one deploy")]
    pub(crate) async fn deploy(
        &self,
        digest: &str,
        bytes: Vec<u8>,
        version: &str,
        functions: Vec<(String, String)>,
        activate: bool,
        now: u64,
    ) -> Result<()> {
        self.writer()
            .submit(|reply| Op::Deploy {
                digest: digest.to_owned(),
                bytes,
                version: version.to_owned(),
                functions,
                activate,
                now,
                reply,
            })
            .await
    }

    /// Makes `digest` the active module of a function. False if that module does not provide it.
    pub(crate) async fn activate(&self, name: &str, kind: &str, digest: &str) -> Result<bool> {
        self.writer()
            .submit(|reply| Op::Activate {
                name: name.to_owned(),
                kind: kind.to_owned(),
                digest: digest.to_owned(),
                reply,
            })
            .await
    }

    /// Starts an instance for a client under `policy` (see [`StartPolicy`]).
    pub(crate) async fn start_instance(
        &self,
        instance: NewInstance,
        now: u64,
        policy: StartPolicy,
    ) -> Result<Started> {
        self.writer()
            .submit(|reply| Op::StartInstance {
                instance,
                now,
                policy,
                reply,
            })
            .await
    }

    /// Creates an instance and queues its start.
    pub(crate) async fn create_instance(&self, instance: NewInstance, now: u64) -> Result<()> {
        self.writer()
            .submit(|reply| Op::CreateInstance {
                instance,
                now,
                reply,
            })
            .await
    }

    /// Queues messages.
    pub(crate) async fn send(&self, messages: Vec<OutMessage>) -> Result<()> {
        self.writer()
            .submit(|reply| Op::Send { messages, reply })
            .await
    }

    /// Leases up to `limit` instances that have visible messages.
    pub(crate) async fn claim_instances(
        &self,
        owner: &str,
        now: u64,
        until: u64,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.writer()
            .submit(|reply| Op::ClaimInstances {
                owner: owner.to_owned(),
                now,
                until,
                limit,
                reply,
            })
            .await
    }

    /// Gives an instance's lease back without changing it.
    pub(crate) async fn release_instance(&self, id: &str, owner: &str) -> Result<()> {
        self.writer()
            .submit(|reply| Op::ReleaseInstance {
                id: id.to_owned(),
                owner: owner.to_owned(),
                reply,
            })
            .await
    }

    /// Commits a turn.
    /// Returns the work items leased to the committing worker (see [`TurnCommit::claim_work`]).
    pub(crate) async fn commit_turn(&self, commit: TurnCommit) -> Result<Vec<WorkItem>> {
        self.writer()
            .submit(|reply| Op::CommitTurn {
                commit: Box::new(commit),
                reply,
            })
            .await
    }

    /// Leases up to `limit` due work items.
    pub(crate) async fn claim_work_items(
        &self,
        owner: &str,
        now: u64,
        until: u64,
        limit: u32,
    ) -> Result<Vec<WorkItem>> {
        self.writer()
            .submit(|reply| Op::ClaimWorkItems {
                owner: owner.to_owned(),
                now,
                until,
                limit,
                reply,
            })
            .await
    }

    /// Records the end of an activity attempt. False if the lease had been lost.
    /// With `claim_until`, the waiting instance is also leased to the committing worker when free.
    pub(crate) async fn finish_work_item(
        &self,
        finish: FinishWorkItem,
        logs: Vec<crate::LogLine>,
        claim_until: Option<u64>,
        now: u64,
    ) -> Result<Finished> {
        self.writer()
            .submit(|reply| Op::FinishWorkItem {
                finish,
                logs,
                claim_until,
                now,
                reply,
            })
            .await
    }

    /// Extends the leases `owner` holds on `instances` and `work_items`.
    pub(crate) async fn renew_leases(
        &self,
        owner: &str,
        until: u64,
        instances: Vec<String>,
        work_items: Vec<i64>,
    ) -> Result<Vec<i64>> {
        self.writer()
            .submit(|reply| Op::RenewLeases {
                owner: owner.to_owned(),
                until,
                instances,
                work_items,
                reply,
            })
            .await
    }

    /// Records an attempt's heartbeat if `owner` still holds its work item.
    pub(crate) async fn record_heartbeat(
        &self,
        id: i64,
        owner: &str,
        details: serde_json::Value,
        now: u64,
    ) -> Result<bool> {
        self.writer()
            .submit(|reply| Op::Heartbeat {
                id,
                owner: owner.to_owned(),
                details,
                now,
                reply,
            })
            .await
    }

    /// Deletes an instance and everything recorded for it. False if it did not exist.
    pub(crate) async fn purge(&self, id: &str) -> Result<bool> {
        self.writer()
            .submit(|reply| Op::Purge {
                id: id.to_owned(),
                reply,
            })
            .await
    }

    /// Moves an instance's current execution to another module, recording it in its history.
    pub(crate) async fn move_instance(
        &self,
        change: MoveInstance,
    ) -> Result<std::result::Result<(), MoveRefused>> {
        self.writer()
            .submit(|reply| Op::MoveInstance { change, reply })
            .await
    }

    /// Rewinds failed instance `id`; `None` if there is no such instance.
    pub(crate) async fn rewind(&self, id: &str, reason: &str, now: u64) -> Result<Option<Rewound>> {
        self.writer()
            .submit(|reply| Op::Rewind {
                id: id.to_owned(),
                reason: reason.to_owned(),
                now,
                reply,
            })
            .await
    }

    /// Purges the ended instances among `ids`; returns how many went.
    pub(crate) async fn purge_ended(&self, ids: Vec<String>) -> Result<u64> {
        self.writer()
            .submit(|reply| Op::PurgeEnded { ids, reply })
            .await
    }

    /// Deletes the modules among `digests` that nothing uses; returns those deleted.
    pub(crate) async fn delete_modules(&self, digests: Vec<String>) -> Result<Vec<String>> {
        self.writer()
            .submit(|reply| Op::DeleteModules { digests, reply })
            .await
    }

    /// Counts a failed turn of `failed.id`: backs its next turn off, or parks it.
    pub(crate) async fn turn_failed(&self, failed: TurnFailed) -> Result<AfterFailure> {
        self.writer()
            .submit(|reply| Op::TurnFailed { failed, reply })
            .await
    }

    /// Takes a parked instance back: its turns run again. False if it was not parked.
    pub(crate) async fn unpark(&self, id: &str, now: u64) -> Result<bool> {
        self.writer()
            .submit(|reply| Op::Unpark {
                id: id.to_owned(),
                now,
                reply,
            })
            .await
    }

    /// Applies `change`; false when a revoke or unset found nothing to remove.
    pub(crate) async fn change_capability(
        &self,
        change: CapabilityChange,
        now: u64,
    ) -> Result<bool> {
        self.writer()
            .submit(|reply| Op::Capability { change, now, reply })
            .await
    }

    /// Records a running worker's report (see `workers.rs`).
    pub(crate) async fn report_worker(&self, worker: crate::WorkerRow) -> Result<()> {
        self.writer()
            .submit(|reply| Op::WorkerReport { worker, reply })
            .await
    }

    /// Sends an update, unless the instance has one of that id; the update of that id.
    pub(crate) async fn request_update(
        &self,
        update: crate::NewUpdate,
    ) -> Result<crate::UpdateRow> {
        self.writer()
            .submit(|reply| Op::RequestUpdate {
                update: Box::new(update),
                reply,
            })
            .await
    }

    /// Applies a change to the schedules; whether a row changed.
    pub(crate) async fn change_schedule(&self, change: crate::ScheduleChange) -> Result<bool> {
        self.writer()
            .submit(|reply| Op::Schedule { change, reply })
            .await
    }

    /// Deletes the guests' lines written before `before_ms`; how many.
    pub(crate) async fn prune_logs(&self, before_ms: u64) -> Result<u64> {
        self.writer()
            .submit(|reply| Op::PruneLogs { before_ms, reply })
            .await
    }

    /// Deletes the report of a worker that stops.
    pub(crate) async fn worker_stopped(&self, owner: &str) -> Result<()> {
        self.writer()
            .submit(|reply| Op::WorkerStopped {
                owner: owner.to_owned(),
                reply,
            })
            .await
    }
}
