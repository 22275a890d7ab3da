//! The HTTP API of `keel serve`, in process through `Router::oneshot`: random methods, paths (the
//! real routes with random parameters, and random ones), query strings, headers, bearer tokens and
//! bodies. A client's mistake is a 4xx with the API's JSON error body; nothing answers 5xx (there is
//! no server fault to report here), panics or hangs.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::events::json_value;
use super::{check, runtime};

const TOKEN: &str = "fuzz-token";

/// Path segments worth hitting: names that exist, route words, dot segments.
const KNOWN: [&str; 26] = [
    "Approval",
    "ApplyChange",
    "fuzz-running",
    "fuzz-done",
    "nobody",
    "Approved",
    "events",
    "terminate",
    "suspend",
    "resume",
    "rewind",
    "grants",
    "capabilities",
    "config",
    "secrets",
    "PAYMENT_URL",
    "KEEL_ATTEMPT",
    "keel.http",
    "api",
    "instances",
    "orchestrators",
    "modules",
    "ui",
    "app.js",
    "..",
    ".",
];

/// Every route, `{}` standing for a parameter, with the methods it takes.
const ROUTES: [(&str, &[&str]); 24] = [
    ("/api/orchestrators/{}", &["POST"]),
    ("/api/orchestrators/{}/{}", &["POST"]),
    ("/api/instances", &["GET", "DELETE"]),
    ("/api/instances/{}", &["GET", "DELETE"]),
    ("/api/instances/{}/events/{}", &["POST"]),
    ("/api/instances/{}/terminate", &["POST"]),
    ("/api/instances/{}/suspend", &["POST"]),
    ("/api/instances/{}/resume", &["POST"]),
    ("/api/instances/{}/rewind", &["POST"]),
    ("/api/modules", &["GET", "POST"]),
    ("/api/modules/{}", &["GET"]),
    ("/api/grants", &["GET"]),
    ("/api/functions/{}/grants", &["POST", "DELETE"]),
    ("/api/functions/{}/capabilities", &["GET", "PUT"]),
    ("/api/functions/{}/config/{}", &["PUT", "DELETE"]),
    ("/api/functions/{}/secrets/{}", &["PUT", "DELETE"]),
    ("/api/stats", &["GET"]),
    ("/api/openapi.json", &["GET"]),
    ("/metrics", &["GET"]),
    ("/healthz", &["GET"]),
    ("/", &["GET"]),
    ("/ui/{}", &["GET"]),
    ("/ui/app.css", &["GET"]),
    ("/{}", &["GET"]),
];

const QUERY_KEYS: [&str; 10] = [
    "history",
    "status",
    "name",
    "createdFrom",
    "createdTo",
    "limit",
    "continuationToken",
    "abandonChildren",
    "version",
    "pattern",
];

const QUERY_VALUES: [&str; 20] = [
    "",
    "true",
    "false",
    "1",
    "0",
    "-1",
    "4294967296",
    "99999999999999999999",
    "Running",
    "completed",
    "Bogus",
    "2026-11-25T10:00:00Z",
    "2026-02-30T24:61:61.9999Z",
    "99999999999-01-01T00:00:00Z",
    "-99999999999-01-01T00:00:00Z",
    "1970-01-01 00:00:00.5+00:00",
    "18446744073709551615.666f6f",
    "http://127.0.0.1:8080",
    "*.example.com:*",
    "Approval",
];

fn percent(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => select(&KNOWN[..]).prop_map(str::to_owned),
        2 => "[A-Za-z0-9._~-]{0,10}",
        1 => vec(any::<u8>(), 0..6).prop_map(|b| percent(&b)),
        1 => "[A-Za-z0-9%!$&'()*+,;=:@]{0,8}",
    ]
}

fn any_method() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(&["GET", "POST", "PUT", "DELETE"][..]).prop_map(str::to_owned),
        1 => select(&["PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT"][..]).prop_map(str::to_owned),
        1 => "[A-Z]{1,8}",
    ]
}

