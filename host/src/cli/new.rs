//! `keel new`: writes a ready-to-build module skeleton — one orchestrator (`Hello`), one activity
//! (`Greet`), an activity making one HTTP call (`Fetch`), two test-kit scenarios (`scenarios/`), a
//! five-line README — in Rust, Python, JavaScript or C, into a new directory.
//! It must never overwrite anything: an existing non-empty directory is an error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use super::build::{self, Lang};

/// The input the skeleton's README and `keel new`'s hint run the orchestrator with.
pub const SAMPLE_INPUT: &str = r#"{"name":"Keel"}"#;

/// The skeleton's orchestrator.
pub const ORCHESTRATOR: &str = "Hello";

/// Why no skeleton was written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The name cannot be a directory and crate name.
    #[error(
        "{0:?} is not a valid module name: use letters, digits, '-' and '_', starting with a letter"
    )]
    InvalidName(String),
    /// The target directory exists and is not empty.
    #[error("{} already exists and is not empty", .0.display())]
    Exists(PathBuf),
    /// The SDKs were not found.
    #[error(transparent)]
    Sdk(#[from] build::Error),
    /// Writing a file failed.
    #[error("could not write {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// `keel new` flags.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The module's language.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The module's name; the skeleton is written to ./NAME.
    pub name: String,
    /// A Keel checkout holding sdk/ (default: the one this binary was built from); the Rust skeleton
    /// depends on its sdk/rust by path.
    #[arg(long, env = "KEEL_SDK_DIR")]
    pub sdk: Option<PathBuf>,
}

/// One file of a skeleton: its path in the module and its template.
type Template = (&'static str, &'static str);

const RUST: &[Template] = &[
    ("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
    ("src/lib.rs", include_str!("templates/rust/src/lib.rs")),
];
const PYTHON: &[Template] = &[
    ("app.py", include_str!("templates/python/app.py")),
    (
        "pyrightconfig.json",
        include_str!("templates/python/pyrightconfig.json"),
    ),
];
const JAVASCRIPT: &[Template] = &[
    ("app.js", include_str!("templates/javascript/app.js")),
    (
        "package.json",
        include_str!("templates/javascript/package.json"),
    ),
    (
        "jsconfig.json",
        include_str!("templates/javascript/jsconfig.json"),
    ),
];
const C: &[Template] = &[
    ("module.c", include_str!("templates/c/module.c")),
    (
        "compile_flags.txt",
        include_str!("templates/c/compile_flags.txt"),
    ),
];

/// The test-kit scenarios every skeleton gets, whatever its language.
const SCENARIOS: &[Template] = &[
    (
        "scenarios/hello.json",
        include_str!("templates/scenarios/hello.json"),
    ),
    (
        "scenarios/hello-mocked.json",
        include_str!("templates/scenarios/hello-mocked.json"),
    ),
];

const GITIGNORE: &str = "/target\n*.wasm\n*.db\n*.db-*\n";

/// Writes the skeleton of a `lang` module called `name` into `dir` (created; must be absent or
/// empty), with the Rust skeleton depending on the SDK in the checkout `sdk_root`.
pub fn write(dir: &Path, name: &str, lang: Lang, sdk_root: &Path) -> Result<(), Error> {
    validate(name)?;
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Error::Exists(dir.to_path_buf()));
    }
    let templates = match lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
        Lang::JavaScript => JAVASCRIPT,
        Lang::C => C,
    };
    // Relative when it can be, so that a team can commit the skeleton beside its Keel checkout.
    let sdk = relative_to(&absolute(dir), &absolute(sdk_root))
        .to_string_lossy()
        .replace('\\', "/");
    for (path, template) in templates.iter().chain(SCENARIOS) {
        let text = template.replace("{{name}}", name).replace("{{sdk}}", &sdk);
        write_file(&dir.join(path), &text)?;
    }
    write_file(&dir.join("README.md"), &readme(name, lang))?;
    write_file(&dir.join(".gitignore"), GITIGNORE)?;
    if lang == Lang::Rust {
        // The checkout's lock file pins the SDK's dependencies to the versions Keel is tested with
        // (cargo drops the entries the module does not use).
        let lock = sdk_root.join("Cargo.lock");
        if let Ok(text) = std::fs::read_to_string(&lock) {
            write_file(&dir.join("Cargo.lock"), &text)?;
        }
    }
    Ok(())
}

