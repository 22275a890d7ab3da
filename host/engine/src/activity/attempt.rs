//! One attempt of a guest activity: the active module's component in a fresh sandbox, with the
//! function's capabilities of this moment (grants, configuration and secrets as environment
//! variables), under the attempt's time limit.
//!
//! It returns the attempt's output or failure, secrets masked; committing it is the caller's job.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde_json::Value;
use wasmtime_wasi::WasiCtxBuilder;

use super::Attempt;
use crate::history::Failure;
use crate::module::guest_output::GuestOutput;
use crate::module::runtime::HostState;
use crate::shared::Shared;
use keel_runtime::capability::Holdings;
use keel_runtime::capability::granted::{Granted, SECRET_UNAVAILABLE};
use keel_runtime::capability::outgoing::{Grants, Policy};
use keel_runtime::capability::redact::Redactor;
use keel_runtime::guest_log::GuestLog;

/// Runs `attempt` in a fresh instance of the active module providing the activity.
/// What it writes goes to `log`.
pub(super) async fn run(
    shared: &Shared,
    attempt: &Attempt<'_>,
    log: &Arc<GuestLog>,
    beats: Arc<super::heartbeat::Beats>,
) -> Result<Value, Failure> {
    let (function, range) = keel_runtime::labels::split_versioned(attempt.name);
    let (digest, held) = if range.is_none() {
        // The active module and the capabilities in one read.
        let (active, held) = shared
            .store
            .activity_setup(function)
            .await
            .map_err(|e| Failure::new("HostError", e.to_string()))?;
        let active = active.ok_or_else(|| super::resolve::not_deployed(function))?;
        (active, held)
    } else {
        let digest = super::resolve::resolve_activity(&shared.store, attempt.name).await?;
        (digest, holdings(shared, function).await?)
    };
    let module = shared
        .registry
        .load(&digest)
        .await
        .map_err(|e| Failure::new("HostError", e.to_string()))?;
    let pre = module.activity.clone().ok_or_else(|| {
        Failure::new(
            "HostError",
            format!("module {digest} exports no activities"),
        )
    })?;
    let granted = Granted::open(function, held, &shared.config.secret_key)
        .map_err(|e| Failure::new(SECRET_UNAVAILABLE, e.to_string()))?;
    let runtime = shared.registry.runtime();
    let limits = runtime.limits();
    let timeout_ms = attempt
        .options
        .timeout_ms
        .unwrap_or(limits.activity_timeout_ms);
    let label = format!("{}/{}#{}", attempt.instance, attempt.task_id, attempt.name);
    let muted = Arc::new(AtomicBool::new(false));
    let redactor = Arc::new(granted.redactor);
    let mut wasi = WasiCtxBuilder::new();
    for (key, value) in &granted.env {
        wasi.env(key, value);
    }
    wasi.env("KEEL_INSTANCE_ID", attempt.instance)
        .env("KEEL_TASK_ID", attempt.task_id.to_string())
        .env("KEEL_ATTEMPT", attempt.number.to_string())
        .env("KEEL_IDEMPOTENCY_KEY", idempotency_key(attempt))
        .stdout(
            GuestOutput::new(label.clone(), "stdout", muted.clone(), log.clone())
                .redacting(redactor.clone()),
        )
        .stderr(GuestOutput::new(label, "stderr", muted, log.clone()).redacting(redactor.clone()));
    let policy = Policy::Granted(Box::new(Grants {
        function: function.to_owned(),
        patterns: granted.patterns,
        deadline: Instant::now() + Duration::from_millis(timeout_ms),
        timeout_ms,
        max_response_bytes: limits.http_response_max_bytes,
        max_concurrent: limits.http_max_concurrent,
    }));
    let mut state = HostState::new(wasi.build(), limits, timeout_ms, policy);
    state.attempt = Some(beats);
    let mut store = runtime.store(state);
    let input = attempt.input.to_string();
    let meter = store.data().cpu.clone();
    let call = crate::module::cpu::Metered::new(
        async {
            let guest = pre.instantiate_async(&mut store).await?;
            guest
                .keel_workflow_activities()
                .call_run(&mut store, function, &input)
                .await
        },
        meter,
    );
    // The epoch budget stops a guest that computes; this stops one that waits on the host.
    let result = tokio::time::timeout(
        Duration::from_millis(timeout_ms.saturating_add(1_000)),
        call,
    )
    .await;
    // A policy breach (a denied request, a response over the cap) fails the attempt whatever the
    // guest made of the error it was given.
    if let Some(breach) = store.data().violation.get() {
        return Err(mask(&redactor, breach));
    }
    let output = match result {
        Err(_) => {
            return Err(Failure::new(
                "Timeout",
                format!("the activity did not finish within {timeout_ms} ms"),
            ));
        }
        Ok(Err(e)) => {
            return Err(mask(
                &redactor,
                store.data().failure_of(&e, "Timeout", timeout_ms),
            ));
        }
        Ok(Ok(Err(f))) => {
            return Err(mask(
                &redactor,
                Failure::from_guest(
                    &f.kind,
                    &f.message,
                    f.details.as_deref(),
                    limits.max_failure_bytes,
                    limits.max_payload_bytes,
                ),
            ));
        }
        Ok(Ok(Ok(output))) => output,
    };
    if output.len() > limits.max_payload_bytes {
        return Err(Failure::new(
            "PayloadTooLarge",
            format!(
                "the activity returned {} bytes; the limit is {} bytes",
                output.len(),
                limits.max_payload_bytes
            ),
        ));
    }
    serde_json::from_str(&output)
        .map(|v| redactor.json(v))
        .map_err(|e| {
            Failure::new(
                "InvalidJson",
                format!("the activity returned output that is not valid JSON: {e}"),
            )
        })
}

