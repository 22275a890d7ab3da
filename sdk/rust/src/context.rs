//! `Context` and `Task`: the orchestrator's typed, synchronous view of the `keel:workflow/context` import.
//! It must never keep state of its own or read time or randomness from anywhere but the host, since
//! every value an orchestrator sees has to be the same on replay.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::keel::workflow::context as host;
use crate::bindings::keel::workflow::types as wit;
use crate::failure::Failure;
use crate::options::{ActivityOptions, millis};
use crate::{queries, requests, updates};

/// The orchestration context: schedules tasks, awaits them and reads replay-safe time and randomness.
///
/// Scheduling calls ([`call_activity`](Self::call_activity), [`timer`](Self::timer), ...) return at
/// once with a [`Task`]; only [`Task::get`], [`all`](Self::all), [`all_as`](Self::all_as) and
/// [`any`](Self::any) block, while the host suspends the orchestrator until the tasks resolve. Plain
/// synchronous code therefore fans out by scheduling several tasks before awaiting them.
///
/// Orchestrator code must be deterministic: take time, randomness and ids from the context, not from
/// the outside world, and make the same calls in the same order on every replay.
#[derive(Debug)]
pub struct Context {
    // Private so that only the SDK's dispatch hands out contexts, i.e. only inside an orchestrator run.
    _private: (),
}

/// A task an orchestrator can wait on: an activity call, a sub-orchestration, a timer or an event.
///
/// A task is only an id, so it is `Copy`; awaiting it several times gives the same outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Task {
    id: u32,
}

/// Severity of a log line written with [`Context::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging information.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected that the orchestrator handles.
    Warn,
    /// Something that went wrong.
    Error,
}

impl LogLevel {
    fn to_wit(self) -> wit::LogLevel {
        match self {
            Self::Trace => wit::LogLevel::Trace,
            Self::Debug => wit::LogLevel::Debug,
            Self::Info => wit::LogLevel::Info,
            Self::Warn => wit::LogLevel::Warn,
            Self::Error => wit::LogLevel::Error,
        }
    }
}

impl Task {
    /// The task id: the ordinal of the scheduling call within the current execution.
    pub fn id(self) -> u32 {
        self.id
    }

    /// Waits for this task and deserialises its output.
    ///
    /// A failed task gives its [`Failure`]; an output that is not a `T` gives a failure of kind
    /// `InvalidOutput`.
    pub fn get<T: DeserializeOwned>(self) -> Result<T, Failure> {
        let mut outcomes = await_all(&[self]);
        match outcomes.pop() {
            Some(outcome) => decode_outcome(outcome),
            None => contract_violation("await-all returned no outcome for one task"),
        }
    }
}

impl Context {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    /// Schedules the activity `name` with `input`, as a single attempt with the default time limit.
    ///
    /// # Panics
    ///
    /// If `input` cannot be serialised to JSON (see [`call_activity_with`](Self::call_activity_with)).
    pub fn call_activity<I: Serialize + ?Sized>(&self, name: &str, input: &I) -> Task {
        self.call_activity_with(name, input, ActivityOptions::default())
    }

    /// Schedules the activity `name` with `input` and the given retry policy, time limit, version
    /// range, heartbeat timeout, or as a local activity ([`ActivityOptions::local`]).
    ///
    /// # Panics
    ///
    /// If `input` cannot be serialised to JSON, which only a faulty `Serialize` implementation or a
    /// map with non-string keys causes: a bug in the orchestrator, which then traps and fails its
    /// instance with this message rather than schedule a call with made-up input.
    pub fn call_activity_with<I: Serialize + ?Sized>(
        &self,
        name: &str,
        input: &I,
        options: ActivityOptions,
    ) -> Task {
        let input = encode(input, || format!("input of activity {name}"));
        let (target, wit) = (options.target(name), options.to_wit());
        let id = if options.is_local() {
            host::call_local_activity(&target, &input, &wit)
        } else {
            host::call_activity_with(&target, &input, &wit)
        };
        Task { id }
    }

