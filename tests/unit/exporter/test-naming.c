/* test-naming: the one naming rule (exporter/naming.c). The statsd_exporter mode against
 * the names statsd_exporter documents (tests/fixtures/naming/statsd_exporter.tsv, with
 * its sources); the prometheus mode against docs/INGEST.md's naming table; and, over
 * random names, that every name the prometheus mode makes is valid and free of the
 * findings promtool's lint reports (metric_name_lint mirrors it). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mset.h"
#include "naming.h"
#include "test.h"

/* "\xNN" escapes in the fixture -> bytes. */
static size_t unescape(const char *in, char *out, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 1 < max; i++) {
        unsigned v;
        if (in[i] == '\\' && in[i + 1] == 'x' && sscanf(in + i + 2, "%2x", &v) == 1) {
            out[o++] = (char)v;
            i += 3;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
    return o;
}

TEST(statsd_exporter_names_as_documented)
{
    FILE *f = fopen(test_fixture("naming/statsd_exporter.tsv"), "r");
    CHECK(f != NULL);
    char line[512];
    int rows = 0, wrong = 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *kind = line, *in = strchr(kind, '\t'), *want = in ? strchr(in + 1, '\t') : NULL;
        char *src = want ? strchr(want + 1, '\t') : NULL;
        if (!in || !want || !src) {
            fprintf(stderr, "  malformed fixture row\n");
            wrong++;
            continue;
        }
        *in++ = '\0';
        *want++ = '\0';
        *src = '\0';
        char name[256], out[INGEST_MAX_NAME + 1], unit[NAMING_UNIT_MAX + 1];
        size_t n = unescape(in, name, sizeof(name));
        int r = strcmp(kind, "label") == 0
                    ? naming_label(NAMING_STATSD_EXPORTER, name, n, out)
                    : naming_metric(NAMING_STATSD_EXPORTER, name, n, STATSD_GAUGE,
                                    INGEST_KIND_GAUGE, out, unit);
        if (r < 0 || strcmp(out, want) != 0) {
            fprintf(stderr, "  %s %s: got '%s' (%d), statsd_exporter gives '%s'\n", kind, in, out,
                    r, want);
            wrong++;
        }
        rows++;
    }
    fclose(f);
    CHECK_INT(wrong, 0);
    CHECK(rows >= 40);
}

TEST(statsd_exporter_adds_no_suffix)
{
    char out[INGEST_MAX_NAME + 1], unit[NAMING_UNIT_MAX + 1];
    CHECK_INT(naming_metric(NAMING_STATSD_EXPORTER, "a.b", 3, STATSD_COUNTER, INGEST_KIND_COUNTER,
                            out, unit),
              0);
    CHECK_STR(out, "a_b");
    CHECK_INT(naming_metric(NAMING_STATSD_EXPORTER, "lat", 3, STATSD_TIMER, INGEST_KIND_HISTOGRAM,
                            out, unit),
              0);
    CHECK_STR(out, "lat");
    CHECK_STR(unit, "");
}

