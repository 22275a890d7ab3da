//! Test fixture `keel-test-bad-manifest`: a component of the right world whose manifest traps, so
//! that a deploy of it must fail and leave the active versions as they were. It exports an activity
//! named like the versioned fixture's (`Stamp`), which a deploy must never make active. With the
//! feature `reserved-name` its manifest lists `keel.http`, a name only Keel's built-ins may have.

use keel_sdk::bindings::exports::keel::workflow::{activities, manifest, orchestrators};
use keel_sdk::dispatch::{FunctionInfo, WitFailure};

struct BadManifest;

impl orchestrators::Guest for BadManifest {
    fn run(name: String, _input: String) -> Result<String, WitFailure> {
        Err(keel_sdk::dispatch::unknown_function("orchestrator", &name))
    }
}

impl activities::Guest for BadManifest {
    fn run(_name: String, _input: String) -> Result<String, WitFailure> {
        Ok("\"from the broken module\"".to_owned())
    }
}

impl manifest::Guest for BadManifest {
    #[cfg(not(feature = "reserved-name"))]
    fn describe() -> Vec<FunctionInfo> {
        panic!("this manifest is broken on purpose")
    }

    #[cfg(feature = "reserved-name")]
    fn describe() -> Vec<FunctionInfo> {
        keel_sdk::dispatch::describe(&[], &["keel.http"])
    }
}

keel_sdk::bindings::export!(BadManifest with_types_in keel_sdk::bindings);
