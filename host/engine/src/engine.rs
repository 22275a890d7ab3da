//! The engine: one handle over the store, the module registry and the runtime, with the management
//! operations (deploy, start, raise, terminate, …) and the worker loop that runs turns and activities.
//!
//! It validates what clients hand in (JSON, sizes, names) and leaves execution to the orchestration
//! and activity modules.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::activity::Workers;
use crate::clock::{SharedClock, SystemClock};
use crate::history::{Failure, HistoryEvent};
use crate::ids::InstanceId;
use crate::module::{Deployed, Registry, Runtime};
use crate::orchestration::driver::Driver;
use crate::orchestration::hot_cache::{HotBounds, HotCache};
use crate::slots::Slots;
use crate::store::{
    FunctionRow, HistoryRecord, Incarnation, Instance, InstanceFilter, Message, ModuleRow,
    NewInstance, OutMessage, StartPolicy, Status, Store, StoredLogLine, WorkerRow,
};

pub use crate::config::{Config, user_cache_dir};
pub use crate::error::{Error, Result};
use crate::shared::Shared;

/// Refuses a database whose directory is missing, before SQLite fails with "unable to open
/// database file" without saying why. Other problems (permissions, a damaged file) are left to SQLite.
fn database_directory(db: &std::path::Path) -> Result<()> {
    let Some(dir) = db.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return Ok(());
    };
    let reason = match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => return Ok(()),
        Ok(_) => "is not a directory",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist",
        Err(_) => return Ok(()),
    };
    Err(Error::DatabaseDirectory {
        db: db.to_owned(),
        dir: dir.to_owned(),
        reason,
    })
}

/// What a start does when a running instance holds the id.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum IfRunning {
    /// Refuse (`KEEL-E5`).
    #[default]
    Fail,
    /// Answer with the running instance (of the same orchestrator) and start nothing.
    UseExisting,
}

/// How a client's start treats an id in use; see [`Keel::start_with`].
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// What to do when a running instance holds the id.
    pub if_running: IfRunning,
    /// An event to raise (name, JSON data) to the instance, running or started now
    /// (signal-with-start); a running instance is then used, whatever `if_running` says.
    pub event: Option<(String, String)>,
}

/// What a start did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    /// The instance.
    pub id: InstanceId,
    /// Whether it was created now; `false` when a running instance held the id and was used.
    pub created: bool,
}

pub use crate::metrics::Metrics;

/// A handle to Keel: store, modules, management operations and workers.
#[derive(Debug, Clone)]
pub struct Keel {
    shared: Arc<Shared>,
}

