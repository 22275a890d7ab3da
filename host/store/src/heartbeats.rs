//! Activity heartbeats as the store keeps them: the latest details a running attempt reported, on
//! its work item row (for the next attempt of the task and for the instance's status), and the
//! activities an instance waits for with their attempts and heartbeats.
//!
//! Recording a heartbeat is conditional on the lease, like every write of an attempt: a worker that
//! lost it (the task was canceled, the instance terminated, another worker took it over) changes
//! nothing and is told so.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use super::writer::execute;
use super::{Result, json_text, parse_json, to_i64, to_u32, to_u64};
use crate::sqlite::Sqlite;

/// One activity an instance waits for: a work item, with its attempt and latest heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityRow {
    /// The task waiting for it.
    pub task_id: u32,
    /// Activity name (with a version requirement when the call gave one).
    pub name: String,
    /// The attempt running or due next, from 1.
    pub attempt: u32,
    /// True while a worker holds it (an attempt runs); false while it waits to be claimed.
    pub running: bool,
    /// When it is (or was) due, ms since the epoch.
    pub due_ms: u64,
    /// The latest heartbeat details, of this attempt or an earlier one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<Value>,
    /// When they were recorded, ms since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
}

/// The SQL of [`ActivityRow`]s of one instance's current execution, `?1`/`$1` its id and `?2`/`$2`
/// the time, in task order.
pub(crate) fn activities_sql(id: &str, now: &str) -> String {
    format!(
        "SELECT w.task_id, w.name, w.attempt,
                (w.locked_by IS NOT NULL AND w.locked_until >= {now}),
                w.visible_at, w.heartbeat, w.heartbeat_at
         FROM work_items w JOIN instances i ON i.id = w.instance AND i.execution = w.execution
         WHERE w.instance = {id}
         ORDER BY w.task_id"
    )
}

/// Records `details` as work item `id`'s latest heartbeat if `owner` still holds it; false if not.
pub(super) fn record(
    conn: &Connection,
    id: i64,
    owner: &str,
    details: &Value,
    now: u64,
) -> Result<bool> {
    let changed = execute(
        conn,
        "UPDATE work_items SET heartbeat = ?1, heartbeat_at = ?2 WHERE id = ?3 AND locked_by = ?4",
        params![json_text(details), to_i64(now), id, owner],
    )?;
    Ok(changed == 1)
}

/// Reads one [`ActivityRow`] from the columns of [`activities_sql`], from either backend's rows.
pub(crate) fn activity_row<'r, R>(row: &'r R) -> Result<ActivityRow>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(ActivityRow {
        task_id: to_u32(row.try_get(0)?),
        name: row.try_get(1)?,
        attempt: to_u32(row.try_get(2)?),
        running: row.try_get(3)?,
        due_ms: to_u64(row.try_get(4)?),
        heartbeat: row
            .try_get::<Option<String>, _>(5)?
            .map(|t| parse_json("heartbeat details", &t))
            .transpose()?,
        heartbeat_ms: row.try_get::<Option<i64>, _>(6)?.map(to_u64),
    })
}

impl Sqlite {
    /// The activities instance `id`'s current execution waits for, at time `now`.
    pub(crate) async fn activities(&self, id: &str, now: u64) -> Result<Vec<ActivityRow>> {
        let rows = sqlx::query(&activities_sql("?1", "?2"))
            .bind(id)
            .bind(to_i64(now))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(activity_row).collect()
    }
}
