//! Outgoing HTTP in every language, against real HTTP servers on 127.0.0.1: an allowed call, a denied
//! one (not retried, harming nothing), a slow server, an oversized response, grants and configuration
//! changed under a running worker, an orchestrator that tries `wasi:http` itself, and a durable call
//! that follows `202 Accepted` through a restart.

use std::time::Duration;

use keel::HistoryEvent;
use keel::cli::build::Lang;
use keel::store::Status;
use serde_json::json;

use super::{engine_for, run};
use crate::support::{Running, TestEngine, assert_completed, kinds, reopen};
use crate::test_server::TestServer;

/// Starts `CallService` with `input` as `id` and runs it to its end.
async fn call(t: &TestEngine, input: serde_json::Value, id: &str) -> keel::store::Instance {
    run(t, "CallService", &input.to_string(), id).await.0
}

pub(crate) async fn an_allowed_call_succeeds_and_a_denied_one_fails_at_once(lang: Lang) {
    let server = TestServer::start().await;
    let t = engine_for(lang, "http_calls").await;
    t.keel.grant("Fetch", &server.url).await.unwrap();
    let ok = call(
        &t,
        json!({"request": {"url": format!("{}/ok", server.url)}}),
        "ok",
    )
    .await;
    assert_completed(&ok);
    assert_eq!(
        ok.output,
        Some(json!({"status": 200, "body": "hello"})),
        "{lang}"
    );

    // Another origin: denied before anything is sent, and not retried although the call allows three
    // attempts.
    let other = format!("http://localhost:{}/ok", server.port);
    let (denied, history) = run(
        &t,
        "CallService",
        &json!({"request": {"url": other}, "attempts": 3}).to_string(),
        "denied",
    )
    .await;
    assert_eq!(denied.status, Status::Failed, "{lang}: {denied:?}");
    let failure = denied.failure.expect("a failure");
    assert_eq!(failure.kind, "HttpDenied", "{lang}: {failure}");
    assert!(
        failure.message.contains(&format!(
            "keel grant Fetch http://localhost:{}",
            server.port
        )),
        "{lang}: {failure}"
    );
    assert_eq!(
        kinds(&history),
        [
            "ExecutionStarted",
            "TaskScheduled",
            "TaskFailed",
            "ExecutionFailed"
        ],
        "{lang}"
    );
    assert_eq!(
        server.hits("/ok"),
        1,
        "{lang}: the denied request reached the server"
    );

    // Nothing else is harmed: the next call goes through.
    let again = call(&t, json!({"request": {"url": format!("{}/echo", server.url), "method": "POST", "body": "ping"}}), "again").await;
    assert_eq!(
        again.output,
        Some(json!({"status": 200, "body": "ping"})),
        "{lang}"
    );
}

pub(crate) async fn a_slow_server_hits_the_attempt_timeout(lang: Lang) {
    let server = TestServer::start().await;
    let t = engine_for(lang, "http_calls").await;
    t.keel.grant("Fetch", &server.url).await.unwrap();
    let started = std::time::Instant::now();
    let slow = call(
        &t,
        json!({"request": {"url": format!("{}/slow", server.url)}, "timeoutMs": 1000}),
        "slow",
    )
    .await;
    assert_eq!(slow.status, Status::Failed, "{lang}");
    let failure = slow.failure.expect("a failure");
    assert_eq!(failure.kind, "Timeout", "{lang}: {failure}");
    // Well before the server would have answered (30 s).
    assert!(started.elapsed() < Duration::from_secs(20), "{lang}");
}

pub(crate) async fn an_oversized_response_hits_the_size_cap(lang: Lang) {
    let server = TestServer::start().await;
    let t = super::engine_for_with(lang, "http_calls", |c| {
        c.limits.http_response_max_bytes = 1 << 20;
    })
    .await;
    t.keel.grant("Fetch", &server.url).await.unwrap();
    let big = call(
        &t,
        json!({"request": {"url": format!("{}/big", server.url)}}),
        "big",
    )
    .await;
    assert_eq!(big.status, Status::Failed, "{lang}");
    let failure = big.failure.expect("a failure");
    assert_eq!(failure.kind, "HttpResponseTooLarge", "{lang}: {failure}");
    assert!(failure.message.contains("1048576"), "{lang}: {failure}");
}

