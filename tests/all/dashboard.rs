//! The web dashboard in a real browser: headless Chromium loads the page from an in-process server,
//! signs in with a `#token=` link, and the DOM it renders is checked (instance list, an instance's
//! outputs and its timeline bars, the sign-in form on a wrong token).
//!
//! Skipped, with a message, when no Chromium is installed (`scripts/setup.sh` installs it on Debian).

use std::path::PathBuf;
use std::time::Duration;

use crate::support::{assert_completed, engine, finish};

const TOKEN: &str = "browser-token";

/// Chromium from `KEEL_CHROMIUM` or the `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KEEL_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// The DOM of `url` after its scripts ran (Chromium's virtual time lets fetches and timers settle).
async fn dom(browser: &PathBuf, url: &str) -> String {
    let profile = tempfile::tempdir().expect("browser profile directory");
    let run = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=4000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("chromium finished in time")
        .expect("running chromium");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_lists_instances_and_draws_a_timeline() {
    let Some(browser) = chromium() else {
        // CI installs Chromium (scripts/setup.sh): there a missing browser is a failure, not a skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "no chromium: scripts/setup.sh should have installed it"
        );
        eprintln!(
            "skipping the dashboard browser test: no chromium (set KEEL_CHROMIUM or install it)"
        );
        return;
    };
    let t = engine(&["order_processing"]).await;
    let id = t
        .keel
        .start(
            "ProcessOrder",
            r#"{"orderId":"order-42","amount":25.0,"items":["book"]}"#,
            Some("order-42"),
        )
        .await
        .unwrap();
    assert_completed(&finish(&t.keel, id.as_str()).await);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = keel::api::router(t.keel.clone(), TOKEN.to_owned());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://127.0.0.1:{port}");

    let list = dom(&browser, &format!("{base}/#token={TOKEN}")).await;
    assert!(
        list.contains(r##"href="#/instances/order-42""##),
        "the list shows the instance:\n{list}"
    );
    assert!(list.contains(r#"<section id="login" hidden="""#), "{list}");
    assert!(list.contains(r#"class="badge Completed""#), "{list}");

    let page = dom(
        &browser,
        &format!("{base}/ui/instances/order-42#token={TOKEN}"),
    )
    .await;
    assert!(
        page.contains("TRK-order-42"),
        "the output is shown:\n{page}"
    );
    assert!(page.contains(r#"{"step":"completed"}"#) || page.contains("\"step\": \"completed\""));
    for activity in [
        "VerifyPayment #0",
        "CheckInventory #1",
        "ShipOrder #2",
        "SendConfirmationEmail #3",
    ] {
        assert!(page.contains(activity), "{activity} is on the timeline");
    }
    assert_eq!(
        page.matches(r#"class="bar""#).count(),
        4,
        "one finished bar per activity:\n{page}"
    );
    assert!(
        page.contains("ExecutionCompleted"),
        "the history table is shown"
    );

    let refused = dom(&browser, &format!("{base}/#token=wrong")).await;
    assert!(
        refused.contains(r#"<section id="login">"#),
        "a wrong token brings up the sign-in form:\n{refused}"
    );
    assert!(refused.contains("The token was refused."));
    server.abort();
}
