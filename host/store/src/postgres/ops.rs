//! PostgreSQL: starting instances, sending messages, claiming and releasing instances, committing
//! turns, renewing leases and purging (SQLite's `ops.rs`), each one transaction.
//!
//! The step path's checks hold when it commits, although other processes write at once: a claim
//! locks the instances it leases `FOR NO KEY UPDATE SKIP LOCKED` (two claimers never lease one
//! instance, nor wait for each other); a turn's commit updates its instance under the conditions it
//! depends on (lease, history length, execution, run), which PostgreSQL evaluates on the row's
//! newest version once it holds the row's lock, and only then writes the rest; a turn that also
//! finishes an activity's work item locks it after the instance. Instances are always locked before
//! work items. Row locks that do not delete take `NO KEY UPDATE`, which a message to the instance
//! (`FOR KEY SHARE`, see `rows.rs`) does not wait for.

use std::sync::LazyLock;

use sqlx::PgConnection;

use super::Postgres;
use super::instances::claimable_instances;
use super::rows::{append_history, insert_instance, insert_message};
use crate::{
    Error, Incarnation, Message, NewInstance, OutMessage, Result, StartPolicy, Started, Status,
    TurnCommit, WorkItem, json_text, to_i64,
};
use keel_core::history::{Failure, HistoryEvent};

impl Postgres {
    pub(crate) async fn start_instance(
        &self,
        instance: NewInstance,
        now: u64,
        policy: StartPolicy,
    ) -> Result<Started> {
        self.transaction(async |conn| {
            let started = super::rows::start_instance(conn, &instance, now, &policy).await?;
            super::wake_workers(conn).await?;
            Ok(started)
        })
        .await
    }

    pub(crate) async fn create_instance(&self, instance: NewInstance, now: u64) -> Result<()> {
        self.transaction(async |conn| {
            super::rows::create_instance(conn, &instance, now).await?;
            super::wake_workers(conn).await
        })
        .await
    }

    pub(crate) async fn send(&self, messages: Vec<OutMessage>) -> Result<()> {
        self.transaction(async |conn| {
            for m in &messages {
                insert_message(conn, m).await?;
            }
            super::wake_workers(conn).await
        })
        .await
    }

    pub(crate) async fn claim_instances(
        &self,
        owner: &str,
        now: u64,
        until: u64,
        limit: u32,
    ) -> Result<Vec<String>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "WITH claimed AS ({} LIMIT $4 FOR NO KEY UPDATE OF i SKIP LOCKED)
                 UPDATE instances SET locked_by = $1, locked_until = $2
                 FROM claimed WHERE instances.id = claimed.id
                 RETURNING instances.id",
                claimable_instances("$3")
            )
        });
        self.transaction(async |conn| {
            Ok(sqlx::query_scalar(&SQL)
                .bind(owner)
                .bind(to_i64(until))
                .bind(to_i64(now))
                .bind(i64::from(limit))
                .fetch_all(conn)
                .await?)
        })
        .await
    }

    pub(crate) async fn release_instance(&self, id: &str, owner: &str) -> Result<()> {
        self.transaction(async |conn| {
            sqlx::query(
                "UPDATE instances SET locked_by = NULL, locked_until = NULL
                 WHERE id = $1 AND locked_by = $2",
            )
            .bind(id)
            .bind(owner)
            .execute(&mut *conn)
            .await?;
            super::wake_workers(conn).await
        })
        .await
    }

    pub(crate) async fn commit_turn(&self, commit: TurnCommit) -> Result<Vec<WorkItem>> {
        self.transaction(async |conn| {
            let claimed = commit_turn(conn, &commit).await?;
            if commit.wakes_workers() {
                super::wake_workers(conn).await?;
            }
            Ok(claimed)
        })
        .await
    }

    pub(crate) async fn renew_leases(
        &self,
        owner: &str,
        until: u64,
        instances: Vec<String>,
        work_items: Vec<i64>,
    ) -> Result<Vec<i64>> {
        self.transaction(async |conn| {
            // Instances before work items, the order every transaction locks them in.
            sqlx::query(
                "UPDATE instances SET locked_until = $1 WHERE locked_by = $2 AND id = ANY($3)",
            )
            .bind(to_i64(until))
            .bind(owner)
            .bind(&instances)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "UPDATE work_items SET locked_until = $1 WHERE locked_by = $2 AND id = ANY($3)",
            )
            .bind(to_i64(until))
            .bind(owner)
            .bind(&work_items)
            .execute(&mut *conn)
            .await?;
            let lost: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM UNNEST($1::BIGINT[]) AS asked(id)
                 WHERE NOT EXISTS (SELECT 1 FROM work_items w
                                   WHERE w.id = asked.id AND w.locked_by = $2)",
            )
            .bind(&work_items)
            .bind(owner)
            .fetch_all(&mut *conn)
            .await?;
            Ok(lost)
        })
        .await
    }

    pub(crate) async fn purge(&self, id: &str) -> Result<bool> {
        self.transaction(async |conn| super::rows::purge(conn, id).await)
            .await
    }
}

