//! The replay core against random guests and random histories.
//!
//! - `faithful_guests_replay_what_they_recorded`: a random orchestrator program runs turn after turn
//!   against an environment that resolves its tasks in random batches, once hot (one core, batches
//!   pushed as the guest waits) and once cold (a fresh core replaying the stored history each turn, as
//!   after an eviction). Both must record the same history and the cold replays must never report a
//!   divergence. The history is then damaged at one command (changed, removed or duplicated): replaying
//!   it must report `KEEL-ND1`, at that very event when the command was changed.
//! - `random_histories_and_calls_never_panic`: arbitrary recorded events and an arbitrary sequence of
//!   context calls, as a buggy or malicious guest might make them: every answer is a match, a typed
//!   misuse or a `KEEL-ND1` divergence, and the recorded part of the history is never rewritten.

use keel::history::{ActivityOptions, Failure, HistoryEvent, Outcome};
use keel::orchestration::replay::{Blocked, Call, LiveBatch, Misuse, NonDeterminism, Replay};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::check;
use super::events::{NAMES, failure, history_event, json_value, name, options, task_id};

const INSTANCE: &str = "fuzz-instance";

// A model orchestrator: a program of context calls, run the way the context interface runs a guest.

/// One statement of a model orchestrator.
#[derive(Debug, Clone)]
enum Step {
    Activity {
        name: &'static str,
        input: Value,
    },
    Child {
        name: &'static str,
        id: Option<String>,
        input: Value,
    },
    /// A timer this long after the turn's orchestration time.
    Timer {
        after_ms: u64,
    },
    Wait {
        name: &'static str,
    },
    Status(Value),
    /// Awaits the scheduled tasks at these positions (modulo the number scheduled so far); a
    /// failure in the first outcome skips the next step, so the program branches on its history.
    AwaitAll(Vec<usize>),
    AwaitAny(Vec<usize>),
    ContinueAsNew(Value),
    Return(bool),
}

fn step() -> impl Strategy<Value = Step> {
    let names = || proptest::sample::select(&NAMES[..]);
    prop_oneof![
        4 => (names(), json_value()).prop_map(|(name, input)| Step::Activity { name, input }),
        1 => (names(), option::of("[a-z]{1,3}"), json_value())
            .prop_map(|(name, id, input)| Step::Child { name, id, input }),
        2 => (0u64..5_000).prop_map(|after_ms| Step::Timer { after_ms }),
        2 => names().prop_map(|name| Step::Wait { name }),
        1 => json_value().prop_map(Step::Status),
        4 => vec(0usize..8, 1..4).prop_map(Step::AwaitAll),
        3 => vec(0usize..8, 1..4).prop_map(Step::AwaitAny),
        1 => json_value().prop_map(Step::ContinueAsNew),
        1 => any::<bool>().prop_map(Step::Return),
    ]
}

/// Why a model guest stopped running.
enum Exit {
    Returned(Result<Value, Failure>),
    Diverged(NonDeterminism),
    Misused(Misuse),
    /// The turn ended and the driver dropped the guest (the cold path).
    Dropped,
}

/// Blocks like `await-*`: polls, lets the core deliver recorded turns, and at the end of a live turn
/// hands the turn's events to `turn_end`, which returns the next batch or drops the guest.
fn wait<T>(
    core: &mut Replay,
    turn_end: &mut dyn FnMut(Vec<HistoryEvent>) -> Option<LiveBatch>,
    poll: impl Fn(&Replay) -> Result<Option<T>, Misuse>,
) -> Result<T, Exit> {
    loop {
        match poll(core) {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(misuse) => return Err(Exit::Misused(misuse)),
        }
        match core.on_blocked() {
            Ok(Blocked::Delivered) => {}
            Ok(Blocked::EndOfTurn) => match turn_end(core.take_new_events()) {
                Some(batch) => core.push_live(batch),
                None => return Err(Exit::Dropped),
            },
            Err(nd) => return Err(Exit::Diverged(nd)),
        }
    }
}

