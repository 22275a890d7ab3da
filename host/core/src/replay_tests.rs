//! Unit tests of the replay core: recorded turns, live turns and divergences.

use super::*;
use serde_json::json;

fn started() -> HistoryEvent {
    HistoryEvent::ExecutionStarted {
        name: "Orch".into(),
        module: "digest".into(),
        input: json!(null),
        parent: None,
    }
}

fn live(time_ms: u64, messages: Vec<HistoryEvent>) -> LiveBatch {
    LiveBatch {
        time_ms,
        messages,
        updates: Vec::new(),
    }
}

fn update(id: &str) -> UpdateRequest {
    UpdateRequest {
        id: id.into(),
        name: "AddComment".into(),
        input: json!({"text": id}),
    }
}

fn activity(name: &str, input: Value) -> Call {
    Call::Activity {
        name: name.into(),
        input,
        options: ActivityOptions::default(),
    }
}

/// Runs the first turn of a new execution: schedule A, block.
fn first_turn() -> Vec<HistoryEvent> {
    let mut core = Replay::new("i1", vec![], live(10, vec![started()]));
    assert!(!core.is_replaying());
    assert_eq!(core.schedule(activity("A", json!(1))).unwrap(), 0);
    assert_eq!(core.poll_all(&[0]).unwrap(), None);
    assert_eq!(core.on_blocked().unwrap(), Blocked::EndOfTurn);
    core.take_new_events()
}

#[test]
fn a_new_execution_records_its_first_turn() {
    let events = first_turn();
    let kinds: Vec<_> = events.iter().map(HistoryEvent::kind).collect();
    assert_eq!(
        kinds,
        ["OrchestratorStarted", "ExecutionStarted", "TaskScheduled"]
    );
}

#[test]
fn replay_answers_from_history_then_goes_live() {
    let mut recorded = first_turn();
    recorded.push(HistoryEvent::OrchestratorStarted { time_ms: 20 });
    recorded.push(HistoryEvent::TaskCompleted {
        id: 0,
        output: json!("a"),
    });
    let mut core = Replay::new(
        "i1",
        recorded.clone(),
        live(30, vec![HistoryEvent::TimerFired { id: 9 }]),
    );
    assert!(core.is_replaying());
    assert_eq!(core.now_ms(), 10);
    assert_eq!(core.schedule(activity("A", json!(1))).unwrap(), 0);
    assert_eq!(core.poll_all(&[0]).unwrap(), None);
    assert_eq!(core.on_blocked().unwrap(), Blocked::Delivered);
    assert_eq!(core.now_ms(), 20);
    assert_eq!(
        core.poll_all(&[0]).unwrap(),
        Some(vec![Outcome::Ok(json!("a"))])
    );
    // The recorded turn is done; the next call is new and makes the core go live.
    assert_eq!(
        core.schedule(activity("B", json!(2))),
        Err(NonDeterminism {
            instance: "i1".into(),
            event_index: 5,
            recorded: "no further call (the orchestrator waited next)".into(),
            requested: "calls call-activity #1 B 2".into(),
        })
    );
}

#[test]
fn the_live_batch_is_applied_after_the_recorded_turns() {
    let recorded = first_turn();
    let mut core = Replay::new(
        "i1",
        recorded,
        live(
            20,
            vec![HistoryEvent::TaskCompleted {
                id: 0,
                output: json!("a"),
            }],
        ),
    );
    assert_eq!(core.schedule(activity("A", json!(1))).unwrap(), 0);
    assert_eq!(core.on_blocked().unwrap(), Blocked::Delivered);
    assert!(!core.is_replaying());
    assert!(core.poll_all(&[0]).unwrap().is_some());
    assert_eq!(core.schedule(activity("B", json!(2))).unwrap(), 1);
    core.complete(Ok(json!("done"))).unwrap();
    let kinds: Vec<_> = core
        .take_new_events()
        .iter()
        .map(HistoryEvent::kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "OrchestratorStarted",
            "TaskCompleted",
            "TaskScheduled",
            "ExecutionCompleted"
        ]
    );
}

