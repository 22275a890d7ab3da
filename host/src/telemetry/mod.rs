//! Logs and traces of the `keel` binary: log lines on stderr, and — with an OTLP endpoint — Keel's spans
//! (`orchestration.turn`, `activity.attempt`, with instance id, execution, name, task and attempt)
//! exported over OTLP/HTTP with the JSON encoding to `ENDPOINT/v1/traces`.
//!
//! Every span of one instance gets the same trace id (derived from the instance id), so a trace viewer
//! shows an orchestration's turns and activity attempts as one trace. A span in which an event carries
//! a `failure` or `error` field, or a warning, ends with status ERROR and that message. Export never
//! blocks the engine: spans go through a bounded queue and are dropped (and counted) when it is full.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use std::io::IsTerminal as _;
use tokio::sync::{mpsc, oneshot};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

use crate::http1::Remote;

/// Spans sent in one export request at most.
const BATCH: usize = 512;
/// Spans waiting for export at most; more are dropped.
const QUEUE: usize = 8_192;
/// How often a partial batch is sent.
const INTERVAL: Duration = Duration::from_secs(1);

/// The installed logging and tracing; call [`Telemetry::shutdown`] before exiting so that the last
/// spans are exported.
#[derive(Debug)]
pub struct Telemetry {
    exporter: Option<mpsc::Sender<Command>>,
}

enum Command {
    Span(Box<FinishedSpan>),
    Flush(oneshot::Sender<()>),
}

/// Installs the global subscriber: log lines at `default_level` (or `RUST_LOG`) on stderr, and the OTLP
/// exporter when `otlp_endpoint` (`http://HOST:PORT`) is given. Must run inside a tokio runtime.
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
        return Ok(Telemetry { exporter: None });
    };
    let remote = Remote::new(endpoint.trim_end_matches('/'), None)
        .map_err(|e| anyhow::anyhow!("--otlp-endpoint {e:#}"))?;
    let (tx, rx) = mpsc::channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    tokio::spawn(export(remote, rx, dropped.clone()));
    let layer = OtlpLayer {
        tx: tx.clone(),
        dropped,
        seed: process_seed(),
        next: AtomicU64::new(1),
    }
    // Only Keel's own spans are exported; the log filter does not apply to them.
    .with_filter(tracing_subscriber::filter::filter_fn(|m| {
        m.target().starts_with("keel")
    }));
    tracing_subscriber::registry().with(fmt).with(layer).init();
    Ok(Telemetry { exporter: Some(tx) })
}

impl Telemetry {
    /// Exports every span finished so far (waiting at most five seconds).
    pub async fn shutdown(self) {
        let Some(tx) = self.exporter else { return };
        let (done, wait) = oneshot::channel();
        if tx.send(Command::Flush(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        }
    }
}

/// A span as exported.
#[derive(Debug, Clone)]
struct FinishedSpan {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    name: &'static str,
    start: SystemTime,
    end: SystemTime,
    attributes: Vec<(String, Value)>,
    error: Option<String>,
}

/// What the layer keeps in a live span's extensions.
#[derive(Debug)]
struct LiveSpan {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    start: SystemTime,
    attributes: Vec<(String, Value)>,
    error: Option<String>,
}

struct OtlpLayer {
    tx: mpsc::Sender<Command>,
    dropped: Arc<AtomicU64>,
    seed: u64,
    next: AtomicU64,
}

impl OtlpLayer {
    fn span_id(&self) -> [u8; 8] {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // Distinct within the process, and across processes through the seed.
        (self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes()
    }
}

fn process_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let hash = Sha256::digest(format!("{}:{nanos}", std::process::id()));
    u64::from_be_bytes(hash[..8].try_into().unwrap_or_default())
}

/// The trace id of everything that happens to instance `id`.
fn instance_trace_id(id: &str) -> [u8; 16] {
    let hash = Sha256::digest(format!("keel-instance:{id}"));
    hash[..16].try_into().unwrap_or_default()
}

/// Collects a span's or an event's fields as OTLP attribute values.
#[derive(Default)]
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        let key = field.name().to_owned();
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key, value)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, json!({ "stringValue": value }));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, json!({ "intValue": value.to_string() }));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, json!({ "intValue": value.to_string() }));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, json!({ "boolValue": value }));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, json!({ "doubleValue": value }));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, json!({ "stringValue": format!("{value:?}") }));
    }
}

