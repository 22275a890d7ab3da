//! One attempt's heartbeats: the latest details the guest reported, written to its work item at
//! most once per [`WRITE_EVERY`] by a future the attempt polls beside the guest (a heartbeat never
//! waits on the store), the time of the last one for the heartbeat timeout, and whether the attempt
//! has been told to stop.
//!
//! The attempt is told to stop when its work item is gone or leased to another worker, found by
//! lease renewal or by a heartbeat's write; the guest learns it from its next heartbeat's answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::shared::Shared;
use keel_runtime::attempt::Heartbeats;

/// Failure kind of an attempt that went without a heartbeat for longer than its heartbeat timeout,
/// or whose worker stopped while it ran.
pub(crate) const TIMEOUT: &str = "HeartbeatTimeout";

/// Shortest time between two writes of an attempt's heartbeats.
const WRITE_EVERY: Duration = Duration::from_secs(1);

/// How long an attempt that heartbeats is given to return once told to stop.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

/// The heartbeats of one attempt.
pub(crate) struct Beats {
    /// What an earlier attempt of the task reported last.
    earlier: Option<Value>,
    latest: Mutex<Latest>,
    /// Set once the attempt should stop; every later heartbeat answers true.
    stop: AtomicBool,
    /// Wakes the writer after a heartbeat.
    beaten: Notify,
}

#[derive(Default)]
struct Latest {
    /// The details of this attempt's last heartbeat, if it sent one.
    details: Option<Value>,
    /// Whether they were written.
    written: bool,
    /// When the attempt last showed life: its start or its last heartbeat.
    at: Option<Instant>,
}

impl Beats {
    /// The heartbeats of an attempt starting now; `earlier` are the details recorded before it.
    pub(crate) fn new(earlier: Option<Value>) -> Arc<Self> {
        Arc::new(Self {
            earlier,
            latest: Mutex::new(Latest {
                at: Some(Instant::now()),
                ..Latest::default()
            }),
            stop: AtomicBool::new(false),
            beaten: Notify::new(),
        })
    }

    fn latest(&self) -> std::sync::MutexGuard<'_, Latest> {
        self.latest.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once the guest has sent a heartbeat: it can be told to stop.
    pub(crate) fn listens(&self) -> bool {
        self.latest().details.is_some()
    }

    /// The details of this attempt's last heartbeat, for the next attempt.
    pub(crate) fn details(&self) -> Option<Value> {
        self.latest().details.clone()
    }

    /// Tells the attempt to stop: its next heartbeat answers so.
    pub(crate) fn tell_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Completes once the attempt has gone without a heartbeat for `timeout`.
    pub(crate) async fn silent_for(&self, timeout: Duration) {
        loop {
            let since = self.latest().at.unwrap_or_else(Instant::now);
            let deadline = since + timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }

    /// Writes the heartbeats of the attempt holding work item `id` as they come, one write per
    /// [`WRITE_EVERY`] at most; completes once a write finds the item no longer held by this worker
    /// (the attempt is then told to stop). Pending until then: nothing runs before a heartbeat.
    pub(crate) async fn write(&self, shared: &Shared, id: i64) {
        loop {
            self.beaten.notified().await;
            let details = {
                let mut latest = self.latest();
                if latest.written {
                    continue;
                }
                latest.written = true;
                latest.details.clone()
            };
            let Some(details) = details else { continue };
            let now = shared.clock.now_ms();
            match shared
                .store
                .record_heartbeat(id, &shared.owner, details, now)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    self.tell_stop();
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not record a heartbeat; the next one will be");
                    self.latest().written = false;
                }
            }
            tokio::time::sleep(WRITE_EVERY).await;
        }
    }
}

impl Heartbeats for Beats {
    fn beat(&self, details: Value) -> bool {
        {
            let mut latest = self.latest();
            latest.details = Some(details);
            latest.written = false;
            latest.at = Some(Instant::now());
        }
        self.beaten.notify_one();
        self.stop.load(Ordering::Relaxed)
    }

    fn last(&self) -> Option<&Value> {
        self.earlier.as_ref()
    }
}
