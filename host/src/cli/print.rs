//! How instances, histories and instance lists are printed, for text and `--json`: one printer per
//! kind, fed by the local commands from the store and by `keel --server` from the API's JSON decoded
//! into the same types, so that both paths print the same lines.
//!
//! It must never read from a database or a server: callers hand it what to print.

use anyhow::Result;

use crate::store::{HistoryRecord, Instance};

/// An instance: `--json` as one JSON object, otherwise one labelled field per line.
pub(crate) fn instance(instance: &Instance, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(instance)?);
        return Ok(());
    }
    println!("instance  {}", instance.id);
    println!("name      {}", instance.name);
    println!("status    {}", instance.status);
    println!(
        "module    {}",
        instance.module.get(..12).unwrap_or(&instance.module)
    );
    println!("input     {}", instance.input);
    if let Some(status) = &instance.custom_status {
        println!("custom    {status}");
    }
    if let Some(output) = &instance.output {
        println!("output    {output}");
    }
    if let Some(reason) = &instance.parked {
        println!(
            "parked    {reason} (fix it, then `keel resume {}`)",
            instance.id
        );
    }
    if let Some(failure) = &instance.failure {
        println!("failure   {failure}");
    }
    Ok(())
}

/// A history: `--json` as one JSON array, otherwise `execution.seq kind summary` per event.
pub(crate) fn history(records: &[HistoryRecord], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(records)?);
        return Ok(());
    }
    for r in records {
        println!(
            "{:>3}.{:<4} {:<26} {}",
            r.execution,
            r.seq,
            r.event.kind(),
            r.event.summary()
        );
    }
    Ok(())
}

/// Instances: `--json` as one JSON array, otherwise a table.
pub(crate) fn instances(instances: &[Instance], json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(instances)?);
        return Ok(());
    }
    println!("{:<36} {:<20} {:<15} CREATED", "ID", "NAME", "STATUS");
    for i in instances {
        println!(
            "{:<36} {:<20} {:<15} {}",
            i.id,
            i.name,
            i.status.as_str(),
            i.created_at
        );
    }
    Ok(())
}
