//! The state a wasmtime store running an orchestrator keeps between the guest's host calls (the
//! replay core, the channels to the driver, orchestration time and the per-turn bounds), and how a
//! turn ended. The host calls that use it are `context.rs`; the store that holds it is
//! `module/runtime.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand::rngs::StdRng;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::guest_log::GuestLog;
use crate::history::{Failure, HistoryEvent};
use keel_core::replay::{Blocked, Call, LiveBatch, Replay};

/// How a turn ended, as reported to the driver.
#[derive(Debug)]
pub enum TurnEnd {
    /// The guest waits for tasks; commit these events and deliver the next batch later.
    Blocked(Vec<HistoryEvent>),
    /// The execution ended; these events end with its terminal event.
    Finished(Vec<HistoryEvent>),
}

/// A client's query to the instance, for a guest replayed to answer it.
#[derive(Debug)]
pub struct PendingQuery {
    /// The query's name.
    pub name: String,
    /// Its argument, as JSON text.
    pub input: String,
    /// Where the answer goes: the handler's result, or why there is none.
    pub answer: oneshot::Sender<Result<Value, Failure>>,
}

/// What a wait gave the guest: the tasks' outcomes, or a query to answer first.
pub(crate) enum Woken<T> {
    Done(T),
    Query { name: String, input: String },
}

/// Orchestration state of a store that runs an orchestrator.
pub struct OrchestrationState {
    pub core: Replay,
    pub turns: mpsc::UnboundedSender<TurnEnd>,
    pub batches: mpsc::UnboundedReceiver<LiveBatch>,
    /// Orchestration time, read by the guest's WASI clocks.
    pub time_ms: Arc<AtomicU64>,
    /// Set while replaying: guest output and logs are dropped.
    pub muted: Arc<AtomicBool>,
    pub rng: StdRng,
    pub max_payload: usize,
    /// Longest name (activity, orchestrator, event, child id) the guest may give.
    pub max_name_bytes: usize,
    /// Most tasks one live turn may schedule.
    pub max_turn_tasks: u32,
    /// Tasks the live turn scheduled so far.
    pub turn_tasks: u32,
    /// Log lines left in this turn (the `log` call, stdout and stderr share it).
    pub logs: Arc<GuestLog>,
    /// Why the host stopped the guest, when it did (divergence, misuse, oversize payload).
    pub fatal: Option<Failure>,
    /// Set when the driver dropped this instance from memory: nothing is to be recorded.
    pub evicted: bool,
    /// The query this guest was replayed to answer, until it is handed over; such a guest records
    /// nothing and is dropped once it answered.
    pub query: Option<PendingQuery>,
    /// Where the handed-over query's answer goes, while the guest answers it (read-only then).
    pub answering: Option<oneshot::Sender<Result<Value, Failure>>>,
}

impl OrchestrationState {
    /// Publishes the core's time and replay flag to the guest's WASI clocks and output.
    pub fn sync(&self) {
        self.time_ms.store(self.core.now_ms(), Ordering::SeqCst);
        // A guest that answers a query writes nothing anyone keeps.
        let quiet = self.query.is_some() || self.answering.is_some();
        self.muted
            .store(self.core.is_replaying() || quiet, Ordering::SeqCst);
    }

    pub(crate) fn fatal(&mut self, failure: Failure) -> wasmtime::Error {
        let error = wasmtime::Error::msg(failure.to_string());
        self.fatal = Some(failure);
        error
    }

    pub(crate) fn json(&mut self, what: &str, text: &str) -> wasmtime::Result<Value> {
        if text.len() > self.max_payload {
            return Err(self.fatal(Failure::new(
                "PayloadTooLarge",
                format!(
                    "the orchestrator passed a {what} of {} bytes; the limit is {} bytes",
                    text.len(),
                    self.max_payload
                ),
            )));
        }
        serde_json::from_str(text).map_err(|e| {
            self.fatal(Failure::new(
                "InvalidJson",
                format!("the orchestrator passed a {what} that is not valid JSON: {e}"),
            ))
        })
    }

    /// Refuses a name longer than the limit (live turns only: a recorded history replays as it is).
    pub(crate) fn name(&mut self, what: &str, name: &str) -> wasmtime::Result<()> {
        if name.len() > self.max_name_bytes && !self.core.is_replaying() {
            return Err(self.fatal(Failure::new(
                "NameTooLong",
                format!(
                    "the orchestrator gave {what} of {} bytes; the limit is {} bytes",
                    name.len(),
                    self.max_name_bytes
                ),
            )));
        }
        Ok(())
    }

