//! Aggregate reads for monitoring: how many instances are in each status.
//!
//! Read-only and cheap (one indexed `GROUP BY`); it never writes and never touches the writer.

use sqlx::Row;

use super::{Error, Result, Status, Store, to_u64};

impl Store {
    /// The number of instances in each status that has any, in [`Status::ALL`] order.
    pub async fn count_by_status(&self) -> Result<Vec<(Status, u64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) FROM instances GROUP BY status")
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
}
