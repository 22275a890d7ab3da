//! `keel build`: turns a module directory written in Rust, Python, JavaScript or C into one Keel
//! component — Rust with cargo, Python and JavaScript with the SDKs' build scripts, and C in process
//! (C bindings generated from the WIT built into this binary, keel.wit and the WASI packages it
//! imports, clang-19 on them, sdk/c and the module's `.c` files, then the component encoder
//! with the WASI preview1 reactor adapter).
//! It must never open a database or run a guest: it reads sources and writes one `.wasm` file.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, ExitStatus};
use std::time::Instant;

use anyhow::Result;
use clap::{Args, ValueEnum};

/// The contract, built into the binary so that a C build needs no WIT files on disk.
const KEEL_WIT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/keel.wit"));

/// The WASI 0.2 packages the contract uses (`wasi:http` and what it depends on), vendored in
/// `wit/deps/` one file per package and built into the binary with the contract.
const WIT_DEPS: [(&str, &str); 7] = {
    macro_rules! dep {
        ($name:literal) => {
            (
                concat!("deps/", $name, ".wit"),
                include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../wit/deps/",
                    $name,
                    ".wit"
                )),
            )
        };
    }
    [
        dep!("cli"),
        dep!("clocks"),
        dep!("filesystem"),
        dep!("http"),
        dep!("io"),
        dep!("random"),
        dep!("sockets"),
    ]
};

/// The world every Keel module implements.
const WORLD: &str = "module";

/// What the Debian packages of the C toolchain are called.
const C_TOOLCHAIN: &str = "apt-get install -y clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32";

/// The languages a module can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Lang {
    /// A cdylib crate using `keel-sdk` (sdk/rust).
    Rust,
    /// An `app.py` using `keel_sdk` (sdk/python), built with componentize-py.
    Python,
    /// An `app.js` importing `@keel/sdk` (sdk/javascript), built with componentize-js.
    #[value(name = "javascript", alias = "js")]
    JavaScript,
    /// `.c` files using `keel.h` (sdk/c), built with clang-19.
    C,
}

impl Lang {
    /// Every language, in the order the documentation lists them.
    pub const ALL: [Lang; 4] = [Lang::Rust, Lang::Python, Lang::JavaScript, Lang::C];

    /// The name used on the command line and as the directory name in `guest-examples/<example>/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::JavaScript => "javascript",
            Lang::C => "c",
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a build did not produce a component.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tool the language needs is not installed.
    #[error("{tool} was not found on PATH; install it with: {install}")]
    ToolMissing {
        /// The missing program.
        tool: &'static str,
        /// How to install it.
        install: &'static str,
    },
    /// The directory holds no sources Keel recognises.
    #[error(
        "no module sources in {0}: expected Cargo.toml (Rust), app.py (Python), app.js (JavaScript) or .c files (C)"
    )]
    NoSources(PathBuf),
    /// The directory holds sources of more than one language.
    #[error("{dir} holds sources of several languages ({found}); choose one with --lang")]
    Ambiguous {
        /// The module directory.
        dir: PathBuf,
        /// The languages found.
        found: String,
    },
    /// The entry file of a Python or JavaScript module is missing.
    #[error("no {expected} in {dir} (the {lang} module's entry point)")]
    NoEntry {
        /// The language.
        lang: Lang,
        /// The module directory.
        dir: PathBuf,
        /// The file looked for.
        expected: &'static str,
    },
    /// The SDK directory does not hold Keel's SDKs.
    #[error(
        "the Keel SDKs were not found in {0}: point KEEL_SDK_DIR or --sdk at a Keel checkout (the directory holding sdk/ and wit/)"
    )]
    NoSdk(PathBuf),
    /// Reading or writing a file failed.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A build tool ran and failed; its own output says why.
    #[error("{command} failed ({status}); see its output above")]
    ToolFailed {
        /// The command line, shortened to the program and its first arguments.
        command: String,
        /// How it exited.
        status: ExitStatus,
    },
    /// A Python or JavaScript source does not parse; the report is the language's own, short.
    #[error("the {language} source does not parse:\n{report}")]
    Syntax {
        /// Python or JavaScript.
        language: &'static str,
        /// `file:line[:column]: Kind: message` and the offending line, per error.
        report: String,
    },
    /// cargo succeeded but built no WebAssembly library.
    #[error(
        "cargo built no wasm32-wasip2 cdylib from {}: set crate-type = [\"cdylib\"] in [lib]",
        .0.display()
    )]
    NoArtifact(PathBuf),
    /// The C bindings could not be generated from the WIT.
    #[error("generating the C bindings of keel:workflow failed: {0:#}")]
    Bindings(anyhow::Error),
    /// The compiled core module could not be turned into a component.
    #[error("turning the C core module into a component failed: {0:#}")]
    Componentize(anyhow::Error),
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// `keel build` flags.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The module's language (detected from the files when omitted).
    #[arg(long, value_enum)]
    pub lang: Option<Lang>,
    /// The module directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The component to write (default: DIR/NAME.wasm, NAME being the directory name).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// A Keel checkout holding sdk/ and wit/ (default: the one this binary was built from).
    #[arg(long, env = "KEEL_SDK_DIR")]
    pub sdk: Option<PathBuf>,
}

