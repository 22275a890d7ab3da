/*
 * The fan-out example in C: a fan-out/fan-in orchestrator (FanOut) and a sequential chain (Sequence)
 * over two trivial arithmetic activities, behaviourally identical to the Rust one.
 * It must never wait inside the fan-out loop: every task is scheduled before the first wait, which is
 * what lets the host run them in parallel.
 */
#include <stdio.h>

#include "keel.h"

static keel_result invalid(const char *name, const char *field) {
    return keel_fail(KEEL_INVALID_INPUT, "the input of %s is not valid: %s must be a u64", name, field);
}

static char *u64_json(uint64_t value) {
    keel_writer w = keel_writer_new();
    keel_write_u64(&w, value);
    return keel_writer_finish(&w);
}

/* Squares 0..count in parallel and sums the squares. */
static keel_result fan_out(const keel_json *input) {
    uint64_t count;
    if (!keel_json_u64(keel_json_get(input, "count"), &count)) {
        return invalid("FanOut", "count");
    }
    keel_task *tasks = malloc((count == 0 ? 1 : count) * sizeof *tasks);
    keel_result *squares = malloc((count == 0 ? 1 : count) * sizeof *squares);
    if (tasks == NULL || squares == NULL) {
        abort();
    }
    for (uint64_t i = 0; i < count; i++) {
        char *n = u64_json(i);
        tasks[i] = keel_call_activity("Square", n);
        free(n);
    }
    keel_all(tasks, count, squares);
    keel_result out = {0};
    uint64_t sum = 0;
    bool overflow = false;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t square;
        if (!out.ok && out.failure.kind == NULL) {
            /* The first failure in the order of the tasks, as Context::all_as reports it. */
            if (!squares[i].ok) {
                out = squares[i];
                squares[i] = (keel_result){0};
            } else if (!keel_json_u64(squares[i].value, &square)) {
                out = keel_fail(KEEL_INVALID_OUTPUT, "Square returned %s, not a u64", squares[i].json);
            } else if (sum + square < sum) {
                overflow = true;
            } else {
                sum += square;
            }
        }
        keel_result_free(&squares[i]);
    }
    free(tasks);
    free(squares);
    if (out.failure.kind != NULL) {
        return out;
    }
    if (overflow) {
        return keel_fail("Overflow", "the sum of squares does not fit in a u64");
    }
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "count");
    keel_write_u64(&w, count);
    keel_write_key(&w, "sum");
    keel_write_u64(&w, sum);
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

/* Increments a counter `steps` times, one activity call after the other. */
static keel_result sequence(const keel_json *input) {
    uint64_t steps;
    if (!keel_json_u64(keel_json_get(input, "steps"), &steps)) {
        return invalid("Sequence", "steps");
    }
    uint64_t value = 0;
    for (uint64_t i = 0; i < steps; i++) {
        char *n = u64_json(value);
        keel_result next = keel_get(keel_call_activity("Increment", n));
        free(n);
        if (!next.ok) {
            return next;
        }
        if (!keel_json_u64(next.value, &value)) {
            keel_result bad = keel_fail(KEEL_INVALID_OUTPUT, "Increment returned %s, not a u64", next.json);
            keel_result_free(&next);
            return bad;
        }
        keel_result_free(&next);
    }
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "steps");
    keel_write_u64(&w, steps);
    keel_write_key(&w, "value");
    keel_write_u64(&w, value);
    keel_write_object_end(&w);
    return keel_ok(keel_writer_finish(&w));
}

static keel_result square(const keel_json *input) {
    uint64_t n;
    if (!keel_json_u64(input, &n)) {
        return invalid("Square", "the input");
    }
    if (n != 0 && n > UINT64_MAX / n) {
        return keel_fail("Overflow", "%llu squared does not fit in a u64", (unsigned long long)n);
    }
    return keel_ok(u64_json(n * n));
}

static keel_result increment(const keel_json *input) {
    uint64_t n;
    if (!keel_json_u64(input, &n)) {
        return invalid("Increment", "the input");
    }
    if (n == UINT64_MAX) {
        return keel_fail("Overflow", "the counter is at u64::MAX");
    }
    return keel_ok(u64_json(n + 1));
}

const keel_function keel_functions[] = {
    KEEL_ORCHESTRATOR("FanOut", fan_out),
    KEEL_ORCHESTRATOR("Sequence", sequence),
    KEEL_ACTIVITY("Square", square),
    KEEL_ACTIVITY("Increment", increment),
    KEEL_END,
};