    /// Starts the sub-orchestration `name` with `input`, as instance `instance_id` or, with `None`,
    /// an instance id the host derives deterministically.
    ///
    /// # Panics
    ///
    /// If `input` cannot be serialised to JSON (see [`call_activity_with`](Self::call_activity_with)).
    pub fn call_orchestrator<I: Serialize + ?Sized>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: &I,
    ) -> Task {
        let input = encode(input, || format!("input of orchestrator {name}"));
        Task {
            id: host::call_orchestrator(name, instance_id, &input),
        }
    }

    /// A durable timer that fires at `fire_at_ms` (orchestration time, milliseconds since the Unix
    /// epoch). It resolves with `null`.
    pub fn timer_at(&self, fire_at_ms: u64) -> Task {
        Task {
            id: host::start_timer(fire_at_ms),
        }
    }

    /// A durable timer that fires `delay` after the current orchestration time.
    pub fn timer(&self, delay: Duration) -> Task {
        self.timer_at(self.now_ms().saturating_add(millis(delay)))
    }

    /// Waits for the next external event raised with `name`; it resolves with the event's data.
    pub fn wait_event(&self, name: &str) -> Task {
        Task {
            id: host::wait_event(name),
        }
    }

    /// Cancels `task`. If it has not resolved, it resolves at once with a failure of kind
    /// `Canceled`, and what it stands for stops: an activity not started never runs and a running
    /// attempt is stopped (a result it still sends is dropped), a timer's firing is ignored, a
    /// sub-orchestration is terminated with its own children, and a wait for an event takes none
    /// (the next event of that name goes to the next wait). A task that has resolved is left as it
    /// is. The cancellation is recorded, so a replay makes it at the same point.
    ///
    /// ```no_run
    /// # use keel_sdk::{Context, Failure};
    /// # use std::time::Duration;
    /// fn first_of(ctx: &Context, _: ()) -> Result<String, Failure> {
    ///     let reply = ctx.wait_event("Reply");
    ///     let deadline = ctx.timer(Duration::from_secs(3600));
    ///     let (winner, result) = ctx.any(&[reply, deadline]);
    ///     ctx.cancel(if winner == 0 { deadline } else { reply });
    ///     result.map(|_| ["reply", "deadline"][winner].to_owned())
    /// }
    /// ```
    pub fn cancel(&self, task: Task) {
        host::cancel(task.id);
    }

    /// Waits until every task has resolved; the results are in the order of `tasks`.
    pub fn all(&self, tasks: &[Task]) -> Vec<Result<Value, Failure>> {
        await_all(tasks).into_iter().map(decode_outcome).collect()
    }

    /// Waits until every task has resolved and deserialises every output as a `T`.
    ///
    /// The first failure in the order of `tasks` is returned, after all tasks have resolved.
    pub fn all_as<T: DeserializeOwned>(&self, tasks: &[Task]) -> Result<Vec<T>, Failure> {
        await_all(tasks).into_iter().map(decode_outcome).collect()
    }

    /// Waits until at least one task has resolved and returns the index in `tasks` of the first to
    /// have done so, with its result. The other tasks keep running and can be awaited later.
    ///
    /// # Panics
    ///
    /// If `tasks` is empty: there is nothing that could resolve.
    pub fn any(&self, tasks: &[Task]) -> (usize, Result<Value, Failure>) {
        assert!(
            !tasks.is_empty(),
            "keel: Context::any needs at least one task"
        );
        let ids: Vec<u32> = tasks.iter().map(|task| task.id).collect();
        let (winner, outcome) = requests::wait_any(&ids);
        match ids.iter().position(|id| *id == winner) {
            Some(index) => (index, decode_outcome(outcome)),
            None => contract_violation(&format!(
                "await-any returned task {winner}, which is not one of {ids:?}"
            )),
        }
    }

    /// Registers `handler` to answer the query `name` (`keel query ID NAME --input JSON`) from the
    /// orchestrator's state, replacing any handler of that name.
    ///
    /// A query is answered while the orchestrator waits, in a copy of it replayed to its current
    /// state, so the handler sees what the orchestrator has done so far; share that state with the
    /// handler through an `Rc<Cell<_>>` or `Rc<RefCell<_>>`. A handler must only read: scheduling a
    /// task, waiting, setting the custom status or continuing as new fails the query with
    /// `QueryNotReadOnly`, never the instance. Input that is not an `I` fails the query with
    /// `InvalidInput`; a query no handler has fails with `UnknownQuery`.
    ///
    /// ```no_run
    /// # use keel_sdk::{Context, Failure};
    /// # use std::{cell::Cell, rc::Rc};
    /// fn count_down(ctx: &Context, from: u32) -> Result<(), Failure> {
    ///     let left = Rc::new(Cell::new(from));
    ///     let seen = left.clone();
    ///     ctx.on_query("Left", move |_: ()| Ok(seen.get()));
    ///     while left.get() > 0 {
    ///         ctx.call_activity("Tick", &left.get()).get::<()>()?;
    ///         left.set(left.get() - 1);
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub fn on_query<I, O, F>(&self, name: &str, handler: F)
    where
        I: DeserializeOwned,
        O: Serialize,
        F: Fn(I) -> Result<O, Failure> + 'static,
    {
        queries::register(name, handler);
    }

    /// Registers `handler` to serve the update `name` (`keel update ID NAME --input JSON`), replacing
    /// any update of that name; the client waits for the handler's result.
    ///
    /// An update is handed over while the orchestrator waits. Once accepted it is recorded, and the
    /// handler runs in the orchestrator itself: it may change the state it shares with the
    /// orchestrator (an `Rc<RefCell<_>>`), schedule tasks through the `Context` it is given and set
    /// the custom status, but must not wait (that fails the instance); the orchestrator waits for
    /// what it scheduled afterwards. Its result, or its failure, is recorded and is the client's
    /// response; a failure does not fail the instance. Input that is not an `I` rejects the update
    /// with `InvalidInput`, and an update no handler has with `UnknownUpdate`, recording nothing.
    /// On replay, handlers run again so that their changes are made again.
    ///
    /// ```no_run
    /// # use keel_sdk::{Context, Failure};
    /// # use std::{cell::RefCell, rc::Rc};
    /// fn collect(ctx: &Context, _: ()) -> Result<Vec<String>, Failure> {
    ///     let notes = Rc::new(RefCell::new(Vec::new()));
    ///     let kept = notes.clone();
    ///     ctx.on_update("AddNote", move |_: &Context, note: String| {
    ///         kept.borrow_mut().push(note);
    ///         Ok(kept.borrow().len())
    ///     });
    ///     ctx.wait_event("Close").get::<()>()?;
    ///     Ok(notes.take())
    /// }
    /// ```
    pub fn on_update<I, O, F>(&self, name: &str, handler: F)
    where
        I: DeserializeOwned + 'static,
        O: Serialize,
        F: Fn(&Context, I) -> Result<O, Failure> + 'static,
    {
        updates::register(name, None::<fn(&I) -> Result<(), Failure>>, handler);
    }

    /// [`on_update`](Self::on_update) with a validator, which runs first, on the orchestrator's
    /// state as it is, and must only read (scheduling, waiting, setting the custom status or
    /// continuing as new in it fails the instance). Its failure rejects the update: nothing is
    /// recorded, the handler does not run, and the failure is the client's response. While
    /// replaying an update the history records as accepted, the handler runs whatever it says.
    pub fn on_update_validated<I, O, V, F>(&self, name: &str, validator: V, handler: F)
    where
        I: DeserializeOwned + 'static,
        O: Serialize,
        V: Fn(&I) -> Result<(), Failure> + 'static,
        F: Fn(&Context, I) -> Result<O, Failure> + 'static,
    {
        updates::register(name, Some(validator), handler);
    }

    /// Orchestration time in milliseconds since the Unix epoch: the start of the current turn.
    pub fn now_ms(&self) -> u64 {
        host::now_ms()
    }

    /// A random number from a generator seeded per execution; the same on every replay.
    pub fn random_u64(&self) -> u64 {
        host::random_u64()
    }

    /// A version-4 UUID from the same generator; the same on every replay.
    pub fn new_uuid(&self) -> String {
        host::new_uuid()
    }

    /// True while the orchestrator is re-executing steps already recorded in its history.
    pub fn is_replaying(&self) -> bool {
        host::is_replaying()
    }

    /// Sets the instance's custom status, visible to clients.
    ///
    /// # Panics
    ///
    /// If `status` cannot be serialised to JSON (see [`call_activity_with`](Self::call_activity_with)).
    pub fn set_custom_status<S: Serialize + ?Sized>(&self, status: &S) {
        host::set_custom_status(&encode(status, || "custom status".to_owned()));
    }

    /// Ends this execution once the orchestrator returns and starts a new one of the same
    /// orchestrator with `input` and a fresh history. The orchestrator's return value is then ignored.
    ///
    /// # Panics
    ///
    /// If `input` cannot be serialised to JSON (see [`call_activity_with`](Self::call_activity_with)).
    pub fn continue_as_new<I: Serialize + ?Sized>(&self, input: &I) {
        host::continue_as_new(&encode(input, || "input of continue-as-new".to_owned()));
    }

    /// Like [`continue_as_new`](Self::continue_as_new), and the events raised to this execution
    /// that it never waited for are raised again to the next one, in their order (Durable
    /// Functions' `preserveUnprocessedEvents`). Without it they are dropped with this execution.
    ///
    /// # Panics
    ///
    /// If `input` cannot be serialised to JSON (see [`call_activity_with`](Self::call_activity_with)).
    pub fn continue_as_new_keeping_events<I: Serialize + ?Sized>(&self, input: &I) {
        host::continue_as_new_keeping_events(&encode(input, || {
            "input of continue-as-new".to_owned()
        }));
    }

    /// Writes a log line; the host drops it while replaying, so each line is written once.
    pub fn log(&self, level: LogLevel, message: impl AsRef<str>) {
        host::log(level.to_wit(), message.as_ref());
    }

    /// Writes a `trace` log line.
    pub fn trace(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Trace, message);
    }

    /// Writes a `debug` log line.
    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Debug, message);
    }

    /// Writes an `info` log line.
    pub fn info(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Info, message);
    }

    /// Writes a `warn` log line.
    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Warn, message);
    }

    /// Writes an `error` log line.
    pub fn error(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Error, message);
    }
}

