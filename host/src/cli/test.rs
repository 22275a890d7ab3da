//! `keel test SCENARIO.json...`: runs each scenario on the real engine in a throwaway database, with
//! its activities mocked by name and durable time skipped (the engine's test kit), and prints one
//! line per scenario and each mismatch under it; exit 1 when any failed. Needs no database.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use crate::engine::Config;
use crate::testkit;

/// Arguments of `keel test`.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// Scenario files (JSON; see `keel test --help` and docs/writing-modules.md).
    #[arg(required = true)]
    pub scenarios: Vec<PathBuf>,
    /// Run every scenario against these module files instead of the ones the scenarios name
    /// (the same scenario against each language's build).
    #[arg(long = "module", value_name = "FILE.wasm")]
    pub modules: Vec<PathBuf>,
}

/// Runs every scenario; prints `ok`/`FAIL` lines (or one JSON object per scenario with `--json`).
pub async fn run(args: TestArgs, config: Config, json: bool) -> Result<ExitCode> {
    let mut failed = 0;
    for path in &args.scenarios {
        let outcome = testkit::run_file(path, &args.modules, config.clone()).await?;
        if !outcome.passed() {
            failed += 1;
        }
        if json {
            println!(
                "{}",
                json!({
                    "scenario": path,
                    "name": outcome.name,
                    "passed": outcome.passed(),
                    "mismatches": outcome.mismatches,
                    "elapsedMs": outcome.elapsed.as_millis(),
                    "skippedMs": outcome.skipped_ms,
                })
            );
            continue;
        }
        let skipped = if outcome.skipped_ms >= 1_000 {
            format!(
                ", {} of orchestration time skipped",
                human(outcome.skipped_ms)
            )
        } else {
            String::new()
        };
        println!(
            "{} {} ({:.1} s{skipped})",
            if outcome.passed() { "ok  " } else { "FAIL" },
            outcome.name,
            outcome.elapsed.as_secs_f64()
        );
        for mismatch in &outcome.mismatches {
            println!("     - {mismatch}");
        }
    }
    if !json {
        println!(
            "{} scenario(s): {} passed, {failed} failed",
            args.scenarios.len(),
            args.scenarios.len() - failed
        );
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `ms` as `2 d 3 h`, `3 h 20 min`, `5 min`, `12 s` (the two largest units).
fn human(ms: u64) -> String {
    let s = ms / 1_000;
    match (s / 86_400, s / 3_600 % 24, s / 60 % 60, s % 60) {
        (0, 0, 0, s) => format!("{s} s"),
        (0, 0, m, _) => format!("{m} min"),
        (0, h, 0, _) => format!("{h} h"),
        (0, h, m, _) => format!("{h} h {m} min"),
        (d, 0, _, _) => format!("{d} d"),
        (d, h, _, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::human;

    #[test]
    fn skipped_time_is_said_in_its_two_largest_units() {
        assert_eq!(human(12_500), "12 s");
        assert_eq!(human(300_000), "5 min");
        assert_eq!(human(3_600_000), "1 h");
        assert_eq!(human(12_000_000), "3 h 20 min");
        assert_eq!(human(86_400_000), "1 d");
        assert_eq!(human(183_600_000), "2 d 3 h");
    }
}
