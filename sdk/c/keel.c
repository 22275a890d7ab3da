/*
 * keel.c — the C SDK's runtime over the generated `module` bindings: the context calls, task
 * outcomes as keel_result values, the activity context (heartbeats, attempt info), and the three
 * exports (orchestrators, activities, manifest) dispatched by name through the module's
 * keel_functions table. The waits hand the queries and updates that arrive meanwhile to requests.c.
 * It never caches a host answer and never reads time or randomness itself.
 */
#include <stdio.h>
#include <string.h>

#include "keel.h"
#include "keel_internal.h"
#include "module.h"

#define MAX_SHOWN 200

char *keel__dup_n(const char *text, size_t n) {
    char *copy = malloc(n + 1);
    if (copy == NULL) {
        abort();
    }
    if (n > 0) {
        memcpy(copy, text, n);
    }
    copy[n] = '\0';
    return copy;
}

char *keel__dup_str(const char *text) {
    return keel__dup_n(text, strlen(text));
}

static char *vformat(const char *format, va_list args) {
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(NULL, 0, format, copy);
    va_end(copy);
    if (n < 0) {
        return keel__dup_str(format);
    }
    char *text = malloc((size_t)n + 1);
    if (text == NULL) {
        abort();
    }
    vsnprintf(text, (size_t)n + 1, format, args);
    return text;
}

char *keel__format(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *text = vformat(fmt, args);
    va_end(args);
    return text;
}

char *keel__from_wit(const module_string_t *s) {
    return keel__dup_n((const char *)s->ptr, s->len);
}

module_string_t keel__borrow(const char *text) {
    module_string_t s = {(uint8_t *)text, text == NULL ? 0 : strlen(text)};
    return s;
}

/* Text shortened for a message, so a huge payload does not make a huge failure. */
static char *truncated(const char *text, size_t n) {
    if (n <= MAX_SHOWN) {
        return keel__dup_n(text, n);
    }
    char *head = keel__dup_n(text, MAX_SHOWN);
    char *out = keel__format("%s…", head);
    free(head);
    return out;
}

/* A failure caused by the host not keeping the keel:workflow contract: nothing sensible remains. */
static void contract_violation(const char *what) {
    fprintf(stderr, "keel: the host broke the keel:workflow contract: %s\n", what);
    abort();
}

/* ------------------------------------------------------------------------------------------------ */
/* Results                                                                                           */

keel_result keel_ok(char *json) {
    keel_result r = {0};
    r.ok = true;
    r.json = json == NULL ? keel__dup_str("null") : json;
    return r;
}

keel_result keel_ok_json(const char *json) {
    return keel_ok(json == NULL ? NULL : keel__dup_str(json));
}

keel_result keel__failure(const char *kind, char *message, char *details) {
    keel_result r = {0};
    r.failure.kind = keel__dup_str(kind);
    r.failure.message = message;
    r.failure.details = details;
    return r;
}

keel_result keel_fail(const char *kind, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *message = vformat(fmt, args);
    va_end(args);
    return keel__failure(kind, message, NULL);
}

keel_result keel_fail_details(const char *kind, char *details, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *message = vformat(fmt, args);
    va_end(args);
    return keel__failure(kind, message, details);
}

bool keel_failed_with(const keel_result *result, const char *kind) {
    return result != NULL && !result->ok && result->failure.kind != NULL &&
           strcmp(result->failure.kind, kind) == 0;
}

void keel_result_free(keel_result *result) {
    if (result == NULL) {
        return;
    }
    free(result->json);
    keel_json_free(result->value);
    free(result->failure.kind);
    free(result->failure.message);
    free(result->failure.details);
    memset(result, 0, sizeof *result);
}

