//! A schedule as a client asks for it, checked into the schedule to create.

use serde_json::Value;

use super::policy::{CatchUp, Overlap};
use super::when::{self, When};
use crate::error::{Error, Result};

/// A schedule to create.
#[derive(Debug, Clone)]
pub struct NewSchedule {
    /// Its name (unique).
    pub name: String,
    /// The orchestrator each firing starts (deployed).
    pub orchestrator: String,
    /// The input of each instance, JSON text.
    pub input: String,
    /// When it fires.
    pub when: When,
    /// While the previous instance runs.
    pub overlap: Overlap,
    /// Missed firings.
    pub catch_up: CatchUp,
    /// Created paused.
    pub paused: bool,
    /// The most a firing waits after its time, in ms (0: on time).
    pub jitter_ms: u64,
}

/// A schedule as a client asks for it (the CLI's flags, the API's `POST /api/schedules` body):
/// `cron` (with `timezone`) or `every`, and the rest optional.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleRequest {
    /// The schedule's name.
    pub name: String,
    /// The orchestrator each firing starts.
    pub orchestrator: String,
    /// The input of each instance.
    #[serde(default)]
    pub input: Value,
    /// Five cron fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// The time zone of `cron` (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// An interval (`30s`, `5m`, `1h 30m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// `skip` (default), `allow` or `buffer-one`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<String>,
    /// `latest` (default) or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<String>,
    /// Created paused.
    #[serde(default)]
    pub paused: bool,
    /// The most a firing waits after its time (`30s`, `5m`), each firing a delay of its own, so
    /// that schedules due at one time do not all start at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<String>,
}

impl ScheduleRequest {
    /// The schedule it asks for, or `KEEL-E19` saying what is wrong with it.
    pub fn into_new(self) -> Result<NewSchedule> {
        let name = self.name;
        let wrong = |message: String| Error::Schedule {
            name: name.clone(),
            message,
        };
        let when = match (self.cron, self.every) {
            (Some(cron), None) => {
                When::cron(&cron, self.timezone.as_deref().unwrap_or("UTC")).map_err(wrong)?
            }
            (None, Some(every)) if self.timezone.is_none() => When::every(&every).map_err(wrong)?,
            (None, Some(_)) => return Err(wrong("a time zone applies to cron only".to_owned())),
            (Some(_), Some(_)) => return Err(wrong("give cron or every, not both".to_owned())),
            (None, None) => return Err(wrong("give cron or every".to_owned())),
        };
        let overlap = self
            .overlap
            .as_deref()
            .map_or(Ok(Overlap::default()), str::parse)
            .map_err(wrong)?;
        let catch_up = self
            .catch_up
            .as_deref()
            .map_or(Ok(CatchUp::default()), str::parse)
            .map_err(wrong)?;
        let jitter_ms = match self.jitter.as_deref() {
            None => 0,
            Some(text) => {
                when::duration_ms(text).map_err(|e| wrong(format!("jitter {text:?}: {e}")))?
            }
        };
        Ok(NewSchedule {
            jitter_ms,
            input: self.input.to_string(),
            name,
            orchestrator: self.orchestrator,
            when,
            overlap,
            catch_up,
            paused: self.paused,
        })
    }
}
