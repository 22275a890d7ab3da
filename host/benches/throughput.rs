//! Throughput benchmark on a real SQLite file with `synchronous=FULL`: sequential chains (1,000 and
//! 10,000 steps, on disk and on tmpfs, with the process's CPU time per step), a chain replayed on
//! every turn versus a hot one, the replay of a 10,000-event history, fan-outs of 1,000 and 10,000,
//! many concurrent chains, 1,000 waiting instances after a restart versus hot, 200
//! order-processing instances, and chains of local (inline) activity calls beside the same chains
//! of ordinary calls. Prints its figures; asserts nothing about speed.
//!
//! Run with `cargo bench -p keel --bench throughput` (add `-- --quick` for smaller sizes, and words
//! such as `sequence`, `replay`, `fan-out`, `concurrent`, `restart`, `orders`, `inline` to run
//! only those scenarios).

use std::path::Path;
use std::time::{Duration, Instant};

use keel::store::Status;
use keel::{Config, Keel};

#[path = "../../tests/all/support.rs"]
#[allow(dead_code, reason = "the benchmark uses only part of the test support")]
mod support;

struct Sizes {
    steps: Vec<u64>,
    cold_steps: u64,
    /// Steps of the chain whose history (three events a step) is replayed on its own.
    replayed_steps: u64,
    fan_out: Vec<u64>,
    concurrent: Vec<(usize, u64)>,
    waiting: usize,
    orders: usize,
}

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    cpu_time::ProcessTime::now().as_duration()
}

/// Wall-clock and CPU time of a measured run.
struct Measured {
    wall: Duration,
    cpu: Duration,
}

impl Measured {
    /// `label` (padded to one column), then the run's wall time, steps/s, and wall and CPU per step.
    fn print_steps(&self, label: &str, steps: u64, time_decimals: usize) {
        let per_step = |d: Duration| d.as_micros() as f64 / steps as f64;
        println!(
            "{label:<40} {:>8.time_decimals$} s  {:>8.0} steps/s  {:>7.0} us wall/step  {:>6.0} us CPU/step",
            self.wall.as_secs_f64(),
            steps as f64 / self.wall.as_secs_f64(),
            per_step(self.wall),
            per_step(self.cpu),
        );
    }
}

async fn open(dir: &Path, hot_capacity: usize) -> Keel {
    let mut config = Config::new(dir.join("bench.db"));
    config.cache_dir = Some(support::cache_dir());
    config.hot_capacity = hot_capacity;
    let keel = Keel::open(config).await.expect("open");
    for module in ["fan_out", "order_processing", "approval"] {
        keel.deploy(support::guest(module), None)
            .await
            .expect("deploy");
    }
    keel
}

async fn run_one(keel: &Keel, name: &str, input: &str) -> Duration {
    measure(keel, name, input).await.wall
}

async fn measure(keel: &Keel, name: &str, input: &str) -> Measured {
    let worker = keel.run_worker();
    let cpu = cpu_time();
    let started = Instant::now();
    let id = keel.start(name, input, None).await.expect("start");
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(3600))
        .await
        .expect("wait");
    let wall = started.elapsed();
    let cpu = cpu_time() - cpu;
    worker.shutdown().await;
    assert_eq!(instance.status, Status::Completed, "{:?}", instance.failure);
    Measured { wall, cpu }
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let words: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| words.is_empty() || words.iter().any(|w| name.contains(w.as_str()));
    let sizes = if quick {
        Sizes {
            steps: vec![100, 1000],
            cold_steps: 50,
            replayed_steps: 333,
            fan_out: vec![100],
            concurrent: vec![(20, 10)],
            waiting: 100,
            orders: 20,
        }
    } else {
        Sizes {
            steps: vec![1000, 10_000],
            cold_steps: 200,
            replayed_steps: 3_333,
            fan_out: vec![1000, 10_000],
            concurrent: vec![(200, 10), (2000, 10)],
            waiting: 1000,
            orders: 200,
        }
    };
    support::guests();
    println!("keel throughput benchmark (SQLite, synchronous=FULL, release build)");
    if wanted("sequence") {
        sequence(&sizes).await;
    }
    if wanted("replay") {
        replay(&sizes).await;
    }
    if wanted("fan-out") {
        fan_out(&sizes).await;
    }
    if wanted("concurrent") {
        concurrent(&sizes).await;
    }
    if wanted("restart") {
        restart(&sizes).await;
    }
    if wanted("orders") {
        orders(&sizes).await;
    }
    if wanted("inline") {
        inline(&sizes).await;
    }
}

