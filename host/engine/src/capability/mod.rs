//! Capabilities of functions as the engine manages them: the runtime's names, values, grants and
//! sealed secrets (`keel_runtime::capability`, re-exported here whole), and the commands that change
//! what a function holds ([`manage`]).

pub use keel_runtime::capability::*;

pub mod manage;

pub use manage::{Changed, Declared, FunctionCapabilities};
