//! The turn driver: claims instances with messages, runs one turn each on a hot or replayed guest,
//! and commits the turn's events and side effects in one transaction.
//!
//! It decides what a turn's new events mean for the store (work items, timers, children, parent
//! notifications) and never interprets a guest call itself; that is the replay core's job.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use tracing::Instrument;

use super::hot::{HotInstance, Spawn};
use super::hot_cache::HotCache;
use super::replay::{LiveBatch, UpdateRequest};
use crate::activity::{Turns, Workers};
use crate::history::{Failure, HistoryEvent, ParentRef};
use crate::shared::Shared;
use crate::slots::{Slots, Taken};
use crate::store::{
    AfterFailure, Incarnation, Instance, LogLine, Message, NewInstance, NewWorkItem, OutMessage,
    Status, Store, TurnCommit, TurnFailed, UpdateDone, UpdateState, WorkItem,
};
use keel_runtime::turn::TurnEnd;

/// Errors of one turn.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// The module could not be loaded.
    #[error(transparent)]
    Module(#[from] crate::module::Error),
    /// The guest could not be started.
    #[error("{0}")]
    Spawn(String),
    /// The guest task ended without reporting its turn.
    #[error("the orchestrator of instance {0} stopped without finishing its turn")]
    Lost(String),
}

/// Runs turns for claimed instances.
pub(crate) struct Driver {
    pub(crate) shared: Arc<Shared>,
    pub(crate) hot: Arc<Mutex<HotCache>>,
    pub(crate) slots: Slots,
    /// Runs the activities a turn schedules without a separate claim.
    pub(crate) workers: Arc<Workers>,
}

impl Turns for Driver {
    fn offer_result<'a>(
        &'a self,
        item: &'a WorkItem,
        event: HistoryEvent,
        logs: &'a [LogLine],
    ) -> BoxFuture<'a, bool> {
        Box::pin(Driver::offer_result(self, item, event, logs))
    }

    fn try_take_slot(&self) -> Option<Taken> {
        self.slots.try_take_one()
    }

    fn run_turn(self: Arc<Self>, id: String, slot: Option<Taken>) {
        self.dispatch(id, slot);
    }
}

impl Driver {
    fn store(&self) -> &Store {
        &self.shared.store
    }

    fn hot(&self) -> std::sync::MutexGuard<'_, HotCache> {
        self.hot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims up to `due` instances with visible messages and runs their turns, no more than the free
    /// slots (taken before the claim, so that this worker leases only what it can run now). Returns
    /// how many were claimed.
    pub(crate) async fn poll(self: &Arc<Self>, due: usize) -> Result<usize, Error> {
        let Some(mut slots) = self.slots.take_up_to(due) else {
            return Ok(0);
        };
        let free = slots.count();
        let now = self.shared.clock.now_ms();
        let lease = self.shared.config.lease_ms;
        let ids = self
            .store()
            .claim_instances(
                &self.shared.owner,
                now,
                now.saturating_add(lease),
                u32::try_from(free).unwrap_or(u32::MAX),
            )
            .await?;
        let claimed = ids.len();
        for id in ids {
            self.dispatch(id, slots.one());
        }
        Ok(claimed)
    }

