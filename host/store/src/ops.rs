//! The write operations the group-commit writer executes, each as the SQL of one savepoint.
//!
//! Every decision (what to schedule, which status follows) was made by the caller; these functions
//! only check the preconditions that make a write safe (lease owner, expected history length).

use std::sync::LazyLock;

use rusqlite::{Connection, params};
use serde_json::Value;
use tokio::sync::oneshot;

use super::logs::LogLine;
use super::maintenance::{
    MoveInstance, MoveRefused, Rewound, delete_modules, move_instance, purge_ended, rewind,
};
use super::rows::{
    Incarnation, NewInstance, OutMessage, StartPolicy, Started, create_instance, insert_message,
    purge, start_instance,
};
use super::work_items::{FinishWorkItem, Finished};
use super::writer::{Applied, Operation, execute, respond};

use super::{Error, Message, Result, Status, WorkItem, json_text, to_i64};
use keel_core::history::{ActivityOptions, Failure, HistoryEvent};

/// An activity call to run.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWorkItem {
    /// Task id of the call.
    pub task_id: u32,
    /// Activity name.
    pub name: String,
    /// Input.
    pub input: Value,
    /// Options.
    pub options: ActivityOptions,
    /// The attempt it starts at: 1, or the next attempt of a local activity whose retry continues
    /// as an ordinary call.
    pub attempt: u32,
    /// When it may run; `None` at once. A work item due later is not leased with the turn.
    pub not_before: Option<u64>,
}

impl NewWorkItem {
    /// Whether the turn that writes it may lease it to its own worker at `now`.
    pub fn due(&self, now: u64) -> bool {
        self.not_before.is_none_or(|at| at <= now)
    }
}

/// Everything one orchestration turn changes, committed atomically.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnCommit {
    /// The instance.
    pub instance: String,
    /// Its execution.
    pub execution: u32,
    /// The incarnation the turn ran on (the instance's run token); the commit fails if the id now
    /// belongs to another.
    pub run: Option<String>,
    /// The worker holding the instance's lease.
    pub owner: String,
    /// History length the turn started from; the commit fails if it changed.
    pub expected_len: u32,
    /// Events to append.
    pub events: Vec<HistoryEvent>,
    /// Inbox messages the turn consumed.
    pub consumed: Vec<i64>,
    /// Status after the turn.
    pub status: Status,
    /// Output, when completed.
    pub output: Option<Value>,
    /// Failure, when failed.
    pub failure: Option<Failure>,
    /// New custom status, when set.
    pub custom_status: Option<Value>,
    /// Activities scheduled.
    pub work_items: Vec<NewWorkItem>,
    /// Messages sent (timers to itself, results to a parent).
    pub messages: Vec<OutMessage>,
    /// Sub-orchestrations started.
    pub children: Vec<NewInstance>,
    /// Input of the next execution, for continue-as-new.
    pub next_execution: Option<Value>,
    /// With `next_execution`: the histories of the executions before this one are deleted, so that
    /// an eternal orchestration keeps a bounded number of them.
    pub prune_history_before: Option<u32>,
    /// Commit time.
    pub now: u64,
    /// Lease the first `n` new work items to the committing worker until the given time, so that it
    /// can run them without a separate claim.
    pub claim_work: Option<(u64, usize)>,
    /// For a turn run on an activity's result in the worker that produced it, the result's work
    /// item: the commit removes it (it must still be leased to `owner`) and, instead of `owner`'s
    /// lease on the instance, requires the instance to be running and leased to nobody. The result
    /// is then recorded only in the history, with the turn that acted on it.
    pub finishes: Option<i64>,
    /// Lines the guests wrote: the orchestrator in this turn, and the activity whose result it
    /// acts on ([`TurnCommit::finishes`]).
    pub logs: Vec<LogLine>,
    /// The outcomes of the clients' updates the turn served.
    pub updates: Vec<super::UpdateDone>,
    /// Activities the orchestrator canceled: their work items are deleted, leased or not (a worker
    /// running an attempt finds its lease gone at its next renewal and stops it).
    pub canceled_tasks: Vec<u32>,
}

