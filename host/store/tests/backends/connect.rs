//! Opening a store: an unreachable server and a schema from a newer Keel are clear errors.

use keel_store::{Error, Store};
use sqlx::Connection;

use crate::support::stores;

#[tokio::test]
async fn an_unreachable_postgres_server_is_an_error_that_names_it_without_its_password() {
    // Port 1 on the loopback address: nothing listens there.
    let err = Store::connect_postgres("postgres://keel:hunter2@127.0.0.1:1/keel")
        .await
        .expect_err("nothing listens on port 1");
    let text = err.to_string();
    assert!(matches!(err, Error::Connect { .. }), "{text}");
    assert!(
        text.contains("postgres://keel:***@127.0.0.1:1/keel"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn wrong_credentials_or_a_missing_database_are_errors_that_say_why() {
    for t in stores().await {
        let Some(url) = t.postgres_url() else {
            continue;
        };
        // postgres://keel:PASSWORD@host:port/db, as scripts/postgres.sh makes it.
        let (credentials, host_and_db) = url.split_once('@').expect("user@host");
        let (user, _password) = credentials
            .rsplit_once(':')
            .filter(|(user, _)| user.contains("://"))
            .expect(
                "a URL with a password: KEEL_TEST_POSTGRES must name a server that checks them",
            );
        let wrong = format!("{user}:not-the-password@{host_and_db}");
        let err = Store::connect_postgres(&wrong)
            .await
            .expect_err("a wrong password is refused");
        let text = err.to_string();
        assert!(matches!(err, Error::Connect { .. }), "{text}");
        assert!(
            text.starts_with("[KEEL-S1]") && text.contains("password authentication failed"),
            "{text}"
        );
        assert!(!text.contains("not-the-password"), "{text}");

        let base = url.rsplit_once('/').expect("a database name").0;
        let err = Store::connect_postgres(&format!("{base}/no_such_database"))
            .await
            .expect_err("a missing database is refused");
        let text = err.to_string();
        assert!(matches!(err, Error::Connect { .. }), "{text}");
        assert!(
            text.contains("\"no_such_database\" does not exist"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_schema_migrated_by_a_newer_keel_is_refused_by_name() {
    for t in stores().await {
        // The migration a newer build would have applied.
        let insert = "INSERT INTO _sqlx_migrations \
             (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', TRUE, x'00', 0)";
        match t.backend {
            "sqlite" => {
                let path = t.sqlite_path().expect("a SQLite store has a file");
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .unwrap();
                sqlx::query(insert).execute(&mut conn).await.unwrap();
                drop(t.store);
                let err = Store::open(&path).await.expect_err("schema too new");
                assert!(matches!(err, Error::SchemaTooNew(9999)), "{err}");
            }
            _ => {
                let url = t.postgres_url().expect("a PostgreSQL store has a URL");
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query(&insert.replace("x'00'", "'\\x00'::bytea"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let err = Store::connect_postgres(&url)
                    .await
                    .expect_err("schema too new");
                assert!(matches!(err, Error::SchemaTooNew(9999)), "{err}");
            }
        }
    }
}

#[test]
fn a_database_url_is_told_from_a_file_and_shown_without_its_password() {
    use std::path::Path;
    assert!(keel_store::is_postgres_url(Path::new("postgres://h/db")));
    assert!(keel_store::is_postgres_url(Path::new(
        "postgresql://u:p@h:5432/db"
    )));
    assert!(!keel_store::is_postgres_url(Path::new("keel.db")));
    assert!(!keel_store::is_postgres_url(Path::new(
        "./postgres/keel.db"
    )));
    assert_eq!(
        keel_store::redacted(Path::new("postgres://u:secret@h:5432/db")),
        "postgres://u:***@h:5432/db"
    );
    assert_eq!(keel_store::redacted(Path::new("keel.db")), "keel.db");
}

#[tokio::test]
async fn a_dropped_postgres_store_closes_its_connections() {
    for t in stores().await {
        let Some(url) = t.postgres_url() else {
            continue;
        };
        let name = url.rsplit('/').next().expect("a database name").to_owned();
        let mut watcher = sqlx::PgConnection::connect(&url).await.unwrap();
        let count = async |watcher: &mut sqlx::PgConnection| -> i64 {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&name)
            .fetch_one(watcher)
            .await
            .unwrap()
        };
        t.store.instance("x").await.unwrap();
        assert!(count(&mut watcher).await > 0, "the store holds connections");
        drop(t.store);
        let mut left = count(&mut watcher).await;
        for _ in 0..100 {
            if left == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            left = count(&mut watcher).await;
        }
        assert_eq!(left, 0, "connections left open after the store was dropped");
    }
}
