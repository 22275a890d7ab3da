//! Local (inline) activities: run by the turn that called them as soon as its guest waits, their
//! results handed to the guest in memory, and everything — the calls, their results, the turns they
//! unblocked — committed in the turn's one transaction.
//!
//! A batch goes on while the guest's last run called local activities, up to [`MAX_ATTEMPTS`]
//! attempts and [`BUDGET`] of wall-clock time, running at most [`CONCURRENT`] calls at once; what
//! is still waiting then (and a local call of the built-in `keel.http`) becomes an ordinary work
//! item of the same commit. A failed attempt whose retry is due within [`IN_PLACE_RETRY_MS`] is
//! retried in place (unless the clock only moves when told to, as the test kit's does); a later
//! retry continues as an ordinary work item at the next attempt, due at the retry's time. An
//! attempt the host could not run (`HostError`) records nothing: the call becomes an ordinary work
//! item.
//!
//! The trade, as in Temporal: nothing of a batch is durable before its commit, so a crash (or a
//! lost commit) runs the batch's local activities again when the replayed guest calls them anew.
//! They run in the turn's slot, not in an activity slot, and are not heartbeat-watched.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;

use super::driver::{Driver, Error, Ran};
use super::hot::HotInstance;
use super::replay::LiveBatch;
use crate::activity::{Attempt, HOST_ERROR, heartbeat, http_call, retry_delay};
use crate::history::{ActivityOptions, HistoryEvent};
use crate::store::{Instance, LogLine};
use keel_runtime::guest_log::GuestLog;

/// Attempts of local activities one batch runs at most before it commits.
pub(crate) const MAX_ATTEMPTS: usize = 1_000;

/// Wall-clock time after which a batch runs no further local activities and commits.
pub(crate) const BUDGET: Duration = Duration::from_secs(2);

/// Local calls of one batch that run at once at most.
pub(crate) const CONCURRENT: usize = 16;

/// Longest retry delay waited out in place; a later retry becomes an ordinary work item.
pub(crate) const IN_PLACE_RETRY_MS: u64 = 1_000;

/// A local call the guest made in its last run.
struct Call<'a> {
    id: u32,
    name: &'a str,
    input: &'a serde_json::Value,
    options: &'a ActivityOptions,
}

/// What running one local call produced: the events to deliver and record (retries, then the
/// result; only retries when it continues as a work item; none when the host could not run it),
/// and the lines its attempts wrote.
struct Done {
    events: Vec<HistoryEvent>,
    logs: Vec<LogLine>,
}

impl Driver {
    /// Runs the local activities the guest called in the run that gave `ran`, delivers their
    /// results, runs the guest on, and so on until it calls none, ends, or the batch is over its
    /// bounds. Returns the whole batch's run (all its events, in order) and the lines the local
    /// attempts wrote, for the turn's commit. `turn_ms` is the turn's time: as for an ordinary
    /// call, whose work item the turn writes, a local call's retry policy counts from it.
    pub(super) async fn run_local(
        &self,
        hot: &mut HotInstance,
        row: &Instance,
        ran: Ran,
        turn_ms: u64,
    ) -> Result<(Ran, Vec<LogLine>), Error> {
        let Ran::Turn {
            mut events,
            mut finished,
        } = ran
        else {
            return Ok((ran, Vec::new()));
        };
        let started = Instant::now();
        let mut logs = Vec::new();
        let mut attempts = 0;
        let mut from = 0;
        while !finished && attempts < MAX_ATTEMPTS && started.elapsed() < BUDGET {
            let ran = &events[from..];
            // A call canceled in the run that made it never runs.
            let canceled: HashSet<u32> = ran
                .iter()
                .filter_map(|e| match e {
                    HistoryEvent::TaskCanceled { id, .. } => Some(*id),
                    _ => None,
                })
                .collect();
            // Past the batch's attempts, the calls left continue as ordinary work items.
            let calls: Vec<Call<'_>> = ran
                .iter()
                .filter_map(|event| match event {
                    HistoryEvent::TaskScheduled {
                        id,
                        name,
                        input,
                        options,
                    } if options.local && name != http_call::NAME && !canceled.contains(id) => {
                        Some(Call {
                            id: *id,
                            name,
                            input,
                            options,
                        })
                    }
                    _ => None,
                })
                .take(MAX_ATTEMPTS - attempts)
                .collect();
            if calls.is_empty() {
                break;
            }
            attempts += calls.len();
            // In the order called, at most `CONCURRENT` at once: a fan-out of local calls never has
            // more instances alive than that.
            let runs: Vec<_> = calls
                .into_iter()
                .map(|call| self.local_call(row, call, started, turn_ms))
                .collect();
            let done: Vec<Done> = futures::stream::iter(runs)
                .buffered(CONCURRENT)
                .collect()
                .await;
            let mut messages = Vec::new();
            for d in done {
                messages.extend(d.events);
                logs.extend(d.logs);
            }
            if messages.is_empty() {
                break;
            }
            let batch = LiveBatch {
                time_ms: self.shared.clock.now_ms(),
                messages,
                updates: Vec::new(),
            };
            if !hot.deliver(batch) {
                return Err(Error::Lost(row.id.clone()));
            }
            let len = row
                .history_len
                .saturating_add(u32::try_from(events.len()).unwrap_or(u32::MAX));
            match self.run_guest(hot, &row.id, len).await? {
                Ran::Turn {
                    events: more,
                    finished: ended,
                } => {
                    from = events.len();
                    events.extend(more);
                    finished = ended;
                }
                stopped @ Ran::Stopped(_) => return Ok((stopped, logs)),
            }
        }
        Ok((Ran::Turn { events, finished }, logs))
    }

