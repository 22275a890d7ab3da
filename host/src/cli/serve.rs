//! `keel serve`: the engine's workers and the HTTP API in one process, from flags and environment
//! variables resolved into a [`ServeConfig`], with a graceful stop on SIGTERM or Ctrl-C.
//!
//! It wires existing pieces together (engine, [`crate::api::router`]) and holds no API or engine logic;
//! it never prints a token the operator supplied, only one it generated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

use crate::Keel;

/// Flags of `keel serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address the HTTP server listens on (port 0 picks a free port).
    #[arg(long, env = "KEEL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Bearer token clients must send; generated and printed when neither this nor --token-file is set.
    #[arg(long, env = "KEEL_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the bearer token (surrounding whitespace ignored); takes precedence over --token.
    #[arg(long, env = "KEEL_API_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
}

/// Where the token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `--token-file`.
    File(PathBuf),
    /// `--token` or `KEEL_API_TOKEN`.
    Flag,
    /// Generated at start-up.
    Generated,
}

/// The resolved, validated configuration of `keel serve`.
#[derive(Clone)]
pub struct ServeConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// The bearer token.
    pub token: String,
    /// Where it came from.
    pub token_source: TokenSource,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("listen", &self.listen)
            .field("token_source", &self.token_source)
            .finish_non_exhaustive()
    }
}

impl ServeConfig {
    /// Resolves the flags: reads the token file, or generates a token when none is configured.
    pub fn resolve(args: ServeArgs) -> Result<Self> {
        let (token, token_source) = if let Some(path) = args.token_file {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("could not read the token file {}", path.display()))?;
            (text.trim().to_owned(), TokenSource::File(path))
        } else if let Some(token) = args.token {
            (token.trim().to_owned(), TokenSource::Flag)
        } else {
            (
                uuid::Uuid::new_v4().simple().to_string(),
                TokenSource::Generated,
            )
        };
        if token.is_empty() {
            bail!(
                "the API token is empty; set a non-empty --token, KEEL_API_TOKEN or --token-file"
            );
        }
        Ok(Self {
            listen: args.listen,
            token,
            token_source,
        })
    }
}

/// Runs the workers and the HTTP server until SIGTERM or Ctrl-C, then stops accepting requests and
/// lets running turns and attempts commit.
pub async fn run(keel: Keel, args: ServeArgs, db: &Path) -> Result<ExitCode> {
    let config = ServeConfig::resolve(args)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let addr = listener
        .local_addr()
        .context("could not read the listening address")?;
    let worker = keel.run_worker();
    let app = crate::api::router(keel, config.token.clone());
    eprintln!("keel serve: database {}", db.display());
    eprintln!("keel serve: dashboard and API at http://{addr}/");
    match &config.token_source {
        TokenSource::Generated => {
            eprintln!(
                "keel serve: API token (generated; set KEEL_API_TOKEN to choose one): {}",
                config.token
            );
            eprintln!(
                "keel serve: open http://{addr}/#token={} to sign the dashboard in",
                config.token
            );
        }
        TokenSource::Flag => eprintln!("keel serve: API token from --token / KEEL_API_TOKEN"),
        TokenSource::File(path) => {
            eprintln!("keel serve: API token from {}", path.display());
        }
    }
    eprintln!("keel serve: listening on {addr}; Ctrl-C to stop");
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(super::wait_for_signal())
        .await;
    eprintln!("stopping: finishing running turns and activities…");
    worker.shutdown().await;
    served.context("the HTTP server failed")?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(token: Option<&str>, token_file: Option<PathBuf>) -> ServeArgs {
        ServeArgs {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: token.map(str::to_owned),
            token_file,
        }
    }

    #[test]
    fn a_token_is_generated_when_none_is_configured() {
        let config = ServeConfig::resolve(args(None, None)).unwrap();
        assert_eq!(config.token_source, TokenSource::Generated);
        assert_eq!(config.token.len(), 32);
    }

    #[test]
    fn the_token_file_wins_and_is_trimmed() {
        let dir = std::env::temp_dir().join(format!("keel-token-{}", uuid::Uuid::new_v4()));
        std::fs::write(&dir, "  from-file\n").unwrap();
        let config = ServeConfig::resolve(args(Some("flag"), Some(dir.clone()))).unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(config.token, "from-file");
        assert_eq!(config.token_source, TokenSource::File(dir));
    }

    #[test]
    fn an_empty_token_is_refused() {
        assert!(ServeConfig::resolve(args(Some("  "), None)).is_err());
    }
}
