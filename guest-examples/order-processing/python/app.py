"""The order-processing example in Python: the classic Durable Functions order workflow (verify the
payment, reserve the stock, ship with retries, confirm by email), behaviourally identical to the Rust one.
``VerifyPayment`` and ``SendConfirmationEmail`` call a payment and a mail service over HTTP, at the URLs in
their configuration (``PAYMENT_URL``, ``MAIL_URL``, and the secret ``PAYMENT_TOKEN``), under grants;
``scripts/shop_service.py`` is such a service. The warehouse and the carrier stay local stand-ins, so the
rest of the example runs anywhere.
"""

import os

from keel_sdk import KeelFailure, RetryPolicy, activity, activity_info, http, orchestrator

# The one item the stand-in warehouse never has.
UNOBTAINABLE = "unobtainium"


def read_order(value, name):
    """The order ``{"orderId":"order-42","amount":25.0,"items":["book"]}``, checked and normalised as the
    Rust SDK's serde would (amount as a float, unknown fields dropped) so that histories match."""
    def invalid(problem):
        return KeelFailure("InvalidInput", f"the input of {name} is not valid: {problem}")

    if not isinstance(value, dict):
        raise invalid(f'an order must look like {{"orderId":"…","amount":1.0,"items":["…"]}}, got {value!r}')
    for field in ("orderId", "amount", "items"):
        if field not in value:
            raise invalid(f"missing field `{field}`")
    order_id, amount, items = value["orderId"], value["amount"], value["items"]
    if not isinstance(order_id, str):
        raise invalid("`orderId` must be a string")
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise invalid("`amount` must be a number")
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise invalid("`items` must be a list of strings")
    return {"orderId": order_id, "amount": float(amount), "items": items}


def step_failed(kind, step, order_id, cause):
    """Wraps an activity's failure into the orchestrator's own, keeping the cause in message and details."""
    return KeelFailure(
        kind,
        f"{step} for order {order_id} failed: {cause.message}",
        {"cause": {"kind": cause.kind, "message": cause.message}},
    )


@orchestrator("ProcessOrder")
def process_order(ctx, order):
    order = read_order(order, "ProcessOrder")
    order_id = order["orderId"]
    ctx.info(f"processing order {order_id}")

    ctx.set_custom_status({"step": "payment"})
    # A busy payment service is worth a few retries; a declined payment is final.
    payment_retry = RetryPolicy(
        max_attempts=3, first_interval_ms=100, backoff_coefficient=2.0, non_retryable=["PaymentDeclined"]
    )
    try:
        payment = ctx.call_activity("VerifyPayment", order, retry=payment_retry).get()
    except KeelFailure as failure:
        raise step_failed("PaymentFailed", "payment", order_id, failure) from None
    ctx.info(f"order {order_id}: payment {payment['transactionId']} verified")

    ctx.set_custom_status({"step": "inventory"})
    try:
        reservation = ctx.call_activity("CheckInventory", order["items"]).get()
    except KeelFailure as failure:
        raise step_failed("InventoryFailed", "inventory", order_id, failure) from None
    ctx.info(f"order {order_id}: reserved {reservation['reserved']}")

    ctx.set_custom_status({"step": "shipping"})
    # Carriers are flaky: a few quick retries are cheaper than failing the order.
    shipping = RetryPolicy(max_attempts=3, first_interval_ms=100, backoff_coefficient=2.0)
    try:
        shipment = ctx.call_activity("ShipOrder", order, retry=shipping).get()
    except KeelFailure as failure:
        raise step_failed("ShippingFailed", "shipping", order_id, failure) from None
    ctx.info(f"order {order_id}: shipped as {shipment['trackingNumber']}")

    ctx.set_custom_status({"step": "confirmation"})
    confirmation = {"orderId": order_id, "trackingNumber": shipment["trackingNumber"]}
    receipt = ctx.call_activity("SendConfirmationEmail", confirmation).get()
    ctx.info(f"order {order_id}: confirmation sent to {receipt['to']}")

    ctx.set_custom_status({"step": "completed"})
    return {
        "orderId": order_id,
        "status": "completed",
        "transactionId": payment["transactionId"],
        "trackingNumber": shipment["trackingNumber"],
        "emailSent": receipt["sent"],
    }


def setting(key):
    """A configuration value of the running activity (``keel config set ACTIVITY KEY=VALUE``)."""
    value = os.environ.get(key)
    if value is None:
        raise KeelFailure(
            "NotConfigured", f"{key} is not set; set it with: keel config set <activity> {key}=<value>"
        )
    return value


@activity("VerifyPayment")
def verify_payment(order):
    """POSTs the order to the payment service: 200 is a payment, 402 a declined payment (final), and any
    other error status a failure the retry policy retries."""
    order = read_order(order, "VerifyPayment")
    url = setting("PAYMENT_URL")
    headers = {}
    token = os.environ.get("PAYMENT_TOKEN")
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    response = http.post(url, headers, json=order)
    if response.status == 402:
        try:
            reason = response.json().get("reason")
        except (KeelFailure, AttributeError):
            reason = None
        raise KeelFailure("PaymentDeclined", reason if isinstance(reason, str) else response.text())
    payment = pick(response.raise_for_status().json(), "transactionId", "amount")
    return {"transactionId": payment["transactionId"], "amount": float(payment["amount"])}


@activity("CheckInventory")
def check_inventory(items):
    if not items:
        raise KeelFailure("EmptyOrder", "the order has no items")
    for item in items:
        if item == UNOBTAINABLE:
            raise KeelFailure("OutOfStock", f"{item} is out of stock")
    return {"reserved": items}


@activity("ShipOrder")
def ship_order(order):
    order = read_order(order, "ShipOrder")
    # Deliberately flaky to show retries: the first attempt always fails. Without attempt information
    # (outside Keel) there is no retry to come, so it succeeds.
    info = activity_info()
    if info is not None and info.attempt <= 1:
        raise KeelFailure(
            "CarrierUnavailable", f"no carrier could take order {order['orderId']} on the first try"
        )
    return {"trackingNumber": f"TRK-{order['orderId']}", "carrier": "keel-post"}


@activity("SendConfirmationEmail")
def send_confirmation_email(confirmation):
    """POSTs the confirmation to the mail service."""
    order_id, tracking_number = confirmation["orderId"], confirmation["trackingNumber"]
    message = {
        "to": f"customer+{order_id}@example.com",
        "subject": f"Your order {order_id} has shipped",
        "body": f"Tracking number: {tracking_number}",
    }
    return pick(http.post(setting("MAIL_URL"), json=message).raise_for_status().json(), "sent", "to")


def pick(answer, *names):
    """The named fields of a service's JSON answer, in that order (the Rust example reads it into a struct,
    which drops the others); a missing one fails with ``InvalidOutput``, as there."""
    for name in names:
        if not isinstance(answer, dict) or name not in answer:
            raise KeelFailure(
                "InvalidOutput", f"the response body is not the expected JSON: missing field `{name}`"
            )
    return {name: answer[name] for name in names}
