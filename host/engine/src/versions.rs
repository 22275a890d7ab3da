//! Versions of deployed functions: which module an activity call runs on (the active version, or the
//! best match of a version range such as `VerifyPayment@^2`), the versions of one function, and the
//! garbage collection of modules nothing uses any more.

use serde::Serialize;

use crate::activity::resolve::resolve_activity;
use crate::engine::{Keel, Result};
use crate::store::ModuleRow;

pub use keel_runtime::labels::{label_version, split_versioned};

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
