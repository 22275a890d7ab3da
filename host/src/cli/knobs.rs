//! The engine's limits and knobs as users reach them: each one a global flag, an environment variable
//! and a key of the `[engine]` table of `keel.toml` (flag > environment > file > default), applied to
//! the engine's [`Config`] and shown by `keel serve` and `keel worker` when they start.
//!
//! It only carries numbers into the configuration; what they bound is the engine's business.

use clap::Args;
use serde::Deserialize;

use crate::engine::Config;

/// Limits and knobs of the engine; unset ones keep their defaults.
#[derive(Debug, Default, Clone, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Knobs {
    /// Linear memory and tables one guest instance may hold (all its memories and tables together), in
    /// MiB [default: 256].
    #[arg(long, global = true, env = "KEEL_MEMORY_MB", value_name = "MIB")]
    pub memory_mb: Option<u64>,
    /// CPU time one orchestrator turn may use, in ms [default: 5000].
    #[arg(long, global = true, env = "KEEL_TURN_CPU_MS", value_name = "MS")]
    pub turn_cpu_ms: Option<u64>,
    /// Wall-clock time one turn (replay included) may take, in ms [default: 120000].
    #[arg(long, global = true, env = "KEEL_TURN_WALL_MS", value_name = "MS")]
    pub turn_wall_ms: Option<u64>,
    /// Time limit of an activity attempt whose call sets none, in ms [default: 60000].
    #[arg(
        long,
        global = true,
        env = "KEEL_ACTIVITY_TIMEOUT_MS",
        value_name = "MS"
    )]
    pub activity_timeout_ms: Option<u64>,
    /// Largest JSON payload (input, output, event data), in bytes [default: 1048576].
    #[arg(
        long,
        global = true,
        env = "KEEL_MAX_PAYLOAD_BYTES",
        value_name = "BYTES"
    )]
    pub max_payload_bytes: Option<u64>,
    /// Largest HTTP response body an attempt may receive, in bytes [default: 16777216].
    #[arg(
        long,
        global = true,
        env = "KEEL_HTTP_RESPONSE_MAX_BYTES",
        value_name = "BYTES"
    )]
    pub http_response_max_bytes: Option<u64>,
    /// HTTP requests one attempt may have in flight [default: 16].
    #[arg(
        long,
        global = true,
        env = "KEEL_HTTP_MAX_CONCURRENT",
        value_name = "N"
    )]
    pub http_max_concurrent: Option<u64>,
    /// Turns a worker runs at once [default: 64].
    #[arg(long, global = true, env = "KEEL_MAX_TURNS", value_name = "N")]
    pub max_turns: Option<u64>,
    /// Activity attempts a worker runs at once [default: 64].
    #[arg(long, global = true, env = "KEEL_MAX_ACTIVITIES", value_name = "N")]
    pub max_activities: Option<u64>,
    /// Orchestrator guests a worker keeps in memory between turns [default: 10000].
    #[arg(long, global = true, env = "KEEL_HOT_CAPACITY", value_name = "N")]
    pub hot_capacity: Option<u64>,
    /// Guest memory and tables the hot orchestrator guests may hold together, in MiB [default: 4096].
    #[arg(long, global = true, env = "KEEL_HOT_MB", value_name = "MIB")]
    pub hot_mb: Option<u64>,
    /// Longest name or instance id a guest or a client may give, in bytes [default: 256].
    #[arg(long, global = true, env = "KEEL_MAX_NAME_BYTES", value_name = "BYTES")]
    pub max_name_bytes: Option<u64>,
    /// Most tasks one orchestrator turn may schedule [default: 20000].
    #[arg(long, global = true, env = "KEEL_MAX_TURN_TASKS", value_name = "N")]
    pub max_turn_tasks: Option<u64>,
    /// Most log lines one turn or attempt may write; the rest are dropped [default: 1000].
    #[arg(long, global = true, env = "KEEL_MAX_LOG_LINES", value_name = "N")]
    pub max_log_lines: Option<u64>,
    /// Raised events and updates one instance may have waiting to be taken in [default: 10000].
    #[arg(long, global = true, env = "KEEL_MAX_INBOX_EVENTS", value_name = "N")]
    pub max_inbox_events: Option<u64>,
    /// How long a claimed instance or work item stays leased without renewal, in ms [default: 5000].
    #[arg(long, global = true, env = "KEEL_LEASE_MS", value_name = "MS")]
    pub lease_ms: Option<u64>,
    /// Turns in a row that may fail outside the orchestrator before the instance is parked
    /// [default: 5].
    #[arg(long, global = true, env = "KEEL_MAX_TURN_FAILURES", value_name = "N")]
    pub max_turn_failures: Option<u64>,
    /// Deliveries of an activity attempt without a result before its task fails [default: 5].
    #[arg(long, global = true, env = "KEEL_MAX_DELIVERIES", value_name = "N")]
    pub max_deliveries: Option<u64>,
    /// Events one execution's history may hold before it fails with `HistoryTooLarge`
    /// [default: 51200].
    #[arg(long, global = true, env = "KEEL_MAX_HISTORY_EVENTS", value_name = "N")]
    pub max_history_events: Option<u64>,
    /// API requests `keel serve` handles at once; more get `503` and `Retry-After` [default: 256].
    #[arg(long, global = true, env = "KEEL_API_MAX_REQUESTS", value_name = "N")]
    pub api_max_requests: Option<u64>,
    /// Writes queued for the database beyond which API writes get `503` [default: 20000].
    #[arg(long, global = true, env = "KEEL_WRITER_QUEUE_MAX", value_name = "N")]
    pub writer_queue_max: Option<u64>,
    /// Hours the guests' log lines (`keel logs`) are kept, whatever their instance [default: 168].
    #[arg(
        long,
        global = true,
        env = "KEEL_LOG_RETENTION_HOURS",
        value_name = "HOURS"
    )]
    pub log_retention_hours: Option<u64>,
    /// Executions of an instance whose histories are kept, the current one included; continuing as
    /// new deletes older ones [default: 10].
    #[arg(long, global = true, env = "KEEL_KEEP_EXECUTIONS", value_name = "N")]
    pub keep_executions: Option<u64>,
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

