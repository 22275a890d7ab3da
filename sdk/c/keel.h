/*
 * keel.h — Keel's C SDK: register orchestrators and activities by name, schedule tasks, wait for
 * them, read replay-safe time and randomness, and read and write the JSON payloads, over the C
 * bindings `wit-bindgen c` generates for the `module` world of keel:workflow (wit/keel.wit).
 * It never reads time or randomness itself and never caches a host answer: orchestrators stay
 * deterministic only because every such value comes from the host.
 *
 * A module is one or more .c files that include this header and fill the registration table:
 *
 *     static keel_result greet(const keel_json *name) {
 *         keel_writer w = keel_writer_new();
 *         keel_write_stringf(&w, "Hello, %s!", keel_json_string(name, "nobody"));
 *         return keel_ok(keel_writer_finish(&w));
 *     }
 *
 *     static keel_result hello(const keel_json *input) {
 *         char *name = keel_json_encode(keel_json_get(input, "name"));
 *         keel_result greeting = keel_get(keel_call_activity("Greet", name));  // blocks
 *         free(name);
 *         return greeting;  // its output, or its failure
 *     }
 *
 *     const keel_function keel_functions[] = {
 *         KEEL_ORCHESTRATOR("Hello", hello),
 *         KEEL_ACTIVITY("Greet", greet),
 *         KEEL_END,
 *     };
 *
 * and is built with `keel build --lang c DIR`. Payloads stay JSON text: inputs arrive parsed as a
 * `keel_json` tree, outputs are JSON text (a `keel_writer` builds it with the escaping done).
 *
 * Scheduling calls (keel_call_activity, keel_timer, keel_wait_event, ...) return a task at once; only
 * keel_get, keel_all and keel_any block, while the host suspends the whole component, so plain
 * sequential C is enough. Activities reach the network with keel_http_request (only the origins
 * granted to them) and report progress with keel_heartbeat; orchestrators schedule durable calls
 * with keel_call_http instead.
 *
 * Memory: everything passed to the SDK (names, JSON texts, options, headers, bodies) is only read
 * during the call. Strings returned in a keel_result or by keel_json_encode, keel_writer_finish and
 * keel_last_heartbeat are malloc'd and owned by the caller; a keel_http_response owns its headers
 * and body until keel_http_response_free.
 */
#ifndef KEEL_H
#define KEEL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------------ */
/* JSON values                                                                                       */

/** The type of a JSON value. */
typedef enum keel_json_type {
    KEEL_JSON_NULL,
    KEEL_JSON_BOOL,
    KEEL_JSON_NUMBER,
    KEEL_JSON_STRING,
    KEEL_JSON_ARRAY,
    KEEL_JSON_OBJECT,
} keel_json_type;

/** A parsed JSON value. Read it with the accessors below, which all accept NULL. */
typedef struct keel_json keel_json;
struct keel_json {
    keel_json_type type;
    bool boolean;      /* BOOL */
    double number;     /* NUMBER */
    char *text;        /* STRING: the decoded, NUL-terminated string; NUMBER: the number as written */
    size_t len;        /* STRING: bytes in text; ARRAY and OBJECT: number of items */
    keel_json *items;  /* ARRAY and OBJECT: the values */
    char **keys;       /* OBJECT: the keys, in document order */
};

/** Parses `len` bytes of JSON text; NULL on a syntax error, described in `error` if not NULL. */
keel_json *keel_json_parse(const char *text, size_t len, char *error, size_t error_size);
/** Frees a value returned by keel_json_parse (NULL is fine). */
void keel_json_free(keel_json *value);
/** The member `key` of an object; NULL when absent or when `object` is not an object. */
const keel_json *keel_json_get(const keel_json *object, const char *key);
/** Item `index` of an array (or object value); NULL when out of range. */
const keel_json *keel_json_at(const keel_json *array, size_t index);
/** Items of an array or object, bytes of a string, 0 otherwise. */
size_t keel_json_len(const keel_json *value);
/** The string, or `fallback` when the value is not a string. */
const char *keel_json_string(const keel_json *value, const char *fallback);
/** The number, or `fallback` when the value is not a number. */
double keel_json_number(const keel_json *value, double fallback);
/** True, with `*out` set, when the value is a non-negative integer that fits in a uint64_t. */
bool keel_json_u64(const keel_json *value, uint64_t *out);
/** The boolean, or `fallback` when the value is not a boolean. */
bool keel_json_bool(const keel_json *value, bool fallback);
/** True for JSON null and for a NULL pointer (an absent member). */
bool keel_json_is_null(const keel_json *value);
/** Compact JSON text of the value ("null" for NULL), malloc'd. Numbers keep their original text. */
char *keel_json_encode(const keel_json *value);
/** A JSON string literal for `text` (quotes and escapes added), malloc'd. */
char *keel_json_quote(const char *text);