static const struct {
    const char *in;
    enum statsd_type type;
    const char *name, *unit;
} prometheus_table[] = {
    /* docs/INGEST.md, "The naming rules", one line per rule */
    {"my-app.req", STATSD_GAUGE, "my_app_req", ""},
    {"myService.HTTPErrors", STATSD_COUNTER, "my_service_http_errors_total", ""},
    {"HTTP.requests", STATSD_COUNTER, "http_requests_total", ""},
    {"HTTPs.IDs", STATSD_GAUGE, "https_ids", ""},
    {"getHTTPResponseCode", STATSD_COUNTER, "get_http_response_code_total", ""},
    {"p95Latency.v2API", STATSD_GAUGE, "p95_latency_v2_api", ""},
    {"9lives.x", STATSD_GAUGE, "_9lives_x", ""},
    {"api.response.ms", STATSD_TIMER, "api_response_seconds", ""},
    {"req.time_milliseconds", STATSD_TIMER, "req_time_seconds", ""},
    {"db.query_seconds", STATSD_TIMER, "db_query_seconds", ""},
    {"uptime.s", STATSD_GAUGE, "uptime_seconds", ""},
    {"payload.b", STATSD_GAUGE, "payload_bytes", ""},
    {"disk.used.mb", STATSD_GAUGE, "disk_used", "mb"},
    {"gc.pause.ms", STATSD_GAUGE, "gc_pause", "ms"},
    {"render.time.ms", STATSD_HISTOGRAM, "render_time", "ms"},
    {"job.minutes", STATSD_COUNTER, "job_total", "minutes"},
    {"cache.gauge.size", STATSD_GAUGE, "cache_size", ""},
    {"jobs.counter", STATSD_COUNTER, "jobs_total", ""},
    {"a.b.request", STATSD_COUNTER, "ab_request_total", ""},
    {"queue.count", STATSD_GAUGE, "queue_count_value", ""},
    {"items.total", STATSD_GAUGE, "items_total_value", ""},
    {"items.total", STATSD_COUNTER, "items_total", ""},
    {"shop.orders.created", STATSD_GAUGE, "shop_orders_created", ""},
    {"milliseconds", STATSD_GAUGE, "value", "milliseconds"},
    {"bits.mb", STATSD_COUNTER, "bitsmb_total", ""},
};

TEST(prometheus_names_as_documented)
{
    int wrong = 0;
    for (size_t i = 0; i < sizeof(prometheus_table) / sizeof(prometheus_table[0]); i++) {
        enum statsd_type t = prometheus_table[i].type;
        enum ingest_kind k = t == STATSD_COUNTER ? INGEST_KIND_COUNTER
                             : t == STATSD_GAUGE ? INGEST_KIND_GAUGE
                                                 : INGEST_KIND_HISTOGRAM;
        char out[INGEST_MAX_NAME + 1], unit[NAMING_UNIT_MAX + 1];
        const char *in = prometheus_table[i].in;
        int r = naming_metric(NAMING_PROMETHEUS, in, strlen(in), t, k, out, unit);
        if (r < 0 || strcmp(out, prometheus_table[i].name) ||
            strcmp(unit, prometheus_table[i].unit)) {
            fprintf(stderr, "  %s: got '%s' unit '%s' (%d), expected '%s' unit '%s'\n", in, out,
                    unit, r, prometheus_table[i].name, prometheus_table[i].unit);
            wrong++;
        }
    }
    CHECK_INT(wrong, 0);
}

TEST(prometheus_labels)
{
    char out[NAMING_LABEL_MAX + 1];
    CHECK_INT(naming_label(NAMING_PROMETHEUS, "OS", 2, out), 0);
    CHECK_STR(out, "os");
    CHECK_INT(naming_label(NAMING_PROMETHEUS, "clientID", 8, out), 0);
    CHECK_STR(out, "client_id");
    CHECK_INT(naming_label(NAMING_PROMETHEUS, "dd.internal.entity_id", 21, out), 0);
    CHECK_STR(out, "dd_internal_entity_id");
    CHECK_INT(naming_label(NAMING_PROMETHEUS, "9lives", 6, out), 0);
    CHECK_STR(out, "_9lives");
    CHECK_INT(naming_label(NAMING_PROMETHEUS, "--", 2, out), -INGEST_BAD_TAGS);
    char longkey[80];
    memset(longkey, 'k', sizeof(longkey));
    CHECK_INT(naming_label(NAMING_PROMETHEUS, longkey, sizeof(longkey), out), -INGEST_BAD_TAGS);
    CHECK_INT(naming_label(NAMING_STATSD_EXPORTER, "__x", 3, out), 0);
    CHECK_STR(out, "x_x"); /* Prometheus reserves "__" */
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return rnd_state;
}

