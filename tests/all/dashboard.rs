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

/// Chromium, or `None` with a message when it is missing outside CI. CI installs Chromium
/// (scripts/setup.sh): there a missing browser is a failure, not a skip.
fn browser_or_skip() -> Option<PathBuf> {
    let browser = chromium();
    if browser.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no chromium: scripts/setup.sh should have installed it"
        );
        eprintln!(
            "skipping the dashboard browser test: no chromium (set KEEL_CHROMIUM or install it)"
        );
    }
    browser
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
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let t = engine(&["order_processing"]).await;
    let shop = crate::support::Shop::start("tok-dashboard");
    shop.configure(&t.keel).await;
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
    // A paused schedule: listed under the instances, with its times.
    t.keel
        .create_schedule(keel::schedules::NewSchedule {
            name: "nightly-orders".to_owned(),
            orchestrator: "ProcessOrder".to_owned(),
            input: "null".to_owned(),
            when: keel::schedules::When::cron("0 2 * * *", "Europe/Paris").unwrap(),
            overlap: keel::schedules::Overlap::Skip,
            catch_up: keel::schedules::CatchUp::Latest,
            paused: true,
            jitter_ms: 0,
        })
        .await
        .unwrap();

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
    assert!(
        list.contains(r#"<div id="schedules-pane">"#)
            && list.contains("nightly-orders")
            && list.contains("cron 0 2 * * * (Europe/Paris)"),
        "the schedule is listed:\n{list}"
    );

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
    // The orchestrator's `ctx.info` lines, once each.
    assert_eq!(
        page.matches("processing order order-42").count(),
        1,
        "the logs table shows the orchestrator's line:\n{page}"
    );

    let refused = dom(&browser, &format!("{base}/#token=wrong")).await;
    assert!(
        refused.contains(r#"<section id="login">"#),
        "a wrong token brings up the sign-in form:\n{refused}"
    );
    assert!(refused.contains("The token was refused."));
    server.abort();
}

/// A Chrome DevTools Protocol session on one page of a headless Chromium.
struct Devtools {
    browser: tokio::process::Child,
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Devtools {
    /// Starts Chromium with remote debugging and opens `url` in a new page.
    async fn open(browser: &PathBuf, url: &str) -> Self {
        use tokio::io::AsyncBufReadExt as _;
        let profile = tempfile::tempdir().expect("browser profile directory");
        let mut child = tokio::process::Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting chromium");
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let ws = tokio::time::timeout(Duration::from_secs(60), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    return url.trim().to_owned();
                }
            }
            panic!("chromium exited without a DevTools endpoint");
        })
        .await
        .expect("chromium's DevTools endpoint in time");
        // Keep draining Chromium's stderr so that it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let (socket, _) = tokio_tungstenite::connect_async(ws.as_str())
            .await
            .expect("connecting to DevTools");
        let mut devtools = Self {
            browser: child,
            socket,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = devtools
            .call("Target.createTarget", serde_json::json!({ "url": url }))
            .await;
        let target = target["targetId"].as_str().unwrap().to_owned();
        let attached = devtools
            .call(
                "Target.attachToTarget",
                serde_json::json!({ "targetId": target, "flatten": true }),
            )
            .await;
        devtools.session = attached["sessionId"].as_str().unwrap().to_owned();
        devtools
    }

    /// Sends one command (to the page once attached) and returns its result.
    async fn call(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        use futures::{SinkExt as _, StreamExt as _};
        use tokio_tungstenite::tungstenite::Message;
        self.next_id += 1;
        let id = self.next_id;
        let mut message = serde_json::json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = serde_json::json!(self.session);
        }
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("sending to DevTools");
        loop {
            let reply = tokio::time::timeout(Duration::from_secs(60), self.socket.next())
                .await
                .expect("DevTools answered in time")
                .expect("DevTools connection open")
                .expect("DevTools message");
            let Message::Text(text) = reply else { continue };
            let reply: serde_json::Value = serde_json::from_str(&text).expect("DevTools JSON");
            if reply["id"] == id {
                assert!(reply.get("error").is_none(), "{method}: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// Evaluates `expression` in the page and returns its value.
    async fn eval(&mut self, expression: &str) -> serde_json::Value {
        let result = self
            .call(
                "Runtime.evaluate",
                serde_json::json!({ "expression": expression, "returnByValue": true }),
            )
            .await;
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` until it is true, for at most 30 s.
    async fn until(&mut self, expression: &str) {
        for _ in 0..300 {
            if self.eval(expression).await == serde_json::json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let body = self.eval("document.body.innerText").await;
        panic!("the page never satisfied {expression}:\n{body}");
    }
}

/// Starts an approval `id` that waits for an hour, serves the API and the dashboard in process, and
/// opens the instance's page in `browser` once it shows the instance running.
async fn waiting_approval_page(
    browser: &PathBuf,
    keel: &keel::Keel,
    id: &str,
) -> (Devtools, tokio::task::JoinHandle<std::io::Result<()>>) {
    let input = format!(r#"{{"requestId":"{id}","timeoutMs":3600000}}"#);
    keel.start("Approval", &input, Some(id)).await.unwrap();
    crate::support::wait_for_event(keel, id, "EventAwaited").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = keel::api::router(keel.clone(), TOKEN.to_owned());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://127.0.0.1:{port}/ui/instances/{id}#token={TOKEN}");
    let mut page = Devtools::open(browser, &url).await;
    page.until("document.getElementById('i-status')?.textContent === 'Running'")
        .await;
    (page, server)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_terminates_a_running_instance_from_its_page() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let t = engine(&["approval"]).await;
    let _worker = crate::support::Running::start(&t.keel);
    let (mut page, server) = waiting_approval_page(&browser, &t.keel, "change-7").await;
    // The timeline shows the durable timer and the wait for the event.
    page.until("document.querySelector('#timeline svg') !== null")
        .await;
    let timeline = page
        .eval("document.getElementById('timeline').textContent")
        .await;
    assert!(
        timeline.as_str().unwrap().contains("events"),
        "the wait for Approved is on the timeline: {timeline}"
    );
    // Accept the confirmation the button asks for, then click it as a user would.
    page.eval(
        "window.confirm = () => true; \
         document.querySelector('.actions button[data-action=terminate]').click(); true",
    )
    .await;
    page.until("document.getElementById('i-status').textContent === 'Terminated'")
        .await;
    page.until("document.querySelector('.actions button[data-action=terminate]').disabled")
        .await;

    let shot = page
        .call(
            "Page.captureScreenshot",
            serde_json::json!({ "format": "png" }),
        )
        .await;
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let artefacts = crate::support::target_dir().join("test-artefacts");
    std::fs::create_dir_all(&artefacts).unwrap();
    let path = artefacts.join("dashboard-terminated.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("dashboard screenshot: {}", path.display());

    let instance = t.keel.status("change-7").await.unwrap().unwrap();
    assert_eq!(instance.status, keel::store::Status::Terminated);
    let _ = page.browser.kill().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_asks_a_query_and_sends_an_update_from_an_instance_page() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let t = engine(&["approval"]).await;
    let _worker = crate::support::Running::start(&t.keel);
    let (mut page, server) = waiting_approval_page(&browser, &t.keel, "change-8").await;

    // Fills the send dialog opened by `action` and submits it as a user would.
    let submit = |action: &str, name: &str, data: &str| {
        format!(
            "document.querySelector('.actions button[data-action={action}]').click(); \
             document.getElementById('send-name').value = {name:?}; \
             document.getElementById('send-data').value = {data:?}; \
             document.getElementById('send-go').click(); true"
        )
    };
    let result = "document.getElementById('send-result')";
    page.eval(&submit(
        "update",
        "AddComment",
        r#"{"by":"bob","text":"ship it"}"#,
    ))
    .await;
    page.until(&format!(
        "!{result}.hidden && JSON.parse({result}.textContent).comments === 1"
    ))
    .await;
    // A rejected update says why, in the dialog.
    page.eval(&submit("update", "AddComment", r#"{"by":"bob","text":""}"#))
        .await;
    page.until("document.getElementById('send-error').textContent.includes('EmptyComment')")
        .await;
    page.eval(&submit("query", "Request", "null")).await;
    page.until(&format!(
        "!{result}.hidden && JSON.parse({result}.textContent).state === 'waiting'"
    ))
    .await;
    assert_eq!(
        page.eval("document.getElementById('send-title').textContent")
            .await,
        "Query"
    );

    let history = t.keel.history("change-8").await.unwrap();
    let accepted = history
        .iter()
        .filter(|r| r.event.kind() == "UpdateAccepted")
        .count();
    assert_eq!(accepted, 1, "one comment accepted, the empty one rejected");
    let _ = page.browser.kill().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_page_shows_its_running_activity_and_latest_heartbeat() {
    let Some(browser) = browser_or_skip() else {
        return;
    };
    let t = engine(&["keel_test_patterns"]).await;
    let input = serde_json::json!({"beats": 1200, "every_ms": 50});
    let id = t
        .keel
        .start("CancelBeating", &input.to_string(), Some("beats-page"))
        .await
        .unwrap();
    let worker = t.keel.run_worker();
    crate::heartbeats::heartbeat_reaches(&t.keel, id.as_str(), 1).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = keel::api::router(t.keel.clone(), TOKEN.to_owned());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let page = dom(
        &browser,
        &format!("http://127.0.0.1:{port}/ui/instances/beats-page#token={TOKEN}"),
    )
    .await;
    assert!(
        page.contains(r#"<div id="i-activities-pane">"#),
        "the activities pane is shown:\n{page}"
    );
    assert!(page.contains("#0 Beating attempt 1 running"), "{page}");
    assert!(page.contains("heartbeat {\"n\":"), "{page}");
    t.keel
        .raise_event(id.as_str(), "Cancel", "null")
        .await
        .unwrap();
    let done = t
        .keel
        .wait(id.as_str(), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(done.output, Some(serde_json::json!("Canceled")));
    worker.shutdown().await;
    server.abort();
}
