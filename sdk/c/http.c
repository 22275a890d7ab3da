/*
 * http.c — outgoing HTTP in the C SDK: keel_http_request, a blocking client over the generated
 * wasi:http bindings for activities (the host allows only the origins granted to the activity), and
 * keel_call_http, durable calls that orchestrators schedule as the host's built-in activity
 * `keel.http`. Its conventions are the Rust SDK's (sdk/rust/src/http.rs, durable_http.rs), so that
 * failures and histories are the same in every language.
 * An orchestrator must never reach wasi:http through this file except by keel_http_request by
 * mistake, which the host refuses (KEEL-O1).
 */
#include <stdio.h>
#include <string.h>

#include "keel_internal.h"

/* Bytes of the request body written per call, and of the response body asked for per read. */
#define WRITE_CHUNK 4096
#define READ_CHUNK (64 * 1024)

/* Characters of the body an HttpStatus failure quotes. */
#define EXCERPT_CHARS 512

/* Polling interval of an asynchronous call whose 202 carries no Retry-After. */
#define DEFAULT_POLL_MS 1000

/* ------------------------------------------------------------------------------------------------ */
/* Growing byte buffers and text                                                                     */

typedef struct bytes {
    char *data;
    size_t len;
    size_t cap;
} bytes;

static void bytes_append(bytes *b, const void *data, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap == 0 ? 256 : b->cap;
        while (b->len + n + 1 > cap) {
            cap *= 2;
        }
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            abort();
        }
        b->data = grown;
        b->cap = cap;
    }
    if (n > 0) {
        memcpy(b->data + b->len, data, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
}

static void bytes_str(bytes *b, const char *text) {
    bytes_append(b, text, strlen(text));
}

/* The bytes as text, each maximal ill-formed UTF-8 subsequence replaced by U+FFFD (as Rust's
 * String::from_utf8_lossy does), malloc'd. */
static char *lossy_utf8(const char *data, size_t len) {
    static const char replacement[] = "\xEF\xBF\xBD";
    const unsigned char *s = (const unsigned char *)data;
    bytes out = {0};
    bytes_append(&out, "", 0);
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
        if (c < 0x80) {
            bytes_append(&out, &s[i], 1);
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            bytes_str(&out, replacement);
            i++;
            continue;
        }
        size_t j = 1;
        while (j <= need && i + j < len) {
            unsigned char b = s[i + j];
            bool ok = j == 1 ? b >= lo && b <= hi : b >= 0x80 && b <= 0xBF;
            if (!ok) {
                break;
            }
            j++;
        }
        if (j == need + 1) {
            bytes_append(&out, &s[i], j);
        } else {
            bytes_str(&out, replacement);
        }
        i += j;
    }
    return out.data;
}

/* The first `chars` characters of valid UTF-8 `text`, malloc'd. */
static char *first_chars(const char *text, size_t chars) {
    size_t i = 0;
    for (size_t n = 0; text[i] != '\0' && n < chars; n++) {
        i++;
        while (((unsigned char)text[i] & 0xC0) == 0x80) {
            i++;
        }
    }
    return keel__dup_n(text, i);
}

/* `text` as Rust's Debug writes a str: quoted, with quotes, backslashes and controls escaped. */
static void debug_str(bytes *b, const char *text, size_t len) {
    bytes_str(b, "\"");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        char escape[16];
        switch (c) {
        case '"': bytes_str(b, "\\\""); break;
        case '\\': bytes_str(b, "\\\\"); break;
        case '\n': bytes_str(b, "\\n"); break;
        case '\r': bytes_str(b, "\\r"); break;
        case '\t': bytes_str(b, "\\t"); break;
        case '\0': bytes_str(b, "\\0"); break;
        default:
            if (c < 0x20 || c == 0x7F) {
                snprintf(escape, sizeof escape, "\\u{%x}", c);
                bytes_str(b, escape);
            } else {
                bytes_append(b, &text[i], 1);
            }
        }
    }
    bytes_str(b, "\"");
}

static bool ascii_equal_ignore_case(const char *a, const char *b) {
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;
        if (x != y) {
            return false;
        }
    }
    return *a == *b;
}