impl TurnCommit {
    /// A turn of `instance` by `owner` at `now` that changes nothing yet: the caller adds what the
    /// turn consumed, recorded and derived.
    pub fn of(instance: &super::Instance, owner: &str, now: u64) -> Self {
        Self {
            instance: instance.id.clone(),
            execution: instance.execution,
            run: instance.run.clone(),
            owner: owner.to_owned(),
            expected_len: instance.history_len,
            events: Vec::new(),
            consumed: Vec::new(),
            status: instance.status,
            output: None,
            failure: None,
            custom_status: None,
            work_items: Vec::new(),
            messages: Vec::new(),
            children: Vec::new(),
            next_execution: None,
            prune_history_before: None,
            now,
            claim_work: None,
            finishes: None,
            logs: Vec::new(),
            updates: Vec::new(),
            canceled_tasks: Vec::new(),
        }
    }

    /// Whether committing this turn can give a worker's poll something to do: a turn that held the
    /// instance's lease may leave messages that arrived meanwhile, and messages, children, a next
    /// execution or work items not leased to the committer are new work. A turn on an activity's
    /// result whose new work items all go to the committing worker leaves nothing to poll for.
    pub(crate) fn wakes_workers(&self) -> bool {
        let leased = self.claim_work.map_or(0, |(_, count)| count);
        self.finishes.is_none()
            || !self.messages.is_empty()
            || !self.children.is_empty()
            || self.next_execution.is_some()
            || self.work_items.len() > leased
    }
}

type Reply<T> = oneshot::Sender<Result<T>>;

/// One queued write.
pub(crate) enum Op {
    Deploy {
        digest: String,
        bytes: Vec<u8>,
        version: String,
        functions: Vec<(String, String)>,
        activate: bool,
        now: u64,
        reply: Reply<()>,
    },
    Activate {
        name: String,
        kind: String,
        digest: String,
        reply: Reply<bool>,
    },
    CreateInstance {
        instance: NewInstance,
        now: u64,
        reply: Reply<()>,
    },
    StartInstance {
        instance: NewInstance,
        now: u64,
        policy: StartPolicy,
        reply: Reply<Started>,
    },
    Send {
        messages: Vec<OutMessage>,
        reply: Reply<()>,
    },
    RequestUpdate {
        update: Box<super::NewUpdate>,
        reply: Reply<super::UpdateRow>,
    },
    ClaimInstances {
        owner: String,
        now: u64,
        until: u64,
        limit: u32,
        reply: Reply<Vec<String>>,
    },
    ReleaseInstance {
        id: String,
        owner: String,
        reply: Reply<()>,
    },
    CommitTurn {
        commit: Box<TurnCommit>,
        reply: Reply<Vec<WorkItem>>,
    },
    ClaimWorkItems {
        owner: String,
        now: u64,
        until: u64,
        limit: u32,
        reply: Reply<Vec<WorkItem>>,
    },
    FinishWorkItem {
        finish: FinishWorkItem,
        logs: Vec<LogLine>,
        claim_until: Option<u64>,
        now: u64,
        reply: Reply<Finished>,
    },
    Heartbeat {
        id: i64,
        owner: String,
        details: serde_json::Value,
        now: u64,
        reply: Reply<bool>,
    },
    RenewLeases {
        owner: String,
        until: u64,
        instances: Vec<String>,
        work_items: Vec<i64>,
        reply: Reply<Vec<i64>>,
    },
    Purge {
        id: String,
        reply: Reply<bool>,
    },
    PurgeEnded {
        ids: Vec<String>,
        reply: Reply<u64>,
    },
    MoveInstance {
        change: MoveInstance,
        reply: Reply<std::result::Result<(), MoveRefused>>,
    },
    Rewind {
        id: String,
        reason: String,
        now: u64,
        reply: Reply<Option<Rewound>>,
    },
    DeleteModules {
        digests: Vec<String>,
        reply: Reply<Vec<String>>,
    },
    Capability {
        change: super::capabilities::CapabilityChange,
        now: u64,
        reply: Reply<bool>,
    },
    TurnFailed {
        failed: super::parking::TurnFailed,
        reply: Reply<super::parking::AfterFailure>,
    },
    Unpark {
        id: String,
        now: u64,
        reply: Reply<bool>,
    },
    WorkerReport {
        worker: super::workers::WorkerRow,
        reply: Reply<()>,
    },
    WorkerStopped {
        owner: String,
        reply: Reply<()>,
    },
    PruneLogs {
        before_ms: u64,
        reply: Reply<u64>,
    },
    Schedule {
        change: super::schedules::ScheduleChange,
        reply: Reply<bool>,
    },
}

