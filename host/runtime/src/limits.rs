//! Sandbox limits applied to every guest: memory (all memories and tables of a store together), CPU time per turn or attempt, payload size, and the
//! bounds of activities' outgoing HTTP (response size, requests in flight).
//!
//! Limits are configuration only; the runtime enforces them (StoreLimits, epoch interruption) and the
//! engine checks payload sizes where JSON enters the system.

/// Resource limits of guests.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Linear memory a guest instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// CPU time an orchestrator may use in one turn before it fails, in milliseconds.
    pub turn_cpu_ms: u64,
    /// Wall-clock time one turn (replay included) may take before the instance fails, in
    /// milliseconds: bounds a guest that waits on something outside Keel (a WASI sleep).
    pub turn_wall_ms: u64,
    /// Wall-clock time of the manifest call at deploy, in milliseconds.
    pub manifest_wall_ms: u64,
    /// Time limit of one activity attempt when the call sets none, in milliseconds.
    pub activity_timeout_ms: u64,
    /// CPU time the manifest call may use at deploy, in milliseconds.
    pub manifest_cpu_ms: u64,
    /// Largest JSON payload (input, output, event data) accepted, in bytes.
    pub max_payload_bytes: usize,
    /// Largest HTTP response body an activity attempt (or a durable HTTP call) may receive, in bytes.
    pub http_response_max_bytes: u64,
    /// Most HTTP requests one activity attempt may have in flight at once.
    pub http_max_concurrent: usize,
    /// Most core instances, memories and tables one store may create.
    pub store_counts: StoreCounts,
    /// Longest name a guest or a client may give (activity, orchestrator and event names, instance
    /// ids), in bytes.
    pub max_name_bytes: usize,
    /// Most tasks (activities, sub-orchestrations, timers, event waits) one turn may schedule.
    pub max_turn_tasks: u32,
    /// Most log lines (the `log` call, stdout and stderr) one turn or attempt may write; the rest
    /// are dropped with one warning.
    pub max_log_lines: u32,
    /// Longest log line, in bytes; longer lines are cut.
    pub max_log_bytes: usize,
    /// Longest failure kind and message a guest may report, in bytes; longer ones are cut.
    pub max_failure_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 256 << 20,
            turn_cpu_ms: 5_000,
            turn_wall_ms: 120_000,
            manifest_wall_ms: 30_000,
            activity_timeout_ms: 60_000,
            manifest_cpu_ms: 2_000,
            max_payload_bytes: 1 << 20,
            http_response_max_bytes: 16 << 20,
            http_max_concurrent: 16,
            store_counts: StoreCounts::default(),
            max_name_bytes: 256,
            max_turn_tasks: 20_000,
            max_log_lines: 1_000,
            max_log_bytes: 8 * 1024,
            max_failure_bytes: 16 * 1024,
        }
    }
}

/// Bounds on the number of things a store may create (each far above what real guests use: a
/// componentize-py component instantiates 14 core modules, with one memory and two tables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreCounts {
    /// Core module instances.
    pub instances: usize,
    /// Linear memories.
    pub memories: usize,
    /// Tables.
    pub tables: usize,
}

impl Default for StoreCounts {
    fn default() -> Self {
        Self {
            instances: 64,
            memories: 16,
            tables: 64,
        }
    }
}

/// Milliseconds between two epoch ticks: the granularity of CPU limits.
pub const EPOCH_TICK_MS: u64 = 10;

impl Limits {
    /// Epoch ticks in `ms`, at least one.
    pub fn ticks(ms: u64) -> u64 {
        (ms / EPOCH_TICK_MS).max(1)
    }
}
