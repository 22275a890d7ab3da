//! Capabilities of functions: the origins an activity may send HTTP requests to (grants), its
//! configuration values and its secrets, all changeable without a redeploy and read again by every
//! attempt. Orchestrators hold none of them, except that grants and secrets named after an
//! orchestrator apply to the durable HTTP calls (`keel.http`) it schedules.
//!
//! This module validates names and values, seals secrets and enforces grants at `send_request`; it
//! never lets a secret's value reach a log line, an error message or a stored row in clear.

pub mod grant;
pub mod granted;
pub mod outgoing;
pub mod redact;
pub mod secret;

use std::path::PathBuf;

pub use grant::GrantPattern;
pub use secret::{KeySource, Sealed, SecretKey};

/// Longest configuration value or secret, in bytes.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// Most configuration values plus secrets one function may hold.
pub const MAX_ENTRIES: usize = 256;
/// Longest configuration key or secret name.
pub const MAX_NAME_LEN: usize = 128;
/// Longest function name a capability can be given to.
pub const MAX_FUNCTION_LEN: usize = 256;
/// Names starting with this are Keel's own (built-in activities such as `keel.http`).
pub const RESERVED_FUNCTION_PREFIX: &str = "keel.";

/// Errors of capability commands, each with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A grant pattern that does not parse.
    #[error(
        "[KEEL-C1] {pattern:?} is not a grant pattern: {reason}. Write scheme://host[:port], e.g. \
         http://127.0.0.1:8080 or 'https://*.example.com'"
    )]
    BadGrant {
        /// The pattern as given.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configuration key, secret name or function name that is not allowed.
    #[error("[KEEL-C2] {what} {name:?} is not allowed: {reason}")]
    BadName {
        /// What kind of name.
        what: &'static str,
        /// The name as given.
        name: String,
        /// Why not.
        reason: String,
    },
    /// A value over the size limit, or too many entries.
    #[error("[KEEL-C3] {what} is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Which value.
        what: String,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Too many configuration values and secrets for one function.
    #[error(
        "[KEEL-C3] {function} would hold {count} configuration values and secrets; the limit is {limit}"
    )]
    TooMany {
        /// The function.
        function: String,
        /// How many it would hold.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// The secret key is malformed or unreadable.
    #[error("[KEEL-C4] {0}")]
    BadKey(String),
    /// The secret key file does not exist.
    #[error(
        "[KEEL-C4] the secret key file {} does not exist: point --secret-key-file (or \
         KEEL_SECRET_KEY_FILE, or secret-key-file in keel.toml) at the key the secrets were \
         stored with, or set KEEL_SECRET_KEY",
        .0.display()
    )]
    KeyMissing(PathBuf),
    /// A stored secret does not open with the key in use.
    #[error("[KEEL-C4] secret {name} of {function} cannot be opened: {reason}")]
    SecretUnopenable {
        /// The function.
        function: String,
        /// The secret's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// Revoking or unsetting something the function does not hold.
    #[error("[KEEL-C5] {function} holds no {what} {name}{held}")]
    NotHeld {
        /// The function.
        function: String,
        /// Grant, configuration value or secret.
        what: &'static str,
        /// What was asked for.
        name: String,
        /// What it does hold, as " (it holds: …)".
        held: String,
    },
}

/// What a function holds, as stored (secrets still sealed): a row type of the store's.
pub use keel_store::Holdings;

/// Checks a function name capabilities are given to.
pub fn check_function(name: &str) -> Result<(), Error> {
    let bad = |reason: &str| Error::BadName {
        what: "function name",
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_FUNCTION_LEN {
        return Err(bad(&format!("it is longer than {MAX_FUNCTION_LEN} bytes")));
    }
    if name.chars().any(char::is_control) || name.contains('@') {
        return Err(bad(
            "it holds a control character or '@' (grants are per function, not per version)",
        ));
    }
    Ok(())
}

/// Checks a configuration key or secret name: it becomes an environment variable of the attempt.
pub fn check_key(what: &'static str, name: &str) -> Result<(), Error> {
    let bad = |reason: &str| Error::BadName {
        what,
        name: name.to_owned(),
        reason: reason.to_owned(),
    };
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(bad(
            "it becomes an environment variable, so it must be letters, digits and '_', not starting with a digit",
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(bad(&format!("it is longer than {MAX_NAME_LEN} bytes")));
    }
    if name.to_ascii_uppercase().starts_with("KEEL_") {
        return Err(bad(
            "names starting with KEEL_ are Keel's own (KEEL_INSTANCE_ID, KEEL_ATTEMPT, ...)",
        ));
    }
    Ok(())
}

/// Checks a configuration value or secret against the size limit.
pub fn check_value(what: String, value: &[u8]) -> Result<(), Error> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::TooLarge {
            what,
            size: value.len(),
            limit: MAX_VALUE_BYTES,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_be_environment_variable_names_outside_keel_own() {
        for good in ["PAYMENT_URL", "_x", "a1"] {
            check_key("configuration key", good).unwrap();
        }
        for bad in [
            "",
            "1A",
            "A-B",
            "A B",
            "KEEL_ATTEMPT",
            "keel_x",
            &"A".repeat(129),
        ] {
            let err = check_key("configuration key", bad).unwrap_err().to_string();
            assert!(err.starts_with("[KEEL-C2]"), "{bad}: {err}");
        }
    }

    #[test]
    fn values_over_the_limit_are_refused() {
        check_value("x".into(), &[0; MAX_VALUE_BYTES]).unwrap();
        let err = check_value("configuration value A".into(), &[0; MAX_VALUE_BYTES + 1])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("[KEEL-C3]"), "{err}");
    }

    #[test]
    fn function_names_are_checked() {
        check_function("VerifyPayment").unwrap();
        assert!(check_function("").is_err());
        assert!(check_function("Pay@^2").is_err());
        assert!(check_function("a\nb").is_err());
    }
}