TEST(prometheus_names_are_lint_clean)
{
    /* Words people use (units, types, reserved suffixes, acronyms) mixed with random
     * ones: whatever the name, the result is valid and promtool would not flag it. */
    static const char *const pieces[] = {
        "s",         "ms",
        "us",        "ns",
        "sec",       "b",
        "kb",        "mb",
        "gb",        "tb",
        "pb",        "m",
        "h",         "d",
        "total",     "count",
        "sum",       "bucket",
        "gauge",     "counter",
        "histogram", "summary",
        "seconds",   "bytes",
        "minutes",   "milliseconds",
        "megabytes", "bits",
        "HTTP",      "clientID",
        "Errors",    "x",
        "req",       "9",
        "k",         "-",
        "_",         "é",
        "kilobytes", "created",
    };
    static const enum statsd_type types[] = {STATSD_COUNTER, STATSD_GAUGE, STATSD_TIMER,
                                             STATSD_HISTOGRAM};
    int flagged = 0, refused = 0;
    for (int i = 0; i < 20000; i++) {
        char name[160];
        size_t o = 0;
        int parts = 1 + (int)(rnd() % 6);
        for (int p = 0; p < parts; p++) {
            const char *w = pieces[rnd() % (sizeof(pieces) / sizeof(pieces[0]))];
            char tmp[16];
            if (rnd() % 4 == 0) {
                int l = 1 + (int)(rnd() % 5);
                for (int c = 0; c < l; c++)
                    tmp[c] = "abcdhmsxyzABZ0129"[rnd() % 17];
                tmp[l] = '\0';
                w = tmp;
            }
            o += (size_t)snprintf(name + o, sizeof(name) - o, "%s%s", p ? "." : "", w);
        }
        enum statsd_type t = types[rnd() % 4];
        enum ingest_kind k = t == STATSD_COUNTER ? INGEST_KIND_COUNTER
                             : t == STATSD_GAUGE ? INGEST_KIND_GAUGE
                                                 : INGEST_KIND_HISTOGRAM;
        enum metric_type mt = k == INGEST_KIND_COUNTER ? METRIC_COUNTER
                              : k == INGEST_KIND_GAUGE ? METRIC_GAUGE
                                                       : METRIC_HISTOGRAM;
        char out[INGEST_MAX_NAME + 1], unit[NAMING_UNIT_MAX + 1];
        int r = naming_metric(NAMING_PROMETHEUS, name, o, t, k, out, unit);
        if (r < 0) {
            refused++; /* only names without a letter or digit */
            bool any = false;
            for (size_t c = 0; c < o; c++)
                any |= (name[c] >= 'a' && name[c] <= 'z') || (name[c] >= 'A' && name[c] <= 'Z') ||
                       (name[c] >= '0' && name[c] <= '9');
            if (any) {
                fprintf(stderr, "  %s: refused\n", name);
                flagged++;
            }
            continue;
        }
        const char *lint = metric_name_lint(out, mt);
        if (lint) {
            if (flagged < 10)
                fprintf(stderr, "  %s -> %s: %s\n", name, out, lint);
            flagged++;
        }
        if (!metric_name_valid(out)) {
            fprintf(stderr, "  %s -> '%s' is not valid\n", name, out);
            flagged++;
        }
    }
    CHECK_INT(flagged, 0);
    CHECK(refused < 20000);
}

TEST(mode_names)
{
    enum naming_mode m = NAMING_PROMETHEUS;
    CHECK_INT(naming_mode_parse("statsd_exporter", &m), 0);
    CHECK_INT(m, NAMING_STATSD_EXPORTER);
    CHECK_STR(naming_mode_name(m), "statsd_exporter");
    CHECK(naming_mode_parse("Prometheus", &m) < 0);
    CHECK_INT(m, NAMING_STATSD_EXPORTER); /* untouched on failure */
}

TEST_MAIN(TEST_ENTRY(statsd_exporter_names_as_documented),
          TEST_ENTRY(statsd_exporter_adds_no_suffix), TEST_ENTRY(prometheus_names_as_documented),
          TEST_ENTRY(prometheus_labels), TEST_ENTRY(prometheus_names_are_lint_clean),
          TEST_ENTRY(mode_names))
