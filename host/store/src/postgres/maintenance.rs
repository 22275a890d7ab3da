//! PostgreSQL: operator changes, as SQLite's `maintenance.rs` makes them: moving an instance to
//! another module, rewinding a failed instance, purging ended instances, deleting modules nothing
//! uses; and the read of an instance's running children.
//!
//! What a rewind voids and runs again is planned by SQLite's pure functions
//! ([`plan_rewind`], [`started_by`]); only the SQL is here. Each write is one transaction that locks
//! the rows it checks (`SELECT ... FOR UPDATE`, instances before work items) before it checks them,
//! so that the check still holds when it commits although other processes write meanwhile.
//! A refused move or rewind returns having written nothing, and its transaction ends at once
//! ([`Postgres::transaction`]), releasing the rows it locked.

use std::slice;

use sqlx::{PgConnection, Row};

use super::Postgres;
use super::instances::execution_events;
use super::read::{active_digest, lock_activation};
use super::rows::{append_history, ended, holder, insert_instance, insert_message, purge};
use crate::maintenance::{FailedChild, plan_rewind, started_by};
use crate::{
    Error, Incarnation, Message, MoveInstance, MoveRefused, NewInstance, OutMessage, Result,
    Rewound, Status, parse_json, to_i64, to_u32,
};
use keel_core::history::{Failure, HistoryEvent, ParentRef};

impl Postgres {
    pub(crate) async fn running_children(
        &self,
        parent: &str,
        run: Option<&str>,
    ) -> Result<Vec<(String, Option<String>)>> {
        // `COLLATE "C"` orders ids by their bytes, as SQLite does, whatever the database's collation.
        let rows = sqlx::query(
            "SELECT id, run FROM instances
             WHERE parent IS NOT NULL AND (parent::jsonb ->> 'instance') = $1
               AND (parent::jsonb ->> 'run') IS NOT DISTINCT FROM $2
               AND status NOT IN ('Completed', 'Failed', 'Terminated')
             ORDER BY id COLLATE \"C\"",
        )
        .bind(parent)
        .bind(run)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    pub(crate) async fn move_instance(
        &self,
        m: MoveInstance,
    ) -> Result<std::result::Result<(), MoveRefused>> {
        self.transaction(async |conn| move_instance(conn, &m).await)
            .await
    }

    /// See SQLite's `maintenance::rewind`: the failed instance and, in turn, the failed
    /// sub-orchestrations it waited for, each row locked before it is read.
    pub(crate) async fn rewind(&self, id: &str, reason: &str, now: u64) -> Result<Option<Rewound>> {
        self.transaction(async |conn| rewind(conn, id, reason, now).await)
            .await
    }

    pub(crate) async fn purge_ended(&self, ids: Vec<String>) -> Result<u64> {
        self.transaction(async |conn| purge_ended(conn, &ids).await)
            .await
    }

    pub(crate) async fn delete_modules(&self, digests: Vec<String>) -> Result<Vec<String>> {
        self.transaction(async |conn| delete_modules(conn, &digests).await)
            .await
    }
}

/// Moves an instance to another module, or says why not (nothing written then).
async fn move_instance(
    conn: &mut PgConnection,
    m: &MoveInstance,
) -> Result<std::result::Result<(), MoveRefused>> {
    let row = sqlx::query(
        "SELECT execution, history_len, module, status, locked_until FROM instances
         WHERE id = $1 FOR UPDATE",
    )
    .bind(&m.id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Err(MoveRefused::Changed));
    };
    let execution: i64 = row.try_get(0)?;
    let len: i64 = row.try_get(1)?;
    let module: String = row.try_get(2)?;
    let status: String = row.try_get(3)?;
    let locked_until: Option<i64> = row.try_get(4)?;
    let ended = status.parse::<Status>().map(Status::is_terminal);
    if execution != i64::from(m.execution)
        || len != i64::from(m.expected_len)
        || module != m.from
        || ended != Ok(false)
    {
        return Ok(Err(MoveRefused::Changed));
    }
    if locked_until.is_some_and(|until| until > to_i64(m.now)) {
        return Ok(Err(MoveRefused::Busy));
    }
    let event = HistoryEvent::ExecutionUpgraded {
        from: m.from.clone(),
        to: m.to.clone(),
        version: m.version.clone(),
    };
    append_history(
        conn,
        &m.id,
        m.execution,
        m.expected_len,
        slice::from_ref(&event),
        m.now,
    )
    .await?;
    sqlx::query(
        "UPDATE instances SET module = $1, history_len = history_len + 1, updated_at = $2
         WHERE id = $3",
    )
    .bind(&m.to)
    .bind(to_i64(m.now))
    .bind(&m.id)
    .execute(&mut *conn)
    .await?;
    super::wake_workers(conn).await?;
    Ok(Ok(()))
}