impl Operation for Op {
    fn wakes_workers(&self) -> bool {
        if let Op::CommitTurn { commit, .. } = self {
            return commit.wakes_workers();
        }
        if let Op::Schedule { change, .. } = self {
            return matches!(
                change,
                super::schedules::ScheduleChange::Fired { start: Some(_), .. }
            );
        }
        !matches!(
            self,
            Op::ClaimInstances { .. }
                | Op::ClaimWorkItems { .. }
                | Op::RenewLeases { .. }
                | Op::Heartbeat { .. }
                | Op::Purge { .. }
                | Op::PurgeEnded { .. }
                | Op::DeleteModules { .. }
                | Op::Activate { .. }
                | Op::Capability { .. }
                | Op::TurnFailed { .. }
                | Op::WorkerReport { .. }
                | Op::WorkerStopped { .. }
                | Op::PruneLogs { .. }
        )
    }

    fn fail(self, e: Error) {
        match self {
            Op::Deploy { reply, .. } => drop(reply.send(Err(e))),
            Op::Activate { reply, .. } => drop(reply.send(Err(e))),
            Op::CreateInstance { reply, .. } => drop(reply.send(Err(e))),
            Op::StartInstance { reply, .. } => drop(reply.send(Err(e))),
            Op::Send { reply, .. } => drop(reply.send(Err(e))),
            Op::RequestUpdate { reply, .. } => drop(reply.send(Err(e))),
            Op::ClaimInstances { reply, .. } => drop(reply.send(Err(e))),
            Op::ReleaseInstance { reply, .. } => drop(reply.send(Err(e))),
            Op::CommitTurn { reply, .. } => drop(reply.send(Err(e))),
            Op::ClaimWorkItems { reply, .. } => drop(reply.send(Err(e))),
            Op::FinishWorkItem { reply, .. } => drop(reply.send(Err(e))),
            Op::RenewLeases { reply, .. } => drop(reply.send(Err(e))),
            Op::Heartbeat { reply, .. } => drop(reply.send(Err(e))),
            Op::Purge { reply, .. } => drop(reply.send(Err(e))),
            Op::PurgeEnded { reply, .. } => drop(reply.send(Err(e))),
            Op::MoveInstance { reply, .. } => drop(reply.send(Err(e))),
            Op::Rewind { reply, .. } => drop(reply.send(Err(e))),
            Op::DeleteModules { reply, .. } => drop(reply.send(Err(e))),
            Op::Capability { reply, .. } => drop(reply.send(Err(e))),
            Op::TurnFailed { reply, .. } => drop(reply.send(Err(e))),
            Op::Unpark { reply, .. } => drop(reply.send(Err(e))),
            Op::WorkerReport { reply, .. } => drop(reply.send(Err(e))),
            Op::WorkerStopped { reply, .. } => drop(reply.send(Err(e))),
            Op::PruneLogs { reply, .. } => drop(reply.send(Err(e))),
            Op::Schedule { reply, .. } => drop(reply.send(Err(e))),
        }
    }

