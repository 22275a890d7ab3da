//! The `tracing` layer that turns Keel's spans into OpenTelemetry span data for the batch processor.
//!
//! The OpenTelemetry SDK gives a root span a fresh trace id; Keel gives it one derived from its
//! instance, so that every turn and attempt of an instance, on any worker and in any process, is in
//! one trace. So the layer assigns the ids itself and hands finished spans to the processor.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks, SpanProcessor};
use sha2::{Digest as _, Sha256};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// What the layer keeps in a live span's extensions.
#[derive(Debug)]
struct LiveSpan {
    trace_id: TraceId,
    span_id: SpanId,
    parent: SpanId,
    start: SystemTime,
    attributes: Vec<KeyValue>,
    error: Option<String>,
}

/// Hands Keel's finished spans to `processor`.
pub(super) struct SpanLayer<P> {
    processor: Arc<P>,
    scope: InstrumentationScope,
    seed: u64,
    next: AtomicU64,
}

impl<P> SpanLayer<P> {
    pub(super) fn new(processor: Arc<P>) -> Self {
        Self {
            processor,
            scope: InstrumentationScope::builder("keel")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
            seed: process_seed(),
            next: AtomicU64::new(1),
        }
    }

    fn span_id(&self) -> SpanId {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        // Distinct within the process, and across processes through the seed.
        SpanId::from_bytes((self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes())
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
fn instance_trace_id(id: &str) -> TraceId {
    let hash = Sha256::digest(format!("keel-instance:{id}"));
    TraceId::from_bytes(hash[..16].try_into().unwrap_or_default())
}

/// Collects a span's or an event's fields as attributes named `keel.FIELD`.
#[derive(Default)]
struct Fields(Vec<KeyValue>);

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        let key = format!("keel.{}", field.name());
        match self.0.iter_mut().find(|kv| kv.key.as_str() == key) {
            Some(slot) => slot.value = value,
            None => self.0.push(KeyValue::new(key, value)),
        }
    }

    fn string(&self, name: &str) -> Option<String> {
        let key = format!("keel.{name}");
        self.0
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .and_then(|kv| match &kv.value {
                Value::String(s) => Some(s.as_str().to_owned()),
                _ => None,
            })
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::I64(i64::try_from(value).unwrap_or(i64::MAX)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::F64(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

impl<S, P> Layer<S> for SpanLayer<P>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    P: SpanProcessor + 'static,
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
        let trace_id = match (parent, fields.string("instance")) {
            (Some((trace, _)), _) => trace,
            (None, Some(instance)) => instance_trace_id(&instance),
            (None, None) => {
                let mut id = [0; 16];
                id[..8].copy_from_slice(&self.span_id().to_bytes());
                id[8..].copy_from_slice(&self.seed.to_be_bytes());
                TraceId::from_bytes(id)
            }
        };
        span.extensions_mut().insert(LiveSpan {
            trace_id,
            span_id: self.span_id(),
            parent: parent.map_or(SpanId::INVALID, |(_, span)| span),
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
        let error = fields
            .string("failure")
            .or_else(|| fields.string("error"))
            .or_else(|| {
                (*event.metadata().level() <= Level::WARN)
                    .then(|| fields.string("message"))
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
        self.processor
            .on_end(finished(live, span.metadata().name(), &self.scope));
    }
}

/// The span data of a span that ended now.
fn finished(live: LiveSpan, name: &'static str, scope: &InstrumentationScope) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            live.trace_id,
            live.span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: live.parent,
        parent_span_is_remote: false,
        span_kind: SpanKind::Internal,
        name: Cow::Borrowed(name),
        start_time: live.start,
        end_time: SystemTime::now(),
        attributes: live.attributes,
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: live.error.map_or(Status::Unset, Status::error),
        instrumentation_scope: scope.clone(),
    }
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
    fn a_failed_span_ends_with_status_error_and_its_parent() {
        let scope = InstrumentationScope::builder("keel").build();
        let live = LiveSpan {
            trace_id: TraceId::from_bytes([1; 16]),
            span_id: SpanId::from_bytes([2; 8]),
            parent: SpanId::from_bytes([3; 8]),
            start: UNIX_EPOCH,
            attributes: vec![KeyValue::new("keel.attempt", 2)],
            error: Some("CarrierUnavailable: no carrier".into()),
        };
        let span = finished(live, "activity.attempt", &scope);
        assert_eq!(span.span_context.trace_id(), TraceId::from_bytes([1; 16]));
        assert_eq!(span.parent_span_id, SpanId::from_bytes([3; 8]));
        assert_eq!(span.name, "activity.attempt");
        assert_eq!(span.status, Status::error("CarrierUnavailable: no carrier"));
    }
}
