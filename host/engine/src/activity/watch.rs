//! Watching one running attempt: its result, unless its work item goes (the task canceled, the
//! instance terminated, another worker took it over) or it stops heartbeating for longer than its
//! heartbeat timeout. An attempt that heartbeats is told to stop and given a grace period; one that
//! does not is stopped at once.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Workers, heartbeat};
use crate::history::Failure;
use crate::store::WorkItem;
use keel_runtime::guest_log::GuestLog;

impl Workers {
    /// Runs one attempt and watches it: its result, or `None` when it was stopped because its work
    /// item is gone (the task was canceled, the instance terminated) or leased to another worker.
    /// An attempt that has sent a heartbeat is told through the next one's answer and given
    /// [`heartbeat::STOP_GRACE`] to return; one that has not is stopped at once. An attempt with a
    /// heartbeat timeout that goes without a heartbeat for that long fails with
    /// [`heartbeat::TIMEOUT`].
    pub(super) async fn watch(
        &self,
        item: &WorkItem,
        function: &str,
        log: &Arc<GuestLog>,
        hold: &crate::held::Hold,
        beats: &Arc<heartbeat::Beats>,
    ) -> Option<Result<Value, Failure>> {
        let writer = beats.write(&self.shared, item.id);
        tokio::pin!(writer);
        let silence = item.options.heartbeat_timeout_ms.map(Duration::from_millis);
        let attempt = super::Attempt::of(item);
        let run = self.run(&attempt, function, log, beats);
        tokio::pin!(run);
        let mut grace: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                result = &mut run => {
                    if grace.is_some() {
                        tracing::info!("attempt stopped when told to; its result is dropped");
                        return None;
                    }
                    return Some(result);
                }
                () = async {
                    tokio::select! {
                        () = hold.cancelled() => {}
                        () = &mut writer => {}
                    }
                }, if grace.is_none() => {
                    if !beats.listens() {
                        tracing::info!(
                            "attempt stopped: its work item is gone (its task was canceled or its \
                             instance terminated) or leased to another worker"
                        );
                        return None;
                    }
                    beats.tell_stop();
                    grace = Some(tokio::time::Instant::now() + heartbeat::STOP_GRACE);
                }
                () = sleep_until_some(grace) => {
                    tracing::info!("attempt told to stop did not return in time; it is stopped");
                    return None;
                }
                () = async {
                    match silence {
                        Some(timeout) => beats.silent_for(timeout).await,
                        None => std::future::pending().await,
                    }
                }, if grace.is_none() => {
                    let ms = silence.map_or(0, |d| d.as_millis());
                    return Some(Err(Failure::new(
                        heartbeat::TIMEOUT,
                        format!("the attempt sent no heartbeat for {ms} ms"),
                    )));
                }
            }
        }
    }
}

/// Completes at `deadline`, or never without one.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