/* ------------------------------------------------------------------------------------------------ */
/* Writing JSON                                                                                      */

#define KEEL_WRITER_MAX_DEPTH 64

/**
 * Builds JSON text value by value; commas, quotes and escapes are added by the writer:
 *
 *     keel_writer w = keel_writer_new();
 *     keel_write_object_begin(&w);
 *     keel_write_key(&w, "sum"); keel_write_u64(&w, 42);
 *     keel_write_object_end(&w);
 *     char *json = keel_writer_finish(&w);   // {"sum":42}
 */
typedef struct keel_writer {
    char *data;
    size_t len;
    size_t cap;
    int depth;
    bool after_key;
    bool has_items[KEEL_WRITER_MAX_DEPTH];
} keel_writer;

keel_writer keel_writer_new(void);
void keel_write_object_begin(keel_writer *w);
void keel_write_object_end(keel_writer *w);
void keel_write_array_begin(keel_writer *w);
void keel_write_array_end(keel_writer *w);
/** The key of the next member of the current object. */
void keel_write_key(keel_writer *w, const char *key);
void keel_write_string(keel_writer *w, const char *text);
/** A string formatted like printf. */
void keel_write_stringf(keel_writer *w, const char *format, ...) __attribute__((format(printf, 2, 3)));
/** A floating-point number written as serde_json writes an f64: shortest form, "25.0" for 25. */
void keel_write_double(keel_writer *w, double value);
void keel_write_u64(keel_writer *w, uint64_t value);
void keel_write_i64(keel_writer *w, int64_t value);
void keel_write_bool(keel_writer *w, bool value);
void keel_write_null(keel_writer *w);
/** A value that is already JSON text (NULL writes null). */
void keel_write_json(keel_writer *w, const char *json);
/** A parsed value (NULL writes null). */
void keel_write_value(keel_writer *w, const keel_json *value);
/** The text written so far, malloc'd; the writer is empty again afterwards. */
char *keel_writer_finish(keel_writer *w);

/* ------------------------------------------------------------------------------------------------ */
/* Results and failures                                                                              */

/** Failure kinds the SDK itself produces, the same as the other SDKs'. */
#define KEEL_INVALID_INPUT "InvalidInput"
#define KEEL_INVALID_OUTPUT "InvalidOutput"
#define KEEL_UNKNOWN_FUNCTION "UnknownFunction"
#define KEEL_UNKNOWN_QUERY "UnknownQuery"
#define KEEL_UNKNOWN_UPDATE "UnknownUpdate"

/** Why something did not succeed: a machine-readable kind, a message, optional JSON details. */
typedef struct keel_failure {
    char *kind;
    char *message;
    char *details; /* JSON text, or NULL */
} keel_failure;

/**
 * What a function returns and what waiting on a task gives: an output (`ok`, with `json` and, for
 * a task, `value` parsed from it) or a failure. Release it with keel_result_free.
 */
typedef struct keel_result {
    bool ok;
    char *json;          /* ok: the output as JSON text */
    keel_json *value;    /* ok, task outcomes only: `json` parsed */
    keel_failure failure; /* !ok */
} keel_result;

