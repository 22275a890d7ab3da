// The order-processing example in JavaScript: the classic Durable Functions order workflow (verify the
// payment, reserve the stock, ship with retries, confirm by email), behaviourally identical to the Rust
// module beside it. `VerifyPayment` and `SendConfirmationEmail` call a payment and a mail service with
// `fetch`, at the URLs in their configuration (`PAYMENT_URL`, `MAIL_URL`, and the secret
// `PAYMENT_TOKEN`), under grants; `scripts/shop_service.py` is such a service. The warehouse and the
// carrier stay local stand-ins, so the rest of the example runs anywhere.
//
// Build: sdk/javascript/build.sh guest-examples/order-processing/javascript/app.js order_processing.wasm

import { orchestrator, activity, activityInfo, env, checkStatus, readJson, KeelFailure } from '@keel/sdk';

/** The one item the stand-in warehouse never has. */
const UNOBTAINABLE = 'unobtainium';

/** Checks the orchestrator's input, e.g. `{"orderId":"order-42","amount":25.0,"items":["book"]}`, and
 * names the field that is missing or of the wrong type, as the Rust SDK's serde would. */
function readOrder(order, name) {
  const invalid = (problem) => new KeelFailure('InvalidInput', `the input of ${name} is not valid: ${problem}`);
  if (order === null || typeof order !== 'object' || Array.isArray(order)) {
    throw invalid(`an order must look like {"orderId":"…","amount":1.0,"items":["…"]}, got ${JSON.stringify(order)}`);
  }
  for (const field of ['orderId', 'amount', 'items']) {
    if (!(field in order)) {
      throw invalid(`missing field \`${field}\``);
    }
  }
  if (typeof order.orderId !== 'string') {
    throw invalid('`orderId` must be a string');
  }
  if (typeof order.amount !== 'number') {
    throw invalid('`amount` must be a number');
  }
  if (!Array.isArray(order.items) || !order.items.every((item) => typeof item === 'string')) {
    throw invalid('`items` must be a list of strings');
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
  const order = readOrder(input, 'ProcessOrder');
  const id = order.orderId;
  ctx.info(`processing order ${id}`);

  ctx.setCustomStatus({ step: 'payment' });
  // A busy payment service is worth a few retries; a declined payment is final.
  const paymentRetry = {
    retry: {
      maxAttempts: 3,
      firstIntervalMs: 100,
      backoffCoefficient: 2.0,
      nonRetryable: ['PaymentDeclined'],
    },
  };
  const payment = step(
    ctx.callActivity('VerifyPayment', order, paymentRetry),
    'PaymentFailed',
    'payment',
    id,
  );
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

/** A configuration value of the running activity (`keel config set ACTIVITY KEY=VALUE`). */
function setting(key) {
  const value = env()[key];
  if (value === undefined) {
    throw new KeelFailure(
      'NotConfigured',
      `${key} is not set; set it with: keel config set <activity> ${key}=<value>`,
    );
  }
  return value;
}

/**
 * The fields of `value` that `shape` names, each of the type it names (what the Rust module's structs
 * keep of a JSON value), or a failure of kind `kind`.
 */
function fields(value, shape, kind, what) {
  const out = {};
  for (const [key, type] of Object.entries(shape)) {
    if (value === null || typeof value !== 'object' || typeof value[key] !== type) {
      throw new KeelFailure(kind, `${what}: no ${type} ${key} in ${JSON.stringify(value)}`);
    }
    out[key] = value[key];
  }
  return out;
}

/** The fields of a service's answer; anything else fails as a body that is not the expected JSON. */
function answer(value, shape) {
  return fields(value, shape, 'InvalidOutput', 'the response body is not the expected JSON');
}

/** POSTs `value` as JSON to `url` with the extra `headers`. */
function postJson(url, value, headers = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(value),
  });
}

// POSTs the order to the payment service: 200 is a payment, 402 a declined payment (final), and any
// other error status a failure the retry policy retries.
activity('VerifyPayment', async (input) => {
  const order = readOrder(input, 'VerifyPayment');
  const url = setting('PAYMENT_URL');
  const token = env().PAYMENT_TOKEN;
  const response = await postJson(
    url,
    order,
    token === undefined ? {} : { authorization: `Bearer ${token}` },
  );
  if (response.status === 402) {
    const text = await response.text();
    let reason = text;
    try {
      const body = JSON.parse(text);
      if (body !== null && typeof body.reason === 'string') {
        reason = body.reason;
      }
    } catch {
      // Not JSON: the body text is the reason.
    }
    throw new KeelFailure('PaymentDeclined', reason);
  }
  const payment = await readJson(await checkStatus(response));
  return answer(payment, { transactionId: 'string', amount: 'number' });
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
  const order = readOrder(input, 'ShipOrder');
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

// POSTs the confirmation to the mail service.
activity('SendConfirmationEmail', async (input) => {
  const confirmation = fields(
    input,
    { orderId: 'string', trackingNumber: 'string' },
    'InvalidInput',
    'a confirmation must look like {"orderId":"…","trackingNumber":"…"}',
  );
  const message = {
    to: `customer+${confirmation.orderId}@example.com`,
    subject: `Your order ${confirmation.orderId} has shipped`,
    body: `Tracking number: ${confirmation.trackingNumber}`,
  };
  const response = await postJson(setting('MAIL_URL'), message);
  const receipt = await readJson(await checkStatus(response));
  return answer(receipt, { sent: 'boolean', to: 'string' });
});
