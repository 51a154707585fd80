/* test-statsd: the StatsD/DogStatsD line parser (exporter/statsd.c). A table of lines,
 * each with the reason it must give and the exact events it must emit; the limits
 * (name length, line length, values per line) built at run time; statsd_parse_buffer's
 * per-reason counts; and a fuzz loop of random and mutated lines that must never
 * crash or emit an event that breaks the parser's promises (run it under ASan+UBSan). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "ingest.h"
#include "statsd.h"
#include "test.h"

/* ---- recording events ---- */

#define REC_MAX 80

struct rec_event {
    char name[INGEST_MAX_NAME + 1];
    double value;
    enum statsd_type type;
    double rate;
    bool has_tags;
    char tags[INGEST_MAX_LINE + 1];
    char tag_sep;
};

struct recorder {
    size_t n;
    struct rec_event ev[REC_MAX];
};

static void record(void *userdata, const struct statsd_event *ev)
{
    struct recorder *r = userdata;
    if (r->n == REC_MAX)
        return;
    struct rec_event *e = &r->ev[r->n++];
    size_t nl = ev->name_len < sizeof(e->name) ? ev->name_len : sizeof(e->name) - 1;
    memcpy(e->name, ev->name, nl);
    e->name[nl] = '\0';
    e->value = ev->value;
    e->type = ev->type;
    e->rate = ev->sample_rate;
    e->has_tags = ev->tags != NULL;
    e->tags[0] = '\0';
    if (ev->tags) {
        size_t tl = ev->tags_len < sizeof(e->tags) ? ev->tags_len : sizeof(e->tags) - 1;
        memcpy(e->tags, ev->tags, tl);
        e->tags[tl] = '\0';
    }
    e->tag_sep = ev->tag_sep;
}

/* ---- the table ---- */

struct want_event {
    const char *name;
    double value;
    enum statsd_type type;
    double rate;      /* 0 means 1 */
    const char *tags; /* NULL: no tags */
};

struct parse_case {
    const char *line;
    size_t len; /* 0: strlen(line) */
    enum ingest_reason reason;
    size_t n_events;
    struct want_event ev[4];
};

#define C_ STATSD_COUNTER
#define G_ STATSD_GAUGE
#define GD_ STATSD_GAUGE_DELTA
#define MS_ STATSD_TIMER
#define H_ STATSD_HISTOGRAM
#define D_ STATSD_DISTRIBUTION

