//! The `context` interface as the guest sees it: each call is checked and recorded by the replay core,
//! and `await-*` suspends the guest until the driver delivers the next turn's messages.
//!
//! This is the only code that runs while a guest is inside a host call; it never touches the store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand::rngs::StdRng;
use rand::{Rng as _, RngExt as _};
use serde_json::Value;
use tokio::sync::mpsc;

use super::replay::{Blocked, Call, LiveBatch, Replay};
use crate::history::{ActivityOptions, Failure, HistoryEvent, Outcome, RetryPolicy};
use crate::module::log_budget::LogBudget;
use crate::module::runtime::HostState;
use crate::text::cut;
use crate::wit::orchestrator::keel::workflow::{context, types};

/// How a turn ended, as reported to the driver.
#[derive(Debug)]
pub(crate) enum TurnEnd {
    /// The guest waits for tasks; commit these events and deliver the next batch later.
    Blocked(Vec<HistoryEvent>),
    /// The execution ended; these events end with its terminal event.
    Finished(Vec<HistoryEvent>),
}

/// Orchestration state of a store that runs an orchestrator.
pub(crate) struct OrchestrationState {
    pub(crate) core: Replay,
    pub(crate) turns: mpsc::UnboundedSender<TurnEnd>,
    pub(crate) batches: mpsc::UnboundedReceiver<LiveBatch>,
    /// Orchestration time, read by the guest's WASI clocks.
    pub(crate) time_ms: Arc<AtomicU64>,
    /// Set while replaying: guest output and logs are dropped.
    pub(crate) muted: Arc<AtomicBool>,
    pub(crate) rng: StdRng,
    pub(crate) max_payload: usize,
    /// Longest name (activity, orchestrator, event, child id) the guest may give.
    pub(crate) max_name_bytes: usize,
    /// Most tasks one live turn may schedule.
    pub(crate) max_turn_tasks: u32,
    /// Tasks the live turn scheduled so far.
    pub(crate) turn_tasks: u32,
    /// Log lines left in this turn (the `log` call, stdout and stderr share it).
    pub(crate) logs: Arc<LogBudget>,
    /// Why the host stopped the guest, when it did (divergence, misuse, oversize payload).
    pub(crate) fatal: Option<Failure>,
    /// Set when the driver dropped this instance from memory: nothing is to be recorded.
    pub(crate) evicted: bool,
}

impl OrchestrationState {
    /// Publishes the core's time and replay flag to the guest's WASI clocks and output.
    pub(crate) fn sync(&self) {
        self.time_ms.store(self.core.now_ms(), Ordering::SeqCst);
        self.muted.store(self.core.is_replaying(), Ordering::SeqCst);
    }

    fn fatal(&mut self, failure: Failure) -> wasmtime::Error {
        let error = wasmtime::Error::msg(failure.to_string());
        self.fatal = Some(failure);
        error
    }