/// See SQLite's `maintenance::rewind`.
async fn rewind(
    conn: &mut PgConnection,
    id: &str,
    reason: &str,
    now: u64,
) -> Result<Option<Rewound>> {
    let mut done = Rewound::default();
    let mut pending = vec![id.to_owned()];
    while let Some(instance) = pending.pop() {
        let top = instance == id;
        let row = sqlx::query(
            "SELECT status, execution, history_len, run FROM instances WHERE id = $1
             FOR UPDATE",
        )
        .bind(&instance)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            if top {
                return Ok(None);
            }
            continue;
        };
        let status: String = row.try_get(0)?;
        let execution = to_u32(row.try_get(1)?);
        let len = to_u32(row.try_get(2)?);
        let run: Option<String> = row.try_get(3)?;
        if status != Status::Failed.as_str() {
            if top {
                return Err(Error::Conflict(format!(
                    "instance {instance} is {status}; only a failed instance can be rewound"
                )));
            }
            continue;
        }
        let events = execution_events(&mut *conn, &instance, execution).await?;
        let plan = plan_rewind(&events);
        for (task, name, input, options) in &plan.tasks {
            sqlx::query(
                "INSERT INTO work_items (instance, execution, task_id, name, input, options,
                                         attempt, first_at, visible_at)
                 VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7)",
            )
            .bind(&instance)
            .bind(i64::from(execution))
            .bind(i64::from(*task))
            .bind(name)
            .bind(input)
            .bind(options)
            .bind(to_i64(now))
            .execute(&mut *conn)
            .await?;
            done.tasks.push(format!("{instance}/{task}"));
        }
        let event = HistoryEvent::ExecutionRewound {
            reason: reason.to_owned(),
            voided: plan.voided,
        };
        append_history(
            conn,
            &instance,
            execution,
            len,
            slice::from_ref(&event),
            now,
        )
        .await?;
        sqlx::query(
            "UPDATE instances SET status = 'Running', failure = NULL, output = NULL,
                 history_len = history_len + 1, updated_at = $1, locked_by = NULL,
                 locked_until = NULL
             WHERE id = $2",
        )
        .bind(to_i64(now))
        .bind(&instance)
        .execute(&mut *conn)
        .await?;
        for child in &plan.children {
            let parent = ParentRef {
                instance: instance.clone(),
                execution,
                task_id: child.task,
                run: run.clone(),
            };
            if retry_child(conn, child, parent, now).await? {
                pending.push(child.instance.clone());
            }
        }
        if plan.tasks.is_empty() && plan.children.is_empty() {
            // Nothing to wait for: the orchestrator itself failed, so give it a turn to go on.
            insert_message(
                conn,
                &OutMessage {
                    instance: instance.clone(),
                    execution: Some(execution),
                    // In the same transaction as the rewind of this very row.
                    incarnation: Incarnation::Any,
                    message: Message::Wake,
                    visible_at: now,
                },
            )
            .await?;
        }
        done.instances.push(instance);
    }
    super::wake_workers(conn).await?;
    Ok(Some(done))
}

/// Purges those of `ids` that have ended; returns how many.
async fn purge_ended(conn: &mut PgConnection, ids: &[String]) -> Result<u64> {
    let mut purged = 0;
    for id in ids {
        let ended = holder(conn, id)
            .await?
            .is_some_and(|(status, _)| ended(&status));
        if ended && purge(conn, id).await? {
            purged += 1;
        }
    }
    Ok(purged)
}

