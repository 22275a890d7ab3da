//! Keel's end-to-end tests: one binary, real guest components built from `guest-examples/` and
//! `tests/guests/`, a temporary SQLite database per test.
//!
//! Guests are built once per run (see `support::guests` and `languages::builds`); compiled artefacts
//! are shared through one cache directory so each test only deserialises them.

mod api;
mod bad_input;
mod build_errors;
mod cancellation;
mod capabilities;
mod chaos;
mod cli;
mod cli_server;
mod cli_text;
mod config_file;
mod cpu_budget;
mod crash;
mod dashboard;
mod fuzz;
mod guest_bounds;
mod guest_logs;
mod heartbeats;
mod hot_cache;
mod incarnations;
mod languages;
mod leases;
mod local_activities;
mod multi_worker;
mod nondeterminism;
mod overload;
mod patterns;
mod poison;
mod postgres_outage;
mod queries;
mod raw_db;
mod replay;
mod replayer;
mod rewind;
mod runaway;
mod schedules;
mod start_policies;
mod support;
mod telemetry;
mod test_server;
mod tls_front;
mod updates;
mod versions;
mod worker_options;
mod worker_reports;
