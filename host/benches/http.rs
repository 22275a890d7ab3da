//! Outgoing HTTP: what one request from an activity costs on loopback, and what a durable HTTP call
//! (`keel.http`) costs end to end, against a real HTTP server on 127.0.0.1 in this process.
//! Prints its figures; asserts nothing about speed.
//!
//! - **in-guest call**: the patterns fixture's `HttpLoop` activity sends 1,000 GET requests one after
//!   the other through `wasi:http` (grant check, hyper client, response body read) and times each
//!   with the attempt's monotonic clock: the median is the cost of one call as a guest sees it.
//! - **attempt with one call**, per language: the http example's `Fetch` activity run through
//!   `CallService` N times in a row; the median attempt (instantiate, one request, result) next to the
//!   median attempt of the same language's `Fetch` when it is denied (instantiate, no request), in the
//!   same run. The Python, JavaScript and C builds are the test suite's
//!   (`$CARGO_TARGET_DIR/{python,javascript,c}-guests/http_calls.wasm`), used when present.
//!
//! Run with `cargo bench -p keel --bench http` (add `-- --quick` for 100 calls).

use std::time::{Duration, Instant};

use keel::store::Status;
use keel::{Config, Keel};
use serde_json::json;

#[path = "../../tests/all/support.rs"]
#[allow(dead_code, reason = "the benchmark uses only part of the test support")]
mod support;

#[path = "../../tests/all/test_server.rs"]
#[allow(dead_code, reason = "the benchmark uses only part of the test server")]
mod test_server;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn open(dir: &std::path::Path, module: Vec<u8>) -> Keel {
    let mut config = Config::new(dir.join("bench.db"));
    config.cache_dir = Some(support::cache_dir());
    let keel = Keel::open(config).await.expect("open");
    keel.deploy(module, None).await.expect("deploy");
    keel
}

/// Runs `CallService` on `url` `runs` times in a row; returns the attempt durations in ms.
async fn attempts(keel: &Keel, url: &str, runs: usize) -> Vec<f64> {
    let worker = keel.run_worker();
    let input = json!({"request": {"url": url}}).to_string();
    let mut durations = Vec::with_capacity(runs);
    for _ in 0..runs {
        let before = keel.metrics().activity_latency.snapshot();
        let id = keel
            .start("CallService", &input, None)
            .await
            .expect("start");
        let instance = keel
            .wait(id.as_str(), Duration::from_secs(60))
            .await
            .expect("wait");
        assert!(matches!(
            instance.status,
            Status::Completed | Status::Failed
        ));
        let after = keel.metrics().activity_latency.snapshot();
        durations.push((after.sum_seconds - before.sum_seconds) * 1e3);
    }
    worker.shutdown().await;
    durations
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let calls = if quick { 100 } else { 1000 };
    let runs = if quick { 30 } else { 200 };
    support::guests();
    let server = test_server::TestServer::start().await;
    println!("keel outgoing-HTTP benchmark (release build, loopback server in this process)");

    // 1. One call as a guest sees it.
    let dir = tempfile::tempdir().expect("tempdir");
    let keel = open(dir.path(), support::guest("keel_test_patterns")).await;
    keel.grant("HttpLoop", &server.url).await.expect("grant");
    let worker = keel.run_worker();
    let input = json!({"activity": "HttpLoop", "input": {"url": format!("{}/ok", server.url), "times": calls}});
    let started = Instant::now();
    let id = keel
        .start("Call", &input.to_string(), None)
        .await
        .expect("start");
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(600))
        .await
        .expect("wait");
    let wall = started.elapsed();
    worker.shutdown().await;
    let output = instance.output.expect("an output");
    let mut micros: Vec<f64> = output["ok"]["micros"]
        .as_array()
        .unwrap_or_else(|| panic!("HttpLoop failed: {output}"))
        .iter()
        .filter_map(serde_json::Value::as_f64)
        .collect();
    let p50 = median(&mut micros);
    let p99 = micros[micros.len() * 99 / 100];
    println!(
        "in-guest call (Rust, wasi:http)   {calls} calls: median {p50:.0} µs, p99 {p99:.0} µs, {:.2} s in all",
        wall.as_secs_f64()
    );

    // 2. An attempt with one call, per language, against a denied attempt in the same run.
    let target = support::target_dir();
    for lang in ["rust", "c", "python", "javascript"] {
        let module = if lang == "rust" {
            support::guest("http_calls")
        } else {
            match std::fs::read(target.join(format!("{lang}-guests/http_calls.wasm"))) {
                Ok(bytes) => bytes,
                Err(_) => {
                    println!("{lang:<11} (no build in {lang}-guests/; run the test suite first)");
                    continue;
                }
            }
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let keel = open(dir.path(), module).await;
        let denied = attempts(&keel, &format!("{}/ok", server.url), 5).await;
        drop(denied); // warm-up: compile, first instantiations
        let mut denied = attempts(&keel, &format!("{}/ok", server.url), runs).await;
        keel.grant("Fetch", &server.url).await.expect("grant");
        let mut allowed = attempts(&keel, &format!("{}/ok", server.url), runs).await;
        let (a, d) = (median(&mut allowed), median(&mut denied));
        println!(
            "{lang:<11} attempt with one call: median {a:.2} ms; denied attempt (no call): {d:.2} ms; difference {:.2} ms ({runs} runs each)",
            a - d
        );
    }
}
