//! The replay core: one execution's history, the orchestrator's calls checked against it, and the new
//! events a turn produces.
//!
//! It is pure: no I/O, no clock, no async. The turn driver feeds it batches of messages and the guest's
//! host calls; it answers from the recorded history while replaying and records new events once live.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use crate::history::{ActivityOptions, CarriedEvent, Failure, HistoryEvent, Outcome};

/// A scheduling call made by an orchestrator.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// `call-activity`.
    Activity {
        /// Activity name.
        name: String,
        /// Its input.
        input: Value,
        /// Retry and timeout options.
        options: ActivityOptions,
    },
    /// `call-orchestrator`.
    Orchestrator {
        /// Orchestrator name.
        name: String,
        /// The child's instance id; `None` derives one from the parent's id and the task id.
        instance: Option<String>,
        /// Its input.
        input: Value,
    },
    /// `start-timer`.
    Timer {
        /// Orchestration time at which it fires.
        fire_at_ms: u64,
    },
    /// `wait-event`.
    WaitEvent {
        /// Event name.
        name: String,
    },
}

/// The orchestrator diverged from its recorded history.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "[KEEL-ND1] non-deterministic orchestrator in instance {instance}: at history event #{event_index} \
     the history holds {recorded}, but the orchestrator now {requested}"
)]
pub struct NonDeterminism {
    /// The instance whose replay diverged.
    pub instance: String,
    /// Index of the history event where it diverged.
    pub event_index: usize,
    /// What the history holds there.
    pub recorded: String,
    /// What the orchestrator asked for instead.
    pub requested: String,
}

/// A misuse of the context interface by the guest.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Misuse {
    /// The guest awaited a task id it never received.
    #[error("the orchestrator awaited task {0}, which it never scheduled")]
    UnknownTask(u32),
    /// `await-any` with no tasks would wait forever.
    #[error("the orchestrator called await-any with an empty list of tasks")]
    EmptyAwaitAny,
}

/// What the core needs after the guest blocked on tasks that have not resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// More messages were delivered (a recorded turn or the pending live batch): poll again.
    Delivered,
    /// Nothing more to deliver: the turn ends and the new events must be committed.
    EndOfTurn,
}

/// Messages that start a live turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveBatch {
    /// Orchestration time of the turn.
    pub time_ms: u64,
    /// Messages, in the order they are applied and recorded.
    pub messages: Vec<HistoryEvent>,
    /// Clients' updates, handed to the orchestrator at its next wait; recorded only once accepted.
    pub updates: Vec<UpdateRequest>,
}

/// A client's update to the instance: a change that waits for the orchestrator's response.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateRequest {
    /// Unique within the instance.
    pub id: String,
    /// The update's name, which the orchestrator's handler is registered under.
    pub name: String,
    /// Its argument.
    pub input: Value,
}

/// State of one execution being replayed or run.
#[derive(Debug)]
pub struct Replay {
    instance: String,
    /// The execution, from 1: part of the ids derived for children after the first.
    execution: u32,
    history: Vec<HistoryEvent>,
    recorded: usize,
    committed: usize,
    cursor: usize,
    pending_commands: VecDeque<usize>,
    replaying: bool,
    pending_live: Option<LiveBatch>,
    /// Updates of live batches not yet handed to the guest.
    pending_updates: VecDeque<UpdateRequest>,
    /// The time of a live turn whose `OrchestratorStarted` marker is not recorded yet: a batch of
    /// updates alone records nothing until one is accepted (a rejection leaves no trace).
    unmarked: Option<u64>,
    next_task: u32,
    results: HashMap<u32, (usize, Outcome)>,
    waits: HashMap<u32, (String, usize)>,
    /// The instance each sub-orchestration task started, for a cancellation to name it.
    children: HashMap<u32, String>,
    wait_counts: HashMap<String, usize>,
    raised: HashMap<String, Vec<(usize, Value)>>,
    now_ms: u64,
    continue_as_new: Option<Value>,
    /// With `continue_as_new`: the events never waited for go to the next execution.
    keep_events: bool,
    finished: bool,
}

