//! `keel history ID --export FILE` and `keel replay FILE MODULE.wasm`: exported histories, and
//! replaying one against a build in a throw-away engine, for users' own CI.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use serde_json::json;

use crate::engine::Config;
use crate::replayer::ExportedHistory;
use crate::upgrade::ReplayCheck;

/// `keel replay`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// A history written by `keel history ID --export FILE`.
    pub history: PathBuf,
    /// The component (.wasm) to replay it against.
    pub module: PathBuf,
}

/// Writes `export` to `file` and says so.
pub(crate) fn write_export(export: &ExportedHistory, file: &Path, json: bool) -> Result<()> {
    std::fs::write(file, export.to_json())
        .with_context(|| format!("could not write {}", file.display()))?;
    if json {
        println!(
            "{}",
            json!({"file": file, "instance": export.instance, "execution": export.execution,
                   "events": export.events.len()})
        );
    } else {
        println!(
            "exported execution {} of {} ({}, {} events) to {}",
            export.execution,
            export.instance,
            export.name,
            export.events.len(),
            file.display()
        );
    }
    Ok(())
}

/// Replays the history against the module: exit 0 when it replays, 1 with the divergence when not.
/// The engine runs on a temporary database with `config`'s limits; nothing else is read or written.
pub(crate) async fn run(args: ReplayArgs, config: Config, json: bool) -> Result<ExitCode> {
    let check = crate::replayer::replay_file_with(&args.history, &args.module, |c| {
        c.limits = config.limits.clone();
    })
    .await?;
    if json {
        println!("{}", serde_json::to_string(&check)?);
    }
    Ok(match check {
        ReplayCheck::Compatible => {
            if !json {
                println!(
                    "{} replays against {}",
                    args.history.display(),
                    args.module.display()
                );
            }
            ExitCode::SUCCESS
        }
        ReplayCheck::Diverged { failure } => {
            if !json {
                eprintln!(
                    "{} does not replay against {}: {}: {}",
                    args.history.display(),
                    args.module.display(),
                    failure.kind,
                    failure.message
                );
            }
            ExitCode::FAILURE
        }
    })
}
