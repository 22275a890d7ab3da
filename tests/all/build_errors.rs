//! `keel build` of a module that does not compile says why in a few lines: a Python or JavaScript
//! syntax error is reported with the file, the line and the message, not the componentizer's dozens
//! of lines. Rust and C report through cargo and clang, which are concise already.

use keel::cli::build::Lang;

use crate::languages::scaffold::{keel, ok};

/// A skeleton of `lang` with a syntax error appended to its entry file: `keel build` fails with the
/// language's own two-line report (file, line, message, the line itself) instead of the
/// componentizer's dozens of lines.
fn a_syntax_error_is_reported_briefly(lang: Lang, entry: &str, broken: &str) {
    let work = tempfile::tempdir().expect("temporary directory");
    ok(
        keel(work.path()).args(["new", "--lang", lang.as_str(), "broken"]),
        "keel new",
    );
    let module = work.path().join("broken");
    let app = module.join(entry);
    let mut text = std::fs::read_to_string(&app).expect("the skeleton's entry file");
    let line = text.lines().count() + 1;
    text.push_str(broken);
    text.push('\n');
    std::fs::write(&app, text).unwrap();

    let output = keel(&module)
        .arg("build")
        .output()
        .expect("running keel build");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{lang}: the build passed");
    // The step being run is named first (`keel build [1/1] componentize-…`), then the error.
    let (steps, lines): (Vec<&str>, Vec<&str>) =
        stderr.lines().partition(|l| l.starts_with("keel build ["));
    assert!(!steps.is_empty(), "{stderr}");
    assert!(
        stderr.starts_with(steps[0]),
        "the step is not named first:\n{stderr}"
    );
    let language = if lang == Lang::Python {
        "Python"
    } else {
        "JavaScript"
    };
    assert_eq!(
        lines.first().copied(),
        Some(format!("error: the {language} source does not parse:").as_str()),
        "{stderr}"
    );
    assert!(
        lines.get(1).is_some_and(
            |l| l.contains(&format!("{}:{line}", app.display())) && l.contains("SyntaxError")
        ),
        "{lang}: the report does not name {entry}:{line}:\n{stderr}"
    );
    assert!(lines.len() <= 4, "{lang}: {} lines:\n{stderr}", lines.len());
}

#[test]
fn a_python_syntax_error_is_reported_in_two_lines() {
    a_syntax_error_is_reported_briefly(Lang::Python, "app.py", "def broken(x:");
}

#[test]
fn a_javascript_syntax_error_is_reported_in_two_lines() {
    a_syntax_error_is_reported_briefly(Lang::JavaScript, "app.js", "export function broken(x {");
}