/// Awaits `tasks` through the host, checking that it answered one outcome per task.
fn await_all(tasks: &[Task]) -> Vec<wit::Outcome> {
    // Nothing to wait for: answering locally spares the host a call it would have to record.
    if tasks.is_empty() {
        return Vec::new();
    }
    let ids: Vec<u32> = tasks.iter().map(|task| task.id).collect();
    let outcomes = requests::wait_all(&ids);
    if outcomes.len() != ids.len() {
        contract_violation(&format!(
            "await-all returned {} outcomes for {} tasks",
            outcomes.len(),
            ids.len()
        ));
    }
    outcomes
}

/// Turns an outcome into the caller's type; a failed task keeps its own failure.
pub(crate) fn decode_outcome<T: DeserializeOwned>(outcome: wit::Outcome) -> Result<T, Failure> {
    match outcome {
        wit::Outcome::Ok(json) => serde_json::from_str(&json).map_err(|error| {
            Failure::invalid_output(format!(
                "task output does not match the expected type: {error} (output: {})",
                truncate(&json)
            ))
        }),
        wit::Outcome::Err(failure) => Err(Failure::from_wit(failure)),
    }
}

/// Serialises a value the orchestrator hands to the host.
fn encode<V: Serialize + ?Sized>(value: &V, what: impl FnOnce() -> String) -> String {
    match serde_json::to_string(value) {
        Ok(json) => json,
        // Only a bug in the orchestrator's own types gets here (see `call_activity_with`); trapping
        // is the one outcome that records nothing wrong in the history.
        Err(error) => panic!("keel: the {} cannot be serialised to JSON: {error}", what()),
    }
}

