//! The order workflow in every language, against the real payment and mail service
//! (`scripts/shop_service.py`) under grants, configuration and a secret: the happy path with the flaky
//! carrier retried, a busy payment service retried, each failure path, and the manifest.

use keel::HistoryEvent;
use keel::cli::build::Lang;
use keel::store::{HistoryRecord, Instance, Status};
use serde_json::json;

use super::{Order, engine_for, same_as_rust_with};
use crate::support::{Shop, assert_completed, kinds};

const ORDER: &str = r#"{"orderId":"order-42","amount":25.0,"items":["book"]}"#;

/// Runs the order `input` in `lang` and in Rust, each against a fresh shop service; returns `lang`'s
/// run and what its shop received.
async fn order(lang: Lang, input: &str) -> (Instance, Vec<HistoryRecord>, Vec<serde_json::Value>) {
    let received = std::sync::Mutex::new(Vec::new());
    let (instance, history) = same_as_rust_with(
        lang,
        "order_processing",
        "ProcessOrder",
        input,
        Order::Recorded,
        async |keel| {
            let shop = Shop::start("tok-shop-7f3a");
            shop.configure(keel).await;
            ShopRun {
                shop,
                received: &received,
            }
        },
    )
    .await;
    // The first run recorded is `lang`'s.
    let received = received
        .into_inner()
        .unwrap()
        .into_iter()
        .next()
        .unwrap_or_default();
    (instance, history, received)
}

/// Keeps a shop alive for one run and records what it received when the run is over.
struct ShopRun<'a> {
    shop: Shop,
    received: &'a std::sync::Mutex<Vec<Vec<serde_json::Value>>>,
}

impl Drop for ShopRun<'_> {
    fn drop(&mut self) {
        let seen = self.shop.received();
        self.received.lock().unwrap().push(seen);
    }
}

pub(crate) async fn an_order_is_paid_reserved_shipped_and_confirmed(lang: Lang) {
    let (instance, history, received) = order(lang, ORDER).await;
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
    // The services really were called, the payment with the secret token.
    let services: Vec<(&str, &serde_json::Value, u64)> = received
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap_or_default(),
                &r["authorized"],
                r["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        services,
        [
            ("payments", &json!(true), 200),
            ("mail", &json!(false), 200)
        ],
        "{lang}: {received:?}"
    );
    assert_eq!(received[0]["body"]["orderId"], "order-42", "{lang}");
    assert_eq!(
        received[1]["body"]["to"], "customer+order-42@example.com",
        "{lang}: {received:?}"
    );
}

pub(crate) async fn a_busy_payment_service_is_retried_by_the_policy(lang: Lang) {
    let input = r#"{"orderId":"flaky-9","amount":12.5,"items":["pen"]}"#;
    let (instance, history, received) = order(lang, input).await;
    assert_completed(&instance);
    let retried = history
        .iter()
        .find_map(|r| match &r.event {
            HistoryEvent::TaskRetrying { id: 0, failure, .. } => Some(failure.kind.clone()),
            _ => None,
        })
        .expect("the payment was retried");
    assert_eq!(retried, "HttpStatus", "{lang}");
    let statuses: Vec<u64> = received
        .iter()
        .filter(|r| r["service"] == "payments")
        .map(|r| r["status"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(statuses, [503, 200], "{lang}");
}

pub(crate) async fn a_declined_payment_fails_the_order_with_a_clear_error(lang: Lang) {
    let input = r#"{"orderId":"order-7","amount":0,"items":["book"]}"#;
    let (instance, history, received) = order(lang, input).await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.expect("a failure");
    assert_eq!(failure.kind, "PaymentFailed", "{lang}: {failure}");
    assert!(failure.message.contains("order-7"), "{failure}");
    // The service declined it (402), once: a declined payment is not retried.
    let statuses: Vec<u64> = received
        .iter()
        .map(|r| r["status"].as_u64().unwrap_or_default())
        .collect();
    assert_eq!(statuses, [402], "{lang}");
    assert_eq!(
        failure.details.as_ref().map(|d| d["cause"]["kind"].clone()),
        Some(json!("PaymentDeclined")),
        "{failure:?}"
    );
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
    let (instance, _, _) = order(lang, input).await;
    assert_eq!(instance.status, Status::Failed);
    let failure = instance.failure.expect("a failure");
    assert_eq!(failure.kind, "InventoryFailed", "{lang}: {failure}");
    assert!(failure.message.contains("unobtainium"), "{failure}");
}

pub(crate) async fn an_order_missing_a_field_is_refused_naming_the_field(lang: Lang) {
    let t = engine_for(lang, "order_processing").await;
    for (id, input, expected) in [
        (
            "no-amount",
            r#"{"orderId":"order-1","items":["book"]}"#,
            "missing field `amount`",
        ),
        (
            "no-items",
            r#"{"orderId":"order-1","amount":1}"#,
            "missing field `items`",
        ),
    ] {
        t.keel
            .start("ProcessOrder", input, Some(id))
            .await
            .expect("started");
        let instance = crate::support::finish(&t.keel, id).await;
        assert_eq!(instance.status, Status::Failed, "{lang}: {id}");
        let failure = instance.failure.expect("a failure");
        assert_eq!(failure.kind, "InvalidInput", "{lang}: {failure}");
        assert!(
            failure
                .message
                .starts_with("the input of ProcessOrder is not valid: ")
                && failure.message.contains(expected),
            "{lang}: {id}: {failure}"
        );
    }
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
