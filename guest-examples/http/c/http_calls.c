/*
 * The HTTP example in C: an activity that calls a web service under the grants of its deployment, an
 * orchestrator that schedules it, an orchestrator that schedules a durable HTTP call (keel_call_http,
 * following 202 Accepted when asked), and one that breaks the rule and sends a request itself, which
 * the host refuses (KEEL-O1). The same module exists in every guest language, with the same inputs,
 * outputs and failure kinds as the Rust one.
 * It must never send a request from an orchestrator except to show that refusal.
 */
#include <stdio.h>
#include <string.h>

#include "keel.h"

/* A member that must be a string when present (null counts as absent, as serde's Option reads it):
 * false when it is something else. */
static bool optional_string(const keel_json *object, const char *key, const char **out) {
    const keel_json *value = keel_json_get(object, key);
    *out = NULL;
    if (keel_json_is_null(value)) {
        return true;
    }
    if (value->type != KEEL_JSON_STRING) {
        return false;
    }
    *out = value->text;
    return true;
}

/* What Fetch sends: an absolute `url`, or a `path` on the configured BASE_URL. */
typedef struct fetch_request {
    const char *method;
    const char *url;
    const char *path;
    const char *body;
} fetch_request;

static bool read_request(const keel_json *value, fetch_request *out) {
    return value != NULL && value->type == KEEL_JSON_OBJECT && optional_string(value, "method", &out->method) &&
           optional_string(value, "url", &out->url) && optional_string(value, "path", &out->path) &&
           optional_string(value, "body", &out->body);
}

/* The request as the Rust example serialises it: absent members omitted. */
static char *request_json(const fetch_request *r) {
    const char *keys[] = {"method", "url", "path", "body"};
    const char *values[] = {r->method, r->url, r->path, r->body};
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    for (size_t i = 0; i < 4; i++) {
        if (values[i] != NULL) {
            keel_write_key(&w, keys[i]);
            keel_write_string(&w, values[i]);
        }
    }
    keel_write_object_end(&w);
    return keel_writer_finish(&w);
}

/* What Fetch (and every orchestrator here) returns: {"status", "body"}, whatever the status. */
static keel_result fetched(uint64_t status, const char *body) {
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "status");
    keel_write_u64(&w, status);
    keel_write_key(&w, "body");
    keel_write_string(&w, body);
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

/* The input of DurableFetch and FetchFromOrchestrator. */
typedef struct durable {
    const char *url;
    const char *method;
    const char *body;
    bool asynchronous;
} durable;

static bool read_durable(const keel_json *value, durable *out) {
    const keel_json *asynchronous = keel_json_get(value, "asynchronous");
    out->url = keel_json_string(keel_json_get(value, "url"), NULL);
    out->asynchronous = keel_json_bool(asynchronous, false);
    return out->url != NULL && optional_string(value, "method", &out->method) &&
           optional_string(value, "body", &out->body) &&
           (asynchronous == NULL || asynchronous->type == KEEL_JSON_BOOL);
}

static keel_result invalid(const char *name, const char *expected) {
    return keel_fail(KEEL_INVALID_INPUT, "the input of %s is not valid: %s", name, expected);
}

static keel_result call_service(const keel_json *input) {
    fetch_request request;
    const keel_json *timeout = keel_json_get(input, "timeoutMs");
    const keel_json *attempts = keel_json_get(input, "attempts");
    uint64_t timeout_ms = 0, attempt_count = 0;
    if (!read_request(keel_json_get(input, "request"), &request) ||
        (!keel_json_is_null(timeout) && !keel_json_u64(timeout, &timeout_ms)) ||
        (!keel_json_is_null(attempts) && (!keel_json_u64(attempts, &attempt_count) || attempt_count > UINT32_MAX))) {
        return invalid("CallService", "request must be an object, timeoutMs and attempts non-negative integers");
    }
    keel_activity_options options = {0};
    if (!keel_json_is_null(timeout)) {
        options.timeout_ms = timeout_ms;
    }
    keel_retry_policy retry = {.max_attempts = (uint32_t)attempt_count, .first_interval_ms = 100};
    if (!keel_json_is_null(attempts)) {
        options.retry = &retry;
    }
    char *json = request_json(&request);
    keel_result result = keel_get(keel_call_activity_with("Fetch", json, options));
    free(json);
    if (!result.ok) {
        return result;
    }
    uint64_t status;
    const char *body = keel_json_string(keel_json_get(result.value, "body"), NULL);
    if (!keel_json_u64(keel_json_get(result.value, "status"), &status) || body == NULL) {
        keel_result_free(&result);
        return keel_fail(KEEL_INVALID_OUTPUT, "the output of Fetch is not {\"status\", \"body\"}");
    }
    keel_result out = fetched(status, body);
    keel_result_free(&result);
    return out;
}

