//! The built-in activity `keel.http`: a durable HTTP call scheduled by an orchestrator
//! (`call_http` in every SDK), run by the host itself, under the grants of the calling
//! orchestrator, with header values that may name its secrets (`{{secret:NAME}}`) so that no secret
//! is recorded.
//!
//! Its result is an ordinary activity result in history; statuses in `retryOn` fail the attempt so
//! that the retry policy applies. Following `202 Accepted` is the SDKs' job, with durable timers.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Attempt;
use super::attempt::{grant, mask};
use crate::history::Failure;
use crate::shared::Shared;
use keel_runtime::capability::granted::SECRET_UNAVAILABLE;
use keel_runtime::capability::outgoing::{TOO_LARGE, check};
use keel_runtime::capability::redact::Redactor;

/// The name orchestrators schedule a durable HTTP call under.
pub const NAME: &str = "keel.http";

/// Failure kind of an input that is not a request (never retried).
pub(crate) const INVALID: &str = "InvalidHttpRequest";

/// Failure kind of a response whose status is in the call's `retryOn` list.
const STATUS: &str = "HttpStatus";

/// The input of `keel.http`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Request {
    #[serde(default = "get")]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    /// A text body.
    #[serde(default)]
    body: Option<String>,
    /// A JSON body (sets `content-type: application/json` unless a header sets it).
    #[serde(default)]
    json: Option<Value>,
    /// Follow `202 Accepted` + `Location` (done by the SDK; recorded so that replay sees it).
    #[serde(default)]
    asynchronous: bool,
    /// Statuses that fail the attempt, so that the retry policy applies.
    #[serde(default = "retry_on")]
    retry_on: Vec<u16>,
}

fn get() -> String {
    "GET".to_owned()
}

fn retry_on() -> Vec<u16> {
    vec![408, 429, 500, 502, 503, 504]
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(INVALID, message)
}

/// Runs one attempt of the durable HTTP call `attempt`.
pub(super) async fn run(
    shared: &Shared,
    attempt: &Attempt<'_>,
    timeout_ms: u64,
) -> Result<Value, Failure> {
    let request: Request = serde_json::from_value(attempt.input.clone()).map_err(|e| {
        invalid(format!(
            "the input of {NAME} is not a request ({{\"method\", \"url\", \"headers\", \"body\" | \"json\", \"asynchronous\", \"retryOn\"}}): {e}"
        ))
    })?;
    let _ = request.asynchronous;
    let orchestrator = shared
        .store
        .instance(attempt.instance)
        .await
        .map_err(|e| Failure::new("HostError", e.to_string()))?
        .map(|i| i.name)
        .ok_or_else(|| {
            Failure::new(
                "HostError",
                format!("instance {} is gone", attempt.instance),
            )
        })?;
    let granted = grant(shared, &orchestrator).await?;
    let secrets: BTreeMap<&str, &str> = granted
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let redactor = granted.redactor.clone();
    let uri: http::Uri = request
        .url
        .parse()
        .map_err(|e| invalid(format!("{:?} is not a URL: {e}", request.url)))?;
    let method = http::Method::from_bytes(request.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| invalid(format!("{:?} is not an HTTP method", request.method)))?;
    check(&orchestrator, &granted.patterns, &method, &uri)?;
    let authority = uri
        .authority()
        .ok_or_else(|| invalid(format!("{} names no host", request.url)))?
        .to_string();
    let mut builder = http::Request::builder()
        .method(method.clone())
        .uri(uri.clone())
        .header(http::header::HOST, authority);
    let mut has_content_type = false;
    for (name, value) in &request.headers {
        has_content_type |= name.eq_ignore_ascii_case("content-type");
        let value = fill_secrets(value, &secrets, &orchestrator)?;
        builder = builder.header(name.as_str(), value);
    }
    let body = match (&request.body, &request.json) {
        (Some(_), Some(_)) => return Err(invalid("give either body or json, not both")),
        (Some(text), None) => Bytes::from(text.clone()),
        (None, Some(value)) => {
            if !has_content_type {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
            }
            Bytes::from(value.to_string())
        }
        (None, None) => Bytes::new(),
    };
    let http_request = builder
        .body(Full::new(body).map_err(|never| match never {}))
        .map_err(|e| invalid(format!("the request is malformed: {e}")))?;
    let limits = shared.registry.runtime().limits();
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let cap = limits.http_response_max_bytes;
    let exchange = async {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let options = wasmtime_wasi_http::RequestOptions {
            connect_timeout: Some(remaining),
            first_byte_timeout: Some(remaining),
            between_bytes_timeout: Some(remaining),
        };
        let (response, io) = wasmtime_wasi_http::default_send_request(http_request, Some(options))
            .await
            .map_err(|e| Failure::new("HttpError", format!("{method} {uri} failed: {e}")))?;
        let driver = tokio::spawn(io);
        let (parts, mut body) = response.into_parts();
        let mut bytes = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                Failure::new(
                    "HttpError",
                    format!("reading the response of {method} {uri} failed: {e}"),
                )
            })?;
            if let Some(data) = frame.data_ref() {
                if u64::try_from(bytes.len() + data.len()).unwrap_or(u64::MAX) > cap {
                    return Err(Failure::new(
                        TOO_LARGE,
                        format!(
                            "the response of {method} {uri} is larger than the limit of {cap} bytes"
                        ),
                    ));
                }
                bytes.extend_from_slice(data);
            }
        }
        driver.abort();
        Ok((parts, bytes))
    };
    let (parts, bytes) = tokio::time::timeout(Duration::from_millis(timeout_ms), exchange)
        .await
        .map_err(|_| {
            Failure::new(
                "Timeout",
                format!("{method} {uri} did not answer within {timeout_ms} ms"),
            )
        })?
        .map_err(|f| mask(&redactor, f))?;
    let output = response_json(&uri, &parts, &bytes, &redactor);
    let status = parts.status.as_u16();
    if request.retry_on.contains(&status) {
        let body = output["body"].as_str().unwrap_or_default();
        let excerpt: String = body.chars().take(512).collect();
        let mut failure = Failure::new(STATUS, format!("{method} {uri} answered {status}"));
        failure.details = Some(json!({"status": status, "body": excerpt}));
        return Err(failure);
    }
    Ok(output)
}

