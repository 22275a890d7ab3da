//! Operator writes: moving an instance to another module, rewinding a failed instance, purging many
//! ended instances, and removing modules nothing uses. Like the turn writes, each runs as one
//! savepoint of the group-commit writer and checks its own preconditions.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use super::rows::{Incarnation, NewInstance, OutMessage, create_instance, insert_message, purge};
use super::writer::execute;
use super::{Error, Message, Result, Status, json_text, parse_json, to_i64};
use keel_core::history::{Failure, HistoryEvent, ParentRef};

/// Moving one instance's current execution to another module.
#[derive(Debug, Clone, PartialEq)]
pub struct MoveInstance {
    /// The instance.
    pub id: String,
    /// Its execution when it was checked.
    pub execution: u32,
    /// Its history length when it was checked; the move fails if the history moved on.
    pub expected_len: u32,
    /// The module it runs on now.
    pub from: String,
    /// The module it moves to.
    pub to: String,
    /// The version label of `to`.
    pub version: String,
    /// Now.
    pub now: u64,
}

/// Why a move was not made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveRefused {
    /// A worker is running a turn of the instance.
    Busy,
    /// The instance ended, moved on or changed module since it was checked.
    Changed,
}

pub(super) fn move_instance(
    conn: &Connection,
    m: &MoveInstance,
) -> Result<Result<(), MoveRefused>> {
    let row = conn
        .prepare_cached(
            "SELECT execution, history_len, module, status, locked_until FROM instances WHERE id = ?",
        )?
        .query_row([&m.id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })
        .optional()?;
    let Some((execution, len, module, status, locked_until)) = row else {
        return Ok(Err(MoveRefused::Changed));
    };
    let ended = status.parse::<Status>().map(Status::is_terminal);
    if execution != i64::from(m.execution)
        || len != i64::from(m.expected_len)
        || module != m.from
        || ended != Ok(false)
    {
        return Ok(Err(MoveRefused::Changed));
    }
    if locked_until.is_some_and(|until| until > to_i64(m.now)) {
        return Ok(Err(MoveRefused::Busy));
    }
    let event = HistoryEvent::ExecutionUpgraded {
        from: m.from.clone(),
        to: m.to.clone(),
        version: m.version.clone(),
    };
    append(conn, &m.id, m.execution, m.expected_len, &event, m.now)?;
    execute(
        conn,
        "UPDATE instances SET module = ?, history_len = history_len + 1, updated_at = ?
         WHERE id = ?",
        params![m.to, to_i64(m.now), m.id],
    )?;
    Ok(Ok(()))
}

/// What a rewind did.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rewound {
    /// Instances rewound: the one asked for, then failed sub-orchestrations it waited for.
    pub instances: Vec<String>,
    /// Activity calls scheduled again, as `instance/task`.
    pub tasks: Vec<String>,
}