static const struct parse_case cases[] = {
    /* every type */
    {"a:1|c", 0, INGEST_OK, 1, {{"a", 1, C_, 1, NULL}}},
    {"svc.req-x_y:2.5|g", 0, INGEST_OK, 1, {{"svc.req-x_y", 2.5, G_, 1, NULL}}},
    {"t:12|ms", 0, INGEST_OK, 1, {{"t", 12, MS_, 1, NULL}}},
    {"h:0.25|h", 0, INGEST_OK, 1, {{"h", 0.25, H_, 1, NULL}}},
    {"d:3|d", 0, INGEST_OK, 1, {{"d", 3, D_, 1, NULL}}},
    {"a:0|c", 0, INGEST_OK, 1, {{"a", 0, C_, 1, NULL}}},
    {"a:0|g", 0, INGEST_OK, 1, {{"a", 0, G_, 1, NULL}}},
    /* relative gauges; signs elsewhere */
    {"g:+3|g", 0, INGEST_OK, 1, {{"g", 3, GD_, 1, NULL}}},
    {"g:-2|g", 0, INGEST_OK, 1, {{"g", -2, GD_, 1, NULL}}},
    {"g:+.5|g", 0, INGEST_OK, 1, {{"g", 0.5, GD_, 1, NULL}}},
    {"g:+1:-1:5|g",
     0,
     INGEST_OK,
     3,
     {{"g", 1, GD_, 1, NULL}, {"g", -1, GD_, 1, NULL}, {"g", 5, G_, 1, NULL}}},
    {"a:-2|c", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"t:-1|ms", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"h:-1.5|h", 0, INGEST_OK, 1, {{"h", -1.5, H_, 1, NULL}}},
    {"d:-4|d", 0, INGEST_OK, 1, {{"d", -4, D_, 1, NULL}}},
    /* several values per line */
    {"a:1:2:3|ms",
     0,
     INGEST_OK,
     3,
     {{"a", 1, MS_, 1, NULL}, {"a", 2, MS_, 1, NULL}, {"a", 3, MS_, 1, NULL}}},
    {"c:1:2|c|@0.5|#k:v", 0, INGEST_OK, 2, {{"c", 1, C_, 0.5, "k:v"}, {"c", 2, C_, 0.5, "k:v"}}},
    /* a line is accepted or rejected whole */
    {"a:1:x:3|ms", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:1:-2|c", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:1:2|ms|@0", 0, INGEST_BAD_RATE, 0, {{0}}},
    {"a:1:2|ms|#", 0, INGEST_BAD_TAGS, 0, {{0}}},
    {"a:1::2|c", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:1:|c", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:|c", 0, INGEST_BAD_VALUE, 0, {{0}}},
    /* sample rates */
    {"a:1|c|@0.5", 0, INGEST_OK, 1, {{"a", 1, C_, 0.5, NULL}}},
    {"a:1|c|@1", 0, INGEST_OK, 1, {{"a", 1, C_, 1, NULL}}},
    {"a:1|c|@1e-3", 0, INGEST_OK, 1, {{"a", 1, C_, 0.001, NULL}}},
    {"a:1|ms|@0.1", 0, INGEST_OK, 1, {{"a", 1, MS_, 0.1, NULL}}},
    {"a:1|c|@0", 0, INGEST_BAD_RATE, 0, {{0}}},
    {"a:1|c|@0.0", 0, INGEST_BAD_RATE, 0, {{0}}},
    {"a:1|c|@1.5", 0, INGEST_BAD_RATE, 0, {{0}}},
    {"a:1|c|@-0.5", 0, INGEST_BAD_RATE, 0, {{0}}},
    {"a:1|c|@abc", 0, INGEST_BAD_RATE, 0, {{0}}},
    {"a:1|c|@nan", 0, INGEST_BAD_RATE, 0, {{0}}},
    {"a:1|c|@", 0, INGEST_BAD_RATE, 0, {{0}}},
    {"a:1|c|@0.5|@0.5", 0, INGEST_BAD_RATE, 0, {{0}}},
    /* DogStatsD tags */
    {"a:1|c|#a:b,c:d", 0, INGEST_OK, 1, {{"a", 1, C_, 1, "a:b,c:d"}}},
    {"a:1|c|#env:prod", 0, INGEST_OK, 1, {{"a", 1, C_, 1, "env:prod"}}},
    {"a:1|c|#prod", 0, INGEST_OK, 1, {{"a", 1, C_, 1, "prod"}}},
    {"a:1|c|#url:http://x/y", 0, INGEST_OK, 1, {{"a", 1, C_, 1, "url:http://x/y"}}},
    {"a:1|c|#k:v|@0.25", 0, INGEST_OK, 1, {{"a", 1, C_, 0.25, "k:v"}}},
    {"a:1|c|#", 0, INGEST_BAD_TAGS, 0, {{0}}},
    {"a:1|c|#:v", 0, INGEST_BAD_TAGS, 0, {{0}}},
    {"a:1|c|#a:b,:v", 0, INGEST_BAD_TAGS, 0, {{0}}},
    {"a:1|c|#a:b,,c:d", 0, INGEST_BAD_TAGS, 0, {{0}}},
    {"a:1|c|#a:b,", 0, INGEST_BAD_TAGS, 0, {{0}}},
    {"a:1|c|#a:b|#c:d", 0, INGEST_BAD_TAGS, 0, {{0}}},
    {"a:1|c|#a:\tb", 0, INGEST_BAD_TAGS, 0, {{0}}},
    {"a:1|c|#a:b\x7f", 0, INGEST_BAD_TAGS, 0, {{0}}},
    /* DogStatsD container id and timestamp fields: accepted, ignored */
    {"a:1|c|c:83c0a99c0a54", 0, INGEST_OK, 1, {{"a", 1, C_, 1, NULL}}},
    {"a:1|c|T1656581400", 0, INGEST_OK, 1, {{"a", 1, C_, 1, NULL}}},
    {"a:1|c|#k:v|c:ctr|T1|@0.5", 0, INGEST_OK, 1, {{"a", 1, C_, 0.5, "k:v"}}},
    {"a:1|c|x", 0, INGEST_OK, 1, {{"a", 1, C_, 1, NULL}}}, /* an unknown field: skipped */
    {"a:1|c|", 0, INGEST_MALFORMED, 0, {{0}}},
    {"a:1|c||@0.5", 0, INGEST_MALFORMED, 0, {{0}}},
    /* sets */
    {"users:42|s", 0, INGEST_SET_UNSUPPORTED, 0, {{0}}},
    {"users:alice|s", 0, INGEST_SET_UNSUPPORTED, 0, {{0}}},
    {"users:42|s|#k:v", 0, INGEST_SET_UNSUPPORTED, 0, {{0}}},
    /* structure */
    {"a1|c", 0, INGEST_MALFORMED, 0, {{0}}},
    {"a:1", 0, INGEST_MALFORMED, 0, {{0}}},
    {"a:1c", 0, INGEST_MALFORMED, 0, {{0}}},
    {"a|c:1", 0, INGEST_MALFORMED, 0, {{0}}},
    {":1|c", 0, INGEST_MALFORMED, 0, {{0}}},
    {"garbage", 0, INGEST_MALFORMED, 0, {{0}}},
    {"", 0, INGEST_EMPTY, 0, {{0}}},
    {"\r", 0, INGEST_EMPTY, 0, {{0}}},
    /* types */
    {"a:1|", 0, INGEST_BAD_TYPE, 0, {{0}}},
    {"a:1|x", 0, INGEST_BAD_TYPE, 0, {{0}}},
    {"a:1|cc", 0, INGEST_BAD_TYPE, 0, {{0}}},
    {"a:1|m", 0, INGEST_BAD_TYPE, 0, {{0}}},
    {"a:1|MS", 0, INGEST_BAD_TYPE, 0, {{0}}},
    {"a:1|C", 0, INGEST_BAD_TYPE, 0, {{0}}},
    {"a:1|ms ", 0, INGEST_BAD_TYPE, 0, {{0}}},
    /* names */
    {"a b:1|c", 0, INGEST_BAD_NAME, 0, {{0}}},
    {" a:1|c", 0, INGEST_BAD_NAME, 0, {{0}}},
    {"a\tb:1|c", 0, INGEST_BAD_NAME, 0, {{0}}},
    {"a\x01:1|c", 0, INGEST_BAD_NAME, 0, {{0}}},
    {"a\x7f:1|c", 0, INGEST_BAD_NAME, 0, {{0}}},
    {"a\0b:1|c", 7, INGEST_BAD_NAME, 0, {{0}}},
    {"caf\xc3\xa9.hits:1|c", 0, INGEST_OK, 1, {{"caf\xc3\xa9.hits", 1, C_, 1, NULL}}},
    /* numbers */
    {"a:1e3|g", 0, INGEST_OK, 1, {{"a", 1000, G_, 1, NULL}}},
    {"a:1E3|g", 0, INGEST_OK, 1, {{"a", 1000, G_, 1, NULL}}},
    {"a:1e-3|g", 0, INGEST_OK, 1, {{"a", 0.001, G_, 1, NULL}}},
    {"a:2.5e+2|g", 0, INGEST_OK, 1, {{"a", 250, G_, 1, NULL}}},
    {"a:.5|g", 0, INGEST_OK, 1, {{"a", 0.5, G_, 1, NULL}}},
    {"a:5.|g", 0, INGEST_OK, 1, {{"a", 5, G_, 1, NULL}}},
    {"a:0.1|g", 0, INGEST_OK, 1, {{"a", 0.1, G_, 1, NULL}}},
    {"a:007|c", 0, INGEST_OK, 1, {{"a", 7, C_, 1, NULL}}},
    {"a:123456789012345678901234|g",
     0,
     INGEST_OK,
     1,
     {{"a", 123456789012345678901234.0, G_, 1, NULL}}},
    {"a:1.7976931348623157e308|g", 0, INGEST_OK, 1, {{"a", 1.7976931348623157e308, G_, 1, NULL}}},
    {"a:0x10|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:nan|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:NaN|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:inf|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:+Inf|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:1e400|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:-1e400|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:.|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:-|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:+|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:e3|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:1e|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:1.2.3|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:1,5|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a: 1|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:1 |g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:--1|g", 0, INGEST_BAD_VALUE, 0, {{0}}},
    {"a:1x|c", 0, INGEST_BAD_VALUE, 0, {{0}}},
    /* CRLF: one trailing '\r' belongs to the line ending */
    {"a:1|c\r", 0, INGEST_OK, 1, {{"a", 1, C_, 1, NULL}}},
    {"a:1|c|#k:v\r", 0, INGEST_OK, 1, {{"a", 1, C_, 1, "k:v"}}},
    {"a:1|c\r\r", 0, INGEST_BAD_TYPE, 0, {{0}}},
};