/** Succeeds with `json`, a malloc'd JSON text the result takes over (NULL means null). */
keel_result keel_ok(char *json);
/** Succeeds with a copy of the JSON text `json`. */
keel_result keel_ok_json(const char *json);
/** Fails with `kind` and a printf-formatted message. */
keel_result keel_fail(const char *kind, const char *format, ...) __attribute__((format(printf, 2, 3)));
/** Fails with `kind`, JSON `details` (malloc'd, taken over; NULL for none) and a formatted message. */
keel_result keel_fail_details(const char *kind, char *details, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/** True if the result is a failure of `kind`. */
bool keel_failed_with(const keel_result *result, const char *kind);
/** Frees what the result holds (it can be freed twice). */
void keel_result_free(keel_result *result);

/* ------------------------------------------------------------------------------------------------ */
/* The orchestration context: only orchestrators may call these                                      */

/** A task an orchestrator can wait on: an activity, a sub-orchestration, a timer or an event. */
typedef uint32_t keel_task;

/** How an activity is retried after a failed attempt; zero fields take the defaults noted. */
typedef struct keel_retry_policy {
    uint32_t max_attempts;       /* attempts in total, the first included (0 counts as 1) */
    uint64_t first_interval_ms;  /* delay before the second attempt */
    double backoff_coefficient;  /* factor between delays (0 counts as 1.0) */
    uint64_t max_interval_ms;    /* upper bound of one delay; 0 = none */
    uint64_t timeout_ms;         /* upper bound of all attempts; 0 = none */
    /* Failure kinds that end the task at once, without another attempt: a NULL-terminated list,
     * e.g. (const char *const[]){"PaymentDeclined", NULL}; NULL = none. Read during the call only. */
    const char *const *non_retryable;
} keel_retry_policy;

/** Options of one activity call. */
typedef struct keel_activity_options {
    const keel_retry_policy *retry; /* NULL: a single attempt */
    uint64_t timeout_ms;            /* time limit of one attempt; 0 = the module's default */
    /* Versions of the activity the call accepts, as a semver range ("^2", ">=1.4, <2"): the active
     * version if it matches, else the highest deployed one that does. NULL: the active version. */
    const char *version;
    /* Longest time, counted from an attempt's start, it may go without a keel_heartbeat: past it the
     * attempt fails with kind "HeartbeatTimeout" and the retry policy decides what follows. 0 = none. */
    uint64_t heartbeat_timeout_ms;
    /* false: an ordinary activity. true: a local (inline) activity, run by the worker holding this
     * orchestrator as soon as it waits, its result recorded with the turn's commit; it must be short
     * and safe to repeat (see keel_call_activity_with and call-local-activity in the WIT). */
    bool local;
} keel_activity_options;

/** Schedules activity `name` with JSON `input` (NULL means null): one attempt, default limit. */
keel_task keel_call_activity(const char *name, const char *input);
/**
 * Schedules activity `name` with options (retry policy, attempt time limit, version range, heartbeat
 * timeout, local). With `.local = true` it is a local (inline) activity: the worker that runs this
 * orchestrator runs it as soon as the orchestrator waits, without a work item of its own, and records
 * the call and its result with the turn's commit, together with the other local activities of the
 * batch. A crash before that commit runs the batch's local activities again, so keep them short and
 * safe to repeat. Retries with a short delay run in place; a longer retry, or a batch past its time
 * budget, continues as an ordinary activity call. Heartbeats are ignored. The task is waited on like
 * any other.
 */
keel_task keel_call_activity_with(const char *name, const char *input, keel_activity_options options);
/** Starts sub-orchestration `name` as `instance_id`, or as an id the host derives when NULL. */
keel_task keel_call_orchestrator(const char *name, const char *instance_id, const char *input);
/** A durable timer firing at orchestration time `fire_at_ms`; it resolves with null. */
keel_task keel_timer_at(uint64_t fire_at_ms);
/** A durable timer firing `delay_ms` after the current orchestration time. */
keel_task keel_timer(uint64_t delay_ms);
/** Waits for the next external event raised with `name`; resolves with the event's data. */
keel_task keel_wait_event(const char *name);
/**
 * Cancels `task`, which this orchestrator scheduled; returns at once. If it has not resolved, it
 * resolves at once with a failure of kind "Canceled" (what keel_get then gives) and what it stands
 * for stops: an activity is stopped (one not started never runs), a timer's firing is ignored, a
 * sub-orchestration is terminated with its own children, and a wait for an event takes none (the
 * next event of that name goes to the next wait). A task that has resolved is left as it is, so
 * cancelling twice does nothing more. Recorded in the history and checked on replay.
 */
void keel_cancel(keel_task task);

/**
 * Answers a query from the orchestrator's state: `input` is the query's argument (parsed, read during
 * the call only), `data` what keel_on_query was given. Return keel_ok(JSON) or a failure.
 */
typedef keel_result (*keel_query_fn)(const keel_json *input, void *data);

/** Most query handlers one orchestrator may register. */
#define KEEL_MAX_QUERIES 32

/**
 * Registers `fn` to answer the query `name` (`keel query ID NAME --input JSON`), replacing any handler
 * of that name; `data` is handed to it (a pointer to the orchestrator's state). A query is answered
 * while the orchestrator waits (keel_get, keel_all, keel_any), in a copy of it replayed to its current
 * state. A handler must only read: scheduling a task, waiting, setting the custom status or continuing
 * as new fails the query with QueryNotReadOnly, never the instance. A query no handler has fails with
 * UnknownQuery. More than KEEL_MAX_QUERIES names abort the orchestrator.
 */
void keel_on_query(const char *name, keel_query_fn fn, void *data);

/**
 * Runs an update or checks it: `input` is the update's argument (parsed, read during the call only),
 * `data` what keel_on_update was given. A handler returns keel_ok(JSON) or a failure; a validator
 * returns keel_ok(NULL) to accept (the value is ignored) or a failure to reject.
 */
typedef keel_result (*keel_update_fn)(const keel_json *input, void *data);

/** Most update names one orchestrator may register. */
#define KEEL_MAX_UPDATES 32

/**
 * Registers `handler` (not NULL) to run the update `name` (`keel update ID NAME --input JSON`), and
 * `validator` (NULL for none) to check it first, replacing any registration of that name; `data` is
 * handed to both (a pointer to the orchestrator's state). An update is handed over while the
 * orchestrator waits (keel_get, keel_all, keel_any):
 * - the validator runs first and must only read: scheduling a task, waiting, setting the custom
 *   status or continuing as new in it fails the instance. A failure rejects the update: nothing is
 *   recorded and the failure goes to the client. An update no handler has is rejected with
 *   UnknownUpdate, one whose input is not JSON with InvalidInput.
 * - an accepted update is recorded and its handler runs: it may change the orchestrator's state,
 *   schedule tasks and set the custom status, but must not wait. Its result (an output that is not
 *   JSON becomes InvalidOutput) is recorded and returned to the client; then the orchestrator waits
 *   again.
 * On replay the handlers of the updates the history records run again, in the same place; the
 * validators may run too, but the host ignores their verdicts. Registrations are cleared when an
 * orchestrator starts. More than KEEL_MAX_UPDATES names abort the orchestrator.
 */
void keel_on_update(const char *name, keel_update_fn handler, keel_update_fn validator, void *data);

/** Blocks until `task` resolves. While it blocks (here and in keel_all and keel_any), the queries
 * and updates clients send are served with the handlers keel_on_query and keel_on_update registered. */
keel_result keel_get(keel_task task);
/** Blocks until every task resolves; results[i] is the outcome of tasks[i]. */
void keel_all(const keel_task *tasks, size_t count, keel_result *results);
/**
 * Blocks until at least one task resolves; returns the index in `tasks` of the first to have done so
 * and stores its outcome in `*result`. The others keep running and can be waited on later.
 */
size_t keel_any(const keel_task *tasks, size_t count, keel_result *result);

/** Orchestration time in milliseconds since the Unix epoch: the start of the current turn. */
uint64_t keel_now_ms(void);
/** A random number from a generator seeded per execution; the same on every replay. */
uint64_t keel_random_u64(void);
/** A version-4 UUID from the same generator, written with its NUL into `out`. */
void keel_uuid(char out[37]);
/** True while the orchestrator re-executes steps already recorded in its history. */
bool keel_is_replaying(void);
/** Sets the instance's custom status (JSON text), visible to clients. */
void keel_set_custom_status(const char *json);
/** Ends this execution once the orchestrator returns and starts a new one with `input`. */
void keel_continue_as_new(const char *input);
/** Like keel_continue_as_new, and the events raised to this execution that it never waited for are
 * raised again to the next one, in their order. */
void keel_continue_as_new_keeping_events(const char *input);

typedef enum keel_log_level { KEEL_TRACE, KEEL_DEBUG, KEEL_INFO, KEEL_WARN, KEEL_ERROR } keel_log_level;
/** Writes a printf-formatted log line; dropped while replaying, so written once. */
void keel_log(keel_log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));
#define keel_trace(...) keel_log(KEEL_TRACE, __VA_ARGS__)
#define keel_debug(...) keel_log(KEEL_DEBUG, __VA_ARGS__)
#define keel_info(...) keel_log(KEEL_INFO, __VA_ARGS__)
#define keel_warn(...) keel_log(KEEL_WARN, __VA_ARGS__)
#define keel_error(...) keel_log(KEEL_ERROR, __VA_ARGS__)

