//! The HTTP management API of `keel serve`: the axum router with its routes, bearer-token auth,
//! Prometheus metrics, the OpenAPI document and the embedded web dashboard.
//!
//! It translates HTTP to calls on [`Keel`] and never holds engine logic or touches the store's
//! tables directly: whatever the API can do, the CLI can do through the same engine calls.

mod admission;
mod auth;
mod capabilities;
mod dashboard;
mod error;
mod listing;
mod logs;
mod metrics;
mod queries;
mod routes;
mod schedules;
mod updates;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};

pub use auth::Token;
pub use error::ApiError;
pub use metrics::ApiMetrics;

use keel_engine::Keel;

/// Largest module upload accepted by `POST /api/modules`.
pub const MAX_MODULE_BYTES: usize = 64 << 20;

/// Percent-encodes one URL path segment or query value (unreserved characters stay as they are);
/// shared by the server's URIs and the CLI's `--server` client.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) keel: Keel,
    pub(crate) metrics: Arc<ApiMetrics>,
}

/// The whole HTTP surface over `keel`: every `/api` route and `/metrics` behind `token`, `/healthz` and
/// the dashboard's static files open.
pub fn router(keel: Keel, token: String) -> Router {
    let admission = admission::Admission::new(&keel);
    let state = AppState {
        keel,
        metrics: Arc::new(ApiMetrics::default()),
    };
    let protected = Router::new()
        .route("/api/orchestrators/{name}", post(routes::start))
        .route(
            "/api/orchestrators/{name}/{id}",
            post(routes::start_with_id),
        )
        .route(
            "/api/orchestrators/{name}/{id}/events/{event}",
            post(routes::signal_with_start),
        )
        .route(
            "/api/instances",
            get(listing::list).delete(listing::purge_many),
        )
        .route(
            "/api/instances/{id}",
            get(routes::status).delete(routes::purge),
        )
        .route("/api/instances/{id}/logs", get(logs::logs))
        .route("/api/instances/{id}/events/{event}", post(routes::raise))
        .route("/api/instances/{id}/queries/{name}", get(queries::query))
        .route("/api/instances/{id}/updates/{name}", post(updates::send))
        .route(
            "/api/instances/{id}/updates/{name}/{update_id}",
            get(updates::result),
        )
        .route("/api/instances/{id}/terminate", post(routes::terminate))
        .route("/api/instances/{id}/suspend", post(routes::suspend))
        .route("/api/instances/{id}/resume", post(routes::resume))
        .route("/api/instances/{id}/rewind", post(routes::rewind))
        .route("/api/modules", get(routes::modules).post(routes::deploy))
        .route("/api/modules/{name}", get(routes::function_versions))
        .route("/api/grants", get(capabilities::list_grants))
        .route(
            "/api/functions/{name}/grants",
            post(capabilities::grant).delete(capabilities::revoke),
        )
        .route(
            "/api/functions/{name}/capabilities",
            get(capabilities::show).put(capabilities::declare),
        )
        .route(
            "/api/functions/{name}/config/{key}",
            put(capabilities::set_config).delete(capabilities::unset_config),
        )
        .route(
            "/api/functions/{name}/secrets/{secret}",
            put(capabilities::set_secret).delete(capabilities::unset_secret),
        )
        .route(
            "/api/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/api/schedules/{name}",
            get(schedules::show).delete(schedules::delete),
        )
        .route("/api/schedules/{name}/pause", post(schedules::pause))
        .route("/api/schedules/{name}/resume", post(schedules::resume))
        .route("/api/stats", get(routes::stats))
        .route("/api/workers", get(routes::workers))
        .route("/api/openapi.json", get(routes::openapi))
        .route("/metrics", get(routes::metrics))
        .route_layer(from_fn_with_state(Token::new(&token), auth::require_token));
    Router::new()
        .merge(protected)
        .route("/healthz", get(routes::healthz))
        .merge(dashboard::routes())
        .fallback(routes::no_route)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(from_fn_with_state(admission, admission::admit))
        .layer(from_fn_with_state(state.clone(), metrics::count_responses))
        .with_state(state)
}
