//! Leases never outlive, nor die before, the work they cover: an activity scheduled by a turn that
//! took longer than a lease runs once, not once by the turn's worker and once more by a poll that
//! found its lease already expired.

use serde_json::json;

use crate::support::{assert_completed, engine_with, finish};
use crate::test_server::TestServer;

#[tokio::test(flavor = "multi_thread")]
async fn a_turn_longer_than_a_lease_hands_its_activities_a_live_lease() {
    let server = TestServer::start().await;
    let t = engine_with(&["keel_test_patterns"], |c| {
        c.lease_ms = 300;
        c.limits.turn_cpu_ms = 20_000;
    })
    .await;
    t.keel.grant("HttpLoop", &server.url).await.unwrap();
    // About a second of computing in the first turn: three leases' worth.
    let input = json!({
        "spins": 1_500_000_000u64,
        "activity": "HttpLoop",
        "input": {"url": format!("{}/ok", server.url), "times": 1}
    });
    let id = t
        .keel
        .start("BusyThenCall", &input.to_string(), None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    // `finish` shut the worker down, which waits for every attempt it started: a second copy of the
    // attempt, claimed when the turn committed, would have reached the server by now.
    assert_eq!(server.hits("/ok"), 1, "the activity ran more than once");
}
