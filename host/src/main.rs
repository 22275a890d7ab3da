//! The `keel` binary: parses the command line (with `keel.toml` defaults), installs logging and
//! tracing, runs the command, and turns an error chain into a message and an exit code. Nothing else
//! lives here.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match keel::cli::config::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    keel::cli::end_quietly_on_closed_pipe(&cli.command);
    // What the guests write is shown wherever guests run: `keel run` runs them in-process.
    let default = match cli.command {
        keel::cli::Command::Worker | keel::cli::Command::Serve(_) => "info",
        keel::cli::Command::Run { .. } => "warn,keel::guest=info",
        _ => "warn",
    };
    let telemetry = match keel::telemetry::init(default, cli.otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = match keel::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown().await;
    code
}
