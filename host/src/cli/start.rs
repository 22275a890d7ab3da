//! `keel start`: a new instance, or — with `--if-running use-existing` or `--event` — the running
//! instance that holds `--id` (start if not running; signal-with-start), locally or through `--server`.

use anyhow::Result;
use serde_json::{Value, json};

use crate::engine::{IfRunning, Keel, StartOptions};
use crate::http_client::Remote;

/// `keel start`'s arguments.
#[derive(Debug, clap::Args)]
pub struct StartArgs {
    /// Orchestrator name.
    pub name: String,
    /// Input as JSON.
    #[arg(long, short, default_value = "null")]
    pub input: String,
    /// Instance id (generated when omitted).
    #[arg(long)]
    pub id: Option<String>,
    /// When a running instance holds --id: `fail` (KEEL-E5) or `use-existing` (print its id and
    /// start nothing; it must run the same orchestrator).
    #[arg(long, value_enum, default_value_t = WhenRunning::Fail, requires = "id")]
    pub if_running: WhenRunning,
    /// Raise this event to the instance, starting it first unless it runs (signal-with-start,
    /// in one transaction).
    #[arg(long, requires = "id")]
    pub event: Option<String>,
    /// The event's data as JSON.
    #[arg(long, default_value = "null", requires = "event")]
    pub data: String,
}

/// `--if-running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WhenRunning {
    /// Refuse with KEEL-E5.
    Fail,
    /// Use the running instance.
    UseExisting,
}

impl StartArgs {
    fn options(&self) -> StartOptions {
        StartOptions {
            if_running: match self.if_running {
                WhenRunning::Fail => IfRunning::Fail,
                WhenRunning::UseExisting => IfRunning::UseExisting,
            },
            event: self.event.clone().map(|e| (e, self.data.clone())),
        }
    }
}

/// Starts on the local database.
pub(crate) async fn local(keel: &Keel, args: StartArgs, json: bool) -> Result<()> {
    let started = keel
        .start_with(&args.name, &args.input, args.id.as_deref(), &args.options())
        .await?;
    print(started.id.as_str(), started.created, &args, json);
    if keel.live_workers().await?.is_empty() {
        eprintln!("{}", no_worker(started.id.as_str()));
    }
    Ok(())
}

/// The hint for an instance started on a database no worker runs on: nothing will run it yet.
fn no_worker(id: &str) -> String {
    format!(
        "note: no worker has reported on this database in the last {} s, so nothing runs {id} yet: \
         start one with `keel worker` (or `keel serve`) on the same database",
        crate::engine::WORKER_SILENT_MS / 1000
    )
}

/// Starts through the server's API.
pub(crate) async fn remote(remote: &Remote, args: StartArgs, json: bool) -> Result<()> {
    let name = crate::api::percent_encode(&args.name);
    let (path, body) = match (&args.id, &args.event) {
        (Some(id), Some(event)) => {
            let data: Value = parse(&args.data, "event data")?;
            let input: Value = parse(&args.input, "input")?;
            (
                format!(
                    "/api/orchestrators/{name}/{}/events/{}",
                    crate::api::percent_encode(id),
                    crate::api::percent_encode(event)
                ),
                json!({"input": input, "data": data}).to_string(),
            )
        }
        (Some(id), None) => {
            let query = match args.if_running {
                WhenRunning::Fail => "",
                WhenRunning::UseExisting => "?ifRunning=useExisting",
            };
            (
                format!(
                    "/api/orchestrators/{name}/{}{query}",
                    crate::api::percent_encode(id)
                ),
                args.input.clone(),
            )
        }
        (None, _) => (format!("/api/orchestrators/{name}"), args.input.clone()),
    };
    let started = remote.call("POST", &path, body.as_bytes()).await?;
    let id = started["id"].as_str().unwrap_or_default();
    let created = started["created"].as_bool().unwrap_or(true);
    print(id, created, &args, json);
    Ok(())
}

/// The server checks the JSON again; here it only has to be put in the request's body.
fn parse(text: &str, what: &'static str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| {
        crate::engine::Error::InvalidJson {
            what,
            message: e.to_string(),
        }
        .into()
    })
}

fn print(id: &str, created: bool, args: &StartArgs, json: bool) {
    if json {
        println!("{}", json!({"id": id, "created": created}));
        return;
    }
    println!("{id}");
    if !created {
        match &args.event {
            Some(event) => eprintln!("{id} was running: raised {event} to it, started nothing"),
            None => eprintln!("{id} was running: started nothing"),
        }
    }
}
