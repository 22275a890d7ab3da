//! Test support: building the guest components once, and opening engines on temporary databases.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keel::clock::SharedClock;
use keel::engine::WorkerHandle;
use keel::store::{HistoryRecord, Instance, Status};
use keel::{Config, Keel};
use tempfile::TempDir;

/// The crates built into the test's guest components, and the wasm file each produces.
const GUESTS: [(&str, &str); 8] = [
    ("order-processing", "order_processing"),
    ("fan-out", "fan_out"),
    ("approval", "approval"),
    ("http-calls", "http_calls"),
    ("keel-test-patterns", "keel_test_patterns"),
    ("keel-test-changed", "keel_test_changed"),
    ("keel-test-versioned", "keel_test_versioned"),
    ("keel-test-bad-manifest", "keel_test_bad_manifest"),
];

/// The target directory this test binary was built into.
pub(crate) fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // <target>/<profile>/deps/all-<hash>
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors()
        .nth(3)
        .expect("target directory")
        .to_path_buf()
}

/// Builds every guest once per test run and returns the directory holding the `.wasm` files.
pub(crate) fn guests() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let target = target_dir().join("wasm-guests");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target);
        for (krate, _) in GUESTS {
            cmd.args(["-p", krate]);
        }
        // Cargo sets these for the test binary; they must not leak into the nested build.
        cmd.env_remove("CARGO_TARGET_DIR").env_remove("RUSTFLAGS");
        let status = cmd.status().expect("running cargo to build the guests");
        assert!(status.success(), "building the guest components failed");
        let out = target.join("wasm32-wasip2").join("release");
        // The versioned fixture in its two versions: 1.0.0 from the build above, 2.0.0 with `v2`.
        copy_guest(&out, "keel_test_versioned", "versioned_v1");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target)
            .args([
                "-p",
                "keel-test-versioned",
                "--features",
                "keel-test-versioned/v2",
            ])
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .status()
            .expect("running cargo to build the guests");
        assert!(status.success(), "building the versioned guest's v2 failed");
        copy_guest(&out, "keel_test_versioned", "versioned_v2");
        // The bad-manifest fixture once more, listing a reserved name.
        copy_guest(&out, "keel_test_bad_manifest", "bad_manifest_trap");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target)
            .args([
                "-p",
                "keel-test-bad-manifest",
                "--features",
                "keel-test-bad-manifest/reserved-name",
            ])
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .status()
            .expect("running cargo to build the guests");
        assert!(
            status.success(),
            "building the reserved-name fixture failed"
        );
        copy_guest(&out, "keel_test_bad_manifest", "reserved_name");
        copy_guest(&out, "bad_manifest_trap", "keel_test_bad_manifest");
        out
    })
}

fn copy_guest(dir: &Path, from: &str, to: &str) {
    let (from, to) = (
        dir.join(format!("{from}.wasm")),
        dir.join(format!("{to}.wasm")),
    );
    std::fs::copy(&from, &to)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", from.display(), to.display()));
}

/// The bytes of guest `file` (without `.wasm`).
pub(crate) fn guest(file: &str) -> Vec<u8> {
    let path = guests().join(format!("{file}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// One directory of compiled artefacts shared by all tests of a run: the user cache
/// (`keel::engine::user_cache_dir`) of the `keel` processes the tests start with
/// [`xdg_cache_home`], so that a module the suite compiled is not compiled again by `keel test`.
pub(crate) fn cache_dir() -> PathBuf {
    xdg_cache_home().join("keel").join("modules")
}

/// `XDG_CACHE_HOME` for the `keel` processes of a test run.
pub(crate) fn xdg_cache_home() -> PathBuf {
    target_dir().join("keel-test-xdg-cache")
}

/// A temporary database with an engine open on it.
pub(crate) struct TestEngine {
    pub(crate) keel: Keel,
    pub(crate) _dir: TempDir,
    pub(crate) config: Config,
}

impl TestEngine {
    pub(crate) fn db(&self) -> PathBuf {
        self.config.db.clone()
    }
}

/// The PostgreSQL server the suite runs on instead of SQLite, when `KEEL_TEST_STORE=postgres`:
/// the one `KEEL_TEST_POSTGRES` names (`scripts/test.sh` starts a throwaway cluster and sets it).
fn postgres_server() -> Option<String> {
    if std::env::var("KEEL_TEST_STORE").ok().as_deref() != Some("postgres") {
        return None;
    }
    match std::env::var("KEEL_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => panic!("KEEL_TEST_STORE=postgres needs KEEL_TEST_POSTGRES, a server's URL"),
    }
}

/// Whether the suite runs on PostgreSQL (`KEEL_TEST_STORE=postgres`).
pub(crate) fn on_postgres() -> bool {
    postgres_server().is_some()
}

/// Runs `work` to its end on a thread and runtime of its own: callable from a plain test and from
/// inside a test's runtime, which it does not block.
pub(crate) fn on_own_thread<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(work)
    })
    .join()
    .expect("a thread of the test support")
}

