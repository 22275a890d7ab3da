//! The order workflow in every language: the happy path with the flaky carrier retried, each failure
//! path, and the manifest.

use keel::HistoryEvent;
use keel::cli::build::Lang;
use keel::store::Status;
use serde_json::json;

use super::{Order, engine_for, same_as_rust};
use crate::support::{assert_completed, kinds};

const ORDER: &str = r#"{"orderId":"order-42","amount":25.0,"items":["book"]}"#;

pub(crate) async fn an_order_is_paid_reserved_shipped_and_confirmed(lang: Lang) {
    let (instance, history) = same_as_rust(
        lang,
        "order_processing",
        "ProcessOrder",
        ORDER,
        Order::Recorded,
    )
    .await;
    assert_completed(&instance);
    assert_eq!(
        instance.output,
        Some(json!({
            "orderId": "order-42",
            "status": "completed",
            "transactionId": "txn-order-42",
            "trackingNumber": "TRK-order-42",
            "emailSent": true
        }))
    );
    assert_eq!(instance.custom_status, Some(json!({"step": "completed"})));
    assert_eq!(
        kinds(&history),
        [
            "ExecutionStarted",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskCompleted",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskCompleted",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskRetrying",
            "TaskCompleted",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskCompleted",
            "CustomStatusSet",
            "ExecutionCompleted"
        ]
    );
    let scheduled: Vec<String> = history
        .iter()
        .filter_map(|r| match &r.event {
            HistoryEvent::TaskScheduled { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        scheduled,
        [
            "VerifyPayment",
            "CheckInventory",
            "ShipOrder",
            "SendConfirmationEmail"
        ]
    );
    // The flaky carrier failed its first attempt (KEEL_ATTEMPT=1) and was retried under the policy.
    let retry = history
        .iter()
        .find_map(|r| match &r.event {
            HistoryEvent::TaskRetrying {
                failure, attempt, ..
            } => Some((failure.kind.clone(), *attempt)),
            _ => None,
        })
        .expect("a TaskRetrying event");
    assert_eq!(retry, ("CarrierUnavailable".to_owned(), 1));
}

pub(crate) async fn a_declined_payment_fails_the_order_with_a_clear_error(lang: Lang) {
    let input = r#"{"orderId":"order-7","amount":0,"items":["book"]}"#;
    let (instance, history) = same_as_rust(
        lang,
        "order_processing",
        "ProcessOrder",
        input,
        Order::Recorded,
    )
    .await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.expect("a failure");
    assert_eq!(failure.kind, "PaymentFailed");
    assert!(failure.message.contains("order-7"), "{failure}");
    assert_eq!(
        kinds(&history),
        [
            "ExecutionStarted",
            "CustomStatusSet",
            "TaskScheduled",
            "TaskFailed",
            "ExecutionFailed"
        ]
    );
}

pub(crate) async fn missing_stock_fails_the_order_and_names_the_item(lang: Lang) {
    let input = r#"{"orderId":"order-8","amount":10,"items":["book","unobtainium"]}"#;
    let (instance, _) = same_as_rust(
        lang,
        "order_processing",
        "ProcessOrder",
        input,
        Order::Recorded,
    )
    .await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.expect("a failure");
    assert_eq!(failure.kind, "InventoryFailed");
    assert!(failure.message.contains("unobtainium"), "{failure}");
}

pub(crate) async fn the_manifest_lists_every_function(lang: Lang) {
    let t = engine_for(lang, "order_processing").await;
    let mut functions: Vec<(String, String)> = t
        .keel
        .functions()
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.name, f.kind))
        .collect();
    functions.sort();
    let expected = [
        ("CheckInventory", "activity"),
        ("ProcessOrder", "orchestrator"),
        ("SendConfirmationEmail", "activity"),
        ("ShipOrder", "activity"),
        ("VerifyPayment", "activity"),
    ];
    assert_eq!(
        functions,
        expected.map(|(n, k)| (n.to_owned(), k.to_owned())),
        "{lang}"
    );
}
