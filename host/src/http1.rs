//! A minimal HTTP/1.1 client over tokio: one request per connection, `Connection: close`, no TLS.
//! The CLI's `--server` commands and the OTLP trace exporter use it; neither needs more, and it keeps a
//! full HTTP client stack out of the binary.

use anyhow::{Context as _, Result, bail};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Largest response read from a server.
const MAX_RESPONSE_BYTES: usize = 256 << 20;

/// Where the server is and how to authenticate.
#[derive(Clone)]
pub(crate) struct Remote {
    /// `host:port` to connect to and send as `Host`.
    authority: String,
    /// Path prefix of the server's root, without a trailing slash.
    prefix: String,
    token: Option<String>,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("authority", &self.authority)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("malformed chunked response")?;
        let size_text = std::str::from_utf8(&body[..line_end])?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).context("malformed chunk size")?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size {
            bail!("truncated chunked response");
        }
        out.extend_from_slice(&body[..size]);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

impl Remote {
    /// Parses `http://host[:port][/prefix]`.
    pub(crate) fn new(url: &str, token: Option<String>) -> Result<Self> {
        let Some(rest) = url.strip_prefix("http://") else {
            if url.starts_with("https://") {
                bail!("{url:?}: https is not supported; use http:// (or a local proxy)");
            }
            bail!("{url:?}: expected http://HOST[:PORT]");
        };
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            bail!("{url:?}: no host");
        }
        let authority = if authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let prefix = prefix.trim_end_matches('/');
        Ok(Self {
            authority,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            },
            token: token.filter(|t| !t.is_empty()),
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
        let mut stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("could not connect to the server at {}", self.authority))?;
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Accept: application/json\r\nContent-Type: {content_type}\r\n",
            self.prefix,
            self.authority,
            body.len()
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        let mut response = Vec::new();
        (&mut stream)
            .take(u64::try_from(MAX_RESPONSE_BYTES).unwrap_or(u64::MAX))
            .read_to_end(&mut response)
            .await
            .context("reading the server's response")?;
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .context("the server sent no complete HTTP response")?;
        let head = String::from_utf8_lossy(&response[..split]).into_owned();
        let body = &response[split + 4..];
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .context("the server sent no HTTP status")?;
        let chunked = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("transfer-encoding:") && l.contains("chunked")
        });
        let body = if chunked {
            dechunk(body)?
        } else {
            body.to_vec()
        };
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_parsed() {
        let r = Remote::new("http://127.0.0.1:8080", None).unwrap();
        assert_eq!(
            (r.authority.as_str(), r.prefix.as_str()),
            ("127.0.0.1:8080", "")
        );
        let r = Remote::new("http://keel.internal/base/", Some("t".into())).unwrap();
        assert_eq!(
            (r.authority.as_str(), r.prefix.as_str()),
            ("keel.internal:80", "/base")
        );
        assert!(Remote::new("https://keel.internal", None).is_err());
        assert!(Remote::new("keel.internal:8080", None).is_err());
    }

    #[test]
    fn chunked_bodies_are_decoded() {
        assert_eq!(
            dechunk(b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n").unwrap(),
            b"{\"a\":1}"
        );
        assert!(dechunk(b"zz\r\n").is_err());
    }
}
