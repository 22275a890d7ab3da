//! How instances, histories and instance lists are printed, for text and `--json`: one printer per
//! kind, fed by the local commands from the store and by `keel --server` from the API's JSON decoded
//! into the same types, so that both paths print the same lines.
//!
//! Times are stored as milliseconds since the Unix epoch; text output shows them as date-times in
//! the local time zone (the system's, or `TZ`), and `--json` keeps the milliseconds.
//!
//! It must never read from a database or a server: callers hand it what to print.

use std::process::ExitCode;

use anyhow::Result;
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::history::HistoryEvent;
use crate::store::{ActivityRow, HistoryRecord, Instance, WorkerRow};

/// `ms` since the Unix epoch as a local date-time with milliseconds and the zone's abbreviation:
/// `2026-11-29 15:04:05.123 CET`. A value outside the calendar's range is printed as it is.
pub(crate) fn local_time(ms: u64) -> String {
    let Some(at) = i64::try_from(ms)
        .ok()
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
    else {
        return ms.to_string();
    };
    at.to_zoned_datetime(TimeZone::system())
        .strftime("%Y-%m-%d %H:%M:%S%.3f %Z")
        .to_string()
}

/// One event for humans: [`HistoryEvent::summary`], with its times as local date-times, and the
/// value an execution ended with in full (the other values are cut at a line's width).
fn describe(event: &HistoryEvent) -> String {
    match event {
        HistoryEvent::OrchestratorStarted { time_ms } => format!("time {}", local_time(*time_ms)),
        HistoryEvent::TimerCreated { id, fire_at_ms } => {
            format!("#{id} fires at {}", local_time(*fire_at_ms))
        }
        HistoryEvent::TaskRetrying {
            id,
            failure,
            attempt,
            retry_at_ms,
        } => format!(
            "#{id} attempt {attempt}: {failure}; retry at {}",
            local_time(*retry_at_ms)
        ),
        HistoryEvent::ExecutionCompleted { output } => output.to_string(),
        HistoryEvent::ContinuedAsNew { input, .. } => input.to_string(),
        _ => event.summary(),
    }
}

/// An instance: `--json` as one JSON object, otherwise one labelled field per line.
pub(crate) fn instance(instance: &Instance, json: bool) -> Result<()> {
    status(instance, &[], json)
}

/// An instance as `keel status` shows it: [`instance`] and the activities it waits for, each with
/// its attempt and latest heartbeat.
pub(crate) fn status(instance: &Instance, activities: &[ActivityRow], json: bool) -> Result<()> {
    if json {
        let mut value = serde_json::to_value(instance)?;
        if !activities.is_empty()
            && let Some(object) = value.as_object_mut()
        {
            object.insert("activities".into(), serde_json::to_value(activities)?);
        }
        println!("{value}");
        return Ok(());
    }
    println!("instance  {}", instance.id);
    println!("name      {}", instance.name);
    println!("status    {}", instance.status);
    println!(
        "module    {}",
        instance.module.get(..12).unwrap_or(&instance.module)
    );
    println!("input     {}", instance.input);
    println!("created   {}", local_time(instance.created_at));
    println!("updated   {}", local_time(instance.updated_at));
    if let Some(status) = &instance.custom_status {
        println!("custom    {status}");
    }
    if let Some(output) = &instance.output {
        println!("output    {output}");
    }
    if let Some(reason) = &instance.parked {
        println!(
            "parked    {reason} (fix it, then `keel resume {}`)",
            instance.id
        );
    }
    if let Some(failure) = &instance.failure {
        println!("failure   {failure}");
        if let Some(frame) = failure.details.as_ref().and_then(raised_at) {
            println!("raised at {frame}");
        }
    }
    for a in activities {
        let state = if a.running { "running" } else { "waiting" };
        println!(
            "activity  #{} {} attempt {} {state}",
            a.task_id, a.name, a.attempt
        );
        if let (Some(details), Some(at)) = (&a.heartbeat, a.heartbeat_ms) {
            println!("          heartbeat {details} at {}", local_time(at));
        }
    }
    Ok(())
}

