//! The `keel` command line: flags parsed by clap, resolved into engine calls, printed for humans or,
//! with `--json`, for scripts.
//!
//! It holds no engine logic: every command is one or two calls on [`crate::Keel`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use serde_json::json;

pub mod build;
pub mod capabilities;
pub mod config;
mod hints;
pub mod knobs;
mod logs;
pub mod new;
mod print;
mod progress;
mod remote;
pub mod replay;
pub mod schedule;
pub mod serve;
pub mod start;
mod syntax;
pub mod test;
mod versions;

use crate::engine::{Config, Keel};
use crate::store::{Instance, InstanceFilter, Status};

/// Durable workflows as WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "keel", version, about)]
pub struct Cli {
    /// SQLite database file, or a PostgreSQL URL (postgres://user:pass@host:port/db) that several
    /// processes on several machines share.
    #[arg(long, global = true, env = "KEEL_DB", default_value = "keel.db")]
    pub db: PathBuf,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Send management commands to a running `keel serve` at this URL (token from KEEL_API_TOKEN).
    #[arg(long, global = true, env = "KEEL_SERVER")]
    pub server: Option<String>,
    /// Export Keel's spans over OTLP/HTTP (JSON) to this endpoint, e.g. http://localhost:4318.
    #[arg(long, global = true, env = "KEEL_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Configuration file (default: ./keel.toml when it exists); flags and environment win over it.
    #[arg(long, global = true, env = "KEEL_CONFIG")]
    pub config: Option<PathBuf>,
    /// The key that seals secrets (default: the database path + ".key", created by the first
    /// `keel secret set`). KEEL_SECRET_KEY, holding the key itself, wins over the file.
    #[arg(long, global = true, env = "KEEL_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    /// The engine's limits and knobs (also `[engine]` in keel.toml).
    #[command(flatten)]
    pub knobs: knobs::Knobs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The command line's own refusals.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--server` (or `KEEL_SERVER`, or `server` in keel.toml) was given to a command that works
    /// only on a local database or runs the engine itself.
    #[error(
        "[KEEL-E14] {command} cannot be sent to a server: {why}; drop --server (and unset \
         KEEL_SERVER) and run it where the database is, with --db"
    )]
    NotRemote {
        /// The command, as typed.
        command: &'static str,
        /// Why it cannot go to a server.
        why: &'static str,
    },
}