    fn apply(self, conn: &Connection) -> Applied {
        match self {
            Op::Deploy {
                digest,
                bytes,
                version,
                functions,
                activate,
                now,
                reply,
            } => respond(
                deploy(conn, &digest, &bytes, &version, &functions, activate, now),
                reply,
            ),
            Op::Activate {
                name,
                kind,
                digest,
                reply,
            } => respond(activate_function(conn, &name, &kind, &digest), reply),
            Op::CreateInstance {
                instance,
                now,
                reply,
            } => respond(create_instance(conn, &instance, now), reply),
            Op::StartInstance {
                instance,
                now,
                policy,
                reply,
            } => respond(start_instance(conn, &instance, now, &policy), reply),
            Op::Send { messages, reply } => respond(send(conn, &messages), reply),
            Op::RequestUpdate { update, reply } => {
                respond(super::updates::request(conn, &update), reply)
            }
            Op::ClaimInstances {
                owner,
                now,
                until,
                limit,
                reply,
            } => respond(claim_instances(conn, &owner, now, until, limit), reply),
            Op::ReleaseInstance { id, owner, reply } => respond(
                execute(
                    conn,
                    "UPDATE instances SET locked_by = NULL, locked_until = NULL
                     WHERE id = ? AND locked_by = ?",
                    params![id, owner],
                )
                .map(drop),
                reply,
            ),
            Op::CommitTurn { commit, reply } => respond(commit_turn(conn, &commit), reply),
            Op::ClaimWorkItems {
                owner,
                now,
                until,
                limit,
                reply,
            } => respond(
                super::work_items::claim_work_items(conn, &owner, now, until, limit),
                reply,
            ),
            Op::FinishWorkItem {
                finish,
                logs,
                claim_until,
                now,
                reply,
            } => respond(
                super::work_items::finish_work_item(conn, &finish, claim_until, now).and_then(
                    |finished| {
                        if finished != Finished::LeaseLost {
                            super::logs::insert(conn, &logs)?;
                        }
                        Ok(finished)
                    },
                ),
                reply,
            ),
            Op::RenewLeases {
                owner,
                until,
                instances,
                work_items,
                reply,
            } => respond(
                renew_leases(conn, &owner, until, &instances, &work_items),
                reply,
            ),
            Op::Heartbeat {
                id,
                owner,
                details,
                now,
                reply,
            } => respond(
                super::heartbeats::record(conn, id, &owner, &details, now),
                reply,
            ),
            Op::Purge { id, reply } => respond(purge(conn, &id), reply),
            Op::PurgeEnded { ids, reply } => respond(purge_ended(conn, &ids), reply),
            Op::MoveInstance { change, reply } => respond(move_instance(conn, &change), reply),
            Op::Rewind {
                id,
                reason,
                now,
                reply,
            } => respond(rewind(conn, &id, &reason, now), reply),
            Op::DeleteModules { digests, reply } => respond(delete_modules(conn, &digests), reply),
            Op::Capability { change, now, reply } => {
                respond(super::capabilities::apply(conn, &change, now), reply)
            }
            Op::TurnFailed { failed, reply } => {
                respond(super::parking::turn_failed(conn, &failed), reply)
            }
            Op::Unpark { id, now, reply } => respond(super::parking::unpark(conn, &id, now), reply),
            Op::WorkerReport { worker, reply } => {
                respond(super::workers::report(conn, &worker), reply)
            }
            Op::WorkerStopped { owner, reply } => {
                respond(super::workers::stopped(conn, &owner), reply)
            }
            Op::PruneLogs { before_ms, reply } => {
                respond(super::logs::prune(conn, before_ms), reply)
            }
            Op::Schedule { change, reply } => {
                respond(super::schedules::apply(conn, &change), reply)
            }
        }
    }
}

fn deploy(
    conn: &Connection,
    digest: &str,
    bytes: &[u8],
    version: &str,
    functions: &[(String, String)],
    activate: bool,
    now: u64,
) -> Result<()> {
    let listed: Vec<_> = functions
        .iter()
        .map(|(name, kind)| serde_json::json!({"name": name, "kind": kind}))
        .collect();
    execute(
        conn,
        "INSERT INTO modules (digest, bytes, version, deployed_at, functions) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(digest) DO NOTHING",
        params![digest, bytes, version, to_i64(now), json_text(&listed)],
    )?;
    execute(
        conn,
        "INSERT INTO labels (digest, label, added_at) VALUES (?, ?, ?)
         ON CONFLICT(digest, label) DO NOTHING",
        params![digest, version, to_i64(now)],
    )?;
    for (name, kind) in functions {
        execute(
            conn,
            "INSERT INTO functions (name, kind, digest, version, deployed_at, active)
             VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT(name, kind, digest) DO NOTHING",
            params![name, kind, digest, version, to_i64(now)],
        )?;
        if activate {
            activate_function(conn, name, kind, digest)?;
        }
    }
    Ok(())
}

