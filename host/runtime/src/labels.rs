//! Version labels and versioned names: a label read as a semantic version, and an activity call's
//! name split from its version range. Pure functions, shared by the registry (the next default label)
//! and the engine (which module a call runs on).

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
