//! The runtime half of [`module!`](crate::module): decoding inputs, calling the registered function,
//! encoding its output and describing the module. Public only so that the macro's expansion in the
//! user's crate can reach it; it must never be used directly, and must never panic on host input.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::keel::workflow::types as wit;
use crate::context::{Context, truncate};
use crate::failure::Failure;

/// The WIT failure type the exported `run` functions return.
pub type WitFailure = wit::Failure;

/// The WIT manifest entry type `describe` returns.
pub type FunctionInfo = wit::FunctionInfo;

/// Runs the orchestrator `f`, registered as `name`, on the JSON text `input`.
pub fn run_orchestrator<I, O, F>(name: &str, input: &str, f: F) -> Result<String, WitFailure>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(&Context, I) -> Result<O, Failure>,
{
    crate::queries::clear();
    crate::updates::clear();
    let context = Context::new();
    run(name, input, |input| f(&context, input)).map_err(Failure::into_wit)
}

/// Runs one attempt of the activity `f`, registered as `name`, on the JSON text `input`.
pub fn run_activity<I, O, F>(name: &str, input: &str, f: F) -> Result<String, WitFailure>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnOnce(I) -> Result<O, Failure>,
{
    run(name, input, f).map_err(Failure::into_wit)
}

/// The failure for a call to a name this module did not register.
pub fn unknown_function(kind: &str, name: &str) -> WitFailure {
    Failure::new(
        Failure::UNKNOWN_FUNCTION,
        format!("this module exports no {kind} named {name:?}"),
    )
    .into_wit()
}

/// The manifest: every registered orchestrator and activity name with its kind.
pub fn describe(orchestrators: &[&str], activities: &[&str]) -> Vec<FunctionInfo> {
    let orchestrators = orchestrators.iter().map(|name| FunctionInfo {
        name: (*name).to_owned(),
        kind: wit::FunctionKind::Orchestrator,
    });
    let activities = activities.iter().map(|name| FunctionInfo {
        name: (*name).to_owned(),
        kind: wit::FunctionKind::Activity,
    });
    orchestrators.chain(activities).collect()
}

fn run<I: DeserializeOwned, O: Serialize>(
    name: &str,
    input: &str,
    f: impl FnOnce(I) -> Result<O, Failure>,
) -> Result<String, Failure> {
    let input = decode_input(name, input)?;
    let output = f(input)?;
    serde_json::to_string(&output).map_err(|error| {
        Failure::invalid_output(format!(
            "the output of {name} cannot be serialised to JSON: {error}"
        ))
    })
}

fn decode_input<I: DeserializeOwned>(name: &str, input: &str) -> Result<I, Failure> {
    // An absent input reaches a function as empty text from some clients; reading it as `null` lets
    // functions that take `()` or `Option<_>` accept it.
    let text = if input.trim().is_empty() {
        "null"
    } else {
        input
    };
    serde_json::from_str(text).map_err(|error| {
        Failure::invalid_input(format!(
            "the input of {name} is not valid: {error} (input: {})",
            truncate(input)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double(n: u64) -> Result<u64, Failure> {
        Ok(n * 2)
    }

    #[test]
    fn activities_round_trip_json() {
        assert_eq!(
            run_activity("Double", "21", double).ok(),
            Some("42".to_owned())
        );
    }

    #[test]
    fn bad_input_is_invalid_input() {
        let failure = run_activity("Double", "\"x\"", double).err();
        assert_eq!(
            failure.map(|f| f.kind),
            Some(Failure::INVALID_INPUT.to_owned())
        );
    }

    #[test]
    fn empty_input_reads_as_null() {
        let unit = run_activity("Unit", " ", |(): ()| Ok("done"));
        assert_eq!(unit.ok(), Some("\"done\"".to_owned()));
    }

    #[test]
    fn activity_failures_pass_through() {
        let failure = run_activity("Fails", "null", |(): ()| -> Result<(), Failure> {
            Err(Failure::new("Boom", "deliberate"))
        });
        assert_eq!(
            failure.err().map(|f| (f.kind, f.message)),
            Some(("Boom".into(), "deliberate".into()))
        );
    }

    #[test]
    fn unknown_names_are_named() {
        let failure = unknown_function("activity", "Nope");
        assert_eq!(failure.kind, Failure::UNKNOWN_FUNCTION);
        assert!(failure.message.contains("Nope"));
    }

    #[test]
    fn describe_lists_every_name_with_its_kind() {
        let manifest = describe(&["A"], &["B", "C"]);
        let names: Vec<_> = manifest.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["A", "B", "C"]);
        assert!(matches!(manifest[0].kind, wit::FunctionKind::Orchestrator));
        assert!(matches!(manifest[2].kind, wit::FunctionKind::Activity));
    }
}
