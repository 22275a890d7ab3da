//! Queries: a client's read of a running instance's state through a handler its orchestrator
//! registered (`keel query ID NAME`).
//!
//! A query is answered by the instance's hot guest when a worker of this process keeps a current
//! one: taken out of its cache (a turn that comes meanwhile replays a guest of its own), handed the
//! query where it waits between turns, and given back once it answered. Its random generator is
//! restored after the handler, so that the orchestrator draws what a replay would; the handler's
//! writes to its own memory cannot be undone, which is why handlers must only read. Otherwise the
//! query gets a guest of its own: the current execution is replayed in memory from its history and
//! where the replay ends (the wait the orchestrator is suspended in) the guest's `wait-*` call hands
//! it the query instead of ending a turn; it answers through `answer-query` and is dropped. Both
//! run under the same CPU, memory and wall-clock limits as a turn and record nothing: a query sees
//! what the last committed turn left, and a handler that tries to schedule, wait, set the custom
//! status or continue as new fails the query (and drops a hot guest), never the instance.

use std::sync::atomic::Ordering;

use serde_json::Value;
use tokio::sync::oneshot;

use crate::engine::{Error, Keel, Result};
use crate::history::{Failure, HistoryEvent};
use crate::orchestration::hot::{HotInstance, Spawn};
use crate::orchestration::replay::LiveBatch;
use crate::store::Instance;
use keel_runtime::requests::PendingQuery;
use keel_runtime::turn::TurnEnd;

/// The kind of failure an SDK answers for a query no handler has.
const UNKNOWN_QUERY: &str = "UnknownQuery";

impl Keel {
    /// Asks the running instance `id` the query `name` with `input`, and returns its answer.
    /// `input` is JSON text, as a client sends it.
    pub async fn query(&self, id: &str, name: &str, input: &str) -> Result<Value> {
        let input = self.parse("query input", input)?;
        let instance = self.live_instance(id).await?;
        let failed = |failure: Failure| {
            if failure.kind == UNKNOWN_QUERY {
                Error::UnknownQuery {
                    id: id.to_owned(),
                    name: name.to_owned(),
                }
            } else {
                Error::QueryFailed {
                    id: id.to_owned(),
                    name: name.to_owned(),
                    failure: Box::new(failure),
                }
            }
        };
        let answer = match self.ask_hot(&instance, name, &input).await {
            Some(answer) => answer,
            None => self.ask_replayed(&instance, name, &input).await?,
        };
        answer.map_err(failed)
    }

    /// Asks the instance's hot guest, when a worker of this process keeps a current one; `None`
    /// when none does (or it went before it took the query).
    async fn ask_hot(
        &self,
        instance: &Instance,
        name: &str,
        input: &Value,
    ) -> Option<std::result::Result<Value, Failure>> {
        let shared = self.shared();
        let (cache, mut guest) = shared.hot_caches.take_if(&instance.id, |hot| {
            hot.execution == instance.execution && hot.history_len == instance.history_len
        })?;
        let (answer_tx, mut answer_rx) = oneshot::channel();
        guest
            .ask(PendingQuery {
                name: name.to_owned(),
                input: input.to_string(),
                answer: answer_tx,
            })
            .ok()?;
        shared.metrics.queries_hot.fetch_add(1, Ordering::Relaxed);
        let wall_ms = shared.config.limits.turn_wall_ms;
        let answered = async {
            tokio::select! {
                biased;
                answer = &mut answer_rx => match answer {
                    // Answered: the guest waits on, as it was.
                    Ok(answer) => Ok(answer),
                    // Stopped while answering (a handler that broke the rules, trapped or ran
                    // out of CPU): the guest is gone.
                    Err(_) => Err(ended_without_answer(guest.next_turn().await)),
                },
                end = guest.next_turn() => Err(ended_without_answer(end)),
            }
        };
        match tokio::time::timeout(std::time::Duration::from_millis(wall_ms), answered).await {
            Ok(Ok(answer)) => {
                let evicted = cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .give_back(instance.id.clone(), guest);
                shared
                    .metrics
                    .hot_evictions
                    .fetch_add(evicted, Ordering::Relaxed);
                Some(answer)
            }
            Ok(Err(failure)) => Some(Err(failure)),
            Err(_) => Some(Err(timed_out(wall_ms))),
        }
    }

    /// Asks a guest replayed for the query from the instance's recorded history.
    async fn ask_replayed(
        &self,
        instance: &Instance,
        name: &str,
        input: &Value,
    ) -> Result<std::result::Result<Value, Failure>> {
        let shared = self.shared();
        shared
            .metrics
            .queries_replayed
            .fetch_add(1, Ordering::Relaxed);
        let recorded = self
            .store()
            .execution_history(&instance.id, instance.execution)
            .await?;
        let module = shared.registry.load(&instance.module).await?;
        let (answer_tx, answer_rx) = oneshot::channel();
        let mut guest = HotInstance::spawn(Spawn {
            runtime: shared.registry.runtime(),
            module: &module,
            instance: &instance.id,
            execution: instance.execution,
            name: &instance.name,
            input: &instance.input,
            recorded,
            batch: LiveBatch {
                time_ms: shared.clock.now_ms(),
                ..LiveBatch::default()
            },
            clock: shared.clock.clone(),
            query: Some(PendingQuery {
                name: name.to_owned(),
                input: input.to_string(),
                answer: answer_tx,
            }),
        })
        .await
        .map_err(|e| Error::Runtime(e.to_string()))?;
        let wall_ms = shared.config.limits.turn_wall_ms;
        let answered = async {
            let mut answer_rx = answer_rx;
            tokio::select! {
                biased;
                // The guest answered or refused the query, or was stopped while answering it.
                answer = &mut answer_rx => match answer {
                    Ok(answer) => answer,
                    Err(_) => Err(ended_without_answer(guest.next_turn().await)),
                },
                // The replay ended the execution, or failed, before a wait took the query (an
                // answer sent just before the guest stopped still counts).
                end = guest.next_turn() => match answer_rx.try_recv() {
                    Ok(answer) => answer,
                    Err(_) => Err(ended_without_answer(end)),
                },
            }
        };
        Ok(
            match tokio::time::timeout(std::time::Duration::from_millis(wall_ms), answered).await {
                Ok(answer) => answer,
                Err(_) => Err(timed_out(wall_ms)),
            },
        )
    }
}

/// The failure of a query not answered within the turn's wall-clock limit.
fn timed_out(wall_ms: u64) -> Failure {
    Failure::new(
        "TurnTimeout",
        format!("the query was not answered within {wall_ms} ms of wall-clock time"),
    )
}

/// Why a query's guest stopped without answering, from how its turn ended.
fn ended_without_answer(end: Option<TurnEnd>) -> Failure {
    match end {
        Some(TurnEnd::Finished(events)) => match events.last() {
            Some(HistoryEvent::ExecutionFailed { failure }) => failure.clone(),
            Some(_) => Failure::new(
                "InstanceEnded",
                "the orchestrator returned before it waited: the instance is ending; \
                 queries are answered while it runs",
            ),
            None => Failure::new("HostError", "the query's guest stopped without an answer"),
        },
        Some(TurnEnd::Blocked(_)) | None => {
            Failure::new("HostError", "the query's guest stopped without an answer")
        }
    }
}
