//! A scenario as written in a `*.json` file:
//!
//! ```json
//! {
//!   "name": "approved before the deadline",
//!   "modules": ["approval.wasm"],
//!   "orchestrator": "Approval",
//!   "input": {"requestId": "req-1", "timeoutMs": 86400000},
//!   "mocks": {"ApplyChange": {"output": {"applied": true}},
//!             "Charge": {"results": [{"failure": {"kind": "Busy", "message": "try later"}},
//!                                    {"output": {"ok": true}}]}},
//!   "events": [{"name": "Approved", "data": {"by": "alice"}}],
//!   "expect": {"status": "Completed", "output": {"outcome": "approved"},
//!              "activities": ["ApplyChange"], "logs": ["approved by alice"]}
//! }
//! ```
//!
//! Module paths are relative to the file. An activity that is not mocked runs from the modules.
//! An event is raised once the orchestrator waits for it (`"when": "awaited"`, the default) or
//! right after the start (`"when": "start"`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::history::Failure;

/// One scenario.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Scenario {
    /// What it checks, for the report (the file's name when absent).
    #[serde(default)]
    pub name: Option<String>,
    /// Module files, relative to the scenario's file.
    #[serde(default)]
    pub modules: Vec<PathBuf>,
    /// The orchestrator to start.
    pub orchestrator: String,
    /// Its input.
    #[serde(default)]
    pub input: Value,
    /// Activities answered by the engine, by name: `{"output": …}`, `{"failure": {"kind", "message"}}`,
    /// or `{"results": [one of those, …]}` answered in turn (the last repeats).
    #[serde(default)]
    pub mocks: BTreeMap<String, Value>,
    /// Events to raise.
    #[serde(default)]
    pub events: Vec<EventSpec>,
    /// What must come out.
    #[serde(default)]
    pub expect: Expect,
    /// Wall-clock seconds the run may take [default: 60].
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// An event the scenario raises.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Event name.
    pub name: String,
    /// Its data.
    #[serde(default)]
    pub data: Value,
    /// `awaited` (once the orchestrator waits for it) or `start` (right after the start).
    #[serde(default)]
    pub when: When,
}

/// When an event is raised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum When {
    /// Once the orchestrator waits for it.
    #[default]
    Awaited,
    /// Right after the start.
    Start,
}

/// What must come out; each field that is present is checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Expect {
    /// The final status (`Completed`, `Failed`, …) [default: `Completed`].
    #[serde(default)]
    pub status: Option<String>,
    /// The output, exactly (numbers compared as numbers: `25` equals `25.0`).
    #[serde(default, deserialize_with = "present")]
    pub output: Option<Value>,
    /// The failure's kind, for a failed instance.
    #[serde(default)]
    pub failure_kind: Option<String>,
    /// The last custom status, exactly.
    #[serde(default, deserialize_with = "present")]
    pub custom_status: Option<Value>,
    /// The activities the orchestrator called, in the order it scheduled them.
    #[serde(default)]
    pub activities: Option<Vec<String>>,
    /// Texts each of which some line the guests wrote contains.
    #[serde(default)]
    pub logs: Vec<String>,
}

/// What a mocked activity answers, attempt by attempt.
pub(crate) type Answers = Vec<Result<Value, Failure>>;

/// A field given, even as `null`, is `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl Scenario {
    /// The answers of each mock, or why a mock is not one of the accepted shapes.
    pub(crate) fn answers(&self) -> Result<Vec<(String, Answers)>, String> {
        self.mocks
            .iter()
            .map(|(name, spec)| {
                let answers = match spec.get("results") {
                    Some(Value::Array(results)) if !results.is_empty() => {
                        results.iter().map(answer).collect::<Result<Vec<_>, _>>()
                    }
                    Some(_) => Err("`results` must be a non-empty array".to_owned()),
                    None => answer(spec).map(|a| vec![a]),
                };
                answers
                    .map(|a| (name.clone(), a))
                    .map_err(|e| format!("mock {name}: {e}"))
            })
            .collect()
    }
}

/// `{"output": …}` or `{"failure": {"kind": …, "message": …}}`.
fn answer(spec: &Value) -> Result<Result<Value, Failure>, String> {
    const SHAPE: &str =
        "a mock is {\"output\": …}, {\"failure\": {\"kind\", \"message\"}} or {\"results\": […]}";
    let object = spec.as_object().filter(|o| o.len() == 1).ok_or(SHAPE)?;
    if let Some(output) = object.get("output") {
        return Ok(Ok(output.clone()));
    }
    let failure = object.get("failure").ok_or(SHAPE)?;
    let kind = failure["kind"].as_str().ok_or("a failure needs a `kind`")?;
    let message = failure["message"].as_str().unwrap_or_default();
    let mut failure_value = Failure::new(kind, message);
    if let Some(details) = failure.get("details") {
        failure_value.details = Some(details.clone());
    }
    Ok(Err(failure_value))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_scenario_reads_its_mocks_events_and_expectations() {
        let scenario: Scenario = serde_json::from_value(json!({
            "orchestrator": "Approval",
            "mocks": {
                "A": {"output": null},
                "B": {"results": [{"failure": {"kind": "Busy", "message": "later"}}, {"output": 2}]},
            },
            "events": [{"name": "Approved", "data": {"by": "al"}}, {"name": "Go", "when": "start"}],
            "expect": {"output": null, "activities": ["A"]},
        }))
        .unwrap();
        let answers = scenario.answers().unwrap();
        assert_eq!(answers[0], ("A".to_owned(), vec![Ok(Value::Null)]));
        assert_eq!(answers[1].1.len(), 2);
        assert_eq!(answers[1].1[0], Err(Failure::new("Busy", "later")));
        assert_eq!(scenario.events[0].when, When::Awaited);
        assert_eq!(scenario.events[1].when, When::Start);
        assert_eq!(scenario.expect.output, Some(Value::Null));
        assert_eq!(scenario.expect.custom_status, None);

        let bad: Scenario =
            serde_json::from_value(json!({"orchestrator": "X", "mocks": {"A": {"outptu": 1}}}))
                .unwrap();
        assert!(bad.answers().unwrap_err().starts_with("mock A:"));
        assert!(
            serde_json::from_value::<Scenario>(json!({"orchestrator": "X", "expcet": {}})).is_err()
        );
    }
}
