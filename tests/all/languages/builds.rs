//! Building every language's guests once per test run: Rust through `support::guests` (cargo),
//! Python and JavaScript with the SDKs' build scripts, C in process with `keel::cli::build`.
//! A build is skipped when its output is newer than everything it is made from, which is what lets a
//! second run hit the compiled-artefact cache (componentize-py and componentize-js do not build
//! reproducibly, so a rebuild would mean a new digest and a new compilation in Keel).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::SystemTime;

use keel::cli::build::{Build, Lang};

use crate::support::target_dir;

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the host crate lives in the repository")
        .to_path_buf()
}

/// What a language's guests are built from: (artefact name, source directory from the root).
fn sources(lang: Lang) -> Vec<(&'static str, String)> {
    let mut list: Vec<(&'static str, String)> = super::EXAMPLES
        .iter()
        .map(|(example, artefact)| (*artefact, format!("guest-examples/{example}/{lang}")))
        .collect();
    let fixture = match lang {
        Lang::Rust => return list, // cargo builds the Rust fixtures with the examples
        Lang::Python => "tests/guests/python-determinism",
        Lang::JavaScript => "tests/guests/javascript-determinism",
        Lang::C => "tests/guests/c-determinism",
    };
    list.push(("determinism", fixture.to_owned()));
    list
}

/// The newest modification time under `path` (a file or a directory, `__pycache__` ignored).
fn newest(path: &Path) -> Option<SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "__pycache__" && e.file_name() != "node_modules")
        .filter_map(|e| newest(&e.path()))
        .max()
}

/// True if `out` exists and is newer than every file under `inputs`.
fn up_to_date(out: &Path, inputs: &[PathBuf]) -> bool {
    let Some(built) = std::fs::metadata(out).and_then(|m| m.modified()).ok() else {
        return false;
    };
    inputs
        .iter()
        .all(|input| newest(input).is_none_or(|t| t < built))
}

/// Builds every guest of `lang` (in parallel: each script build is mostly single-threaded) into
/// `target/<lang>-guests` and returns that directory.
fn build_all(lang: Lang) -> PathBuf {
    let root = repo_root();
    let out_dir = target_dir().join(format!("{lang}-guests"));
    std::fs::create_dir_all(&out_dir).expect("creating the guest directory");
    let sdk = root.join("sdk").join(lang.as_str());
    let builds: Vec<_> = sources(lang)
        .into_iter()
        .map(|(artefact, source)| {
            let dir = root.join(source);
            let out = out_dir.join(format!("{artefact}.wasm"));
            // The whole WIT directory: the vendored WASI packages are part of every world.
            let inputs = vec![dir.clone(), sdk.clone(), root.join("wit")];
            let root = root.clone();
            std::thread::spawn(move || {
                if up_to_date(&out, &inputs) {
                    return;
                }
                let build = Build {
                    lang,
                    dir,
                    out,
                    sdk_root: root,
                };
                if let Err(error) = keel::cli::build::build(&build) {
                    panic!(
                        "building the {lang} guest {} failed: {error}",
                        build.dir.display()
                    );
                }
            })
        })
        .collect();
    for build in builds {
        if let Err(panic) = build.join() {
            std::panic::resume_unwind(panic);
        }
    }
    out_dir
}

/// The directory holding the built guests of `lang`, built on first use.
fn guests(lang: Lang) -> &'static Path {
    static DIRS: [OnceLock<PathBuf>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = match lang {
        Lang::Rust => return crate::support::guests(),
        Lang::Python => &DIRS[0],
        Lang::JavaScript => &DIRS[1],
        Lang::C => &DIRS[2],
    };
    slot.get_or_init(|| build_all(lang))
}

/// The bytes of `lang`'s build of `artefact` (an example's file name, or `determinism`).
pub(crate) fn module(lang: Lang, artefact: &str) -> Vec<u8> {
    let path = module_path(lang, artefact);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The file of `lang`'s build of `artefact`, built on first use.
pub(crate) fn module_path(lang: Lang, artefact: &str) -> PathBuf {
    // The Rust determinism fixture is part of the patterns guest.
    let artefact = match (lang, artefact) {
        (Lang::Rust, "determinism") => "keel_test_patterns",
        _ => artefact,
    };
    guests(lang).join(format!("{artefact}.wasm"))
}

/// Runs the `keel` binary the tests were built with.
pub(crate) fn keel_command() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keel"))
}