fn guest(
    core: &mut Replay,
    program: &[Step],
    turn_end: &mut dyn FnMut(Vec<HistoryEvent>) -> Option<LiveBatch>,
) -> Exit {
    let mut tasks: Vec<u32> = Vec::new();
    let mut skip = false;
    for step in program {
        if std::mem::take(&mut skip) {
            continue;
        }
        let call = match step {
            Step::Activity { name, input } => Call::Activity {
                name: (*name).to_owned(),
                input: input.clone(),
                options: ActivityOptions::default(),
            },
            Step::Child { name, id, input } => Call::Orchestrator {
                name: (*name).to_owned(),
                instance: id.clone(),
                input: input.clone(),
            },
            Step::Timer { after_ms } => Call::Timer {
                fire_at_ms: core.now_ms() + after_ms,
            },
            Step::Wait { name } => Call::WaitEvent {
                name: (*name).to_owned(),
            },
            Step::Status(status) => {
                if let Err(nd) = core.set_custom_status(status.clone()) {
                    return Exit::Diverged(nd);
                }
                continue;
            }
            Step::AwaitAll(picks) | Step::AwaitAny(picks) => {
                if tasks.is_empty() {
                    continue;
                }
                let chosen: Vec<u32> = picks.iter().map(|p| tasks[p % tasks.len()]).collect();
                let first = if matches!(step, Step::AwaitAll(_)) {
                    wait(core, turn_end, |c| c.poll_all(&chosen)).map(|mut all| all.remove(0))
                } else {
                    wait(core, turn_end, |c| c.poll_any(&chosen)).map(|(_, outcome)| outcome)
                };
                match first {
                    Ok(outcome) => skip = matches!(outcome, Outcome::Err(_)),
                    Err(exit) => return exit,
                }
                continue;
            }
            Step::ContinueAsNew(input) => {
                core.continue_as_new(input.clone(), false);
                continue;
            }
            Step::Return(true) => return Exit::Returned(Ok(json!("done"))),
            Step::Return(false) => {
                return Exit::Returned(Err(Failure::new("GaveUp", "the program failed")));
            }
        };
        match core.schedule(call) {
            Ok(id) => tasks.push(id),
            Err(nd) => return Exit::Diverged(nd),
        }
    }
    Exit::Returned(Ok(Value::Null))
}

/// Runs `program` on `core` and ends it as the hot-instance task does; returns the events to commit
/// after the guest stopped and the divergence it met, if any.
fn drive(
    core: &mut Replay,
    program: &[Step],
    mut turn_end: impl FnMut(Vec<HistoryEvent>) -> Option<LiveBatch>,
) -> Result<(Vec<HistoryEvent>, Option<NonDeterminism>), TestCaseError> {
    let mut diverged = None;
    match guest(core, program, &mut turn_end) {
        Exit::Dropped => return Ok((Vec::new(), None)),
        Exit::Returned(result) => {
            if let Err(nd) = core.complete(result) {
                core.fail(Failure::new("NonDeterminism", nd.to_string()));
                diverged = Some(nd);
            }
        }
        Exit::Diverged(nd) => {
            core.fail(Failure::new("NonDeterminism", nd.to_string()));
            diverged = Some(nd);
        }
        Exit::Misused(misuse) => {
            return Err(TestCaseError::fail(format!(
                "the model program misused the context: {misuse}"
            )));
        }
    }
    prop_assert!(
        core.is_finished(),
        "a stopped guest left the execution open"
    );
    if let Some(nd) = &diverged {
        expect_nd(nd)?;
    }
    Ok((core.take_new_events(), diverged))
}

fn expect_nd(nd: &NonDeterminism) -> Result<(), TestCaseError> {
    let text = nd.to_string();
    prop_assert!(
        text.starts_with("[KEEL-ND1] ") && text.contains(&format!("#{}", nd.event_index)),
        "divergence message: {text}"
    );
    Ok(())
}

/// A small deterministic generator for the environment's choices.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

fn first_batch() -> LiveBatch {
    LiveBatch {
        time_ms: 1_000,
        messages: vec![HistoryEvent::ExecutionStarted {
            name: "Model".into(),
            module: "digest".into(),
            input: Value::Null,
            parent: None,
        }],
        updates: Vec::new(),
    }
}

const MAX_TURNS: u64 = 12;

