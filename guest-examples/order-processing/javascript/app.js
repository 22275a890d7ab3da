// The order-processing example in JavaScript: the classic Durable Functions order workflow (verify the
// payment, reserve the stock, ship with retries, confirm by email), behaviourally identical to the Rust
// module beside it. It must never talk to a real payment provider, warehouse or mail server: every
// activity is a deterministic stand-in, so the example can run anywhere and be tested end to end.
//
// Build: sdk/javascript/build.sh guest-examples/order-processing/javascript/app.js order.wasm

import { orchestrator, activity, activityInfo, KeelFailure } from '@keel/sdk';

/** Largest amount the stand-in payment provider accepts. */
const MAX_AMOUNT = 10000.0;

/** The one item the stand-in warehouse never has. */
const UNOBTAINABLE = 'unobtainium';

/** Checks the orchestrator's input, e.g. `{"orderId":"order-42","amount":25.0,"items":["book"]}`. */
function readOrder(order) {
  const valid =
    order !== null &&
    typeof order === 'object' &&
    typeof order.orderId === 'string' &&
    typeof order.amount === 'number' &&
    Array.isArray(order.items) &&
    order.items.every((item) => typeof item === 'string');
  if (!valid) {
    throw new KeelFailure(
      'InvalidInput',
      `an order must look like {"orderId":"…","amount":1.0,"items":["…"]}, got ${JSON.stringify(order)}`,
    );
  }
  return { orderId: order.orderId, amount: order.amount, items: order.items };
}

/** Wraps an activity's failure into the orchestrator's own, keeping the cause in message and details. */
function stepFailed(kind, step, orderId, cause) {
  return new KeelFailure(kind, `${step} for order ${orderId} failed: ${cause.message}`, {
    cause: { kind: cause.kind, message: cause.message },
  });
}

/** Runs `task.get()`, turning a task failure into the step's failure. */
function step(task, kind, name, orderId) {
  try {
    return task.get();
  } catch (failure) {
    if (failure instanceof KeelFailure) {
      throw stepFailed(kind, name, orderId, failure);
    }
    throw failure;
  }
}

orchestrator('ProcessOrder', (ctx, input) => {
  const order = readOrder(input);
  const id = order.orderId;
  ctx.info(`processing order ${id}`);

  ctx.setCustomStatus({ step: 'payment' });
  const payment = step(ctx.callActivity('VerifyPayment', order), 'PaymentFailed', 'payment', id);
  ctx.info(`order ${id}: payment ${payment.transactionId} verified`);

  ctx.setCustomStatus({ step: 'inventory' });
  const reservation = step(
    ctx.callActivity('CheckInventory', order.items),
    'InventoryFailed',
    'inventory',
    id,
  );
  ctx.info(`order ${id}: reserved ${JSON.stringify(reservation.reserved)}`);

  ctx.setCustomStatus({ step: 'shipping' });
  // Carriers are flaky: a few quick retries are cheaper than failing the order.
  const shipping = { retry: { maxAttempts: 3, firstIntervalMs: 100, backoffCoefficient: 2.0 } };
  const shipment = step(
    ctx.callActivity('ShipOrder', order, shipping),
    'ShippingFailed',
    'shipping',
    id,
  );
  ctx.info(`order ${id}: shipped as ${shipment.trackingNumber}`);

  ctx.setCustomStatus({ step: 'confirmation' });
  const confirmation = { orderId: id, trackingNumber: shipment.trackingNumber };
  const receipt = ctx.callActivity('SendConfirmationEmail', confirmation).get();
  ctx.info(`order ${id}: confirmation sent to ${receipt.to}`);

  ctx.setCustomStatus({ step: 'completed' });
  return {
    orderId: order.orderId,
    status: 'completed',
    transactionId: payment.transactionId,
    trackingNumber: shipment.trackingNumber,
    emailSent: receipt.sent,
  };
});

activity('VerifyPayment', (input) => {
  const order = readOrder(input);
  if (order.amount <= 0.0 || order.amount > MAX_AMOUNT) {
    throw new KeelFailure(
      'PaymentDeclined',
      `amount ${order.amount} is outside the accepted range (0, ${MAX_AMOUNT}]`,
    );
  }
  return { transactionId: `txn-${order.orderId}`, amount: order.amount };
});

activity('CheckInventory', (items) => {
  if (!Array.isArray(items) || !items.every((item) => typeof item === 'string')) {
    throw new KeelFailure('InvalidInput', 'CheckInventory takes a list of item names');
  }
  if (items.length === 0) {
    throw new KeelFailure('EmptyOrder', 'the order has no items');
  }
  const missing = items.find((item) => item === UNOBTAINABLE);
  if (missing !== undefined) {
    throw new KeelFailure('OutOfStock', `${missing} is out of stock`);
  }
  return { reserved: items };
});

activity('ShipOrder', (input) => {
  const order = readOrder(input);
  // Deliberately flaky to show retries: the first attempt always fails. Without attempt information
  // (outside Keel) there is no retry to come, so it succeeds.
  const info = activityInfo();
  if (info !== null && info.attempt <= 1) {
    throw new KeelFailure(
      'CarrierUnavailable',
      `no carrier could take order ${order.orderId} on the first try`,
    );
  }
  return { trackingNumber: `TRK-${order.orderId}`, carrier: 'keel-post' };
});

activity('SendConfirmationEmail', (confirmation) => ({
  sent: true,
  to: `customer+${confirmation.orderId}@example.com`,
}));