    /// Runs the attempts of one local call: until one succeeds, the call fails, or its retry is
    /// too far off (or past the batch's budget) to wait for in place.
    async fn local_call(
        &self,
        row: &Instance,
        call: Call<'_>,
        batch: Instant,
        turn_ms: u64,
    ) -> Done {
        let (function, _) = keel_runtime::labels::split_versioned(call.name);
        let shared = &self.shared;
        let limits = shared.registry.runtime().limits();
        let mut attempt = Attempt {
            instance: &row.id,
            execution: row.execution,
            run: row.run.as_deref(),
            task_id: call.id,
            name: call.name,
            input: call.input,
            options: call.options,
            number: 1,
            // What a continued retry's work item gets too: the turn's time, its commit's `now`.
            first_at: turn_ms,
        };
        let mut done = Done {
            events: Vec::new(),
            logs: Vec::new(),
        };
        loop {
            let log = Arc::new(GuestLog::for_limits(limits, shared.clock.clone()));
            let beats = heartbeat::Beats::new(None);
            let result = self.workers.run(&attempt, function, &log, &beats).await;
            done.logs.extend(
                crate::log_lines::Writer {
                    instance: attempt.instance,
                    execution: attempt.execution,
                    source: function,
                    task: Some((attempt.task_id, attempt.number)),
                }
                .lines(log.take_lines()),
            );
            if let Err(failure) = &result
                && failure.kind == HOST_ERROR
            {
                // Not the activity's fault: an ordinary work item takes the call over, with the
                // host's own redelivery.
                tracing::warn!(%failure, "local activity could not run; it continues as an ordinary activity");
                return done;
            }
            shared.metrics.record_attempt(function, result.is_err());
            shared
                .metrics
                .local_attempts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let failure = match result {
                Ok(output) => {
                    done.events.push(HistoryEvent::TaskCompleted {
                        id: attempt.task_id,
                        output,
                    });
                    return done;
                }
                Err(failure) => failure,
            };
            let now = shared.clock.now_ms();
            let Some(delay) = retry_delay(&attempt, &failure, now) else {
                done.events.push(HistoryEvent::TaskFailed {
                    id: attempt.task_id,
                    failure,
                    attempt: attempt.number,
                });
                return done;
            };
            tracing::debug!(%failure, retry_in_ms = delay, "local activity attempt failed");
            done.events.push(HistoryEvent::TaskRetrying {
                id: attempt.task_id,
                failure,
                attempt: attempt.number,
                retry_at_ms: now.saturating_add(delay),
            });
            let wait = Duration::from_millis(delay);
            if delay > IN_PLACE_RETRY_MS
                || batch.elapsed() + wait >= BUDGET
                || !shared.clock.advances_on_its_own()
            {
                // The driver writes the next attempt as a work item due at the retry's time (under
                // a clock that only moves when told to, such as the test kit's, every retry does:
                // a wait in real time would not bring its time).
                return done;
            }
            tokio::time::sleep(wait).await;
            attempt.number += 1;
        }
    }
}

/// For the turn's commit: the local calls among `events` that continue as ordinary work items, by
/// task id — with `(next attempt, due at)` when a retry continues, `None` for a call the batch did
/// not run. A local call missing from the map resolved in the batch and needs no work item.
pub(crate) fn continuation(
    events: &[HistoryEvent],
) -> std::collections::HashMap<u32, Option<(u32, u64)>> {
    let mut local = std::collections::HashMap::new();
    for event in events {
        match event {
            HistoryEvent::TaskScheduled { id, options, .. } if options.local => {
                local.insert(*id, Some(None));
            }
            HistoryEvent::TaskRetrying {
                id,
                attempt,
                retry_at_ms,
                ..
            } => {
                if let Some(state) = local.get_mut(id) {
                    *state = Some(Some((attempt + 1, *retry_at_ms)));
                }
            }
            HistoryEvent::TaskCompleted { id, .. } | HistoryEvent::TaskFailed { id, .. } => {
                if let Some(state) = local.get_mut(id) {
                    *state = None;
                }
            }
            _ => {}
        }
    }
    local
        .into_iter()
        .filter_map(|(id, state)| state.map(|next| (id, next)))
        .collect()
}
