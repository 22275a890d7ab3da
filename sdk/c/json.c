/*
 * json.c — the C SDK's JSON: a strict parser into a keel_json tree, the accessors, and the writer
 * that builds JSON text with commas and escapes done. Payloads cross the component boundary as JSON
 * text, so this is all a C module needs to read inputs and produce outputs.
 * It never aborts on bad input: a syntax error is a NULL result with a message.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "keel.h"

#define MAX_NESTING 128

/* ------------------------------------------------------------------------------------------------ */
/* Parsing                                                                                           */

typedef struct parser {
    const char *p;
    const char *end;
    const char *start;
    char *error;
    size_t error_size;
    bool failed;
} parser;

static void fail_at(parser *ps, const char *what) {
    if (ps->failed) {
        return;
    }
    ps->failed = true;
    if (ps->error != NULL && ps->error_size > 0) {
        snprintf(ps->error, ps->error_size, "%s at byte %zu", what, (size_t)(ps->p - ps->start));
    }
}

static void skip_ws(parser *ps) {
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static bool literal(parser *ps, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

/* Growable byte buffer shared by the parser (strings) and the writer. */
typedef struct buffer {
    char *data;
    size_t len;
    size_t cap;
} buffer;

static bool buf_reserve(buffer *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) {
        return true;
    }
    size_t cap = b->cap == 0 ? 64 : b->cap;
    while (cap < b->len + extra + 1) {
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        abort(); /* out of memory: the host fails the task or instance with a trap */
    }
    b->data = data;
    b->cap = cap;
    return true;
}

static void buf_append(buffer *b, const char *text, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_char(buffer *b, char c) {
    buf_append(b, &c, 1);
}

static void buf_utf8(buffer *b, uint32_t cp) {
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        out[0] = (char)(0xF0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    buf_append(b, out, n);
}

static bool hex4(parser *ps, uint32_t *out) {
    if (ps->end - ps->p < 4) {
        return false;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = ps->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (uint32_t)(c - 'A' + 10);
        } else {
            return false;
        }
    }
    ps->p += 4;
    *out = v;
    return true;
}

/* Parses a string literal (at its opening quote) into a malloc'd, NUL-terminated string. */
static char *parse_string(parser *ps, size_t *len) {
    buffer b = {0};
    buf_reserve(&b, 0);
    b.data[0] = '\0';
    ps->p++; /* the opening quote */
    while (ps->p < ps->end) {
        unsigned char c = (unsigned char)*ps->p++;
        if (c == '"') {
            *len = b.len;
            return b.data;
        }
        if (c < 0x20) {
            ps->p--;
            fail_at(ps, "control character in a string");
            break;
        }
        if (c != '\\') {
            buf_char(&b, (char)c);
            continue;
        }
        if (ps->p >= ps->end) {
            break;
        }
        char e = *ps->p++;
        switch (e) {
        case '"': buf_char(&b, '"'); break;
        case '\\': buf_char(&b, '\\'); break;
        case '/': buf_char(&b, '/'); break;
        case 'b': buf_char(&b, '\b'); break;
        case 'f': buf_char(&b, '\f'); break;
        case 'n': buf_char(&b, '\n'); break;
        case 'r': buf_char(&b, '\r'); break;
        case 't': buf_char(&b, '\t'); break;
        case 'u': {
            uint32_t cp;
            if (!hex4(ps, &cp)) {
                fail_at(ps, "invalid \\u escape");
                free(b.data);
                return NULL;
            }
            if (cp >= 0xD800 && cp < 0xDC00) {
                uint32_t low;
                if (ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u') {
                    ps->p += 2;
                    if (!hex4(ps, &low) || low < 0xDC00 || low > 0xDFFF) {
                        fail_at(ps, "invalid surrogate pair");
                        free(b.data);
                        return NULL;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else {
                    cp = 0xFFFD; /* a lone surrogate: replaced, as serde_json's lossy readers do */
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            buf_utf8(&b, cp);
            break;
        }
        default:
            ps->p--;
            fail_at(ps, "invalid escape in a string");
            free(b.data);
            return NULL;
        }
    }
    fail_at(ps, "unterminated string");
    free(b.data);
    return NULL;
}

static bool parse_value(parser *ps, keel_json *out, int depth);

static bool parse_number(parser *ps, keel_json *out) {
    const char *begin = ps->p;
    if (ps->p < ps->end && *ps->p == '-') {
        ps->p++;
    }
    if (ps->p < ps->end && *ps->p == '0') {
        ps->p++;
    } else if (ps->p < ps->end && *ps->p >= '1' && *ps->p <= '9') {
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            ps->p++;
        }
    } else {
        fail_at(ps, "invalid number");
        return false;
    }
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
            fail_at(ps, "invalid number");
            return false;
        }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            ps->p++;
        }
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) {
            ps->p++;
        }
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9') {
            fail_at(ps, "invalid number");
            return false;
        }
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            ps->p++;
        }
    }
    size_t n = (size_t)(ps->p - begin);
    out->type = KEEL_JSON_NUMBER;
    out->text = malloc(n + 1);
    if (out->text == NULL) {
        abort();
    }
    memcpy(out->text, begin, n);
    out->text[n] = '\0';
    out->len = n;
    out->number = strtod(out->text, NULL);
    return true;
}