/// The messages of turn `turn`, chosen from the committed `history` and `seed` alone (so that the hot
/// and the cold run see the same ones): some pending tasks resolve, awaited events arrive, and now
/// and then a duplicate, a stray result or a suspension comes along. `None` when nothing more could
/// ever arrive.
fn environment(history: &[HistoryEvent], turn: u64, seed: u64) -> Option<LiveBatch> {
    if turn >= MAX_TURNS {
        return None;
    }
    let mut rng = SplitMix(seed ^ turn.wrapping_mul(0xa076_1d64_78bd_642f));
    let mut pending: Vec<&HistoryEvent> = Vec::new();
    let mut resolved: Vec<u32> = Vec::new();
    let mut awaited: Vec<&str> = Vec::new();
    for event in history {
        match event {
            HistoryEvent::TaskScheduled { .. }
            | HistoryEvent::SubOrchestrationCreated { .. }
            | HistoryEvent::TimerCreated { .. } => pending.push(event),
            HistoryEvent::TaskCompleted { id, .. }
            | HistoryEvent::TaskFailed { id, .. }
            | HistoryEvent::SubOrchestrationCompleted { id, .. }
            | HistoryEvent::SubOrchestrationFailed { id, .. }
            | HistoryEvent::TimerFired { id } => resolved.push(*id),
            HistoryEvent::EventAwaited { name, .. } => awaited.push(name),
            HistoryEvent::EventRaised { name, .. } => {
                if let Some(at) = awaited.iter().position(|a| a == name) {
                    awaited.remove(at);
                }
            }
            _ => {}
        }
    }
    pending.retain(|e| !task_of(e).is_some_and(|id| resolved.contains(&id)));
    let mut messages = Vec::new();
    for (n, event) in pending.iter().enumerate() {
        // At least the first pending task resolves, so every turn makes progress.
        if n > 0 && rng.chance(2) {
            continue;
        }
        let fails = rng.chance(4);
        let out = json!(rng.next() % 100);
        let failure = Failure::new("Boom", "it failed");
        let resolution = match **event {
            HistoryEvent::TaskScheduled { id, .. } if fails => {
                if rng.chance(2) {
                    messages.push(HistoryEvent::TaskRetrying {
                        id,
                        failure: failure.clone(),
                        attempt: 1,
                        retry_at_ms: 0,
                    });
                }
                HistoryEvent::TaskFailed {
                    id,
                    failure,
                    attempt: 2,
                }
            }
            HistoryEvent::TaskScheduled { id, .. } => {
                HistoryEvent::TaskCompleted { id, output: out }
            }
            HistoryEvent::SubOrchestrationCreated { id, .. } if fails => {
                HistoryEvent::SubOrchestrationFailed { id, failure }
            }
            HistoryEvent::SubOrchestrationCreated { id, .. } => {
                HistoryEvent::SubOrchestrationCompleted { id, output: out }
            }
            HistoryEvent::TimerCreated { id, .. } => HistoryEvent::TimerFired { id },
            _ => continue,
        };
        messages.push(resolution);
    }
    for name in awaited {
        if messages.is_empty() || rng.chance(2) {
            messages.push(HistoryEvent::EventRaised {
                name: name.to_owned(),
                data: json!(turn),
            });
        }
    }
    if messages.is_empty() {
        return None;
    }
    // Noise the core must tolerate: at-least-once duplicates, strays, client actions.
    if rng.chance(3) {
        let noise = match rng.next() % 5 {
            0 => match resolved.first() {
                Some(&id) => HistoryEvent::TaskCompleted {
                    id,
                    output: json!("duplicate"),
                },
                None => HistoryEvent::TimerFired { id: 999 },
            },
            1 => HistoryEvent::TaskCompleted {
                id: 1_000,
                output: json!("stray"),
            },
            2 => HistoryEvent::EventRaised {
                name: "Unawaited".into(),
                data: Value::Null,
            },
            3 => HistoryEvent::ExecutionSuspended {
                reason: "fuzz".into(),
            },
            _ => HistoryEvent::ExecutionResumed {
                reason: "fuzz".into(),
            },
        };
        let at = (rng.next() as usize) % (messages.len() + 1);
        messages.insert(at, noise);
    }
    Some(LiveBatch {
        time_ms: 1_000 * (turn + 1) + rng.next() % 500,
        messages,
        updates: Vec::new(),
    })
}

fn task_of(event: &HistoryEvent) -> Option<u32> {
    match event {
        HistoryEvent::TaskScheduled { id, .. }
        | HistoryEvent::SubOrchestrationCreated { id, .. }
        | HistoryEvent::TimerCreated { id, .. } => Some(*id),
        _ => None,
    }
}

