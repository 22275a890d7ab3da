//! Worker processes as they last reported themselves: each running worker upserts its row once per
//! lease-renewal period and deletes it when it stops, so that a client can tell whether anything
//! will run the work it starts.
//!
//! A row is a report, not a lease: nothing is claimed or fenced by it. Rows of workers that died
//! without stopping are removed by the next report of any worker once they are a day old.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::writer::execute;
use super::{Result, to_i64, to_u32, to_u64};
use crate::sqlite::Sqlite;

/// How long the row of a worker that stopped reporting is kept.
pub(crate) const FORGET_AFTER_MS: u64 = 24 * 60 * 60 * 1000;

/// A worker process as it last reported itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerRow {
    /// Its lease owner id (what `locked_by` holds for the rows it leases).
    pub owner: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// The `keel` version it runs.
    pub version: String,
    /// When it started, ms since the epoch.
    pub started_ms: u64,
    /// When it last reported, ms since the epoch.
    pub seen_ms: u64,
}

/// Records `worker`'s report and forgets the workers silent for longer than [`FORGET_AFTER_MS`].
pub(super) fn report(conn: &Connection, worker: &WorkerRow) -> Result<()> {
    execute(
        conn,
        "INSERT INTO workers (owner, host, pid, version, started_ms, seen_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (owner) DO UPDATE SET seen_ms = excluded.seen_ms",
        params![
            worker.owner,
            worker.host,
            i64::from(worker.pid),
            worker.version,
            to_i64(worker.started_ms),
            to_i64(worker.seen_ms)
        ],
    )?;
    execute(
        conn,
        "DELETE FROM workers WHERE seen_ms < ?1",
        params![to_i64(worker.seen_ms.saturating_sub(FORGET_AFTER_MS))],
    )?;
    Ok(())
}

/// Deletes the row of a worker that stops.
pub(super) fn stopped(conn: &Connection, owner: &str) -> Result<()> {
    execute(conn, "DELETE FROM workers WHERE owner = ?1", params![owner])?;
    Ok(())
}

impl Sqlite {
    /// Every reported worker, the most recently seen first.
    pub(crate) async fn workers(&self) -> Result<Vec<WorkerRow>> {
        let rows = sqlx::query(
            "SELECT owner, host, pid, version, started_ms, seen_ms FROM workers
             ORDER BY seen_ms DESC, owner",
        )
        .fetch_all(self.pool())
        .await?;
        let mut workers = Vec::with_capacity(rows.len());
        for row in &rows {
            workers.push(WorkerRow {
                owner: row.try_get(0)?,
                host: row.try_get(1)?,
                pid: to_u32(row.try_get(2)?),
                version: row.try_get(3)?,
                started_ms: to_u64(row.try_get(4)?),
                seen_ms: to_u64(row.try_get(5)?),
            });
        }
        Ok(workers)
    }
}
