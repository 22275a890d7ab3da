//! The group-commit writer: one thread, one connection, many operations per transaction.
//!
//! A flush costs the same for one row or a thousand, so every write of the process queues here and
//! whatever has queued while the previous transaction was flushing commits together. Each operation
//! runs inside its own savepoint: one that fails is rolled back alone and the rest still commit. The
//! connection (rusqlite) lives on a thread of its own and a batch runs on it synchronously, with
//! statements prepared once and reused: a batch costs one hand-off in (the queue) and one out (the
//! replies), never one per statement. It must never block on anything but SQLite.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rusqlite::{Connection, OpenFlags, Params};
use tokio::sync::{Notify, mpsc, oneshot};

use super::{BUSY_TIMEOUT, Error, Result};

/// Most operations committed in one transaction.
const MAX_BATCH: usize = 512;

/// Prepared statements kept for reuse: more than the distinct statements the operations run.
const STATEMENT_CACHE: usize = 128;

/// A queued write as the writer sees it: the writer knows transactions and savepoints, not what the
/// operations are (`ops::Op` is the one implementation), so it depends on nothing else in the store.
pub(super) trait Operation: Send + 'static {
    /// Whether committing this operation can give a worker something new to do.
    fn wakes_workers(&self) -> bool;
    /// Answers the caller with `e` without running the operation.
    fn fail(self, e: Error);
    /// Runs the operation's SQL on `conn` inside the current savepoint.
    fn apply(self, conn: &Connection) -> Applied;
}

/// What applying an operation produced.
pub(super) enum Applied {
    /// It worked; call this after the commit.
    Ok(Done),
    /// It failed; roll its savepoint back and call this with the error.
    Err(Error, Done),
}

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

/// Handle to the writer thread.
pub(crate) struct Writer<O> {
    tx: mpsc::UnboundedSender<O>,
    /// Operations queued and not yet taken into a transaction.
    queued: Arc<AtomicUsize>,
}

impl<O> Clone for Writer<O> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            queued: self.queued.clone(),
        }
    }
}

impl<O> std::fmt::Debug for Writer<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("queued", &self.queued)
            .finish_non_exhaustive()
    }
}

impl<O: Operation> Writer<O> {
    /// Opens the write connection to the database at `path` on a new thread, which then commits
    /// what is queued until every handle is dropped; `changed` is notified after each commit that
    /// wrote work.
    pub(super) async fn open(path: &Path, changed: Arc<Notify>) -> Result<Self> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let backlog = queued.clone();
        let (opened_tx, opened) = oneshot::channel();
        let file = path.to_owned();
        std::thread::Builder::new()
            .name("keel-writer".into())
            .spawn(move || match connect(&file) {
                Ok(conn) => {
                    drop(opened_tx.send(Ok(())));
                    run(&conn, &mut rx, &changed, &backlog);
                }
                Err(e) => drop(opened_tx.send(Err(e))),
            })
            .map_err(|e| open_error(path, &e))?;
        opened.await.map_err(|_| Error::Closed)??;
        Ok(Self { tx, queued })
    }

    /// Operations waiting for a transaction.
    pub(super) fn backlog(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Queues `op`, built around a reply channel, and waits for its committed result.
    pub(super) async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T>>) -> O,
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

/// Opens the write connection with the settings the store relies on: WAL, `synchronous=FULL` (a
/// commit is on disk when it returns), foreign keys enforced, and a wait for other processes' locks.
/// The flags are those sqlx opens its connections with.
fn connect(path: &Path) -> Result<Connection> {
    let set_up = || -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_PRIVATE_CACHE;
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    };
    let conn = set_up().map_err(|e| open_error(path, &e))?;
    // A setting SQLite could not apply is not an error of the pragma: read them back.
    let settings = conn
        .query_row(
            "SELECT journal_mode, synchronous, foreign_keys \
             FROM pragma_journal_mode, pragma_synchronous, pragma_foreign_keys",
            [],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .map_err(|e| open_error(path, &e))?;
    // synchronous: 2 is FULL; foreign_keys: 1 is ON.
    if !settings.0.eq_ignore_ascii_case("wal") || settings.1 != 2 || settings.2 != 1 {
        return Err(Error::Open {
            path: path.to_owned(),
            message: format!(
                "SQLite did not take the settings: journal_mode={}, synchronous={}, \
                 foreign_keys={} (expected wal, 2 (FULL), 1)",
                settings.0, settings.1, settings.2
            ),
        });
    }
    Ok(conn)
}

