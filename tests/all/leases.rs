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

#[tokio::test(flavor = "multi_thread")]
async fn a_graceful_shutdown_keeps_its_leases_until_its_attempts_have_finished() {
    let server = TestServer::start().await;
    let t = engine_with(&["keel_test_patterns"], |c| c.lease_ms = 400).await;
    t.keel.grant("HttpLoop", &server.url).await.unwrap();
    let input = json!({
        "activity": "HttpLoop",
        "input": {"url": format!("{}/sleep/2000", server.url), "times": 1}
    });
    let id = t
        .keel
        .start("Call", &input.to_string(), None)
        .await
        .unwrap();
    let first = t.keel.run_worker();
    for _ in 0..1000 {
        if server.hits("/sleep/2000") == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(server.hits("/sleep/2000"), 1, "the attempt never started");
    // The attempt is leased to the first worker and runs for two seconds, five leases. A second
    // worker on the same database waits for anything whose lease runs out; the stopping worker must
    // keep renewing its lease while it waits for the attempt, or the second one runs it again.
    let other = crate::support::reopen(&t.config, None).await;
    let second = other.run_worker();
    first.shutdown().await;
    let instance = other
        .wait(id.as_str(), std::time::Duration::from_secs(60))
        .await
        .unwrap();
    second.shutdown().await;
    assert_completed(&instance);
    assert_eq!(
        server.hits("/sleep/2000"),
        1,
        "another worker ran the activity while the first was draining"
    );
}

/// A result that cannot be committed (the database refuses the write, as when its disk is full) does
/// not leave the work item leased for as long as the worker lives: the lease runs out and the attempt
/// is picked up again once the database accepts writes.
#[tokio::test(flavor = "multi_thread")]
async fn a_result_that_cannot_be_committed_lets_its_lease_run_out_and_the_work_is_done_again() {
    let server = TestServer::start().await;
    let t = engine_with(&["keel_test_patterns"], |c| c.lease_ms = 400).await;
    t.keel.grant("HttpLoop", &server.url).await.unwrap();
    let mut db = crate::raw_db::RawDb::open(&t.db()).await;
    // Removing a finished work item fails, so committing the activity's result fails.
    db.fail_deletes("work_items").await;
    let input = json!({
        "activity": "HttpLoop",
        "input": {"url": format!("{}/ok", server.url), "times": 1}
    });
    let id = t
        .keel
        .start("Call", &input.to_string(), None)
        .await
        .unwrap();
    let worker = t.keel.run_worker();
    for _ in 0..1000 {
        if server.hits("/ok") >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(server.hits("/ok") >= 1, "the attempt never ran");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // The disk has room again.
    db.allow_deletes("work_items").await;
    let instance = t
        .keel
        .wait(id.as_str(), std::time::Duration::from_secs(20))
        .await
        .expect("the attempt was picked up again once its lease ran out");
    worker.shutdown().await;
    assert_completed(&instance);
    assert!(server.hits("/ok") >= 2, "the attempt ran only once");
}
