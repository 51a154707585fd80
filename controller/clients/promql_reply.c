/* promql_reply: Prometheus' HTTP API replies into results: readable details, an instant
 * vector's one value (promql_parse_reply), a range's points (promql_parse_range_reply)
 * and a report's series (promql_parse_series). No I/O: the fuzzer and the tests call
 * these directly. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "parse.h"
#include "utf8.h"

#include "promql_reply.h"

/* ---- readable, valid UTF-8 text --------------------------------------------------- */

/* Copies src[0..n) into dst (size dstsz, always NUL-terminated) as printable, valid
 * UTF-8: control characters become spaces, runs of spaces collapse, invalid bytes
 * become '?', and a multibyte character is never cut in two. */
static void copy_text(char *dst, size_t dstsz, const char *src, size_t n)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < dstsz;) {
        size_t l = utf8_seq_len(s + i, n - i);
        if (l == 0) {
            dst[o++] = '?';
            i++;
        } else if (l == 1) {
            char ch = (char)s[i];
            if (s[i] < 0x20 || s[i] == 0x7f)
                ch = ' ';
            if (!(ch == ' ' && (o == 0 || dst[o - 1] == ' ')))
                dst[o++] = ch;
            i++;
        } else {
            if (o + l + 1 > dstsz)
                break;
            memcpy(dst + o, s + i, l);
            o += l;
            i += l;
        }
    }
    while (o > 0 && dst[o - 1] == ' ')
        o--;
    if (dstsz)
        dst[o] = '\0';
}

void promql_set_result(struct promql_result *out, enum promql_error e, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(tmp))
        n = sizeof(tmp) - 1;
    out->error = e;
    if (e != PROMQL_OK)
        out->value = NAN;
    copy_text(out->detail, sizeof(out->detail), tmp, (size_t)n);
}

/* A short readable excerpt of a body that is not what was expected: HTML tags are
 * dropped and whitespace collapsed ("502 Bad Gateway nginx"). */
static void body_snippet(const char *body, size_t len, char *dst, size_t dstsz)
{
    char tmp[SNIPPET_MAX_CHARS];
    size_t o = 0;
    bool in_tag = false;
    for (size_t i = 0; i < len && o < sizeof(tmp); i++) {
        char c = body[i];
        if (c == '<') {
            in_tag = true;
            if (o && tmp[o - 1] != ' ')
                tmp[o++] = ' ';
            continue;
        }
        if (in_tag) {
            in_tag = c != '>';
            continue;
        }
        tmp[o++] = c;
    }
    copy_text(dst, dstsz, tmp, o);
}

static const char *http_reason(long status)
{
    switch (status) {
    case 301: return "moved permanently (redirects are not followed)";
    case 302: return "found (redirects are not followed)";
    case 307: return "temporary redirect (redirects are not followed)";
    case 308: return "permanent redirect (redirects are not followed)";
    case 400: return "bad request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not found";
    case 405: return "method not allowed";
    case 413: return "request too large";
    case 422: return "unprocessable entity";
    case 429: return "too many requests";
    case 500: return "internal server error";
    case 502: return "bad gateway";
    case 503: return "service unavailable";
    case 504: return "gateway timeout";
    default: return "no body";
    }
}

/* ---- reply parsing ----------------------------------------------------------------- */

static void parse_value_string(const char *s, size_t len, struct promql_result *out)
{
    double v;
    int r = -EINVAL;
    bool blank = len == 0;
    for (size_t i = 0; i < len; i++)
        if (isspace((unsigned char)s[i]))
            blank = true;
    if (!blank)
        r = parse_double(s, &v);
    if (r == -ERANGE) {
        promql_set_result(out, PROMQL_ERR_NAN, "not a number: \"%.40s\" (out of range)", s);
    } else if (r < 0) {
        promql_set_result(out, PROMQL_ERR_NAN, "not a number: \"%.40s\"", s);
    } else if (isnan(v)) {
        promql_set_result(out, PROMQL_ERR_NAN, MSG_NAN);
    } else {
        out->value = v;
        promql_set_result(out, PROMQL_OK, "%s", "");
    }
}

