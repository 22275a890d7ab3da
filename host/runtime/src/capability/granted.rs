//! What one attempt is given: the function's grants parsed, its configuration and opened secrets as
//! environment variables, and a redactor for those secrets.
//!
//! Built fresh for every attempt from the rows read at its start, so a change reaches the next
//! attempt without a restart. It never keeps a plaintext beyond the attempt.

use super::redact::Redactor;
use super::{Error, GrantPattern, Holdings, KeySource, SecretKey};

/// Failure kind of an attempt whose secrets cannot be opened (not retried: the key must be fixed).
pub const SECRET_UNAVAILABLE: &str = "SecretUnavailable";

/// The capabilities of one attempt.
#[derive(Debug, Default)]
pub struct Granted {
    /// Origins the attempt may call.
    pub patterns: Vec<GrantPattern>,
    /// Configuration values and secrets, as environment variables.
    pub env: Vec<(String, String)>,
    /// Masks the secrets in what the attempt hands back.
    pub redactor: Redactor,
}

impl Granted {
    /// Opens `held` for an attempt of `function`, with the key from `key` if there are secrets.
    pub fn open(function: &str, held: Holdings, key: &KeySource) -> Result<Self, Error> {
        let mut patterns = Vec::with_capacity(held.grants.len());
        for text in &held.grants {
            match text.parse() {
                Ok(p) => patterns.push(p),
                // Stored patterns were checked when granted; one that no longer parses grants nothing.
                Err(e) => tracing::warn!(function, error = %e, "ignoring a stored grant"),
            }
        }
        let mut env: Vec<(String, String)> = held.config.into_iter().collect();
        let mut values = Vec::new();
        if !held.secrets.is_empty() {
            let key = SecretKey::load(key)?;
            for (name, sealed) in &held.secrets {
                let plain = key.open(function, name, sealed)?;
                let value = String::from_utf8(plain).map_err(|_| Error::SecretUnopenable {
                    function: function.to_owned(),
                    name: name.clone(),
                    reason: "its value is not UTF-8 text".to_owned(),
                })?;
                values.push(value.clone());
                env.push((name.clone(), value));
            }
        }
        Ok(Self {
            patterns,
            env,
            redactor: Redactor::new(values),
        })
    }
}
