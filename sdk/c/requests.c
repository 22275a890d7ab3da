/*
 * requests.c — what clients ask of a waiting orchestrator: the query and update handlers it registers
 * (keel_on_query, keel_on_update) and the dispatch of the requests keel.c's waits hand over.
 * A query is answered and leaves nothing behind; an update is validated, accepted or rejected, and,
 * if the host says to run it, run and answered.
 */
#include <stdio.h>
#include <string.h>

#include "keel.h"
#include "keel_internal.h"
#include "module.h"

/* Query handlers of the running orchestrator (keel_on_query), cleared when an orchestrator starts. */
static struct {
    char *name;
    keel_query_fn fn;
    void *data;
} queries[KEEL_MAX_QUERIES];
static size_t query_count;

/* Update handlers and validators of the running orchestrator (keel_on_update), cleared likewise. */
typedef struct update_handler {
    char *name;
    keel_update_fn handler;
    keel_update_fn validator; /* NULL: every update of this name is accepted */
    void *data;
} update_handler;
static update_handler updates[KEEL_MAX_UPDATES];
static size_t update_count;

void keel_on_query(const char *name, keel_query_fn fn, void *data) {
    for (size_t i = 0; i < query_count; i++) {
        if (strcmp(queries[i].name, name) == 0) {
            queries[i].fn = fn;
            queries[i].data = data;
            return;
        }
    }
    if (query_count == KEEL_MAX_QUERIES) {
        fprintf(stderr, "keel: more than %d query handlers registered\n", KEEL_MAX_QUERIES);
        abort();
    }
    queries[query_count].name = keel__dup_str(name);
    queries[query_count].fn = fn;
    queries[query_count].data = data;
    query_count++;
}

void keel_on_update(const char *name, keel_update_fn handler, keel_update_fn validator, void *data) {
    if (handler == NULL) {
        fprintf(stderr, "keel: the update %s is registered without a handler\n", name);
        abort();
    }
    update_handler *slot = NULL;
    for (size_t i = 0; i < update_count; i++) {
        if (strcmp(updates[i].name, name) == 0) {
            slot = &updates[i];
            break;
        }
    }
    if (slot == NULL) {
        if (update_count == KEEL_MAX_UPDATES) {
            fprintf(stderr, "keel: more than %d update handlers registered\n", KEEL_MAX_UPDATES);
            abort();
        }
        slot = &updates[update_count++];
        slot->name = keel__dup_str(name);
    }
    slot->handler = handler;
    slot->validator = validator;
    slot->data = data;
}

void keel__forget_requests(void) {
    for (size_t i = 0; i < query_count; i++) {
        free(queries[i].name);
    }
    query_count = 0;
    for (size_t i = 0; i < update_count; i++) {
        free(updates[i].name);
    }
    update_count = 0;
}

/* A failure as a WIT failure borrowing its strings (valid while `f` is): imports only read them. */
static keel_workflow_types_failure_t borrow_failure(const keel_failure *f) {
    keel_workflow_types_failure_t err;
    err.kind = keel__borrow(f->kind != NULL ? f->kind : "Error");
    err.message = keel__borrow(f->message);
    err.details.is_some = f->details != NULL;
    err.details.val = keel__borrow(f->details);
    return err;
}

/* A result as the WIT answer of a query or an update, borrowing its strings (valid while `r` is). */
static keel_workflow_context_result_json_failure_t borrow_answer(const keel_result *r) {
    keel_workflow_context_result_json_failure_t answer;
    memset(&answer, 0, sizeof answer);
    answer.is_err = !r->ok;
    if (r->ok) {
        answer.val.ok = keel__borrow(r->json != NULL ? r->json : "null");
    } else {
        answer.val.err = borrow_failure(&r->failure);
    }
    return answer;
}

/* Answers a query with the handler of its name and frees the request. */
static void answer_query(keel_workflow_context_query_request_t *query) {
    char *name = keel__from_wit(&query->name);
    keel_result r = {0};
    bool found = false;
    for (size_t i = 0; i < query_count; i++) {
        if (strcmp(queries[i].name, name) == 0) {
            r = keel__call_on_json(queries[i].fn, queries[i].data, name, (const char *)query->input.ptr,
                                   query->input.len);
            found = true;
            break;
        }
    }
    if (!found) {
        char *quoted = keel_json_quote(name);
        r = keel_fail(KEEL_UNKNOWN_QUERY, "the orchestrator registered no query named %s", quoted);
        free(quoted);
    }
    free(name);
    keel_workflow_context_query_request_free(query);
    keel_workflow_context_result_json_failure_t answer = borrow_answer(&r);
    keel_workflow_context_answer_query(&answer);
    keel_result_free(&r);
}

/*
 * Serves an update and frees the request: the verdict (UnknownUpdate, InvalidInput, the validator's
 * failure, or ok) goes to the host, which says whether to run the handler: when the update is
 * accepted, or replayed as accepted whatever the verdict. Then the handler's result, or, if no
 * handler can run, the verdict's failure, is the update's answer.
 */
static void serve_update(keel_workflow_context_update_request_t *update) {
    char *name = keel__from_wit(&update->name);
    /* A copy: a handler or validator may register again, which changes the table. */
    update_handler found = {0};
    for (size_t i = 0; i < update_count; i++) {
        if (strcmp(updates[i].name, name) == 0) {
            found = updates[i];
            break;
        }
    }
    keel_json *input = NULL; /* set only when there is a handler and the input is JSON */
    keel_result verdict = {0};
    if (found.handler == NULL) {
        char *quoted = keel_json_quote(name);
        verdict = keel_fail(KEEL_UNKNOWN_UPDATE, "the orchestrator registered no update named %s", quoted);
        free(quoted);
    } else {
        input = keel__parse_input(name, (const char *)update->input.ptr, update->input.len, &verdict);
    }
    keel_workflow_context_update_request_free(update);
    if (input != NULL) {
        verdict = found.validator != NULL ? found.validator(input, found.data) : keel_ok(NULL);
        if (verdict.ok) {
            keel_result_free(&verdict); /* a validator's value is ignored */
            verdict.ok = true;
        }
    }

    keel_workflow_context_result_void_failure_t wverdict;
    memset(&wverdict, 0, sizeof wverdict);
    wverdict.is_err = !verdict.ok;
    if (!verdict.ok) {
        wverdict.val.err = borrow_failure(&verdict.failure);
    }
    if (keel_workflow_context_accept_update(&wverdict)) {
        keel_result r;
        if (input != NULL) {
            r = keel__checked_output(name, found.handler(input, found.data));
        } else {
            r = verdict; /* the failure: no handler can run */
            memset(&verdict, 0, sizeof verdict);
        }
        keel_workflow_context_result_json_failure_t answer = borrow_answer(&r);
        keel_workflow_context_answer_update(&answer);
        keel_result_free(&r);
    }
    keel_result_free(&verdict);
    keel_json_free(input);
    free(name);
}

void keel__serve_request(keel_workflow_context_request_t *request) {
    if (request->tag == KEEL_WORKFLOW_CONTEXT_REQUEST_UPDATE) {
        serve_update(&request->val.update);
    } else {
        answer_query(&request->val.query);
    }
}
