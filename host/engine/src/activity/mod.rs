//! Activity workers: claim due work items, run one attempt each in a fresh sandboxed instance of the
//! active module, and commit the result (or the next retry) into the orchestrator's inbox.
//!
//! Execution is at least once: a result whose lease was lost is dropped, and the attempt runs again
//! elsewhere. Workers never touch an instance's history directly.

mod attempt;
mod call;
pub(crate) mod heartbeat;
pub mod http_call;
pub(crate) mod resolve;
mod watch;
pub use keel_core::retry;

pub(crate) use call::Attempt;

use std::sync::{Arc, OnceLock, Weak};

use futures::future::BoxFuture;
use serde_json::Value;
use tracing::Instrument;

use crate::history::{Failure, HistoryEvent};
use crate::shared::Shared;
use crate::slots::{Slots, Taken};
use crate::store::{FinishWorkItem, Finished, Incarnation, LogLine, Message, OutMessage, WorkItem};
use keel_runtime::guest_log::GuestLog;

/// Failure kind of an attempt the host could not run (the module would not load, a read failed).
pub(crate) const HOST_ERROR: &str = "HostError";

/// Failure kinds that another attempt cannot fix: the input, the output or the function's
/// capabilities must change first.
const PERMANENT: [&str; 7] = [
    "ActivityNotFound",
    "InvalidJson",
    "PayloadTooLarge",
    keel_runtime::capability::outgoing::DENIED,
    keel_runtime::capability::outgoing::TOO_LARGE,
    keel_runtime::capability::granted::SECRET_UNAVAILABLE,
    http_call::INVALID,
];

/// After `failure` of `attempt` at `now`: in how many milliseconds the retry policy
/// runs the next attempt; `None` when the call fails.
pub(crate) fn retry_delay(attempt: &Attempt<'_>, failure: &Failure, now: u64) -> Option<u64> {
    if PERMANENT.contains(&failure.kind.as_str()) {
        return None;
    }
    retry::next_delay(
        attempt.options.retry.as_ref(),
        &failure.kind,
        attempt.number,
        attempt.first_at,
        now,
    )
}

/// Runs activity attempts.
pub(crate) struct Workers {
    pub(crate) shared: Arc<Shared>,
    pub(crate) slots: Slots,
    /// Runs the turn an activity result unblocks without a separate claim (the turn driver).
    pub(crate) driver: OnceLock<Weak<dyn Turns>>,
}

/// What the activity workers need of the turn driver of their process: a trait, so that the workers
/// do not depend on the driver, which depends on them to run the work its turns schedule.
pub(crate) trait Turns: Send + Sync {
    /// Offers `event`, the result of `item`, to the instance's hot guest: true when the result
    /// committed with the turn it unblocked; false when nothing was written.
    /// `logs` are the lines the attempt wrote, committed with the turn.
    fn offer_result<'a>(
        &'a self,
        item: &'a WorkItem,
        event: HistoryEvent,
        logs: &'a [LogLine],
    ) -> BoxFuture<'a, bool>;
    /// A turn slot, when one is free now.
    fn try_take_slot(&self) -> Option<Taken>;
    /// Runs the turn of instance `id`, which this worker has leased, in `slot`.
    fn run_turn(self: Arc<Self>, id: String, slot: Option<Taken>);
}

impl Workers {
    /// Claims up to `due` work items and starts their attempts, no more than the free slots: the
    /// slots are taken first, so this worker leases only what it can run now and leaves the rest of a
    /// backlog to the other workers. Returns how many.
    pub(crate) async fn poll(self: &Arc<Self>, due: usize) -> Result<usize, crate::store::Error> {
        let Some(slots) = self.slots.take_up_to(due) else {
            return Ok(0);
        };
        let free = slots.count();
        let now = self.shared.clock.now_ms();
        let items = self
            .shared
            .store
            .claim_work_items(
                &self.shared.owner,
                now,
                now.saturating_add(self.shared.config.lease_ms),
                u32::try_from(free).unwrap_or(u32::MAX),
            )
            .await?;
        let claimed = items.len();
        self.dispatch(items, Some(slots));
        Ok(claimed)
    }

