/*
 * The order-processing example in C: the classic Durable Functions order workflow (verify the
 * payment, reserve the stock, ship with retries, confirm by email), behaviourally identical to the
 * Rust one — same outputs, failures, custom statuses and history.
 * VerifyPayment and SendConfirmationEmail call a payment and a mail service over HTTP, at the URLs in
 * their configuration (PAYMENT_URL, MAIL_URL, and the secret PAYMENT_TOKEN), under grants;
 * scripts/shop_service.py is such a service. The warehouse and the carrier stay local stand-ins, so
 * the rest of the example runs anywhere.
 */
#include <stdio.h>
#include <string.h>

#include "keel.h"

/* The one item the stand-in warehouse never has. */
#define UNOBTAINABLE "unobtainium"

/* The order {"orderId":"order-42","amount":25.0,"items":["book"]}, checked as the Rust SDK's serde
 * would; `json` is its normalised text (amount as a float, unknown fields dropped). */
typedef struct order {
    const char *id;
    double amount;
    const keel_json *items;
    char *json;
} order;

/* Reads the order into `out`; NULL when it is one, else what is wrong with it, naming the field as the
 * Rust SDK's serde would. */
static const char *read_order(const keel_json *value, order *out) {
    const keel_json *id = keel_json_get(value, "orderId");
    const keel_json *amount = keel_json_get(value, "amount");
    const keel_json *items = keel_json_get(value, "items");
    if (id == NULL) {
        return "missing field `orderId`";
    }
    if (amount == NULL) {
        return "missing field `amount`";
    }
    if (items == NULL) {
        return "missing field `items`";
    }
    if (id->type != KEEL_JSON_STRING) {
        return "`orderId` must be a string";
    }
    if (amount->type != KEEL_JSON_NUMBER) {
        return "`amount` must be a number";
    }
    if (items->type != KEEL_JSON_ARRAY) {
        return "`items` must be a list of strings";
    }
    for (size_t i = 0; i < items->len; i++) {
        if (items->items[i].type != KEEL_JSON_STRING) {
            return "`items` must be a list of strings";
        }
    }
    out->id = id->text;
    out->amount = amount->number;
    out->items = items;
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "orderId");
    keel_write_string(&w, out->id);
    keel_write_key(&w, "amount");
    keel_write_double(&w, out->amount);
    keel_write_key(&w, "items");
    keel_write_value(&w, items);
    keel_write_object_end(&w);
    out->json = keel_writer_finish(&w);
    return NULL;
}

static keel_result invalid_order(const char *name, const char *problem) {
    return keel_fail(KEEL_INVALID_INPUT, "the input of %s is not valid: %s", name, problem);
}

static void set_step(const char *step) {
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "step");
    keel_write_string(&w, step);
    keel_write_object_end(&w);
    char *status = keel_writer_finish(&w);
    keel_set_custom_status(status);
    free(status);
}

/* Wraps an activity's failure into the orchestrator's own, keeping the cause in message and details. */
static keel_result step_failed(const char *kind, const char *step, const char *order_id, keel_result *cause) {
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "cause");
    keel_write_object_begin(&w);
    keel_write_key(&w, "kind");
    keel_write_string(&w, cause->failure.kind);
    keel_write_key(&w, "message");
    keel_write_string(&w, cause->failure.message);
    keel_write_object_end(&w);
    keel_write_object_end(&w);
    keel_result failure = keel_fail_details(kind, keel_writer_finish(&w), "%s for order %s failed: %s", step,
                                            order_id, cause->failure.message);
    keel_result_free(cause);
    return failure;
}

