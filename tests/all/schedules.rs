//! Schedules end to end: `keel schedule` creates, shows, pauses, resumes and deletes them; two
//! `keel worker` processes on one database fire each time once; a firing is skipped while the
//! previous instance runs (unless overlap is allowed); missed firings are caught up once or each.

use std::path::Path;
use std::time::{Duration, Instant};

use keel::schedules::{CatchUp, NewSchedule, Overlap, When};
use serde_json::Value;

use crate::cli::{keel, text};
use crate::multi_worker::Worker;
use crate::support::guests;

/// `keel --json schedule show NAME`, decoded.
fn shown(db: &Path, name: &str) -> Value {
    let out = keel(db, &["--json", "schedule", "show", name]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("schedule JSON")
}

/// Waits (up to 30 s) until `done` holds for the schedule as shown.
fn wait_until(db: &Path, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let schedule = shown(db, name);
        if done(&schedule) {
            return schedule;
        }
        assert!(Instant::now() < deadline, "{what}: {schedule:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Fails with `code` in its message.
fn refused(db: &Path, args: &[&str], code: &str) {
    let out = keel(db, args);
    assert!(!out.status.success(), "{args:?}: {}", text(&out.stdout));
    assert!(
        text(&out.stderr).contains(code),
        "{args:?}: {}",
        text(&out.stderr)
    );
}

#[test]
fn two_workers_fire_each_time_once_and_a_paused_schedule_does_not_fire() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("fan_out.wasm");
    assert!(
        keel(&db, &["deploy", module.to_str().unwrap()])
            .status
            .success()
    );

    let create = [
        "schedule",
        "create",
        "tick",
        "--every",
        "1s",
        "-o",
        "FanOut",
        "--input",
        r#"{"count":2}"#,
    ];
    let out = keel(&db, &create);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created = text(&out.stdout);
    assert!(
        created.contains("fires         every 1 s") && created.contains("state         running"),
        "{created}"
    );
    // Bad definitions are refused with their codes, and nothing is created by them.
    refused(&db, &create, "KEEL-E21");
    refused(
        &db,
        &[
            "schedule",
            "create",
            "x",
            "--cron",
            "61 * * * *",
            "-o",
            "FanOut",
        ],
        "KEEL-E19",
    );
    refused(
        &db,
        &[
            "schedule",
            "create",
            "y",
            "--cron",
            "0 * * * *",
            "--timezone",
            "Mars/Olympus",
            "-o",
            "FanOut",
        ],
        "KEEL-E19",
    );
    refused(
        &db,
        &["schedule", "create", "z", "--every", "1m", "-o", "Nope"],
        "KEEL-E3",
    );
    refused(
        &db,
        &[
            "schedule", "create", "w", "--every", "1m", "-o", "FanOut", "--input", "{",
        ],
        "KEEL-E1",
    );
    refused(&db, &["schedule", "show", "nope"], "KEEL-E20");
    let out = keel(&db, &["schedule", "list"]);
    let listed = text(&out.stdout);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        listed.starts_with("tick ") && listed.contains("every 1 s"),
        "{listed}"
    );

    // Two workers on one database: each firing starts one instance.
    let first = Worker::start(&db, &[]);
    let second = Worker::start(&db, &[]);
    wait_until(&db, "tick", "three firings", |s| {
        s["fired"].as_u64() >= Some(3)
    });
    keel(&db, &["schedule", "pause", "tick"]);
    first.stop();
    second.stop();
    let paused = shown(&db, "tick");
    assert_eq!(paused["paused"], true);
    let fired = paused["fired"].as_u64().unwrap();
    let out = keel(&db, &["--json", "list"]);
    let ids: Vec<String> = serde_json::from_slice::<Vec<Value>>(&out.stdout)
        .expect("list JSON")
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len() as u64, fired, "{ids:?}");
    assert!(ids.iter().all(|id| id.starts_with("tick@20")), "{ids:?}");
    assert_eq!(
        paused["lastInstance"].as_str().map(str::to_owned),
        ids.iter().max().cloned()
    );

    // Paused, nothing fires; resumed, it fires again.
    let worker = Worker::start(&db, &[]);
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(shown(&db, "tick")["fired"].as_u64(), Some(fired));
    let out = keel(&db, &["schedule", "resume", "tick"]);
    assert!(
        text(&out.stdout).contains("state         running"),
        "{}",
        text(&out.stdout)
    );
    wait_until(&db, "tick", "a firing after resuming", |s| {
        s["fired"].as_u64() > Some(fired)
    });
    worker.stop();

    assert!(keel(&db, &["schedule", "delete", "tick"]).status.success());
    refused(&db, &["schedule", "delete", "tick"], "KEEL-E20");
    let out = keel(&db, &["schedule", "list"]);
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));
}

