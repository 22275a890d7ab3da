//! Updates: a client's change to a running instance that waits for the orchestrator's response
//! (`keel update ID NAME`), as Temporal's workflow updates.
//!
//! An update travels like a raised event: one transaction stores it (under the client's id, or a
//! generated one) and queues an `Update` message for the instance. The orchestrator is handed it at
//! its next wait: its validator runs first, read-only; a rejected update records nothing in the
//! history. An accepted one is recorded (`UpdateAccepted`), its handler runs and its result is
//! recorded (`UpdateCompleted` or `UpdateFailed`), in the turn's commit, which also stores the
//! outcome for the client. A replay hands the recorded update over at the same wait again, so that
//! the handler's changes to the orchestrator's state are rebuilt.
//!
//! The client waits for the outcome up to a bound of its own; after it, the update is still sent and
//! its outcome can be fetched again by its id, which also makes a retried request with the same id
//! wait on the same update rather than send a second one.

use std::time::Duration;

use serde_json::Value;

use crate::engine::{Error, Keel, Result};
use crate::history::Failure;
use crate::store::{Incarnation, Message, NewUpdate, OutMessage, UpdateRow, UpdateState};

/// The kind of failure an SDK rejects an update with when no handler has its name.
const UNKNOWN_UPDATE: &str = "UnknownUpdate";

/// How often a waiting client reads the update again, besides the store's commit notifications
/// (which do not cover another process's commits on SQLite).
const POLL: Duration = Duration::from_millis(100);

/// What a client gets back for an update it waited for.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateReply {
    /// The update's id.
    pub update_id: String,
    /// The handler's result, or `None` if the orchestrator had not served it within the wait.
    pub result: Option<Value>,
}

impl Keel {
    /// Sends the update `name` with `input` (JSON text) to the running instance `id`, and waits up to
    /// `wait` for its result. With `update_id`, an update of that id the instance already has is
    /// waited on instead of sending another (the same name and input are required).
    pub async fn update(
        &self,
        id: &str,
        name: &str,
        input: &str,
        update_id: Option<&str>,
        wait: Duration,
    ) -> Result<UpdateReply> {
        self.name("update name", name)?;
        if let Some(update_id) = update_id {
            self.name("update id", update_id)?;
        }
        let input = self.parse("update input", input)?;
        let instance = self.live_instance(id).await?;
        let limit = self.shared().config.max_inbox_events;
        if self.store().waiting_events(id).await? >= u64::from(limit) {
            return Err(Error::InboxFull {
                id: id.to_owned(),
                limit,
            });
        }
        let update_id = update_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let now = self.shared().clock.now_ms();
        let row = UpdateRow {
            instance: id.to_owned(),
            id: update_id.clone(),
            name: name.to_owned(),
            input: input.clone(),
            state: UpdateState::Requested,
            outcome: None,
            requested_ms: now,
            finished_ms: None,
        };
        let message = OutMessage {
            instance: id.to_owned(),
            execution: None,
            // As for an event: the incarnation found live, or nobody.
            incarnation: Incarnation::Run(instance.run),
            message: Message::Update {
                id: update_id.clone(),
                name: name.to_owned(),
                input: input.clone(),
            },
            visible_at: now,
        };
        let stored = self
            .store()
            .request_update(NewUpdate { row, message })
            .await?;
        if stored.name != name || stored.input != input {
            return Err(Error::UpdateIdReused {
                id: id.to_owned(),
                update_id,
                name: stored.name,
            });
        }
        self.await_update(stored, wait).await
    }

    /// The outcome of the update `name` of instance `id` whose id is `update_id`, waiting up to
    /// `wait` for it.
    pub async fn update_result(
        &self,
        id: &str,
        name: &str,
        update_id: &str,
        wait: Duration,
    ) -> Result<UpdateReply> {
        let row = self
            .store()
            .update(id, update_id)
            .await?
            .filter(|row| row.name == name)
            .ok_or_else(|| Error::UnknownUpdateId {
                id: id.to_owned(),
                update_id: update_id.to_owned(),
            })?;
        self.await_update(row, wait).await
    }

    /// Waits until `row` is served or `wait` has passed.
    async fn await_update(&self, mut row: UpdateRow, wait: Duration) -> Result<UpdateReply> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before the read, so that a commit between the two is not missed.
            let changed = self.store().changed().clone();
            let notified = changed.notified();
            if row.state != UpdateState::Requested {
                return outcome(row);
            }
            if let Some(ended) = self.ended_before_serving(&row).await? {
                return outcome(ended);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(UpdateReply {
                    update_id: row.id,
                    result: None,
                });
            }
            let nap = POLL.min(deadline - now);
            let _ = tokio::time::timeout(nap, notified).await;
            row = self
                .store()
                .update(&row.instance, &row.id)
                .await?
                .ok_or_else(|| Error::UnknownUpdateId {
                    id: row.instance.clone(),
                    update_id: row.id.clone(),
                })?;
        }
    }

    /// An update its instance will never serve, because the instance ended (or is gone) with the
    /// update unserved: rejected, as nothing of it was recorded.
    async fn ended_before_serving(&self, row: &UpdateRow) -> Result<Option<UpdateRow>> {
        let status = self
            .store()
            .instance(&row.instance)
            .await?
            .map(|i| i.status);
        if status.is_some_and(|s| !s.is_terminal()) {
            return Ok(None);
        }
        // It may have been served in the instance's last turn: read it once more.
        if let Some(served) = self.store().update(&row.instance, &row.id).await?
            && served.state != UpdateState::Requested
        {
            return Ok(Some(served));
        }
        let why = match status {
            Some(status) => format!("the instance ended ({status}) before it took the update"),
            None => "the instance is gone".to_owned(),
        };
        let failure = Failure::new("InstanceEnded", why);
        Ok(Some(UpdateRow {
            state: UpdateState::Rejected,
            outcome: serde_json::to_value(&failure).ok(),
            ..row.clone()
        }))
    }
}

/// The reply for a served update, or the error that says why it has no result.
fn outcome(row: UpdateRow) -> Result<UpdateReply> {
    let failure = || {
        row.outcome
            .clone()
            .and_then(|v| serde_json::from_value::<Failure>(v).ok())
            .unwrap_or_else(|| Failure::new("Unknown", "the stored failure could not be read"))
    };
    match row.state {
        UpdateState::Completed => Ok(UpdateReply {
            update_id: row.id,
            result: Some(row.outcome.unwrap_or(Value::Null)),
        }),
        UpdateState::Rejected if failure().kind == UNKNOWN_UPDATE => Err(Error::UnknownUpdate {
            id: row.instance,
            name: row.name,
        }),
        UpdateState::Rejected => Err(Error::UpdateRejected {
            id: row.instance,
            name: row.name,
            update_id: row.id,
            failure: Box::new(failure()),
        }),
        UpdateState::Failed => Err(Error::UpdateFailed {
            id: row.instance,
            name: row.name,
            update_id: row.id,
            failure: Box::new(failure()),
        }),
        UpdateState::Requested => Ok(UpdateReply {
            update_id: row.id,
            result: None,
        }),
    }
}