/// Rewinds failed instance `id`: the failures recorded after its last call (failed activities, failed
/// sub-orchestrations, the failure of the execution itself) are voided by an `ExecutionRewound`
/// event, those activities are scheduled again from their first attempt, failed sub-orchestrations
/// are rewound in turn, and the instance runs again from its last good point.
///
/// A sub-orchestration is rewound only if its id still holds the incarnation this task started
/// ([`started_by`]). If the id is free (the child was purged), the child is started again as the
/// task's first start did; if another instance holds it, that instance is left alone and the task
/// fails again with `InstanceExists`, as a first start under a taken id does. Either way the parent
/// gets a result: it never waits for one that cannot come.
pub(super) fn rewind(
    conn: &Connection,
    id: &str,
    reason: &str,
    now: u64,
) -> Result<Option<Rewound>> {
    let mut done = Rewound::default();
    let mut pending = vec![id.to_owned()];
    while let Some(instance) = pending.pop() {
        let top = instance == id;
        let row = conn
            .prepare_cached(
                "SELECT status, execution, history_len, run FROM instances WHERE id = ?",
            )?
            .query_row([&instance], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .optional()?;
        let Some((status, execution, len, run)) = row else {
            if top {
                return Ok(None);
            }
            continue;
        };
        if status != Status::Failed.as_str() {
            if top {
                return Err(Error::Conflict(format!(
                    "instance {instance} is {status}; only a failed instance can be rewound"
                )));
            }
            continue;
        }
        let mut stmt = conn.prepare_cached(
            "SELECT seq, event FROM history WHERE instance = ? AND execution = ? ORDER BY seq",
        )?;
        let mut rows = stmt.query(params![instance, execution])?;
        let mut events = Vec::new();
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let event: HistoryEvent = parse_json("history event", &r.get::<_, String>(1)?)?;
            events.push((u32::try_from(seq).unwrap_or(u32::MAX), event));
        }
        drop(rows);
        drop(stmt);
        let plan = plan_rewind(&events);
        let execution = u32::try_from(execution).unwrap_or(u32::MAX);
        for (task, name, input, options) in &plan.tasks {
            execute(
                conn,
                "INSERT INTO work_items (instance, execution, task_id, name, input, options, attempt,
                                         first_at, visible_at)
                 VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
                params![
                    instance,
                    i64::from(execution),
                    i64::from(*task),
                    name,
                    input,
                    options,
                    to_i64(now),
                    to_i64(now),
                ],
            )?;
            done.tasks.push(format!("{instance}/{task}"));
        }
        let event = HistoryEvent::ExecutionRewound {
            reason: reason.to_owned(),
            voided: plan.voided,
        };
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        append(conn, &instance, execution, len, &event, now)?;
        execute(
            conn,
            "UPDATE instances SET status = 'Running', failure = NULL, output = NULL,
                 history_len = history_len + 1, updated_at = ?, locked_by = NULL, locked_until = NULL
             WHERE id = ?",
            params![to_i64(now), instance],
        )?;
        for child in &plan.children {
            let parent = ParentRef {
                instance: instance.clone(),
                execution,
                task_id: child.task,
                run: run.clone(),
            };
            if retry_child(conn, child, parent, now)? {
                pending.push(child.instance.clone());
            }
        }
        if plan.tasks.is_empty() && plan.children.is_empty() {
            // Nothing to wait for: the orchestrator itself failed, so give it a turn to go on.
            insert_message(
                conn,
                &OutMessage {
                    instance: instance.clone(),
                    execution: Some(execution),
                    // In the same transaction as the rewind of this very row.
                    incarnation: Incarnation::Any,
                    message: Message::Wake,
                    visible_at: now,
                },
            )?;
        }
        done.instances.push(instance);
    }
    Ok(Some(done))
}

/// What rewinding one execution voids and runs again.
#[derive(Debug, Default)]
pub(crate) struct RewindPlan {
    /// Events the rewind voids.
    pub(crate) voided: Vec<u32>,
    /// `(task, name, input JSON, options JSON)` of activities to schedule again.
    pub(crate) tasks: Vec<(u32, String, String, String)>,
    /// Failed sub-orchestrations to run again.
    pub(crate) children: Vec<FailedChild>,
}

/// A sub-orchestration whose failure a rewind voids, as its parent's history started it.
#[derive(Debug, PartialEq)]
pub(crate) struct FailedChild {
    /// The parent's task waiting for it.
    pub(crate) task: u32,
    /// Its instance id.
    pub(crate) instance: String,
    /// Its orchestrator.
    pub(crate) name: String,
    /// Its input.
    pub(crate) input: Value,
    /// The failure the parent got from it, which the rewind voids.
    pub(crate) failure: Failure,
}

/// Whether a child row whose stored parent is `stored` is the incarnation that `parent`'s task
/// started. The runs must be equal, NULL only to NULL, which is the rule a child's result is
/// delivered by (`run IS ?`): a row from before run tokens existed names a parent that has none
/// either, and is then told apart by the parent's id, execution and task alone.
pub(crate) fn started_by(stored: Option<&ParentRef>, parent: &ParentRef) -> bool {
    stored == Some(parent)
}

