//! Running a scenario: a throwaway SQLite database, the modules deployed, the mocks set, the
//! instance started and watched. Whenever it has not moved for a few polls and nothing runs or is
//! due, the manual clock jumps to the next durable timer or retry; an event is raised once the
//! orchestrator waits for it. Then every expectation is compared, and each mismatch is reported.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::scenario::{Scenario, When};
use crate::clock::{Clock as _, ManualClock, SystemClock};
use crate::config::Config;
use crate::engine::Keel;
use crate::error::{Error, Result};
use crate::history::HistoryEvent;
use crate::store::{HistoryRecord, Instance};

/// The instance id every scenario runs under.
const ID: &str = "scenario";

/// How often the run looks at the instance.
const POLL: Duration = Duration::from_millis(5);

/// Polls without a change after which the instance is taken to wait.
const STILL_POLLS: u32 = 3;

/// How a scenario went.
#[derive(Debug)]
pub struct Outcome {
    /// The scenario's name.
    pub name: String,
    /// What did not come out as expected; empty when it passed.
    pub mismatches: Vec<String>,
    /// The instance as it ended (or as it was when the run gave up).
    pub instance: Option<Instance>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Orchestration time the manual clock skipped.
    pub skipped_ms: u64,
}

impl Outcome {
    /// True when every expectation held.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Reads the scenario in `path` and runs it; `modules`, when not empty, replaces its modules
/// (the same scenario against the build of each language). `config` gives the limits; its database
/// is replaced by a throwaway one.
pub async fn run_file(path: &Path, modules: &[PathBuf], config: Config) -> Result<Outcome> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Scenario {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut scenario: Scenario = serde_json::from_str(&text).map_err(|e| Error::Scenario {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    scenario.modules = if modules.is_empty() {
        scenario.modules.iter().map(|m| base.join(m)).collect()
    } else {
        modules.to_vec()
    };
    if scenario.name.is_none() {
        scenario.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    }
    run(&scenario, config).await
}

/// Runs `scenario` (its module paths as they are) with the limits of `config`.
pub async fn run(scenario: &Scenario, mut config: Config) -> Result<Outcome> {
    let name = scenario
        .name
        .clone()
        .unwrap_or_else(|| scenario.orchestrator.clone());
    let invalid = |message: String| Error::Scenario {
        path: name.clone(),
        message,
    };
    let answers = scenario.answers().map_err(invalid)?;
    if scenario.modules.is_empty() {
        return Err(invalid("it names no module (`modules`)".to_owned()));
    }
    let dir = tempfile::tempdir().map_err(|e| invalid(format!("no temporary directory: {e}")))?;
    let db = dir.path().join("keel.db");
    config.secret_key = Config::new(&db).secret_key;
    config.db = db;
    let clock = Arc::new(ManualClock::new(SystemClock.now_ms()));
    let started_at = clock.now_ms();
    let keel = Keel::open_with_clock(config, clock.clone()).await?;
    for module in &scenario.modules {
        let bytes = std::fs::read(module)
            .map_err(|e| invalid(format!("could not read module {}: {e}", module.display())))?;
        keel.deploy(bytes, None).await?;
    }
    for (activity, results) in answers {
        keel.mock_activity(&activity, results);
    }
    let started = Instant::now();
    keel.start(
        &scenario.orchestrator,
        &scenario.input.to_string(),
        Some(ID),
    )
    .await?;
    for event in scenario.events.iter().filter(|e| e.when == When::Start) {
        keel.raise_event(ID, &event.name, &event.data.to_string())
            .await?;
    }
    let worker = keel.run_worker();
    let watched = watch(&keel, &clock, scenario).await;
    worker.shutdown().await;
    let (instance, mut mismatches) = watched?;
    let history = keel.history(ID).await?;
    let logs = keel.logs(ID, 0, u32::MAX).await?;
    if mismatches.is_empty() {
        mismatches = compare(scenario, &instance, &history, &logs);
    }
    Ok(Outcome {
        name,
        mismatches,
        skipped_ms: clock.now_ms().saturating_sub(started_at),
        instance: Some(instance),
        elapsed: started.elapsed(),
    })
}

/// Watches the instance until it ends, raising the scenario's events as they are awaited and
/// moving the clock on while it waits; returns it with why it did not end, if it did not.
async fn watch(
    keel: &Keel,
    clock: &ManualClock,
    scenario: &Scenario,
) -> Result<(Instance, Vec<String>)> {
    let deadline = Instant::now() + Duration::from_secs(scenario.timeout_seconds.unwrap_or(60));
    let mut awaited_events: Vec<_> = scenario
        .events
        .iter()
        .filter(|e| e.when == When::Awaited)
        .collect();
    let mut last = None;
    let mut still = 0;
    // The history, read again only when the instance's execution or length moved.
    let mut history = (None, Vec::new());
    loop {
        let instance = keel
            .status(ID)
            .await?
            .ok_or_else(|| Error::NotFound(ID.to_owned()))?;
        if instance.status.is_terminal() {
            return Ok((instance, Vec::new()));
        }
        if let Some(reason) = &instance.parked {
            let reason = format!("the instance was parked: {reason}");
            return Ok((instance, vec![reason]));
        }
        if Instant::now() > deadline {
            let waits = waiting_for(&keel.history(ID).await?);
            return Ok((
                instance,
                vec![format!(
                    "the instance did not end within {} s of wall-clock time; it waits for {waits}",
                    scenario.timeout_seconds.unwrap_or(60)
                )],
            ));
        }
        let read_at = Some((instance.execution, instance.history_len));
        if history.0 != read_at {
            history = (read_at, keel.history(ID).await?);
        }
        if let Some(index) = awaited_events
            .iter()
            .position(|e| awaits(&history.1, &e.name))
        {
            let event = awaited_events.remove(index);
            keel.raise_event(ID, &event.name, &event.data.to_string())
                .await?;
            still = 0;
            continue;
        }
        let key = (
            instance.execution,
            instance.history_len,
            instance.updated_at,
        );
        if last == Some(key) {
            still += 1;
        } else {
            last = Some(key);
            still = 0;
        }
        if still >= STILL_POLLS && keel.is_idle().await? {
            let now = clock.now_ms();
            match keel.next_due(now).await? {
                Some(due) => {
                    clock.set(due.max(now));
                    keel.wake();
                    still = 0;
                }
                None => {
                    let waits = waiting_for(&history.1);
                    return Ok((
                        instance,
                        vec![format!(
                            "the instance waits for {waits}, and nothing in the scenario will come: \
                             add the event to `events`"
                        )],
                    ));
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Whether the orchestrator waits for event `name` now: it awaited it more often than it got it.
fn awaits(history: &[HistoryRecord], name: &str) -> bool {
    let count = |kind: fn(&HistoryEvent) -> Option<&str>| {
        history
            .iter()
            .filter(|r| kind(&r.event) == Some(name))
            .count()
    };
    let awaited = count(|e| match e {
        HistoryEvent::EventAwaited { name, .. } => Some(name),
        _ => None,
    });
    let raised = count(|e| match e {
        HistoryEvent::EventRaised { name, .. } => Some(name),
        _ => None,
    });
    awaited > raised
}

/// The events awaited and not raised, for a message.
fn waiting_for(history: &[HistoryRecord]) -> String {
    let mut names: Vec<&str> = history
        .iter()
        .filter_map(|r| match &r.event {
            HistoryEvent::EventAwaited { name, .. } if awaits(history, name) => Some(name.as_str()),
            _ => None,
        })
        .collect();
    names.dedup();
    match names.as_slice() {
        [] => "something the scenario does not provide".to_owned(),
        names => format!("event {}", names.join(", event ")),
    }
}

/// Each expectation of `scenario` that `instance` does not meet.
fn compare(
    scenario: &Scenario,
    instance: &Instance,
    history: &[HistoryRecord],
    logs: &[crate::store::StoredLogLine],
) -> Vec<String> {
    let expect = &scenario.expect;
    let mut mismatches = Vec::new();
    let status = expect.status.as_deref().unwrap_or("Completed");
    if !instance.status.as_str().eq_ignore_ascii_case(status) {
        let why = instance
            .failure
            .as_ref()
            .map(|f| format!(" ({f})"))
            .unwrap_or_default();
        mismatches.push(format!(
            "status: expected {status}, got {}{why}",
            instance.status
        ));
    }
    if let Some(output) = &expect.output {
        let got = instance.output.clone().unwrap_or(Value::Null);
        if numbers_as_f64(&got) != numbers_as_f64(output) {
            mismatches.push(format!("output: expected {output}, got {got}"));
        }
    }
    if let Some(kind) = &expect.failure_kind {
        let got = instance.failure.as_ref().map(|f| f.kind.as_str());
        if got != Some(kind.as_str()) {
            mismatches.push(format!(
                "failure kind: expected {kind}, got {}",
                got.unwrap_or("no failure")
            ));
        }
    }
    if let Some(custom) = &expect.custom_status {
        let got = instance.custom_status.clone().unwrap_or(Value::Null);
        if numbers_as_f64(&got) != numbers_as_f64(custom) {
            mismatches.push(format!("custom status: expected {custom}, got {got}"));
        }
    }
    if let Some(activities) = &expect.activities {
        let got: Vec<&str> = history
            .iter()
            .filter_map(|r| match &r.event {
                HistoryEvent::TaskScheduled { name, .. } => {
                    Some(keel_runtime::labels::split_versioned(name).0)
                }
                _ => None,
            })
            .collect();
        if got != *activities {
            mismatches.push(format!("activities: expected {activities:?}, got {got:?}"));
        }
    }
    for text in &expect.logs {
        if !logs.iter().any(|l| l.line.text.contains(text.as_str())) {
            mismatches.push(format!("logs: no line contains {text:?}"));
        }
    }
    mismatches
}

/// Every number as an f64: JavaScript writes the f64 `25.0` as `25`, serde_json as `25.0`, and
/// both mean the same value; expectations compare values through it.
pub fn numbers_as_f64(value: &Value) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_f64).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}
