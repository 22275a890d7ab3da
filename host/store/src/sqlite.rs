//! The SQLite backend's handle: a read-only sqlx pool for listings, read-only rusqlite connections
//! for the step path's short reads on the calling thread, and the group-commit writer through which
//! every write goes. Its operations are in the files named after what they hold (`read.rs`,
//! `ops.rs`, `work_items.rs`, ...); PostgreSQL's counterparts are in `postgres/`.

use std::path::Path;
use std::sync::Arc;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection, SqlitePool};
use tokio::sync::Notify;

use crate::setup_cache::SetupCache;
use crate::writer::Writer;
use crate::{BUSY_TIMEOUT, Error, Result, local_read, ops};

/// The SQLite backend of a [`crate::Store`].
#[derive(Clone, Debug)]
pub(crate) struct Sqlite {
    pool: SqlitePool,
    local: Arc<local_read::LocalReads>,
    writer: Writer<ops::Op>,
    setups: Arc<SetupCache>,
}

impl Sqlite {
    /// Opens (creating if needed) the database at `path`, migrates its schema and starts the writer
    /// thread, which notifies `changed` after each commit that wrote work.
    pub(crate) async fn open(path: &Path, changed: Arc<Notify>) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(BUSY_TIMEOUT);
        let mut conn = SqliteConnection::connect_with(&options).await?;
        sqlx::migrate!("./migrations")
            .run(&mut conn)
            .await
            .map_err(Error::migration)?;
        conn.close().await?;
        let writer = Writer::open(path, changed).await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            pool,
            local: Arc::new(local_read::LocalReads::new(path)),
            writer,
            setups: Arc::default(),
        })
    }

    /// Writes queued for the writer and not yet in a transaction.
    pub(crate) fn write_backlog(&self) -> usize {
        self.writer.backlog()
    }

    pub(crate) fn writer(&self) -> &Writer<ops::Op> {
        &self.writer
    }

    /// What activity attempts read before they run, kept between attempts.
    pub(crate) fn setups(&self) -> &SetupCache {
        &self.setups
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    #[cfg(test)]
    pub(crate) fn local(&self) -> &local_read::LocalReads {
        &self.local
    }

    /// Runs a short read on the calling thread (see [`local_read`]).
    pub(crate) fn read_here<T>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<T>,
    ) -> Result<T> {
        self.local.run(read)
    }
}