/// Gets the failed sub-orchestration `child` of `parent` (whose failure was just voided) going again,
/// and returns whether it is to be rewound: it is, if its row is the incarnation this task started
/// and it failed. Its id free (it was purged), it is started again as the task's first start did; its
/// id held by another instance (ended, and its id started again), that instance is not touched and
/// the task fails again with `InstanceExists`, as a first start under a taken id does.
fn retry_child(
    conn: &Connection,
    child: &FailedChild,
    parent: ParentRef,
    now: u64,
) -> Result<bool> {
    let row = conn
        .prepare_cached("SELECT status, parent FROM instances WHERE id = ?")?
        .query_row([&child.instance], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
        })
        .optional()?;
    let failure = match row {
        Some((status, stored)) => {
            let stored: Option<ParentRef> = stored
                .map(|p| parse_json("parent reference", &p))
                .transpose()?;
            if started_by(stored.as_ref(), &parent) {
                if status == Status::Terminated.as_str() {
                    // A terminated child is not rewound, and it has already reported: the parent
                    // gets the same failure again rather than waiting for a report that never comes.
                    child.failure.clone()
                } else {
                    // A child of this task that has not failed (rewound on its own since) reports
                    // to the parent when it ends, as it always did.
                    return Ok(status == Status::Failed.as_str());
                }
            } else {
                Failure::new(
                    "InstanceExists",
                    format!(
                        "cannot start sub-orchestration again: instance {} already exists and is \
                         not the one this task started",
                        child.instance
                    ),
                )
            }
        }
        None => {
            let module: Option<String> = conn
                .prepare_cached(
                    "SELECT digest FROM functions WHERE name = ? AND kind = 'orchestrator' AND active = 1",
                )?
                .query_row([&child.name], |r| r.get(0))
                .optional()?;
            match module {
                Some(module) => {
                    let start = NewInstance {
                        id: child.instance.clone(),
                        name: child.name.clone(),
                        module,
                        input: child.input.clone(),
                        parent: Some(parent),
                    };
                    create_instance(conn, &start, now)?;
                    return Ok(false);
                }
                None => Failure::new(
                    "OrchestratorNotFound",
                    format!("no orchestrator named {} is deployed", child.name),
                ),
            }
        }
    };
    insert_message(
        conn,
        &OutMessage {
            instance: parent.instance,
            execution: Some(parent.execution),
            // In the same transaction as the parent's rewind.
            incarnation: Incarnation::Any,
            message: Message::Deliver {
                event: HistoryEvent::SubOrchestrationFailed {
                    id: parent.task_id,
                    failure,
                },
            },
            visible_at: now,
        },
    )?;
    Ok(false)
}