static bool push_item(keel_json *container, size_t *cap, char *key) {
    if (container->len == *cap) {
        size_t next = *cap == 0 ? 4 : *cap * 2;
        keel_json *items = realloc(container->items, next * sizeof(keel_json));
        if (items == NULL) {
            abort();
        }
        container->items = items;
        if (container->type == KEEL_JSON_OBJECT) {
            char **keys = realloc(container->keys, next * sizeof(char *));
            if (keys == NULL) {
                abort();
            }
            container->keys = keys;
        }
        *cap = next;
    }
    memset(&container->items[container->len], 0, sizeof(keel_json));
    if (container->type == KEEL_JSON_OBJECT) {
        container->keys[container->len] = key;
    }
    container->len++;
    return true;
}

static bool parse_container(parser *ps, keel_json *out, int depth, bool object) {
    out->type = object ? KEEL_JSON_OBJECT : KEEL_JSON_ARRAY;
    char close = object ? '}' : ']';
    size_t cap = 0;
    ps->p++; /* the opening bracket */
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return true;
    }
    for (;;) {
        char *key = NULL;
        skip_ws(ps);
        if (object) {
            size_t key_len;
            if (ps->p >= ps->end || *ps->p != '"') {
                fail_at(ps, "expected a member name");
                return false;
            }
            key = parse_string(ps, &key_len);
            if (key == NULL) {
                return false;
            }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                free(key);
                fail_at(ps, "expected ':'");
                return false;
            }
            ps->p++;
        }
        push_item(out, &cap, key);
        if (!parse_value(ps, &out->items[out->len - 1], depth + 1)) {
            return false;
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == close) {
            ps->p++;
            return true;
        }
        fail_at(ps, object ? "expected ',' or '}'" : "expected ',' or ']'");
        return false;
    }
}

static bool parse_value(parser *ps, keel_json *out, int depth) {
    if (depth > MAX_NESTING) {
        fail_at(ps, "nested too deeply");
        return false;
    }
    skip_ws(ps);
    if (ps->p >= ps->end) {
        fail_at(ps, "unexpected end of input");
        return false;
    }
    switch (*ps->p) {
    case '{':
        return parse_container(ps, out, depth, true);
    case '[':
        return parse_container(ps, out, depth, false);
    case '"':
        out->type = KEEL_JSON_STRING;
        out->text = parse_string(ps, &out->len);
        return out->text != NULL;
    case 't':
    case 'f':
    case 'n':
        if (literal(ps, "true")) {
            out->type = KEEL_JSON_BOOL;
            out->boolean = true;
            return true;
        }
        if (literal(ps, "false")) {
            out->type = KEEL_JSON_BOOL;
            return true;
        }
        if (literal(ps, "null")) {
            out->type = KEEL_JSON_NULL;
            return true;
        }
        fail_at(ps, "invalid literal");
        return false;
    default:
        return parse_number(ps, out);
    }
}