/// The key every attempt of one activity call shares, different for every call: `instance/run/task`,
/// and after the first execution `instance/run@execution/task`, since task ids restart with each
/// execution of a continue-as-new. `run` is the incarnation's token, so that a new instance started
/// under an ended one's id (directly or after a purge) gets keys of its own; a rewind keeps it.
/// Instances created before run tokens existed keep the keys they had: `instance/task`,
/// `instance@execution/task`.
fn idempotency_key(attempt: &Attempt<'_>) -> String {
    let incarnation = match attempt.run {
        Some(run) => format!("{}/{run}", attempt.instance),
        None => attempt.instance.to_owned(),
    };
    if attempt.execution <= 1 {
        format!("{incarnation}/{}", attempt.task_id)
    } else {
        format!("{incarnation}@{}/{}", attempt.execution, attempt.task_id)
    }
}

/// The capabilities `function` holds now, opened for one attempt.
pub(super) async fn grant(shared: &Shared, function: &str) -> Result<Granted, Failure> {
    let held = holdings(shared, function).await?;
    Granted::open(function, held, &shared.config.secret_key)
        .map_err(|e| Failure::new(SECRET_UNAVAILABLE, e.to_string()))
}

/// The capabilities `function` holds now.
async fn holdings(shared: &Shared, function: &str) -> Result<Holdings, Failure> {
    shared
        .store
        .holdings(function)
        .await
        .map_err(|e| Failure::new("HostError", e.to_string()))
}

/// `failure` with the attempt's secret values masked.
pub(super) fn mask(redactor: &Redactor, failure: Failure) -> Failure {
    if redactor.is_empty() {
        return failure;
    }
    Failure {
        kind: failure.kind,
        message: redactor.text(&failure.message).into_owned(),
        details: failure.details.map(|d| redactor.json(d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(execution: u32, run: Option<&str>) -> String {
        idempotency_key(&Attempt {
            instance: "order-7",
            execution,
            run,
            task_id: 3,
            name: "Charge",
            input: &Value::Null,
            options: &Default::default(),
            number: 2,
            first_at: 0,
        })
    }

    #[test]
    fn idempotency_keys_name_the_incarnation_when_it_has_a_run() {
        let run = Some("9f86d081884c7d65");
        assert_eq!(key(1, run), "order-7/9f86d081884c7d65/3");
        assert_eq!(key(2, run), "order-7/9f86d081884c7d65@2/3");
        // Instances created before run tokens keep their keys.
        assert_eq!(key(1, None), "order-7/3");
        assert_eq!(key(2, None), "order-7@2/3");
    }
}
