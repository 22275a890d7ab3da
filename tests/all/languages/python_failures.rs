//! What only the Python SDK has: an uncaught Python exception becomes the orchestrator's failure,
//! with the exception's class name as the kind and the traceback in the details.

use keel::cli::build::Lang;
use keel::store::Status;

use super::{engine_for, run};

#[tokio::test(flavor = "multi_thread")]
async fn python_exceptions_become_failures_with_a_traceback() {
    let t = engine_for(Lang::Python, "determinism").await;
    let (instance, _) = run(&t, "Fails", "null", "fails").await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.expect("a failure");
    assert_eq!(
        (failure.kind.as_str(), failure.message.as_str()),
        ("ZeroDivisionError", "division by zero")
    );
    let traceback = failure.details.expect("details")["traceback"].clone();
    assert!(
        // Source lines are not in the component; the frames and the exception are.
        traceback
            .as_str()
            .is_some_and(|t| t.contains("in Fails") && t.contains("ZeroDivisionError")),
        "{traceback}"
    );
    // `keel status` says where: the innermost frame, not only under `--json`.
    let out = crate::cli::keel(&t.db(), &["status", "fails"]);
    let shown = crate::cli::text(&out.stdout);
    let raised = shown
        .lines()
        .find(|l| l.starts_with("raised at "))
        .unwrap_or_else(|| panic!("no `raised at` line:\n{shown}"));
    assert!(
        raised.contains(".py:") && raised.ends_with(" in Fails"),
        "{raised}"
    );
}
