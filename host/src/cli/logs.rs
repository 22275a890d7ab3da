//! `keel logs ID`: the lines an instance's guests wrote, read from the database or, with
//! `--server`, from `GET /api/instances/{id}/logs`, and printed the same way either way; with
//! `--follow`, new lines as they are committed until the instance ends.

use std::time::Duration;

use anyhow::{Context as _, Result};

use super::print::local_time;
use crate::engine::Keel;
use crate::http_client::Remote;
use crate::store::{Instance, StoredLogLine};

/// Lines asked for at a time.
const PAGE: u32 = 1_000;

/// How often `--follow` asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(300);

/// Where the lines come from.
pub(crate) enum Source<'a> {
    Local(&'a Keel),
    Remote(&'a Remote),
}

impl Source<'_> {
    async fn page(&self, id: &str, after: i64) -> Result<Vec<StoredLogLine>> {
        match self {
            Source::Local(keel) => Ok(keel.logs(id, after, PAGE).await?),
            Source::Remote(remote) => {
                let path = format!(
                    "/api/instances/{}/logs?after={after}&limit={PAGE}",
                    crate::api::percent_encode(id)
                );
                let mut page = remote.call("GET", &path, b"").await?;
                serde_json::from_value(page["lines"].take()).context("the server's log lines")
            }
        }
    }

    async fn ended(&self, id: &str) -> Result<bool> {
        let instance: Option<Instance> = match self {
            Source::Local(keel) => keel.status(id).await?,
            Source::Remote(remote) => {
                let path = format!("/api/instances/{}", crate::api::percent_encode(id));
                Some(
                    serde_json::from_value(remote.call("GET", &path, b"").await?)
                        .context("the server's instance")?,
                )
            }
        };
        Ok(instance.is_none_or(|i| i.status.is_terminal()))
    }
}

/// Prints instance `id`'s lines; with `follow`, waits for more until the instance has ended.
pub(crate) async fn run(source: Source<'_>, id: &str, follow: bool, json: bool) -> Result<()> {
    let mut after = 0;
    loop {
        // Read before the page, so that the lines committed with an instance's last turn are in
        // the page read after it is seen to have ended.
        let ended = follow && source.ended(id).await?;
        let lines = source.page(id, after).await?;
        for line in &lines {
            print(line, json)?;
        }
        if let Some(last) = lines.last() {
            after = last.id;
        }
        if lines.len() == PAGE as usize {
            continue;
        }
        if !follow || ended {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// One line: `--json` as one JSON object per line, otherwise
/// `2026-11-30 08:00:00.123 CET  Charge #2 attempt 1  stdout  text`.
fn print(line: &StoredLogLine, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(line)?);
        return Ok(());
    }
    let l = &line.line;
    let source = match (l.task, l.attempt) {
        (Some(task), Some(attempt)) => format!("{} #{task} attempt {attempt}", l.source),
        _ => l.source.clone(),
    };
    println!(
        "{}  {source:<24}  {:<6}  {}",
        local_time(l.at_ms),
        l.stream,
        l.text
    );
    Ok(())
}
