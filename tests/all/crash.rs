//! Crash recovery with real processes: a `keel worker` is killed with SIGKILL in the middle of many
//! order-processing runs and restarted; every instance completes with the right output and every step
//! is recorded once.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use keel::HistoryEvent;
use keel::store::{InstanceFilter, Status};
use serde_json::json;

use crate::support::{assert_completed, engine};

const INSTANCES: usize = 40;

/// Starts `n` order instances (`order-0`…, amounts 10…) and returns their ids, in order.
pub(crate) async fn start_orders(keel: &keel::Keel, n: usize) -> Vec<keel::InstanceId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let input = json!({"orderId": format!("order-{i}"), "amount": 10 + i, "items": ["book"]});
        ids.push(
            keel.start("ProcessOrder", &input.to_string(), None)
                .await
                .unwrap(),
        );
    }
    ids
}

fn worker(db: &std::path::Path) -> Child {
    worker_with(db, &[])
}

/// A `keel worker` process on `db` with extra `flags`, logging warnings only.
pub(crate) fn worker_with(db: &std::path::Path, flags: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("worker")
        .args(flags)
        .arg("--db")
        .arg(db)
        .envs(crate::support::process_env(db))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting keel worker")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_worker_loses_nothing_and_repeats_nothing() {
    let t = engine(&["order_processing"]).await;
    let shop = crate::support::Shop::start("tok-crash");
    shop.configure(&t.keel).await;
    let ids = start_orders(&t.keel, INSTANCES).await;

    // Kill the worker once shipping has failed its first attempt somewhere: runs are mid-flight.
    let mut first = worker(&t.db());
    let mut seen_retry = false;
    for _ in 0..3000 {
        let mut retrying = false;
        for id in &ids {
            let history = t.keel.history(id.as_str()).await.unwrap();
            if history.iter().any(|r| r.event.kind() == "TaskRetrying") {
                retrying = true;
                break;
            }
        }
        if retrying {
            seen_retry = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(seen_retry, "the worker made no progress");
    first.kill().expect("SIGKILL the worker");
    first.wait().expect("reaping the worker");
    let done_at_kill = t
        .keel
        .list(&InstanceFilter {
            status: Some(Status::Completed),
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert!(
        done_at_kill < INSTANCES,
        "every instance had finished before the kill"
    );

    let mut second = worker(&t.db());
    let mut outcome = Vec::new();
    for id in &ids {
        outcome.push(t.keel.wait(id.as_str(), Duration::from_secs(120)).await);
    }
    second.kill().ok();
    second.wait().ok();

    for (i, (id, instance)) in ids.iter().zip(outcome).enumerate() {
        let instance = instance.unwrap_or_else(|e| panic!("instance {id}: {e}"));
        let history = t.keel.history(id.as_str()).await.unwrap();
        assert_order_done(id.as_str(), i, &instance, &history);
    }
}

/// Checks one order instance after a crash: completed with its own order's output, the four tasks
/// scheduled in order and each completed once, one terminal event, and dense sequence numbers.
pub(crate) fn assert_order_done(
    id: &str,
    i: usize,
    instance: &keel::store::Instance,
    history: &[keel::store::HistoryRecord],
) {
    assert_completed(instance);
    let order = format!("order-{i}");
    assert_eq!(instance.output.as_ref().unwrap()["orderId"], json!(order));
    assert_eq!(
        instance.output.as_ref().unwrap()["trackingNumber"],
        json!(format!("TRK-{order}"))
    );
    let mut scheduled = Vec::new();
    let mut completed = Vec::new();
    for r in history {
        match &r.event {
            HistoryEvent::TaskScheduled { id, name, .. } => scheduled.push((*id, name.clone())),
            HistoryEvent::TaskCompleted { id, .. } => completed.push(*id),
            _ => {}
        }
    }
    let names: Vec<&str> = scheduled.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "VerifyPayment",
            "CheckInventory",
            "ShipOrder",
            "SendConfirmationEmail"
        ],
        "instance {id}"
    );
    assert_eq!(
        completed,
        [0, 1, 2, 3],
        "instance {id}: each task completed once"
    );
    let ends = history.iter().filter(|r| r.event.is_terminal()).count();
    assert_eq!(ends, 1, "instance {id}");
    // Sequence numbers are dense: no event was lost or written twice.
    let seqs: Vec<u32> = history.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (0..history.len() as u32).collect::<Vec<_>>(),
        "instance {id}"
    );
}
