//! `GET /api/instances/{id}/logs`: the lines an instance's guests wrote (its orchestrator's live
//! turns, each activity attempt), oldest first, a page at a time. A page answers with `next`, the
//! `after` of the following one, so that a client that follows a running instance asks again with
//! it and gets only what is new.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::routes::{ApiPath, ApiQuery};
use super::{ApiError, AppState};
use keel_engine::store::StoredLogLine;

/// Default and largest page.
const DEFAULT_LIMIT: u32 = 1_000;
const MAX_LIMIT: u32 = 10_000;

/// Query of `GET /api/instances/{id}/logs`.
#[derive(Debug, Deserialize)]
pub(crate) struct LogsQuery {
    /// The `next` of the page before (0 or absent for the first).
    #[serde(default)]
    after: i64,
    limit: Option<u32>,
}

/// A page of lines.
#[derive(Debug, Serialize)]
pub(crate) struct LogsPage {
    lines: Vec<StoredLogLine>,
    /// What to pass as `after` for the lines that follow.
    next: i64,
}

pub(crate) async fn logs(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> Result<Json<LogsPage>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let lines = state.keel.logs(&id, query.after, limit).await?;
    let next = lines.last().map_or(query.after, |l| l.id);
    Ok(Json(LogsPage { lines, next }))
}