fn activate_function(conn: &Connection, name: &str, kind: &str, digest: &str) -> Result<bool> {
    let found = conn
        .prepare_cached("SELECT 1 FROM functions WHERE name = ? AND kind = ? AND digest = ?")?
        .exists(params![name, kind, digest])?;
    if !found {
        return Ok(false);
    }
    execute(
        conn,
        "UPDATE functions SET active = (digest = ?) WHERE name = ? AND kind = ?",
        params![digest, name, kind],
    )?;
    Ok(true)
}

fn send(conn: &Connection, messages: &[OutMessage]) -> Result<()> {
    for m in messages {
        insert_message(conn, m)?;
    }
    Ok(())
}

/// The ids of the instances a claim at time `now` (an SQL parameter) may lease: a message is visible
/// and nothing holds a lease; what a parked, failed or suspended instance accepts. Counted by
/// [`Store::due_work`](super::Store::due_work) with the same text.
pub(super) fn claimable_instances(now: &str) -> String {
    format!(
        "SELECT DISTINCT m.instance FROM inbox m JOIN instances i ON i.id = m.instance
         WHERE m.visible_at <= {now}
           AND (i.locked_until IS NULL OR i.locked_until < {now})
           AND (i.not_before IS NULL OR i.not_before <= {now})
           AND (i.status != 'Parked' OR m.kind = 'Terminate')
           AND i.status != 'Failed'
           AND (i.status != 'Suspended' OR m.kind IN ('Resume', 'Terminate'))"
    )
}

