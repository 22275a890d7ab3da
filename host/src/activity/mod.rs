//! Activity workers: claim due work items, run one attempt each in a fresh sandboxed instance of the
//! active module, and commit the result (or the next retry) into the orchestrator's inbox.
//!
//! Execution is at least once: a result whose lease was lost is dropped, and the attempt runs again
//! elsewhere. Workers never touch an instance's history directly.

pub mod retry;

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::Instrument;
use wasmtime_wasi::WasiCtxBuilder;

use crate::engine::Shared;
use crate::history::{Failure, HistoryEvent};
use crate::module::guest_output::GuestOutput;
use crate::module::runtime::HostState;
use crate::orchestration::driver::Driver;
use crate::store::{FinishWorkItem, Finished, Message, OutMessage, WorkItem};

/// Failure kinds that another attempt cannot fix.
const PERMANENT: [&str; 3] = ["ActivityNotFound", "InvalidJson", "PayloadTooLarge"];

/// Runs activity attempts.
pub(crate) struct Workers {
    pub(crate) shared: Arc<Shared>,
    pub(crate) permits: Arc<Semaphore>,
    /// Runs the turn an activity result unblocks without a separate claim.
    pub(crate) driver: OnceLock<Weak<Driver>>,
}

impl Workers {
    /// Claims due work items and starts their attempts, up to the free permits. Returns how many.
    pub(crate) async fn poll(self: &Arc<Self>) -> Result<usize, crate::store::Error> {
        let free = self.permits.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let now = self.shared.clock.now_ms();
        let items = self
            .shared
            .store
            .claim_work_items(
                &self.shared.owner,
                now,
                now + self.shared.config.lease_ms,
                u32::try_from(free).unwrap_or(u32::MAX),
            )
            .await?;
        let claimed = items.len();
        self.dispatch(items);
        Ok(claimed)
    }

    /// Runs attempts of work items leased to this worker, each as soon as a permit is free.
    pub(crate) fn dispatch(self: &Arc<Self>, items: Vec<WorkItem>) {
        for item in items {
            let workers = self.clone();
            let span = tracing::info_span!(
                "activity.attempt",
                instance = %item.instance,
                execution = item.execution,
                task = item.task_id,
                name = %item.name,
                attempt = item.attempt
            );
            tokio::spawn(
                async move {
                    let Ok(permit) = workers.permits.clone().acquire_owned().await else {
                        return;
                    };
                    workers.attempt(item).await;
                    drop(permit);
                }
                .instrument(span),
            );
        }
    }

    async fn attempt(&self, item: WorkItem) {
        let started = std::time::Instant::now();
        let result = self.run(&item).await;
        self.shared.metrics.record_attempt(
            crate::versions::split_versioned(&item.name).0,
            result.is_err(),
        );
        let now = self.shared.clock.now_ms();
        let deliver = |event| OutMessage {
            instance: item.instance.clone(),
            execution: Some(item.execution),
            message: Message::Deliver { event },
            visible_at: now,
        };
        let finish = match result {
            Ok(output) => {
                tracing::info!("activity completed");
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
                let delay = if PERMANENT.contains(&failure.kind.as_str()) {
                    None
                } else {
                    retry::next_delay(
                        item.options.retry.as_ref(),
                        item.attempt,
                        item.first_at,
                        now,
                    )
                };
                tracing::info!(%failure, retry_in_ms = ?delay, "activity attempt failed");
                match delay {
                    Some(delay) => FinishWorkItem::Retry {
                        id: item.id,
                        owner: self.shared.owner.clone(),
                        next_attempt: item.attempt + 1,
                        visible_at: now + delay,
                        message: deliver(HistoryEvent::TaskRetrying {
                            id: item.task_id,
                            failure,
                            attempt: item.attempt,
                            retry_at_ms: now + delay,
                        }),
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
        let claim = driver.as_ref().map(|_| now + self.shared.config.lease_ms);
        match self.shared.store.finish_work_item(finish, claim, now).await {
            Ok(Finished::Committed { claimed_instance }) => {
                self.shared
                    .metrics
                    .activity_latency
                    .observe(started.elapsed());
                if let (true, Some(driver)) = (claimed_instance, driver) {
                    driver.dispatch(item.instance.clone());
                }
            }
            Ok(Finished::LeaseLost) => {
                tracing::warn!("lease lost before the result was committed; it is dropped")
            }
            Err(e) => tracing::error!(error = %e, "could not commit the activity result"),
        }
    }

    /// Runs one attempt in a fresh instance of the active module providing the activity.
    async fn run(&self, item: &WorkItem) -> Result<Value, Failure> {
        let shared = &self.shared;
        let digest = crate::versions::resolve_activity(&shared.store, &item.name).await?;
        let module = shared
            .registry
            .load(&digest)
            .await
            .map_err(|e| Failure::new("HostError", e.to_string()))?;
        let pre = module.activity.clone().ok_or_else(|| {
            Failure::new(
                "HostError",
                format!("module {digest} exports no activities"),
            )
        })?;
        let runtime = shared.registry.runtime();
        let limits = runtime.limits();
        let timeout_ms = item
            .options
            .timeout_ms
            .unwrap_or(limits.activity_timeout_ms);
        let label = format!("{}/{}#{}", item.instance, item.task_id, item.name);
        let muted = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let wasi = WasiCtxBuilder::new()
            .env("KEEL_INSTANCE_ID", &item.instance)
            .env("KEEL_TASK_ID", item.task_id.to_string())
            .env("KEEL_ATTEMPT", item.attempt.to_string())
            .env(
                "KEEL_IDEMPOTENCY_KEY",
                format!("{}/{}", item.instance, item.task_id),
            )
            .stdout(GuestOutput::new(label.clone(), "stdout", muted.clone()))
            .stderr(GuestOutput::new(label, "stderr", muted))
            .build();
        let mut store = runtime.store(HostState::new(wasi, limits.memory_bytes, timeout_ms));
        let input = item.input.to_string();
        let call = async {
            let guest = pre.instantiate_async(&mut store).await?;
            guest
                .keel_workflow_activities()
                .call_run(
                    &mut store,
                    crate::versions::split_versioned(&item.name).0,
                    &input,
                )
                .await
        };
        // The epoch budget stops a guest that computes; this stops one that waits on the host.
        let result = tokio::time::timeout(
            Duration::from_millis(timeout_ms.saturating_add(1_000)),
            call,
        )
        .await;
        let output = match result {
            Err(_) => {
                return Err(Failure::new(
                    "Timeout",
                    format!("the activity did not finish within {timeout_ms} ms"),
                ));
            }
            Ok(Err(e)) => return Err(store.data().failure_of(&e, "Timeout", timeout_ms)),
            Ok(Ok(Err(f))) => {
                return Err(Failure {
                    kind: f.kind,
                    message: f.message,
                    details: f.details.and_then(|d| serde_json::from_str(&d).ok()),
                });
            }
            Ok(Ok(Ok(output))) => output,
        };
        if output.len() > limits.max_payload_bytes {
            return Err(Failure::new(
                "PayloadTooLarge",
                format!(
                    "the activity returned {} bytes; the limit is {} bytes",
                    output.len(),
                    limits.max_payload_bytes
                ),
            ));
        }
        serde_json::from_str(&output).map_err(|e| {
            Failure::new(
                "InvalidJson",
                format!("the activity returned output that is not valid JSON: {e}"),
            )
        })
    }
}
