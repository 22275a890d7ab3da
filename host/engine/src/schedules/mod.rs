//! Schedules: an orchestrator started with a fixed input at the times of a cron expression (in a time
//! zone) or of an interval, by whichever worker sees the firing due first.
//!
//! Each firing starts its instance under the id `SCHEDULE@FIRE-TIME` (UTC, RFC 3339) in the
//! transaction that moves the schedule to its next firing (see `keel_store::ScheduleChange::Fired`),
//! so a firing starts one instance however many workers run and whenever one of them dies.
//!
//! - **Overlap:** `skip` (the default) skips a firing while the instance of the previous one has not
//!   ended; `allow` starts it anyway.
//! - **Catch-up:** firings missed while no worker ran are done once, at once (`latest`, the
//!   default), or each in turn (`all`).
//! - **Pause and resume:** a paused schedule does not fire; a resumed one fires next at its first
//!   time after the resumption (missed firings are not done).

pub mod when;

use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::engine::Keel;
use crate::error::{Error, Result};
use crate::store::{NewInstance, ScheduleChange, ScheduleRow};
pub use when::When;

/// How often a worker looks for due firings.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Firings done in one check at most (the rest wait for the next check).
const FIRINGS_PER_CHECK: usize = 100;

/// Missed times looked through at most to find the latest one (a year of minutes is 525,600; the
/// latest of more is not looked for, and a later check goes on from there).
const MAX_CATCH_UP_STEPS: usize = 1_000_000;

/// What a firing does while the previous firing's instance runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overlap {
    /// Skip it.
    #[default]
    Skip,
    /// Start it anyway.
    Allow,
}

/// What happens to firings missed while no worker ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CatchUp {
    /// One firing, at once, for all of them.
    #[default]
    Latest,
    /// Each of them, one after the other.
    All,
}

impl Overlap {
    /// `skip` or `allow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Skip => "skip",
            Overlap::Allow => "allow",
        }
    }
}

impl std::str::FromStr for Overlap {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "skip" => Ok(Overlap::Skip),
            "allow" => Ok(Overlap::Allow),
            other => Err(format!("overlap {other:?}: expected skip or allow")),
        }
    }
}

impl CatchUp {
    /// `latest` or `all`.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Latest => "latest",
            CatchUp::All => "all",
        }
    }
}