impl Replay {
    /// A core for `instance` over its recorded history, with `live` to apply once the history has
    /// been replayed.
    pub fn new(instance: impl Into<String>, recorded: Vec<HistoryEvent>, live: LiveBatch) -> Self {
        let len = recorded.len();
        let mut core = Self {
            instance: instance.into(),
            execution: 1,
            history: recorded,
            recorded: len,
            committed: len,
            cursor: 0,
            pending_commands: VecDeque::new(),
            replaying: false,
            pending_live: Some(live),
            pending_updates: VecDeque::new(),
            unmarked: None,
            next_task: 0,
            results: HashMap::new(),
            waits: HashMap::new(),
            children: HashMap::new(),
            wait_counts: HashMap::new(),
            raised: HashMap::new(),
            now_ms: 0,
            continue_as_new: None,
            keep_events: false,
            finished: false,
        };
        // Deliver the first turn so the guest can start: recorded or live.
        let _ = core.deliver();
        core
    }

    /// The same core for execution `execution` of the instance (1 when not given).
    #[must_use]
    pub fn with_execution(mut self, execution: u32) -> Self {
        self.execution = execution;
        self
    }

    /// The id a child started at task `id` gets when the orchestrator names none: the parent's id and
    /// the task id, and after the first execution the execution too, since task ids restart with
    /// each execution (`parent:3`, `parent@2:3`). The first execution's form never changes, so
    /// recorded histories replay as they were written.
    fn child_id(&self, id: u32) -> String {
        if self.execution <= 1 {
            format!("{}:{id}", self.instance)
        } else {
            format!("{}@{}:{id}", self.instance, self.execution)
        }
    }

    /// The instance replayed.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Orchestration time of the current turn.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// True while the guest re-executes a recorded turn.
    pub fn is_replaying(&self) -> bool {
        self.replaying
    }

    /// Events in the history so far, recorded and new.
    pub fn history(&self) -> &[HistoryEvent] {
        &self.history
    }

    /// Number of events already committed to the store.
    pub fn committed_len(&self) -> usize {
        self.committed
    }

    /// True once a terminal event was appended.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Queues the messages of the next live turn; they are applied when the guest next blocks.
    pub fn push_live(&mut self, batch: LiveBatch) {
        match &mut self.pending_live {
            Some(existing) => {
                existing.time_ms = batch.time_ms;
                existing.messages.extend(batch.messages);
            }
            None => self.pending_live = Some(batch),
        }
    }

    /// The next update to hand to the guest at a wait: while replaying, the one the history records
    /// as accepted next, if the turn's next command is its acceptance (it is then taken as re-issued);
    /// once live, the oldest update delivered and not handed over yet. The flag says which.
    pub fn take_update(&mut self) -> Option<(UpdateRequest, bool)> {
        if self.replaying {
            let &index = self.pending_commands.front()?;
            let HistoryEvent::UpdateAccepted {
                update_id,
                name,
                input,
            } = &self.history[index]
            else {
                return None;
            };
            let update = UpdateRequest {
                id: update_id.clone(),
                name: name.clone(),
                input: input.clone(),
            };
            self.pending_commands.pop_front();
            return Some((update, true));
        }
        self.pending_updates.pop_front().map(|u| (u, false))
    }

    /// Updates delivered and never handed over, dropped: for a guest whose waits cannot take them.
    pub fn drain_updates(&mut self) -> Vec<UpdateRequest> {
        self.pending_updates.drain(..).collect()
    }

    /// Records that the guest accepted a live `update` (its handler runs next).
    pub fn accept_update(&mut self, update: UpdateRequest) {
        if !self.replaying {
            self.push(HistoryEvent::UpdateAccepted {
                update_id: update.id,
                name: update.name,
                input: update.input,
            });
        }
    }

    /// Records the result of the handler of the accepted update `id`, or checks it against the
    /// history while replaying (the id only: a handler's result may change from build to build).
    pub fn finish_update(
        &mut self,
        id: String,
        result: Result<Value, Failure>,
    ) -> Result<(), NonDeterminism> {
        self.record_command(match result {
            Ok(output) => HistoryEvent::UpdateCompleted {
                update_id: id,
                output,
            },
            Err(failure) => HistoryEvent::UpdateFailed {
                update_id: id,
                failure,
            },
        })
        .map(drop)
    }

    /// Takes the events appended since the last call: what the turn must commit.
    pub fn take_new_events(&mut self) -> Vec<HistoryEvent> {
        let new = self.history[self.committed..].to_vec();
        self.committed = self.history.len();
        new
    }