    /// Runs attempts of work items leased to this worker, each in one of the `slots` taken for them
    /// (or, past those, as soon as a slot is free); the slots left over are given back.
    pub(crate) fn dispatch(self: &Arc<Self>, items: Vec<WorkItem>, mut slots: Option<Taken>) {
        for item in items {
            let slot = slots.as_mut().and_then(Taken::one);
            let workers = self.clone();
            // A root span: an attempt is not part of the turn that scheduled it (which may have
            // ended long before), nor of the attempt whose result ran that turn.
            let span = tracing::info_span!(
                parent: None,
                "activity.attempt",
                instance = %item.instance,
                execution = item.execution,
                task = item.task_id,
                name = %item.name,
                attempt = item.attempt
            );
            let hold = self.shared.held.work_item(item.id);
            tokio::spawn(
                async move {
                    let slot = match slot {
                        Some(slot) => slot,
                        None => match workers.slots.take_one().await {
                            Some(slot) => slot,
                            None => return,
                        },
                    };
                    workers.attempt(item, &hold).await;
                    drop(slot);
                    drop(hold);
                }
                .instrument(span),
            );
        }
    }

    /// Runs one attempt of `item` and commits its result; stops without one if `hold` is
    /// cancelled while the activity runs.
    async fn attempt(&self, item: WorkItem, hold: &crate::held::Hold) {
        let started = std::time::Instant::now();
        let (function, _) = keel_runtime::labels::split_versioned(&item.name);
        let config = &self.shared.config;
        let limits = self.shared.registry.runtime().limits();
        let log = Arc::new(GuestLog::for_limits(limits, self.shared.clock.clone()));
        let beats = heartbeat::Beats::new(item.heartbeat.clone());
        let result = if let (Some(_), Some(lost_at)) =
            (item.options.heartbeat_timeout_ms, item.abandoned_at)
        {
            // Its worker stopped while it ran: with a heartbeat timeout, that fails the attempt
            // rather than running it again as the same one.
            Err(Failure::new(
                heartbeat::TIMEOUT,
                format!(
                    "the worker running attempt {} stopped: its lease ran out at {lost_at} ms \
                     since the epoch without a result",
                    item.attempt
                ),
            ))
        } else if item.deliveries > config.max_deliveries {
            // Claimed again and again without a result: its workers died, or the host failed it
            // each time. Running it once more would only repeat that.
            Err(Failure::new(
                HOST_ERROR,
                format!(
                    "the attempt was delivered {} times without a result: its workers stopped or \
                     the host could not run it each time (see the worker logs)",
                    item.deliveries - 1
                ),
            ))
        } else {
            match self.watch(&item, function, &log, hold, &beats).await {
                Some(result) => result,
                None => return,
            }
        };
        let logs = crate::log_lines::Writer {
            instance: &item.instance,
            execution: item.execution,
            source: function,
            task: Some((item.task_id, item.attempt)),
        }
        .lines(log.take_lines());
        let now = self.shared.clock.now_ms();
        if let Err(failure) = &result
            && failure.kind == HOST_ERROR
            && item.deliveries <= config.max_deliveries
        {
            // Not the activity's fault: the same attempt runs again later, and the retry policy's
            // attempts are not spent on it.
            let delay = crate::store::backoff(
                item.deliveries,
                config.turn_retry_ms,
                config.turn_retry_max_ms,
            );
            tracing::warn!(%failure, retry_in_ms = delay, "activity attempt could not run; it will be delivered again");
            let finish = FinishWorkItem::HostFailed {
                id: item.id,
                owner: self.shared.owner.clone(),
                visible_at: now.saturating_add(delay),
                heartbeat: beats.details(),
            };
            if let Err(e) = self
                .shared
                .store
                .finish_work_item(finish, logs, None, now)
                .await
            {
                tracing::error!(error = %e, "could not reschedule the attempt; its lease will expire");
            }
            return;
        }
        self.shared
            .metrics
            .record_attempt(function, result.is_err());
        let deliver = |event| OutMessage {
            instance: item.instance.clone(),
            execution: Some(item.execution),
            // The commit is conditional on the work item row (its id is never reused), and reusing
            // or purging the instance's id deletes its work items: a result of an earlier
            // incarnation finds its row gone and is dropped as a lost lease.
            incarnation: Incarnation::Any,
            message: Message::Deliver { event },
            visible_at: now,
        };
        let finish = match result {
            Ok(output) => {
                tracing::debug!("activity completed");
                FinishWorkItem::Done {
                    id: item.id,
                    owner: self.shared.owner.clone(),
                    message: deliver(HistoryEvent::TaskCompleted {
                        id: item.task_id,
                        output,
                    }),
                }
            }
            Err(failure) => {
                let delay = retry_delay(&Attempt::of(&item), &failure, now);
                tracing::info!(%failure, retry_in_ms = ?delay, "activity attempt failed");
                match delay {
                    Some(delay) => FinishWorkItem::Retry {
                        id: item.id,
                        owner: self.shared.owner.clone(),
                        next_attempt: item.attempt + 1,
                        visible_at: now.saturating_add(delay),
                        message: deliver(HistoryEvent::TaskRetrying {
                            id: item.task_id,
                            failure,
                            attempt: item.attempt,
                            retry_at_ms: now.saturating_add(delay),
                        }),
                        heartbeat: beats.details(),
                    },
                    None => FinishWorkItem::Done {
                        id: item.id,
                        owner: self.shared.owner.clone(),
                        message: deliver(HistoryEvent::TaskFailed {
                            id: item.task_id,
                            failure,
                            attempt: item.attempt,
                        }),
                    },
                }
            }
        };
        let driver = self.driver.get().and_then(Weak::upgrade);
        if let (Some(driver), FinishWorkItem::Done { message, .. }) = (&driver, &finish)
            && let Message::Deliver { event } = &message.message
            && driver.offer_result(&item, event.clone(), &logs).await
        {
            // Committed with the turn it unblocked.
            self.shared
                .metrics
                .activity_latency
                .observe(started.elapsed());
            return;
        }
        // The instance the result unblocks is leased to this worker only with a free turn slot.
        let turn_slot = driver.as_ref().and_then(|d| d.try_take_slot());
        let claim = turn_slot
            .as_ref()
            .map(|_| now.saturating_add(self.shared.config.lease_ms));
        match self
            .shared
            .store
            .finish_work_item(finish, logs, claim, now)
            .await
        {
            Ok(Finished::Committed { claimed_instance }) => {
                self.shared
                    .metrics
                    .activity_latency
                    .observe(started.elapsed());
                if let (true, Some(driver)) = (claimed_instance, driver) {
                    driver.run_turn(item.instance.clone(), turn_slot);
                }
            }
            Ok(Finished::LeaseLost) => {
                tracing::warn!("lease lost before the result was committed; it is dropped")
            }
            Err(e) => tracing::error!(error = %e, "could not commit the activity result"),
        }
    }

    /// Runs one attempt: the built-in durable HTTP call, or a guest activity.
    /// `function` is the activity's name without a version requirement.
    pub(crate) async fn run(
        &self,
        attempt: &Attempt<'_>,
        function: &str,
        log: &Arc<GuestLog>,
        beats: &Arc<heartbeat::Beats>,
    ) -> Result<Value, Failure> {
        if let Some(answer) = self.shared.mocks.answer(function) {
            return answer;
        }
        if attempt.name == http_call::NAME {
            let limits = self.shared.registry.runtime().limits();
            let timeout_ms = attempt
                .options
                .timeout_ms
                .unwrap_or(limits.activity_timeout_ms);
            return http_call::run(&self.shared, attempt, timeout_ms).await;
        }
        attempt::run(&self.shared, attempt, log, beats.clone()).await
    }
}
