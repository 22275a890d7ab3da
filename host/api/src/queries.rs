//! `GET /api/instances/{id}/queries/{name}`: a query answered by the running instance's handler.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::routes::{ApiPath, ApiQuery};

/// The query string: the query's argument as JSON text (`null` when absent).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct QueryInput {
    #[serde(default)]
    input: Option<String>,
}

/// `GET /api/instances/{id}/queries/{name}?input=JSON`: `{"result": ANSWER}`.
pub(crate) async fn query(
    State(state): State<AppState>,
    ApiPath((id, name)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<QueryInput>,
) -> Result<Json<Value>, ApiError> {
    let input = query.input.unwrap_or_else(|| "null".to_owned());
    let result = state.keel.query(&id, &name, &input).await?;
    Ok(Json(json!({ "result": result })))
}