/* [<timestamp>, "<value>"], the shape of a scalar result and of a vector sample. */
static void parse_sample(const json_t *pair, struct promql_result *out)
{
    if (!json_is_array(pair) || json_array_size(pair) != 2) {
        promql_set_result(out, PROMQL_ERR_PARSE, "sample is not a [timestamp, \"value\"] pair");
        return;
    }
    const json_t *ts = json_array_get(pair, 0), *val = json_array_get(pair, 1);
    if (!json_is_number(ts)) {
        promql_set_result(out, PROMQL_ERR_PARSE, "sample timestamp is not a number");
        return;
    }
    if (!json_is_string(val)) {
        promql_set_result(out, PROMQL_ERR_PARSE, "sample value is not a string");
        return;
    }
    double t = json_number_value(ts);
    if (!isfinite(t)) {
        promql_set_result(out, PROMQL_ERR_PARSE, "sample timestamp out of range");
        return;
    }
    out->sample_time = t;
    parse_value_string(json_string_value(val), json_string_length(val), out);
}

void promql_set_warnings(struct promql_result *out, const char *text, size_t len)
{
    copy_text(out->warnings, sizeof(out->warnings), text, len);
}

static void collect_warnings(const json_t *root, struct promql_result *out)
{
    const json_t *w = json_object_get(root, "warnings");
    if (!json_is_array(w))
        return;
    char tmp[1024];
    size_t o = 0;
    size_t i;
    const json_t *item;
    json_array_foreach(w, i, item)
    {
        if (!json_is_string(item))
            continue;
        int n = snprintf(tmp + o, sizeof(tmp) - o, "%s%s", o ? "; " : "", json_string_value(item));
        if (n < 0 || (size_t)n >= sizeof(tmp) - o) {
            o = sizeof(tmp) - 1;
            break;
        }
        o += (size_t)n;
    }
    copy_text(out->warnings, sizeof(out->warnings), tmp, o);
}

/* A Prometheus error body {"status":"error","errorType":...,"error":...}. Returns true
 * when root is one (and fills out); with need_type, only when it names an errorType.
 * errorType "timeout" (the server's own evaluation timeout) is a timeout. */
static bool parse_error_body(const json_t *root, bool need_type, struct promql_result *out)
{
    const json_t *st = json_object_get(root, "status");
    if (!json_is_string(st) || strcmp(json_string_value(st), "error") != 0)
        return false;
    const json_t *type = json_object_get(root, "errorType");
    const json_t *msg = json_object_get(root, "error");
    const char *t = json_is_string(type) ? json_string_value(type) : NULL;
    const char *m = json_is_string(msg) ? json_string_value(msg) : NULL;
    if (need_type && !(t && *t))
        return false;
    enum promql_error e = t && strcmp(t, "timeout") == 0 ? PROMQL_ERR_TIMEOUT : PROMQL_ERR_QUERY;
    if (t && *t && m)
        promql_set_result(out, e, "%s: %s", t, m);
    else if (t && *t)
        promql_set_result(out, e, "%s", t);
    else if (m && *m)
        promql_set_result(out, e, "%s", m);
    else
        promql_set_result(out, e, "error without a message");
    return true;
}

static void parse_success(const json_t *root, struct promql_result *out)
{
    const json_t *data = json_object_get(root, "data");
    if (!json_is_object(data)) {
        promql_set_result(out, PROMQL_ERR_PARSE, "reply has no \"data\" object");
        return;
    }
    const json_t *rt = json_object_get(data, "resultType");
    const json_t *result = json_object_get(data, "result");
    if (!json_is_string(rt)) {
        promql_set_result(out, PROMQL_ERR_PARSE, "reply has no \"resultType\"");
        return;
    }
    const char *type = json_string_value(rt);
    if (strcmp(type, "scalar") == 0) {
        parse_sample(result, out);
    } else if (strcmp(type, "vector") == 0) {
        if (!json_is_array(result)) {
            promql_set_result(out, PROMQL_ERR_PARSE, "vector result is not an array");
            return;
        }
        size_t n = json_array_size(result);
        if (n == 0) {
            promql_set_result(out, PROMQL_ERR_EMPTY, MSG_EMPTY);
            return;
        }
        if (n > 1) {
            promql_set_result(out, PROMQL_ERR_MULTIPLE, MSG_MULTIPLE, n);
            return;
        }
        const json_t *series = json_array_get(result, 0);
        if (!json_is_object(series)) {
            promql_set_result(out, PROMQL_ERR_PARSE, "series is not an object");
            return;
        }
        const json_t *value = json_object_get(series, "value");
        if (!value && json_object_get(series, "histogram")) {
            promql_set_result(out, PROMQL_ERR_PARSE, MSG_HISTOGRAM);
            return;
        }
        if (!value) {
            promql_set_result(out, PROMQL_ERR_PARSE, "series has no \"value\"");
            return;
        }
        parse_sample(value, out);
    } else if (strcmp(type, "matrix") == 0) {
        promql_set_result(out, PROMQL_ERR_PARSE, "range vector: use an instant query");
    } else if (strcmp(type, "string") == 0) {
        promql_set_result(out, PROMQL_ERR_PARSE, "string result: not a number");
    } else {
        promql_set_result(out, PROMQL_ERR_PARSE, "unknown resultType \"%.40s\"", type);
    }
}

