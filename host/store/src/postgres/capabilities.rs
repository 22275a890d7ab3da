//! PostgreSQL: what a function holds (grants, configuration, secrets) and the changes to it, with
//! the same rows and statements as SQLite's `capabilities.rs`.
//!
//! Each change is one transaction; a replace of a function's whole set takes an advisory lock per
//! function first, so that two replaces at once take turns rather than leave the union of both.

use sqlx::PgConnection;

use super::Postgres;
use crate::capabilities::{HoldingRow, holdings_from_rows};
use crate::{CapabilityChange, Holdings, Result, Sealed, to_i64};

impl Postgres {
    /// Applies `change`; false when a revoke or unset found nothing to remove. Wakes no worker, as
    /// on SQLite.
    pub(crate) async fn change_capability(
        &self,
        change: CapabilityChange,
        now: u64,
    ) -> Result<bool> {
        let affected = self
            .transaction(async |conn| change_capability(conn, &change, to_i64(now)).await)
            .await?;
        Ok(affected > 0)
    }

    /// What `function` holds, in one query.
    pub(crate) async fn holdings(&self, function: &str) -> Result<Holdings> {
        Ok(self.held(function, false).await?.1)
    }

    /// The active module of activity `function` and what the function holds, in one query: what
    /// every attempt of an unversioned activity call reads.
    pub(crate) async fn activity_setup(
        &self,
        function: &str,
    ) -> Result<(Option<String>, Holdings)> {
        self.held(function, true).await
    }

    async fn held(&self, function: &str, active: bool) -> Result<(Option<String>, Holdings)> {
        let rows: Vec<HoldingRow> = sqlx::query_as(
            "SELECT 'g', pattern, NULL::text, NULL::bytea, NULL::bytea FROM grants
                 WHERE function = $1
             UNION ALL SELECT 'c', key, value, NULL, NULL FROM function_config WHERE function = $1
             UNION ALL SELECT 's', name, key_id, nonce, ciphertext FROM secrets WHERE function = $1
             UNION ALL SELECT 'a', digest, NULL, NULL, NULL FROM functions
                 WHERE $2 AND name = $1 AND kind = 'activity' AND active = 1",
        )
        .bind(function)
        .bind(active)
        .fetch_all(self.pool())
        .await?;
        holdings_from_rows(rows)
    }

    /// Every grant, as `(function, pattern)`, ordered (byte by byte, as SQLite orders text).
    pub(crate) async fn all_grants(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT function, pattern FROM grants
             ORDER BY function COLLATE \"C\", pattern COLLATE \"C\"",
        )
        .fetch_all(self.pool())
        .await?)
    }
}

/// Applies `change` in the transaction `conn` is in; returns how many rows it affected (1 for
/// the changes that always apply).
async fn change_capability(
    conn: &mut PgConnection,
    change: &CapabilityChange,
    now: i64,
) -> Result<u64> {
    Ok(match change {
        CapabilityChange::Grant { function, pattern } => {
            grant(conn, function, pattern, now).await?;
            1
        }
        CapabilityChange::Revoke { function, pattern } => {
            sqlx::query("DELETE FROM grants WHERE function = $1 AND pattern = $2")
                .bind(function)
                .bind(pattern)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        }
        CapabilityChange::SetConfig {
            function,
            key,
            value,
        } => {
            set_config(conn, function, key, value, now).await?;
            1
        }
        CapabilityChange::UnsetConfig { function, key } => {
            sqlx::query("DELETE FROM function_config WHERE function = $1 AND key = $2")
                .bind(function)
                .bind(key)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        }
        CapabilityChange::SetSecret {
            function,
            name,
            sealed,
        } => {
            set_secret(conn, function, name, sealed, now).await?;
            1
        }
        CapabilityChange::UnsetSecret { function, name } => {
            sqlx::query("DELETE FROM secrets WHERE function = $1 AND name = $2")
                .bind(function)
                .bind(name)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        }
        CapabilityChange::Replace {
            function,
            grants,
            config,
            secrets,
        } => {
            // Two replaces at once would each delete only the rows committed before it began,
            // and leave the union of both sets: they take turns, and each statement after the
            // lock sees what the other committed.
            super::advisory_lock(conn, &format!("keel.capabilities\u{1f}{function}")).await?;
            sqlx::query("DELETE FROM grants WHERE function = $1")
                .bind(function)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM function_config WHERE function = $1")
                .bind(function)
                .execute(&mut *conn)
                .await?;
            for pattern in grants {
                grant(conn, function, pattern, now).await?;
            }
            for (key, value) in config {
                set_config(conn, function, key, value, now).await?;
            }
            for (name, sealed) in secrets {
                set_secret(conn, function, name, sealed, now).await?;
            }
            1
        }
    })
}

async fn grant(conn: &mut PgConnection, function: &str, pattern: &str, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO grants (function, pattern, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (function, pattern) DO NOTHING",
    )
    .bind(function)
    .bind(pattern)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_config(
    conn: &mut PgConnection,
    function: &str,
    key: &str,
    value: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO function_config (function, key, value, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (function, key) DO UPDATE SET value = excluded.value,
             updated_at = excluded.updated_at",
    )
    .bind(function)
    .bind(key)
    .bind(value)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

async fn set_secret(
    conn: &mut PgConnection,
    function: &str,
    name: &str,
    sealed: &Sealed,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO secrets (function, name, key_id, nonce, ciphertext, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (function, name) DO UPDATE SET key_id = excluded.key_id,
             nonce = excluded.nonce, ciphertext = excluded.ciphertext,
             updated_at = excluded.updated_at",
    )
    .bind(function)
    .bind(name)
    .bind(&sealed.key_id)
    .bind(&sealed.nonce)
    .bind(&sealed.ciphertext)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
