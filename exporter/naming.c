/* naming: StatsD names and tag keys to Prometheus names, in the prometheus and
 * statsd_exporter modes (see naming.h and docs/INGEST.md). */
#include "naming.h"

#include <errno.h>
#include <string.h>

#include "mset.h"
#include "utf8.h"

#define MAX_WORDS 128

int naming_mode_parse(const char *s, enum naming_mode *ret)
{
    if (strcmp(s, "prometheus") == 0)
        *ret = NAMING_PROMETHEUS;
    else if (strcmp(s, "statsd_exporter") == 0)
        *ret = NAMING_STATSD_EXPORTER;
    else
        return -EINVAL;
    return 0;
}

const char *naming_mode_name(enum naming_mode m)
{
    return m == NAMING_STATSD_EXPORTER ? "statsd_exporter" : "prometheus";
}

static bool is_lower(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_lower(c) || is_upper(c) || is_digit(c);
}

/* ---- statsd_exporter: EscapeMetricName ---- */

/* Every code point outside [a-zA-Z0-9_] becomes one '_' (an invalid UTF-8 byte counts as
 * one), except that a '-' right after a '-' that was replaced is dropped; a leading
 * digit gets a '_' before it. */
static bool escape_statsd_exporter(const char *s, size_t n, char *out, size_t *o, size_t max)
{
    size_t w = *o;
    if (n && is_digit(s[0])) {
        if (w + 1 > max)
            return false;
        out[w++] = '_';
    }
    bool prev_dash = false;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        size_t len = (unsigned char)c < 0x80 ? 1 : utf8_seq_len(s + i, n - i);
        if (len == 0)
            len = 1;
        if (is_alnum(c) || c == '_') {
            prev_dash = false;
        } else if (c == '-' && prev_dash) {
            i += len;
            continue;
        } else {
            prev_dash = c == '-';
            c = '_';
        }
        if (w + 1 > max)
            return false;
        out[w++] = c;
        i += len;
    }
    out[w] = '\0';
    *o = w;
    return true;
}

/* ---- prometheus: words ---- */

struct word {
    const char *p;
    size_t n;
};

/* Splits s[n] into words: runs of ASCII letters and digits, cut again where a lower-case
 * letter or digit is followed by an upper-case one ("clientID" -> client, ID) and where
 * a run of capitals ends before a capitalised word of two or more lower-case letters
 * ("HTTPErrors" -> HTTP, Errors; "HTTPs" stays whole). Everything else separates.
 * Returns the number of words, or SIZE_MAX past MAX_WORDS. */
static size_t split_words(const char *s, size_t n, struct word *w)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (!is_alnum(s[i])) {
            i++;
            continue;
        }
        size_t start = i++;
        while (i < n && is_alnum(s[i])) {
            bool cut =
                is_upper(s[i]) &&
                (is_lower(s[i - 1]) || is_digit(s[i - 1]) ||
                 (is_upper(s[i - 1]) && i + 2 < n && is_lower(s[i + 1]) && is_lower(s[i + 2])));
            if (cut) {
                if (k == MAX_WORDS)
                    return SIZE_MAX;
                w[k++] = (struct word){s + start, i - start};
                start = i;
            }
            i++;
        }
        if (k == MAX_WORDS)
            return SIZE_MAX;
        w[k++] = (struct word){s + start, i - start};
    }
    return k;
}

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Words that say a time unit; a timer's values are converted to seconds, so these leave
 * its name and "seconds" ends it. */
static const char *const time_words[] = {
    "s",    "sec",   "secs",   "second",      "seconds",      "ms",
    "msec", "msecs", "millis", "millisecond", "milliseconds", "us",
    "usec", "usecs", "micros", "microsecond", "microseconds", "ns",
    "nsec", "nsecs", "nanos",  "nanosecond",  "nanoseconds",
};
/* The metric types promtool does not want in a name. */
static const char *const type_words[] = {"counter", "gauge", "histogram", "summary",
                                         "gaugehistogram"};

/* Whether promtool flags this word as a unit where it stands: an abbreviation after the
 * first word (s, ms, kb, ...) or a non-base unit anywhere (milliseconds, megabytes,
 * minutes, bits, ...); or a type word after the first. Asks metric_name_lint itself, so
 * the two never disagree. */
static bool lint_problem(const char *p, size_t n, bool first)
{
    char synth[2 + 2 * INGEST_MAX_NAME + 3];
    size_t o = 0;
    if (n > 2 * INGEST_MAX_NAME)
        return false;
    if (!first) {
        memcpy(synth, "x_", 2);
        o = 2;
    }
    memcpy(synth + o, p, n);
    memcpy(synth + o + n, "_x", 3);
    return metric_name_lint(synth, METRIC_UNTYPED) != NULL;
}

