/*
 * Test fixture: activities that expose the C SDK's JSON reader and writer to the tests — re-encoding
 * a parsed document, writing doubles the way serde_json writes an f64, and returning an output that
 * is not JSON — and an orchestrator `Call` that runs one of them and returns its result as it is.
 * It must never be used as an example: real modules do not call activities by a name from the input.
 */
#include "keel.h"

/* determinism.c */
keel_result determinism_orchestrator(const keel_json *input);
keel_result carry_orchestrator(const keel_json *input);
keel_result echo_activity(const keel_json *value);
/* cancel.c */
keel_result cancel_orchestrator(const keel_json *input);
/* heartbeats.c */
keel_result heartbeats_orchestrator(const keel_json *input);
keel_result progress_activity(const keel_json *input);
/* inline.c */
keel_result inline_orchestrator(const keel_json *input);
keel_result bump_activity(const keel_json *input);

/* {"activity": NAME, "input": VALUE} → what the activity gave, output or failure. */
static keel_result call(const keel_json *input) {
    const char *name = keel_json_string(keel_json_get(input, "activity"), "");
    char *payload = keel_json_encode(keel_json_get(input, "input"));
    keel_result result = keel_get(keel_call_activity(name, payload));
    free(payload);
    return result;
}

/* The input, parsed and written again. */
static keel_result reencode(const keel_json *input) {
    return keel_ok(keel_json_encode(input));
}

/* An array of numbers → the JSON text keel_write_double makes of them, as a string. */
static keel_result doubles(const keel_json *numbers) {
    keel_writer w = keel_writer_new();
    keel_write_array_begin(&w);
    for (size_t i = 0; i < keel_json_len(numbers); i++) {
        keel_write_double(&w, keel_json_number(keel_json_at(numbers, i), 0.0));
    }
    keel_write_array_end(&w);
    char *text = keel_writer_finish(&w);
    keel_write_string(&w, text);
    free(text);
    return keel_ok(keel_writer_finish(&w));
}

/* A string whose characters need escaping, built by the writer. */
static keel_result escapes(const keel_json *input) {
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "quote\"key");
    keel_write_string(&w, "line\nbreak\ttab \\ back \x01 control é ✓ 😀");
    keel_write_key(&w, "echo");
    keel_write_value(&w, input);
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

static keel_result bad_output(const keel_json *input) {
    return keel_ok_json("{\"unterminated\": ");
}

const keel_function keel_functions[] = {
    KEEL_ORCHESTRATOR("CDeterminism", determinism_orchestrator),
    KEEL_ORCHESTRATOR("CCarry", carry_orchestrator),
    KEEL_ORCHESTRATOR("CCancelTasks", cancel_orchestrator),
    KEEL_ORCHESTRATOR("CHeartbeats", heartbeats_orchestrator),
    KEEL_ORCHESTRATOR("CInline", inline_orchestrator),
    KEEL_ORCHESTRATOR("Call", call),
    KEEL_ACTIVITY("Echo", echo_activity),
    KEEL_ACTIVITY("Reencode", reencode),
    KEEL_ACTIVITY("Doubles", doubles),
    KEEL_ACTIVITY("Escapes", escapes),
    KEEL_ACTIVITY("BadOutput", bad_output),
    KEEL_ACTIVITY("Progress", progress_activity),
    KEEL_ACTIVITY("Bump", bump_activity),
    KEEL_END,
};
