//! The binary's HTTP client, for the CLI's `--server` commands and the OTLP trace exporter: hyper's
//! pooled client over rustls, so `http://` and `https://` both work.
//!
//! Server certificates are checked against the system's trust store (`SSL_CERT_FILE` and
//! `SSL_CERT_DIR` name another, as for OpenSSL); where the system has none, against the Mozilla roots
//! compiled into the binary.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest response read from a server.
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// A pooled HTTP/1.1 client for `http://` and `https://` URLs.
#[derive(Clone)]
pub(crate) struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    /// A client trusting the system's roots, or the built-in ones where the system has none.
    pub(crate) fn new() -> Result<Self> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config()?)
            .https_or_http()
            .enable_http1()
            .build();
        let inner = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { inner })
    }

    /// Sends `request` and reads the whole response, failing after `timeout`.
    pub(crate) async fn send(
        &self,
        request: Request<Bytes>,
        timeout: Duration,
    ) -> Result<Response<Bytes>> {
        let uri = request.uri().clone();
        let exchange = async {
            let response = self
                .inner
                .request(request.map(Full::new))
                .await
                .map_err(|e| anyhow::anyhow!(connect_error(&e)))
                .with_context(|| format!("could not reach {}", origin(&uri)))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("reading the response of {}", origin(&uri)))?
                .to_bytes();
            Ok(Response::from_parts(parts, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| anyhow::anyhow!("{} did not answer within {timeout:?}", origin(&uri)))?
    }
}

/// `scheme://authority` of `uri`, for messages.
fn origin(uri: &Uri) -> String {
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
        _ => uri.to_string(),
    }
}

/// The innermost cause of a failed exchange (refused connection, certificate not trusted), which
/// hyper wraps in a generic "client error".
fn connect_error(error: &hyper_util::client::legacy::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}

/// The rustls configuration shared by every client of the process (loading the trust store reads
/// files, so it is done once).
fn tls_config() -> Result<rustls::ClientConfig> {
    static ROOTS: OnceLock<Arc<rustls::RootCertStore>> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| Arc::new(root_store())).clone();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("configuring TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn root_store() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "a certificate of the system's trust store could not be read");
    }
    let (added, _) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    roots
}

/// Where a Keel server is and how to authenticate to it.
#[derive(Clone)]
pub(crate) struct Remote {
    /// `scheme://authority[/prefix]` without a trailing slash.
    base: String,
    token: Option<String>,
    client: HttpClient,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// How long one request to a Keel server may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

impl Remote {
    /// Parses `http[s]://host[:port][/prefix]`.
    pub(crate) fn new(url: &str, token: Option<String>) -> Result<Self> {
        let uri: Uri = url
            .parse()
            .map_err(|_| anyhow::anyhow!("{url:?}: expected http[s]://HOST[:PORT][/PATH]"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => bail!("{url:?}: expected http[s]://HOST[:PORT][/PATH]"),
        }
        if uri.host().is_none_or(str::is_empty) {
            bail!("{url:?}: no host");
        }
        if uri.query().is_some() {
            bail!("{url:?}: a server URL has no query");
        }
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            token: token.filter(|t| !t.is_empty()),
            client: HttpClient::new()?,
        })
    }

    /// Whether requests carry a bearer token.
    pub(crate) fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// Sends one JSON request and returns the status and body.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>)> {
        self.send_typed(method, path, "application/json", body)
            .await
    }

    /// Sends one request with the given content type and returns the status and body.
    pub(crate) async fn send_typed(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>)> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, content_type);
        if let Some(token) = &self.token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Bytes::copy_from_slice(body))
            .with_context(|| format!("a request to {}{path}", self.base))?;
        let response = self
            .client
            .send(request, REQUEST_TIMEOUT)
            .await
            .context("could not connect to the server")?;
        Ok((response.status().as_u16(), response.into_body().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn server_urls_are_parsed() {
        let r = Remote::new("http://127.0.0.1:8080", None).unwrap();
        assert_eq!(r.base, "http://127.0.0.1:8080");
        let r = Remote::new("https://keel.internal/base/", Some("t".into())).unwrap();
        assert_eq!(r.base, "https://keel.internal/base");
        assert!(r.has_token());
        assert!(Remote::new("keel.internal:8080", None).is_err());
        assert!(Remote::new("ftp://keel.internal", None).is_err());
        assert!(Remote::new("http://keel.internal/?a=1", None).is_err());
    }

    #[test]
    fn a_trust_store_is_always_loaded() {
        assert!(!root_store().is_empty());
    }
}