static void free_inner(keel_json *value) {
    free(value->text);
    for (size_t i = 0; i < value->len && value->items != NULL; i++) {
        free_inner(&value->items[i]);
        if (value->keys != NULL) {
            free(value->keys[i]);
        }
    }
    free(value->items);
    free(value->keys);
}

keel_json *keel_json_parse(const char *text, size_t len, char *error, size_t error_size) {
    parser ps = {text, text + len, text, error, error_size, false};
    keel_json *root = calloc(1, sizeof(keel_json));
    if (root == NULL) {
        abort();
    }
    bool ok = parse_value(&ps, root, 0);
    if (ok) {
        skip_ws(&ps);
        if (ps.p != ps.end) {
            fail_at(&ps, "trailing characters");
            ok = false;
        }
    }
    if (!ok) {
        free_inner(root);
        free(root);
        return NULL;
    }
    return root;
}

void keel_json_free(keel_json *value) {
    if (value != NULL) {
        free_inner(value);
        free(value);
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* Accessors                                                                                         */

const keel_json *keel_json_get(const keel_json *object, const char *key) {
    if (object == NULL || object->type != KEEL_JSON_OBJECT || key == NULL) {
        return NULL;
    }
    /* The last duplicate wins, as in serde_json and JavaScript. */
    for (size_t i = object->len; i > 0; i--) {
        if (strcmp(object->keys[i - 1], key) == 0) {
            return &object->items[i - 1];
        }
    }
    return NULL;
}

const keel_json *keel_json_at(const keel_json *array, size_t index) {
    if (array == NULL || (array->type != KEEL_JSON_ARRAY && array->type != KEEL_JSON_OBJECT) ||
        index >= array->len) {
        return NULL;
    }
    return &array->items[index];
}

size_t keel_json_len(const keel_json *value) {
    if (value == NULL) {
        return 0;
    }
    switch (value->type) {
    case KEEL_JSON_STRING:
    case KEEL_JSON_ARRAY:
    case KEEL_JSON_OBJECT:
        return value->len;
    default:
        return 0;
    }
}

const char *keel_json_string(const keel_json *value, const char *fallback) {
    return value != NULL && value->type == KEEL_JSON_STRING ? value->text : fallback;
}

double keel_json_number(const keel_json *value, double fallback) {
    return value != NULL && value->type == KEEL_JSON_NUMBER ? value->number : fallback;
}

bool keel_json_u64(const keel_json *value, uint64_t *out) {
    if (value == NULL || value->type != KEEL_JSON_NUMBER || value->text[0] == '-') {
        return false;
    }
    if (strpbrk(value->text, ".eE") == NULL) {
        /* Digits only: exact, without going through a double. */
        uint64_t v = 0;
        for (const char *c = value->text; *c != '\0'; c++) {
            uint64_t digit = (uint64_t)(*c - '0');
            if (v > (UINT64_MAX - digit) / 10) {
                return false;
            }
            v = v * 10 + digit;
        }
        *out = v;
        return true;
    }
    double d = value->number;
    if (d < 0 || d >= 18446744073709551616.0 || floor(d) != d) {
        return false;
    }
    *out = (uint64_t)d;
    return true;
}

bool keel_json_bool(const keel_json *value, bool fallback) {
    return value != NULL && value->type == KEEL_JSON_BOOL ? value->boolean : fallback;
}

bool keel_json_is_null(const keel_json *value) {
    return value == NULL || value->type == KEEL_JSON_NULL;
}

/* ------------------------------------------------------------------------------------------------ */
/* Writing                                                                                           */

keel_writer keel_writer_new(void) {
    keel_writer w;
    memset(&w, 0, sizeof w);
    return w;
}

static void raw(keel_writer *w, const char *text, size_t n) {
    buffer b = {w->data, w->len, w->cap};
    buf_append(&b, text, n);
    w->data = b.data;
    w->len = b.len;
    w->cap = b.cap;
}

static void raw_str(keel_writer *w, const char *text) {
    raw(w, text, strlen(text));
}

/* The separator before a value: a comma unless it is the first item or follows a key. */
static void before_value(keel_writer *w) {
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth > 0 && w->depth <= KEEL_WRITER_MAX_DEPTH) {
        if (w->has_items[w->depth - 1]) {
            raw(w, ",", 1);
        }
        w->has_items[w->depth - 1] = true;
    }
}

static void escaped(keel_writer *w, const char *text, size_t n) {
    raw(w, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        switch (c) {
        case '"': raw(w, "\\\"", 2); break;
        case '\\': raw(w, "\\\\", 2); break;
        case '\n': raw(w, "\\n", 2); break;
        case '\r': raw(w, "\\r", 2); break;
        case '\t': raw(w, "\\t", 2); break;
        case '\b': raw(w, "\\b", 2); break;
        case '\f': raw(w, "\\f", 2); break;
        default:
            if (c < 0x20) {
                char u[7];
                snprintf(u, sizeof u, "\\u%04x", c);
                raw(w, u, 6);
            } else {
                raw(w, (const char *)&text[i], 1);
            }
        }
    }
    raw(w, "\"", 1);
}

static void open_container(keel_writer *w, const char *bracket) {
    before_value(w);
    raw_str(w, bracket);
    if (w->depth < KEEL_WRITER_MAX_DEPTH) {
        w->has_items[w->depth] = false;
    }
    w->depth++;
}

static void close_container(keel_writer *w, const char *bracket) {
    if (w->depth > 0) {
        w->depth--;
    }
    w->after_key = false;
    raw_str(w, bracket);
}

void keel_write_object_begin(keel_writer *w) { open_container(w, "{"); }
void keel_write_object_end(keel_writer *w) { close_container(w, "}"); }
void keel_write_array_begin(keel_writer *w) { open_container(w, "["); }
void keel_write_array_end(keel_writer *w) { close_container(w, "]"); }

void keel_write_key(keel_writer *w, const char *key) {
    before_value(w);
    escaped(w, key, strlen(key));
    raw(w, ":", 1);
    w->after_key = true;
}

void keel_write_string(keel_writer *w, const char *text) {
    before_value(w);
    if (text == NULL) {
        raw_str(w, "null");
        return;
    }
    escaped(w, text, strlen(text));
}

void keel_write_stringf(keel_writer *w, const char *format, ...) {
    va_list args;
    va_start(args, format);
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(NULL, 0, format, copy);
    va_end(copy);
    char *text = malloc(n < 0 ? 1 : (size_t)n + 1);
    if (text == NULL) {
        abort();
    }
    vsnprintf(text, n < 0 ? 1 : (size_t)n + 1, format, args);
    va_end(args);
    keel_write_string(w, n < 0 ? "" : text);
    free(text);
}

/* The shortest text that reads back as `value`, laid out as serde_json (ryu) writes an f64: "25.0",
 * "0.1", "0.0001", "1e-7", "1e+21", "1.5e+300". */
static void format_double(double value, char out[40]) {
    if (!isfinite(value)) {
        strcpy(out, "null");
        return;
    }
    if (value == 0.0) {
        strcpy(out, signbit(value) ? "-0.0" : "0.0");
        return;
    }
    /* The shortest round-tripping digits, from printf's correctly rounded scientific form. */
    char sci[40];
    for (int precision = 0; precision <= 16; precision++) {
        snprintf(sci, sizeof sci, "%.*e", precision, value);
        if (strtod(sci, NULL) == value) {
            break;
        }
    }
    char digits[24];
    size_t n = 0;
    const char *c = sci;
    bool negative = *c == '-';
    if (negative) {
        c++;
    }
    for (; *c != 'e' && *c != '\0'; c++) {
        if (*c >= '0' && *c <= '9' && n < sizeof digits - 1) {
            digits[n++] = *c;
        }
    }
    while (n > 1 && digits[n - 1] == '0') {
        n--;
    }
    digits[n] = '\0';
    int kk = (*c == 'e' ? atoi(c + 1) : 0) + 1; /* value = 0.DIGITS x 10^kk */
    int e = kk - (int)n;
    char *o = out;
    if (negative) {
        *o++ = '-';
    }
    if (e >= 0 && kk <= 16) {
        o += sprintf(o, "%s", digits);
        for (int i = 0; i < e; i++) {
            *o++ = '0';
        }
        strcpy(o, ".0");
    } else if (kk > 0 && kk <= 16) {
        sprintf(o, "%.*s.%s", kk, digits, digits + kk);
    } else if (kk > -5 && kk <= 0) {
        o += sprintf(o, "0.");
        for (int i = 0; i < -kk; i++) {
            *o++ = '0';
        }
        strcpy(o, digits);
    } else if (n == 1) {
        sprintf(o, "%se%+d", digits, kk - 1);
    } else {
        sprintf(o, "%c.%se%+d", digits[0], digits + 1, kk - 1);
    }
}

void keel_write_double(keel_writer *w, double value) {
    char text[40];
    format_double(value, text);
    before_value(w);
    raw_str(w, text);
}

void keel_write_u64(keel_writer *w, uint64_t value) {
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)value);
    before_value(w);
    raw_str(w, text);
}

