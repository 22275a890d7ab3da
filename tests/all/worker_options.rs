//! `keel worker --max-turns N --max-activities N` bound what one worker process runs at once, and
//! what it leases at once: work it holds a lease on but cannot run yet would be kept from the other
//! workers sharing the database.

use std::time::{Duration, Instant};

use keel::store::{InstanceFilter, Status};
use serde_json::json;

use crate::multi_worker::Worker;
use crate::raw_db::{Arg, RawDb};
use crate::support::{assert_completed, engine};
use crate::test_server::TestServer;

/// The most rows of `table` leased to one owner at this moment.
async fn most_leased(db: &mut RawDb, table: &str, now_ms: i64) -> i64 {
    let sql = format!(
        "SELECT COALESCE(MAX(n), 0) FROM (SELECT COUNT(*) AS n FROM {table}
         WHERE locked_by IS NOT NULL AND locked_until > ? GROUP BY locked_by) AS leased"
    );
    db.one(&sql, &[Arg::Int(now_ms)]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_runs_and_leases_no_more_at_once_than_its_maxima() {
    const CALLS: usize = 12;
    const MAX_TURNS: usize = 1;
    const MAX_ACTIVITIES: usize = 2;
    let server = TestServer::start().await;
    let t = engine(&["keel_test_patterns"]).await;
    t.keel.grant("HttpLoop", &server.url).await.unwrap();
    // Each attempt holds one request to the server for 50 ms: attempts that overlap are seen there.
    let path = "/sleep/50";
    let input = json!({
        "activity": "HttpLoop",
        "input": {"url": format!("{}{path}", server.url), "times": 1}
    })
    .to_string();
    let mut ids = Vec::new();
    for _ in 0..CALLS {
        ids.push(t.keel.start("Call", &input, None).await.unwrap());
    }
    let worker = Worker::start(
        &t.db(),
        &[
            "--max-turns",
            &MAX_TURNS.to_string(),
            "--max-activities",
            &MAX_ACTIVITIES.to_string(),
        ],
    );

    let mut db = RawDb::open(&t.db()).await;
    let (mut instances, mut work_items) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let completed = InstanceFilter {
        status: Some(Status::Completed),
        ..Default::default()
    };
    // Watch the leases until every call has completed.
    while t.keel.list(&completed).await.unwrap().len() < CALLS && Instant::now() < deadline {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        instances = instances.max(most_leased(&mut db, "instances", now).await);
        work_items = work_items.max(most_leased(&mut db, "work_items", now).await);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for id in &ids {
        let instance = t.keel.wait(id.as_str(), Duration::from_secs(5)).await;
        assert_completed(&instance.unwrap_or_else(|e| panic!("instance {id}: {e}")));
    }
    let ran = worker.stop();
    eprintln!(
        "worker options: {CALLS} calls; at most {} requests in flight, {instances} instances and \
         {work_items} work items leased at once; the worker ran {ran:?}",
        server.most_sleeping()
    );
    assert!(server.hits(path) >= CALLS, "every call reached the server");
    assert!(
        server.most_sleeping() <= MAX_ACTIVITIES,
        "{} attempts ran at once with --max-activities {MAX_ACTIVITIES}",
        server.most_sleeping()
    );
    assert!(
        work_items <= MAX_ACTIVITIES as i64,
        "{work_items} work items were leased at once with --max-activities {MAX_ACTIVITIES}"
    );
    assert!(
        instances <= MAX_TURNS as i64,
        "{instances} instances were leased at once with --max-turns {MAX_TURNS}"
    );
}
