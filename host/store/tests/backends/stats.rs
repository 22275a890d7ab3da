//! Aggregate reads (instances by status, inbox and work queue depths) and the listings over
//! instances and queues: `list`, `pinned_counts`, `waiting_events`, `queued_activity_names`.
//!
//! They read rows that instance creation, messages and turns write: on PostgreSQL they pass once
//! those writes are in.

use keel_core::history::{ActivityOptions, HistoryEvent};
use keel_store::{
    Incarnation, InstanceFilter, Message, NewInstance, NewWorkItem, OutMessage, Status, Store,
    TurnCommit,
};
use serde_json::json;

use crate::support::stores;

async fn create(s: &Store, id: &str, name: &str, module: &str, now: u64) {
    s.create_instance(
        NewInstance {
            id: id.to_owned(),
            name: name.to_owned(),
            module: module.to_owned(),
            input: json!({"id": id}),
            parent: None,
        },
        now,
    )
    .await
    .unwrap();
}

fn message(instance: &str, message: Message, visible_at: u64) -> OutMessage {
    OutMessage {
        instance: instance.to_owned(),
        execution: None,
        incarnation: Incarnation::Any,
        message,
        visible_at,
    }
}

fn event(name: &str) -> Message {
    Message::Deliver {
        event: HistoryEvent::EventRaised {
            name: name.to_owned(),
            data: json!(null),
        },
    }
}

/// Runs one turn of `id` at `now`: consumes its visible messages, schedules `activities` and ends in
/// `status`.
async fn turn(s: &Store, id: &str, now: u64, status: Status, activities: &[&str]) {
    let claimed = s.claim_instances("w", now, now + 1000, 10).await.unwrap();
    assert!(claimed.iter().any(|c| c == id), "{id} claimed");
    let instance = s.instance(id).await.unwrap().unwrap();
    let mut commit = TurnCommit::of(&instance, "w", now);
    commit.consumed = s
        .inbox(id, now)
        .await
        .unwrap()
        .into_iter()
        .map(|(row, ..)| row)
        .collect();
    commit.status = status;
    if status == Status::Completed {
        commit.output = Some(json!("done"));
    }
    commit.work_items = activities
        .iter()
        .enumerate()
        .map(|(task_id, name)| NewWorkItem {
            task_id: u32::try_from(task_id).unwrap(),
            name: (*name).to_owned(),
            input: json!(task_id),
            options: ActivityOptions::default(),
            attempt: 1,
            not_before: None,
        })
        .collect();
    s.commit_turn(commit).await.unwrap();
    for other in claimed.iter().filter(|c| *c != id) {
        s.release_instance(other, "w").await.unwrap();
    }
}

#[tokio::test]
async fn nothing_stored_counts_nothing() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        assert!(s.count_by_status().await.unwrap().is_empty(), "{b}");
        assert_eq!(s.inbox_depth(10).await.unwrap(), (0, 0), "{b}");
        assert_eq!(s.work_queue_depth(10).await.unwrap(), (0, 0), "{b}");
    }
}

#[tokio::test]
async fn instances_are_counted_by_status_in_status_order() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        for id in ["a", "b", "c", "d"] {
            create(s, id, "Flow", "m1", 10).await;
        }
        assert_eq!(
            s.count_by_status().await.unwrap(),
            [(Status::Pending, 4)],
            "{b}"
        );
        turn(s, "c", 20, Status::Completed, &[]).await;
        turn(s, "a", 20, Status::Running, &[]).await;
        turn(s, "d", 20, Status::Running, &[]).await;
        assert_eq!(
            s.count_by_status().await.unwrap(),
            [
                (Status::Pending, 1),
                (Status::Running, 2),
                (Status::Completed, 1)
            ],
            "{b}"
        );
    }
}

#[tokio::test]
async fn inbox_depth_splits_due_messages_from_later_ones() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        create(s, "a", "Flow", "m1", 10).await;
        create(s, "b", "Flow", "m1", 12).await;
        s.send(vec![
            message("a", event("go"), 15),
            message("a", Message::Wake, 50),
        ])
        .await
        .unwrap();
        // Due means visible at or before `now`.
        assert_eq!(s.inbox_depth(9).await.unwrap(), (0, 4), "{b}");
        assert_eq!(s.inbox_depth(10).await.unwrap(), (1, 3), "{b}");
        assert_eq!(s.inbox_depth(15).await.unwrap(), (3, 1), "{b}");
        assert_eq!(s.inbox_depth(50).await.unwrap(), (4, 0), "{b}");
        assert_eq!(s.work_queue_depth(50).await.unwrap(), (0, 0), "{b}");
    }
}

#[tokio::test]
async fn work_queue_depth_and_queued_names_follow_the_scheduled_activities() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        create(s, "a", "Flow", "m1", 10).await;
        create(s, "b", "Flow", "m1", 10).await;
        turn(s, "a", 20, Status::Running, &["Greet", "Fetch@1", "Greet"]).await;
        turn(s, "b", 30, Status::Running, &["Fetch@1"]).await;
        assert_eq!(s.work_queue_depth(19).await.unwrap(), (0, 4), "{b}");
        assert_eq!(s.work_queue_depth(20).await.unwrap(), (3, 1), "{b}");
        assert_eq!(s.work_queue_depth(30).await.unwrap(), (4, 0), "{b}");
        let mut names = s.queued_activity_names().await.unwrap();
        names.sort();
        assert_eq!(names, ["Fetch@1", "Greet"], "{b}");
        // The turns consumed the start messages.
        assert_eq!(s.inbox_depth(30).await.unwrap(), (0, 0), "{b}");
    }
}