#[test]
fn a_different_call_is_a_divergence_naming_both_calls() {
    let recorded = first_turn();
    let mut core = Replay::new("i1", recorded, live(20, vec![]));
    let err = core
        .schedule(activity("Other", json!({"x": 1})))
        .unwrap_err();
    assert_eq!(err.event_index, 2);
    assert_eq!(err.recorded, "TaskScheduled #0 A 1");
    assert_eq!(err.requested, r#"calls call-activity #0 Other {"x":1}"#);
    assert!(err.to_string().contains("instance i1"));
}

#[test]
fn blocking_before_reissuing_a_recorded_call_is_a_divergence() {
    let recorded = first_turn();
    let mut core = Replay::new("i1", recorded, live(20, vec![]));
    let err = core.on_blocked().unwrap_err();
    assert_eq!(err.event_index, 2);
    assert_eq!(err.requested, "waits for its tasks instead");
}

#[test]
fn events_are_buffered_and_taken_in_order() {
    let raised = |data: i32| HistoryEvent::EventRaised {
        name: "Approved".into(),
        data: json!(data),
    };
    let mut core = Replay::new("i1", vec![], live(1, vec![started(), raised(1), raised(2)]));
    let first = core
        .schedule(Call::WaitEvent {
            name: "Approved".into(),
        })
        .unwrap();
    let second = core
        .schedule(Call::WaitEvent {
            name: "Approved".into(),
        })
        .unwrap();
    assert_eq!(
        core.poll_all(&[second, first]).unwrap(),
        Some(vec![Outcome::Ok(json!(2)), Outcome::Ok(json!(1))])
    );
}

#[test]
fn continuing_as_new_carries_over_the_events_no_wait_took_only_when_asked() {
    let raised = |name: &str, data: i32| HistoryEvent::EventRaised {
        name: name.into(),
        data: json!(data),
    };
    let messages = vec![
        started(),
        raised("A", 1),
        raised("B", 2),
        raised("A", 3),
        raised("C", 4),
    ];
    for keep in [true, false] {
        let mut core = Replay::new("i1", vec![], live(1, messages.clone()));
        // One wait for A takes the first A; B and the second A and C were never waited for.
        let a = core.schedule(Call::WaitEvent { name: "A".into() }).unwrap();
        assert_eq!(
            core.poll_all(&[a]).unwrap(),
            Some(vec![Outcome::Ok(json!(1))])
        );
        core.continue_as_new(json!("next"), keep);
        core.complete(Ok(json!(null))).unwrap();
        let carried = match core.take_new_events().last() {
            Some(HistoryEvent::ContinuedAsNew { input, carried }) => {
                assert_eq!(input, &json!("next"));
                carried.clone()
            }
            other => panic!("ended with {other:?}"),
        };
        let names: Vec<(&str, serde_json::Value)> = carried
            .iter()
            .map(|e| (e.name.as_str(), e.data.clone()))
            .collect();
        if keep {
            assert_eq!(names, [("B", json!(2)), ("A", json!(3)), ("C", json!(4))]);
        } else {
            assert!(names.is_empty(), "{names:?}");
        }
    }
}

#[test]
fn await_any_picks_the_task_resolved_first_in_history() {
    let mut core = Replay::new("i1", vec![], live(1, vec![started()]));
    let timer = core.schedule(Call::Timer { fire_at_ms: 5 }).unwrap();
    let event = core
        .schedule(Call::WaitEvent { name: "Go".into() })
        .unwrap();
    assert_eq!(core.poll_any(&[timer, event]).unwrap(), None);
    assert_eq!(core.on_blocked().unwrap(), Blocked::EndOfTurn);
    core.push_live(live(
        9,
        vec![
            HistoryEvent::EventRaised {
                name: "Go".into(),
                data: json!("yes"),
            },
            HistoryEvent::TimerFired { id: timer },
        ],
    ));
    assert_eq!(core.on_blocked().unwrap(), Blocked::Delivered);
    assert_eq!(
        core.poll_any(&[timer, event]).unwrap(),
        Some((event, Outcome::Ok(json!("yes"))))
    );
}

#[test]
fn awaiting_an_unknown_task_is_a_misuse() {
    let core = Replay::new("i1", vec![], live(1, vec![started()]));
    assert_eq!(core.poll_all(&[3]), Err(Misuse::UnknownTask(3)));
    assert_eq!(core.poll_any(&[]), Err(Misuse::EmptyAwaitAny));
}

#[test]
fn a_failure_during_replay_is_recorded_after_the_live_turn_start() {
    let recorded = first_turn();
    let mut core = Replay::new("i1", recorded, live(20, vec![]));
    core.fail(Failure::new("Trap", "boom"));
    let kinds: Vec<_> = core
        .take_new_events()
        .iter()
        .map(HistoryEvent::kind)
        .collect();
    assert_eq!(kinds, ["OrchestratorStarted", "ExecutionFailed"]);
}

/// An update is handed over at the first wait after its delivery; accepted, it is recorded with what
/// its handler scheduled and its result, and a replay hands it over at the same wait. A turn of
/// updates that were all rejected records nothing, not even its marker.
#[test]
fn updates_are_recorded_once_accepted_and_replayed_at_the_same_wait() {
    let mut core = Replay::new("i1", vec![], live(10, vec![started()]));
    assert_eq!(core.schedule(activity("A", json!(1))).unwrap(), 0);
    assert_eq!(core.take_update(), None);
    assert_eq!(core.poll_all(&[0]).unwrap(), None);
    assert_eq!(core.on_blocked().unwrap(), Blocked::EndOfTurn);
    let first = core.take_new_events();
    core.push_live(LiveBatch {
        time_ms: 30,
        messages: vec![],
        updates: vec![update("u1"), update("u2")],
    });
    assert_eq!(core.on_blocked().unwrap(), Blocked::Delivered);
    // u1 is rejected: nothing is recorded.
    assert_eq!(core.take_update(), Some((update("u1"), false)));
    assert!(core.take_new_events().is_empty());
    // u2 is accepted; its handler schedules B and answers.
    let (u2, recorded) = core.take_update().unwrap();
    assert!(!recorded);
    core.accept_update(u2);
    assert_eq!(core.schedule(activity("B", json!(2))).unwrap(), 1);
    core.finish_update("u2".into(), Ok(json!({"comments": 1})))
        .unwrap();
    assert_eq!(core.take_update(), None);
    assert_eq!(core.poll_all(&[0]).unwrap(), None);
    assert_eq!(core.on_blocked().unwrap(), Blocked::EndOfTurn);
    let second = core.take_new_events();
    let kinds: Vec<_> = second.iter().map(HistoryEvent::kind).collect();
    assert_eq!(
        kinds,
        [
            "OrchestratorStarted",
            "UpdateAccepted",
            "TaskScheduled",
            "UpdateCompleted"
        ]
    );

    // A replay meets the accepted update at the same wait, and checks the handler's calls.
    let mut recorded = first;
    recorded.extend(second);
    let replay_to_answer = || {
        let mut replay = Replay::new("i1", recorded.clone(), live(40, vec![]));
        assert_eq!(replay.schedule(activity("A", json!(1))).unwrap(), 0);
        assert_eq!(replay.take_update(), None);
        assert_eq!(replay.poll_all(&[0]).unwrap(), None);
        assert_eq!(replay.on_blocked().unwrap(), Blocked::Delivered);
        let (u2, recorded) = replay.take_update().unwrap();
        assert_eq!(u2, update("u2"));
        assert!(recorded);
        replay.accept_update(u2);
        assert_eq!(replay.schedule(activity("B", json!(2))).unwrap(), 1);
        replay
    };
    // Another id than the one recorded is a divergence; the same id with another result is not.
    let error = replay_to_answer()
        .finish_update("u9".into(), Ok(json!(null)))
        .unwrap_err();
    assert_eq!(error.event_index, 6);
    assert_eq!(error.requested, "calls answer-update u9 null");
    let mut replay = replay_to_answer();
    replay
        .finish_update("u2".into(), Err(Failure::new("Changed", "x")))
        .unwrap();
    assert_eq!(replay.take_update(), None);
    assert_eq!(replay.poll_all(&[0]).unwrap(), None);
    assert_eq!(replay.on_blocked().unwrap(), Blocked::Delivered);
    assert!(!replay.is_replaying());
    assert_eq!(replay.on_blocked().unwrap(), Blocked::EndOfTurn);
    assert_eq!(
        replay.take_new_events().len(),
        1,
        "only the live turn's marker"
    );
}

/// A canceled task resolves as `Canceled` at the cancellation; a canceled wait for an event gives
/// its place to the next wait of that name; a replay re-issues the cancellation at the same point
/// and another task canceled there is a divergence.
#[test]
fn a_canceled_task_resolves_at_once_and_a_canceled_wait_gives_up_its_event() {
    let go = |n: i64| HistoryEvent::EventRaised {
        name: "Go".into(),
        data: json!(n),
    };
    let mut core = Replay::new("i1", vec![], live(10, vec![started()]));
    let timer = core.schedule(Call::Timer { fire_at_ms: 99 }).unwrap();
    let wait = |core: &mut Replay| {
        core.schedule(Call::WaitEvent { name: "Go".into() })
            .unwrap()
    };
    let (first, second, third) = (wait(&mut core), wait(&mut core), wait(&mut core));
    assert!(!core.is_resolved(timer).unwrap());
    core.cancel(timer).unwrap();
    core.cancel(second).unwrap();
    assert!(core.is_resolved(timer).unwrap());
    assert!(matches!(core.is_resolved(9), Err(Misuse::UnknownTask(9))));
    match core.poll_any(&[first, second]).unwrap() {
        Some((task, Outcome::Err(failure))) => {
            assert_eq!((task, failure.kind.as_str()), (second, "Canceled"));
        }
        other => panic!("the canceled wait gave {other:?}"),
    }
    assert_eq!(core.poll_all(&[first, third]).unwrap(), None);
    assert_eq!(core.on_blocked().unwrap(), Blocked::EndOfTurn);
    let mut recorded = core.take_new_events();
    // Two events: the first wait takes the first, the third wait (not the canceled second) the next.
    core.push_live(live(20, vec![go(1), go(2)]));
    assert_eq!(core.on_blocked().unwrap(), Blocked::Delivered);
    assert_eq!(
        core.poll_all(&[first, third]).unwrap(),
        Some(vec![Outcome::Ok(json!(1)), Outcome::Ok(json!(2))])
    );
    // A timer firing after its cancellation changes nothing.
    recorded.extend([
        HistoryEvent::OrchestratorStarted { time_ms: 20 },
        go(1),
        go(2),
    ]);
    let mut replay = Replay::new(
        "i1",
        recorded.clone(),
        live(30, vec![HistoryEvent::TimerFired { id: 0 }]),
    );
    let timer = replay.schedule(Call::Timer { fire_at_ms: 99 }).unwrap();
    let (first, second, _third) = (wait(&mut replay), wait(&mut replay), wait(&mut replay));
    replay.cancel(timer).unwrap();
    let diverged = replay.cancel(first).unwrap_err();
    assert_eq!(diverged.requested, "calls cancel #1");
    let mut replay = Replay::new(
        "i1",
        recorded,
        live(30, vec![HistoryEvent::TimerFired { id: 0 }]),
    );
    let timer = replay.schedule(Call::Timer { fire_at_ms: 99 }).unwrap();
    let (_first, second_again, third) = (wait(&mut replay), wait(&mut replay), wait(&mut replay));
    replay.cancel(timer).unwrap();
    replay.cancel(second_again).unwrap();
    assert_eq!(second_again, second);
    assert_eq!(replay.poll_all(&[third]).unwrap(), None);
    assert_eq!(replay.on_blocked().unwrap(), Blocked::Delivered);
    assert_eq!(
        replay.poll_all(&[third]).unwrap(),
        Some(vec![Outcome::Ok(json!(2))])
    );
    assert_eq!(replay.on_blocked().unwrap(), Blocked::Delivered);
    match replay.poll_all(&[timer]).unwrap() {
        Some(outcomes) => assert!(matches!(&outcomes[0], Outcome::Err(f) if f.kind == "Canceled")),
        None => panic!("the canceled timer is unresolved"),
    }
}
