/*
 * keel_internal.h — helpers keel.c shares with http.c; not part of the SDK's surface (keel.h is).
 * Every allocation aborts when memory runs out, so callers never check for NULL.
 */
#ifndef KEEL_INTERNAL_H
#define KEEL_INTERNAL_H

#include "keel.h"
#include "module.h"

/** A NUL-terminated copy of the first `n` bytes of `text`, malloc'd. */
char *keel__dup_n(const char *text, size_t n);
/** A copy of `text`, malloc'd. */
char *keel__dup_str(const char *text);
/** printf into a malloc'd string. */
char *keel__format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** A copy of a WIT string, NUL-terminated and malloc'd. */
char *keel__from_wit(const module_string_t *s);
/** A WIT string borrowing `text` (NULL gives the empty string). */
module_string_t keel__borrow(const char *text);
/** A failure of `kind` that takes over the malloc'd `message` and `details` (NULL for none). */
keel_result keel__failure(const char *kind, char *message, char *details);

#endif /* KEEL_INTERNAL_H */
