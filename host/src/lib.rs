//! Keel runs durable workflows whose orchestrators and activities are WebAssembly components.
//!
//! The crate is organised by concept (see `ARCHITECTURE.md`): [`history`] holds the recorded events,
//! [`orchestration`] the pure replay core and the turn driver, [`activity`] the activity workers,
//! [`module`] the component registry, [`store`] the SQLite store with its group-commit writer and
//! [`engine`] ties them together behind one handle. Nothing here reads the wall clock except
//! [`clock::SystemClock`]. The pure core (history, replay, retry arithmetic) is the `keel-core`
//! crate and the store the `keel-store` crate, both re-exported here at their old paths, so the
//! compiler keeps the core free of I/O and the store free of guests.

pub mod activity;
pub mod api;
pub mod capability;
pub mod cli;
pub mod clock;
pub mod engine;
mod held;
pub use keel_core::history;
mod http1;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod module;
pub mod operator;
pub mod orchestration;
pub mod replayer;
mod slots;
pub use keel_store as store;
pub mod telemetry;
use keel_core::text;
pub mod upgrade;
pub mod versions;
pub mod waiting;
mod wit;

pub use engine::{Config, Keel};
pub use history::{Failure, HistoryEvent};
pub use ids::{Digest, InstanceId};