static char *ascii_upper(const char *text) {
    char *out = keel__dup_str(text);
    for (char *c = out; *c != '\0'; c++) {
        if (*c >= 'a' && *c <= 'z') {
            *c = (char)(*c - 'a' + 'A');
        }
    }
    return out;
}

/* ------------------------------------------------------------------------------------------------ */
/* wasi:http error codes, written as the Rust SDK's Debug writes them                                */

static const char *const ERROR_CODES[] = {
    "DnsTimeout", "DnsError", "DestinationNotFound", "DestinationUnavailable",
    "DestinationIpProhibited", "DestinationIpUnroutable", "ConnectionRefused", "ConnectionTerminated",
    "ConnectionTimeout", "ConnectionReadTimeout", "ConnectionWriteTimeout", "ConnectionLimitReached",
    "TlsProtocolError", "TlsCertificateError", "TlsAlertReceived", "HttpRequestDenied",
    "HttpRequestLengthRequired", "HttpRequestBodySize", "HttpRequestMethodInvalid",
    "HttpRequestUriInvalid", "HttpRequestUriTooLong", "HttpRequestHeaderSectionSize",
    "HttpRequestHeaderSize", "HttpRequestTrailerSectionSize", "HttpRequestTrailerSize",
    "HttpResponseIncomplete", "HttpResponseHeaderSectionSize", "HttpResponseHeaderSize",
    "HttpResponseBodySize", "HttpResponseTrailerSectionSize", "HttpResponseTrailerSize",
    "HttpResponseTransferCoding", "HttpResponseContentCoding", "HttpResponseTimeout",
    "HttpUpgradeFailed", "HttpProtocolError", "LoopDetected", "ConfigurationError", "InternalError",
};
_Static_assert(sizeof ERROR_CODES / sizeof ERROR_CODES[0] == WASI_HTTP_TYPES_ERROR_CODE_INTERNAL_ERROR + 1,
               "one name per case of wasi:http's error-code");

static void debug_option_string(bytes *b, const module_option_string_t *o) {
    if (!o->is_some) {
        bytes_str(b, "None");
        return;
    }
    bytes_str(b, "Some(");
    debug_str(b, (const char *)o->val.ptr, o->val.len);
    bytes_str(b, ")");
}

static void debug_option_u64(bytes *b, bool is_some, uint64_t value) {
    char text[32];
    if (is_some) {
        snprintf(text, sizeof text, "Some(%llu)", (unsigned long long)value);
        bytes_str(b, text);
    } else {
        bytes_str(b, "None");
    }
}

static void debug_field_size(bytes *b, const wasi_http_types_field_size_payload_t *p) {
    bytes_str(b, "FieldSizePayload { field-name: ");
    debug_option_string(b, &p->field_name);
    bytes_str(b, ", field-size: ");
    debug_option_u64(b, p->field_size.is_some, p->field_size.val);
    bytes_str(b, " }");
}