/* A task's outcome as a result; an output that is not JSON becomes an InvalidOutput failure. */
static keel_result from_outcome(const keel_workflow_types_outcome_t *outcome) {
    if (outcome->tag == KEEL_WORKFLOW_TYPES_OUTCOME_ERR) {
        const keel_workflow_types_failure_t *f = &outcome->val.err_;
        keel_result r = {0};
        r.failure.kind = keel__from_wit(&f->kind);
        r.failure.message = keel__from_wit(&f->message);
        r.failure.details = f->details.is_some ? keel__from_wit(&f->details.val) : NULL;
        return r;
    }
    const module_string_t *json = &outcome->val.ok;
    char error[128] = "";
    keel_json *value = keel_json_parse((const char *)json->ptr, json->len, error, sizeof error);
    if (value == NULL) {
        char *shown = truncated((const char *)json->ptr, json->len);
        keel_result r = keel__failure(KEEL_INVALID_OUTPUT,
                                      keel__format("task output is not valid JSON: %s (output: %s)", error, shown),
                                      NULL);
        free(shown);
        return r;
    }
    keel_result r = keel_ok(keel__from_wit(json));
    r.value = value;
    return r;
}

/* ------------------------------------------------------------------------------------------------ */
/* Context                                                                                           */

keel_task keel_call_activity(const char *name, const char *input) {
    keel_activity_options none = {0};
    return keel_call_activity_with(name, input, none);
}

keel_task keel_call_activity_with(const char *name, const char *input, keel_activity_options options) {
    /* A version range travels in the name: `name@range`. Every ordinary call goes through
     * call-activity-with, the import that carries the heartbeat timeout too; a local one through
     * call-local-activity, which takes the same options. */
    char *target = options.version != NULL ? keel__format("%s@%s", name, options.version) : keel__dup_str(name);
    module_string_t wname = keel__borrow(target);
    module_string_t winput = keel__borrow(input == NULL ? "null" : input);
    keel_workflow_context_call_options_t wopts;
    memset(&wopts, 0, sizeof wopts);
    if (options.retry != NULL) {
        const keel_retry_policy *p = options.retry;
        wopts.retry.is_some = true;
        /* There is always a first attempt. */
        wopts.retry.val.max_attempts = p->max_attempts == 0 ? 1 : p->max_attempts;
        wopts.retry.val.first_interval_ms = p->first_interval_ms;
        wopts.retry.val.backoff_coefficient = p->backoff_coefficient == 0.0 ? 1.0 : p->backoff_coefficient;
        wopts.retry.val.max_interval_ms.is_some = p->max_interval_ms != 0;
        wopts.retry.val.max_interval_ms.val = p->max_interval_ms;
        wopts.retry.val.timeout_ms.is_some = p->timeout_ms != 0;
        wopts.retry.val.timeout_ms.val = p->timeout_ms;
        /* The kinds are borrowed for the call: only the array of WIT strings is allocated. */
        size_t kinds = 0;
        while (p->non_retryable != NULL && p->non_retryable[kinds] != NULL) {
            kinds++;
        }
        if (kinds > 0) {
            module_string_t *list = calloc(kinds, sizeof *list);
            if (list == NULL) {
                abort();
            }
            for (size_t i = 0; i < kinds; i++) {
                list[i] = keel__borrow(p->non_retryable[i]);
            }
            wopts.retry.val.non_retryable.ptr = list;
            wopts.retry.val.non_retryable.len = kinds;
        }
    }
    wopts.timeout_ms.is_some = options.timeout_ms != 0;
    wopts.timeout_ms.val = options.timeout_ms;
    wopts.heartbeat_timeout_ms.is_some = options.heartbeat_timeout_ms != 0;
    wopts.heartbeat_timeout_ms.val = options.heartbeat_timeout_ms;
    keel_task task = options.local ? keel_workflow_context_call_local_activity(&wname, &winput, &wopts)
                                   : keel_workflow_context_call_activity_with(&wname, &winput, &wopts);
    free(wopts.retry.val.non_retryable.ptr);
    free(target);
    return task;
}

keel_task keel_call_orchestrator(const char *name, const char *instance_id, const char *input) {
    module_string_t wname = keel__borrow(name);
    module_string_t winput = keel__borrow(input == NULL ? "null" : input);
    module_string_t wid = keel__borrow(instance_id);
    return keel_workflow_context_call_orchestrator(&wname, instance_id == NULL ? NULL : &wid, &winput);
}

keel_task keel_timer_at(uint64_t fire_at_ms) {
    return keel_workflow_context_start_timer(fire_at_ms);
}

keel_task keel_timer(uint64_t delay_ms) {
    uint64_t now = keel_workflow_context_now_ms();
    uint64_t at = now + delay_ms < now ? UINT64_MAX : now + delay_ms;
    return keel_workflow_context_start_timer(at);
}

