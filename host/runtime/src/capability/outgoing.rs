//! The outgoing-HTTP policy of one store, applied in wasmtime-wasi-http's `send_request` hook: deny
//! by default, allow the origins granted to the activity, bound every request by the attempt's
//! deadline, the response-body cap and the cap on concurrent requests.
//!
//! A breach is recorded as the store's [`Violation`]: the guest gets an HTTP error code at once, the
//! epoch callback interrupts it at the next tick, and the attempt (or turn) fails with the violation
//! whatever the guest returned. It never lets a denied request reach the network.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::grant::{GrantPattern, Scheme};
use crate::history::Failure;

/// Failure kind of a request outside the grants (never retried).
pub const DENIED: &str = "HttpDenied";
/// Failure kind of a response body over the cap.
pub const TOO_LARGE: &str = "HttpResponseTooLarge";
/// Failure kind of more concurrent requests than allowed.
pub(crate) const TOO_MANY: &str = "HttpTooManyRequests";
/// Failure kind of an orchestrator (or a manifest call) using `wasi:http`.
pub(crate) const IN_ORCHESTRATOR: &str = "HttpInOrchestrator";

/// The first policy breach of a store, shared with the tasks that carry its requests.
#[derive(Debug, Clone, Default)]
pub struct Violation(Arc<ViolationSlot>);

#[derive(Debug, Default)]
struct ViolationSlot {
    set: AtomicBool,
    failure: Mutex<Option<Failure>>,
}

