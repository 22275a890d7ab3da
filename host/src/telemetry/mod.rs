//! Logs and traces of the `keel` binary: log lines on stderr, and — with an OTLP endpoint — Keel's spans
//! (`orchestration.turn`, `activity.attempt`, with instance id, execution, name, task and attempt)
//! exported over OTLP/HTTP.
//!
//! - `spans.rs`: the `tracing` layer that turns Keel's spans into OpenTelemetry span data. Every span
//!   of one instance gets the same trace id (derived from the instance id), so a trace viewer shows an
//!   orchestration's turns and activity attempts as one trace. A span in which an event carries a
//!   `failure` or `error` field, or a warning, ends with status ERROR and that message.
//! - `otlp.rs`: the OpenTelemetry SDK's batch processor and OTLP exporter that send them
//!   (protobuf, or JSON with `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`; `OTEL_EXPORTER_OTLP_HEADERS`
//!   adds headers). Export never blocks the engine: spans wait in a bounded queue on a thread of the
//!   processor and are dropped, with a warning, when it is full.

mod otlp;
mod spans;

use std::io::IsTerminal as _;
use std::time::Duration;

use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanProcessor as _};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, filter};

/// How long [`Telemetry::shutdown`] waits for the last spans to be exported.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The installed logging and tracing; call [`Telemetry::shutdown`] before exiting so that the last
/// spans are exported.
#[derive(Debug)]
pub struct Telemetry {
    processor: Option<std::sync::Arc<BatchSpanProcessor>>,
}

/// Installs the global subscriber: log lines at `default_level` (or `RUST_LOG`) on stderr, and the OTLP
/// exporter when `otlp_endpoint` (`http[s]://HOST:PORT[/PATH]`, spans go to `/v1/traces` under it)
/// is given. Must run inside a tokio runtime.
pub fn init(default_level: &str, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_filter(filter);
    let Some(endpoint) = otlp_endpoint.filter(|e| !e.is_empty()) else {
        tracing_subscriber::registry().with(fmt).init();
        return Ok(Telemetry { processor: None });
    };
    let processor = std::sync::Arc::new(
        otlp::processor(endpoint).map_err(|e| anyhow::anyhow!("--otlp-endpoint {e:#}"))?,
    );
    // Only Keel's own spans are exported; the log filter does not apply to them.
    let layer = spans::SpanLayer::new(processor.clone())
        .with_filter(filter::filter_fn(|m| m.target().starts_with("keel")));
    tracing_subscriber::registry().with(fmt).with(layer).init();
    Ok(Telemetry {
        processor: Some(processor),
    })
}

impl Telemetry {
    /// Exports every span finished so far (waiting at most five seconds).
    pub async fn shutdown(self) {
        let Some(processor) = self.processor else {
            return;
        };
        // The processor's thread sends the last batch through the tokio runtime's HTTP client; the
        // wait for it must not hold a runtime thread.
        let done = tokio::task::spawn_blocking(move || {
            if let Err(e) = processor.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
                eprintln!("keel: the last spans could not be exported: {e}");
            }
        });
        let _ = done.await;
    }
}
