//! Traces over OTLP: `keel run --otlp-endpoint` against a collector stand-in that records what it is
//! sent, checking the spans of a real order run (turns and activity attempts, one trace per instance,
//! the failed first shipping attempt marked as an error), over plain HTTP with protobuf and over
//! HTTPS with JSON.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;
use serde_json::Value;

use crate::support::guests;
use crate::tls_front::TlsFront;

/// What the stand-in collector received: each request's content type, and the spans in the OTLP
/// JSON mapping (a protobuf request is decoded and mapped the same way).
#[derive(Default)]
struct Seen {
    content_types: Vec<String>,
    spans: Vec<Value>,
}

type Received = Arc<Mutex<Seen>>;

async fn collector() -> (u16, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let request: Value = if content_type == "application/x-protobuf" {
                    let decoded =
                        ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf request");
                    serde_json::to_value(decoded).expect("the OTLP JSON mapping")
                } else {
                    serde_json::from_slice(&body).expect("an OTLP JSON request")
                };
                let mut seen = store.lock().unwrap();
                seen.content_types.push(content_type);
                for resource in request["resourceSpans"].as_array().into_iter().flatten() {
                    for scope in resource["scopeSpans"].as_array().into_iter().flatten() {
                        for span in scope["spans"].as_array().into_iter().flatten() {
                            seen.spans.push(span.clone());
                        }
                    }
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, received)
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

/// `keel run` of the order example as `traced-order`, exporting to `endpoint`.
async fn traced_order_run(
    dir: &Path,
    endpoint: String,
    env: Vec<(&'static str, String)>,
) -> Output {
    let db = crate::support::test_db(dir);
    let module = guests().join("order_processing.wasm");
    let shop = crate::support::Shop::start("tok-otlp");
    let capabilities = shop.capabilities_file(dir);
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_keel"))
            .arg("--db")
            .arg(&db)
            .envs(crate::support::process_env(&db))
            .envs(env)
            .args(["--otlp-endpoint", &endpoint])
            .arg("run")
            .arg(module)
            .arg("--capabilities")
            .arg(capabilities)
            .args(["-o", "ProcessOrder", "--id", "traced-order"])
            .args([
                "--input",
                r#"{"orderId":"o-1","amount":25.0,"items":["book"]}"#,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn keel_run_exports_its_turns_and_attempts_over_otlp() {
    let (port, received) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let out = traced_order_run(dir.path(), format!("http://127.0.0.1:{port}"), Vec::new()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = received.lock().unwrap();
    assert!(
        seen.content_types
            .iter()
            .all(|t| t == "application/x-protobuf"),
        "{:?}",
        seen.content_types
    );
    check_order_spans(&seen.spans);
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_go_to_an_https_endpoint_in_json_when_asked() {
    let (port, received) = collector().await;
    let dir = tempfile::tempdir().unwrap();
    let front = TlsFront::start(port, dir.path()).await;
    let env = vec![
        ("SSL_CERT_FILE", front.ca_file.display().to_string()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_owned()),
    ];
    let out = traced_order_run(dir.path(), front.url(), env).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = received.lock().unwrap();
    assert!(!seen.content_types.is_empty());
    assert!(
        seen.content_types.iter().all(|t| t == "application/json"),
        "{:?}",
        seen.content_types
    );
    check_order_spans(&seen.spans);
}

/// The spans of the `traced-order` run.
fn check_order_spans(spans: &[Value]) {
    let named =
        |name: &str| -> Vec<&Value> { spans.iter().filter(|s| s["name"] == name).collect() };
    let turns = named("orchestration.turn");
    let attempts = named("activity.attempt");
    assert!(turns.len() >= 5, "{} turns in {spans:#?}", turns.len());
    assert_eq!(attempts.len(), 5, "four activities and one retry");

    // One trace for the instance: every turn and attempt carries its id and shares its trace id.
    let trace = &turns[0]["traceId"];
    assert_eq!(trace.as_str().unwrap().len(), 32);
    for span in turns.iter().chain(&attempts) {
        assert_eq!(&span["traceId"], trace);
        assert_eq!(
            attribute(span, "keel.instance").and_then(|v| v["stringValue"].as_str()),
            Some("traced-order")
        );
        let start: u128 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let end: u128 = span["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        assert!(start <= end);
    }
    // Each turn and attempt is a root of the instance's trace: an attempt is not a child of the turn
    // that scheduled it, nor a turn of the attempt whose result ran it (which chained every span of
    // an instance into one ever deeper path).
    for span in turns.iter().chain(&attempts) {
        // (No parent: the JSON mapping has no field or an empty one.)
        assert!(
            span["parentSpanId"].as_str().unwrap_or_default().is_empty(),
            "{span:#}"
        );
    }
    assert!(turns.iter().all(|t| {
        attribute(t, "keel.name").and_then(|v| v["stringValue"].as_str()) == Some("ProcessOrder")
            && attribute(t, "keel.execution").and_then(|v| v["intValue"].as_str()) == Some("1")
    }));

    let shipping: Vec<&&Value> = attempts
        .iter()
        .filter(|a| {
            attribute(a, "keel.name").and_then(|v| v["stringValue"].as_str()) == Some("ShipOrder")
        })
        .collect();
    assert_eq!(shipping.len(), 2);
    let attempt = |s: &Value| {
        attribute(s, "keel.attempt")
            .and_then(|v| v["intValue"].as_str())
            .map(str::to_owned)
    };
    let first = shipping
        .iter()
        .find(|s| attempt(s).as_deref() == Some("1"))
        .unwrap();
    let second = shipping
        .iter()
        .find(|s| attempt(s).as_deref() == Some("2"))
        .unwrap();
    assert_eq!(first["status"]["code"], 2, "{first:#}");
    assert!(
        first["status"]["message"]
            .as_str()
            .unwrap()
            .contains("CarrierUnavailable")
    );
    // Unset: code 0, or no status at all.
    assert_eq!(
        second["status"]["code"].as_i64().unwrap_or(0),
        0,
        "{second:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_otlp_endpoint_does_not_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // Bind and drop a listener: nothing listens on that port afterwards.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let shop = crate::support::Shop::start("tok-otlp");
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(dir.path().join("keel.db"))
        .args(["--otlp-endpoint", &format!("http://127.0.0.1:{port}")])
        .arg("run")
        .arg(guests().join("order_processing.wasm"))
        .arg("--capabilities")
        .arg(shop.capabilities_file(dir.path()))
        .args(["-o", "ProcessOrder"])
        .args([
            "--input",
            r#"{"orderId":"o-2","amount":5.0,"items":["pen"]}"#,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("could not export"), "{stderr}");

    let bad = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["--otlp-endpoint", "ftp://collector:4318", "list"])
        .arg("--db")
        .arg(dir.path().join("keel.db"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected http[s]://"));

    // A protocol the binary does not carry is refused with what it does carry.
    let grpc = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["--otlp-endpoint", "http://collector:4317", "list"])
        .arg("--db")
        .arg(dir.path().join("keel.db"))
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .unwrap();
    assert!(!grpc.status.success());
    let stderr = String::from_utf8_lossy(&grpc.stderr);
    assert!(
        stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"grpc\"") && stderr.contains("http/json"),
        "{stderr}"
    );
}
