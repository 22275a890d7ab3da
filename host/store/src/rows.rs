//! The rows every kind of write shares: creating an instance, queueing a message in an inbox,
//! deleting an instance with everything recorded for it.
//!
//! The operations (`ops.rs`, `maintenance.rs`, `work_items.rs`) build on these; nothing here knows
//! of the writer's operations, so the modules above depend on this one and never on each other in
//! a circle.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::writer::execute;
use super::{Error, Message, Result, Status, json_text, to_i64};
use keel_core::history::ParentRef;

/// A new instance (or a new sub-orchestration).
#[derive(Debug, Clone, PartialEq)]
pub struct NewInstance {
    /// Its id.
    pub id: String,
    /// Orchestrator name.
    pub name: String,
    /// Digest of the module it is pinned to.
    pub module: String,
    /// Input.
    pub input: Value,
    /// Parent, for a sub-orchestration.
    pub parent: Option<ParentRef>,
}

/// Which incarnation of its recipient's id a message is for. An ended instance's id may be started
/// again (or purged and started again): each start is a new incarnation with a run token of its own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Incarnation {
    /// Whichever holds the id when the message is queued: a message to itself written in the turn's
    /// own conditional commit, or an activity result, whose commit is conditional on its work item
    /// (which does not outlive its incarnation).
    #[default]
    Any,
    /// Only the incarnation with this run token; `None` is one created before run tokens existed (a
    /// NULL run). A message for another incarnation, or for an id that is gone, is dropped.
    Run(Option<String>),
}

/// A message to put in an instance's inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutMessage {
    /// Recipient.
    pub instance: String,
    /// Execution it is meant for; `None` for whichever is current.
    pub execution: Option<u32>,
    /// Incarnation it is meant for.
    pub incarnation: Incarnation,
    /// The message.
    pub message: Message,
    /// When it becomes visible (a timer's firing time; otherwise now).
    pub visible_at: u64,
}

/// Inserts a new instance and queues its start; an ended instance that holds the id is purged first,
/// a running one is a conflict.
pub(super) fn create_instance(conn: &Connection, inst: &NewInstance, now: u64) -> Result<()> {
    let existing = holder(conn, &inst.id)?;
    create_over(conn, inst, now, existing.map(|(status, _)| status))
}

/// Creates `inst` unless an instance (running or ended) holds its id; whether it did.
pub(super) fn create_if_absent(conn: &Connection, inst: &NewInstance, now: u64) -> Result<bool> {
    if holder(conn, &inst.id)?.is_some() {
        return Ok(false);
    }
    create_over(conn, inst, now, None)?;
    Ok(true)
}

/// The status and orchestrator of the instance holding `id`, if one does.
fn holder(conn: &Connection, id: &str) -> Result<Option<(String, String)>> {
    Ok(conn
        .prepare_cached("SELECT status, name FROM instances WHERE id = ?")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Whether a stored status is one an instance ends in (an unreadable one is not).
fn ended(status: &str) -> bool {
    status
        .parse::<Status>()
        .map(Status::is_terminal)
        .unwrap_or(false)
}

/// [`create_instance`] once the status of the instance holding the id (if any) has been read.
fn create_over(
    conn: &Connection,
    inst: &NewInstance,
    now: u64,
    existing: Option<String>,
) -> Result<()> {
    if let Some(status) = existing {
        if !ended(&status) {
            return Err(Error::Conflict(format!(
                "instance {} already exists and is {status}",
                inst.id
            )));
        }
        // An ended instance's id may be reused: its old history, inbox and work items go, and the
        // new incarnation gets a run token of its own.
        purge(conn, &inst.id)?;
    }
    execute(
        conn,
        "INSERT INTO instances (id, name, execution, status, module, input, parent, created_at,
                                updated_at, history_len, run)
         VALUES (?, ?, 1, 'Pending', ?, ?, ?, ?, ?, 0, ?)",
        params![
            inst.id,
            inst.name,
            inst.module,
            json_text(&inst.input),
            inst.parent.as_ref().map(json_text),
            to_i64(now),
            to_i64(now),
            new_run(),
        ],
    )?;
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
}

/// How a client's start treats an id that an instance which has not ended holds.
#[derive(Debug, Clone, Default)]
pub struct StartPolicy {
    /// Leave a running instance of the same orchestrator be and answer with it, instead of a
    /// conflict (Durable Functions' "start if not running", Temporal's use-existing).
    pub use_running: bool,
    /// Queue this message (a raised event) for the instance, whether it was running or is created
    /// now, in the same transaction (signal-with-start); implies `use_running`.
    pub event: Option<Message>,
}

/// What a start did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// A new instance (or incarnation of an ended id) was created.
    Created,
    /// An instance of the same orchestrator that had not ended holds the id; it was left running.
    Running,
}

/// Starts an instance under `policy`: a running instance of the same orchestrator is answered
/// with (and sent the event) when the policy allows it; otherwise as [`create_instance`].
pub(super) fn start_instance(
    conn: &Connection,
    inst: &NewInstance,
    now: u64,
    policy: &StartPolicy,
) -> Result<Started> {
    let started = match holder(conn, &inst.id)? {
        Some((status, name))
            if !ended(&status) && (policy.use_running || policy.event.is_some()) =>
        {
            if name != inst.name {
                return Err(Error::Conflict(format!(
                    "instance {} already exists, is {status} and runs orchestrator {name}, not {}",
                    inst.id, inst.name
                )));
            }
            Started::Running
        }
        existing => {
            create_over(conn, inst, now, existing.map(|(status, _)| status))?;
            Started::Created
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
        )?;
    }
    Ok(started)
}

/// A new incarnation's run token: 64 random bits as 16 hex digits. A v4 UUID's two halves have their
/// fixed version and variant bits in different places, so their XOR is 64 random bits.
fn new_run() -> String {
    let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
    format!("{:016x}", high ^ low)
}

/// Queues `m` for its instance. A message for an instance that no longer exists (a result for a
/// purged parent), or for an incarnation that no longer holds the id (a result for a parent whose id
/// was started again), is dropped, since nothing could ever consume it; the drop is logged at debug
/// level.
pub(super) fn insert_message(conn: &Connection, m: &OutMessage) -> Result<()> {
    let (any, run) = match &m.incarnation {
        Incarnation::Any => (true, None),
        Incarnation::Run(run) => (false, run.as_deref()),
    };
    let queued = execute(
        conn,
        "INSERT INTO inbox (instance, execution, kind, message, visible_at)
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM instances WHERE id = ?1
                                                 AND (?6 OR run IS ?7))",
        params![
            m.instance,
            m.execution.map(i64::from),
            m.message.kind(),
            json_text(&m.message),
            to_i64(m.visible_at),
            any,
            run,
        ],
    )?;
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

/// Deletes an instance with its history, inbox and work items. False if it did not exist.
pub(super) fn purge(conn: &Connection, id: &str) -> Result<bool> {
    for table in ["history", "inbox", "work_items", "logs", "updates"] {
        execute(
            conn,
            &format!("DELETE FROM {table} WHERE instance = ?"),
            [id],
        )?;
    }
    let gone = execute(conn, "DELETE FROM instances WHERE id = ?", [id])?;
    Ok(gone == 1)
}
