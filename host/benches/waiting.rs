//! Memory of waiting instances: N approval instances (the human-approval example, waiting for an
//! external event with a durable timer armed) started on one worker, in Rust and in Python; prints
//! the process's resident memory before and after, per waiting instance, and what the hot cache
//! holds (its byte bound evicts the least recently used guests). Asserts nothing about size.
//!
//! Run with `cargo bench -p keel --bench waiting` (1,000 and 10,000 instances per language) or
//! `-- --quick` (1,000 Rust, 200 Python). `-- --python-max N` caps the Python sizes (a Python
//! instance's first turn instantiates a whole interpreter: 10,000 of them take minutes).

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use keel::cli::build::{Build, Lang};
use keel::{Config, Keel};

#[path = "../../tests/all/support.rs"]
#[allow(dead_code, reason = "the benchmark uses only part of the test support")]
mod support;

/// The process's resident set, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / f64::from(1 << 20)
}

/// The approval example built for `lang`.
fn approval(lang: Lang, dir: &Path) -> Vec<u8> {
    if lang == Lang::Rust {
        return support::guest("approval");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_path_buf();
    let out = dir.join(format!("approval-{lang}.wasm"));
    let build = Build {
        lang,
        dir: root.join("guest-examples/approval").join(lang.as_str()),
        out: out.clone(),
        sdk_root: root,
    };
    keel::cli::build::build(&build).expect("building the approval example");
    std::fs::read(&out).expect("reading the built component")
}

async fn measure(lang: Lang, module: &[u8], n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(dir.path().join("bench.db"));
    config.cache_dir = Some(support::cache_dir());
    let hot_bound = config.hot_bytes;
    let keel = Keel::open(config).await.expect("open");
    keel.deploy(module.to_vec(), None).await.expect("deploy");
    let worker = keel.run_worker();
    // One instance first, so that the baseline includes the compiled module and one guest's pages.
    let input = |id: &str| format!(r#"{{"requestId":"{id}","timeoutMs":86400000}}"#);
    keel.start("Approval", &input("warm"), Some("warm"))
        .await
        .expect("start");
    while keel.metrics().turns.load(Ordering::Relaxed) < 1 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = rss();
    let started = Instant::now();
    for i in 0..n {
        let id = format!("wait-{i}");
        keel.start("Approval", &input(&id), Some(&id))
            .await
            .expect("start");
    }
    let target = 1 + n as u64;
    while keel.metrics().turns.load(Ordering::Relaxed) < target {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed();
    // Let freed pages settle before reading.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss();
    let per = after.saturating_sub(before) as f64 / n as f64;
    println!(
        "{lang:<6} {n:>6} waiting: RSS {:>7.1} MiB -> {:>7.1} MiB, {:>8.1} KiB per instance; \
         hot {} guests holding {:.1} MiB (bound {:.0} MiB); started and waiting in {:.1} s",
        mib(before),
        mib(after),
        per / 1024.0,
        worker.hot_instances(),
        mib(worker.hot_bytes() as u64),
        mib(hot_bound as u64),
        elapsed.as_secs_f64()
    );
    worker.shutdown().await;
    drop(keel);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let python_max = args
        .iter()
        .position(|a| a == "--python-max")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    let sizes: &[usize] = if quick { &[1_000] } else { &[1_000, 10_000] };
    let build_dir = tempfile::tempdir().expect("tempdir");
    println!("keel waiting-instance memory (SQLite, release build, default hot cache)");
    for lang in [Lang::Rust, Lang::Python] {
        let module = approval(lang, build_dir.path());
        for &n in sizes {
            let n = if lang == Lang::Python {
                let cap = if quick { 200 } else { python_max };
                n.min(cap)
            } else {
                n
            };
            measure(lang, &module, n).await;
        }
    }
}
