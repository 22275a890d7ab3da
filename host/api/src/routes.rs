//! The API's handlers: each one reads its path, query and body, makes one or two engine calls and
//! shapes the JSON answer (Durable Functions' management API is the model).
//!
//! Handlers never panic on client input and never decide anything the engine decides (validity of a
//! payload, whether an instance accepts a message): they pass input through and map the engine's errors.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::header::{CONTENT_TYPE, HOST, LOCATION};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{ApiError, AppState, MAX_MODULE_BYTES, metrics};
use keel_engine::engine;
use keel_engine::store::{HistoryRecord, Instance, Status};

/// The OpenAPI 3 document of these routes, written by hand next to them.
const OPENAPI: &str = include_str!("openapi.json");

/// `Path` whose rejection is an [`ApiError`].
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// `Query` whose rejection is an [`ApiError`].
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Self(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// Reads a request body of at most `limit` bytes.
async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| ApiError::BadRequest(format!("reading the request body failed: {e}")))?;
        if bytes.len() + chunk.len() > limit {
            return Err(ApiError::BodyTooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Largest JSON body of the capability routes.
pub(crate) const MAX_CAPABILITY_BODY: usize = 1 << 20;

/// Reads a UTF-8 body of at most `limit` bytes.
pub(crate) async fn read_text(body: Body, limit: usize) -> Result<String, ApiError> {
    let bytes = read_body(body, limit).await?;
    String::from_utf8(bytes)
        .map_err(|_| ApiError::BadRequest("the request body is not UTF-8 text".to_owned()))
}

/// Reads a JSON body as text (validated by the engine); an empty body means `null`.
/// A JSON request body of type `T`; a body that is not one is `400 bad_request`.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text)
        .map_err(|e| ApiError::BadRequest(format!("invalid request body: {e}")))
}

pub(crate) async fn json_text(
    state: &AppState,
    body: Body,
    what: &'static str,
) -> Result<String, ApiError> {
    let limit = state.keel.config().limits.max_payload_bytes;
    let bytes = read_body(body, limit).await?;
    let text = String::from_utf8(bytes).map_err(|e| engine::Error::InvalidJson {
        what,
        message: e.to_string(),
    })?;
    Ok(if text.trim().is_empty() {
        "null".to_owned()
    } else {
        text
    })
}

/// `http://host` from the request, so that returned URIs work from where the client stands; relative
/// URIs when the request names no host.
fn base_uri(headers: &HeaderMap) -> String {
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    host.map_or_else(String::new, |h| format!("{scheme}://{h}"))
}

/// The management URIs of a started instance.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StartedBody {
    id: String,
    /// Whether the request created the instance (`false`: a running one held the id and was used).
    created: bool,
    status_query_get_uri: String,
    send_event_post_uri: String,
    terminate_post_uri: String,
    suspend_post_uri: String,
    resume_post_uri: String,
    rewind_post_uri: String,
    purge_history_delete_uri: String,
}

impl StartedBody {
    fn new(base: &str, id: &str, created: bool) -> Self {
        let instance = format!("{base}/api/instances/{}", super::percent_encode(id));
        Self {
            id: id.to_owned(),
            created,
            status_query_get_uri: instance.clone(),
            send_event_post_uri: format!("{instance}/events/{{eventName}}"),
            terminate_post_uri: format!("{instance}/terminate"),
            suspend_post_uri: format!("{instance}/suspend"),
            resume_post_uri: format!("{instance}/resume"),
            rewind_post_uri: format!("{instance}/rewind"),
            purge_history_delete_uri: instance,
        }
    }
}

