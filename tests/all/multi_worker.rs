//! Several `keel worker` processes on one SQLite database at the same time: every instance completes
//! once with its own output, no history event is lost or written twice, activities run at least once,
//! and each worker runs a share of the turns and of the attempts — a backlog is not taken by whichever
//! worker saw it first while the others sit idle.
//!
//! Each worker says what it ran when it stops (`keel worker stopped: it ran N turns and M activity
//! attempts`), which is how the shares are counted.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel::HistoryEvent;
use keel::store::HistoryRecord;
use serde_json::json;

use crate::crash::assert_order_done;
use crate::support::{Shop, assert_completed, engine};

/// A `keel worker` process whose stderr is kept; killed when dropped.
pub(crate) struct Worker {
    child: Child,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// What a worker said it ran when it stopped.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ran {
    pub(crate) turns: u64,
    pub(crate) attempts: u64,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    /// Starts `keel worker` on `db` with extra `flags`, logging warnings, and returns once its loops
    /// run.
    pub(crate) fn start(db: &Path, flags: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
            .arg("worker")
            .args(flags)
            .arg("--db")
            .arg(db)
            .envs(crate::support::process_env(db))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting keel worker");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = std::io::BufReader::new(stderr).lines();
        let log = Arc::new(Mutex::new(String::new()));
        loop {
            let line = lines
                .next()
                .expect("keel worker exited before running")
                .expect("reading stderr");
            let running = line.starts_with("keel worker running on ");
            log.lock().unwrap().push_str(&(line + "\n"));
            if running {
                break;
            }
        }
        // Keep draining stderr so the worker never blocks on a full pipe.
        let kept = log.clone();
        let reader = std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        Self {
            child,
            log,
            reader: Some(reader),
        }
    }

    /// The worker's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the worker with SIGKILL.
    pub(crate) fn kill(mut self) {
        self.child.kill().expect("SIGKILL the worker");
        self.child.wait().expect("reaping the worker");
    }

    /// Stops the worker with SIGTERM and returns what it says it ran.
    pub(crate) fn stop(mut self) -> Ran {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("running kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let status = self.child.wait().expect("waiting for the worker");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the stderr reader");
        }
        let log = self.log.lock().unwrap().clone();
        assert!(status.success(), "the worker ended with {status}:\n{log}");
        let line = log
            .lines()
            .find_map(|l| l.strip_prefix("keel worker stopped: it ran "))
            .unwrap_or_else(|| panic!("no summary line in the worker's log:\n{log}"));
        let numbers: Vec<u64> = line
            .split(' ')
            .filter_map(|word| word.parse().ok())
            .collect();
        let &[turns, attempts] = numbers.as_slice() else {
            panic!("unexpected summary line {line:?}");
        };
        Ran { turns, attempts }
    }
}

/// Checks that a history is dense (sequence numbers 0..n in each execution) and that each scheduled
/// task ended exactly once, and returns how many attempts it records (results, retries, failures).
pub(crate) fn assert_dense_and_each_task_once(id: &str, history: &[HistoryRecord]) -> usize {
    let seqs: Vec<u32> = history.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (0..history.len() as u32).collect::<Vec<_>>(),
        "instance {id}: history not dense"
    );
    let mut scheduled = Vec::new();
    let mut ended = Vec::new();
    let mut attempts = 0;
    for r in history {
        match &r.event {
            HistoryEvent::TaskScheduled { id, .. } => scheduled.push(*id),
            HistoryEvent::TaskCompleted { id, .. } | HistoryEvent::TaskFailed { id, .. } => {
                ended.push(*id);
                attempts += 1;
            }
            HistoryEvent::TaskRetrying { .. } => attempts += 1,
            _ => {}
        }
    }
    ended.sort_unstable();
    assert_eq!(ended, scheduled, "instance {id}: each task ends once");
    assert_eq!(
        history.iter().filter(|r| r.event.is_terminal()).count(),
        1,
        "instance {id}: one end"
    );
    attempts
}