/* What every reply goes through, instant or range: the size, the HTTP status, JSON, the
 * warnings and the status. Returns the root object of a "success" reply (new reference,
 * caller frees), or NULL with out saying why there is no data. */
static json_t *parse_envelope(const char *body, size_t len, long http_status,
                              struct promql_result *out)
{
    memset(out, 0, sizeof(*out));
    out->value = NAN;
    out->http_status = http_status;
    if (!body)
        len = 0;
    if (len > PROMQL_MAX_REPLY_BYTES) {
        promql_set_result(out, PROMQL_ERR_TOO_LARGE, "reply larger than %u bytes",
                          PROMQL_MAX_REPLY_BYTES);
        return NULL;
    }
    bool http_ok = http_status == 0 || http_status == 200;
    size_t start = 0;
    while (start < len && isspace((unsigned char)body[start]))
        start++;
    if (start == len) {
        if (http_ok)
            promql_set_result(out, PROMQL_ERR_PARSE, "empty reply");
        else
            promql_set_result(out, PROMQL_ERR_HTTP, "HTTP %ld: %s", http_status,
                              http_reason(http_status));
        return NULL;
    }

    json_error_t jerr;
    json_t *root = NULL;
    if (body[start] == '{')
        root = json_loadb(body, len, 0, &jerr);
    if (!http_ok) {
        /* Prometheus answers 400/422/503 with an error body: the query's own error. */
        if (!(root && parse_error_body(root, true, out))) {
            char snip[SNIPPET_MAX_CHARS + 1];
            const json_t *msg = json_object_get(root, "error");
            if (json_is_string(msg))
                copy_text(snip, sizeof(snip), json_string_value(msg), json_string_length(msg));
            else
                body_snippet(body + start, len - start, snip, sizeof(snip));
            promql_set_result(out, PROMQL_ERR_HTTP, "HTTP %ld: %s", http_status,
                              snip[0] ? snip : http_reason(http_status));
        }
        json_decref(root);
        return NULL;
    }
    if (body[start] != '{') {
        char snip[48];
        body_snippet(body + start, len - start, snip, sizeof(snip));
        promql_set_result(out, PROMQL_ERR_PARSE, "reply is not JSON: \"%s\"", snip);
        return NULL;
    }
    if (!root) {
        promql_set_result(out, PROMQL_ERR_PARSE, "invalid JSON at %d:%d: %s", jerr.line,
                          jerr.column, jerr.text);
        return NULL;
    }
    collect_warnings(root, out);
    const json_t *st = json_object_get(root, "status");
    if (!json_is_string(st))
        promql_set_result(out, PROMQL_ERR_PARSE, "reply has no \"status\"");
    else if (strcmp(json_string_value(st), "success") == 0)
        return root;
    else if (!parse_error_body(root, false, out))
        promql_set_result(out, PROMQL_ERR_PARSE, "unknown status \"%.40s\"", json_string_value(st));
    json_decref(root);
    return NULL;
}

void promql_parse_reply(const char *body, size_t len, long http_status, struct promql_result *out)
{
    json_t *root = parse_envelope(body, len, http_status, out);
    if (root)
        parse_success(root, out);
    json_decref(root);
}

/* ---- range replies ------------------------------------------------------------------ */

int promql_range_init(struct promql_range *r, int64_t start_ms, int64_t step_ms, size_t n)
{
    if (n == 0 || step_ms <= 0)
        return -EINVAL;
    if (n > SIZE_MAX / sizeof(double))
        return -ENOMEM;
    double *v = malloc(n * sizeof(*v));
    uint8_t *e = malloc(n);
    if (!v || !e) {
        free(v);
        free(e);
        return -ENOMEM;
    }
    for (size_t k = 0; k < n; k++) {
        v[k] = NAN;
        e[k] = PROMQL_ERR_EMPTY;
    }
    *r = (struct promql_range){
        .start_ms = start_ms, .step_ms = step_ms, .n = n, .value = v, .error = e};
    return 0;
}

