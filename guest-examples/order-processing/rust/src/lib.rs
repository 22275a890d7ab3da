//! The order-processing example: the classic Durable Functions order workflow (verify the payment,
//! reserve the stock, ship with retries, confirm by email) as one Keel module.
//! `VerifyPayment` and `SendConfirmationEmail` call a payment and a mail service over HTTP, at the URLs
//! in their configuration (`PAYMENT_URL`, `MAIL_URL`, and the secret `PAYMENT_TOKEN`), under grants;
//! `scripts/shop_service.py` is such a service. The warehouse and the carrier
//! stay local stand-ins, so the rest of the example runs anywhere.

use std::time::Duration;

use keel_sdk::{ActivityOptions, Context, Failure, RetryPolicy, activity_info, http};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The orchestrator's input, e.g. `{"orderId":"order-42","amount":25.0,"items":["book"]}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    order_id: String,
    amount: f64,
    items: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payment {
    transaction_id: String,
    amount: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Reservation {
    reserved: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shipment {
    tracking_number: String,
    carrier: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Confirmation {
    order_id: String,
    tracking_number: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct EmailReceipt {
    sent: bool,
    to: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderResult {
    order_id: String,
    status: &'static str,
    transaction_id: String,
    tracking_number: String,
    email_sent: bool,
}

/// The one item the stand-in warehouse never has.
const UNOBTAINABLE: &str = "unobtainium";

fn process_order(ctx: &Context, order: Order) -> Result<OrderResult, Failure> {
    let id = &order.order_id;
    ctx.info(format!("processing order {id}"));

    ctx.set_custom_status(&json!({"step": "payment"}));
    // A busy payment service is worth a few retries; a declined payment is final.
    let payment_retry = ActivityOptions::new().retry(
        RetryPolicy::new(3, Duration::from_millis(100))
            .backoff(2.0)
            .non_retryable(&["PaymentDeclined"]),
    );
    let payment: Payment = ctx
        .call_activity_with("VerifyPayment", &order, payment_retry)
        .get()
        .map_err(|failure| step_failed("PaymentFailed", "payment", id, &failure))?;
    ctx.info(format!(
        "order {id}: payment {} verified",
        payment.transaction_id
    ));

    ctx.set_custom_status(&json!({"step": "inventory"}));
    let reservation: Reservation = ctx
        .call_activity("CheckInventory", &order.items)
        .get()
        .map_err(|failure| step_failed("InventoryFailed", "inventory", id, &failure))?;
    ctx.info(format!("order {id}: reserved {:?}", reservation.reserved));

    ctx.set_custom_status(&json!({"step": "shipping"}));
    // Carriers are flaky: a few quick retries are cheaper than failing the order.
    let shipping =
        ActivityOptions::new().retry(RetryPolicy::new(3, Duration::from_millis(100)).backoff(2.0));
    let shipment: Shipment = ctx
        .call_activity_with("ShipOrder", &order, shipping)
        .get()
        .map_err(|failure| step_failed("ShippingFailed", "shipping", id, &failure))?;
    ctx.info(format!(
        "order {id}: shipped as {}",
        shipment.tracking_number
    ));

    ctx.set_custom_status(&json!({"step": "confirmation"}));
    let confirmation = Confirmation {
        order_id: id.clone(),
        tracking_number: shipment.tracking_number.clone(),
    };
    let receipt: EmailReceipt = ctx
        .call_activity("SendConfirmationEmail", &confirmation)
        .get()?;
    ctx.info(format!("order {id}: confirmation sent to {}", receipt.to));

    ctx.set_custom_status(&json!({"step": "completed"}));
    Ok(OrderResult {
        order_id: order.order_id,
        status: "completed",
        transaction_id: payment.transaction_id,
        tracking_number: shipment.tracking_number,
        email_sent: receipt.sent,
    })
}

/// Wraps an activity's failure into the orchestrator's own, keeping the cause in message and details.
fn step_failed(kind: &str, step: &str, order_id: &str, cause: &Failure) -> Failure {
    Failure::new(
        kind,
        format!("{step} for order {order_id} failed: {}", cause.message),
    )
    .with_details(&json!({"cause": {"kind": cause.kind, "message": cause.message}}))
}

/// A configuration value of the running activity (`keel config set ACTIVITY KEY=VALUE`).
fn setting(key: &str) -> Result<String, Failure> {
    std::env::var(key).map_err(|_| {
        Failure::new(
            "NotConfigured",
            format!("{key} is not set; set it with: keel config set <activity> {key}=<value>"),
        )
    })
}

/// POSTs the order to the payment service: 200 is a payment, 402 a declined payment (final), and
/// any other error status a failure the retry policy retries.
fn verify_payment(order: Order) -> Result<Payment, Failure> {
    let mut request = http::Request::post(&setting("PAYMENT_URL")?).json(&order)?;
    if let Ok(token) = std::env::var("PAYMENT_TOKEN") {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    let response = request.send()?;
    if response.status == 402 {
        let reason = response
            .json::<serde_json::Value>()
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_owned))
            .unwrap_or_else(|| response.text());
        return Err(Failure::new("PaymentDeclined", reason));
    }
    response.error_for_status()?.json()
}

fn check_inventory(items: Vec<String>) -> Result<Reservation, Failure> {
    if items.is_empty() {
        return Err(Failure::new("EmptyOrder", "the order has no items"));
    }
    if let Some(item) = items.iter().find(|item| item.as_str() == UNOBTAINABLE) {
        return Err(Failure::new(
            "OutOfStock",
            format!("{item} is out of stock"),
        ));
    }
    Ok(Reservation { reserved: items })
}

fn ship_order(order: Order) -> Result<Shipment, Failure> {
    // Deliberately flaky to show retries: the first attempt always fails. Without attempt information
    // (outside Keel) there is no retry to come, so it succeeds.
    if activity_info().is_some_and(|info| info.attempt <= 1) {
        return Err(Failure::new(
            "CarrierUnavailable",
            format!(
                "no carrier could take order {} on the first try",
                order.order_id
            ),
        ));
    }
    Ok(Shipment {
        tracking_number: format!("TRK-{}", order.order_id),
        carrier: "keel-post".to_owned(),
    })
}

/// POSTs the confirmation to the mail service.
fn send_confirmation_email(confirmation: Confirmation) -> Result<EmailReceipt, Failure> {
    let message = json!({
        "to": format!("customer+{}@example.com", confirmation.order_id),
        "subject": format!("Your order {} has shipped", confirmation.order_id),
        "body": format!("Tracking number: {}", confirmation.tracking_number),
    });
    http::Request::post(&setting("MAIL_URL")?)
        .json(&message)?
        .send()?
        .error_for_status()?
        .json()
}

keel_sdk::module! {
    orchestrators: { "ProcessOrder" => process_order },
    activities: {
        "VerifyPayment" => verify_payment,
        "CheckInventory" => check_inventory,
        "ShipOrder" => ship_order,
        "SendConfirmationEmail" => send_confirmation_email,
    },
}