/// A method and a path: mostly a route with a method it takes, sometimes any method or any path.
fn method_and_path() -> impl Strategy<Value = (String, String)> {
    let route = (
        select(&ROUTES[..]),
        vec(segment(), 2),
        any::<prop::sample::Index>(),
        proptest::option::weighted(0.15, any_method()),
    )
        .prop_map(|((route, methods), params, pick, other)| {
            let mut path = route.to_owned();
            for param in params {
                path = path.replacen("{}", &param, 1);
            }
            let method = other.unwrap_or_else(|| pick.get(methods).to_string());
            (method, path)
        });
    let anywhere = (any_method(), vec(segment(), 0..5))
        .prop_map(|(method, segments)| (method, format!("/{}", segments.join("/"))));
    prop_oneof![6 => route, 1 => anywhere]
}

fn query() -> impl Strategy<Value = String> {
    let key =
        prop_oneof![3 => select(&QUERY_KEYS[..]).prop_map(str::to_owned), 1 => "[a-zA-Z]{1,5}"];
    let value = prop_oneof![
        3 => select(&QUERY_VALUES[..]).prop_map(str::to_owned),
        1 => "[A-Za-z0-9._~-]{0,10}",
        1 => vec(any::<u8>(), 0..6).prop_map(|b| percent(&b)),
    ];
    prop_oneof![
        2 => Just(String::new()),
        4 => vec((key, value), 1..4).prop_map(|pairs| {
            let pairs: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("?{}", pairs.join("&"))
        }),
        1 => "\\?[A-Za-z0-9=&%+;]{0,12}",
    ]
}

/// What the request presents as its bearer token.
#[derive(Debug, Clone)]
enum Auth {
    Good,
    Missing,
    Raw(String),
}

fn auth() -> impl Strategy<Value = Auth> {
    prop_oneof![
        8 => Just(Auth::Good),
        1 => Just(Auth::Missing),
        1 => prop_oneof![
            Just(format!("bearer  {TOKEN} ")),
            Just(format!("Basic {TOKEN}")),
            Just(format!("Bearer {TOKEN}x")),
            "[ -~]{0,20}",
        ]
        .prop_map(Auth::Raw),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        select(
            &[
                "content-type",
                "host",
                "x-forwarded-proto",
                "accept",
                "content-length",
                "expect"
            ][..]
        )
        .prop_map(str::to_owned),
        "x-[a-z]{1,8}",
    ];
    vec((name, "[ -~]{0,16}"), 0..3)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let map = || vec(("[A-Za-z_]{0,6}", "[ -~]{0,10}"), 0..3);
    prop_oneof![
        2 => Just(Vec::new()),
        2 => vec(any::<u8>(), 0..256),
        3 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => json_value().prop_map(|reason| json!({ "reason": reason }).to_string().into_bytes()),
        1 => "[ -~]{0,24}".prop_map(|pattern| json!({ "pattern": pattern }).to_string().into_bytes()),
        1 => (vec("[ -~]{0,16}", 0..3), map(), map()).prop_map(|(grants, config, secrets)| {
            let config: serde_json::Map<String, Value> =
                config.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
            let secrets: serde_json::Map<String, Value> =
                secrets.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
            json!({"grants": grants, "config": config, "secrets": secrets}).to_string().into_bytes()
        }),
        1 => (1usize..300).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
        1 => (2_049usize..5_000).prop_map(|len| vec![b'7'; len]),
        1 => "[ -~]{0,64}".prop_map(String::into_bytes),
    ]
}