    /// Refuses `what` while the guest answers a query: a query must not change the instance.
    pub(crate) fn read_only(&mut self, what: &str) -> wasmtime::Result<()> {
        if self.answering.is_none() {
            return Ok(());
        }
        Err(self.fatal(Failure::new(
            "QueryNotReadOnly",
            format!("a query handler {what}; a query may only read the orchestrator's state"),
        )))
    }

    pub(crate) fn schedule(&mut self, call: Call) -> wasmtime::Result<u32> {
        self.read_only("scheduled a task")?;
        if !self.core.is_replaying() {
            self.turn_tasks += 1;
            if self.turn_tasks > self.max_turn_tasks {
                return Err(self.fatal(Failure::new(
                    "TooManyTasks",
                    format!(
                        "the orchestrator scheduled more than {} tasks in one turn; \
                         split the work across turns or sub-orchestrations",
                        self.max_turn_tasks
                    ),
                )));
            }
        }
        match self.core.schedule(call) {
            Ok(id) => Ok(id),
            Err(nd) => Err(self.fatal(Failure::new("NonDeterminism", nd.to_string()))),
        }
    }

    /// Waits until `poll` succeeds, delivering recorded turns and, once live, ending the turn and
    /// waiting for the driver's next batch.
    ///
    /// A guest replayed to answer a query is handed the query (`queries`: the `wait-*` calls) where
    /// its replay ends, instead of ending a turn.
    pub(crate) async fn wait<T>(
        &mut self,
        queries: bool,
        poll: impl Fn(&Replay) -> Result<Option<T>, keel_core::replay::Misuse>,
    ) -> wasmtime::Result<Woken<T>> {
        self.read_only("waited for a task")?;
        loop {
            match poll(&self.core) {
                Ok(Some(value)) => return Ok(Woken::Done(value)),
                Ok(None) => {}
                Err(misuse) => {
                    return Err(self.fatal(Failure::new("ContextMisuse", misuse.to_string())));
                }
            }
            match self.core.on_blocked() {
                Ok(Blocked::Delivered) => {}
                Ok(Blocked::EndOfTurn) if self.query.is_some() => {
                    return self.hand_over_query(queries);
                }
                Ok(Blocked::EndOfTurn) => {
                    let events = self.core.take_new_events();
                    if self.turns.send(TurnEnd::Blocked(events)).is_err() {
                        self.evicted = true;
                        return Err(wasmtime::Error::msg("instance evicted"));
                    }
                    match self.batches.recv().await {
                        Some(batch) => {
                            self.core.push_live(batch);
                            self.turn_tasks = 0;
                            self.logs.refill();
                        }
                        None => {
                            self.evicted = true;
                            return Err(wasmtime::Error::msg("instance evicted"));
                        }
                    }
                }
                Err(nd) => return Err(self.fatal(Failure::new("NonDeterminism", nd.to_string()))),
            }
            self.sync();
        }
    }

    /// Hands the pending query to a guest whose replay reached the instance's current state; a
    /// guest waiting with `await-*` (an SDK from before queries) cannot take it.
    fn hand_over_query<T>(&mut self, queries: bool) -> wasmtime::Result<Woken<T>> {
        let Some(query) = self.query.take() else {
            return Err(wasmtime::Error::msg("no query to hand over"));
        };
        if !queries {
            let _ = query.answer.send(Err(Failure::new(
                "QueriesUnsupported",
                "the orchestrator waits with await-all or await-any, which cannot take queries: \
                 it was built with an SDK from before queries; rebuild it with this one",
            )));
            self.evicted = true;
            return Err(wasmtime::Error::msg("query refused"));
        }
        self.answering = Some(query.answer);
        self.sync();
        Ok(Woken::Query {
            name: query.name,
            input: query.input,
        })
    }

    /// Takes the guest's answer to the query it was handed, and stops the guest: it has done its job.
    pub(crate) fn answer(&mut self, answer: Result<Value, Failure>) -> wasmtime::Error {
        match self.answering.take() {
            Some(to) => {
                let _ = to.send(answer);
                self.evicted = true;
                wasmtime::Error::msg("query answered")
            }
            None => self.fatal(Failure::new(
                "ContextMisuse",
                "answer-query was called without a query to answer",
            )),
        }
    }
}
