//! Clients' updates: a change sent to a running instance whose response the client waits for.
//!
//! A request is one transaction ([`Store::request_update`](crate::Store::request_update)): the row,
//! and the `Update` message that carries it to the orchestrator. An id already used for the
//! instance queues nothing and returns the update of that id, so that a client that retries after
//! a timeout waits on the same update. The turn that serves an update sets its outcome in the turn's
//! own commit ([`TurnCommit::updates`](crate::TurnCommit::updates)).

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use super::rows::{OutMessage, insert_message};
use super::writer::execute;
use super::{Error, Result, json_text, to_i64, to_u64};
use crate::sqlite::Sqlite;

/// Where an update stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateState {
    /// Sent; the orchestrator has not served it yet.
    Requested,
    /// Accepted, and its handler returned a result.
    Completed,
    /// Accepted, and its handler failed.
    Failed,
    /// Its validator (or the host) turned it down; nothing was recorded in the history.
    Rejected,
}

impl UpdateState {
    /// The name stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "Requested",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Rejected => "Rejected",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        [
            Self::Requested,
            Self::Completed,
            Self::Failed,
            Self::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| Error::Corrupt {
            what: "an update's state",
            message: format!("unknown state {text:?}"),
        })
    }
}

/// An update as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRow {
    /// The instance it was sent to.
    pub instance: String,
    /// Its id, unique within the instance.
    pub id: String,
    /// The update's name.
    pub name: String,
    /// Its argument.
    pub input: Value,
    /// Where it stands.
    pub state: UpdateState,
    /// The handler's result (`Completed`) or the failure (`Failed`, `Rejected`).
    pub outcome: Option<Value>,
    /// When it was sent, ms since the epoch.
    pub requested_ms: u64,
    /// When it was served.
    pub finished_ms: Option<u64>,
}

/// An update to send: the row, and the message that carries it to the instance.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUpdate {
    /// The row, `Requested`.
    pub row: UpdateRow,
    /// Its `Update` message.
    pub message: OutMessage,
}

/// The outcome of an update a turn served.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateDone {
    /// The update.
    pub id: String,
    /// `Completed`, `Failed` or `Rejected`.
    pub state: UpdateState,
    /// The result or the failure.
    pub outcome: Value,
}

pub(crate) const COLUMNS: &str =
    "instance, id, name, input, state, outcome, requested_ms, finished_ms";

/// Inserts the update and queues its message, unless the instance has an update of that id.
pub(super) fn request(conn: &Connection, update: &NewUpdate) -> Result<UpdateRow> {
    let row = &update.row;
    let inserted = execute(
        conn,
        "INSERT INTO updates (instance, id, name, input, state, requested_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (instance, id) DO NOTHING",
        params![
            row.instance,
            row.id,
            row.name,
            json_text(&row.input),
            UpdateState::Requested.as_str(),
            to_i64(row.requested_ms)
        ],
    )?;
    if inserted == 1 {
        insert_message(conn, &update.message)?;
    }
    let stored = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM updates WHERE instance = ?1 AND id = ?2"
        ))?
        .query_row(params![row.instance, row.id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, i64>(6)?,
                r.get::<_, Option<i64>>(7)?,
            ))
        })
        .optional()?
        .ok_or_else(|| Error::Corrupt {
            what: "an update",
            message: format!("update {} vanished while it was sent", row.id),
        })?;
    build(stored)
}

/// Sets the outcomes of the updates a turn of `instance` served (those still `Requested`).
pub(super) fn finish(
    conn: &Connection,
    instance: &str,
    done: &[UpdateDone],
    now: u64,
) -> Result<()> {
    for d in done {
        execute(
            conn,
            "UPDATE updates SET state = ?3, outcome = ?4, finished_ms = ?5
             WHERE instance = ?1 AND id = ?2 AND state = 'Requested'",
            params![
                instance,
                d.id,
                d.state.as_str(),
                json_text(&d.outcome),
                to_i64(now)
            ],
        )?;
    }
    Ok(())
}

impl Sqlite {
    /// The update `id` of `instance`.
    pub(crate) async fn update(&self, instance: &str, id: &str) -> Result<Option<UpdateRow>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM updates WHERE instance = ?1 AND id = ?2"
        ))
        .bind(instance)
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(decode).transpose()
    }
}

type Columns = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<i64>,
);

fn build(
    (instance, id, name, input, state, outcome, requested_ms, finished_ms): Columns,
) -> Result<UpdateRow> {
    let json = |text: &str| {
        serde_json::from_str(text).map_err(|e| Error::Corrupt {
            what: "an update's input or outcome",
            message: format!("update {id}: {e}"),
        })
    };
    Ok(UpdateRow {
        input: json(&input)?,
        outcome: outcome.as_deref().map(json).transpose()?,
        state: UpdateState::parse(&state)?,
        requested_ms: to_u64(requested_ms),
        finished_ms: finished_ms.map(to_u64),
        instance,
        name,
        id,
    })
}

/// One row of [`COLUMNS`], from either backend.
pub(crate) fn decode<R>(row: &R) -> Result<UpdateRow>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database>,
{
    build((
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
        row.try_get(5)?,
        row.try_get(6)?,
        row.try_get(7)?,
    ))
}
