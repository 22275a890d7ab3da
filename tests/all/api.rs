//! The HTTP management API: every endpoint in-process through `Router::oneshot` (auth, each error code,
//! a real order run going from 202 to 200), and `keel serve` as a real process driven over HTTP.

use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::support::{
    Running, TestEngine, assert_completed, engine, guest, http, serve, wait_for_event,
};

const TOKEN: &str = "test-token";
const ORDER: &str = r#"{"orderId":"order-42","amount":25.0,"items":["book"]}"#;

/// A response as the tests look at it.
struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the status and, for errors, returns the `code` of the JSON error body.
    fn expect(&self, status: StatusCode) -> &Self {
        assert_eq!(self.status, status, "body: {}", self.text());
        self
    }

    fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

async fn call_with(
    app: &Router,
    method: &str,
    uri: &str,
    body: impl Into<Body>,
    token: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app
        .clone()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

async fn call(app: &Router, method: &str, uri: &str, body: impl Into<Body>) -> Reply {
    call_with(app, method, uri, body, Some(TOKEN)).await
}

async fn app(modules: &[&str]) -> (TestEngine, Router) {
    let t = engine(modules).await;
    let router = keel::api::router(t.keel.clone(), TOKEN.to_owned());
    (t, router)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_endpoint_but_healthz_and_the_dashboard_needs_the_token() {
    let (_t, app) = app(&[]).await;
    call_with(&app, "GET", "/healthz", Body::empty(), None)
        .await
        .expect(StatusCode::OK);
    let index = call_with(&app, "GET", "/", Body::empty(), None).await;
    index.expect(StatusCode::OK);
    assert!(index.text().contains("/ui/app.js"));
    let protected = [
        ("POST", "/api/orchestrators/ProcessOrder"),
        ("POST", "/api/orchestrators/ProcessOrder/x"),
        ("GET", "/api/instances"),
        ("DELETE", "/api/instances?status=Completed"),
        ("GET", "/api/instances/x"),
        ("DELETE", "/api/instances/x"),
        ("POST", "/api/instances/x/events/E"),
        ("POST", "/api/instances/x/terminate"),
        ("POST", "/api/instances/x/suspend"),
        ("POST", "/api/instances/x/resume"),
        ("POST", "/api/instances/x/rewind"),
        ("GET", "/api/modules"),
        ("GET", "/api/modules/Stamp"),
        ("POST", "/api/modules"),
        ("GET", "/api/stats"),
        ("GET", "/api/workers"),
        ("GET", "/api/instances/x/logs"),
        ("GET", "/api/openapi.json"),
        ("GET", "/metrics"),
        ("GET", "/api/grants"),
        ("POST", "/api/functions/F/grants"),
        ("DELETE", "/api/functions/F/grants?pattern=http://x.test"),
        ("GET", "/api/functions/F/capabilities"),
        ("PUT", "/api/functions/F/capabilities"),
        ("PUT", "/api/functions/F/config/K"),
        ("DELETE", "/api/functions/F/config/K"),
        ("PUT", "/api/functions/F/secrets/S"),
        ("DELETE", "/api/functions/F/secrets/S"),
    ];
    for (method, uri) in protected {
        for token in [None, Some("wrong"), Some("")] {
            let reply = call_with(&app, method, uri, Body::empty(), token).await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} with {token:?}"
            );
            assert_eq!(reply.code(), "unauthorized");
            assert!(reply.headers.contains_key(header::WWW_AUTHENTICATE));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_deployed_and_started_over_http_goes_from_202_to_200() {
    let (t, app) = app(&[]).await;
    let shop = crate::support::Shop::start("tok-api");
    shop.configure(&t.keel).await;
    let deployed = call(
        &app,
        "POST",
        "/api/modules?version=v1",
        guest("order_processing"),
    )
    .await;
    deployed.expect(StatusCode::CREATED);
    let deployed = deployed.json();
    assert_eq!(deployed["version"], "v1");
    assert!(
        deployed["functions"]
            .as_array()
            .unwrap()
            .contains(&json!(["ProcessOrder", "orchestrator"]))
    );
    let modules = call(&app, "GET", "/api/modules", Body::empty()).await;
    modules.expect(StatusCode::OK);
    let functions = modules.json()["functions"].clone();
    assert!(
        functions
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "ProcessOrder" && f["active"] == true)
    );

    let request = Request::builder()
        .method("POST")
        .uri("/api/orchestrators/ProcessOrder/order-42")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::HOST, "keel.example:8080")
        .body(Body::from(ORDER))
        .unwrap();
    let started = app.clone().oneshot(request).await.unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    assert_eq!(
        started.headers()[header::LOCATION],
        "http://keel.example:8080/api/instances/order-42"
    );
    let body: Value = serde_json::from_slice(
        &axum::body::to_bytes(started.into_body(), 1 << 20)
            .await
            .unwrap(),
    )
    .unwrap();
    let instance_uri = "http://keel.example:8080/api/instances/order-42";
    assert_eq!(
        body,
        json!({
            "id": "order-42",
            "created": true,
            "statusQueryGetUri": instance_uri,
            "sendEventPostUri": format!("{instance_uri}/events/{{eventName}}"),
            "terminatePostUri": format!("{instance_uri}/terminate"),
            "suspendPostUri": format!("{instance_uri}/suspend"),
            "resumePostUri": format!("{instance_uri}/resume"),
            "rewindPostUri": format!("{instance_uri}/rewind"),
            "purgeHistoryDeleteUri": instance_uri,
        })
    );

    // No worker yet: the instance is pending and its status answers 202.
    let pending = call(&app, "GET", "/api/instances/order-42", Body::empty()).await;
    pending.expect(StatusCode::ACCEPTED);
    assert_eq!(pending.json()["status"], "Pending");
    assert!(pending.json().get("history").is_none());

    let worker = Running::start(&t.keel);
    let ended = t
        .keel
        .wait("order-42", Duration::from_secs(60))
        .await
        .unwrap();
    worker.stop().await;
    assert_completed(&ended);

    let done = call(
        &app,
        "GET",
        "/api/instances/order-42?history=true",
        Body::empty(),
    )
    .await;
    done.expect(StatusCode::OK);
    let done = done.json();
    assert_eq!(done["status"], "Completed");
    assert_eq!(done["output"]["trackingNumber"], "TRK-order-42");
    assert_eq!(done["customStatus"], json!({"step": "completed"}));
    let history = done["history"].as_array().unwrap();
    assert!(
        history
            .iter()
            .any(|r| r["event"]["type"] == "ExecutionStarted")
    );
    assert_eq!(
        history.last().unwrap()["event"]["type"],
        "ExecutionCompleted"
    );
    assert!(history.iter().all(|r| r["recordedAt"].as_u64().is_some()));

    let listed = call(
        &app,
        "GET",
        "/api/instances?status=completed&name=ProcessOrder&limit=10",
        Body::empty(),
    )
    .await;
    listed.expect(StatusCode::OK);
    assert_eq!(listed.json().as_array().unwrap().len(), 1);
    let none = call(&app, "GET", "/api/instances?status=Running", Body::empty()).await;
    assert_eq!(none.json(), json!([]));
    call(&app, "GET", "/api/instances?status=Sleeping", Body::empty())
        .await
        .expect(StatusCode::BAD_REQUEST);

    let stats = call(&app, "GET", "/api/stats", Body::empty()).await;
    stats.expect(StatusCode::OK);
    assert_eq!(stats.json()["counts"]["Completed"], 1);
    assert_eq!(stats.json()["counts"]["Running"], 0);
    assert_eq!(stats.json()["total"], 1);

    let metrics = call(&app, "GET", "/metrics", Body::empty()).await;
    metrics.expect(StatusCode::OK);
    assert!(
        metrics.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text();
    let sample = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
    };
    // Every turn of the order was committed and timed.
    let turns = sample("keel_turns_total");
    assert!(turns >= 5, "{turns} turns");
    assert_eq!(sample("keel_turn_duration_seconds_count"), turns);
    for line in [
        "keel_instances{status=\"Completed\"} 1",
        "keel_instances{status=\"Running\"} 0",
        "keel_modules 1",
        "keel_api_instances_started_total 1",
        "keel_api_modules_deployed_total 1",
        "# TYPE keel_hot_hits_total counter",
        "# TYPE keel_replays_total counter",
        "# TYPE keel_http_responses_total counter",
        "keel_activity_attempts_total{activity=\"ShipOrder\"} 2",
        "keel_activity_failures_total{activity=\"ShipOrder\"} 1",
        "keel_activity_attempts_total{activity=\"VerifyPayment\"} 1",
        "keel_activity_failures_total{activity=\"VerifyPayment\"} 0",
        "keel_activity_duration_seconds_count 5",
        "keel_activity_duration_seconds_bucket{le=\"+Inf\"} 5",
        "# TYPE keel_turn_duration_seconds histogram",
        "keel_work_items{state=\"due\"} 0",
        "keel_inbox_messages{state=\"scheduled\"} 0",
        "# TYPE keel_hot_evictions_total counter",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} missing in\n{text}"
        );
    }

    call(&app, "DELETE", "/api/instances/order-42", Body::empty())
        .await
        .expect(StatusCode::OK);
    let gone = call(&app, "GET", "/api/instances/order-42", Body::empty()).await;
    gone.expect(StatusCode::NOT_FOUND);
    assert_eq!(gone.code(), "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_their_status_and_a_stable_code() {
    let (t, app) = app(&["order_processing", "approval"]).await;
    let cases: Vec<(&str, String, Body, StatusCode, &str)> = vec![
        (
            "POST",
            "/api/orchestrators/ProcessOrder".into(),
            Body::from("{not json"),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "POST",
            "/api/orchestrators/NoSuchThing".into(),
            Body::empty(),
            StatusCode::BAD_REQUEST,
            "unknown_orchestrator",
        ),
        (
            "POST",
            "/api/orchestrators/ProcessOrder".into(),
            Body::from(vec![b' '; (1 << 20) + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "GET",
            "/api/instances/nobody".into(),
            Body::empty(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/api/instances/nobody/events/Approved".into(),
            Body::empty(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/api/instances/nobody/terminate".into(),
            Body::empty(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "DELETE",
            "/api/instances/nobody".into(),
            Body::empty(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "POST",
            "/api/modules".into(),
            Body::from("definitely not wasm"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_module",
        ),
        (
            "POST",
            "/api/modules".into(),
            Body::from(b"\0asm\x01\0\0\0".to_vec()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_module",
        ),
        (
            "GET",
            "/api/instances?limit=many".into(),
            Body::empty(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            "GET",
            "/api/nothing-here".into(),
            Body::empty(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "PUT",
            "/api/instances/nobody".into(),
            Body::empty(),
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
    ];
    for (method, uri, body, status, code) in cases {
        let reply = call(&app, method, &uri, body).await;
        assert_eq!(reply.status, status, "{method} {uri}: {}", reply.text());
        assert_eq!(reply.code(), code, "{method} {uri}");
        assert!(
            reply.json()["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }

    // A module upload over 64 MiB is refused before the engine sees it.
    let huge = call(
        &app,
        "POST",
        "/api/modules",
        vec![0u8; keel::api::MAX_MODULE_BYTES + 1],
    )
    .await;
    huge.expect(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.code(), "payload_too_large");

    // 409: the id is in use; and a running instance cannot be purged.
    let input = r#"{"requestId":"r1","timeoutMs":600000}"#;
    call(&app, "POST", "/api/orchestrators/Approval/a-1", input)
        .await
        .expect(StatusCode::ACCEPTED);
    let again = call(&app, "POST", "/api/orchestrators/Approval/a-1", input).await;
    again.expect(StatusCode::CONFLICT);
    assert_eq!(again.code(), "instance_exists");
    let purge = call(&app, "DELETE", "/api/instances/a-1", Body::empty()).await;
    purge.expect(StatusCode::CONFLICT);
    assert_eq!(purge.code(), "instance_not_ended");
    let bad_event = call(&app, "POST", "/api/instances/a-1/events/Approved", "{oops").await;
    bad_event.expect(StatusCode::BAD_REQUEST);
    assert_eq!(bad_event.code(), "invalid_json");
    let bad_reason = call(&app, "POST", "/api/instances/a-1/terminate", "[1,").await;
    bad_reason.expect(StatusCode::BAD_REQUEST);

    // 410: once terminated, the instance takes no more messages.
    let worker = Running::start(&t.keel);
    call(
        &app,
        "POST",
        "/api/instances/a-1/terminate",
        r#"{"reason":"test says so"}"#,
    )
    .await
    .expect(StatusCode::ACCEPTED);
    let ended = t.keel.wait("a-1", Duration::from_secs(60)).await.unwrap();
    worker.stop().await;
    assert_eq!(ended.status, keel::store::Status::Terminated);
    for uri in [
        "/api/instances/a-1/events/Approved",
        "/api/instances/a-1/terminate",
        "/api/instances/a-1/suspend",
        "/api/instances/a-1/resume",
    ] {
        let reply = call(&app, "POST", uri, Body::empty()).await;
        reply.expect(StatusCode::GONE);
        assert_eq!(reply.code(), "instance_ended");
    }
    let history = t.keel.history("a-1").await.unwrap();
    assert!(history.iter().any(|r| matches!(
        &r.event,
        keel::HistoryEvent::ExecutionTerminated { reason } if reason == "test says so"
    )));
}

#[tokio::test(flavor = "multi_thread")]
async fn suspend_resume_and_raise_drive_an_approval() {
    let (t, app) = app(&["approval"]).await;
    let worker = Running::start(&t.keel);
    let started = call(
        &app,
        "POST",
        "/api/orchestrators/Approval",
        r#"{"requestId":"r2","timeoutMs":600000}"#,
    )
    .await;
    started.expect(StatusCode::ACCEPTED);
    let id = started.json()["id"].as_str().unwrap().to_owned();
    wait_for_event(&t.keel, &id, "EventAwaited").await;

    call(
        &app,
        "POST",
        &format!("/api/instances/{id}/suspend"),
        Body::empty(),
    )
    .await
    .expect(StatusCode::ACCEPTED);
    wait_for_event(&t.keel, &id, "ExecutionSuspended").await;
    let suspended = call(&app, "GET", &format!("/api/instances/{id}"), Body::empty()).await;
    suspended.expect(StatusCode::ACCEPTED);
    assert_eq!(suspended.json()["status"], "Suspended");

    call(
        &app,
        "POST",
        &format!("/api/instances/{id}/resume"),
        r#"{"reason":"go on"}"#,
    )
    .await
    .expect(StatusCode::ACCEPTED);
    call(
        &app,
        "POST",
        &format!("/api/instances/{id}/events/Approved"),
        r#"{"by":"bob"}"#,
    )
    .await
    .expect(StatusCode::ACCEPTED);
    let ended = t.keel.wait(&id, Duration::from_secs(60)).await.unwrap();
    worker.stop().await;
    assert_completed(&ended);
    let done = call(&app, "GET", &format!("/api/instances/{id}"), Body::empty()).await;
    done.expect(StatusCode::OK);
    assert_eq!(done.json()["output"]["approvedBy"], "bob");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_describes_every_route_and_the_dashboard_is_embedded() {
    let (_t, app) = app(&[]).await;
    let doc = call(&app, "GET", "/api/openapi.json", Body::empty()).await;
    doc.expect(StatusCode::OK);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/orchestrators/{name}", &["post"][..]),
        ("/api/orchestrators/{name}/{id}", &["post"]),
        ("/api/orchestrators/{name}/{id}/events/{event}", &["post"]),
        ("/api/instances", &["get", "delete"]),
        ("/api/instances/{id}", &["get", "delete"]),
        ("/api/instances/{id}/events/{event}", &["post"]),
        ("/api/instances/{id}/terminate", &["post"]),
        ("/api/instances/{id}/suspend", &["post"]),
        ("/api/instances/{id}/resume", &["post"]),
        ("/api/instances/{id}/rewind", &["post"]),
        ("/api/modules", &["get", "post"]),
        ("/api/modules/{name}", &["get"]),
        ("/api/stats", &["get"]),
        ("/api/workers", &["get"]),
        ("/api/instances/{id}/logs", &["get"]),
        ("/api/openapi.json", &["get"]),
        ("/metrics", &["get"]),
        ("/healthz", &["get"]),
        ("/api/grants", &["get"]),
        ("/api/functions/{name}/grants", &["post", "delete"]),
        ("/api/functions/{name}/capabilities", &["get", "put"]),
        ("/api/functions/{name}/config/{key}", &["put", "delete"]),
        ("/api/functions/{name}/secrets/{secret}", &["put", "delete"]),
        ("/api/schedules", &["get", "post"]),
        ("/api/schedules/{name}", &["get", "delete"]),
        ("/api/schedules/{name}/pause", &["post"]),
        ("/api/schedules/{name}/resume", &["post"]),
        ("/api/instances/{id}/queries/{name}", &["get"]),
        ("/api/instances/{id}/updates/{name}", &["post"]),
        ("/api/instances/{id}/updates/{name}/{updateId}", &["get"]),
    ] {
        for method in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is not documented"
            );
        }
    }
    assert_eq!(paths.len(), 30, "a documented path has no route");

    for (uri, kind) in [
        ("/", "text/html"),
        ("/ui/", "text/html"),
        ("/ui/instances/abc", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let reply = call_with(&app, "GET", uri, Body::empty(), None).await;
        reply.expect(StatusCode::OK);
        let content_type = reply.headers[header::CONTENT_TYPE].to_str().unwrap();
        assert!(content_type.starts_with(kind), "{uri}: {content_type}");
        // Only its own script and stylesheet, never framed by another site.
        let policy = reply.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"),
            "{uri}: {policy}"
        );
        assert_eq!(reply.headers[header::X_FRAME_OPTIONS], "DENY", "{uri}");
        let text = reply.text();
        assert!(
            !text.contains("src=\"http") && !text.contains("href=\"http"),
            "{uri} loads something from the network"
        );
    }
}

#[test]
fn keel_serve_runs_an_approval_raised_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = guest("approval");
    let mut server = serve(&crate::support::test_db(dir.path()), TOKEN);
    let port = server.port;
    for line in &server.banner {
        assert!(
            !line.contains(TOKEN),
            "the configured token is printed: {line}"
        );
    }

    assert_eq!(http(port, "GET", "/healthz", b"", "").0, 200);
    assert_eq!(http(port, "GET", "/api/instances", b"", "wrong").0, 401);
    let (status, body) = http(port, "POST", "/api/modules", &wasm, TOKEN);
    assert_eq!(status, 201, "{body}");
    let (status, body) = http(
        port,
        "POST",
        "/api/orchestrators/Approval/r1",
        br#"{"requestId":"r1","timeoutMs":600000}"#,
        TOKEN,
    );
    assert_eq!(status, 202, "{body}");
    let poll = |id: &str, until: &dyn Fn(&Value) -> bool| -> Value {
        for _ in 0..600 {
            let path = format!("/api/instances/{id}?history=true");
            let (status, body) = http(port, "GET", &path, b"", TOKEN);
            assert!(status == 200 || status == 202, "{status} {body}");
            let value: Value = serde_json::from_str(&body).expect("status JSON");
            if until(&value) {
                return value;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("instance {id} never reached the expected state");
    };
    let awaiting = |v: &Value| {
        v["history"]
            .as_array()
            .is_some_and(|h| h.iter().any(|r| r["event"]["type"] == "EventAwaited"))
    };
    poll("r1", &awaiting);
    let (status, body) = http(
        port,
        "POST",
        "/api/instances/r1/events/Approved",
        br#"{"by":"alice"}"#,
        TOKEN,
    );
    assert_eq!(status, 202, "{body}");
    let done = poll("r1", &|v| v["status"] == "Completed");
    assert_eq!(done["output"]["approvedBy"], "alice");

    // The CLI's management commands against the server (`--server`, token from KEEL_API_TOKEN).
    let url = format!("http://127.0.0.1:{port}");
    let cli = |token: &str, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["--server", &url])
            .args(args)
            .env("KEEL_API_TOKEN", token)
            .env("RUST_LOG", "warn")
            .output()
            .expect("running keel --server");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), stdout, stderr)
    };
    let (ok, stdout, stderr) = cli(TOKEN, &["status", "r1", "--json"]);
    assert!(ok, "{stderr}");
    let status: Value = serde_json::from_str(&stdout).expect("status JSON");
    assert_eq!(status["status"], "Completed");
    let (ok, stdout, stderr) = cli(TOKEN, &["list", "--status", "completed", "--json"]);
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).unwrap()[0]["id"],
        "r1"
    );
    let input = r#"{"requestId":"r2","timeoutMs":600000}"#;
    let (ok, stdout, stderr) = cli(
        TOKEN,
        &["start", "Approval", "--id", "r2", "--input", input],
    );
    assert!(ok, "{stderr}");
    assert_eq!(stdout.trim(), "r2");
    poll("r2", &awaiting);
    let (ok, _, stderr) = cli(
        TOKEN,
        &["raise", "r2", "Approved", "--data", r#"{"by":"carol"}"#],
    );
    assert!(ok, "{stderr}");
    let done = poll("r2", &|v| v["status"] == "Completed");
    assert_eq!(done["output"]["approvedBy"], "carol");
    let (ok, stdout, stderr) = cli(TOKEN, &["history", "r2"]);
    assert!(ok && stdout.contains("EventRaised"), "{stdout}{stderr}");
    let (ok, _, stderr) = cli(TOKEN, &["purge", "r1"]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = cli(TOKEN, &["status", "r1"]);
    assert!(!ok && stderr.contains("not_found"), "{stderr}");
    let (ok, _, stderr) = cli("wrong", &["status", "r2"]);
    assert!(!ok && stderr.contains("unauthorized"), "{stderr}");

    // SIGTERM stops it cleanly.
    #[cfg(unix)]
    {
        let pid = server.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let status = server.child.wait().unwrap();
        assert!(status.success(), "keel serve exited with {status}");
    }
}
