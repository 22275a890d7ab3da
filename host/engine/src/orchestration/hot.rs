//! Hot instances: an orchestrator guest kept alive in memory between turns, suspended inside its
//! `await-*` call, so a turn costs one resume instead of a replay (and a query is answered without
//! one).
//!
//! A hot instance runs on its own task and talks to the driver through two channels; it never touches
//! the store. Dropping the handle evicts it: the guest is unwound and nothing more is recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::mpsc;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use super::replay::{LiveBatch, Replay};
use crate::history::{Failure, HistoryEvent};
use crate::module::cpu::Metered;
use crate::module::guest_output::GuestOutput;
use crate::module::memory::Footprint;
use crate::module::runtime::HostState;
use crate::module::{Loaded, Runtime};
use keel_runtime::capability::outgoing::Policy;
use keel_runtime::guest_log::GuestLog;
use keel_runtime::requests::{PendingQuery, Rejections};
use keel_runtime::turn::{OrchestrationState, TurnEnd};

/// The guest's wall clock: the orchestration time of the current turn.
struct TurnWallClock(Arc<AtomicU64>);

impl HostWallClock for TurnWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        Duration::from_millis(self.0.load(Ordering::SeqCst))
    }
}

/// The guest's monotonic clock: the same orchestration time, in nanoseconds.
struct TurnMonotonicClock(Arc<AtomicU64>);

impl HostMonotonicClock for TurnMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000
    }
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst).saturating_mul(1_000_000)
    }
}

/// The driver's handle to a live orchestrator guest.
#[derive(Debug)]
pub(crate) struct HotInstance {
    /// Execution the guest runs.
    pub(crate) execution: u32,
    /// History length committed so far for that execution.
    pub(crate) history_len: u32,
    /// The instance's row as the driver last committed it, so that a turn on an activity result
    /// handed over in memory needs no read (its commit checks that the row did not change).
    pub(crate) row: Option<Box<crate::store::Instance>>,
    /// What the guest wrote in its live turns, until the driver takes it to commit.
    pub(crate) logs: Arc<GuestLog>,
    /// Updates the guest rejected in its live turns, until the driver takes them to commit.
    pub(crate) rejected: Rejections,
    batches: mpsc::UnboundedSender<LiveBatch>,
    /// Queries asked while the guest waits between turns (see `query.rs`).
    queries: mpsc::UnboundedSender<PendingQuery>,
    turns: mpsc::UnboundedReceiver<TurnEnd>,
    task: tokio::task::JoinHandle<()>,
    /// The guest's memory and tables, as its store counts them.
    footprint: Footprint,
}

impl HotInstance {
    /// Bytes of linear memory and tables the guest holds.
    pub(crate) fn footprint(&self) -> usize {
        self.footprint.bytes()
    }
}

impl Drop for HotInstance {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a hot instance could not be started.
#[derive(Debug, thiserror::Error)]
#[error("could not instantiate the orchestrator: {0}")]
pub(crate) struct SpawnError(String);

/// Everything needed to start a guest for one execution.
pub(crate) struct Spawn<'a> {
    pub(crate) runtime: &'a Runtime,
    pub(crate) module: &'a Loaded,
    pub(crate) instance: &'a str,
    pub(crate) execution: u32,
    pub(crate) name: &'a str,
    pub(crate) input: &'a serde_json::Value,
    pub(crate) recorded: Vec<HistoryEvent>,
    pub(crate) batch: LiveBatch,
    /// Times the guest's log lines.
    pub(crate) clock: keel_runtime::clock::SharedClock,
    /// A query to hand the guest where its replay ends, instead of a live turn (see `query.rs`).
    pub(crate) query: Option<PendingQuery>,
}