keel_task keel_wait_event(const char *name) {
    module_string_t wname = keel__borrow(name);
    return keel_workflow_context_wait_event(&wname);
}

void keel_cancel(keel_task task) {
    keel_workflow_context_cancel(task);
}

void keel_all(const keel_task *tasks, size_t count, keel_result *results) {
    if (count == 0) {
        return; /* nothing to wait for: spares the host a call */
    }
    keel_workflow_context_list_task_id_t ids = {(keel_workflow_context_task_id_t *)tasks, count};
    keel_workflow_context_all_or_request_t woken;
    for (;;) {
        keel_workflow_context_wait_all_or_request(&ids, &woken);
        if (woken.tag == KEEL_WORKFLOW_CONTEXT_ALL_OR_REQUEST_DONE) {
            break;
        }
        keel__serve_request(&woken.val.request); /* a query or an update, then wait again */
    }
    keel_workflow_context_list_outcome_t outcomes = woken.val.done;
    if (outcomes.len != count) {
        contract_violation("wait-all-or-request returned a different number of outcomes than tasks");
    }
    for (size_t i = 0; i < count; i++) {
        results[i] = from_outcome(&outcomes.ptr[i]);
    }
    keel_workflow_context_list_outcome_free(&outcomes);
}

keel_result keel_get(keel_task task) {
    keel_result result;
    keel_all(&task, 1, &result);
    return result;
}

size_t keel_any(const keel_task *tasks, size_t count, keel_result *result) {
    if (count == 0) {
        contract_violation("keel_any needs at least one task");
    }
    keel_workflow_context_list_task_id_t ids = {(keel_workflow_context_task_id_t *)tasks, count};
    keel_workflow_context_any_or_request_t woken;
    for (;;) {
        keel_workflow_context_wait_any_or_request(&ids, &woken);
        if (woken.tag == KEEL_WORKFLOW_CONTEXT_ANY_OR_REQUEST_DONE) {
            break;
        }
        keel__serve_request(&woken.val.request); /* a query or an update, then wait again */
    }
    keel_workflow_context_tuple2_task_id_outcome_t winner = woken.val.done;
    size_t index = count;
    for (size_t i = 0; i < count; i++) {
        if (tasks[i] == winner.f0) {
            index = i;
            break;
        }
    }
    if (index == count) {
        contract_violation("wait-any-or-request returned a task that was not asked for");
    }
    *result = from_outcome(&winner.f1);
    keel_workflow_context_tuple2_task_id_outcome_free(&winner);
    return index;
}

uint64_t keel_now_ms(void) {
    return keel_workflow_context_now_ms();
}

uint64_t keel_random_u64(void) {
    return keel_workflow_context_random_u64();
}

void keel_uuid(char out[37]) {
    module_string_t uuid;
    keel_workflow_context_new_uuid(&uuid);
    size_t n = uuid.len < 36 ? uuid.len : 36;
    memcpy(out, uuid.ptr, n);
    out[n] = '\0';
    module_string_free(&uuid);
}

bool keel_is_replaying(void) {
    return keel_workflow_context_is_replaying();
}

void keel_set_custom_status(const char *json) {
    module_string_t status = keel__borrow(json == NULL ? "null" : json);
    keel_workflow_context_set_custom_status(&status);
}

void keel_continue_as_new(const char *input) {
    module_string_t winput = keel__borrow(input == NULL ? "null" : input);
    keel_workflow_context_continue_as_new(&winput);
}

void keel_continue_as_new_keeping_events(const char *input) {
    module_string_t winput = keel__borrow(input == NULL ? "null" : input);
    keel_workflow_context_continue_as_new_keeping_events(&winput);
}

void keel_log(keel_log_level level, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *message = vformat(fmt, args);
    va_end(args);
    module_string_t wmessage = keel__borrow(message);
    keel_workflow_context_log_level_t wlevel = level <= KEEL_ERROR ? (uint8_t)level : KEEL_WORKFLOW_TYPES_LOG_LEVEL_INFO;
    keel_workflow_context_log(wlevel, &wmessage);
    free(message);
}

/* ------------------------------------------------------------------------------------------------ */
/* Activity attempts                                                                                 */

