//! Keel's engine: everything that runs workflows, without the HTTP API (`keel-api`) or the command
//! line (the `keel` binary).
//!
//! Organised by concept (see `ARCHITECTURE.md`): [`orchestration`] holds the turn driver over the
//! pure replay core (`keel-core`), [`activity`] the activity workers, [`module`] the wasm runtime and
//! the component registry, [`capability`] what activities may reach, and [`engine`] ties them
//! together behind one handle, [`Keel`], over a [`store`] (`keel-store`). Nothing here reads the wall
//! clock except [`clock::SystemClock`].

pub mod activity;
pub mod capability;
pub mod clock;
pub mod engine;
mod held;
pub use keel_core::history;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod module;
pub mod operator;
pub mod orchestration;
pub mod replayer;
mod slots;
use keel_core::text;
pub use keel_store as store;
pub mod upgrade;
pub mod versions;
pub mod waiting;
mod wit;

pub use engine::{Config, Keel};
pub use history::{Failure, HistoryEvent};
pub use ids::{Digest, InstanceId};
