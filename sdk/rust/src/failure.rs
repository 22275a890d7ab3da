//! `Failure`: why an orchestrator, an activity or a task did not succeed, as guest code sees it.
//! It must never lose the kind, message or details it carries when it crosses the WIT boundary.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::bindings::keel::workflow::types as wit;

/// Why something did not succeed: a machine-readable `kind`, a human-readable `message` and optional
/// structured `details`.
///
/// Returning `Err(Failure)` from an activity fails that attempt (and, once its retries are exhausted,
/// the orchestrator's task); returning it from an orchestrator fails the instance. Awaiting a task
/// that failed gives the `Failure` back, so orchestrators can match on `kind`.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// A short machine-readable classification, e.g. `"PaymentDeclined"`.
    pub kind: String,
    /// A human-readable explanation.
    pub message: String,
    /// Optional structured details.
    pub details: Option<Value>,
}

impl Failure {
    /// The kind the SDK gives an input that does not deserialise into the function's input type.
    pub const INVALID_INPUT: &'static str = "InvalidInput";
    /// The kind the SDK gives an output that does not (de)serialise as the caller expects.
    pub const INVALID_OUTPUT: &'static str = "InvalidOutput";
    /// The kind the SDK gives a call to a name the module did not register.
    pub const UNKNOWN_FUNCTION: &'static str = "UnknownFunction";

    /// A failure of `kind` with `message` and no details.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
            details: None,
        }
    }

    /// Attaches structured details, serialised to JSON.
    ///
    /// Details that cannot be serialised are replaced by a string saying why, rather than lost or
    /// turned into a panic: a failure path must not fail itself.
    #[must_use]
    pub fn with_details<D: Serialize + ?Sized>(mut self, details: &D) -> Self {
        self.details = Some(serde_json::to_value(details).unwrap_or_else(|error| {
            Value::String(format!("details could not be serialised: {error}"))
        }));
        self
    }

    /// True if this failure's kind is `kind`.
    pub fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(Self::INVALID_INPUT, message)
    }

    pub(crate) fn invalid_output(message: impl Into<String>) -> Self {
        Self::new(Self::INVALID_OUTPUT, message)
    }

    pub(crate) fn into_wit(self) -> wit::Failure {
        wit::Failure {
            kind: self.kind,
            message: self.message,
            details: self.details.map(|details| details.to_string()),
        }
    }

    pub(crate) fn from_wit(failure: wit::Failure) -> Self {
        Self {
            kind: failure.kind,
            message: failure.message,
            // Details that are not JSON (a host or another language's SDK may send plain text) are
            // kept as a string instead of being dropped.
            details: failure
                .details
                .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text))),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Failure {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_survive_the_wit_round_trip() {
        let failure =
            Failure::new("Boom", "it broke").with_details(&serde_json::json!({"a": [1, 2]}));
        let back = Failure::from_wit(failure.clone().into_wit());
        assert_eq!(back, failure);
    }

    #[test]
    fn non_json_details_are_kept_as_text() {
        let failure = Failure::from_wit(wit::Failure {
            kind: "K".into(),
            message: "m".into(),
            details: Some("not json".into()),
        });
        assert_eq!(failure.details, Some(Value::String("not json".into())));
    }

    #[test]
    fn display_shows_kind_and_message() {
        assert_eq!(
            Failure::new("Timeout", "too slow").to_string(),
            "Timeout: too slow"
        );
    }
}