/// One core for the whole execution: each batch is pushed into the waiting guest.
fn run_hot(
    program: &[Step],
    seed: u64,
    execution: u32,
) -> Result<Vec<HistoryEvent>, TestCaseError> {
    let mut stored = Vec::new();
    let mut core = Replay::new(INSTANCE, Vec::new(), first_batch()).with_execution(execution);
    let mut turn = 0;
    let (tail, diverged) = drive(&mut core, program, |events| {
        stored.extend(events);
        turn += 1;
        environment(&stored, turn, seed)
    })?;
    if let Some(nd) = diverged {
        return Err(TestCaseError::fail(format!("a live run diverged: {nd}")));
    }
    stored.extend(tail);
    Ok(stored)
}

/// A fresh core per turn that replays everything stored so far, as after an eviction or a restart.
fn run_cold(
    program: &[Step],
    seed: u64,
    execution: u32,
) -> Result<Vec<HistoryEvent>, TestCaseError> {
    let mut stored: Vec<HistoryEvent> = Vec::new();
    let mut batch = Some(first_batch());
    let mut turn = 0;
    while let Some(next) = batch.take() {
        let mut core = Replay::new(INSTANCE, stored.clone(), next).with_execution(execution);
        let mut ended = None;
        let (tail, diverged) = drive(&mut core, program, |events| {
            ended = Some(events);
            None
        })?;
        if let Some(nd) = diverged {
            return Err(TestCaseError::fail(format!(
                "replaying the recorded turns diverged at turn {turn}: {nd}"
            )));
        }
        match ended {
            Some(events) => {
                prop_assert!(tail.is_empty());
                stored.extend(events);
                turn += 1;
                batch = environment(&stored, turn, seed);
            }
            None => stored.extend(tail),
        }
    }
    Ok(stored)
}

/// How the history is damaged before the last replay.
#[derive(Debug, Clone, Copy)]
enum Damage {
    Change,
    Remove,
    Duplicate,
}

fn damage(history: &mut Vec<HistoryEvent>, at: usize, how: Damage) {
    match how {
        Damage::Remove => {
            history.remove(at);
        }
        Damage::Duplicate => {
            let copy = history[at].clone();
            history.insert(at + 1, copy);
        }
        Damage::Change => match &mut history[at] {
            HistoryEvent::TaskScheduled { name, .. }
            | HistoryEvent::SubOrchestrationCreated { instance: name, .. }
            | HistoryEvent::EventAwaited { name, .. } => name.push('\''),
            HistoryEvent::TimerCreated { fire_at_ms, .. } => *fire_at_ms += 1,
            _ => {}
        },
    }
}

#[test]
fn faithful_guests_replay_what_they_recorded() {
    let strategy = (
        vec(step(), 0..28),
        any::<u64>(),
        1u32..4,
        any::<usize>(),
        prop_oneof![
            Just(Damage::Change),
            Just(Damage::Remove),
            Just(Damage::Duplicate)
        ],
    );
    check(
        "replay::faithful_guests_replay_what_they_recorded",
        3_000,
        strategy,
        |(program, seed, execution, pick, how)| {
            let hot = run_hot(&program, seed, execution)?;
            let cold = run_cold(&program, seed, execution)?;
            prop_assert_eq!(
                &hot,
                &cold,
                "hot and cold runs recorded different histories"
            );

            // Damage one scheduling command: the same program must now diverge.
            let commands: Vec<usize> = hot
                .iter()
                .enumerate()
                .filter(|(_, e)| {
                    task_of(e).is_some() || matches!(e, HistoryEvent::EventAwaited { .. })
                })
                .map(|(i, _)| i)
                .collect();
            if commands.is_empty() {
                return Ok(());
            }
            let at = commands[pick % commands.len()];
            let mut damaged = hot.clone();
            damage(&mut damaged, at, how);
            let mut core = Replay::new(
                INSTANCE,
                damaged,
                LiveBatch {
                    time_ms: 1_000_000,
                    ..LiveBatch::default()
                },
            )
            .with_execution(execution);
            let (_, diverged) = drive(&mut core, &program, |_| None)?;
            let Some(nd) = diverged else {
                return Err(TestCaseError::fail(format!(
                    "replay of a history with event #{at} damaged ({how:?}) did not diverge"
                )));
            };
            if matches!(how, Damage::Change) {
                prop_assert_eq!(nd.event_index, at, "{}", nd);
            }
            Ok(())
        },
    );
}

