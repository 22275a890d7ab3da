//! Start-up benchmark: how long a restarted engine takes to run its first order-processing instance
//! with and without the on-disk cache of compiled modules, per guest language. Both sides run in this
//! process, on the same module; it prints the figures and their ratio and asserts nothing about speed.
//!
//! Run with `cargo bench -p keel --bench startup`. Rust guests are built here; the Python, JavaScript
//! and C builds are taken from `$CARGO_TARGET_DIR/{python,javascript,c}-guests/` when the test suite
//! has built them, and skipped otherwise.

use std::path::Path;
use std::time::{Duration, Instant};

use keel::store::Status;
use keel::{Config, Keel};

#[path = "../../tests/all/support.rs"]
#[allow(dead_code, reason = "the benchmark uses only part of the test support")]
mod support;

const ORDER: &str = r#"{"orderId":"order-1","amount":25.0,"items":["book"]}"#;

/// Opens an engine on `db` with `cache`, runs one order to its end, and returns the time from opening
/// the engine to the order's completion.
async fn first_order(db: &Path, cache: &Path) -> Duration {
    let started = Instant::now();
    let mut config = Config::new(db);
    config.cache_dir = Some(cache.to_path_buf());
    let keel = Keel::open(config).await.expect("open");
    let worker = keel.run_worker();
    let id = keel
        .start("ProcessOrder", ORDER, None)
        .await
        .expect("start");
    let instance = keel
        .wait(id.as_str(), Duration::from_secs(600))
        .await
        .expect("wait");
    let elapsed = started.elapsed();
    worker.shutdown().await;
    assert_eq!(instance.status, Status::Completed, "{:?}", instance.failure);
    elapsed
}

async fn measure(language: &str, module: &[u8]) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("startup.db");
    let deploy_cache = dir.path().join("deploy-cache");
    // The payment and mail service the order's activities call.
    let shop = support::Shop::start("bench-token");
    {
        let mut config = Config::new(&db);
        config.cache_dir = Some(deploy_cache);
        let keel = Keel::open(config).await.expect("open");
        keel.deploy(module.to_vec(), None).await.expect("deploy");
        shop.configure(&keel).await;
    }
    // Without a cache: an empty directory, so the module is compiled again (and cached there).
    let cache = dir.path().join("cache");
    let cold = first_order(&db, &cache).await;
    // With the cache the previous start left: the compiled module is only deserialised.
    let warm = first_order(&db, &cache).await;
    println!(
        "{language:<11} {:>9.1} MB  restart without cache {:>8.3} s   with cache {:>7.3} s   ({:.0}x)",
        module.len() as f64 / 1e6,
        cold.as_secs_f64(),
        warm.as_secs_f64(),
        cold.as_secs_f64() / warm.as_secs_f64().max(1e-9)
    );
}

#[tokio::main]
async fn main() {
    println!("keel start-up benchmark: open the store, load the module, run one order to its end");
    measure("rust", &support::guest("order_processing")).await;
    let target = support::target_dir();
    for language in ["c", "python", "javascript"] {
        let path = target
            .join(format!("{language}-guests"))
            .join("order_processing.wasm");
        match std::fs::read(&path) {
            Ok(bytes) => measure(language, &bytes).await,
            Err(_) => println!(
                "{language:<11} skipped: {} not built (run the test suite first)",
                path.display()
            ),
        }
    }
}