/* The lower-cased words of a name, editable: removed, replaced or glued together. */
struct words {
    const char *p[MAX_WORDS];
    size_t n[MAX_WORDS];
    size_t count;
    char text[4 * INGEST_MAX_NAME + 64]; /* the words, then glued copies */
    size_t used;
};

static bool words_is(const struct words *ws, size_t i, const char *lit)
{
    return ws->n[i] == strlen(lit) && memcmp(ws->p[i], lit, ws->n[i]) == 0;
}

static bool words_in(const struct words *ws, size_t i, const char *const *list, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (words_is(ws, i, list[k]))
            return true;
    return false;
}

static void words_remove(struct words *ws, size_t i)
{
    memmove(ws->p + i, ws->p + i + 1, (ws->count - i - 1) * sizeof(ws->p[0]));
    memmove(ws->n + i, ws->n + i + 1, (ws->count - i - 1) * sizeof(ws->n[0]));
    ws->count--;
}

/* Word i becomes word i followed by word i + 1, without a separator. */
static bool words_glue(struct words *ws, size_t i)
{
    size_t len = ws->n[i] + ws->n[i + 1];
    if (ws->used + len > sizeof(ws->text))
        return false;
    char *d = ws->text + ws->used;
    memcpy(d, ws->p[i], ws->n[i]);
    memcpy(d + ws->n[i], ws->p[i + 1], ws->n[i + 1]);
    ws->used += len;
    ws->p[i] = d;
    ws->n[i] = len;
    words_remove(ws, i + 1);
    return true;
}

/* Splits name[n] into ws (lower-cased); false when it has more words or bytes than fit.
 * A name without a letter or digit has no word. */
static bool words_load(struct words *ws, const char *name, size_t n)
{
    struct word w[MAX_WORDS];
    size_t k = split_words(name, n, w);
    if (k == SIZE_MAX || n > INGEST_MAX_NAME * 2)
        return false;
    ws->count = k;
    ws->used = 0;
    for (size_t i = 0; i < k; i++) {
        char *d = ws->text + ws->used;
        for (size_t j = 0; j < w[i].n; j++)
            d[j] = is_upper(w[i].p[j]) ? (char)(w[i].p[j] + 32) : w[i].p[j];
        ws->p[i] = d;
        ws->n[i] = w[i].n;
        ws->used += w[i].n;
    }
    return true;
}

/* Appends the words joined by '_' to out (*o bytes held, at most max); false past max. */
static bool words_put(const struct words *ws, char *out, size_t *o, size_t max)
{
    for (size_t i = 0; i < ws->count; i++) {
        if (*o + (i ? 1 : 0) + ws->n[i] > max)
            return false;
        if (i)
            out[(*o)++] = '_';
        memcpy(out + *o, ws->p[i], ws->n[i]);
        *o += ws->n[i];
    }
    out[*o] = '\0';
    return true;
}

bool naming_append(enum naming_mode mode, const char *s, size_t n, char *out, size_t *o, size_t max)
{
    if (mode == NAMING_STATSD_EXPORTER)
        return escape_statsd_exporter(s, n, out, o, max);
    struct words ws;
    return words_load(&ws, s, n) && words_put(&ws, out, o, max);
}

