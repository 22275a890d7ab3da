//! Activity heartbeats: recorded only while the worker holds the item, kept through a retry (the
//! details the attempt gave last) and a host failure, given to the next claim with the time the
//! previous run's lease ran out when it ran out, and listed with the instance's activities.

use keel_core::history::{Failure, HistoryEvent};
use keel_store::{FinishWorkItem, Finished, Message, OutMessage};
use serde_json::json;

use crate::support::stores;
use crate::work_items::{LEASE, result, scheduled};

#[tokio::test]
async fn heartbeats_are_kept_for_the_next_attempt_and_listed_with_the_activities() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        scheduled(s, "i1", 2, 100).await;
        let first = s.claim_work_items("a", 100, 100 + LEASE, 1).await.unwrap();
        assert_eq!(first[0].heartbeat, None, "{b}");
        assert_eq!(first[0].abandoned_at, None, "{b}");
        let id = first[0].id;

        // Recorded for the holder only.
        assert!(
            s.record_heartbeat(id, "a", json!({"n": 1}), 150)
                .await
                .unwrap(),
            "{b}"
        );
        assert!(
            !s.record_heartbeat(id, "b", json!({"n": 9}), 150)
                .await
                .unwrap(),
            "{b}"
        );
        let listed = s.activities("i1", 160).await.unwrap();
        assert_eq!(listed.len(), 2, "{b}: {listed:?}");
        assert_eq!(listed[0].task_id, 0, "{b}");
        assert_eq!(listed[0].name, "Act", "{b}");
        assert!(listed[0].running, "{b}");
        assert_eq!(listed[0].heartbeat, Some(json!({"n": 1})), "{b}");
        assert_eq!(listed[0].heartbeat_ms, Some(150), "{b}");
        assert!(!listed[1].running, "{b}");
        assert_eq!(listed[1].heartbeat, None, "{b}");

        // The worker stops: the next claim, once the lease ran out, gets the details and when it
        // ran out.
        let later = 100 + LEASE + 1;
        let again = s
            .claim_work_items("b", later, later + LEASE, 1)
            .await
            .unwrap();
        assert_eq!(again[0].id, id, "{b}");
        assert_eq!(again[0].heartbeat, Some(json!({"n": 1})), "{b}");
        assert_eq!(again[0].abandoned_at, Some(100 + LEASE), "{b}");
        assert!(
            !s.activities("i1", later + LEASE + 1).await.unwrap()[0].running,
            "{b}"
        );

        // A retry keeps the attempt's latest details, written or not.
        let retrying = OutMessage {
            message: Message::Deliver {
                event: HistoryEvent::TaskRetrying {
                    id: 0,
                    failure: Failure::new("HeartbeatTimeout", "silent"),
                    attempt: 1,
                    retry_at_ms: later,
                },
            },
            ..result("i1", 0, later)
        };
        let done = s
            .finish_work_item(
                FinishWorkItem::Retry {
                    id,
                    owner: "b".into(),
                    next_attempt: 2,
                    visible_at: later,
                    message: retrying,
                    heartbeat: Some(json!({"n": 2})),
                },
                Vec::new(),
                None,
                later,
            )
            .await
            .unwrap();
        assert!(matches!(done, Finished::Committed { .. }), "{b}");
        // (The other task's item, due since the start, is claimed with it.)
        let retried: Vec<_> = s
            .claim_work_items("c", later, later + LEASE, 2)
            .await
            .unwrap()
            .into_iter()
            .filter(|w| w.id == id)
            .collect();
        assert_eq!(retried[0].attempt, 2, "{b}");
        assert_eq!(retried[0].heartbeat, Some(json!({"n": 2})), "{b}");
        // Its previous run ended with a result: nothing was abandoned.
        assert_eq!(retried[0].abandoned_at, None, "{b}");

        // A host failure without new details keeps the recorded ones.
        let done = s
            .finish_work_item(
                FinishWorkItem::HostFailed {
                    id,
                    owner: "c".into(),
                    visible_at: later,
                    heartbeat: None,
                },
                Vec::new(),
                None,
                later,
            )
            .await
            .unwrap();
        assert!(matches!(done, Finished::Committed { .. }), "{b}");
        let redelivered = s
            .claim_work_items("d", later, later + LEASE, 1)
            .await
            .unwrap();
        assert_eq!(redelivered[0].heartbeat, Some(json!({"n": 2})), "{b}");
        assert_eq!(redelivered[0].abandoned_at, None, "{b}");

        // An unknown instance has no activities.
        assert!(s.activities("nope", later).await.unwrap().is_empty(), "{b}");
    }
}
