//! The state a wasmtime store running an orchestrator keeps between the guest's host calls (the
//! replay core, the channels to the driver, orchestration time and the per-turn bounds), the waits,
//! and how a turn ended. The host calls that use it are `context.rs`; the queries and updates a
//! wait hands over, `requests.rs`; the store that holds it is `module/runtime.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand::rngs::StdRng;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use crate::guest_log::GuestLog;
use crate::history::{Failure, HistoryEvent};
use crate::requests::{PendingQuery, Rejections, Serving, Takes, Woken};
use keel_core::replay::{Blocked, Call, LiveBatch, Replay};

/// How a turn ended, as reported to the driver.
#[derive(Debug)]
pub enum TurnEnd {
    /// The guest waits for tasks; commit these events and deliver the next batch later.
    Blocked(Vec<HistoryEvent>),
    /// The execution ended; these events end with its terminal event.
    Finished(Vec<HistoryEvent>),
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
    /// Queries for a hot guest, asked while it waits between turns (`None` for a guest replayed
    /// to answer one).
    pub queries: Option<mpsc::UnboundedReceiver<PendingQuery>>,
    /// Where a query handler's random numbers come from, so that it does not change what the
    /// orchestrator draws next from `rng` (a replay would not draw them).
    pub query_rng: StdRng,
    /// Set once the driver was told how the current turn ended; cleared by the next batch. A hot
    /// guest that answered a query waits again without ending the turn a second time.
    pub reported: bool,
    /// Where the handed-over query's answer goes, while the guest answers it (read-only then).
    pub answering: Option<oneshot::Sender<Result<Value, Failure>>>,
    /// The update the guest was handed, while it serves it.
    pub serving: Option<Serving>,
    /// Updates rejected in live turns, until the driver takes them.
    pub rejected: Rejections,
}

/// What reached a guest waiting between turns.
enum Between {
    /// The next turn's messages.
    Batch(LiveBatch),
    /// A client's query, for a hot guest.
    Query(PendingQuery),
}

impl OrchestrationState {
    /// The random generator the guest draws from now: the orchestrator's, or while it answers a
    /// query the query's own.
    pub(crate) fn rng(&mut self) -> &mut StdRng {
        if self.answering.is_some() {
            &mut self.query_rng
        } else {
            &mut self.rng
        }
    }

    /// The driver's next batch or, for a hot guest, a query asked before it; `None` once the
    /// driver dropped the guest.
    async fn next_batch_or_query(&mut self) -> Option<Between> {
        let Some(queries) = self.queries.as_mut() else {
            return self.batches.recv().await.map(Between::Batch);
        };
        tokio::select! {
            batch = self.batches.recv() => batch.map(Between::Batch),
            Some(query) = queries.recv() => Some(Between::Query(query)),
        }
    }

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

    /// Refuses `what` while the guest answers a query or validates an update: neither may change
    /// the instance. A query's guest is a copy, so only the query fails; a validator runs in the
    /// orchestrator itself, which it fails.
    pub(crate) fn read_only(&mut self, what: &str) -> wasmtime::Result<()> {
        if self.answering.is_some() {
            return Err(self.fatal(Failure::new(
                "QueryNotReadOnly",
                format!("a query handler {what}; a query may only read the orchestrator's state"),
            )));
        }
        if matches!(self.serving, Some(Serving::Validating { .. })) {
            return Err(self.fatal(Failure::new(
                "ValidatorNotReadOnly",
                format!(
                    "an update validator {what}; a validator may only read the orchestrator's \
                     state (the handler, which runs once the update is accepted, may change it)"
                ),
            )));
        }
        Ok(())
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
    /// A guest replayed to answer a query is handed the query where its replay ends, instead of
    /// ending a turn. Updates are handed over first, before the tasks' outcomes: while replaying
    /// those the history records as accepted at this wait, once live those delivered since.
    pub(crate) async fn wait<T>(
        &mut self,
        takes: Takes,
        poll: impl Fn(&Replay) -> Result<Option<T>, keel_core::replay::Misuse>,
    ) -> wasmtime::Result<Woken<T>> {
        self.read_only("waited for a task")?;
        if matches!(self.serving, Some(Serving::Handling { .. })) {
            return Err(self.fatal(Failure::new(
                "ContextMisuse",
                "an update handler waited for a task; a handler runs to its end without waiting \
                 (it may schedule tasks, which the orchestrator waits for after it)",
            )));
        }
        loop {
            if takes == Takes::Requests {
                if let Some((update, recorded)) = self.core.take_update() {
                    self.serving = Some(Serving::Validating {
                        update: update.clone(),
                        recorded,
                    });
                    return Ok(Woken::Update(update));
                }
            } else {
                self.refuse_updates();
            }
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
                    return self.hand_over_query(takes != Takes::Nothing);
                }
                Ok(Blocked::EndOfTurn) => {
                    if !self.reported {
                        let events = self.core.take_new_events();
                        if self.turns.send(TurnEnd::Blocked(events)).is_err() {
                            self.evicted = true;
                            return Err(wasmtime::Error::msg("instance evicted"));
                        }
                        self.reported = true;
                    }
                    match self.next_batch_or_query().await {
                        Some(Between::Batch(batch)) => {
                            self.core.push_live(batch);
                            self.turn_tasks = 0;
                            self.reported = false;
                            self.logs.refill();
                        }
                        Some(Between::Query(query)) if takes == Takes::Nothing => {
                            // The guest cannot take it; it waits on, unchanged.
                            let _ = query
                                .answer
                                .send(Err(crate::requests::queries_unsupported()));
                            continue;
                        }
                        Some(Between::Query(query)) => {
                            self.query = Some(query);
                            return self.hand_over_query(takes != Takes::Nothing);
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
}