/// One call of a (possibly misbehaving) guest, or of the driver around it.
#[derive(Debug, Clone)]
enum Op {
    Schedule(Call),
    Status(Value),
    ContinueAsNew(Value),
    PollAll(Vec<u32>),
    PollAny(Vec<u32>),
    Blocked,
    Push(LiveBatch),
    Complete(Result<Value, Failure>),
    Fail(Failure),
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (name(), json_value(), options()).prop_map(|(name, input, options)| Call::Activity {
            name,
            input,
            options
        }),
        (name(), option::of(name()), json_value()).prop_map(|(name, instance, input)| {
            Call::Orchestrator {
                name,
                instance,
                input,
            }
        }),
        any::<u64>().prop_map(|fire_at_ms| Call::Timer { fire_at_ms }),
        name().prop_map(|name| Call::WaitEvent { name }),
    ]
}

fn batch() -> impl Strategy<Value = LiveBatch> {
    (any::<u64>(), vec(history_event(), 0..4)).prop_map(|(time_ms, messages)| LiveBatch {
        time_ms,
        messages,
        updates: Vec::new(),
    })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => call().prop_map(Op::Schedule),
        1 => json_value().prop_map(Op::Status),
        1 => json_value().prop_map(Op::ContinueAsNew),
        2 => vec(task_id(), 0..3).prop_map(Op::PollAll),
        2 => vec(task_id(), 0..3).prop_map(Op::PollAny),
        3 => Just(Op::Blocked),
        2 => batch().prop_map(Op::Push),
        1 => prop_oneof![json_value().prop_map(Ok), failure().prop_map(Err)].prop_map(Op::Complete),
        1 => failure().prop_map(Op::Fail),
    ]
}

/// A history that looks recorded: turns of a marker and events, some of them arbitrary.
fn recorded() -> impl Strategy<Value = Vec<HistoryEvent>> {
    let turn = (any::<u64>(), vec(history_event(), 0..6)).prop_map(|(time_ms, mut events)| {
        events.insert(0, HistoryEvent::OrchestratorStarted { time_ms });
        events
    });
    prop_oneof![
        3 => vec(turn, 0..4).prop_map(|turns| turns.concat()),
        1 => vec(history_event(), 0..12),
    ]
}

#[test]
fn random_histories_and_calls_never_panic() {
    let strategy = (recorded(), batch(), 0u32..4, vec(op(), 0..24));
    check(
        "replay::random_histories_and_calls_never_panic",
        3_000,
        strategy,
        |(recorded, live, execution, ops)| {
            let mut core = Replay::new(INSTANCE, recorded.clone(), live).with_execution(execution);
            let mut stored = recorded.clone();
            for op in ops {
                let diverged = match op {
                    Op::Schedule(call) => core.schedule(call).err(),
                    Op::Status(status) => core.set_custom_status(status).err(),
                    Op::ContinueAsNew(input) => {
                        core.continue_as_new(input, false);
                        None
                    }
                    Op::PollAll(tasks) => {
                        let _ = core.poll_all(&tasks);
                        None
                    }
                    Op::PollAny(tasks) => {
                        let _ = core.poll_any(&tasks);
                        None
                    }
                    Op::Blocked => match core.on_blocked() {
                        Ok(Blocked::EndOfTurn) => {
                            stored.extend(core.take_new_events());
                            None
                        }
                        Ok(Blocked::Delivered) => None,
                        Err(nd) => Some(nd),
                    },
                    Op::Push(batch) => {
                        core.push_live(batch);
                        None
                    }
                    Op::Complete(result) => core.complete(result).err(),
                    Op::Fail(failure) => {
                        core.fail(failure);
                        None
                    }
                };
                let _ = (core.now_ms(), core.is_replaying());
                if let Some(nd) = diverged {
                    expect_nd(&nd)?;
                    core.fail(Failure::new("NonDeterminism", nd.to_string()));
                }
                if core.is_finished() {
                    break;
                }
            }
            stored.extend(core.take_new_events());
            prop_assert_eq!(
                &core.history()[..recorded.len()],
                &recorded[..],
                "the recorded history was rewritten"
            );
            prop_assert_eq!(core.history(), &stored[..]);
            prop_assert_eq!(core.committed_len(), stored.len());
            if core.is_finished() {
                prop_assert!(stored.last().is_some_and(HistoryEvent::is_terminal));
            }
            Ok(())
        },
    );
}