/* `ErrorCode::ConnectionRefused`, `ErrorCode::InternalError(Some("..."))`, ...; frees `e`. */
static char *error_code(wasi_http_types_error_code_t *e) {
    bytes b = {0};
    bytes_str(&b, "ErrorCode::");
    size_t count = sizeof ERROR_CODES / sizeof ERROR_CODES[0];
    if (e->tag >= count) {
        char unknown[32];
        snprintf(unknown, sizeof unknown, "Unknown%u", (unsigned)e->tag);
        bytes_str(&b, unknown);
        return b.data;
    }
    bytes_str(&b, ERROR_CODES[e->tag]);
    bool payload = true;
    switch (e->tag) {
    case WASI_HTTP_TYPES_ERROR_CODE_DNS_ERROR:
        bytes_str(&b, "(DnsErrorPayload { rcode: ");
        debug_option_string(&b, &e->val.dns_error.rcode);
        bytes_str(&b, ", info-code: ");
        debug_option_u64(&b, e->val.dns_error.info_code.is_some, e->val.dns_error.info_code.val);
        bytes_str(&b, " }");
        break;
    case WASI_HTTP_TYPES_ERROR_CODE_TLS_ALERT_RECEIVED:
        bytes_str(&b, "(TlsAlertReceivedPayload { alert-id: ");
        debug_option_u64(&b, e->val.tls_alert_received.alert_id.is_some, e->val.tls_alert_received.alert_id.val);
        bytes_str(&b, ", alert-message: ");
        debug_option_string(&b, &e->val.tls_alert_received.alert_message);
        bytes_str(&b, " }");
        break;
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_REQUEST_BODY_SIZE:
        bytes_str(&b, "(");
        debug_option_u64(&b, e->val.http_request_body_size.is_some, e->val.http_request_body_size.val);
        break;
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_BODY_SIZE:
        bytes_str(&b, "(");
        debug_option_u64(&b, e->val.http_response_body_size.is_some, e->val.http_response_body_size.val);
        break;
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_REQUEST_HEADER_SECTION_SIZE:
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_REQUEST_TRAILER_SECTION_SIZE:
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_HEADER_SECTION_SIZE:
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_TRAILER_SECTION_SIZE: {
        /* The same option<u32> in every one of these cases. */
        const module_option_u32_t *size = &e->val.http_request_header_section_size;
        bytes_str(&b, "(");
        debug_option_u64(&b, size->is_some, size->val);
        break;
    }
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_REQUEST_HEADER_SIZE:
        bytes_str(&b, "(");
        if (e->val.http_request_header_size.is_some) {
            bytes_str(&b, "Some(");
            debug_field_size(&b, &e->val.http_request_header_size.val);
            bytes_str(&b, ")");
        } else {
            bytes_str(&b, "None");
        }
        break;
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_REQUEST_TRAILER_SIZE:
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_HEADER_SIZE:
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_TRAILER_SIZE:
        bytes_str(&b, "(");
        debug_field_size(&b, &e->val.http_request_trailer_size);
        break;
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_TRANSFER_CODING:
    case WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_CONTENT_CODING:
    case WASI_HTTP_TYPES_ERROR_CODE_INTERNAL_ERROR:
        bytes_str(&b, "(");
        debug_option_string(&b, &e->val.internal_error);
        break;
    default:
        payload = false;
    }
    if (payload) {
        bytes_str(&b, ")");
    }
    wasi_http_types_error_code_free(e);
    return b.data;
}

static const char *header_error(const wasi_http_types_header_error_t *e) {
    switch (e->tag) {
    case WASI_HTTP_TYPES_HEADER_ERROR_INVALID_SYNTAX: return "HeaderError::InvalidSyntax";
    case WASI_HTTP_TYPES_HEADER_ERROR_FORBIDDEN: return "HeaderError::Forbidden";
    default: return "HeaderError::Immutable";
    }
}

/* Why a stream operation failed; drops the error resource it carries. */
static char *stream_error(wasi_io_streams_stream_error_t *e) {
    if (e->tag == WASI_IO_STREAMS_STREAM_ERROR_CLOSED) {
        return keel__dup_str("the stream is closed");
    }
    module_string_t debug;
    wasi_io_error_method_error_to_debug_string(wasi_io_error_borrow_error(e->val.last_operation_failed), &debug);
    char *text = keel__from_wit(&debug);
    module_string_free(&debug);
    wasi_io_error_error_drop_own(e->val.last_operation_failed);
    return text;
}

/* ------------------------------------------------------------------------------------------------ */
/* Activities: keel_http_request                                                                     */

static void method_of(const char *upper, wasi_http_types_method_t *m) {
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    for (uint8_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(upper, names[i]) == 0) {
            m->tag = i;
            return;
        }
    }
    m->tag = WASI_HTTP_TYPES_METHOD_OTHER;
    m->val.other = keel__borrow(upper);
}

/* Splits an absolute URL into its scheme (`lower`, a malloc'd lower-case copy, for `other`), its
 * authority and its path with query ("/" when empty); NULL, or a malloc'd reason. */
typedef struct url_parts {
    wasi_http_types_scheme_t scheme;
    char *lower;
    module_string_t authority;
    module_string_t path;
} url_parts;