static int check_case(const struct parse_case *c, size_t idx)
{
    size_t len = c->len ? c->len : strlen(c->line);
    /* An exact-size copy, so a read past the end is an ASan error. */
    char *line = malloc(len ? len : 1);
    memcpy(line, c->line, len);
    struct recorder *rec = calloc(1, sizeof(*rec));
    enum ingest_reason r = statsd_parse_line(line, len, record, rec, NULL);
    int bad = 0;
    if (r != c->reason) {
        fprintf(stderr, "  case %zu \"%s\": reason %s, expected %s\n", idx, c->line,
                ingest_reason_name(r), ingest_reason_name(c->reason));
        bad = 1;
    } else if (rec->n != c->n_events) {
        fprintf(stderr, "  case %zu \"%s\": %zu events, expected %zu\n", idx, c->line, rec->n,
                c->n_events);
        bad = 1;
    }
    for (size_t i = 0; !bad && i < c->n_events; i++) {
        const struct want_event *w = &c->ev[i];
        const struct rec_event *e = &rec->ev[i];
        double rate = w->rate ? w->rate : 1;
        if (strcmp(e->name, w->name) != 0 || e->value != w->value || e->type != w->type ||
            e->rate != rate || e->has_tags != (w->tags != NULL) ||
            (w->tags && strcmp(e->tags, w->tags) != 0) || (e->tag_sep && e->tag_sep != ',')) {
            fprintf(stderr,
                    "  case %zu \"%s\" event %zu: got {%s, %.17g, type %d, @%.17g, tags %s}, "
                    "expected {%s, %.17g, type %d, @%.17g, tags %s}\n",
                    idx, c->line, i, e->name, e->value, (int)e->type, e->rate,
                    e->has_tags ? e->tags : "(none)", w->name, w->value, (int)w->type, rate,
                    w->tags ? w->tags : "(none)");
            bad = 1;
        }
    }
    free(rec);
    free(line);
    return bad;
}

