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
use serde_json::{Value, json};
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
        .envs(crate::support::process_env(t.db()))
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

/// Starts `ParentOfNamed` as `parent` with a `TimerAndActivity` child under id `child`, whose
/// activity fails until `FailUnlessReady` is configured, and runs both to their failure.
async fn failed_parent(keel: &keel::Keel, parent: &str, child: &str) {
    let input = json!({"child": child, "orchestrator": "TimerAndActivity", "input": 0});
    keel.start("ParentOfNamed", &input.to_string(), Some(parent))
        .await
        .unwrap();
    let failed = finish(keel, parent).await;
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.failure.unwrap().kind, "NotReady");
    let child = keel.status(child).await.unwrap().unwrap();
    assert_eq!(child.status, Status::Failed);
    assert_eq!(child.parent.unwrap().instance, parent);
}

/// Waits for `id` to end with a worker running, failing the test if it is still waiting after 20 s.
async fn ends(keel: &keel::Keel, id: &str, what: &str) -> keel::store::Instance {
    let worker = crate::support::Running::start(keel);
    let ended = keel.wait(id, Duration::from_secs(20)).await;
    worker.stop().await;
    ended.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The cascade: a failed parent's rewind rewinds the failed child it started (same incarnation),
/// whose failed activity runs again, and both complete.
#[tokio::test(flavor = "multi_thread")]
async fn a_rewound_parent_rewinds_the_failed_child_it_started() {
    let t = engine(&["keel_test_patterns"]).await;
    failed_parent(&t.keel, "fp", "fp-child").await;
    let child_run = t.keel.status("fp-child").await.unwrap().unwrap().run;
    t.keel
        .set_config("FailUnlessReady", "READY", "yes")
        .await
        .unwrap();
    let rewound = t.keel.rewind("fp", "configured").await.unwrap();
    assert_eq!(rewound.instances, ["fp", "fp-child"]);
    assert_eq!(rewound.tasks, ["fp-child/1"]);
    let done = ends(&t.keel, "fp", "the rewound parent never ended").await;
    assert_completed(&done);
    assert_eq!(done.output, Some(json!({"child": {"ready": "yes"}})));
    let child = t.keel.status("fp-child").await.unwrap().unwrap();
    assert_completed(&child);
    assert_eq!(
        child.run, child_run,
        "the child was rewound, not started again"
    );
}

/// A failed parent's child id was taken since by an unrelated instance, which failed too: the
/// parent's rewind must leave that instance alone (it is not the child the parent waits for, and
/// would never report to it), and the parent's task fails again with `InstanceExists`, as a first
/// start under a taken id does, instead of the parent waiting forever.
#[tokio::test(flavor = "multi_thread")]
async fn a_rewound_parent_leaves_alone_an_instance_that_took_its_childs_id() {
    let t = engine(&["keel_test_patterns"]).await;
    failed_parent(&t.keel, "rp", "rp-child").await;
    let child_run = t.keel.status("rp-child").await.unwrap().unwrap().run;
    // The ended child's id is started again directly, as an instance of its own, which fails too.
    t.keel
        .start("TimerAndActivity", "0", Some("rp-child"))
        .await
        .unwrap();
    let other = finish(&t.keel, "rp-child").await;
    assert_eq!(other.status, Status::Failed);
    assert_eq!(other.parent, None);
    assert_ne!(other.run, child_run);
    let other_history = t.keel.history("rp-child").await.unwrap();
    // Rewound now, the unrelated instance would complete.
    t.keel
        .set_config("FailUnlessReady", "READY", "yes")
        .await
        .unwrap();

    let rewound = t.keel.rewind("rp", "configured").await.unwrap();
    assert_eq!(
        t.keel.status("rp-child").await.unwrap().unwrap(),
        other,
        "the parent's rewind changed the unrelated instance that took its child's id"
    );
    assert_eq!(t.keel.history("rp-child").await.unwrap(), other_history);
    assert_eq!(rewound.instances, ["rp"]);
    assert!(rewound.tasks.is_empty(), "{rewound:?}");

    let parent = ends(
        &t.keel,
        "rp",
        "the rewound parent waited forever for a child that is gone",
    )
    .await;
    assert_eq!(parent.status, Status::Failed);
    let failure = parent.failure.unwrap();
    assert_eq!(failure.kind, "InstanceExists", "{failure:?}");
    assert!(failure.message.contains("rp-child"), "{failure:?}");
    // The rewind voided the child's failure and the parent's; the task failed again, once.
    let history = t.keel.history("rp").await.unwrap();
    let rewind_at = history
        .iter()
        .position(|r| r.event.kind() == "ExecutionRewound")
        .expect("the rewind is recorded");
    let after: Vec<_> = crate::support::kinds(&history[rewind_at + 1..]);
    assert_eq!(after, ["SubOrchestrationFailed", "ExecutionFailed"]);
    assert!(matches!(
        &history[rewind_at + 1..].iter().find(|r| r.event.kind() == "SubOrchestrationFailed").unwrap().event,
        HistoryEvent::SubOrchestrationFailed { id: 0, failure } if failure.kind == "InstanceExists"
    ));
    // Still untouched once the parent has run.
    assert_eq!(t.keel.status("rp-child").await.unwrap().unwrap(), other);
    assert_eq!(t.keel.history("rp-child").await.unwrap(), other_history);
}

/// A failed parent's failed child was purged: the parent's rewind starts the child again under the
/// same id, as a new incarnation that reports to the parent, as the parent's first start did.
#[tokio::test(flavor = "multi_thread")]
async fn a_rewound_parent_starts_its_purged_child_again() {
    let t = engine(&["keel_test_patterns"]).await;
    failed_parent(&t.keel, "pp", "pp-child").await;
    let child_run = t.keel.status("pp-child").await.unwrap().unwrap().run;
    t.keel.purge("pp-child").await.unwrap();
    t.keel
        .set_config("FailUnlessReady", "READY", "yes")
        .await
        .unwrap();

    let rewound = t.keel.rewind("pp", "configured").await.unwrap();
    assert_eq!(rewound.instances, ["pp"]);
    assert!(rewound.tasks.is_empty(), "{rewound:?}");
    let done = ends(
        &t.keel,
        "pp",
        "the rewound parent waited forever for its purged child",
    )
    .await;
    assert_completed(&done);
    assert_eq!(done.output, Some(json!({"child": {"ready": "yes"}})));
    let child = t.keel.status("pp-child").await.unwrap().unwrap();
    assert_completed(&child);
    assert_ne!(child.run, child_run, "a new incarnation");
    assert_eq!(
        child.parent,
        Some(keel::history::ParentRef {
            instance: "pp".into(),
            execution: 1,
            task_id: 0,
            run: done.run.clone(),
        })
    );
    let history = t.keel.history("pp-child").await.unwrap();
    assert!(
        !history.iter().any(|r| r.event.kind() == "ExecutionRewound"),
        "{history:?}"
    );
}

/// A child the operator terminated reports its termination to its parent as a failure; when the
/// parent fails of it and is rewound, that failure is voided, but a terminated child is not rewound
/// (only failed ones are): the parent must get the termination again, not wait forever.
#[tokio::test(flavor = "multi_thread")]
async fn a_rewound_parent_whose_child_was_terminated_gets_the_termination_again() {
    let t = engine(&["keel_test_patterns"]).await;
    let input = json!({"child": "tp-child"});
    t.keel
        .start("ParentOfNamed", &input.to_string(), Some("tp"))
        .await
        .unwrap();
    let worker = crate::support::Running::start(&t.keel);
    crate::support::wait_for_event(&t.keel, "tp", "SubOrchestrationCreated").await;
    crate::support::wait_for_event(&t.keel, "tp-child", "EventAwaited").await;
    t.keel.terminate("tp-child", "not needed").await.unwrap();
    let failed = t.keel.wait("tp", Duration::from_secs(20)).await.unwrap();
    worker.stop().await;
    assert_eq!(failed.status, Status::Failed);
    let first = failed.failure.expect("the child's termination");
    assert_eq!(
        t.keel.status("tp-child").await.unwrap().unwrap().status,
        Status::Terminated
    );

    let rewound = t.keel.rewind("tp", "try again").await.unwrap();
    assert_eq!(rewound.instances, ["tp"]);
    let again = ends(
        &t.keel,
        "tp",
        "the rewound parent waited forever for a terminated child",
    )
    .await;
    assert_eq!(again.status, Status::Failed);
    assert_eq!(again.failure, Some(first));
    assert_eq!(
        t.keel.status("tp-child").await.unwrap().unwrap().status,
        Status::Terminated,
        "a terminated child stays terminated"
    );
}
