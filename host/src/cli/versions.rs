//! The module and version commands of the CLI: `modules` (list, `show NAME`, `gc`), `activate` and
//! `upgrade`, printed for humans or, with `--json`, for scripts.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use clap::Subcommand;
use serde_json::json;

use crate::Keel;
use crate::upgrade::{Moved, ReplayCheck};
use crate::versions::FunctionVersion;

/// What `keel modules` does.
#[derive(Debug, Subcommand)]
pub enum ModulesCommand {
    /// Show every deployed version of a function, which one is active and how many unfinished
    /// instances are pinned to each.
    Show {
        /// Function name.
        name: String,
    },
    /// Remove the modules nothing uses: not active for any function, not pinned by an instance that
    /// may still run, not what a queued versioned activity call resolves to.
    Gc {
        /// Only list what would be removed.
        #[arg(long)]
        dry_run: bool,
    },
}

fn short(digest: &str) -> &str {
    &digest[..12.min(digest.len())]
}

/// `keel modules [show NAME | gc]`.
pub(crate) async fn modules(
    keel: &Keel,
    action: Option<ModulesCommand>,
    json: bool,
) -> Result<ExitCode> {
    match action {
        None => list(keel, json).await?,
        Some(ModulesCommand::Show { name }) => {
            let versions = keel.function_versions(&name).await?;
            if versions.is_empty() {
                bail!("no function named {name:?} is deployed");
            }
            print_versions(&versions, json)?;
        }
        Some(ModulesCommand::Gc { dry_run }) => {
            let collected = keel.collect_modules(dry_run).await?;
            if json {
                println!("{}", serde_json::to_string(&collected)?);
            } else {
                let verb = if dry_run { "would remove" } else { "removed" };
                for m in &collected.modules {
                    println!(
                        "{verb} {} {}",
                        short(&m.digest),
                        super::versions_text(&m.labels)
                    );
                }
                println!(
                    "{verb} {} module(s), {} bytes",
                    collected.modules.len(),
                    collected.bytes
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the versions of a function (`keel modules show`, locally or through `--server`).
pub(crate) fn print_versions(versions: &[FunctionVersion], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(versions)?);
        return Ok(());
    }
    println!(
        "{:<14} {:<12} {:<13} {:>6}  ACTIVE",
        "DIGEST", "VERSION", "KIND", "PINNED"
    );
    for v in versions {
        // Nothing pins an activity: each attempt runs on the version it resolves to then.
        let pinned = v.pinned.map_or_else(|| "-".to_owned(), |n| n.to_string());
        println!(
            "{:<14} {:<12} {:<13} {:>6}  {}",
            short(&v.digest),
            labels_or_version(&v.labels, &v.version),
            v.kind,
            pinned,
            if v.active { "yes" } else { "" }
        );
    }
    Ok(())
}

/// A module's labels, comma-separated; its first label when a server too old to list them sent none.
fn labels_or_version(labels: &[String], version: &str) -> String {
    if labels.is_empty() {
        version.to_owned()
    } else {
        labels.join(", ")
    }
}

async fn list(keel: &Keel, json: bool) -> Result<()> {
    let modules = keel.modules().await?;
    let functions = keel.functions().await?;
    if json {
        println!("{}", json!({"modules": modules, "functions": functions}));
        return Ok(());
    }
    println!(
        "{:<14} {:<10} {:>10}  FUNCTIONS",
        "DIGEST", "VERSION", "SIZE"
    );
    for m in &modules {
        let names: Vec<String> = functions
            .iter()
            .filter(|f| f.digest == m.digest)
            .map(|f| format!("{}{}", f.name, if f.active { "*" } else { "" }))
            .collect();
        println!(
            "{:<14} {:<10} {:>10}  {}",
            short(&m.digest),
            labels_or_version(&m.labels, &m.version),
            m.size,
            names.join(", ")
        );
    }
    println!("(* = active version)");
    Ok(())
}

/// `keel activate NAME@VERSION` or `keel activate NAME VERSION|DIGEST-PREFIX`.
pub(crate) async fn activate(
    keel: &Keel,
    name: &str,
    module: Option<&str>,
    json: bool,
) -> Result<ExitCode> {
    let (name, module) = match module {
        Some(module) => (name, module),
        None => name
            .split_once('@')
            .context("name the version: NAME@VERSION, or NAME followed by a version or digest")?,
    };
    let active = keel.activate(name, module).await?;
    if json {
        println!(
            "{}",
            json!({"ok": true, "digest": active.digest, "labels": active.labels})
        );
    } else {
        println!(
            "{name} now runs on module {} ({})",
            short(&active.digest),
            super::versions_text(&active.labels)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `keel upgrade [--check] MODULE.wasm`.
pub(crate) async fn upgrade(
    keel: &Keel,
    module: &Path,
    check: bool,
    version: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let bytes =
        std::fs::read(module).with_context(|| format!("could not read {}", module.display()))?;
    if check {
        let checks = keel.check_upgrade(&bytes).await?;
        let diverged = checks
            .iter()
            .filter(|c| c.check != ReplayCheck::Compatible)
            .count();
        if json {
            println!("{}", serde_json::to_string(&checks)?);
        } else {
            for c in &checks {
                match &c.check {
                    ReplayCheck::Compatible => {
                        println!("{:<36} {:<20} compatible", c.instance, c.name)
                    }
                    ReplayCheck::Diverged { failure } => {
                        println!("{:<36} {:<20} diverges: {failure}", c.instance, c.name)
                    }
                }
            }
            println!(
                "{} instance(s) checked, {} compatible, {diverged} diverging",
                checks.len(),
                checks.len() - diverged
            );
        }
        return Ok(if diverged == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    let upgrade = keel
        .upgrade(bytes, version)
        .await
        .with_context(|| format!("could not upgrade to {}", module.display()))?;
    let left = upgrade
        .instances
        .iter()
        .filter(|i| !matches!(i.outcome, Moved::Moved | Moved::AlreadyThere))
        .count();
    if json {
        println!("{}", serde_json::to_string(&upgrade)?);
    } else {
        eprintln!(
            "deployed {} as {} version {}",
            module.display(),
            short(&upgrade.deployed.digest),
            upgrade.deployed.version
        );
        for i in &upgrade.instances {
            let what = match &i.outcome {
                Moved::Moved => "moved".to_owned(),
                Moved::AlreadyThere => "already on this module".to_owned(),
                Moved::Pinned { failure } => format!("left pinned: {failure}"),
                Moved::Busy => {
                    "left pinned for now: it was running a turn; upgrade again to retry".to_owned()
                }
            };
            println!("{:<36} {:<20} {what}", i.instance, i.name);
        }
        println!(
            "{} instance(s): {} moved or already there, {left} left on their module",
            upgrade.instances.len(),
            upgrade.instances.len() - left
        );
        if !upgrade.activated {
            let names: Vec<&str> = upgrade
                .deployed
                .functions
                .iter()
                .map(|(name, _)| name.as_str())
                .collect();
            println!(
                "version {} not activated: none of the instances could move to it, so new starts \
                 stay on the active version; `keel activate NAME@{}` activates it anyway ({})",
                upgrade.deployed.version,
                upgrade.deployed.version,
                names.join(", ")
            );
        }
    }
    Ok(if left == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