void promql_range_free(struct promql_range *r)
{
    if (!r)
        return;
    free(r->value);
    free(r->error);
    json_decref(r->matrix);
    memset(r, 0, sizeof(*r));
}

void promql_range_reason(const struct promql_range *r, size_t k, char *dst, size_t dstsz)
{
    enum promql_error e = k < r->n ? (enum promql_error)r->error[k] : PROMQL_ERR_EMPTY;
    switch (e) {
    case PROMQL_OK: snprintf(dst, dstsz, "%s", ""); break;
    case PROMQL_ERR_MULTIPLE: snprintf(dst, dstsz, MSG_MULTIPLE, (size_t)r->value[k]); break;
    case PROMQL_ERR_NAN: snprintf(dst, dstsz, "%s", MSG_NAN); break;
    case PROMQL_ERR_PARSE: snprintf(dst, dstsz, "%s", MSG_HISTOGRAM); break;
    default: snprintf(dst, dstsz, "%s", MSG_EMPTY); break;
    }
}

size_t promql_range_chunks(size_t n)
{
    return n / PROMQL_RANGE_MAX_POINTS + (n % PROMQL_RANGE_MAX_POINTS != 0);
}

void promql_range_chunk(size_t n, size_t i, size_t *ret_first, size_t *ret_count)
{
    size_t first = i < promql_range_chunks(n) ? i * PROMQL_RANGE_MAX_POINTS : n;
    size_t left = n - first;
    *ret_first = first;
    *ret_count = left < PROMQL_RANGE_MAX_POINTS ? left : PROMQL_RANGE_MAX_POINTS;
}

/* One sample of one series at point k: the first series' sample is the point's value (or
 * why there is none), a second one at the same point makes it PROMQL_ERR_MULTIPLE. */
static void range_put(struct promql_range *r, size_t k, enum promql_error e, double v)
{
    if (r->error[k] == PROMQL_ERR_EMPTY) {
        r->error[k] = (uint8_t)e;
        r->value[k] = e == PROMQL_OK ? v : NAN;
    } else if (r->error[k] == PROMQL_ERR_MULTIPLE) {
        r->value[k] += 1;
    } else {
        r->error[k] = PROMQL_ERR_MULTIPLE;
        r->value[k] = 2;
    }
}

/* The point of r at ts (epoch seconds) within [first, first + count): false when ts is
 * outside that span or more than half a millisecond off the step grid. */
static bool range_index(const struct promql_range *r, double ts, size_t first, size_t count,
                        size_t *ret)
{
    double ms = ts * 1000.0;
    double rel = (ms - (double)r->start_ms) / (double)r->step_ms;
    if (!(rel > -0.5 && rel < (double)r->n))
        return false;
    double kd = floor(rel + 0.5);
    if (fabs(ms - ((double)r->start_ms + kd * (double)r->step_ms)) >= 0.5)
        return false;
    size_t k = (size_t)kd;
    if (k < first || k - first >= count)
        return false;
    *ret = k;
    return true;
}

/* The "values" (floats) or "histograms" (native histograms) of series i. */
static bool parse_range_samples(const json_t *vals, bool histograms, size_t i,
                                struct promql_range *r, size_t first, size_t count,
                                struct promql_result *out)
{
    const char *what = histograms ? "histograms" : "values";
    if (!json_is_array(vals)) {
        promql_set_result(out, PROMQL_ERR_PARSE, "series %zu: \"%s\" is not an array", i, what);
        return false;
    }
    size_t j, prev = 0;
    const json_t *pair;
    json_array_foreach(vals, j, pair)
    {
        if (!json_is_array(pair) || json_array_size(pair) != 2 ||
            !json_is_number(json_array_get(pair, 0))) {
            promql_set_result(out, PROMQL_ERR_PARSE,
                              "series %zu: %s[%zu] is not a [timestamp, value] pair", i, what, j);
            return false;
        }
        double ts = json_number_value(json_array_get(pair, 0));
        size_t k;
        if (!isfinite(ts) || !range_index(r, ts, first, count, &k)) {
            promql_set_result(out, PROMQL_ERR_PARSE,
                              "series %zu: sample at %.3f is not a step of the range asked for", i,
                              ts);
            return false;
        }
        if (j > 0 && k <= prev) {
            promql_set_result(out, PROMQL_ERR_PARSE,
                              "series %zu: timestamps not increasing at %.3f", i, ts);
            return false;
        }
        prev = k;
        if (histograms) {
            range_put(r, k, PROMQL_ERR_PARSE, NAN);
            continue;
        }
        struct promql_result one;
        one.value = NAN;
        parse_sample(pair, &one);
        if (one.error == PROMQL_ERR_PARSE) {
            promql_set_result(out, PROMQL_ERR_PARSE, "series %zu: %s", i, one.detail);
            return false;
        }
        /* Prometheus writes every float it can hold ("NaN", "+Inf"); anything else that
         * is not a number counts as NaN: unknown, as an instant reply would make it. */
        range_put(r, k, one.error == PROMQL_OK ? PROMQL_OK : PROMQL_ERR_NAN, one.value);
    }
    return true;
}

