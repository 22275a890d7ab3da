//! PostgreSQL: schedules, as SQLite's `schedules.rs` keeps them.

use super::Postgres;
use crate::schedules::{COLUMNS, ScheduleChange, ScheduleRow, decode};
use crate::{Result, to_i64};

impl Postgres {
    pub(crate) async fn change_schedule(&self, change: ScheduleChange) -> Result<bool> {
        self.transaction(async |conn| {
            let done = match &change {
                ScheduleChange::Create(s) => {
                    sqlx::query(&format!(
                        "INSERT INTO schedules ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                         $8, $9, NULL, NULL, 0, 0, $10, $11) ON CONFLICT (name) DO NOTHING"
                    ))
                    .bind(&s.name)
                    .bind(&s.orchestrator)
                    .bind(&s.input)
                    .bind(&s.spec)
                    .bind(&s.timezone)
                    .bind(&s.overlap)
                    .bind(&s.catch_up)
                    .bind(s.paused)
                    .bind(to_i64(s.next_fire_ms))
                    .bind(to_i64(s.created_ms))
                    .bind(to_i64(s.jitter_ms))
                    .execute(&mut *conn)
                    .await?
                }
                ScheduleChange::Delete { name } => {
                    sqlx::query("DELETE FROM schedules WHERE name = $1")
                        .bind(name)
                        .execute(&mut *conn)
                        .await?
                }
                ScheduleChange::Pause {
                    name,
                    paused,
                    next_fire_ms,
                } => {
                    sqlx::query(
                        "UPDATE schedules SET paused = $2,
                             next_fire_ms = COALESCE($3, next_fire_ms)
                         WHERE name = $1",
                    )
                    .bind(name)
                    .bind(paused)
                    .bind(next_fire_ms.map(to_i64))
                    .execute(&mut *conn)
                    .await?
                }
                ScheduleChange::Fired {
                    name,
                    fire_ms,
                    time_ms,
                    next_fire_ms,
                    start,
                    now,
                } => {
                    // The row lock of this update orders two workers firing the same time; the
                    // second finds `next_fire_ms` moved and does nothing.
                    let moved = sqlx::query(
                        "UPDATE schedules SET next_fire_ms = $3, last_fire_ms = $5,
                             last_instance = COALESCE($4, last_instance),
                             fired = fired + CASE WHEN $4::TEXT IS NULL THEN 0 ELSE 1 END,
                             skipped = skipped + CASE WHEN $4::TEXT IS NULL THEN 1 ELSE 0 END
                         WHERE name = $1 AND next_fire_ms = $2 AND NOT paused",
                    )
                    .bind(name)
                    .bind(to_i64(*fire_ms))
                    .bind(to_i64(*next_fire_ms))
                    .bind(start.as_ref().map(|i| i.id.as_str()))
                    .bind(to_i64(*time_ms))
                    .execute(&mut *conn)
                    .await?;
                    if moved.rows_affected() > 0
                        && let Some(inst) = start
                        && super::rows::holder(conn, &inst.id).await?.is_none()
                        && super::rows::insert_instance(conn, inst, *now).await?
                    {
                        super::wake_workers(conn).await?;
                    }
                    moved
                }
            };
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    pub(crate) async fn schedules(&self, due_at: Option<u64>) -> Result<Vec<ScheduleRow>> {
        let rows = match due_at {
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM schedules ORDER BY name COLLATE \"C\""
                ))
                .fetch_all(self.pool())
                .await?
            }
            Some(now) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM schedules WHERE NOT paused AND next_fire_ms <= $1
                     ORDER BY next_fire_ms, name COLLATE \"C\""
                ))
                .bind(to_i64(now))
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(decode).collect()
    }
}
