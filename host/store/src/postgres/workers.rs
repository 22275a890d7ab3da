//! PostgreSQL: worker processes as they last reported themselves, as SQLite's `workers.rs` keeps
//! them.

use sqlx::Row;

use super::Postgres;
use crate::workers::{FORGET_AFTER_MS, WorkerRow};
use crate::{Result, to_i64, to_u32, to_u64};

impl Postgres {
    pub(crate) async fn report_worker(&self, worker: WorkerRow) -> Result<()> {
        self.transaction(async |conn| {
            sqlx::query(
                "INSERT INTO workers (owner, host, pid, version, started_ms, seen_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (owner) DO UPDATE SET seen_ms = excluded.seen_ms",
            )
            .bind(&worker.owner)
            .bind(&worker.host)
            .bind(i64::from(worker.pid))
            .bind(&worker.version)
            .bind(to_i64(worker.started_ms))
            .bind(to_i64(worker.seen_ms))
            .execute(&mut *conn)
            .await?;
            sqlx::query("DELETE FROM workers WHERE seen_ms < $1")
                .bind(to_i64(worker.seen_ms.saturating_sub(FORGET_AFTER_MS)))
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn worker_stopped(&self, owner: &str) -> Result<()> {
        self.transaction(async |conn| {
            sqlx::query("DELETE FROM workers WHERE owner = $1")
                .bind(owner)
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn workers(&self) -> Result<Vec<WorkerRow>> {
        let rows = sqlx::query(
            "SELECT owner, host, pid, version, started_ms, seen_ms FROM workers
             ORDER BY seen_ms DESC, owner COLLATE \"C\"",
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
