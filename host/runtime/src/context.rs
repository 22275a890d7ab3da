//! The `context` interface as the guest sees it: each call is checked and recorded by the replay core,
//! and `await-*` / `wait-*` suspend the guest until the driver delivers the next turn's messages (or,
//! in a guest replayed for a query, hand the query over).
//!
//! This is the only code that runs while a guest is inside a host call; it never touches the store.

use rand::{Rng as _, RngExt as _};

use crate::history::{ActivityOptions, Failure, Outcome, RetryPolicy};
use crate::module::runtime::HostState;
use crate::requests::{Takes, Woken};
use crate::text::cut;
use crate::turn::OrchestrationState;
use crate::wit::orchestrator::keel::workflow::{context, types};
use keel_core::replay::{Call, Misuse, Replay};

fn state(host: &mut HostState) -> wasmtime::Result<&mut OrchestrationState> {
    host.orchestration.as_mut().ok_or_else(|| {
        wasmtime::Error::msg("the orchestration context was called outside an orchestrator")
    })
}

fn outcome(o: Outcome) -> types::Outcome {
    match o {
        Outcome::Ok(v) => types::Outcome::Ok(v.to_string()),
        Outcome::Err(f) => types::Outcome::Err(types::Failure {
            kind: f.kind,
            message: f.message,
            details: f.details.map(|d| d.to_string()),
        }),
    }
}

fn options(o: types::CallOptions, local: bool) -> ActivityOptions {
    ActivityOptions {
        local,
        retry: o.retry.map(|r| RetryPolicy {
            max_attempts: r.max_attempts,
            first_interval_ms: r.first_interval_ms,
            backoff_coefficient: r.backoff_coefficient,
            max_interval_ms: r.max_interval_ms,
            timeout_ms: r.timeout_ms,
            non_retryable: r.non_retryable,
        }),
        timeout_ms: o.timeout_ms,
        heartbeat_timeout_ms: o.heartbeat_timeout_ms,
    }
}

/// What a wait returned: the tasks' outcomes, or the request it hands over as the WIT has it.
fn requested<T>(woken: Woken<T>) -> Result<T, context::Request> {
    match woken {
        Woken::Done(value) => Ok(value),
        Woken::Query { name, input } => Err(context::Request::Query(context::QueryRequest {
            name,
            input,
        })),
        Woken::Update(update) => Err(context::Request::Update(context::UpdateRequest {
            id: update.id,
            name: update.name,
            input: update.input.to_string(),
        })),
    }
}

fn unexpected(wait: &str) -> wasmtime::Error {
    wasmtime::Error::msg(format!("a request it cannot take reached {wait}"))
}

/// The JSON result a guest gave for a query or an update: a value, or the failure it reported or
/// that its text is not JSON or too large (the request's failure, not the instance's).
fn guest_result(
    s: &mut OrchestrationState,
    what: &str,
    answer: Result<String, types::Failure>,
) -> Result<serde_json::Value, Failure> {
    match answer {
        Ok(text) => match s.json(what, &text) {
            Ok(value) => Ok(value),
            Err(_) => Err(s.fatal.take().unwrap_or_else(|| {
                Failure::new("InvalidJson", format!("the {what} is not valid JSON"))
            })),
        },
        Err(f) => Err(failure(s, f)),
    }
}

fn failure(s: &OrchestrationState, f: types::Failure) -> Failure {
    Failure::from_guest(
        &f.kind,
        &f.message,
        f.details.as_deref(),
        s.max_payload,
        s.max_payload,
    )
}

impl types::Host for HostState {}

impl HostState {
    /// Waits through the replay core and refills the CPU budget for the code that runs next.
    async fn wait_for<T>(
        &mut self,
        takes: Takes,
        poll: impl Fn(&Replay) -> Result<Option<T>, Misuse>,
    ) -> wasmtime::Result<Woken<T>> {
        let woken = state(self)?.wait(takes, poll).await?;
        self.reset_budget();
        Ok(woken)
    }