/* ------------------------------------------------------------------------------------------------ */
/* HTTP                                                                                              */

/** Failure kind of a request that got no response (refused, timed out, malformed URL, ...). */
#define KEEL_HTTP_ERROR "HttpError"
/** Failure kind keel_http_error_for_status gives a status of 400 or more. */
#define KEEL_HTTP_STATUS "HttpStatus"
/** The host's built-in activity behind keel_call_http. */
#define KEEL_HTTP_ACTIVITY "keel.http"

/** One header: in a request, both strings are the caller's; in a response, both are malloc'd. */
typedef struct keel_http_header {
    const char *name;
    const char *value;
} keel_http_header;

/**
 * A complete response of keel_http_request, owned by the caller: release it with
 * keel_http_response_free (which frees every string below).
 */
typedef struct keel_http_response {
    uint16_t status;
    keel_http_header *headers; /* names in lower case, in the order received; values as text */
    size_t header_count;
    char *body;                /* the body's bytes, followed by a NUL that body_len does not count */
    size_t body_len;
} keel_http_response;

/**
 * Activities only: sends a request over wasi:http and waits for the whole response. The host lets
 * an activity reach only the origins granted to it (`keel grant NAME URL`); any other request fails
 * the whole attempt with HttpDenied, whatever the activity does next. An orchestrator must never call
 * this (the host fails the instance with HttpInOrchestrator, KEEL-O1): it uses keel_call_http.
 *
 * `method` ("GET", "post", ...; NULL means GET), `url` (absolute, http:// or https://), `header_count`
 * headers and `body_len` bytes of `body` (NULL/0: none) are only read during the call. A body is sent
 * with its `content-length` unless the headers set one. On a response, returns an ok result holding
 * nothing and fills `*response`; without one (connection refused, bad URL, ...), returns a failure of
 * kind HttpError ("GET http://... failed: ErrorCode::ConnectionRefused") and zeroes `*response`.
 * Free the result with keel_result_free in both cases (a failure can be returned as it is).
 *
 *     keel_http_header headers[] = {{"content-type", "application/json"}};
 *     keel_http_response response;
 *     keel_result sent = keel_http_request("POST", url, headers, 1, json, strlen(json), &response);
 *     if (!sent.ok) return sent;
 *     keel_result checked = keel_http_error_for_status(&response);   // HttpStatus on >= 400
 */
