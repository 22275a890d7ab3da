//! Outgoing HTTP for activities: a small blocking client over `wasi:http/outgoing-handler`, which the
//! host allows only towards the origins granted to the activity (`keel grant NAME URL`).
//! It must never be used from an orchestrator: the host fails the instance (`KEEL-O1`); orchestrators
//! schedule durable calls with [`Context::call_http`](crate::Context::call_http) instead.
//!
//! ```no_run
//! use keel_sdk::{Failure, http};
//!
//! fn verify(order: serde_json::Value) -> Result<serde_json::Value, Failure> {
//!     let url = std::env::var("PAYMENT_URL").map_err(|_| Failure::new("Config", "PAYMENT_URL is not set"))?;
//!     let response = http::Request::post(&url).json(&order)?.send()?;
//!     if response.status == 402 {
//!         return Err(Failure::new("PaymentDeclined", response.text()));
//!     }
//!     response.error_for_status()?.json()
//! }
//! ```

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::wasi::http::outgoing_handler;
use crate::bindings::wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, Scheme,
};
use crate::bindings::wasi::io::streams::StreamError;
use crate::failure::Failure;

/// The failure kind of a request that did not get a response (refused, timed out, malformed).
pub const HTTP_ERROR: &str = "HttpError";
/// The failure kind [`Response::error_for_status`] gives a status of 400 or more.
pub const HTTP_STATUS: &str = "HttpStatus";

/// An HTTP request under construction.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request got no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What went wrong, e.g. `ConnectionRefused` or `HttpRequestDenied`.
    pub code: String,
    /// The request it happened to.
    pub request: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.request, self.code)
    }
}

impl std::error::Error for Error {}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::new(HTTP_ERROR, e.to_string())
    }
}

impl Request {
    /// A request with `method` (e.g. `"PATCH"`) to `url` (`http://` or `https://`).
    pub fn new(method: &str, url: &str) -> Self {
        Self {
            method: method.to_ascii_uppercase(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
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

    /// A `PUT` request.
    pub fn put(url: &str) -> Self {
        Self::new("PUT", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: &str) -> Self {
        Self::new("DELETE", url)
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `content-type: application/json`.
    ///
    /// # Errors
    ///
    /// A failure of kind `InvalidInput` if `value` does not serialise.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, Failure> {
        self.body = serde_json::to_vec(value).map_err(|e| {
            Failure::new(
                Failure::INVALID_INPUT,
                format!("the request body does not serialise: {e}"),
            )
        })?;
        Ok(self.header("content-type", "application/json"))
    }

    /// Sends the request and reads the whole response.
    ///
    /// # Errors
    ///
    /// An [`Error`] when no response arrived (a denied origin also fails the whole attempt with
    /// `HttpDenied`, whatever the activity does with this error).
    pub fn send(self) -> Result<Response, Error> {
        let shown = format!("{} {}", self.method, self.url);
        let fail = |code: String| Error {
            code,
            request: shown.clone(),
        };
        let (scheme, authority, path) = split_url(&self.url).map_err(fail)?;
        let fields = Fields::new();
        let has_length = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
        if !self.body.is_empty() && !has_length {
            // A known length instead of chunked encoding, which some servers do not read.
            fields
                .append("content-length", self.body.len().to_string().as_bytes())
                .map_err(|e| fail(format!("header content-length: {e:?}")))?;
        }
        for (name, value) in &self.headers {
            fields
                .append(name, value.as_bytes())
                .map_err(|e| fail(format!("header {name}: {e:?}")))?;
        }
        let request = OutgoingRequest::new(fields);
        let ok = request.set_method(&method(&self.method)).is_ok()
            && request.set_scheme(Some(&scheme)).is_ok()
            && request.set_authority(Some(authority)).is_ok()
            && request.set_path_with_query(Some(path)).is_ok();
        if !ok {
            return Err(fail("the URL or method is not valid".to_owned()));
        }
        let body = request
            .body()
            .map_err(|()| fail("the request body was taken".to_owned()))?;
        let pending = outgoing_handler::handle(request, None).map_err(|e| fail(code(&e)))?;
        write_body(&body, &self.body).map_err(fail)?;
        OutgoingBody::finish(body, None).map_err(|e| fail(code(&e)))?;
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(e))) => return Err(fail(code(&e))),
            Some(Err(())) | None => return Err(fail("the response was already taken".to_owned())),
        };
        let status = response.status();
        let headers = response
            .headers()
            .entries()
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect();
        let incoming = response
            .consume()
            .map_err(|()| fail("the response body was taken".to_owned()))?;
        let body = read_body(&incoming).map_err(fail)?;
        drop(IncomingBody::finish(incoming));
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

impl Response {
    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    ///
    /// # Errors
    ///
    /// A failure of kind `InvalidOutput` if the body is not a `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Failure::new(
                Failure::INVALID_OUTPUT,
                format!("the response body is not the expected JSON: {e}"),
            )
        })
    }

    /// The response itself if its status is below 400, else a failure of kind `HttpStatus`
    /// (retried under the activity's retry policy) carrying the status and the body's start.
    ///
    /// # Errors
    ///
    /// The `HttpStatus` failure.
    pub fn error_for_status(self) -> Result<Self, Failure> {
        if self.status < 400 {
            return Ok(self);
        }
        let text = self.text();
        let excerpt: String = text.chars().take(512).collect();
        Err(Failure::new(
            HTTP_STATUS,
            format!("the server answered {}: {excerpt}", self.status),
        )
        .with_details(&serde_json::json!({"status": self.status, "body": excerpt})))
    }
}

fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        "CONNECT" => Method::Connect,
        "OPTIONS" => Method::Options,
        "TRACE" => Method::Trace,
        "PATCH" => Method::Patch,
        other => Method::Other(other.to_owned()),
    }
}

/// `(scheme, authority, path and query)` of an absolute URL.
fn split_url(url: &str) -> Result<(Scheme, &str, &str), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("{url:?} is not an absolute URL"))?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => Scheme::Http,
        "https" => Scheme::Https,
        other => Scheme::Other(other.to_owned()),
    };
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.is_empty() {
        return Err(format!("{url:?} names no host"));
    }
    Ok((scheme, authority, if path.is_empty() { "/" } else { path }))
}

fn write_body(body: &OutgoingBody, bytes: &[u8]) -> Result<(), String> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body
        .write()
        .map_err(|()| "the request body stream was taken".to_owned())?;
    for chunk in bytes.chunks(4096) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| format!("writing the request body failed: {}", stream_error(e)))?;
    }
    Ok(())
}

fn read_body(body: &IncomingBody) -> Result<Vec<u8>, String> {
    let stream = body
        .stream()
        .map_err(|()| "the response body stream was taken".to_owned())?;
    let mut out = Vec::new();
    loop {
        match stream.blocking_read(64 * 1024) {
            Ok(chunk) => out.extend_from_slice(&chunk),
            Err(StreamError::Closed) => return Ok(out),
            Err(e) => {
                return Err(format!(
                    "reading the response body failed: {}",
                    stream_error(e)
                ));
            }
        }
    }
}

fn stream_error(e: StreamError) -> String {
    match e {
        StreamError::Closed => "the stream is closed".to_owned(),
        StreamError::LastOperationFailed(error) => error.to_debug_string(),
    }
}

fn code(e: &ErrorCode) -> String {
    format!("{e:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_scheme_authority_and_path() {
        let (scheme, authority, path) = split_url("http://127.0.0.1:8080/pay?x=1").unwrap();
        assert!(matches!(scheme, Scheme::Http));
        assert_eq!((authority, path), ("127.0.0.1:8080", "/pay?x=1"));
        let (_, authority, path) = split_url("https://example.com").unwrap();
        assert_eq!((authority, path), ("example.com", "/"));
        assert!(split_url("example.com/x").is_err());
        assert!(split_url("http:///x").is_err());
    }
}