static char *split_url(const char *url, url_parts *parts) {
    memset(parts, 0, sizeof *parts);
    const char *sep = strstr(url, "://");
    if (sep == NULL) {
        bytes b = {0};
        debug_str(&b, url, strlen(url));
        bytes_str(&b, " is not an absolute URL");
        return b.data;
    }
    parts->lower = keel__dup_n(url, (size_t)(sep - url));
    for (char *c = parts->lower; *c != '\0'; c++) {
        if (*c >= 'A' && *c <= 'Z') {
            *c = (char)(*c - 'A' + 'a');
        }
    }
    if (strcmp(parts->lower, "http") == 0) {
        parts->scheme.tag = WASI_HTTP_TYPES_SCHEME_HTTP;
    } else if (strcmp(parts->lower, "https") == 0) {
        parts->scheme.tag = WASI_HTTP_TYPES_SCHEME_HTTPS;
    } else {
        parts->scheme.tag = WASI_HTTP_TYPES_SCHEME_OTHER;
        parts->scheme.val.other = keel__borrow(parts->lower);
    }
    const char *rest = sep + 3;
    size_t split = strcspn(rest, "/?");
    if (split == 0) {
        bytes b = {0};
        debug_str(&b, url, strlen(url));
        bytes_str(&b, " names no host");
        free(parts->lower);
        parts->lower = NULL;
        return b.data;
    }
    parts->authority.ptr = (uint8_t *)rest;
    parts->authority.len = split;
    parts->path = keel__borrow(rest[split] == '\0' ? "/" : rest + split);
    return NULL;
}

/* Appends a header to `fields`; NULL, or a malloc'd reason. */
static char *append_header(wasi_http_types_own_fields_t fields, const char *name, const char *value) {
    module_string_t wname = keel__borrow(name);
    wasi_http_types_field_value_t wvalue = {(uint8_t *)value, strlen(value)};
    wasi_http_types_header_error_t err;
    if (wasi_http_types_method_fields_append(wasi_http_types_borrow_fields(fields), &wname, &wvalue, &err)) {
        return NULL;
    }
    return keel__format("header %s: %s", name, header_error(&err));
}

/* Writes the request body; NULL, or a malloc'd reason. */
static char *write_body(wasi_http_types_own_outgoing_body_t body, const char *data, size_t len) {
    if (len == 0) {
        return NULL;
    }
    wasi_http_types_own_output_stream_t stream;
    if (!wasi_http_types_method_outgoing_body_write(wasi_http_types_borrow_outgoing_body(body), &stream)) {
        return keel__dup_str("the request body stream was taken");
    }
    char *reason = NULL;
    for (size_t at = 0; at < len && reason == NULL; at += WRITE_CHUNK) {
        size_t n = len - at < WRITE_CHUNK ? len - at : WRITE_CHUNK;
        module_list_u8_t chunk = {(uint8_t *)data + at, n};
        wasi_io_streams_stream_error_t err;
        if (!wasi_io_streams_method_output_stream_blocking_write_and_flush(
                wasi_io_streams_borrow_output_stream(stream), &chunk, &err)) {
            char *why = stream_error(&err);
            reason = keel__format("writing the request body failed: %s", why);
            free(why);
        }
    }
    wasi_io_streams_output_stream_drop_own(stream);
    return reason;
}

/* Reads the whole response body into `out`; NULL, or a malloc'd reason. */
static char *read_body(wasi_http_types_own_incoming_body_t body, bytes *out) {
    wasi_http_types_own_input_stream_t stream;
    if (!wasi_http_types_method_incoming_body_stream(wasi_http_types_borrow_incoming_body(body), &stream)) {
        return keel__dup_str("the response body stream was taken");
    }
    char *reason = NULL;
    for (;;) {
        module_list_u8_t chunk;
        wasi_io_streams_stream_error_t err;
        if (wasi_io_streams_method_input_stream_blocking_read(wasi_io_streams_borrow_input_stream(stream),
                                                              READ_CHUNK, &chunk, &err)) {
            bytes_append(out, chunk.ptr, chunk.len);
            module_list_u8_free(&chunk);
            continue;
        }
        if (err.tag != WASI_IO_STREAMS_STREAM_ERROR_CLOSED) {
            char *why = stream_error(&err);
            reason = keel__format("reading the response body failed: %s", why);
            free(why);
        }
        break;
    }
    wasi_io_streams_input_stream_drop_own(stream);
    return reason;
}

