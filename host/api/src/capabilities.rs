//! The API's capability routes: grants, configuration values and secrets of functions, and the
//! declarative replacement of a function's capabilities.
//!
//! Secret values come in as request bodies and never go out: responses name secrets only.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::routes::{ApiPath, ApiQuery, json_body, read_text};
use super::{ApiError, AppState};
use keel_engine::capability::{Declared, MAX_VALUE_BYTES};

/// Body of `POST /api/functions/{name}/grants`.
#[derive(Debug, Deserialize)]
pub(crate) struct GrantBody {
    pattern: String,
}

/// Query of `DELETE /api/functions/{name}/grants`.
#[derive(Debug, Deserialize)]
pub(crate) struct PatternQuery {
    pattern: String,
}

/// Body of `PUT /api/functions/{name}/capabilities`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeclaredBody {
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

/// `GET /api/grants`: every grant.
pub(crate) async fn list_grants(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let grants: Vec<Value> = state
        .keel
        .grants()
        .await?
        .into_iter()
        .map(|(function, pattern)| json!({"function": function, "pattern": pattern}))
        .collect();
    Ok(Json(json!({ "grants": grants })))
}

/// `POST /api/functions/{name}/grants`.
pub(crate) async fn grant(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body: GrantBody = json_body(&read_text(body, 4096).await?)?;
    let changed = state.keel.grant(&name, &body.pattern).await?;
    Ok(Json(json!(changed)))
}

/// `DELETE /api/functions/{name}/grants?pattern=…`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiQuery(query): ApiQuery<PatternQuery>,
) -> Result<Json<Value>, ApiError> {
    state.keel.revoke(&name, &query.pattern).await?;
    Ok(Json(json!({"ok": true})))
}

/// `GET /api/functions/{name}/capabilities`: grants, configuration, secret names.
pub(crate) async fn show(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.keel.capabilities(&name).await?)))
}

/// `PUT /api/functions/{name}/capabilities`: grants and configuration become exactly these; the
/// secrets given are set.
pub(crate) async fn declare(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let limit = super::routes::MAX_CAPABILITY_BODY;
    let body: DeclaredBody = json_body(&read_text(body, limit).await?)?;
    let changed = state
        .keel
        .declare_capabilities(
            &name,
            Declared {
                grants: body.grants,
                config: body.config,
                secrets: body.secrets,
            },
        )
        .await?;
    let mut changed = changed;
    changed.key_created = changed.key_created.map(|_| "created".to_owned());
    Ok(Json(json!(changed)))
}

/// `PUT /api/functions/{name}/config/{key}`: the body is the value.
pub(crate) async fn set_config(
    State(state): State<AppState>,
    ApiPath((name, key)): ApiPath<(String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let value = read_text(body, MAX_VALUE_BYTES).await?;
    Ok(Json(json!(
        state.keel.set_config(&name, &key, &value).await?
    )))
}

/// `DELETE /api/functions/{name}/config/{key}`.
pub(crate) async fn unset_config(
    State(state): State<AppState>,
    ApiPath((name, key)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    state.keel.unset_config(&name, &key).await?;
    Ok(Json(json!({"ok": true})))
}

/// `PUT /api/functions/{name}/secrets/{secret}`: the body is the value; it is never sent back.
pub(crate) async fn set_secret(
    State(state): State<AppState>,
    ApiPath((name, secret)): ApiPath<(String, String)>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let value = read_text(body, MAX_VALUE_BYTES).await?;
    let mut changed = state.keel.set_secret(&name, &secret, &value).await?;
    // The server's file system is not the client's business.
    changed.key_created = changed.key_created.map(|_| "created".to_owned());
    Ok(Json(json!(changed)))
}

/// `DELETE /api/functions/{name}/secrets/{secret}`.
pub(crate) async fn unset_secret(
    State(state): State<AppState>,
    ApiPath((name, secret)): ApiPath<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    state.keel.unset_secret(&name, &secret).await?;
    Ok(Json(json!({"ok": true})))
}
