/* test-expo: common/expo.c: exact text 0.0.4 and OpenMetrics 1.0.0 output (escaping,
 * sorting and merging, type conflicts, value formatting, suffixes, # EOF), Accept and
 * Accept-Encoding negotiation as real clients send them, and a gzip round trip through
 * zlib's inflate. The rules of the metric set itself are test-mset.c's. */
#include <errno.h>
#include <stdint.h>
#include <zlib.h>

#include "expo.h"
#include "test.h"

/* Renders sets[0..n) into a new string (caller frees); NULL on error. */
static char *render_n(enum expo_format fmt, struct mset *const *sets, size_t n,
                      size_t *ret_conflicts)
{
    struct buf out;
    buf_init(&out, 0);
    if (expo_render(&out, fmt, sets, n, ret_conflicts) < 0) {
        buf_free(&out);
        return NULL;
    }
    char *s = buf_steal(&out, NULL);
    return s ? s : strdup("");
}

static char *render1(enum expo_format fmt, struct mset *set)
{
    return render_n(fmt, &set, 1, NULL);
}

/* Inflates a gzip stream into out. 0 or -EIO. */
static int gunzip(const void *in, size_t len, struct buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return -EIO;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    int zr = Z_OK;
    while (zr == Z_OK) {
        char chunk[4096];
        z.next_out = (Bytef *)chunk;
        z.avail_out = sizeof(chunk);
        zr = inflate(&z, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_STREAM_END)
            break;
        if (buf_append(out, chunk, sizeof(chunk) - z.avail_out) < 0) {
            zr = Z_MEM_ERROR;
            break;
        }
    }
    inflateEnd(&z);
    return zr == Z_STREAM_END ? 0 : -EIO;
}

/* --- text format --------------------------------------------------------------- */

TEST(text_sorted_and_merged_across_sets)
{
    struct mset *a = mset_new(), *b = mset_new();
    CHECK(a && b);
    CHECK_INT(mset_family(a, "zeta", METRIC_GAUGE, "Z."), 0);
    CHECK_INT(mset_addl(a, 1, NULL), 0);
    CHECK_INT(mset_family(a, "alpha", METRIC_GAUGE, "First help."), 0);
    CHECK_INT(mset_addl(a, 1, "a", "1", NULL), 0);
    CHECK_INT(mset_family(b, "alpha", METRIC_GAUGE, "Second help."), 0);
    CHECK_INT(mset_addl(b, 2, "a", "2", NULL), 0);
    CHECK_INT(mset_family(b, "mid_total", METRIC_COUNTER, "M."), 0);
    CHECK_INT(mset_addl(b, 3, NULL), 0);
    CHECK_INT(mset_family(b, "empty", METRIC_GAUGE, "Never filled."), 0);
    struct mset *sets[] = {a, NULL, b};
    size_t conflicts = 99;
    char *text = render_n(EXPO_TEXT, sets, 3, &conflicts);
    CHECK(text);
    CHECK_STR(text, "# HELP alpha First help.\n"
                    "# TYPE alpha gauge\n"
                    "alpha{a=\"1\"} 1\n"
                    "alpha{a=\"2\"} 2\n"
                    "# HELP mid_total M.\n"
                    "# TYPE mid_total counter\n"
                    "mid_total 3\n"
                    "# HELP zeta Z.\n"
                    "# TYPE zeta gauge\n"
                    "zeta 1\n");
    CHECK_INT(conflicts, 0);
    free(text);
    text = render_n(EXPO_OPENMETRICS, sets, 3, NULL);
    CHECK(text);
    CHECK_STR(text, "# HELP alpha First help.\n"
                    "# TYPE alpha gauge\n"
                    "alpha{a=\"1\"} 1\n"
                    "alpha{a=\"2\"} 2\n"
                    "# HELP mid M.\n"
                    "# TYPE mid counter\n"
                    "mid_total 3\n"
                    "# HELP zeta Z.\n"
                    "# TYPE zeta gauge\n"
                    "zeta 1\n"
                    "# EOF\n");
    free(text);
    mset_free(a);
    mset_free(b);
}

