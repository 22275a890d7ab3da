//! `keel --server URL <command>`: the management commands sent to a running `keel serve` over its HTTP
//! API instead of being run on a local database; the token comes from `KEEL_API_TOKEN`.
//!
//! It speaks plain HTTP/1.1 (one request per connection, no TLS: put a proxy in front for that) and
//! never opens a database or holds engine logic: every command is one API call, printed like the local one.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::Command;

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
                bail!("--server {url:?}: https is not supported; use http:// (or a local proxy)");
            }
            bail!("--server {url:?}: expected http://HOST[:PORT]");
        };
        let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if authority.is_empty() {
            bail!("--server {url:?}: no host");
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

    /// Sends one request and returns the status and body.
    async fn send(&self, method: &str, path: &str, body: &[u8]) -> Result<(u16, Vec<u8>)> {
        let mut stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("could not connect to the server at {}", self.authority))?;
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Accept: application/json\r\n",
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

    /// Sends one request; a non-2xx answer becomes an error carrying the server's message and code.
    async fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Value> {
        let (status, bytes) = self.send(method, path, body).await?;
        let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if status >= 400 {
            let message = value["message"].as_str().unwrap_or("request failed");
            let code = value["code"].as_str().unwrap_or("unknown");
            if status == 401 && self.token.is_none() {
                bail!("{message} (HTTP 401 {code}); set KEEL_API_TOKEN to the server's token");
            }
            bail!("{message} (HTTP {status} {code})");
        }
        Ok(value)
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

fn print_instance(instance: &Value, json: bool) {
    if json {
        println!("{instance}");
        return;
    }
    let field = |k: &str| instance[k].as_str().unwrap_or_default().to_owned();
    println!("instance  {}", field("id"));
    println!("name      {}", field("name"));
    println!("status    {}", field("status"));
    let module = field("module");
    println!("module    {}", &module[..12.min(module.len())]);
    println!("input     {}", text(&instance["input"]));
    for (key, label) in [("customStatus", "custom   "), ("output", "output   ")] {
        if !instance[key].is_null() {
            println!("{label} {}", text(&instance[key]));
        }
    }
    if let Some(failure) = instance.get("failure").filter(|f| !f.is_null()) {
        println!(
            "failure   {}: {}",
            failure["kind"].as_str().unwrap_or_default(),
            failure["message"].as_str().unwrap_or_default()
        );
    }
}

fn done(json: bool, message: &str) {
    if json {
        println!("{}", json!({"ok": true}));
    } else {
        println!("{message}");
    }
}

async fn deploy(remote: &Remote, path: &Path, version: Option<&str>, json: bool) -> Result<()> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let query = version.map_or_else(String::new, |v| {
        format!("?version={}", crate::api::percent_encode(v))
    });
    let deployed = remote
        .call("POST", &format!("/api/modules{query}"), &bytes)
        .await
        .with_context(|| format!("could not deploy {}", path.display()))?;
    if json {
        println!("{deployed}");
    } else {
        let names: Vec<String> = deployed["functions"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        format!(
                            "{} ({})",
                            text(&f[0]).trim_matches('"'),
                            text(&f[1]).trim_matches('"')
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let digest = deployed["digest"].as_str().unwrap_or_default();
        eprintln!(
            "deployed {} as {} version {}: {}",
            path.display(),
            &digest[..12.min(digest.len())],
            deployed["version"].as_str().unwrap_or_default(),
            names.join(", ")
        );
    }
    Ok(())
}

/// Runs a management command against the server at `url`.
pub(crate) async fn run(url: &str, command: Command, json: bool) -> Result<ExitCode> {
    let remote = Remote::new(url, std::env::var("KEEL_API_TOKEN").ok())?;
    let instance = |id: &str| format!("/api/instances/{}", crate::api::percent_encode(id));
    let reason_body = |reason: &str| json!({ "reason": reason }).to_string().into_bytes();
    match command {
        Command::Deploy { modules, version } => {
            for path in &modules {
                deploy(&remote, path, version.as_deref(), json).await?;
            }
        }
        Command::Modules { action: None } => {
            let listing = remote.call("GET", "/api/modules", b"").await?;
            if json {
                println!("{listing}");
            } else {
                println!("{:<14} {:<10} {:<8} FUNCTION", "DIGEST", "VERSION", "KIND");
                for f in listing["functions"].as_array().into_iter().flatten() {
                    let digest = f["digest"].as_str().unwrap_or_default();
                    println!(
                        "{:<14} {:<10} {:<8} {}{}",
                        &digest[..12.min(digest.len())],
                        f["version"].as_str().unwrap_or_default(),
                        f["kind"].as_str().unwrap_or_default(),
                        f["name"].as_str().unwrap_or_default(),
                        if f["active"] == true { "*" } else { "" }
                    );
                }
                println!("(* = active version)");
            }
        }
        Command::Start { name, input, id } => {
            let path = match &id {
                Some(id) => format!(
                    "/api/orchestrators/{}/{}",
                    crate::api::percent_encode(&name),
                    crate::api::percent_encode(id)
                ),
                None => format!("/api/orchestrators/{}", crate::api::percent_encode(&name)),
            };
            let started = remote.call("POST", &path, input.as_bytes()).await?;
            let id = started["id"].as_str().unwrap_or_default();
            if json {
                println!("{}", json!({ "id": id }));
            } else {
                println!("{id}");
            }
        }
        Command::Status { id } => {
            let value = remote.call("GET", &instance(&id), b"").await?;
            print_instance(&value, json);
        }
        Command::History { id } => {
            let value = remote
                .call("GET", &format!("{}?history=true", instance(&id)), b"")
                .await?;
            let history = value["history"].clone();
            if json {
                println!("{history}");
            } else {
                for r in history.as_array().into_iter().flatten() {
                    let mut event = r["event"].clone();
                    let kind = event["type"].as_str().unwrap_or_default().to_owned();
                    if let Some(map) = event.as_object_mut() {
                        map.remove("type");
                    }
                    println!(
                        "{:>3}.{:<4} {:<26} {}",
                        r["execution"], r["seq"], kind, event
                    );
                }
            }
        }
        Command::List {
            status,
            name,
            limit,
        } => {
            let mut query = format!("?limit={limit}");
            if let Some(status) = status {
                query.push_str(&format!("&status={status}"));
            }
            if let Some(name) = name {
                query.push_str(&format!("&name={}", crate::api::percent_encode(&name)));
            }
            let list = remote
                .call("GET", &format!("/api/instances{query}"), b"")
                .await?;
            if json {
                println!("{list}");
            } else {
                println!("{:<36} {:<20} {:<15} CREATED", "ID", "NAME", "STATUS");
                for i in list.as_array().into_iter().flatten() {
                    println!(
                        "{:<36} {:<20} {:<15} {}",
                        i["id"].as_str().unwrap_or_default(),
                        i["name"].as_str().unwrap_or_default(),
                        i["status"].as_str().unwrap_or_default(),
                        i["createdAt"]
                    );
                }
            }
        }
        Command::Raise { id, event, data } => {
            let path = format!(
                "{}/events/{}",
                instance(&id),
                crate::api::percent_encode(&event)
            );
            remote.call("POST", &path, data.as_bytes()).await?;
            done(json, &format!("raised {event} to {id}"));
        }
        Command::Terminate { id, reason } => {
            let path = format!("{}/terminate", instance(&id));
            remote.call("POST", &path, &reason_body(&reason)).await?;
            done(json, &format!("termination of {id} requested"));
        }
        Command::Suspend { id, reason } => {
            let path = format!("{}/suspend", instance(&id));
            remote.call("POST", &path, &reason_body(&reason)).await?;
            done(json, &format!("suspension of {id} requested"));
        }
        Command::Resume { id, reason } => {
            let path = format!("{}/resume", instance(&id));
            remote.call("POST", &path, &reason_body(&reason)).await?;
            done(json, &format!("resumption of {id} requested"));
        }
        Command::Modules {
            action: Some(super::versions::ModulesCommand::Show { name }),
        } => {
            let path = format!("/api/modules/{}", crate::api::percent_encode(&name));
            let versions = remote.call("GET", &path, b"").await?;
            if json {
                println!("{versions}");
            } else {
                println!(
                    "{:<14} {:<12} {:<13} {:>6}  ACTIVE",
                    "DIGEST", "VERSION", "KIND", "PINNED"
                );
                for v in versions.as_array().into_iter().flatten() {
                    let digest = v["digest"].as_str().unwrap_or_default();
                    println!(
                        "{:<14} {:<12} {:<13} {:>6}  {}",
                        &digest[..12.min(digest.len())],
                        v["version"].as_str().unwrap_or_default(),
                        v["kind"].as_str().unwrap_or_default(),
                        v["pinned"],
                        if v["active"] == true { "yes" } else { "" }
                    );
                }
            }
        }
        Command::Purge {
            id: Some(id),
            status: _,
            name: _,
        } => {
            remote.call("DELETE", &instance(&id), b"").await?;
            done(json, &format!("purged {id}"));
        }
        Command::Purge {
            id: None,
            status,
            name,
        } => {
            let mut query = Vec::new();
            if let Some(status) = status {
                query.push(format!("status={status}"));
            }
            if let Some(name) = name {
                query.push(format!("name={}", crate::api::percent_encode(&name)));
            }
            let path = format!("/api/instances?{}", query.join("&"));
            let purged = remote.call("DELETE", &path, b"").await?;
            if json {
                println!("{purged}");
            } else {
                println!("purged {} ended instance(s)", purged["instancesDeleted"]);
            }
        }
        Command::Rewind { id, reason } => {
            let path = format!("{}/rewind", instance(&id));
            let rewound = remote.call("POST", &path, &reason_body(&reason)).await?;
            if json {
                println!("{rewound}");
            } else {
                println!("rewound {id}: {rewound}");
            }
        }
        // `activate`, `upgrade`, `modules gc`: no HTTP endpoint yet. `run`, `worker`, `serve` never get here: they
        // run the engine locally whatever --server says.
        _ => bail!(
            "this command has no HTTP endpoint; run it on the server's database with --db instead of --server"
        ),
    }
    Ok(ExitCode::SUCCESS)
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
