/* The {{name}} module: the orchestrator `Hello` asks the activity `Greet` for a greeting. */

#include "keel.h"

/* An orchestrator: deterministic, it only schedules work and waits for it. */
static keel_result hello(const keel_json *input) {
    char *name = keel_json_encode(keel_json_get(input, "name"));
    keel_result greeting = keel_get(keel_call_activity("Greet", name));
    free(name);
    if (!greeting.ok) {
        return greeting; /* the activity's failure fails the orchestration */
    }
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "greeting");
    keel_write_string(&w, keel_json_string(greeting.value, ""));
    keel_write_object_end(&w);
    keel_result_free(&greeting);
    return keel_ok(keel_writer_finish(&w));
}

/* An activity: ordinary code, retried under the caller's retry policy when it fails. */
static keel_result greet(const keel_json *name) {
    const char *text = keel_json_string(name, "");
    if (text[0] == '\0') {
        return keel_fail("NoName", "cannot greet nobody");
    }
    keel_writer w = keel_writer_new();
    keel_write_stringf(&w, "Hello, %s!", text);
    return keel_ok(keel_writer_finish(&w));
}

const keel_function keel_functions[] = {
    KEEL_ORCHESTRATOR("Hello", hello),
    KEEL_ACTIVITY("Greet", greet),
    KEEL_END,
};