fn every_second(name: &str, overlap: Overlap) -> NewSchedule {
    NewSchedule {
        name: name.to_owned(),
        orchestrator: "Approval".to_owned(),
        input: r#"{"requestId":"r","timeoutMs":600000}"#.to_owned(),
        when: When::every("1s").unwrap(),
        overlap,
        catch_up: CatchUp::Latest,
        paused: false,
        jitter_ms: 0,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_firing_is_skipped_while_the_previous_instance_runs_unless_overlap_is_allowed() {
    let t = crate::support::engine(&["approval"]).await;
    let keel = &t.keel;
    keel.create_schedule(every_second("waits", Overlap::Skip))
        .await
        .unwrap();
    keel.create_schedule(every_second("piles", Overlap::Allow))
        .await
        .unwrap();
    let worker = keel.run_worker();
    tokio::time::sleep(Duration::from_millis(3_600)).await;
    worker.shutdown().await;
    let waits = keel.schedule("waits").await.unwrap();
    let piles = keel.schedule("piles").await.unwrap();
    // The approval waits for an event: the first instance still runs at each later firing.
    assert_eq!(waits.fired, 1, "{waits:?}");
    assert!(waits.skipped >= 2, "{waits:?}");
    assert!(piles.fired >= 3 && piles.skipped == 0, "{piles:?}");
    let running = keel
        .status(waits.last_instance.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!running.status.is_terminal(), "{running:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missed_firings_are_caught_up_once_or_each_in_turn() {
    let t = crate::support::engine(&["approval"]).await;
    let start = 1_796_034_000_000; // 2026-11-30T10:20:00Z
    let clock = crate::support::manual_clock(start);
    let keel = crate::support::reopen(&t.config, Some(clock.clone())).await;
    let minutely = |name: &str, catch_up| NewSchedule {
        when: When::cron("* * * * *", "UTC").unwrap(),
        catch_up,
        overlap: Overlap::Allow,
        ..every_second(name, Overlap::Allow)
    };
    keel.create_schedule(minutely("latest", CatchUp::Latest))
        .await
        .unwrap();
    keel.create_schedule(minutely("all", CatchUp::All))
        .await
        .unwrap();
    // Ten minutes and a half pass with no worker: ten firings were missed.
    clock.advance(10 * 60_000 + 30_000);
    let mut rounds = 0;
    while keel.fire_due_schedules().await.unwrap() > 0 {
        rounds += 1;
        assert!(rounds < 20, "firing never stops");
    }
    let latest = keel.schedule("latest").await.unwrap();
    let all = keel.schedule("all").await.unwrap();
    assert_eq!(latest.fired, 1, "{latest:?}");
    assert_eq!(all.fired, 10, "{all:?}");
    // Both fire next at the coming minute, 10:31.
    let next = start + 11 * 60_000;
    assert_eq!((latest.next_fire_ms, all.next_fire_ms), (next, next));
    // Each firing's instance is named after its time.
    let first = keel
        .status("all@2026-11-30T10:21:00Z")
        .await
        .unwrap()
        .expect("the first missed firing's instance");
    assert_eq!(first.name, "Approval");
    assert!(
        keel.status("latest@2026-11-30T10:30:00Z")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_buffered_firing_waits_for_the_previous_instance_and_then_starts_once() {
    let t = crate::support::engine(&["approval"]).await;
    let start = 1_796_034_000_000; // 2026-11-30T10:20:00Z
    let clock = crate::support::manual_clock(start);
    let keel = crate::support::reopen(&t.config, Some(clock.clone())).await;
    keel.create_schedule(NewSchedule {
        when: When::every("1m").unwrap(),
        ..every_second("held", Overlap::BufferOne)
    })
    .await
    .unwrap();
    clock.advance(60_000);
    assert_eq!(keel.fire_due_schedules().await.unwrap(), 1);
    // The approval waits: the next times are held, not skipped and not started.
    for _ in 0..2 {
        clock.advance(45_000);
        assert_eq!(keel.fire_due_schedules().await.unwrap(), 0);
    }
    let held = keel.schedule("held").await.unwrap();
    assert_eq!((held.fired, held.skipped), (1, 0), "{held:?}");
    assert_eq!(held.next_fire_ms, start + 120_000, "{held:?}");
    // Once the first instance has ended, the held firing starts, once, named after its time.
    let first = "held@2026-11-30T10:21:00Z";
    keel.terminate(first, "done with it").await.unwrap();
    let worker = keel.run_worker();
    keel.wait(first, Duration::from_secs(30)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let held = loop {
        let held = keel.schedule("held").await.unwrap();
        if held.fired == 2 || std::time::Instant::now() > deadline {
            break held;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    worker.shutdown().await;
    assert_eq!((held.fired, held.skipped), (2, 0), "{held:?}");
    assert_eq!(
        held.last_instance.as_deref(),
        Some("held@2026-11-30T10:22:00Z")
    );
    assert_eq!(held.next_fire_ms, start + 180_000, "{held:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jittered_firing_waits_its_own_delay_and_keeps_its_time_in_its_id() {
    let t = crate::support::engine(&["approval"]).await;
    let start = 1_796_034_000_000; // 2026-11-30T10:20:00Z
    let clock = crate::support::manual_clock(start);
    let keel = crate::support::reopen(&t.config, Some(clock.clone())).await;
    let request = |jitter: &str| keel::schedules::ScheduleRequest {
        name: "spread".to_owned(),
        orchestrator: "Approval".to_owned(),
        input: serde_json::json!({"requestId": "r", "timeoutMs": 600000}),
        cron: None,
        timezone: None,
        every: Some("1m".to_owned()),
        overlap: Some("allow".to_owned()),
        catch_up: None,
        paused: false,
        jitter: Some(jitter.to_owned()),
    };
    let bad = request("soon").into_new().unwrap_err().to_string();
    assert!(
        bad.starts_with("[KEEL-E19]") && bad.contains("jitter"),
        "{bad}"
    );
    let row = keel
        .create_schedule(request("30s").into_new().unwrap())
        .await
        .unwrap();
    assert_eq!(row.jitter_ms, 30_000);
    assert_eq!(keel.schedule("spread").await.unwrap().jitter_ms, 30_000);
    let fire_ms = start + 60_000;
    let delay = keel::schedules::jitter_delay_ms("spread", fire_ms, 30_000);
    assert!(delay > 0, "this name's first firing has no delay to test");
    clock.advance(60_000 + delay - 1);
    assert_eq!(keel.fire_due_schedules().await.unwrap(), 0, "fired early");
    clock.advance(1);
    assert_eq!(keel.fire_due_schedules().await.unwrap(), 1);
    let fired = keel.schedule("spread").await.unwrap();
    assert_eq!(
        fired.last_instance.as_deref(),
        Some("spread@2026-11-30T10:21:00Z")
    );
    assert_eq!(fired.next_fire_ms, start + 120_000);
}

/// `keel --server URL ARGS` with the server's token.
fn remote(url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["--server", url])
        .args(args)
        .env_remove("KEEL_DB")
        .env("KEEL_API_TOKEN", "tok-schedules")
        .env("RUST_LOG", "warn")
        .output()
        .expect("running keel --server")
}

#[test]
fn schedules_are_managed_through_a_server_the_same_way_and_it_fires_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("fan_out.wasm");
    assert!(
        keel(&db, &["deploy", module.to_str().unwrap()])
            .status
            .success()
    );
    let server = crate::support::serve(&db, "tok-schedules");
    let url = format!("http://127.0.0.1:{}", server.port);

    let out = remote(
        &url,
        &[
            "schedule",
            "create",
            "served",
            "--every",
            "1s",
            "-o",
            "FanOut",
            "--input",
            r#"{"count":1}"#,
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("fires         every 1 s"));
    // The server's errors carry the engine's codes.
    for (args, code) in [
        (
            &[
                "schedule", "create", "bad", "--cron", "0 * *", "-o", "FanOut",
            ][..],
            "KEEL-E19",
        ),
        (
            &[
                "schedule", "create", "served", "--every", "5m", "-o", "FanOut",
            ],
            "KEEL-E21",
        ),
        (&["schedule", "pause", "nope"], "KEEL-E20"),
    ] {
        let out = remote(&url, args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(code),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }

    // `keel serve` runs a worker: the schedule fires.
    wait_until(&db, "served", "a firing by the server", |s| {
        s["fired"].as_u64() >= Some(1)
    });
    let out = remote(&url, &["schedule", "pause", "served"]);
    assert!(
        text(&out.stdout).contains("state         paused"),
        "{}",
        text(&out.stdout)
    );
    // The same lines locally and through the server.
    for args in [
        &["schedule", "list"][..],
        &["--json", "schedule", "show", "served"],
    ] {
        let here = text(&keel(&db, args).stdout);
        let there = text(&remote(&url, args).stdout);
        assert!(!here.is_empty(), "{args:?}");
        assert_eq!(here, there, "{args:?}");
    }
    let out = remote(&url, &["schedule", "delete", "served"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&remote(&url, &["schedule", "list"]).stdout).is_empty());
}
