//! `keel schedule create|list|show|delete|pause|resume`: recurring starts of an orchestrator, fired by
//! whichever worker (`keel worker`, `keel serve`) sees them due first. The same commands and output
//! on a local database and with `--server` (`/api/schedules`).

use anyhow::{Context as _, Result};
use clap::Subcommand;
use keel_store::ScheduleRow;
use serde_json::Value;

use crate::api::percent_encode;
use crate::engine::Keel;
use crate::http_client::Remote;
use crate::schedules::{ScheduleRequest, When};

/// Where the schedules are.
pub(crate) enum Target<'a> {
    Local(&'a Keel),
    Remote(&'a Remote),
}

/// What `keel schedule` does.
#[derive(Debug, Subcommand)]
pub enum ScheduleAction {
    /// Create a schedule: `--cron "0 * * * *"` (with `--timezone`) or `--every 30s`.
    Create {
        /// The schedule's name; each firing's instance is `NAME@FIRE-TIME`.
        name: String,
        /// The orchestrator each firing starts.
        #[arg(short, long)]
        orchestrator: String,
        /// The input of each instance (JSON).
        #[arg(short, long, default_value = "null")]
        input: String,
        /// Five cron fields: minute hour day-of-month month day-of-week.
        #[arg(long, conflicts_with = "every", required_unless_present = "every")]
        cron: Option<String>,
        /// The IANA time zone the cron expression is read in.
        #[arg(long, default_value = "UTC", requires = "cron")]
        timezone: String,
        /// An interval: `30s`, `5m`, `1h 30m`, `2d` (at least 1 s).
        #[arg(long)]
        every: Option<String>,
        /// While the previous firing's instance runs: `skip` the firing, `allow` it, or hold it
        /// until that instance ended (`buffer-one`).
        #[arg(long, default_value = "skip", value_parser = ["skip", "allow", "buffer-one"])]
        overlap: String,
        /// Firings missed while no worker ran: `latest` (one, at once) or `all`.
        #[arg(long, default_value = "latest", value_parser = ["latest", "all"])]
        catch_up: String,
        /// Create it paused.
        #[arg(long)]
        paused: bool,
        /// Each firing waits a delay of its own after its time, up to this (`30s`, `5m`), so that
        /// schedules due at one time do not all start at once.
        #[arg(long)]
        jitter: Option<String>,
    },
    /// List the schedules.
    List,
    /// Show one schedule.
    Show {
        /// The schedule.
        name: String,
    },
    /// Delete a schedule (the instances it started stay).
    Delete {
        /// The schedule.
        name: String,
    },
    /// Pause a schedule: it does not fire until resumed.
    Pause {
        /// The schedule.
        name: String,
    },
    /// Resume a paused schedule: it fires next at its first time from now.
    Resume {
        /// The schedule.
        name: String,
    },
}

/// Runs `action` on `target`.
pub(crate) async fn run(target: Target<'_>, action: ScheduleAction, json: bool) -> Result<()> {
    match action {
        ScheduleAction::Create {
            name,
            orchestrator,
            input,
            cron,
            timezone,
            every,
            overlap,
            catch_up,
            paused,
            jitter,
        } => {
            let input: Value =
                serde_json::from_str(&input).map_err(|e| crate::engine::Error::InvalidJson {
                    what: "input",
                    message: e.to_string(),
                })?;
            let request = ScheduleRequest {
                name,
                orchestrator,
                input,
                timezone: cron.as_ref().map(|_| timezone),
                cron,
                every,
                overlap: Some(overlap),
                catch_up: Some(catch_up),
                paused,
                jitter,
            };
            let created = match target {
                Target::Local(keel) => keel.create_schedule(request.into_new()?).await?,
                Target::Remote(remote) => {
                    let body = serde_json::to_vec(&request)?;
                    decode(remote.call("POST", "/api/schedules", &body).await?)?
                }
            };
            show(&created, json)?;
        }
        ScheduleAction::List => {
            let schedules = match target {
                Target::Local(keel) => keel.schedules().await?,
                Target::Remote(remote) => decode(remote.call("GET", "/api/schedules", b"").await?)?,
            };
            list(&schedules, json)?;
        }
        ScheduleAction::Show { name } => {
            let schedule = match target {
                Target::Local(keel) => keel.schedule(&name).await?,
                Target::Remote(remote) => decode(remote.call("GET", &path(&name), b"").await?)?,
            };
            show(&schedule, json)?;
        }
        ScheduleAction::Delete { name } => {
            match target {
                Target::Local(keel) => keel.delete_schedule(&name).await?,
                Target::Remote(remote) => drop(remote.call("DELETE", &path(&name), b"").await?),
            }
            super::done(json, &format!("deleted schedule {name}"));
        }
        ScheduleAction::Pause { name } => show(&pause(target, &name, true).await?, json)?,
        ScheduleAction::Resume { name } => show(&pause(target, &name, false).await?, json)?,
    }
    Ok(())
}

async fn pause(target: Target<'_>, name: &str, paused: bool) -> Result<ScheduleRow> {
    Ok(match target {
        Target::Local(keel) => keel.pause_schedule(name, paused).await?,
        Target::Remote(remote) => {
            let verb = if paused { "pause" } else { "resume" };
            let uri = format!("{}/{verb}", path(name));
            decode(remote.call("POST", &uri, b"").await?)?
        }
    })
}

fn path(name: &str) -> String {
    format!("/api/schedules/{}", percent_encode(name))
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).context("the server's schedule")
}

/// How a stored schedule's times read (`every 30 s`, `cron "0 9 * * *" (Europe/Paris)`).
fn when(schedule: &ScheduleRow) -> String {
    When::from_stored(&schedule.spec, &schedule.timezone)
        .map_or_else(|_| schedule.spec.clone(), |w| w.describe())
}

fn state(schedule: &ScheduleRow) -> &'static str {
    if schedule.paused { "paused" } else { "running" }
}

/// One line per schedule: name, state, times, orchestrator, next firing.
fn list(schedules: &[ScheduleRow], json: bool) -> Result<()> {
    if json {
        for s in schedules {
            println!("{}", serde_json::to_string(s)?);
        }
        return Ok(());
    }
    if schedules.is_empty() {
        eprintln!("no schedules (keel schedule create NAME --every 1h -o ORCHESTRATOR)");
        return Ok(());
    }
    for s in schedules {
        let next = if s.paused {
            "-".to_owned()
        } else {
            super::print::local_time(s.next_fire_ms)
        };
        println!(
            "{:<20} {:<8} {:<34} {:<20} next {next}",
            s.name,
            state(s),
            when(s),
            s.orchestrator
        );
    }
    Ok(())
}

fn show(s: &ScheduleRow, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(s)?);
        return Ok(());
    }
    println!("schedule      {}", s.name);
    println!("state         {}", state(s));
    println!("fires         {}", when(s));
    println!("orchestrator  {}", s.orchestrator);
    println!("input         {}", s.input);
    println!("overlap       {}", s.overlap);
    println!("catch-up      {}", s.catch_up);
    if s.jitter_ms > 0 {
        println!("jitter        up to {} ms", s.jitter_ms);
    }
    if !s.paused {
        println!("next          {}", super::print::local_time(s.next_fire_ms));
    }
    if let Some(last) = s.last_fire_ms {
        println!("last          {}", super::print::local_time(last));
    }
    if let Some(instance) = &s.last_instance {
        println!("last instance {instance}");
    }
    println!("fired         {} (skipped {})", s.fired, s.skipped);
    println!("created       {}", super::print::local_time(s.created_ms));
    Ok(())
}
