//! The durable store, on SQLite or PostgreSQL behind one [`Store`].
//!
//! SQLite (`sqlite.rs` and the files named after what they hold): schema migrations (sqlx), the read
//! queries (a read-only sqlx pool, and for the step path's short reads read-only rusqlite connections
//! used on the calling thread) and the group-commit writer through which every write goes (a
//! rusqlite connection on a thread of its own). PostgreSQL (`postgres/`, files of the same names):
//! its own migrations, a connection pool, one transaction per write, row locks and `SKIP LOCKED`
//! claims in place of the single writer, and `LISTEN`/`NOTIFY` between processes.
//!
//! It knows rows and transactions, never guests or replay: callers hand it complete, already decided
//! changes (a turn's commit, an activity's result) and it makes them durable atomically.

mod capabilities;
mod dispatch;
mod heartbeats;
mod local_read;
mod logs;
mod maintenance;
mod ops;
mod parking;
mod postgres;
mod read;
mod rows;
mod schedules;
mod setup_cache;
mod sqlite;
mod stats;
mod updates;
mod work_items;
mod workers;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use postgres::Postgres;
use sqlite::Sqlite;

use keel_core::history::{ActivityOptions, Failure, HistoryEvent, ParentRef};

pub use capabilities::{CapabilityChange, Holdings, Sealed};
pub use heartbeats::ActivityRow;
pub use logs::{LogLine, StoredLogLine};
pub use maintenance::{MoveInstance, MoveRefused, Rewound};
pub use ops::{NewWorkItem, TurnCommit};
pub use parking::{AfterFailure, TurnFailed, backoff};
pub use read::{FunctionRow, InstanceFilter, ModuleRow};
pub use rows::{Incarnation, NewInstance, OutMessage, StartPolicy, Started};
pub use schedules::{ScheduleChange, ScheduleRow};
pub use updates::{NewUpdate, UpdateDone, UpdateRow, UpdateState};
pub use work_items::{FinishWorkItem, Finished};
pub use workers::WorkerRow;

/// How long a connection waits for a lock another process holds before failing with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The database refused or failed an operation (a read, or opening the store).
    #[error("database error: {0}")]
    Database(#[source] Arc<sqlx::Error>),
    /// The database refused or failed a write.
    #[error("database error: {0}")]
    Sqlite(#[source] Arc<rusqlite::Error>),
    /// The writer's connection could not be opened or set up.
    #[error("could not open {path} for writing: {message}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Schema migration failed.
    #[error("could not migrate the database schema: {0}")]
    Migration(Arc<sqlx::migrate::MigrateError>),
    /// A stored value could not be decoded.
    #[error("corrupt stored value in {what}: {message}")]
    Corrupt {
        /// Which value.
        what: &'static str,
        /// Why it did not decode.
        message: String,
    },
    /// A conditional write found the row changed underneath it.
    #[error("conflict: {0}")]
    Conflict(String),
    /// SQLite rolled back the whole transaction this write was part of, because of a later write of
    /// the same batch; nothing of it was written, and it may be tried again.
    #[error(
        "the transaction was rolled back by another write of its batch ({0}); nothing was written"
    )]
    RolledBack(String),
    /// The writer thread is gone (the store is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The database server could not be reached, or refused the connection.
    #[error("[KEEL-S1] cannot connect to the database {url}: {message}")]
    Connect {
        /// The database's URL, its password left out.
        url: String,
        /// Why.
        message: String,
    },
    /// Text the database cannot hold: PostgreSQL refuses a NUL character in text (SQLite stores
    /// it), so a name or id holding one is refused on that store.
    #[error("[KEEL-S3] the database cannot store text holding a NUL character ({0})")]
    Unstorable(String),
    /// The database's schema was migrated by a newer Keel than this one.
    #[error(
        "[KEEL-S2] the database's schema is newer than this keel's (it has migration {0}, which \
         this build does not know): run a keel at least as new as the one that migrated it"
    )]
    SchemaTooNew(i64),
}

impl Error {
    /// A migration error, told apart when the database is ahead of this build.
    fn migration(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            sqlx::migrate::MigrateError::VersionMissing(version) => Self::SchemaTooNew(version),
            e => Self::Migration(Arc::new(e)),
        }
    }
}

