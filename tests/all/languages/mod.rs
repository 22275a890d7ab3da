//! One suite for every guest language: each example in `guest-examples/<example>/<language>` runs the
//! same scenarios with the same inputs, and must give the same outputs, failures, custom statuses and
//! histories as the Rust build; each language's determinism fixture must replay identically after a
//! restart. It must never hold a scenario written for one language only: a scenario is a function
//! taking the language, instantiated for all four by `for_every_language!`.

use keel::HistoryEvent;
use keel::cli::build::Lang;
use keel::store::{HistoryRecord, Instance};
use keel::testkit::numbers_as_f64;
use serde_json::Value;

use crate::support::{TestEngine, engine, finish};

mod approval;
mod builds;
mod c_json;
mod cancel;
mod carry;
mod coverage;
mod cross_language;
mod determinism;
mod fan_out;
mod heartbeats;
mod http;
mod inline;
mod order_processing;
mod python_failures;
pub(crate) mod scaffold;
mod testkit;

/// The examples and the file name each language's build of it gets.
pub(crate) const EXAMPLES: [(&str, &str); 4] = [
    ("order-processing", "order_processing"),
    ("fan-out", "fan_out"),
    ("approval", "approval"),
    ("http", "http_calls"),
];

/// An engine on a fresh database with `lang`'s build of `artefact` deployed.
pub(crate) async fn engine_for(lang: Lang, artefact: &str) -> TestEngine {
    let bytes = builds::module(lang, artefact);
    let t = engine(&[]).await;
    t.keel
        .deploy(bytes, None)
        .await
        .unwrap_or_else(|e| panic!("deploying the {lang} build of {artefact}: {e}"));
    t
}

/// Like [`engine_for`], with the configuration adjusted by `adjust`.
pub(crate) async fn engine_for_with(
    lang: Lang,
    artefact: &str,
    adjust: impl FnOnce(&mut keel::Config),
) -> TestEngine {
    let bytes = builds::module(lang, artefact);
    let t = crate::support::engine_with(&[], adjust).await;
    t.keel
        .deploy(bytes, None)
        .await
        .unwrap_or_else(|e| panic!("deploying the {lang} build of {artefact}: {e}"));
    t
}

/// Starts `name` with `input` as `id` and runs it to its end.
pub(crate) async fn run(
    t: &TestEngine,
    name: &str,
    input: &str,
    id: &str,
) -> (Instance, Vec<HistoryRecord>) {
    let id = t.keel.start(name, input, Some(id)).await.unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    let history = t.keel.history(id.as_str()).await.unwrap();
    (instance, history)
}

/// A history without what legitimately differs between two runs or two languages: turn markers, the
/// module digest, retry times and the spelling of numbers.
pub(crate) fn comparable(history: &[HistoryRecord]) -> Vec<Value> {
    history
        .iter()
        .filter_map(|r| match r.event.clone() {
            HistoryEvent::OrchestratorStarted { .. } => None,
            HistoryEvent::ExecutionStarted {
                name,
                input,
                parent,
                ..
            } => Some(HistoryEvent::ExecutionStarted {
                name,
                module: String::new(),
                input,
                parent,
            }),
            HistoryEvent::TaskRetrying {
                id,
                failure,
                attempt,
                ..
            } => Some(HistoryEvent::TaskRetrying {
                id,
                failure,
                attempt,
                retry_at_ms: 0,
            }),
            event => Some(event),
        })
        .map(|event| numbers_as_f64(&serde_json::to_value(event).expect("events serialise")))
        .collect()
}

/// The order two histories are compared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Event by event.
    Recorded,
    /// As multisets: activities that run in parallel complete in any order.
    Any,
}

/// Runs `name` with `input` on `lang`'s build of `artefact` and on the Rust build, and asserts that
/// status, output, failure, custom status and history are the same; returns `lang`'s run.
pub(crate) async fn same_as_rust(
    lang: Lang,
    artefact: &str,
    name: &str,
    input: &str,
    order: Order,
) -> (Instance, Vec<HistoryRecord>) {
    same_as_rust_with(lang, artefact, name, input, order, async |_| ()).await
}

/// Like [`same_as_rust`], with `setup` run on each engine before the instance starts; what it returns
/// is kept alive until that run has ended (e.g. the services the run calls).
pub(crate) async fn same_as_rust_with<G>(
    lang: Lang,
    artefact: &str,
    name: &str,
    input: &str,
    order: Order,
    setup: impl AsyncFn(&keel::Keel) -> G,
) -> (Instance, Vec<HistoryRecord>) {
    let t = engine_for(lang, artefact).await;
    let guard = setup(&t.keel).await;
    let run_lang = run(&t, name, input, "same-id").await;
    drop(guard);
    if lang == Lang::Rust {
        return run_lang;
    }
    let r = engine_for(Lang::Rust, artefact).await;
    let guard = setup(&r.keel).await;
    let (rust, rust_history) = run(&r, name, input, "same-id").await;
    drop(guard);
    let (instance, history) = &run_lang;
    assert_eq!(instance.status, rust.status, "{lang}: {instance:?}");
    let json = |v: &Option<Value>| v.as_ref().map(numbers_as_f64);
    assert_eq!(json(&instance.output), json(&rust.output), "{lang}: output");
    assert_eq!(instance.failure, rust.failure, "{lang}: failure");
    assert_eq!(
        instance.custom_status, rust.custom_status,
        "{lang}: custom status"
    );
    let (mut mine, mut theirs) = (comparable(history), comparable(&rust_history));
    if order == Order::Any {
        mine.sort_by_key(Value::to_string);
        theirs.sort_by_key(Value::to_string);
    }
    for (i, (a, b)) in mine.iter().zip(&theirs).enumerate() {
        assert_eq!(
            a, b,
            "{lang}: history event {i} differs from the Rust build's"
        );
    }
    assert_eq!(mine.len(), theirs.len(), "{lang}: history length");
    run_lang
}

