//! The span exporter: the OpenTelemetry SDK's batch processor and the OTLP/HTTP exporter, sending
//! through the binary's own HTTP client (so `https://` endpoints work and no second HTTP stack is
//! linked).

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SpanProcessor as _};

use crate::http_client::HttpClient;

/// Spans sent in one export request at most.
const BATCH: usize = 512;
/// Spans waiting for export at most; more are dropped.
const QUEUE: usize = 8_192;
/// How often a partial batch is sent.
const INTERVAL: Duration = Duration::from_secs(1);
/// How long one export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often one export request is tried before its batch is given up.
const EXPORT_TRIES: u32 = 3;

/// The batch processor exporting to `endpoint` (`http[s]://HOST:PORT[/PATH]`) at `/v1/traces`.
/// Must be called inside a tokio runtime: requests are sent on it.
pub(super) fn processor(endpoint: &str) -> anyhow::Result<BatchSpanProcessor> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let uri: http::Uri = url
        .parse()
        .map_err(|_| anyhow::anyhow!("{endpoint:?}: expected http[s]://HOST[:PORT][/PATH]"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        anyhow::bail!("{endpoint:?}: expected http[s]://HOST[:PORT][/PATH]");
    }
    let client = OtlpClient {
        client: HttpClient::new()?,
        runtime: tokio::runtime::Handle::current(),
        complaints: Complaints::default(),
    };
    let exporter = SpanExporter::builder()
        .with_http()
        .with_protocol(protocol()?)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(client)
        .build()?;
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(QUEUE)
        .with_max_export_batch_size(BATCH)
        .with_scheduled_delay(INTERVAL)
        .build();
    let mut processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(config)
        .build();
    processor.set_resource(
        &Resource::builder_empty()
            .with_service_name("keel")
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    Ok(processor)
}

/// The encoding the standard variables ask for (`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else
/// `OTEL_EXPORTER_OTLP_PROTOCOL`): protobuf unless `http/json`.
fn protocol() -> anyhow::Result<Protocol> {
    let asked = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok().map(|value| (*name, value)))
    .filter(|(_, value)| !value.is_empty());
    match asked {
        None => Ok(Protocol::HttpBinary),
        Some((_, value)) if value == "http/protobuf" => Ok(Protocol::HttpBinary),
        Some((_, value)) if value == "http/json" => Ok(Protocol::HttpJson),
        Some((name, value)) => anyhow::bail!(
            "{name}={value:?}: Keel exports over http/protobuf or http/json (gRPC is not built in; \
             point it at the collector's HTTP port, 4318)"
        ),
    }
}

/// The exporter's HTTP client: requests go out on the tokio runtime, whichever thread of the
/// processor asks.
#[derive(Debug)]
struct OtlpClient {
    client: HttpClient,
    runtime: tokio::runtime::Handle,
    complaints: Complaints,
}

/// Failed exports, said at most once a minute (the exporter retries, and a collector that is down
/// stays down for a while).
#[derive(Debug, Default)]
struct Complaints(std::sync::Mutex<(Option<std::time::Instant>, u64)>);

impl Complaints {
    fn say(&self, message: String) {
        let Ok(mut state) = self.0.lock() else { return };
        let (last, quiet) = &mut *state;
        if last.is_some_and(|t| t.elapsed() < COMPLAINT_INTERVAL) {
            *quiet += 1;
            return;
        }
        let also = match *quiet {
            0 => String::new(),
            n => format!(" ({n} more failed export(s) not shown)"),
        };
        // Said outside Keel's targets, so that the failure does not become a span itself.
        eprintln!("keel: {message}{also}");
        *last = Some(std::time::Instant::now());
        *quiet = 0;
    }
}

/// How often a failing export is said.
const COMPLAINT_INTERVAL: Duration = Duration::from_secs(60);

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OtlpClient {
    async fn send_bytes(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, opentelemetry_http::HttpError> {
        let client = self.client.clone();
        let url = request.uri().to_string();
        // The exporter does not retry: a request that did not get through (a connection the
        // collector had just closed, a collector restarting) is sent again, twice at most, before
        // its batch is given up.
        let response = self
            .runtime
            .spawn(async move {
                let mut tries = 0;
                loop {
                    tries += 1;
                    match client.send(request.clone(), EXPORT_TIMEOUT).await {
                        Err(_) if tries < EXPORT_TRIES => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        done => return done,
                    }
                }
            })
            .await?;
        match &response {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => self.complaints.say(format!(
                "the OTLP endpoint {url} refused spans: HTTP {} {}",
                r.status(),
                String::from_utf8_lossy(r.body())
            )),
            Err(e) => self
                .complaints
                .say(format!("could not export spans to {url}: {e:#}")),
        }
        Ok(response?)
    }
}
