//! Direct SQL on a test's database, on whichever store the suite runs on (SQLite or PostgreSQL):
//! for the tests that inspect rows the engine does not show, or damage rows behind its back (a
//! poisoned message, a broken module, a full disk). Statements are written once with `?` for each
//! parameter; on PostgreSQL they become `$1`, `$2`, ….

use std::path::Path;

use sqlx::Connection as _;

/// One connection to a test's database.
pub(crate) enum RawDb {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// A parameter of a statement.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg<'a> {
    Text(&'a str),
    Int(i64),
    Bytes(&'a [u8]),
}

/// A value both drivers decode (`i64`, `String`, `Vec<u8>`, and `Option`s of them).
pub(crate) trait Column:
    for<'r> sqlx::Decode<'r, sqlx::Sqlite>
    + sqlx::Type<sqlx::Sqlite>
    + for<'r> sqlx::Decode<'r, sqlx::Postgres>
    + sqlx::Type<sqlx::Postgres>
    + Send
    + Unpin
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, sqlx::Sqlite>
        + sqlx::Type<sqlx::Sqlite>
        + for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + Send
        + Unpin
{
}

/// `sql` with its parameters numbered the PostgreSQL way: `?N` becomes `$N`, and each bare `?` the
/// next number.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '?' {
            out.push(c);
        } else if chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            n += 1;
            out.push_str(&format!("${n}"));
        }
    }
    out
}

macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match *arg {
                Arg::Text(t) => query.bind(t),
                Arg::Int(i) => query.bind(i),
                Arg::Bytes(b) => query.bind(b),
            };
        }
        query
    }};
}

impl RawDb {
    /// A connection to `db`: a SQLite file or a PostgreSQL URL.
    pub(crate) async fn open(db: &Path) -> Self {
        if keel::store::is_postgres_url(db) {
            let url = db.to_string_lossy();
            Self::Postgres(
                sqlx::PgConnection::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("connecting to {url}: {e}")),
            )
        } else {
            let url = format!("sqlite://{}", db.display());
            Self::Sqlite(
                sqlx::SqliteConnection::connect(&url)
                    .await
                    .unwrap_or_else(|e| panic!("opening {url}: {e}")),
            )
        }
    }

    /// Runs `sql` with `args`; the rows it changed.
    pub(crate) async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> u64 {
        self.try_execute(sql, args)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs `sql` with `args`; the rows it changed, or the database's error.
    pub(crate) async fn try_execute(&mut self, sql: &str, args: &[Arg<'_>]) -> sqlx::Result<u64> {
        match self {
            Self::Sqlite(db) => bind_all!(sqlx::query(sql), args)
                .execute(db)
                .await
                .map(|r| r.rows_affected()),
            Self::Postgres(db) => {
                let sql = numbered(sql);
                bind_all!(sqlx::query(&sql), args)
                    .execute(db)
                    .await
                    .map(|r| r.rows_affected())
            }
        }
    }

    /// The first column of the one row `sql` returns, if it returns one.
    pub(crate) async fn optional<T: Column>(&mut self, sql: &str, args: &[Arg<'_>]) -> Option<T> {
        match self {
            Self::Sqlite(db) => {
                bind_all!(sqlx::query_scalar(sql), args)
                    .fetch_optional(db)
                    .await
            }
            Self::Postgres(db) => {
                let sql = numbered(sql);
                bind_all!(sqlx::query_scalar(&sql), args)
                    .fetch_optional(db)
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first column of the row `sql` returns; the test fails when there is none.
    pub(crate) async fn one<T: Column>(&mut self, sql: &str, args: &[Arg<'_>]) -> T {
        self.optional(sql, args)
            .await
            .unwrap_or_else(|| panic!("{sql}: no row"))
    }

    /// From now on every delete from `table` fails, as on a full disk; [`RawDb::allow_deletes`]
    /// lifts it.
    pub(crate) async fn fail_deletes(&mut self, table: &str) {
        match self {
            Self::Sqlite(_) => {
                let sql = format!(
                    "CREATE TRIGGER keel_test_full BEFORE DELETE ON {table} \
                     BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
                );
                self.execute(&sql, &[]).await;
            }
            Self::Postgres(_) => {
                self.execute(
                    "CREATE OR REPLACE FUNCTION keel_test_full() RETURNS trigger \
                     LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk is full'; END $$",
                    &[],
                )
                .await;
                let sql = format!(
                    "CREATE TRIGGER keel_test_full BEFORE DELETE ON {table} \
                     FOR EACH ROW EXECUTE FUNCTION keel_test_full()"
                );
                self.execute(&sql, &[]).await;
            }
        }
    }

    /// Deletes from `table` work again.
    pub(crate) async fn allow_deletes(&mut self, table: &str) {
        let sql = match self {
            Self::Sqlite(_) => "DROP TRIGGER keel_test_full".to_owned(),
            Self::Postgres(_) => format!("DROP TRIGGER keel_test_full ON {table}"),
        };
        self.execute(&sql, &[]).await;
    }
}

/// Everything the database at `db` holds, as bytes to search: on SQLite its files (with the
/// write-ahead log), on PostgreSQL every row of every table as text, with byte columns in hex (so
/// that a value is searched for as text and as its hex digits; see [`hex`]). Runs on a thread of its
/// own (see `support::on_own_thread`).
pub(crate) fn stored_bytes(db: &Path) -> Vec<u8> {
    if !keel::store::is_postgres_url(db) {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal"] {
            let mut path = db.as_os_str().to_owned();
            path.push(suffix);
            bytes.extend(std::fs::read(&path).unwrap_or_default());
        }
        assert!(!bytes.is_empty(), "{} holds nothing", db.display());
        return bytes;
    }
    let db = db.to_owned();
    crate::support::on_own_thread(async move {
        let mut raw = RawDb::open(&db).await;
        let RawDb::Postgres(conn) = &mut raw else {
            unreachable!("a PostgreSQL URL opens PostgreSQL")
        };
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = 'public' ORDER BY table_name",
        )
        .fetch_all(&mut *conn)
        .await
        .expect("listing tables");
        assert!(tables.len() > 3, "no Keel tables in {}", db.display());
        let mut bytes = Vec::new();
        for table in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
                    .fetch_all(&mut *conn)
                    .await
                    .expect("reading a table");
            for row in rows {
                bytes.extend_from_slice(row.as_bytes());
                bytes.push(b'\n');
            }
        }
        bytes
    })
}

/// `value` in lower-case hex digits: how PostgreSQL shows the bytes of a `BYTEA` column as text.
pub(crate) fn hex(value: &[u8]) -> String {
    value.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the database at `db` holds `value` anywhere, as text or (on PostgreSQL) as the hex of a
/// byte column.
pub(crate) fn holds(db: &Path, value: &str) -> bool {
    let bytes = stored_bytes(db);
    let found = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    found(value.as_bytes()) || found(hex(value.as_bytes()).as_bytes())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parameters_are_numbered_in_order() {
        assert_eq!(
            super::numbered("UPDATE t SET a = ? WHERE b = ? AND c = 'x'"),
            "UPDATE t SET a = $1 WHERE b = $2 AND c = 'x'"
        );
        assert_eq!(
            super::numbered("UPDATE t SET a = ?2 WHERE b = ?1"),
            "UPDATE t SET a = $2 WHERE b = $1"
        );
    }
}