void keel_write_i64(keel_writer *w, int64_t value) {
    char text[24];
    snprintf(text, sizeof text, "%lld", (long long)value);
    before_value(w);
    raw_str(w, text);
}

void keel_write_bool(keel_writer *w, bool value) {
    before_value(w);
    raw_str(w, value ? "true" : "false");
}

void keel_write_null(keel_writer *w) {
    before_value(w);
    raw_str(w, "null");
}

void keel_write_json(keel_writer *w, const char *json) {
    before_value(w);
    raw_str(w, json == NULL ? "null" : json);
}

void keel_write_value(keel_writer *w, const keel_json *value) {
    if (value == NULL) {
        keel_write_null(w);
        return;
    }
    switch (value->type) {
    case KEEL_JSON_NULL:
        keel_write_null(w);
        break;
    case KEEL_JSON_BOOL:
        keel_write_bool(w, value->boolean);
        break;
    case KEEL_JSON_NUMBER:
        before_value(w);
        raw(w, value->text, value->len);
        break;
    case KEEL_JSON_STRING:
        before_value(w);
        escaped(w, value->text, value->len);
        break;
    case KEEL_JSON_ARRAY:
        keel_write_array_begin(w);
        for (size_t i = 0; i < value->len; i++) {
            keel_write_value(w, &value->items[i]);
        }
        keel_write_array_end(w);
        break;
    case KEEL_JSON_OBJECT:
        keel_write_object_begin(w);
        for (size_t i = 0; i < value->len; i++) {
            keel_write_key(w, value->keys[i]);
            keel_write_value(w, &value->items[i]);
        }
        keel_write_object_end(w);
        break;
    }
}

char *keel_writer_finish(keel_writer *w) {
    char *text = w->data;
    if (text == NULL) {
        text = calloc(1, 1);
        if (text == NULL) {
            abort();
        }
    }
    *w = keel_writer_new();
    return text;
}

char *keel_json_encode(const keel_json *value) {
    keel_writer w = keel_writer_new();
    keel_write_value(&w, value);
    return keel_writer_finish(&w);
}

char *keel_json_quote(const char *text) {
    keel_writer w = keel_writer_new();
    keel_write_string(&w, text);
    return keel_writer_finish(&w);
}
