//! The group-commit writer: one task, one connection, many operations per transaction.
//!
//! A flush costs the same for one row or a thousand, so every write of the process queues here and
//! whatever has queued while the previous transaction was flushing commits together. Each operation
//! runs inside its own savepoint: one that fails is rolled back alone and the rest still commit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::SqliteConnection;
use tokio::sync::{Notify, mpsc, oneshot};

use super::ops::{Applied, Op};
use super::{Error, Result};

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 512;

/// Called once the batch an operation belongs to has committed (or failed to).
pub(super) type Done = Box<dyn FnOnce(Result<()>) + Send>;

/// Turns an operation's result into what the writer does with it: on success its value is sent once
/// the transaction commits; on failure the savepoint is rolled back and the error sent at once.
pub(super) fn respond<T: Send + 'static>(
    result: Result<T>,
    reply: oneshot::Sender<Result<T>>,
) -> Applied {
    match result {
        Ok(value) => Applied::Ok(Box::new(move |committed: Result<()>| {
            let _ = reply.send(committed.map(|()| value));
        })),
        Err(e) => Applied::Err(
            e.clone(),
            Box::new(move |_| {
                let _ = reply.send(Err(e));
            }),
        ),
    }
}

/// Handle to the writer task.
#[derive(Clone, Debug)]
pub(crate) struct Writer {
    tx: mpsc::UnboundedSender<Op>,
    /// Operations queued and not yet taken into a transaction.
    queued: Arc<AtomicUsize>,
}

impl Writer {
    /// Starts the writer task on `conn`; `changed` is notified after each commit that wrote work.
    pub(super) fn spawn(conn: SqliteConnection, changed: Arc<Notify>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        tokio::spawn(run(conn, rx, changed, queued.clone()));
        Self { tx, queued }
    }

    /// Operations waiting for a transaction.
    pub(super) fn backlog(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Queues `op`, built around a reply channel, and waits for its committed result.
    pub(super) async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> Op,
    ) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.queued.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(make(reply)).is_err() {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::Closed);
        }
        rx.await.map_err(|_| Error::Closed)?
    }
}

async fn run(
    mut conn: SqliteConnection,
    mut rx: mpsc::UnboundedReceiver<Op>,
    changed: Arc<Notify>,
    queued: Arc<AtomicUsize>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        queued.fetch_sub(batch.len(), Ordering::Relaxed);
        let wakes = batch.iter().any(Op::wakes_workers);
        commit_batch(&mut conn, std::mem::take(&mut batch)).await;
        if wakes {
            changed.notify_waiters();
        }
    }
}

/// Commits `ops` in one transaction, each in its own savepoint. When SQLite rolls back the whole
/// transaction on its own (SQLITE_FULL, an I/O error, an interrupt, a trigger's `RAISE(ROLLBACK)`),
/// the savepoint of the operation being applied is gone: every operation applied so far is failed
/// (its writes were lost) and the operations not applied yet go on in a new transaction.
async fn commit_batch(conn: &mut SqliteConnection, ops: Vec<Op>) {
    let mut pending = ops.into_iter();
    loop {
        if let Err(e) = exec(conn, "BEGIN IMMEDIATE").await {
            for op in pending {
                op.fail(e.clone());
            }
            return;
        }
        let mut done: Vec<Done> = Vec::with_capacity(pending.len());
        let mut lost = None;
        for op in pending.by_ref() {
            if let Err(e) = exec(conn, "SAVEPOINT op").await {
                op.fail(e);
                continue;
            }
            match op.apply(conn).await {
                Applied::Ok(d) => match exec(conn, "RELEASE op").await {
                    Ok(()) => done.push(d),
                    Err(e) => {
                        d(Err(rolled_back(&e)));
                        lost = Some(e);
                        break;
                    }
                },
                Applied::Err(e, d) => {
                    let undone = exec(conn, "ROLLBACK TO op").await;
                    let _ = exec(conn, "RELEASE op").await;
                    d(Err(e.clone()));
                    if undone.is_err() {
                        lost = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(cause) = lost {
            tracing::error!(error = %cause, "SQLite rolled back a whole batch; its earlier operations fail");
            // Normally there is no transaction left to roll back; if there is, it must not commit.
            let _ = exec(conn, "ROLLBACK").await;
            for d in done {
                d(Err(rolled_back(&cause)));
            }
            continue;
        }
        let committed = exec(conn, "COMMIT").await;
        if committed.is_err() {
            let _ = exec(conn, "ROLLBACK").await;
        }
        for d in done {
            d(committed.clone());
        }
        return;
    }
}

/// The error given to an operation whose writes were lost when SQLite rolled back its batch.
fn rolled_back(cause: &Error) -> Error {
    Error::RolledBack(cause.to_string())
}

async fn exec(conn: &mut SqliteConnection, sql: &str) -> Result<()> {
    sqlx::query(sql).execute(&mut *conn).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use sqlx::Connection as _;
    use tokio::sync::oneshot;

    use super::*;
    use crate::store::Store;
    use crate::store::ops::NewInstance;

    fn create(id: &str) -> (Op, oneshot::Receiver<Result<()>>) {
        let (reply, rx) = oneshot::channel();
        let instance = NewInstance {
            id: id.into(),
            name: "Orchestrator".into(),
            module: "digest".into(),
            input: serde_json::Value::Null,
            parent: None,
        };
        let op = Op::CreateInstance {
            instance,
            now: 1,
            reply,
        };
        (op, rx)
    }

    /// An error that makes SQLite roll back the whole transaction (here a trigger's
    /// `RAISE(ROLLBACK)`, as SQLITE_FULL, an I/O error or an interrupt may) fails every operation
    /// applied before it, and the operations after it commit in a transaction of their own: no
    /// operation is told it committed when it did not, nor failed when it did.
    #[tokio::test]
    async fn a_batch_rolled_back_by_sqlite_fails_what_it_lost_and_commits_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keel.db");
        let store = Store::open(&path).await.unwrap();
        let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        exec(
            &mut conn,
            "CREATE TRIGGER poison BEFORE INSERT ON instances WHEN NEW.id = 'poison' \
             BEGIN SELECT RAISE(ROLLBACK, 'poisoned'); END",
        )
        .await
        .unwrap();
        let (a, a_rx) = create("a");
        let (p, p_rx) = create("poison");
        let (b, b_rx) = create("b");
        let (c, c_rx) = create("c");
        commit_batch(&mut conn, vec![a, p, b, c]).await;

        assert!(
            matches!(a_rx.await.unwrap(), Err(Error::RolledBack(_))),
            "a's write was rolled back"
        );
        assert!(p_rx.await.unwrap().is_err());
        b_rx.await.unwrap().expect("b committed");
        c_rx.await.unwrap().expect("c committed");
        assert!(store.instance("a").await.unwrap().is_none());
        assert!(store.instance("poison").await.unwrap().is_none());
        assert!(store.instance("b").await.unwrap().is_some());
        assert!(store.instance("c").await.unwrap().is_some());
    }
}