async fn start_instance(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    id: Option<&str>,
    input: &str,
    options: &engine::StartOptions,
) -> Result<Response, ApiError> {
    let started = state.keel.start_with(name, input, id, options).await?;
    // A running instance that was used is not a new start: 200, where a start is 202.
    let code = if started.created {
        state.metrics.starts.fetch_add(1, Ordering::Relaxed);
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    let started = StartedBody::new(&base_uri(headers), started.id.as_str(), started.created);
    let mut response = (code, Json(&started)).into_response();
    if let Ok(location) = HeaderValue::from_str(&started.status_query_get_uri) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

/// `POST /api/orchestrators/{name}`: starts an instance under a generated id.
pub(crate) async fn start(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let input = json_text(&state, body, "input").await?;
    let options = engine::StartOptions::default();
    start_instance(&state, &headers, &name, None, &input, &options).await
}

/// Query of `POST /api/orchestrators/{name}/{id}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartQuery {
    /// `fail` (the default: `409 instance_exists`) or `useExisting` (answer `200` with the running
    /// instance of the same orchestrator).
    #[serde(default)]
    if_running: engine::IfRunning,
}

/// `POST /api/orchestrators/{name}/{id}`: starts an instance under the caller's id.
pub(crate) async fn start_with_id(
    State(state): State<AppState>,
    ApiPath((name, id)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<StartQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let input = json_text(&state, body, "input").await?;
    let options = engine::StartOptions {
        if_running: query.if_running,
        event: None,
    };
    start_instance(&state, &headers, &name, Some(&id), &input, &options).await
}

/// Body of `POST /api/orchestrators/{name}/{id}/events/{event}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignalWithStart {
    /// The input, if the instance is started now.
    #[serde(default)]
    input: Value,
    /// The event's data.
    #[serde(default)]
    data: Value,
}

/// `POST /api/orchestrators/{name}/{id}/events/{event}`: raises `event` to instance `id`, starting it
/// first (with the body's `input`) unless a running instance of `name` holds the id; atomically.
pub(crate) async fn signal_with_start(
    State(state): State<AppState>,
    ApiPath((name, id, event)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let text = json_text(&state, body, "body").await?;
    let body: SignalWithStart =
        serde_json::from_str(&text).map_err(|e| engine::Error::InvalidJson {
            what: "body ({\"input\": …, \"data\": …})",
            message: e.to_string(),
        })?;
    let options = engine::StartOptions {
        if_running: engine::IfRunning::UseExisting,
        event: Some((event, body.data.to_string())),
    };
    let input = body.input.to_string();
    start_instance(&state, &headers, &name, Some(&id), &input, &options).await
}

/// Query of `GET /api/instances/{id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct StatusQuery {
    #[serde(default)]
    history: bool,
}

#[derive(Debug, Serialize)]
struct StatusBody {
    #[serde(flatten)]
    instance: Instance,
    /// The activities it waits for, with their attempts and latest heartbeats.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    activities: Vec<keel_engine::store::ActivityRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<Vec<HistoryRecord>>,
}

/// `GET /api/instances/{id}`: 202 while the instance can still change, 200 once it has ended.
pub(crate) async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<StatusQuery>,
) -> Result<Response, ApiError> {
    let instance = state
        .keel
        .status(&id)
        .await?
        .ok_or_else(|| engine::Error::NotFound(id.clone()))?;
    let history = if query.history {
        Some(state.keel.history(&id).await?)
    } else {
        None
    };
    let activities = state.keel.activities(&id).await?;
    let code = if instance.status.is_terminal() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        code,
        Json(StatusBody {
            instance,
            activities,
            history,
        }),
    )
        .into_response())
}