static keel_result durable_fetch(const keel_json *input) {
    durable d;
    if (!read_durable(input, &d)) {
        return invalid("DurableFetch", "url must be a string, method and body strings, asynchronous a boolean");
    }
    keel_http_header authorization = {"authorization", "Bearer {{secret:API_TOKEN}}"};
    keel_http_call call = {
        .method = d.method != NULL ? d.method : "GET",
        .url = d.url,
        .headers = &authorization,
        .header_count = 1,
        .body = d.body,
        .asynchronous = d.asynchronous,
    };
    keel_http_task task = keel_call_http(&call);
    keel_result response = keel_http_get(&task);
    if (!response.ok) {
        return response;
    }
    uint64_t status = 0;
    keel_json_u64(keel_json_get(response.value, "status"), &status);
    keel_result out = fetched(status, keel_json_string(keel_json_get(response.value, "body"), ""));
    keel_result_free(&response);
    return out;
}

static keel_result fetch_from_orchestrator(const keel_json *input) {
    durable d;
    if (!read_durable(input, &d)) {
        return invalid("FetchFromOrchestrator", "url must be a string");
    }
    /* Wrong on purpose: an orchestrator must not reach the network. The host fails the instance. */
    keel_http_response response;
    keel_result sent = keel_http_request("GET", d.url, NULL, 0, NULL, 0, &response);
    if (!sent.ok) {
        return sent;
    }
    char *text = keel_http_response_text(&response);
    keel_result out = fetched(response.status, text);
    free(text);
    keel_http_response_free(&response);
    return out;
}

/* Sends the request, with `authorization: Bearer $API_TOKEN` when that secret is set. */
static keel_result fetch(const keel_json *input) {
    fetch_request request;
    if (!read_request(input, &request)) {
        return invalid("Fetch", "method, url, path and body are strings");
    }
    char *url;
    if (request.url != NULL) {
        url = strdup(request.url);
    } else if (request.path != NULL) {
        const char *base = getenv("BASE_URL");
        if (base == NULL) {
            return keel_fail("NotConfigured", "BASE_URL is not set; set it with: keel config set Fetch BASE_URL=<url>");
        }
        size_t size = strlen(base) + strlen(request.path) + 1;
        url = malloc(size);
        if (url != NULL) {
            snprintf(url, size, "%s%s", base, request.path);
        }
    } else {
        return keel_fail(KEEL_INVALID_INPUT, "give a url or a path");
    }
    if (url == NULL) {
        abort();
    }
    const char *token = getenv("API_TOKEN");
    char *bearer = NULL;
    keel_http_header authorization = {"authorization", NULL};
    if (token != NULL) {
        size_t size = strlen("Bearer ") + strlen(token) + 1;
        bearer = malloc(size);
        if (bearer == NULL) {
            abort();
        }
        snprintf(bearer, size, "Bearer %s", token);
        authorization.value = bearer;
    }
    const char *body = request.body;
    keel_http_response response;
    keel_result sent = keel_http_request(request.method != NULL ? request.method : "GET", url, &authorization,
                                         token != NULL ? 1 : 0, body, body != NULL ? strlen(body) : 0, &response);
    free(bearer);
    free(url);
    if (!sent.ok) {
        return sent;
    }
    char *text = keel_http_response_text(&response);
    keel_result out = fetched(response.status, text);
    free(text);
    keel_http_response_free(&response);
    return out;
}

const keel_function keel_functions[] = {
    KEEL_ORCHESTRATOR("CallService", call_service),
    KEEL_ORCHESTRATOR("DurableFetch", durable_fetch),
    KEEL_ORCHESTRATOR("FetchFromOrchestrator", fetch_from_orchestrator),
    KEEL_ACTIVITY("Fetch", fetch),
    KEEL_END,
};
