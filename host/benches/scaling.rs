//! Scaling benchmark: the same workloads run by 1, 2 and 4 `keel worker` processes, on PostgreSQL
//! and on one SQLite file, side by side in one run: a chain of 1,000 steps, a fan-out of 1,000, and
//! 200 ten-step chains started at once. Each figure is server-side time, from the first instance's
//! creation to the last one's completion as the store recorded them. Prints its figures and each
//! one's ratio to one worker on the same store; asserts nothing about speed.
//!
//! Run with `cargo bench -p keel --bench scaling` (add `-- --quick` for a tenth of the sizes, and
//! `sqlite` or `postgres` for one store only; `KEEL_BENCH_BIN` runs another build's `keel` as the
//! workers, to compare two builds on the same machine minutes apart). It
//! starts a throwaway PostgreSQL cluster with `scripts/postgres.sh`, or uses the server
//! `KEEL_BENCH_POSTGRES` names (a URL; a fresh database is made on it for each run).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel::store::Status;
use keel::{Config, Keel};
use sqlx::Connection as _;

#[path = "../../tests/all/support.rs"]
#[allow(dead_code, reason = "the benchmark uses only part of the test support")]
mod support;

/// The secret key every process of a PostgreSQL run shares (nothing here uses secrets, but a URL
/// has no directory to keep a key file beside).
const KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn postgres_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh")
}

/// The PostgreSQL server: the one `KEEL_BENCH_POSTGRES` names, or a throwaway cluster removed when
/// this is dropped.
struct Server {
    url: String,
    cluster: Option<PathBuf>,
}

impl Server {
    fn start() -> Self {
        if let Ok(url) = std::env::var("KEEL_BENCH_POSTGRES") {
            return Self { url, cluster: None };
        }
        let dir = PathBuf::from(format!("/tmp/keel-bench-pg-{}", std::process::id()));
        let out = Command::new("bash")
            .arg(postgres_sh())
            .arg("start")
            .arg(&dir)
            .output()
            .expect("running scripts/postgres.sh");
        assert!(
            out.status.success(),
            "starting PostgreSQL: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Self {
            url,
            cluster: Some(dir),
        }
    }

    /// A fresh database on the server, and its URL.
    async fn database(&self) -> String {
        let name = format!("bench_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("connecting to PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        let base = self.url.rsplit_once('/').map_or(&*self.url, |(b, _)| b);
        format!("{base}/{name}")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dir) = &self.cluster {
            let _ = Command::new("bash")
                .arg(postgres_sh())
                .arg("stop")
                .arg(dir)
                .output();
        }
    }
}

/// `keel worker` processes on one database, stopped with SIGKILL when dropped.
struct Workers(Vec<Child>);

impl Workers {
    fn start(db: &Path, n: usize) -> Self {
        let children = (0..n)
            .map(|_| {
                let bin = std::env::var_os("KEEL_BENCH_BIN")
                    .unwrap_or_else(|| env!("CARGO_BIN_EXE_keel").into());
                let mut child = Command::new(bin)
                    .arg("--db")
                    .arg(db)
                    .arg("worker")
                    .env("KEEL_SECRET_KEY", KEY)
                    .env("RUST_LOG", "warn")
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("starting keel worker");
                let stderr = child.stderr.take().expect("stderr");
                let mut lines = std::io::BufReader::new(stderr).lines();
                loop {
                    let line = lines
                        .next()
                        .expect("keel worker exited before running")
                        .expect("reading stderr");
                    if line.starts_with("keel worker running on ") {
                        break;
                    }
                }
                // Keep draining stderr so the worker never blocks on a full pipe.
                std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
                child
            })
            .collect();
        Self(children)
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One workload: an orchestrator, its input, and how many instances start at once.
struct Workload {
    label: String,
    name: &'static str,
    input: String,
    instances: usize,
    /// Activity steps each instance runs.
    steps: u64,
}

/// Runs `w` on `keel` (a client: the worker processes do the work) and returns the server-side
/// time from the first creation to the last completion.
async fn run(keel: &Keel, w: &Workload) -> Duration {
    let mut ids = Vec::with_capacity(w.instances);
    for _ in 0..w.instances {
        ids.push(keel.start(w.name, &w.input, None).await.expect("start"));
    }
    let (mut first, mut last) = (u64::MAX, 0);
    for id in &ids {
        let instance = keel
            .wait(id.as_str(), Duration::from_secs(600))
            .await
            .expect("wait");
        assert_eq!(instance.status, Status::Completed, "{:?}", instance.failure);
        first = first.min(instance.created_at);
        last = last.max(instance.updated_at);
    }
    Duration::from_millis(last.saturating_sub(first))
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let stores: Vec<&str> = ["sqlite", "postgres"]
        .into_iter()
        .filter(|s| {
            let named: Vec<String> = std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with("--"))
                .collect();
            named.is_empty() || named.iter().any(|n| n == s)
        })
        .collect();
    let scale = if quick { 10 } else { 1 };
    let workloads = [
        Workload {
            label: format!("chain of {}", 1000 / scale),
            name: "Sequence",
            input: format!(r#"{{"steps":{}}}"#, 1000 / scale),
            instances: 1,
            steps: 1000 / scale,
        },
        Workload {
            label: format!("fan-out of {}", 1000 / scale),
            name: "FanOut",
            input: format!(r#"{{"count":{}}}"#, 1000 / scale),
            instances: 1,
            steps: 1000 / scale,
        },
        Workload {
            label: format!("{} chains of 10", 200 / scale),
            name: "Sequence",
            input: r#"{"steps":10}"#.to_owned(),
            instances: 200 / scale as usize,
            steps: 10,
        },
    ];
    support::guests();
    let server = Server::start();
    println!(
        "keel scaling benchmark: N `keel worker` processes on one database (release build, {} cores)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "{:<10} {:>7}  {:<18} {:>9} {:>12} {:>11}",
        "store", "workers", "workload", "seconds", "steps/s", "vs 1 worker"
    );
    for store in stores {
        let mut base: Vec<f64> = Vec::new();
        for workers in [1, 2, 4] {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = match store {
                "sqlite" => dir.path().join("bench.db"),
                _ => PathBuf::from(server.database().await),
            };
            let mut config = Config::new(db.clone());
            config.cache_dir = Some(support::cache_dir());
            config.secret_key.inline = Some(KEY.to_owned());
            let keel = Keel::open(config).await.expect("open");
            keel.deploy(support::guest("fan_out"), None)
                .await
                .expect("deploy");
            let running = Workers::start(&db, workers);
            // A warm-up, so that every worker has compiled the module before the clock runs.
            let warm = Instant::now();
            for _ in 0..workers * 2 {
                keel.start("FanOut", r#"{"count":20}"#, None)
                    .await
                    .expect("start");
            }
            while keel
                .list(&keel::store::InstanceFilter {
                    status: Some(Status::Completed),
                    ..Default::default()
                })
                .await
                .expect("list")
                .len()
                < workers * 2
            {
                assert!(warm.elapsed() < Duration::from_secs(120), "warm-up stuck");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            for (i, w) in workloads.iter().enumerate() {
                let took = run(&keel, w).await.as_secs_f64().max(0.001);
                let steps = w.steps as f64 * w.instances as f64;
                if workers == 1 {
                    base.push(took);
                }
                println!(
                    "{store:<10} {workers:>7}  {:<18} {took:>9.2} {:>12.0} {:>10.2}x",
                    w.label,
                    steps / took,
                    base[i] / took,
                );
            }
            drop(running);
        }
    }
}