TEST(help_escaping)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "m", METRIC_GAUGE, "Back\\slash and\nnewline \"quoted\""), 0);
    CHECK_INT(mset_addl(s, 1, NULL), 0);
    char *text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK_STR(text, "# HELP m Back\\\\slash and\\nnewline \"quoted\"\n# TYPE m gauge\nm 1\n");
    free(text);
    text = render1(EXPO_OPENMETRICS, s);
    CHECK(text);
    CHECK_STR(text, "# HELP m Back\\\\slash and\\nnewline \\\"quoted\\\"\n# TYPE m gauge\nm 1\n"
                    "# EOF\n");
    free(text);
    mset_free(s);
}

TEST(empty_help_has_no_help_line)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "m", METRIC_GAUGE, ""), 0);
    CHECK_INT(mset_addl(s, 1, NULL), 0);
    CHECK_INT(mset_family(s, "n", METRIC_GAUGE, NULL), 0);
    CHECK_INT(mset_addl(s, 2, NULL), 0);
    char *text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK_STR(text, "# TYPE m gauge\nm 1\n# TYPE n gauge\nn 2\n");
    free(text);
    mset_free(s);
}

TEST(label_value_escaping)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "m", METRIC_GAUGE, ""), 0);
    CHECK_INT(mset_addl(s, 1, "path", "C:\\dir \"x\"\nend", "plain", "ok", NULL), 0);
    CHECK_INT(mset_addl(s, 2, "utf8", "caf\xc3\xa9 \xe2\x9c\x93", "empty", "", NULL), 0);
    char *text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK_STR(text, "# TYPE m gauge\n"
                    "m{path=\"C:\\\\dir \\\"x\\\"\\nend\",plain=\"ok\"} 1\n"
                    "m{utf8=\"caf\xc3\xa9 \xe2\x9c\x93\",empty=\"\"} 2\n");
    free(text);
    text = render1(EXPO_OPENMETRICS, s);
    CHECK(text);
    CHECK_CONTAINS(text, "m{path=\"C:\\\\dir \\\"x\\\"\\nend\",plain=\"ok\"} 1\n");
    free(text);
    mset_free(s);
}

TEST(type_conflicts_skipped_and_counted)
{
    struct mset *a = mset_new(), *b = mset_new(), *c = mset_new();
    CHECK(a && b && c);
    CHECK_INT(mset_family(a, "dup", METRIC_GAUGE, "Gauge help."), 0);
    CHECK_INT(mset_addl(a, 1, "from", "a", NULL), 0);
    CHECK_INT(mset_family(b, "dup", METRIC_UNTYPED, "Untyped help."), 0);
    CHECK_INT(mset_addl(b, 2, "from", "b", NULL), 0);
    CHECK_INT(mset_family(c, "dup", METRIC_GAUGE, "Other."), 0);
    CHECK_INT(mset_addl(c, 3, "from", "c", NULL), 0);
    struct mset *sets[] = {a, b, c};
    size_t conflicts = 0;
    char *text = render_n(EXPO_TEXT, sets, 3, &conflicts);
    CHECK(text);
    CHECK_STR(text, "# HELP dup Gauge help.\n"
                    "# TYPE dup gauge\n"
                    "dup{from=\"a\"} 1\n"
                    "dup{from=\"c\"} 3\n");
    CHECK_INT(conflicts, 1);
    free(text);
    text = render_n(EXPO_TEXT, sets, 3, NULL); /* ret_conflicts may be NULL */
    CHECK(text);
    free(text);
    mset_free(a);
    mset_free(b);
    mset_free(c);
}