fn claim_instances(
    conn: &Connection,
    owner: &str,
    now: u64,
    until: u64,
    limit: u32,
) -> Result<Vec<String>> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "UPDATE instances SET locked_by = ?1, locked_until = ?2
             WHERE id IN ({} LIMIT ?4)
             RETURNING id",
            claimable_instances("?3")
        )
    });
    let mut stmt = conn.prepare_cached(&SQL)?;
    let ids = stmt
        .query_map(
            params![owner, to_i64(until), to_i64(now), i64::from(limit)],
            |r| r.get(0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(ids)
}

fn commit_turn(conn: &Connection, c: &TurnCommit) -> Result<Vec<WorkItem>> {
    let new_len = c.expected_len as usize + c.events.len();
    let update = if c.finishes.is_some() {
        // Not leased by anyone: a turn that claimed it (for another message) has the guest's state
        // from the store and runs on its own; this one then fails and the result goes to the inbox.
        "UPDATE instances SET history_len = ?1, status = ?2, output = COALESCE(?3, output),
             failure = COALESCE(?4, failure), custom_status = COALESCE(?5, custom_status),
             updated_at = ?6, locked_by = NULL, locked_until = NULL, turn_failures = 0,
             not_before = NULL
         WHERE id = ?7 AND execution = ?8 AND history_len = ?9 AND run IS ?11
           AND (locked_by IS NULL OR locked_until < ?6) AND status = 'Running'
           AND (not_before IS NULL OR not_before <= ?6) AND ?10 IS NOT NULL"
    } else {
        "UPDATE instances SET history_len = ?1, status = ?2, output = COALESCE(?3, output),
             failure = COALESCE(?4, failure), custom_status = COALESCE(?5, custom_status),
             updated_at = ?6, locked_by = NULL, locked_until = NULL, turn_failures = 0,
             not_before = NULL
         WHERE id = ?7 AND execution = ?8 AND history_len = ?9 AND locked_by = ?10 AND run IS ?11"
    };
    let updated = execute(
        conn,
        update,
        params![
            i64::try_from(new_len).unwrap_or(i64::MAX),
            c.status.as_str(),
            c.output.as_ref().map(json_text),
            c.failure.as_ref().map(json_text),
            c.custom_status.as_ref().map(json_text),
            to_i64(c.now),
            c.instance,
            i64::from(c.execution),
            i64::from(c.expected_len),
            c.owner,
            c.run.as_deref(),
        ],
    )?;
    if updated != 1 {
        return Err(Error::Conflict(format!(
            "instance {} changed while its turn ran (lease lost, history moved on, or id started again)",
            c.instance
        )));
    }
    if let Some(work_item) = c.finishes {
        let done = execute(
            conn,
            "DELETE FROM work_items WHERE id = ? AND locked_by = ?",
            params![work_item, c.owner],
        )?;
        if done != 1 {
            return Err(Error::Conflict(format!(
                "the work item of the result for instance {} is no longer leased to this worker",
                c.instance
            )));
        }
    }
    insert_history(conn, c)?;
    for id in &c.consumed {
        execute(conn, "DELETE FROM inbox WHERE id = ?", [id])?;
    }
    let (lease_until, lease_count) = c.claim_work.unwrap_or((0, 0));
    let mut claimed = Vec::new();
    for w in &c.work_items {
        let lease = claimed.len() < lease_count && w.due(c.now);
        // A plain insert and the connection's last row id: cheaper than `RETURNING`, whose rows
        // SQLite gathers into a result of its own.
        execute(
            conn,
            "INSERT INTO work_items (instance, execution, task_id, name, input, options, attempt,
                                     first_at, visible_at, locked_by, locked_until, deliveries)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params![
                c.instance,
                i64::from(c.execution),
                i64::from(w.task_id),
                w.name,
                json_text(&w.input),
                json_text(&w.options),
                i64::from(w.attempt),
                to_i64(c.now),
                to_i64(w.not_before.unwrap_or(c.now)),
                lease.then_some(c.owner.as_str()),
                lease.then_some(to_i64(lease_until)),
                i64::from(lease),
            ],
        )?;
        let id = conn.last_insert_rowid();
        if lease {
            claimed.push(WorkItem {
                id,
                instance: c.instance.clone(),
                execution: c.execution,
                task_id: w.task_id,
                name: w.name.clone(),
                input: w.input.clone(),
                options: w.options.clone(),
                attempt: w.attempt,
                first_at: c.now,
                deliveries: 1,
                run: c.run.clone(),
                heartbeat: None,
                abandoned_at: None,
            });
        }
    }
    super::logs::insert(conn, &c.logs)?;
    super::updates::finish(conn, &c.instance, &c.updates, c.now)?;
    for task in &c.canceled_tasks {
        execute(
            conn,
            "DELETE FROM work_items WHERE instance = ? AND execution = ? AND task_id = ?",
            params![c.instance, i64::from(c.execution), i64::from(*task)],
        )?;
    }
    send(conn, &c.messages)?;
    for child in &c.children {
        start_child(conn, c, child)?;
    }
    if c.status.is_terminal() && c.status != Status::Failed {
        // Nothing can consume these any more. A failed instance keeps them: a rewind brings it back
        // to the timers, results and activities it was waiting for (none of them runs meanwhile).
        // A terminated instance's running attempts go too: their workers find their rows gone at
        // the next lease renewal and stop them.
        execute(conn, "DELETE FROM inbox WHERE instance = ?", [&c.instance])?;
        execute(
            conn,
            "DELETE FROM work_items WHERE instance = ?1 AND (locked_by IS NULL OR ?2)",
            params![c.instance, c.status == Status::Terminated],
        )?;
    }
    if let Some(input) = &c.next_execution {
        let next = c.execution + 1;
        if let Some(before) = c.prune_history_before {
            execute(
                conn,
                "DELETE FROM history WHERE instance = ? AND execution < ?",
                params![c.instance, i64::from(before)],
            )?;
        }
        execute(
            conn,
            "UPDATE instances SET execution = ?, history_len = 0, input = ?, output = NULL,
                 failure = NULL
             WHERE id = ?",
            params![i64::from(next), json_text(input), c.instance],
        )?;
        insert_message(
            conn,
            &OutMessage {
                instance: c.instance.clone(),
                execution: Some(next),
                incarnation: Incarnation::Any,
                message: Message::Start,
                visible_at: c.now,
            },
        )?;
    }
    Ok(claimed)
}