    /// Records a scheduling call and returns its task id, or reports a divergence from history.
    pub fn schedule(&mut self, call: Call) -> Result<u32, NonDeterminism> {
        let id = self.next_task;
        self.next_task += 1;
        let event = match call {
            Call::Activity {
                name,
                input,
                options,
            } => HistoryEvent::TaskScheduled {
                id,
                name,
                input,
                options,
            },
            Call::Orchestrator {
                name,
                instance,
                input,
            } => {
                let instance = instance.unwrap_or_else(|| self.child_id(id));
                self.children.insert(id, instance.clone());
                HistoryEvent::SubOrchestrationCreated {
                    id,
                    name,
                    instance,
                    input,
                }
            }
            Call::Timer { fire_at_ms } => HistoryEvent::TimerCreated { id, fire_at_ms },
            Call::WaitEvent { name } => {
                let ordinal = self.wait_counts.entry(name.clone()).or_insert(0);
                self.waits.insert(id, (name.clone(), *ordinal));
                *ordinal += 1;
                HistoryEvent::EventAwaited { id, name }
            }
        };
        self.record_command(event)?;
        Ok(id)
    }

    /// Records a custom status.
    pub fn set_custom_status(&mut self, status: Value) -> Result<(), NonDeterminism> {
        self.record_command(HistoryEvent::CustomStatusSet { status })
            .map(drop)
    }

    /// Whether `task` has resolved; a task never scheduled is a misuse.
    pub fn is_resolved(&self, task: u32) -> Result<bool, Misuse> {
        Ok(self.resolution(task)?.is_some())
    }

    /// Cancels `task`, which has not resolved (see [`Replay::is_resolved`]): records the
    /// cancellation and resolves the task with a `Canceled` failure. A canceled wait for an event
    /// gives up its place: the events of that name go to the waits after it.
    pub fn cancel(&mut self, task: u32) -> Result<(), NonDeterminism> {
        let child = self.children.get(&task).cloned();
        let index = self.record_command(HistoryEvent::TaskCanceled { id: task, child })?;
        let failure = Failure::new("Canceled", format!("the orchestrator canceled task {task}"));
        self.results.insert(task, (index, Outcome::Err(failure)));
        if let Some((name, ordinal)) = self.waits.get(&task).cloned() {
            for (other, (other_name, other_ordinal)) in &mut self.waits {
                if *other != task && *other_name == name && *other_ordinal > ordinal {
                    *other_ordinal -= 1;
                }
            }
            if let Some(count) = self.wait_counts.get_mut(&name) {
                *count -= 1;
            }
        }
        Ok(())
    }

    /// Remembers that the execution continues as new with `input` once the guest returns;
    /// `keep_events`: the events raised to it that it never waited for are raised again to the next.
    pub fn continue_as_new(&mut self, input: Value, keep_events: bool) {
        self.continue_as_new = Some(input);
        self.keep_events = keep_events;
    }

    /// The raised events no wait took, in the order they were raised.
    fn unconsumed_events(&self) -> Vec<CarriedEvent> {
        let mut left: Vec<(usize, CarriedEvent)> = self
            .raised
            .iter()
            .flat_map(|(name, events)| {
                let taken = self.wait_counts.get(name).copied().unwrap_or(0);
                events.iter().skip(taken).map(|(index, data)| {
                    let event = CarriedEvent {
                        name: name.clone(),
                        data: data.clone(),
                    };
                    (*index, event)
                })
            })
            .collect();
        left.sort_by_key(|(index, _)| *index);
        left.into_iter().map(|(_, event)| event).collect()
    }

    /// Outcomes of all `tasks` if every one has resolved.
    pub fn poll_all(&self, tasks: &[u32]) -> Result<Option<Vec<Outcome>>, Misuse> {
        let mut outcomes = Vec::with_capacity(tasks.len());
        for &task in tasks {
            match self.resolution(task)? {
                Some((_, outcome)) => outcomes.push(outcome),
                None => return Ok(None),
            }
        }
        Ok(Some(outcomes))
    }

    /// The first of `tasks` to have resolved (by position in history), if any has.
    pub fn poll_any(&self, tasks: &[u32]) -> Result<Option<(u32, Outcome)>, Misuse> {
        if tasks.is_empty() {
            return Err(Misuse::EmptyAwaitAny);
        }
        let mut best: Option<(usize, u32, Outcome)> = None;
        for &task in tasks {
            if let Some((index, outcome)) = self.resolution(task)?
                && best.as_ref().is_none_or(|(b, _, _)| index < *b)
            {
                best = Some((index, task, outcome));
            }
        }
        Ok(best.map(|(_, task, outcome)| (task, outcome)))
    }

    /// Called when the guest waits on tasks that have not resolved: checks the recorded turn was fully
    /// re-issued and delivers the next batch of messages, if there is one.
    pub fn on_blocked(&mut self) -> Result<Blocked, NonDeterminism> {
        if let Some(&index) = self.pending_commands.front() {
            return Err(self.divergence(index, "waits for its tasks instead".to_owned()));
        }
        if self.deliver() {
            Ok(Blocked::Delivered)
        } else {
            Ok(Blocked::EndOfTurn)
        }
    }