/* Copies the response's headers; drops the fields. */
static void read_headers(wasi_http_types_own_headers_t fields, keel_http_response *response) {
    wasi_http_types_list_tuple2_field_name_field_value_t entries;
    wasi_http_types_method_fields_entries(wasi_http_types_borrow_fields(fields), &entries);
    response->headers = calloc(entries.len == 0 ? 1 : entries.len, sizeof *response->headers);
    if (response->headers == NULL) {
        abort();
    }
    for (size_t i = 0; i < entries.len; i++) {
        response->headers[i].name = keel__from_wit(&entries.ptr[i].f0);
        response->headers[i].value = lossy_utf8((const char *)entries.ptr[i].f1.ptr, entries.ptr[i].f1.len);
    }
    response->header_count = entries.len;
    wasi_http_types_list_tuple2_field_name_field_value_free(&entries);
    wasi_http_types_fields_drop_own(fields);
}

/* Sends the request and reads the response; NULL, or a malloc'd reason (no response). */
static char *exchange(const char *method, const char *url, const keel_http_header *headers, size_t header_count,
                      const char *body, size_t body_len, keel_http_response *response) {
    url_parts parts;
    char *reason = split_url(url, &parts);
    if (reason != NULL) {
        return reason;
    }
    wasi_http_types_own_fields_t fields = wasi_http_types_constructor_fields();
    bool has_length = false;
    for (size_t i = 0; i < header_count; i++) {
        has_length = has_length || ascii_equal_ignore_case(headers[i].name, "content-length");
    }
    if (body_len > 0 && !has_length) {
        /* A known length instead of chunked encoding, which some servers do not read. */
        char length[32];
        snprintf(length, sizeof length, "%zu", body_len);
        reason = append_header(fields, "content-length", length);
    }
    for (size_t i = 0; i < header_count && reason == NULL; i++) {
        reason = append_header(fields, headers[i].name, headers[i].value);
    }
    if (reason != NULL) {
        wasi_http_types_fields_drop_own(fields);
        free(parts.lower);
        return reason;
    }
    wasi_http_types_own_outgoing_request_t request = wasi_http_types_constructor_outgoing_request(fields);
    wasi_http_types_borrow_outgoing_request_t r = wasi_http_types_borrow_outgoing_request(request);
    wasi_http_types_method_t m;
    method_of(method, &m);
    bool ok = wasi_http_types_method_outgoing_request_set_method(r, &m) &&
              wasi_http_types_method_outgoing_request_set_scheme(r, &parts.scheme) &&
              wasi_http_types_method_outgoing_request_set_authority(r, &parts.authority) &&
              wasi_http_types_method_outgoing_request_set_path_with_query(r, &parts.path);
    free(parts.lower);
    if (!ok) {
        wasi_http_types_outgoing_request_drop_own(request);
        return keel__dup_str("the URL or method is not valid");
    }
    wasi_http_types_own_outgoing_body_t outgoing;
    if (!wasi_http_types_method_outgoing_request_body(r, &outgoing)) {
        wasi_http_types_outgoing_request_drop_own(request);
        return keel__dup_str("the request body was taken");
    }
    wasi_http_types_own_future_incoming_response_t pending;
    wasi_http_types_error_code_t code;
    if (!wasi_http_outgoing_handler_handle(request, NULL, &pending, &code)) {
        wasi_http_types_outgoing_body_drop_own(outgoing);
        return error_code(&code);
    }
    reason = write_body(outgoing, body, body_len);
    if (reason != NULL) {
        wasi_http_types_outgoing_body_drop_own(outgoing);
        wasi_http_types_future_incoming_response_drop_own(pending);
        return reason;
    }
    if (!wasi_http_types_static_outgoing_body_finish(outgoing, NULL, &code)) {
        wasi_http_types_future_incoming_response_drop_own(pending);
        return error_code(&code);
    }
    wasi_http_types_borrow_future_incoming_response_t p = wasi_http_types_borrow_future_incoming_response(pending);
    wasi_http_types_own_pollable_t ready = wasi_http_types_method_future_incoming_response_subscribe(p);
    wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(ready));
    wasi_io_poll_pollable_drop_own(ready);
    /* Some(Ok(Ok(response))), Some(Ok(Err(code))), or Some(Err(())) / None: taken already. */
    wasi_http_types_result_result_own_incoming_response_error_code_void_t got;
    bool some = wasi_http_types_method_future_incoming_response_get(p, &got);
    wasi_http_types_future_incoming_response_drop_own(pending);
    if (!some || got.is_err) {
        return keel__dup_str("the response was already taken");
    }
    if (got.val.ok.is_err) {
        return error_code(&got.val.ok.val.err);
    }
    wasi_http_types_own_incoming_response_t incoming = got.val.ok.val.ok;
    wasi_http_types_borrow_incoming_response_t in = wasi_http_types_borrow_incoming_response(incoming);
    response->status = wasi_http_types_method_incoming_response_status(in);
    read_headers(wasi_http_types_method_incoming_response_headers(in), response);
    wasi_http_types_own_incoming_body_t incoming_body;
    if (!wasi_http_types_method_incoming_response_consume(in, &incoming_body)) {
        wasi_http_types_incoming_response_drop_own(incoming);
        return keel__dup_str("the response body was taken");
    }
    bytes received = {0};
    bytes_append(&received, "", 0);
    reason = read_body(incoming_body, &received);
    wasi_http_types_future_trailers_drop_own(wasi_http_types_static_incoming_body_finish(incoming_body));
    wasi_http_types_incoming_response_drop_own(incoming);
    response->body = received.data;
    response->body_len = received.len;
    return reason;
}