impl Keel {
    /// Opens the store in `config` with the system clock.
    pub async fn open(config: Config) -> Result<Self> {
        Self::open_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Opens the store in `config` with `clock`.
    pub async fn open_with_clock(config: Config, clock: SharedClock) -> Result<Self> {
        let store = match config.db.to_str() {
            Some(url) if keel_store::is_postgres_url(&config.db) => {
                Store::connect_postgres(url).await?
            }
            _ => {
                database_directory(&config.db)?;
                Store::open(&config.db).await?
            }
        };
        let runtime =
            Runtime::new(config.limits.clone()).map_err(|e| Error::Runtime(format!("{e:#}")))?;
        let registry = Registry::new(
            Arc::new(runtime),
            store.clone(),
            clock.clone(),
            config.cache_dir.clone(),
        );
        Ok(Self {
            shared: Arc::new(Shared {
                store,
                registry,
                clock,
                config,
                owner: format!("worker-{}", uuid::Uuid::new_v4().simple()),
                metrics: Metrics::default(),
                held: Arc::default(),
                mocks: crate::mocks::Mocks::default(),
                hot_caches: crate::shared::HotCaches::default(),
            }),
        })
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The configuration this handle was opened with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The engine clock's time in milliseconds (the manual clock's under test).
    pub fn now_ms(&self) -> u64 {
        self.shared.clock.now_ms()
    }

    /// Every worker that reported on this database and has not stopped (or been silent for a day),
    /// the most recently seen first.
    pub async fn workers(&self) -> Result<Vec<WorkerRow>> {
        Ok(self.shared.store.workers().await?)
    }

    /// The workers that reported within the last [`WORKER_SILENT_MS`].
    pub async fn live_workers(&self) -> Result<Vec<WorkerRow>> {
        let since = self.shared.clock.now_ms().saturating_sub(WORKER_SILENT_MS);
        let mut workers = self.workers().await?;
        workers.retain(|w| w.seen_ms >= since);
        Ok(workers)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The engine's counters.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Deploys a module and activates its functions.
    pub async fn deploy(&self, bytes: Vec<u8>, version: Option<String>) -> Result<Deployed> {
        Ok(self.shared.registry.deploy(bytes, version, true).await?)
    }

    /// Answers every attempt of activity `name` with `results` in turn (the last one repeats), in
    /// place of any deployed guest: a test's stand-in. No results removes the mock.
    pub fn mock_activity(&self, name: &str, results: Vec<std::result::Result<Value, Failure>>) {
        self.shared.mocks.set(name, results);
    }

    /// Makes the module labelled `version` (or whose digest starts with it) the active provider of
    /// `name`, and returns that version.
    pub async fn activate(&self, name: &str, version: &str) -> Result<FunctionRow> {
        let functions = self.functions().await?;
        let versions: Vec<&FunctionRow> = functions.iter().filter(|f| f.name == name).collect();
        if versions.is_empty() {
            let mut deployed: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
            deployed.dedup();
            return Err(Error::UnknownFunction {
                name: name.to_owned(),
                deployed: if deployed.is_empty() {
                    "none".to_owned()
                } else {
                    deployed.join(", ")
                },
            });
        }
        // A label names its module exactly; a digest prefix only when no label matches.
        let Some(row) = versions
            .iter()
            .find(|f| f.labels.iter().any(|l| l == version))
            .or_else(|| versions.iter().find(|f| f.digest.starts_with(version)))
        else {
            let listed: Vec<String> = versions
                .iter()
                .map(|f| {
                    format!(
                        "{} ({}{})",
                        f.labels.join(", "),
                        &f.digest[..12.min(f.digest.len())],
                        if f.active { ", active" } else { "" }
                    )
                })
                .collect();
            return Err(Error::UnknownVersion {
                name: name.to_owned(),
                asked: version.to_owned(),
                versions: listed.join("; "),
            });
        };
        self.store().activate(name, &row.kind, &row.digest).await?;
        Ok(FunctionRow {
            active: true,
            ..(*row).clone()
        })
    }

    pub(crate) fn parse(&self, what: &'static str, text: &str) -> Result<Value> {
        let limit = self.shared.config.limits.max_payload_bytes;
        if text.len() > limit {
            return Err(Error::PayloadTooLarge {
                what,
                size: text.len(),
                limit,
            });
        }
        serde_json::from_str(text).map_err(|e| Error::InvalidJson {
            what,
            message: e.to_string(),
        })
    }

    /// Refuses a name or id longer than `max_name_bytes`.
    pub(crate) fn name(&self, what: &'static str, name: &str) -> Result<()> {
        let limit = self.shared.config.limits.max_name_bytes;
        if name.len() > limit {
            return Err(Error::NameTooLong {
                what,
                size: name.len(),
                limit,
            });
        }
        Ok(())
    }

    /// Starts an instance of orchestrator `name` with JSON `input`, under `id` or a generated id.
    /// An id that an instance which has not ended holds is a conflict (`KEEL-E5`).
    pub async fn start(&self, name: &str, input: &str, id: Option<&str>) -> Result<InstanceId> {
        let started = self
            .start_with(name, input, id, &StartOptions::default())
            .await?;
        Ok(started.id)
    }

    /// Starts an instance as [`Keel::start`] does, with `options` for an id that a running instance
    /// holds: answer with that instance, and raise an event to whichever instance holds the id
    /// (signal-with-start). The check, the start and the event commit in one transaction.
    pub async fn start_with(
        &self,
        name: &str,
        input: &str,
        id: Option<&str>,
        options: &StartOptions,
    ) -> Result<Started> {
        if let Some(id) = id {
            self.name("instance id", id)?;
        }
        let id = id.map_or_else(InstanceId::generate, InstanceId::new);
        let event = match &options.event {
            Some((event, data)) => Some(self.raised(id.as_str(), event, data).await?),
            None => None,
        };
        let input = self.parse("input", input)?;
        let module = self.orchestrator_module(name).await?;
        let created = self
            .store()
            .start_instance(
                NewInstance {
                    id: id.as_str().to_owned(),
                    name: name.to_owned(),
                    module,
                    input,
                    parent: None,
                },
                self.shared.clock.now_ms(),
                StartPolicy {
                    use_running: options.if_running == IfRunning::UseExisting,
                    event,
                },
            )
            .await;
        match created {
            Ok(outcome) => Ok(Started {
                id,
                created: outcome == crate::store::Started::Created,
            }),
            Err(crate::store::Error::Conflict(message)) => Err(Error::Conflict(message)),
            Err(e) => Err(e.into()),
        }
    }

    /// The digest of the active module of orchestrator `name`; `KEEL-E3` listing the deployed
    /// orchestrators when there is none.
    pub(crate) async fn orchestrator_module(&self, name: &str) -> Result<String> {
        if let Some(module) = self.store().active_function(name, "orchestrator").await? {
            return Ok(module);
        }
        let deployed: Vec<String> = self
            .functions()
            .await?
            .into_iter()
            .filter(|f| f.kind == "orchestrator" && f.active)
            .map(|f| f.name)
            .collect();
        Err(Error::UnknownOrchestrator {
            name: name.to_owned(),
            deployed: if deployed.is_empty() {
                "none".to_owned()
            } else {
                deployed.join(", ")
            },
        })
    }

    /// Instance `id`, unless it does not exist (`KEEL-E4`) or has ended (`KEEL-E6`).
    pub(crate) async fn live_instance(&self, id: &str) -> Result<Instance> {
        let instance = self
            .status(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        if instance.status.is_terminal() {
            return Err(Error::Ended {
                id: id.to_owned(),
                status: instance.status,
            });
        }
        Ok(instance)
    }

    async fn send(&self, id: &str, message: Message) -> Result<()> {
        let instance = self.live_instance(id).await?;
        self.store()
            .send(vec![OutMessage {
                instance: id.to_owned(),
                execution: None,
                // The incarnation that was found live: if it ends and its id is started again
                // before the message is queued, the new one does not get it.
                incarnation: Incarnation::Run(instance.run),
                message,
                visible_at: self.shared.clock.now_ms(),
            }])
            .await?;
        Ok(())
    }

    /// Raises external event `name` with JSON `data` to instance `id`.
    pub async fn raise_event(&self, id: &str, name: &str, data: &str) -> Result<()> {
        let message = self.raised(id, name, data).await?;
        self.send(id, message).await
    }

    /// The message raising event `name` with JSON `data` to instance `id`, once the name, the data and
    /// the room left in the instance's inbox (`max_inbox_events`) have been checked.
    async fn raised(&self, id: &str, name: &str, data: &str) -> Result<Message> {
        self.name("event name", name)?;
        let data = self.parse("event data", data)?;
        let limit = self.shared.config.max_inbox_events;
        if self.store().waiting_events(id).await? >= u64::from(limit) {
            return Err(Error::InboxFull {
                id: id.to_owned(),
                limit,
            });
        }
        Ok(Message::Deliver {
            event: HistoryEvent::EventRaised {
                name: name.to_owned(),
                data,
            },
        })
    }

    /// Terminates instance `id` and, recursively, its running sub-orchestrations (Temporal's default
    /// parent-close policy; Durable Task's recursive terminate).
    pub async fn terminate(&self, id: &str, reason: &str) -> Result<()> {
        self.terminate_with(id, reason, false).await
    }

    /// Terminates instance `id`; with `abandon_children`, its running sub-orchestrations go on.
    pub async fn terminate_with(
        &self,
        id: &str,
        reason: &str,
        abandon_children: bool,
    ) -> Result<()> {
        self.send(
            id,
            Message::Terminate {
                reason: reason.to_owned(),
                abandon_children,
            },
        )
        .await
    }

    /// Suspends instance `id`: its messages wait until it is resumed.
    pub async fn suspend(&self, id: &str, reason: &str) -> Result<()> {
        self.send(
            id,
            Message::Suspend {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    /// Resumes a suspended instance, or takes a parked one back (its turns run again, from the
    /// first try: fix what made them fail first).
    pub async fn resume(&self, id: &str, reason: &str) -> Result<()> {
        let instance = self.live_instance(id).await?;
        if instance.status == Status::Parked {
            self.store().unpark(id, self.shared.clock.now_ms()).await?;
            tracing::info!(instance = id, reason, "parked instance resumed");
            return Ok(());
        }
        self.send(
            id,
            Message::Resume {
                reason: reason.to_owned(),
            },
        )
        .await
    }

    /// Deletes an ended instance and its history.
    pub async fn purge(&self, id: &str) -> Result<()> {
        let instance = self
            .status(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        if !instance.status.is_terminal() {
            return Err(Error::NotEnded {
                id: id.to_owned(),
                status: instance.status,
            });
        }
        self.store().purge(id).await?;
        Ok(())
    }

    /// The instance with `id`.
    pub async fn status(&self, id: &str) -> Result<Option<Instance>> {
        Ok(self.store().instance(id).await?)
    }

    /// The activities instance `id` waits for, with their attempts and latest heartbeats (empty
    /// for an unknown or ended instance).
    pub async fn activities(&self, id: &str) -> Result<Vec<crate::store::ActivityRow>> {
        let now = self.shared.clock.now_ms();
        Ok(self.store().activities(id, now).await?)
    }

    /// The full history of `id`.
    pub async fn history(&self, id: &str) -> Result<Vec<HistoryRecord>> {
        if self.status(id).await?.is_none() {
            return Err(Error::NotFound(id.to_owned()));
        }
        Ok(self.store().history(id).await?)
    }

    /// Up to `limit` of the lines instance `id`'s guests wrote, after line `after` (0 for the
    /// first), oldest first: the orchestrator's from its live turns, each activity attempt's.
    pub async fn logs(&self, id: &str, after: i64, limit: u32) -> Result<Vec<StoredLogLine>> {
        let lines = self.store().logs(id, after, limit).await?;
        if lines.is_empty() && self.status(id).await?.is_none() {
            return Err(Error::NotFound(id.to_owned()));
        }
        Ok(lines)
    }

    /// Instances matching `filter`.
    pub async fn list(&self, filter: &InstanceFilter) -> Result<Vec<Instance>> {
        Ok(self.store().list(filter).await?)
    }

    /// Deployed modules.
    pub async fn modules(&self) -> Result<Vec<ModuleRow>> {
        Ok(self.store().modules().await?)
    }

    /// Deployed functions and their versions.
    pub async fn functions(&self) -> Result<Vec<FunctionRow>> {
        Ok(self.store().functions().await?)
    }

    /// True when this process's workers run nothing and nothing is visible at the clock's time:
    /// no message waits to be taken in by a turn (a turn in flight has not yet consumed its
    /// messages) and no activity call is due or running (a call is deleted when its result commits).
    /// What happens next waits for a timer, a retry or something from outside. Another process's
    /// workers on the same database are not seen.
    pub async fn is_idle(&self) -> Result<bool> {
        let (instances, work_items) = self.shared.held.rows();
        if !instances.is_empty() || !work_items.is_empty() {
            return Ok(false);
        }
        let now = self.shared.clock.now_ms();
        let (messages, _) = self.store().inbox_depth(now).await?;
        let (calls, _) = self.store().work_queue_depth(now).await?;
        Ok(messages == 0 && calls == 0)
    }

    /// When the next timer, retry or delayed message after `now` is due.
    pub async fn next_due(&self, now: u64) -> Result<Option<u64>> {
        Ok(self.store().next_due(now).await?)
    }

    /// Wakes the worker loops, e.g. after a manual clock moved.
    pub fn wake(&self) {
        self.store().changed().notify_waiters();
    }

    /// Waits until instance `id` has ended, for at most `timeout`.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Result<Instance> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.store().changed().notified();
            let instance = self
                .status(id)
                .await?
                .ok_or_else(|| Error::NotFound(id.to_owned()))?;
            if instance.status.is_terminal() {
                return Ok(instance);
            }
            let poll = Duration::from_millis(self.shared.config.poll_ms);
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(poll) => {}
                _ = tokio::time::sleep_until(deadline) => return Err(Error::WaitTimeout(id.to_owned())),
            }
        }
    }

    /// Starts the worker loops (turns and activities) on the current runtime.
    pub fn run_worker(&self) -> WorkerHandle {
        let shared = self.shared.clone();
        let workers = Arc::new(Workers {
            shared: shared.clone(),
            slots: Slots::new(shared.config.max_activities, shared.store.changed().clone()),
            driver: std::sync::OnceLock::new(),
        });
        let hot = Arc::new(std::sync::Mutex::new(HotCache::new(HotBounds {
            count: shared.config.hot_capacity,
            bytes: shared.config.hot_bytes,
        })));
        shared.hot_caches.register(&hot);
        let driver = Arc::new(Driver {
            shared: shared.clone(),
            hot: hot.clone(),
            slots: Slots::new(shared.config.max_turns, shared.store.changed().clone()),
            workers: workers.clone(),
        });
        let turns: Arc<dyn crate::activity::Turns> = driver.clone();
        let _ = workers.driver.set(Arc::downgrade(&turns));
        let (stop, stopped) = watch::channel(false);
        let (stop_renewal, renewal_stopped) = watch::channel(false);
        let main = tokio::spawn(worker_loop(
            shared.clone(),
            driver.clone(),
            workers.clone(),
            stopped,
        ));
        let schedules = tokio::spawn(crate::schedules::run(
            Keel {
                shared: shared.clone(),
            },
            stop.subscribe(),
        ));
        let leases = tokio::spawn(renew_loop(shared, renewal_stopped));
        WorkerHandle {
            stop,
            stop_renewal,
            claims: main,
            schedules,
            renewal: leases,
            driver,
            workers,
        }
    }
}

/// How often a running worker writes its report (at its next lease renewal after this long).
pub const WORKER_REPORT_MS: u64 = 5_000;

/// A worker not heard from for this long (three reports) is not counted as running.
pub const WORKER_SILENT_MS: u64 = 15_000;

/// Handle to running worker loops.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    stop_renewal: watch::Sender<bool>,
    claims: tokio::task::JoinHandle<()>,
    schedules: tokio::task::JoinHandle<()>,
    renewal: tokio::task::JoinHandle<()>,
    driver: Arc<Driver>,
    workers: Arc<Workers>,
}

impl std::fmt::Debug for WorkerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerHandle").finish_non_exhaustive()
    }
}

impl WorkerHandle {
    /// Number of orchestrator guests held in memory.
    pub fn hot_instances(&self) -> usize {
        self.driver.hot_len()
    }

