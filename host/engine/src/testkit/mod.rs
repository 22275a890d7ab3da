//! The test kit: an orchestrator run on the real engine against a scenario — its input, stand-ins
//! for activities by name, events to raise, and what must come out — in a database of its own that
//! is thrown away after, under a manual clock that jumps to the next durable timer or retry whenever
//! nothing else can happen, so that a day-long timeout takes no time.
//!
//! `keel test SCENARIO.json` runs it for modules of any language; Rust tests call [`run_file`] or
//! [`run`]. The scenario format is in `scenario.rs`; the run in `run.rs`.

mod run;
mod scenario;

pub use run::{Outcome, numbers_as_f64, run, run_file};
pub use scenario::{EventSpec, Expect, Scenario};