#[derive(Debug, Clone)]
struct Call {
    method: String,
    uri: String,
    auth: Auth,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn http_call() -> impl Strategy<Value = Call> {
    (method_and_path(), query(), auth(), headers(), body()).prop_map(
        |((method, path), query, auth, headers, body)| Call {
            method,
            uri: format!("{path}{query}"),
            auth,
            headers,
            body,
        },
    )
}

fn request(call: &Call) -> Option<Request<Body>> {
    let mut builder = Request::builder()
        .method(call.method.as_str())
        .uri(call.uri.as_str());
    match &call.auth {
        Auth::Good => builder = builder.header(header::AUTHORIZATION, format!("Bearer {TOKEN}")),
        Auth::Missing => {}
        Auth::Raw(value) => builder = builder.header(header::AUTHORIZATION, value.as_str()),
    }
    for (name, value) in &call.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    // A request the client library cannot even form (an invalid URI or header) never reaches Keel.
    builder.body(Body::from(call.body.clone())).ok()
}

#[test]
fn client_mistakes_are_4xx_with_an_error_body() {
    let rt = runtime();
    let (t, app) = rt.block_on(async {
        let t = crate::support::engine_with(&["approval"], |c| {
            c.limits.max_payload_bytes = 2_048;
        })
        .await;
        let input = json!({"requestId": "r", "timeoutMs": 600_000}).to_string();
        for id in ["fuzz-running", "fuzz-done"] {
            t.keel
                .start("Approval", &input, Some(id))
                .await
                .expect("starting an instance");
        }
        t.keel
            .raise_event("fuzz-done", "Approved", r#"{"by":"fuzz"}"#)
            .await
            .expect("raising an event");
        crate::support::assert_completed(&crate::support::finish(&t.keel, "fuzz-done").await);
        let app = keel::api::router(t.keel.clone(), TOKEN.to_owned());
        (t, app)
    });
    check(
        "api::client_mistakes_are_4xx_with_an_error_body",
        3_000,
        http_call(),
        |call| {
            let Some(request) = request(&call) else {
                return Ok(());
            };
            rt.block_on(async {
                let response =
                    tokio::time::timeout(Duration::from_secs(20), app.clone().oneshot(request))
                        .await
                        .map_err(|_| TestCaseError::fail("no answer within 20 s"))?
                        .map_err(|e| TestCaseError::fail(format!("the router failed: {e}")))?;
                let status = response.status();
                let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("reading the response: {e}")))?;
                let text = String::from_utf8_lossy(&bytes);
                prop_assert!(
                    status.as_u16() < 500,
                    "{} answered {}: {}",
                    call.uri,
                    status,
                    text
                );
                if status.is_client_error() && call.method != "HEAD" {
                    let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
                        TestCaseError::fail(format!(
                            "a {status} whose body is not JSON ({e}): {text}"
                        ))
                    })?;
                    prop_assert!(
                        body["code"].is_string() && body["message"].is_string(),
                        "{}",
                        text
                    );
                }
                Ok(())
            })
        },
    );
    drop(t);
}

/// Query values the target above draws: a creation time in a year past what milliseconds since the
/// epoch can hold overflowed the conversion (a panic wherever overflow is checked, a filter on a
/// wrapped time in release builds) until time filters took four-digit years only. Through the API
/// it is a client's mistake like any other malformed time.
#[tokio::test(flavor = "multi_thread")]
async fn a_creation_time_out_of_range_is_a_bad_request() {
    let t = crate::support::engine(&[]).await;
    let app = keel::api::router(t.keel.clone(), TOKEN.to_owned());
    let call = |method: &'static str, uri: String| {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    for value in [
        "99999999999-01-01T00:00:00Z",
        "584554050-01-01T00:00:00Z",
        "9223372036854775807-03-01T00:00:00Z",
        "-9223372036854775808-01-01T00:00:00Z",
    ] {
        for (method, field) in [("GET", "createdFrom"), ("DELETE", "createdTo")] {
            let (status, body) = call(method, format!("/api/instances?{field}={value}")).await;
            assert_eq!(status, 400, "{method} {field}={value}: {body}");
            assert!(body.contains("RFC 3339"), "{body}");
        }
    }
    let (status, body) = call(
        "GET",
        "/api/instances?createdFrom=9999-12-31T23:59:59.999Z".into(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