/// Whether `db` names a PostgreSQL database (`postgres://...` or `postgresql://...`) rather than a
/// SQLite file.
pub fn is_postgres_url(db: &Path) -> bool {
    db.to_str()
        .is_some_and(|s| s.starts_with("postgres://") || s.starts_with("postgresql://"))
}

/// `db` for messages: a PostgreSQL URL without its password.
pub fn redacted(db: &Path) -> String {
    let text = db.to_string_lossy();
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.into_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _password)) => format!("{scheme}://{name}:***@{host}"),
            None => text.into_owned(),
        },
        None => text.into_owned(),
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        // PostgreSQL's "invalid byte sequence for encoding UTF8: 0x00" (character_not_in_repertoire).
        if let sqlx::Error::Database(d) = &e
            && d.code().as_deref() == Some("22021")
        {
            return Self::Unstorable(d.message().to_owned());
        }
        Self::Database(Arc::new(e))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(Arc::new(e))
    }
}

/// Result of store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Runtime status of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Created, first turn not run yet.
    Pending,
    /// Running or waiting on tasks.
    Running,
    /// Suspended by a client; messages wait until it is resumed.
    Suspended,
    /// Completed with an output.
    Completed,
    /// Failed.
    Failed,
    /// Terminated by a client.
    Terminated,
    /// Between two executions of continue-as-new.
    ContinuedAsNew,
    /// Its turns kept failing for reasons outside the guest (an undecodable stored row, a module that
    /// will not load, a commit that always fails): no turn runs until an operator resumes it.
    Parked,
}

impl Status {
    /// All statuses, for listings.
    pub const ALL: [Status; 8] = [
        Self::Pending,
        Self::Running,
        Self::Suspended,
        Self::Completed,
        Self::Failed,
        Self::Terminated,
        Self::ContinuedAsNew,
        Self::Parked,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Suspended => "Suspended",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Terminated => "Terminated",
            Self::ContinuedAsNew => "ContinuedAsNew",
            Self::Parked => "Parked",
        }
    }

    /// True once the instance has ended for good.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Terminated)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown status {s:?}; expected one of Pending, Running, Suspended, Completed, Failed, Terminated, ContinuedAsNew, Parked")
            })
    }
}

/// A message in an instance's inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// Begin the current execution.
    Start,
    /// A history event to deliver in the next turn (a result, a fired timer, a raised event).
    Deliver {
        /// The event.
        event: HistoryEvent,
    },
    /// Terminate the instance.
    Terminate {
        /// Why.
        reason: String,
        /// Leave its running sub-orchestrations running (by default they are terminated too).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        abandon_children: bool,
    },
    /// Suspend the instance.
    Suspend {
        /// Why.
        reason: String,
    },
    /// Resume a suspended instance.
    Resume {
        /// Why.
        reason: String,
    },
    /// Give the instance a turn although nothing new arrived (after a rewind).
    Wake,
    /// A client's update, handed to the orchestrator at its next wait.
    Update {
        /// The update's id, unique within the instance.
        id: String,
        /// Its name.
        name: String,
        /// Its argument.
        input: serde_json::Value,
    },
}

impl Message {
    /// The value of the inbox's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Start => "Start",
            Self::Deliver { event } => event.kind(),
            Self::Terminate { .. } => "Terminate",
            Self::Suspend { .. } => "Suspend",
            Self::Resume { .. } => "Resume",
            Self::Wake => "Wake",
            Self::Update { .. } => "Update",
        }
    }
}

