/*
 * keel_internal.h — helpers keel.c shares with http.c and requests.c; not part of the SDK's surface
 * (keel.h is).
 * Every allocation aborts when memory runs out, so callers never check for NULL.
 */
#ifndef KEEL_INTERNAL_H
#define KEEL_INTERNAL_H

#include "keel.h"
#include "module.h"

/** A NUL-terminated copy of the first `n` bytes of `text`, malloc'd. */
char *keel__dup_n(const char *text, size_t n);
/** A copy of `text`, malloc'd. */
char *keel__dup_str(const char *text);
/** printf into a malloc'd string. */
char *keel__format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** A copy of a WIT string, NUL-terminated and malloc'd. */
char *keel__from_wit(const module_string_t *s);
/** A WIT string borrowing `text` (NULL gives the empty string). */
module_string_t keel__borrow(const char *text);
/** A failure of `kind` that takes over the malloc'd `message` and `details` (NULL for none). */
keel_result keel__failure(const char *kind, char *message, char *details);

/** `len` bytes of JSON text parsed as the input of `name` (blank text reads as null); NULL, with an
 * InvalidInput failure in `*failure`, when it is not JSON. Free the value with keel_json_free. */
keel_json *keel__parse_input(const char *name, const char *input, size_t len, keel_result *failure);
/** What `name` returned, checked: an ok output that is not JSON becomes InvalidOutput, `value` is
 * dropped, a failure without a kind gets "Error". Takes over `r`. */
keel_result keel__checked_output(const char *name, keel_result r);
/** Calls `fn(value, data)` on JSON text (a function, a query or an update handler): the input parsed
 * by keel__parse_input, the result checked by keel__checked_output. */
keel_result keel__call_on_json(keel_query_fn fn, void *data, const char *name, const char *input, size_t len);

/** Serves a request a wait handed over (answers a query; validates, accepts and runs an update) and
 * frees it. In requests.c. */
void keel__serve_request(keel_workflow_context_request_t *request);
/** Forgets the query and update handlers registered so far: each orchestrator run registers its own.
 * In requests.c. */
void keel__forget_requests(void);

#endif /* KEEL_INTERNAL_H */
