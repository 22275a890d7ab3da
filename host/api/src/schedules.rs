//! `/api/schedules`: create, list, show, delete, pause and resume schedules, the calls
//! `keel schedule` makes with `--server`.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::routes::{ApiPath, json_body, read_text};
use super::{ApiError, AppState};
use keel_engine::schedules::ScheduleRequest;
use keel_engine::store::ScheduleRow;

/// Largest body of `POST /api/schedules` beyond the input's own limit.
const DEFINITION_BYTES: usize = 4096;

/// `POST /api/schedules`: creates a schedule; `201` with it.
pub(crate) async fn create(
    State(state): State<AppState>,
    body: Body,
) -> Result<(StatusCode, Json<ScheduleRow>), ApiError> {
    let limit = state.keel.config().limits.max_payload_bytes + DEFINITION_BYTES;
    let request: ScheduleRequest = json_body(&read_text(body, limit).await?)?;
    let created = state.keel.create_schedule(request.into_new()?).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /api/schedules`: every schedule, by name.
pub(crate) async fn list(
    State(state): State<AppState>,
) -> Result<Json<Vec<ScheduleRow>>, ApiError> {
    Ok(Json(state.keel.schedules().await?))
}

/// `GET /api/schedules/{name}`.
pub(crate) async fn show(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ScheduleRow>, ApiError> {
    Ok(Json(state.keel.schedule(&name).await?))
}

/// `DELETE /api/schedules/{name}`: the instances it started stay.
pub(crate) async fn delete(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    state.keel.delete_schedule(&name).await?;
    Ok(Json(json!({"ok": true})))
}

/// `POST /api/schedules/{name}/pause`.
pub(crate) async fn pause(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ScheduleRow>, ApiError> {
    Ok(Json(state.keel.pause_schedule(&name, true).await?))
}

/// `POST /api/schedules/{name}/resume`: it fires next at its first time from now.
pub(crate) async fn resume(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ScheduleRow>, ApiError> {
    Ok(Json(state.keel.pause_schedule(&name, false).await?))
}
