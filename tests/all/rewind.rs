//! Rewinding failed instances, through the engine, the CLI and the HTTP API: the failures after the
//! last call are voided (recorded, never deleted), the failed activity runs again, the steps that
//! had succeeded do not, and the rewound history still replays. Also the API's instance queries
//! that go with operating many instances: creation-time filters, continuation tokens, bulk purge.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use keel::HistoryEvent;
use keel::store::Status;
use keel::upgrade::ReplayCheck;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::support::{assert_completed, engine, finish, guest};

const TOKEN: &str = "test-token";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Starts `StampThenNotBefore`, whose second activity fails until `at`, and runs it to its failure.
async fn failed_instance(keel: &keel::Keel, id: &str, at: u64) {
    keel.start("StampThenNotBefore", &at.to_string(), Some(id))
        .await
        .unwrap();
    let failed = finish(keel, id).await;
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.failure.unwrap().kind, "TooEarly");
}

async fn sleep_until(at: u64) {
    let now = now_ms();
    if now < at {
        tokio::time::sleep(Duration::from_millis(at - now + 20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewound_instance_runs_its_failed_activity_again_and_completes() {
    let t = engine(&["versioned_v1"]).await;
    // Far enough ahead that the activity fails even on a loaded machine; the test sleeps until then.
    let at = now_ms() + 6_000;
    failed_instance(&t.keel, "r1", at).await;

    // Rewinding only applies to failed instances.
    let err = t
        .keel
        .rewind("nobody", "why")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("KEEL-E4"), "{err}");

    sleep_until(at).await;
    let rewound = t.keel.rewind("r1", "the clock caught up").await.unwrap();
    assert_eq!(rewound.instances, ["r1"]);
    assert_eq!(rewound.tasks, ["r1/1"]);
    let again = t.keel.rewind("r1", "twice").await.unwrap_err().to_string();
    assert!(again.contains("KEEL-E8"), "{again}");

    let done = finish(&t.keel, "r1").await;
    assert_completed(&done);
    let output = done.output.clone().unwrap();
    assert_eq!(output["results"][1]["version"], "1.0.0");

    let history = t.keel.history("r1").await.unwrap();
    let seq_of = |kind: &str| {
        history
            .iter()
            .find(|r| r.event.kind() == kind)
            .map(|r| r.seq)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let voided = history
        .iter()
        .find_map(|r| match &r.event {
            HistoryEvent::ExecutionRewound { voided, reason } => {
                assert_eq!(reason, "the clock caught up");
                Some(voided.clone())
            }
            _ => None,
        })
        .expect("the rewind is recorded");
    assert_eq!(voided, [seq_of("TaskFailed"), seq_of("ExecutionFailed")]);
    let scheduled = history
        .iter()
        .filter(|r| r.event.kind() == "TaskScheduled")
        .count();
    assert_eq!(scheduled, 2, "the successful first step is not run again");
    let completed = history
        .iter()
        .filter(|r| r.event.kind() == "TaskCompleted")
        .count();
    assert_eq!(completed, 2);
    let seqs: Vec<u32> = history.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (0..history.len() as u32).collect::<Vec<_>>(), "dense");

    // The rewound history still replays against its module.
    let check = t
        .keel
        .check_replay("r1", &guest("versioned_v1"))
        .await
        .unwrap();
    assert_eq!(check, ReplayCheck::Compatible);
}

#[tokio::test(flavor = "multi_thread")]
async fn rewind_over_http_and_the_cli() {
    let t = engine(&["versioned_v1"]).await;
    let at = now_ms() + 6_000;
    failed_instance(&t.keel, "r-http", at).await;
    failed_instance(&t.keel, "r-cli", at).await;
    let app = keel::api::router(t.keel.clone(), TOKEN.to_owned());
    let post = |uri: &str| {
        Request::builder()
            .method("POST")
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap()
    };
    let missing = app
        .clone()
        .oneshot(post("/api/instances/nobody/rewind"))
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);

    sleep_until(at).await;
    let reply = app
        .clone()
        .oneshot(post("/api/instances/r-http/rewind"))
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(reply.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(body["tasks"][0], "r-http/1");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(t.db())
        .args(["rewind", "r-cli", "--reason", "retry by hand"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("r-cli/1"));

    assert_completed(&finish(&t.keel, "r-http").await);
    assert_completed(&finish(&t.keel, "r-cli").await);
    let conflict = app
        .clone()
        .oneshot(post("/api/instances/r-http/rewind"))
        .await
        .unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
}

async fn get(app: &axum::Router, method: &str, uri: &str) -> (StatusCode, Option<String>, Value) {
    let reply = app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(uri)
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = reply.status();
    let token = reply
        .headers()
        .get("x-continuation-token")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = axum::body::to_bytes(reply.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, token, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_page_with_tokens_filter_by_time_and_purge_in_bulk() {
    let t = engine(&["versioned_v1"]).await;
    let app = keel::api::router(t.keel.clone(), TOKEN.to_owned());
    let start = now_ms();
    for i in 0..7 {
        t.keel
            .start("StampMany", "1", Some(&format!("page-{i}")))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let middle = now_ms();
    tokio::time::sleep(Duration::from_millis(3)).await;
    t.keel
        .start("StampAfterEvent", "null", Some("waiting"))
        .await
        .unwrap();
    for i in 0..7 {
        assert_completed(&finish(&t.keel, &format!("page-{i}")).await);
    }

    // Pages of three, following the continuation token, see every instance once, newest first.
    let mut seen = Vec::new();
    let mut uri = "/api/instances?limit=3".to_owned();
    loop {
        let (status, token, page) = get(&app, "GET", &uri).await;
        assert_eq!(status, StatusCode::OK);
        seen.extend(
            page.as_array()
                .unwrap()
                .iter()
                .map(|i| i["id"].as_str().unwrap().to_owned()),
        );
        match token {
            Some(token) => uri = format!("/api/instances?limit=3&continuationToken={token}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert_eq!(seen[0], "waiting");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 8);

    let (_, _, early) = get(
        &app,
        "GET",
        &format!("/api/instances?createdFrom={start}&createdTo={middle}"),
    )
    .await;
    assert_eq!(early.as_array().unwrap().len(), 7);
    let (_, _, late) = get(
        &app,
        "GET",
        &format!("/api/instances?createdFrom={}", middle + 1),
    )
    .await;
    assert_eq!(late.as_array().unwrap().len(), 1);
    let (status, _, error) = get(&app, "GET", "/api/instances?createdFrom=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["message"].as_str().unwrap().contains("createdFrom"));
    let (status, _, _) = get(&app, "GET", "/api/instances?continuationToken=zzz").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Bulk purge: a filter is required, and only ended instances go.
    let (status, _, _) = get(&app, "DELETE", "/api/instances").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, purged) = get(&app, "DELETE", "/api/instances?name=StampAfterEvent").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        purged["instancesDeleted"], 0,
        "a running instance is never purged"
    );
    let (status, _, purged) = get(
        &app,
        "DELETE",
        &format!("/api/instances?createdFrom={start}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(purged["instancesDeleted"], 7);
    let (_, _, left) = get(&app, "GET", "/api/instances").await;
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["id"], "waiting");

    // The versions of a function, with the instances pinned to each.
    let (status, _, versions) = get(&app, "GET", "/api/modules/StampAfterEvent").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(versions[0]["kind"], "orchestrator");
    assert_eq!(versions[0]["active"], true);
    assert_eq!(versions[0]["pinned"], 1, "the waiting instance");
    let (status, _, error) = get(&app, "GET", "/api/modules/Nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rewound_instance_keeps_the_timer_it_was_waiting_for() {
    let t = engine(&["keel_test_patterns"]).await;
    // The activity fails at once, so the instance fails while its 800 ms timer is still pending.
    let id = t
        .keel
        .start("TimerAndActivity", "800", Some("timer-kept"))
        .await
        .unwrap();
    let failed = finish(&t.keel, id.as_str()).await;
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.failure.unwrap().kind, "NotReady");

    // Fixed by configuration; the timer fires while the instance is failed and must be kept for it.
    t.keel
        .set_config("FailUnlessReady", "READY", "yes")
        .await
        .unwrap();
    let worker = crate::support::Running::start(&t.keel);
    sleep_until(now_ms() + 1_000).await;
    t.keel.rewind("timer-kept", "configured").await.unwrap();
    let instance = t
        .keel
        .wait(id.as_str(), Duration::from_secs(20))
        .await
        .expect("the rewound instance waited forever for a timer that was deleted when it failed");
    worker.stop().await;
    assert_completed(&instance);
    assert_eq!(instance.output, Some(serde_json::json!({"ready": "yes"})));
}
