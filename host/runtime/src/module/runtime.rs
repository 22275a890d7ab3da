//! The wasmtime runtime: engine configuration, the linker every guest is instantiated with, the epoch
//! ticker behind CPU limits, and the per-store host state.
//!
//! It gives each store its sandbox (WASI context, memory limit, CPU budget) but never interprets what a
//! guest does with it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::cpu::CpuMeter;
use super::memory::{Footprint, GuestLimiter};
use super::stacks::StackPool;
use crate::capability::outgoing::{Outgoing, Policy, Violation};
use crate::history::Failure;
use crate::limits::{EPOCH_TICK_MS, Limits};
use crate::turn::OrchestrationState;
use crate::wit;

/// Data of every wasmtime store Keel creates.
pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    /// Memory and tables of all the store's instances together, and how many it may create.
    limiter: GuestLimiter,
    /// Present while the store runs an orchestrator; `None` for activities and manifest calls.
    pub orchestration: Option<OrchestrationState>,
    /// CPU time the guest used since its budget was last reset.
    pub cpu: Arc<CpuMeter>,
    /// CPU time allowed before the guest is interrupted.
    pub(crate) cpu_budget: Duration,
    /// Set when the guest was interrupted for exceeding its budget.
    pub(crate) interrupted: bool,
    memory_cap: usize,
    http: WasiHttpCtx,
    /// The `wasi:http` policy: grants for an activity attempt, refusal for everything else.
    outgoing: Outgoing,
    /// The first breach of that policy; once set, the guest is interrupted and fails with it.
    pub violation: Violation,
    /// Present while the store runs an activity attempt: where its heartbeats go.
    pub attempt: Option<Arc<dyn crate::attempt::Heartbeats>>,
    /// Largest JSON payload the guest may hand over, in bytes.
    pub(crate) max_payload: usize,
}

impl HostState {
    /// State with `wasi`, the memory bounds of `limits`, a CPU budget of `budget_ms` and the
    /// `wasi:http` `policy`.
    pub fn new(wasi: WasiCtx, limits: &Limits, budget_ms: u64, policy: Policy) -> Self {
        let violation = Violation::default();
        Self {
            http: WasiHttpCtx::new(),
            outgoing: Outgoing::new(policy, violation.clone()),
            violation,
            wasi,
            table: ResourceTable::new(),
            limiter: GuestLimiter::new(limits.memory_bytes, limits.store_counts),
            orchestration: None,
            cpu: Arc::default(),
            cpu_budget: Duration::from_millis(budget_ms),
            interrupted: false,
            memory_cap: limits.memory_bytes,
            attempt: None,
            max_payload: limits.max_payload_bytes,
        }
    }

    /// The bytes of memory and tables the store holds, kept up to date as the guest grows.
    pub fn footprint(&self) -> Footprint {
        self.limiter.footprint()
    }

    /// Starts a fresh CPU budget: called whenever the guest resumes after waiting on the host.
    pub(crate) fn reset_budget(&mut self) {
        self.cpu.reset();
    }

    /// Turns an error from a guest call into the failure recorded for it.
    pub fn failure_of(&self, error: &wasmtime::Error, limit_kind: &str, limit_ms: u64) -> Failure {
        if let Some(breach) = self.violation.get() {
            return breach;
        }
        if self.interrupted {
            return Failure::new(
                limit_kind,
                format!(
                    "the guest ran for more than {limit_ms} ms of CPU time and was interrupted"
                ),
            );
        }
        let text = format!("{error:?}");
        if self.limiter.refused() {
            return Failure::new(
                "MemoryLimitExceeded",
                format!(
                    "the guest tried to grow its memory and tables beyond the limit of {} MiB \
                     (all memories and tables of the instance together)",
                    self.limits_memory_mib()
                ),
            );
        }
        if error.downcast_ref::<wasmtime::Trap>().is_some() {
            return Failure::new("Trap", text);
        }
        Failure::new("HostError", text)
    }

    fn limits_memory_mib(&self) -> usize {
        self.memory_cap >> 20
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outgoing,
        }
    }
}

/// The wasmtime engine, linker and epoch ticker shared by every guest.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    limits: Limits,
    ticker_stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .finish()
    }
}

impl Runtime {
    /// A runtime enforcing `limits`.
    pub fn new(limits: Limits) -> Result<Self, wasmtime::Error> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // Fiber stacks are reused across stores rather than mapped and unmapped for each.
        config.with_host_stack(Arc::new(StackPool::new()));
        let engine = Engine::new(&config)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wit::orchestrator::OrchestratorModule::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s)?;
        wit::activity::keel::workflow::activity_context::add_to_linker::<_, HasSelf<_>>(
            &mut linker,
            |s| s,
        )?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        let stop = ticker_stop.clone();
        let ticking = engine.clone();
        std::thread::Builder::new()
            .name("keel-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(EPOCH_TICK_MS));
                    ticking.increment_epoch();
                }
            })
            .map_err(wasmtime::Error::from)?;
        Ok(Self {
            engine,
            linker,
            limits,
            ticker_stop,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn linker(&self) -> &Linker<HostState> {
        &self.linker
    }

    /// The limits guests run under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A store for `state`, with its memory limit and CPU budget armed.
    pub fn store(&self, state: HostState) -> Store<HostState> {
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            if state.violation.is_set() {
                return Ok(UpdateDeadline::Interrupt);
            }
            if state.cpu.used() > state.cpu_budget {
                state.interrupted = true;
                return Ok(UpdateDeadline::Interrupt);
            }
            // Yield so a long computation does not hold an executor thread.
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