    /// Bytes of linear memory and tables the hot orchestrator guests hold.
    pub fn hot_bytes(&self) -> usize {
        self.driver.hot_bytes()
    }

    /// Stops claiming work, waits (up to 10 s) for running turns and attempts to commit while it
    /// keeps renewing their leases, then stops renewing and drops hot guests. Renewal stops last so
    /// that no other worker takes over work this one is still finishing.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.claims.await;
        let _ = self.schedules.await;
        let wait_turns = self.driver.slots.all_free();
        let wait_attempts = self.workers.slots.all_free();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::join!(wait_turns, wait_attempts)
        })
        .await;
        let _ = self.stop_renewal.send(true);
        let _ = self.renewal.await;
        self.driver.evict_all();
    }
}

async fn worker_loop(
    shared: Arc<Shared>,
    driver: Arc<Driver>,
    workers: Arc<Workers>,
    mut stopped: watch::Receiver<bool>,
) {
    let poll = Duration::from_millis(shared.config.poll_ms);
    let most = shared.config.max_turns.max(shared.config.max_activities);
    let most = u32::try_from(most).unwrap_or(u32::MAX);
    loop {
        if *stopped.borrow() {
            break;
        }
        let notified = shared.store.changed().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = shared.clock.now_ms();
        let (turns_due, attempts_due) = shared
            .store
            .due_work(now, most)
            .await
            .unwrap_or((most, most));
        let mut claimed = 0;
        if turns_due > 0 {
            match driver.poll(turns_due as usize).await {
                Ok(n) => claimed += n,
                Err(e) => tracing::error!(error = %e, "claiming instances failed"),
            }
        }
        if attempts_due > 0 {
            match workers.poll(attempts_due as usize).await {
                Ok(n) => claimed += n,
                Err(e) => tracing::error!(error = %e, "claiming work items failed"),
            }
        }
        if claimed > 0 {
            continue;
        }
        let wait = match shared.store.next_due(now).await {
            Ok(Some(due)) => poll.min(Duration::from_millis(due.saturating_sub(now))),
            _ => poll,
        };
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
        }
    }
}

