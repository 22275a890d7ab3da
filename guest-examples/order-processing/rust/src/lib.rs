//! The order-processing example: the classic Durable Functions order workflow (verify the payment,
//! reserve the stock, ship with retries, confirm by email) as one Keel module.
//! It must never talk to a real payment provider, warehouse or mail server: every activity is a
//! deterministic stand-in, so the example can run anywhere and be tested end to end.

use std::time::Duration;

use keel_sdk::{ActivityOptions, Context, Failure, RetryPolicy, activity_info};
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

/// Largest amount the stand-in payment provider accepts.
const MAX_AMOUNT: f64 = 10_000.0;

/// The one item the stand-in warehouse never has.
const UNOBTAINABLE: &str = "unobtainium";

fn process_order(ctx: &Context, order: Order) -> Result<OrderResult, Failure> {
    let id = &order.order_id;
    ctx.info(format!("processing order {id}"));

    ctx.set_custom_status(&json!({"step": "payment"}));
    let payment: Payment = ctx
        .call_activity("VerifyPayment", &order)
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

fn verify_payment(order: Order) -> Result<Payment, Failure> {
    if order.amount <= 0.0 || order.amount > MAX_AMOUNT {
        return Err(Failure::new(
            "PaymentDeclined",
            format!(
                "amount {} is outside the accepted range (0, {MAX_AMOUNT}]",
                order.amount
            ),
        ));
    }
    Ok(Payment {
        transaction_id: format!("txn-{}", order.order_id),
        amount: order.amount,
    })
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

fn send_confirmation_email(confirmation: Confirmation) -> Result<EmailReceipt, Failure> {
    Ok(EmailReceipt {
        sent: true,
        to: format!("customer+{}@example.com", confirmation.order_id),
    })
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