static keel_result process_order(const keel_json *input) {
    order o;
    const char *problem = read_order(input, &o);
    if (problem != NULL) {
        return invalid_order("ProcessOrder", problem);
    }
    const char *id = o.id;
    keel_info("processing order %s", id);

    set_step("payment");
    /* A busy payment service is worth a few retries; a declined payment is final. */
    keel_retry_policy payment_retry = {
        .max_attempts = 3,
        .first_interval_ms = 100,
        .backoff_coefficient = 2.0,
        .non_retryable = (const char *const[]){"PaymentDeclined", NULL},
    };
    keel_activity_options payment_options = {.retry = &payment_retry};
    keel_result payment = keel_get(keel_call_activity_with("VerifyPayment", o.json, payment_options));
    if (!payment.ok) {
        free(o.json);
        return step_failed("PaymentFailed", "payment", id, &payment);
    }
    const char *transaction = keel_json_string(keel_json_get(payment.value, "transactionId"), "");
    keel_info("order %s: payment %s verified", id, transaction);

    set_step("inventory");
    char *items = keel_json_encode(o.items);
    keel_result reservation = keel_get(keel_call_activity("CheckInventory", items));
    free(items);
    if (!reservation.ok) {
        free(o.json);
        keel_result_free(&payment);
        return step_failed("InventoryFailed", "inventory", id, &reservation);
    }
    char *reserved = keel_json_encode(keel_json_get(reservation.value, "reserved"));
    keel_info("order %s: reserved %s", id, reserved);
    free(reserved);
    keel_result_free(&reservation);

    set_step("shipping");
    /* Carriers are flaky: a few quick retries are cheaper than failing the order. */
    keel_retry_policy retry = {.max_attempts = 3, .first_interval_ms = 100, .backoff_coefficient = 2.0};
    keel_activity_options shipping = {.retry = &retry};
    keel_result shipment = keel_get(keel_call_activity_with("ShipOrder", o.json, shipping));
    free(o.json);
    if (!shipment.ok) {
        keel_result_free(&payment);
        return step_failed("ShippingFailed", "shipping", id, &shipment);
    }
    const char *tracking = keel_json_string(keel_json_get(shipment.value, "trackingNumber"), "");
    keel_info("order %s: shipped as %s", id, tracking);

    set_step("confirmation");
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "orderId");
    keel_write_string(&w, id);
    keel_write_key(&w, "trackingNumber");
    keel_write_string(&w, tracking);
    keel_write_object_end(&w);
    char *confirmation = keel_writer_finish(&w);
    keel_result receipt = keel_get(keel_call_activity("SendConfirmationEmail", confirmation));
    free(confirmation);
    if (!receipt.ok) {
        keel_result_free(&payment);
        keel_result_free(&shipment);
        return receipt; /* passed on as it is, like Rust's `?` */
    }
    keel_info("order %s: confirmation sent to %s", id, keel_json_string(keel_json_get(receipt.value, "to"), ""));

    set_step("completed");
    keel_write_object_begin(&w);
    keel_write_key(&w, "orderId");
    keel_write_string(&w, id);
    keel_write_key(&w, "status");
    keel_write_string(&w, "completed");
    keel_write_key(&w, "transactionId");
    keel_write_string(&w, transaction);
    keel_write_key(&w, "trackingNumber");
    keel_write_string(&w, tracking);
    keel_write_key(&w, "emailSent");
    keel_write_bool(&w, keel_json_bool(keel_json_get(receipt.value, "sent"), false));
    keel_write_object_end(&w);
    keel_result_free(&payment);
    keel_result_free(&shipment);
    keel_result_free(&receipt);
    return keel_ok(keel_writer_finish(&w));
}

/* A configuration value of the running activity (`keel config set ACTIVITY KEY=VALUE`): NULL, with
 * `*failure` set to a NotConfigured failure, when it is not set. */
static const char *setting(const char *key, keel_result *failure) {
    const char *value = getenv(key);
    if (value == NULL) {
        *failure = keel_fail("NotConfigured", "%s is not set; set it with: keel config set <activity> %s=<value>",
                             key, key);
    }
    return value;
}

/* POSTs `json` to `url` with `content-type: application/json` and `authorization` when not NULL. */
static keel_result post_json(const char *url, const char *json, const char *authorization,
                             keel_http_response *response) {
    keel_http_header headers[] = {
        {"content-type", "application/json"},
        {"authorization", authorization},
    };
    return keel_http_request("POST", url, headers, authorization != NULL ? 2 : 1, json, strlen(json), response);
}

/* POSTs the order to the payment service: 200 is a payment, 402 a declined payment (final), and any
 * other error status a failure the retry policy retries. */
static keel_result verify_payment(const keel_json *input) {
    order o;
    const char *problem = read_order(input, &o);
    if (problem != NULL) {
        return invalid_order("VerifyPayment", problem);
    }
    keel_result failure;
    const char *url = setting("PAYMENT_URL", &failure);
    if (url == NULL) {
        free(o.json);
        return failure;
    }
    const char *token = getenv("PAYMENT_TOKEN");
    char *authorization = NULL;
    if (token != NULL) {
        size_t size = strlen("Bearer ") + strlen(token) + 1;
        authorization = malloc(size);
        if (authorization == NULL) {
            abort();
        }
        snprintf(authorization, size, "Bearer %s", token);
    }
    keel_http_response response;
    keel_result sent = post_json(url, o.json, authorization, &response);
    free(authorization);
    free(o.json);
    if (!sent.ok) {
        return sent;
    }
    if (response.status == 402) {
        keel_result declined = keel_http_response_json(&response);
        const char *reason = declined.ok ? keel_json_string(keel_json_get(declined.value, "reason"), NULL) : NULL;
        char *text = reason == NULL ? keel_http_response_text(&response) : NULL;
        keel_result failed = keel_fail("PaymentDeclined", "%s", reason != NULL ? reason : text);
        free(text);
        keel_result_free(&declined);
        keel_http_response_free(&response);
        return failed;
    }
    keel_result checked = keel_http_error_for_status(&response);
    keel_result payment = checked.ok ? keel_http_response_json(&response) : checked;
    keel_http_response_free(&response);
    if (!payment.ok) {
        return payment;
    }
    const char *transaction = keel_json_string(keel_json_get(payment.value, "transactionId"), NULL);
    const keel_json *amount = keel_json_get(payment.value, "amount");
    if (transaction == NULL || amount == NULL || amount->type != KEEL_JSON_NUMBER) {
        keel_result_free(&payment);
        return keel_fail(KEEL_INVALID_OUTPUT,
                         "the response body is not the expected JSON: transactionId must be a string and amount "
                         "a number");
    }
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "transactionId");
    keel_write_string(&w, transaction);
    keel_write_key(&w, "amount");
    keel_write_double(&w, amount->number);
    keel_write_object_end(&w);
    keel_result_free(&payment);
    return keel_ok(keel_writer_finish(&w));
}