/// `POST /api/instances/{id}/events/{event}`: the body is the event's data.
pub(crate) async fn raise(
    State(state): State<AppState>,
    ApiPath((id, event)): ApiPath<(String, String)>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let data = json_text(&state, body, "event data").await?;
    state.keel.raise_event(&id, &event, &data).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Optional body of terminate, suspend and resume.
#[derive(Debug, Default, Deserialize)]
struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

async fn reason(state: &AppState, body: Body, default: &str) -> Result<String, ApiError> {
    let text = json_text(state, body, "request body").await?;
    let parsed: Option<ReasonBody> =
        serde_json::from_str(&text).map_err(|e| engine::Error::InvalidJson {
            what: "request body",
            message: e.to_string(),
        })?;
    Ok(parsed
        .and_then(|b| b.reason)
        .unwrap_or_else(|| default.to_owned()))
}

/// `POST /api/instances/{id}/terminate`.
pub(crate) async fn terminate(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<TerminateQuery>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let reason = reason(&state, body, "terminated through the API").await?;
    state
        .keel
        .terminate_with(&id, &reason, query.abandon_children)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Query of `POST /api/instances/{id}/terminate`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TerminateQuery {
    /// Leave running sub-orchestrations running.
    #[serde(default)]
    abandon_children: bool,
}

/// `POST /api/instances/{id}/suspend`.
pub(crate) async fn suspend(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let reason = reason(&state, body, "suspended through the API").await?;
    state.keel.suspend(&id, &reason).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/instances/{id}/resume`.
pub(crate) async fn resume(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let reason = reason(&state, body, "resumed through the API").await?;
    state.keel.resume(&id, &reason).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/instances/{id}/rewind`: a failed instance runs again from its last good point.
pub(crate) async fn rewind(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let reason = reason(&state, body, "rewound through the API").await?;
    let rewound = state.keel.rewind(&id, &reason).await?;
    Ok((StatusCode::ACCEPTED, Json(rewound)).into_response())
}

/// `DELETE /api/instances/{id}`: purges an ended instance and its history.
pub(crate) async fn purge(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    state.keel.purge(&id).await?;
    Ok(Json(json!({"instancesDeleted": 1})))
}

/// Query of `POST /api/modules`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeployQuery {
    version: Option<String>,
}

/// `POST /api/modules`: the body is the component's bytes.
pub(crate) async fn deploy(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<DeployQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body, MAX_MODULE_BYTES).await?;
    let deployed = state.keel.deploy(bytes, query.version).await?;
    state.metrics.deploys.fetch_add(1, Ordering::Relaxed);
    Ok((StatusCode::CREATED, Json(deployed)).into_response())
}

/// `GET /api/modules`: modules and the functions they provide.
pub(crate) async fn modules(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let modules = state.keel.modules().await?;
    let functions = state.keel.functions().await?;
    Ok(Json(json!({"modules": modules, "functions": functions})))
}

/// `GET /api/workers`: the worker processes that report on the database, the most recently seen
/// first.
pub(crate) async fn workers(
    State(state): State<AppState>,
) -> Result<Json<Vec<keel_engine::store::WorkerRow>>, ApiError> {
    Ok(Json(state.keel.workers().await?))
}

/// `GET /api/modules/{name}`: every deployed version of the functions called `name`.
pub(crate) async fn function_versions(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Vec<keel_engine::versions::FunctionVersion>>, ApiError> {
    let versions = state.keel.function_versions(&name).await?;
    if versions.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no function named {name:?} is deployed"
        )));
    }
    Ok(Json(versions))
}

/// `GET /api/stats`: instance counts per status (every status, zeros included).
pub(crate) async fn stats(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let counts = state
        .keel
        .store()
        .count_by_status()
        .await
        .map_err(engine::Error::from)?;
    let mut by_status: BTreeMap<&'static str, u64> =
        Status::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for (status, n) in &counts {
        by_status.insert(status.as_str(), *n);
    }
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    Ok(Json(json!({"counts": by_status, "total": total})))
}

/// `GET /api/openapi.json`.
pub(crate) async fn openapi() -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        OPENAPI,
    )
        .into_response()
}

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = metrics::render(&state).await?;
    Ok((
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// `GET /healthz`: the process is up and serving (no auth).
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Any path no route matches.
pub(crate) async fn no_route(uri: Uri) -> ApiError {
    ApiError::NoRoute(uri.path().to_owned())
}

/// A path whose route does not take this method.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