/// Commits turn `c` in the transaction `conn` is in (SQLite's `commit_turn`, statement by
/// statement); returns the work items leased to the committing worker.
async fn commit_turn(conn: &mut PgConnection, c: &TurnCommit) -> Result<Vec<WorkItem>> {
    let new_len = c.expected_len as usize + c.events.len();
    // The UPDATE locks the instance row and, if another transaction changed it meanwhile, evaluates
    // its conditions again on the committed row: the lease, history length, execution and run it
    // checks hold until this transaction ends.
    let update = if c.finishes.is_some() {
        // Not leased by anyone: a turn that claimed it (for another message) has the guest's state
        // from the store and runs on its own; this one then fails and the result goes to the inbox.
        "UPDATE instances SET history_len = $1, status = $2, output = COALESCE($3, output),
             failure = COALESCE($4, failure), custom_status = COALESCE($5, custom_status),
             updated_at = $6, locked_by = NULL, locked_until = NULL, turn_failures = 0,
             not_before = NULL
         WHERE id = $7 AND execution = $8 AND history_len = $9
           AND run IS NOT DISTINCT FROM $11
           AND (locked_by IS NULL OR locked_until < $6) AND status = 'Running'
           AND (not_before IS NULL OR not_before <= $6) AND $10::TEXT IS NOT NULL"
    } else {
        "UPDATE instances SET history_len = $1, status = $2, output = COALESCE($3, output),
             failure = COALESCE($4, failure), custom_status = COALESCE($5, custom_status),
             updated_at = $6, locked_by = NULL, locked_until = NULL, turn_failures = 0,
             not_before = NULL
         WHERE id = $7 AND execution = $8 AND history_len = $9 AND locked_by = $10
           AND run IS NOT DISTINCT FROM $11"
    };
    let updated = sqlx::query(update)
        .bind(i64::try_from(new_len).unwrap_or(i64::MAX))
        .bind(c.status.as_str())
        .bind(c.output.as_ref().map(json_text))
        .bind(c.failure.as_ref().map(json_text))
        .bind(c.custom_status.as_ref().map(json_text))
        .bind(to_i64(c.now))
        .bind(&c.instance)
        .bind(i64::from(c.execution))
        .bind(i64::from(c.expected_len))
        .bind(&c.owner)
        .bind(c.run.as_deref())
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if updated != 1 {
        return Err(Error::Conflict(format!(
            "instance {} changed while its turn ran (lease lost, history moved on, or id started again)",
            c.instance
        )));
    }
    if let Some(work_item) = c.finishes {
        // Locked after its instance, as everywhere.
        let done = sqlx::query("DELETE FROM work_items WHERE id = $1 AND locked_by = $2")
            .bind(work_item)
            .bind(&c.owner)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if done != 1 {
            return Err(Error::Conflict(format!(
                "the work item of the result for instance {} is no longer leased to this worker",
                c.instance
            )));
        }
    }
    append_history(
        conn,
        &c.instance,
        c.execution,
        c.expected_len,
        &c.events,
        c.now,
    )
    .await?;
    super::logs::insert(conn, &c.logs).await?;
    super::updates::finish(conn, &c.instance, &c.updates, c.now).await?;
    for task in &c.canceled_tasks {
        sqlx::query(
            "DELETE FROM work_items WHERE instance = $1 AND execution = $2 AND task_id = $3",
        )
        .bind(&c.instance)
        .bind(i64::from(c.execution))
        .bind(i64::from(*task))
        .execute(&mut *conn)
        .await?;
    }
    if !c.consumed.is_empty() {
        sqlx::query("DELETE FROM inbox WHERE id = ANY($1)")
            .bind(&c.consumed)
            .execute(&mut *conn)
            .await?;
    }
    let (lease_until, lease_count) = c.claim_work.unwrap_or((0, 0));
    let mut claimed = Vec::new();
    for w in &c.work_items {
        let lease = claimed.len() < lease_count && w.due(c.now);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO work_items (instance, execution, task_id, name, input, options, attempt,
                                     first_at, visible_at, locked_by, locked_until, deliveries)
             VALUES ($1, $2, $3, $4, $5, $6, $11, $7, $12, $8, $9, $10) RETURNING id",
        )
        .bind(&c.instance)
        .bind(i64::from(c.execution))
        .bind(i64::from(w.task_id))
        .bind(&w.name)
        .bind(json_text(&w.input))
        .bind(json_text(&w.options))
        .bind(to_i64(c.now))
        .bind(lease.then_some(c.owner.as_str()))
        .bind(lease.then_some(to_i64(lease_until)))
        .bind(i64::from(lease))
        .bind(i64::from(w.attempt))
        .bind(to_i64(w.not_before.unwrap_or(c.now)))
        .fetch_one(&mut *conn)
        .await?;
        if lease {
            claimed.push(WorkItem {
                id,
                instance: c.instance.clone(),
                execution: c.execution,
                task_id: w.task_id,
                name: w.name.clone(),
                input: w.input.clone(),
                options: w.options.clone(),
                attempt: w.attempt,
                first_at: c.now,
                deliveries: 1,
                run: c.run.clone(),
                heartbeat: None,
                abandoned_at: None,
            });
        }
    }
    for m in &c.messages {
        insert_message(conn, m).await?;
    }
    for child in &c.children {
        start_child(conn, c, child).await?;
    }
    if c.status.is_terminal() && c.status != Status::Failed {
        // Nothing can consume these any more. A failed instance keeps them: a rewind brings it back
        // to the timers, results and activities it was waiting for (none of them runs meanwhile).
        sqlx::query("DELETE FROM inbox WHERE instance = $1")
            .bind(&c.instance)
            .execute(&mut *conn)
            .await?;
        // A terminated instance's running attempts go too (SQLite's `commit_turn`).
        sqlx::query("DELETE FROM work_items WHERE instance = $1 AND (locked_by IS NULL OR $2)")
            .bind(&c.instance)
            .bind(c.status == Status::Terminated)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(input) = &c.next_execution {
        let next = c.execution + 1;
        if let Some(before) = c.prune_history_before {
            sqlx::query("DELETE FROM history WHERE instance = $1 AND execution < $2")
                .bind(&c.instance)
                .bind(i64::from(before))
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(
            "UPDATE instances SET execution = $1, history_len = 0, input = $2, output = NULL,
                 failure = NULL
             WHERE id = $3",
        )
        .bind(i64::from(next))
        .bind(json_text(input))
        .bind(&c.instance)
        .execute(&mut *conn)
        .await?;
        insert_message(
            conn,
            &OutMessage {
                instance: c.instance.clone(),
                execution: Some(next),
                incarnation: Incarnation::Any,
                message: Message::Start,
                visible_at: c.now,
            },
        )
        .await?;
    }
    Ok(claimed)
}

/// Starts a sub-orchestration, or tells the parent at once why it could not be started: an id that
/// any instance holds, ended or not (the insert finds it taken, even by a start not yet committed,
/// whose end it waits for).
async fn start_child(
    conn: &mut PgConnection,
    parent: &TurnCommit,
    child: &NewInstance,
) -> Result<()> {
    if insert_instance(conn, child, parent.now).await? {
        return Ok(());
    }
    let task_id = child.parent.as_ref().map(|p| p.task_id).unwrap_or_default();
    insert_message(
        conn,
        &OutMessage {
            instance: parent.instance.clone(),
            execution: Some(parent.execution),
            // In the parent's own commit, which is conditional on its incarnation.
            incarnation: Incarnation::Any,
            message: Message::Deliver {
                event: HistoryEvent::SubOrchestrationFailed {
                    id: task_id,
                    failure: Failure::new(
                        "InstanceExists",
                        format!(
                            "cannot start sub-orchestration: instance {} already exists",
                            child.id
                        ),
                    ),
                },
            },
            visible_at: parent.now,
        },
    )
    .await
}
