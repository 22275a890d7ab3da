//! The engine: one handle over the store, the module registry and the runtime, with the management
//! operations (deploy, start, raise, terminate, …) and the worker loop that runs turns and activities.
//!
//! It validates what clients hand in (JSON, sizes, names) and leaves execution to the orchestration
//! and activity modules.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::activity::Workers;
use crate::capability::KeySource;
use crate::clock::{SharedClock, SystemClock};
use crate::history::HistoryEvent;
use crate::ids::InstanceId;
use crate::limits::Limits;
use crate::module::{Deployed, Registry, Runtime};
use crate::orchestration::driver::Driver;
use crate::orchestration::hot_cache::{HotBounds, HotCache};
use crate::slots::Slots;
use crate::store::{
    FunctionRow, HistoryRecord, Incarnation, Instance, InstanceFilter, Message, ModuleRow,
    NewInstance, OutMessage, StartPolicy, Status, Store,
};

/// Errors of engine operations, as clients see them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// A module could not be deployed or loaded.
    #[error(transparent)]
    Module(#[from] crate::module::Error),
    /// A grant, configuration value or secret was refused.
    #[error(transparent)]
    Capability(#[from] crate::capability::Error),
    /// The wasm runtime could not be created.
    #[error("could not start the WebAssembly runtime: {0}")]
    Runtime(String),
    /// A payload is not JSON.
    #[error("[KEEL-E1] the {what} is not valid JSON: {message}")]
    InvalidJson {
        /// Which payload.
        what: &'static str,
        /// The parser's complaint.
        message: String,
    },
    /// A payload is over the size limit.
    #[error("[KEEL-E2] the {what} is {size} bytes; the limit is {limit} bytes")]
    PayloadTooLarge {
        /// Which payload.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No orchestrator of that name is deployed.
    #[error("[KEEL-E3] no orchestrator named {name:?} is deployed (deployed: {deployed})")]
    UnknownOrchestrator {
        /// The name asked for.
        name: String,
        /// The names that are deployed.
        deployed: String,
    },
    /// No such instance.
    #[error("[KEEL-E4] no instance with id {0:?}")]
    NotFound(String),
    /// The instance id is taken.
    #[error("[KEEL-E5] {0}")]
    Conflict(String),
    /// The instance has ended and accepts no more messages.
    #[error("[KEEL-E6] instance {id} has ended ({status})")]
    Ended {
        /// The instance.
        id: String,
        /// Its final status.
        status: Status,
    },
    /// The instance is still running.
    #[error("[KEEL-E7] instance {id} is {status}; only ended instances can be purged")]
    NotEnded {
        /// The instance.
        id: String,
        /// Its status.
        status: Status,
    },
    /// Only a failed instance can be rewound.
    #[error("[KEEL-E8] instance {id} is {status}; only a failed instance can be rewound")]
    NotFailed {
        /// The instance.
        id: String,
        /// Its status.
        status: Status,
    },
    /// A name or id is longer than `max_name_bytes`.
    #[error("[KEEL-E9] the {what} is {size} bytes; the limit is {limit} bytes")]
    NameTooLong {
        /// Which name.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The instance has `max_inbox_events` raised events it has not taken in yet.
    #[error(
        "[KEEL-E10] instance {id} already has {limit} events waiting to be taken in; raise more once it has caught up"
    )]
    InboxFull {
        /// The instance.
        id: String,
        /// The limit.
        limit: u32,
    },
    /// The database's directory does not exist (SQLite would only say it is "unable to open").
    #[error(
        "[KEEL-E11] cannot open the database {}: the directory {} {reason}; create it, or point \
         --db (KEEL_DB) at a file in an existing directory",
        db.display(),
        dir.display()
    )]
    DatabaseDirectory {
        /// The database file.
        db: PathBuf,
        /// Its directory.
        dir: PathBuf,
        /// What is wrong with the directory.
        reason: &'static str,
    },
    /// No function of that name is deployed.
    #[error("[KEEL-E12] no function named {name:?} is deployed (deployed: {deployed})")]
    UnknownFunction {
        /// The name asked for.
        name: String,
        /// The names that are deployed.
        deployed: String,
    },
    /// The function has no version with that label or digest.
    #[error(
        "[KEEL-E13] {name} has no deployed version labelled {asked:?} nor a module whose digest \
         starts with it (its versions: {versions})"
    )]
    UnknownVersion {
        /// The function.
        name: String,
        /// The label or digest prefix asked for.
        asked: String,
        /// Its deployed versions: labels, digest, whether active.
        versions: String,
    },
    /// Waiting for an instance took too long.
    #[error("[KEEL-E15] instance {0} did not end in time")]
    WaitTimeout(String),
    /// A file given as an exported history is not one.
    #[error(
        "[KEEL-E16] {file} is not a Keel history export: {reason}; write one with \
         `keel history ID --export FILE`"
    )]
    NotAnExport {
        /// The file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The module a history is replayed against does not export its orchestrator.
    #[error(
        "[KEEL-E17] the history is of orchestrator {name:?}, which the module does not export \
         (it exports {exported})"
    )]
    NotExported {
        /// The history's orchestrator.
        name: String,
        /// The orchestrators the module exports.
        exported: String,
    },
    /// A file named on the command line or in a call could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
}

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

