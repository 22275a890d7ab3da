//! Keel's end-to-end tests: one binary, real guest components built from `guest-examples/` and
//! `tests/guests/`, a temporary SQLite database per test.
//!
//! Guests are built once per run (see `support::guests`); compiled artefacts are shared through one
//! cache directory so each test only deserialises them.

mod api;
mod approval;
mod bad_input;
mod cli;
mod crash;
mod dashboard;
mod examples;
mod fan_out;
mod javascript;
mod nondeterminism;
mod order_processing;
mod patterns;
mod python;
mod replay;
mod rewind;
mod runaway;
mod support;
mod versions;
