//! Modules and versions with real modules and real processes: an activity swapped under load in a
//! running `keel serve` (deployed over its API), instances pinned to their module across deploys and restarts, replay-checked
//! upgrades, rollback with `activate`, version ranges, broken deploys and module garbage collection.
//!
//! The fixture `tests/guests/versioned` is built twice (1.0.0 and 2.0.0); its activity and
//! orchestrators report the version that ran them.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keel::HistoryEvent;
use keel::store::Status;
use serde_json::{Value, json};

use crate::support::{
    assert_completed, engine, finish, guest, guests, http, reopen, serve, wait_for_event,
};

fn keel_cli(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(db)
        .envs(crate::support::process_env(db))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running keel")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn wasm(name: &str) -> String {
    guests()
        .join(format!("{name}.wasm"))
        .to_str()
        .expect("utf-8 path")
        .to_owned()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_activity_swapped_under_load_fails_no_call_and_switches_at_once() {
    const INSTANCES: usize = 40;
    const CALLS: u64 = 50;
    let t = engine(&["versioned_v1"]).await;
    let db = t.db();
    // Compile 2.0.0 into the cache the worker and the deploying process use (their default for the
    // database: beside a SQLite file, the user's cache directory for a URL), so that the deploy lands
    // while the calls run rather than after a cold compilation.
    {
        let scratch = tempfile::tempdir().unwrap();
        let mut config = keel::Config::new(scratch.path().join("scratch.db"));
        config.cache_dir = keel::Config::new(db.clone()).cache_dir;
        let warm = keel::Keel::open(config).await.unwrap();
        warm.deploy(guest("versioned_v2"), None).await.unwrap();
        warm.deploy(guest("versioned_v1"), None).await.unwrap();
    }
    let mut ids = Vec::new();
    for _ in 0..INSTANCES {
        ids.push(
            t.keel
                .start("StampMany", &CALLS.to_string(), None)
                .await
                .unwrap(),
        );
    }
    let server = serve(&db, "versions-token");
    let port = server.port;

    // Deploy 2.0.0 once the worker is well into the calls.
    let mut done_before = 0;
    for _ in 0..3000 {
        done_before = 0;
        for id in &ids {
            let history = t.keel.history(id.as_str()).await.unwrap();
            done_before += history
                .iter()
                .filter(|r| r.event.kind() == "TaskCompleted")
                .count();
        }
        if done_before >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done_before >= 100, "the worker made no progress");
    // Deploy through the running server, as an operator would; it goes through the server's writer.
    let deploy_started = now_ms();
    let (status, reply) = tokio::task::spawn_blocking(move || {
        http(
            port,
            "POST",
            "/api/modules?version=2.0.0",
            &guest("versioned_v2"),
            "versions-token",
        )
    })
    .await
    .unwrap();
    let deployed = now_ms();
    assert_eq!(status, 201, "deploy failed: {reply}");

    let mut instances = Vec::new();
    for id in &ids {
        instances.push(
            t.keel
                .wait(id.as_str(), Duration::from_secs(180))
                .await
                .unwrap(),
        );
    }
    drop(server);

    let (mut old, mut new, mut scheduled_after) = (0, 0, 0);
    let mut first_new: Option<u64> = None;
    for instance in &instances {
        assert_completed(instance);
        let history = t.keel.history(&instance.id).await.unwrap();
        let mut scheduled_at = HashMap::new();
        for r in &history {
            match &r.event {
                HistoryEvent::TaskScheduled { id, .. } => {
                    scheduled_at.insert(*id, r.recorded_at);
                }
                HistoryEvent::TaskFailed { failure, .. }
                | HistoryEvent::TaskRetrying { failure, .. } => {
                    panic!("a call failed during the swap: {failure}")
                }
                HistoryEvent::TaskCompleted { id, output } => {
                    let version = output["version"].as_str().unwrap();
                    let started = output["startedMs"].as_u64().unwrap();
                    if scheduled_at[id] > deployed {
                        scheduled_after += 1;
                        assert_eq!(
                            version, "2.0.0",
                            "call {}/{id}, scheduled after the deploy, ran the old version",
                            instance.id
                        );
                    }
                    if version == "2.0.0" {
                        new += 1;
                        assert!(
                            started >= deploy_started,
                            "2.0.0 ran before it was deployed"
                        );
                        first_new = Some(first_new.map_or(started, |f| f.min(started)));
                    } else {
                        old += 1;
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(old + new, INSTANCES * CALLS as usize);
    assert!(
        old >= 100 && new > 0 && scheduled_after > 0,
        "the deploy did not land in the middle of the calls: {old} calls on 1.0.0, {new} on 2.0.0, \
         {scheduled_after} scheduled after the deploy, which took {} ms",
        deployed - deploy_started
    );
    let first_new = first_new.expect("a call ran on 2.0.0");
    println!(
        "hot swap: {} calls, {old} on 1.0.0, {new} on 2.0.0, 0 failed; deploy took {} ms; first call \
         on 2.0.0 {} ms after the deploy began ({} ms after it returned)",
        old + new,
        deployed - deploy_started,
        first_new.saturating_sub(deploy_started),
        first_new as i64 - deployed as i64,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_stay_pinned_to_their_module_across_deploys_and_restarts() {
    let t = engine(&["versioned_v1"]).await;
    let old = t
        .keel
        .start("StampAfterEvent", "null", Some("old"))
        .await
        .unwrap();
    let worker = t.keel.run_worker();
    wait_for_event(&t.keel, old.as_str(), "EventAwaited").await;
    worker.shutdown().await;
    let v2 = t.keel.deploy(guest("versioned_v2"), None).await.unwrap();
    drop(t.keel);

    // A restart: a fresh engine, nothing hot, every module loaded again.
    let keel = reopen(&t.config, None).await;
    let new = keel
        .start("StampAfterEvent", "null", Some("new"))
        .await
        .unwrap();
    keel.raise_event("old", "go", "1").await.unwrap();
    keel.raise_event("new", "go", "2").await.unwrap();
    let old = finish(&keel, old.as_str()).await;
    let new = finish(&keel, new.as_str()).await;
    assert_completed(&old);
    assert_completed(&new);
    let out = old.output.unwrap();
    assert_eq!(out["orchestratorVersion"], "1.0.0", "{out}");
    // Activities are not pinned: the call after the deploy ran the new activity.
    assert_eq!(out["results"][0]["version"], "1.0.0");
    assert_eq!(out["results"][2]["version"], "2.0.0");
    assert_ne!(old.module, v2.digest);
    let out = new.output.unwrap();
    assert_eq!(out["orchestratorVersion"], "2.0.0", "{out}");
    assert_eq!(new.module, v2.digest);
}

#[tokio::test(flavor = "multi_thread")]
async fn upgrade_moves_compatible_instances_and_leaves_diverging_ones_pinned() {
    let t = engine(&["versioned_v1"]).await;
    let v1 = t.keel.functions().await.unwrap()[0].digest.clone();
    let same = t
        .keel
        .start("StampAfterEvent", "null", Some("same"))
        .await
        .unwrap();
    let drift = t.keel.start("Drift", "null", Some("drift")).await.unwrap();
    let worker = t.keel.run_worker();
    wait_for_event(&t.keel, same.as_str(), "EventAwaited").await;
    wait_for_event(&t.keel, drift.as_str(), "EventAwaited").await;
    worker.shutdown().await;

    let db = t.db();
    let check = keel_cli(&db, &["upgrade", "--check", &wasm("versioned_v2")]);
    let shown = text(&check);
    assert!(
        !check.status.success(),
        "a diverging instance must fail the check"
    );
    assert!(
        shown.contains("same") && shown.contains("compatible"),
        "{shown}"
    );
    assert!(
        shown.contains("drift") && shown.contains("diverges"),
        "{shown}"
    );

    let out = keel_cli(
        &db,
        &["upgrade", &wasm("versioned_v2"), "--version", "2.0.0"],
    );
    let shown = text(&out);
    assert!(
        !out.status.success(),
        "an instance left pinned is reported by the exit code"
    );
    let line = |id: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(id))
            .unwrap_or_else(|| panic!("no line for {id}: {shown}"))
            .to_owned()
    };
    assert!(line("same").contains("moved"), "{shown}");
    let drift_line = line("drift");
    assert!(drift_line.contains("left pinned"), "{shown}");
    assert!(
        drift_line.contains("KEEL-ND1") && drift_line.contains("changed"),
        "{shown}"
    );

    let same_now = t.keel.status("same").await.unwrap().unwrap();
    let drift_now = t.keel.status("drift").await.unwrap().unwrap();
    assert_ne!(same_now.module, v1, "the compatible instance moved");
    assert_eq!(drift_now.module, v1, "the diverging instance stays pinned");
    let history = t.keel.history("same").await.unwrap();
    let moved = history
        .iter()
        .find_map(|r| match &r.event {
            HistoryEvent::ExecutionUpgraded { from, to, version } => {
                Some((from.clone(), to.clone(), version.clone()))
            }
            _ => None,
        })
        .expect("the move is recorded in the history");
    assert_eq!(
        (moved.0, moved.1, moved.2.as_str()),
        (v1.clone(), same_now.module.clone(), "2.0.0")
    );
    assert!(
        !t.keel
            .history("drift")
            .await
            .unwrap()
            .iter()
            .any(|r| r.event.kind() == "ExecutionUpgraded")
    );

    t.keel.raise_event("same", "go", "1").await.unwrap();
    t.keel.raise_event("drift", "go", "2").await.unwrap();
    let same = finish(&t.keel, "same").await;
    let drift = finish(&t.keel, "drift").await;
    assert_completed(&same);
    assert_completed(&drift);
    assert_eq!(same.output.unwrap()["orchestratorVersion"], "2.0.0");
    assert_eq!(drift.output.unwrap()["orchestratorVersion"], "1.0.0");

    // Upgrading again finds nothing left to move.
    let again = t.keel.upgrade(guest("versioned_v2"), None).await.unwrap();
    assert!(again.instances.is_empty(), "{:?}", again.instances);
}

/// An engine with the versioned fixture deployed as 1.0.0, then 2.0.0 (active).
async fn both_versions() -> crate::support::TestEngine {
    let t = engine(&[]).await;
    for (module, version) in [("versioned_v1", "1.0.0"), ("versioned_v2", "2.0.0")] {
        t.keel
            .deploy(guest(module), Some(version.into()))
            .await
            .unwrap();
    }
    t
}

async fn run_stamp(keel: &keel::Keel, orchestrator: &str, input: &str) -> keel::store::Instance {
    let id = keel.start(orchestrator, input, None).await.unwrap();
    finish(keel, id.as_str()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn activate_rolls_an_activity_back_and_forward() {
    let t = both_versions().await;
    let version_ran = |i: keel::store::Instance| {
        assert_completed(&i);
        i.output.unwrap()["results"][0]["version"].clone()
    };
    assert_eq!(
        version_ran(run_stamp(&t.keel, "StampMany", "1").await),
        "2.0.0"
    );

    let db = t.db();
    let out = keel_cli(&db, &["activate", "Stamp@1.0.0"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        version_ran(run_stamp(&t.keel, "StampMany", "1").await),
        "1.0.0"
    );

    let out = keel_cli(&db, &["modules", "show", "Stamp", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let versions: Value = serde_json::from_slice(&out.stdout).unwrap();
    let active: Vec<&str> = versions
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["active"] == true)
        .map(|v| v["version"].as_str().unwrap())
        .collect();
    assert_eq!(active, ["1.0.0"]);

    let out = keel_cli(&db, &["activate", "Stamp", "2.0.0"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        version_ran(run_stamp(&t.keel, "StampMany", "1").await),
        "2.0.0"
    );

    let out = keel_cli(&db, &["activate", "Stamp@9.9.9"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("9.9.9"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_version_range_picks_the_matching_activity_version() {
    let t = both_versions().await;
    for (range, expected) in [
        ("^1", "1.0.0"),
        ("^2", "2.0.0"),
        ("*", "2.0.0"),
        (">=1, <2", "1.0.0"),
    ] {
        let i = run_stamp(&t.keel, "StampRanged", &json!(range).to_string()).await;
        assert_completed(&i);
        assert_eq!(i.output.unwrap()["version"], expected, "range {range}");
    }
    let i = run_stamp(&t.keel, "StampRanged", "\"^3\"").await;
    assert_eq!(i.status, Status::Failed);
    let failure = i.failure.unwrap();
    assert!(
        failure
            .message
            .contains("no deployed version of Stamp matches ^3"),
        "{failure}"
    );
    let history = t.keel.history(&i.id).await.unwrap();
    assert!(history.iter().any(|r| matches!(
        &r.event,
        HistoryEvent::TaskScheduled { name, .. } if name == "Stamp@^3"
    )));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_whose_manifest_traps_leaves_the_active_versions_alone() {
    let t = engine(&["versioned_v1"]).await;
    let before = t.keel.functions().await.unwrap();
    let err = t
        .keel
        .deploy(guest("keel_test_bad_manifest"), Some("9.0.0".into()))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("KEEL-M6") && err.contains("manifest"), "{err}");
    assert!(err.contains("Trap"), "{err}");
    assert_eq!(t.keel.functions().await.unwrap(), before);
    assert_eq!(t.keel.modules().await.unwrap().len(), 1);
    let i = run_stamp(&t.keel, "StampMany", "1").await;
    assert_completed(&i);
    assert_eq!(i.output.unwrap()["results"][0]["version"], "1.0.0");

    // The CLI says the same and exits non-zero.
    let out = keel_cli(&t.db(), &["deploy", &wasm("keel_test_bad_manifest")]);
    assert!(!out.status.success());
    assert!(text(&out).contains("KEEL-M6"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn modules_gc_removes_only_modules_nothing_uses() {
    let t = engine(&[]).await;
    let v1 = t
        .keel
        .deploy(guest("versioned_v1"), Some("1.0.0".into()))
        .await
        .unwrap();
    let pinned = t
        .keel
        .start("StampAfterEvent", "null", Some("pinned"))
        .await
        .unwrap();
    let worker = t.keel.run_worker();
    wait_for_event(&t.keel, pinned.as_str(), "EventAwaited").await;
    worker.shutdown().await;
    t.keel
        .deploy(guest("versioned_v2"), Some("2.0.0".into()))
        .await
        .unwrap();

    // 1.0.0 is inactive but an unfinished instance is pinned to it.
    let show = t.keel.function_versions("StampAfterEvent").await.unwrap();
    let old = show.iter().find(|v| v.digest == v1.digest).unwrap();
    assert_eq!((old.active, old.pinned), (false, Some(1)));
    assert!(
        t.keel
            .collect_modules(false)
            .await
            .unwrap()
            .modules
            .is_empty()
    );

    t.keel.terminate("pinned", "done with it").await.unwrap();
    let ended = finish(&t.keel, "pinned").await;
    assert_eq!(ended.status, Status::Terminated);
    let dry = t.keel.collect_modules(true).await.unwrap();
    assert_eq!(dry.modules.len(), 1);
    assert_eq!(
        t.keel.modules().await.unwrap().len(),
        2,
        "a dry run removes nothing"
    );

    let out = keel_cli(&t.db(), &["modules", "gc"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("removed 1 module(s)"), "{}", text(&out));
    let modules = t.keel.modules().await.unwrap();
    assert_eq!(modules.len(), 1);
    assert_ne!(modules[0].digest, v1.digest);
    let i = run_stamp(&t.keel, "StampMany", "1").await;
    assert_completed(&i);
}
