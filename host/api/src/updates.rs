//! `POST /api/instances/{id}/updates/{name}`: an update sent to a running instance, answered with
//! its handler's result; `GET /api/instances/{id}/updates/{name}/{updateId}`: that result again.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use keel_engine::updates::UpdateReply;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::{ApiPath, ApiQuery, json_text};

/// How long a request waits for the result by default, and at most.
const DEFAULT_WAIT_MS: u64 = 60_000;
const MAX_WAIT_MS: u64 = 300_000;

/// The query string of both endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateQuery {
    /// The client's id for the update (sending): one already used waits on that update.
    #[serde(default)]
    update_id: Option<String>,
    /// How long to wait for the result, e.g. `30s` (`0s`: do not wait).
    #[serde(default)]
    wait: Option<String>,
}

impl UpdateQuery {
    fn wait(&self, default_ms: u64) -> Result<Duration, ApiError> {
        let ms = match &self.wait {
            None => default_ms,
            Some(text) => keel_engine::schedules::when::duration_ms(text)
                .map_err(|e| ApiError::BadRequest(format!("invalid wait {text:?}: {e}")))?,
        };
        Ok(Duration::from_millis(ms.min(MAX_WAIT_MS)))
    }
}

/// `200 {"updateId", "result"}` once served, `202 {"updateId", "state": "Requested"}` if the wait
/// ended first.
fn reply(reply: UpdateReply) -> (StatusCode, Json<Value>) {
    match reply.result {
        Some(result) => (
            StatusCode::OK,
            Json(json!({"updateId": reply.update_id, "result": result})),
        ),
        None => (
            StatusCode::ACCEPTED,
            Json(json!({"updateId": reply.update_id, "state": "Requested"})),
        ),
    }
}

/// `POST /api/instances/{id}/updates/{name}?updateId=ID&wait=30s`: the body is the update's input.
pub(crate) async fn send(
    State(state): State<AppState>,
    ApiPath((id, name)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<UpdateQuery>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let wait = query.wait(DEFAULT_WAIT_MS)?;
    let input = json_text(&state, body, "update input").await?;
    let sent = state
        .keel
        .update(&id, &name, &input, query.update_id.as_deref(), wait)
        .await?;
    Ok(reply(sent))
}

/// `GET /api/instances/{id}/updates/{name}/{updateId}?wait=30s`: the update's result (by default
/// without waiting).
pub(crate) async fn result(
    State(state): State<AppState>,
    ApiPath((id, name, update_id)): ApiPath<(String, String, String)>,
    ApiQuery(query): ApiQuery<UpdateQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let wait = query.wait(0)?;
    let found = state
        .keel
        .update_result(&id, &name, &update_id, wait)
        .await?;
    Ok(reply(found))
}
