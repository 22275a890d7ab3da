/*
 * Test fixture: heartbeats (CHeartbeats, the same in every language's fixture). The activity
 * "Progress" heartbeats {"done": n} after each step; its first attempt fails with kind "Flaky" right
 * after the heartbeat of step `failAt`, and the retry resumes from the details of that heartbeat, so
 * with {"steps": 5, "failAt": 3} the output is {"resumedFrom": 3, "done": 5}. The registration table
 * is in json_checks.c.
 */
#include <string.h>

#include "keel.h"

keel_result heartbeats_orchestrator(const keel_json *input) {
    keel_retry_policy retry = {.max_attempts = 2, .first_interval_ms = 10};
    keel_activity_options options = {.retry = &retry, .heartbeat_timeout_ms = 30000};
    char *payload = keel_json_encode(input);
    keel_result progress = keel_get(keel_call_activity_with("Progress", payload, options));
    free(payload);
    return progress; /* its output, or its failure */
}

keel_result progress_activity(const keel_json *input) {
    uint64_t steps = 0, fail_at = 0;
    keel_json_u64(keel_json_get(input, "steps"), &steps);
    keel_json_u64(keel_json_get(input, "failAt"), &fail_at);

    /* The details of the heartbeat an earlier attempt recorded last, if any: resume after them. */
    char *last_text = keel_last_heartbeat();
    bool resumed = last_text != NULL;
    keel_json *last = resumed ? keel_json_parse(last_text, strlen(last_text), NULL, 0) : NULL;
    free(last_text);
    uint64_t start = 0;
    keel_json_u64(keel_json_get(last, "done"), &start);
    keel_json_free(last);

    for (uint64_t step = start; step < steps; step++) {
        keel_writer w = keel_writer_new();
        keel_write_object_begin(&w);
        keel_write_key(&w, "done");
        keel_write_u64(&w, step + 1);
        keel_write_object_end(&w);
        char *details = keel_writer_finish(&w);
        keel_heartbeat(details);
        free(details);
        if (!resumed && step + 1 == fail_at) {
            return keel_fail("Flaky", "fails once after heartbeating");
        }
    }

    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "resumedFrom");
    keel_write_u64(&w, start);
    keel_write_key(&w, "done");
    keel_write_u64(&w, steps);
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}
