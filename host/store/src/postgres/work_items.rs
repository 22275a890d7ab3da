//! PostgreSQL: claiming activity work items and recording the end of an attempt (its result into
//! the orchestrator's inbox, a retry, or a redelivery after a host failure), as SQLite's
//! `work_items.rs` does.
//!
//! Several workers of several processes claim at once: a claim takes its rows with
//! `FOR UPDATE SKIP LOCKED`, so that two claims never lease one item nor wait for each other, and
//! re-checks each row it locks (PostgreSQL re-evaluates the condition on a row changed since the
//! statement's snapshot), so that an item another worker leased and committed meanwhile is not
//! taken. Finishing an attempt is conditional on the lease, like SQLite's: it locks the waiting
//! instance's row first (the one lock order of every write: instances, then work items), then
//! deletes or reschedules the item only if it is still leased to the worker.

use std::sync::LazyLock;

use sqlx::{PgConnection, Row};

use super::instances::claimable_work_items;
use super::rows::{insert_message, lock_instance};

use super::Postgres;
use crate::{
    FinishWorkItem, Finished, Result, WorkItem, json_text, parse_json, to_i64, to_u32, to_u64,
};

impl Postgres {
    pub(crate) async fn claim_work_items(
        &self,
        owner: &str,
        now: u64,
        until: u64,
        limit: u32,
    ) -> Result<Vec<WorkItem>> {
        // The claimable rows are those `due_work` counts; the outer query orders what the update
        // returns, which PostgreSQL leaves unordered.
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "WITH due AS (
                     {} ORDER BY w.visible_at, w.id LIMIT $4 FOR NO KEY UPDATE OF w SKIP LOCKED
                 ), claimed AS (
                     UPDATE work_items w SET locked_by = $1, locked_until = $2,
                                             deliveries = w.deliveries + 1,
                                             abandoned_at = CASE WHEN w.locked_by IS NULL
                                                                 THEN NULL ELSE w.locked_until END
                     FROM due WHERE w.id = due.id
                     RETURNING w.id, w.instance, w.execution, w.task_id, w.name, w.input,
                               w.options, w.attempt, w.first_at, w.deliveries, w.visible_at,
                               w.heartbeat, w.abandoned_at
                 )
                 SELECT c.id, c.instance, c.execution, c.task_id, c.name, c.input, c.options,
                        c.attempt, c.first_at, c.deliveries,
                        (SELECT run FROM instances i WHERE i.id = c.instance),
                        c.heartbeat, c.abandoned_at
                 FROM claimed c ORDER BY c.visible_at, c.id",
                claimable_work_items("$3")
            )
        });
        let rows = self
            .transaction(async |conn| {
                Ok(sqlx::query(&SQL)
                    .bind(owner)
                    .bind(to_i64(until))
                    .bind(to_i64(now))
                    .bind(i64::from(limit))
                    .fetch_all(conn)
                    .await?)
            })
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkItem {
                    id: r.try_get(0)?,
                    instance: r.try_get(1)?,
                    execution: to_u32(r.try_get(2)?),
                    task_id: to_u32(r.try_get(3)?),
                    name: r.try_get(4)?,
                    input: parse_json("work item input", r.try_get(5)?)?,
                    options: parse_json("work item options", r.try_get(6)?)?,
                    attempt: to_u32(r.try_get(7)?),
                    first_at: to_u64(r.try_get(8)?),
                    deliveries: to_u32(r.try_get(9)?),
                    run: r.try_get(10)?,
                    heartbeat: r
                        .try_get::<Option<&str>, _>(11)?
                        .map(|t| parse_json("heartbeat details", t))
                        .transpose()?,
                    abandoned_at: r.try_get::<Option<i64>, _>(12)?.map(to_u64),
                })
            })
            .collect()
    }

    pub(crate) async fn finish_work_item(
        &self,
        finish: FinishWorkItem,
        logs: Vec<crate::LogLine>,
        claim_until: Option<u64>,
        now: u64,
    ) -> Result<Finished> {
        self.transaction(async |conn| {
            let finished = finish_work_item(conn, &finish, claim_until, now).await?;
            if finished != Finished::LeaseLost {
                super::logs::insert(conn, &logs).await?;
            }
            Ok(finished)
        })
        .await
    }
}

/// Records the end of an attempt, if the item is still leased to its worker.
async fn finish_work_item(
    conn: &mut PgConnection,
    finish: &FinishWorkItem,
    claim_until: Option<u64>,
    now: u64,
) -> Result<Finished> {
    let (id, owner, message) = match finish {
        FinishWorkItem::HostFailed {
            id,
            owner,
            visible_at,
            heartbeat,
        } => {
            let changed = sqlx::query(
                "UPDATE work_items SET visible_at = $1, locked_by = NULL, locked_until = NULL,
                     heartbeat = COALESCE($4, heartbeat),
                     heartbeat_at = CASE WHEN $4::text IS NULL THEN heartbeat_at ELSE $5 END
                 WHERE id = $2 AND locked_by = $3",
            )
            .bind(to_i64(*visible_at))
            .bind(id)
            .bind(owner)
            .bind(heartbeat.as_ref().map(json_text))
            .bind(to_i64(now))
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if changed != 1 {
                return Ok(Finished::LeaseLost);
            }
            super::wake_workers(conn).await?;
            return Ok(Finished::Committed {
                claimed_instance: false,
            });
        }
        FinishWorkItem::Done { id, owner, message }
        | FinishWorkItem::Retry {
            id, owner, message, ..
        } => (*id, owner, message),
    };
    // The instance first, as every write locks it before its work items: a turn committing, a
    // purge or a rewind of it waits for this result rather than interleave with it.
    lock_instance(conn, &message.instance).await?;
    let changed = match finish {
        FinishWorkItem::Retry {
            next_attempt,
            visible_at,
            heartbeat,
            ..
        } => sqlx::query(
            "UPDATE work_items SET attempt = $1, visible_at = $2, deliveries = 0,
                 locked_by = NULL, locked_until = NULL,
                 heartbeat = COALESCE($5, heartbeat),
                 heartbeat_at = CASE WHEN $5::text IS NULL THEN heartbeat_at ELSE $6 END
             WHERE id = $3 AND locked_by = $4",
        )
        .bind(i64::from(*next_attempt))
        .bind(to_i64(*visible_at))
        .bind(id)
        .bind(owner)
        .bind(heartbeat.as_ref().map(json_text))
        .bind(to_i64(now))
        .execute(&mut *conn)
        .await?
        .rows_affected(),
        _ => sqlx::query("DELETE FROM work_items WHERE id = $1 AND locked_by = $2")
            .bind(id)
            .bind(owner)
            .execute(&mut *conn)
            .await?
            .rows_affected(),
    };
    // A lost lease means another worker owns the item now: this attempt's result is dropped.
    if changed != 1 {
        return Ok(Finished::LeaseLost);
    }
    insert_message(conn, message).await?;
    let mut claimed_instance = false;
    if let Some(until) = claim_until {
        let leased = sqlx::query(
            "UPDATE instances SET locked_by = $1, locked_until = $2
             WHERE id = $3 AND (locked_until IS NULL OR locked_until < $4)
               AND status IN ('Pending', 'Running')",
        )
        .bind(owner)
        .bind(to_i64(until))
        .bind(&message.instance)
        .bind(to_i64(now))
        .execute(&mut *conn)
        .await?
        .rows_affected();
        claimed_instance = leased == 1;
    }
    super::wake_workers(conn).await?;
    Ok(Finished::Committed { claimed_instance })
}