static void parse_matrix(const json_t *root, struct promql_range *r, size_t first, size_t count,
                         struct promql_result *out)
{
    const json_t *data = json_object_get(root, "data");
    if (!json_is_object(data)) {
        promql_set_result(out, PROMQL_ERR_PARSE, "reply has no \"data\" object");
        return;
    }
    const json_t *rt = json_object_get(data, "resultType");
    const json_t *result = json_object_get(data, "result");
    if (!json_is_string(rt)) {
        promql_set_result(out, PROMQL_ERR_PARSE, "reply has no \"resultType\"");
        return;
    }
    if (strcmp(json_string_value(rt), "matrix") != 0) {
        promql_set_result(out, PROMQL_ERR_PARSE,
                          "resultType \"%.40s\" of a range query: expected matrix",
                          json_string_value(rt));
        return;
    }
    if (!json_is_array(result)) {
        promql_set_result(out, PROMQL_ERR_PARSE, "matrix result is not an array");
        return;
    }
    size_t i;
    const json_t *series;
    json_array_foreach(result, i, series)
    {
        if (!json_is_object(series)) {
            promql_set_result(out, PROMQL_ERR_PARSE, "series %zu is not an object", i);
            return;
        }
        const json_t *vals = json_object_get(series, "values");
        const json_t *hist = json_object_get(series, "histograms");
        if (vals && !parse_range_samples(vals, false, i, r, first, count, out))
            return;
        if (hist && !parse_range_samples(hist, true, i, r, first, count, out))
            return;
    }
    promql_set_result(out, PROMQL_OK, "%s", "");
}

void promql_parse_range_reply(const char *body, size_t len, long http_status,
                              struct promql_range *r, size_t first, size_t count,
                              struct promql_result *out)
{
    json_t *root = parse_envelope(body, len, http_status, out);
    if (first > r->n || count > r->n - first) {
        if (root)
            promql_set_result(out, PROMQL_ERR_PARSE,
                              "points %zu+%zu are not in the range (%zu points)", first, count,
                              r->n);
        json_decref(root);
        return;
    }
    for (size_t k = first; k < first + count; k++) {
        r->error[k] = PROMQL_ERR_EMPTY;
        r->value[k] = NAN;
    }
    if (root)
        parse_matrix(root, r, first, count, out);
    if (root && out->error == PROMQL_OK && r->matrix &&
        json_array_extend(r->matrix, json_object_get(json_object_get(root, "data"), "result")) < 0)
        promql_set_result(out, PROMQL_ERR_TOO_LARGE, "out of memory keeping the series");
    json_decref(root);
    if (out->error != PROMQL_OK)
        for (size_t k = first; k < first + count; k++) {
            r->error[k] = PROMQL_ERR_EMPTY;
            r->value[k] = NAN;
        }
}

void promql_parse_series(const char *body, size_t len, long http_status, struct promql_result *out,
                         json_t **ret)
{
    *ret = NULL;
    json_t *root = parse_envelope(body, len, http_status, out);
    if (!root)
        return;
    parse_success(root, out);
    const json_t *data = json_object_get(root, "data");
    const char *rt = json_string_value(json_object_get(data, "resultType"));
    json_t *result = json_object_get(data, "result");
    if (rt && strcmp(rt, "vector") == 0 && json_is_array(result)) {
        *ret = json_incref(result);
    } else if (rt && strcmp(rt, "scalar") == 0 && json_is_array(result)) {
        json_t *one = json_object();
        json_t *arr = json_array();
        if (one && arr && json_object_set_new(one, "metric", json_object()) == 0 &&
            json_object_set(one, "value", result) == 0 && json_array_append(arr, one) == 0) {
            *ret = arr;
            arr = NULL;
        }
        json_decref(one);
        json_decref(arr);
    }
    json_decref(root);
}