keel_result keel_http_request(const char *method, const char *url, const keel_http_header *headers,
                              size_t header_count, const void *body, size_t body_len,
                              keel_http_response *response) {
    memset(response, 0, sizeof *response);
    url = url == NULL ? "" : url;
    char *upper = ascii_upper(method == NULL ? "GET" : method);
    char *reason = exchange(upper, url, headers, header_count, body, body == NULL ? 0 : body_len, response);
    if (reason == NULL) {
        free(upper);
        keel_result sent = {0};
        sent.ok = true;
        return sent;
    }
    keel_http_response_free(response);
    keel_result failed = keel__failure(KEEL_HTTP_ERROR, keel__format("%s %s failed: %s", upper, url, reason), NULL);
    free(reason);
    free(upper);
    return failed;
}

const char *keel_http_response_header(const keel_http_response *response, const char *name) {
    for (size_t i = 0; response != NULL && i < response->header_count; i++) {
        if (ascii_equal_ignore_case(response->headers[i].name, name)) {
            return response->headers[i].value;
        }
    }
    return NULL;
}

char *keel_http_response_text(const keel_http_response *response) {
    return lossy_utf8(response->body == NULL ? "" : response->body, response->body_len);
}

keel_result keel_http_response_json(const keel_http_response *response) {
    const char *body = response->body == NULL ? "" : response->body;
    char error[128] = "";
    keel_json *value = keel_json_parse(body, response->body_len, error, sizeof error);
    if (value == NULL) {
        return keel_fail(KEEL_INVALID_OUTPUT, "the response body is not the expected JSON: %s", error);
    }
    keel_result r = keel_ok(keel_json_encode(value));
    r.value = value;
    return r;
}

keel_result keel_http_error_for_status(const keel_http_response *response) {
    if (response->status < 400) {
        keel_result fine = {0};
        fine.ok = true;
        return fine;
    }
    char *text = keel_http_response_text(response);
    char *excerpt = first_chars(text, EXCERPT_CHARS);
    free(text);
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "status");
    keel_write_u64(&w, response->status);
    keel_write_key(&w, "body");
    keel_write_string(&w, excerpt);
    keel_write_object_end(&w);
    keel_result failed = keel_fail_details(KEEL_HTTP_STATUS, keel_writer_finish(&w), "the server answered %u: %s",
                                           (unsigned)response->status, excerpt);
    free(excerpt);
    return failed;
}