impl HotInstance {
    /// Instantiates the orchestrator and runs it (replaying `recorded` first) until its first live
    /// turn ends; read that turn's end with [`HotInstance::next_turn`].
    pub(crate) async fn spawn(s: Spawn<'_>) -> Result<Self, SpawnError> {
        let pre = s.module.orchestrator.clone().ok_or_else(|| {
            SpawnError(format!(
                "module {} exports no orchestrators",
                s.module.digest
            ))
        })?;
        let limits = s.runtime.limits().clone();
        let history_len = u32::try_from(s.recorded.len()).unwrap_or(u32::MAX);
        let recorded = crate::history::effective(s.recorded);
        let time_ms = Arc::new(AtomicU64::new(0));
        let muted = Arc::new(AtomicBool::new(false));
        let seed = seed(s.instance, s.execution);
        let label: Arc<str> = Arc::from(s.instance);
        let logs = Arc::new(GuestLog::for_limits(&limits, s.clock.clone()));
        let wasi = WasiCtxBuilder::new()
            .wall_clock(TurnWallClock(time_ms.clone()))
            .monotonic_clock(TurnMonotonicClock(time_ms.clone()))
            .secure_random(StdRng::seed_from_u64(seed))
            .insecure_random(StdRng::seed_from_u64(seed.rotate_left(17)))
            .insecure_random_seed(u128::from(seed))
            .stdout(GuestOutput::new(
                label.clone(),
                "stdout",
                muted.clone(),
                logs.clone(),
            ))
            .stderr(GuestOutput::new(
                label,
                "stderr",
                muted.clone(),
                logs.clone(),
            ))
            .build();
        let rejected = Rejections::default();
        let (batch_tx, batch_rx) = mpsc::unbounded_channel();
        let (turn_tx, turn_rx) = mpsc::unbounded_channel();
        // A guest replayed to answer a query takes no others.
        let (query_tx, query_rx) = mpsc::unbounded_channel();
        let queries = s.query.is_none().then_some(query_rx);
        let mut state = HostState::new(
            wasi,
            &limits,
            limits.turn_cpu_ms,
            Policy::Refused {
                who: format!("orchestrator {}", s.name),
            },
        );
        let orchestration = OrchestrationState {
            core: Replay::new(s.instance, recorded, s.batch).with_execution(s.execution),
            turns: turn_tx.clone(),
            batches: batch_rx,
            time_ms,
            muted,
            rng: StdRng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15),
            max_payload: limits.max_payload_bytes,
            max_name_bytes: limits.max_name_bytes,
            max_turn_tasks: limits.max_turn_tasks,
            turn_tasks: 0,
            logs: logs.clone(),
            fatal: None,
            evicted: false,
            query: s.query,
            queries,
            query_rng: StdRng::seed_from_u64(seed.rotate_left(31)),
            reported: false,
            answering: None,
            serving: None,
            rejected: rejected.clone(),
        };
        orchestration.sync();
        state.orchestration = Some(orchestration);
        let mut store = s.runtime.store(state);
        let name = s.name.to_owned();
        let input = s.input.to_string();
        let turn_cpu_ms = limits.turn_cpu_ms;
        let max_payload = limits.max_payload_bytes;
        let max_failure = limits.max_failure_bytes;
        let guest = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| SpawnError(format!("{e:#}")))?;
        let meter = store.data().cpu.clone();
        let footprint = store.data().footprint();
        let task = tokio::spawn(async move {
            let run = guest
                .keel_workflow_orchestrators()
                .call_run(&mut store, &name, &input);
            let result = Metered::new(run, meter).await;
            let host = store.data_mut();
            let failure_of = |e: &wasmtime::Error, host: &HostState| {
                host.failure_of(e, "CpuLimitExceeded", turn_cpu_ms)
            };
            let trap = result.as_ref().err().map(|e| failure_of(e, host));
            // A breach of the sandbox (wasi:http from an orchestrator) fails the instance whatever
            // the guest made of the error it was handed.
            let breach = host.violation.get();
            let Some(orch) = host.orchestration.as_mut() else {
                return;
            };
            if orch.evicted {
                return;
            }
            if let Some(breach) = breach {
                orch.core.fail(breach);
                let events = orch.core.take_new_events();
                let _ = orch.turns.send(TurnEnd::Finished(events));
                return;
            }
            match result {
                Ok(Ok(output)) => match parse_output(&output, max_payload) {
                    Ok(value) => {
                        if let Err(nd) = orch.core.complete(Ok(value)) {
                            orch.core
                                .fail(Failure::new("NonDeterminism", nd.to_string()));
                        }
                    }
                    Err(failure) => orch.core.fail(failure),
                },
                Ok(Err(f)) => {
                    let failure = Failure::from_guest(
                        &f.kind,
                        &f.message,
                        f.details.as_deref(),
                        max_failure,
                        max_payload,
                    );
                    if let Err(nd) = orch.core.complete(Err(failure)) {
                        orch.core
                            .fail(Failure::new("NonDeterminism", nd.to_string()));
                    }
                }
                Err(_) => {
                    let failure =
                        orch.fatal.take().or(trap).unwrap_or_else(|| {
                            Failure::new("HostError", "the orchestrator stopped")
                        });
                    orch.core.fail(failure);
                }
            }
            // Updates delivered to a turn that ended the execution before it waited again were
            // never served: rejected, as nothing of them is recorded.
            let unserved = orch.core.drain_updates();
            if !unserved.is_empty() {
                let mut rejected = orch.rejected.lock().unwrap_or_else(|e| e.into_inner());
                rejected.extend(unserved.into_iter().map(|u| {
                    let why = "the execution ended before it waited again and took the update";
                    (u.id, Failure::new("ExecutionEnded", why))
                }));
            }
            let events = orch.core.take_new_events();
            let _ = orch.turns.send(TurnEnd::Finished(events));
        });
        drop(turn_tx);
        Ok(Self {
            execution: s.execution,
            history_len,
            row: None,
            logs,
            rejected,
            batches: batch_tx,
            queries: query_tx,
            turns: turn_rx,
            task,
            footprint,
        })
    }

    /// Delivers the messages of a new turn to a guest waiting in `await-*`.
    pub(crate) fn deliver(&self, batch: LiveBatch) -> bool {
        self.batches.send(batch).is_ok()
    }

    /// Asks the guest, waiting between turns, `query`; it answers through the query's channel and
    /// waits on. The query back when the guest is gone.
    pub(crate) fn ask(&self, query: PendingQuery) -> Result<(), PendingQuery> {
        self.queries.send(query).map_err(|e| e.0)
    }

    /// Waits for the end of the current turn. `None` if the guest task is gone.
    pub(crate) async fn next_turn(&mut self) -> Option<TurnEnd> {
        self.turns.recv().await
    }
}

fn parse_output(text: &str, max_payload: usize) -> Result<serde_json::Value, Failure> {
    if text.len() > max_payload {
        return Err(Failure::new(
            "PayloadTooLarge",
            format!(
                "the orchestrator returned {} bytes; the limit is {max_payload} bytes",
                text.len()
            ),
        ));
    }
    serde_json::from_str(text).map_err(|e| {
        Failure::new(
            "InvalidJson",
            format!("the orchestrator returned output that is not valid JSON: {e}"),
        )
    })
}

/// The per-execution seed of the guest's random sources: identical on every replay.
fn seed(instance: &str, execution: u32) -> u64 {
    // FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in instance.bytes().chain(execution.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}
