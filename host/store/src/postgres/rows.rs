//! PostgreSQL: the rows every kind of write shares (SQLite's `rows.rs`): creating an instance (over
//! an ended one holding its id), queueing a message in an inbox, appending to a history, locking an
//! instance's row, deleting an instance with everything recorded for it. Each runs inside its
//! caller's transaction.
//!
//! Locks, since several processes write at once: a start locks the row holding the id
//! (`FOR UPDATE`) before it judges it, and a new id is inserted with `ON CONFLICT DO NOTHING`, so
//! that two starts of one id meet on the row rather than on a unique violation; a message locks its
//! recipient `FOR KEY SHARE` (which only a delete or a new incarnation waits for, never a turn's
//! commit or a claim), so that it is never queued for an instance a purge is removing; a purge locks
//! the instance `FOR UPDATE` before it deletes anything of it.

use sqlx::PgConnection;

use keel_core::history::HistoryEvent;

use crate::{
    Error, Incarnation, Message, NewInstance, OutMessage, Result, StartPolicy, Started, Status,
    json_text, to_i64,
};

/// How many times a start reads the id's holder again after another transaction inserted it
/// between the read and the insert (once is enough unless the id is also being purged meanwhile).
const START_ATTEMPTS: u32 = 8;

/// The status and orchestrator of the instance holding `id`, if one does, locked until the
/// transaction ends.
pub(super) async fn holder(conn: &mut PgConnection, id: &str) -> Result<Option<(String, String)>> {
    Ok(
        sqlx::query_as("SELECT status, name FROM instances WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Whether a stored status is one an instance ends in (an unreadable one is not).
pub(super) fn ended(status: &str) -> bool {
    status
        .parse::<Status>()
        .map(Status::is_terminal)
        .unwrap_or(false)
}

/// Inserts a new instance and queues its start; an ended instance that holds the id is purged first,
/// a running one is a conflict.
pub(super) async fn create_instance(
    conn: &mut PgConnection,
    inst: &NewInstance,
    now: u64,
) -> Result<()> {
    start_instance(conn, inst, now, &StartPolicy::default())
        .await
        .map(drop)
}

/// Starts an instance under `policy`: a running instance of the same orchestrator is answered
/// with (and sent the event) when the policy allows it; otherwise as [`create_instance`].
pub(super) async fn start_instance(
    conn: &mut PgConnection,
    inst: &NewInstance,
    now: u64,
    policy: &StartPolicy,
) -> Result<Started> {
    let use_running = policy.use_running || policy.event.is_some();
    let mut attempts = 0;
    let started = loop {
        attempts += 1;
        match holder(conn, &inst.id).await? {
            Some((status, name)) if !ended(&status) => {
                if !use_running {
                    return Err(Error::Conflict(format!(
                        "instance {} already exists and is {status}",
                        inst.id
                    )));
                }
                if name != inst.name {
                    return Err(Error::Conflict(format!(
                        "instance {} already exists, is {status} and runs orchestrator {name}, not {}",
                        inst.id, inst.name
                    )));
                }
                break Started::Running;
            }
            existing => {
                if existing.is_some() {
                    // An ended instance's id may be reused: its old history, inbox and work items
                    // go, and the new incarnation gets a run token of its own.
                    purge(conn, &inst.id).await?;
                }
                if insert_instance(conn, inst, now).await? {
                    break Started::Created;
                }
                // Another transaction inserted the id since it was read: read its holder again
                // (this statement sees that commit) and judge it as if it had been there first.
                if attempts >= START_ATTEMPTS {
                    return Err(Error::Conflict(format!(
                        "instance {} is being started by others at the same time",
                        inst.id
                    )));
                }
            }
        }
    };
    if let Some(event) = &policy.event {
        insert_message(
            conn,
            &OutMessage {
                instance: inst.id.clone(),
                execution: None,
                incarnation: Incarnation::Any,
                message: event.clone(),
                visible_at: now,
            },
        )
        .await?;
    }
    Ok(started)
}

/// Inserts `inst` as a new pending instance with a run token of its own and queues its start, unless
/// the id is taken (by a row this transaction cannot see yet, too: the insert waits for the
/// transaction that wrote it). True if it was inserted.
pub(super) async fn insert_instance(
    conn: &mut PgConnection,
    inst: &NewInstance,
    now: u64,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO instances (id, name, execution, status, module, input, parent, created_at,
                                updated_at, history_len, run)
         VALUES ($1, $2, 1, 'Pending', $3, $4, $5, $6, $6, 0, $7)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(&inst.id)
    .bind(&inst.name)
    .bind(&inst.module)
    .bind(json_text(&inst.input))
    .bind(inst.parent.as_ref().map(json_text))
    .bind(to_i64(now))
    .bind(new_run())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted != 1 {
        return Ok(false);
    }
    insert_message(
        conn,
        &OutMessage {
            instance: inst.id.clone(),
            execution: Some(1),
            incarnation: Incarnation::Any,
            message: Message::Start,
            visible_at: now,
        },
    )
    .await?;
    Ok(true)
}

/// A new incarnation's run token, as SQLite's: 64 random bits as 16 hex digits.
fn new_run() -> String {
    let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
    format!("{:016x}", high ^ low)
}

/// Queues `m` for its instance. A message for an instance that no longer exists, or for an
/// incarnation that no longer holds the id, is dropped (logged at debug level), as on SQLite. The
/// recipient is locked `FOR KEY SHARE` meanwhile: a purge of it waits for this transaction, or this
/// one finds it gone.
pub(super) async fn insert_message(conn: &mut PgConnection, m: &OutMessage) -> Result<()> {
    let (any, run) = match &m.incarnation {
        Incarnation::Any => (true, None),
        Incarnation::Run(run) => (false, run.as_deref()),
    };
    let queued = sqlx::query(
        "INSERT INTO inbox (instance, execution, kind, message, visible_at)
         SELECT $1, $2, $3, $4, $5
         WHERE EXISTS (SELECT 1 FROM instances WHERE id = $1
                         AND ($6 OR run IS NOT DISTINCT FROM $7) FOR KEY SHARE)",
    )
    .bind(&m.instance)
    .bind(m.execution.map(i64::from))
    .bind(m.message.kind())
    .bind(json_text(&m.message))
    .bind(to_i64(m.visible_at))
    .bind(any)
    .bind(run)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if queued == 0 {
        tracing::debug!(
            instance = %m.instance,
            run = ?run,
            kind = m.message.kind(),
            "message dropped: its instance is gone, or its id now belongs to another incarnation"
        );
    }
    Ok(())
}

/// Appends `events` to an execution's history, the first at `seq` and the others after it.
pub(super) async fn append_history(
    conn: &mut PgConnection,
    instance: &str,
    execution: u32,
    seq: u32,
    events: &[HistoryEvent],
    now: u64,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let events: Vec<String> = events.iter().map(json_text).collect();
    sqlx::query(
        "INSERT INTO history (instance, execution, seq, event, recorded_at)
         SELECT $1, $2, $3 + e.n - 1, e.event, $5
         FROM UNNEST($4::TEXT[]) WITH ORDINALITY AS e(event, n)",
    )
    .bind(instance)
    .bind(i64::from(execution))
    .bind(i64::from(seq))
    .bind(&events)
    .bind(to_i64(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// Locks the row of instance `id` until the transaction ends; false if there is none.
pub(super) async fn lock_instance(conn: &mut PgConnection, id: &str) -> Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM instances WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .is_some(),
    )
}

/// Deletes an instance with its history, inbox and work items, locking it first (so that no message
/// is queued for it meanwhile, and its work items are locked after it, as everywhere). False if it
/// did not exist.
pub(super) async fn purge(conn: &mut PgConnection, id: &str) -> Result<bool> {
    let exists = lock_instance(conn, id).await?;
    for table in ["history", "inbox", "work_items", "logs", "updates"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE instance = $1"))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    if !exists {
        return Ok(false);
    }
    let gone = sqlx::query("DELETE FROM instances WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok(gone == 1)
}
