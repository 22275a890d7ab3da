//! The state a wasmtime store running an orchestrator keeps between the guest's host calls (the
//! replay core, the channels to the driver, orchestration time and the per-turn bounds), and how a
//! turn ended. The host calls that use it are `context.rs`; the store that holds it is
//! `module/runtime.rs`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand::rngs::StdRng;
use serde_json::Value;
use tokio::sync::mpsc;

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
}

impl OrchestrationState {
    /// Publishes the core's time and replay flag to the guest's WASI clocks and output.
    pub fn sync(&self) {
        self.time_ms.store(self.core.now_ms(), Ordering::SeqCst);
        self.muted.store(self.core.is_replaying(), Ordering::SeqCst);
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

    pub(crate) fn schedule(&mut self, call: Call) -> wasmtime::Result<u32> {
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
    pub(crate) async fn wait<T>(
        &mut self,
        poll: impl Fn(&Replay) -> Result<Option<T>, keel_core::replay::Misuse>,
    ) -> wasmtime::Result<T> {
        loop {
            match poll(&self.core) {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {}
                Err(misuse) => {
                    return Err(self.fatal(Failure::new("ContextMisuse", misuse.to_string())));
                }
            }
            match self.core.on_blocked() {
                Ok(Blocked::Delivered) => {}
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
}
