//! Schedules: a name is taken once, a firing starts its instance and moves the schedule on only
//! while it is still the one due (so two workers that fire one time start one instance), an id
//! already held is left alone, pausing and resuming, and the due list.

use keel_store::{NewInstance, ScheduleChange, ScheduleRow};
use serde_json::json;

use crate::support::stores;

fn schedule(name: &str, next_fire_ms: u64) -> ScheduleRow {
    ScheduleRow {
        name: name.to_owned(),
        orchestrator: "Report".to_owned(),
        input: r#"{"n":1}"#.to_owned(),
        spec: "every:60000".to_owned(),
        timezone: "UTC".to_owned(),
        overlap: "skip".to_owned(),
        catch_up: "latest".to_owned(),
        paused: false,
        next_fire_ms,
        last_fire_ms: None,
        last_instance: None,
        fired: 0,
        skipped: 0,
        created_ms: 500,
        jitter_ms: 0,
    }
}

fn instance(id: &str, n: u32) -> NewInstance {
    NewInstance {
        id: id.to_owned(),
        name: "Report".to_owned(),
        module: "digest-1".to_owned(),
        input: json!({ "n": n }),
        parent: None,
    }
}

fn fired(
    name: &str,
    fire_ms: u64,
    next_fire_ms: u64,
    start: Option<NewInstance>,
) -> ScheduleChange {
    ScheduleChange::Fired {
        name: name.to_owned(),
        fire_ms,
        time_ms: fire_ms,
        next_fire_ms,
        start,
        now: fire_ms,
    }
}

#[tokio::test]
async fn a_name_is_taken_once_and_a_firing_is_recorded_once() {
    for t in stores().await {
        let s = &t.store;
        let b = &t.backend;
        assert!(
            s.change_schedule(ScheduleChange::Create(schedule("hourly", 1_000)))
                .await
                .unwrap()
        );
        // The name is taken: nothing changes, whatever the definition.
        assert!(
            !s.change_schedule(ScheduleChange::Create(schedule("hourly", 7)))
                .await
                .unwrap()
        );
        assert!(
            s.change_schedule(ScheduleChange::Create(schedule("daily", 5_000)))
                .await
                .unwrap()
        );
        let names: Vec<_> = s
            .schedules(None)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["daily", "hourly"], "{b}");

        // Two workers fire 1000: the first starts the instance and moves the schedule on, the
        // second finds it moved on and starts nothing.
        let first = fired("hourly", 1_000, 61_000, Some(instance("hourly@1", 1)));
        assert!(s.change_schedule(first).await.unwrap());
        let started = s
            .instance("hourly@1")
            .await
            .unwrap()
            .expect("the firing's instance");
        assert_eq!(
            (started.name.as_str(), started.created_at),
            ("Report", 1_000),
            "{b}"
        );
        let second = fired("hourly", 1_000, 61_000, Some(instance("hourly@1", 2)));
        assert!(!s.change_schedule(second).await.unwrap());
        assert_eq!(
            s.instance("hourly@1").await.unwrap().unwrap().input,
            json!({ "n": 1 }),
            "{b}"
        );
        // A skipped firing counts as skipped and keeps the last instance.
        assert!(
            s.change_schedule(fired("hourly", 61_000, 121_000, None))
                .await
                .unwrap()
        );
        let hourly = s.schedules(None).await.unwrap().pop().unwrap();
        assert_eq!(
            (
                hourly.next_fire_ms,
                hourly.last_fire_ms,
                hourly.last_instance.as_deref()
            ),
            (121_000, Some(61_000), Some("hourly@1")),
            "{b}"
        );
        assert_eq!((hourly.fired, hourly.skipped), (1, 1), "{b}");
        assert_eq!(hourly.input, r#"{"n":1}"#, "{b}");
        assert_eq!(hourly.created_ms, 500, "{b}");

        // A paused schedule does not fire, even a firing read as due before the pause.
        let pause = ScheduleChange::Pause {
            name: "hourly".into(),
            paused: true,
            next_fire_ms: None,
        };
        assert!(s.change_schedule(pause).await.unwrap());
        let in_flight = fired("hourly", 121_000, 181_000, Some(instance("hourly@2", 2)));
        assert!(!s.change_schedule(in_flight).await.unwrap());
        assert!(s.instance("hourly@2").await.unwrap().is_none(), "{b}");
        let resume = ScheduleChange::Pause {
            name: "hourly".into(),
            paused: false,
            next_fire_ms: None,
        };
        assert!(s.change_schedule(resume).await.unwrap());

        // An instance holding the firing's id is left alone (a firing done again after a crash).
        s.create_instance(instance("hourly@3", 3), 100)
            .await
            .unwrap();
        let again = fired("hourly", 121_000, 181_000, Some(instance("hourly@3", 4)));
        assert!(s.change_schedule(again).await.unwrap());
        assert_eq!(
            s.instance("hourly@3").await.unwrap().unwrap().input,
            json!({ "n": 3 }),
            "{b}"
        );

        assert!(
            s.change_schedule(ScheduleChange::Delete {
                name: "daily".into()
            })
            .await
            .unwrap()
        );
        assert!(
            !s.change_schedule(ScheduleChange::Delete {
                name: "daily".into()
            })
            .await
            .unwrap()
        );
        assert_eq!(s.schedules(None).await.unwrap().len(), 1, "{b}");
    }
}

#[tokio::test]
async fn only_running_schedules_whose_time_came_are_due_earliest_first() {
    for t in stores().await {
        let s = &t.store;
        let b = &t.backend;
        for (name, next) in [("a", 3_000), ("b", 1_000), ("c", 9_000)] {
            s.change_schedule(ScheduleChange::Create(schedule(name, next)))
                .await
                .unwrap();
        }
        let due = |now| async move {
            s.schedules(Some(now))
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(due(5_000).await, ["b", "a"], "{b}");
        let pause = ScheduleChange::Pause {
            name: "b".into(),
            paused: true,
            next_fire_ms: None,
        };
        assert!(s.change_schedule(pause).await.unwrap());
        assert_eq!(due(5_000).await, ["a"], "{b}");
        // Resumed with a new next firing.
        let resume = ScheduleChange::Pause {
            name: "b".into(),
            paused: false,
            next_fire_ms: Some(8_000),
        };
        assert!(s.change_schedule(resume).await.unwrap());
        assert_eq!(due(5_000).await, ["a"], "{b}");
        assert_eq!(due(10_000).await, ["a", "b", "c"], "{b}");
        let unknown = ScheduleChange::Pause {
            name: "zz".into(),
            paused: true,
            next_fire_ms: None,
        };
        assert!(!s.change_schedule(unknown).await.unwrap());
    }
}