/* Regression (fixed; common/expo.c:263, expo_render): with no families at all (n == 0, or only
 * NULL/empty sets) refs is NULL and qsort(NULL, 0, ...) is undefined behaviour
 * (qsort's pointer is declared nonnull); UBSan aborts the render below. Fix: call
 * qsort only when total > 1. */
TEST(empty_families_omitted)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "nothing", METRIC_GAUGE, "Empty."), 0);
    CHECK_INT(mset_family(s, "nothing_total", METRIC_COUNTER, "Empty."), 0);
    char *text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK_STR(text, "");
    free(text);
    text = render1(EXPO_OPENMETRICS, s);
    CHECK(text);
    CHECK_STR(text, "# EOF\n");
    free(text);
    text = render_n(EXPO_OPENMETRICS, NULL, 0, NULL);
    CHECK(text);
    CHECK_STR(text, "# EOF\n");
    free(text);
    mset_free(s);
}

TEST(value_formatting)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "v", METRIC_GAUGE, ""), 0);
    static const struct {
        const char *k;
        double v;
    } cases[] = {
        {"int", 42},        {"neg", -7},        {"zero", 0},
        {"tenth", 0.1},     {"small", 1e-05},   {"half", -0.5},
        {"sum", 0.1 + 0.2}, {"third", 1.0 / 3}, {"big", 123456789012.0},
        {"e14", 1e14},      {"e15", 1e15},      {"huge", 1e300},
        {"tiny", 2.5e-300}, {"frac", 123.456},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK_INT(mset_addl(s, cases[i].v, "k", cases[i].k, NULL), 0);
    CHECK_INT(mset_addl(s, NAN, "k", "nan", NULL), 0);
    CHECK_INT(mset_addl(s, INFINITY, "k", "pinf", NULL), 0);
    CHECK_INT(mset_addl(s, -INFINITY, "k", "ninf", NULL), 0);
    char *text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK_STR(text, "# TYPE v gauge\n"
                    "v{k=\"int\"} 42\n"
                    "v{k=\"neg\"} -7\n"
                    "v{k=\"zero\"} 0\n"
                    "v{k=\"tenth\"} 0.1\n"
                    "v{k=\"small\"} 1e-05\n"
                    "v{k=\"half\"} -0.5\n"
                    "v{k=\"sum\"} 0.30000000000000004\n"
                    "v{k=\"third\"} 0.3333333333333333\n"
                    "v{k=\"big\"} 123456789012\n"
                    "v{k=\"e14\"} 100000000000000\n"
                    "v{k=\"e15\"} 1e+15\n"
                    "v{k=\"huge\"} 1e+300\n"
                    "v{k=\"tiny\"} 2.5e-300\n"
                    "v{k=\"frac\"} 123.456\n"
                    "v{k=\"nan\"} NaN\n"
                    "v{k=\"pinf\"} +Inf\n"
                    "v{k=\"ninf\"} -Inf\n");
    free(text);
    mset_free(s);
}

TEST(format_value_reads_back_exactly)
{
    static const double vals[] = {0.1,    1.0 / 3,       2.0 / 3,
                                  1e-300, 123456.789,    9007199254740993.0,
                                  -1e-7,  6.02214076e23, 0.30000000000000004};
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char out[40];
        int n = metric_format_value(out, sizeof(out), vals[i]);
        CHECK(n > 0 && (size_t)n < sizeof(out));
        CHECK(strtod(out, NULL) == vals[i]);
        CHECK(strchr(out, ' ') == NULL);
    }
}

/* --- OpenMetrics ----------------------------------------------------------------- */

