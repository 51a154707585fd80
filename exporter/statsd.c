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
};

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

enum ingest_reason statsd_parse_line(const char *line, size_t len, statsd_event_fn fn,
                                     void *userdata)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (len == 0)
        return INGEST_EMPTY;
    if (len > INGEST_MAX_LINE)
        return INGEST_TOO_LONG;
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

    /* Fields after the values: type, then optional @rate, #tags, c:, T. */
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
        } else if ((fl >= 2 && f[0] == 'c' && f[1] == ':') || (fl >= 1 && f[0] == 'T')) {
            /* DogStatsD container id and timestamp: accepted, not used. */
        } else {
            return INGEST_MALFORMED;
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
    return INGEST_OK;
}

void statsd_parse_buffer(const char *buf, size_t len, statsd_event_fn fn, void *userdata,
                         uint64_t *counts)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        enum ingest_reason r = statsd_parse_line(p, (size_t)(le - p), fn, userdata);
        if (r != INGEST_EMPTY)
            counts[r]++;
        p = nl ? nl + 1 : end;
    }
}
