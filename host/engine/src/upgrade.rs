//! Replay checks: running an instance's recorded history against another module, in memory, to learn
//! whether that module would replay it deterministically.
//!
//! A check never writes: it builds a throw-away guest, replays, and reports the first divergence.

use serde::Serialize;

use crate::engine::{Error, Keel, Result};
use crate::history::{Failure, HistoryEvent};
use crate::module::Loaded;
use crate::orchestration::hot::{HotInstance, Spawn};
use crate::orchestration::replay::LiveBatch;
use crate::store::{Instance, InstanceFilter, MoveInstance, MoveRefused, Status};
use keel_runtime::turn::TurnEnd;

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
        Ok(self.replay_checked(id, module).await?.0)
    }

    /// Replays instance `id` against `module`, and returns what it showed with the instance as it
    /// was read (its execution and history length are what a move must still find).
    async fn replay_checked(&self, id: &str, module: &Loaded) -> Result<(ReplayCheck, Instance)> {
        let instance = self
            .status(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        let shared = self.shared();
        let mut recorded = shared
            .store
            .execution_history(id, instance.execution)
            .await?;
        // The history read may be newer than the instance row; replay only what the row counts.
        recorded.truncate(instance.history_len as usize);
        // Only the events before the execution ended can be replayed against code.
        let recorded: Vec<HistoryEvent> = crate::history::before_end(recorded);
        let end = self
            .replay_events(
                module,
                Recorded {
                    instance: id,
                    execution: instance.execution,
                    name: &instance.name,
                    input: &instance.input,
                    events: recorded,
                },
            )
            .await?;
        let check = match end {
            Err(failure) => ReplayCheck::Diverged { failure },
            Ok(TurnEnd::Finished(events)) => match events.last() {
                Some(HistoryEvent::ExecutionFailed { failure }) => ReplayCheck::Diverged {
                    failure: failure.clone(),
                },
                _ => ReplayCheck::Compatible,
            },
            Ok(TurnEnd::Blocked(_)) => ReplayCheck::Compatible,
        };
        Ok((check, instance))
    }

    /// Replays `recorded` (events before the execution's end) against `module` in a throw-away
    /// guest, and returns how the first live turn after them ended, or why none did (the replay ran
    /// past a turn's wall-clock limit, or stopped without a result).
    pub(crate) async fn replay_events(
        &self,
        module: &Loaded,
        recorded: Recorded<'_>,
    ) -> Result<std::result::Result<TurnEnd, Failure>> {
        let shared = self.shared();
        let mut hot = HotInstance::spawn(Spawn {
            runtime: shared.registry.runtime(),
            module,
            instance: recorded.instance,
            execution: recorded.execution,
            name: recorded.name,
            input: recorded.input,
            recorded: recorded.events,
            batch: LiveBatch {
                time_ms: shared.clock.now_ms(),
                ..LiveBatch::default()
            },
            clock: shared.clock.clone(),
            query: None,
        })
        .await
        .map_err(|e| Error::Runtime(e.to_string()))?;
        // The same wall-clock bound as a turn: a replay that waits on a sleep must not hold the check.
        let wall_ms = shared.config.limits.turn_wall_ms;
        let Ok(end) =
            tokio::time::timeout(std::time::Duration::from_millis(wall_ms), hot.next_turn()).await
        else {
            return Ok(Err(Failure::new(
                "TurnTimeout",
                format!("the replay did not finish within {wall_ms} ms of wall-clock time"),
            )));
        };
        Ok(end.ok_or_else(|| Failure::new("HostError", "the replay stopped without a result")))
    }
}

/// An execution's recorded events, and what started it, to replay against a module.
pub(crate) struct Recorded<'a> {
    /// The instance id (named in a divergence).
    pub(crate) instance: &'a str,
    /// The execution, from 1.
    pub(crate) execution: u32,
    /// The orchestrator.
    pub(crate) name: &'a str,
    /// The execution's input.
    pub(crate) input: &'a serde_json::Value,
    /// The events before the execution's end.
    pub(crate) events: Vec<HistoryEvent>,
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
        for (instance, name) in self.unfinished_instances(&functions).await? {
            let check = self.replay_against(&instance, &module).await?;
            checks.push(InstanceCheck {
                instance,
                name,
                check,
            });
        }
        Ok(checks)
    }
}