    /// Records the end of the execution: the guest returned `result`.
    pub fn complete(&mut self, result: Result<Value, Failure>) -> Result<(), NonDeterminism> {
        if self.replaying {
            if let Some(&index) = self.pending_commands.front() {
                return Err(self.divergence(index, "returns instead".to_owned()));
            }
            if self.cursor < self.recorded {
                return Err(self.divergence(self.cursor, "returns instead".to_owned()));
            }
        }
        let event = match (self.continue_as_new.take(), result) {
            (Some(input), _) => HistoryEvent::ContinuedAsNew {
                input,
                carried: if self.keep_events {
                    self.unconsumed_events()
                } else {
                    Vec::new()
                },
            },
            (None, Ok(output)) => HistoryEvent::ExecutionCompleted { output },
            (None, Err(failure)) => HistoryEvent::ExecutionFailed { failure },
        };
        self.append_terminal(event);
        Ok(())
    }

    /// Records that the execution failed for a reason outside the guest's control (a trap, a limit,
    /// a divergence). Any live messages not yet applied are applied first so they are not lost.
    pub fn fail(&mut self, failure: Failure) {
        if self.replaying {
            // Nothing new was appended while re-executing recorded turns; the failure goes after them,
            // in the turn of the live batch.
            self.cursor = self.recorded;
            self.pending_commands.clear();
        }
        self.deliver_live();
        self.append_terminal(HistoryEvent::ExecutionFailed { failure });
    }

    /// Appends a live event, after the turn's marker if it was held back.
    fn push(&mut self, event: HistoryEvent) {
        if let Some(time_ms) = self.unmarked.take() {
            self.history
                .push(HistoryEvent::OrchestratorStarted { time_ms });
        }
        self.history.push(event);
    }

    fn append_terminal(&mut self, event: HistoryEvent) {
        if !self.finished {
            self.push(event);
            self.finished = true;
            self.replaying = false;
        }
    }

    /// Records a command, or checks it against the one recorded next while replaying; the index of
    /// its event in the history.
    fn record_command(&mut self, event: HistoryEvent) -> Result<usize, NonDeterminism> {
        if !self.replaying {
            self.push(event);
            return Ok(self.history.len() - 1);
        }
        let Some(index) = self.pending_commands.pop_front() else {
            let index = self.cursor;
            let recorded = match self.history.get(index) {
                Some(_) if index < self.recorded => {
                    "no further call in that turn (the orchestrator waited next)".to_owned()
                }
                _ => "no further call (the orchestrator waited next)".to_owned(),
            };
            return Err(NonDeterminism {
                instance: self.instance.clone(),
                event_index: index,
                recorded,
                requested: describe_request(&event),
            });
        };
        if !same_call(&self.history[index], &event) {
            return Err(self.divergence(index, describe_request(&event)));
        }
        Ok(index)
    }

    fn divergence(&self, index: usize, requested: String) -> NonDeterminism {
        NonDeterminism {
            instance: self.instance.clone(),
            event_index: index,
            recorded: self
                .history
                .get(index)
                .map(|e| format!("{} {}", e.kind(), e.summary()))
                .unwrap_or_else(|| "nothing".to_owned()),
            requested,
        }
    }

    /// Delivers the next recorded turn, or else the pending live batch. False if there is neither.
    fn deliver(&mut self) -> bool {
        if self.cursor < self.recorded {
            self.deliver_recorded();
            true
        } else if self.pending_live.is_some() {
            self.deliver_live();
            true
        } else {
            false
        }
    }

    fn deliver_recorded(&mut self) {
        self.replaying = true;
        if let HistoryEvent::OrchestratorStarted { time_ms } = self.history[self.cursor] {
            self.now_ms = time_ms;
        }
        // The first event of a turn is its OrchestratorStarted marker; the turn runs to the next one.
        self.cursor += 1;
        while self.cursor < self.recorded {
            let index = self.cursor;
            if matches!(
                self.history[index],
                HistoryEvent::OrchestratorStarted { .. }
            ) {
                break;
            }
            if self.history[index].is_command() {
                self.pending_commands.push_back(index);
            } else {
                self.apply_message(index);
            }
            self.cursor += 1;
        }
    }

