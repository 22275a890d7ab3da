//! What guests write, where people look: an orchestrator's lines stored once however often its
//! turns replay, each activity attempt's lines with its task and attempt, `keel logs` printing them
//! the same from the database and through a server, and `keel run` showing them without asking.

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::cli::{keel, text};
use crate::support::{assert_completed, engine_with, finish, guests, serve, wait_for_event};

/// (source, task, attempt, stream, text) of each stored line of `id`.
async fn lines(
    keel: &keel::engine::Keel,
    id: &str,
) -> Vec<(String, Option<u32>, Option<u32>, String, String)> {
    keel.logs(id, 0, 1_000)
        .await
        .expect("logs")
        .into_iter()
        .map(|l| {
            let l = l.line;
            (l.source, l.task, l.attempt, l.stream, l.text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_orchestrators_lines_are_stored_once_though_every_turn_replays_the_ones_before() {
    // No hot guests: the second turn replays the first, which writes its lines again, muted.
    let t = engine_with(&["keel_test_patterns"], |c| c.hot_capacity = 0).await;
    let input = json!({"lines": 3, "bytes": 2}).to_string();
    let id = t
        .keel
        .start("Chatty", &input, Some("chatty"))
        .await
        .unwrap();
    let worker = t.keel.run_worker();
    wait_for_event(&t.keel, id.as_str(), "EventAwaited").await;
    t.keel.raise_event(id.as_str(), "go", "{}").await.unwrap();
    let instance = t
        .keel
        .wait(id.as_str(), Duration::from_secs(60))
        .await
        .unwrap();
    worker.shutdown().await;
    assert_completed(&instance);
    let expected: Vec<_> = ["first", "second"]
        .into_iter()
        .flat_map(|turn| {
            (0..3).map(move |i| {
                let stream = if i % 2 == 0 { "info" } else { "stdout" };
                (
                    "Chatty".to_owned(),
                    None,
                    None,
                    stream.to_owned(),
                    format!("{turn} {i} xx"),
                )
            })
        })
        .collect();
    assert_eq!(lines(&t.keel, id.as_str()).await, expected);
    // Each line's time is the engine clock's when it was written.
    let stored = t.keel.logs(id.as_str(), 0, 1_000).await.unwrap();
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id));
    assert!(
        stored
            .iter()
            .all(|l| l.line.at_ms > 0 && l.line.execution == 1)
    );
    // Paging: after the third line come the last three.
    let rest = t.keel.logs(id.as_str(), stored[2].id, 1_000).await.unwrap();
    assert_eq!(rest, stored[3..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_activity_attempt_s_lines_are_stored_with_its_task_and_attempt() {
    let t = engine_with(&["keel_test_patterns"], |_| {}).await;
    // `Leak` prints a line on stdout and one on stderr, then fails; two attempts.
    let input = json!({
        "activity": "Leak",
        "input": {"var": "UNSET", "fail": true},
        "retry": [2, 10],
    })
    .to_string();
    let id = t.keel.start("Call", &input, None).await.unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(instance.output.unwrap()["kind"], "Leaked");
    let expected: Vec<_> = [1, 2]
        .into_iter()
        .flat_map(|attempt| {
            [
                ("stdout", "the value of UNSET is"),
                ("stderr", "stderr also gets"),
            ]
            .map(|(stream, line)| {
                (
                    "Leak".to_owned(),
                    Some(0),
                    Some(attempt),
                    stream.to_owned(),
                    line.to_owned(),
                )
            })
        })
        .collect();
    assert_eq!(lines(&t.keel, id.as_str()).await, expected);
    let error = t.keel.logs("nope", 0, 10).await.unwrap_err();
    assert!(error.to_string().starts_with("[KEEL-E4]"), "{error}");
}

#[test]
fn keel_run_shows_what_guests_write_and_keel_logs_prints_it_the_same_locally_and_through_a_server()
{
    let dir = tempfile::tempdir().unwrap();
    let db = crate::support::test_db(dir.path());
    let module = guests().join("keel_test_patterns.wasm");
    let input = json!({"activity": "Leak", "input": {"var": "UNSET"}}).to_string();
    // No RUST_LOG: the default level of `keel run`.
    let out = Command::new(env!("CARGO_BIN_EXE_keel"))
        .arg("--db")
        .arg(&db)
        .envs(crate::support::process_env(&db))
        .env_remove("RUST_LOG")
        .arg("run")
        .arg(&module)
        .args(["-o", "Call", "-i", &input, "--id", "leak-1"])
        .output()
        .expect("running keel");
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{}{stderr}", text(&out.stdout));
    assert!(stderr.contains("the value of UNSET is"), "{stderr}");
    assert!(stderr.contains("stderr also gets"), "{stderr}");

    let here = keel(&db, &["logs", "leak-1"]);
    let shown = text(&here.stdout);
    assert!(here.status.success(), "{shown}{}", text(&here.stderr));
    let shown: Vec<&str> = shown.lines().collect();
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(
        shown[0].contains("Leak #0 attempt 1")
            && shown[0].contains("stdout")
            && shown[0].ends_with("the value of UNSET is"),
        "{shown:?}"
    );
    assert!(shown[1].ends_with("stderr also gets"), "{shown:?}");
    let json = text(&keel(&db, &["--json", "logs", "leak-1"]).stdout);
    let first: Value = serde_json::from_str(json.lines().next().unwrap_or_default()).unwrap();
    assert_eq!(first["source"], "Leak");
    assert_eq!(first["task"], 0);
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["stream"], "stdout");
    let unknown = keel(&db, &["logs", "nope"]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown.stderr).contains("[KEEL-E4]"),
        "{}",
        text(&unknown.stderr)
    );

    // Through a server on the same database: the same lines, and --follow ends with the instance.
    let token = "tok-guest-logs";
    let server = serve(&db, token);
    let url = format!("http://127.0.0.1:{}", server.port);
    for args in [
        &["logs", "leak-1"][..],
        &["--json", "logs", "leak-1"],
        &["logs", "-f", "leak-1"],
    ] {
        let there = Command::new(env!("CARGO_BIN_EXE_keel"))
            .args(["--server", &url])
            .args(args)
            .env_remove("KEEL_DB")
            .env("KEEL_API_TOKEN", token)
            .env("RUST_LOG", "warn")
            .output()
            .expect("running keel --server");
        assert!(there.status.success(), "{}", text(&there.stderr));
        let here = keel(&db, args);
        assert_eq!(text(&there.stdout), text(&here.stdout), "{args:?}");
    }
}