pub(crate) async fn grants_and_configuration_reach_the_next_attempt_of_a_running_worker(
    lang: Lang,
) {
    let (a, b) = (TestServer::start().await, TestServer::start().await);
    let t = engine_for(lang, "http_calls").await;
    t.keel.grant("Fetch", &a.url).await.unwrap();
    t.keel
        .set_config("Fetch", "BASE_URL", &a.url)
        .await
        .unwrap();
    let worker = Running::start(&t.keel);
    let id = t
        .keel
        .start(
            "CallService",
            &json!({"request": {"path": "/ok"}}).to_string(),
            Some("first"),
        )
        .await
        .unwrap();
    let first = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_completed(&first);
    assert_eq!((a.hits("/ok"), b.hits("/ok")), (1, 0), "{lang}");

    // Another process on the same database moves the function to server B.
    let operator = reopen(&t.config, None).await;
    operator.revoke("Fetch", &a.url).await.unwrap();
    operator.grant("Fetch", &b.url).await.unwrap();
    operator
        .set_config("Fetch", "BASE_URL", &b.url)
        .await
        .unwrap();
    let id = t
        .keel
        .start(
            "CallService",
            &json!({"request": {"path": "/ok"}}).to_string(),
            Some("second"),
        )
        .await
        .unwrap();
    let second = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    assert_completed(&second);
    assert_eq!((a.hits("/ok"), b.hits("/ok")), (1, 1), "{lang}");

    // And the revoked origin is denied to the running worker at once.
    let id = t
        .keel
        .start(
            "CallService",
            &json!({"request": {"url": format!("{}/ok", a.url)}}).to_string(),
            Some("third"),
        )
        .await
        .unwrap();
    let third = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_eq!(
        third.failure.map(|f| f.kind),
        Some("HttpDenied".to_owned()),
        "{lang}"
    );
    assert_eq!(a.hits("/ok"), 1, "{lang}");
}

pub(crate) async fn an_orchestrator_calling_wasi_http_gets_the_coded_error(lang: Lang) {
    let server = TestServer::start().await;
    let t = engine_for(lang, "http_calls").await;
    // Even a grant in the orchestrator's name does not let the orchestrator itself send anything.
    t.keel
        .grant("FetchFromOrchestrator", &server.url)
        .await
        .unwrap();
    let (instance, _) = run(
        &t,
        "FetchFromOrchestrator",
        &json!({"url": format!("{}/ok", server.url)}).to_string(),
        "orchestrator-http",
    )
    .await;
    assert_eq!(instance.status, Status::Failed, "{lang}");
    let failure = instance.failure.expect("a failure");
    assert_eq!(failure.kind, "HttpInOrchestrator", "{lang}: {failure}");
    assert!(
        failure.message.contains("[KEEL-O1]") && failure.message.contains("call_http"),
        "{lang}: {failure}"
    );
    assert!(
        server.seen().is_empty(),
        "{lang}: the orchestrator reached the server"
    );
}