/// Rows one statement of [`insert_history`] inserts at most.
const HISTORY_ROWS_PER_INSERT: usize = 8;

/// Appends a turn's events to the history, up to [`HISTORY_ROWS_PER_INSERT`] rows per statement: a
/// statement's fixed cost in SQLite is most of the cost of inserting one small row.
fn insert_history(conn: &Connection, c: &TurnCommit) -> Result<()> {
    let execution = i64::from(c.execution);
    let at = to_i64(c.now);
    let mut seq = i64::from(c.expected_len);
    for chunk in c.events.chunks(HISTORY_ROWS_PER_INSERT) {
        let mut stmt = conn.prepare_cached(&HISTORY_INSERTS[chunk.len() - 1])?;
        let mut index = 1;
        for event in chunk {
            stmt.raw_bind_parameter(index, &c.instance)?;
            stmt.raw_bind_parameter(index + 1, execution)?;
            stmt.raw_bind_parameter(index + 2, seq)?;
            stmt.raw_bind_parameter(index + 3, json_text(event))?;
            stmt.raw_bind_parameter(index + 4, at)?;
            index += 5;
            seq += 1;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

/// `INSERT INTO history ... VALUES` with 1 to [`HISTORY_ROWS_PER_INSERT`] rows, by row count - 1.
static HISTORY_INSERTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    (1..=HISTORY_ROWS_PER_INSERT)
        .map(|rows| {
            let values = vec!["(?, ?, ?, ?, ?)"; rows].join(", ");
            format!(
                "INSERT INTO history (instance, execution, seq, event, recorded_at) VALUES {values}"
            )
        })
        .collect()
});

/// Starts a sub-orchestration, or tells the parent at once why it could not be started.
fn start_child(conn: &Connection, parent: &TurnCommit, child: &NewInstance) -> Result<()> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM instances WHERE id = ?")?
        .exists([&child.id])?;
    if !exists {
        return create_instance(conn, child, parent.now);
    }
    let task_id = child.parent.as_ref().map(|p| p.task_id).unwrap_or_default();
    insert_message(
        conn,
        &OutMessage {
            instance: parent.instance.clone(),
            execution: Some(parent.execution),
            // In the parent's own commit, which is conditional on its incarnation.
            incarnation: Incarnation::Any,
            message: Message::Deliver {
                event: HistoryEvent::SubOrchestrationFailed {
                    id: task_id,
                    failure: Failure::new(
                        "InstanceExists",
                        format!(
                            "cannot start sub-orchestration: instance {} already exists",
                            child.id
                        ),
                    ),
                },
            },
            visible_at: parent.now,
        },
    )
}

/// Extends `owner`'s leases on the listed rows only (passed as JSON arrays): a row it still holds
/// but no live task works on is left to expire.
/// Returns the work items of `work_items` that are no longer leased to `owner` (deleted with a
/// terminated instance, or leased to another worker).
fn renew_leases(
    conn: &Connection,
    owner: &str,
    until: u64,
    instances: &[String],
    work_items: &[i64],
) -> Result<Vec<i64>> {
    let lists = [
        ("work_items", json_text(&work_items)),
        ("instances", json_text(&instances)),
    ];
    for (table, ids) in &lists {
        execute(
            conn,
            &format!(
                "UPDATE {table} SET locked_until = ?1
                 WHERE locked_by = ?2 AND id IN (SELECT value FROM json_each(?3))"
            ),
            params![to_i64(until), owner, ids],
        )?;
    }
    let mut lost = conn.prepare_cached(
        "SELECT j.value FROM json_each(?1) AS j
         WHERE NOT EXISTS (SELECT 1 FROM work_items w WHERE w.id = j.value AND w.locked_by = ?2)",
    )?;
    let lost = lost
        .query_map(params![lists[0].1, owner], |r| r.get::<_, i64>(0))?
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(lost)
}
