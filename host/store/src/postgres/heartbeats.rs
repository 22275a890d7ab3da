//! PostgreSQL: activity heartbeats, as SQLite's `heartbeats.rs` keeps them.

use serde_json::Value;

use super::Postgres;
use crate::heartbeats::{ActivityRow, activities_sql, activity_row};
use crate::{Result, json_text, to_i64};

impl Postgres {
    pub(crate) async fn record_heartbeat(
        &self,
        id: i64,
        owner: &str,
        details: Value,
        now: u64,
    ) -> Result<bool> {
        self.transaction(async |conn| {
            let changed = sqlx::query(
                "UPDATE work_items SET heartbeat = $1, heartbeat_at = $2
                 WHERE id = $3 AND locked_by = $4",
            )
            .bind(json_text(&details))
            .bind(to_i64(now))
            .bind(id)
            .bind(owner)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            Ok(changed == 1)
        })
        .await
    }

    pub(crate) async fn activities(&self, id: &str, now: u64) -> Result<Vec<ActivityRow>> {
        let rows = sqlx::query(&activities_sql("$1", "$2"))
            .bind(id)
            .bind(to_i64(now))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(activity_row).collect()
    }
}