TEST(openmetrics_counter_info_untyped_histogram)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "http_requests_total", METRIC_COUNTER, "Requests."), 0);
    CHECK_INT(mset_addl(s, 5, "code", "200", NULL), 0);
    CHECK_INT(mset_family(s, "build_info", METRIC_INFO, "Build."), 0);
    CHECK_INT(mset_addl(s, 1, "version", "1.0", NULL), 0);
    CHECK_INT(mset_family(s, "mystery", METRIC_UNTYPED, ""), 0);
    CHECK_INT(mset_addl(s, 3, NULL), 0);
    CHECK_INT(mset_family(s, "lat_seconds", METRIC_HISTOGRAM, "Latency."), 0);
    static const double bounds[] = {0.5, 1};
    static const uint64_t counts[] = {1, 0, 2};
    CHECK_INT(mset_histogram(s, NULL, bounds, counts, 2, 4.25), 0);
    char *text = render1(EXPO_OPENMETRICS, s);
    CHECK(text);
    CHECK_STR(text, "# HELP build Build.\n"
                    "# TYPE build info\n"
                    "build_info{version=\"1.0\"} 1\n"
                    "# HELP http_requests Requests.\n"
                    "# TYPE http_requests counter\n"
                    "http_requests_total{code=\"200\"} 5\n"
                    "# HELP lat_seconds Latency.\n"
                    "# TYPE lat_seconds histogram\n"
                    "lat_seconds_bucket{le=\"0.5\"} 1\n"
                    "lat_seconds_bucket{le=\"1\"} 1\n"
                    "lat_seconds_bucket{le=\"+Inf\"} 3\n"
                    "lat_seconds_sum 4.25\n"
                    "lat_seconds_count 3\n"
                    "# TYPE mystery unknown\n"
                    "mystery 3\n"
                    "# EOF\n");
    free(text);
    text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK_STR(text, "# HELP build_info Build.\n"
                    "# TYPE build_info gauge\n"
                    "build_info{version=\"1.0\"} 1\n"
                    "# HELP http_requests_total Requests.\n"
                    "# TYPE http_requests_total counter\n"
                    "http_requests_total{code=\"200\"} 5\n"
                    "# HELP lat_seconds Latency.\n"
                    "# TYPE lat_seconds histogram\n"
                    "lat_seconds_bucket{le=\"0.5\"} 1\n"
                    "lat_seconds_bucket{le=\"1\"} 1\n"
                    "lat_seconds_bucket{le=\"+Inf\"} 3\n"
                    "lat_seconds_sum 4.25\n"
                    "lat_seconds_count 3\n"
                    "# TYPE mystery untyped\n"
                    "mystery 3\n");
    free(text);
    mset_free(s);
}

TEST(openmetrics_ends_with_eof_exactly_once)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "a", METRIC_GAUGE, ""), 0);
    CHECK_INT(mset_addl(s, 1, NULL), 0);
    char *text = render1(EXPO_OPENMETRICS, s);
    CHECK(text);
    size_t n = strlen(text);
    CHECK(n >= 6 && strcmp(text + n - 6, "# EOF\n") == 0);
    CHECK(strstr(text, "# EOF") == text + n - 6);
    free(text);
    text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK(strstr(text, "# EOF") == NULL);
    free(text);
    mset_free(s);
}

/* A long (valid) name is rendered whole in the metadata and the samples alike. */
TEST(long_family_name_not_truncated)
{
    char name[301];
    memset(name, 'n', 300);
    name[300] = '\0';
    struct mset *s = mset_new();
    CHECK(s);
    int r = mset_family(s, name, METRIC_GAUGE, "Long.");
    if (r == -EINVAL) { /* refusing such names is a valid fix */
        mset_free(s);
        return;
    }
    CHECK_INT(r, 0);
    CHECK_INT(mset_addl(s, 1, NULL), 0);
    char *text = render1(EXPO_TEXT, s);
    CHECK(text);
    char want[700];
    snprintf(want, sizeof(want), "# TYPE %s gauge\n%s 1\n", name, name);
    CHECK_CONTAINS(text, want);
    free(text);
    mset_free(s);
}

TEST(render_respects_buffer_max)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "some_metric", METRIC_GAUGE, "Help text."), 0);
    CHECK_INT(mset_addl(s, 1, NULL), 0);
    struct buf out;
    buf_init(&out, 16);
    CHECK_INT(expo_render(&out, EXPO_TEXT, &s, 1, NULL), -E2BIG);
    buf_free(&out);
    mset_free(s);
}

