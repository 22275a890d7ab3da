//! Progress on work that can take a while (compiling a module the first time): nothing when it is
//! quick, then a line saying what runs and, on a terminal, the seconds going by on that line; and the
//! steps of `keel build`, each named as it starts.

use std::future::Future;
use std::io::{IsTerminal as _, Write as _};
use std::time::{Duration, Instant};

/// How long work runs before it is announced.
const QUIET_FOR: Duration = Duration::from_millis(800);

/// Runs `work`; if it takes longer than a moment, says `what` on stderr (with `hint` once), and on
/// a terminal counts the seconds until it ends. Silent when `quiet` (`--json`).
pub(crate) async fn announce<F: Future>(what: &str, hint: &str, quiet: bool, work: F) -> F::Output {
    let mut work = std::pin::pin!(work);
    if quiet {
        return work.await;
    }
    let started = Instant::now();
    tokio::select! {
        done = &mut work => return done,
        () = tokio::time::sleep(QUIET_FOR) => {}
    }
    let terminal = std::io::stderr().is_terminal();
    if !terminal {
        eprintln!("{what}… ({hint})");
        return work.await;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let done = loop {
        tokio::select! {
            done = &mut work => break done,
            _ = tick.tick() => {
                eprint!("\r{what}… {} s ({hint})", started.elapsed().as_secs());
                let _ = std::io::stderr().flush();
            }
        }
    };
    eprintln!(
        "\r{what}: done in {:.1} s\x1b[K",
        started.elapsed().as_secs_f64()
    );
    done
}

/// Says which step of `total` a build is in: `keel build [2/3] what`.
pub(crate) fn step(n: usize, total: usize, what: &str) {
    eprintln!("keel build [{n}/{total}] {what}");
}

/// Runs blocking `work` whose output is captured; on a terminal, counts its seconds on one line
/// (`what… N s`) until it ends.
pub(crate) fn counting<T>(what: &str, work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let started = Instant::now();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let label = what.to_owned();
    let ticker = std::thread::spawn(move || {
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
            stopped.recv_timeout(Duration::from_secs(1))
        {
            eprint!("\r{label}… {} s", started.elapsed().as_secs());
            let _ = std::io::stderr().flush();
        }
    });
    let done = work();
    drop(stop);
    let _ = ticker.join();
    eprintln!(
        "\r{what}: done in {:.1} s\x1b[K",
        started.elapsed().as_secs_f64()
    );
    done
}