TEST(table_of_lines)
{
    size_t failed = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        failed += (size_t)check_case(&cases[i], i);
    CHECK_INT(failed, 0);
}

TEST(reason_names_are_the_label_values)
{
    CHECK_STR(ingest_reason_name(INGEST_OK), "accepted");
    CHECK_STR(ingest_reason_name(INGEST_MALFORMED), "malformed");
    CHECK_STR(ingest_reason_name(INGEST_BAD_NAME), "bad_name");
    CHECK_STR(ingest_reason_name(INGEST_BAD_VALUE), "bad_value");
    CHECK_STR(ingest_reason_name(INGEST_BAD_TYPE), "bad_type");
    CHECK_STR(ingest_reason_name(INGEST_BAD_RATE), "bad_sample_rate");
    CHECK_STR(ingest_reason_name(INGEST_BAD_TAGS), "bad_tags");
    CHECK_STR(ingest_reason_name(INGEST_SET_UNSUPPORTED), "set_unsupported");
    CHECK_STR(ingest_reason_name(INGEST_TOO_LONG), "too_long");
    CHECK_STR(ingest_reason_name(INGEST_SERIES_LIMIT), "series_limit");
    CHECK_STR(ingest_reason_name(INGEST_CONFLICT), "conflict");
    CHECK_STR(ingest_reason_name(INGEST_REASON_MAX), "unknown");
    CHECK_STR(ingest_reason_name((enum ingest_reason) - 1), "unknown");
}

/* ---- limits built at run time ---- */