/* --- negotiation ----------------------------------------------------------------- */

TEST(negotiate_prometheus_and_curl)
{
    /* Prometheus 2.42's scrape Accept header. */
    CHECK_INT(expo_negotiate("application/openmetrics-text;version=1.0.0,"
                             "application/openmetrics-text;version=0.0.1;q=0.75,"
                             "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"),
              EXPO_OPENMETRICS);
    /* Prometheus with OpenMetrics off. */
    CHECK_INT(expo_negotiate("text/plain;version=0.0.4;q=1,*/*;q=0.1"), EXPO_TEXT);
    CHECK_INT(expo_negotiate("*/*"), EXPO_TEXT);
    CHECK_INT(expo_negotiate(NULL), EXPO_TEXT);
    CHECK_INT(expo_negotiate(""), EXPO_TEXT);
    CHECK_INT(expo_negotiate("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
              EXPO_TEXT);
}

TEST(negotiate_versions)
{
    CHECK_INT(expo_negotiate("application/openmetrics-text;version=2.0.0"), EXPO_TEXT);
    CHECK_INT(expo_negotiate("application/openmetrics-text;version=0.0.1"), EXPO_TEXT);
    CHECK_INT(expo_negotiate("application/openmetrics-text"), EXPO_OPENMETRICS);
    CHECK_INT(expo_negotiate("application/openmetrics-text; version=1.0.0; charset=utf-8"),
              EXPO_OPENMETRICS);
    CHECK_INT(expo_negotiate("Application/OpenMetrics-Text;Version=1.0.0"), EXPO_OPENMETRICS);
}

TEST(negotiate_quality)
{
    CHECK_INT(expo_negotiate("application/openmetrics-text;q=0"), EXPO_TEXT);
    CHECK_INT(expo_negotiate("application/openmetrics-text;version=1.0.0;q=0,text/plain"),
              EXPO_TEXT);
    CHECK_INT(expo_negotiate("application/openmetrics-text;q=0,*/*"), EXPO_TEXT);
    CHECK_INT(expo_negotiate("text/plain;q=0,application/openmetrics-text;q=0.2"),
              EXPO_OPENMETRICS);
    CHECK_INT(expo_negotiate("application/openmetrics-text;q=0.4,text/plain;q=0.5"), EXPO_TEXT);
    CHECK_INT(expo_negotiate("text/plain;q=0.5,application/openmetrics-text;q=0.5"),
              EXPO_OPENMETRICS);
    CHECK_INT(expo_negotiate("application/openmetrics-text;q=0.5,*/*;q=0.1"), EXPO_OPENMETRICS);
    CHECK_INT(expo_negotiate("application/openmetrics-text;q=junk"), EXPO_TEXT);
    CHECK_INT(expo_negotiate("application/openmetrics-text;q=2"), EXPO_TEXT);
}

TEST(content_types)
{
    CHECK_STR(expo_content_type(EXPO_TEXT), "text/plain; version=0.0.4; charset=utf-8");
    CHECK_STR(expo_content_type(EXPO_OPENMETRICS),
              "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

TEST(accepts_gzip)
{
    CHECK(expo_accepts_gzip("gzip"));
    CHECK(!expo_accepts_gzip("gzip;q=0"));
    CHECK(!expo_accepts_gzip("gzip;q=0.000"));
    CHECK(expo_accepts_gzip("deflate, gzip;q=0.5"));
    CHECK(expo_accepts_gzip("*"));
    CHECK(!expo_accepts_gzip("*;q=0"));
    CHECK(expo_accepts_gzip("gzip, deflate, br"));
    CHECK(expo_accepts_gzip("GZIP"));
    CHECK(expo_accepts_gzip(" gzip ; q=1.0"));
    CHECK(!expo_accepts_gzip("deflate"));
    CHECK(!expo_accepts_gzip("identity"));
    CHECK(!expo_accepts_gzip("x-gzip"));
    CHECK(!expo_accepts_gzip("gzipx"));
    CHECK(!expo_accepts_gzip(""));
    CHECK(!expo_accepts_gzip(NULL));
}

/* --- gzip -------------------------------------------------------------------------- */

TEST(gzip_round_trip)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "node_cpu_seconds_total", METRIC_COUNTER, "CPU time."), 0);
    for (int cpu = 0; cpu < 256; cpu++)
        for (int mode = 0; mode < 8; mode++) {
            char c[16], m[16];
            snprintf(c, sizeof(c), "%d", cpu);
            snprintf(m, sizeof(m), "mode%d", mode);
            CHECK_INT(mset_addl(s, cpu * 1000.25 + mode, "cpu", c, "mode", m, NULL), 0);
        }
    struct buf text, gz, back;
    buf_init(&text, 0);
    buf_init(&gz, 0);
    buf_init(&back, 0);
    CHECK_INT(expo_render(&text, EXPO_TEXT, &s, 1, NULL), 0);
    CHECK(text.len > 50000);
    CHECK_INT(buf_puts(&gz, "old content"), 0);
    CHECK_INT(expo_gzip(&gz, text.data, text.len, 1), 0);
    CHECK(gz.len > 18 && gz.len < text.len);
    CHECK((unsigned char)gz.data[0] == 0x1f && (unsigned char)gz.data[1] == 0x8b);
    CHECK_INT(gunzip(gz.data, gz.len, &back), 0);
    CHECK_INT(back.len, text.len);
    CHECK(memcmp(back.data, text.data, text.len) == 0);
    buf_free(&text);
    buf_free(&gz);
    buf_free(&back);
    mset_free(s);
}

