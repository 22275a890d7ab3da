//! Schedules: recurring starts of an orchestrator. The store keeps each schedule's definition and the
//! firing due next; what the times are (cron, intervals, time zones) is the engine's business.
//!
//! A firing is one transaction ([`ScheduleChange::Fired`]): it moves `next_fire_ms` on only if it
//! still holds the fire time, and only then creates the firing's instance, under an id derived from
//! the schedule and the fire time (left alone if an instance already holds that id). Two workers
//! that fire the same time start one instance; a worker that dies before its commit leaves the
//! firing to be done again.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::writer::execute;
use super::{Result, to_i64, to_u64};
use crate::sqlite::Sqlite;

/// A schedule as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRow {
    /// Its name, unique.
    pub name: String,
    /// The orchestrator each firing starts.
    pub orchestrator: String,
    /// The input of each instance, as JSON text.
    pub input: String,
    /// When it fires: `cron:EXPR` or `every:MS`.
    pub spec: String,
    /// The time zone a cron expression is read in (IANA name).
    pub timezone: String,
    /// What a firing does while the previous firing's instance runs: `skip` or `allow`.
    pub overlap: String,
    /// What happens to firings missed while nothing ran: `latest` (one, now) or `all`.
    pub catch_up: String,
    /// Paused schedules do not fire.
    pub paused: bool,
    /// The firing due next, ms since the epoch.
    pub next_fire_ms: u64,
    /// The last firing done (started or skipped).
    pub last_fire_ms: Option<u64>,
    /// The instance the last started firing started.
    pub last_instance: Option<String>,
    /// Firings that started an instance.
    pub fired: u64,
    /// Firings skipped because the previous instance still ran.
    pub skipped: u64,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
    /// The most a firing waits after its time (each firing its own delay); 0 fires on time.
    #[serde(default)]
    pub jitter_ms: u64,
}

/// A change to the schedules; each answers whether it changed a row.
#[derive(Debug, Clone, PartialEq)]
pub enum ScheduleChange {
    /// A new schedule; `false` when the name is taken.
    Create(ScheduleRow),
    /// Removes a schedule (instances it started are left alone).
    Delete {
        /// The schedule.
        name: String,
    },
    /// Pauses or resumes a schedule; a resumed one fires next at `next_fire_ms`.
    Pause {
        /// The schedule.
        name: String,
        /// Paused (true) or running (false).
        paused: bool,
        /// The next firing, when resuming.
        next_fire_ms: Option<u64>,
    },
    /// Does the firing due at `fire_ms`, if it is still the one due and the schedule is not
    /// paused (a pause wins over a firing in flight): creates `start` (unless an
    /// instance holds its id already), or skips the firing when `start` is `None`; the schedule
    /// fires next at `next_fire_ms`. `now` is the new instance's creation time.
    Fired {
        /// The schedule.
        name: String,
        /// The `next_fire_ms` it found due.
        fire_ms: u64,
        /// The time the firing stands for (later than `fire_ms` when missed firings are caught
        /// up at once), recorded as the last firing.
        time_ms: u64,
        /// The firing due after it.
        next_fire_ms: u64,
        /// The instance to start, or `None` for a skipped firing.
        start: Option<crate::NewInstance>,
        /// Now, ms since the epoch.
        now: u64,
    },
}

pub(crate) const COLUMNS: &str = "name, orchestrator, input, spec, timezone, overlap, catch_up, paused, \
     next_fire_ms, last_fire_ms, last_instance, fired, skipped, created_ms, jitter_ms";

/// Applies `change`; whether a row changed.
pub(super) fn apply(conn: &Connection, change: &ScheduleChange) -> Result<bool> {
    let changed = match change {
        ScheduleChange::Create(s) => execute(
            conn,
            &format!(
                "INSERT INTO schedules ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, \
                 NULL, NULL, 0, 0, ?10, ?11) ON CONFLICT (name) DO NOTHING"
            ),
            params![
                s.name,
                s.orchestrator,
                s.input,
                s.spec,
                s.timezone,
                s.overlap,
                s.catch_up,
                s.paused,
                to_i64(s.next_fire_ms),
                to_i64(s.created_ms),
                to_i64(s.jitter_ms)
            ],
        )?,
        ScheduleChange::Delete { name } => {
            execute(conn, "DELETE FROM schedules WHERE name = ?1", params![name])?
        }
        ScheduleChange::Pause {
            name,
            paused,
            next_fire_ms,
        } => execute(
            conn,
            "UPDATE schedules SET paused = ?2, next_fire_ms = COALESCE(?3, next_fire_ms)
             WHERE name = ?1",
            params![name, paused, next_fire_ms.map(to_i64)],
        )?,
        ScheduleChange::Fired {
            name,
            fire_ms,
            time_ms,
            next_fire_ms,
            start,
            now,
        } => {
            let instance = start.as_ref().map(|i| i.id.as_str());
            let moved = execute(
                conn,
                "UPDATE schedules SET next_fire_ms = ?3, last_fire_ms = ?5,
                     last_instance = COALESCE(?4, last_instance),
                     fired = fired + (?4 IS NOT NULL), skipped = skipped + (?4 IS NULL)
                 WHERE name = ?1 AND next_fire_ms = ?2 AND paused = 0",
                params![
                    name,
                    to_i64(*fire_ms),
                    to_i64(*next_fire_ms),
                    instance,
                    to_i64(*time_ms)
                ],
            )?;
            if moved > 0
                && let Some(inst) = start
            {
                super::rows::create_if_absent(conn, inst, *now)?;
            }
            moved
        }
    };
    Ok(changed > 0)
}

impl Sqlite {
    /// Every schedule by name, or only those due at `due_at` (not paused, `next_fire_ms` reached).
    pub(crate) async fn schedules(&self, due_at: Option<u64>) -> Result<Vec<ScheduleRow>> {
        let rows = match due_at {
            None => {
                sqlx::query(&format!("SELECT {COLUMNS} FROM schedules ORDER BY name"))
                    .fetch_all(self.pool())
                    .await?
            }
            Some(now) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM schedules WHERE paused = 0 AND next_fire_ms <= ?1
                     ORDER BY next_fire_ms, name"
                ))
                .bind(to_i64(now))
                .fetch_all(self.pool())
                .await?
            }
        };
        rows.iter().map(decode).collect()
    }
}

/// One row of [`COLUMNS`], from either backend.
pub(crate) fn decode<R>(row: &R) -> Result<ScheduleRow>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database>,
{
    Ok(ScheduleRow {
        name: row.try_get(0)?,
        orchestrator: row.try_get(1)?,
        input: row.try_get(2)?,
        spec: row.try_get(3)?,
        timezone: row.try_get(4)?,
        overlap: row.try_get(5)?,
        catch_up: row.try_get(6)?,
        paused: row.try_get(7)?,
        next_fire_ms: to_u64(row.try_get(8)?),
        last_fire_ms: row.try_get::<Option<i64>, _>(9)?.map(to_u64),
        last_instance: row.try_get(10)?,
        fired: to_u64(row.try_get(11)?),
        skipped: to_u64(row.try_get(12)?),
        created_ms: to_u64(row.try_get(13)?),
        jitter_ms: to_u64(row.try_get(14)?),
    })
}