keel_result keel_http_request(const char *method, const char *url, const keel_http_header *headers,
                              size_t header_count, const void *body, size_t body_len,
                              keel_http_response *response);
/** The value of the first header called `name` (any case), or NULL. Owned by the response. */
const char *keel_http_response_header(const keel_http_response *response, const char *name);
/** The body as text (invalid UTF-8 replaced by U+FFFD), malloc'd. */
char *keel_http_response_text(const keel_http_response *response);
/** The body as JSON: ok with `json` and `value` set, or an InvalidOutput failure. Free it. */
keel_result keel_http_response_json(const keel_http_response *response);
/**
 * An ok result holding nothing when the status is below 400; else a failure of kind HttpStatus
 * (retried under the activity's retry policy), message "the server answered STATUS: EXCERPT" and
 * details {"status": STATUS, "body": EXCERPT}, EXCERPT being the first 512 characters of the body.
 */
keel_result keel_http_error_for_status(const keel_http_response *response);
/** Frees what the response holds and zeroes it (NULL and a second call are fine). */
void keel_http_response_free(keel_http_response *response);

/**
 * A durable HTTP call, for orchestrators: the host sends it once, under the orchestrator's grants
 * (`keel grant ORCHESTRATOR URL`), records the response and answers replays from the history. Every
 * pointer is read during keel_call_http only.
 */
typedef struct keel_http_call {
    const char *method;              /* NULL: GET; sent in upper case */
    const char *url;                 /* absolute URL */
    const keel_http_header *headers; /* `header_count` headers; a value may hold {{secret:NAME}}, which
                                      * the host fills in from the orchestrator's secrets (only the
                                      * placeholder is recorded) */
    size_t header_count;
    const char *body;                /* a text body, or NULL */
    const char *json;                /* a JSON body (JSON text), or NULL; ignored when `body` is set */
    bool asynchronous;               /* follow 202 Accepted + Location, polling after durable timers */
    const uint16_t *retry_on;        /* statuses that fail the attempt so that the retry policy applies
                                      * (`retry_on_count` of them); NULL: the host's 408, 429, 500, 502,
                                      * 503, 504 */
    size_t retry_on_count;
} keel_http_call;

