//! `keel grant`, `revoke`, `grants`, `config set|unset|show`, `secret set|unset`, and the declarative
//! capabilities file of `keel deploy --capabilities FILE`: on a local database or, with `--server`,
//! through the API. Both paths produce the same JSON and go through one printer.
//!
//! It reads files and flags and prints; the engine checks names, patterns and sizes. Secret values
//! are read from a file or an environment variable, never from the command line, and never printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::Keel;
use crate::api::percent_encode;
use crate::capability::Declared;
use crate::http_client::Remote;

/// `keel config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Set configuration values of a function (environment variables of its next attempts).
    Set {
        /// Function (activity) name.
        function: String,
        /// `KEY=VALUE` pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        pairs: Vec<String>,
    },
    /// Remove configuration values of a function.
    Unset {
        /// Function name.
        function: String,
        /// Keys to remove.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Show a function's grants, configuration values and secret names (never secret values).
    Show {
        /// Function name.
        function: String,
    },
}

/// `keel secret …`.
#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Store a secret of a function, sealed with the secret key (created on first use). It reaches
    /// the function's next attempts as an environment variable.
    Set {
        /// Function name (an activity, or an orchestrator for `{{secret:NAME}}` in durable HTTP calls).
        function: String,
        /// Secret name.
        name: String,
        /// Read the value from this file (one trailing newline is dropped).
        #[arg(
            long,
            value_name = "FILE",
            required_unless_present = "from_env",
            conflicts_with = "from_env"
        )]
        from_file: Option<PathBuf>,
        /// Read the value from this environment variable.
        #[arg(long, value_name = "VAR")]
        from_env: Option<String>,
    },
    /// Remove a secret.
    Unset {
        /// Function name.
        function: String,
        /// Secret name.
        name: String,
    },
}

/// The capability commands, after clap.
#[derive(Debug)]
pub(crate) enum Action {
    Grant { function: String, pattern: String },
    Revoke { function: String, pattern: String },
    Grants { function: Option<String> },
    Config(ConfigCommand),
    Secret(SecretCommand),
}

/// Where the commands act.
pub(crate) enum Target<'a> {
    Local(&'a Keel),
    Remote(&'a Remote),
}

fn function_path(function: &str) -> String {
    format!("/api/functions/{}", percent_encode(function))
}

impl Target<'_> {
    async fn grant(&self, function: &str, pattern: &str) -> Result<Value> {
        match self {
            Target::Local(keel) => Ok(serde_json::to_value(keel.grant(function, pattern).await?)?),
            Target::Remote(r) => {
                let body = json!({ "pattern": pattern }).to_string();
                r.call(
                    "POST",
                    &format!("{}/grants", function_path(function)),
                    body.as_bytes(),
                )
                .await
            }
        }
    }

    async fn revoke(&self, function: &str, pattern: &str) -> Result<()> {
        match self {
            Target::Local(keel) => Ok(keel.revoke(function, pattern).await?),
            Target::Remote(r) => r
                .call(
                    "DELETE",
                    &format!(
                        "{}/grants?pattern={}",
                        function_path(function),
                        percent_encode(pattern)
                    ),
                    b"",
                )
                .await
                .map(drop),
        }
    }

    async fn grants(&self) -> Result<Value> {
        match self {
            Target::Local(keel) => {
                let grants: Vec<Value> = keel
                    .grants()
                    .await?
                    .into_iter()
                    .map(|(function, pattern)| json!({"function": function, "pattern": pattern}))
                    .collect();
                Ok(json!({ "grants": grants }))
            }
            Target::Remote(r) => r.call("GET", "/api/grants", b"").await,
        }
    }

    async fn show(&self, function: &str) -> Result<Value> {
        match self {
            Target::Local(keel) => Ok(serde_json::to_value(keel.capabilities(function).await?)?),
            Target::Remote(r) => {
                r.call(
                    "GET",
                    &format!("{}/capabilities", function_path(function)),
                    b"",
                )
                .await
            }
        }
    }

    async fn set_config(&self, function: &str, key: &str, value: &str) -> Result<Value> {
        match self {
            Target::Local(keel) => Ok(serde_json::to_value(
                keel.set_config(function, key, value).await?,
            )?),
            Target::Remote(r) => {
                r.call(
                    "PUT",
                    &format!("{}/config/{}", function_path(function), percent_encode(key)),
                    value.as_bytes(),
                )
                .await
            }
        }
    }

    async fn unset_config(&self, function: &str, key: &str) -> Result<()> {
        match self {
            Target::Local(keel) => Ok(keel.unset_config(function, key).await?),
            Target::Remote(r) => r
                .call(
                    "DELETE",
                    &format!("{}/config/{}", function_path(function), percent_encode(key)),
                    b"",
                )
                .await
                .map(drop),
        }
    }

    async fn set_secret(&self, function: &str, name: &str, value: &str) -> Result<Value> {
        match self {
            Target::Local(keel) => Ok(serde_json::to_value(
                keel.set_secret(function, name, value).await?,
            )?),
            Target::Remote(r) => {
                r.call(
                    "PUT",
                    &format!(
                        "{}/secrets/{}",
                        function_path(function),
                        percent_encode(name)
                    ),
                    value.as_bytes(),
                )
                .await
            }
        }
    }

    async fn unset_secret(&self, function: &str, name: &str) -> Result<()> {
        match self {
            Target::Local(keel) => Ok(keel.unset_secret(function, name).await?),
            Target::Remote(r) => r
                .call(
                    "DELETE",
                    &format!(
                        "{}/secrets/{}",
                        function_path(function),
                        percent_encode(name)
                    ),
                    b"",
                )
                .await
                .map(drop),
        }
    }

    async fn declare(&self, function: &str, declared: Declared) -> Result<Value> {
        match self {
            Target::Local(keel) => Ok(serde_json::to_value(
                keel.declare_capabilities(function, declared).await?,
            )?),
            Target::Remote(r) => {
                let body = json!({
                    "grants": declared.grants,
                    "config": declared.config,
                    "secrets": declared.secrets,
                })
                .to_string();
                r.call(
                    "PUT",
                    &format!("{}/capabilities", function_path(function)),
                    body.as_bytes(),
                )
                .await
            }
        }
    }
}

