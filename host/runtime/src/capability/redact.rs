//! Redaction of secret values from what an attempt hands back to the host: its log lines, its
//! failure, its output, and the responses of durable HTTP calls.
//!
//! A guest that is given a secret could print or return it; this keeps the value out of history,
//! logs and traces anyway. It never sees values shorter than `MIN_LEN` bytes, which would mangle
//! ordinary text.

use std::borrow::Cow;

use serde_json::Value;

/// Shortest secret value that is redacted.
pub(crate) const MIN_LEN: usize = 4;

/// What a redacted value is replaced with.
pub(crate) const MASK: &str = "[redacted]";

/// The secret values of one attempt.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// A redactor for `values` (longest first, so that a secret containing another is masked whole).
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values.into_iter().filter(|v| v.len() >= MIN_LEN).collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self { values }
    }

    /// Whether there is anything to redact.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every secret value masked.
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = Cow::Owned(out.replace(value.as_str(), MASK));
            }
        }
        out
    }

    /// `value` with every secret value masked in its strings and object keys.
    pub fn json(&self, value: Value) -> Value {
        if self.is_empty() {
            return value;
        }
        match value {
            Value::String(s) => Value::String(self.text(&s).into_owned()),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (self.text(&k).into_owned(), self.json(v)))
                    .collect(),
            ),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_masked_in_text_and_json_but_short_ones_are_left() {
        let r = Redactor::new([
            "tok-123456".to_owned(),
            "tok-123456-long".to_owned(),
            "ab".to_owned(),
        ]);
        assert_eq!(
            r.text("auth tok-123456-long and tok-123456 ab"),
            "auth [redacted] and [redacted] ab"
        );
        assert_eq!(
            r.json(json!({"h": ["Bearer tok-123456"], "tok-123456": 1, "n": 2})),
            json!({"h": ["Bearer [redacted]"], "[redacted]": 1, "n": 2})
        );
        assert!(Redactor::new(["abc".to_owned()]).is_empty());
    }
}