/// Where a Python or JavaScript guest raised a failure: the innermost frame of the traceback (a
/// Python SDK's `traceback` detail) or of the stack (a JavaScript SDK's `stack`), as `file:line` and
/// the function when the frame names one.
fn raised_at(details: &serde_json::Value) -> Option<String> {
    if let Some(traceback) = details["traceback"].as_str() {
        // `  File "app.py", line 12, in fails`: the last one is the innermost.
        let frame = traceback
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("File \""))?;
        let (file, rest) = frame.split_once("\", line ")?;
        let (line, function) = rest.split_once(", in ").unwrap_or((rest, ""));
        return Some(match function {
            "" => format!("{file}:{line}"),
            f => format!("{file}:{line} in {f}"),
        });
    }
    // `    at fails (app.js:12:7)` or `    at app.js:12:7`: the first one is the innermost.
    let stack = details["stack"].as_str()?;
    let frame = stack.lines().find_map(|l| l.trim().strip_prefix("at "))?;
    Some(
        match frame.strip_suffix(')').and_then(|f| f.split_once(" (")) {
            Some((function, place)) => format!("{place} in {function}"),
            None => frame.to_owned(),
        },
    )
}

/// A history: `--json` as one JSON array, otherwise `execution.seq kind summary` per event.
pub(crate) fn history(records: &[HistoryRecord], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(records)?);
        return Ok(());
    }
    for r in records {
        println!(
            "{:>3}.{:<4} {:<26} {}",
            r.execution,
            r.seq,
            r.event.kind(),
            describe(&r.event)
        );
    }
    Ok(())
}

/// A query's answer: `--json` on one line, otherwise indented.
pub(crate) fn answer(answer: &serde_json::Value, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(answer)?);
    } else {
        println!("{}", serde_json::to_string_pretty(answer)?);
    }
    Ok(())
}

/// An update's result; an update not served within the wait says how to wait on it again.
pub(crate) fn update(
    result: Option<&serde_json::Value>,
    update_id: &str,
    json: bool,
) -> Result<ExitCode> {
    match result {
        Some(result) => {
            answer(result, json)?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            eprintln!(
                "the update {update_id} was sent and is not served yet; wait on it again with \
                 --update-id {update_id}"
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Instances: `--json` as one JSON array, otherwise a table.
pub(crate) fn instances(instances: &[Instance], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(instances)?);
        return Ok(());
    }
    println!("{:<36} {:<20} {:<15} CREATED", "ID", "NAME", "STATUS");
    for i in instances {
        println!(
            "{:<36} {:<20} {:<15} {}",
            i.id,
            i.name,
            i.status.as_str(),
            local_time(i.created_at)
        );
    }
    Ok(())
}

/// Workers as they last reported: `--json` as one JSON array, otherwise a table.
pub(crate) fn workers(workers: &[WorkerRow], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(workers)?);
        return Ok(());
    }
    if workers.is_empty() {
        eprintln!(
            "no worker has reported on this database: start one with `keel worker` or `keel serve`"
        );
        return Ok(());
    }
    println!(
        "{:<40} {:<20} {:>8} {:<8} {:<30} LAST SEEN",
        "WORKER", "HOST", "PID", "VERSION", "STARTED"
    );
    for w in workers {
        println!(
            "{:<40} {:<20} {:>8} {:<8} {:<30} {}",
            w.owner,
            w.host,
            w.pid,
            w.version,
            local_time(w.started_ms),
            local_time(w.seen_ms)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::raised_at;

    #[test]
    fn the_innermost_frame_of_a_python_traceback_or_a_javascript_stack_is_where_it_was_raised() {
        let python = "Traceback (most recent call last):\n  File \"keel_sdk/__init__.py\", line 140, in run\n  File \"app.py\", line 12, in charge\nZeroDivisionError: division by zero\n";
        assert_eq!(
            raised_at(&json!({ "traceback": python })).as_deref(),
            Some("app.py:12 in charge")
        );
        let javascript =
            "Error: card declined\n    at charge (app.js:40:11)\n    at run (keel.js:700:3)";
        assert_eq!(
            raised_at(&json!({ "stack": javascript })).as_deref(),
            Some("app.js:40:11 in charge")
        );
        assert_eq!(
            raised_at(&json!({ "stack": "Error: x\n    at app.js:3:1" })).as_deref(),
            Some("app.js:3:1")
        );
        assert_eq!(raised_at(&json!({ "orderId": 7 })), None);
        assert_eq!(raised_at(&json!({ "traceback": "no frames" })), None);
    }
}
