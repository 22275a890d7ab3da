//! Keel runs durable workflows whose orchestrators and activities are WebAssembly components.
//!
//! This crate is the `keel` binary's: the command line ([`cli`]), logging and trace export
//! ([`telemetry`]) and the small HTTP client they share. What they drive lives in crates of its own,
//! each re-exported here at its old path (see `ARCHITECTURE.md`): the pure replay core (`keel-core`,
//! no I/O), the stores (`keel-store`), the engine with the wasm runtime (`keel-engine`) and the HTTP
//! API (`keel-api`). The compiler keeps each one from reaching into the ones above it.

pub use keel_api as api;
pub mod cli;
mod http_client;
pub use keel_engine::{
    activity, capability, clock, engine, history, ids, limits, metrics, module, operator,
    orchestration, replayer, schedules, store, testkit, upgrade, versions, waiting,
};
pub mod telemetry;

pub use keel_engine::{Config, Digest, Failure, HistoryEvent, InstanceId, Keel};