/// A new, empty database on the server at `url`, and its URL.
fn fresh_postgres_database(url: &str) -> String {
    let url = url.to_owned();
    on_own_thread(async move {
        use sqlx::Connection;
        let name = format!("keel_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("KEEL_TEST_POSTGRES={url} cannot be reached: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
        format!("{base}/{name}")
    })
}

/// The secret key of the tests on PostgreSQL, given inline so that the `keel` processes a test starts
/// on the same database URL (which has no directory to keep a key file beside) use it too.
const POSTGRES_TEST_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

/// The environment a `keel` process a test starts on `db` needs besides `--db`: on PostgreSQL, the
/// tests' secret key; on SQLite nothing (the key file is beside the database).
pub(crate) fn process_env(db: impl AsRef<Path>) -> Vec<(&'static str, &'static str)> {
    if keel::store::is_postgres_url(db.as_ref()) {
        vec![("KEEL_SECRET_KEY", POSTGRES_TEST_KEY)]
    } else {
        Vec::new()
    }
}

/// The database of a test that runs `keel` processes on one itself: `keel.db` in `dir`, or a fresh
/// PostgreSQL database when the suite runs on PostgreSQL. Such processes also need
/// [`process_env`].
pub(crate) fn test_db(dir: &Path) -> PathBuf {
    match postgres_server() {
        Some(server) => PathBuf::from(fresh_postgres_database(&server)),
        None => dir.join("keel.db"),
    }
}

/// The configuration tests use: small limits so runaway guests are stopped quickly. The database
/// is a SQLite file in `dir`, or a fresh PostgreSQL database (see [`postgres_server`]) with the
/// tests' key given inline.
pub(crate) fn test_config(dir: &Path) -> Config {
    config_on(test_db(dir))
}

/// The tests' configuration on database `db` (a SQLite file, or a PostgreSQL URL with the tests' key
/// given inline).
pub(crate) fn config_on(db: PathBuf) -> Config {
    let postgres = keel::store::is_postgres_url(&db);
    let mut config = Config::new(db);
    if postgres {
        config.secret_key.inline = Some(POSTGRES_TEST_KEY.to_owned());
    }
    config.cache_dir = Some(cache_dir());
    config.limits.memory_bytes = 64 << 20;
    config.limits.turn_cpu_ms = 2_000;
    config.poll_ms = 20;
    config
}

/// An engine on a fresh temporary database, with the given modules deployed.
pub(crate) async fn engine(modules: &[&str]) -> TestEngine {
    engine_with(modules, |_| {}).await
}

/// Like [`engine`], with the configuration adjusted by `adjust`.
pub(crate) async fn engine_with(modules: &[&str], adjust: impl FnOnce(&mut Config)) -> TestEngine {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = test_config(dir.path());
    adjust(&mut config);
    let keel = Keel::open(config.clone())
        .await
        .expect("opening the engine");
    for module in modules {
        keel.deploy(guest(module), None)
            .await
            .expect("deploying a test module");
    }
    TestEngine {
        keel,
        _dir: dir,
        config,
    }
}

/// Opens another engine on the same database (a restart).
pub(crate) async fn reopen(config: &Config, clock: Option<SharedClock>) -> Keel {
    match clock {
        Some(clock) => Keel::open_with_clock(config.clone(), clock).await,
        None => Keel::open(config.clone()).await,
    }
    .expect("reopening the engine")
}

/// Runs `id` to its end with a worker, for at most a minute.
pub(crate) async fn finish(keel: &Keel, id: &str) -> Instance {
    let worker = keel.run_worker();
    let instance = keel
        .wait(id, Duration::from_secs(60))
        .await
        .expect("instance ended");
    worker.shutdown().await;
    instance
}

/// Waits until `id`'s history holds an event of `kind`, with `worker` running.
pub(crate) async fn wait_for_event(keel: &Keel, id: &str, kind: &str) -> Vec<HistoryRecord> {
    for _ in 0..3000 {
        let history = keel.history(id).await.expect("history");
        if history.iter().any(|r| r.event.kind() == kind) {
            return history;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("instance {id} never recorded a {kind} event");
}

/// The event kinds of a history, in order, without the turn markers.
pub(crate) fn kinds(history: &[HistoryRecord]) -> Vec<&'static str> {
    history
        .iter()
        .map(|r| r.event.kind())
        .filter(|k| *k != "OrchestratorStarted")
        .collect()
}

/// Asserts that an instance completed, showing its failure otherwise.
pub(crate) fn assert_completed(instance: &Instance) {
    assert_eq!(
        instance.status,
        Status::Completed,
        "instance {} ended {:?} with failure {:?}",
        instance.id,
        instance.status,
        instance.failure
    );
}

/// Keeps a worker running for the scope of a test.
pub(crate) struct Running(pub Option<WorkerHandle>);

impl Running {
    pub(crate) fn start(keel: &Keel) -> Self {
        Self(Some(keel.run_worker()))
    }

    pub(crate) async fn stop(mut self) {
        if let Some(worker) = self.0.take() {
            worker.shutdown().await;
        }
    }
}

/// A manual clock shared with an engine.
pub(crate) fn manual_clock(start_ms: u64) -> Arc<keel::clock::ManualClock> {
    Arc::new(keel::clock::ManualClock::new(start_ms))
}

/// A `keel serve` process, killed when dropped (also when a test fails half-way).
pub(crate) struct Server {
    pub(crate) child: std::process::Child,
    /// The port it listens on.
    pub(crate) port: u16,
    /// What it printed on stderr before it listened.
    pub(crate) banner: Vec<String>,
    /// Everything it printed on stderr after that, as it arrives.
    pub(crate) log: Arc<std::sync::Mutex<String>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `keel` run either as a client of a `keel serve` on `db` (`remote`) or on `db` itself, from `dir`.
pub(crate) struct Cli<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) db: &'a Path,
    pub(crate) url: String,
    pub(crate) token: &'a str,
}

impl Cli<'_> {
    /// `keel ARGS`, through the server when `remote`.
    pub(crate) fn run(&self, args: &[&str], remote: bool) -> std::process::Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keel"));
        command
            .current_dir(self.dir)
            .env_remove("KEEL_DB")
            .env_remove("KEEL_SERVER")
            .env("RUST_LOG", "warn");
        if remote {
            command
                .args(["--server", &self.url])
                .env("KEEL_API_TOKEN", self.token);
        } else {
            command.arg("--db").arg(self.db).envs(process_env(self.db));
        }
        command.args(args).output().expect("running keel")
    }

    /// [`Cli::run`] that must succeed; its stdout.
    pub(crate) fn ok(&self, args: &[&str], remote: bool) -> String {
        let out = self.run(args, remote);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "keel {args:?}: {stdout}{stderr}");
        stdout
    }
}

