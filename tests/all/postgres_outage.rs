//! A PostgreSQL server that goes away in the middle of a run — stopped the way a crash stops it,
//! every connection cut, then started again — and comes back: the `keel worker` processes on it
//! carry on without a restart, and no order is lost or done twice. It runs on a cluster of its own
//! (the suite's server is shared by the tests running beside it), whichever store the suite is on.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use keel::Keel;
use keel::store::{InstanceFilter, Status};
use serde_json::json;

use crate::crash::assert_order_done;
use crate::multi_worker::{Worker, assert_dense_and_each_task_once};
use crate::support::{Shop, config_on, guest};

/// A throwaway PostgreSQL cluster made by `scripts/postgres.sh`, removed when dropped.
struct Cluster {
    dir: PathBuf,
    url: String,
}

fn postgres_sh(args: &[&str]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("running scripts/postgres.sh");
    assert!(
        out.status.success(),
        "postgres.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Cluster {
    fn start() -> Self {
        // In /tmp: the server's user must be able to enter the directory.
        let dir = PathBuf::from(format!(
            "/tmp/keel-outage-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let out = postgres_sh(&["start", dir.to_str().unwrap()]);
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Self { dir, url }
    }

    /// Stops the server as a crash would, and starts it again at the same address.
    fn restart(&self) {
        postgres_sh(&["restart", self.dir.to_str().unwrap()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres.sh");
        let _ = Command::new("bash")
            .arg(script)
            .args(["stop", self.dir.to_str().unwrap_or_default()])
            .output();
    }
}

/// Starts orders `range` and returns their ids, retrying a start the server could not take (the
/// client's own connections may still be the ones the restart cut).
async fn start_orders(keel: &Keel, range: std::ops::Range<usize>) -> Vec<(usize, String)> {
    let mut ids = Vec::new();
    for i in range {
        let id = format!("order-{i}");
        let input = json!({"orderId": id, "amount": 10 + i, "items": ["book"]}).to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match keel.start("ProcessOrder", &input, Some(&id)).await {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("postgres outage: starting {id}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("starting {id}: {e}"),
            }
        }
        ids.push((i, id));
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn workers_carry_on_when_the_database_server_restarts_under_them() {
    const BEFORE: usize = 40;
    const AFTER: usize = 20;
    let cluster = Cluster::start();
    let config = config_on(PathBuf::from(&cluster.url));
    let keel = Keel::open(config.clone())
        .await
        .expect("opening the engine");
    keel.deploy(guest("order_processing"), None).await.unwrap();
    let shop = Shop::start("tok-outage");
    shop.configure(&keel).await;
    let workers: Vec<Worker> = (0..2).map(|_| Worker::start(&config.db, &[])).collect();

    let mut orders = start_orders(&keel, 0..BEFORE).await;
    // Some orders done, most still in flight: then the server goes away.
    let completed = InstanceFilter {
        status: Some(Status::Completed),
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while keel.list(&completed).await.unwrap().len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done_before = keel.list(&completed).await.unwrap().len();
    assert!(
        done_before < BEFORE,
        "every order finished before the outage"
    );
    cluster.restart();
    // Orders started after the outage are taken by the same worker processes.
    orders.extend(start_orders(&keel, BEFORE..BEFORE + AFTER).await);

    for (i, id) in &orders {
        let deadline = Instant::now() + Duration::from_secs(120);
        let instance = loop {
            match keel.wait(id, Duration::from_secs(120)).await {
                Ok(instance) => break instance,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("postgres outage: waiting for {id}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("instance {id}: {e}"),
            }
        };
        let history = keel.history(id).await.unwrap();
        assert_order_done(id, *i, &instance, &history);
        assert_dense_and_each_task_once(id, &history);
    }
    // Both workers lived through it, and exit cleanly.
    let ran: Vec<_> = workers.into_iter().map(Worker::stop).collect();
    eprintln!(
        "postgres outage: {done_before} of {BEFORE} orders done at the restart, all {} done after; \
         the workers ran {ran:?}",
        BEFORE + AFTER
    );
    let paid = shop
        .received()
        .iter()
        .filter(|e| e["service"] == "payments")
        .count();
    assert!(paid >= BEFORE + AFTER, "{paid} payments");
}
