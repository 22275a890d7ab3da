//! The decoders of stored rows: history events and inbox messages (and the JSON columns of an
//! instance) from random bytes, from damaged encodings of real values, and through the store from
//! rows written behind the engine's back. Each read is a value or a typed store error, never a panic.

use std::sync::atomic::{AtomicUsize, Ordering};

use keel::history::HistoryEvent;
use keel::store::{Instance, InstanceFilter, Message};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

use super::events::{history_event, json_value};
use super::{check, runtime};
use crate::raw_db::{Arg, RawDb};

const VARIANTS: [&str; 30] = [
    "ExecutionStarted",
    "OrchestratorStarted",
    "TaskScheduled",
    "TaskCompleted",
    "TaskFailed",
    "TaskRetrying",
    "TimerCreated",
    "TimerFired",
    "EventAwaited",
    "EventRaised",
    "SubOrchestrationCreated",
    "SubOrchestrationCompleted",
    "SubOrchestrationFailed",
    "CustomStatusSet",
    "ExecutionSuspended",
    "ExecutionResumed",
    "ExecutionTerminated",
    "ContinuedAsNew",
    "ExecutionCompleted",
    "ExecutionUpgraded",
    "ExecutionRewound",
    "ExecutionFailed",
    "Start",
    "Deliver",
    "Terminate",
    "Suspend",
    "Resume",
    "Wake",
    "taskscheduled",
    "",
];

const FIELDS: [&str; 25] = [
    "id",
    "name",
    "input",
    "options",
    "output",
    "failure",
    "attempt",
    "retryAtMs",
    "fireAtMs",
    "data",
    "instance",
    "status",
    "reason",
    "timeMs",
    "module",
    "parent",
    "run",
    "voided",
    "event",
    "abandonChildren",
    "kind",
    "message",
    "retry",
    "maxAttempts",
    "backoffCoefficient",
];

/// JSON values at the edges of what the decoders accept: wrong types, out-of-range numbers.
fn edgy_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        json_value(),
        proptest::sample::select(
            &[
                "-1",
                "4294967296",
                "18446744073709551615",
                "18446744073709551616",
                "1e300",
                "-0.0",
                "0.5",
                "\"\"",
                "\"\\u0000\"",
                "[]",
                "{}",
                "null",
            ][..]
        )
        .prop_map(|t| serde_json::from_str(t).unwrap_or(Value::Null)),
    ]
}

/// An object shaped like a stored event or message, with a random tag and random known fields.
fn shaped() -> impl Strategy<Value = Value> {
    let object = |inner: Option<Value>| {
        (
            proptest::sample::select(&VARIANTS[..]),
            vec((proptest::sample::select(&FIELDS[..]), edgy_value()), 0..6),
        )
            .prop_map(move |(tag, fields)| {
                let mut map: Map<String, Value> =
                    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                map.insert("type".into(), Value::from(tag));
                if let Some(inner) = &inner {
                    map.insert("event".into(), inner.clone());
                }
                Value::Object(map)
            })
    };
    prop_oneof![
        object(None),
        (history_event(), object(None)).prop_map(|(e, mut outer)| {
            outer["event"] = serde_json::to_value(e).unwrap_or(Value::Null);
            outer
        }),
        object(Some(json!({"type": "TaskCompleted", "id": 1}))),
    ]
}

/// Deeply nested payloads, past serde_json's recursion limit.
fn deep() -> impl Strategy<Value = String> {
    (1usize..400, proptest::sample::select(&["[", "{\"a\":"][..])).prop_map(|(depth, open)| {
        let close = if open == "[" { "]" } else { "}" };
        format!(
            r#"{{"type":"TaskCompleted","id":0,"output":{}1{}}}"#,
            open.repeat(depth),
            close.repeat(depth)
        )
    })
}