    /// Schedules an activity call (ordinary or local, as `options` say) after checking its name
    /// and input.
    fn schedule_activity(
        &mut self,
        name: String,
        input: String,
        options: ActivityOptions,
    ) -> wasmtime::Result<u32> {
        let s = state(self)?;
        s.name("an activity name", &name)?;
        let input = s.json("activity input", &input)?;
        s.schedule(Call::Activity {
            name,
            input,
            options,
        })
    }
}

impl context::Host for HostState {
    async fn call_activity(
        &mut self,
        name: String,
        input: String,
        opts: types::ActivityOptions,
    ) -> wasmtime::Result<u32> {
        let opts = types::CallOptions {
            retry: opts.retry,
            timeout_ms: opts.timeout_ms,
            heartbeat_timeout_ms: None,
        };
        self.call_activity_with(name, input, opts).await
    }

    async fn call_activity_with(
        &mut self,
        name: String,
        input: String,
        opts: types::CallOptions,
    ) -> wasmtime::Result<u32> {
        self.schedule_activity(name, input, options(opts, false))
    }

    async fn call_local_activity(
        &mut self,
        name: String,
        input: String,
        opts: types::CallOptions,
    ) -> wasmtime::Result<u32> {
        self.schedule_activity(name, input, options(opts, true))
    }

    async fn call_orchestrator(
        &mut self,
        name: String,
        instance_id: Option<String>,
        input: String,
    ) -> wasmtime::Result<u32> {
        let s = state(self)?;
        s.name("an orchestrator name", &name)?;
        if let Some(id) = &instance_id {
            s.name("a sub-orchestration instance id", id)?;
        }
        let input = s.json("sub-orchestration input", &input)?;
        s.schedule(Call::Orchestrator {
            name,
            instance: instance_id,
            input,
        })
    }

    async fn start_timer(&mut self, fire_at_ms: u64) -> wasmtime::Result<u32> {
        state(self)?.schedule(Call::Timer { fire_at_ms })
    }

    async fn wait_event(&mut self, name: String) -> wasmtime::Result<u32> {
        let s = state(self)?;
        s.name("an event name", &name)?;
        s.schedule(Call::WaitEvent { name })
    }

    async fn cancel(&mut self, task: u32) -> wasmtime::Result<()> {
        let s = state(self)?;
        s.read_only("canceled a task")?;
        match s.core.is_resolved(task) {
            Ok(true) => Ok(()),
            Ok(false) => s
                .core
                .cancel(task)
                .map_err(|nd| s.fatal(Failure::new("NonDeterminism", nd.to_string()))),
            Err(misuse) => Err(s.fatal(Failure::new("ContextMisuse", misuse.to_string()))),
        }
    }

    async fn await_all(&mut self, tasks: Vec<u32>) -> wasmtime::Result<Vec<types::Outcome>> {
        let woken = self.wait_for(Takes::Nothing, |core| core.poll_all(&tasks));
        let outcomes = requested(woken.await?).map_err(|_| unexpected("await-all"))?;
        Ok(outcomes.into_iter().map(outcome).collect())
    }

    async fn await_any(&mut self, tasks: Vec<u32>) -> wasmtime::Result<(u32, types::Outcome)> {
        let woken = self.wait_for(Takes::Nothing, |core| core.poll_any(&tasks));
        let (task, result) = requested(woken.await?).map_err(|_| unexpected("await-any"))?;
        Ok((task, outcome(result)))
    }

    async fn wait_all(&mut self, tasks: Vec<u32>) -> wasmtime::Result<context::AllOrQuery> {
        let woken = self.wait_for(Takes::Queries, |core| core.poll_all(&tasks));
        match requested(woken.await?) {
            Ok(outcomes) => Ok(context::AllOrQuery::Done(
                outcomes.into_iter().map(outcome).collect(),
            )),
            Err(context::Request::Query(query)) => Ok(context::AllOrQuery::Query(query)),
            Err(context::Request::Update(_)) => Err(unexpected("wait-all")),
        }
    }