static enum ingest_reason parse_exact(const char *s, size_t len, struct recorder *rec)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    rec->n = 0;
    enum ingest_reason r = statsd_parse_line(copy, len, record, rec, NULL);
    free(copy);
    return r;
}

TEST(name_length_limit)
{
    struct recorder *rec = calloc(1, sizeof(*rec));
    char line[INGEST_MAX_NAME + 16];
    memset(line, 'n', INGEST_MAX_NAME);
    memcpy(line + INGEST_MAX_NAME, ":1|c", 4);
    enum ingest_reason r = parse_exact(line, INGEST_MAX_NAME + 4, rec);
    size_t n = rec->n, name_len = strlen(rec->ev[0].name);
    memset(line, 'n', INGEST_MAX_NAME + 1);
    memcpy(line + INGEST_MAX_NAME + 1, ":1|c", 4);
    enum ingest_reason r2 = parse_exact(line, INGEST_MAX_NAME + 5, rec);
    size_t n2 = rec->n;
    free(rec);
    CHECK_INT(r, INGEST_OK);
    CHECK_INT(n, 1);
    CHECK_INT(name_len, INGEST_MAX_NAME);
    CHECK_INT(r2, INGEST_BAD_NAME);
    CHECK_INT(n2, 0);
}

/* "a:1|c|#k:vvvv..." of exactly len bytes. */
static char *tagged_line(size_t len)
{
    char *s = malloc(len);
    memcpy(s, "a:1|c|#k:", 9);
    memset(s + 9, 'v', len - 9);
    return s;
}

TEST(line_length_limit)
{
    struct recorder *rec = calloc(1, sizeof(*rec));
    char *at = tagged_line(INGEST_MAX_LINE);
    char *over = tagged_line(INGEST_MAX_LINE + 1);
    char *cr = tagged_line(INGEST_MAX_LINE + 1);
    cr[INGEST_MAX_LINE] = '\r';
    enum ingest_reason r_at = parse_exact(at, INGEST_MAX_LINE, rec);
    size_t n_at = rec->n, tags_at = strlen(rec->ev[0].tags);
    enum ingest_reason r_over = parse_exact(over, INGEST_MAX_LINE + 1, rec);
    size_t n_over = rec->n;
    enum ingest_reason r_cr = parse_exact(cr, INGEST_MAX_LINE + 1, rec);
    free(at);
    free(over);
    free(cr);
    free(rec);
    CHECK_INT(r_at, INGEST_OK);
    CHECK_INT(n_at, 1);
    CHECK_INT(tags_at, INGEST_MAX_LINE - 7); /* "k:vvv..." */
    CHECK_INT(r_over, INGEST_TOO_LONG);
    CHECK_INT(n_over, 0);
    CHECK_INT(r_cr, INGEST_OK); /* the '\r' of a CRLF does not count */
}

/* "t:1:1:...:1|ms" with n values. */
static size_t values_line(char *out, size_t n)
{
    size_t o = 0;
    out[o++] = 't';
    for (size_t i = 0; i < n; i++) {
        out[o++] = ':';
        out[o++] = (char)('0' + (char)(i % 10));
    }
    memcpy(out + o, "|ms", 3);
    return o + 3;
}

TEST(values_per_line_limit)
{
    struct recorder *rec = calloc(1, sizeof(*rec));
    char line[4 * STATSD_MAX_VALUES + 16];
    size_t len = values_line(line, STATSD_MAX_VALUES);
    enum ingest_reason r = parse_exact(line, len, rec);
    size_t n = rec->n;
    double last = rec->ev[STATSD_MAX_VALUES - 1].value;
    len = values_line(line, STATSD_MAX_VALUES + 1);
    enum ingest_reason r2 = parse_exact(line, len, rec);
    size_t n2 = rec->n;
    free(rec);
    CHECK_INT(r, INGEST_OK);
    CHECK_INT(n, STATSD_MAX_VALUES);
    CHECK(last == (double)((STATSD_MAX_VALUES - 1) % 10));
    CHECK_INT(r2, INGEST_TOO_LONG);
    CHECK_INT(n2, 0);
}

struct borrow {
    const char *base;
    size_t len;
    int n, outside;
};

