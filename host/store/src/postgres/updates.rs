//! PostgreSQL: clients' updates, as SQLite's `updates.rs` keeps them.

use sqlx::PgConnection;

use super::Postgres;
use super::rows::insert_message;
use crate::updates::{COLUMNS, NewUpdate, UpdateDone, UpdateRow, UpdateState, decode};
use crate::{Error, Result, json_text, to_i64};

impl Postgres {
    pub(crate) async fn request_update(&self, update: NewUpdate) -> Result<UpdateRow> {
        self.transaction(async |conn| {
            let row = &update.row;
            let inserted = sqlx::query(
                "INSERT INTO updates (instance, id, name, input, state, requested_ms)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (instance, id) DO NOTHING",
            )
            .bind(&row.instance)
            .bind(&row.id)
            .bind(&row.name)
            .bind(json_text(&row.input))
            .bind(UpdateState::Requested.as_str())
            .bind(to_i64(row.requested_ms))
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 1 {
                insert_message(conn, &update.message).await?;
                super::wake_workers(conn).await?;
            }
            let stored = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM updates WHERE instance = $1 AND id = $2"
            ))
            .bind(&row.instance)
            .bind(&row.id)
            .fetch_optional(&mut *conn)
            .await?;
            let stored = stored.ok_or_else(|| Error::Corrupt {
                what: "an update",
                message: format!("update {} vanished while it was sent", row.id),
            })?;
            decode(&stored)
        })
        .await
    }

    pub(crate) async fn update(&self, instance: &str, id: &str) -> Result<Option<UpdateRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM updates WHERE instance = $1 AND id = $2"
        ))
        .bind(instance)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(decode).transpose()
    }
}

/// Sets the outcomes of the updates a turn of `instance` served (those still `Requested`).
pub(super) async fn finish(
    conn: &mut PgConnection,
    instance: &str,
    done: &[UpdateDone],
    now: u64,
) -> Result<()> {
    for d in done {
        sqlx::query(
            "UPDATE updates SET state = $3, outcome = $4, finished_ms = $5
             WHERE instance = $1 AND id = $2 AND state = 'Requested'",
        )
        .bind(instance)
        .bind(&d.id)
        .bind(d.state.as_str())
        .bind(json_text(&d.outcome))
        .bind(to_i64(now))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