    async fn wait_any(&mut self, tasks: Vec<u32>) -> wasmtime::Result<context::AnyOrQuery> {
        let woken = self.wait_for(Takes::Queries, |core| core.poll_any(&tasks));
        match requested(woken.await?) {
            Ok((task, result)) => Ok(context::AnyOrQuery::Done((task, outcome(result)))),
            Err(context::Request::Query(query)) => Ok(context::AnyOrQuery::Query(query)),
            Err(context::Request::Update(_)) => Err(unexpected("wait-any")),
        }
    }

    async fn wait_all_or_request(
        &mut self,
        tasks: Vec<u32>,
    ) -> wasmtime::Result<context::AllOrRequest> {
        let woken = self.wait_for(Takes::Requests, |core| core.poll_all(&tasks));
        Ok(match requested(woken.await?) {
            Ok(outcomes) => {
                context::AllOrRequest::Done(outcomes.into_iter().map(outcome).collect())
            }
            Err(request) => context::AllOrRequest::Request(request),
        })
    }

    async fn wait_any_or_request(
        &mut self,
        tasks: Vec<u32>,
    ) -> wasmtime::Result<context::AnyOrRequest> {
        let woken = self.wait_for(Takes::Requests, |core| core.poll_any(&tasks));
        Ok(match requested(woken.await?) {
            Ok((task, result)) => context::AnyOrRequest::Done((task, outcome(result))),
            Err(request) => context::AnyOrRequest::Request(request),
        })
    }

    async fn accept_update(
        &mut self,
        verdict: Result<(), types::Failure>,
    ) -> wasmtime::Result<bool> {
        let s = state(self)?;
        let verdict = verdict.map_err(|f| failure(s, f));
        s.accept_update(verdict)
    }

    async fn answer_update(
        &mut self,
        answer: Result<String, types::Failure>,
    ) -> wasmtime::Result<()> {
        let s = state(self)?;
        let answer = guest_result(s, "update result", answer);
        s.answer_update(answer)
    }

    async fn answer_query(
        &mut self,
        answer: Result<String, types::Failure>,
    ) -> wasmtime::Result<()> {
        let s = state(self)?;
        let answer = guest_result(s, "query answer", answer);
        s.answer(answer)
    }

    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(state(self)?.core.now_ms())
    }

    async fn random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(state(self)?.rng().next_u64())
    }

    async fn new_uuid(&mut self) -> wasmtime::Result<String> {
        let bytes: [u8; 16] = state(self)?.rng().random();
        Ok(uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string())
    }

    async fn is_replaying(&mut self) -> wasmtime::Result<bool> {
        Ok(state(self)?.core.is_replaying())
    }

    async fn set_custom_status(&mut self, status: String) -> wasmtime::Result<()> {
        let s = state(self)?;
        s.read_only("set the custom status")?;
        let status = s.json("custom status", &status)?;
        s.core
            .set_custom_status(status)
            .map_err(|nd| s.fatal(Failure::new("NonDeterminism", nd.to_string())))
    }

    async fn continue_as_new(&mut self, input: String) -> wasmtime::Result<()> {
        let s = state(self)?;
        s.read_only("continued as new")?;
        let input = s.json("continue-as-new input", &input)?;
        s.core.continue_as_new(input, false);
        Ok(())
    }

    async fn continue_as_new_keeping_events(&mut self, input: String) -> wasmtime::Result<()> {
        let s = state(self)?;
        s.read_only("continued as new")?;
        let input = s.json("continue-as-new input", &input)?;
        s.core.continue_as_new(input, true);
        Ok(())
    }

    async fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        let s = state(self)?;
        // Replayed lines were written the first time; a query's guest keeps nothing.
        if s.core.is_replaying() || s.query.is_some() || s.answering.is_some() {
            return Ok(());
        }
        let message = cut(&message, s.logs.line_bytes());
        let (level, stream) = match level {
            types::LogLevel::Trace => (tracing::Level::TRACE, "trace"),
            types::LogLevel::Debug => (tracing::Level::DEBUG, "debug"),
            types::LogLevel::Info => (tracing::Level::INFO, "info"),
            types::LogLevel::Warn => (tracing::Level::WARN, "warn"),
            types::LogLevel::Error => (tracing::Level::ERROR, "error"),
        };
        s.logs.write(s.core.instance(), level, stream, &message);
        Ok(())
    }
}