/// Stops the orchestrator when the host broke the contract: carrying on would make it take a branch
/// the host never chose, so trapping (which fails the instance with this message) is the safe end.
fn contract_violation(what: &str) -> ! {
    panic!("keel: the host broke the context contract: {what}")
}

/// The start of a payload, for error messages that must stay short.
pub(crate) fn truncate(text: &str) -> &str {
    const LIMIT: usize = 200;
    match text.char_indices().nth(LIMIT) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_decode_into_the_requested_type() {
        let value: Result<u64, Failure> = decode_outcome(wit::Outcome::Ok("42".into()));
        assert_eq!(value, Ok(42));
        let wrong: Result<u64, Failure> = decode_outcome(wit::Outcome::Ok("\"x\"".into()));
        assert_eq!(
            wrong.map_err(|f| f.kind),
            Err(Failure::INVALID_OUTPUT.to_owned())
        );
        let failed: Result<u64, Failure> = decode_outcome(wit::Outcome::Err(wit::Failure {
            kind: "Boom".into(),
            message: "m".into(),
            details: None,
        }));
        assert_eq!(failed, Err(Failure::new("Boom", "m")));
    }

    #[test]
    fn timers_resolve_to_unit() {
        let unit: Result<(), Failure> = decode_outcome(wit::Outcome::Ok("null".into()));
        assert_eq!(unit, Ok(()));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        let long = "é".repeat(300);
        assert_eq!(truncate(&long).chars().count(), 200);
        assert_eq!(truncate("short"), "short");
    }
}