#[test]
fn decoders_take_any_bytes() {
    let strategy = prop_oneof![
        vec(any::<u8>(), 0..200),
        shaped().prop_map(|v| v.to_string().into_bytes()),
        deep().prop_map(String::into_bytes),
    ];
    check(
        "decode::decoders_take_any_bytes",
        5_000,
        strategy,
        |bytes| {
            let _ = serde_json::from_slice::<HistoryEvent>(&bytes);
            let _ = serde_json::from_slice::<Message>(&bytes);
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(event) = serde_json::from_str::<HistoryEvent>(&text) {
                // Whatever decodes is a value Keel can describe and store again.
                let _ = (event.kind(), event.summary());
                let again = serde_json::to_string(&event)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(
                    serde_json::from_str::<HistoryEvent>(&again).ok(),
                    Some(event)
                );
            }
            if let Ok(message) = serde_json::from_str::<Message>(&text) {
                let _ = message.kind();
                let again = serde_json::to_string(&message)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(serde_json::from_str::<Message>(&again).ok(), Some(message));
            }
            Ok(())
        },
    );
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::Start),
        Just(Message::Wake),
        history_event().prop_map(|event| Message::Deliver { event }),
        ("[ -~]{0,6}", any::<bool>()).prop_map(|(reason, abandon_children)| Message::Terminate {
            reason,
            abandon_children
        }),
        "[ -~]{0,6}".prop_map(|reason| Message::Suspend { reason }),
        "[ -~]{0,6}".prop_map(|reason| Message::Resume { reason }),
    ]
}