/// Directories to run on: the temporary directory's disk, and tmpfs where there is one.
fn places() -> Vec<(&'static str, tempfile::TempDir)> {
    let mut places = vec![("disk", tempfile::tempdir().expect("tempdir"))];
    if Path::new("/dev/shm").is_dir() {
        places.push((
            "tmpfs",
            tempfile::tempdir_in("/dev/shm").expect("tempdir on tmpfs"),
        ));
    }
    places
}

/// 1. Sequential chains on a hot instance: one resume, one attempt per step; the figures per step
///    should not grow with the chain's length.
async fn sequence(sizes: &Sizes) {
    for (place, dir) in places() {
        let keel = open(dir.path(), 10_000).await;
        let warm = run_one(&keel, "Sequence", r#"{"steps":100}"#).await;
        println!(
            "sequence   ({place}: warm-up run of 100 steps {:.2} s)",
            warm.as_secs_f64()
        );
        let mut first: Option<(u64, Measured)> = None;
        for &steps in &sizes.steps {
            let input = format!(r#"{{"steps":{steps}}}"#);
            let m = measure(&keel, "Sequence", &input).await;
            m.print_steps(
                &format!("sequence   {steps:>6} steps, hot, {place:<5}"),
                steps,
                2,
            );
            if let Some((base, b)) = &first {
                println!(
                    "ratio      {steps} / {base} steps, {place}: wall {:.2}x, CPU {:.2}x (flat in history length = {:.0}x)",
                    m.wall.as_secs_f64() / b.wall.as_secs_f64(),
                    m.cpu.as_secs_f64() / b.cpu.as_secs_f64(),
                    steps as f64 / *base as f64,
                );
            } else {
                first = Some((steps, m));
            }
        }
    }
}

/// The same chain with the hot cache off: every turn replays the whole history (O(n^2)), beside
/// the hot chain in the same run.
async fn replay(sizes: &Sizes) {
    let dir = tempfile::tempdir().expect("tempdir");
    let keel = open(dir.path(), 10_000).await;
    let dir_cold = tempfile::tempdir().expect("tempdir");
    let cold_keel = open(dir_cold.path(), 0).await;
    for steps in [sizes.cold_steps / 2, sizes.cold_steps] {
        let input = format!(r#"{{"steps":{steps}}}"#);
        let cold = run_one(&cold_keel, "Sequence", &input).await;
        println!(
            "sequence   {:>6} steps, replay every turn {:>8.2} s  {:>8.0} steps/s",
            steps,
            cold.as_secs_f64(),
            steps as f64 / cold.as_secs_f64()
        );
    }
    let input = format!(r#"{{"steps":{}}}"#, sizes.cold_steps);
    let hot_small = run_one(&keel, "Sequence", &input).await;
    let cold_small = run_one(&cold_keel, "Sequence", &input).await;
    println!(
        "ratio      {:>6} steps: replay-every-turn {:.2} s / hot {:.2} s = {:.1}x",
        sizes.cold_steps,
        cold_small.as_secs_f64(),
        hot_small.as_secs_f64(),
        cold_small.as_secs_f64() / hot_small.as_secs_f64()
    );
    // One replay of a long history on its own: the check an upgrade runs, which reads the history,
    // builds a guest and replays every event in memory.
    let input = format!(r#"{{"steps":{}}}"#, sizes.replayed_steps);
    let worker = keel.run_worker();
    let id = keel.start("Sequence", &input, None).await.expect("start");
    keel.wait(id.as_str(), Duration::from_secs(3600))
        .await
        .expect("wait");
    worker.shutdown().await;
    let events = keel.history(id.as_str()).await.expect("history").len();
    let module = support::guest("fan_out");
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let check = keel
            .check_replay(id.as_str(), &module)
            .await
            .expect("replay");
        times.push(started.elapsed());
        assert_eq!(check, keel::upgrade::ReplayCheck::Compatible);
    }
    times.sort();
    println!(
        "replay     {events:>6} events, one replay        {:>8.1} ms median, {:.1} ms fastest of 5",
        times[2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
    );
}

/// 2. Fan-out: N activities scheduled in one turn, joined with await-all.
async fn fan_out(sizes: &Sizes) {
    let dir = tempfile::tempdir().expect("tempdir");
    let keel = open(dir.path(), 10_000).await;
    run_one(&keel, "FanOut", r#"{"count":10}"#).await;
    for &count in &sizes.fan_out {
        let input = format!(r#"{{"count":{count}}}"#);
        let m = measure(&keel, "FanOut", &input).await;
        println!(
            "fan-out    {count:>6} activities            {:>8.2} s  {:>8.0} activities/s  {:>6.0} us CPU/activity",
            m.wall.as_secs_f64(),
            count as f64 / m.wall.as_secs_f64(),
            m.cpu.as_micros() as f64 / count as f64,
        );
    }
}

/// 3. Many chains at once: N instances of a `steps`-step chain started together.
async fn concurrent(sizes: &Sizes) {
    let dir = tempfile::tempdir().expect("tempdir");
    let keel = open(dir.path(), 10_000).await;
    run_one(&keel, "Sequence", r#"{"steps":10}"#).await;
    for &(count, steps) in &sizes.concurrent {
        let worker = keel.run_worker();
        let input = format!(r#"{{"steps":{steps}}}"#);
        let cpu = cpu_time();
        let started = Instant::now();
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            ids.push(keel.start("Sequence", &input, None).await.expect("start"));
        }
        for id in &ids {
            let instance = keel
                .wait(id.as_str(), Duration::from_secs(3600))
                .await
                .expect("wait");
            assert_eq!(instance.status, Status::Completed, "{:?}", instance.failure);
        }
        let wall = started.elapsed();
        let cpu = cpu_time() - cpu;
        worker.shutdown().await;
        let total = count as u64 * steps;
        println!(
            "concurrent {count:>6} x {steps}-step chains       {:>8.2} s  {:>8.0} steps/s  {:>6.0} us CPU/step",
            wall.as_secs_f64(),
            total as f64 / wall.as_secs_f64(),
            cpu.as_micros() as f64 / total as f64,
        );
    }
}

/// 4. Waiting instances woken at once: N approvals waiting for their event, then the event raised to
///    each at once; the time until every first turn after the event has committed, and until all
///    have completed (a turn, an activity, a turn each). Once with the engine kept (the guests hot),
///    once after closing it and opening a new one on the same file (every first turn replays), in
///    the same run.
async fn restart(sizes: &Sizes) {
    let mut times = Vec::new();
    for restarted in [false, true] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut keel = open(dir.path(), 10_000).await;
        let worker = keel.run_worker();
        let mut ids = Vec::with_capacity(sizes.waiting);
        for i in 0..sizes.waiting {
            let input = format!(r#"{{"requestId":"r-{i}","timeoutMs":3600000}}"#);
            ids.push(keel.start("Approval", &input, None).await.expect("start"));
        }
        for id in &ids {
            // Waiting once its first turn has committed.
            while keel
                .status(id.as_str())
                .await
                .expect("status")
                .is_none_or(|i| i.history_len == 0)
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        worker.shutdown().await;
        if restarted {
            let mut config = Config::new(dir.path().join("bench.db"));
            config.cache_dir = Some(support::cache_dir());
            // The old engine (its hot guests, caches and writer) goes when replaced.
            keel = Keel::open(config).await.expect("open again");
        }
        let worker = keel.run_worker();
        let started = Instant::now();
        // Raised all at once, as many clients would: they commit together.
        let raises = ids.iter().map(|id| {
            let keel = keel.clone();
            let id = id.clone();
            tokio::spawn(async move {
                keel.raise_event(id.as_str(), "Approved", r#"{"by":"bench"}"#)
                    .await
                    .expect("raise")
            })
        });
        for raised in futures::future::join_all(raises).await {
            raised.expect("raise task");
        }
        let raised = started.elapsed();
        // The turn the event wakes sets the custom status before the activity runs.
        for id in &ids {
            while keel
                .status(id.as_str())
                .await
                .expect("status")
                .and_then(|i| i.custom_status)
                .is_none_or(|s| s["state"] != "approved")
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let first_turns = started.elapsed();
        for id in &ids {
            let instance = keel
                .wait(id.as_str(), Duration::from_secs(3600))
                .await
                .expect("wait");
            assert_eq!(instance.status, Status::Completed, "{:?}", instance.failure);
        }
        let wall = started.elapsed();
        worker.shutdown().await;
        let how = if restarted {
            "after a restart"
        } else {
            "hot           "
        };
        println!(
            "restart    {:>6} waiting instances, {how}  events raised {:>5.2} s, first turns done {:>5.2} s, all completed {:>5.2} s",
            sizes.waiting,
            raised.as_secs_f64(),
            first_turns.as_secs_f64(),
            wall.as_secs_f64(),
        );
        times.push(first_turns);
    }
    println!(
        "ratio      {} waiting instances, first turns: after a restart {:.2} s / hot {:.2} s = {:.1}x",
        sizes.waiting,
        times[1].as_secs_f64(),
        times[0].as_secs_f64(),
        times[1].as_secs_f64() / times[0].as_secs_f64()
    );
}

/// 5. Concurrent order-processing instances (4 activities each, one of them retried once; the
///    payment and the confirmation are HTTP calls to the example's service, a Python process).
async fn orders(sizes: &Sizes) {
    let dir = tempfile::tempdir().expect("tempdir");
    let keel = open(dir.path(), 10_000).await;
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
        "orders     {:>6} instances               {:>8.2} s  {:>8.1} instances/s  {:>7.0} activity steps/s  ({} attempts incl. retries: {:.0}/s)",
        sizes.orders,
        elapsed,
        sizes.orders as f64 / elapsed,
        activities as f64 / elapsed,
        attempts,
        attempts as f64 / elapsed
    );
}

/// 7. Chains of local (inline) activity calls beside the same chains of ordinary calls, in the same
///    run, on disk and on tmpfs (`LocalChain` of the test patterns, calling `Bump`).
async fn inline(sizes: &Sizes) {
    let local_only = std::env::args().any(|a| a == "--local-only");
    for (place, dir) in places() {
        let keel = open(dir.path(), 10_000).await;
        keel.deploy(support::guest("keel_test_patterns"), None)
            .await
            .expect("deploy");
        run_one(&keel, "LocalChain", r#"{"steps":100}"#).await;
        run_one(&keel, "LocalChain", r#"{"steps":100,"local":false}"#).await;
        for &steps in &sizes.steps {
            let mut figures = Vec::new();
            // `--local-only` (for a profile of the local path) leaves the ordinary chains out.
            let kinds: &[(&str, bool)] = if local_only {
                &[("local", true)]
            } else {
                &[("local", true), ("ordinary", false)]
            };
            for &(kind, local) in kinds {
                let input = format!(r#"{{"steps":{steps},"local":{local}}}"#);
                let m = measure(&keel, "LocalChain", &input).await;
                m.print_steps(
                    &format!("inline     {steps:>6} steps, {kind:<8} {place:<5}"),
                    steps,
                    3,
                );
                figures.push(m);
            }
            if local_only {
                continue;
            }
            println!(
                "ratio      {steps} steps, {place}: ordinary / local wall {:.1}x, CPU {:.1}x",
                figures[1].wall.as_secs_f64() / figures[0].wall.as_secs_f64(),
                figures[1].cpu.as_secs_f64() / figures[0].cpu.as_secs_f64(),
            );
        }
    }
}
