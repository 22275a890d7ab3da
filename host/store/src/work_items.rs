//! The SQL of activity work items: claiming due ones (counting deliveries) and finishing an attempt
//! (its result into the orchestrator's inbox, a retry, or a redelivery after a host failure), each in
//! the writer's savepoint.
//!
//! Every write is conditional on the lease: a worker that lost it changes nothing.

use std::sync::LazyLock;

use rusqlite::{Connection, params};

use super::rows::{OutMessage, insert_message};
use super::writer::execute;
use super::{Result, WorkItem, json_text, parse_json, to_i64, to_u32, to_u64};

/// What committing an activity result did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// The work item's lease had been lost; nothing was written.
    LeaseLost,
    /// The result was committed.
    Committed {
        /// The waiting instance was leased to the committing worker, which should run its turn.
        claimed_instance: bool,
    },
}

/// How an activity attempt ended, as far as the store is concerned.
#[derive(Debug, Clone, PartialEq)]
pub enum FinishWorkItem {
    /// The task is resolved: remove the work item and deliver `message`.
    Done {
        /// Work item id.
        id: i64,
        /// Lease owner.
        owner: String,
        /// The result for the orchestrator.
        message: OutMessage,
    },
    /// Another attempt follows: reschedule the work item and record `message` in the history.
    Retry {
        /// Work item id.
        id: i64,
        /// Lease owner.
        owner: String,
        /// The attempt number of the next attempt.
        next_attempt: u32,
        /// When it is due.
        visible_at: u64,
        /// The `TaskRetrying` record for the orchestrator.
        message: OutMessage,
        /// The attempt's latest heartbeat details, when it gave some not recorded yet: kept for
        /// the next attempt.
        heartbeat: Option<serde_json::Value>,
    },
    /// The attempt could not run for a host reason: run the same attempt again at `visible_at`,
    /// recording nothing in the history.
    HostFailed {
        /// Work item id.
        id: i64,
        /// Lease owner.
        owner: String,
        /// When it is due again.
        visible_at: u64,
        /// As for `Retry`.
        heartbeat: Option<serde_json::Value>,
    },
}

/// The work items a claim at time `now` (an SQL parameter) may lease: visible, not leased, and not
/// of a failed instance. Counted by [`Store::due_work`](super::Store::due_work) with the same text.
pub(super) fn claimable_work_items(now: &str) -> String {
    format!(
        "SELECT id FROM work_items w
         WHERE visible_at <= {now} AND (locked_until IS NULL OR locked_until < {now})
           AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = w.instance
                           AND i.status = 'Failed')"
    )
}

pub(super) fn claim_work_items(
    conn: &Connection,
    owner: &str,
    now: u64,
    until: u64,
    limit: u32,
) -> Result<Vec<WorkItem>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE work_items SET locked_by = ?1, locked_until = ?2, deliveries = deliveries + 1,
                                   abandoned_at = CASE WHEN locked_by IS NULL THEN NULL
                                                       ELSE locked_until END
             WHERE id IN ({} ORDER BY visible_at, id LIMIT ?4)
             RETURNING id, instance, execution, task_id, name, input, options, attempt, first_at,
                       deliveries,
                       (SELECT run FROM instances i WHERE i.id = work_items.instance),
                       heartbeat, abandoned_at",
            claimable_work_items("?3")
        )
    });
    let mut stmt = conn.prepare_cached(&SQL)?;
    let mut rows = stmt.query(params![owner, to_i64(until), to_i64(now), i64::from(limit)])?;
    let mut items = Vec::new();
    while let Some(r) = rows.next()? {
        items.push(WorkItem {
            id: r.get(0)?,
            instance: r.get(1)?,
            execution: to_u32(r.get(2)?),
            task_id: to_u32(r.get(3)?),
            name: r.get(4)?,
            input: parse_json("work item input", &r.get::<_, String>(5)?)?,
            options: parse_json("work item options", &r.get::<_, String>(6)?)?,
            attempt: to_u32(r.get(7)?),
            first_at: to_u64(r.get(8)?),
            deliveries: to_u32(r.get(9)?),
            run: r.get(10)?,
            heartbeat: r
                .get::<_, Option<String>>(11)?
                .map(|t| parse_json("heartbeat details", &t))
                .transpose()?,
            abandoned_at: r.get::<_, Option<i64>>(12)?.map(to_u64),
        });
    }
    Ok(items)
}

pub(super) fn finish_work_item(
    conn: &Connection,
    f: &FinishWorkItem,
    claim_until: Option<u64>,
    now: u64,
) -> Result<Finished> {
    if let FinishWorkItem::HostFailed {
        id,
        owner,
        visible_at,
        heartbeat,
    } = f
    {
        let changed = execute(
            conn,
            "UPDATE work_items SET visible_at = ?1, locked_by = NULL, locked_until = NULL,
                 heartbeat = COALESCE(?4, heartbeat),
                 heartbeat_at = CASE WHEN ?4 IS NULL THEN heartbeat_at ELSE ?5 END
             WHERE id = ?2 AND locked_by = ?3",
            params![
                to_i64(*visible_at),
                id,
                owner,
                heartbeat.as_ref().map(json_text),
                to_i64(now)
            ],
        )?;
        return Ok(if changed == 1 {
            Finished::Committed {
                claimed_instance: false,
            }
        } else {
            Finished::LeaseLost
        });
    }
    let (changed, message) = match f {
        FinishWorkItem::Done { id, owner, message } => (
            execute(
                conn,
                "DELETE FROM work_items WHERE id = ? AND locked_by = ?",
                params![id, owner],
            )?,
            message,
        ),
        FinishWorkItem::Retry {
            id,
            owner,
            next_attempt,
            visible_at,
            message,
            heartbeat,
        } => (
            execute(
                conn,
                "UPDATE work_items SET attempt = ?1, visible_at = ?2, deliveries = 0,
                     locked_by = NULL, locked_until = NULL,
                     heartbeat = COALESCE(?5, heartbeat),
                     heartbeat_at = CASE WHEN ?5 IS NULL THEN heartbeat_at ELSE ?6 END
                 WHERE id = ?3 AND locked_by = ?4",
                params![
                    i64::from(*next_attempt),
                    to_i64(*visible_at),
                    id,
                    owner,
                    heartbeat.as_ref().map(json_text),
                    to_i64(now)
                ],
            )?,
            message,
        ),
        FinishWorkItem::HostFailed { .. } => return Ok(Finished::LeaseLost),
    };
    // A lost lease means another worker owns the item now: this attempt's result is dropped.
    if changed != 1 {
        return Ok(Finished::LeaseLost);
    }
    insert_message(conn, message)?;
    let mut claimed_instance = false;
    if let Some(until) = claim_until {
        let owner = match f {
            FinishWorkItem::Done { owner, .. }
            | FinishWorkItem::Retry { owner, .. }
            | FinishWorkItem::HostFailed { owner, .. } => owner,
        };
        let leased = execute(
            conn,
            "UPDATE instances SET locked_by = ?, locked_until = ?
             WHERE id = ? AND (locked_until IS NULL OR locked_until < ?)
               AND status IN ('Pending', 'Running')",
            params![owner, to_i64(until), message.instance, to_i64(now)],
        )?;
        claimed_instance = leased == 1;
    }
    Ok(Finished::Committed { claimed_instance })
}
