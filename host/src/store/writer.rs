//! The group-commit writer: one task, one connection, many operations per transaction.
//!
//! A flush costs the same for one row or a thousand, so every write of the process queues here and
//! whatever has queued while the previous transaction was flushing commits together. Each operation
//! runs inside its own savepoint: one that fails is rolled back alone and the rest still commit.

use std::sync::Arc;

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
}

impl Writer {
    /// Starts the writer task on `conn`; `changed` is notified after each commit that wrote work.
    pub(super) fn spawn(conn: SqliteConnection, changed: Arc<Notify>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(conn, rx, changed));
        Self { tx }
    }

    /// Queues `op`, built around a reply channel, and waits for its committed result.
    pub(super) async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> Op,
    ) -> Result<T> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }
}

async fn run(
    mut conn: SqliteConnection,
    mut rx: mpsc::UnboundedReceiver<Op>,
    changed: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let wakes = batch.iter().any(Op::wakes_workers);
        commit_batch(&mut conn, std::mem::take(&mut batch)).await;
        if wakes {
            changed.notify_waiters();
        }
    }
}

async fn commit_batch(conn: &mut SqliteConnection, ops: Vec<Op>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE").await {
        for op in ops {
            op.fail(e.clone());
        }
        return;
    }
    let mut done: Vec<Done> = Vec::with_capacity(ops.len());
    for op in ops {
        if let Err(e) = exec(conn, "SAVEPOINT op").await {
            op.fail(e);
            continue;
        }
        match op.apply(conn).await {
            Applied::Ok(d) => {
                if let Err(e) = exec(conn, "RELEASE op").await {
                    tracing::error!(error = %e, "could not release a savepoint");
                }
                done.push(d);
            }
            Applied::Err(e, d) => {
                let _ = exec(conn, "ROLLBACK TO op").await;
                let _ = exec(conn, "RELEASE op").await;
                d(Err(e));
            }
        }
    }
    let committed = exec(conn, "COMMIT").await;
    if committed.is_err() {
        let _ = exec(conn, "ROLLBACK").await;
    }
    for d in done {
        d(committed.clone());
    }
}

async fn exec(conn: &mut SqliteConnection, sql: &str) -> Result<()> {
    sqlx::query(sql).execute(&mut *conn).await?;
    Ok(())
}