fn to_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl Knobs {
    /// These knobs, with the unset ones taken from `file`.
    #[must_use]
    pub fn or(self, file: Knobs) -> Knobs {
        Knobs {
            memory_mb: self.memory_mb.or(file.memory_mb),
            turn_cpu_ms: self.turn_cpu_ms.or(file.turn_cpu_ms),
            turn_wall_ms: self.turn_wall_ms.or(file.turn_wall_ms),
            activity_timeout_ms: self.activity_timeout_ms.or(file.activity_timeout_ms),
            max_payload_bytes: self.max_payload_bytes.or(file.max_payload_bytes),
            http_response_max_bytes: self
                .http_response_max_bytes
                .or(file.http_response_max_bytes),
            http_max_concurrent: self.http_max_concurrent.or(file.http_max_concurrent),
            max_turns: self.max_turns.or(file.max_turns),
            max_activities: self.max_activities.or(file.max_activities),
            hot_capacity: self.hot_capacity.or(file.hot_capacity),
            hot_mb: self.hot_mb.or(file.hot_mb),
            max_name_bytes: self.max_name_bytes.or(file.max_name_bytes),
            max_turn_tasks: self.max_turn_tasks.or(file.max_turn_tasks),
            max_log_lines: self.max_log_lines.or(file.max_log_lines),
            max_inbox_events: self.max_inbox_events.or(file.max_inbox_events),
            lease_ms: self.lease_ms.or(file.lease_ms),
            max_turn_failures: self.max_turn_failures.or(file.max_turn_failures),
            max_deliveries: self.max_deliveries.or(file.max_deliveries),
            max_history_events: self.max_history_events.or(file.max_history_events),
            api_max_requests: self.api_max_requests.or(file.api_max_requests),
            writer_queue_max: self.writer_queue_max.or(file.writer_queue_max),
            log_retention_hours: self.log_retention_hours.or(file.log_retention_hours),
            keep_executions: self.keep_executions.or(file.keep_executions),
        }
    }

    /// Writes the set knobs into `config`.
    pub fn apply(&self, config: &mut Config) {
        let limits = &mut config.limits;
        if let Some(v) = self.memory_mb {
            limits.memory_bytes = to_usize(v.saturating_mul(1 << 20));
        }
        if let Some(v) = self.turn_cpu_ms {
            limits.turn_cpu_ms = v;
        }
        if let Some(v) = self.turn_wall_ms {
            limits.turn_wall_ms = v;
        }
        if let Some(v) = self.activity_timeout_ms {
            limits.activity_timeout_ms = v;
        }
        if let Some(v) = self.max_payload_bytes {
            limits.max_payload_bytes = to_usize(v);
        }
        if let Some(v) = self.http_response_max_bytes {
            limits.http_response_max_bytes = v;
        }
        if let Some(v) = self.http_max_concurrent {
            limits.http_max_concurrent = to_usize(v);
        }
        if let Some(v) = self.max_turns {
            config.max_turns = to_usize(v).max(1);
        }
        if let Some(v) = self.max_activities {
            config.max_activities = to_usize(v).max(1);
        }
        if let Some(v) = self.hot_capacity {
            config.hot_capacity = to_usize(v);
        }
        if let Some(v) = self.max_name_bytes {
            config.limits.max_name_bytes = to_usize(v).max(1);
        }
        if let Some(v) = self.max_turn_tasks {
            config.limits.max_turn_tasks = to_u32(v).max(1);
        }
        if let Some(v) = self.max_log_lines {
            config.limits.max_log_lines = to_u32(v);
        }
        if let Some(v) = self.max_inbox_events {
            config.max_inbox_events = to_u32(v).max(1);
        }
        if let Some(v) = self.hot_mb {
            config.hot_bytes = to_usize(v.saturating_mul(1 << 20));
        }
        if let Some(v) = self.lease_ms {
            config.lease_ms = v.max(1);
        }
        if let Some(v) = self.max_turn_failures {
            config.max_turn_failures = to_u32(v).max(1);
        }
        if let Some(v) = self.max_deliveries {
            config.max_deliveries = to_u32(v).max(1);
        }
        if let Some(v) = self.max_history_events {
            config.max_history_events = to_u32(v).max(1);
        }
        if let Some(v) = self.api_max_requests {
            config.api_max_requests = to_usize(v).max(1);
        }
        if let Some(v) = self.writer_queue_max {
            config.writer_queue_max = to_usize(v);
        }
        if let Some(v) = self.keep_executions {
            config.keep_executions = to_u32(v).max(1);
        }
        if let Some(v) = self.log_retention_hours {
            config.log_retention_ms = v.saturating_mul(60 * 60 * 1000);
        }
    }
}