impl Error {
    /// The refusal of `command` when `--server` is given.
    fn not_remote(command: &Command) -> Self {
        const ENGINE: &str = "it runs the engine in this process";
        const NO_ENDPOINT: &str = "the HTTP API has no endpoint for it";
        let (command, why) = match command {
            Command::Run { .. } => ("`keel run`", ENGINE),
            Command::Worker => ("`keel worker`", ENGINE),
            Command::Serve(_) => ("`keel serve`", ENGINE),
            Command::Activate { .. } => ("`keel activate`", NO_ENDPOINT),
            Command::Upgrade { .. } => ("`keel upgrade`", NO_ENDPOINT),
            Command::Modules { .. } => ("`keel modules gc`", NO_ENDPOINT),
            _ => ("this command", NO_ENDPOINT),
        };
        Self::NotRemote { command, why }
    }
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Deploy modules, start an orchestration, run it to the end and print its output.
    Run {
        /// Module files (.wasm components).
        #[arg(required = true)]
        modules: Vec<PathBuf>,
        /// Orchestrator to start.
        #[arg(long, short)]
        orchestrator: String,
        /// Input as JSON.
        #[arg(long, short, default_value = "null", allow_hyphen_values = true)]
        input: String,
        /// Instance id (generated when omitted).
        #[arg(long)]
        id: Option<String>,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Apply a capabilities file (grants, configuration, secrets per function) before starting.
        #[arg(long, value_name = "FILE")]
        capabilities: Option<PathBuf>,
    },
    /// Deploy modules and make them the active version of the functions they export.
    Deploy {
        /// Module files.
        #[arg(required = true)]
        modules: Vec<PathBuf>,
        /// Version label (default: an increasing number).
        #[arg(long)]
        version: Option<String>,
        /// Apply a capabilities file (grants, configuration, secrets per function) after deploying.
        #[arg(long, value_name = "FILE")]
        capabilities: Option<PathBuf>,
    },
    /// Let a function send HTTP requests to an origin: `scheme://host[:port]`, with `*.domain`
    /// wildcards and `:*` for any port (e.g. `keel grant VerifyPayment http://127.0.0.1:8080`).
    Grant {
        /// Function name (an activity, or an orchestrator for its durable HTTP calls).
        function: String,
        /// Origin pattern.
        pattern: String,
    },
    /// Withdraw a grant.
    Revoke {
        /// Function name.
        function: String,
        /// Origin pattern, as granted.
        pattern: String,
    },
    /// List grants, of every function or of one.
    Grants {
        /// Only this function.
        function: Option<String>,
    },
    /// Schedules: start an orchestrator at the times of a cron expression or an interval.
    Schedule {
        /// What to do.
        #[command(subcommand)]
        action: schedule::ScheduleAction,
    },
    /// Configuration values of functions: environment variables of their next attempts.
    Config {
        /// What to do.
        #[command(subcommand)]
        action: capabilities::ConfigCommand,
    },
    /// Secrets of functions: sealed at rest, environment variables of their next attempts, never shown.
    Secret {
        /// What to do.
        #[command(subcommand)]
        action: capabilities::SecretCommand,
    },
    /// List deployed modules and the functions they provide (`show NAME`: a function's versions;
    /// `gc`: remove modules nothing uses).
    Modules {
        /// What to do; nothing lists the modules.
        #[command(subcommand)]
        action: Option<versions::ModulesCommand>,
    },
    /// Make a deployed module version the active provider of a function: `NAME@VERSION`, or `NAME`
    /// followed by a version label or a digest prefix. Rolls back as well as forward.
    Activate {
        /// Function name, or `NAME@VERSION`.
        name: String,
        /// Module digest (a prefix is enough) or version label.
        module: Option<String>,
    },
    /// Start an orchestration and print its instance id.
    Start(start::StartArgs),
    /// List the worker processes that report on this database (`keel worker`, `keel serve`,
    /// `keel run`) and when each was last seen.
    Workers,
    /// Show an instance's status.
    Status {
        /// Instance id.
        id: String,
    },
    /// Show an instance's recorded history.
    History {
        /// Instance id.
        id: String,
        /// Write the current execution to FILE (for `keel replay`) instead of printing it.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
    },
    /// Show what an instance's guests wrote (stdout, stderr, the `log` call): its orchestrator's
    /// live turns and every activity attempt, oldest first.
    Logs {
        /// Instance id.
        id: String,
        /// Keep printing new lines until the instance ends.
        #[arg(long, short)]
        follow: bool,
    },
    /// Replay a history written by `history --export` against a module, in memory: exit 0 when the
    /// module replays it, 1 with the first divergence (KEEL-ND1) when not. Needs no database.
    Replay(replay::ReplayArgs),
    /// Run test scenarios (JSON) on the real engine in a throwaway database: activities mocked by
    /// name, events raised when awaited, durable timers firing at once; exit 1 when any fails.
    /// Needs no database.
    Test(test::TestArgs),
    /// List instances.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<Status>,
        /// Only this orchestrator.
        #[arg(long)]
        name: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Raise an external event.
    Raise {
        /// Instance id.
        id: String,
        /// Event name.
        event: String,
        /// Event data as JSON.
        #[arg(long, short, default_value = "null", allow_hyphen_values = true)]
        data: String,
    },
    /// Ask a running instance a query: its orchestrator's handler of that name answers from the
    /// instance's current state, read-only; the answer is printed as JSON.
    Query {
        /// Instance id.
        id: String,
        /// Query name, as the orchestrator registered its handler.
        name: String,
        /// The query's argument as JSON.
        #[arg(long, short, default_value = "null", allow_hyphen_values = true)]
        input: String,
    },
    /// Send an update to a running instance and wait for its response: its orchestrator's handler of
    /// that name changes its state and answers (a validator may reject it first, recording nothing).
    /// The result is printed as JSON. Sending again with the same --update-id waits on the same
    /// update instead of sending another.
    Update {
        /// Instance id.
        id: String,
        /// Update name, as the orchestrator registered its handler.
        name: String,
        /// The update's argument as JSON.
        #[arg(long, short, default_value = "null", allow_hyphen_values = true)]
        input: String,
        /// The update's id (default: a new UUID), unique within the instance.
        #[arg(long)]
        update_id: Option<String>,
        /// How long to wait for the response, e.g. 30s; the update stays sent after it.
        #[arg(long, default_value = "60s")]
        wait: String,
    },
    /// Terminate an instance.
    Terminate {
        /// Instance id.
        id: String,
        /// Why.
        #[arg(long, default_value = "terminated by the operator")]
        reason: String,
        /// Leave its running sub-orchestrations running (by default they are terminated too).
        #[arg(long)]
        abandon_children: bool,
    },
    /// Suspend an instance.
    Suspend {
        /// Instance id.
        id: String,
        /// Why.
        #[arg(long, default_value = "suspended by the operator")]
        reason: String,
    },
    /// Resume a suspended instance.
    Resume {
        /// Instance id.
        id: String,
        /// Why.
        #[arg(long, default_value = "resumed by the operator")]
        reason: String,
    },
    /// Delete an ended instance and its history, or every ended instance matching --status/--name.
    Purge {
        /// Instance id.
        #[arg(required_unless_present_any = ["status", "name"])]
        id: Option<String>,
        /// Purge every ended instance with this status.
        #[arg(long, conflicts_with = "id")]
        status: Option<Status>,
        /// Purge every ended instance of this orchestrator.
        #[arg(long, conflicts_with = "id")]
        name: Option<String>,
    },
    /// Rewind a failed instance: the failures after its last call no longer count, failed activities
    /// there run again, failed sub-orchestrations there are rewound (a purged one is started again;
    /// one whose id another instance now holds fails its task with InstanceExists and that instance
    /// is left alone), and the instance goes on from its last good point.
    Rewind {
        /// Instance id.
        id: String,
        /// Why.
        #[arg(long, default_value = "rewound by the operator")]
        reason: String,
    },
    /// Run the engine (turns and activities) until interrupted.
    Worker,
    /// Deploy a module and move the unfinished instances of its orchestrators to it, each only if
    /// its history replays against the new module (recorded in its history); the others stay pinned.
    Upgrade {
        /// The new module.
        module: PathBuf,
        /// Only replay and report, per instance, "compatible" or the first divergence.
        #[arg(long)]
        check: bool,
        /// Version label of the new module (default: an increasing number).
        #[arg(long, conflicts_with = "check")]
        version: Option<String>,
    },
    /// Run the engine with the HTTP management API, metrics and the web dashboard.
    Serve(serve::ServeArgs),
    /// Build a module directory (Rust, Python, JavaScript or C) into a component.
    Build(build::BuildArgs),
    /// Write a new module skeleton (orchestrator Hello; activities Greet and Fetch) into ./NAME.
    New(new::NewArgs),
}

