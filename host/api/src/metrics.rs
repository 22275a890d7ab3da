//! Prometheus metrics: the counters the API keeps itself, and the text exposition of them together with
//! the engine's counters and the store's instance counts.
//!
//! It only reads; rendering must never change engine state or hold a lock across an await.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use keel_engine::engine;
use keel_engine::store::Status;

/// Counters kept by the API layer.
#[derive(Debug, Default)]
pub struct ApiMetrics {
    /// Responses by status class: index 0 = 1xx … 4 = 5xx.
    responses: [AtomicU64; 5],
    /// Instances started through the API.
    pub(crate) starts: AtomicU64,
    /// Modules deployed through the API.
    pub(crate) deploys: AtomicU64,
}

impl ApiMetrics {
    fn record(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts every response by status class.
pub(crate) async fn count_responses(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    state.metrics.record(response.status().as_u16());
    response
}

/// The Prometheus text exposition (format 0.0.4) of every metric.
pub(crate) async fn render(state: &AppState) -> Result<String, engine::Error> {
    let counts = state.keel.store().count_by_status().await?;
    let modules = state.keel.store().module_count().await?;
    let engine = state.keel.metrics();
    let now = state.keel.now_ms();
    let (inbox_due, inbox_later) = state.keel.store().inbox_depth(now).await?;
    let (work_due, work_later) = state.keel.store().work_queue_depth(now).await?;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let by_status: Vec<(String, u64)> = Status::ALL
        .iter()
        .map(|s| {
            let n = counts.iter().find(|(c, _)| c == s).map_or(0, |(_, n)| *n);
            (format!("{{status=\"{s}\"}}"), n)
        })
        .collect();
    metric(
        "keel_instances",
        "gauge",
        "Instances in the store by runtime status.",
        &by_status,
    );
    metric(
        "keel_modules",
        "gauge",
        "Deployed modules.",
        &[(String::new(), modules)],
    );
    metric(
        "keel_hot_hits_total",
        "counter",
        "Turns served by an orchestrator guest kept in memory.",
        &[(String::new(), engine.hot_hits.load(Ordering::Relaxed))],
    );
    metric(
        "keel_results_with_turn_total",
        "counter",
        "Activity results committed in one transaction with the turn they unblocked.",
        &[(
            String::new(),
            engine.results_with_turn.load(Ordering::Relaxed),
        )],
    );
    metric(
        "keel_local_activity_attempts_total",
        "counter",
        "Attempts of local activities, run by the turn that called them.",
        &[(String::new(), engine.local_attempts.load(Ordering::Relaxed))],
    );
    metric(
        "keel_replays_total",
        "counter",
        "Orchestrator guests started by replaying history.",
        &[(String::new(), engine.replays.load(Ordering::Relaxed))],
    );
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    metric(
        "keel_hot_evictions_total",
        "counter",
        "Orchestrator guests dropped from memory because the hot cache was full.",
        &[(String::new(), load(&engine.hot_evictions))],
    );
    metric(
        "keel_queries_total",
        "counter",
        "Queries answered, by the instance's guest kept in memory (hot) or by one replayed for them.",
        &[
            ("{guest=\"hot\"}".to_owned(), load(&engine.queries_hot)),
            (
                "{guest=\"replayed\"}".to_owned(),
                load(&engine.queries_replayed),
            ),
        ],
    );
    metric(
        "keel_turns_total",
        "counter",
        "Orchestration turns committed (rate() of it is turns per second).",
        &[(String::new(), load(&engine.turns))],
    );
    metric(
        "keel_turns_abandoned_total",
        "counter",
        "Orchestration turns abandoned (lease lost, conflict, a failure outside the orchestrator); they run again, after a backoff for failures.",
        &[(String::new(), load(&engine.turns_abandoned))],
    );
    metric(
        "keel_instances_parked_total",
        "counter",
        "Instances this process parked because their turns kept failing outside the orchestrator (keel_instances{status=\"Parked\"} counts those parked now).",
        &[(String::new(), load(&engine.instances_parked))],
    );
    let attempts = engine.attempts();
    let label = |name: &str| format!("{{activity=\"{}\"}}", escape(name));
    metric(
        "keel_activity_attempts_total",
        "counter",
        "Activity attempts run, by activity.",
        &attempts
            .iter()
            .map(|(name, c)| (label(name), c.attempts))
            .collect::<Vec<_>>(),
    );
    metric(
        "keel_activity_failures_total",
        "counter",
        "Activity attempts that failed (retried or not), by activity.",
        &attempts
            .iter()
            .map(|(name, c)| (label(name), c.failures))
            .collect::<Vec<_>>(),
    );
    metric(
        "keel_inbox_messages",
        "gauge",
        "Inbox messages due now, and waiting for a later time (timers).",
        &[
            ("{state=\"due\"}".to_owned(), inbox_due),
            ("{state=\"scheduled\"}".to_owned(), inbox_later),
        ],
    );
    metric(
        "keel_work_items",
        "gauge",
        "Activity calls due now, and waiting for a retry's time.",
        &[
            ("{state=\"due\"}".to_owned(), work_due),
            ("{state=\"scheduled\"}".to_owned(), work_later),
        ],
    );
    metric(
        "keel_api_instances_started_total",
        "counter",
        "Instances started through the HTTP API.",
        &[(String::new(), state.metrics.starts.load(Ordering::Relaxed))],
    );
    metric(
        "keel_api_modules_deployed_total",
        "counter",
        "Modules deployed through the HTTP API.",
        &[(String::new(), state.metrics.deploys.load(Ordering::Relaxed))],
    );
    let responses: Vec<(String, u64)> = state
        .metrics
        .responses
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                format!("{{class=\"{}xx\"}}", i + 1),
                n.load(Ordering::Relaxed),
            )
        })
        .collect();
    metric(
        "keel_http_responses_total",
        "counter",
        "HTTP responses by status class.",
        &responses,
    );
    histogram(
        &mut out,
        "keel_turn_duration_seconds",
        "Orchestration turn latency, from claim to commit.",
        &engine.turn_latency.snapshot(),
    );
    histogram(
        &mut out,
        "keel_activity_duration_seconds",
        "Activity attempt latency, from start to the committed result.",
        &engine.activity_latency.snapshot(),
    );
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    metric(
        "keel_build_info",
        "gauge",
        "The running Keel version.",
        &[(format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")), 1)],
    );
    Ok(out)
}

fn histogram(
    out: &mut String,
    name: &str,
    help: &str,
    h: &keel_engine::metrics::HistogramSnapshot,
) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (bound, n) in &h.buckets {
        let le = if bound.is_infinite() {
            "+Inf".to_owned()
        } else {
            bound.to_string()
        };
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_sum {}", h.sum_seconds);
    let _ = writeln!(out, "{name}_count {}", h.count);
}

/// A label value with `\`, `"` and newlines escaped, as the exposition format wants.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
