//! Replay checks: running an instance's recorded history against another module, in memory, to learn
//! whether that module would replay it deterministically.
//!
//! A check never writes: it builds a throw-away guest, replays, and reports the first divergence.

use serde::Serialize;

use crate::engine::{Error, Keel, Result};
use crate::history::{Failure, HistoryEvent};
use crate::orchestration::context::TurnEnd;
use crate::orchestration::hot::{HotInstance, Spawn};
use crate::orchestration::replay::LiveBatch;

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
        let instance = self
            .status(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        let shared = self.shared();
        let module = shared.registry.compile_unstored(bytes).await?;
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
            module: &module,
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
