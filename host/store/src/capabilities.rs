//! The rows of functions' capabilities: grants, configuration values and sealed secrets, read by
//! every activity attempt and changed through the writer like everything else.
//!
//! It stores what it is given; names, patterns and sizes are checked by the engine beforehand, and
//! secrets arrive sealed.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};
use sqlx::Row;

use super::writer::execute;
use super::{Error, Result, to_i64};
use crate::setup_cache::Setup;
use crate::sqlite::Sqlite;

/// What a function holds, as stored (secrets still sealed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holdings {
    /// Grant patterns, canonical text.
    pub grants: Vec<String>,
    /// Configuration values by key.
    pub config: BTreeMap<String, String>,
    /// Sealed secrets by name.
    pub secrets: BTreeMap<String, Sealed>,
}

/// A sealed secret as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Fingerprint of the key that sealed it.
    pub key_id: String,
    /// The 24-byte nonce.
    pub nonce: Vec<u8>,
    /// Ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

/// One change to a function's capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapabilityChange {
    /// Allow an origin (canonical pattern).
    Grant {
        /// The function.
        function: String,
        /// The pattern.
        pattern: String,
    },
    /// Withdraw a grant.
    Revoke {
        /// The function.
        function: String,
        /// The pattern.
        pattern: String,
    },
    /// Set a configuration value.
    SetConfig {
        /// The function.
        function: String,
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Remove a configuration value.
    UnsetConfig {
        /// The function.
        function: String,
        /// The key.
        key: String,
    },
    /// Store a sealed secret.
    SetSecret {
        /// The function.
        function: String,
        /// The secret's name.
        name: String,
        /// The sealed value.
        sealed: Sealed,
    },
    /// Remove a secret.
    UnsetSecret {
        /// The function.
        function: String,
        /// The secret's name.
        name: String,
    },
    /// Make a function's grants and configuration exactly these, and set these secrets (a
    /// declarative file deployed with a module).
    Replace {
        /// The function.
        function: String,
        /// Its grants.
        grants: Vec<String>,
        /// Its configuration.
        config: BTreeMap<String, String>,
        /// Secrets to set.
        secrets: BTreeMap<String, Sealed>,
    },
}

impl Sqlite {
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

    /// What `function` holds (and its active module if `active`): kept from an earlier read while
    /// `holdings_version` has not moved (see [`crate::setup_cache`]), read again otherwise.
    async fn held(&self, function: &str, active: bool) -> Result<(Option<String>, Holdings)> {
        /// What the read on the calling thread found.
        enum Found {
            /// The setup kept at the current version.
            Kept(Setup),
            /// The rows, read at this version.
            Rows(i64, Vec<HoldingRow>),
        }
        let setups = self.setups();
        let found = self.read_here(|c| {
            let now: i64 = c
                .prepare_cached("SELECT version FROM holdings_version")?
                .query_row([], |r| r.get(0))?;
            if let Some(kept) = setups.get(function, active, now) {
                return Ok(Found::Kept(kept));
            }
            // The version again, in the same statement as the rows: what is kept is what was
            // read at the version it is kept under.
            let mut version = now;
            let mut rows = Vec::new();
            let mut stmt = c.prepare_cached(
                "SELECT 'v', version, NULL, NULL, NULL FROM holdings_version
                 UNION ALL SELECT 'g', pattern, NULL, NULL, NULL FROM grants WHERE function = ?1
                 UNION ALL SELECT 'c', key, value, NULL, NULL FROM function_config WHERE function = ?1
                 UNION ALL SELECT 's', name, key_id, nonce, ciphertext FROM secrets WHERE function = ?1
                 UNION ALL SELECT 'a', digest, NULL, NULL, NULL FROM functions
                     WHERE ?2 AND name = ?1 AND kind = 'activity' AND active = 1",
            )?;
            let mut read = stmt.query(params![function, active])?;
            while let Some(r) = read.next()? {
                let kind: String = r.get(0)?;
                if kind == "v" {
                    version = r.get(1)?;
                } else {
                    rows.push((kind, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?));
                }
            }
            Ok(Found::Rows(version, rows))
        })?;
        match found {
            Found::Kept(setup) => Ok(setup),
            Found::Rows(version, rows) => {
                let setup = holdings_from_rows(rows)?;
                setups.put(function, active, version, &setup);
                Ok(setup)
            }
        }
    }