void keel_http_response_free(keel_http_response *response) {
    if (response == NULL) {
        return;
    }
    for (size_t i = 0; i < response->header_count; i++) {
        free((char *)response->headers[i].name);
        free((char *)response->headers[i].value);
    }
    free(response->headers);
    free(response->body);
    memset(response, 0, sizeof *response);
}

/* ------------------------------------------------------------------------------------------------ */
/* Orchestrators: durable calls                                                                      */

/* What the polls of an asynchronous call repeat: headers, retry statuses and options. */
struct keel_http_poll {
    char *headers;  /* a JSON object, or NULL when there are none */
    char *retry_on; /* a JSON array, or NULL when unset */
    keel_retry_policy retry;
    bool has_retry;
    char **kinds; /* the retry policy's non-retryable kinds, NULL-terminated */
    uint64_t timeout_ms;
    char *version;
    uint64_t heartbeat_timeout_ms;
};

static int compare_names(const void *a, const void *b) {
    const keel_http_header *x = *(const keel_http_header *const *)a;
    const keel_http_header *y = *(const keel_http_header *const *)b;
    return strcmp(x->name, y->name);
}

/* The headers as a JSON object sorted by name, a later header replacing an earlier one of the same
 * name (the Rust SDK's BTreeMap); NULL when there are none. */
static char *headers_json(const keel_http_header *headers, size_t count) {
    if (count == 0) {
        return NULL;
    }
    const keel_http_header **sorted = calloc(count, sizeof *sorted);
    if (sorted == NULL) {
        abort();
    }
    for (size_t i = 0; i < count; i++) {
        sorted[i] = &headers[i];
    }
    /* qsort is not stable: ties are broken by position below, so the last one wins. */
    qsort(sorted, count, sizeof *sorted, compare_names);
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    for (size_t i = 0; i < count;) {
        size_t j = i;
        const keel_http_header *last = sorted[i];
        while (j < count && strcmp(sorted[j]->name, sorted[i]->name) == 0) {
            if (sorted[j] > last) {
                last = sorted[j];
            }
            j++;
        }
        keel_write_key(&w, last->name);
        keel_write_string(&w, last->value);
        i = j;
    }
    keel_write_object_end(&w);
    free(sorted);
    return keel_writer_finish(&w);
}

static char *retry_on_json(const uint16_t *statuses, size_t count) {
    if (statuses == NULL) {
        return NULL;
    }
    keel_writer w = keel_writer_new();
    keel_write_array_begin(&w);
    for (size_t i = 0; i < count; i++) {
        keel_write_u64(&w, statuses[i]);
    }
    keel_write_array_end(&w);
    return keel_writer_finish(&w);
}

/* The input of keel.http, keys in the Rust SDK's order, defaults omitted. */
static char *call_json(const char *method, const char *url, const char *headers, const char *body,
                       const char *json, bool asynchronous, const char *retry_on) {
    keel_writer w = keel_writer_new();
    keel_write_object_begin(&w);
    keel_write_key(&w, "method");
    keel_write_string(&w, method);
    keel_write_key(&w, "url");
    keel_write_string(&w, url);
    if (headers != NULL) {
        keel_write_key(&w, "headers");
        keel_write_json(&w, headers);
    }
    if (body != NULL) {
        keel_write_key(&w, "body");
        keel_write_string(&w, body);
    } else if (json != NULL) {
        char error[128] = "";
        keel_json *value = keel_json_parse(json, strlen(json), error, sizeof error);
        if (value == NULL) {
            /* A bug in the orchestrator, like a body the Rust SDK cannot serialise. */
            fprintf(stderr, "keel: the JSON body of an HTTP call is not valid JSON: %s\n", error);
            abort();
        }
        keel_write_key(&w, "json");
        keel_write_value(&w, value);
        keel_json_free(value);
    }
    if (asynchronous) {
        keel_write_key(&w, "asynchronous");
        keel_write_bool(&w, true);
    }
    if (retry_on != NULL) {
        keel_write_key(&w, "retryOn");
        keel_write_json(&w, retry_on);
    }
    keel_write_object_end(&w);
    return keel_writer_finish(&w);
}