/// An instance as stored (and as the API sends it, which `keel --server` reads back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// Instance id.
    pub id: String,
    /// Orchestrator name.
    pub name: String,
    /// Current execution, from 1.
    pub execution: u32,
    /// Status.
    pub status: Status,
    /// Digest of the module the execution is pinned to.
    pub module: String,
    /// Input of the current execution.
    pub input: serde_json::Value,
    /// Output once completed.
    pub output: Option<serde_json::Value>,
    /// Failure once failed.
    pub failure: Option<Failure>,
    /// Custom status set by the orchestrator.
    pub custom_status: Option<serde_json::Value>,
    /// Parent, for a sub-orchestration.
    pub parent: Option<ParentRef>,
    /// Creation time (ms since the epoch).
    pub created_at: u64,
    /// Last update time.
    pub updated_at: u64,
    /// Events in the current execution's history.
    pub history_len: u32,
    /// Why the instance is parked, while it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parked: Option<String>,
    /// This incarnation's token: set when the instance is created, kept through continue-as-new and
    /// rewinds, new when an ended instance's id is started again. `None` for instances created before
    /// run tokens existed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// A recorded event with its position and time (also read back from the API by `keel --server`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryRecord {
    /// Execution the event belongs to.
    pub execution: u32,
    /// Index within that execution's history.
    pub seq: u32,
    /// When it was committed.
    pub recorded_at: u64,
    /// The event.
    pub event: HistoryEvent,
}

/// An activity work item claimed by a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    /// Row id.
    pub id: i64,
    /// Instance waiting for the result.
    pub instance: String,
    /// Its execution.
    pub execution: u32,
    /// The task waiting for it.
    pub task_id: u32,
    /// Activity name.
    pub name: String,
    /// Input JSON.
    pub input: serde_json::Value,
    /// Options.
    pub options: ActivityOptions,
    /// Attempt this claim runs, from 1.
    pub attempt: u32,
    /// When the first attempt became due.
    pub first_at: u64,
    /// Times it was claimed since its last attempt produced a result (this claim included).
    pub deliveries: u32,
    /// The run token of the instance's incarnation (read when the item is claimed: a work item never
    /// outlives its incarnation, since reusing or purging an id deletes its work items).
    pub run: Option<String>,
    /// The latest heartbeat details recorded for the task, by an earlier attempt or an earlier run
    /// of this one.
    pub heartbeat: Option<serde_json::Value>,
    /// When the lease of the previous run of this attempt ran out without a result (its worker
    /// stopped or lost it), if it did; `None` for a first run, or one after a host failure.
    pub abandoned_at: Option<u64>,
}

/// Handle to the store: SQLite or PostgreSQL behind one set of operations (`dispatch.rs`), and
/// the notification that follows every commit that may have given a worker something to do.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    changed: Arc<Notify>,
}

/// The database a store keeps its rows in.
#[derive(Clone, Debug)]
enum Backend {
    /// One SQLite file; every write through the group-commit writer.
    Sqlite(Sqlite),
    /// A PostgreSQL database shared by any number of processes.
    Postgres(Postgres),
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path`, migrates its schema and starts the
    /// writer thread, which ends once every clone of the store is dropped.
    pub async fn open(path: &Path) -> Result<Self> {
        let changed = Arc::new(Notify::new());
        let backend = Backend::Sqlite(Sqlite::open(path, changed.clone()).await?);
        Ok(Self { backend, changed })
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user:pass@host:port/db`), migrates
    /// its schema, and listens for the commits of other processes.
    pub async fn connect_postgres(url: &str) -> Result<Self> {
        let changed = Arc::new(Notify::new());
        let backend = Backend::Postgres(Postgres::connect(url, changed.clone()).await?);
        Ok(Self { backend, changed })
    }

    /// Which backend this store uses: `"sqlite"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Notified after every commit that may have given an instance or a worker something to do
    /// (on PostgreSQL, also after such commits of other processes).
    pub fn changed(&self) -> &Arc<Notify> {
        &self.changed
    }

    /// Writes queued and not yet in a transaction: how far behind the disk is (always 0 on
    /// PostgreSQL, where each write is its own transaction).
    pub fn write_backlog(&self) -> usize {
        match &self.backend {
            Backend::Sqlite(s) => s.write_backlog(),
            Backend::Postgres(_) => 0,
        }
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn json_text<T: Serialize>(value: &T) -> String {
    // Serialising our own plain data types cannot fail; an error here is a bug, not bad input.
    serde_json::to_string(value).unwrap_or_else(|e| format!("\"unserialisable: {e}\""))
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        what,
        message: e.to_string(),
    })
}
