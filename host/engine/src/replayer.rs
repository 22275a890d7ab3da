//! Exported histories and the replayer for users' own tests.
//!
//! `keel history ID --export FILE` writes the current execution of an instance as a self-contained
//! file (its orchestrator, input and events); `keel replay FILE MODULE.wasm`, or [`replay_file`] in a
//! Rust test, replays it in memory against another build and says whether that build would replay
//! it deterministically, naming the first divergence the way a live instance does (`KEEL-ND1`).
//!
//! An execution that ended must end again at the same event with the same value: a build that
//! completes with another output, fails where the recorded one completed, or goes on where the
//! recorded one ended does not replay that history. A replay never writes anything a user keeps.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::{Config, Error, Keel, Result};
use crate::history::{Failure, HistoryEvent};
use crate::orchestration::replay::NonDeterminism;
use crate::store::{HistoryRecord, Instance, Status};
use crate::upgrade::{Recorded, ReplayCheck};
use keel_runtime::turn::TurnEnd;

/// The `format` of the files this version writes and reads.
pub const FORMAT: &str = "keel-history/1";

/// One execution of an instance, as `keel history ID --export FILE` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedHistory {
    /// Always [`FORMAT`].
    pub format: String,
    /// The instance it was recorded by.
    pub instance: String,
    /// Its orchestrator.
    pub name: String,
    /// Digest of the module the execution ran.
    pub module: String,
    /// The execution, from 1.
    pub execution: u32,
    /// The execution's input.
    pub input: Value,
    /// Its status when it was exported.
    pub status: Status,
    /// The execution's events, in order.
    pub events: Vec<HistoryEvent>,
}

impl ExportedHistory {
    /// The current execution of `instance`, from its history `records` (of every execution, as
    /// `keel history` reads them); events past the instance row's count are left out.
    pub fn of(instance: &Instance, records: &[HistoryRecord]) -> Self {
        let events = records
            .iter()
            .filter(|r| r.execution == instance.execution)
            .take(instance.history_len as usize)
            .map(|r| r.event.clone())
            .collect();
        Self {
            format: FORMAT.to_owned(),
            instance: instance.id.clone(),
            name: instance.name.clone(),
            module: instance.module.clone(),
            execution: instance.execution,
            input: instance.input.clone(),
            status: instance.status,
            events,
        }
    }

    /// Reads an export from `text`; `source` names it in the error.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let not_export = |reason: String| Error::NotAnExport {
            file: source.to_owned(),
            reason,
        };
        let value: Value =
            serde_json::from_str(text).map_err(|e| not_export(format!("not JSON ({e})")))?;
        match value.get("format").and_then(Value::as_str) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(not_export(format!(
                    "its format is {other:?}; this keel reads {FORMAT:?}"
                )));
            }
            None => return Err(not_export("it has no \"format\" field".to_owned())),
        }
        serde_json::from_value(value).map_err(|e| not_export(e.to_string()))
    }

    /// The file's text: pretty JSON, one field per line, so that a fixture's diff can be read.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

