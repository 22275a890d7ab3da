//! Guests' log lines: stored with the turn or the attempt's result that produced them and only if
//! that commits, read back in order a page at a time, and gone with their instance or their age.

use keel_core::history::HistoryEvent;
use keel_store::{FinishWorkItem, Finished, LogLine, Status, Store, StoredLogLine, TurnCommit};

use crate::support::stores;
use crate::work_items::{LEASE, create, lease, result, scheduled};

/// A line of `instance` written at `at_ms`: the orchestrator's when `task` is `None`.
fn line(instance: &str, at_ms: u64, task: Option<u32>, text: &str) -> LogLine {
    LogLine {
        instance: instance.to_owned(),
        execution: 1,
        at_ms,
        source: if task.is_some() { "Act" } else { "Flow" }.to_owned(),
        task,
        attempt: task.map(|_| 1),
        stream: if task.is_some() { "stdout" } else { "info" }.to_owned(),
        text: text.to_owned(),
    }
}

async fn texts(s: &Store, id: &str) -> Vec<String> {
    lines(s, id, 0, 100)
        .await
        .into_iter()
        .map(|l| l.line.text)
        .collect()
}

async fn lines(s: &Store, id: &str, after: i64, limit: u32) -> Vec<StoredLogLine> {
    s.logs(id, after, limit).await.expect("logs")
}

#[tokio::test]
async fn lines_are_stored_with_their_turn_or_result_and_read_in_order_a_page_at_a_time() {
    for t in stores().await {
        let s = &t.store;
        let instance = scheduled(s, "i1", 2, 100).await;
        assert!(texts(s, "i1").await.is_empty(), "{}", t.backend);
        let claimed = s.claim_work_items("w", 200, 200 + LEASE, 2).await.unwrap();
        // The first attempt's result, with its two lines.
        let finished = s
            .finish_work_item(
                FinishWorkItem::Done {
                    id: claimed[0].id,
                    owner: "w".into(),
                    message: result("i1", claimed[0].task_id, 300),
                },
                vec![
                    line("i1", 250, Some(0), "a0"),
                    line("i1", 260, Some(0), "a1"),
                ],
                None,
                300,
            )
            .await
            .unwrap();
        assert_ne!(finished, Finished::LeaseLost, "{}", t.backend);
        // The turn on it, with the orchestrator's line.
        let (row, consumed) = lease(s, "i1", "turns", 400).await;
        assert_eq!(row.history_len, instance.history_len, "{}", t.backend);
        let mut commit = TurnCommit::of(&row, "turns", 400);
        commit.consumed = consumed;
        commit.status = Status::Running;
        commit
            .events
            .push(HistoryEvent::OrchestratorStarted { time_ms: 400 });
        commit.logs = vec![line("i1", 400, None, "o0")];
        s.commit_turn(commit).await.unwrap();
        // The second attempt's.
        s.finish_work_item(
            FinishWorkItem::Done {
                id: claimed[1].id,
                owner: "w".into(),
                message: result("i1", claimed[1].task_id, 500),
            },
            vec![line("i1", 450, Some(1), "b0")],
            None,
            500,
        )
        .await
        .unwrap();
        assert_eq!(
            texts(s, "i1").await,
            ["a0", "a1", "o0", "b0"],
            "{}",
            t.backend
        );
        let all = lines(s, "i1", 0, 100).await;
        assert_eq!(all[0].line, line("i1", 250, Some(0), "a0"), "{}", t.backend);
        assert_eq!(all[2].line, line("i1", 400, None, "o0"), "{}", t.backend);
        // Pages: two, then from after the last id seen.
        let first = lines(s, "i1", 0, 2).await;
        assert_eq!(first.len(), 2, "{}", t.backend);
        let rest = lines(s, "i1", first[1].id, 100).await;
        let rest: Vec<&str> = rest.iter().map(|l| l.line.text.as_str()).collect();
        assert_eq!(rest, ["o0", "b0"], "{}", t.backend);
        assert!(lines(s, "other", 0, 100).await.is_empty(), "{}", t.backend);
    }
}

#[tokio::test]
async fn lines_of_a_write_that_does_not_commit_are_not_stored() {
    for t in stores().await {
        let s = &t.store;
        scheduled(s, "i1", 1, 100).await;
        let first = s.claim_work_items("a", 100, 100 + LEASE, 1).await.unwrap();
        // b takes the item over once a's lease is over: a's result and its line go nowhere.
        s.claim_work_items("b", 2000, 2000 + LEASE, 1)
            .await
            .unwrap();
        let finished = s
            .finish_work_item(
                FinishWorkItem::Done {
                    id: first[0].id,
                    owner: "a".into(),
                    message: result("i1", 0, 2100),
                },
                vec![line("i1", 2050, Some(0), "lost")],
                None,
                2100,
            )
            .await
            .unwrap();
        assert_eq!(finished, Finished::LeaseLost, "{}", t.backend);
        // A turn whose lease is gone fails with its lines.
        create(s, "i2", 100).await;
        let (row, _) = lease(s, "i2", "x", 100).await;
        let mut commit = TurnCommit::of(&row, "someone-else", 200);
        commit.logs = vec![line("i2", 150, None, "also lost")];
        assert!(s.commit_turn(commit).await.is_err(), "{}", t.backend);
        assert!(texts(s, "i1").await.is_empty(), "{}", t.backend);
        assert!(texts(s, "i2").await.is_empty(), "{}", t.backend);
    }
}

#[tokio::test]
async fn lines_go_with_a_purge_and_with_age() {
    for t in stores().await {
        let s = &t.store;
        for id in ["old", "kept"] {
            create(s, id, 100).await;
            let (row, consumed) = lease(s, id, "turns", 100).await;
            let mut commit = TurnCommit::of(&row, "turns", 100);
            commit.consumed = consumed;
            commit.status = Status::Completed;
            commit.logs = vec![
                line(id, 1_000, None, "early"),
                line(id, 5_000, None, "late"),
            ];
            s.commit_turn(commit).await.unwrap();
        }
        assert_eq!(s.prune_logs(5_000).await.unwrap(), 2, "{}", t.backend);
        assert_eq!(texts(s, "kept").await, ["late"], "{}", t.backend);
        assert!(s.purge("old").await.unwrap(), "{}", t.backend);
        assert!(texts(s, "old").await.is_empty(), "{}", t.backend);
        assert_eq!(texts(s, "kept").await, ["late"], "{}", t.backend);
        // A new instance under the ended id starts with no lines.
        create(s, "kept", 6_000).await;
        assert!(texts(s, "kept").await.is_empty(), "{}", t.backend);
    }
}
