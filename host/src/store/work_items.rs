//! The SQL of activity work items: claiming due ones (counting deliveries) and finishing an attempt
//! (its result into the orchestrator's inbox, a retry, or a redelivery after a host failure), each in
//! the writer's savepoint.
//!
//! Every write is conditional on the lease: a worker that lost it changes nothing.

use sqlx::{Row, SqliteConnection};

use super::ops::{FinishWorkItem, Finished, insert_message};
use super::{Result, WorkItem, parse_json, to_i64, to_u32, to_u64};

pub(super) async fn claim_work_items(
    conn: &mut SqliteConnection,
    owner: &str,
    now: u64,
    until: u64,
    limit: u32,
) -> Result<Vec<WorkItem>> {
    let rows = sqlx::query(
        "UPDATE work_items SET locked_by = ?1, locked_until = ?2, deliveries = deliveries + 1
         WHERE id IN (
             SELECT id FROM work_items w
             WHERE visible_at <= ?3 AND (locked_until IS NULL OR locked_until < ?3)
               AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = w.instance
                               AND i.status = 'Failed')
             ORDER BY visible_at, id LIMIT ?4)
         RETURNING id, instance, execution, task_id, name, input, options, attempt, first_at,
                   deliveries,
                   (SELECT run FROM instances i WHERE i.id = work_items.instance)",
    )
    .bind(owner)
    .bind(to_i64(until))
    .bind(to_i64(now))
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(WorkItem {
                id: r.try_get(0)?,
                instance: r.try_get(1)?,
                execution: to_u32(r.try_get(2)?),
                task_id: to_u32(r.try_get(3)?),
                name: r.try_get(4)?,
                input: parse_json("work item input", &r.try_get::<String, _>(5)?)?,
                options: parse_json("work item options", &r.try_get::<String, _>(6)?)?,
                attempt: to_u32(r.try_get(7)?),
                first_at: to_u64(r.try_get(8)?),
                deliveries: to_u32(r.try_get(9)?),
                run: r.try_get(10)?,
            })
        })
        .collect()
}

pub(super) async fn finish_work_item(
    conn: &mut SqliteConnection,
    f: &FinishWorkItem,
    claim_until: Option<u64>,
    now: u64,
) -> Result<Finished> {
    if let FinishWorkItem::HostFailed {
        id,
        owner,
        visible_at,
    } = f
    {
        let changed = sqlx::query(
            "UPDATE work_items SET visible_at = ?, locked_by = NULL, locked_until = NULL
             WHERE id = ? AND locked_by = ?",
        )
        .bind(to_i64(*visible_at))
        .bind(id)
        .bind(owner)
        .execute(&mut *conn)
        .await?;
        return Ok(if changed.rows_affected() == 1 {
            Finished::Committed {
                claimed_instance: false,
            }
        } else {
            Finished::LeaseLost
        });
    }
    let (changed, message) = match f {
        FinishWorkItem::Done { id, owner, message } => (
            sqlx::query("DELETE FROM work_items WHERE id = ? AND locked_by = ?")
                .bind(id)
                .bind(owner)
                .execute(&mut *conn)
                .await?,
            message,
        ),
        FinishWorkItem::Retry {
            id,
            owner,
            next_attempt,
            visible_at,
            message,
        } => (
            sqlx::query(
                "UPDATE work_items SET attempt = ?, visible_at = ?, deliveries = 0, locked_by = NULL,
                     locked_until = NULL
                 WHERE id = ? AND locked_by = ?",
            )
            .bind(i64::from(*next_attempt))
            .bind(to_i64(*visible_at))
            .bind(id)
            .bind(owner)
            .execute(&mut *conn)
            .await?,
            message,
        ),
        FinishWorkItem::HostFailed { .. } => return Ok(Finished::LeaseLost),
    };
    // A lost lease means another worker owns the item now: this attempt's result is dropped.
    if changed.rows_affected() != 1 {
        return Ok(Finished::LeaseLost);
    }
    insert_message(conn, message).await?;
    let mut claimed_instance = false;
    if let Some(until) = claim_until {
        let owner = match f {
            FinishWorkItem::Done { owner, .. }
            | FinishWorkItem::Retry { owner, .. }
            | FinishWorkItem::HostFailed { owner, .. } => owner,
        };
        let leased = sqlx::query(
            "UPDATE instances SET locked_by = ?, locked_until = ?
             WHERE id = ? AND (locked_until IS NULL OR locked_until < ?)
               AND status IN ('Pending', 'Running')",
        )
        .bind(owner)
        .bind(to_i64(until))
        .bind(&message.instance)
        .bind(to_i64(now))
        .execute(&mut *conn)
        .await?;
        claimed_instance = leased.rows_affected() == 1;
    }
    Ok(Finished::Committed { claimed_instance })
}