/// Instantiates scenario functions `async fn scenario(lang: Lang)` as one test per language:
/// `languages::<language>::<scenario>`.
macro_rules! for_every_language {
    ($($scenario:path => $test:ident),* $(,)?) => {
        mod rust {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $test() { $scenario(keel::cli::build::Lang::Rust).await }) *
        }
        mod python {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $test() { $scenario(keel::cli::build::Lang::Python).await }) *
        }
        mod javascript {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $test() { $scenario(keel::cli::build::Lang::JavaScript).await }) *
        }
        mod c {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $test() { $scenario(keel::cli::build::Lang::C).await }) *
        }
    };
}

for_every_language! {
    crate::languages::order_processing::an_order_is_paid_reserved_shipped_and_confirmed
        => an_order_is_paid_reserved_shipped_and_confirmed,
    crate::languages::order_processing::a_declined_payment_fails_the_order_with_a_clear_error
        => a_declined_payment_fails_the_order_with_a_clear_error,
    crate::languages::order_processing::a_busy_payment_service_is_retried_by_the_policy
        => a_busy_payment_service_is_retried_by_the_policy,
    crate::languages::order_processing::missing_stock_fails_the_order_and_names_the_item
        => missing_stock_fails_the_order_and_names_the_item,
    crate::languages::order_processing::the_manifest_lists_every_function
        => the_manifest_lists_every_function,
    crate::languages::http::an_allowed_call_succeeds_and_a_denied_one_fails_at_once
        => an_allowed_call_succeeds_and_a_denied_one_fails_at_once,
    crate::languages::http::a_slow_server_hits_the_attempt_timeout
        => a_slow_server_hits_the_attempt_timeout,
    crate::languages::http::an_oversized_response_hits_the_size_cap
        => an_oversized_response_hits_the_size_cap,
    crate::languages::http::grants_and_configuration_reach_the_next_attempt_of_a_running_worker
        => grants_and_configuration_reach_the_next_attempt_of_a_running_worker,
    crate::languages::http::an_orchestrator_calling_wasi_http_gets_the_coded_error
        => an_orchestrator_calling_wasi_http_gets_the_coded_error,
    crate::languages::http::a_durable_call_follows_202_through_a_worker_restart
        => a_durable_call_follows_202_through_a_worker_restart,
    crate::languages::http::a_secret_reaches_the_service_and_nothing_else
        => a_secret_reaches_the_service_and_nothing_else,
    crate::languages::fan_out::fan_out_runs_every_activity_and_joins_the_results
        => fan_out_runs_every_activity_and_joins_the_results,
    crate::languages::fan_out::a_sequence_is_served_by_one_hot_guest_without_replays
        => a_sequence_is_served_by_one_hot_guest_without_replays,
    crate::languages::order_processing::an_order_missing_a_field_is_refused_naming_the_field
        => an_order_missing_a_field_is_refused_naming_the_field,
    crate::languages::fan_out::an_invalid_input_fails_with_the_sdk_failure_kind
        => an_invalid_input_fails_with_the_sdk_failure_kind,
    crate::languages::approval::an_approval_before_the_deadline_wins
        => an_approval_before_the_deadline_wins,
    crate::languages::approval::the_durable_timer_escalates_when_nobody_approves
        => the_durable_timer_escalates_when_nobody_approves,
    crate::languages::approval::a_waiting_approval_answers_its_request_query
        => a_waiting_approval_answers_its_request_query,
    crate::languages::approval::a_waiting_approval_takes_comments_through_its_update
        => a_waiting_approval_takes_comments_through_its_update,
    crate::languages::carry::continue_as_new_carries_unanswered_events_over_only_when_asked
        => continue_as_new_carries_unanswered_events_over_only_when_asked,
    crate::languages::cancel::a_canceled_timer_and_wait_resolve_canceled_and_the_next_wait_takes_the_event
        => a_canceled_timer_and_wait_resolve_canceled_and_the_next_wait_takes_the_event,
    crate::languages::heartbeats::an_attempt_resumes_from_the_last_heartbeat_of_the_one_before
        => an_attempt_resumes_from_the_last_heartbeat_of_the_one_before,
    crate::languages::inline::local_calls_run_in_the_turn_that_made_them
        => local_calls_run_in_the_turn_that_made_them,
    crate::languages::determinism::time_random_and_map_order_are_identical_on_replay
        => time_random_and_map_order_are_identical_on_replay,
    crate::languages::scaffold::keel_new_builds_and_runs
        => keel_new_builds_and_runs,
    crate::languages::testkit::every_example_s_scenarios_pass
        => every_example_s_scenarios_pass,
}
