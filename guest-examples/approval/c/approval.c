/*
 * The approval example in C: a human-interaction orchestrator that waits for an `Approved` event or a
 * durable timeout, whichever comes first, and then applies the change or escalates; its Request query
 * tells a client where the request stands, and its AddComment update lets a client comment on the
 * request while it waits. Behaviourally identical to the Rust one.
 * It must never wait with a sleep or the wall clock: the deadline is a durable timer, so the wait
 * survives restarts and replays to the same winner.
 */
#include <string.h>

#include "keel.h"

static void set_state(const char *state, const char *by) {
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "state");
    keel_write_string(&w, state);
    if (by != NULL) {
        keel_write_key(&w, "by");
        keel_write_string(&w, by);
    }
    keel_write_object_end(&w);
    char *status = keel_writer_finish(&w);
    keel_set_custom_status(status);
    free(status);
}

/* Most comments one request keeps; AddComment fails with TooManyComments beyond. */
#define MAX_COMMENTS 64

typedef struct comment {
    char *by;
    char *text;
} comment;

/* Where a request stands, as the Request query answers it, and the comments AddComment added. */
typedef struct request_state {
    const char *request_id;
    const char *state;
    comment comments[MAX_COMMENTS];
    size_t comment_count;
} request_state;

static keel_result request_query(const keel_json *input, void *data) {
    (void)input;
    const request_state *request = data;
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "requestId");
    keel_write_string(&w, request->request_id);
    keel_write_key(&w, "state");
    keel_write_string(&w, request->state);
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

/* True if the `len` bytes of UTF-8 `text` are all whitespace (Unicode's White_Space, which Rust's
 * str::trim removes), so nothing is left once trimmed. */
static bool blank(const char *text, size_t len) {
    const unsigned char *p = (const unsigned char *)text, *end = p + len;
    while (p < end) {
        size_t left = (size_t)(end - p);
        if (*p == ' ' || (*p >= 0x09 && *p <= 0x0d)) {
            p += 1; /* space, \t, \n, \v, \f, \r */
        } else if (left >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) {
            p += 2; /* U+0085, U+00A0 */
        } else if (left >= 3 && ((p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) ||  /* U+1680 */
                                 (p[0] == 0xe2 && p[1] == 0x80 &&                   /* U+2000-U+200A, */
                                  (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 ||  /* U+2028, U+2029, */
                                   p[2] == 0xaf)) ||                                /* U+202F */
                                 (p[0] == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) ||  /* U+205F */
                                 (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80))) { /* U+3000 */
            p += 3;
        } else {
            return false;
        }
    }
    return true;
}

/* AddComment's validator: a comment needs a `text` that is not blank. It only reads. */
static keel_result check_comment(const keel_json *input, void *data) {
    (void)data;
    const keel_json *text = keel_json_get(input, "text");
    if (text == NULL || text->type != KEEL_JSON_STRING || blank(text->text, text->len)) {
        return keel_fail("EmptyComment", "a comment needs text");
    }
    return keel_ok(NULL);
}

/* AddComment's handler: keeps the comment {"by", "text"} and answers {"comments": N}, N being how
 * many the request has. */
static keel_result add_comment(const keel_json *input, void *data) {
    request_state *request = data;
    if (request->comment_count == MAX_COMMENTS) {
        return keel_fail("TooManyComments", "a request keeps at most %d comments", MAX_COMMENTS);
    }
    comment *added = &request->comments[request->comment_count++];
    added->by = strdup(keel_json_string(keel_json_get(input, "by"), ""));
    added->text = strdup(keel_json_string(keel_json_get(input, "text"), ""));
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "comments");
    keel_write_u64(&w, request->comment_count);
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