pub(crate) fn plan_rewind(events: &[(u32, HistoryEvent)]) -> RewindPlan {
    // Events an earlier rewind voided no longer count.
    let voided: std::collections::HashSet<u32> = events
        .iter()
        .filter_map(|(_, e)| match e {
            HistoryEvent::ExecutionRewound { voided, .. } => Some(voided.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    let live = |seq: u32| !voided.contains(&seq);
    let last_command = events
        .iter()
        .filter(|(seq, e)| e.is_command() && live(*seq))
        .map(|(seq, _)| *seq)
        .max();
    let mut plan = RewindPlan::default();
    for (seq, event) in events {
        if !live(*seq) || last_command.is_some_and(|last| *seq < last) {
            continue;
        }
        match event {
            HistoryEvent::TaskFailed { id, .. } => {
                let scheduled = events.iter().find_map(|(_, e)| match e {
                    HistoryEvent::TaskScheduled {
                        id: task,
                        name,
                        input,
                        options,
                    } if task == id => Some((name, input, options)),
                    _ => None,
                });
                if let Some((name, input, options)) = scheduled {
                    plan.voided.push(*seq);
                    plan.tasks
                        .push((*id, name.clone(), json_text(input), json_text(options)));
                }
            }
            HistoryEvent::SubOrchestrationFailed { id, failure } => {
                let child = events.iter().find_map(|(_, e)| match e {
                    HistoryEvent::SubOrchestrationCreated {
                        id: task,
                        name,
                        instance,
                        input,
                    } if task == id => Some(FailedChild {
                        task: *id,
                        instance: instance.clone(),
                        name: name.clone(),
                        input: input.clone(),
                        failure: failure.clone(),
                    }),
                    _ => None,
                });
                if let Some(child) = child {
                    plan.voided.push(*seq);
                    plan.children.push(child);
                }
            }
            HistoryEvent::ExecutionFailed { .. } => plan.voided.push(*seq),
            _ => {}
        }
    }
    plan
}

/// Purges the instances among `ids` that have ended; returns how many went.
pub(super) fn purge_ended(conn: &Connection, ids: &[String]) -> Result<u64> {
    let mut purged = 0;
    for id in ids {
        let status: Option<String> = conn
            .prepare_cached("SELECT status FROM instances WHERE id = ?")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        let ended = status
            .and_then(|s| s.parse::<Status>().ok())
            .is_some_and(Status::is_terminal);
        if ended && purge(conn, id)? {
            purged += 1;
        }
    }
    Ok(purged)
}

/// Deletes the modules among `digests` that no function row keeps active and no instance that may
/// still run (pending, running, suspended, or failed and so rewindable) is pinned to.
pub(super) fn delete_modules(conn: &Connection, digests: &[String]) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    for digest in digests {
        let used: i64 = conn
            .prepare_cached(
                "SELECT (SELECT count(*) FROM functions WHERE digest = ?1 AND active = 1)
                      + (SELECT count(*) FROM instances WHERE module = ?1
                           AND status IN ('Pending', 'Running', 'Suspended', 'Failed'))",
            )?
            .query_row([digest], |r| r.get(0))?;
        if used > 0 {
            continue;
        }
        execute(conn, "DELETE FROM functions WHERE digest = ?", [digest])?;
        execute(conn, "DELETE FROM labels WHERE digest = ?", [digest])?;
        let gone = execute(conn, "DELETE FROM modules WHERE digest = ?", [digest])?;
        if gone == 1 {
            deleted.push(digest.clone());
        }
    }
    Ok(deleted)
}

fn append(
    conn: &Connection,
    instance: &str,
    execution: u32,
    seq: u32,
    event: &HistoryEvent,
    now: u64,
) -> Result<()> {
    execute(
        conn,
        "INSERT INTO history (instance, execution, seq, event, recorded_at) VALUES (?, ?, ?, ?, ?)",
        params![
            instance,
            i64::from(execution),
            i64::from(seq),
            json_text(event),
            to_i64(now),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parent(run: Option<&str>) -> ParentRef {
        ParentRef {
            instance: "p".into(),
            execution: 2,
            task_id: 3,
            run: run.map(str::to_owned),
        }
    }

    #[test]
    fn a_child_row_is_the_task_s_only_if_it_names_the_parent_s_incarnation_and_task() {
        let ours = parent(Some("r1"));
        assert!(started_by(Some(&parent(Some("r1"))), &ours));
        // Another incarnation of the parent's id, or nobody's child.
        assert!(!started_by(Some(&parent(Some("r0"))), &ours));
        assert!(!started_by(None, &ours));
        // Another parent, execution or task.
        for other in [
            ParentRef {
                instance: "q".into(),
                ..parent(Some("r1"))
            },
            ParentRef {
                execution: 1,
                ..parent(Some("r1"))
            },
            ParentRef {
                task_id: 0,
                ..parent(Some("r1"))
            },
        ] {
            assert!(!started_by(Some(&other), &ours), "{other:?}");
        }
        // Rows from before run tokens: told apart by id, execution and task; a NULL run matches only
        // a NULL run, as for the delivery of the child's result.
        assert!(started_by(Some(&parent(None)), &parent(None)));
        assert!(!started_by(Some(&parent(None)), &ours));
        assert!(!started_by(Some(&parent(Some("r1"))), &parent(None)));
    }

    #[test]
    fn a_rewind_plans_the_failed_child_as_its_parent_started_it() {
        let events = [
            (
                0,
                HistoryEvent::SubOrchestrationCreated {
                    id: 0,
                    name: "Child".into(),
                    instance: "c".into(),
                    input: json!({"n": 1}),
                },
            ),
            (
                1,
                HistoryEvent::SubOrchestrationFailed {
                    id: 0,
                    failure: Failure::new("Boom", "failed"),
                },
            ),
            (
                2,
                HistoryEvent::ExecutionFailed {
                    failure: Failure::new("Boom", "failed"),
                },
            ),
        ];
        let plan = plan_rewind(&events);
        assert_eq!(plan.voided, [1, 2]);
        assert!(plan.tasks.is_empty());
        assert_eq!(
            plan.children,
            [FailedChild {
                task: 0,
                instance: "c".into(),
                name: "Child".into(),
                input: json!({"n": 1}),
                failure: Failure::new("Boom", "failed"),
            }]
        );
    }
}
