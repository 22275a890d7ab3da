//! One store per backend for each test.

use keel_store::Store;
use sqlx::Connection;

/// A store for one test, with what must live as long as it.
pub(crate) struct TestStore {
    /// The store.
    pub(crate) store: Store,
    /// `"sqlite"` or `"postgres"`, for assertion messages.
    pub(crate) backend: &'static str,
    /// The SQLite file's directory (`None` on PostgreSQL, whose database outlives the test inside
    /// the throwaway cluster).
    _dir: Option<tempfile::TempDir>,
    /// The PostgreSQL database's URL (`None` on SQLite).
    url: Option<String>,
}

impl TestStore {
    /// A second store on the same database, as another process would open it (its own pool, or its
    /// own SQLite writer on the same file).
    pub(crate) async fn reopen(&self) -> Store {
        match (&self.url, &self._dir) {
            (Some(url), _) => Store::connect_postgres(url)
                .await
                .expect("PostgreSQL store connects again"),
            (None, Some(dir)) => Store::open(&dir.path().join("keel.db"))
                .await
                .expect("SQLite store opens again"),
            (None, None) => unreachable!("a test store has a file or a URL"),
        }
    }
}

/// A fresh store on every backend this run tests: SQLite, and PostgreSQL when `KEEL_TEST_POSTGRES`
/// is set. A PostgreSQL that is asked for and cannot be reached fails the test; it is never skipped.
pub(crate) async fn stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().expect("temporary directory");
    let sqlite = Store::open(&dir.path().join("keel.db"))
        .await
        .expect("SQLite store opens");
    let mut stores = vec![TestStore {
        store: sqlite,
        backend: "sqlite",
        _dir: Some(dir),
        url: None,
    }];
    if let Some(url) = std::env::var("KEEL_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
    {
        let (store, url) = fresh_postgres(&url).await;
        stores.push(TestStore {
            store,
            backend: "postgres",
            _dir: None,
            url: Some(url),
        });
    } else if std::env::var_os("CI").is_some() {
        panic!("CI must test PostgreSQL too: set KEEL_TEST_POSTGRES (scripts/test.sh does)");
    }
    stores
}

/// A new, empty database on the server at `url`, with the store connected to it, and its URL.
async fn fresh_postgres(url: &str) -> (Store, String) {
    let name = format!("keel_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("KEEL_TEST_POSTGRES={url} cannot be reached: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("CREATE DATABASE");
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    let url = format!("{base}/{name}");
    let store = Store::connect_postgres(&url)
        .await
        .expect("PostgreSQL store connects");
    (store, url)
}
