/* promql_vector: an instant reply's vector read straight into an ivec (see promql.h,
 * promql_parse_vector). A recursive-descent reader of the whole JSON grammar that keeps
 * only what the matching of targets needs: each series' kept labels and its sample. No
 * tree is built, so a reply of 10,000 series costs its ivec (tens of bytes a series)
 * instead of a jansson tree (about a kilobyte a series), and a fraction of the time.
 *
 * It accepts exactly what jansson (the reference the other replies go through) accepts
 * for the documents it reads: strict UTF-8, no \u0000, integers within 64 bits, reals
 * that do not overflow, nothing after the document. Whatever it does not read itself (an
 * error reply, an HTTP error, a body that is not JSON, a result other than a vector or a
 * scalar) goes through promql_parse_reply, so the words of every error are the same as
 * for a single number. tests/fuzz/fuzz_promql.c checks the two agree. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ivec.h"
#include "utf8.h"

#include "promql_reply.h"

#define MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH */
#define MAX_WARNINGS 1024

struct pair {
    size_t n;
    bool ts_number, text_string;
    double ts;
    char *text; /* element 1's text, when a string */
    size_t text_len, text_cap;
};

struct reader {
    const char *p, *end;
    int depth;
    struct buf str;   /* the last string read, decoded (NUL-terminated) */
    struct ivec *vec; /* the series of the result */
    const char *const *keep;
    size_t n_keep;
    /* What the envelope said. */
    bool status_success, status_seen;
    int result_type; /* 0 none, 1 vector, 2 scalar, 3 other */
    bool result_seen;
    struct pair scalar; /* "result" read as a scalar's [ts, "v"] */
    char warnings[MAX_WARNINGS];
    size_t warnings_len;
    bool warnings_full;
};

static void ws(struct reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static bool eat(struct reader *r, char c)
{
    ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return true;
    }
    return false;
}

static int hex4(const char *p, unsigned *ret)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -EINVAL;
    }
    *ret = v;
    return 0;
}

static int put_utf8(struct buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return buf_append(b, u, n);
}

/* A string (at its opening quote) into r->str. */
static int string(struct reader *r)
{
    ws(r);
    if (r->p >= r->end || *r->p != '"')
        return -EINVAL;
    r->p++;
    buf_reset(&r->str);
    for (;;) {
        const char *run = r->p;
        while (r->p < r->end && *r->p != '"' && *r->p != '\\' && (unsigned char)*r->p >= 0x20 &&
               (unsigned char)*r->p < 0x80)
            r->p++;
        if (r->p > run && buf_append(&r->str, run, (size_t)(r->p - run)) < 0)
            return -ENOMEM;
        if (r->p >= r->end)
            return -EINVAL;
        unsigned char c = (unsigned char)*r->p;
        if (c == '"') {
            r->p++;
            if (!r->str.data && buf_append(&r->str, "", 0) < 0)
                return -ENOMEM;
            return 0;
        }
        if (c < 0x20)
            return -EINVAL; /* a control character */
        if (c >= 0x80) {
            size_t l = utf8_seq_len(r->p, (size_t)(r->end - r->p));
            if (l == 0 || buf_append(&r->str, r->p, l) < 0)
                return l == 0 ? -EINVAL : -ENOMEM;
            r->p += l;
            continue;
        }
        /* an escape */
        if (r->end - r->p < 2)
            return -EINVAL;
        char e = r->p[1];
        r->p += 2;
        char out;
        switch (e) {
        case '"': out = '"'; break;
        case '\\': out = '\\'; break;
        case '/': out = '/'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (r->end - r->p < 4 || hex4(r->p, &cp) < 0)
                return -EINVAL;
            r->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
                    hex4(r->p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                    return -EINVAL;
                r->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return -EINVAL;
            }
            if (cp == 0)
                return -EINVAL; /* jansson refuses \u0000 */
            if (put_utf8(&r->str, cp) < 0)
                return -ENOMEM;
            continue;
        }
        default: return -EINVAL;
        }
        if (buf_putc(&r->str, out) < 0)
            return -ENOMEM;
    }
}