static void check_borrowed(void *userdata, const struct statsd_event *ev)
{
    struct borrow *b = userdata;
    b->n++;
    if (ev->name < b->base || ev->name + ev->name_len > b->base + b->len)
        b->outside++;
    if (ev->tags && (ev->tags < b->base || ev->tags + ev->tags_len > b->base + b->len))
        b->outside++;
}

TEST(events_point_into_the_input)
{
    static const char line[] = "svc.hits:1:2|c|#a:b";
    struct borrow b = {line, sizeof(line) - 1, 0, 0};
    CHECK_INT(statsd_parse_line(line, sizeof(line) - 1, check_borrowed, &b, NULL), INGEST_OK);
    CHECK_INT(b.n, 2);
    CHECK_INT(b.outside, 0);
}

TEST(parse_number_directly)
{
    double v = 42;
    CHECK_INT(statsd_parse_number("12", 2, &v), 0);
    CHECK(v == 12);
    CHECK_INT(statsd_parse_number("-0.125", 6, &v), 0);
    CHECK(v == -0.125);
    /* Only len bytes are read: "12" of "123". */
    CHECK_INT(statsd_parse_number("123", 2, &v), 0);
    CHECK(v == 12);
    /* 18 digits take the fast path, 19 and more the slow one; both exact here. */
    CHECK_INT(statsd_parse_number("123456789012345678", 18, &v), 0);
    CHECK(v == 123456789012345678.0);
    CHECK_INT(statsd_parse_number("1234567890123456789", 19, &v), 0);
    CHECK(v == 1234567890123456789.0);
    CHECK_INT(statsd_parse_number("0.000000000000000000001", 23, &v), 0);
    CHECK(v == 1e-21);
    v = 42;
    CHECK(statsd_parse_number("", 0, &v) < 0);
    CHECK(statsd_parse_number("1e400", 5, &v) < 0);
    CHECK(statsd_parse_number("0x1p3", 5, &v) < 0);
    CHECK(statsd_parse_number("infinity", 8, &v) < 0);
    /* Longer than the slow path's buffer. */
    char longnum[80];
    memset(longnum, '1', sizeof(longnum));
    CHECK(statsd_parse_number(longnum, sizeof(longnum), &v) < 0);
    CHECK(v == 42); /* untouched on failure */
}

/* ---- statsd_parse_buffer ---- */

struct counting {
    int events;
    double sum;
};

static void count_event(void *userdata, const struct statsd_event *ev)
{
    struct counting *c = userdata;
    c->events++;
    c->sum += ev->value;
}

TEST(buffer_counts_mixed_lines)
{
    static const char dgram[] = "a:1|c\n"
                                "\n"
                                "b:x|c\n"
                                "c:2:3|g\r\n"
                                "\r\n"
                                "\n"
                                " d:1|c\n"
                                "foo\n"
                                "s:1|s\n"
                                "e:4|ms|@0.5\n"
                                "f:1|c|@2\n"
                                "g:1|zz\n"
                                "h:1|c|#\n"
                                "last:10|c"; /* no final newline */
    uint64_t counts[INGEST_REASON_MAX] = {0};
    struct counting c = {0};
    statsd_parse_buffer(dgram, sizeof(dgram) - 1, count_event, &c, counts, NULL);
    CHECK_INT(counts[INGEST_OK], 4);
    CHECK_INT(counts[INGEST_BAD_VALUE], 1);
    CHECK_INT(counts[INGEST_BAD_NAME], 1);
    CHECK_INT(counts[INGEST_MALFORMED], 1);
    CHECK_INT(counts[INGEST_SET_UNSUPPORTED], 1);
    CHECK_INT(counts[INGEST_BAD_RATE], 1);
    CHECK_INT(counts[INGEST_BAD_TYPE], 1);
    CHECK_INT(counts[INGEST_BAD_TAGS], 1);
    CHECK_INT(counts[INGEST_EMPTY], 0); /* blank lines are not lines */
    CHECK_INT(counts[INGEST_TOO_LONG], 0);
    CHECK_INT(c.events, 5); /* a, c twice, e, last */
    CHECK(c.sum == 1 + 2 + 3 + 4 + 10);
}