/// Lets a closed stdout or stderr end the process the way it ends any Unix tool: killed by
/// `SIGPIPE`, silently (a shell sees status 141), instead of Rust's default of ignoring the signal,
/// which makes `println!` panic with "failed printing to stdout: Broken pipe" when the reader of
/// `keel list | head -1` goes away. Done once, at start, it covers every write of every command,
/// including ones added later, without threading write errors through each printer.
///
/// Not for `keel worker` and `keel serve`: an engine must not die mid-turn because whoever read its
/// log went away (their sockets never raise the signal: Rust sends with `MSG_NOSIGNAL`).
pub fn end_quietly_on_closed_pipe(command: &Command) {
    if matches!(command, Command::Worker | Command::Serve(_)) {
        return;
    }
    #[cfg(unix)]
    #[allow(
        unsafe_code,
        reason = "restoring one signal's default disposition installs no handler and touches no memory"
    )]
    // SAFETY: SIG_DFL is a valid disposition for SIGPIPE; no Rust code depends on it being ignored
    // except through the EPIPE errors it now never sees.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Runs a parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    // Building and scaffolding work on files only: no database, no server.
    let cli = match cli.command {
        Command::Build(args) => return build::run(args),
        Command::New(args) => return new::run(args),
        Command::Replay(args) => {
            // Only the limits apply: the replay's engine has a database of its own.
            let mut config = Config::new(&cli.db);
            cli.knobs.apply(&mut config);
            return replay::run(args, config, cli.json).await;
        }
        Command::Test(args) => {
            let mut config = Config::new(&cli.db);
            cli.knobs.apply(&mut config);
            // Its database is thrown away: the compiled modules go to the user's cache, not beside
            // a `keel.db` in the current directory.
            config.cache_dir = Some(crate::engine::user_cache_dir());
            return test::run(args, config, cli.json).await;
        }
        command => Cli { command, ..cli },
    };
    // With a server, every command goes to it or is refused there: none quietly opens a local database.
    if let Some(server) = cli.server.as_deref() {
        return remote::run(server, cli.command, cli.json).await;
    }
    let keel = match Keel::open(engine_config(&cli)).await {
        Ok(keel) => keel,
        // Already one line naming the database and what to do.
        Err(e @ crate::engine::Error::DatabaseDirectory { .. }) => return Err(e.into()),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "could not open the database {}",
                keel_store::redacted(&cli.db)
            )));
        }
    };
    let json = cli.json;
    let command = match capabilities_action(cli.command) {
        Split::Capability(action) => {
            return capabilities::run(capabilities::Target::Local(&keel), action, json).await;
        }
        Split::Other(command) => *command,
    };
    match command {
        Command::Run {
            modules,
            orchestrator,
            input,
            id,
            timeout,
            capabilities: file,
        } => {
            let declared = file.as_deref().map(capabilities::read_file).transpose()?;
            for path in &modules {
                deploy(&keel, path, None, json).await?;
            }
            if let (Some(declared), Some(file)) = (declared, file.as_deref()) {
                capabilities::apply_file(capabilities::Target::Local(&keel), declared, file, json)
                    .await?;
            }
            let id = keel.start(&orchestrator, &input, id.as_deref()).await?;
            if !json {
                eprintln!("started {orchestrator} as instance {id}; waiting for it to end…");
            }
            let worker = keel.run_worker();
            let waited = wait_saying_what_for(&keel, id.as_str(), timeout, json).await;
            worker.shutdown().await;
            let instance = match waited {
                Err(crate::engine::Error::WaitTimeout(_)) => {
                    let instance = keel
                        .status(id.as_str())
                        .await?
                        .ok_or_else(|| crate::engine::Error::NotFound(id.to_string()))?;
                    let records = keel.history(id.as_str()).await?;
                    anyhow::bail!(hints::did_not_end(&instance, &records, timeout));
                }
                waited => waited?,
            };
            print::instance(&instance, json)?;
            Ok(exit_for(&instance))
        }
        Command::Deploy {
            modules,
            version,
            capabilities: file,
        } => {
            // Read (and so check) the capabilities file before anything is deployed.
            let declared = file.as_deref().map(capabilities::read_file).transpose()?;
            for path in &modules {
                deploy(&keel, path, version.clone(), json).await?;
            }
            if let (Some(declared), Some(file)) = (declared, file.as_deref()) {
                capabilities::apply_file(capabilities::Target::Local(&keel), declared, file, json)
                    .await?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Modules { action } => versions::modules(&keel, action, json).await,
        Command::Activate { name, module } => {
            versions::activate(&keel, &name, module.as_deref(), json).await
        }
        Command::Start(args) => {
            start::local(&keel, args, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Workers => {
            print::workers(&keel.workers().await?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Schedule { action } => {
            schedule::run(schedule::Target::Local(&keel), action, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { id } => {
            let instance = keel
                .status(&id)
                .await?
                .ok_or_else(|| crate::engine::Error::NotFound(id.clone()))?;
            let activities = keel.activities(&id).await?;
            print::status(&instance, &activities, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::History { id, export: None } => {
            print::history(&keel.history(&id).await?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::History {
            id,
            export: Some(file),
        } => {
            replay::write_export(&keel.export_history(&id).await?, &file, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Logs { id, follow } => {
            logs::run(logs::Source::Local(&keel), &id, follow, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List {
            status,
            name,
            limit,
        } => {
            let instances = keel
                .list(&InstanceFilter {
                    status,
                    name,
                    limit: Some(limit),
                    ..Default::default()
                })
                .await?;
            print::instances(&instances, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Raise { id, event, data } => {
            keel.raise_event(&id, &event, &data).await?;
            done(json, &format!("raised {event} to {id}"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Query { id, name, input } => {
            print::answer(&keel.query(&id, &name, &input).await?, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Update {
            id,
            name,
            input,
            update_id,
            wait,
        } => {
            let wait = std::time::Duration::from_millis(
                keel_engine::schedules::when::duration_ms(&wait)
                    .map_err(|e| anyhow::anyhow!("--wait {wait:?}: {e}"))?,
            );
            let reply = keel
                .update(&id, &name, &input, update_id.as_deref(), wait)
                .await?;
            print::update(reply.result.as_ref(), &reply.update_id, json)
        }
        Command::Terminate {
            id,
            reason,
            abandon_children,
        } => {
            keel.terminate_with(&id, &reason, abandon_children).await?;
            done(json, &format!("termination of {id} requested"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Suspend { id, reason } => {
            keel.suspend(&id, &reason).await?;
            done(json, &format!("suspension of {id} requested"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Resume { id, reason } => {
            keel.resume(&id, &reason).await?;
            done(json, &format!("resumption of {id} requested"));
            Ok(ExitCode::SUCCESS)
        }
        Command::Purge { id, status, name } => {
            if let Some(id) = id {
                keel.purge(&id).await?;
                done(json, &format!("purged {id}"));
            } else {
                let filter = InstanceFilter {
                    status,
                    name,
                    ..Default::default()
                };
                let purged = keel.purge_matching(&filter).await?;
                if json {
                    println!("{}", json!({ "instancesDeleted": purged }));
                } else {
                    println!("purged {purged} ended instance(s)");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rewind { id, reason } => {
            let rewound = keel.rewind(&id, &reason).await?;
            if json {
                println!("{}", serde_json::to_string(&rewound)?);
            } else {
                println!(
                    "rewound {}; running again: {}",
                    rewound.instances.join(", "),
                    if rewound.tasks.is_empty() {
                        "the orchestrator".to_owned()
                    } else {
                        rewound.tasks.join(", ")
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve(args) => serve::run(keel, args, &cli.db).await,
        Command::Build(_)
        | Command::New(_)
        | Command::Replay(_)
        | Command::Test(_)
        | Command::Grant { .. }
        | Command::Revoke { .. }
        | Command::Grants { .. }
        | Command::Config { .. }
        | Command::Secret { .. } => {
            unreachable!("handled before the match")
        }
        Command::Upgrade {
            module,
            check,
            version,
        } => versions::upgrade(&keel, &module, check, version, json).await,
        Command::Worker => {
            let worker = keel.run_worker();
            eprintln!(
                "keel worker running on {}; Ctrl-C to stop",
                keel_store::redacted(&cli.db)
            );
            eprintln!("keel worker: limits: {}", knobs::summary(keel.config()));
            wait_for_signal().await;
            eprintln!("stopping: finishing running turns and activities…");
            worker.shutdown().await;
            // What this process did, for an operator comparing workers that share a database.
            let metrics = keel.metrics();
            let attempts: u64 = metrics.attempts().values().map(|c| c.attempts).sum();
            eprintln!(
                "keel worker stopped: it ran {} turns and {attempts} activity attempts",
                metrics.turns.load(std::sync::atomic::Ordering::Relaxed)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The engine configuration the command line asks for.
fn engine_config(cli: &Cli) -> Config {
    let mut config = Config::new(&cli.db);
    cli.knobs.apply(&mut config);
    if let Some(file) = &cli.secret_key_file {
        config.secret_key.file = file.clone();
    }
    config.secret_key.inline = std::env::var("KEEL_SECRET_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty());
    config
}

/// A command line's command: a capability command, or another one.
pub(crate) enum Split {
    Capability(capabilities::Action),
    Other(Box<Command>),
}

/// The capability commands, split off from the rest.
pub(crate) fn capabilities_action(command: Command) -> Split {
    Split::Capability(match command {
        Command::Grant { function, pattern } => capabilities::Action::Grant { function, pattern },
        Command::Revoke { function, pattern } => capabilities::Action::Revoke { function, pattern },
        Command::Grants { function } => capabilities::Action::Grants { function },
        Command::Config { action } => capabilities::Action::Config(action),
        Command::Secret { action } => capabilities::Action::Secret(action),
        other => return Split::Other(Box::new(other)),
    })
}

async fn deploy(keel: &Keel, path: &PathBuf, version: Option<String>, json: bool) -> Result<()> {
    let bytes =
        std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let deployed = progress::announce(
        &format!("compiling {}", path.display()),
        "the first compile of a module takes a while: ~20 s for Python and JavaScript, cached after",
        json,
        keel.deploy(bytes, version),
    )
    .await
    .with_context(|| format!("could not deploy {}", path.display()))?;
    if json {
        println!("{}", serde_json::to_string(&deployed)?);
    } else {
        let names: Vec<String> = deployed
            .functions
            .iter()
            .map(|(name, kind)| format!("{name} ({kind})"))
            .collect();
        let digest = &deployed.digest[..12.min(deployed.digest.len())];
        let path = path.display();
        let names = names.join(", ");
        if deployed.already_deployed {
            eprintln!(
                "{path} is already deployed as {digest} {}: {names}",
                versions_text(&deployed.labels)
            );
        } else {
            eprintln!(
                "deployed {path} as {digest} version {}: {names}",
                deployed.version
            );
        }
    }
    Ok(())
}

/// `version 1`, or `versions 1, 2.0.0` for a module carrying several labels.
pub(crate) fn versions_text(labels: &[String]) -> String {
    match labels {
        [one] => format!("version {one}"),
        labels => format!("versions {}", labels.join(", ")),
    }
}

fn done(json: bool, message: &str) {
    if json {
        println!("{}", json!({"ok": true}));
    } else {
        println!("{message}");
    }
}

fn exit_for(instance: &Instance) -> ExitCode {
    if instance.status == Status::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// How often `keel run` on a terminal says what the instance it waits for is waiting for.
const STILL_WAITING_EVERY: Duration = Duration::from_secs(10);

/// Waits (up to `timeout` seconds) for instance `id` to end; on a terminal, says every ten seconds
/// what it waits for (an event and the command that raises it, a timer and when it is due, …).
async fn wait_saying_what_for(
    keel: &Keel,
    id: &str,
    timeout: u64,
    json: bool,
) -> crate::engine::Result<Instance> {
    use std::io::IsTerminal as _;
    let mut wait = std::pin::pin!(keel.wait(id, Duration::from_secs(timeout)));
    if json || !std::io::stderr().is_terminal() {
        return wait.await;
    }
    let started = std::time::Instant::now();
    loop {
        tokio::select! {
            waited = &mut wait => return waited,
            () = tokio::time::sleep(STILL_WAITING_EVERY) => {
                if let Ok(records) = keel.history(id).await {
                    let seconds = started.elapsed().as_secs();
                    eprintln!("{}", hints::still_waiting(id, seconds, &records));
                }
            }
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
