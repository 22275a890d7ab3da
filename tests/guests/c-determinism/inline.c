/*
 * Test fixture: local activities (CInline, the same in every language's fixture). "Bump" runs as a
 * local activity `steps` times, each call adding one to the total, then once more with -1, which
 * fails with kind "Negative"; so with {"steps": 3} the output is {"total": 3, "failed": "Negative"}.
 * The registration table is in json_checks.c.
 */
#include "keel.h"

/* A local call of "Bump" with the integer `n`. */
static keel_task bump(int64_t n) {
    keel_writer w = keel_writer_new();
    keel_write_i64(&w, n);
    char *input = keel_writer_finish(&w);
    keel_task task = keel_call_activity_with("Bump", input, (keel_activity_options){.local = true});
    free(input);
    return task;
}

keel_result inline_orchestrator(const keel_json *input) {
    uint64_t steps = 0, total = 0;
    keel_json_u64(keel_json_get(input, "steps"), &steps);
    for (uint64_t step = 0; step < steps; step++) {
        keel_result bumped = keel_get(bump((int64_t)total));
        if (!bumped.ok) {
            return bumped;
        }
        keel_json_u64(bumped.value, &total);
        keel_result_free(&bumped);
    }
    keel_result negative = keel_get(bump(-1));

    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "total");
    keel_write_u64(&w, total);
    keel_write_key(&w, "failed");
    keel_write_string(&w, negative.ok ? "none" : negative.failure.kind);
    keel_write_object_end(&w);
    keel_result_free(&negative);
    return keel_ok(keel_writer_finish(&w));
}

keel_result bump_activity(const keel_json *input) {
    double n = keel_json_number(input, 0.0);
    if (n < 0) {
        return keel_fail("Negative", "cannot bump a negative number");
    }
    uint64_t value = 0;
    keel_json_u64(input, &value);
    keel_writer w = keel_writer_new();
    keel_write_u64(&w, value + 1);
    return keel_ok(keel_writer_finish(&w));
}
