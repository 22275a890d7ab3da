//! Admission control of the API: a bound on requests handled at once, and on the store writer's
//! queue for requests that write. Past either, a request is refused at once with `503` and
//! `Retry-After: 1` (code `overloaded`) instead of queueing without bound; it has done nothing.
//!
//! `/healthz` is always answered, so that a busy server is not taken for a dead one.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Semaphore;

use super::ApiError;
use keel_engine::Keel;

/// The bounds and what they are measured on.
#[derive(Debug, Clone)]
pub(crate) struct Admission {
    requests: Arc<Semaphore>,
    max_requests: usize,
    writer_queue_max: usize,
    keel: Keel,
}

impl Admission {
    /// The bounds `keel`'s configuration sets.
    pub(crate) fn new(keel: &Keel) -> Self {
        let config = &keel.config();
        Self {
            requests: Arc::new(Semaphore::new(config.api_max_requests)),
            max_requests: config.api_max_requests,
            writer_queue_max: config.writer_queue_max,
            keel: keel.clone(),
        }
    }
}

/// Lets a request through while the server is within its bounds.
pub(crate) async fn admit(
    State(admission): State<Admission>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if request.uri().path() == "/healthz" {
        return Ok(next.run(request).await);
    }
    let Ok(_slot) = admission.requests.clone().try_acquire_owned() else {
        return Err(ApiError::Overloaded(format!(
            "{} requests in flight",
            admission.max_requests
        )));
    };
    let writes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if writes {
        let queued = admission.keel.store().write_backlog();
        if queued >= admission.writer_queue_max {
            return Err(ApiError::Overloaded(format!(
                "{queued} writes queued, at most {}",
                admission.writer_queue_max
            )));
        }
    }
    Ok(next.run(request).await)
}