static bool parse_u32(const char *text, uint32_t *out) {
    if (text == NULL) {
        return false;
    }
    while (*text == ' ') {
        text++;
    }
    if (*text < '0' || *text > '9') {
        return false;
    }
    uint64_t v = 0;
    for (; *text >= '0' && *text <= '9'; text++) {
        v = v * 10 + (uint64_t)(*text - '0');
        if (v > UINT32_MAX) {
            return false;
        }
    }
    while (*text == ' ') {
        text++;
    }
    if (*text != '\0') {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

bool keel_get_activity_info(keel_activity_info *info) {
    const char *instance = getenv("KEEL_INSTANCE_ID");
    uint32_t task_id, attempt;
    if (instance == NULL || !parse_u32(getenv("KEEL_TASK_ID"), &task_id) ||
        !parse_u32(getenv("KEEL_ATTEMPT"), &attempt)) {
        return false;
    }
    info->instance_id = instance;
    info->task_id = task_id;
    info->attempt = attempt;
    const char *key = getenv("KEEL_IDEMPOTENCY_KEY");
    if (key != NULL) {
        snprintf(info->idempotency_key, sizeof info->idempotency_key, "%s", key);
    } else {
        snprintf(info->idempotency_key, sizeof info->idempotency_key, "%s/%u", instance, task_id);
    }
    return true;
}

bool keel_heartbeat(const char *details_json) {
    module_string_t details = keel__borrow(details_json == NULL ? "null" : details_json);
    return keel_workflow_activity_context_heartbeat(&details);
}

char *keel_last_heartbeat(void) {
    module_string_t details;
    if (!keel_workflow_activity_context_last_heartbeat(&details)) {
        return NULL;
    }
    char *text = keel__from_wit(&details);
    module_string_free(&details);
    return text;
}

/* ------------------------------------------------------------------------------------------------ */
/* Exports                                                                                           */

static const keel_function *lookup(keel_kind kind, const char *name) {
    for (const keel_function *f = keel_functions; f->name != NULL; f++) {
        if (f->kind == kind && strcmp(f->name, name) == 0) {
            return f;
        }
    }
    return NULL;
}

static void to_wit_failure(keel_failure *f, keel_workflow_types_failure_t *err) {
    /* The canonical ABI frees these after the call: hand over malloc'd strings. */
    char *kind = f->kind != NULL ? f->kind : keel__dup_str("Error");
    char *message = f->message != NULL ? f->message : keel__dup_str("");
    err->kind.ptr = (uint8_t *)kind;
    err->kind.len = strlen(kind);
    err->message.ptr = (uint8_t *)message;
    err->message.len = strlen(message);
    err->details.is_some = f->details != NULL;
    if (f->details != NULL) {
        err->details.val.ptr = (uint8_t *)f->details;
        err->details.val.len = strlen(f->details);
    }
    f->kind = f->message = f->details = NULL;
}

/* A registered function, called as keel__call_on_json calls. */
static keel_result call_function(const keel_json *value, void *function) {
    return ((const keel_function *)function)->fn(value);
}

/* Runs a registered function on JSON text; every failure comes back as a keel_result failure. */
static keel_result call(keel_kind kind, const char *what, const char *name, const char *input, size_t len) {
    const keel_function *f = lookup(kind, name);
    if (f == NULL) {
        char *quoted = keel_json_quote(name);
        keel_result r = keel_fail(KEEL_UNKNOWN_FUNCTION, "this module exports no %s named %s", what, quoted);
        free(quoted);
        return r;
    }
    return keel__call_on_json(call_function, (void *)f, name, input, len);
}

keel_json *keel__parse_input(const char *name, const char *input, size_t len, keel_result *failure) {
    /* An absent input reaches a function as empty text from some clients: read it as null. */
    size_t start = 0;
    while (start < len && (input[start] == ' ' || input[start] == '\n' || input[start] == '\t' || input[start] == '\r')) {
        start++;
    }
    if (start == len) {
        return keel_json_parse("null", 4, NULL, 0);
    }
    char error[128] = "";
    keel_json *value = keel_json_parse(input, len, error, sizeof error);
    if (value == NULL) {
        char *shown = truncated(input, len);
        *failure = keel_fail(KEEL_INVALID_INPUT, "the input of %s is not valid: %s (input: %s)", name, error, shown);
        free(shown);
    }
    return value;
}

keel_result keel__checked_output(const char *name, keel_result r) {
    if (r.ok) {
        keel_json_free(r.value);
        r.value = NULL;
        if (r.json == NULL) {
            r.json = keel__dup_str("null");
        }
        char error[128] = "";
        keel_json *check = keel_json_parse(r.json, strlen(r.json), error, sizeof error);
        if (check == NULL) {
            keel_result_free(&r);
            return keel_fail(KEEL_INVALID_OUTPUT, "the output of %s is not valid JSON: %s", name, error);
        }
        keel_json_free(check);
    } else if (r.failure.kind == NULL) {
        r.failure.kind = keel__dup_str("Error");
    }
    return r;
}

keel_result keel__call_on_json(keel_query_fn fn, void *data, const char *name, const char *input, size_t len) {
    keel_result failure = {0};
    keel_json *value = keel__parse_input(name, input, len, &failure);
    if (value == NULL) {
        return failure;
    }
    keel_result r = fn(value, data);
    keel_json_free(value);
    return keel__checked_output(name, r);
}

static bool run_export(keel_kind kind, const char *what, module_string_t *name, module_string_t *input,
                       module_string_t *ret, keel_workflow_types_failure_t *err) {
    char *fname = keel__from_wit(name);
    if (kind == KEEL_KIND_ORCHESTRATOR) {
        keel__forget_requests(); /* each run registers its own query and update handlers */
    }
    keel_result r = call(kind, what, fname, (const char *)input->ptr, input->len);
    free(fname);
    module_string_free(name);
    module_string_free(input);
    if (r.ok) {
        ret->ptr = (uint8_t *)r.json;
        ret->len = strlen(r.json);
        r.json = NULL;
        keel_result_free(&r);
        return true;
    }
    to_wit_failure(&r.failure, err);
    keel_result_free(&r);
    return false;
}

bool exports_keel_workflow_orchestrators_run(module_string_t *name, exports_keel_workflow_orchestrators_json_t *input,
                                             exports_keel_workflow_orchestrators_json_t *ret,
                                             exports_keel_workflow_orchestrators_failure_t *err) {
    return run_export(KEEL_KIND_ORCHESTRATOR, "orchestrator", name, input, ret, err);
}

bool exports_keel_workflow_activities_run(module_string_t *name, exports_keel_workflow_activities_json_t *input,
                                          exports_keel_workflow_activities_json_t *ret,
                                          exports_keel_workflow_activities_failure_t *err) {
    return run_export(KEEL_KIND_ACTIVITY, "activity", name, input, ret, err);
}

void exports_keel_workflow_manifest_describe(exports_keel_workflow_manifest_list_function_info_t *ret) {
    size_t count = 0;
    for (const keel_function *f = keel_functions; f->name != NULL; f++) {
        for (const keel_function *g = keel_functions; g != f; g++) {
            if (g->kind == f->kind && strcmp(g->name, f->name) == 0) {
                /* A bug in the table: the deploy fails with the manifest's trap and this line. */
                fprintf(stderr, "keel: the %s %s is registered twice\n",
                        f->kind == KEEL_KIND_ORCHESTRATOR ? "orchestrator" : "activity", f->name);
                abort();
            }
        }
        count++;
    }
    exports_keel_workflow_manifest_function_info_t *infos = calloc(count == 0 ? 1 : count, sizeof *infos);
    if (infos == NULL) {
        abort();
    }
    /* Orchestrators first, as the other SDKs list them. */
    size_t i = 0;
    for (int pass = 0; pass < 2; pass++) {
        keel_kind kind = pass == 0 ? KEEL_KIND_ORCHESTRATOR : KEEL_KIND_ACTIVITY;
        for (const keel_function *f = keel_functions; f->name != NULL; f++) {
            if (f->kind != kind) {
                continue;
            }
            module_string_dup(&infos[i].name, f->name);
            infos[i].kind = kind == KEEL_KIND_ORCHESTRATOR ? KEEL_WORKFLOW_TYPES_FUNCTION_KIND_ORCHESTRATOR
                                                           : KEEL_WORKFLOW_TYPES_FUNCTION_KIND_ACTIVITY;
            i++;
        }
    }
    ret->ptr = infos;
    ret->len = count;
}
