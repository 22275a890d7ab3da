//! The clients' requests a waiting orchestrator serves: the query handed to a guest replayed to
//! answer it, or to a hot guest waiting between turns, and the updates handed over at waits
//! (validated read-only, then handled), with the updates rejected in live turns kept for the driver.
//! The waits themselves are in `turn.rs`; the host calls that use these, in `context.rs`.

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::oneshot;

use crate::history::Failure;
use crate::turn::OrchestrationState;
use keel_core::replay::UpdateRequest;

/// A client's query to the instance, for a guest replayed to answer it or a hot guest.
#[derive(Debug)]
pub struct PendingQuery {
    /// The query's name.
    pub name: String,
    /// Its argument, as JSON text.
    pub input: String,
    /// Where the answer goes: the handler's result, or why there is none.
    pub answer: oneshot::Sender<Result<Value, Failure>>,
}

/// What a wait gave the guest: the tasks' outcomes, or a query or an update to serve first.
pub(crate) enum Woken<T> {
    Done(T),
    Query { name: String, input: String },
    Update(UpdateRequest),
}

/// Which waits a guest calls, and so which requests it can be handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Takes {
    /// `await-*`: neither queries nor updates (an SDK from before queries).
    Nothing,
    /// `wait-*`: queries (an SDK from before updates).
    Queries,
    /// `wait-*-or-request`: queries and updates.
    Requests,
}

/// The updates a live turn rejected, with why: the driver commits them with the turn (they are
/// not in the history) for the clients waiting on them.
pub type Rejections = Arc<Mutex<Vec<(String, Failure)>>>;

/// Where the guest is in serving an update it was handed.
#[derive(Debug)]
pub enum Serving {
    /// Its validator runs (read-only); `recorded`: the history holds it as accepted (replay).
    Validating {
        update: UpdateRequest,
        recorded: bool,
    },
    /// Its handler runs.
    Handling { id: String },
}

/// Why a guest waiting with `await-*` cannot take a query.
pub(crate) fn queries_unsupported() -> Failure {
    Failure::new(
        "QueriesUnsupported",
        "the orchestrator waits with await-all or await-any, which cannot take queries: it was \
         built with an SDK from before queries; rebuild it with this one",
    )
}

impl OrchestrationState {
    /// Hands the pending query to a guest whose replay reached the instance's current state; a
    /// guest waiting with `await-*` (an SDK from before queries) cannot take it.
    pub(crate) fn hand_over_query<T>(&mut self, queries: bool) -> wasmtime::Result<Woken<T>> {
        let Some(query) = self.query.take() else {
            return Err(wasmtime::Error::msg("no query to hand over"));
        };
        if !queries {
            let _ = query.answer.send(Err(queries_unsupported()));
            self.evicted = true;
            return Err(wasmtime::Error::msg("query refused"));
        }
        self.answering = Some(query.answer);
        self.sync();
        Ok(Woken::Query {
            name: query.name,
            input: query.input,
        })
    }

    /// Rejects the updates delivered to a guest whose waits cannot take them.
    pub(crate) fn refuse_updates(&mut self) {
        let refused = self.core.drain_updates();
        if refused.is_empty() {
            return;
        }
        let mut rejected = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        for update in refused {
            rejected.push((
                update.id,
                Failure::new(
                    "UpdatesUnsupported",
                    "the orchestrator waits with await-* or wait-*, which cannot take updates: it \
                     was built with an SDK from before updates; rebuild it with this one",
                ),
            ));
        }
    }

    /// Takes the validator's verdict on the update the guest was handed; returns whether its
    /// handler runs. A live rejection records nothing and goes to the driver.
    pub(crate) fn accept_update(&mut self, verdict: Result<(), Failure>) -> wasmtime::Result<bool> {
        let Some(Serving::Validating { update, recorded }) = self.serving.take() else {
            return Err(self.fatal(Failure::new(
                "ContextMisuse",
                "accept-update was called without an update to validate",
            )));
        };
        if recorded {
            self.serving = Some(Serving::Handling { id: update.id });
            return Ok(true);
        }
        match verdict {
            Ok(()) => {
                self.serving = Some(Serving::Handling {
                    id: update.id.clone(),
                });
                self.core.accept_update(update);
                Ok(true)
            }
            Err(failure) => {
                let mut rejected = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
                rejected.push((update.id, failure));
                Ok(false)
            }
        }
    }

    /// Records the handler's result for the update the guest accepted.
    pub(crate) fn answer_update(&mut self, answer: Result<Value, Failure>) -> wasmtime::Result<()> {
        let Some(Serving::Handling { id }) = self.serving.take() else {
            return Err(self.fatal(Failure::new(
                "ContextMisuse",
                "answer-update was called without an accepted update to answer",
            )));
        };
        self.core
            .finish_update(id, answer)
            .map_err(|nd| self.fatal(Failure::new("NonDeterminism", nd.to_string())))
    }

    /// Takes the guest's answer to the query it was handed. A guest replayed to answer it is
    /// stopped (it has done its job); a hot guest waits again.
    pub(crate) fn answer(&mut self, answer: Result<Value, Failure>) -> wasmtime::Result<()> {
        let Some(to) = self.answering.take() else {
            return Err(self.fatal(Failure::new(
                "ContextMisuse",
                "answer-query was called without a query to answer",
            )));
        };
        let _ = to.send(answer);
        if self.queries.is_some() {
            self.sync();
            Ok(())
        } else {
            self.evicted = true;
            Err(wasmtime::Error::msg("query answered"))
        }
    }
}
