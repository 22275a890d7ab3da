//! `keel schedule create|list|show|delete|pause|resume`: recurring starts of an orchestrator, fired by
//! whichever worker (`keel worker`, `keel serve`) sees them due first.

use anyhow::Result;
use clap::Subcommand;
use keel_store::ScheduleRow;

use crate::engine::Keel;
use crate::schedules::{CatchUp, NewSchedule, Overlap, When};

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
        /// While the previous firing's instance runs: `skip` the firing, or `allow` it.
        #[arg(long, default_value = "skip")]
        overlap: Overlap,
        /// Firings missed while no worker ran: `latest` (one, at once) or `all`.
        #[arg(long, default_value = "latest")]
        catch_up: CatchUp,
        /// Create it paused.
        #[arg(long)]
        paused: bool,
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

/// Runs `action` on the local database.
pub(crate) async fn run(keel: &Keel, action: ScheduleAction, json: bool) -> Result<()> {
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
        } => {
            let when = match (cron, every) {
                (Some(cron), _) => When::cron(&cron, &timezone),
                (None, Some(every)) => When::every(&every),
                (None, None) => Err("give --cron or --every".to_owned()),
            }
            .map_err(|message| crate::engine::Error::Schedule {
                name: name.clone(),
                message,
            })?;
            let created = keel
                .create_schedule(NewSchedule {
                    name,
                    orchestrator,
                    input,
                    when,
                    overlap,
                    catch_up,
                    paused,
                })
                .await?;
            show(&created, json)?;
        }
        ScheduleAction::List => list(&keel.schedules().await?, json)?,
        ScheduleAction::Show { name } => show(&keel.schedule(&name).await?, json)?,
        ScheduleAction::Delete { name } => {
            keel.delete_schedule(&name).await?;
            super::done(json, &format!("deleted schedule {name}"));
        }
        ScheduleAction::Pause { name } => show(&keel.pause_schedule(&name, true).await?, json)?,
        ScheduleAction::Resume { name } => show(&keel.pause_schedule(&name, false).await?, json)?,
    }
    Ok(())
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