/// Starts `keel serve` on `db`, on a free port, with `token`; returns once it listens.
pub(crate) fn serve(db: &Path, token: &str) -> Server {
    serve_with(db, token, &[], "warn")
}

/// Like [`serve`], with extra global arguments (before `serve`) and a log filter.
pub(crate) fn serve_with(db: &Path, token: &str, args: &[&str], log: &str) -> Server {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(db)
        .envs(crate::support::process_env(db))
        .args(args)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("KEEL_API_TOKEN", token)
        .env("RUST_LOG", log)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting keel serve");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut banner = Vec::new();
    let port = loop {
        let line = lines
            .next()
            .expect("keel serve exited before listening")
            .expect("reading stderr");
        if let Some(addr) = line.strip_prefix("keel serve: listening on ") {
            let addr = addr.split(';').next().unwrap_or_default();
            break addr.rsplit(':').next().unwrap().parse().unwrap();
        }
        banner.push(line);
    };
    // Keep draining stderr so the server never blocks on a full pipe, and keep what it says.
    let log = Arc::new(std::sync::Mutex::new(String::new()));
    let kept = log.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut kept = kept.lock().unwrap_or_else(|p| p.into_inner());
            kept.push_str(&line);
            kept.push('\n');
        }
    });
    Server {
        child,
        port,
        banner,
        log,
    }
}