/// What `upgrade` did with one instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum Moved {
    /// Moved to the new module; the move is recorded in its history.
    Moved,
    /// Already on the new module.
    AlreadyThere,
    /// Left on its module: its history does not replay against the new one.
    Pinned {
        /// The first divergence.
        failure: Failure,
    },
    /// Left on its module for now: it was running a turn or moved on while it was checked; upgrading
    /// again will retry it.
    Busy,
}

/// The outcome of `upgrade` for one instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceMove {
    /// The instance.
    pub instance: String,
    /// Its orchestrator.
    pub name: String,
    /// What happened.
    pub outcome: Moved,
}

/// What `upgrade` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Upgrade {
    /// The deployed module.
    pub deployed: crate::module::Deployed,
    /// Every instance that had not ended, of every orchestrator the module exports.
    pub instances: Vec<InstanceMove>,
    /// Whether the module became the active version of its functions: only when there was nothing
    /// to move or something moved (an upgrade none of whose instances could move leaves new starts
    /// on the version the old instances run).
    pub activated: bool,
}

impl Keel {
    /// Deploys `bytes` and moves every instance that has not ended, of every orchestrator it
    /// exports, whose history replays against it; the others stay pinned to their module. A move is
    /// recorded as an `ExecutionUpgraded` event and is only committed if the instance did not move on
    /// between the check and the move. The module then becomes the active version of its functions,
    /// unless there were instances to move and none could (`activated` says which).
    pub async fn upgrade(&self, bytes: Vec<u8>, version: Option<String>) -> Result<Upgrade> {
        let deployed = self.shared().registry.deploy(bytes, version, false).await?;
        let module = self.shared().registry.load(&deployed.digest).await?;
        let mut instances = Vec::new();
        for (instance, name) in self.unfinished_instances(&deployed.functions).await? {
            let outcome = self.move_one(&instance, &module, &deployed).await?;
            instances.push(InstanceMove {
                instance,
                name,
                outcome,
            });
        }
        let activated = instances.is_empty()
            || instances
                .iter()
                .any(|i| matches!(i.outcome, Moved::Moved | Moved::AlreadyThere));
        if activated {
            for (name, kind) in &deployed.functions {
                self.store().activate(name, kind, &deployed.digest).await?;
            }
        }
        Ok(Upgrade {
            deployed,
            instances,
            activated,
        })
    }

    /// `(instance, orchestrator)` of every instance that has not ended, of the orchestrators among
    /// `functions` (`(name, kind)` pairs).
    async fn unfinished_instances(
        &self,
        functions: &[(String, String)],
    ) -> Result<Vec<(String, String)>> {
        let mut found = Vec::new();
        for (name, _) in functions.iter().filter(|(_, kind)| kind == "orchestrator") {
            for status in [Status::Pending, Status::Running, Status::Suspended] {
                let filter = InstanceFilter {
                    status: Some(status),
                    name: Some(name.clone()),
                    ..Default::default()
                };
                for instance in self.list(&filter).await? {
                    found.push((instance.id, name.clone()));
                }
            }
        }
        Ok(found)
    }

    async fn move_one(
        &self,
        id: &str,
        module: &Loaded,
        deployed: &crate::module::Deployed,
    ) -> Result<Moved> {
        let (check, instance) = self.replay_checked(id, module).await?;
        if instance.module == deployed.digest {
            return Ok(Moved::AlreadyThere);
        }
        if let ReplayCheck::Diverged { failure } = check {
            return Ok(Moved::Pinned { failure });
        }
        let change = MoveInstance {
            id: id.to_owned(),
            execution: instance.execution,
            expected_len: instance.history_len,
            from: instance.module.clone(),
            to: deployed.digest.clone(),
            version: deployed.version.clone(),
            now: self.shared().clock.now_ms(),
        };
        Ok(match self.store().move_instance(change).await? {
            Ok(()) => Moved::Moved,
            Err(MoveRefused::Busy | MoveRefused::Changed) => Moved::Busy,
        })
    }
}