/// Prints the warnings of a change, and the key file it created.
fn report(changed: &Value, json: bool, message: &str) {
    if json {
        println!("{changed}");
        return;
    }
    println!("{message}");
    for warning in changed["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", warning.as_str().unwrap_or_default());
    }
    if let Some(file) = changed["keyCreated"].as_str() {
        eprintln!(
            "created the secret key file {file}: keep it (or KEEL_SECRET_KEY) safe and out of database backups; \
             without it the secrets cannot be opened"
        );
    }
}

fn ok(json: bool, message: &str) {
    if json {
        println!("{}", json!({"ok": true}));
    } else {
        println!("{message}");
    }
}

/// Runs a capability command against `target`.
pub(crate) async fn run(target: Target<'_>, action: Action, json: bool) -> Result<ExitCode> {
    match action {
        Action::Grant { function, pattern } => {
            let changed = target.grant(&function, &pattern).await?;
            report(&changed, json, &format!("granted {function} {pattern}"));
        }
        Action::Revoke { function, pattern } => {
            target.revoke(&function, &pattern).await?;
            ok(json, &format!("revoked {function} {pattern}"));
        }
        Action::Grants { function } => {
            let listing = target.grants().await?;
            let rows: Vec<&Value> = listing["grants"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|g| function.as_deref().is_none_or(|f| g["function"] == f))
                .collect();
            if json {
                println!("{}", json!({ "grants": rows }));
            } else {
                println!("{:<32} PATTERN", "FUNCTION");
                for g in rows {
                    println!(
                        "{:<32} {}",
                        g["function"].as_str().unwrap_or_default(),
                        g["pattern"].as_str().unwrap_or_default()
                    );
                }
            }
        }
        Action::Config(ConfigCommand::Set { function, pairs }) => {
            let mut parsed = Vec::with_capacity(pairs.len());
            for pair in &pairs {
                let (key, value) = pair
                    .split_once('=')
                    .with_context(|| format!("{pair:?} is not KEY=VALUE"))?;
                parsed.push((key, value));
            }
            for (key, value) in parsed {
                let changed = target.set_config(&function, key, value).await?;
                report(&changed, json, &format!("set {function} {key}"));
            }
        }
        Action::Config(ConfigCommand::Unset { function, keys }) => {
            for key in keys {
                target.unset_config(&function, &key).await?;
                ok(json, &format!("unset {function} {key}"));
            }
        }
        Action::Config(ConfigCommand::Show { function }) => {
            let shown = target.show(&function).await?;
            if json {
                println!("{shown}");
            } else {
                print_capabilities(&shown);
            }
        }
        Action::Secret(SecretCommand::Set {
            function,
            name,
            from_file,
            from_env,
        }) => {
            let value = read_secret(from_file.as_deref(), from_env.as_deref())?;
            let changed = target.set_secret(&function, &name, &value).await?;
            report(&changed, json, &format!("set secret {name} of {function}"));
        }
        Action::Secret(SecretCommand::Unset { function, name }) => {
            target.unset_secret(&function, &name).await?;
            ok(json, &format!("unset secret {name} of {function}"));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_capabilities(shown: &Value) {
    let function = shown["function"].as_str().unwrap_or_default();
    println!("function  {function}");
    if shown["deployed"] == false {
        println!("          (no deployed module provides it yet)");
    }
    let grants: Vec<&str> = shown["grants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    println!(
        "grants    {}",
        if grants.is_empty() {
            "none (no outgoing HTTP)".to_owned()
        } else {
            grants.join(", ")
        }
    );
    if let Some(config) = shown["config"].as_object().filter(|c| !c.is_empty()) {
        println!("config");
        for (key, value) in config {
            println!("  {key}={}", value.as_str().unwrap_or_default());
        }
    }
    let secrets: Vec<&str> = shown["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !secrets.is_empty() {
        println!("secrets   {} (values are never shown)", secrets.join(", "));
    }
}

/// A secret's value from a file (one trailing newline dropped) or an environment variable.
fn read_secret(file: Option<&Path>, var: Option<&str>) -> Result<String> {
    if let Some(var) = var {
        return std::env::var(var)
            .with_context(|| format!("the environment variable {var} is not set (or not UTF-8)"));
    }
    let Some(file) = file else {
        bail!("give the secret's value with --from-file FILE or --from-env VAR");
    };
    let bytes =
        std::fs::read(file).with_context(|| format!("could not read {}", file.display()))?;
    let mut text = String::from_utf8(bytes)
        .with_context(|| format!("{} is not UTF-8 text", file.display()))?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// A capabilities file: one table per function.
///
/// ```toml
/// [VerifyPayment]
/// grants = ["http://127.0.0.1:8080"]
/// config = { PAYMENT_URL = "http://127.0.0.1:8080/payments" }
/// secrets = { PAYMENT_TOKEN = { file = "payment-token.txt" } }   # or { env = "VAR" }
/// ```
#[derive(Debug, Deserialize)]
#[serde(transparent)]
struct CapabilitiesFile(BTreeMap<String, FunctionEntry>);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FunctionEntry {
    #[serde(default)]
    grants: Vec<String>,
    #[serde(default)]
    config: BTreeMap<String, String>,
    #[serde(default)]
    secrets: BTreeMap<String, SecretSource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSource {
    file: Option<PathBuf>,
    env: Option<String>,
}

/// Reads a capabilities file into one declaration per function, with secret values read from the
/// files (relative to the capabilities file) and variables it names.
pub(crate) fn read_file(path: &Path) -> Result<Vec<(String, Declared)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let file: CapabilitiesFile = toml::from_str(&text)
        .with_context(|| format!("{} is not a capabilities file", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::with_capacity(file.0.len());
    for (function, entry) in file.0 {
        let mut secrets = BTreeMap::new();
        for (name, source) in entry.secrets {
            let value = match (&source.file, &source.env) {
                (Some(f), None) => read_secret(Some(&base.join(f)), None),
                (None, Some(v)) => read_secret(None, Some(v)),
                _ => bail!(
                    "{}: secret {name} of {function} needs exactly one of file = \"…\" or env = \"…\"",
                    path.display()
                ),
            }
            .with_context(|| format!("{}: secret {name} of {function}", path.display()))?;
            secrets.insert(name, value);
        }
        out.push((
            function,
            Declared {
                grants: entry.grants,
                config: entry.config,
                secrets,
            },
        ));
    }
    Ok(out)
}

/// Applies a capabilities file's declarations to `target`.
pub(crate) async fn apply_file(
    target: Target<'_>,
    declarations: Vec<(String, Declared)>,
    path: &Path,
    json: bool,
) -> Result<()> {
    for (function, declared) in declarations {
        let changed = target
            .declare(&function, declared)
            .await
            .with_context(|| format!("applying {} to {function}", path.display()))?;
        report(
            &changed,
            json,
            &format!("applied {} to {function}", path.display()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capabilities_file_reads_secrets_beside_it_and_refuses_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token.txt"), "tok-1\n").unwrap();
        let path = dir.path().join("order.toml");
        std::fs::write(
            &path,
            "[VerifyPayment]\ngrants = [\"http://127.0.0.1:8080\"]\nconfig = { URL = \"u\" }\n\
             secrets = { TOKEN = { file = \"token.txt\" } }\n[Mail]\ngrants = []\n",
        )
        .unwrap();
        let read = read_file(&path).unwrap();
        assert_eq!(read.len(), 2);
        let (name, pay) = &read[1];
        assert_eq!(name, "VerifyPayment");
        assert_eq!(pay.secrets["TOKEN"], "tok-1");
        assert_eq!(pay.config["URL"], "u");
        std::fs::write(&path, "[X]\ngrant = []\n").unwrap();
        let err = format!("{:#}", read_file(&path).unwrap_err());
        assert!(err.contains("grant"), "{err}");
        std::fs::write(&path, "[X]\nsecrets = { A = {} }\n").unwrap();
        assert!(read_file(&path).is_err());
    }
}