static keel_result check_inventory(const keel_json *items) {
    if (items == NULL || items->type != KEEL_JSON_ARRAY) {
        return keel_fail(KEEL_INVALID_INPUT, "the input of CheckInventory is not valid: expected a list of items");
    }
    if (items->len == 0) {
        return keel_fail("EmptyOrder", "the order has no items");
    }
    for (size_t i = 0; i < items->len; i++) {
        const char *item = keel_json_string(&items->items[i], NULL);
        if (item == NULL) {
            return keel_fail(KEEL_INVALID_INPUT, "the input of CheckInventory is not valid: items are strings");
        }
        if (strcmp(item, UNOBTAINABLE) == 0) {
            return keel_fail("OutOfStock", "%s is out of stock", item);
        }
    }
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "reserved");
    keel_write_value(&w, items);
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

static keel_result ship_order(const keel_json *input) {
    order o;
    const char *problem = read_order(input, &o);
    if (problem != NULL) {
        return invalid_order("ShipOrder", problem);
    }
    free(o.json);
    /* Deliberately flaky to show retries: the first attempt always fails. Without attempt information
     * (outside Keel) there is no retry to come, so it succeeds. */
    keel_activity_info info;
    if (keel_get_activity_info(&info) && info.attempt <= 1) {
        return keel_fail("CarrierUnavailable", "no carrier could take order %s on the first try", o.id);
    }
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "trackingNumber");
    keel_write_stringf(&w, "TRK-%s", o.id);
    keel_write_key(&w, "carrier");
    keel_write_string(&w, "keel-post");
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

/* POSTs the confirmation to the mail service. */
static keel_result send_confirmation_email(const keel_json *confirmation) {
    const char *id = keel_json_string(keel_json_get(confirmation, "orderId"), NULL);
    const char *tracking = keel_json_string(keel_json_get(confirmation, "trackingNumber"), NULL);
    if (id == NULL || tracking == NULL) {
        return keel_fail(KEEL_INVALID_INPUT,
                         "the input of SendConfirmationEmail is not valid: orderId and trackingNumber are strings");
    }
    keel_result failure;
    const char *url = setting("MAIL_URL", &failure);
    if (url == NULL) {
        return failure;
    }
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "to");
    keel_write_stringf(&w, "customer+%s@example.com", id);
    keel_write_key(&w, "subject");
    keel_write_stringf(&w, "Your order %s has shipped", id);
    keel_write_key(&w, "body");
    keel_write_stringf(&w, "Tracking number: %s", tracking);
    keel_write_object_end(&w);
    char *message = keel_writer_finish(&w);
    keel_http_response response;
    keel_result sent = post_json(url, message, NULL, &response);
    free(message);
    if (!sent.ok) {
        return sent;
    }
    keel_result checked = keel_http_error_for_status(&response);
    keel_result receipt = checked.ok ? keel_http_response_json(&response) : checked;
    keel_http_response_free(&response);
    if (!receipt.ok) {
        return receipt;
    }
    const keel_json *sent_flag = keel_json_get(receipt.value, "sent");
    const char *to = keel_json_string(keel_json_get(receipt.value, "to"), NULL);
    if (sent_flag == NULL || sent_flag->type != KEEL_JSON_BOOL || to == NULL) {
        keel_result_free(&receipt);
        return keel_fail(KEEL_INVALID_OUTPUT,
                         "the response body is not the expected JSON: sent must be a boolean and to a string");
    }
    keel_write_object_begin(&w);
    keel_write_key(&w, "sent");
    keel_write_bool(&w, sent_flag->boolean);
    keel_write_key(&w, "to");
    keel_write_string(&w, to);
    keel_write_object_end(&w);
    keel_result_free(&receipt);
    return keel_ok(keel_writer_finish(&w));
}

const keel_function keel_functions[] = {
    KEEL_ORCHESTRATOR("ProcessOrder", process_order),
    KEEL_ACTIVITY("VerifyPayment", verify_payment),
    KEEL_ACTIVITY("CheckInventory", check_inventory),
    KEEL_ACTIVITY("ShipOrder", ship_order),
    KEEL_ACTIVITY("SendConfirmationEmail", send_confirmation_email),
    KEEL_END,
};