/// The recorded result: status, headers (lower case, joined with ", "), body as text, and for the
/// SDKs' polling the absolute `location` and `retryAfterMs` when the response carries them.
fn response_json(
    uri: &http::Uri,
    parts: &http::response::Parts,
    body: &[u8],
    redactor: &Redactor,
) -> Value {
    let mut headers = serde_json::Map::new();
    for name in parts.headers.keys() {
        let joined: Vec<String> = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        headers.insert(name.as_str().to_owned(), Value::String(joined.join(", ")));
    }
    let mut out = json!({
        "status": parts.status.as_u16(),
        "headers": headers,
        "body": String::from_utf8_lossy(body),
    });
    if let Some(location) = parts
        .headers
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    {
        out["location"] = Value::String(absolute(uri, location));
    }
    if let Some(secs) = parts
        .headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        out["retryAfterMs"] = json!(secs.saturating_mul(1000));
    }
    redactor.json(out)
}

/// `location` resolved against the request's URI (absolute, or a path on the same origin).
fn absolute(uri: &http::Uri, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let origin = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("http"),
        uri.authority().map_or("", |a| a.as_str())
    );
    if location.starts_with('/') {
        format!("{origin}{location}")
    } else {
        let path = uri.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!(
            "{origin}{}{location}",
            if dir.is_empty() { "/" } else { dir }
        )
    }
}

/// `value` with every `{{secret:NAME}}` replaced by the orchestrator's secret of that name.
fn fill_secrets(
    value: &str,
    secrets: &BTreeMap<&str, &str>,
    orchestrator: &str,
) -> Result<String, Failure> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("{{secret:") {
        out.push_str(&rest[..start]);
        let after = &rest[start + "{{secret:".len()..];
        let end = after
            .find("}}")
            .ok_or_else(|| invalid("a {{secret:NAME}} placeholder is not closed"))?;
        let name = after[..end].trim();
        let secret = secrets.get(name).ok_or_else(|| {
            Failure::new(
                SECRET_UNAVAILABLE,
                format!(
                    "{orchestrator} holds no secret {name}; set it with: keel secret set {orchestrator} {name} --from-file FILE"
                ),
            )
        })?;
        out.push_str(secret);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_from_the_orchestrator_secrets_only() {
        let secrets = BTreeMap::from([("TOKEN", "t-1")]);
        assert_eq!(
            fill_secrets("Bearer {{secret:TOKEN}}!", &secrets, "Flow").unwrap(),
            "Bearer t-1!"
        );
        let err = fill_secrets("{{secret:OTHER}}", &secrets, "Flow").unwrap_err();
        assert_eq!(err.kind, SECRET_UNAVAILABLE);
        assert!(err.message.contains("keel secret set Flow OTHER"), "{err}");
        assert!(fill_secrets("{{secret:TOKEN", &secrets, "Flow").is_err());
    }

    #[test]
    fn locations_are_made_absolute() {
        let uri: http::Uri = "http://127.0.0.1:9/jobs/start?x=1".parse().unwrap();
        assert_eq!(absolute(&uri, "/jobs/7"), "http://127.0.0.1:9/jobs/7");
        assert_eq!(absolute(&uri, "7"), "http://127.0.0.1:9/jobs/7");
        assert_eq!(absolute(&uri, "https://x.test/a"), "https://x.test/a");
    }
}