impl Violation {
    /// Records `failure` unless an earlier breach was recorded.
    pub(crate) fn set(&self, failure: Failure) {
        let mut slot = self.0.failure.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(failure);
            self.0.set.store(true, Ordering::SeqCst);
        }
    }

    /// Whether a breach was recorded (cheap: read by the epoch callback at every tick).
    pub(crate) fn is_set(&self) -> bool {
        self.0.set.load(Ordering::SeqCst)
    }

    /// The recorded breach.
    pub fn get(&self) -> Option<Failure> {
        self.0
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// What a store may do with `wasi:http`.
#[derive(Debug, Clone)]
pub enum Policy {
    /// Nothing: orchestrators and manifest calls. `who` names the caller in the failure.
    Refused {
        /// E.g. "orchestrator ProcessOrder".
        who: String,
    },
    /// What one activity attempt was granted.
    Granted(Box<Grants>),
}

/// The grants and bounds of one activity attempt.
#[derive(Debug, Clone)]
pub struct Grants {
    /// The activity's name, for messages.
    pub function: String,
    /// Origins it may call.
    pub patterns: Vec<GrantPattern>,
    /// When the attempt's time is up.
    pub deadline: Instant,
    /// The attempt's time limit, for messages.
    pub timeout_ms: u64,
    /// Largest response body, in bytes.
    pub max_response_bytes: u64,
    /// Most requests in flight at once.
    pub max_concurrent: usize,
}

/// The `WasiHttpHooks` of one store.
#[derive(Debug)]
pub(crate) struct Outgoing {
    policy: Policy,
    violation: Violation,
    in_flight: Arc<AtomicUsize>,
}

impl Outgoing {
    /// A policy recording its breaches in `violation`.
    pub(crate) fn new(policy: Policy, violation: Violation) -> Self {
        Self {
            policy,
            violation,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Decides whether `request` may be sent; `Err` is the failure of the attempt or turn.
    fn admit(&self, request: &http::Request<WasiBody>) -> Result<&Grants, Failure> {
        match &self.policy {
            Policy::Refused { who } => Err(Failure::new(
                IN_ORCHESTRATOR,
                format!(
                    "[KEEL-O1] the {who} tried to send an HTTP request ({}); orchestrators never \
                     reach the network, because a replay would send it again. Make the request in \
                     an activity, or schedule a durable HTTP call with call_http (the built-in \
                     activity keel.http), which is recorded in the history",
                    shown(request.method(), request.uri())
                ),
            )),
            Policy::Granted(grants) => {
                check(
                    &grants.function,
                    &grants.patterns,
                    request.method(),
                    request.uri(),
                )?;
                Ok(grants)
            }
        }
    }
}

/// `METHOD scheme://authority/path`, for messages (no query: it may carry tokens).
fn shown(method: &http::Method, uri: &http::Uri) -> String {
    format!(
        "{method} {}://{}{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map_or("", |a| a.as_str()),
        uri.path()
    )
}

/// Whether `function`, holding `patterns`, may send `method uri`; the denial names the command that
/// would grant it.
pub fn check(
    function: &str,
    patterns: &[GrantPattern],
    method: &http::Method,
    uri: &http::Uri,
) -> Result<(), Failure> {
    let shown = shown(method, uri);
    let Some(scheme) = uri.scheme_str().and_then(Scheme::parse) else {
        return Err(Failure::new(
            DENIED,
            format!("{function} may not send {shown}: only http and https requests can be granted"),
        ));
    };
    let host = uri.host().unwrap_or_default();
    let port = uri.port_u16().unwrap_or(match scheme {
        Scheme::Http => 80,
        Scheme::Https => 443,
    });
    if patterns.iter().any(|p| p.allows(scheme, host, port)) {
        return Ok(());
    }
    let hint = GrantPattern::for_origin(scheme, host, port);
    let held = if patterns.is_empty() {
        "it holds no grants".to_owned()
    } else {
        let list: Vec<String> = patterns.iter().map(ToString::to_string).collect();
        format!("it holds {}", list.join(", "))
    };
    Err(Failure::new(
        DENIED,
        format!(
            "{function} may not send {shown}: no grant allows {host} ({held}). Grant it with: \
             keel grant {function} {hint}"
        ),
    ))
}

impl WasiHttpHooks for Outgoing {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _request_done: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                    ),
                    HttpError,
                >,
            > + Send,
    > {
        let grants = match self.admit(&request) {
            Ok(grants) => grants.clone(),
            Err(failure) => {
                tracing::warn!(kind = %failure.kind, "{}", failure.message);
                self.violation.set(failure);
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            }
        };
        let slot = InFlight::take(&self.in_flight);
        if slot.count > grants.max_concurrent {
            self.violation.set(Failure::new(
                TOO_MANY,
                format!(
                    "{} had more than {} HTTP requests in flight at once",
                    grants.function, grants.max_concurrent
                ),
            ));
            return Box::new(async { Err(HttpError::ConnectionLimitReached) });
        }
        let remaining = grants.deadline.saturating_duration_since(Instant::now());
        let bound = |asked: Option<Duration>| Some(asked.map_or(remaining, |a| a.min(remaining)));
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: bound(options.connect_timeout),
            first_byte_timeout: bound(options.first_byte_timeout),
            between_bytes_timeout: bound(options.between_bytes_timeout),
        };
        let violation = self.violation.clone();
        let uri = request.uri().to_string();
        Box::new(async move {
            match wasmtime_wasi_http::default_send_request(request, Some(options)).await {
                Ok((response, io)) => {
                    let response = response.map(|body| {
                        Capped {
                            inner: body.boxed_unsync(),
                            left: grants.max_response_bytes,
                            grants: grants.clone(),
                            violation: violation.clone(),
                            _slot: slot,
                        }
                        .boxed_unsync()
                    });
                    let io: Box<dyn Future<Output = Result<(), HttpError>> + Send> = Box::new(io);
                    Ok((response, io))
                }
                Err(e) => {
                    if Instant::now() >= grants.deadline {
                        violation.set(timed_out(&grants, &uri));
                    }
                    Err(e)
                }
            }
        })
    }
}

fn timed_out(grants: &Grants, uri: &str) -> Failure {
    Failure::new(
        "Timeout",
        format!(
            "the activity did not finish within {} ms (it was waiting for {uri})",
            grants.timeout_ms
        ),
    )
}

/// One request counted against the concurrency cap while it (and its body) lives.
#[derive(Debug)]
struct InFlight {
    counter: Arc<AtomicUsize>,
    count: usize,
}

impl InFlight {
    fn take(counter: &Arc<AtomicUsize>) -> Self {
        let count = counter.fetch_add(1, Ordering::SeqCst) + 1;
        Self {
            counter: counter.clone(),
            count,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that stops at the cap and records the breach.
struct Capped {
    inner: WasiBody,
    left: u64,
    grants: Grants,
    violation: Violation,
    _slot: InFlight,
}

impl Body for Capped {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                let len = frame
                    .data_ref()
                    .map_or(0, |d| u64::try_from(d.len()).unwrap_or(u64::MAX));
                if len > this.left {
                    let cap = this.grants.max_response_bytes;
                    this.violation.set(Failure::new(
                        TOO_LARGE,
                        format!(
                            "{} received a response body larger than the limit of {cap} bytes",
                            this.grants.function
                        ),
                    ));
                    return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(cap)))));
                }
                this.left -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                if Instant::now() >= this.grants.deadline {
                    this.violation
                        .set(timed_out(&this.grants, "the rest of a response body"));
                }
                Poll::Ready(Some(Err(e)))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
