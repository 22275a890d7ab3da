//! Heartbeats: how a long activity attempt tells the host it is alive and how far it got, and
//! learns that it should stop; and the progress an earlier attempt of the same task reported.
//! Calls from an orchestrator fail it: only activities heartbeat.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::keel::workflow::activity_context as host;
use crate::failure::Failure;

/// Reports that this activity attempt is alive, with its progress `details`. The latest details
/// show in `keel status` and are given to the next attempt of the task ([`last_heartbeat`]).
///
/// Returns true when the attempt should stop: its task was canceled, its instance terminated, or
/// another worker took it over. The attempt may then clean up and return (what it returns is
/// dropped); one that goes on is stopped a few seconds later.
///
/// An attempt called with a heartbeat timeout
/// ([`ActivityOptions::heartbeat_timeout`](crate::ActivityOptions::heartbeat_timeout)) must
/// heartbeat at least that often.
///
/// # Panics
///
/// If `details` cannot be serialised to JSON (a faulty `Serialize` implementation or a map with
/// non-string keys): the attempt then fails with this message.
pub fn heartbeat<T: Serialize + ?Sized>(details: &T) -> bool {
    let details = match serde_json::to_string(details) {
        Ok(text) => text,
        Err(e) => panic!("the heartbeat's details cannot be serialised to JSON: {e}"),
    };
    host::heartbeat(&details)
}

/// The details of the last heartbeat an earlier attempt of this task reported (or an earlier run
/// of this attempt whose worker stopped), to resume from; `Ok(None)` when there was none.
///
/// # Errors
///
/// A failure of kind `InvalidInput` when the details do not deserialise into `T`.
pub fn last_heartbeat<T: DeserializeOwned>() -> Result<Option<T>, Failure> {
    host::last_heartbeat()
        .map(|text| {
            serde_json::from_str(&text).map_err(|e| {
                Failure::new(
                    "InvalidInput",
                    format!("the last heartbeat's details do not match the expected type: {e}"),
                )
            })
        })
        .transpose()
}
