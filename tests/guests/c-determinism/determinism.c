/*
 * Test fixture: a C orchestrator that reads time (clock_gettime, time()), randomness (getentropy,
 * rand() seeded from it) and the iteration order of a hash map whose hash is seeded from that
 * randomness, straight from libc, so that a test can check that a replay after a restart sees the
 * very same values. It must never be used as an example of good practice: real orchestrators take
 * these from the context. The registration table is in json_checks.c.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keel.h"

#define BUCKETS 8

typedef struct entry {
    char key[16];
    int value;
    struct entry *next;
} entry;

static uint64_t hash(const char *key, uint64_t seed) {
    uint64_t h = 1469598103934665603ULL ^ seed; /* FNV-1a, seeded */
    for (; *key != '\0'; key++) {
        h ^= (unsigned char)*key;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Everything an orchestrator could read from libc without asking the context. */
static void ambient_reading(keel_writer *w) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct timespec mono;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    uint64_t entropy[2] = {0, 0};
    getentropy(entropy, sizeof entropy);
    srand((unsigned)entropy[1]);
    int r = rand();

    /* A small hash map: where keys land, hence the iteration order, depends on the seed. */
    entry entries[5];
    entry *table[BUCKETS] = {0};
    for (int i = 0; i < 5; i++) {
        snprintf(entries[i].key, sizeof entries[i].key, "key-%d", i);
        entries[i].value = i;
        size_t b = (size_t)(hash(entries[i].key, entropy[0]) % BUCKETS);
        entries[i].next = table[b];
        table[b] = &entries[i];
    }

    keel_write_object_begin(w);
    keel_write_key(w, "timeMs");
    keel_write_u64(w, (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000);
    keel_write_key(w, "timeSec");
    keel_write_i64(w, (int64_t)time(NULL));
    keel_write_key(w, "monotonicNs");
    keel_write_u64(w, (uint64_t)mono.tv_sec * 1000000000ULL + (uint64_t)mono.tv_nsec);
    keel_write_key(w, "random");
    keel_write_u64(w, entropy[0]);
    keel_write_key(w, "rand");
    keel_write_i64(w, r);
    keel_write_key(w, "mapOrder");
    keel_write_array_begin(w);
    for (int b = 0; b < BUCKETS; b++) {
        for (entry *e = table[b]; e != NULL; e = e->next) {
            keel_write_string(w, e->key);
        }
    }
    keel_write_array_end(w);
    keel_write_key(w, "ctxRandom");
    keel_write_u64(w, keel_random_u64());
    char uuid[37];
    keel_uuid(uuid);
    keel_write_key(w, "ctxUuid");
    keel_write_string(w, uuid);
    keel_write_object_end(w);
}

keel_result determinism_orchestrator(const keel_json *input) {
    keel_writer w = keel_writer_new();
    ambient_reading(&w);
    char *first = keel_writer_finish(&w);
    keel_result echoed = keel_get(keel_call_activity("Echo", first));
    if (!echoed.ok) {
        free(first);
        return echoed;
    }
    keel_result_free(&echoed);
    keel_result go = keel_get(keel_wait_event("go"));
    keel_result_free(&go);
    /* A later turn: its time differs from the first's, which is why it is kept apart. */
    keel_write_object_begin(&w);
    keel_write_key(&w, "first");
    keel_write_json(&w, first);
    keel_write_key(&w, "second");
    ambient_reading(&w);
    keel_write_key(&w, "ctxNow");
    keel_write_u64(&w, keel_now_ms());
    keel_write_object_end(&w);
    free(first);
    return keel_ok(keel_writer_finish(&w));
}

keel_result echo_activity(const keel_json *value) {
    return keel_ok(keel_json_encode(value));
}