TEST(buffer_empty_and_blank)
{
    uint64_t counts[INGEST_REASON_MAX] = {0};
    struct counting c = {0};
    statsd_parse_buffer("", 0, count_event, &c, counts, NULL);
    statsd_parse_buffer("\n\n\r\n", 4, count_event, &c, counts, NULL);
    uint64_t total = 0;
    for (int i = 0; i < INGEST_REASON_MAX; i++)
        total += counts[i];
    CHECK_INT(total, 0);
    CHECK_INT(c.events, 0);
}

TEST(buffer_cuts_an_overlong_line_and_goes_on)
{
    size_t long_len = INGEST_MAX_LINE + 100;
    size_t len = 6 + long_len + 1 + 5;
    char *buf = malloc(len);
    memcpy(buf, "a:1|c\n", 6);
    memset(buf + 6, 'x', long_len);
    memcpy(buf + 6, "big:1|c|#k:", 11);
    buf[6 + long_len] = '\n';
    memcpy(buf + 6 + long_len + 1, "b:2|g", 5);
    uint64_t counts[INGEST_REASON_MAX] = {0};
    struct counting c = {0};
    statsd_parse_buffer(buf, len, count_event, &c, counts, NULL);
    free(buf);
    CHECK_INT(counts[INGEST_OK], 2);
    CHECK_INT(counts[INGEST_TOO_LONG], 1);
    CHECK_INT(c.events, 2);
    CHECK(c.sum == 3);
}

/* ---- fuzz ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    /* xorshift64*: deterministic, so a failure reproduces. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

struct fuzz_check {
    const char *base;
    size_t len;
    size_t events;
    size_t violations;
};

static void fuzz_event(void *userdata, const struct statsd_event *ev)
{
    struct fuzz_check *f = userdata;
    f->events++;
    bool ok = ev->name >= f->base && ev->name_len >= 1 && ev->name_len <= INGEST_MAX_NAME &&
              ev->name + ev->name_len <= f->base + f->len && isfinite(ev->value) &&
              ev->sample_rate > 0 && ev->sample_rate <= 1 && ev->type != STATSD_SET &&
              ev->type >= STATSD_COUNTER && ev->type <= STATSD_DISTRIBUTION;
    for (size_t i = 0; ok && i < ev->name_len; i++)
        ok = (unsigned char)ev->name[i] > ' ' && ev->name[i] != 0x7f && ev->name[i] != ':' &&
             ev->name[i] != '|';
    if (ev->tags)
        ok = ok && ev->tags_len > 0 && ev->tags >= f->base &&
             ev->tags + ev->tags_len <= f->base + f->len;
    if ((ev->type == STATSD_COUNTER || ev->type == STATSD_TIMER) && ev->value < 0)
        ok = false;
    if (!ok)
        f->violations++;
}

static const char *const seeds[] = {
    "a:1|c",
    "svc.request.duration:12.5|ms|@0.5|#env:prod,region:eu",
    "g:+3:-2:7|g",
    "h:1:2:3|h|#a:b",
    "d:0.001|d|c:abc|T123",
    "x.y.z:1e3|c|@0.1",
    "s:1|s",
};
static const char alphabet[] = "abc.:|@#,+-eE0123456789 \r\t\x01\x7f\xff_msgchdT";

static size_t fuzz_line(char *out, size_t cap)
{
    size_t len;
    if (rng() % 4 == 0) {
        /* Random bytes, mostly from StatsD's own characters. */
        len = (size_t)(rng() % 64);
        for (size_t i = 0; i < len; i++)
            out[i] =
                rng() % 8 == 0 ? (char)(rng() & 0xff) : alphabet[rng() % (sizeof(alphabet) - 1)];
        return len;
    }
    const char *s = seeds[rng() % (sizeof(seeds) / sizeof(seeds[0]))];
    len = strlen(s);
    memcpy(out, s, len);
    int mutations = 1 + (int)(rng() % 4);
    for (int m = 0; m < mutations; m++) {
        size_t pos = len ? (size_t)(rng() % (len + 1)) : 0;
        switch (rng() % 5) {
        case 0: /* replace a byte */
            if (pos < len)
                out[pos] =
                    rng() % 2 ? (char)(rng() & 0xff) : alphabet[rng() % (sizeof(alphabet) - 1)];
            break;
        case 1: /* insert a byte */
            if (len + 1 < cap) {
                memmove(out + pos + 1, out + pos, len - pos);
                out[pos] = alphabet[rng() % (sizeof(alphabet) - 1)];
                len++;
            }
            break;
        case 2: /* delete a byte */
            if (pos < len) {
                memmove(out + pos, out + pos + 1, len - pos - 1);
                len--;
            }
            break;
        case 3: /* truncate */ len = pos; break;
        case 4: { /* duplicate a span */
            size_t span = len ? (size_t)(rng() % (len + 1)) : 0;
            if (len + span < cap && pos + span <= len) {
                memmove(out + pos + span, out + pos, len - pos);
                len += span;
            }
            break;
        }
        }
    }
    return len;
}

