//! What activity attempts read before they run (the function's active module, grants, configuration
//! and sealed secrets), kept by the SQLite backend between attempts with the `holdings_version` it
//! was read at. Every change to those rows moves that version on in its own transaction (triggers of
//! the `0012` migration), so an attempt checks one row, and reads everything again only when some
//! process changed something since.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::capabilities::Holdings;

/// Functions kept at most; past that the cache starts again empty.
const MAX_FUNCTIONS: usize = 4_096;

/// A function's setup: the active module's digest (when asked for) and its holdings.
pub(crate) type Setup = (Option<String>, Holdings);

/// A function's setups read without and with its active module, each with the version read at.
type Kept = [Option<(i64, Setup)>; 2];

/// Setups by function and whether the active module was asked for, with the version read at.
#[derive(Debug, Default)]
pub(crate) struct SetupCache {
    kept: Mutex<HashMap<String, Kept>>,
}

impl SetupCache {
    /// The setup of `function` kept at `version`, if any.
    pub(crate) fn get(&self, function: &str, active: bool, version: i64) -> Option<Setup> {
        let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        match kept
            .get(function)
            .and_then(|k| k[usize::from(active)].as_ref())
        {
            Some((at, setup)) if *at == version => Some(setup.clone()),
            _ => None,
        }
    }

    /// Keeps `setup` of `function`, read at `version`.
    pub(crate) fn put(&self, function: &str, active: bool, version: i64, setup: &Setup) {
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= MAX_FUNCTIONS && !kept.contains_key(function) {
            kept.clear();
        }
        kept.entry(function.to_owned()).or_default()[usize::from(active)] =
            Some((version, setup.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(grant: &str) -> Setup {
        let held = Holdings {
            grants: vec![grant.to_owned()],
            ..Holdings::default()
        };
        (Some("d1".to_owned()), held)
    }

    #[test]
    fn a_setup_is_kept_for_its_version_and_its_question_only() {
        let cache = SetupCache::default();
        assert_eq!(cache.get("Fetch", true, 1), None);
        cache.put("Fetch", true, 1, &setup("https://a.example"));
        assert_eq!(
            cache.get("Fetch", true, 1),
            Some(setup("https://a.example"))
        );
        assert_eq!(cache.get("Fetch", true, 2), None, "another version");
        assert_eq!(cache.get("Fetch", false, 1), None, "without the module");
        assert_eq!(cache.get("Other", true, 1), None);
        cache.put("Fetch", true, 2, &setup("https://b.example"));
        assert_eq!(cache.get("Fetch", true, 1), None);
        assert_eq!(
            cache.get("Fetch", true, 2),
            Some(setup("https://b.example"))
        );
    }

    #[test]
    fn past_its_bound_the_cache_starts_again() {
        let cache = SetupCache::default();
        for i in 0..MAX_FUNCTIONS {
            cache.put(&format!("f{i}"), true, 1, &setup("https://a.example"));
        }
        assert!(cache.get("f0", true, 1).is_some());
        cache.put("one more", true, 1, &setup("https://a.example"));
        assert_eq!(cache.get("f0", true, 1), None);
        assert!(cache.get("one more", true, 1).is_some());
        assert_eq!(
            cache
                .kept
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .len(),
            1
        );
    }
}