/// Deletes those of the modules `digests` that nothing uses; returns their digests.
async fn delete_modules(conn: &mut PgConnection, digests: &[String]) -> Result<Vec<String>> {
    // Locks in the order a deploy takes them (module rows, activation locks, function rows), all
    // before anything is counted, each kind in one order, so that no two writes wait in a circle.
    // The module rows first: a deploy adding a label or function to one of them waits for this
    // transaction (and then finds the module gone).
    sqlx::query(
        "SELECT 1 FROM modules WHERE digest = ANY($1) ORDER BY digest COLLATE \"C\" FOR UPDATE",
    )
    .bind(digests)
    .fetch_all(&mut *conn)
    .await?;
    // Then the activation lock of each of their functions. An activation checks that its version
    // exists before it deactivates the others, without locking that row: one that checked before
    // this delete and deactivated after it would leave the function with no active version. Under
    // these locks, an activation either committed before the count below (which then sees the
    // version active and keeps its module) or runs after this commit and finds the version gone.
    let mut functions: Vec<(String, String)> =
        sqlx::query_as("SELECT DISTINCT name, kind FROM functions WHERE digest = ANY($1)")
            .bind(digests)
            .fetch_all(&mut *conn)
            .await?;
    functions.sort();
    for (name, kind) in &functions {
        lock_activation(conn, name, kind).await?;
    }
    let mut deleted = Vec::new();
    for digest in digests {
        sqlx::query("SELECT 1 FROM functions WHERE digest = $1 FOR UPDATE")
            .bind(digest)
            .fetch_all(&mut *conn)
            .await?;
        let used: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM functions WHERE digest = $1 AND active = 1)
                  + (SELECT COUNT(*) FROM instances WHERE module = $1
                       AND status IN ('Pending', 'Running', 'Suspended', 'Failed'))",
        )
        .bind(digest)
        .fetch_one(&mut *conn)
        .await?;
        if used > 0 {
            continue;
        }
        for table in ["functions", "labels"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE digest = $1"))
                .bind(digest)
                .execute(&mut *conn)
                .await?;
        }
        let gone = sqlx::query("DELETE FROM modules WHERE digest = $1")
            .bind(digest)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if gone == 1 {
            deleted.push(digest.clone());
        }
    }
    Ok(deleted)
}

/// See SQLite's `maintenance::retry_child`: gets the failed sub-orchestration `child` of `parent`
/// going again, and returns whether it is to be rewound in turn.
async fn retry_child(
    conn: &mut PgConnection,
    child: &FailedChild,
    parent: ParentRef,
    now: u64,
) -> Result<bool> {
    let row = sqlx::query("SELECT status, parent FROM instances WHERE id = $1 FOR UPDATE")
        .bind(&child.instance)
        .fetch_optional(&mut *conn)
        .await?;
    let failure = match row {
        Some(row) => {
            let status: String = row.try_get(0)?;
            let stored: Option<String> = row.try_get(1)?;
            let stored: Option<ParentRef> = stored
                .map(|p| parse_json("parent reference", &p))
                .transpose()?;
            if started_by(stored.as_ref(), &parent) {
                if status == Status::Terminated.as_str() {
                    // A terminated child is not rewound, and it has already reported: the parent
                    // gets the same failure again rather than waiting for a report that never comes.
                    child.failure.clone()
                } else {
                    // A child of this task that has not failed (rewound on its own since) reports
                    // to the parent when it ends, as it always did.
                    return Ok(status == Status::Failed.as_str());
                }
            } else {
                taken(child)
            }
        }
        None => {
            match active_digest(&mut *conn, &child.name, "orchestrator").await? {
                Some(module) => {
                    let start = NewInstance {
                        id: child.instance.clone(),
                        name: child.name.clone(),
                        module,
                        input: child.input.clone(),
                        parent: Some(parent.clone()),
                    };
                    if insert_instance(conn, &start, now).await? {
                        return Ok(false);
                    }
                    // Another transaction started an instance under the id since it was read: as
                    // if it had held the id already.
                    taken(child)
                }
                None => Failure::new(
                    "OrchestratorNotFound",
                    format!("no orchestrator named {} is deployed", child.name),
                ),
            }
        }
    };
    insert_message(
        conn,
        &OutMessage {
            instance: parent.instance,
            execution: Some(parent.execution),
            // In the same transaction as the parent's rewind.
            incarnation: Incarnation::Any,
            message: Message::Deliver {
                event: HistoryEvent::SubOrchestrationFailed {
                    id: parent.task_id,
                    failure,
                },
            },
            visible_at: now,
        },
    )
    .await?;
    Ok(false)
}

/// The failure of a sub-orchestration task whose id another instance holds.
fn taken(child: &FailedChild) -> Failure {
    Failure::new(
        "InstanceExists",
        format!(
            "cannot start sub-orchestration again: instance {} already exists and is not the one \
             this task started",
            child.instance
        ),
    )
}