TEST(fuzz_lines_never_crash)
{
    enum { N = 100000, CAP = 1024 };
    char *line = malloc(CAP);
    size_t by_reason[INGEST_REASON_MAX] = {0};
    size_t violations = 0, rejected_with_events = 0, accepted_without_events = 0;
    for (int i = 0; i < N; i++) {
        size_t len = fuzz_line(line, CAP);
        /* An exact-size heap copy: ASan sees any read past the line. */
        char *exact = malloc(len ? len : 1);
        memcpy(exact, line, len);
        struct fuzz_check f = {exact, len, 0, 0};
        enum ingest_reason r = statsd_parse_line(exact, len, fuzz_event, &f, NULL);
        free(exact);
        if (r < 0 || r >= INGEST_REASON_MAX) {
            violations++;
            continue;
        }
        by_reason[r]++;
        violations += f.violations;
        if (r != INGEST_OK && f.events)
            rejected_with_events++;
        if (r == INGEST_OK && f.events == 0)
            accepted_without_events++;
    }
    free(line);
    fprintf(stderr, "  fuzz: %d lines:", N);
    for (int r = 0; r < INGEST_REASON_MAX; r++)
        if (by_reason[r])
            fprintf(stderr, " %s=%zu", ingest_reason_name((enum ingest_reason)r), by_reason[r]);
    fputc('\n', stderr);
    CHECK_INT(violations, 0);
    CHECK_INT(rejected_with_events, 0);
    CHECK_INT(accepted_without_events, 0);
    /* The mutations reach both sides: a fuzzer that only ever fails is not testing. */
    CHECK(by_reason[INGEST_OK] > 1000);
    CHECK(by_reason[INGEST_MALFORMED] > 1000);
    CHECK(by_reason[INGEST_BAD_VALUE] > 100);
    CHECK(by_reason[INGEST_BAD_TYPE] > 100);
}

TEST(fuzz_buffers_never_crash)
{
    enum { N = 2000, CAP = 8192 };
    char *buf = malloc(CAP);
    char line[1024];
    size_t violations = 0;
    for (int i = 0; i < N; i++) {
        size_t len = 0;
        while (len < CAP - 1100) {
            size_t l = fuzz_line(line, sizeof(line));
            memcpy(buf + len, line, l);
            len += l;
            if (rng() % 8)
                buf[len++] = '\n';
            if (rng() % 16 == 0)
                break;
        }
        char *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        uint64_t counts[INGEST_REASON_MAX] = {0};
        struct fuzz_check f = {exact, len, 0, 0};
        statsd_parse_buffer(exact, len, fuzz_event, &f, counts, NULL);
        free(exact);
        violations += f.violations;
        if (counts[INGEST_EMPTY])
            violations++;
    }
    free(buf);
    CHECK_INT(violations, 0);
}

TEST_MAIN(TEST_ENTRY(table_of_lines), TEST_ENTRY(reason_names_are_the_label_values),
          TEST_ENTRY(name_length_limit), TEST_ENTRY(line_length_limit),
          TEST_ENTRY(values_per_line_limit), TEST_ENTRY(events_point_into_the_input),
          TEST_ENTRY(parse_number_directly), TEST_ENTRY(buffer_counts_mixed_lines),
          TEST_ENTRY(buffer_empty_and_blank), TEST_ENTRY(buffer_cuts_an_overlong_line_and_goes_on),
          TEST_ENTRY(fuzz_lines_never_crash), TEST_ENTRY(fuzz_buffers_never_crash))