/// A minimal HTTP/1.1 client: one request per connection, `Connection: close`.
pub(crate) fn http(port: u16, method: &str, path: &str, body: &[u8], token: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting to keel serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("sending");
    stream.write_all(body).expect("sending the body");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("reading");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or((response.as_str(), ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// The example payment and mail service (`scripts/shop_service.py`) as a process, killed when dropped.
pub(crate) struct Shop {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) url: String,
    /// The token it requires on `/payments`.
    pub(crate) token: String,
}

impl Drop for Shop {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Shop {
    /// Starts the service on a free port, requiring `token` on payments.
    pub(crate) fn start(token: &str) -> Self {
        use std::io::BufRead as _;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/shop_service.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .args(["--port", "0", "--token", token])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starting scripts/shop_service.py");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("the shop service exited before listening")
            .expect("reading its stdout");
        let url = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url,
            token: token.to_owned(),
        }
    }

    /// Grants the order example's activities this service and configures them for it.
    pub(crate) async fn configure(&self, keel: &Keel) {
        for (function, key, path) in [
            ("VerifyPayment", "PAYMENT_URL", "/payments"),
            ("SendConfirmationEmail", "MAIL_URL", "/mail"),
        ] {
            keel.grant(function, &self.url)
                .await
                .expect("granting the shop");
            keel.set_config(function, key, &format!("{}{path}", self.url))
                .await
                .expect("configuring the shop's URL");
        }
        keel.set_secret("VerifyPayment", "PAYMENT_TOKEN", &self.token)
            .await
            .expect("storing the payment token");
    }

    /// A capabilities file in `dir` for the order example's activities against this service, for
    /// `keel run|deploy --capabilities`.
    pub(crate) fn capabilities_file(&self, dir: &Path) -> PathBuf {
        std::fs::write(dir.join("payment-token.txt"), format!("{}\n", self.token))
            .expect("writing the token file");
        let url = &self.url;
        let path = dir.join("order.toml");
        std::fs::write(
            &path,
            format!(
                "[VerifyPayment]\ngrants = [\"{url}\"]\nconfig = {{ PAYMENT_URL = \"{url}/payments\" }}\n\
                 secrets = {{ PAYMENT_TOKEN = {{ file = \"payment-token.txt\" }} }}\n\n\
                 [SendConfirmationEmail]\ngrants = [\"{url}\"]\nconfig = {{ MAIL_URL = \"{url}/mail\" }}\n"
            ),
        )
        .expect("writing the capabilities file");
        path
    }

    /// What the service received, as its `GET /received` lists it.
    pub(crate) fn received(&self) -> Vec<serde_json::Value> {
        let port: u16 = self
            .url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the shop's port");
        let (status, body) = http(port, "GET", "/received", b"", "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("a JSON list")
    }
}

/// A worker on its own runtime, abandoned without a shutdown: its tasks stop wherever they are, as
/// in a crash (leases are left to expire).
pub(crate) struct Abandoned {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Abandoned {
    /// Opens an engine on `config`'s database and runs a worker on a runtime of its own.
    pub(crate) fn worker(config: &Config) -> Self {
        let config = config.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let keel = Keel::open(config).await.expect("opening the engine");
                let _worker = keel.run_worker();
                let _ = stopped.await;
            });
            // Dropping the runtime drops every task mid-step.
            runtime.shutdown_background();
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops the worker's runtime without a shutdown.
    pub(crate) fn abandon(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
