//! Durable HTTP calls from orchestrators: [`Context::call_http`] schedules the host's built-in
//! activity `keel.http`, recorded in the history like any activity call and checked on replay, under
//! the orchestrator's grants. With [`HttpRequest::asynchronous`], a `202 Accepted` with a `Location`
//! is followed by polling that location after durable timers, so a restart mid-poll loses nothing.
//! It never sends anything itself: the host does, once, and replays answer from the history.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::{Context, Task};
use crate::failure::Failure;
use crate::options::ActivityOptions;

/// The name of the host's built-in activity behind [`Context::call_http`].
pub const HTTP_ACTIVITY: &str = "keel.http";

/// Polling interval of an asynchronous call whose `202` carries no `Retry-After`.
const DEFAULT_POLL: Duration = Duration::from_secs(1);

/// A durable HTTP request. Header values may name a secret of the orchestrator,
/// `{{secret:NAME}}`, which the host fills in when it sends the request: the history holds the
/// placeholder, never the value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRequest {
    method: String,
    url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    json: Option<Value>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    asynchronous: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_on: Option<Vec<u16>>,
}

/// The response of a durable HTTP call, as recorded in the history.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case (repeated headers joined with ", ").
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    #[serde(default)]
    pub body: String,
    /// The `Location` header made absolute, when there was one.
    #[serde(default)]
    pub location: Option<String>,
    /// The `Retry-After` header in milliseconds, when there was one.
    #[serde(default)]
    pub retry_after_ms: Option<u64>,
}

impl HttpResponse {
    /// The body as JSON.
    ///
    /// # Errors
    ///
    /// A failure of kind `InvalidOutput` if the body is not a `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_str(&self.body).map_err(|e| {
            Failure::new(
                Failure::INVALID_OUTPUT,
                format!("the response body is not the expected JSON: {e}"),
            )
        })
    }
}

impl HttpRequest {
    /// A request with `method` to `url`.
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            url: url.to_owned(),
            headers: BTreeMap::new(),
            body: None,
            json: None,
            asynchronous: false,
            retry_on: None,
        }
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Self {
        Self::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: &str) -> Self {
        Self::new("POST", url)
    }

    /// Adds a header; `{{secret:NAME}}` in the value is filled in by the host.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.insert(name.to_owned(), value.to_owned());
        self
    }

    /// A text body.
    #[must_use]
    pub fn body(mut self, text: &str) -> Self {
        self.body = Some(text.to_owned());
        self.json = None;
        self
    }

    /// A JSON body (with `content-type: application/json` unless a header sets another).
    ///
    /// # Panics
    ///
    /// If `value` cannot be serialised: a bug in the orchestrator's own types.
    #[must_use]
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Self {
        let value = serde_json::to_value(value)
            .unwrap_or_else(|e| panic!("keel: the body of an HTTP call cannot be serialised: {e}"));
        self.json = Some(value);
        self.body = None;
        self
    }

    /// Follow `202 Accepted` + `Location` until the work ends (Durable Functions' asynchronous
    /// pattern), polling after durable timers of the `Retry-After` interval.
    #[must_use]
    pub fn asynchronous(mut self) -> Self {
        self.asynchronous = true;
        self
    }

    /// Statuses that fail the attempt so that the retry policy applies (default 408, 429, 500,
    /// 502, 503, 504); other statuses are returned.
    #[must_use]
    pub fn retry_on(mut self, statuses: &[u16]) -> Self {
        self.retry_on = Some(statuses.to_vec());
        self
    }
}

/// A scheduled durable HTTP call.
#[derive(Debug, Clone)]
pub struct HttpTask {
    task: Task,
    request: HttpRequest,
    options: ActivityOptions,
}

impl HttpTask {
    /// The task of the first request (for [`Context::all`] and [`Context::any`]).
    pub fn task(&self) -> Task {
        self.task
    }

    /// Waits for the response; for an asynchronous request, polls until the status is not 202.
    ///
    /// # Errors
    ///
    /// The call's failure: a denied origin (`HttpDenied`), a status in `retry_on` after the last
    /// attempt (`HttpStatus`), a connection error (`HttpError`), a timeout.
    pub fn get(self) -> Result<HttpResponse, Failure> {
        let ctx = Context::new();
        let mut response: HttpResponse = self.task.get()?;
        while self.request.asynchronous && response.status == 202 {
            let Some(location) = response.location.clone() else {
                break;
            };
            let wait = response
                .retry_after_ms
                .map_or(DEFAULT_POLL, Duration::from_millis);
            ctx.timer(wait).get::<()>()?;
            let mut poll = HttpRequest::get(&location);
            poll.headers = self.request.headers.clone();
            poll.asynchronous = true;
            poll.retry_on = self.request.retry_on.clone();
            response = ctx
                .call_activity_with(HTTP_ACTIVITY, &poll, self.options.clone())
                .get()?;
        }
        Ok(response)
    }
}

impl Context {
    /// Schedules a durable HTTP call, sent once by the host under this orchestrator's grants
    /// (`keel grant ORCHESTRATOR URL`), as a single attempt.
    pub fn call_http(&self, request: &HttpRequest) -> HttpTask {
        self.call_http_with(request, ActivityOptions::default())
    }

    /// Like [`call_http`](Self::call_http), with a retry policy and time limit per attempt.
    pub fn call_http_with(&self, request: &HttpRequest, options: ActivityOptions) -> HttpTask {
        let options = options.not_local();
        HttpTask {
            task: self.call_activity_with(HTTP_ACTIVITY, request, options.clone()),
            request: request.clone(),
            options,
        }
    }
}
