/* statsd: zero-copy StatsD/DogStatsD line parser (see statsd.h). */
#include "statsd.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static const char *const reason_names[INGEST_REASON_MAX] = {
    [INGEST_OK] = "accepted",
    [INGEST_EMPTY] = "empty",
    [INGEST_MALFORMED] = "malformed",
    [INGEST_BAD_NAME] = "bad_name",
    [INGEST_BAD_VALUE] = "bad_value",
    [INGEST_BAD_TYPE] = "bad_type",
    [INGEST_BAD_RATE] = "bad_sample_rate",
    [INGEST_BAD_TAGS] = "bad_tags",
    [INGEST_SET_UNSUPPORTED] = "set_unsupported",
    [INGEST_TOO_LONG] = "too_long",
    [INGEST_MAPPED_DROP] = "mapping_drop",
    [INGEST_SERIES_LIMIT] = "series_limit",
    [INGEST_CONFLICT] = "conflict",
    [INGEST_TOO_MANY_LABELS] = "too_many_labels",
    [INGEST_EVENT] = "event",
    [INGEST_SERVICE_CHECK] = "service_check",
};

static const char *const field_names[STATSD_FIELD_MAX] = {
    [STATSD_FIELD_CONTAINER_ID] = "container_id",
    [STATSD_FIELD_TIMESTAMP] = "timestamp",
    [STATSD_FIELD_EXTERNAL_DATA] = "external_data",
    [STATSD_FIELD_CARDINALITY] = "cardinality",
    [STATSD_FIELD_UNKNOWN] = "unknown",
};

const char *statsd_field_name(enum statsd_field f)
{
    return f >= 0 && f < STATSD_FIELD_MAX ? field_names[f] : "unknown";
}

const char *ingest_reason_name(enum ingest_reason r)
{
    return r >= 0 && r < INGEST_REASON_MAX && reason_names[r] ? reason_names[r] : "unknown";
}

static const double pow10_table[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8, 1e9,
                                     1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};

