//! What guests wrote while an instance ran: an orchestrator's lines from its live turns (never from
//! a replay) and an activity's from each attempt, as `keel logs` and the API read them back.
//!
//! Lines are written in the transaction of the turn or the attempt's result that produced them, so
//! they cost no commit of their own, and only when that transaction commits. They go with their
//! instance (a purge, the reuse of an ended id) and, whatever the instance, once they are older
//! than the retention time a worker prunes to.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::writer::execute;
use super::{Result, to_i64, to_u32, to_u64};
use crate::sqlite::Sqlite;

/// One line a guest wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// The instance it ran for.
    pub instance: String,
    /// That instance's execution (continue-as-new starts the next one).
    pub execution: u32,
    /// When it was written, ms since the epoch.
    pub at_ms: u64,
    /// The orchestrator's or the activity's name.
    pub source: String,
    /// The activity's task id; `None` for the orchestrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<u32>,
    /// The activity's attempt; `None` for the orchestrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// `stdout` or `stderr`, or the level of the `log` call (`trace` … `error`).
    pub stream: String,
    /// The line, without its newline.
    pub text: String,
}

/// A stored line with its position: a reader asks for the lines after the last id it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredLogLine {
    /// Position among all stored lines, increasing in the order they were committed.
    pub id: i64,
    /// The line.
    #[serde(flatten)]
    pub line: LogLine,
}

/// Appends `lines`, in order.
pub(super) fn insert(conn: &Connection, lines: &[LogLine]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO logs (instance, execution, at_ms, source, task, attempt, stream, text)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )?;
    for line in lines {
        stmt.execute(params![
            line.instance,
            i64::from(line.execution),
            to_i64(line.at_ms),
            line.source,
            line.task.map(i64::from),
            line.attempt.map(i64::from),
            line.stream,
            line.text,
        ])?;
    }
    Ok(())
}

/// Deletes the lines written before `before_ms`; how many.
pub(super) fn prune(conn: &Connection, before_ms: u64) -> Result<u64> {
    let gone = execute(
        conn,
        "DELETE FROM logs WHERE at_ms < ?",
        params![to_i64(before_ms)],
    )?;
    Ok(gone as u64)
}

impl Sqlite {
    /// Up to `limit` lines of instance `id` stored after line `after`, oldest first.
    pub(crate) async fn logs(
        &self,
        id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredLogLine>> {
        let rows = sqlx::query(
            "SELECT id, instance, execution, at_ms, source, task, attempt, stream, text FROM logs
             WHERE instance = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )
        .bind(id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut lines = Vec::with_capacity(rows.len());
        for row in &rows {
            lines.push(StoredLogLine {
                id: row.try_get(0)?,
                line: LogLine {
                    instance: row.try_get(1)?,
                    execution: to_u32(row.try_get(2)?),
                    at_ms: to_u64(row.try_get(3)?),
                    source: row.try_get(4)?,
                    task: row.try_get::<Option<i64>, _>(5)?.map(to_u32),
                    attempt: row.try_get::<Option<i64>, _>(6)?.map(to_u32),
                    stream: row.try_get(7)?,
                    text: row.try_get(8)?,
                },
            });
        }
        Ok(lines)
    }
}