/** A scheduled durable HTTP call. Wait for it with keel_http_get, exactly once. */
typedef struct keel_http_task {
    keel_task task;              /* the first request's task, also usable with keel_all and keel_any */
    struct keel_http_poll *poll; /* private: what polling repeats (asynchronous calls only) */
} keel_http_task;

/** Schedules a durable HTTP call (the built-in activity keel.http) as a single attempt. */
keel_http_task keel_call_http(const keel_http_call *call);
/** Like keel_call_http, with a retry policy and time limit per attempt (also used for each poll);
 * `local` is ignored: a durable HTTP call is always an ordinary activity. */
keel_http_task keel_call_http_with(const keel_http_call *call, keel_activity_options options);
/**
 * Blocks until the response and releases what the task holds. For an asynchronous call, while the
 * status is 202 with a `location`, waits a durable timer of `retryAfterMs` (default 1000 ms) and
 * GETs the location (same headers, retry statuses and options). Ok: `value` is the response
 * {"status": n, "headers": {lower-case name: value}, "body": "text", "location": "absolute URL"
 * (when there was one), "retryAfterMs": n (when there was one)}. Failure: HttpDenied, HttpStatus
 * (a status in retry_on after the last attempt), HttpError, Timeout, ...
 */
keel_result keel_http_get(keel_http_task *task);

/* ------------------------------------------------------------------------------------------------ */
/* Activity attempts                                                                                 */

/** The instance, task and attempt (1-based) an activity attempt belongs to. */
typedef struct keel_activity_info {
    const char *instance_id;
    uint32_t task_id;
    uint32_t attempt;
    /* Stable across every attempt of the call and new for each incarnation of the instance id:
       `instance/run/task-id` (`instance/run@execution/task-id` after a continue-as-new). Room for
       ids of up to 980 bytes (instance ids a client gives are at most 256 by default; ids Keel
       derives for sub-orchestrations grow with their depth); a longer key is cut. */
    char idempotency_key[1024];
} keel_activity_info;

/** Fills `info` inside an activity attempt run by Keel; false (nothing known) otherwise. */
bool keel_get_activity_info(keel_activity_info *info);

/**
 * Activities only: reports that the attempt is alive, with progress `details_json` (JSON text; NULL
 * means null), read during the call only. The latest details show in the instance's status (`keel
 * status`) and go to the next attempt of the task (keel_last_heartbeat). An attempt whose call set a
 * heartbeat_timeout_ms must heartbeat more often than that, or it fails with HeartbeatTimeout.
 * Returns true when the attempt should stop (its task was canceled, its instance terminated, or
 * another worker took it over): clean up and return at once (what it returns is dropped); one that
 * goes on is stopped a few seconds later. An orchestrator must never call this (the host fails it).
 */
bool keel_heartbeat(const char *details_json);
/**
 * Activities only: the details (JSON text) of the last heartbeat an earlier attempt of this task
 * recorded, malloc'd and owned by the caller (free it); NULL when there was none, e.g. in the first
 * attempt. Parse it with keel_json_parse to resume where that attempt stopped.
 */
char *keel_last_heartbeat(void);

/* ------------------------------------------------------------------------------------------------ */
/* Registration                                                                                      */

/** An orchestrator or an activity: takes the parsed input, returns an output or a failure. */
typedef keel_result (*keel_fn)(const keel_json *input);

typedef enum keel_kind { KEEL_KIND_ORCHESTRATOR, KEEL_KIND_ACTIVITY } keel_kind;

/** One entry of the registration table. */
typedef struct keel_function {
    const char *name;
    keel_kind kind;
    keel_fn fn;
} keel_function;

#define KEEL_ORCHESTRATOR(name, fn) { (name), KEEL_KIND_ORCHESTRATOR, (fn) }
#define KEEL_ACTIVITY(name, fn) { (name), KEEL_KIND_ACTIVITY, (fn) }
#define KEEL_END { NULL, KEEL_KIND_ORCHESTRATOR, NULL }

/** The module's functions, ended by KEEL_END: defined once by the module, read by the SDK. */
extern const keel_function keel_functions[];

#ifdef __cplusplus
}
#endif

#endif /* KEEL_H */
