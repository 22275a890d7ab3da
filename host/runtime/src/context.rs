//! The `context` interface as the guest sees it: each call is checked and recorded by the replay core,
//! and `await-*` suspends the guest until the driver delivers the next turn's messages.
//!
//! This is the only code that runs while a guest is inside a host call; it never touches the store.

use rand::{Rng as _, RngExt as _};

use crate::history::{ActivityOptions, Failure, Outcome, RetryPolicy};
use crate::module::runtime::HostState;
use crate::text::cut;
use crate::turn::OrchestrationState;
use crate::wit::orchestrator::keel::workflow::{context, types};
use keel_core::replay::Call;

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
        let outcomes = state(self)?.wait(|core| core.poll_all(&tasks)).await?;
        self.reset_budget();
        Ok(outcomes.into_iter().map(outcome).collect())
    }

    async fn await_any(&mut self, tasks: Vec<u32>) -> wasmtime::Result<(u32, types::Outcome)> {
        let (task, result) = state(self)?.wait(|core| core.poll_any(&tasks)).await?;
        self.reset_budget();
        Ok((task, outcome(result)))
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
        let status = s.json("custom status", &status)?;
        s.core
            .set_custom_status(status)
            .map_err(|nd| s.fatal(Failure::new("NonDeterminism", nd.to_string())))
    }

    async fn continue_as_new(&mut self, input: String) -> wasmtime::Result<()> {
        let s = state(self)?;
        let input = s.json("continue-as-new input", &input)?;
        s.core.continue_as_new(input);
        Ok(())
    }

    async fn log(&mut self, level: types::LogLevel, message: String) -> wasmtime::Result<()> {
        let s = state(self)?;
        if s.core.is_replaying() {
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
