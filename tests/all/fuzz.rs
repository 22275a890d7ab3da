//! Fuzzing that runs with the test suite: property tests over random inputs for the replay core, the
//! decoders of stored history events and inbox messages, module loading and the HTTP API. Each target
//! checks that Keel answers with a typed error (a `KEEL-…` code, a status below 500) and never panics
//! or hangs; the case counts keep the whole set within about a minute on two cores.
//!
//! Every target draws its cases from a seed that it prints first (`fuzz <target>: seed <n>, …`): a
//! new one per run, unless `KEEL_FUZZ_SEED` fixes it. A failure shrinks the input and panics with the
//! seed, the smallest failing input and the command that replays it, for example
//!
//! ```text
//! KEEL_FUZZ_SEED=1234 cargo test --release -p keel --test all fuzz::replay -- --nocapture
//! ```
//!
//! The first cases of a seed are the same whatever the count, so a failure replays with the same seed
//! under any `KEEL_FUZZ_SCALE`, the factor that multiplies every target's case count (`10` for a longer
//! local run). A failure worth keeping becomes a plain `#[test]` with its input next to the target.

mod api;
mod decode;
mod events;
mod modules;
mod replay;

use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Instant;

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

/// The seed of this run: `KEEL_FUZZ_SEED` (decimal or `0x` hex), else a random one.
fn seed() -> u64 {
    match std::env::var("KEEL_FUZZ_SEED") {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|e| panic!("KEEL_FUZZ_SEED={text:?} is not a u64: {e}"))
        }
        // A randomly keyed hasher is a random number without another dependency.
        Err(_) => std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish(),
    }
}

/// `cases` times `KEEL_FUZZ_SCALE` (1 when unset), at least 1.
fn scaled(cases: u32) -> u32 {
    let scale = std::env::var("KEEL_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .unwrap_or(1.0);
    // Saturating float-to-int conversion: a huge scale means "many", not a wrap.
    ((f64::from(cases) * scale) as u32).max(1)
}

/// Each target's own stream of cases from the run's seed (FNV-1a of its name, mixed in).
fn target_seed(seed: u64, target: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in target.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    seed ^ hash
}

/// Runs `test` on `cases` inputs drawn from `strategy` (scaled by `KEEL_FUZZ_SCALE`), printing the
/// seed first and the time taken last; a failure panics with the seed, the shrunk input and the
/// replay command. `target` is the test's path below `fuzz::`, which is also its cargo filter.
pub(crate) fn check<S>(
    target: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: std::fmt::Debug,
{
    let seed = seed();
    let cases = scaled(cases);
    let replay = format!(
        "KEEL_FUZZ_SEED={seed} cargo test --release -p keel --test all fuzz::{target} -- --nocapture"
    );
    println!("fuzz {target}: seed {seed}, {cases} cases (replay: {replay})");
    let config = Config {
        cases,
        rng_seed: RngSeed::Fixed(target_seed(seed, target)),
        // The seed is the record of a failure; no regression files are written into the tree.
        failure_persistence: None,
        // Shrinking re-runs the target (a deploy compiles a component): keep it bounded.
        max_shrink_time: 120_000,
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("fuzz {target} failed with seed {seed}; replay with\n  {replay}\n{e}");
    }
    println!(
        "fuzz {target}: {cases} cases passed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A multi-threaded runtime for the targets that drive the engine (the test itself is synchronous,
/// so that proptest runs it case by case).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Fails the case unless `text` carries a Keel error code with `prefix` (`KEEL-M`, `KEEL-ND`) and
/// tells of no panic.
pub(crate) fn expect_code(text: &str, prefix: &str) -> Result<(), TestCaseError> {
    if !text.contains(&format!("[{prefix}")) {
        return Err(TestCaseError::fail(format!(
            "expected a [{prefix}…] error, got: {text}"
        )));
    }
    if text.contains("panicked") {
        return Err(TestCaseError::fail(format!(
            "the error reports a panic: {text}"
        )));
    }
    Ok(())
}
