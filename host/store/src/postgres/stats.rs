//! PostgreSQL: the aggregate reads for monitoring (SQLite's `stats.rs`): how many instances are in
//! each status, and how deep the inbox and the activity work queue are.

use sqlx::Row;

use super::Postgres;
use crate::{Error, Result, Status, to_i64, to_u64};

impl Postgres {
    /// The number of instances in each status that has any, in [`Status::ALL`] order.
    pub(crate) async fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*)::BIGINT FROM instances GROUP BY status")
            .fetch_all(self.pool())
            .await?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            let status: String = row.try_get(0)?;
            let status = status.parse::<Status>().map_err(|message| Error::Corrupt {
                what: "instance status",
                message,
            })?;
            counts.push((status, to_u64(row.try_get(1)?)));
        }
        counts.sort_by_key(|(status, _)| Status::ALL.iter().position(|s| s == status));
        Ok(counts)
    }

    /// Messages due now (`<= now`) and messages waiting for a later time (timers, retries).
    pub(crate) async fn inbox_depth(&self, now: u64) -> Result<(u64, u64)> {
        self.due_and_later("inbox", now).await
    }

    /// Activity calls due now and calls waiting for a retry's time.
    pub(crate) async fn work_queue_depth(&self, now: u64) -> Result<(u64, u64)> {
        self.due_and_later("work_items", now).await
    }

    async fn due_and_later(&self, table: &str, now: u64) -> Result<(u64, u64)> {
        let row = sqlx::query(&format!(
            "SELECT COALESCE(SUM(CASE WHEN visible_at <= $1 THEN 1 ELSE 0 END), 0)::BIGINT,
                    COALESCE(SUM(CASE WHEN visible_at > $1 THEN 1 ELSE 0 END), 0)::BIGINT
             FROM {table}"
        ))
        .bind(to_i64(now))
        .fetch_one(self.pool())
        .await?;
        Ok((to_u64(row.try_get(0)?), to_u64(row.try_get(1)?)))
    }
}
