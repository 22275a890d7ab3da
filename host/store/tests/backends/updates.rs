//! Clients' updates: sending one stores it and queues its message in one transaction, an id sent
//! again changes nothing and returns the update as stored, a turn's commit sets the outcomes of
//! the updates it served (once), and a purge removes them with the instance.

use keel_store::{Message, NewUpdate, Status, UpdateDone, UpdateRow, UpdateState};
use serde_json::json;

use crate::support::stores;
use crate::turns::{message, read, running, turn};

fn update(instance: &str, id: &str, input: serde_json::Value, at: u64) -> NewUpdate {
    let message = message(
        instance,
        Message::Update {
            id: id.to_owned(),
            name: "Add".to_owned(),
            input: input.clone(),
        },
        at,
    );
    NewUpdate {
        row: UpdateRow {
            instance: instance.to_owned(),
            id: id.to_owned(),
            name: "Add".to_owned(),
            input,
            state: UpdateState::Requested,
            outcome: None,
            requested_ms: at,
            finished_ms: None,
        },
        message,
    }
}

#[tokio::test]
async fn an_update_is_sent_once_and_its_outcome_is_set_by_the_turn_that_served_it() {
    for t in stores().await {
        let s = &t.store;
        let b = &t.backend;
        running(s, "i", "w", 10).await;
        let sent = s.request_update(update("i", "u1", json!(5), 20)).await;
        assert_eq!(sent.unwrap().state, UpdateState::Requested, "{b}");
        // The same id again: nothing more is queued, and the stored update comes back (the first
        // input, not this one).
        let again = s
            .request_update(update("i", "u1", json!(6), 21))
            .await
            .unwrap();
        assert_eq!((again.input, again.requested_ms), (json!(5), 20), "{b}");
        s.request_update(update("i", "u2", json!(7), 22))
            .await
            .unwrap();
        let inbox = s.inbox("i", 30).await.unwrap();
        let updates: Vec<_> = inbox
            .iter()
            .filter_map(|(_, _, m)| match m {
                Message::Update { id, input, .. } => Some((id.clone(), input.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            updates,
            [("u1".to_owned(), json!(5)), ("u2".to_owned(), json!(7))],
            "{b}"
        );

        // A turn serves both: u1 completed, u2 rejected.
        assert!(s.claim_instances("w", 30, 1000, 10).await.unwrap().len() == 1);
        let mut c = turn(s, "i", "w", 30, vec![], Status::Running).await;
        c.updates = vec![
            UpdateDone {
                id: "u1".to_owned(),
                state: UpdateState::Completed,
                outcome: json!(5),
            },
            UpdateDone {
                id: "u2".to_owned(),
                state: UpdateState::Rejected,
                outcome: json!({"kind": "Negative", "message": "no"}),
            },
        ];
        s.commit_turn(c).await.unwrap();
        let u1 = s.update("i", "u1").await.unwrap().unwrap();
        assert_eq!(
            (u1.state, u1.outcome, u1.finished_ms),
            (UpdateState::Completed, Some(json!(5)), Some(30)),
            "{b}"
        );
        let u2 = s.update("i", "u2").await.unwrap().unwrap();
        assert_eq!(u2.state, UpdateState::Rejected, "{b}");
        assert!(s.inbox("i", 30).await.unwrap().is_empty(), "{b}");
        assert_eq!(
            read(s, "i").await.history_len,
            1,
            "{b}: no events were recorded"
        );

        // An outcome is set once: a later commit naming u1 changes nothing.
        assert!(
            s.claim_instances("w", 40, 1000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        s.request_update(update("i", "u3", json!(1), 40))
            .await
            .unwrap();
        assert!(s.claim_instances("w", 40, 1000, 10).await.unwrap().len() == 1);
        let mut c = turn(s, "i", "w", 40, vec![], Status::Running).await;
        c.updates = vec![UpdateDone {
            id: "u1".to_owned(),
            state: UpdateState::Failed,
            outcome: json!({"kind": "Late", "message": "no"}),
        }];
        s.commit_turn(c).await.unwrap();
        let u1 = s.update("i", "u1").await.unwrap().unwrap();
        assert_eq!(u1.state, UpdateState::Completed, "{b}");

        // Gone with the instance.
        assert!(s.purge("i").await.unwrap(), "{b}");
        assert_eq!(s.update("i", "u1").await.unwrap(), None, "{b}");
        assert_eq!(s.update("i", "u3").await.unwrap(), None, "{b}");
    }
}
