//! A real HTTP server on 127.0.0.1:0 for the tests of outgoing HTTP: it records every request it
//! receives and answers by path.
//!
//! - `/ok` and anything unknown: `200 hello`
//! - `/echo`: `200` with the request body
//! - `/status/{code}`: that status, body `status {code}`
//! - `/slow`: answers after 30 s
//! - `/sleep/{ms}`: answers `200 slept` after `ms` milliseconds (how many were in flight at once is
//!   kept: [`TestServer::most_sleeping`])
//! - `/big`: a body of [`BIG_BYTES`] bytes
//! - `POST /jobs`: `202` with `Location: /jobs/1` and `Retry-After: 1`; `GET /jobs/1` answers the same
//!   until [`TestServer::finish_job`], then `200 job done`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Size of the `/big` body.
pub(crate) const BIG_BYTES: usize = 2 << 20;

/// One request the server received.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) authorization: Option<String>,
    pub(crate) body: String,
}

#[derive(Debug, Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    job_done: AtomicBool,
    sleeping: AtomicUsize,
    most_sleeping: AtomicUsize,
}

/// A running test server; it stops when dropped.
pub(crate) struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// The port.
    pub(crate) port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Starts a server on a free port of 127.0.0.1.
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a test server");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            shared,
            task,
        }
    }

    /// The requests received so far.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("test server lock").clone()
    }

    /// How many requests went to `path`.
    pub(crate) fn hits(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }

    /// The most `/sleep/{ms}` requests that were in flight at one moment.
    pub(crate) fn most_sleeping(&self) -> usize {
        self.shared.most_sleeping.load(Ordering::SeqCst)
    }

    /// Lets `GET /jobs/1` answer `200`.
    pub(crate) fn finish_job(&self) {
        self.shared.job_done.store(true, Ordering::SeqCst);
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = to_bytes(request.into_body(), 16 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    shared.seen.lock().expect("test server lock").push(Seen {
        method: method.clone(),
        path: path.clone(),
        authorization,
        body: body.clone(),
    });
    match (method.as_str(), path.as_str()) {
        (_, "/echo") => (StatusCode::OK, body).into_response(),
        (_, "/slow") => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            (StatusCode::OK, "late").into_response()
        }
        (_, p) if p.starts_with("/sleep/") => {
            let ms = p["/sleep/".len()..].parse::<u64>().unwrap_or(0);
            let now = shared.sleeping.fetch_add(1, Ordering::SeqCst) + 1;
            shared.most_sleeping.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            shared.sleeping.fetch_sub(1, Ordering::SeqCst);
            (StatusCode::OK, "slept").into_response()
        }
        (_, "/big") => (StatusCode::OK, Body::from(vec![b'x'; BIG_BYTES])).into_response(),
        ("POST", "/jobs") => accepted(),
        ("GET", "/jobs/1") => {
            if shared.job_done.load(Ordering::SeqCst) {
                (StatusCode::OK, "job done").into_response()
            } else {
                accepted()
            }
        }
        (_, p) if p.starts_with("/status/") => {
            let code = p["/status/".len()..]
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            (code, format!("status {}", code.as_u16())).into_response()
        }
        _ => (StatusCode::OK, "hello").into_response(),
    }
}

fn accepted() -> Response {
    let mut response = (StatusCode::ACCEPTED, "working").into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, HeaderValue::from_static("/jobs/1"));
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}
