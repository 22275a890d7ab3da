/* The {{name}} module: the orchestrator `Hello` asks the activity `Greet` for a greeting. The
 * activity `Fetch` shows an HTTP call: it may reach only what it is granted
 * (`keel grant Fetch https://example.com`) at the URL it is configured with
 * (`keel config set Fetch URL=https://example.com/`). */

#include <stdlib.h>
#include <string.h>

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

/* An activity that calls a web service: GETs $URL and returns the body's first line. */
static keel_result fetch(const keel_json *input) {
    (void)input;
    const char *url = getenv("URL");
    if (url == NULL) {
        return keel_fail("NotConfigured", "set URL");
    }
    keel_http_response response;
    keel_result sent = keel_http_request("GET", url, NULL, 0, NULL, 0, &response);
    if (!sent.ok) {
        return sent;
    }
    keel_result checked = keel_http_error_for_status(&response);
    if (!checked.ok) {
        keel_http_response_free(&response);
        return checked;
    }
    keel_result_free(&checked);
    char *text = keel_http_response_text(&response);
    keel_http_response_free(&response);
    text[strcspn(text, "\n")] = '\0';
    keel_writer w = keel_writer_new();
    keel_write_string(&w, text);
    free(text);
    return keel_ok(keel_writer_finish(&w));
}

const keel_function keel_functions[] = {
    KEEL_ORCHESTRATOR("Hello", hello),
    KEEL_ACTIVITY("Greet", greet),
    KEEL_ACTIVITY("Fetch", fetch),
    KEEL_END,
};
