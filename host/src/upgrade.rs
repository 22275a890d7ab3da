//! Replay checks: running an instance's recorded history against another module, in memory, to learn
//! whether that module would replay it deterministically.
//!
//! A check never writes: it builds a throw-away guest, replays, and reports the first divergence.

use serde::Serialize;

use crate::engine::{Error, Keel, Result};
use crate::history::{Failure, HistoryEvent};
use crate::module::Loaded;
use crate::orchestration::context::TurnEnd;
use crate::orchestration::hot::{HotInstance, Spawn};
use crate::orchestration::replay::LiveBatch;
use crate::store::{InstanceFilter, Status};

/// What replaying an instance against a module showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum ReplayCheck {
    /// Every recorded call was made again, in order, with the same arguments.
    Compatible,
    /// The module diverged (or failed) while replaying; the failure names the first divergence.
    Diverged {
        /// Why, with the event index and both calls for a divergence.
        failure: Failure,
    },
}

impl Keel {
    /// Replays the current execution of instance `id` against the module `bytes` without recording
    /// anything.
    pub async fn check_replay(&self, id: &str, bytes: &[u8]) -> Result<ReplayCheck> {
        let (module, _) = self.shared().registry.compile_unstored(bytes).await?;
        self.replay_against(id, &module).await
    }

    /// Replays instance `id` against an already compiled module.
    async fn replay_against(&self, id: &str, module: &Loaded) -> Result<ReplayCheck> {
        let instance = self
            .status(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        let shared = self.shared();
        let recorded = shared
            .store
            .execution_history(id, instance.execution)
            .await?;
        // Only the events before the execution ended can be replayed against code.
        let recorded: Vec<HistoryEvent> = recorded
            .into_iter()
            .take_while(|e| !e.is_terminal())
            .collect();
        let mut hot = HotInstance::spawn(Spawn {
            runtime: shared.registry.runtime(),
            module,
            instance: id,
            execution: instance.execution,
            name: &instance.name,
            input: &instance.input,
            recorded,
            batch: LiveBatch {
                time_ms: shared.clock.now_ms(),
                messages: Vec::new(),
            },
        })
        .await
        .map_err(|e| Error::Runtime(e.to_string()))?;
        let end = hot.next_turn().await;
        Ok(match end {
            Some(TurnEnd::Finished(events)) => match events.last() {
                Some(HistoryEvent::ExecutionFailed { failure }) => ReplayCheck::Diverged {
                    failure: failure.clone(),
                },
                _ => ReplayCheck::Compatible,
            },
            Some(TurnEnd::Blocked(_)) => ReplayCheck::Compatible,
            None => ReplayCheck::Diverged {
                failure: Failure::new("HostError", "the replay stopped without a result"),
            },
        })
    }
}

/// The replay check of one instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceCheck {
    /// The instance.
    pub instance: String,
    /// Its orchestrator.
    pub name: String,
    /// What replaying it against the module showed.
    pub check: ReplayCheck,
}

impl Keel {
    /// Replays every instance that has not ended, of every orchestrator the module `bytes` exports,
    /// against that module.
    pub async fn check_upgrade(&self, bytes: &[u8]) -> Result<Vec<InstanceCheck>> {
        let (module, functions) = self.shared().registry.compile_unstored(bytes).await?;
        let mut checks = Vec::new();
        for (name, kind) in functions {
            if kind != "orchestrator" {
                continue;
            }
            for status in [Status::Pending, Status::Running, Status::Suspended] {
                let filter = InstanceFilter {
                    status: Some(status),
                    name: Some(name.clone()),
                    limit: None,
                };
                for instance in self.list(&filter).await? {
                    let check = self.replay_against(&instance.id, &module).await?;
                    checks.push(InstanceCheck {
                        instance: instance.id,
                        name: name.clone(),
                        check,
                    });
                }
            }
        }
        Ok(checks)
    }
}