fn open_error(path: &Path, e: &dyn std::fmt::Display) -> Error {
    Error::Open {
        path: PathBuf::from(path),
        message: e.to_string(),
    }
}

/// Commits batches of what has queued until every sender is gone.
fn run<O: Operation>(
    conn: &Connection,
    rx: &mut mpsc::UnboundedReceiver<O>,
    changed: &Notify,
    queued: &AtomicUsize,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.blocking_recv_many(&mut batch, MAX_BATCH) > 0 {
        queued.fetch_sub(batch.len(), Ordering::Relaxed);
        let wakes = batch.iter().any(O::wakes_workers);
        commit_batch(conn, std::mem::take(&mut batch));
        if wakes {
            changed.notify_waiters();
        }
    }
}

/// Commits `ops` in one transaction, each in its own savepoint. When SQLite rolls back the whole
/// transaction on its own (SQLITE_FULL, an I/O error, an interrupt, a trigger's `RAISE(ROLLBACK)`),
/// the connection is back in autocommit mode after the failed statement: every operation applied
/// so far is failed (its writes were lost) and the operations not applied yet go on in a new
/// transaction.
fn commit_batch<O: Operation>(conn: &Connection, ops: Vec<O>) {
    let mut pending = ops.into_iter();
    loop {
        if let Err(e) = execute(conn, "BEGIN IMMEDIATE", []) {
            for op in pending {
                op.fail(e.clone());
            }
            return;
        }
        let mut done: Vec<Done> = Vec::with_capacity(pending.len());
        let mut lost = None;
        for op in pending.by_ref() {
            if let Err(e) = execute(conn, "SAVEPOINT op", []) {
                op.fail(e.clone());
                if conn.is_autocommit() {
                    lost = Some(e);
                    break;
                }
                continue;
            }
            match op.apply(conn) {
                Applied::Ok(d) => {
                    let released = if conn.is_autocommit() {
                        Err(Error::RolledBack("the transaction ended during it".into()))
                    } else {
                        execute(conn, "RELEASE op", []).map(drop)
                    };
                    match released {
                        Ok(()) => done.push(d),
                        Err(e) => {
                            d(Err(rolled_back(&e)));
                            lost = Some(e);
                            break;
                        }
                    }
                }
                Applied::Err(e, d) => {
                    let gone = conn.is_autocommit() || execute(conn, "ROLLBACK TO op", []).is_err();
                    if !conn.is_autocommit() {
                        let _ = execute(conn, "RELEASE op", []);
                    }
                    d(Err(e.clone()));
                    if gone {
                        lost = Some(e);
                        break;
                    }
                }
            }
        }
        if let Some(cause) = lost {
            tracing::error!(error = %cause, "SQLite rolled back a whole batch; its earlier operations fail");
            // Normally there is no transaction left to roll back; if there is, it must not commit.
            if !conn.is_autocommit() {
                let _ = execute(conn, "ROLLBACK", []);
            }
            for d in done {
                d(Err(rolled_back(&cause)));
            }
            continue;
        }
        let committed = execute(conn, "COMMIT", []).map(drop);
        if committed.is_err() && !conn.is_autocommit() {
            let _ = execute(conn, "ROLLBACK", []);
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

/// Runs `sql`, prepared once per connection and reused, and returns how many rows it changed.
pub(super) fn execute(conn: &Connection, sql: &str, params: impl Params) -> Result<usize> {
    Ok(conn.prepare_cached(sql)?.execute(params)?)
}

#[cfg(test)]
mod tests {
    use tokio::sync::oneshot;

    use super::*;
    use crate::Store;
    use crate::ops::Op;
    use crate::rows::NewInstance;

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
        let conn = connect(&path).unwrap();
        execute(
            &conn,
            "CREATE TRIGGER poison BEFORE INSERT ON instances WHEN NEW.id = 'poison' \
             BEGIN SELECT RAISE(ROLLBACK, 'poisoned'); END",
            [],
        )
        .unwrap();
        let (a, a_rx) = create("a");
        let (p, p_rx) = create("poison");
        let (b, b_rx) = create("b");
        let (c, c_rx) = create("c");
        commit_batch(&conn, vec![a, p, b, c]);

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