/// A resolved build: what to build, from where, into what.
#[derive(Debug, Clone)]
pub struct Build {
    /// The module's language.
    pub lang: Lang,
    /// The module directory.
    pub dir: PathBuf,
    /// The component to write.
    pub out: PathBuf,
    /// The Keel checkout holding `sdk/` and `wit/`.
    pub sdk_root: PathBuf,
}

impl Build {
    /// Resolves the flags: detects the language, picks the output path and finds the SDKs.
    pub fn resolve(args: BuildArgs) -> Result<Self, Error> {
        let dir = std::fs::canonicalize(&args.dir).map_err(io("open the directory", &args.dir))?;
        let lang = match args.lang {
            Some(lang) => lang,
            None => detect(&dir)?,
        };
        let out = match args.out {
            Some(out) => out,
            None => dir.join(format!("{}.wasm", dir_name(&dir))),
        };
        let sdk_root = sdk_root(args.sdk)?;
        Ok(Self {
            lang,
            dir,
            out,
            sdk_root,
        })
    }
}

/// The Keel checkout whose SDKs builds use: `explicit` (from `--sdk` or `KEEL_SDK_DIR`), else the
/// checkout this binary was built from. The `sdk/` directory itself is accepted too.
pub fn sdk_root(explicit: Option<PathBuf>) -> Result<PathBuf, Error> {
    let dir = explicit.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    let dir = std::fs::canonicalize(&dir).map_err(|_| Error::NoSdk(dir.clone()))?;
    if dir.join("sdk").is_dir() {
        return Ok(dir);
    }
    if dir.file_name() == Some(OsStr::new("sdk"))
        && let Some(parent) = dir.parent()
    {
        return Ok(parent.to_path_buf());
    }
    Err(Error::NoSdk(dir))
}

fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "module".to_owned())
}

