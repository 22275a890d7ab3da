/*
 * Test fixture: cancellation (CCancelTasks, the same in every language's fixture). A timer and the
 * first of two waits for "Go" are canceled (the timer twice, the second time doing nothing) and
 * resolve with failures of kind "Canceled"; the second wait takes the first "Go" raised. "none" in
 * place of a kind shows a canceled task that succeeded. The registration table is in json_checks.c.
 */
#include "keel.h"

/* The kind of the failure a task resolved with, or "none" if it succeeded. */
static const char *failure_kind(const keel_result *result) {
    return result->ok ? "none" : result->failure.kind;
}

keel_result cancel_orchestrator(const keel_json *input) {
    keel_task timer = keel_timer(60 * 60 * 1000);
    keel_task first = keel_wait_event("Go");
    keel_task second = keel_wait_event("Go");
    keel_cancel(timer);
    keel_cancel(first);
    keel_cancel(timer);
    keel_result timer_result = keel_get(timer);
    keel_result first_result = keel_get(first);
    keel_result go = keel_get(second);
    if (go.ok) {
        keel_writer w = keel_writer_new();
        keel_write_object_begin(&w);
        keel_write_key(&w, "timer");
        keel_write_string(&w, failure_kind(&timer_result));
        keel_write_key(&w, "first");
        keel_write_string(&w, failure_kind(&first_result));
        keel_write_key(&w, "go");
        keel_write_json(&w, go.json);
        keel_write_object_end(&w);
        keel_result_free(&go);
        go = keel_ok(keel_writer_finish(&w));
    }
    keel_result_free(&timer_result);
    keel_result_free(&first_result);
    return go;
}
