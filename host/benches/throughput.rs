//! Throughput benchmark: a 1,000-step sequential orchestration (hot instances versus replay on every
//! turn), a 1,000-way fan-out, and 200 concurrent order-processing instances, on a real SQLite file
//! with `synchronous=FULL`. Prints its figures; asserts nothing about speed.
//!
//! Run with `cargo bench -p keel --bench throughput` (add `-- --quick` for smaller sizes).

use std::path::Path;
use std::time::{Duration, Instant};

use keel::store::Status;
use keel::{Config, Keel};

#[path = "../../tests/all/support.rs"]
#[allow(dead_code, reason = "the benchmark uses only part of the test support")]
mod support;

struct Sizes {
    steps: u64,
    cold_steps: u64,
    fan_out: u64,
    orders: usize,
}

async fn open(dir: &Path, hot_capacity: usize) -> Keel {
    let mut config = Config::new(dir.join("bench.db"));
    config.cache_dir = Some(support::cache_dir());
    config.hot_capacity = hot_capacity;
    let keel = Keel::open(config).await.expect("open");
    for module in ["fan_out", "order_processing"] {
        keel.deploy(support::guest(module), None)
            .await
            .expect("deploy");
    }
    keel
}

async fn run_one(keel: &Keel, name: &str, input: &str) -> Duration {
    let worker = keel.run_worker();
    let started = Instant::now();
    let id = keel.start(name, input, None).await.expect("start");
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(3600))
        .await
        .expect("wait");
    let elapsed = started.elapsed();
    worker.shutdown().await;
    assert_eq!(instance.status, Status::Completed, "{:?}", instance.failure);
    elapsed
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            steps: 100,
            cold_steps: 50,
            fan_out: 100,
            orders: 20,
        }
    } else {
        Sizes {
            steps: 1000,
            cold_steps: 200,
            fan_out: 1000,
            orders: 200,
        }
    };
    support::guests();
    println!("keel throughput benchmark (SQLite, synchronous=FULL, release build)");

    // 1. Sequential chain, hot instance: one resume per step.
    let dir = tempfile::tempdir().expect("tempdir");
    let keel = open(dir.path(), 10_000).await;
    let input = format!(r#"{{"steps":{}}}"#, sizes.steps);
    let warm = run_one(&keel, "Sequence", &input).await;
    println!(
        "sequence   (first run, includes warm-up: {:.2} s)",
        warm.as_secs_f64()
    );
    let hot = run_one(&keel, "Sequence", &input).await;
    let hot_rate = sizes.steps as f64 / hot.as_secs_f64();
    println!(
        "sequence   {:>5} steps, hot instance      {:>8.2} s  {:>8.0} steps/s",
        sizes.steps,
        hot.as_secs_f64(),
        hot_rate
    );

    // Same chain with the hot cache off: every turn replays the whole history (O(n^2)).
    let dir_cold = tempfile::tempdir().expect("tempdir");
    let cold_keel = open(dir_cold.path(), 0).await;
    for steps in [sizes.cold_steps / 2, sizes.cold_steps] {
        let input = format!(r#"{{"steps":{steps}}}"#);
        let cold = run_one(&cold_keel, "Sequence", &input).await;
        println!(
            "sequence   {:>5} steps, replay every turn {:>8.2} s  {:>8.0} steps/s",
            steps,
            cold.as_secs_f64(),
            steps as f64 / cold.as_secs_f64()
        );
    }
    let input = format!(r#"{{"steps":{}}}"#, sizes.cold_steps);
    let hot_small = run_one(&keel, "Sequence", &input).await;
    let cold_small = run_one(&cold_keel, "Sequence", &input).await;
    println!(
        "ratio      {:>5} steps: replay-every-turn {:.2} s / hot {:.2} s = {:.1}x",
        sizes.cold_steps,
        cold_small.as_secs_f64(),
        hot_small.as_secs_f64(),
        cold_small.as_secs_f64() / hot_small.as_secs_f64()
    );

    // 2. Fan-out: N activities scheduled in one turn, joined with await-all.
    let input = format!(r#"{{"count":{}}}"#, sizes.fan_out);
    let fan = run_one(&keel, "FanOut", &input).await;
    println!(
        "fan-out    {:>5} activities              {:>8.2} s  {:>8.0} activities/s",
        sizes.fan_out,
        fan.as_secs_f64(),
        sizes.fan_out as f64 / fan.as_secs_f64()
    );

    // 3. Concurrent order-processing instances (4 activities each, one of them retried once; the
    //    payment and the confirmation are HTTP calls to the example's service, a Python process).
    let shop = support::Shop::start("bench-token");
    shop.configure(&keel).await;
    let worker = keel.run_worker();
    let started = Instant::now();
    let mut ids = Vec::with_capacity(sizes.orders);
    for i in 0..sizes.orders {
        let input = format!(r#"{{"orderId":"order-{i}","amount":25.0,"items":["book"]}}"#);
        ids.push(
            keel.start("ProcessOrder", &input, None)
                .await
                .expect("start"),
        );
    }
    for id in &ids {
        let instance = keel
            .wait(id.as_str(), Duration::from_secs(3600))
            .await
            .expect("wait");
        assert_eq!(instance.status, Status::Completed);
    }
    let elapsed = started.elapsed().as_secs_f64();
    worker.shutdown().await;
    let activities = sizes.orders * 4;
    let attempts = sizes.orders * 5;
    println!(
        "orders     {:>5} instances               {:>8.2} s  {:>8.1} instances/s  {:>7.0} activity steps/s  ({} attempts incl. retries: {:.0}/s)",
        sizes.orders,
        elapsed,
        sizes.orders as f64 / elapsed,
        activities as f64 / elapsed,
        attempts,
        attempts as f64 / elapsed
    );
}
