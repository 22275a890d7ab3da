//! `keel serve`: the engine's workers and the HTTP API in one process, from flags and environment
//! variables resolved into a [`ServeConfig`], with a graceful stop on SIGTERM or Ctrl-C.
//!
//! It wires existing pieces together (engine, [`crate::api::router`]) and holds no API or engine logic;
//! it never prints a token in full: a generated one goes to `<db>.token` (mode 0600), a supplied one
//! is never shown.

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
    if let Some(warning) = exposure_warning(addr) {
        eprintln!("keel serve: warning: {warning}");
    }
    // A generated token goes to a file only the operator can read, not to the log in full.
    let token_file = if config.token_source == TokenSource::Generated {
        Some(write_token_file(db, &config.token)?)
    } else {
        None
    };
    let limits = super::knobs::summary(keel.config());
    let worker = keel.run_worker();
    let app = crate::api::router(keel, config.token.clone());
    eprintln!("keel serve: database {}", keel_store::redacted(db));
    eprintln!("keel serve: limits: {limits}");
    eprintln!("keel serve: dashboard and API at http://{addr}/");
    match &config.token_source {
        TokenSource::Generated => {
            let file = token_file.as_deref().unwrap_or(db).display();
            eprintln!(
                "keel serve: API token (generated, {}…) written to {file}; set KEEL_API_TOKEN to choose one",
                &config.token[..4.min(config.token.len())]
            );
            eprintln!(
                "keel serve: sign the dashboard in with http://{addr}/#token=<the token in {file}>"
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

/// What to tell an operator whose server listens beyond the loopback interface: plain HTTP there
/// carries the bearer token (and any secret set over the API) in clear.
fn exposure_warning(addr: SocketAddr) -> Option<String> {
    if addr.ip().is_loopback() {
        return None;
    }
    Some(format!(
        "listening on {addr}, beyond loopback, without TLS: the bearer token and any secret set over \
         the API cross the network in clear. Put a TLS-terminating proxy in front, or listen on 127.0.0.1"
    ))
}

/// Writes a generated token to `<db>.token`, readable by its owner only, and returns the path.
fn write_token_file(db: &Path, token: &str) -> Result<PathBuf> {
    let mut path = db.as_os_str().to_owned();
    path.push(".token");
    let path = PathBuf::from(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        let mut file = options.open(&path)?;
        writeln!(file, "{token}")
    };
    write()
        .with_context(|| format!("could not write the generated token to {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_listener_goes_without_a_warning() {
        assert!(exposure_warning("127.0.0.1:8080".parse().unwrap()).is_none());
        assert!(exposure_warning("[::1]:8080".parse().unwrap()).is_none());
        let warning = exposure_warning("0.0.0.0:8080".parse().unwrap()).unwrap();
        assert!(warning.contains("without TLS"), "{warning}");
        assert!(exposure_warning("10.1.2.3:80".parse().unwrap()).is_some());
    }

    #[test]
    fn a_generated_token_is_written_for_its_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_token_file(&dir.path().join("keel.db"), "tok-1234").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "tok-1234\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

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