/// The language of the module in `dir`, from the files it holds.
pub fn detect(dir: &Path) -> Result<Lang, Error> {
    let files = list(dir)?;
    let has_ext = |ext: &str| files.iter().any(|f| f.extension() == Some(OsStr::new(ext)));
    let mut found = Vec::new();
    if dir.join("Cargo.toml").is_file() {
        found.push(Lang::Rust);
    }
    if has_ext("py") {
        found.push(Lang::Python);
    }
    if has_ext("js") || has_ext("mjs") {
        found.push(Lang::JavaScript);
    }
    if has_ext("c") {
        found.push(Lang::C);
    }
    match found.as_slice() {
        [] => Err(Error::NoSources(dir.to_path_buf())),
        [lang] => Ok(*lang),
        _ => Err(Error::Ambiguous {
            dir: dir.to_path_buf(),
            found: found
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The files directly in `dir`, sorted.
fn list(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io("read the directory", dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Builds the component and returns its path.
pub fn build(b: &Build) -> Result<PathBuf, Error> {
    if let Some(parent) = b.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io("create the directory", parent))?;
    }
    match b.lang {
        Lang::Rust => build_rust(b)?,
        Lang::Python => build_python(b)?,
        Lang::JavaScript => build_javascript(b)?,
        Lang::C => build_c(b)?,
    }
    Ok(b.out.clone())
}

/// Runs `keel build`.
pub fn run(args: BuildArgs) -> Result<ExitCode> {
    let b = Build::resolve(args)?;
    let started = Instant::now();
    let out = build(&b)?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "built {} ({} module, {} KiB) in {:.1} s",
        out.display(),
        b.lang,
        size.div_ceil(1024),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

/// `program` if it is on PATH (or is a path to a file).
fn find_tool(program: &str) -> Option<PathBuf> {
    let direct = Path::new(program);
    if direct.components().count() > 1 {
        return direct.is_file().then(|| direct.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn require(tool: &'static str, install: &'static str) -> Result<PathBuf, Error> {
    find_tool(tool).ok_or(Error::ToolMissing { tool, install })
}

fn run_tool(cmd: &mut Command) -> Result<(), Error> {
    let command = describe(cmd);
    let status = cmd.status().map_err(|source| Error::Io {
        action: "run",
        path: PathBuf::from(cmd.get_program()),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::ToolFailed { command, status })
    }
}

/// Runs a componentizer with its output captured. When it fails, `explain` looks for the cause in
/// the sources (a syntax error, reported in two lines instead of the componentizer's dozens); only
/// when it finds none is the tool's own output shown. On success the output is passed on.
fn run_tool_or_explain(
    what: &str,
    cmd: &mut Command,
    explain: impl FnOnce() -> Result<(), Error>,
) -> Result<(), Error> {
    use std::io::Write;
    let command = describe(cmd);
    let output = super::progress::counting(what, || cmd.output()).map_err(|source| Error::Io {
        action: "run",
        path: PathBuf::from(cmd.get_program()),
        source,
    })?;
    let pass_on = || {
        let _ = std::io::stdout().write_all(&output.stdout);
        let _ = std::io::stderr().write_all(&output.stderr);
    };
    if output.status.success() {
        pass_on();
        return Ok(());
    }
    // A check that could not run (no python3 or node on PATH) explains nothing.
    if let Err(e @ Error::Syntax { .. }) = explain() {
        return Err(e);
    }
    pass_on();
    Err(Error::ToolFailed {
        command,
        status: output.status,
    })
}

fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(
        cmd.get_args()
            .take(3)
            .map(|a| a.to_string_lossy().into_owned()),
    );
    parts.join(" ")
}

fn build_rust(b: &Build) -> Result<(), Error> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    if find_tool(&cargo).is_none() {
        return Err(Error::ToolMissing {
            tool: "cargo",
            install: "curl https://sh.rustup.rs -sSf | sh && rustup target add wasm32-wasip2",
        });
    }
    let manifest = b.dir.join("Cargo.toml");
    super::progress::step(
        1,
        1,
        "cargo build --release --target wasm32-wasip2 (a crate's first build compiles its \
         dependencies: minutes)",
    );
    let output = Command::new(&cargo)
        .current_dir(&b.dir)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        // Set by cargo for a test binary or build script; they must not leak into the guest build.
        .env_remove("RUSTFLAGS")
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(io("run", Path::new(&cargo)))?;
    if !output.status.success() {
        return Err(Error::ToolFailed {
            command: format!("{cargo} build --release --target wasm32-wasip2"),
            status: output.status,
        });
    }
    let wasm = cdylib_artifact(&output.stdout, &manifest)
        .ok_or_else(|| Error::NoArtifact(b.dir.clone()))?;
    std::fs::copy(&wasm, &b.out).map_err(io("copy the component to", &b.out))?;
    Ok(())
}

/// The `.wasm` cdylib that cargo's JSON messages report for the package at `manifest`.
fn cdylib_artifact(messages: &[u8], manifest: &Path) -> Option<PathBuf> {
    let text = String::from_utf8_lossy(messages);
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["manifest_path"]
                .as_str()
                .is_some_and(|p| Path::new(p) == manifest)
        })
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
                .collect::<Vec<_>>()
        })
        .rfind(|f| f.extension() == Some(OsStr::new("wasm")))
}

/// The entry file of a script module: `preferred` if present, else the only file with `ext`.
fn entry(b: &Build, preferred: &'static str, ext: &str) -> Result<PathBuf, Error> {
    let path = b.dir.join(preferred);
    if path.is_file() {
        return Ok(path);
    }
    let candidates: Vec<PathBuf> = list(&b.dir)?
        .into_iter()
        .filter(|f| f.extension() == Some(OsStr::new(ext)))
        .collect();
    match candidates.as_slice() {
        [only] => Ok(only.clone()),
        _ => Err(Error::NoEntry {
            lang: b.lang,
            dir: b.dir.clone(),
            expected: preferred,
        }),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn build_python(b: &Build) -> Result<(), Error> {
    let script = b.sdk_root.join("sdk/python/build.sh");
    if !script.is_file() {
        return Err(Error::NoSdk(b.sdk_root.clone()));
    }
    let componentize = std::env::var("COMPONENTIZE_PY").unwrap_or_default();
    if componentize.is_empty() && find_tool("componentize-py").is_none() {
        return Err(Error::ToolMissing {
            tool: "componentize-py",
            install: "python3 -m pip install componentize-py==0.25.1",
        });
    }
    let app = entry(b, "app.py", "py")?;
    let module = app
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".to_owned());
    require("bash", "apt-get install -y bash")?;
    let what = "componentize-py: the Python interpreter, the SDK and the app into one component";
    super::progress::step(1, 1, &format!("{what} (~15 s)"));
    run_tool_or_explain(
        what,
        Command::new("bash")
            .arg(&script)
            .arg(&b.dir)
            .arg(absolute(&b.out))
            .arg(module)
            .env("KEEL_WIT", b.sdk_root.join("wit")),
        || super::syntax::check_python(&b.dir),
    )
}

fn build_javascript(b: &Build) -> Result<(), Error> {
    let script = b.sdk_root.join("sdk/javascript/build.sh");
    if !script.is_file() {
        return Err(Error::NoSdk(b.sdk_root.clone()));
    }
    require("node", "apt-get install -y nodejs npm")?;
    let installed = b
        .sdk_root
        .join("sdk/javascript/node_modules/.bin/componentize-js")
        .is_file();
    if !installed {
        // build.sh installs componentize-js with npm on first use.
        require("npm", "apt-get install -y npm")?;
    }
    let app = entry(b, "app.js", "js")?;
    require("bash", "apt-get install -y bash")?;
    let total = if installed { 1 } else { 2 };
    if !installed {
        super::progress::step(
            1,
            2,
            "npm ci: installing componentize-js into the SDK (the first build only)",
        );
    }
    let what = "componentize-js: the JavaScript engine, the SDK and the app into one component";
    super::progress::step(total, total, &format!("{what} (~20 s)"));
    run_tool_or_explain(
        what,
        Command::new("bash")
            .arg(&script)
            .arg(app)
            .arg(absolute(&b.out)),
        || super::syntax::check_javascript(&b.dir),
    )
}

/// A temporary directory removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, Error> {
        let nanos = std::time::SystemTime::UNIX_EPOCH
            .elapsed()
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!("keel-build-c-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(io("create the directory", &dir))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the C bindings of the `module` world (`module.h`, `module.c` and the object file carrying
/// the component type) into `dir`.
pub fn write_c_bindings(dir: &Path) -> Result<(), Error> {
    use wit_bindgen_core::wit_parser::{Resolve, UnresolvedPackageGroup};
    let parse = |path: &str, contents: &str| {
        UnresolvedPackageGroup::parse(path, contents).map_err(|(map, e)| {
            let rendered = e.render(&map);
            Error::Bindings(anyhow::Error::from(e).context(rendered))
        })
    };
    let deps = WIT_DEPS
        .iter()
        .map(|(path, contents)| parse(path, contents))
        .collect::<Result<Vec<_>, _>>()?;
    let mut resolve = Resolve::default();
    // Sorted by their `use`s, so the dependencies may be listed in any order.
    let package = resolve
        .push_groups(parse("keel.wit", KEEL_WIT)?, deps)
        .map_err(|e| Error::Bindings(e.into()))?;
    let world = resolve
        .select_world(&[package], Some(WORLD))
        .map_err(Error::Bindings)?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(Error::Bindings)?;
    for (name, contents) in files.iter() {
        let path = dir.join(name);
        std::fs::write(&path, contents).map_err(io("write", &path))?;
    }
    Ok(())
}

fn build_c(b: &Build) -> Result<(), Error> {
    let clang = std::env::var("KEEL_CLANG").unwrap_or_else(|_| "clang-19".to_owned());
    if find_tool(&clang).is_none() {
        return Err(Error::ToolMissing {
            tool: "clang-19",
            install: C_TOOLCHAIN,
        });
    }
    require("wasm-ld-19", C_TOOLCHAIN)?;
    let sdk = b.sdk_root.join("sdk/c");
    if !sdk.join("keel.c").is_file() {
        return Err(Error::NoSdk(b.sdk_root.clone()));
    }
    let c_files = |dir: &Path| -> Result<Vec<PathBuf>, Error> {
        Ok(list(dir)?
            .into_iter()
            .filter(|f| f.extension() == Some(OsStr::new("c")))
            .collect())
    };
    let sources = c_files(&b.dir)?;
    if sources.is_empty() {
        return Err(Error::NoSources(b.dir.clone()));
    }

    let scratch = Scratch::new()?;
    super::progress::step(1, 3, "wit-bindgen: the C bindings of Keel's module world");
    write_c_bindings(&scratch.0)?;
    let core = scratch.0.join("core.wasm");
    super::progress::step(
        2,
        3,
        &format!(
            "{clang}: compiling {} source file(s) and the SDK to a wasm32-wasi module",
            sources.len()
        ),
    );
    run_tool(
        Command::new(&clang)
            .args([
                "--target=wasm32-wasi",
                "-mexec-model=reactor",
                "-O2",
                "-std=gnu11",
                "-Wall",
                "-Wno-unused-parameter",
                // The generated bindings' `module.h` and the SDK's `keel.h`.
                "-I",
            ])
            .arg(&scratch.0)
            .arg("-I")
            .arg(&sdk)
            .arg("-I")
            .arg(&b.dir)
            .arg("-o")
            .arg(&core)
            .arg(scratch.0.join(format!("{WORLD}.c")))
            .arg(scratch.0.join(format!("{WORLD}_component_type.o")))
            .args(c_files(&sdk)?)
            .args(&sources),
    )?;
    let module = std::fs::read(&core).map_err(io("read", &core))?;
    super::progress::step(
        3,
        3,
        "wit-component: the module and the WASI adapter into one component",
    );
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|e| {
            e.adapter(
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|e| e.encode())
        .map_err(Error::Componentize)?;
    std::fs::write(&b.out, component).map_err(io("write", &b.out))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temporary directory");
        for file in files {
            std::fs::write(dir.path().join(file), "").expect("writing a file");
        }
        dir
    }

    #[test]
    fn the_language_is_detected_from_the_files() {
        let cases: [(&[&str], Lang); 4] = [
            (&["Cargo.toml"], Lang::Rust),
            (&["app.py", "helpers.py"], Lang::Python),
            (&["app.js", "README.md"], Lang::JavaScript),
            (&["order.c", "util.h"], Lang::C),
        ];
        for (files, lang) in cases {
            let dir = dir_with(files);
            assert_eq!(detect(dir.path()).unwrap(), lang, "{files:?}");
        }
        let mixed = dir_with(&["app.py", "module.c"]);
        assert!(matches!(
            detect(mixed.path()),
            Err(Error::Ambiguous { found, .. }) if found == "python, c"
        ));
        let empty = dir_with(&["README.md"]);
        assert!(matches!(detect(empty.path()), Err(Error::NoSources(_))));
    }

    #[test]
    fn the_cdylib_is_found_in_cargo_messages() {
        let manifest = Path::new("/m/Cargo.toml");
        let messages = [
            r#"{"reason":"compiler-artifact","manifest_path":"/dep/Cargo.toml","filenames":["/t/libdep.rlib"]}"#,
            r#"{"reason":"compiler-artifact","manifest_path":"/m/Cargo.toml","filenames":["/t/m.wasm","/t/libm.rlib"]}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        assert_eq!(
            cdylib_artifact(messages.as_bytes(), manifest),
            Some(PathBuf::from("/t/m.wasm"))
        );
        assert_eq!(cdylib_artifact(b"not json\n", manifest), None);
    }

    #[test]
    fn c_bindings_are_generated_from_the_built_in_wit() {
        let dir = tempfile::tempdir().expect("temporary directory");
        write_c_bindings(dir.path()).unwrap();
        let header = std::fs::read_to_string(dir.path().join("module.h")).unwrap();
        assert!(header.contains("exports_keel_workflow_orchestrators_run"));
        // The world imports wasi:http, resolved from the WASI packages built into the binary.
        assert!(header.contains("wasi_http_outgoing_handler_handle"));
        assert!(header.contains("wasi_io_streams_method_output_stream_blocking_write_and_flush"));
        assert!(dir.path().join("module_component_type.o").is_file());
    }

    #[test]
    fn every_vendored_wit_package_is_built_in() {
        let deps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/deps");
        let on_disk: Vec<String> = list(&deps)
            .unwrap()
            .iter()
            .filter(|f| f.extension() == Some(OsStr::new("wit")))
            .map(|f| format!("deps/{}", f.file_name().unwrap().to_string_lossy()))
            .collect();
        let built_in: Vec<&str> = WIT_DEPS.iter().map(|(path, _)| *path).collect();
        assert_eq!(on_disk, built_in);
    }
}