fn string_of(value: &Value) -> Option<&str> {
    value["stringValue"].as_str()
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<LiveSpan>()
                .map(|l| (l.trace_id, l.span_id))
        });
        let trace_id = match (&parent, fields.0.iter().find(|(k, _)| k == "instance")) {
            (Some((trace, _)), _) => *trace,
            (None, Some((_, instance))) => instance_trace_id(string_of(instance).unwrap_or("")),
            (None, None) => {
                let mut id = [0; 16];
                id[..8].copy_from_slice(&self.span_id());
                id[8..].copy_from_slice(&self.seed.to_be_bytes());
                id
            }
        };
        span.extensions_mut().insert(LiveSpan {
            trace_id,
            span_id: self.span_id(),
            parent: parent.map(|(_, span)| span),
            start: SystemTime::now(),
            attributes: fields.0,
            error: None,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(live) = extensions.get_mut::<LiveSpan>() {
            let mut fields = Fields(std::mem::take(&mut live.attributes));
            values.record(&mut fields);
            live.attributes = fields.0;
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let field = |name: &str| {
            fields
                .0
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| string_of(v).map(str::to_owned))
        };
        let error = field("failure").or_else(|| field("error")).or_else(|| {
            (*event.metadata().level() <= Level::WARN)
                .then(|| field("message"))
                .flatten()
        });
        if let Some(error) = error
            && let Some(live) = span.extensions_mut().get_mut::<LiveSpan>()
        {
            live.error = Some(error);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(live) = span.extensions_mut().remove::<LiveSpan>() else {
            return;
        };
        let finished = FinishedSpan {
            trace_id: live.trace_id,
            span_id: live.span_id,
            parent: live.parent,
            name: span.metadata().name(),
            start: live.start,
            end: SystemTime::now(),
            attributes: live.attributes,
            error: live.error,
        };
        if self.tx.try_send(Command::Span(Box::new(finished))).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends batches until the layer goes away, flushing on request.
async fn export(remote: Remote, mut rx: mpsc::Receiver<Command>, dropped: Arc<AtomicU64>) {
    let mut batch = Vec::new();
    let mut flushes = Vec::new();
    loop {
        let timed_out = match tokio::time::timeout(INTERVAL, rx.recv()).await {
            Ok(Some(Command::Span(span))) => {
                batch.push(*span);
                false
            }
            Ok(Some(Command::Flush(done))) => {
                flushes.push(done);
                false
            }
            Ok(None) => break,
            Err(_) => true,
        };
        let due = batch.len() >= BATCH || !flushes.is_empty() || timed_out;
        if due && !batch.is_empty() {
            for chunk in std::mem::take(&mut batch).chunks(BATCH) {
                send(&remote, chunk, &dropped).await;
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn send(remote: &Remote, spans: &[FinishedSpan], dropped: &AtomicU64) {
    let body = request_body(spans, dropped.swap(0, Ordering::Relaxed));
    match remote.send("POST", "/v1/traces", body.as_bytes()).await {
        Ok((status, _)) if (200..300).contains(&status) => {}
        // Logged outside Keel's targets, so that the failure does not become a span itself.
        Ok((status, reply)) => eprintln!(
            "keel: the OTLP endpoint refused {} span(s): HTTP {status} {}",
            spans.len(),
            String::from_utf8_lossy(&reply)
        ),
        Err(e) => eprintln!(
            "keel: could not export {} span(s) over OTLP: {e:#}",
            spans.len()
        ),
    }
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

/// An OTLP `ExportTraceServiceRequest` in the JSON encoding.
fn request_body(spans: &[FinishedSpan], dropped_before: u64) -> String {
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let attributes: Vec<Value> = s
                .attributes
                .iter()
                .map(|(k, v)| json!({ "key": format!("keel.{k}"), "value": v }))
                .collect();
            let mut span = json!({
                "traceId": hex::encode(s.trace_id),
                "spanId": hex::encode(s.span_id),
                "name": s.name,
                "kind": 1,
                "startTimeUnixNano": nanos(s.start),
                "endTimeUnixNano": nanos(s.end),
                "attributes": attributes,
                "status": match &s.error {
                    Some(message) => json!({ "code": 2, "message": message }),
                    None => json!({ "code": 0 }),
                },
            });
            if let Some(parent) = s.parent {
                span["parentSpanId"] = json!(hex::encode(parent));
            }
            span
        })
        .collect();
    json!({
        "resourceSpans": [{
            "resource": { "attributes": [
                { "key": "service.name", "value": { "stringValue": "keel" } },
                { "key": "service.version", "value": { "stringValue": env!("CARGO_PKG_VERSION") } },
                { "key": "keel.spans_dropped", "value": { "intValue": dropped_before.to_string() } },
            ] },
            "scopeSpans": [{
                "scope": { "name": "keel", "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }],
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_has_one_trace_id() {
        assert_eq!(instance_trace_id("order-1"), instance_trace_id("order-1"));
        assert_ne!(instance_trace_id("order-1"), instance_trace_id("order-2"));
    }

    #[test]
    fn spans_encode_as_otlp_json() {
        let span = FinishedSpan {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent: Some([3; 8]),
            name: "activity.attempt",
            start: UNIX_EPOCH + Duration::from_nanos(5),
            end: UNIX_EPOCH + Duration::from_nanos(9),
            attributes: vec![("attempt".into(), json!({ "intValue": "2" }))],
            error: Some("CarrierUnavailable: no carrier".into()),
        };
        let body: Value = serde_json::from_str(&request_body(&[span], 0)).unwrap();
        let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "01".repeat(16));
        assert_eq!(span["parentSpanId"], "03".repeat(8));
        assert_eq!(span["startTimeUnixNano"], "5");
        assert_eq!(span["attributes"][0]["key"], "keel.attempt");
        assert_eq!(span["status"]["code"], 2);
    }
}
