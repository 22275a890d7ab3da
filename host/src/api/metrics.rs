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
use crate::engine;
use crate::store::Status;

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
        "keel_replays_total",
        "counter",
        "Orchestrator guests started by replaying history.",
        &[(String::new(), engine.replays.load(Ordering::Relaxed))],
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
    metric(
        "keel_build_info",
        "gauge",
        "The running Keel version.",
        &[(format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")), 1)],
    );
    Ok(out)
}