/// Result of engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Engine configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The database: a SQLite file, or a PostgreSQL URL (`postgres://user:pass@host:port/db`).
    pub db: PathBuf,
    /// Where compiled modules are cached; `None` disables the disk cache.
    pub cache_dir: Option<PathBuf>,
    /// Guest sandbox limits.
    pub limits: Limits,
    /// How long a claimed instance or work item stays leased without renewal.
    pub lease_ms: u64,
    /// How often an idle worker looks for work another process created.
    pub poll_ms: u64,
    /// Turns run at once.
    pub max_turns: usize,
    /// Activity attempts run at once.
    pub max_activities: usize,
    /// Orchestrator guests kept in memory between turns.
    pub hot_capacity: usize,
    /// Bytes of linear memory and tables those guests may hold together; the least recently used
    /// go first past it.
    pub hot_bytes: usize,
    /// Raised events one instance may have waiting in its inbox; more are refused (`InboxFull`).
    pub max_inbox_events: u32,
    /// Where the key that seals secrets comes from.
    pub secret_key: KeySource,
    /// Turns in a row that may fail outside the orchestrator (an undecodable row, a module that
    /// will not load, a failing commit) before the instance is parked.
    pub max_turn_failures: u32,
    /// Delay before retrying a turn that failed that way; doubled after each further failure.
    pub turn_retry_ms: u64,
    /// Upper bound of that delay (also of an activity attempt the host could not run).
    pub turn_retry_max_ms: u64,
    /// Deliveries of one activity attempt without a result (the host could not run it, or its
    /// worker died) before its task fails with `HostError`.
    pub max_deliveries: u32,
    /// Events one execution's history may hold; a turn that would go past fails the execution with
    /// `HistoryTooLarge` (a warning is logged past a fifth of it). Continue-as-new starts afresh.
    pub max_history_events: u32,
    /// HTTP API requests handled at once; more are refused with `503` and `Retry-After`.
    pub api_max_requests: usize,
    /// Writes queued for the store's writer beyond which API writes are refused with `503`.
    pub writer_queue_max: usize,
}

impl Config {
    /// Defaults for a database at `db`: for a SQLite file, the compiled cache and the secret key
    /// file beside it; for a PostgreSQL URL, the cache in the user's cache directory and the key
    /// file `keel.key` in the current directory (every process sharing the database needs the same
    /// key: give them the file, or `KEEL_SECRET_KEY`).
    pub fn new(db: impl Into<PathBuf>) -> Self {
        let db = db.into();
        let (cache, secret_key) = if keel_store::is_postgres_url(&db) {
            let base = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                .unwrap_or_else(std::env::temp_dir);
            (
                base.join("keel").join("modules"),
                KeySource::beside(Path::new("keel")),
            )
        } else {
            let mut cache = db.clone().into_os_string();
            cache.push(".cache");
            (PathBuf::from(cache), KeySource::beside(&db))
        };
        Self {
            cache_dir: Some(cache),
            secret_key,
            max_turn_failures: 5,
            turn_retry_ms: 1_000,
            turn_retry_max_ms: 60_000,
            max_deliveries: 5,
            db,
            limits: Limits::default(),
            lease_ms: 5_000,
            poll_ms: 50,
            max_turns: 64,
            max_activities: 64,
            hot_capacity: 10_000,
            hot_bytes: 4 << 30,
            max_inbox_events: 10_000,
            max_history_events: 51_200,
            api_max_requests: 256,
            writer_queue_max: 20_000,
        }
    }
}

pub use crate::metrics::Metrics;

/// State shared by the engine's tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) registry: Registry,
    pub(crate) clock: SharedClock,
    pub(crate) config: Config,
    /// This process's lease owner id.
    pub(crate) owner: String,
    pub(crate) metrics: Metrics,
    /// The leased rows live tasks are working on: the only ones whose leases are renewed.
    pub(crate) held: Arc<crate::held::Held>,
}

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

    fn parse(&self, what: &'static str, text: &str) -> Result<Value> {
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
    fn name(&self, what: &'static str, name: &str) -> Result<()> {
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
        let Some(module) = self.store().active_function(name, "orchestrator").await? else {
            let deployed: Vec<String> = self
                .functions()
                .await?
                .into_iter()
                .filter(|f| f.kind == "orchestrator" && f.active)
                .map(|f| f.name)
                .collect();
            return Err(Error::UnknownOrchestrator {
                name: name.to_owned(),
                deployed: if deployed.is_empty() {
                    "none".to_owned()
                } else {
                    deployed.join(", ")
                },
            });
        };
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

    async fn live_instance(&self, id: &str) -> Result<Instance> {
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

    /// The full history of `id`.
    pub async fn history(&self, id: &str) -> Result<Vec<HistoryRecord>> {
        if self.status(id).await?.is_none() {
            return Err(Error::NotFound(id.to_owned()));
        }
        Ok(self.store().history(id).await?)
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
        let driver = Arc::new(Driver {
            shared: shared.clone(),
            hot: std::sync::Mutex::new(HotCache::new(HotBounds {
                count: shared.config.hot_capacity,
                bytes: shared.config.hot_bytes,
            })),
            slots: Slots::new(shared.config.max_turns, shared.store.changed().clone()),
            workers: workers.clone(),
        });
        let _ = workers.driver.set(Arc::downgrade(&driver));
        let (stop, stopped) = watch::channel(false);
        let (stop_renewal, renewal_stopped) = watch::channel(false);
        let main = tokio::spawn(worker_loop(
            shared.clone(),
            driver.clone(),
            workers.clone(),
            stopped,
        ));
        let leases = tokio::spawn(renew_loop(shared, renewal_stopped));
        WorkerHandle {
            stop,
            stop_renewal,
            claims: main,
            renewal: leases,
            driver,
            workers,
        }
    }
}

/// Handle to running worker loops.
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    stop_renewal: watch::Sender<bool>,
    claims: tokio::task::JoinHandle<()>,
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
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.changed() => break,
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
        if let Err(e) = renewed {
            tracing::warn!(error = %e, "could not renew leases");
        }
    }
}
