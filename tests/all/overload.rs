//! Back-pressure of the HTTP API: past its bound on requests in flight, or while the store's writer
//! has too many writes queued, a request is refused at once with `503` and `Retry-After` instead of
//! queueing without bound; nothing is half done.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;

use crate::support::engine_with;

const TOKEN: &str = "overload-token";

fn request(method: &str, uri: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(body)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_beyond_the_bound_are_refused_with_503_and_retry_after() {
    let t = engine_with(&[], |c| c.api_max_requests = 1).await;
    let app = keel::api::router(t.keel.clone(), TOKEN.to_owned());
    // An upload whose body arrives slowly holds the only slot.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = Body::from_stream(tokio_stream_from(rx));
    let slow = tokio::spawn(app.clone().oneshot(request("POST", "/api/modules", body)));
    tx.send(Ok(b"\0asm".to_vec())).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let refused = app
        .clone()
        .oneshot(request("GET", "/api/instances", Body::empty()))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
    let body = axum::body::to_bytes(refused.into_body(), usize::MAX)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "overloaded", "{body}");

    // The upload ends (an invalid module), its slot is free again.
    drop(tx);
    let uploaded = slow.await.unwrap().unwrap();
    assert_eq!(uploaded.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let listed = app
        .clone()
        .oneshot(request("GET", "/api/instances", Body::empty()))
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_are_refused_with_503_while_the_writer_is_full_and_reads_still_answer() {
    // A bound of zero queued writes: every API write finds the writer full.
    let t = engine_with(&["keel_test_patterns"], |c| c.writer_queue_max = 0).await;
    let app = keel::api::router(t.keel.clone(), TOKEN.to_owned());
    let started = app
        .clone()
        .oneshot(request(
            "POST",
            "/api/orchestrators/Steps/x",
            Body::from("null"),
        ))
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(started.headers()[header::RETRY_AFTER], "1");
    assert!(
        t.keel.status("x").await.unwrap().is_none(),
        "nothing was started"
    );
    let listed = app
        .clone()
        .oneshot(request("GET", "/api/instances", Body::empty()))
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
}

/// A stream of the chunks sent on `rx`, as a request body reads them.
fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