/// The limits in force, one line, for the start-up banner of `keel serve` and `keel worker`.
pub fn summary(config: &Config) -> String {
    let l = &config.limits;
    format!(
        "guest memory {} MiB; turn {} ms CPU, {} ms wall; attempt {} ms; payload {} bytes; \
         HTTP response {} bytes, {} requests in flight; {} turns and {} attempts at once; \
         {} hot guests in {} MiB; lease {} ms; park after {} failed turns; {} deliveries per attempt; \
         {} history events per execution, {} executions kept; {} tasks and {} log lines per turn, kept {} h; \
         names up to {} bytes; \
         {} events waiting per instance; \
         API {} requests at once, writes refused past {} queued",
        l.memory_bytes >> 20,
        l.turn_cpu_ms,
        l.turn_wall_ms,
        l.activity_timeout_ms,
        l.max_payload_bytes,
        l.http_response_max_bytes,
        l.http_max_concurrent,
        config.max_turns,
        config.max_activities,
        config.hot_capacity,
        config.hot_bytes >> 20,
        config.lease_ms,
        config.max_turn_failures,
        config.max_deliveries,
        config.max_history_events,
        config.keep_executions,
        l.max_turn_tasks,
        l.max_log_lines,
        config.log_retention_ms / (60 * 60 * 1000),
        l.max_name_bytes,
        config.max_inbox_events,
        config.api_max_requests,
        config.writer_queue_max,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_knobs_reach_the_configuration_and_the_file_fills_the_rest() {
        let flags = Knobs {
            memory_mb: Some(64),
            max_turns: Some(8),
            ..Knobs::default()
        };
        let file: Knobs = toml::from_str(
            "memory-mb = 512\nturn-wall-ms = 9000\nmax-turns = 99\nlog-retention-hours = 2\n",
        )
        .expect("a valid [engine] table");
        let knobs = flags.or(file);
        let mut config = Config::new("x.db");
        knobs.apply(&mut config);
        assert_eq!(config.limits.memory_bytes, 64 << 20);
        assert_eq!(config.limits.turn_wall_ms, 9000);
        assert_eq!(config.max_turns, 8);
        assert_eq!(config.max_activities, 64);
        assert_eq!(config.log_retention_ms, 2 * 60 * 60 * 1000);
        let line = summary(&config);
        assert!(
            line.contains("guest memory 64 MiB")
                && line.contains("9000 ms wall")
                && line.contains("kept 2 h"),
            "{line}"
        );
        assert!(toml::from_str::<Knobs>("memory = 1\n").is_err());
    }
}
