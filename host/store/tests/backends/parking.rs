//! Failed turns: counted only for the lease holder, backed off, parked after too many; parked
//! instances taken back by an operator.

use keel_store::{AfterFailure, Status, TurnFailed};

use crate::support::stores;
use crate::work_items::{LEASE, create, lease};

fn failed(owner: &str, now: u64) -> TurnFailed {
    TurnFailed {
        id: "i1".to_owned(),
        owner: owner.to_owned(),
        reason: "module will not load".to_owned(),
        now,
        backoff_ms: 100,
        max_backoff_ms: 10_000,
        max_failures: 3,
    }
}

#[tokio::test]
async fn a_failed_turn_backs_off_doubling_then_parks_and_unpark_takes_it_back() {
    for t in stores().await {
        let s = &t.store;
        create(s, "i1", 0).await;
        // Not leased to this worker: nothing is counted.
        assert_eq!(
            s.turn_failed(failed("w", 10)).await.unwrap(),
            AfterFailure::NotLeased,
            "{}",
            t.backend
        );
        lease(s, "i1", "w", 10).await;
        assert_eq!(
            s.turn_failed(failed("other", 10)).await.unwrap(),
            AfterFailure::NotLeased,
            "{}",
            t.backend
        );
        assert_eq!(
            s.turn_failed(failed("w", 20)).await.unwrap(),
            AfterFailure::RetryAt(120),
            "{}",
            t.backend
        );
        // The lease is given back, and the next turn waits for the backoff.
        assert!(
            s.claim_instances("w", 119, 119 + LEASE, 10)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.backend
        );
        lease(s, "i1", "w", 120).await;
        assert_eq!(
            s.turn_failed(failed("w", 130)).await.unwrap(),
            AfterFailure::RetryAt(330),
            "{}",
            t.backend
        );
        lease(s, "i1", "w", 330).await;
        assert_eq!(
            s.turn_failed(failed("w", 340)).await.unwrap(),
            AfterFailure::Parked,
            "{}",
            t.backend
        );
        let parked = s.instance("i1").await.unwrap().unwrap();
        assert_eq!(parked.status, Status::Parked, "{}", t.backend);
        assert_eq!(
            parked.parked.as_deref(),
            Some(
                "3 turns in a row failed outside the orchestrator; the last: module will not load"
            ),
            "{}",
            t.backend
        );
        assert_eq!(parked.updated_at, 340, "{}", t.backend);
        // Parked: its start waits, however long.
        assert!(
            s.claim_instances("w", 1_000_000, 1_000_000 + LEASE, 10)
                .await
                .unwrap()
                .is_empty(),
            "{}",
            t.backend
        );
        assert!(s.unpark("i1", 400).await.unwrap(), "{}", t.backend);
        assert!(!s.unpark("i1", 410).await.unwrap(), "{}", t.backend);
        assert!(!s.unpark("nobody", 410).await.unwrap(), "{}", t.backend);
        let back = s.instance("i1").await.unwrap().unwrap();
        // It never completed a turn: Pending again, failures forgotten, no backoff.
        assert_eq!(back.status, Status::Pending, "{}", t.backend);
        assert_eq!(back.parked, None, "{}", t.backend);
        assert_eq!(back.updated_at, 400, "{}", t.backend);
        lease(s, "i1", "w", 400).await;
        assert_eq!(
            s.turn_failed(failed("w", 410)).await.unwrap(),
            AfterFailure::RetryAt(510),
            "{}",
            t.backend
        );
    }
}

#[tokio::test]
async fn an_instance_that_ran_a_turn_comes_back_running() {
    for t in stores().await {
        let s = &t.store;
        crate::work_items::scheduled(s, "i1", 0, 0).await;
        s.send(vec![crate::work_items::result("i1", 0, 10)])
            .await
            .unwrap();
        lease(s, "i1", "w", 10).await;
        let mut f = failed("w", 20);
        f.max_failures = 1;
        assert_eq!(
            s.turn_failed(f).await.unwrap(),
            AfterFailure::Parked,
            "{}",
            t.backend
        );
        assert!(s.unpark("i1", 30).await.unwrap(), "{}", t.backend);
        let back = s.instance("i1").await.unwrap().unwrap();
        assert_eq!(back.status, Status::Running, "{}", t.backend);
        assert_eq!(
            s.claim_instances("w", 30, 30 + LEASE, 10).await.unwrap(),
            ["i1"],
            "{}",
            t.backend
        );
    }
}