static keel_result run_approval(const keel_json *input, request_state *request) {
    const char *request_id = keel_json_string(keel_json_get(input, "requestId"), NULL);
    uint64_t timeout_ms;
    if (request_id == NULL || !keel_json_u64(keel_json_get(input, "timeoutMs"), &timeout_ms)) {
        return keel_fail(KEEL_INVALID_INPUT,
                         "the input of Approval is not valid: requestId must be a string and timeoutMs a u64");
    }
    /* What the Request query answers (keel query ID Request), kept up to date below, and the
     * comments clients add while the request waits (keel update ID AddComment --input JSON). */
    request->request_id = request_id;
    request->state = "waiting";
    keel_on_query("Request", request_query, request);
    keel_on_update("AddComment", add_comment, check_comment, request);
    set_state("waiting", NULL);
    uint64_t now = keel_now_ms();
    keel_task tasks[2];
    tasks[0] = keel_timer_at(now + timeout_ms < now ? UINT64_MAX : now + timeout_ms);
    tasks[1] = keel_wait_event("Approved");

    keel_result result;
    size_t winner = keel_any(tasks, 2, &result);
    keel_writer w = keel_writer_new();
    if (winner == 1) {
        if (!result.ok) {
            return result;
        }
        const char *by = keel_json_string(keel_json_get(result.value, "by"), NULL);
        if (by == NULL) {
            keel_result bad = keel_fail("InvalidEvent",
                                        "the Approved event must look like {\"by\":\"name\"}: got %s", result.json);
            keel_result_free(&result);
            return bad;
        }
        keel_info("request %s approved by %s", request_id, by);
        set_state("approved", by);
        request->state = "applying";
        keel_write_object_begin(&w);
        keel_write_key(&w, "requestId");
        keel_write_string(&w, request_id);
        keel_write_key(&w, "approvedBy");
        keel_write_string(&w, by);
        keel_write_object_end(&w);
        char *change = keel_writer_finish(&w);
        keel_result applied = keel_get(keel_call_activity("ApplyChange", change));
        free(change);
        if (!applied.ok) {
            keel_result_free(&result);
            return applied;
        }
        keel_result_free(&applied);
        keel_write_object_begin(&w);
        keel_write_key(&w, "requestId");
        keel_write_string(&w, request_id);
        keel_write_key(&w, "outcome");
        keel_write_string(&w, "approved");
        keel_write_key(&w, "approvedBy");
        keel_write_string(&w, by);
        keel_write_object_end(&w);
        keel_result_free(&result);
        return keel_ok(keel_writer_finish(&w));
    }

    /* The timer won (a timer only ever resolves with null, so its result carries nothing to check
     * beyond a failure). */
    if (!result.ok) {
        return result;
    }
    keel_result_free(&result);
    keel_warn("request %s not approved within %llu ms: escalating", request_id, (unsigned long long)timeout_ms);
    set_state("escalated", NULL);
    request->state = "escalating";
    keel_write_object_begin(&w);
    keel_write_key(&w, "requestId");
    keel_write_string(&w, request_id);
    keel_write_object_end(&w);
    char *escalation = keel_writer_finish(&w);
    keel_result escalated = keel_get(keel_call_activity("Escalate", escalation));
    free(escalation);
    if (!escalated.ok) {
        return escalated;
    }
    keel_result_free(&escalated);
    keel_write_object_begin(&w);
    keel_write_key(&w, "requestId");
    keel_write_string(&w, request_id);
    keel_write_key(&w, "outcome");
    keel_write_string(&w, "escalated");
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

static keel_result approval(const keel_json *input) {
    request_state request = {0};
    keel_result result = run_approval(input, &request);
    for (size_t i = 0; i < request.comment_count; i++) {
        free(request.comments[i].by);
        free(request.comments[i].text);
    }
    return result;
}

/* Stand-in for applying the approved change somewhere real. */
static keel_result apply_change(const keel_json *change) {
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "applied");
    keel_write_bool(&w, true);
    keel_write_key(&w, "requestId");
    keel_write_value(&w, keel_json_get(change, "requestId"));
    keel_write_key(&w, "approvedBy");
    keel_write_value(&w, keel_json_get(change, "approvedBy"));
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

/* Stand-in for paging whoever handles unanswered requests. */
static keel_result escalate(const keel_json *escalation) {
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "escalated");
    keel_write_bool(&w, true);
    keel_write_key(&w, "requestId");
    keel_write_value(&w, keel_json_get(escalation, "requestId"));
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

const keel_function keel_functions[] = {
    KEEL_ORCHESTRATOR("Approval", approval),
    KEEL_ACTIVITY("ApplyChange", apply_change),
    KEEL_ACTIVITY("Escalate", escalate),
    KEEL_END,
};