TEST(gzip_empty_and_levels)
{
    struct buf gz, back;
    buf_init(&gz, 0);
    buf_init(&back, 0);
    CHECK_INT(expo_gzip(&gz, "", 0, 6), 0);
    CHECK(gz.len >= 18);
    CHECK_INT(gunzip(gz.data, gz.len, &back), 0);
    CHECK_INT(back.len, 0);
    const char *msg = "hello hello hello hello hello\n";
    CHECK_INT(expo_gzip(&gz, msg, strlen(msg), 9), 0);
    buf_reset(&back);
    CHECK_INT(gunzip(gz.data, gz.len, &back), 0);
    CHECK_STR(back.data, msg);
    buf_free(&gz);
    buf_free(&back);
}

TEST(gzip_respects_buffer_max)
{
    struct buf gz;
    buf_init(&gz, 8);
    CHECK_INT(expo_gzip(&gz, "some text to compress", 21, 1), -E2BIG);
    buf_free(&gz);
}

TEST_MAIN(TEST_ENTRY(text_sorted_and_merged_across_sets), TEST_ENTRY(help_escaping),
          TEST_ENTRY(empty_help_has_no_help_line), TEST_ENTRY(label_value_escaping),
          TEST_ENTRY(type_conflicts_skipped_and_counted), TEST_ENTRY(empty_families_omitted),
          TEST_ENTRY(value_formatting), TEST_ENTRY(format_value_reads_back_exactly),
          TEST_ENTRY(openmetrics_counter_info_untyped_histogram),
          TEST_ENTRY(openmetrics_ends_with_eof_exactly_once),
          TEST_ENTRY(long_family_name_not_truncated), TEST_ENTRY(render_respects_buffer_max),
          TEST_ENTRY(negotiate_prometheus_and_curl), TEST_ENTRY(negotiate_versions),
          TEST_ENTRY(negotiate_quality), TEST_ENTRY(content_types), TEST_ENTRY(accepts_gzip),
          TEST_ENTRY(gzip_round_trip), TEST_ENTRY(gzip_empty_and_levels),
          TEST_ENTRY(gzip_respects_buffer_max))