    fn deliver_live(&mut self) {
        let Some(batch) = self.pending_live.take() else {
            return;
        };
        self.replaying = false;
        self.now_ms = batch.time_ms;
        self.pending_updates.extend(batch.updates);
        if batch.messages.is_empty() && !self.pending_updates.is_empty() {
            self.unmarked = Some(batch.time_ms);
        } else {
            self.unmarked = None;
            self.history.push(HistoryEvent::OrchestratorStarted {
                time_ms: batch.time_ms,
            });
        }
        for message in batch.messages {
            self.history.push(message);
            self.apply_message(self.history.len() - 1);
        }
    }

    fn apply_message(&mut self, index: usize) {
        let outcome = match &self.history[index] {
            HistoryEvent::TaskCompleted { id, output }
            | HistoryEvent::SubOrchestrationCompleted { id, output } => {
                Some((*id, Outcome::Ok(output.clone())))
            }
            HistoryEvent::TaskFailed { id, failure, .. }
            | HistoryEvent::SubOrchestrationFailed { id, failure } => {
                Some((*id, Outcome::Err(failure.clone())))
            }
            HistoryEvent::TimerFired { id } => Some((*id, Outcome::Ok(Value::Null))),
            HistoryEvent::EventRaised { name, data } => {
                self.raised
                    .entry(name.clone())
                    .or_default()
                    .push((index, data.clone()));
                None
            }
            _ => None,
        };
        if let Some((id, outcome)) = outcome {
            // The first resolution wins; a duplicate delivery (at-least-once activities) is ignored.
            self.results.entry(id).or_insert((index, outcome));
        }
    }

    fn resolution(&self, task: u32) -> Result<Option<(usize, Outcome)>, Misuse> {
        if task >= self.next_task {
            return Err(Misuse::UnknownTask(task));
        }
        if let Some((index, outcome)) = self.results.get(&task) {
            return Ok(Some((*index, outcome.clone())));
        }
        if let Some((name, ordinal)) = self.waits.get(&task) {
            let event = self
                .raised
                .get(name)
                .and_then(|events| events.get(*ordinal));
            return Ok(event.map(|(index, data)| (*index, Outcome::Ok(data.clone()))));
        }
        Ok(None)
    }
}

/// Whether a recorded command and a new one are the same call.
fn same_call(recorded: &HistoryEvent, new: &HistoryEvent) -> bool {
    use HistoryEvent as E;
    match (recorded, new) {
        (
            E::TaskScheduled {
                id: a,
                name: n1,
                input: i1,
                ..
            },
            E::TaskScheduled {
                id: b,
                name: n2,
                input: i2,
                ..
            },
        ) => a == b && n1 == n2 && i1 == i2,
        (
            E::SubOrchestrationCreated {
                id: a,
                name: n1,
                instance: x1,
                input: i1,
            },
            E::SubOrchestrationCreated {
                id: b,
                name: n2,
                instance: x2,
                input: i2,
            },
        ) => a == b && n1 == n2 && x1 == x2 && i1 == i2,
        (
            E::TimerCreated {
                id: a,
                fire_at_ms: f1,
            },
            E::TimerCreated {
                id: b,
                fire_at_ms: f2,
            },
        ) => a == b && f1 == f2,
        (E::EventAwaited { id: a, name: n1 }, E::EventAwaited { id: b, name: n2 }) => {
            a == b && n1 == n2
        }
        (E::CustomStatusSet { .. }, E::CustomStatusSet { .. }) => true,
        (E::TaskCanceled { id: a, .. }, E::TaskCanceled { id: b, .. }) => a == b,
        (
            E::UpdateCompleted { update_id: a, .. } | E::UpdateFailed { update_id: a, .. },
            E::UpdateCompleted { update_id: b, .. } | E::UpdateFailed { update_id: b, .. },
        ) => a == b,
        _ => false,
    }
}

fn describe_request(event: &HistoryEvent) -> String {
    let call = match event {
        HistoryEvent::TaskScheduled { .. } => "call-activity",
        HistoryEvent::SubOrchestrationCreated { .. } => "call-orchestrator",
        HistoryEvent::TimerCreated { .. } => "start-timer",
        HistoryEvent::EventAwaited { .. } => "wait-event",
        HistoryEvent::CustomStatusSet { .. } => "set-custom-status",
        HistoryEvent::TaskCanceled { .. } => "cancel",
        HistoryEvent::UpdateCompleted { .. } | HistoryEvent::UpdateFailed { .. } => "answer-update",
        _ => event.kind(),
    };
    format!("calls {call} {}", event.summary())
}

#[cfg(test)]
#[path = "replay_tests.rs"]
mod tests;
