//! Schedules: an orchestrator started with a fixed input at the times of a cron expression (in a time
//! zone) or of an interval, by whichever worker sees the firing due first.
//!
//! Each firing starts its instance under the id `SCHEDULE@FIRE-TIME` (UTC, RFC 3339) in the
//! transaction that moves the schedule to its next firing (see `keel_store::ScheduleChange::Fired`),
//! so a firing starts one instance however many workers run and whenever one of them dies.
//!
//! - **Overlap:** `skip` (the default) skips a firing while the instance of the previous one has not
//!   ended; `allow` starts it anyway; `buffer-one` holds it and starts it once that instance ended.
//! - **Jitter:** each firing may wait a delay of its own after its time, up to the schedule's
//!   jitter; its instance is still named after the time.
//! - **Catch-up:** firings missed while no worker ran are done once, at once (`latest`, the
//!   default), or each in turn (`all`).
//! - **Pause and resume:** a paused schedule does not fire; a resumed one fires next at its first
//!   time after the resumption (missed firings are not done).

pub mod policy;
mod request;
pub mod when;

use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::engine::Keel;
use crate::error::{Error, Result};
use crate::store::{NewInstance, ScheduleChange, ScheduleRow};
pub use policy::{CatchUp, Overlap, jitter_delay_ms};
pub use request::{NewSchedule, ScheduleRequest};
pub use when::When;

/// How often a worker looks for due firings.
const CHECK_EVERY: Duration = Duration::from_millis(500);

/// Firings done in one check at most (the rest wait for the next check).
const FIRINGS_PER_CHECK: usize = 100;

/// Missed times looked through at most to find the latest one (a year of minutes is 525,600; the
/// latest of more is not looked for, and a later check goes on from there).
const MAX_CATCH_UP_STEPS: usize = 1_000_000;

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
            jitter_ms: new.jitter_ms,
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
        let on_time = due.iter().filter(|s| {
            now >= s.next_fire_ms.saturating_add(jitter_delay_ms(
                &s.name,
                s.next_fire_ms,
                s.jitter_ms,
            ))
        });
        for schedule in on_time.take(FIRINGS_PER_CHECK) {
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
        if schedule.overlap == Overlap::BufferOne.as_str() && self.previous_runs(schedule).await {
            // Held: the schedule stays due, and a later check starts it once the previous ended.
            return Ok(false);
        }
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
        if schedule.overlap == Overlap::Skip.as_str() && self.previous_runs(schedule).await {
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

    /// Whether the instance of `schedule`'s last started firing has not ended yet.
    async fn previous_runs(&self, schedule: &ScheduleRow) -> bool {
        match &schedule.last_instance {
            Some(last) => matches!(self.status(last).await, Ok(Some(i)) if !i.status.is_terminal()),
            None => false,
        }
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
