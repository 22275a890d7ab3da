//! The `context` interface as the guest sees it: each call is checked and recorded by the replay core,
//! and `await-*` / `wait-*` suspend the guest until the driver delivers the next turn's messages (or,
//! in a guest replayed for a query, hand the query over).
//!
//! This is the only code that runs while a guest is inside a host call; it never touches the store.

use rand::{Rng as _, RngExt as _};

use crate::history::{ActivityOptions, Failure, Outcome, RetryPolicy};
use crate::module::runtime::HostState;
use crate::text::cut;
use crate::turn::{OrchestrationState, Woken};
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

fn options(o: types::ActivityOptions) -> ActivityOptions {
    ActivityOptions {
        retry: o.retry.map(|r| RetryPolicy {
            max_attempts: r.max_attempts,
            first_interval_ms: r.first_interval_ms,
            backoff_coefficient: r.backoff_coefficient,
            max_interval_ms: r.max_interval_ms,
            timeout_ms: r.timeout_ms,
            non_retryable: r.non_retryable,
        }),
        timeout_ms: o.timeout_ms,
    }
}

impl types::Host for HostState {}

impl HostState {
    /// Waits through the replay core and refills the CPU budget for the code that runs next.
    async fn wait_for<T>(
        &mut self,
        queries: bool,
        poll: impl Fn(&Replay) -> Result<Option<T>, Misuse>,
    ) -> wasmtime::Result<Woken<T>> {
        let woken = state(self)?.wait(queries, poll).await?;
        self.reset_budget();
        Ok(woken)
    }
}

impl context::Host for HostState {
    async fn call_activity(
        &mut self,
        name: String,
        input: String,
        opts: types::ActivityOptions,
    ) -> wasmtime::Result<u32> {
        let s = state(self)?;
        s.name("an activity name", &name)?;
        let input = s.json("activity input", &input)?;
        s.schedule(Call::Activity {
            name,
            input,
            options: options(opts),
        })
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

    async fn await_all(&mut self, tasks: Vec<u32>) -> wasmtime::Result<Vec<types::Outcome>> {
        match self.wait_for(false, |core| core.poll_all(&tasks)).await? {
            Woken::Done(outcomes) => Ok(outcomes.into_iter().map(outcome).collect()),
            Woken::Query { .. } => Err(wasmtime::Error::msg("a query reached await-all")),
        }
    }

    async fn await_any(&mut self, tasks: Vec<u32>) -> wasmtime::Result<(u32, types::Outcome)> {
        match self.wait_for(false, |core| core.poll_any(&tasks)).await? {
            Woken::Done((task, result)) => Ok((task, outcome(result))),
            Woken::Query { .. } => Err(wasmtime::Error::msg("a query reached await-any")),
        }
    }

    async fn wait_all(&mut self, tasks: Vec<u32>) -> wasmtime::Result<context::AllOrQuery> {
        Ok(
            match self.wait_for(true, |core| core.poll_all(&tasks)).await? {
                Woken::Done(outcomes) => {
                    context::AllOrQuery::Done(outcomes.into_iter().map(outcome).collect())
                }
                Woken::Query { name, input } => {
                    context::AllOrQuery::Query(context::QueryRequest { name, input })
                }
            },
        )
    }

    async fn wait_any(&mut self, tasks: Vec<u32>) -> wasmtime::Result<context::AnyOrQuery> {
        Ok(
            match self.wait_for(true, |core| core.poll_any(&tasks)).await? {
                Woken::Done((task, result)) => context::AnyOrQuery::Done((task, outcome(result))),
                Woken::Query { name, input } => {
                    context::AnyOrQuery::Query(context::QueryRequest { name, input })
                }
            },
        )
    }

    async fn answer_query(
        &mut self,
        answer: Result<String, types::Failure>,
    ) -> wasmtime::Result<()> {
        let s = state(self)?;
        let answer = match answer {
            Ok(text) => match s.json("query answer", &text) {
                Ok(value) => Ok(value),
                // Too large or not JSON: that is the query's failure, not the instance's.
                Err(_) => Err(s.fatal.take().unwrap_or_else(|| {
                    Failure::new("InvalidJson", "the query answer is not valid JSON")
                })),
            },
            Err(f) => Err(Failure::from_guest(
                &f.kind,
                &f.message,
                f.details.as_deref(),
                s.max_payload,
                s.max_payload,
            )),
        };
        Err(s.answer(answer))
    }

    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        Ok(state(self)?.core.now_ms())
    }

    async fn random_u64(&mut self) -> wasmtime::Result<u64> {
        Ok(state(self)?.rng.next_u64())
    }

    async fn new_uuid(&mut self) -> wasmtime::Result<String> {
        let bytes: [u8; 16] = state(self)?.rng.random();
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
