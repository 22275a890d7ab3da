//! The errors of engine operations as clients see them, each with a stable code where a client can
//! act on it.

use std::path::PathBuf;

use crate::history::Failure;
use crate::store::Status;

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
    Capability(#[from] keel_runtime::capability::Error),
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
        "[KEEL-E10] instance {id} already has {limit} events and updates waiting to be taken in; send more once it has caught up"
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
    /// A test-kit scenario that cannot be read or run as written.
    #[error("[KEEL-E18] scenario {path}: {message}")]
    Scenario {
        /// Its file (or name).
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A schedule that cannot be created as asked, or does not exist.
    #[error("[KEEL-E19] schedule {name}: {message}")]
    Schedule {
        /// The schedule's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// No schedule has this name.
    #[error("[KEEL-E20] no schedule named {0:?} (keel schedule list shows them)")]
    UnknownSchedule(String),
    /// A schedule of this name exists already.
    #[error("[KEEL-E21] a schedule named {0:?} already exists; delete it first")]
    ScheduleExists(String),
    /// The orchestrator registered no handler for this query.
    #[error("[KEEL-E22] instance {id} has no query named {name:?}")]
    UnknownQuery {
        /// The instance.
        id: String,
        /// The query asked.
        name: String,
    },
    /// The query's handler failed, or the query could not be answered.
    #[error("[KEEL-E23] query {name:?} of instance {id} failed: {failure}")]
    QueryFailed {
        /// The instance.
        id: String,
        /// The query asked.
        name: String,
        /// Why: the handler's own failure, or the host's (`QueryNotReadOnly`,
        /// `QueriesUnsupported`, `TurnTimeout`, a trap).
        failure: Box<Failure>,
    },
    /// The orchestrator registered no handler for this update.
    #[error("[KEEL-E24] instance {id} has no update named {name:?}")]
    UnknownUpdate {
        /// The instance.
        id: String,
        /// The update sent.
        name: String,
    },
    /// The update's validator rejected it (or the host did); nothing was recorded.
    #[error("[KEEL-E25] update {name:?} ({update_id}) of instance {id} was rejected: {failure}")]
    UpdateRejected {
        /// The instance.
        id: String,
        /// The update sent.
        name: String,
        /// Its id.
        update_id: String,
        /// Why: the validator's failure, `InvalidInput`, `UpdatesUnsupported` (a module built
        /// before updates), `ExecutionEnded` or `InstanceEnded` (never served).
        failure: Box<Failure>,
    },
    /// The update was accepted and its handler failed; the instance goes on.
    #[error("[KEEL-E26] update {name:?} ({update_id}) of instance {id} failed: {failure}")]
    UpdateFailed {
        /// The instance.
        id: String,
        /// The update sent.
        name: String,
        /// Its id.
        update_id: String,
        /// The handler's failure.
        failure: Box<Failure>,
    },
    /// An update id the instance already used, for another update.
    #[error(
        "[KEEL-E27] instance {id} already has an update {update_id} ({name:?}) with another name or \
         input; an id names one update"
    )]
    UpdateIdReused {
        /// The instance.
        id: String,
        /// The id reused.
        update_id: String,
        /// The name of the update that has it.
        name: String,
    },
    /// No update of this id was sent to the instance.
    #[error("[KEEL-E28] instance {id} has no update of that name with id {update_id:?}")]
    UnknownUpdateId {
        /// The instance.
        id: String,
        /// The id asked for.
        update_id: String,
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

/// Result of engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