/* The prometheus naming of an unmapped name (docs/INGEST.md has the table). */
static int name_prometheus(const char *name, size_t n, enum statsd_type t, enum ingest_kind k,
                           char *out, char *unit)
{
    struct words ws;
    if (!words_load(&ws, name, n) || ws.count == 0)
        return -INGEST_BAD_NAME;
    bool timer = t == STATSD_TIMER && k == INGEST_KIND_HISTOGRAM;
    /* 1. Type words after the first go: the TYPE line says it. */
    for (size_t i = 1; i < ws.count && ws.count > 1;)
        if (words_in(&ws, i, type_words, ARRAY_SIZE(type_words)))
            words_remove(&ws, i);
        else
            i++;
    /* 2. A timer's values become seconds: the time units that end its name go. */
    while (timer && ws.count > 1 && words_in(&ws, ws.count - 1, time_words, ARRAY_SIZE(time_words)))
        words_remove(&ws, ws.count - 1);
    /* 3. A unit promtool flags at the end of a name that has another plain word: s and
     * sec are seconds, b is bytes; any other (ms on a gauge, mb, minutes, ...) has no
     * base unit without changing the value, so it becomes the label unit. */
    size_t last = ws.count - 1, plain = 0;
    for (size_t i = 0; i < last; i++)
        plain += !lint_problem(ws.p[i], ws.n[i], i == 0);
    if (plain > 0 && lint_problem(ws.p[last], ws.n[last], false)) {
        if (words_is(&ws, last, "s") || words_is(&ws, last, "sec")) {
            ws.p[last] = "seconds";
            ws.n[last] = 7;
        } else if (words_is(&ws, last, "b")) {
            ws.p[last] = "bytes";
            ws.n[last] = 5;
        } else {
            if (ws.n[last] > NAMING_UNIT_MAX)
                return -INGEST_BAD_NAME;
            memcpy(unit, ws.p[last], ws.n[last]);
            unit[ws.n[last]] = '\0';
            words_remove(&ws, last);
        }
    }
    /* 4. A word promtool reads as a unit or a type inside the name ("a.b.request") is
     * part of the name, not a unit: it is glued to the word before it (the first word to
     * the one after), until no word is flagged. */
    for (size_t i = 0; i < ws.count && ws.count > 1;) {
        if (!lint_problem(ws.p[i], ws.n[i], i == 0)) {
            i++;
            continue;
        }
        size_t at = i ? i - 1 : 0;
        if (!words_glue(&ws, at))
            return -INGEST_BAD_NAME;
        i = at;
    }
    /* A name that is nothing but a unit word ("milliseconds", "bits.mb" glued) keeps the
     * word as its unit and is called "value". */
    if (ws.count == 1 && lint_problem(ws.p[0], ws.n[0], true) && !unit[0] &&
        ws.n[0] <= NAMING_UNIT_MAX) {
        memcpy(unit, ws.p[0], ws.n[0]);
        unit[ws.n[0]] = '\0';
        ws.p[0] = "value";
        ws.n[0] = 5;
    }
    size_t o = 0;
    if (!words_put(&ws, out, &o, INGEST_MAX_NAME))
        return -INGEST_BAD_NAME;
    /* 5. Suffixes: counters end in _total, timers in _seconds; a gauge or histogram whose
     * last word promtool reserves for another type is followed by _value. */
    const char *suffix = NULL;
    const char *lw = ws.p[ws.count - 1];
    size_t lwn = ws.n[ws.count - 1];
    static const char *const gauge_reserved[] = {"total", "count", "sum", "bucket"};
    if (timer)
        suffix = "seconds";
    else if (k == INGEST_KIND_COUNTER)
        suffix = "total";
    else if (ws.count > 1 &&
             (k == INGEST_KIND_HISTOGRAM
                  ? words_is(&ws, ws.count - 1, "total")
                  : words_in(&ws, ws.count - 1, gauge_reserved, ARRAY_SIZE(gauge_reserved))))
        suffix = "value";
    if (suffix && !(strlen(suffix) == lwn && memcmp(lw, suffix, lwn) == 0 && ws.count > 1)) {
        size_t sl = strlen(suffix);
        if (o + 1 + sl > INGEST_MAX_NAME)
            return -INGEST_BAD_NAME;
        out[o++] = '_';
        memcpy(out + o, suffix, sl + 1);
        o += sl;
    }
    /* 6. A leading digit gets a '_' before it. */
    if (is_digit(out[0])) {
        if (o + 1 > INGEST_MAX_NAME)
            return -INGEST_BAD_NAME;
        memmove(out + 1, out, o + 1);
        out[0] = '_';
    }
    return metric_name_valid(out) ? 0 : -INGEST_BAD_NAME;
}

int naming_metric(enum naming_mode mode, const char *name, size_t n, enum statsd_type t,
                  enum ingest_kind k, char *out, char *unit)
{
    size_t o = 0;
    out[0] = '\0';
    unit[0] = '\0';
    if (mode == NAMING_PROMETHEUS)
        return name_prometheus(name, n, t, k, out, unit);
    if (!escape_statsd_exporter(name, n, out, &o, INGEST_MAX_NAME) || o == 0)
        return -INGEST_BAD_NAME;
    return metric_name_valid(out) ? 0 : -INGEST_BAD_NAME;
}

int naming_label(enum naming_mode mode, const char *key, size_t n, char *out)
{
    size_t o = 0;
    out[0] = '\0';
    if (!naming_append(mode, key, n, out, &o, NAMING_LABEL_MAX) || o == 0)
        return -INGEST_BAD_TAGS;
    if (mode == NAMING_PROMETHEUS && is_digit(out[0])) {
        if (o + 1 > NAMING_LABEL_MAX)
            return -INGEST_BAD_TAGS;
        memmove(out + 1, out, o + 1);
        out[0] = '_';
    }
    if (o >= 2 && out[0] == '_' && out[1] == '_')
        out[0] = 'x';
    return label_name_valid(out) ? 0 : -INGEST_BAD_TAGS;
}