impl Keel {
    /// The current execution of instance `id`, to write to a file.
    pub async fn export_history(&self, id: &str) -> Result<ExportedHistory> {
        let instance = self
            .status(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        let records = self.history(id).await?;
        Ok(ExportedHistory::of(&instance, &records))
    }

    /// Replays `export` against the module `bytes` in memory, recording nothing.
    pub async fn replay_export(
        &self,
        export: &ExportedHistory,
        bytes: &[u8],
    ) -> Result<ReplayCheck> {
        let (module, functions) = self.shared().registry.compile_unstored(bytes).await?;
        let orchestrators: Vec<&str> = functions
            .iter()
            .filter(|(_, kind)| kind == "orchestrator")
            .map(|(name, _)| name.as_str())
            .collect();
        if !orchestrators.contains(&export.name.as_str()) {
            return Err(Error::NotExported {
                name: export.name.clone(),
                exported: if orchestrators.is_empty() {
                    "no orchestrators".to_owned()
                } else {
                    orchestrators.join(", ")
                },
            });
        }
        let before_end = crate::history::before_end(export.events.clone());
        let at = before_end.len();
        let end = export.events.get(at).cloned();
        let replayed = self
            .replay_events(
                &module,
                Recorded {
                    instance: &export.instance,
                    execution: export.execution,
                    name: &export.name,
                    input: &export.input,
                    events: before_end,
                },
            )
            .await?;
        Ok(judge(&export.instance, at, end.as_ref(), replayed))
    }
}

/// Whether a replay that ended as `replayed` matches the recorded `end` (the event at index `at`,
/// `None` while the execution had not ended).
fn judge(
    instance: &str,
    at: usize,
    end: Option<&HistoryEvent>,
    replayed: std::result::Result<TurnEnd, Failure>,
) -> ReplayCheck {
    let diverged = |recorded: &HistoryEvent, requested: String| ReplayCheck::Diverged {
        failure: Failure::new(
            "NonDeterminism",
            NonDeterminism {
                instance: instance.to_owned(),
                event_index: at,
                recorded: described(recorded),
                requested,
            }
            .to_string(),
        ),
    };
    let replayed = match replayed {
        Err(failure) => return ReplayCheck::Diverged { failure },
        Ok(turn) => turn,
    };
    // A divergence inside the recorded events ends the replay as a failure that says so.
    if let TurnEnd::Finished(events) = &replayed
        && let Some(HistoryEvent::ExecutionFailed { failure }) = events.last()
        && failure.kind == "NonDeterminism"
    {
        return ReplayCheck::Diverged {
            failure: failure.clone(),
        };
    }
    match (end, replayed) {
        // Not ended (or ended from outside, while it waited): any way on from here is this build's
        // own, as for a live instance moved to it; only a failure is not.
        (None | Some(HistoryEvent::ExecutionTerminated { .. }), TurnEnd::Finished(events)) => {
            match events.last() {
                Some(HistoryEvent::ExecutionFailed { failure }) => ReplayCheck::Diverged {
                    failure: failure.clone(),
                },
                _ => ReplayCheck::Compatible,
            }
        }
        (None | Some(HistoryEvent::ExecutionTerminated { .. }), TurnEnd::Blocked(_)) => {
            ReplayCheck::Compatible
        }
        (Some(end), TurnEnd::Finished(events)) => match events.as_slice() {
            [only] if only == end => ReplayCheck::Compatible,
            [only] => diverged(end, format!("ends with {}", described(only))),
            [first, ..] => diverged(end, format!("records {}", described(first))),
            [] => diverged(end, "ends without an event".to_owned()),
        },
        (Some(end), TurnEnd::Blocked(events)) => match events.first() {
            Some(first) => diverged(end, format!("records {} and goes on", described(first))),
            None => diverged(
                end,
                "waits for a task whose result the history does not hold".to_owned(),
            ),
        },
    }
}

/// `ExecutionCompleted {"ok":true}`: an event as a divergence names it.
fn described(event: &HistoryEvent) -> String {
    format!("{} {}", event.kind(), event.summary())
}

/// Replays the exported history in the file `history` against the component `module`, in a
/// throw-away engine (a temporary database, removed after), with the default limits.
///
/// For a Rust test that the new build still replays last week's production histories (the call
/// `tests/all/replayer.rs` makes against the repository's own fixture):
///
/// ```text
/// let check = keel::replayer::replay_file("tests/histories/order-42.json".as_ref(),
///                                         "target/order.wasm".as_ref()).await?;
/// assert_eq!(check, keel::upgrade::ReplayCheck::Compatible, "{check:?}");
/// ```
pub async fn replay_file(history: &Path, module: &Path) -> Result<ReplayCheck> {
    replay_file_with(history, module, |_| {}).await
}

/// [`replay_file`] with the engine's configuration changed by `configure` (limits, say).
pub async fn replay_file_with(
    history: &Path,
    module: &Path,
    configure: impl FnOnce(&mut Config),
) -> Result<ReplayCheck> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| Error::Unreadable {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    };
    let text = read(history)?;
    let export = ExportedHistory::parse(
        &String::from_utf8_lossy(&text),
        &history.display().to_string(),
    )?;
    let bytes = read(module)?;
    let dir = ScratchDir::new()?;
    let mut config = Config::new(dir.0.join("replay.db"));
    configure(&mut config);
    config.db = dir.0.join("replay.db");
    config.cache_dir = None;
    let keel = Keel::open(config).await?;
    let check = keel.replay_export(&export, &bytes).await;
    drop(keel);
    check
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn new() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("keel-replay-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&path).map_err(|e| Error::Unreadable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        Ok(Self(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