#[tokio::test(flavor = "multi_thread")]
async fn three_workers_on_one_database_share_the_work_and_do_it_once() {
    const ORDERS: usize = 150;
    const FANS: usize = 2;
    const FAN_OUT: u64 = 300;
    const SLEEP_MS: u64 = 20;
    let t = engine(&["order_processing", "keel_test_patterns"]).await;
    let shop = Shop::start("tok-multi");
    shop.configure(&t.keel).await;
    let workers: Vec<Worker> = (0..3).map(|_| Worker::start(&t.db(), &[])).collect();

    let started = Instant::now();
    // The fan-outs first: each schedules its 300 attempts in one turn, a backlog the worker that ran
    // the turn must not keep to itself.
    let mut fans = Vec::new();
    for _ in 0..FANS {
        let input = json!({"count": FAN_OUT, "sleep_ms": SLEEP_MS}).to_string();
        fans.push(t.keel.start("Fan", &input, None).await.unwrap());
    }
    let mut orders = Vec::new();
    for i in 0..ORDERS {
        let input = json!({"orderId": format!("order-{i}"), "amount": 10 + i, "items": ["book"]});
        orders.push(
            t.keel
                .start("ProcessOrder", &input.to_string(), None)
                .await
                .unwrap(),
        );
    }
    let mut recorded_attempts = 0;
    for (i, id) in orders.iter().enumerate() {
        let instance = t
            .keel
            .wait(id.as_str(), Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("instance {id}: {e}"));
        let history = t.keel.history(id.as_str()).await.unwrap();
        assert_order_done(id.as_str(), i, &instance, &history);
        recorded_attempts += assert_dense_and_each_task_once(id.as_str(), &history);
    }
    for id in &fans {
        let instance = t
            .keel
            .wait(id.as_str(), Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("instance {id}: {e}"));
        assert_completed(&instance);
        assert_eq!(instance.output, Some(json!(FAN_OUT * SLEEP_MS)), "{id}");
        let history = t.keel.history(id.as_str()).await.unwrap();
        recorded_attempts += assert_dense_and_each_task_once(id.as_str(), &history);
    }
    let elapsed = started.elapsed();
    let ran: Vec<Ran> = workers.into_iter().map(Worker::stop).collect();

    // Executions as the shop saw them: each order pays once and mails once unless repeated.
    let received = shop.received();
    for (service, key) in [("payments", "orderId"), ("mail", "to")] {
        let mut orders_seen: Vec<String> = received
            .iter()
            .filter(|e| e["service"] == service)
            .map(|e| e["body"][key].to_string())
            .collect();
        let calls = orders_seen.len();
        orders_seen.sort_unstable();
        orders_seen.dedup();
        assert_eq!(orders_seen.len(), ORDERS, "every order reached {service}");
        eprintln!("multi-worker: {service}: {calls} calls for {ORDERS} orders");
    }
    let attempts: u64 = ran.iter().map(|r| r.attempts).sum();
    let turns: u64 = ran.iter().map(|r| r.turns).sum();
    eprintln!(
        "multi-worker: {ORDERS} orders and {FANS} fan-outs of {FAN_OUT} in {:.1} s on 3 workers; \
         turns {:?} (total {turns}); attempts {:?} (total {attempts}, {recorded_attempts} recorded \
         in histories, {} repeated)",
        elapsed.as_secs_f64(),
        ran.iter().map(|r| r.turns).collect::<Vec<_>>(),
        ran.iter().map(|r| r.attempts).collect::<Vec<_>>(),
        attempts.saturating_sub(recorded_attempts as u64),
    );
    assert!(
        attempts >= recorded_attempts as u64,
        "the workers ran fewer attempts than the histories record"
    );
    for (n, r) in ran.iter().enumerate() {
        assert!(
            r.turns > 0 && r.attempts > 0,
            "worker {n} ran {} turns and {} attempts: the work did not spread ({ran:?})",
            r.turns,
            r.attempts
        );
    }
}