    /// Runs the turn of an instance this worker has leased, in `slot` (or as soon as one is free).
    pub(crate) fn dispatch(self: &Arc<Self>, id: String, slot: Option<Taken>) {
        let driver = self.clone();
        // A root span, whoever dispatched the turn (a poll, or the attempt whose result claimed it).
        let span = tracing::info_span!(
            parent: None,
            "orchestration.turn",
            instance = %id,
            execution = tracing::field::Empty,
            name = tracing::field::Empty,
        );
        let hold = self.shared.held.instance(&id);
        tokio::spawn(
            async move {
                let _hold = hold;
                let slot = match slot {
                    Some(slot) => slot,
                    None => match driver.slots.take_one().await {
                        Some(slot) => slot,
                        None => return,
                    },
                };
                let started = std::time::Instant::now();
                let result = driver.turn(&id).await;
                let metrics = &driver.shared.metrics;
                if result.is_ok() {
                    metrics
                        .turns
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    metrics.turn_latency.observe(started.elapsed());
                } else {
                    metrics
                        .turns_abandoned
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                if let Err(e) = result {
                    driver.hot().take(&id);
                    driver.turn_failed(&id, &e).await;
                }
                drop(slot);
            }
            .instrument(span),
        );
    }

    /// After a turn that could not run or commit: a lost race (the lease or the history moved on)
    /// just lets the instance go; any other failure is counted, backs the next turn off, and parks
    /// the instance after `max_turn_failures` in a row, so a poisoned row costs a few tries, not a
    /// spinning worker.
    async fn turn_failed(&self, id: &str, error: &Error) {
        let owner = &self.shared.owner;
        if matches!(
            error,
            Error::Store(crate::store::Error::Conflict(_) | crate::store::Error::Closed)
        ) {
            tracing::debug!(error = %error, "turn abandoned");
            let _ = self.store().release_instance(id, owner).await;
            return;
        }
        let config = &self.shared.config;
        let failed = TurnFailed {
            id: id.to_owned(),
            owner: owner.clone(),
            reason: error.to_string(),
            now: self.shared.clock.now_ms(),
            backoff_ms: config.turn_retry_ms,
            max_backoff_ms: config.turn_retry_max_ms,
            max_failures: config.max_turn_failures,
        };
        match self.store().turn_failed(failed).await {
            Ok(AfterFailure::Parked) => {
                self.shared
                    .metrics
                    .instances_parked
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(error = %error, "instance parked: its turns keep failing outside the orchestrator; fix the cause, then `keel resume`");
            }
            Ok(AfterFailure::RetryAt(at)) => {
                tracing::warn!(error = %error, retry_at_ms = at, "turn failed; it will be retried");
            }
            Ok(AfterFailure::NotLeased) => tracing::warn!(error = %error, "turn failed"),
            Err(e) => {
                tracing::error!(error = %error, store_error = %e, "turn failed and could not be recorded");
                let _ = self.store().release_instance(id, owner).await;
            }
        }
    }

    /// Runs one turn of a claimed instance.
    async fn turn(&self, id: &str) -> Result<(), Error> {
        let now = self.shared.clock.now_ms();
        let Some(instance) = self.store().instance(id).await? else {
            return Ok(());
        };
        let span = tracing::Span::current();
        span.record("execution", instance.execution);
        span.record("name", instance.name.as_str());
        let inbox = self.store().inbox(id, now).await?;
        let mut plan = Plan::new(&instance);
        // The start goes first: a suspend (or an event) that another process's clock ordered before
        // it still comes after it, since nothing can happen to an instance before it starts.
        let (starts, others): (Vec<_>, Vec<_>) = inbox
            .into_iter()
            .partition(|(_, _, message)| matches!(message, Message::Start));
        for (row, execution, message) in starts.into_iter().chain(others) {
            plan.add(row, execution, message);
        }
        let mut commit = TurnCommit::of(&instance, &self.shared.owner, now);
        commit.consumed = plan.consumed;
        if instance.status.is_terminal() {
            // Late messages (a timer, a duplicate result) for an ended instance are dropped.
            self.store().commit_turn(commit).await?;
            return Ok(());
        }
        if let Some((reason, abandon_children)) = plan.terminate {
            self.hot().take(id);
            if !abandon_children {
                // Its running children go too, each recording why (and theirs, in their turn):
                // its own, not those an earlier incarnation of its id abandoned, and each only while
                // the child's id still belongs to the child it started.
                let children = self
                    .store()
                    .running_children(id, instance.run.as_deref())
                    .await?;
                for (child, run) in children {
                    commit.messages.push(OutMessage {
                        instance: child,
                        execution: None,
                        incarnation: Incarnation::Run(run),
                        message: Message::Terminate {
                            reason: format!("its parent {id} was terminated: {reason}"),
                            abandon_children: false,
                        },
                        visible_at: now,
                    });
                }
            }
            let failure = Failure::new("Terminated", format!("terminated: {reason}"));
            commit
                .events
                .push(HistoryEvent::ExecutionTerminated { reason });
            commit.status = Status::Terminated;
            commit.failure = Some(failure.clone());
            notify_parent(&instance, Err(failure), &mut commit);
            self.store().commit_turn(commit).await?;
            return Ok(());
        }
        if instance.history_len == 0 && !plan.start {
            // Suspended before its first turn: only the status changes; the start waits in the inbox
            // until a resume, after which it is claimed again.
            commit.status = if plan.suspended {
                Status::Suspended
            } else {
                Status::Pending
            };
            self.store().commit_turn(commit).await?;
            return Ok(());
        }
        if plan.messages.is_empty() && plan.updates.is_empty() && !plan.start && !plan.wake {
            // Nothing for the guest (stale messages, or a suspended instance's held messages).
            self.store().commit_turn(commit).await?;
            return Ok(());
        }
        if plan.start {
            plan.messages.insert(
                0,
                HistoryEvent::ExecutionStarted {
                    name: instance.name.clone(),
                    module: instance.module.clone(),
                    input: instance.input.clone(),
                    parent: instance.parent.clone(),
                },
            );
        }
        let batch = LiveBatch {
            time_ms: now,
            messages: plan.messages,
            updates: plan.updates,
        };
        let delivered = batch.messages.clone();
        let mut hot = self.activate(&instance, batch).await?;
        let ran = self.run_guest(&mut hot, id, instance.history_len).await?;
        let (ran, local_logs) = self.run_local(&mut hot, &instance, ran, now).await?;
        commit.logs = local_logs;
        let (events, finished) = match ran {
            Ran::Turn { events, finished } => (events, finished),
            Ran::Stopped(failure) => {
                // The guest was stopped by the host: record the turn's messages and the failure.
                commit.logs = guest_lines(&instance, &hot);
                commit.updates = rejected_updates(&hot);
                drop(hot);
                let mut events = vec![HistoryEvent::OrchestratorStarted { time_ms: now }];
                events.extend(delivered);
                events.push(HistoryEvent::ExecutionFailed { failure });
                self.commit_failed_turn(&instance, events, commit).await?;
                return Ok(());
            }
        };
        commit.status = if plan.suspended {
            Status::Suspended
        } else {
            Status::Running
        };
        let (committed, slots) = self
            .commit_ran(Box::new(instance), hot, events, finished, commit)
            .await?;
        self.workers.dispatch(committed, slots);
        Ok(())
    }

    /// Offers an activity's result to the hot guest of the instance waiting for it, in the worker
    /// that ran the attempt: the turn runs at once, without reading the store, and the result, the
    /// turn's events and what it schedules commit in one transaction (one flush per step of a
    /// chain, where the result alone and then the turn took two). The commit removes the work item
    /// while it is still leased to this worker, and only if nothing else moved the instance (its
    /// lease, history length, status, incarnation). Returns whether it committed; if not, nothing
    /// was written, the guest is dropped, and the caller commits the result to the inbox as usual.
    pub(crate) async fn offer_result(
        &self,
        item: &WorkItem,
        event: HistoryEvent,
        logs: &[LogLine],
    ) -> bool {
        let taken = self.hot().take_if(&item.instance, |hot| {
            hot.execution == item.execution
                && hot
                    .row
                    .as_ref()
                    .is_some_and(|row| row.status == Status::Running && row.run == item.run)
        });
        let Some(mut hot) = taken else {
            return false;
        };
        let Some(row) = hot.row.take() else {
            return false;
        };
        let Some(_slot) = self.slots.take_one().await else {
            return false;
        };
        let span = tracing::info_span!(
            parent: None,
            "orchestration.turn",
            instance = %item.instance,
            execution = item.execution,
            name = %row.name,
        );
        let started = std::time::Instant::now();
        let committed = self
            .result_turn(item, event, logs, hot, row)
            .instrument(span)
            .await;
        let metrics = &self.shared.metrics;
        match committed {
            Some((items, slots)) => {
                metrics
                    .turns
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics
                    .hot_hits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics
                    .results_with_turn
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics.turn_latency.observe(started.elapsed());
                self.workers.dispatch(items, slots);
                true
            }
            None => false,
        }
    }

    async fn result_turn(
        &self,
        item: &WorkItem,
        event: HistoryEvent,
        logs: &[LogLine],
        mut hot: HotInstance,
        row: Box<Instance>,
    ) -> Option<(Vec<WorkItem>, Option<Taken>)> {
        let now = self.shared.clock.now_ms();
        let batch = LiveBatch {
            time_ms: now,
            messages: vec![event],
            updates: Vec::new(),
        };
        if !hot.deliver(batch) {
            return None;
        }
        // A guest the host has to stop (wall-clock limit, history bound) is left to the ordinary
        // turn, which records why.
        let ran = self
            .run_guest(&mut hot, &row.id, row.history_len)
            .await
            .ok()?;
        let Ok((Ran::Turn { events, finished }, local_logs)) =
            self.run_local(&mut hot, &row, ran, now).await
        else {
            return None;
        };
        // The row was checked to be running when the guest was taken.
        let mut commit = TurnCommit::of(&row, &self.shared.owner, now);
        commit.finishes = Some(item.id);
        commit.logs = logs.to_vec();
        commit.logs.extend(local_logs);
        match self.commit_ran(row, hot, events, finished, commit).await {
            Ok(claimed) => Some(claimed),
            Err(e) => {
                tracing::debug!(error = %e, "the result's turn did not commit; the result goes to the inbox");
                None
            }
        }
    }

    /// Resumes `hot` for the batch delivered to it and waits for the end of its turn, within the
    /// turn's wall-clock limit and the history bound.
    pub(super) async fn run_guest(
        &self,
        hot: &mut HotInstance,
        id: &str,
        history_len: u32,
    ) -> Result<Ran, Error> {
        let wall_ms = self.shared.config.limits.turn_wall_ms;
        let end = match tokio::time::timeout(Duration::from_millis(wall_ms), hot.next_turn()).await
        {
            Ok(end) => end.ok_or_else(|| Error::Lost(id.to_owned()))?,
            // The guest waits on something outside Keel (a WASI sleep, which the virtual clock does
            // not cover).
            Err(_) => {
                return Ok(Ran::Stopped(Failure::new(
                    "TurnTimeout",
                    format!(
                        "the orchestrator's turn did not finish within {wall_ms} ms of wall-clock \
                         time: it waited on something outside Keel (such as a sleep); \
                         orchestrators wait with durable timers"
                    ),
                )));
            }
        };
        let (events, finished) = match end {
            TurnEnd::Blocked(events) => (events, false),
            TurnEnd::Finished(events) => (events, true),
        };
        let len = u64::from(history_len).saturating_add(events.len() as u64);
        let max = u64::from(self.shared.config.max_history_events);
        if len > max {
            return Ok(Ran::Stopped(Failure::new(
                "HistoryTooLarge",
                format!(
                    "this turn would take the execution's history to {len} events, over the \
                     limit of {max}: an orchestration that loops for long should continue as new \
                     (`continue_as_new`), which starts the next execution with an empty history"
                ),
            )));
        }
        if len > max / 5 && u64::from(history_len) <= max / 5 {
            tracing::warn!(
                events = len,
                limit = max,
                "the execution's history is past a fifth of its limit; continue as new before it fails"
            );
        }
        Ok(Ran::Turn { events, finished })
    }

    /// Commits a turn the guest ran to its end (`commit.status` set by the caller), and keeps the
    /// guest hot with the row as committed. Returns the work items leased to this worker, with the
    /// activity slots taken for them: as many new work items as there were free slots are leased.
    async fn commit_ran(
        &self,
        mut row: Box<Instance>,
        mut hot: HotInstance,
        events: Vec<HistoryEvent>,
        finished: bool,
        mut commit: TurnCommit,
    ) -> Result<(Vec<WorkItem>, Option<Taken>), Error> {
        self.apply_events(&row, &events, &mut commit).await?;
        commit.updates.extend(rejected_updates(&hot));
        commit.logs.extend(guest_lines(&row, &hot));
        let new_len = row.history_len + u32::try_from(events.len()).unwrap_or(u32::MAX);
        commit.events = events;
        // The lease of the work handed to this worker starts now, not when the turn started: loading,
        // compiling or replaying the guest may have taken longer than a lease, and a lease that is
        // over when it is written lets a poll claim the same work item again (a duplicate attempt).
        let slots = self.workers.slots.take_up_to(commit.work_items.len());
        commit.claim_work = Some((
            self.shared
                .clock
                .now_ms()
                .saturating_add(self.shared.config.lease_ms),
            slots.as_ref().map_or(0, Taken::count),
        ));
        let status = commit.status;
        let custom_status = commit.custom_status.clone();
        let now = commit.now;
        let committed = self.store().commit_turn(commit).await?;
        if !finished {
            row.history_len = new_len;
            row.status = status;
            row.updated_at = now;
            if custom_status.is_some() {
                row.custom_status = custom_status;
            }
            let id = row.id.clone();
            hot.history_len = new_len;
            hot.row = Some(row);
            let evicted = self.hot().put(id, hot);
            self.shared
                .metrics
                .hot_evictions
                .fetch_add(evicted, std::sync::atomic::Ordering::Relaxed);
        }
        Ok((committed, slots))
    }

    /// Commits a turn whose guest was stopped by the host (the wall-clock limit, the history bound),
    /// with `events` ending in the execution's failure.
    async fn commit_failed_turn(
        &self,
        instance: &Instance,
        events: Vec<HistoryEvent>,
        mut commit: TurnCommit,
    ) -> Result<(), Error> {
        commit.status = Status::Running;
        self.apply_events(instance, &events, &mut commit).await?;
        commit.events = events;
        self.store().commit_turn(commit).await?;
        Ok(())
    }

    /// The instance's guest with `batch` delivered: the hot one if it is current, else a new one that
    /// replays the recorded history first.
    async fn activate(&self, instance: &Instance, batch: LiveBatch) -> Result<HotInstance, Error> {
        let hot = self.hot().take(&instance.id);
        if let Some(hot) = hot
            && hot.execution == instance.execution
            && hot.history_len == instance.history_len
            && hot.deliver(batch.clone())
        {
            self.shared
                .metrics
                .hot_hits
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(hot);
        }
        self.shared
            .metrics
            .replays
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let recorded = self
            .store()
            .execution_history(&instance.id, instance.execution)
            .await?;
        let module = self.shared.registry.load(&instance.module).await?;
        HotInstance::spawn(Spawn {
            runtime: self.shared.registry.runtime(),
            module: &module,
            instance: &instance.id,
            execution: instance.execution,
            name: &instance.name,
            input: &instance.input,
            recorded,
            batch,
            clock: self.shared.clock.clone(),
            query: None,
        })
        .await
        .map_err(|e| Error::Spawn(e.to_string()))
    }

    /// Derives the store changes a turn's new events call for.
    async fn apply_events(
        &self,
        instance: &Instance,
        events: &[HistoryEvent],
        commit: &mut TurnCommit,
    ) -> Result<(), Error> {
        // Local calls that resolved in the turn need no work item; the others continue as one.
        let local = super::local::continuation(events);
        for event in events {
            match event {
                HistoryEvent::TaskScheduled {
                    id,
                    name,
                    input,
                    options,
                } => {
                    let (attempt, not_before) = match local.get(id) {
                        Some(Some((attempt, at))) => (*attempt, Some(*at)),
                        Some(None) => (1, None),
                        None if options.local => continue,
                        None => (1, None),
                    };
                    commit.work_items.push(NewWorkItem {
                        task_id: *id,
                        name: name.clone(),
                        input: input.clone(),
                        options: options.clone(),
                        attempt,
                        not_before,
                    })
                }
                HistoryEvent::TimerCreated { id, fire_at_ms } => commit.messages.push(OutMessage {
                    instance: instance.id.clone(),
                    execution: Some(instance.execution),
                    // Written with the turn, whose commit is conditional on this incarnation; a
                    // reuse of the id purges the inbox.
                    incarnation: Incarnation::Any,
                    message: Message::Deliver {
                        event: HistoryEvent::TimerFired { id: *id },
                    },
                    visible_at: *fire_at_ms,
                }),
                HistoryEvent::SubOrchestrationCreated {
                    id,
                    name,
                    instance: child,
                    input,
                } => match self.store().active_function(name, "orchestrator").await? {
                    Some(module) => commit.children.push(NewInstance {
                        id: child.clone(),
                        name: name.clone(),
                        module,
                        input: input.clone(),
                        parent: Some(ParentRef {
                            instance: instance.id.clone(),
                            execution: instance.execution,
                            task_id: *id,
                            run: instance.run.clone(),
                        }),
                    }),
                    None => commit.messages.push(OutMessage {
                        instance: instance.id.clone(),
                        execution: Some(instance.execution),
                        incarnation: Incarnation::Any,
                        message: Message::Deliver {
                            event: HistoryEvent::SubOrchestrationFailed {
                                id: *id,
                                failure: Failure::new(
                                    "OrchestratorNotFound",
                                    format!("no orchestrator named {name} is deployed"),
                                ),
                            },
                        },
                        visible_at: commit.now,
                    }),
                },
                HistoryEvent::CustomStatusSet { status } => {
                    commit.custom_status = Some(status.clone())
                }
                HistoryEvent::TaskCanceled { id, child } => {
                    cancel_task(instance, *id, child, commit)
                }
                HistoryEvent::UpdateCompleted { update_id, output } => {
                    commit.updates.push(UpdateDone {
                        id: update_id.clone(),
                        state: UpdateState::Completed,
                        outcome: output.clone(),
                    })
                }
                HistoryEvent::UpdateFailed { update_id, failure } => {
                    commit.updates.push(UpdateDone {
                        id: update_id.clone(),
                        state: UpdateState::Failed,
                        outcome: json_of(failure),
                    })
                }
                HistoryEvent::ExecutionCompleted { output } => {
                    commit.status = Status::Completed;
                    commit.output = Some(output.clone());
                    notify_parent(instance, Ok(output.clone()), commit);
                }
                HistoryEvent::ExecutionFailed { failure } => {
                    commit.status = Status::Failed;
                    commit.failure = Some(failure.clone());
                    notify_parent(instance, Err(failure.clone()), commit);
                }
                HistoryEvent::ContinuedAsNew { input, carried } => {
                    commit.status = Status::ContinuedAsNew;
                    commit.next_execution = Some(input.clone());
                    // Raised again to the next execution, in their order, after its start.
                    for event in carried {
                        commit.messages.push(OutMessage {
                            instance: instance.id.clone(),
                            execution: Some(instance.execution + 1),
                            incarnation: Incarnation::Any,
                            message: Message::Deliver {
                                event: HistoryEvent::EventRaised {
                                    name: event.name.clone(),
                                    data: event.data.clone(),
                                },
                            },
                            visible_at: commit.now,
                        });
                    }
                    // The next execution and the `keep_executions - 1` before it keep their histories.
                    let keep = self.shared.config.keep_executions.max(1);
                    commit.prune_history_before =
                        Some((instance.execution + 1).saturating_sub(keep - 1));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Drops every hot instance (used at shutdown).
    pub(crate) fn evict_all(&self) {
        self.hot().clear();
    }

    /// Number of hot instances.
    pub(crate) fn hot_len(&self) -> usize {
        self.hot().len()
    }

    /// Bytes of guest memory and tables the hot instances hold.
    pub(crate) fn hot_bytes(&self) -> usize {
        self.hot().bytes()
    }
}

/// What a canceled task stands for stops: an activity or a sub-orchestration scheduled in this
/// very turn is never written; an activity scheduled before loses its work item (a running attempt
/// is stopped at its next lease renewal); a running sub-orchestration is terminated. A timer or an
/// event wait needs nothing: what resolves it later is ignored.
fn cancel_task(instance: &Instance, id: u32, child: &Option<String>, commit: &mut TurnCommit) {
    if let Some(at) = commit.work_items.iter().position(|w| w.task_id == id) {
        commit.work_items.remove(at);
        return;
    }
    let Some(child) = child else {
        commit.canceled_tasks.push(id);
        return;
    };
    if let Some(at) = commit.children.iter().position(|c| &c.id == child) {
        commit.children.remove(at);
        return;
    }
    commit.messages.push(OutMessage {
        instance: child.clone(),
        execution: None,
        // The child's run token is not in the parent's history: the message goes to whichever
        // instance holds its id; one that has ended drops it.
        incarnation: Incarnation::Any,
        message: Message::Terminate {
            reason: format!("its parent {} canceled it", instance.id),
            abandon_children: false,
        },
        visible_at: commit.now,
    });
}

/// The updates the guest rejected since they were last taken, as the turn's commit stores them.
fn rejected_updates(hot: &HotInstance) -> Vec<UpdateDone> {
    let mut rejected = hot.rejected.lock().unwrap_or_else(|e| e.into_inner());
    rejected
        .drain(..)
        .map(|(id, failure)| UpdateDone {
            id,
            state: UpdateState::Rejected,
            outcome: json_of(&failure),
        })
        .collect()
}

fn json_of(failure: &Failure) -> serde_json::Value {
    serde_json::to_value(failure).unwrap_or(serde_json::Value::Null)
}

/// The lines the orchestrator of `instance` wrote since they were last taken.
fn guest_lines(instance: &Instance, hot: &HotInstance) -> Vec<LogLine> {
    crate::log_lines::Writer {
        instance: &instance.id,
        execution: instance.execution,
        source: &instance.name,
        task: None,
    }
    .lines(hot.logs.take_lines())
}

fn notify_parent(
    instance: &Instance,
    result: Result<serde_json::Value, Failure>,
    commit: &mut TurnCommit,
) {
    let Some(parent) = &instance.parent else {
        return;
    };
    let event = match result {
        Ok(output) => HistoryEvent::SubOrchestrationCompleted {
            id: parent.task_id,
            output,
        },
        Err(failure) => HistoryEvent::SubOrchestrationFailed {
            id: parent.task_id,
            failure,
        },
    };
    commit.messages.push(OutMessage {
        instance: parent.instance.clone(),
        execution: Some(parent.execution),
        // The parent's id may have been started again since (after a terminate that abandoned this
        // child, or a purge): the result is for the incarnation that is waiting for it, or nobody.
        incarnation: Incarnation::Run(parent.run.clone()),
        message: Message::Deliver { event },
        visible_at: commit.now,
    });
}

/// How a guest's turn ended.
pub(super) enum Ran {
    /// It blocked in `await-*` or returned, with these new events.
    Turn {
        events: Vec<HistoryEvent>,
        finished: bool,
    },
    /// The host stopped it, for this reason.
    Stopped(Failure),
}

/// What a turn does with the inbox: which messages it consumes and delivers.
struct Plan {
    execution: u32,
    suspended: bool,
    start: bool,
    wake: bool,
    terminate: Option<(String, bool)>,
    messages: Vec<HistoryEvent>,
    updates: Vec<UpdateRequest>,
    consumed: Vec<i64>,
}

impl Plan {
    fn new(instance: &Instance) -> Self {
        Self {
            execution: instance.execution,
            suspended: instance.status == Status::Suspended,
            start: false,
            wake: false,
            terminate: None,
            messages: Vec::new(),
            updates: Vec::new(),
            consumed: Vec::new(),
        }
    }

    fn add(&mut self, row: i64, execution: Option<u32>, message: Message) {
        if execution.is_some_and(|e| e != self.execution) {
            // Meant for an earlier execution (continue-as-new): nobody waits for it any more.
            self.consumed.push(row);
            return;
        }
        match message {
            Message::Terminate {
                reason,
                abandon_children,
            } => {
                self.terminate.get_or_insert((reason, abandon_children));
                self.consumed.push(row);
            }
            Message::Suspend { reason } => {
                if !self.suspended {
                    self.suspended = true;
                    self.messages
                        .push(HistoryEvent::ExecutionSuspended { reason });
                }
                self.consumed.push(row);
            }
            Message::Resume { reason } => {
                if self.suspended {
                    self.suspended = false;
                    self.messages
                        .push(HistoryEvent::ExecutionResumed { reason });
                }
                self.consumed.push(row);
            }
            // Held in the inbox until the instance is resumed.
            Message::Start | Message::Deliver { .. } | Message::Update { .. } | Message::Wake
                if self.suspended => {}
            Message::Wake => {
                self.wake = true;
                self.consumed.push(row);
            }
            Message::Start => {
                self.start = true;
                self.consumed.push(row);
            }
            Message::Deliver { event } => {
                self.messages.push(event);
                self.consumed.push(row);
            }
            Message::Update { id, name, input } => {
                self.updates.push(UpdateRequest { id, name, input });
                self.consumed.push(row);
            }
        }
    }
}
