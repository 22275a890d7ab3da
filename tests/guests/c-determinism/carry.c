/*
 * Test fixture: continue-as-new carrying unanswered events over (CCarry, the same in every language's
 * fixture). Round 1 waits for "Go" and continues as new, keeping the events it never waited for when
 * its input says "keep"; round 2 waits for "Later" and returns its data.
 */
#include "keel.h"

keel_result carry_orchestrator(const keel_json *input) {
    uint64_t round = 0;
    keel_json_u64(keel_json_get(input, "round"), &round);
    if (round == 1) {
        keel_result go = keel_get(keel_wait_event("Go"));
        keel_result_free(&go);
        bool keeping = keel_json_bool(keel_json_get(input, "keep"), false);
        const char *next = keeping ? "{\"round\":2,\"keep\":true}" : "{\"round\":2,\"keep\":false}";
        if (keeping) {
            keel_continue_as_new_keeping_events(next);
        } else {
            keel_continue_as_new(next);
        }
        return keel_ok(NULL);
    }
    keel_result later = keel_get(keel_wait_event("Later"));
    if (!later.ok) {
        return later;
    }
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "round");
    keel_write_u64(&w, round);
    keel_write_key(&w, "later");
    keel_write_json(&w, later.json);
    keel_write_object_end(&w);
    keel_result_free(&later);
    return keel_ok(keel_writer_finish(&w));
}