    /// Every grant, as `(function, pattern)`, ordered.
    pub(crate) async fn all_grants(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT function, pattern FROM grants ORDER BY function, pattern")
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }
}

/// A row of the capability query both backends run: kind (`g` grant, `c` configuration, `s` secret,
/// `a` active module), name, and the text and blobs the kind has (secrets' nonce and ciphertext are
/// blobs; the other rows leave them NULL).
pub(crate) type HoldingRow = (
    String,
    String,
    Option<String>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

/// The active module digest and the holdings those rows describe, grants in byte order.
pub(crate) fn holdings_from_rows(
    rows: impl IntoIterator<Item = HoldingRow>,
) -> Result<(Option<String>, Holdings)> {
    let mut held = Holdings::default();
    let mut digest = None;
    for (kind, name, text, nonce, ciphertext) in rows {
        match (kind.as_str(), text, nonce, ciphertext) {
            ("g", ..) => held.grants.push(name),
            ("c", Some(value), ..) => {
                held.config.insert(name, value);
            }
            ("a", ..) => digest = Some(name),
            ("s", Some(key_id), Some(nonce), Some(ciphertext)) => {
                held.secrets.insert(
                    name,
                    Sealed {
                        key_id,
                        nonce,
                        ciphertext,
                    },
                );
            }
            (kind, ..) => {
                return Err(Error::Corrupt {
                    what: "capabilities",
                    message: format!("row of kind {kind:?} for {name:?} has NULL columns"),
                });
            }
        }
    }
    held.grants.sort();
    Ok((digest, held))
}

/// The SQL of one change, inside the writer's savepoint.
pub(super) fn apply(conn: &Connection, change: &CapabilityChange, now: u64) -> Result<bool> {
    let now = to_i64(now);
    let affected = match change {
        CapabilityChange::Grant { function, pattern } => {
            execute(
                conn,
                "INSERT INTO grants (function, pattern, created_at) VALUES (?, ?, ?)
                 ON CONFLICT(function, pattern) DO NOTHING",
                params![function, pattern, now],
            )?;
            1
        }
        CapabilityChange::Revoke { function, pattern } => execute(
            conn,
            "DELETE FROM grants WHERE function = ? AND pattern = ?",
            params![function, pattern],
        )?,
        CapabilityChange::SetConfig {
            function,
            key,
            value,
        } => {
            set_config(conn, function, key, value, now)?;
            1
        }
        CapabilityChange::UnsetConfig { function, key } => execute(
            conn,
            "DELETE FROM function_config WHERE function = ? AND key = ?",
            params![function, key],
        )?,
        CapabilityChange::SetSecret {
            function,
            name,
            sealed,
        } => {
            set_secret(conn, function, name, sealed, now)?;
            1
        }
        CapabilityChange::UnsetSecret { function, name } => execute(
            conn,
            "DELETE FROM secrets WHERE function = ? AND name = ?",
            params![function, name],
        )?,
        CapabilityChange::Replace {
            function,
            grants,
            config,
            secrets,
        } => {
            execute(conn, "DELETE FROM grants WHERE function = ?", [function])?;
            execute(
                conn,
                "DELETE FROM function_config WHERE function = ?",
                [function],
            )?;
            for pattern in grants {
                execute(
                    conn,
                    "INSERT INTO grants (function, pattern, created_at) VALUES (?, ?, ?)
                     ON CONFLICT(function, pattern) DO NOTHING",
                    params![function, pattern, now],
                )?;
            }
            for (key, value) in config {
                set_config(conn, function, key, value, now)?;
            }
            for (name, sealed) in secrets {
                set_secret(conn, function, name, sealed, now)?;
            }
            1
        }
    };
    Ok(affected > 0)
}

fn set_config(conn: &Connection, function: &str, key: &str, value: &str, now: i64) -> Result<()> {
    execute(
        conn,
        "INSERT INTO function_config (function, key, value, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(function, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        params![function, key, value, now],
    )?;
    Ok(())
}

fn set_secret(
    conn: &Connection,
    function: &str,
    name: &str,
    sealed: &Sealed,
    now: i64,
) -> Result<()> {
    execute(
        conn,
        "INSERT INTO secrets (function, name, key_id, nonce, ciphertext, updated_at)
         VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(function, name) DO UPDATE SET key_id = excluded.key_id, nonce = excluded.nonce,
             ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
        params![
            function,
            name,
            sealed.key_id,
            sealed.nonce,
            sealed.ciphertext,
            now
        ],
    )?;
    Ok(())
}