    fn json(&mut self, what: &str, text: &str) -> wasmtime::Result<Value> {
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
    fn name(&mut self, what: &str, name: &str) -> wasmtime::Result<()> {
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

    fn schedule(&mut self, call: Call) -> wasmtime::Result<u32> {
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
    async fn wait<T>(
        &mut self,
        poll: impl Fn(&Replay) -> Result<Option<T>, super::replay::Misuse>,
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

fn state(host: &mut HostState) -> wasmtime::Result<&mut OrchestrationState> {
    host.orchestration.as_mut().ok_or_else(|| {
        wasmtime::Error::msg("the orchestration context was called outside an orchestrator")
    })
}

fn outcome(o: Outcome) -> types::Outcome {
    match o {
        Outcome::Ok(v) => types::Outcome::Ok(v.to_string()),
        Outcome::Err(f) => types::Outcome::Err(types::Failure {
            kind: f.kind,
            message: f.message,
            details: f.details.map(|d| d.to_string()),
        }),
    }
}

fn options(o: types::ActivityOptions) -> ActivityOptions {
    ActivityOptions {
        retry: o.retry.map(|r| RetryPolicy {
            max_attempts: r.max_attempts,
            first_interval_ms: r.first_interval_ms,
            backoff_coefficient: r.backoff_coefficient,
            max_interval_ms: r.max_interval_ms,
            timeout_ms: r.timeout_ms,
            non_retryable: r.non_retryable,
        }),
        timeout_ms: o.timeout_ms,
    }
}

impl types::Host for HostState {}

impl context::Host for HostState {
    async fn call_activity(
        &mut self,
        name: String,
        input: String,
        opts: types::ActivityOptions,
    ) -> wasmtime::Result<u32> {
        let s = state(self)?;
        s.name("an activity name", &name)?;
        let input = s.json("activity input", &input)?;
        s.schedule(Call::Activity {
            name,
            input,
            options: options(opts),
        })
    }

    async fn call_orchestrator(
        &mut self,
        name: String,
        instance_id: Option<String>,
        input: String,
    ) -> wasmtime::Result<u32> {
        let s = state(self)?;
        s.name("an orchestrator name", &name)?;
        if let Some(id) = &instance_id {
            s.name("a sub-orchestration instance id", id)?;
        }
        let input = s.json("sub-orchestration input", &input)?;
        s.schedule(Call::Orchestrator {
            name,
            instance: instance_id,
            input,
        })
    }

    async fn start_timer(&mut self, fire_at_ms: u64) -> wasmtime::Result<u32> {
        state(self)?.schedule(Call::Timer { fire_at_ms })
    }

    async fn wait_event(&mut self, name: String) -> wasmtime::Result<u32> {
        let s = state(self)?;
        s.name("an event name", &name)?;
        s.schedule(Call::WaitEvent { name })
    }

    async fn await_all(&mut self, tasks: Vec<u32>) -> wasmtime::Result<Vec<types::Outcome>> {
        let outcomes = state(self)?.wait(|core| core.poll_all(&tasks)).await?;
        self.reset_budget();
        Ok(outcomes.into_iter().map(outcome).collect())
    }

    async fn await_any(&mut self, tasks: Vec<u32>) -> wasmtime::Result<(u32, types::Outcome)> {
        let (task, result) = state(self)?.wait(|core| core.poll_any(&tasks)).await?;
        self.reset_budget();
        Ok((task, outcome(result)))
    }

    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(state(self)?.core.now_ms())
    }

    async fn random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(state(self)?.rng.next_u64())
    }

    async fn new_uuid(&mut self) -> wasmtime::Result<String> {
        let bytes: [u8; 16] = state(self)?.rng.random();
        Ok(uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string())
    }

    async fn is_replaying(&mut self) -> wasmtime::Result<bool> {
        Ok(state(self)?.core.is_replaying())
    }

    async fn set_custom_status(&mut self, status: String) -> wasmtime::Result<()> {
        let s = state(self)?;
        let status = s.json("custom status", &status)?;
        s.core
            .set_custom_status(status)
            .map_err(|nd| s.fatal(Failure::new("NonDeterminism", nd.to_string())))
    }

    async fn continue_as_new(&mut self, input: String) -> wasmtime::Result<()> {
        let s = state(self)?;
        let input = s.json("continue-as-new input", &input)?;
        s.core.continue_as_new(input);
        Ok(())
    }

    async fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        let s = state(self)?;
        if s.core.is_replaying() || !s.logs.take(s.core.instance()) {
            return Ok(());
        }
        let message = cut(&message, s.logs.line_bytes());
        match level {
            types::LogLevel::Trace => tracing::trace!(target: "keel::guest", "{message}"),
            types::LogLevel::Debug => tracing::debug!(target: "keel::guest", "{message}"),
            types::LogLevel::Info => tracing::info!(target: "keel::guest", "{message}"),
            types::LogLevel::Warn => tracing::warn!(target: "keel::guest", "{message}"),
            types::LogLevel::Error => tracing::error!(target: "keel::guest", "{message}"),
        }
        Ok(())
    }
}
