//! Chaos: many order-processing instances run while a `keel worker` process is killed with SIGKILL at
//! random moments (between and inside commits) and restarted, again and again. Afterwards every instance
//! is completed with its own order, every history is dense with each task scheduled and completed once,
//! and the activity executions the kills repeated are counted (at-least-once, never lost).
//!
//! The second test runs three workers on one database and kills one of them, chosen at random, every
//! one to three seconds (two on average), restarting it at once; the same is checked afterwards.
//!
//! CI runs a small size. The full sizes are one command each:
//! `KEEL_CHAOS_INSTANCES=1000 KEEL_CHAOS_KILLS=50 cargo test --release -p keel --test all chaos::instances_survive_a_worker -- --nocapture`
//! and
//! `KEEL_CHAOS_INSTANCES=1000 cargo test --release -p keel --test all chaos::instances_survive_workers -- --nocapture`;
//! `KEEL_CHAOS_SEED` replays a run's kill schedule.

use std::collections::HashMap;
use std::process::Child;
use std::time::{Duration, Instant};

use keel::store::{InstanceFilter, Status};

use crate::crash::{assert_order_done, start_orders};
use crate::multi_worker::Worker;
use crate::support::{Shop, engine};

/// A number from the environment, or `default`.
fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `KEEL_CHAOS_SEED`, or one from the clock (never 0, which xorshift cannot leave).
fn seed() -> u64 {
    setting(
        "KEEL_CHAOS_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    )
    .max(1)
}

/// A small, seedable generator (xorshift64*), so that a failing schedule can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// A worker with a short lease, so that the work a killed worker held is taken over quickly.
///
/// The kills here come from outside, dozens of them, some before a worker has finished anything: an
/// attempt can be in flight at five kills in a row, which the default `max-deliveries` (5) takes for
/// an attempt that crashes its workers and fails with `HostError`. Here that bound is lifted, so
/// that what is checked is that nothing is lost or doubled.
fn worker(db: &std::path::Path) -> Child {
    crate::crash::worker_with(db, &["--lease-ms", "1500", "--max-deliveries", "1000"])
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_survive_a_worker_killed_again_and_again() {
    let instances = setting("KEEL_CHAOS_INSTANCES", 300) as usize;
    let min_kills = setting("KEEL_CHAOS_KILLS", 15) as usize;
    let seed = seed();
    eprintln!("chaos: {instances} instances, at least {min_kills} kills, KEEL_CHAOS_SEED={seed}");
    let mut rng = Rng(seed);

    let t = engine(&["order_processing"]).await;
    let shop = Shop::start("tok-chaos");
    shop.configure(&t.keel).await;
    let ids = start_orders(&t.keel, instances).await;

    let completed = || async {
        t.keel
            .list(&InstanceFilter {
                status: Some(Status::Completed),
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
    };
    // Spread the kills over the run: each worker dies at a random moment 50 to 500 ms after it
    // starts, or earlier once it has completed its share of the remaining instances (so that the
    // kills outlast the run), but never before it has completed at least one.
    let started = Instant::now();
    let mut kills = 0;
    let mut completed_at_kills = Vec::new();
    while kills < min_kills {
        let before = completed().await;
        assert!(
            before < instances,
            "every instance completed after {kills} of {min_kills} kills; raise KEEL_CHAOS_INSTANCES"
        );
        let share = ((instances - before) / (2 * (min_kills - kills))).max(1);
        let mut w = worker(&t.db());
        let born = Instant::now();
        let life = Duration::from_millis(50 + rng.below(450));
        // A worker that has done nothing yet (still opening, or waiting for the last one's leases)
        // gets up to ten seconds.
        loop {
            tokio::time::sleep(Duration::from_millis(5 + rng.below(20))).await;
            let done = completed().await - before;
            let age = born.elapsed();
            if done >= share || (done > 0 && age >= life) || age >= Duration::from_secs(10) {
                break;
            }
        }
        w.kill().expect("SIGKILL the worker");
        w.wait().expect("reaping the worker");
        kills += 1;
        completed_at_kills.push(completed().await);
    }
    eprintln!("chaos: completed after each kill: {completed_at_kills:?}");

    let mut last = worker(&t.db());
    let mut outcome = Vec::new();
    for id in &ids {
        outcome.push(t.keel.wait(id.as_str(), Duration::from_secs(300)).await);
    }
    last.kill().ok();
    last.wait().ok();
    let elapsed = started.elapsed();

    for (i, (id, instance)) in ids.iter().zip(outcome).enumerate() {
        let instance = instance.unwrap_or_else(|e| panic!("instance {id}: {e}"));
        let history = t.keel.history(id.as_str()).await.unwrap();
        assert_order_done(id.as_str(), i, &instance, &history);
    }

    let repeated = shop_repeats(&shop, instances);
    eprintln!(
        "chaos: {instances} instances completed in {:.1} s through {kills} kills; \
         {repeated} of {} HTTP activity executions were repeats caused by the kills",
        elapsed.as_secs_f64(),
        2 * instances + repeated
    );
}

/// Executions the kills repeated, as the shop saw them: each order pays once and mails once when
/// nothing is repeated. Asserts that none is missing.
fn shop_repeats(shop: &Shop, instances: usize) -> usize {
    let mut calls: HashMap<(String, String), usize> = HashMap::new();
    for entry in shop.received() {
        let service = entry["service"].as_str().unwrap_or("other").to_owned();
        let order = match service.as_str() {
            "payments" => entry["body"]["orderId"].as_str().unwrap_or("").to_owned(),
            _ => entry["body"]["to"].as_str().unwrap_or("").to_owned(),
        };
        // A worker killed while it sent a request leaves a body cut short, which names no order.
        if order.is_empty() {
            continue;
        }
        *calls.entry((service, order)).or_default() += 1;
    }
    let payments = calls.keys().filter(|(s, _)| s == "payments").count();
    let mails = calls.keys().filter(|(s, _)| s == "mail").count();
    assert_eq!(payments, instances, "every order was paid");
    assert_eq!(mails, instances, "every order was mailed");
    calls.values().map(|n| n - 1).sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_survive_workers_killed_at_random_among_three() {
    let instances = setting("KEEL_CHAOS_INSTANCES", 500) as usize;
    let seed = seed();
    eprintln!("chaos, three workers: {instances} instances, KEEL_CHAOS_SEED={seed}");
    let mut rng = Rng(seed);

    let t = engine(&["order_processing"]).await;
    let shop = Shop::start("tok-chaos-3");
    shop.configure(&t.keel).await;
    let ids = start_orders(&t.keel, instances).await;

    // The instances wait for the workers, so that the kills start with the run.
    let flags = ["--lease-ms", "1500", "--max-deliveries", "1000"];
    let mut workers: Vec<Worker> = (0..3).map(|_| Worker::start(&t.db(), &flags)).collect();
    let started = Instant::now();
    let filter = InstanceFilter {
        status: Some(Status::Completed),
        ..Default::default()
    };
    let mut kills = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        // The next kill one to three seconds from now, unless everything completes before.
        let at = Instant::now() + Duration::from_millis(1_000 + rng.below(2_000));
        let mut done = t.keel.list(&filter).await.unwrap().len();
        while done < instances && Instant::now() < at {
            tokio::time::sleep(Duration::from_millis(20)).await;
            done = t.keel.list(&filter).await.unwrap().len();
        }
        if done == instances || Instant::now() > deadline {
            break;
        }
        let victim = rng.below(3) as usize;
        workers.remove(victim).kill();
        workers.insert(victim, Worker::start(&t.db(), &flags));
        kills.push((victim, done));
    }
    let mut outcome = Vec::new();
    for id in &ids {
        outcome.push(t.keel.wait(id.as_str(), Duration::from_secs(60)).await);
    }
    let elapsed = started.elapsed();
    drop(workers);
    eprintln!("chaos, three workers: (worker killed, instances completed then): {kills:?}");

    for (i, (id, instance)) in ids.iter().zip(outcome).enumerate() {
        let instance = instance.unwrap_or_else(|e| panic!("instance {id}: {e}"));
        let history = t.keel.history(id.as_str()).await.unwrap();
        assert_order_done(id.as_str(), i, &instance, &history);
    }
    let repeated = shop_repeats(&shop, instances);
    eprintln!(
        "chaos, three workers: {instances} instances completed in {:.1} s through {} kills; \
         {repeated} of {} HTTP activity executions were repeats caused by the kills",
        elapsed.as_secs_f64(),
        kills.len(),
        2 * instances + repeated
    );
    assert!(
        !kills.is_empty(),
        "every instance completed before the first kill; raise KEEL_CHAOS_INSTANCES"
    );
}