static keel_activity_options poll_options(struct keel_http_poll *poll) {
    keel_activity_options options = {0};
    options.retry = poll->has_retry ? &poll->retry : NULL;
    options.timeout_ms = poll->timeout_ms;
    options.version = poll->version;
    options.heartbeat_timeout_ms = poll->heartbeat_timeout_ms;
    options.local = false; /* never a local activity, like the first request */
    return options;
}

static void poll_free(struct keel_http_poll *poll) {
    if (poll == NULL) {
        return;
    }
    free(poll->headers);
    free(poll->retry_on);
    for (size_t i = 0; poll->kinds != NULL && poll->kinds[i] != NULL; i++) {
        free(poll->kinds[i]);
    }
    free(poll->kinds);
    free(poll->version);
    free(poll);
}

keel_http_task keel_call_http(const keel_http_call *call) {
    keel_activity_options none = {0};
    return keel_call_http_with(call, none);
}

keel_http_task keel_call_http_with(const keel_http_call *call, keel_activity_options options) {
    char *method = ascii_upper(call->method == NULL ? "GET" : call->method);
    char *headers = headers_json(call->headers, call->header_count);
    char *retry_on = retry_on_json(call->retry_on, call->retry_on_count);
    char *input = call_json(method, call->url, headers, call->body, call->json, call->asynchronous, retry_on);
    options.local = false; /* a durable HTTP call is never a local activity */
    keel_http_task task = {keel_call_activity_with(KEEL_HTTP_ACTIVITY, input, options), NULL};
    free(input);
    free(method);
    if (!call->asynchronous) {
        free(headers);
        free(retry_on);
        return task;
    }
    struct keel_http_poll *poll = calloc(1, sizeof *poll);
    if (poll == NULL) {
        abort();
    }
    poll->headers = headers;
    poll->retry_on = retry_on;
    poll->timeout_ms = options.timeout_ms;
    poll->version = options.version != NULL ? keel__dup_str(options.version) : NULL;
    poll->heartbeat_timeout_ms = options.heartbeat_timeout_ms;
    if (options.retry != NULL) {
        poll->has_retry = true;
        poll->retry = *options.retry;
        size_t n = 0;
        while (options.retry->non_retryable != NULL && options.retry->non_retryable[n] != NULL) {
            n++;
        }
        poll->kinds = calloc(n + 1, sizeof *poll->kinds);
        if (poll->kinds == NULL) {
            abort();
        }
        for (size_t i = 0; i < n; i++) {
            poll->kinds[i] = keel__dup_str(options.retry->non_retryable[i]);
        }
        poll->retry.non_retryable = (const char *const *)poll->kinds;
    }
    task.poll = poll;
    return task;
}

keel_result keel_http_get(keel_http_task *task) {
    struct keel_http_poll *poll = task->poll;
    task->poll = NULL;
    keel_result response = keel_get(task->task);
    while (poll != NULL && response.ok) {
        uint64_t status = 0;
        const char *location = keel_json_string(keel_json_get(response.value, "location"), NULL);
        if (!keel_json_u64(keel_json_get(response.value, "status"), &status) || status != 202 || location == NULL) {
            break;
        }
        uint64_t wait = DEFAULT_POLL_MS;
        keel_json_u64(keel_json_get(response.value, "retryAfterMs"), &wait);
        keel_result fired = keel_get(keel_timer(wait));
        if (!fired.ok) {
            keel_result_free(&response);
            response = fired;
            break;
        }
        keel_result_free(&fired);
        char *input = call_json("GET", location, poll->headers, NULL, NULL, true, poll->retry_on);
        keel_result_free(&response);
        response = keel_get(keel_call_activity_with(KEEL_HTTP_ACTIVITY, input, poll_options(poll)));
        free(input);
    }
    poll_free(poll);
    return response;
}
