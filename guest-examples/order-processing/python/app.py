"""The order-processing example in Python: the classic Durable Functions order workflow (verify the
payment, reserve the stock, ship with retries, confirm by email), behaviourally identical to the Rust one.
It must never talk to a real payment provider, warehouse or mail server: every activity is a deterministic
stand-in, so the example can run anywhere and be tested end to end.
"""

from keel_sdk import KeelFailure, RetryPolicy, activity, activity_info, orchestrator

# Largest amount the stand-in payment provider accepts.
MAX_AMOUNT = 10_000.0

# The one item the stand-in warehouse never has.
UNOBTAINABLE = "unobtainium"


def read_order(value, name):
    """The order ``{"orderId":"order-42","amount":25.0,"items":["book"]}``, checked and normalised as the
    Rust SDK's serde would (amount as a float, unknown fields dropped) so that histories match."""
    try:
        order_id, amount, items = value["orderId"], value["amount"], value["items"]
        if (
            not isinstance(order_id, str)
            or isinstance(amount, bool)
            or not isinstance(amount, (int, float))
            or not isinstance(items, list)
            or not all(isinstance(item, str) for item in items)
        ):
            raise TypeError("orderId must be a string, amount a number and items a list of strings")
    except (KeyError, TypeError) as error:
        raise KeelFailure("InvalidInput", f"the input of {name} is not valid: {error}") from None
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
    try:
        payment = ctx.call_activity("VerifyPayment", order).get()
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


@activity("VerifyPayment")
def verify_payment(order):
    order = read_order(order, "VerifyPayment")
    amount = order["amount"]
    if amount <= 0.0 or amount > MAX_AMOUNT:
        raise KeelFailure(
            "PaymentDeclined",
            f"amount {format_number(amount)} is outside the accepted range (0, {format_number(MAX_AMOUNT)}]",
        )
    return {"transactionId": f"txn-{order['orderId']}", "amount": amount}


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
    return {"sent": True, "to": f"customer+{confirmation['orderId']}@example.com"}


def format_number(value):
    """Formats a float as Rust's Display does (``0`` and ``10000``, not ``0.0`` and ``10000.0``)."""
    return str(int(value)) if float(value).is_integer() else repr(value)