#[tokio::test]
async fn waiting_events_counts_raised_events_only_of_that_instance() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        create(s, "a", "Flow", "m1", 10).await;
        create(s, "b", "Flow", "m1", 10).await;
        s.send(vec![
            message("a", event("one"), 10),
            message("a", event("two"), 99),
            message("a", Message::Wake, 10),
            message("b", event("three"), 10),
        ])
        .await
        .unwrap();
        // Whenever visible; the start message and the wake are not events.
        assert_eq!(s.waiting_events("a").await.unwrap(), 2, "{b}");
        assert_eq!(s.waiting_events("b").await.unwrap(), 1, "{b}");
        assert_eq!(s.waiting_events("c").await.unwrap(), 0, "{b}");
    }
}

#[tokio::test]
async fn pinned_counts_count_instances_that_may_still_run_by_module() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        create(s, "a", "Flow", "m1", 10).await;
        create(s, "b", "Flow", "m1", 10).await;
        create(s, "c", "Flow", "m2", 10).await;
        create(s, "d", "Flow", "m3", 10).await;
        turn(s, "b", 20, Status::Running, &[]).await;
        turn(s, "d", 20, Status::Completed, &[]).await;
        let counts = s.pinned_counts().await.unwrap();
        assert_eq!(counts.len(), 2, "{b}: {counts:?}");
        assert_eq!(counts.get("m1"), Some(&2), "{b}");
        assert_eq!(counts.get("m2"), Some(&1), "{b}");
    }
}

fn ids(list: &[keel_store::Instance]) -> Vec<&str> {
    list.iter().map(|i| i.id.as_str()).collect()
}

#[tokio::test]
async fn list_filters_orders_newest_first_and_pages() {
    for t in stores().await {
        let s = &t.store;
        let b = t.backend;
        create(s, "old", "Flow", "m1", 10).await;
        create(s, "b", "Flow", "m1", 20).await;
        create(s, "A", "Other", "m1", 20).await;
        create(s, "a", "Flow", "m1", 20).await;
        create(s, "new", "Other", "m1", 30).await;
        turn(s, "a", 40, Status::Completed, &[]).await;

        let all = s.list(&InstanceFilter::default()).await.unwrap();
        // Newest first; equal times by id, byte order.
        assert_eq!(ids(&all), ["new", "A", "a", "b", "old"], "{b}");
        let a = &all[2];
        assert_eq!(a.status, Status::Completed, "{b}");
        assert_eq!(a.output, Some(json!("done")), "{b}");
        assert_eq!(a.created_at, 20, "{b}");
        assert_eq!(a.updated_at, 40, "{b}");
        assert_eq!(a.input, json!({"id": "a"}), "{b}");
        assert_eq!(a.module, "m1", "{b}");
        assert_eq!(a.execution, 1, "{b}");

        let filter = |f: InstanceFilter| async move { ids(&s.list(&f).await.unwrap()).join(" ") };
        assert_eq!(
            filter(InstanceFilter {
                status: Some(Status::Pending),
                ..Default::default()
            })
            .await,
            "new A b old",
            "{b}"
        );
        assert_eq!(
            filter(InstanceFilter {
                name: Some("Other".to_owned()),
                ..Default::default()
            })
            .await,
            "new A",
            "{b}"
        );
        assert_eq!(
            filter(InstanceFilter {
                status: Some(Status::Pending),
                name: Some("Flow".to_owned()),
                ..Default::default()
            })
            .await,
            "b old",
            "{b}"
        );
        assert_eq!(
            filter(InstanceFilter {
                created_from: Some(20),
                created_to: Some(20),
                ..Default::default()
            })
            .await,
            "A a b",
            "{b}"
        );
        assert_eq!(
            filter(InstanceFilter {
                created_from: Some(21),
                ..Default::default()
            })
            .await,
            "new",
            "{b}"
        );
        assert_eq!(
            filter(InstanceFilter {
                limit: Some(2),
                ..Default::default()
            })
            .await,
            "new A",
            "{b}"
        );
        assert_eq!(
            filter(InstanceFilter {
                limit: Some(0),
                ..Default::default()
            })
            .await,
            "",
            "{b}"
        );
        // Pages: after the last of the previous page, ties broken by id.
        assert_eq!(
            filter(InstanceFilter {
                limit: Some(2),
                after: Some((20, "A".to_owned())),
                ..Default::default()
            })
            .await,
            "a b",
            "{b}"
        );
        assert_eq!(
            filter(InstanceFilter {
                limit: Some(2),
                after: Some((20, "b".to_owned())),
                ..Default::default()
            })
            .await,
            "old",
            "{b}"
        );
        assert_eq!(
            filter(InstanceFilter {
                name: Some("Nobody".to_owned()),
                ..Default::default()
            })
            .await,
            "",
            "{b}"
        );
    }
}
