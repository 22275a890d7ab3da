//! Worker reports: a report writes a row or moves its `seen_ms` on, a stop deletes it, and rows of
//! workers silent for a day go with the next report of any worker.

use keel_store::WorkerRow;

use crate::support::stores;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

fn worker(owner: &str, started_ms: u64, seen_ms: u64) -> WorkerRow {
    WorkerRow {
        owner: owner.to_owned(),
        host: "host-a".to_owned(),
        pid: 4242,
        version: "0.1.0".to_owned(),
        started_ms,
        seen_ms,
    }
}

#[tokio::test]
async fn reports_are_kept_per_worker_newest_first_and_a_stop_removes_one() {
    for t in stores().await {
        let s = &t.store;
        assert_eq!(s.workers().await.unwrap(), vec![], "{}", t.backend);
        s.report_worker(worker("w1", 1_000, 1_000)).await.unwrap();
        s.report_worker(worker("w2", 1_500, 1_500)).await.unwrap();
        // A later report of w1 moves only its `seen_ms`: where and when it started stay.
        let mut again = worker("w1", 9_999, 2_000);
        again.host = "elsewhere".to_owned();
        s.report_worker(again).await.unwrap();
        assert_eq!(
            s.workers().await.unwrap(),
            vec![worker("w1", 1_000, 2_000), worker("w2", 1_500, 1_500)],
            "{}",
            t.backend
        );
        s.worker_stopped("w1").await.unwrap();
        assert_eq!(
            s.workers().await.unwrap(),
            vec![worker("w2", 1_500, 1_500)],
            "{}",
            t.backend
        );
        // Stopping a worker that never reported is not an error.
        s.worker_stopped("nobody").await.unwrap();
    }
}

#[tokio::test]
async fn a_worker_silent_for_a_day_is_forgotten_at_the_next_report() {
    for t in stores().await {
        let s = &t.store;
        s.report_worker(worker("dead", 1_000, 1_000)).await.unwrap();
        s.report_worker(worker("alive", 1_000, 1_000 + DAY_MS))
            .await
            .unwrap();
        assert_eq!(s.workers().await.unwrap().len(), 2, "{}", t.backend);
        s.report_worker(worker("alive", 1_000, 1_001 + DAY_MS))
            .await
            .unwrap();
        assert_eq!(
            s.workers().await.unwrap(),
            vec![worker("alive", 1_000, 1_001 + DAY_MS)],
            "{}",
            t.backend
        );
    }
}