int statsd_parse_number(const char *s, size_t len, double *ret)
{
    const char *p = s, *e = s + len;
    bool neg = false;
    if (p < e && (*p == '+' || *p == '-')) {
        neg = *p == '-';
        p++;
    }
    /* Fast path: up to 18 significant digits with an optional fraction, exact for
     * the integers and short decimals StatsD clients send. */
    uint64_t mant = 0;
    int digits = 0, frac = 0;
    const char *start = p;
    while (p < e && *p >= '0' && *p <= '9' && digits < 18) {
        mant = mant * 10 + (uint64_t)(*p++ - '0');
        digits++;
    }
    if (p < e && *p == '.') {
        p++;
        while (p < e && *p >= '0' && *p <= '9' && digits < 18) {
            mant = mant * 10 + (uint64_t)(*p++ - '0');
            digits++;
            frac++;
        }
    }
    if (p == e && p > start && !(p == start + 1 && *start == '.')) {
        double v = (double)mant / pow10_table[frac];
        *ret = neg ? -v : v;
        return 0;
    }
    /* Slow path: exponents, long mantissas. Only decimal characters reach strtod. */
    if (len == 0 || len > 64)
        return -EINVAL;
    char tmp[65];
    bool seen_digit = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9')
            seen_digit = true;
        else if (!(c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
            return -EINVAL;
        tmp[i] = c;
    }
    if (!seen_digit)
        return -EINVAL;
    tmp[len] = '\0';
    char *end;
    double v = strtod(tmp, &end);
    if (end != tmp + len || !isfinite(v))
        return -EINVAL;
    *ret = v;
    return 0;
}

static int parse_type(const char *t, size_t n, enum statsd_type *ret)
{
    if (n == 1) {
        switch (t[0]) {
        case 'c': *ret = STATSD_COUNTER; return 0;
        case 'g': *ret = STATSD_GAUGE; return 0;
        case 'h': *ret = STATSD_HISTOGRAM; return 0;
        case 'd': *ret = STATSD_DISTRIBUTION; return 0;
        case 's': *ret = STATSD_SET; return 0;
        }
    } else if (n == 2 && t[0] == 'm' && t[1] == 's') {
        *ret = STATSD_TIMER;
        return 0;
    }
    return -EINVAL;
}

/* DogStatsD tags "k:v,k2:v2": every tag needs a non-empty key; control characters
 * are refused. Valueless tags ("prod") are allowed here and skipped by the store. */
static bool tags_valid(const char *t, size_t n)
{
    if (n == 0)
        return false;
    size_t tag_start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || t[i] == ',') {
            if (i == tag_start || t[tag_start] == ':')
                return false;
            tag_start = i + 1;
        } else if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

static bool has_prefix(const char *s, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    return n >= pl && memcmp(s, prefix, pl) == 0;
}

/* A run of 1 to 9 decimal digits at *p (advanced past it) -> *ret. */
static bool parse_digits(const char **p, const char *end, size_t *ret)
{
    size_t v = 0, n = 0;
    while (*p < end && **p >= '0' && **p <= '9' && n < 9) {
        v = v * 10 + (size_t)(**p - '0');
        (*p)++;
        n++;
    }
    *ret = v;
    return n > 0 && (*p == end || **p < '0' || **p > '9');
}

/* The optional fields after an event's text or a service check's status: each starts
 * with '|' and is not empty (their contents are not used). */
static bool check_fields_valid(const char *p, const char *end)
{
    while (p < end) {
        if (*p != '|')
            return false;
        const char *f = p + 1, *fe = memchr(f, '|', (size_t)(end - f));
        if (!fe)
            fe = end;
        if (fe == f)
            return false;
        p = fe;
    }
    return true;
}

/* _e{<title length>,<text length>}:<title>|<text>[|d:..|h:..|p:..|t:..|s:..|k:..|#tags]:
 * lengths in bytes; the title is not empty. */
static enum ingest_reason parse_event(const char *line, size_t len)
{
    const char *p = line + 3, *end = line + len;
    size_t title_len, text_len;
    if (!parse_digits(&p, end, &title_len) || p == end || *p++ != ',' ||
        !parse_digits(&p, end, &text_len) || end - p < 2 || p[0] != '}' || p[1] != ':')
        return INGEST_MALFORMED;
    p += 2;
    if (title_len == 0 || (size_t)(end - p) < title_len + 1 + text_len || p[title_len] != '|')
        return INGEST_MALFORMED;
    p += title_len + 1 + text_len;
    return check_fields_valid(p, end) ? INGEST_EVENT : INGEST_MALFORMED;
}

/* _sc|<name>|<status 0-3>[|d:..|h:..|#tags|m:..]. */
static enum ingest_reason parse_service_check(const char *line, size_t len)
{
    const char *p = line + 4, *end = line + len;
    const char *bar = memchr(p, '|', (size_t)(end - p));
    if (!bar || bar == p || end - bar < 2 || bar[1] < '0' || bar[1] > '3')
        return INGEST_MALFORMED;
    p = bar + 2;
    return check_fields_valid(p, end) ? INGEST_SERVICE_CHECK : INGEST_MALFORMED;
}

enum ingest_reason statsd_parse_line(const char *line, size_t len, statsd_event_fn fn,
                                     void *userdata, uint64_t *fields_ignored)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return INGEST_EMPTY;
    if (len > INGEST_MAX_LINE)
        return INGEST_TOO_LONG;
    if (has_prefix(line, len, "_e{"))
        return parse_event(line, len);
    if (has_prefix(line, len, "_sc|"))
        return parse_service_check(line, len);
    const char *end = line + len;
    const char *colon = memchr(line, ':', len);
    const char *bar = memchr(line, '|', len);
    if (!colon || !bar || colon > bar)
        return INGEST_MALFORMED;
    size_t name_len = (size_t)(colon - line);
    if (name_len == 0)
        return INGEST_MALFORMED;
    if (name_len > INGEST_MAX_NAME)
        return INGEST_BAD_NAME;
    for (size_t i = 0; i < name_len; i++)
        if ((unsigned char)line[i] <= ' ' || line[i] == 0x7f)
            return INGEST_BAD_NAME;

    /* Fields after the values: the type, then in any order the optional @rate, #tags and
     * the DogStatsD fields c:, T, e: and card:, read and not used; any other non-empty
     * field is skipped (a later protocol version's). */
    uint64_t seen[STATSD_FIELD_MAX] = {0};
    const char *f = bar + 1;
    const char *fe = memchr(f, '|', (size_t)(end - f));
    if (!fe)
        fe = end;
    enum statsd_type type;
    if (parse_type(f, (size_t)(fe - f), &type) < 0)
        return INGEST_BAD_TYPE;
    double rate = 1.0;
    const char *tags = NULL;
    size_t tags_len = 0;
    bool have_rate = false;
    while (fe < end) {
        f = fe + 1;
        fe = memchr(f, '|', (size_t)(end - f));
        if (!fe)
            fe = end;
        size_t fl = (size_t)(fe - f);
        if (fl >= 1 && f[0] == '@') {
            /* Below 1e-6 one line would stand for millions of events. */
            if (have_rate || statsd_parse_number(f + 1, fl - 1, &rate) < 0 || !(rate >= 1e-6) ||
                rate > 1)
                return INGEST_BAD_RATE;
            have_rate = true;
        } else if (fl >= 1 && f[0] == '#') {
            if (tags || !tags_valid(f + 1, fl - 1))
                return INGEST_BAD_TAGS;
            tags = f + 1;
            tags_len = fl - 1;
        } else if (has_prefix(f, fl, "c:")) {
            seen[STATSD_FIELD_CONTAINER_ID]++;
        } else if (fl >= 1 && f[0] == 'T') {
            /* Unix seconds; a client-side timestamp is not exposed (Prometheus stamps the
             * scrape), but a garbled one means a garbled line. */
            const char *d = f + 1;
            while (d < fe && *d >= '0' && *d <= '9')
                d++;
            if (fl < 2 || fl > 20 || d != fe)
                return INGEST_MALFORMED;
            seen[STATSD_FIELD_TIMESTAMP]++;
        } else if (has_prefix(f, fl, "e:")) {
            seen[STATSD_FIELD_EXTERNAL_DATA]++;
        } else if (has_prefix(f, fl, "card:")) {
            seen[STATSD_FIELD_CARDINALITY]++;
        } else if (fl > 0) {
            seen[STATSD_FIELD_UNKNOWN]++;
        } else {
            return INGEST_MALFORMED; /* an empty field: "||" or a trailing '|' */
        }
    }
    if (type == STATSD_SET)
        return INGEST_SET_UNSUPPORTED;

    /* Values between the first ':' and the first '|', separated by ':'. Validate all
     * before emitting any, so a line is accepted or rejected whole. */
    double values[STATSD_MAX_VALUES];
    bool relative[STATSD_MAX_VALUES];
    size_t nv = 0;
    const char *v = colon + 1;
    for (;;) {
        const char *ve = memchr(v, ':', (size_t)(bar - v));
        if (!ve)
            ve = bar;
        if (nv == STATSD_MAX_VALUES)
            return INGEST_TOO_LONG;
        size_t vl = (size_t)(ve - v);
        if (vl == 0 || statsd_parse_number(v, vl, &values[nv]) < 0)
            return INGEST_BAD_VALUE;
        relative[nv] = v[0] == '+' || v[0] == '-';
        if ((type == STATSD_COUNTER || type == STATSD_TIMER) && values[nv] < 0)
            return INGEST_BAD_VALUE; /* counters only go up; durations are not negative */
        nv++;
        if (ve == bar)
            break;
        v = ve + 1;
    }
    struct statsd_event ev = {
        .name = line,
        .name_len = name_len,
        .sample_rate = rate,
        .tags = tags,
        .tags_len = tags_len,
    };
    for (size_t i = 0; i < nv; i++) {
        ev.value = values[i];
        ev.type = type == STATSD_GAUGE && relative[i] ? STATSD_GAUGE_DELTA : type;
        fn(userdata, &ev);
    }
    if (fields_ignored)
        for (int k = 0; k < STATSD_FIELD_MAX; k++)
            fields_ignored[k] += seen[k];
    return INGEST_OK;
}

void statsd_parse_buffer(const char *buf, size_t len, statsd_event_fn fn, void *userdata,
                         uint64_t *counts, uint64_t *fields_ignored)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        enum ingest_reason r = statsd_parse_line(p, (size_t)(le - p), fn, userdata, fields_ignored);
        if (r != INGEST_EMPTY)
            counts[r]++;
        p = nl ? nl + 1 : end;
    }
}
