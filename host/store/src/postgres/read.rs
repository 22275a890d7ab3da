//! PostgreSQL: listings and module reads, and the writes that deploy and activate modules (SQLite's
//! `read.rs` for these).
//!
//! Activations of one function take turns under an advisory lock ([`lock_activation`]), which a
//! module's delete takes too, so that a function keeps exactly one active version although several
//! processes deploy, activate and delete at once.

use std::collections::HashMap;

use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgExecutor, Row};

use super::Postgres;
use crate::read::{Columns, INSTANCE_COLUMNS, instance_from_row};
use crate::{
    FunctionRow, Instance, InstanceFilter, ModuleRow, Result, Status, json_text, parse_json,
    to_i64, to_u64,
};

/// The labels of the module whose digest is column `digest` of the query, as a JSON list, oldest
/// first (`labels.seq` is the order they were added in, SQLite's rowid).
fn labels_of(digest: &str) -> String {
    format!(
        "COALESCE((SELECT json_agg(label ORDER BY seq) FROM labels \
                   WHERE labels.digest = {digest})::text, '[]')"
    )
}

/// The labels [`labels_of`] selected into column `i`.
fn labels_from(r: &PgRow, i: usize) -> Result<Vec<String>> {
    parse_json("module labels", &r.text(i)?)
}

/// A function from a row of `name, kind, digest, version, active, labels` (`active` read as a
/// boolean: SQLite's `active` column decodes as one, PostgreSQL's BIGINT does not).
fn function_from_row(r: &PgRow) -> Result<FunctionRow> {
    Ok(FunctionRow {
        name: r.try_get(0)?,
        kind: r.try_get(1)?,
        digest: r.try_get(2)?,
        version: r.try_get(3)?,
        active: r.try_get(4)?,
        labels: labels_from(r, 5)?,
    })
}

impl Postgres {
    /// Instances matching `filter`, newest first.
    pub(crate) async fn list(&self, filter: &InstanceFilter) -> Result<Vec<Instance>> {
        let rows = sqlx::query(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances
             WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR name = $2)
               AND ($4::bigint IS NULL OR created_at >= $4)
               AND ($5::bigint IS NULL OR created_at <= $5)
               AND ($6::bigint IS NULL OR created_at < $6
                    OR (created_at = $6 AND id COLLATE \"C\" > $7))
             ORDER BY created_at DESC, id COLLATE \"C\" LIMIT $3"
        ))
        .bind(filter.status.map(Status::as_str))
        .bind(filter.name.as_deref())
        // NULL is no limit, as SQLite's -1.
        .bind(filter.limit.map(i64::from))
        .bind(filter.created_from.map(to_i64))
        .bind(filter.created_to.map(to_i64))
        .bind(filter.after.as_ref().map(|(at, _)| to_i64(*at)))
        .bind(filter.after.as_ref().map(|(_, id)| id.as_str()))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(instance_from_row).collect()
    }