/* A number; *ret its value. */
static int number(struct reader *r, double *ret)
{
    ws(r);
    const char *s = r->p;
    bool real = false;
    if (r->p < r->end && *r->p == '-')
        r->p++;
    if (r->p >= r->end)
        return -EINVAL;
    if (*r->p == '0') {
        r->p++;
    } else if (*r->p >= '1' && *r->p <= '9') {
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
    } else {
        return -EINVAL;
    }
    if (r->p < r->end && *r->p == '.') {
        real = true;
        r->p++;
        const char *d = r->p;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
        if (r->p == d)
            return -EINVAL;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        real = true;
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-'))
            r->p++;
        const char *d = r->p;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9')
            r->p++;
        if (r->p == d)
            return -EINVAL;
    }
    size_t len = (size_t)(r->p - s);
    char small[64], *tmp = len < sizeof(small) ? small : malloc(len + 1);
    if (!tmp)
        return -ENOMEM;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    int ret_code = 0;
    errno = 0;
    if (real) {
        double d = strtod(tmp, NULL);
        if ((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE)
            ret_code = -ERANGE;
        *ret = d;
    } else {
        long long v = strtoll(tmp, NULL, 10);
        if (errno == ERANGE)
            ret_code = -ERANGE; /* jansson: "too big integer" */
        *ret = (double)v;
    }
    if (tmp != small)
        free(tmp);
    return ret_code;
}

static int literal(struct reader *r, const char *word)
{
    size_t n = strlen(word);
    ws(r);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return -EINVAL;
    r->p += n;
    return 0;
}

static int value(struct reader *r); /* any value, skipped */

/* Reads an object's members, calling member(r, ctx) at each value (after its key, in
 * r->str); member reads the value. */
static int object(struct reader *r, int (*member)(struct reader *, void *), void *ctx)
{
    if (!eat(r, '{'))
        return -EINVAL;
    if (++r->depth > MAX_DEPTH)
        return -EINVAL;
    if (eat(r, '}')) {
        r->depth--;
        return 0;
    }
    for (;;) {
        int e = string(r);
        if (e < 0)
            return e;
        if (!eat(r, ':'))
            return -EINVAL;
        e = member ? member(r, ctx) : value(r);
        if (e < 0)
            return e;
        if (eat(r, ','))
            continue;
        if (eat(r, '}'))
            break;
        return -EINVAL;
    }
    r->depth--;
    return 0;
}

/* An array, calling element(r, ctx, index) at each element. */
static int array(struct reader *r, int (*element)(struct reader *, void *, size_t), void *ctx)
{
    if (!eat(r, '['))
        return -EINVAL;
    if (++r->depth > MAX_DEPTH)
        return -EINVAL;
    if (eat(r, ']')) {
        r->depth--;
        return 0;
    }
    for (size_t i = 0;; i++) {
        int e = element ? element(r, ctx, i) : value(r);
        if (e < 0)
            return e;
        if (eat(r, ','))
            continue;
        if (eat(r, ']'))
            break;
        return -EINVAL;
    }
    r->depth--;
    return 0;
}

static int value(struct reader *r)
{
    double d;
    ws(r);
    if (r->p >= r->end)
        return -EINVAL;
    switch (*r->p) {
    case '{': return object(r, NULL, NULL);
    case '[': return array(r, NULL, NULL);
    case '"': return string(r);
    case 't': return literal(r, "true");
    case 'f': return literal(r, "false");
    case 'n': return literal(r, "null");
    default: return number(r, &d);
    }
}

static char peek(struct reader *r)
{
    ws(r);
    return r->p < r->end ? *r->p : '\0';
}

/* ---- a sample: [ts, "v"] ------------------------------------------------------------ */

static int pair_element(struct reader *r, void *ctx, size_t i)
{
    struct pair *p = ctx;
    p->n = i + 1;
    char c = peek(r);
    if (i == 0 && (c == '-' || (c >= '0' && c <= '9'))) {
        p->ts_number = true;
        return number(r, &p->ts);
    }
    if (i == 1 && c == '"') {
        int e = string(r);
        if (e < 0)
            return e;
        p->text_string = true;
        if (r->str.len + 1 > p->text_cap) {
            char *t = realloc(p->text, r->str.len + 1);
            if (!t)
                return -ENOMEM;
            p->text = t;
            p->text_cap = r->str.len + 1;
        }
        memcpy(p->text, r->str.data, r->str.len + 1);
        p->text_len = r->str.len;
        return 0;
    }
    return value(r);
}

/* ---- a series: {"metric": {...}, "value": [ts, "v"]} ------------------------------- */

static bool kept(const struct reader *r, const char *name)
{
    if (!r->keep)
        return true;
    for (size_t i = 0; i < r->n_keep; i++)
        if (strcmp(r->keep[i], name) == 0)
            return true;
    return false;
}

struct label_ctx {
    char *name;
    size_t cap;
};

static int label_member(struct reader *r, void *ctx)
{
    struct label_ctx *l = ctx;
    if (peek(r) != '"' || !kept(r, r->str.data))
        return value(r); /* not a string: as if absent, as ivec_from_json */
    size_t nlen = r->str.len;
    if (nlen + 1 > l->cap) {
        char *t = realloc(l->name, nlen + 1);
        if (!t)
            return -ENOMEM;
        l->name = t;
        l->cap = nlen + 1;
    }
    memcpy(l->name, r->str.data, nlen + 1);
    int e = string(r);
    if (e < 0)
        return e;
    if (ivec_label(r->vec, r->vec->n - 1, l->name))
        return -EEXIST; /* a label twice in one series: Prometheus never sends it */
    return ivec_add_label(r->vec, l->name, nlen, r->str.data, r->str.len);
}

static int series_member(struct reader *r, void *ctx)
{
    struct pair *p = ctx;
    const char *key = r->str.data;
    if (strcmp(key, "metric") == 0) {
        if (peek(r) != '{')
            return value(r);
        ivec_clear_labels(r->vec);
        struct label_ctx l = {0};
        int e = object(r, label_member, &l);
        free(l.name);
        return e;
    }
    if (strcmp(key, "value") == 0) {
        ivec_set_no_value(r->vec);
        if (peek(r) != '[')
            return value(r);
        p->n = 0;
        p->ts_number = p->text_string = false;
        p->ts = 0;
        int e = array(r, pair_element, p);
        if (e < 0)
            return e;
        if (p->n >= 2 && p->text_string)
            return ivec_set_sample(r->vec, p->ts_number ? p->ts : 0, p->text, p->text_len);
        return 0;
    }
    return value(r);
}

/* An element of "result": a series object, or anything else (as the reference, a series
 * without labels nor value); and each element also as the scalar's [ts, "v"] might be. */
static int result_element(struct reader *r, void *ctx, size_t i)
{
    int e = ivec_add_series(r->vec);
    if (e < 0)
        return e;
    if (peek(r) == '{') {
        if (i < 2)
            r->scalar.n = i + 1; /* not a timestamp nor a value */
        return object(r, series_member, ctx);
    }
    return pair_element(r, &r->scalar, i);
}

static int data_member(struct reader *r, void *ctx)
{
    const char *key = r->str.data;
    if (strcmp(key, "resultType") == 0) {
        if (peek(r) != '"') {
            r->result_type = 3;
            return value(r);
        }
        int e = string(r);
        if (e < 0)
            return e;
        r->result_type = strcmp(r->str.data, "vector") == 0   ? 1
                         : strcmp(r->str.data, "scalar") == 0 ? 2
                                                              : 3;
        return 0;
    }
    if (strcmp(key, "result") == 0) {
        ivec_reset(r->vec);
        r->scalar.n = 0;
        r->scalar.ts_number = r->scalar.text_string = false;
        r->scalar.ts = 0;
        if (peek(r) != '[') {
            r->result_seen = false;
            return value(r);
        }
        r->result_seen = true;
        return array(r, result_element, ctx);
    }
    return value(r);
}

static int warning_element(struct reader *r, void *ctx, size_t i)
{
    (void)ctx;
    (void)i;
    if (peek(r) != '"')
        return value(r);
    int e = string(r);
    if (e < 0 || r->warnings_full)
        return e;
    /* as collect_warnings: "; " between them, cut at the buffer's end */
    int n = snprintf(r->warnings + r->warnings_len, sizeof(r->warnings) - r->warnings_len, "%s%s",
                     r->warnings_len ? "; " : "", r->str.data);
    if (n < 0 || (size_t)n >= sizeof(r->warnings) - r->warnings_len) {
        r->warnings_len = sizeof(r->warnings) - 1;
        r->warnings_full = true;
    } else {
        r->warnings_len += (size_t)n;
    }
    return 0;
}

static int top_member(struct reader *r, void *ctx)
{
    const char *key = r->str.data;
    if (strcmp(key, "status") == 0) {
        r->status_seen = true;
        r->status_success = false;
        if (peek(r) != '"')
            return value(r);
        int e = string(r);
        r->status_success = e == 0 && strcmp(r->str.data, "success") == 0;
        return e;
    }
    if (strcmp(key, "warnings") == 0) {
        r->warnings_len = 0;
        r->warnings_full = false;
        r->warnings[0] = '\0';
        if (peek(r) != '[')
            return value(r);
        return array(r, warning_element, NULL);
    }
    if (strcmp(key, "data") == 0) {
        r->result_type = 0;
        r->result_seen = false;
        ivec_reset(r->vec);
        if (peek(r) != '{')
            return value(r);
        return object(r, data_member, ctx);
    }
    return value(r);
}

bool promql_parse_vector(const char *body, size_t len, long http_status, const char *const *keep,
                         size_t n_keep, struct promql_result *out, struct ivec *vec)
{
    ivec_reset(vec);
    bool http_ok = http_status == 0 || http_status == 200;
    size_t start = 0;
    while (body && start < len && isspace((unsigned char)body[start]))
        start++; /* as promql_parse_reply looks for the '{' */
    struct reader r = {.vec = vec, .keep = keep, .n_keep = n_keep};
    struct pair p = {0};
    int e = -EINVAL;
    bool nul = body && http_ok && memchr(body, '\0', len); /* jansson would skip it */
    if (body && http_ok && !nul && len <= PROMQL_MAX_REPLY_BYTES && start < len &&
        body[start] == '{') {
        r.p = body; /* and as jansson reads the whole body: JSON's own white space */
        r.end = body + len;
        buf_init(&r.str, 0);
        e = object(&r, top_member, &p);
        buf_free(&r.str);
        ws(&r);
        if (e == 0 && r.p != r.end)
            e = -EINVAL; /* something after the document */
    }
    bool vector =
        e == 0 && r.status_success && r.result_seen && (r.result_type == 1 || r.result_type == 2);
    if (vector && r.result_type == 2) {
        /* a scalar: one series without labels, as promql_parse_series gives it */
        ivec_reset(vec);
        e = ivec_add_series(vec);
        struct pair *q = &r.scalar;
        if (e == 0 && q->n >= 2 && q->text_string)
            e = ivec_set_sample(vec, q->ts_number ? q->ts : 0, q->text, q->text_len);
        vector = e == 0;
    }
    free(p.text);
    free(r.scalar.text);
    if (!vector || vec->n < 2) {
        /* an error, something other than a vector, or one number: the reference's words */
        promql_parse_reply(body, len, http_status, out);
        if (!vector)
            ivec_reset(vec);
        if (nul && out->error != PROMQL_ERR_QUERY && out->error != PROMQL_ERR_TOO_LARGE)
            promql_set_result(out, PROMQL_ERR_PARSE, "a NUL byte in the reply");
        else if (e == -EEXIST)
            promql_set_result(out, PROMQL_ERR_PARSE, "a series with one label twice");
        else if (e == -E2BIG || e == -ENOMEM)
            promql_set_result(out, PROMQL_ERR_TOO_LARGE, "reply too large to keep (%s)",
                              e == -ENOMEM ? "out of memory" : "over the bound");
        else if (!vector && (out->error == PROMQL_OK || out->error == PROMQL_ERR_EMPTY ||
                             out->error == PROMQL_ERR_MULTIPLE))
            promql_set_result(out, PROMQL_ERR_PARSE, "reply not understood");
        return vector;
    }
    memset(out, 0, sizeof(*out));
    out->http_status = http_status;
    promql_set_warnings(out, r.warnings, r.warnings_len);
    promql_set_result(out, PROMQL_ERR_MULTIPLE, MSG_MULTIPLE, vec->n);
    return true;
}
