//! `keel --server URL <command>`: the management commands sent to a running `keel serve` over its HTTP
//! API instead of being run on a local database; the token comes from `KEEL_API_TOKEN`.
//!
//! It speaks HTTP/1.1 over `http://` or `https://` (`http_client.rs`) and never opens a database or
//! holds engine logic: every command is one API call, printed like the local one.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use serde_json::{Value, json};

use super::Command;
use crate::http_client::Remote;
use crate::store::{HistoryRecord, Instance};

impl Remote {
    /// Sends one request; a non-2xx answer becomes an error carrying the server's message and code.
    pub(crate) async fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Value> {
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
            if status == 401 && !self.has_token() {
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
    let remote = Remote::new(url, std::env::var("KEEL_API_TOKEN").ok())
        .with_context(|| format!("--server {url}"))?;
    let instance = |id: &str| format!("/api/instances/{}", crate::api::percent_encode(id));
    let reason_body = |reason: &str| json!({ "reason": reason }).to_string().into_bytes();
    let command = match super::capabilities_action(command) {
        super::Split::Capability(action) => {
            let target = super::capabilities::Target::Remote(&remote);
            return super::capabilities::run(target, action, json).await;
        }
        super::Split::Other(command) => *command,
    };
    match command {
        Command::Deploy {
            modules,
            version,
            capabilities: file,
        } => {
            let declared = file
                .as_deref()
                .map(super::capabilities::read_file)
                .transpose()?;
            for path in &modules {
                deploy(&remote, path, version.as_deref(), json).await?;
            }
            if let (Some(declared), Some(file)) = (declared, file.as_deref()) {
                let target = super::capabilities::Target::Remote(&remote);
                super::capabilities::apply_file(target, declared, file, json).await?;
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
                    let labels: Vec<&str> = f["labels"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|l| l.as_str())
                        .collect();
                    println!(
                        "{:<14} {:<10} {:<8} {}{}",
                        &digest[..12.min(digest.len())],
                        if labels.is_empty() {
                            f["version"].as_str().unwrap_or_default().to_owned()
                        } else {
                            labels.join(", ")
                        },
                        f["kind"].as_str().unwrap_or_default(),
                        f["name"].as_str().unwrap_or_default(),
                        if f["active"] == true { "*" } else { "" }
                    );
                }
                println!("(* = active version)");
            }
        }
        Command::Start(args) => super::start::remote(&remote, args, json).await?,
        Command::Schedule { action } => {
            super::schedule::run(super::schedule::Target::Remote(&remote), action, json).await?;
        }
        Command::Workers => {
            let value = remote.call("GET", "/api/workers", b"").await?;
            let workers: Vec<crate::store::WorkerRow> =
                serde_json::from_value(value).context("the server's workers")?;
            super::print::workers(&workers, json)?;
        }
        Command::Status { id } => {
            let mut value = remote.call("GET", &instance(&id), b"").await?;
            let activities: Vec<crate::store::ActivityRow> = match value.get_mut("activities") {
                Some(list) => {
                    serde_json::from_value(list.take()).context("the server's activities")?
                }
                None => Vec::new(),
            };
            let instance: Instance =
                serde_json::from_value(value).context("the server's instance")?;
            super::print::status(&instance, &activities, json)?;
        }
        Command::Logs { id, follow } => {
            super::logs::run(super::logs::Source::Remote(&remote), &id, follow, json).await?;
        }
        Command::History { id, export } => {
            let mut value = remote
                .call("GET", &format!("{}?history=true", instance(&id)), b"")
                .await?;
            let records: Vec<HistoryRecord> =
                serde_json::from_value(value["history"].take()).context("the server's history")?;
            match export {
                None => super::print::history(&records, json)?,
                Some(file) => {
                    let instance: Instance =
                        serde_json::from_value(value).context("the server's instance")?;
                    let export = crate::replayer::ExportedHistory::of(&instance, &records);
                    super::replay::write_export(&export, &file, json)?;
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
            let instances: Vec<Instance> =
                serde_json::from_value(list).context("the server's list of instances")?;
            super::print::instances(&instances, json)?;
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
        Command::Update {
            id,
            name,
            input,
            update_id,
            wait,
        } => {
            let mut path = format!(
                "{}/updates/{}?wait={}",
                instance(&id),
                crate::api::percent_encode(&name),
                crate::api::percent_encode(&wait)
            );
            if let Some(update_id) = &update_id {
                path.push_str(&format!(
                    "&updateId={}",
                    crate::api::percent_encode(update_id)
                ));
            }
            let reply = remote.call("POST", &path, input.as_bytes()).await?;
            let update_id = reply["updateId"].as_str().unwrap_or_default();
            let result = reply.get("result");
            return super::print::update(result, update_id, json);
        }
        Command::Query { id, name, input } => {
            let path = format!(
                "{}/queries/{}?input={}",
                instance(&id),
                crate::api::percent_encode(&name),
                crate::api::percent_encode(&input)
            );
            let mut reply = remote.call("GET", &path, b"").await?;
            super::print::answer(&reply["result"].take(), json)?;
        }
        Command::Terminate {
            id,
            reason,
            abandon_children,
        } => {
            let query = if abandon_children {
                "?abandonChildren=true"
            } else {
                ""
            };
            let path = format!("{}/terminate{query}", instance(&id));
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
            let versions: Vec<crate::versions::FunctionVersion> =
                serde_json::from_value(versions).context("the server's list of versions")?;
            super::versions::print_versions(&versions, json)?;
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
        // Everything else runs on a local database or engine: refused rather than run on whatever
        // `./keel.db` happens to be (a command added later lands here too until it gets an endpoint).
        other => return Err(super::Error::not_remote(&other).into()),
    }
    Ok(ExitCode::SUCCESS)
}
