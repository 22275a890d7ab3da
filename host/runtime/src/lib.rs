//! Keel's wasm runtime: the wasmtime engine and linker every guest runs in with its limits (memory,
//! CPU, log volume), the registry of deployed components, what a guest may reach (capabilities:
//! grants, configuration, sealed secrets) and the orchestrator's host calls, which record each call
//! through the pure replay core.
//!
//! It runs guests but never decides when: claiming work, leases, turns and attempts are the engine's
//! (`keel-engine`), which depends on this crate and never the other way round. Nothing here reads
//! the wall clock except [`clock::SystemClock`].

pub mod attempt;
pub mod capability;
pub mod clock;
pub mod context;
pub use keel_core::history;
pub mod guest_log;
pub mod ids;
pub mod labels;
pub mod limits;
pub mod module;
pub mod requests;
use keel_core::text;
pub mod turn;
pub use keel_store as store;
pub mod wit;
