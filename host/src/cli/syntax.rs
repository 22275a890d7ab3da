//! A syntax check of a Python or JavaScript module's sources, run when its componentizer failed. The
//! componentizers report a syntax error at length (componentize-py: some 70 lines with a Rust
//! backtrace, the cause in the middle); the language's own parser says it in two lines:
//! `app.py:3:7: SyntaxError: '(' was never closed` and the line itself. Run only after a failure,
//! so that a newer syntax the componentizer's interpreter accepts and the system's does not is never
//! refused.
//!
//! It checks the module directory's own source files (not its subdirectories), with `python3`'s
//! `compile` (nothing is written: no `__pycache__`) and `node --check` as an ES module.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::build::Error;

/// Compiles each file given and prints `file:line:column: Kind: message` and the offending line for
/// each syntax error; exits 1 if there was one.
const PYTHON_CHECK: &str = r#"
import sys
bad = False
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as f:
            compile(f.read(), path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        bad = True
        if isinstance(e, SyntaxError):
            print(f"{path}:{e.lineno}:{e.offset or 0}: {type(e).__name__}: {e.msg}")
            if e.text and e.text.strip():
                print("    " + e.text.rstrip())
        else:
            print(f"{path}: {e}")
sys.exit(1 if bad else 0)
"#;

/// The directory's files ending in one of `extensions`, sorted.
fn sources(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        action: "read the directory",
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| extensions.contains(&e))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The Python files of `dir` parse, or [`Error::Syntax`] with Python's own report.
pub(crate) fn check_python(dir: &Path) -> Result<(), Error> {
    let files = sources(dir, &["py"])?;
    if files.is_empty() {
        return Ok(());
    }
    let output = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_CHECK)
        .args(&files)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Io {
            action: "run",
            path: PathBuf::from("python3"),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut report = String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned();
    if report.is_empty() {
        // The check itself failed (not a syntax error): show what Python said.
        report = String::from_utf8_lossy(&output.stderr)
            .trim_end()
            .to_owned();
    }
    Err(Error::Syntax {
        language: "Python",
        report,
    })
}

/// The JavaScript files of `dir` parse as ES modules, or [`Error::Syntax`] with node's report
/// shortened to `file:line: Kind: message` and the offending line.
pub(crate) fn check_javascript(dir: &Path) -> Result<(), Error> {
    let mut reports = Vec::new();
    for file in sources(dir, &["js", "mjs"])? {
        let source = std::fs::File::open(&file).map_err(|source| Error::Io {
            action: "read",
            path: file.clone(),
            source,
        })?;
        // Read from stdin so that node parses it as a module whatever package.json says.
        let output = Command::new("node")
            .args(["--input-type=module", "--check"])
            .stdin(source)
            .output()
            .map_err(|source| Error::Io {
                action: "run",
                path: PathBuf::from("node"),
                source,
            })?;
        if !output.status.success() {
            reports.push(node_report(&file, &String::from_utf8_lossy(&output.stderr)));
        }
    }
    if reports.is_empty() {
        return Ok(());
    }
    Err(Error::Syntax {
        language: "JavaScript",
        report: reports.join("\n"),
    })
}

/// `node --check`'s stderr (`[stdin]:LINE`, the line, a caret, blank lines, `SyntaxError: …`, a
/// stack) as `file:LINE: SyntaxError: …` and the offending line.
fn node_report(file: &Path, stderr: &str) -> String {
    let mut lines = stderr.lines();
    let line = lines
        .next()
        .and_then(|first| first.rsplit_once(':'))
        .map(|(_, n)| n.trim().to_owned())
        .unwrap_or_default();
    let rest: Vec<&str> = lines.collect();
    let code = rest.first().filter(|l| !l.trim().is_empty());
    let message = rest
        .iter()
        .find(|l| {
            l.split_once(": ")
                .is_some_and(|(kind, _)| kind.ends_with("Error") && !kind.contains(' '))
        })
        .copied()
        .unwrap_or("node could not parse it");
    let mut report = format!("{}:{line}: {message}", file.display());
    if let Some(code) = code {
        report.push_str(&format!("\n    {}", code.trim_end()));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(name: &str, text: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), text).unwrap();
        dir
    }

    #[test]
    fn a_python_syntax_error_is_reported_in_two_lines_with_file_and_line() {
        let dir = dir_with("app.py", "import json\n\ndef run(x:\n    return x\n");
        let Err(Error::Syntax { language, report }) = check_python(dir.path()) else {
            panic!("a syntax error must be reported");
        };
        assert_eq!(language, "Python");
        let file = dir.path().join("app.py");
        assert!(
            report.starts_with(&format!("{}:3:", file.display())),
            "{report}"
        );
        assert!(report.contains("SyntaxError"), "{report}");
        assert!(report.contains("def run(x:"), "{report}");
        assert!(report.lines().count() <= 2, "{report}");
        assert!(!dir.path().join("__pycache__").exists());
    }

    #[test]
    fn valid_python_passes() {
        let dir = dir_with("app.py", "def run(x):\n    return x\n");
        check_python(dir.path()).unwrap();
    }

    #[test]
    fn a_javascript_syntax_error_is_reported_with_file_and_line() {
        let dir = dir_with(
            "app.js",
            "import { orchestrator } from \"@keel/sdk\";\n\nexport function run(x {\n  return x;\n}\n",
        );
        let Err(Error::Syntax { language, report }) = check_javascript(dir.path()) else {
            panic!("a syntax error must be reported");
        };
        assert_eq!(language, "JavaScript");
        let file = dir.path().join("app.js");
        assert!(
            report.starts_with(&format!("{}:3: SyntaxError: ", file.display())),
            "{report}"
        );
        assert!(report.contains("export function run(x {"), "{report}");
        assert!(report.lines().count() <= 2, "{report}");
    }

    #[test]
    fn valid_javascript_modules_pass() {
        let dir = dir_with(
            "app.js",
            "import { orchestrator } from \"@keel/sdk\";\nexport const run = (x) => x;\n",
        );
        check_javascript(dir.path()).unwrap();
    }
}
