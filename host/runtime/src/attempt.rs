//! The `activity-context` interface as an activity attempt sees it: its heartbeats go to the
//! attempt's [`Heartbeats`] (the engine's, which records them and knows whether the attempt should
//! stop), and `last-heartbeat` reads the details an earlier attempt left.
//!
//! A heartbeat never waits on the store: it hands its details over and returns what is known now.
//! An orchestrator (or a manifest call) has no attempt: calling the interface fails it.

use serde_json::Value;

use crate::history::Failure;
use crate::module::runtime::HostState;
use crate::wit::activity::keel::workflow::activity_context;

/// Failure kind of a guest that calls the activity context outside an activity attempt.
pub const OUTSIDE_ACTIVITY: &str = "ContextMisuse";

/// Where an attempt's heartbeats go.
pub trait Heartbeats: Send + Sync {
    /// Takes the attempt's latest progress `details`; true when the attempt should stop (its task
    /// was canceled, its instance terminated, or another worker took it over).
    fn beat(&self, details: Value) -> bool;
    /// The details an earlier attempt of the task recorded last.
    fn last(&self) -> Option<&Value>;
}

impl HostState {
    /// The attempt's heartbeats, or the failure of a guest that is not an activity attempt.
    fn heartbeats(&self, call: &str) -> wasmtime::Result<std::sync::Arc<dyn Heartbeats>> {
        self.attempt.clone().ok_or_else(|| {
            breach(
                self,
                Failure::new(
                    OUTSIDE_ACTIVITY,
                    format!(
                        "{call} was called outside an activity attempt: only activities heartbeat"
                    ),
                ),
            )
        })
    }
}

/// Records `failure` as the store's breach (the guest is interrupted and fails with it) and returns
/// the error that unwinds the call.
fn breach(host: &HostState, failure: Failure) -> wasmtime::Error {
    let message = failure.to_string();
    host.violation.set(failure);
    wasmtime::Error::msg(message)
}

impl activity_context::Host for HostState {
    async fn heartbeat(&mut self, details: String) -> wasmtime::Result<bool> {
        let beats = self.heartbeats("heartbeat")?;
        if details.len() > self.max_payload {
            return Err(breach(
                self,
                Failure::new(
                    "PayloadTooLarge",
                    format!(
                        "the heartbeat's details are {} bytes; the limit is {} bytes",
                        details.len(),
                        self.max_payload
                    ),
                ),
            ));
        }
        let value: Value = serde_json::from_str(&details).map_err(|e| {
            breach(
                self,
                Failure::new(
                    "InvalidJson",
                    format!("the heartbeat's details are not valid JSON: {e}"),
                ),
            )
        })?;
        Ok(beats.beat(value))
    }

    async fn last_heartbeat(&mut self) -> wasmtime::Result<Option<String>> {
        let beats = self.heartbeats("last-heartbeat")?;
        Ok(beats.last().map(Value::to_string))
    }
}
