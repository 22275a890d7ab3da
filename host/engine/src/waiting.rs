//! What a running instance waits for, read from its recorded history: the tasks its current
//! execution scheduled whose results are not recorded yet (activities, timers, external events,
//! sub-orchestrations). Pure: it reads history records and nothing else. The CLI uses it to say why
//! `keel run --timeout` expired and what would unblock the instance.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::history::HistoryEvent;
use crate::store::HistoryRecord;

/// One unresolved task of the current execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waiting {
    /// An activity scheduled and not finished; `retry_at_ms` when its last attempt failed and the
    /// next one waits for its backoff.
    Activity {
        /// Task id.
        id: u32,
        /// Activity name.
        name: String,
        /// When the next attempt may start, after a failed one.
        retry_at_ms: Option<u64>,
    },
    /// A durable timer that has not fired.
    Timer {
        /// Task id.
        id: u32,
        /// When it fires (ms since the epoch).
        fire_at_ms: u64,
    },
    /// An external event awaited and not raised yet.
    Event {
        /// Task id.
        id: u32,
        /// Event name.
        name: String,
    },
    /// A sub-orchestration that has not ended.
    SubOrchestration {
        /// Task id.
        id: u32,
        /// Orchestrator name.
        name: String,
        /// The child instance's id.
        instance: String,
    },
}

/// The unresolved tasks of the last execution in `records` (a whole instance history, in order),
/// by task id. Events voided by a rewind do not count.
pub fn waiting(records: &[HistoryRecord]) -> Vec<Waiting> {
    let Some(execution) = records.iter().map(|r| r.execution).max() else {
        return Vec::new();
    };
    let current: Vec<&HistoryRecord> = records
        .iter()
        .filter(|r| r.execution == execution)
        .collect();
    let voided: HashSet<u32> = current
        .iter()
        .filter_map(|r| match &r.event {
            HistoryEvent::ExecutionRewound { voided, .. } => Some(voided.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    let mut open: BTreeMap<u32, Waiting> = BTreeMap::new();
    // Awaits of each event name in order, and how many of that name were raised: the k-th await of
    // a name is answered by the k-th event of that name.
    let mut awaits: HashMap<&str, Vec<u32>> = HashMap::new();
    let mut raised: HashMap<&str, usize> = HashMap::new();
    for record in current.iter().filter(|r| !voided.contains(&r.seq)) {
        match &record.event {
            HistoryEvent::TaskScheduled { id, name, .. } => {
                open.insert(
                    *id,
                    Waiting::Activity {
                        id: *id,
                        name: name.clone(),
                        retry_at_ms: None,
                    },
                );
            }
            HistoryEvent::TaskRetrying {
                id, retry_at_ms, ..
            } => {
                if let Some(Waiting::Activity {
                    retry_at_ms: at, ..
                }) = open.get_mut(id)
                {
                    *at = Some(*retry_at_ms);
                }
            }
            HistoryEvent::TimerCreated { id, fire_at_ms } => {
                open.insert(
                    *id,
                    Waiting::Timer {
                        id: *id,
                        fire_at_ms: *fire_at_ms,
                    },
                );
            }
            HistoryEvent::EventAwaited { id, name } => {
                awaits.entry(name).or_default().push(*id);
                open.insert(
                    *id,
                    Waiting::Event {
                        id: *id,
                        name: name.clone(),
                    },
                );
            }
            HistoryEvent::SubOrchestrationCreated {
                id, name, instance, ..
            } => {
                open.insert(
                    *id,
                    Waiting::SubOrchestration {
                        id: *id,
                        name: name.clone(),
                        instance: instance.clone(),
                    },
                );
            }
            HistoryEvent::TaskCompleted { id, .. }
            | HistoryEvent::TaskFailed { id, .. }
            | HistoryEvent::TimerFired { id }
            | HistoryEvent::SubOrchestrationCompleted { id, .. }
            | HistoryEvent::SubOrchestrationFailed { id, .. } => {
                open.remove(id);
            }
            HistoryEvent::EventRaised { name, .. } => {
                *raised.entry(name).or_default() += 1;
            }
            // A canceled wait for an event gives its place to the next wait of that name.
            HistoryEvent::TaskCanceled { id, .. } => {
                open.remove(id);
                for ids in awaits.values_mut() {
                    ids.retain(|other| other != id);
                }
            }
            _ => {}
        }
    }
    for (name, ids) in awaits {
        let answered = raised.get(name).copied().unwrap_or(0);
        for id in ids.iter().take(answered) {
            open.remove(id);
        }
    }
    open.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn records(execution: u32, events: Vec<HistoryEvent>) -> Vec<HistoryRecord> {
        events
            .into_iter()
            .enumerate()
            .map(|(seq, event)| HistoryRecord {
                execution,
                seq: u32::try_from(seq).unwrap(),
                recorded_at: 0,
                event,
            })
            .collect()
    }

    #[test]
    fn open_tasks_are_those_without_a_result() {
        let history = records(
            1,
            vec![
                HistoryEvent::OrchestratorStarted { time_ms: 1 },
                HistoryEvent::TaskScheduled {
                    id: 0,
                    name: "Done".into(),
                    input: json!(null),
                    options: Default::default(),
                },
                HistoryEvent::TaskScheduled {
                    id: 1,
                    name: "Flaky".into(),
                    input: json!(null),
                    options: Default::default(),
                },
                HistoryEvent::TimerCreated {
                    id: 2,
                    fire_at_ms: 99,
                },
                HistoryEvent::EventAwaited {
                    id: 3,
                    name: "Approved".into(),
                },
                HistoryEvent::EventAwaited {
                    id: 4,
                    name: "Approved".into(),
                },
                HistoryEvent::OrchestratorStarted { time_ms: 2 },
                HistoryEvent::TaskCompleted {
                    id: 0,
                    output: json!(1),
                },
                HistoryEvent::TaskRetrying {
                    id: 1,
                    failure: crate::history::Failure::new("Boom", "no"),
                    attempt: 1,
                    retry_at_ms: 50,
                },
                HistoryEvent::EventRaised {
                    name: "Approved".into(),
                    data: json!(true),
                },
            ],
        );
        assert_eq!(
            waiting(&history),
            vec![
                Waiting::Activity {
                    id: 1,
                    name: "Flaky".into(),
                    retry_at_ms: Some(50)
                },
                Waiting::Timer {
                    id: 2,
                    fire_at_ms: 99
                },
                Waiting::Event {
                    id: 4,
                    name: "Approved".into()
                },
            ]
        );
    }

    #[test]
    fn only_the_last_execution_counts_and_voided_results_reopen_their_task() {
        let mut history = records(
            1,
            vec![HistoryEvent::EventAwaited {
                id: 0,
                name: "Old".into(),
            }],
        );
        history.extend(records(
            2,
            vec![
                HistoryEvent::TaskScheduled {
                    id: 0,
                    name: "Charge".into(),
                    input: json!(null),
                    options: Default::default(),
                },
                HistoryEvent::TaskFailed {
                    id: 0,
                    failure: crate::history::Failure::new("Boom", "no"),
                    attempt: 1,
                },
                HistoryEvent::ExecutionRewound {
                    reason: "fixed".into(),
                    voided: vec![1],
                },
            ],
        ));
        assert_eq!(
            waiting(&history),
            vec![Waiting::Activity {
                id: 0,
                name: "Charge".into(),
                retry_at_ms: None
            }]
        );
    }
}
