//! The one error type of the HTTP API: every failure a handler can meet, mapped to a status code and a
//! JSON body `{"code", "message"}` whose `code` is stable for clients to match on.
//!
//! It logs the full error chain on the server and must never show a client internal details (database
//! errors, file paths): those become a generic `internal` message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use keel_engine::capability;
use keel_engine::engine;
use keel_engine::module;

/// Why an API request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or a wrong bearer token.
    #[error("missing or invalid bearer token: send `Authorization: Bearer <token>`")]
    Unauthorized,
    /// A malformed request (query string, path, body) that the engine never saw.
    #[error("{0}")]
    BadRequest(String),
    /// A request body over the limit of its endpoint.
    #[error("the request body is over the limit of {limit} bytes")]
    BodyTooLarge {
        /// The endpoint's limit.
        limit: usize,
    },
    /// No route matches.
    #[error("no such endpoint: {0}")]
    NoRoute(String),
    /// The route exists but not with this method.
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The method used.
        method: String,
        /// The path.
        path: String,
    },
    /// No such resource (other than an instance, which the engine reports).
    #[error("{0}")]
    NotFound(String),
    /// The server is at its bound (requests in flight, or writes queued); try again shortly.
    #[error("the server is busy ({0}); retry after a second")]
    Overloaded(String),
    /// The engine refused or failed the operation.
    #[error(transparent)]
    Engine(#[from] engine::Error),
}

impl ApiError {
    /// The HTTP status and the stable error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use engine::Error as E;
        match self {
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::BodyTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            Self::NoRoute(_) | Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Overloaded(_) => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Self::Engine(e) => match e {
                E::InvalidJson { .. } => (StatusCode::BAD_REQUEST, "invalid_json"),
                E::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
                E::UnknownOrchestrator { .. } => (StatusCode::BAD_REQUEST, "unknown_orchestrator"),
                E::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
                E::Conflict(_) => (StatusCode::CONFLICT, "instance_exists"),
                E::Ended { .. } => (StatusCode::GONE, "instance_ended"),
                E::NotEnded { .. } => (StatusCode::CONFLICT, "instance_not_ended"),
                E::NotFailed { .. } => (StatusCode::CONFLICT, "instance_not_failed"),
                E::NameTooLong { .. } => (StatusCode::BAD_REQUEST, "name_too_long"),
                E::InboxFull { .. } => (StatusCode::TOO_MANY_REQUESTS, "inbox_full"),
                E::Module(m) => match m {
                    module::Error::NotWasm
                    | module::Error::CoreModule
                    | module::Error::Invalid(_)
                    | module::Error::WrongWorld(_)
                    | module::Error::UnsupportedImport(_)
                    | module::Error::Manifest(_)
                    | module::Error::ManifestMismatch { .. }
                    | module::Error::ReservedName(_) => {
                        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_module")
                    }
                    module::Error::LabelTaken { .. } => (StatusCode::CONFLICT, "version_taken"),
                    module::Error::NotDeployed(_) => (StatusCode::NOT_FOUND, "not_found"),
                    module::Error::Store(keel_store::Error::Unstorable(_)) => {
                        (StatusCode::BAD_REQUEST, "invalid_text")
                    }
                    module::Error::Store(_)
                    | module::Error::Cache(_)
                    | module::Error::Damaged(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
                },
                E::Capability(c) => match c {
                    capability::Error::BadGrant { .. } => {
                        (StatusCode::BAD_REQUEST, "invalid_grant")
                    }
                    capability::Error::BadName { .. } => (StatusCode::BAD_REQUEST, "invalid_name"),
                    capability::Error::TooLarge { .. } | capability::Error::TooMany { .. } => {
                        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
                    }
                    capability::Error::NotHeld { .. } => (StatusCode::NOT_FOUND, "not_found"),
                    // The server's key: the operator must fix it, the client cannot.
                    capability::Error::BadKey(_)
                    | capability::Error::KeyMissing(_)
                    | capability::Error::SecretUnopenable { .. } => {
                        (StatusCode::SERVICE_UNAVAILABLE, "secret_key_unavailable")
                    }
                },
                E::UnknownFunction { .. } | E::UnknownVersion { .. } | E::UnknownSchedule(_) => {
                    (StatusCode::NOT_FOUND, "not_found")
                }
                E::Schedule { .. } => (StatusCode::BAD_REQUEST, "invalid_schedule"),
                E::UnknownQuery { .. } => (StatusCode::NOT_FOUND, "unknown_query"),
                E::QueryFailed { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "query_failed"),
                E::UnknownUpdate { .. } => (StatusCode::NOT_FOUND, "unknown_update"),
                E::UpdateRejected { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "update_rejected"),
                E::UpdateFailed { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "update_failed"),
                E::UpdateIdReused { .. } => (StatusCode::CONFLICT, "update_id_reused"),
                E::UnknownUpdateId { .. } => (StatusCode::NOT_FOUND, "unknown_update_id"),
                E::ScheduleExists(_) => (StatusCode::CONFLICT, "schedule_exists"),
                E::WaitTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
                // Replaying an exported history is not an API call; these come from files.
                E::NotAnExport { .. }
                | E::NotExported { .. }
                | E::Unreadable { .. }
                | E::Scenario { .. } => (StatusCode::BAD_REQUEST, "bad_request"),
                E::Store(keel_store::Error::Unstorable(_)) => {
                    (StatusCode::BAD_REQUEST, "invalid_text")
                }
                E::Store(_) | E::Runtime(_) | E::DatabaseDirectory { .. } => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
            },
        }
    }
}

/// The error chain of `e`, outermost first, joined with `: `.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let said = matches!(self, Self::Overloaded(_)) || status == StatusCode::GATEWAY_TIMEOUT;
        let message = if status.is_server_error() && !said {
            tracing::error!(code, error = %chain(&self), "API request failed");
            "internal error; the server log has the details".to_owned()
        } else {
            tracing::debug!(code, error = %chain(&self), "API request refused");
            self.to_string()
        };
        let mut response =
            (status, Json(json!({"code": code, "message": message}))).into_response();
        if matches!(self, Self::Overloaded(_)) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"keel\""),
            );
        }
        response
    }
}
