//! Orchestrations: the pure replay core, hot instances and the turn driver (the guest-facing context
//! is the runtime's, `keel_runtime::context`).
//!
//! Only the driver talks to the store; the replay core never does (it lives in the `keel-core` crate,
//! which cannot depend on I/O, and is re-exported here as [`replay`]).

pub mod driver;
pub(crate) mod hot;
pub(crate) mod hot_cache;
mod local;
pub use keel_core::replay;
