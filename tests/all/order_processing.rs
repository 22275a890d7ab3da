//! The seed's order workflow: the happy path, each failure path, and the retry of the flaky carrier.

use keel::store::Status;
use serde_json::json;

use crate::support::{assert_completed, engine, finish, kinds};

const ORDER: &str = r#"{"orderId":"order-42","amount":25.0,"items":["book"]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_order_is_paid_reserved_shipped_and_confirmed() {
    let t = engine(&["order_processing"]).await;
    let id = t
        .keel
        .start("ProcessOrder", ORDER, Some("order-42"))
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
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

    let history = t.keel.history(id.as_str()).await.unwrap();
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
            keel::HistoryEvent::TaskScheduled { name, .. } => Some(name.clone()),
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
    // The flaky carrier failed once and was retried under the policy.
    let retry = history
        .iter()
        .find_map(|r| match &r.event {
            keel::HistoryEvent::TaskRetrying {
                failure, attempt, ..
            } => Some((failure.kind.clone(), *attempt)),
            _ => None,
        })
        .unwrap();
    assert_eq!(retry, ("CarrierUnavailable".to_owned(), 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declined_payment_fails_the_order_with_a_clear_error() {
    let t = engine(&["order_processing"]).await;
    let input = r#"{"orderId":"order-7","amount":0,"items":["book"]}"#;
    let id = t.keel.start("ProcessOrder", input, None).await.unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.unwrap();
    assert_eq!(failure.kind, "PaymentFailed");
    assert!(failure.message.contains("order-7"), "{failure}");
    let history = t.keel.history(id.as_str()).await.unwrap();
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

#[tokio::test(flavor = "multi_thread")]
async fn missing_stock_fails_the_order_and_names_the_item() {
    let t = engine(&["order_processing"]).await;
    let input = r#"{"orderId":"order-8","amount":10,"items":["book","unobtainium"]}"#;
    let id = t.keel.start("ProcessOrder", input, None).await.unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.unwrap();
    assert_eq!(failure.kind, "InventoryFailed");
    assert!(failure.message.contains("unobtainium"), "{failure}");
}
