//! The hot-instance cache is bounded by the bytes of memory its guests hold, not only by their
//! number: waiting instances beyond the bound are evicted, and replayed when their next message
//! comes.

use std::time::Duration;

use serde_json::json;

use crate::support::{assert_completed, engine_with, wait_for_event};

/// Polls `check` for up to ten seconds.
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

/// Starts approval `id` and waits until it waits for its event.
async fn start_waiting(keel: &keel::Keel, id: &str) {
    let input = json!({"requestId": id, "timeoutMs": 600_000}).to_string();
    keel.start("Approval", &input, Some(id)).await.unwrap();
    wait_for_event(keel, id, "EventAwaited").await;
}

#[tokio::test]
async fn the_hot_cache_holds_no_more_guest_memory_than_its_byte_bound() {
    // One waiting approval guest's footprint.
    let t = engine_with(&["approval"], |_| {}).await;
    let worker = t.keel.run_worker();
    start_waiting(&t.keel, "alone").await;
    assert!(eventually(|| worker.hot_instances() == 1).await);
    let one = worker.hot_bytes();
    assert!(one >= 64 << 10, "a guest holds at least a page: {one}");
    worker.shutdown().await;

    // Room for three and a half: ten waiting instances keep three hot.
    let bound = one * 7 / 2;
    let t = engine_with(&["approval"], |c| c.hot_bytes = bound).await;
    let handle = t.keel.run_worker();
    let ids: Vec<String> = (0..10).map(|i| format!("req-{i}")).collect();
    for id in &ids {
        start_waiting(&t.keel, id).await;
    }
    assert!(
        eventually(|| handle.hot_instances() == 3).await,
        "{} hot instances holding {} bytes, bound {bound}, one guest {one}",
        handle.hot_instances(),
        handle.hot_bytes()
    );
    assert!(
        handle.hot_bytes() <= bound,
        "{} > {bound}",
        handle.hot_bytes()
    );
    // The evicted ones replay and finish like the hot ones.
    for id in &ids {
        t.keel
            .raise_event(id, "Approved", r#"{"by":"alice"}"#)
            .await
            .unwrap();
    }
    for id in &ids {
        let instance = t.keel.wait(id, Duration::from_secs(60)).await.unwrap();
        assert_completed(&instance);
        assert_eq!(instance.output.as_ref().unwrap()["approvedBy"], "alice");
    }
    handle.shutdown().await;
}