    /// Deployed modules, newest first.
    pub(crate) async fn modules(&self) -> Result<Vec<ModuleRow>> {
        let rows = sqlx::query(&format!(
            "SELECT digest, version, deployed_at, octet_length(bytes)::BIGINT, functions, {}
             FROM modules ORDER BY deployed_at DESC",
            labels_of("modules.digest")
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ModuleRow {
                    digest: r.try_get(0)?,
                    version: r.try_get(1)?,
                    deployed_at: to_u64(r.int(2)?),
                    size: to_u64(r.int(3)?),
                    functions: parse_json("module functions", &r.text(4)?)?,
                    labels: labels_from(r, 5)?,
                })
            })
            .collect()
    }

    /// Every function of every deployed module.
    pub(crate) async fn functions(&self) -> Result<Vec<FunctionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT name, kind, digest, version, active <> 0, {} FROM functions
             ORDER BY name COLLATE \"C\", kind COLLATE \"C\", deployed_at DESC",
            labels_of("functions.digest")
        ))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(function_from_row).collect()
    }

    /// Every deployed version of function `name` of `kind`, newest first.
    pub(crate) async fn function_versions(
        &self,
        name: &str,
        kind: &str,
    ) -> Result<Vec<FunctionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT name, kind, digest, version, active <> 0, {} FROM functions
             WHERE name = $1 AND kind = $2 ORDER BY deployed_at DESC",
            labels_of("functions.digest")
        ))
        .bind(name)
        .bind(kind)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(function_from_row).collect()
    }

    /// How many instances that may still run code (pending, running, suspended, failed) are pinned
    /// to each module.
    pub(crate) async fn pinned_counts(&self) -> Result<HashMap<String, u64>> {
        let rows = sqlx::query(
            "SELECT module, COUNT(*)::BIGINT FROM instances
             WHERE status IN ('Pending', 'Running', 'Suspended', 'Failed') GROUP BY module",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.text(0)?, to_u64(r.int(1)?))))
            .collect()
    }

    /// The distinct activity names of the queued activity calls, as called (`name` or
    /// `name@range`).
    pub(crate) async fn queued_activity_names(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT DISTINCT name FROM work_items")
            .fetch_all(self.pool())
            .await?)
    }

    /// The digest of the active module providing `name` of `kind`.
    pub(crate) async fn active_function(&self, name: &str, kind: &str) -> Result<Option<String>> {
        active_digest(self.pool(), name, kind).await
    }

    /// The bytes of a deployed module.
    pub(crate) async fn module_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT bytes FROM modules WHERE digest = $1")
                .bind(digest)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Raised events waiting in instance `id`'s inbox for its next turn.
    pub(crate) async fn waiting_events(&self, id: &str) -> Result<u64> {
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*)::BIGINT FROM inbox WHERE instance = $1 AND kind IN ('EventRaised', 'Update')",
        )
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        Ok(to_u64(count))
    }

    /// Number of deployed modules.
    pub(crate) async fn module_count(&self) -> Result<u64> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*)::BIGINT FROM modules")
            .fetch_one(self.pool())
            .await?;
        Ok(to_u64(count))
    }

    /// The version labels of the module `digest`, oldest first; empty when it is not stored.
    pub(crate) async fn module_labels(&self, digest: &str) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT label FROM labels WHERE digest = $1 ORDER BY seq")
                .bind(digest)
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Stores a module and its functions, or finds them stored, and labels the module `version`
    /// (one more label when it carries others); `activate` makes it the active version of each.
    /// Wakes workers, as SQLite's deploy does.
    #[allow(clippy::too_many_arguments, reason = "a flat record of one deploy")]
    pub(crate) async fn deploy(
        &self,
        digest: &str,
        bytes: Vec<u8>,
        version: &str,
        functions: Vec<(String, String)>,
        activate: bool,
        now: u64,
    ) -> Result<()> {
        let listed: Vec<_> = functions
            .iter()
            .map(|(name, kind)| serde_json::json!({"name": name, "kind": kind}))
            .collect();
        let now = to_i64(now);
        self.transaction(async |conn| {
            sqlx::query(
                "INSERT INTO modules (digest, bytes, version, deployed_at, functions)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digest)
            .bind(&bytes)
            .bind(version)
            .bind(now)
            .bind(json_text(&listed))
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO labels (digest, label, added_at) VALUES ($1, $2, $3)
             ON CONFLICT (digest, label) DO NOTHING",
            )
            .bind(digest)
            .bind(version)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            for (name, kind) in &functions {
                sqlx::query(
                    "INSERT INTO functions (name, kind, digest, version, deployed_at, active)
                 VALUES ($1, $2, $3, $4, $5, 0) ON CONFLICT (name, kind, digest) DO NOTHING",
                )
                .bind(name)
                .bind(kind)
                .bind(digest)
                .bind(version)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            if activate {
                // Every activation lock first, in one order, so that two deploys of modules sharing
                // functions never wait for each other in a circle.
                let mut locked: Vec<_> = functions.iter().collect();
                locked.sort();
                locked.dedup();
                for (name, kind) in &locked {
                    lock_activation(conn, name, kind).await?;
                }
                for (name, kind) in &functions {
                    set_active(conn, name, kind, digest).await?;
                }
            }
            super::wake_workers(conn).await
        })
        .await
    }

    /// Makes `digest` the active module of a function. False if that module does not provide it.
    pub(crate) async fn activate(&self, name: &str, kind: &str, digest: &str) -> Result<bool> {
        self.transaction(async |conn| {
            lock_activation(conn, name, kind).await?;
            set_active(conn, name, kind, digest).await
        })
        .await
    }
}

/// Takes, until the transaction ends, the lock that serialises the activations of function `name`
/// of `kind`. Without it two transactions activating different versions at once would each clear
/// the rows the other could not see yet (a version deployed meanwhile), and leave two active rows.
/// A module's delete takes it too, for each of the module's functions, so that no activation of a
/// version it deletes is half done when it counts what the module is used by.
pub(super) async fn lock_activation(conn: &mut PgConnection, name: &str, kind: &str) -> Result<()> {
    super::advisory_lock(conn, &format!("keel.activate\u{1f}{name}\u{1f}{kind}")).await
}

/// The digest of the active module providing `name` of `kind`, read on `db` (the pool, or a
/// transaction's connection).
pub(super) async fn active_digest<'e>(
    db: impl PgExecutor<'e>,
    name: &str,
    kind: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT digest FROM functions WHERE name = $1 AND kind = $2 AND active = 1",
    )
    .bind(name)
    .bind(kind)
    .fetch_optional(db)
    .await?)
}

/// SQLite's `activate_function`, under [`lock_activation`]: every statement runs after the lock is
/// taken, so it sees every version another activation committed.
async fn set_active(conn: &mut PgConnection, name: &str, kind: &str, digest: &str) -> Result<bool> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM functions WHERE name = $1 AND kind = $2 AND digest = $3")
            .bind(name)
            .bind(kind)
            .bind(digest)
            .fetch_optional(&mut *conn)
            .await?;
    if found.is_none() {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE functions SET active = CASE WHEN digest = $1 THEN 1 ELSE 0 END
         WHERE name = $2 AND kind = $3",
    )
    .bind(digest)
    .bind(name)
    .bind(kind)
    .execute(conn)
    .await?;
    Ok(true)
}
