//! Keel's pure core: the history of an execution ([`history`]), the replay of an orchestrator's calls
//! against it ([`replay`]) and the retry arithmetic of activities ([`retry`]).
//!
//! The crate depends on serde and thiserror only: no async runtime, no database, no wasmtime, no clock
//! and no randomness, so the compiler keeps replay a pure function of the history and the guest's calls.
//! The `keel` crate re-exports these modules at their old paths (`keel::history`,
//! `keel::orchestration::replay`, `keel::activity::retry`).

pub mod history;
pub mod replay;
pub mod retry;
pub mod text;

pub use history::{Failure, HistoryEvent};