async fn renew_loop(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let every = Duration::from_millis((shared.config.lease_ms / 3).max(1));
    let now = shared.clock.now_ms();
    let mut report = WorkerRow {
        owner: shared.owner.clone(),
        host: host_name(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_ms: now,
        seen_ms: now,
    };
    // At once, so that a `keel start` right after this worker came up finds it.
    report_worker(&shared, &report).await;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.changed() => break,
        }
        let now = shared.clock.now_ms();
        if now.saturating_sub(report.seen_ms) >= WORKER_REPORT_MS {
            report.seen_ms = now;
            report_worker(&shared, &report).await;
        }
        let until = shared.clock.now_ms().saturating_add(shared.config.lease_ms);
        let (instances, work_items) = shared.held.rows();
        if instances.is_empty() && work_items.is_empty() {
            continue;
        }
        let renewed = shared
            .store
            .renew_leases(&shared.owner, until, instances, work_items)
            .await;
        match renewed {
            // Their attempts would only be thrown away at their commit: they stop now.
            Ok(lost) => shared.held.cancel(&lost),
            Err(e) => tracing::warn!(error = %e, "could not renew leases"),
        }
    }
    if let Err(e) = shared.store.worker_stopped(&shared.owner).await {
        tracing::debug!(error = %e, "could not remove this worker's report");
    }
}

/// Writes this worker's report (`keel workers`); a failure is logged, never fatal: the report only
/// tells clients that a worker runs.
async fn report_worker(shared: &Shared, report: &WorkerRow) {
    if let Err(e) = shared.store.report_worker(report.clone()).await {
        tracing::debug!(error = %e, "could not report this worker");
    }
    let before = report
        .seen_ms
        .saturating_sub(shared.config.log_retention_ms);
    if let Err(e) = shared.store.prune_logs(before).await {
        tracing::debug!(error = %e, "could not delete the guests' old log lines");
    }
}

/// This machine's name, as the kernel has it; `unknown` where it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
