//! The engine's configuration: the database, the compiled-module cache, the secret key, guest limits
//! and the worker's concurrency and back-pressure bounds, with the defaults for a database.

use std::path::{Path, PathBuf};

use crate::limits::Limits;
use keel_runtime::capability::KeySource;

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
    /// Raised events and updates one instance may have waiting in its inbox; more are refused
    /// (`InboxFull`).
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
    /// How long the guests' log lines are kept, in ms: each worker deletes older ones when it
    /// reports, whatever their instance (a purge deletes an instance's at once).
    pub log_retention_ms: u64,
    /// Executions of one instance whose histories are kept, the current one included: when an
    /// orchestration continues as new, the histories of older executions are deleted, so that an
    /// eternal orchestration's storage stays bounded.
    pub keep_executions: u32,
}

/// The compiled-module cache in the user's cache directory: `$XDG_CACHE_HOME/keel/modules`, or
/// `~/.cache/keel/modules`.
pub fn user_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("keel")
        .join("modules")
}

impl Config {
    /// Defaults for a database at `db`: for a SQLite file, the compiled cache and the secret key
    /// file beside it; for a PostgreSQL URL, the cache in the user's cache directory and the key
    /// file `keel.key` in the current directory (every process sharing the database needs the same
    /// key: give them the file, or `KEEL_SECRET_KEY`).
    pub fn new(db: impl Into<PathBuf>) -> Self {
        let db = db.into();
        let (cache, secret_key) = if keel_store::is_postgres_url(&db) {
            (user_cache_dir(), KeySource::beside(Path::new("keel")))
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
            log_retention_ms: 7 * 24 * 60 * 60 * 1000,
            keep_executions: 10,
        }
    }
}
