//! The reads of a turn and of a worker's poll: an instance, its history and inbox, and what is due.

use keel_core::history::{ActivityOptions, HistoryEvent};
use keel_store::{Message, NewWorkItem, Status, TurnCommit};
use serde_json::json;

use crate::support::stores;
use crate::turns::{event, message, new_instance};

#[tokio::test]
async fn a_missing_instance_reads_as_nothing() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        assert!(s.instance("nope").await.unwrap().is_none(), "{b}");
        assert!(s.history("nope").await.unwrap().is_empty(), "{b}");
        assert!(
            s.execution_history("nope", 1).await.unwrap().is_empty(),
            "{b}"
        );
        assert!(s.inbox("nope", u64::MAX).await.unwrap().is_empty(), "{b}");
        assert_eq!(s.due_work(0, 10).await.unwrap(), (0, 0), "{b}");
        assert_eq!(s.next_due(0).await.unwrap(), None, "{b}");
    }
}

#[tokio::test]
async fn the_inbox_lists_visible_messages_by_time_then_arrival() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        s.create_instance(new_instance("a", "Hello"), 50)
            .await
            .unwrap();
        s.send(vec![
            message("a", event("third"), 60),
            message("a", event("first"), 40),
            message("a", event("second"), 50),
            message("a", event("future"), 100),
        ])
        .await
        .unwrap();
        let inbox = s.inbox("a", 60).await.unwrap();
        let listed: Vec<_> = inbox.iter().map(|(_, _, m)| m.clone()).collect();
        assert_eq!(
            listed,
            [
                event("first"),
                Message::Start,
                event("second"),
                event("third")
            ],
            "{b}"
        );
        // Message::Start was queued before "second", at the same time: arrival order breaks the tie.
        assert!(inbox[1].0 < inbox[2].0, "{b}");
        assert_eq!(s.inbox("a", 100).await.unwrap().len(), 5, "{b}");
        assert_eq!(s.next_due(60).await.unwrap(), Some(100), "{b}");
        assert_eq!(s.next_due(100).await.unwrap(), None, "{b}");
    }
}

#[tokio::test]
async fn due_work_counts_claimable_instances_and_work_items_up_to_a_bound() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        for n in 0..5 {
            s.create_instance(new_instance(&format!("i{n}"), "Hello"), 10)
                .await
                .unwrap();
        }
        assert_eq!(s.due_work(10, 3).await.unwrap(), (3, 0), "{b}");
        assert_eq!(s.due_work(10, 10).await.unwrap(), (5, 0), "{b}");
        assert_eq!(s.due_work(9, 10).await.unwrap(), (0, 0), "{b}");
        assert_eq!(s.next_due(9).await.unwrap(), Some(10), "{b}");
        // Every instance is leased until 15; one turn schedules four activities at 20.
        s.claim_instances("w", 10, 15, 10).await.unwrap();
        assert_eq!(s.due_work(10, 10).await.unwrap(), (0, 0), "{b}");
        let leased = "i0";
        let mut c = TurnCommit::of(&s.instance(leased).await.unwrap().unwrap(), "w", 20);
        c.status = Status::Running;
        c.events = vec![HistoryEvent::OrchestratorStarted { time_ms: 20 }];
        c.consumed = s
            .inbox(leased, 20)
            .await
            .unwrap()
            .into_iter()
            .map(|(row, _, _)| row)
            .collect();
        c.work_items = (0..4)
            .map(|task_id| NewWorkItem {
                task_id,
                name: "Greet".to_owned(),
                input: json!(null),
                options: ActivityOptions::default(),
                attempt: 1,
                not_before: None,
            })
            .collect();
        s.commit_turn(c).await.unwrap();
        assert_eq!(s.due_work(20, 10).await.unwrap(), (4, 4), "{b}");
        assert_eq!(s.due_work(20, 2).await.unwrap(), (2, 2), "{b}");
        assert_eq!(s.due_work(19, 10).await.unwrap(), (4, 0), "{b}");
        assert_eq!(s.next_due(19).await.unwrap(), Some(20), "{b}");
        assert_eq!(
            s.history(leased).await.unwrap()[0].event,
            HistoryEvent::OrchestratorStarted { time_ms: 20 },
            "{b}"
        );
    }
}

#[tokio::test]
async fn a_nul_in_an_id_is_stored_by_sqlite_and_refused_with_a_typed_error_by_postgres() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        let created = s.create_instance(new_instance("a\0b", "Hello"), 50).await;
        let read = s.instance("a\0b").await;
        if b == "postgres" {
            assert!(
                matches!(created, Err(keel_store::Error::Unstorable(_))),
                "{b}: {created:?}"
            );
            assert!(
                matches!(read, Err(keel_store::Error::Unstorable(_))),
                "{b}: {read:?}"
            );
        } else {
            created.unwrap();
            assert_eq!(read.unwrap().unwrap().id, "a\0b", "{b}");
        }
    }
}
