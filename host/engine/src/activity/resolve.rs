//! Which module an activity call runs on: the function's active version, or for `name@range` the
//! active version if it matches, else the highest matching label.

use keel_runtime::labels::{label_version, split_versioned};

use crate::history::Failure;
use crate::store::{FunctionRow, Store};

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