/// `path` made absolute against the current directory, `.` and `..` resolved by name.
fn absolute(path: &Path) -> PathBuf {
    let joined = std::env::current_dir().map_or_else(|_| path.to_path_buf(), |cwd| cwd.join(path));
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `to` as a path relative to the directory `from` (both absolute), or `to` itself when they share
/// nothing but the root.
fn relative_to(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to_parts: Vec<_> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    // Sharing only the root (`/`), the absolute path says more than a climb to it.
    if common <= 1 {
        return to.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for part in &to_parts[common..] {
        out.push(part);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn validate(name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_owned()))
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, text).map_err(io)
}

/// The five-line README: what it is, how to build, run and test it, how its HTTP call is allowed.
fn readme(name: &str, lang: Lang) -> String {
    format!(
        "# {name}: a Keel module in {lang}, with the orchestrator `{ORCHESTRATOR}` and the activity `Greet`\n\
         Build: `keel build` (writes `{name}.wasm`)\n\
         Run: `keel run {name}.wasm --orchestrator {ORCHESTRATOR} --input '{SAMPLE_INPUT}'`\n\
         Test: `keel test scenarios/*.json` (after `keel build`; the scenario format is in Keel's README)\n\
         HTTP: the activity `Fetch` GETs `$URL` once granted: `keel grant Fetch https://example.com` and \
         `keel config set Fetch URL=https://example.com/`\n"
    )
}

/// Runs `keel new`.
pub fn run(args: NewArgs) -> Result<ExitCode> {
    let sdk_root = build::sdk_root(args.sdk)?;
    let dir = PathBuf::from(&args.name);
    write(&dir, &args.name, args.lang, &sdk_root)?;
    eprintln!(
        "wrote the {} module {name} into ./{name}; next:\n  cd {name} && keel build && keel run {name}.wasm --orchestrator {ORCHESTRATOR} --input '{SAMPLE_INPUT}'",
        args.lang,
        name = args.name
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_is_named_relative_to_the_module_when_they_share_a_root() {
        assert_eq!(
            relative_to(Path::new("/work/team/greeter"), Path::new("/work/keel")),
            Path::new("../../keel")
        );
        assert_eq!(
            relative_to(Path::new("/work/keel/greeter"), Path::new("/work/keel")),
            Path::new("..")
        );
        assert_eq!(
            relative_to(Path::new("/tmp/greeter"), Path::new("/work/keel")),
            Path::new("/work/keel")
        );
        assert_eq!(absolute(Path::new("/a/./b/../c")), Path::new("/a/c"));
    }

    #[test]
    fn names_must_make_a_directory_and_a_crate() {
        for good in ["greeter", "order-flow", "a_1"] {
            assert!(validate(good).is_ok(), "{good}");
        }
        for bad in ["", "1st", "../x", "a b", "-x"] {
            assert!(matches!(validate(bad), Err(Error::InvalidName(_))), "{bad}");
        }
    }

    #[test]
    fn every_skeleton_is_written_and_nothing_is_overwritten() {
        let work = tempfile::tempdir().expect("temporary directory");
        for lang in Lang::ALL {
            let dir = work.path().join(lang.as_str());
            write(&dir, "greeter", lang, Path::new("/keel")).unwrap();
            assert!(dir.join("README.md").is_file(), "{lang}");
            assert_eq!(build::detect(&dir).unwrap(), lang);
            assert!(matches!(
                write(&dir, "greeter", lang, Path::new("/keel")),
                Err(Error::Exists(_))
            ));
        }
        let cargo = std::fs::read_to_string(work.path().join("rust/Cargo.toml")).unwrap();
        assert!(
            cargo.contains(r#"keel-sdk = { path = "/keel/sdk/rust" }"#),
            "{cargo}"
        );
        assert!(cargo.contains("name = \"greeter\""), "{cargo}");
    }
}
