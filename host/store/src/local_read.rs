//! Reads on the calling thread, for the short indexed reads of the hot path: what an activity
//! attempt needs before it runs, and whether any work is due.
//!
//! The read pool (sqlx) runs every statement on a worker thread of its own, so each read there costs
//! a hand-off to that thread and a wake-up back. These reads take microseconds, less than the
//! hand-offs, so they run synchronously on the caller's thread instead, on read-only rusqlite
//! connections the store keeps idle between uses (opened on demand, at most [`MAX_IDLE`] kept).
//!
//! A WAL reader never waits for the writer; it can wait only while another process recovers the
//! WAL index, so the wait is bounded by [`READ_BUSY_TIMEOUT`] rather than the writer's.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::Result;

/// Idle connections kept for the next read: about one per thread that reads at the same time.
const MAX_IDLE: usize = 8;

/// Prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 16;

/// Longest a read waits for a lock before it fails: it blocks the calling thread meanwhile.
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// Read-only connections for reads on the calling thread.
#[derive(Debug)]
pub(super) struct LocalReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl LocalReads {
    /// Connections to the database at `path`, opened when first needed.
    pub(super) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle connection (or a new one) on this thread.
    pub(super) fn run<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        result
    }

    fn open(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_PRIVATE_CACHE;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.busy_timeout(READ_BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[tokio::test]
    async fn reads_see_every_committed_write_and_reuse_their_connections() {
        let dir = tempfile::tempdir().unwrap();
        let changed = std::sync::Arc::new(tokio::sync::Notify::new());
        let store = crate::sqlite::Sqlite::open(&dir.path().join("k.db"), changed)
            .await
            .unwrap();
        assert_eq!(store.due_work(0, 10).await.unwrap(), (0, 0));
        store
            .create_instance(
                crate::NewInstance {
                    id: "a".into(),
                    name: "Flow".into(),
                    module: "m".into(),
                    input: serde_json::Value::Null,
                    parent: None,
                },
                5,
            )
            .await
            .unwrap();
        // The start is visible at once to the next read on this thread.
        assert_eq!(store.due_work(5, 10).await.unwrap(), (1, 0));
        assert_eq!(store.due_work(4, 10).await.unwrap(), (0, 0));
        assert_eq!(store.next_due(4).await.unwrap(), Some(5));
        let idle = store.local().idle.lock().unwrap().len();
        assert_eq!(idle, 1, "one connection served every read");
    }

    #[test]
    fn a_missing_database_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let reads = LocalReads::new(&dir.path().join("absent").join("k.db"));
        let err = reads.run(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?));
        assert!(matches!(err, Err(Error::Sqlite(_))), "{err:?}");
    }
}
