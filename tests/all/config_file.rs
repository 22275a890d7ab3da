//! `keel.toml`: defaults for the command line, below flags and environment variables, with unknown
//! keys refused and the file named in the error.

use std::process::{Command, Output};

fn keel_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    cmd.current_dir(dir).args(args).env("RUST_LOG", "warn");
    for var in [
        "KEEL_DB",
        "KEEL_CONFIG",
        "KEEL_SERVER",
        "KEEL_OTLP_ENDPOINT",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("running keel")
}

#[test]
fn keel_toml_sets_defaults_that_flags_and_environment_override() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keel.toml"), "db = \"from-file.db\"\n").unwrap();

    let out = keel_in(dir.path(), &["list"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        dir.path().join("from-file.db").exists(),
        "the file's db is used"
    );

    let out = keel_in(dir.path(), &["list"], &[("KEEL_DB", "from-env.db")]);
    assert!(out.status.success());
    assert!(
        dir.path().join("from-env.db").exists(),
        "the environment wins over the file"
    );

    let out = keel_in(
        dir.path(),
        &["--db", "from-flag.db", "list"],
        &[("KEEL_DB", "from-env.db")],
    );
    assert!(out.status.success());
    assert!(
        dir.path().join("from-flag.db").exists(),
        "a flag wins over both"
    );

    // An explicit --config elsewhere.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "db = \"from-other.db\"\n").unwrap();
    let out = keel_in(
        dir.path(),
        &["--config", other.to_str().unwrap(), "list"],
        &[],
    );
    assert!(out.status.success());
    assert!(dir.path().join("from-other.db").exists());
}

#[test]
fn a_bad_keel_toml_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keel.toml"), "databse = \"typo.db\"\n").unwrap();
    let out = keel_in(dir.path(), &["list"], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keel.toml is not a valid Keel configuration"),
        "{stderr}"
    );
    assert!(stderr.contains("databse"), "{stderr}");

    let out = keel_in(dir.path(), &["--config", "missing.toml", "list"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn engine_limits_come_from_flags_the_environment_and_the_file_and_are_shown_at_start() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keel.toml"),
        "[engine]\nmemory-mb = 96\nmax-turns = 99\nturn-wall-ms = 1111\n",
    )
    .unwrap();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_keel"))
        .current_dir(dir.path())
        .args(["worker", "--turn-wall-ms", "4321"])
        .env("KEEL_MAX_TURNS", "7")
        .env("RUST_LOG", "warn")
        .env_remove("KEEL_DB")
        .env_remove("KEEL_CONFIG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting keel worker");
    let stderr = worker.stderr.take().unwrap();
    let line = std::io::BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("keel worker: limits:"));
    let _ = worker.kill();
    let _ = worker.wait();
    let line = line.expect("keel worker printed its limits");
    // The file's memory, the environment's turns over the file's, the flag's wall time over the file's.
    assert!(line.contains("guest memory 96 MiB"), "{line}");
    assert!(line.contains("7 turns"), "{line}");
    assert!(line.contains("4321 ms wall"), "{line}");
    // A key the [engine] table does not know is refused, naming the file.
    std::fs::write(dir.path().join("keel.toml"), "[engine]\nmemory = 1\n").unwrap();
    let out = keel_in(dir.path(), &["list"], &[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("keel.toml"));
}