impl std::str::FromStr for CatchUp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "latest" => Ok(CatchUp::Latest),
            "all" => Ok(CatchUp::All),
            other => Err(format!("catch-up {other:?}: expected latest or all")),
        }
    }
}

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
    /// `skip` (default) or `allow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<String>,
    /// `latest` (default) or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<String>,
    /// Created paused.
    #[serde(default)]
    pub paused: bool,
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
        Ok(NewSchedule {
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

/// The id of the instance a firing starts: `SCHEDULE@2026-11-30T10:00:00Z`.
pub fn firing_id(schedule: &str, fire_ms: u64) -> String {
    let at = i64::try_from(fire_ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map_or_else(|| fire_ms.to_string(), |t| t.to_string());
    format!("{schedule}@{at}")
}

impl Keel {
    /// Creates a schedule; its first firing is its first time after now. A name in use is
    /// `KEEL-E21`, an orchestrator that is not deployed `KEEL-E3`.
    pub async fn create_schedule(&self, new: NewSchedule) -> Result<ScheduleRow> {
        // The longest instance id a firing makes must fit.
        self.name("schedule name", &firing_id(&new.name, 0))?;
        if new.name.is_empty() || new.name.contains('@') {
            return Err(Error::Schedule {
                name: new.name,
                message: "a schedule's name is not empty and has no '@'".to_owned(),
            });
        }
        self.parse("input", &new.input)?;
        self.orchestrator_module(&new.orchestrator).await?;
        let now = self.now_ms();
        let next_fire_ms = new
            .when
            .next_after(now, now)
            .map_err(|message| Error::Schedule {
                name: new.name.clone(),
                message,
            })?;
        let (spec, timezone) = new.when.stored();
        let row = ScheduleRow {
            name: new.name.clone(),
            orchestrator: new.orchestrator,
            input: new.input,
            spec,
            timezone,
            overlap: new.overlap.as_str().to_owned(),
            catch_up: new.catch_up.as_str().to_owned(),
            paused: new.paused,
            next_fire_ms,
            last_fire_ms: None,
            last_instance: None,
            fired: 0,
            skipped: 0,
            created_ms: now,
        };
        if !self
            .store()
            .change_schedule(ScheduleChange::Create(row.clone()))
            .await?
        {
            return Err(Error::ScheduleExists(new.name));
        }
        Ok(row)
    }

    /// Every schedule, by name.
    pub async fn schedules(&self) -> Result<Vec<ScheduleRow>> {
        Ok(self.store().schedules(None).await?)
    }

    /// The schedule named `name` (`KEEL-E20` when there is none).
    pub async fn schedule(&self, name: &str) -> Result<ScheduleRow> {
        self.schedules()
            .await?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| self.unknown_schedule(name))
    }

    /// Deletes a schedule; the instances it started are left alone.
    pub async fn delete_schedule(&self, name: &str) -> Result<()> {
        let change = ScheduleChange::Delete {
            name: name.to_owned(),
        };
        if self.store().change_schedule(change).await? {
            Ok(())
        } else {
            Err(self.unknown_schedule(name))
        }
    }

    /// Pauses (`paused`) or resumes a schedule; a resumed one fires next at its first time after
    /// now.
    pub async fn pause_schedule(&self, name: &str, paused: bool) -> Result<ScheduleRow> {
        let schedule = self.schedule(name).await?;
        let next_fire_ms = if paused {
            None
        } else {
            let now = self.now_ms();
            Some(
                stored_when(&schedule)?
                    .next_after(now, now)
                    .map_err(|message| Error::Schedule {
                        name: name.to_owned(),
                        message,
                    })?,
            )
        };
        let change = ScheduleChange::Pause {
            name: name.to_owned(),
            paused,
            next_fire_ms,
        };
        if !self.store().change_schedule(change).await? {
            return Err(self.unknown_schedule(name));
        }
        self.schedule(name).await
    }

    /// Does the firings due now (up to a hundred); how many it did, skipped ones included.
    pub async fn fire_due_schedules(&self) -> Result<usize> {
        let now = self.now_ms();
        let due = self.store().schedules(Some(now)).await?;
        let mut done = 0;
        for schedule in due.iter().take(FIRINGS_PER_CHECK) {
            match self.fire(schedule, now).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(schedule = %schedule.name, error = %e, "a schedule could not fire")
                }
            }
        }
        Ok(done)
    }

    /// Does `schedule`'s firing due at its `next_fire_ms`; whether this call did it (another
    /// worker may have).
    async fn fire(&self, schedule: &ScheduleRow, now: u64) -> Result<bool> {
        let when = stored_when(schedule)?;
        let fire_ms = schedule.next_fire_ms;
        let failed = |message| Error::Schedule {
            name: schedule.name.clone(),
            message,
        };
        // Catching up on `latest`, one firing stands for every time missed: the last of them.
        let mut time_ms = fire_ms;
        if schedule.catch_up != CatchUp::All.as_str() {
            for _ in 0..MAX_CATCH_UP_STEPS {
                let next = when
                    .next_after(time_ms, schedule.created_ms)
                    .map_err(failed)?;
                if next > now {
                    break;
                }
                time_ms = next;
            }
        }
        let next_fire_ms = when
            .next_after(time_ms.max(fire_ms), schedule.created_ms)
            .map_err(failed)?;
        let start = self.firing(schedule, time_ms).await;
        let started = start.as_ref().map(|i| i.id.clone());
        let done = self
            .store()
            .change_schedule(ScheduleChange::Fired {
                name: schedule.name.clone(),
                fire_ms,
                time_ms,
                next_fire_ms,
                start,
                now,
            })
            .await?;
        if done {
            match &started {
                Some(id) => {
                    tracing::info!(schedule = %schedule.name, instance = %id, "schedule fired")
                }
                None => tracing::info!(schedule = %schedule.name, "schedule firing skipped"),
            }
        }
        Ok(done)
    }

    /// The instance `schedule`'s firing at `fire_ms` starts, or `None` when it is skipped: the
    /// previous instance still runs (overlap `skip`), or the orchestrator cannot be started.
    async fn firing(&self, schedule: &ScheduleRow, fire_ms: u64) -> Option<NewInstance> {
        if schedule.overlap == Overlap::Skip.as_str()
            && let Some(last) = &schedule.last_instance
            && let Ok(Some(instance)) = self.status(last).await
            && !instance.status.is_terminal()
        {
            return None;
        }
        let module = match self.orchestrator_module(&schedule.orchestrator).await {
            Ok(module) => module,
            Err(e) => {
                tracing::error!(schedule = %schedule.name, error = %e, "the schedule's orchestrator cannot be started; the firing is skipped");
                return None;
            }
        };
        let input: Value = match serde_json::from_str(&schedule.input) {
            Ok(input) => input,
            Err(e) => {
                tracing::error!(schedule = %schedule.name, error = %e, "the schedule's input is not JSON; the firing is skipped");
                return None;
            }
        };
        Some(NewInstance {
            id: firing_id(&schedule.name, fire_ms),
            name: schedule.orchestrator.clone(),
            module,
            input,
            parent: None,
        })
    }

    fn unknown_schedule(&self, name: &str) -> Error {
        Error::UnknownSchedule(name.to_owned())
    }
}

/// A stored schedule's times.
fn stored_when(schedule: &ScheduleRow) -> Result<When> {
    When::from_stored(&schedule.spec, &schedule.timezone).map_err(|message| Error::Schedule {
        name: schedule.name.clone(),
        message,
    })
}

/// A worker's schedule loop: does the due firings about twice a second until `stopped`.
pub(crate) async fn run(keel: Keel, mut stopped: watch::Receiver<bool>) {
    loop {
        if *stopped.borrow() {
            break;
        }
        if let Err(e) = keel.fire_due_schedules().await {
            tracing::warn!(error = %e, "could not read the due schedules");
        }
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stopped.changed() => {}
        }
    }
}