pub(crate) async fn a_durable_call_follows_202_through_a_worker_restart(lang: Lang) {
    let server = TestServer::start().await;
    let t = engine_for(lang, "http_calls").await;
    t.keel.grant("DurableFetch", &server.url).await.unwrap();
    t.keel
        .set_secret("DurableFetch", "API_TOKEN", "tok-durable-5e1c")
        .await
        .unwrap();
    let input = json!({"url": format!("{}/jobs", server.url), "method": "POST", "body": "start", "asynchronous": true});
    let id = t
        .keel
        .start("DurableFetch", &input.to_string(), Some("durable"))
        .await
        .unwrap();
    let worker = crate::support::Abandoned::worker(&t.config);
    for _ in 0..600 {
        if server.hits("/jobs/1") >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        server.hits("/jobs/1") >= 1,
        "{lang}: no poll reached the server"
    );
    // Stop mid-poll, without a shutdown: the instance waits on a durable timer or a poll.
    worker.abandon();
    server.finish_job();
    let restarted = reopen(&t.config, None).await;
    let instance = crate::support::finish(&restarted, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(
        instance.output,
        Some(json!({"status": 200, "body": "job done"})),
        "{lang}"
    );
    assert_eq!(
        server.hits("/jobs"),
        1,
        "{lang}: the job was started more than once"
    );
    let methods: Vec<(String, String)> = server
        .seen()
        .into_iter()
        .map(|s| (s.method, s.path))
        .collect();
    assert_eq!(
        methods[0],
        ("POST".to_owned(), "/jobs".to_owned()),
        "{lang}"
    );
    assert!(
        methods[1..]
            .iter()
            .all(|(m, p)| m == "GET" && p == "/jobs/1"),
        "{lang}: {methods:?}"
    );
    // The token was sent, and only its placeholder was recorded.
    assert!(
        server
            .seen()
            .iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer tok-durable-5e1c")),
        "{lang}: {:?}",
        server.seen()
    );
    let history = restarted.history(id.as_str()).await.unwrap();
    let text = serde_json::to_string(&history).unwrap();
    assert!(
        !text.contains("tok-durable-5e1c"),
        "{lang}: the secret is in the history"
    );
    assert!(text.contains("{{secret:API_TOKEN}}"), "{lang}");
    let http_calls = history
        .iter()
        .filter(
            |r| matches!(&r.event, HistoryEvent::TaskScheduled { name, .. } if name == "keel.http"),
        )
        .count();
    let timers = history
        .iter()
        .filter(|r| matches!(r.event, HistoryEvent::TimerFired { .. }))
        .count();
    assert!(
        http_calls >= 2 && timers == http_calls - 1,
        "{lang}: {http_calls} calls, {timers} timers"
    );
}

pub(crate) async fn a_secret_reaches_the_service_and_nothing_else(lang: Lang) {
    let service = TestServer::start().await;
    let collector = TestServer::start().await;
    let t = engine_for(lang, "http_calls").await;
    let secret = format!("sk-{lang}-{}", uuid::Uuid::new_v4().simple());
    let token = "api-token-for-secrets";
    let server = crate::support::serve_with(
        &t.db(),
        token,
        &["--otlp-endpoint", &collector.url],
        // Keel's debug lines too (an attempt's end is one), so that every line is checked.
        "keel=debug,info",
    );
    let api = |method: &str, path: &str, body: &[u8]| {
        crate::support::http(server.port, method, path, body, token)
    };
    let mut answers = String::new();
    for function in ["Fetch", "DurableFetch"] {
        let (status, body) = api(
            "PUT",
            &format!("/api/functions/{function}/secrets/API_TOKEN"),
            secret.as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
        answers.push_str(&body);
        let grant = json!({"pattern": service.url}).to_string();
        let (status, body) = api(
            "POST",
            &format!("/api/functions/{function}/grants"),
            grant.as_bytes(),
        );
        assert_eq!(status, 200, "{body}");
    }
    let runs = [
        (
            "CallService",
            json!({"request": {"url": format!("{}/ok", service.url)}}),
        ),
        (
            "DurableFetch",
            json!({"url": format!("{}/ok", service.url)}),
        ),
    ];
    for (name, input) in &runs {
        let (status, body) = api(
            "POST",
            &format!("/api/orchestrators/{name}/run-{name}"),
            input.to_string().as_bytes(),
        );
        assert_eq!(status, 202, "{body}");
    }
    for (name, _) in &runs {
        let path = format!("/api/instances/run-{name}?history=true");
        let mut last = String::new();
        // Generous: a JavaScript activity's first instantiation is slow on a loaded machine.
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        while std::time::Instant::now() < deadline {
            let (_, body) = api("GET", &path, b"");
            last = body;
            if last.contains("\"Completed\"") || last.contains("\"Failed\"") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(last.contains("\"Completed\""), "{lang}: {name}: {last}");
        answers.push_str(&last);
    }
    // The service got the secret, from the activity and from the durable call.
    let sent: Vec<Option<String>> = service
        .seen()
        .into_iter()
        .map(|s| s.authorization)
        .collect();
    assert_eq!(sent, vec![Some(format!("Bearer {secret}")); 2], "{lang}");
    for path in [
        "/api/functions/Fetch/capabilities",
        "/api/instances",
        "/api/grants",
        "/metrics",
    ] {
        answers.push_str(&api("GET", path, b"").1);
    }
    assert!(
        answers.contains("API_TOKEN") && answers.contains("run-CallService"),
        "{lang}: {answers}"
    );
    // Spans of both runs were exported (generous: the batch goes out within a second, but this
    // machine may be loaded).
    for _ in 0..3000 {
        if collector
            .seen()
            .iter()
            .any(|s| s.body.contains("run-DurableFetch"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let spans: String = collector.seen().into_iter().map(|s| s.body).collect();
    assert!(
        spans.contains("run-CallService") && spans.contains("run-DurableFetch"),
        "{lang}: no spans in {} requests; the server said:\n{}",
        collector.seen().len(),
        server.log.lock().unwrap()
    );
    let log = server.log.clone();
    drop(server);
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("activity"),
        "{lang}: the server logged nothing: {log}"
    );
    let needle = secret.as_bytes();
    let found_in = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(
        !crate::raw_db::holds(&t.db(), &secret),
        "{lang}: the secret is in the database"
    );
    assert!(
        !found_in(answers.as_bytes()),
        "{lang}: the secret is in an API answer"
    );
    assert!(
        !found_in(spans.as_bytes()),
        "{lang}: the secret is in the exported spans"
    );
    assert!(
        !found_in(log.as_bytes()),
        "{lang}: the secret is in the server's log"
    );
}
