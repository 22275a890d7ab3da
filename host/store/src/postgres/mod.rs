//! The PostgreSQL backend: the same operations as SQLite's, for a database that any number of
//! `keel` processes on any number of machines share.
//!
//! Where SQLite funnels every write through one writer thread, here each write is a transaction of
//! its own on a pooled connection, and the processes meet in the database: conditional writes lock
//! the instance row (`SELECT ... FOR UPDATE`) before they check the lease and history length they
//! depend on; claims take rows with `FOR UPDATE SKIP LOCKED`, so that workers claiming at once never
//! take the same row nor wait for each other. A commit that gives a worker something to do sends a
//! `NOTIFY` on [`CHANNEL`] with its transaction; every store listens and wakes its workers, so that
//! work written by one process reaches the others at once rather than at their next poll.
//!
//! Every write runs in [`Postgres::transaction`], which commits it or rolls it back before it
//! returns, so that no row or advisory lock of a finished operation lingers.
//!
//! Text ids are ordered and compared with `COLLATE "C"`, byte by byte, as SQLite's default
//! collation does, whatever collation the database was created with: listings, their pages
//! (`after`) and orders are then the same on both backends.
//!
//! The files here are named after SQLite's files that hold the same operations, so that a change
//! to one backend's SQL is seen to need the other's.

mod capabilities;
mod heartbeats;
mod instances;
mod logs;
mod maintenance;
mod ops;
mod parking;
mod read;
mod rows;
mod schedules;
mod stats;
mod updates;
mod work_items;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use tokio::sync::Notify;

use crate::{Error, Result};

/// The `LISTEN`/`NOTIFY` channel of commits that may have given a worker something to do.
pub(crate) const CHANNEL: &str = "keel_work";

/// Connections a process keeps open at most.
const MAX_CONNECTIONS: u32 = 16;

/// How long an operation waits for a connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The PostgreSQL backend of a [`crate::Store`].
#[derive(Clone, Debug)]
pub(crate) struct Postgres {
    pool: PgPool,
    /// The task listening for other processes' commits; it ends with the last clone of the store
    /// (it holds a connection and a handle to the pool, which would otherwise outlive the store).
    _listening: Arc<Listening>,
}

/// Ends the listening task when dropped.
#[derive(Debug)]
struct Listening(tokio::task::JoinHandle<()>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Postgres {
    /// Connects to `url`, migrates the schema and starts listening for other processes' commits,
    /// which notify `changed` like this process's own.
    pub(crate) async fn connect(url: &str, changed: Arc<Notify>) -> Result<Self> {
        let unreachable = |e: sqlx::Error| Error::Connect {
            url: crate::redacted(std::path::Path::new(url)),
            message: e.to_string(),
        };
        // One connection first: a refused or failed connection is reported at once (the pool would
        // keep retrying until its acquire timeout), and the schema is migrated on it.
        let mut conn = PgConnection::connect(url).await.map_err(unreachable)?;
        sqlx::migrate!("./migrations-postgres")
            .run(&mut conn)
            .await
            .map_err(Error::migration)?;
        conn.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await
            .map_err(unreachable)?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let listening = Listening(tokio::spawn(listen(listener, changed)));
        Ok(Self {
            pool,
            _listening: Arc::new(listening),
        })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `body` as one transaction: commits it when `body` returns `Ok`, and rolls it back,
    /// waiting for the server to confirm, when `body` returns an error, which is then returned.
    ///
    /// Every write goes through here rather than dropping a failed transaction: sqlx sends a
    /// dropped transaction's `ROLLBACK` only when the pool next touches its connection, so its row
    /// locks would outlive the operation, and a claim meanwhile (`SKIP LOCKED`) would pass over
    /// the rows. A body that decides to change nothing returns `Ok` having written nothing; its
    /// empty commit releases its locks as a rollback would.
    pub(crate) async fn transaction<T>(
        &self,
        body: impl AsyncFnOnce(&mut PgConnection) -> Result<T>,
    ) -> Result<T> {
        let mut tx = self.pool.begin().await?;
        match body(&mut *tx).await {
            Ok(value) => {
                tx.commit().await?;
                Ok(value)
            }
            Err(error) => {
                if let Err(e) = tx.rollback().await {
                    // The transaction is dropped still open: sqlx rolls it back when the connection
                    // returns to the pool, or closes a broken connection, which ends it too.
                    tracing::warn!(error = %e, "PostgreSQL rollback failed");
                }
                Err(error)
            }
        }
    }
}

/// Takes, until the transaction `conn` is in ends, the advisory lock named `key`: what serialises
/// the writes that must see each other's rows although they lock none in common (activations of
/// one function, replaces of one function's capabilities).
pub(crate) async fn advisory_lock(conn: &mut PgConnection, key: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Wakes the workers of every process sharing the database, once the transaction `conn` is in
/// commits (PostgreSQL delivers a notification only then, and drops it on a rollback).
pub(crate) async fn wake_workers(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(CHANNEL)
        .execute(conn)
        .await?;
    Ok(())
}

/// Wakes this process's workers whenever any process commits work. The listener reconnects by
/// itself after a lost connection; a notification lost meanwhile costs at most one poll interval,
/// since workers also poll.
async fn listen(mut listener: PgListener, changed: Arc<Notify>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => changed.notify_waiters(),
            // The connection was lost and is re-established at the next call; work may have been
            // committed meanwhile.
            Ok(None) => changed.notify_waiters(),
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL notifications interrupted; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
