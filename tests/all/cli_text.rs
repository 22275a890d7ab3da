//! What the `keel` binary prints for people: times in `status`, `list` and `history` as date-times in
//! the local time zone (`TZ`), the milliseconds kept for `--json`, and the value an execution ended
//! with printed whole in `history`; a `keel run` that times out says what the instance waits for.

use std::process::{Command, Output};

use serde_json::Value;

use crate::support::guests;

fn keel(db: &std::path::Path, tz: &str, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(db)
        .envs(crate::support::process_env(db))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("TZ", tz)
        .output()
        .expect("running keel");
    assert!(
        out.status.success(),
        "keel {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Milliseconds since the Unix epoch of a printed `YYYY-MM-DD HH:MM:SS.mmm ZONE` read as UTC, and
/// the zone's name; computed here by hand so that the test does not share the printer's library.
fn parse_date_time(text: &str) -> (i64, String) {
    let mut parts = text.split_whitespace();
    let (date, time, zone) = (
        parts.next().expect("a date"),
        parts.next().expect("a time"),
        parts.next().expect("a zone"),
    );
    let d: Vec<i64> = date.split('-').map(|p| p.parse().unwrap()).collect();
    let (hms, millis) = time.split_once('.').expect("milliseconds");
    let t: Vec<i64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
    // Days from 1970-01-01 to the civil date (the proleptic Gregorian calendar).
    let (y, m) = if d[1] <= 2 {
        (d[0] - 1, d[1] + 9)
    } else {
        (d[0], d[1] - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d[2] - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + t[0] * 3_600 + t[1] * 60 + t[2];
    (
        seconds * 1_000 + millis.parse::<i64>().unwrap(),
        zone.to_owned(),
    )
}

/// The date-time printed after `prefix` on the first line of `text` that holds it.
fn printed_after(text: &str, prefix: &str) -> (i64, String) {
    let line = text
        .lines()
        .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.to_owned()))
        .unwrap_or_else(|| panic!("no {prefix:?} in\n{text}"));
    parse_date_time(&line)
}

#[test]
fn times_print_as_local_date_times_and_json_keeps_the_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("keel_test_patterns.wasm");
    let module = module.to_str().unwrap();
    keel(
        &db,
        "UTC",
        &[
            "run",
            module,
            "--orchestrator",
            "Timer",
            "--input",
            "20",
            "--id",
            "timed",
        ],
    );

    let status: Value =
        serde_json::from_slice(&keel(&db, "UTC", &["--json", "status", "timed"]).stdout).unwrap();
    let created = status["createdAt"].as_i64().expect("created_at in ms");
    let history: Value =
        serde_json::from_slice(&keel(&db, "UTC", &["--json", "history", "timed"]).stdout).unwrap();
    let events: Vec<&Value> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["event"])
        .collect();
    let started = events
        .iter()
        .find(|e| e["type"] == "OrchestratorStarted")
        .and_then(|e| e["timeMs"].as_i64())
        .unwrap_or_else(|| panic!("no OrchestratorStarted in {history}"));
    let fires = events
        .iter()
        .find(|e| e["type"] == "TimerCreated")
        .and_then(|e| e["fireAtMs"].as_i64())
        .unwrap_or_else(|| panic!("no TimerCreated in {history}"));

    // In UTC the printed date-times are the stored milliseconds.
    let text = stdout(&keel(&db, "UTC", &["status", "timed"]));
    assert_eq!(printed_after(&text, "created   "), (created, "UTC".into()));
    let text = stdout(&keel(&db, "UTC", &["list"]));
    assert_eq!(printed_after(&text, "Completed"), (created, "UTC".into()));
    let text = stdout(&keel(&db, "UTC", &["history", "timed"]));
    assert_eq!(printed_after(&text, "time "), (started, "UTC".into()));
    assert_eq!(printed_after(&text, "fires at "), (fires, "UTC".into()));

    // Nine hours east of UTC, the same instants read nine hours later, with that zone's name.
    let nine_hours = 9 * 3_600 * 1_000;
    let text = stdout(&keel(&db, "XYZ-9", &["status", "timed"]));
    assert_eq!(
        printed_after(&text, "created   "),
        (created + nine_hours, "XYZ".into())
    );
    let text = stdout(&keel(&db, "XYZ-9", &["history", "timed"]));
    assert_eq!(
        printed_after(&text, "time "),
        (started + nine_hours, "XYZ".into())
    );
}

#[test]
fn history_prints_the_value_an_execution_ended_with_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("keel_test_patterns.wasm");
    let long = "long-value-".repeat(30);
    let input = serde_json::json!({ "activity": "Echo", "input": long }).to_string();
    keel(
        &db,
        "UTC",
        &[
            "run",
            module.to_str().unwrap(),
            "--orchestrator",
            "Call",
            "--input",
            &input,
            "--id",
            "long",
        ],
    );
    let text = stdout(&keel(&db, "UTC", &["history", "long"]));
    let last = text.lines().last().expect("a history");
    assert!(last.contains("ExecutionCompleted"), "{text}");
    let expected = serde_json::json!({ "ok": long }).to_string();
    assert!(
        last.ends_with(&expected),
        "the output is cut:\n{last}\nexpected it to end with\n{expected}"
    );
}

#[test]
fn a_run_that_times_out_says_what_the_instance_waits_for_and_how_to_unblock_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("keel_test_patterns.wasm");
    let run = |orchestrator: &str, input: &str, id: &str| {
        Command::new(env!("CARGO_BIN_EXE_keel"))
            .arg("--db")
            .arg(&db)
            .envs(crate::support::process_env(&db))
            .args(["run", module.to_str().unwrap(), "--orchestrator"])
            .args([orchestrator, "--input", input, "--id", id, "--timeout", "1"])
            .env("RUST_LOG", "warn")
            .env("TZ", "UTC")
            .output()
            .expect("running keel")
    };

    let out = run("WaitForEvent", "null", "stuck");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("[KEEL-E15] instance stuck did not end within 1 s; it is Running"),
        "{stderr}"
    );
    assert!(
        stderr.contains("event Go (task #0): `keel raise stuck Go --data '<JSON>'`"),
        "{stderr}"
    );
    // It kept its place: the instance still runs, waiting for that event.
    let status: Value =
        serde_json::from_slice(&keel(&db, "UTC", &["--json", "status", "stuck"]).stdout).unwrap();
    assert_eq!(status["status"], "Running");

    // A timer an hour away is named with the date-time it is due.
    let out = run("Timer", "3600000", "later");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let history: Value =
        serde_json::from_slice(&keel(&db, "UTC", &["--json", "history", "later"]).stdout).unwrap();
    let fires = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["event"])
        .find(|e| e["type"] == "TimerCreated")
        .and_then(|e| e["fireAtMs"].as_i64())
        .unwrap_or_else(|| panic!("no TimerCreated in {history}"));
    assert_eq!(
        printed_after(&stderr, "timer #0, due "),
        (fires, "UTC".into())
    );
}
