//! The optional configuration file `keel.toml`: defaults for the command line, below flags and
//! environment variables. `--config FILE` (or `KEEL_CONFIG`) names it; otherwise `./keel.toml` is read
//! when it exists.
//!
//! ```toml
//! db = "/var/lib/keel/keel.db"        # --db / KEEL_DB
//! otlp-endpoint = "http://otel:4318"  # --otlp-endpoint / KEEL_OTLP_ENDPOINT
//! server = "http://keel:8080"         # --server / KEEL_SERVER
//! secret-key-file = "/etc/keel/key"   # --secret-key-file / KEEL_SECRET_KEY_FILE
//!
//! [engine]                            # every key: a global flag and KEEL_<KEY> (see cli/knobs.rs)
//! memory-mb = 256                     # --memory-mb / KEEL_MEMORY_MB
//! max-turns = 64                      # --max-turns / KEEL_MAX_TURNS
//!
//! [serve]
//! listen = "0.0.0.0:8080"             # keel serve --listen / KEEL_LISTEN
//! token-file = "/etc/keel/token"      # keel serve --token-file / KEEL_API_TOKEN_FILE
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory as _, FromArgMatches as _};
use serde::Deserialize;

use super::{Cli, Command};

/// The file read when no `--config` is given.
pub const DEFAULT_FILE: &str = "keel.toml";

/// What `keel.toml` may hold.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    /// Default of `--db`.
    pub db: Option<PathBuf>,
    /// Default of `--otlp-endpoint`.
    pub otlp_endpoint: Option<String>,
    /// Default of `--server`.
    pub server: Option<String>,
    /// Default of `--secret-key-file`.
    pub secret_key_file: Option<PathBuf>,
    /// Defaults of `keel serve`.
    #[serde(default)]
    pub serve: ServeFile,
    /// The engine's limits and knobs (flags and environment variables win).
    #[serde(default)]
    pub engine: super::knobs::Knobs,
}

/// The `[serve]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeFile {
    /// Default of `--listen`.
    pub listen: Option<SocketAddr>,
    /// Default of `--token-file`.
    pub token_file: Option<PathBuf>,
}

/// Parses the command line, then fills what neither a flag nor the environment set from the
/// configuration file.
pub fn parse() -> Result<Cli> {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.exit())?;
    let (path, required) = match &cli.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_FILE), false),
    };
    if let Some(file) = load(&path, required)? {
        apply(&mut cli, &matches, file);
    }
    Ok(cli)
}

/// Reads and checks `path`; `None` if it does not exist and was not asked for.
pub fn load(path: &Path, required: bool) -> Result<Option<FileConfig>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    toml::from_str(&text)
        .map(Some)
        .with_context(|| format!("{} is not a valid Keel configuration", path.display()))
}

/// Whether `id` was left to its default (neither on the command line nor in the environment).
fn unset(matches: &ArgMatches, id: &str) -> bool {
    matches!(
        matches.value_source(id),
        None | Some(ValueSource::DefaultValue)
    )
}

fn apply(cli: &mut Cli, matches: &ArgMatches, file: FileConfig) {
    if let Some(db) = file.db.filter(|_| unset(matches, "db")) {
        cli.db = db;
    }
    if unset(matches, "otlp_endpoint") {
        cli.otlp_endpoint = cli.otlp_endpoint.take().or(file.otlp_endpoint);
    }
    // The file's `server` names where the management commands go; the engine's own processes read
    // the same file and must not be turned away by it (given as a flag, `--server` refuses them).
    let engine = matches!(cli.command, Command::Serve(_) | Command::Worker);
    if unset(matches, "server") && !engine {
        cli.server = cli.server.take().or(file.server);
    }
    if unset(matches, "secret_key_file") {
        cli.secret_key_file = cli.secret_key_file.take().or(file.secret_key_file);
    }
    cli.knobs = std::mem::take(&mut cli.knobs).or(file.engine);
    if let (Command::Serve(args), Some(serve)) =
        (&mut cli.command, matches.subcommand_matches("serve"))
    {
        if let Some(listen) = file.serve.listen.filter(|_| unset(serve, "listen")) {
            args.listen = listen;
        }
        if unset(serve, "token_file") {
            args.token_file = args.token_file.take().or(file.serve.token_file);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keel.toml");
        std::fs::write(&path, "db = \"x.db\"\nlisten = \"0.0.0.0:1\"\n").unwrap();
        let err = format!("{:#}", load(&path, true).unwrap_err());
        assert!(err.contains("keel.toml") && err.contains("listen"), "{err}");
        std::fs::write(&path, "db = \"x.db\"\n[serve]\nlisten = \"0.0.0.0:1\"\n").unwrap();
        let file = load(&path, true).unwrap().unwrap();
        assert_eq!(file.db, Some(PathBuf::from("x.db")));
        assert_eq!(file.serve.listen, Some("0.0.0.0:1".parse().unwrap()));
        assert!(
            load(&dir.path().join("none.toml"), false)
                .unwrap()
                .is_none()
        );
        assert!(load(&dir.path().join("none.toml"), true).is_err());
    }
}
