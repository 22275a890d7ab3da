//! Versions of deployed functions: which module an activity call runs on (the active version, or the
//! best match of a version range such as `VerifyPayment@^2`), the versions of one function, and the
//! garbage collection of modules nothing uses any more.

use serde::Serialize;

use crate::engine::{Keel, Result};
use crate::history::Failure;
use crate::store::{FunctionRow, ModuleRow, Store};

/// An activity call's name split into the activity and an optional version requirement:
/// `VerifyPayment@^2` → (`VerifyPayment`, `^2`).
pub fn split_versioned(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((name, req)) if !req.is_empty() => (name, Some(req)),
        _ => (name, None),
    }
}

/// A version label read as a semantic version: `2` → 2.0.0, `2.1` → 2.1.0, `v1.2.3` → 1.2.3.
/// Labels that are not versions (`canary`) match no range.
pub fn label_version(label: &str) -> Option<semver::Version> {
    let label = label.strip_prefix('v').unwrap_or(label);
    let (core, rest) = match label.find(['-', '+']) {
        Some(at) => label.split_at(at),
        None => (label, ""),
    };
    let parts = core.split('.').count();
    let padded = match parts {
        1 => format!("{core}.0.0{rest}"),
        2 => format!("{core}.0{rest}"),
        _ => label.to_owned(),
    };
    semver::Version::parse(&padded).ok()
}

/// The failure of a call of an activity that no module provides.
pub(crate) fn not_deployed(name: &str) -> Failure {
    Failure::new(
        "ActivityNotFound",
        format!("no activity named {name} is deployed"),
    )
}

/// The module that runs a call of activity `called` (a name, or `name@range`): the active version
/// when it satisfies the range (or there is none), else the highest version that does.
pub(crate) async fn resolve_activity(store: &Store, called: &str) -> Result<String, Failure> {
    let (name, req) = split_versioned(called);
    let Some(req) = req else {
        return store
            .active_function(name, "activity")
            .await
            .map_err(|e| Failure::new("HostError", e.to_string()))?
            .ok_or_else(|| not_deployed(name));
    };
    let range = semver::VersionReq::parse(req).map_err(|e| {
        Failure::new(
            "InvalidVersionRange",
            format!("{called}: {req:?} is not a version range: {e}"),
        )
    })?;
    let rows = store
        .function_versions(name, "activity")
        .await
        .map_err(|e| Failure::new("HostError", e.to_string()))?;
    if rows.is_empty() {
        return Err(not_deployed(name));
    }
    // A module carrying several labels matches through the highest of them that is in the range.
    let best = |r: &FunctionRow| {
        r.labels
            .iter()
            .filter_map(|l| label_version(l))
            .filter(|v| range.matches(v))
            .max()
    };
    if let Some(active) = rows.iter().filter(|r| r.active).find(|r| best(r).is_some()) {
        return Ok(active.digest.clone());
    }
    rows.iter()
        .filter_map(|r| best(r).map(|v| (v, r)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, r)| r.digest.clone())
        .ok_or_else(|| {
            let deployed: Vec<&str> = rows
                .iter()
                .flat_map(|r| r.labels.iter().map(String::as_str))
                .collect();
            Failure::new(
                "ActivityNotFound",
                format!(
                    "no deployed version of {name} matches {req} (deployed: {})",
                    deployed.join(", ")
                ),
            )
        })
}

/// One deployed version of a function.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionVersion {
    /// Function name.
    pub name: String,
    /// `orchestrator` or `activity`.
    pub kind: String,
    /// Module digest.
    pub digest: String,
    /// The version label the module was first deployed with.
    pub version: String,
    /// Every version label of the module, oldest first.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Whether new calls and starts use it.
    pub active: bool,
    /// For an orchestrator, the instances that have not ended and are pinned to this module. None
    /// for an activity: each attempt runs on the version it resolves to then, nothing pins it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<u64>,
}

/// What a module garbage collection removed (or, for a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Collected {
    /// The modules removed.
    pub modules: Vec<ModuleRow>,
    /// Bytes of stored components freed.
    pub bytes: u64,
}

impl Keel {
    /// Every deployed version of the functions called `name`, newest first.
    pub async fn function_versions(&self, name: &str) -> Result<Vec<FunctionVersion>> {
        let pinned = self.store().pinned_counts().await?;
        let mut versions = Vec::new();
        for kind in ["orchestrator", "activity"] {
            for row in self.store().function_versions(name, kind).await? {
                versions.push(FunctionVersion {
                    pinned: (kind == "orchestrator")
                        .then(|| pinned.get(&row.digest).copied().unwrap_or(0)),
                    name: row.name,
                    kind: row.kind,
                    digest: row.digest,
                    version: row.version,
                    labels: row.labels,
                    active: row.active,
                });
            }
        }
        Ok(versions)
    }

    /// Removes the modules nothing uses: not the active version of any function, not pinned by an
    /// instance that may still run (pending, running, suspended, or failed and so rewindable), and not
    /// what a queued activity call's version range resolves to. With `dry_run`, only reports them.
    pub async fn collect_modules(&self, dry_run: bool) -> Result<Collected> {
        let store = self.store();
        let functions = store.functions().await?;
        let pinned = store.pinned_counts().await?;
        let mut keep: std::collections::HashSet<String> = functions
            .iter()
            .filter(|f| f.active)
            .map(|f| f.digest.clone())
            .collect();
        keep.extend(pinned.into_keys());
        for called in store.queued_activity_names().await? {
            if split_versioned(&called).1.is_some()
                && let Ok(digest) = resolve_activity(store, &called).await
            {
                keep.insert(digest);
            }
        }
        let unused: Vec<ModuleRow> = store
            .modules()
            .await?
            .into_iter()
            .filter(|m| !keep.contains(&m.digest))
            .collect();
        let modules = if dry_run {
            unused
        } else {
            let deleted = store
                .delete_modules(unused.iter().map(|m| m.digest.clone()).collect())
                .await?;
            for digest in &deleted {
                self.shared().registry.forget(digest);
            }
            unused
                .into_iter()
                .filter(|m| deleted.contains(&m.digest))
                .collect()
        };
        Ok(Collected {
            bytes: modules.iter().map(|m| m.size).sum(),
            modules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_versions() {
        assert_eq!(label_version("2"), Some(semver::Version::new(2, 0, 0)));
        assert_eq!(label_version("2.1"), Some(semver::Version::new(2, 1, 0)));
        assert_eq!(label_version("v1.2.3"), Some(semver::Version::new(1, 2, 3)));
        assert!(label_version("1.0-beta").is_some());
        assert_eq!(label_version("canary"), None);
    }

    #[test]
    fn names_split_at_the_version_range() {
        assert_eq!(split_versioned("Verify@^2"), ("Verify", Some("^2")));
        assert_eq!(split_versioned("Verify"), ("Verify", None));
        assert_eq!(split_versioned("Verify@"), ("Verify@", None));
    }
}
