//! Keel's engine: everything that runs workflows, without the HTTP API (`keel-api`) or the command
//! line (the `keel` binary).
//!
//! Organised by concept (see `ARCHITECTURE.md`): [`orchestration`] holds the turn driver over the
//! pure replay core (`keel-core`), [`activity`] the activity workers, [`capability`] the commands
//! that change what activities may reach, and [`engine`] ties them together behind one handle,
//! [`Keel`], over a [`store`] (`keel-store`). Guests run in `keel-runtime` (the wasm runtime, the
//! module registry, the orchestrator's host calls), re-exported here at its old paths.

pub mod activity;
pub mod capability;
mod config;
pub use keel_runtime::clock;
pub mod engine;
mod error;
mod held;
mod log_lines;
mod mocks;
pub use keel_core::history;
pub use keel_runtime::{ids, limits};
pub mod metrics;
pub use keel_runtime::module;
pub mod operator;
pub mod orchestration;
mod query;
pub mod replayer;
pub mod schedules;
mod shared;
mod slots;
pub use keel_store as store;
pub mod testkit;
pub mod updates;
pub mod upgrade;
pub mod versions;
pub mod waiting;

pub use engine::{Config, Keel};
pub use history::{Failure, HistoryEvent};
pub use ids::{Digest, InstanceId};