/// A change to an encoding: at a position (a fraction of its length), one of a few edits.
#[derive(Debug, Clone)]
enum Edit {
    Truncate(u16),
    Remove(u16),
    Insert(u16, char),
    Replace(u16, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = proptest::sample::select(
        &[
            '"', '{', '}', '[', ']', ',', ':', '\\', '0', '-', 'e', 'x', 'é',
        ][..],
    );
    prop_oneof![
        any::<u16>().prop_map(Edit::Truncate),
        any::<u16>().prop_map(Edit::Remove),
        (any::<u16>(), ch.clone()).prop_map(|(at, c)| Edit::Insert(at, c)),
        (any::<u16>(), ch).prop_map(|(at, c)| Edit::Replace(at, c)),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for edit in edits {
        let at = |pos: u16, len: usize| usize::from(pos) * len / (usize::from(u16::MAX) + 1);
        match *edit {
            Edit::Truncate(pos) => chars.truncate(at(pos, chars.len() + 1)),
            Edit::Remove(pos) if !chars.is_empty() => {
                chars.remove(at(pos, chars.len()));
            }
            Edit::Remove(_) => {}
            Edit::Insert(pos, c) => chars.insert(at(pos, chars.len() + 1), c),
            Edit::Replace(pos, c) if !chars.is_empty() => {
                let i = at(pos, chars.len());
                chars[i] = c;
            }
            Edit::Replace(..) => {}
        }
    }
    chars.into_iter().collect()
}

#[test]
fn damaged_encodings_decode_or_fail_cleanly() {
    let strategy = (
        prop_oneof![
            history_event().prop_map(|e| serde_json::to_string(&e).unwrap_or_default()),
            message().prop_map(|m| serde_json::to_string(&m).unwrap_or_default()),
        ],
        vec(edit(), 0..4),
    );
    check(
        "decode::damaged_encodings_decode_or_fail_cleanly",
        4_000,
        strategy,
        |(text, edits)| {
            let damaged = apply(&text, &edits);
            for candidate in [&text, &damaged] {
                if let Ok(event) = serde_json::from_str::<HistoryEvent>(candidate) {
                    let again = serde_json::to_string(&event).unwrap_or_default();
                    prop_assert_eq!(
                        serde_json::from_str::<HistoryEvent>(&again).ok(),
                        Some(event)
                    );
                }
                if let Ok(message) = serde_json::from_str::<Message>(candidate) {
                    let again = serde_json::to_string(&message).unwrap_or_default();
                    prop_assert_eq!(serde_json::from_str::<Message>(&again).ok(), Some(message));
                }
            }
            // Undamaged, what Keel wrote reads back as it was.
            prop_assert!(
                serde_json::from_str::<HistoryEvent>(&text).is_ok()
                    || serde_json::from_str::<Message>(&text).is_ok(),
                "an encoding Keel wrote does not decode: {}",
                text
            );
            Ok(())
        },
    );
}

/// What one stored JSON column holds.
#[derive(Debug, Clone)]
enum Cell {
    /// Keel's own encoding of a value.
    Valid(String),
    /// Arbitrary text.
    Text(String),
    /// A BLOB where text belongs.
    Blob(Vec<u8>),
    /// TEXT that is not UTF-8.
    NotUtf8(Vec<u8>),
}

impl Cell {
    fn text(&self) -> Option<&str> {
        match self {
            Self::Valid(t) | Self::Text(t) => Some(t),
            Self::Blob(_) | Self::NotUtf8(_) => None,
        }
    }

    /// Runs `sql` with `args` and then the cell as its last parameter.
    async fn bind(&self, sql: &str, args: &[Arg<'_>], db: &mut RawDb) -> sqlx::Result<()> {
        // SQLite stores bytes cast to TEXT as they are.
        let cast;
        let sql = if let Self::NotUtf8(_) = self {
            let n = args.len() + 1;
            cast = sql.replace(&format!("?{n}"), &format!("CAST(?{n} AS TEXT)"));
            &cast
        } else {
            sql
        };
        let mut all = args.to_vec();
        let not_utf8;
        all.push(match self {
            Self::Valid(t) | Self::Text(t) => Arg::Text(t),
            Self::Blob(b) => Arg::Bytes(b),
            Self::NotUtf8(b) => {
                let mut bytes = b.clone();
                bytes.push(0xff);
                not_utf8 = bytes;
                Arg::Bytes(&not_utf8)
            }
        });
        db.try_execute(sql, &all).await.map(|_| ())
    }
}

/// A stored JSON column: Keel's encoding, other text, or (on SQLite, whose columns take any type)
/// bytes. PostgreSQL's typed columns refuse bytes where text belongs, so there every damaged cell is
/// text.
fn cell(valid: BoxedStrategy<String>) -> BoxedStrategy<Cell> {
    let text = prop_oneof!["[ -~]{0,24}", "[{}\\[\\]\":,0-9a-z]{0,24}"].prop_map(Cell::Text);
    if crate::support::on_postgres() {
        return prop_oneof![3 => valid.prop_map(Cell::Valid), 3 => text].boxed();
    }
    prop_oneof![
        3 => valid.prop_map(Cell::Valid),
        3 => text,
        1 => vec(any::<u8>(), 0..24).prop_map(Cell::Blob),
        1 => vec(any::<u8>(), 0..24).prop_map(Cell::NotUtf8),
    ]
    .boxed()
}

/// Rows of one instance, some of them damaged.
#[derive(Debug, Clone)]
struct Rows {
    status: &'static str,
    execution: i64,
    input: Cell,
    failure: Cell,
    history: Vec<Cell>,
    inbox: Vec<Cell>,
}

fn rows() -> impl Strategy<Value = Rows> {
    let event = || {
        history_event()
            .prop_map(|e| serde_json::to_string(&e).unwrap_or_default())
            .boxed()
    };
    let message = message()
        .prop_map(|m| serde_json::to_string(&m).unwrap_or_default())
        .boxed();
    let value = json_value().prop_map(|v| v.to_string()).boxed();
    let failure = Just(r#"{"kind":"Boom","message":"it failed"}"#.to_owned()).boxed();
    (
        proptest::sample::select(&["Running", "running", "Parked", "Failed", "Bogus", ""][..]),
        prop_oneof![
            Just(1i64),
            Just(0),
            Just(-1),
            Just(i64::MAX),
            Just(1i64 << 33)
        ],
        cell(value),
        cell(failure),
        vec(cell(event()), 0..5),
        vec(cell(message), 0..5),
    )
        .prop_map(|(status, execution, input, failure, history, inbox)| Rows {
            status,
            execution,
            input,
            failure,
            history,
            inbox,
        })
}

/// `Ok` exactly when every cell holds text that `T` decodes from; otherwise a corrupt-value error.
fn expect_decoded<T: serde::de::DeserializeOwned, U>(
    what: &str,
    cells: &[&Cell],
    read: &Result<U, String>,
) -> Result<(), TestCaseError> {
    let texts: Option<Vec<&str>> = cells.iter().map(|c| c.text()).collect();
    let Some(texts) = texts else {
        // Bytes where text belongs: any typed answer will do.
        return Ok(());
    };
    let decodes = texts.iter().all(|t| serde_json::from_str::<T>(t).is_ok());
    match read {
        Ok(_) if decodes => Ok(()),
        Err(e) if !decodes && e.contains("corrupt stored value") => Ok(()),
        Ok(_) => Err(TestCaseError::fail(format!(
            "{what}: undecodable rows read as Ok"
        ))),
        Err(e) => Err(TestCaseError::fail(format!("{what}: unexpected error {e}"))),
    }
}

#[test]
fn stored_rows_that_do_not_decode_are_typed_errors() {
    let rt = runtime();
    let (t, db) = rt.block_on(async {
        let t = crate::support::engine(&[]).await;
        let db = RawDb::open(&t.db()).await;
        (t, db)
    });
    let db = tokio::sync::Mutex::new(db);
    let next = AtomicUsize::new(0);
    check(
        "decode::stored_rows_that_do_not_decode_are_typed_errors",
        200,
        rows(),
        |rows| {
            let id = format!("rows-{}", next.fetch_add(1, Ordering::Relaxed));
            rt.block_on(async {
                let mut db = db.lock().await;
                let db = &mut *db;
                let fail = |e: sqlx::Error| TestCaseError::fail(format!("writing the rows: {e}"));
                db.try_execute(
                    "INSERT INTO instances (id, name, execution, status, module, input, created_at,
                                            updated_at, history_len)
                     VALUES (?, 'Fuzz', ?, ?, 'digest', '', 0, 0, 0)",
                    &[
                        Arg::Text(&id),
                        Arg::Int(rows.execution),
                        Arg::Text(rows.status),
                    ],
                )
                .await
                .map_err(fail)?;
                // `Cell::bind` binds the cell after the arguments: numbered parameters place it.
                for (sql, cell) in [
                    ("UPDATE instances SET input = ?2 WHERE id = ?1", &rows.input),
                    (
                        "UPDATE instances SET failure = ?2 WHERE id = ?1",
                        &rows.failure,
                    ),
                ] {
                    cell.bind(sql, &[Arg::Text(&id)], db).await.map_err(fail)?;
                }
                for (seq, cell) in (0..).zip(&rows.history) {
                    cell.bind(
                        "INSERT INTO history (instance, execution, seq, recorded_at, event)
                         VALUES (?1, 1, ?2, 0, ?3)",
                        &[Arg::Text(&id), Arg::Int(seq)],
                        db,
                    )
                    .await
                    .map_err(fail)?;
                }
                for cell in &rows.inbox {
                    cell.bind(
                        "INSERT INTO inbox (instance, execution, kind, message, visible_at)
                         VALUES (?1, NULL, 'Fuzz', ?2, 0)",
                        &[Arg::Text(&id)],
                        db,
                    )
                    .await
                    .map_err(fail)?;
                }

                let store = t.keel.store();
                let history = text_of(store.history(&id).await);
                expect_decoded::<HistoryEvent, _>(
                    "history",
                    &rows.history.iter().collect::<Vec<_>>(),
                    &history,
                )?;
                let events = text_of(store.execution_history(&id, 1).await);
                expect_decoded::<HistoryEvent, _>(
                    "execution history",
                    &rows.history.iter().collect::<Vec<_>>(),
                    &events,
                )?;
                let inbox = text_of(store.inbox(&id, u64::MAX).await);
                expect_decoded::<Message, _>(
                    "inbox",
                    &rows.inbox.iter().collect::<Vec<_>>(),
                    &inbox,
                )?;
                if let Ok(events) = &events {
                    // What decodes is what was stored, in sequence order.
                    let stored: Vec<Option<HistoryEvent>> = rows
                        .history
                        .iter()
                        .map(|c| c.text().and_then(|t| serde_json::from_str(t).ok()))
                        .collect();
                    let read: Vec<Option<HistoryEvent>> =
                        events.iter().cloned().map(Some).collect();
                    prop_assert_eq!(read, stored);
                }
                let instance: Result<Option<Instance>, String> =
                    t.keel.status(&id).await.map_err(|e| e.to_string());
                let valid_status =
                    matches!(rows.status, "Running" | "running" | "Parked" | "Failed");
                match (&instance, rows.input.text(), rows.failure.text()) {
                    (Ok(Some(instance)), _, _) => {
                        prop_assert_eq!(&instance.id, &id);
                        prop_assert!(valid_status, "status {:?} read as Ok", rows.status);
                    }
                    (Ok(None), _, _) => return Err(TestCaseError::fail("the instance is gone")),
                    (Err(e), Some(input), Some(failure)) => {
                        let decodes = valid_status
                            && serde_json::from_str::<Value>(input).is_ok()
                            && serde_json::from_str::<keel::Failure>(failure).is_ok();
                        prop_assert!(
                            !decodes && e.contains("corrupt stored value"),
                            "instance: unexpected error {}",
                            e
                        );
                    }
                    (Err(_), _, _) => {}
                }
                // Listings and counts read every row, earlier cases' damaged ones included.
                let _ = t.keel.list(&InstanceFilter::default()).await;
                let _ = store.count_by_status().await;
                let _ = t.keel.history(&id).await;
                Ok(())
            })
        },
    );
}

fn text_of<T>(read: Result<T, keel::store::Error>) -> Result<T, String> {
    read.map_err(|e| e.to_string())
}
