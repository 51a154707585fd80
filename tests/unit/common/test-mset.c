/* test-mset: common/mset.c, the metric set collectors fill at scrape time: the names of
 * families and labels, re-selecting a family and type clashes, UTF-8 label values, the
 * label limit, strings copied into the arena, cumulative histograms, the sample limit
 * and clearing for reuse. What a set renders to is checked as text 0.0.4 (expo.c's own
 * rules are test-expo.c's). */
#include <errno.h>
#include <stdint.h>

#include "expo.h"
#include "test.h"

/* Renders set as fmt into a new string (caller frees); NULL on error. */
static char *render1(enum expo_format fmt, struct mset *set)
{
    struct buf out;
    buf_init(&out, 0);
    if (expo_render(&out, fmt, &set, 1, NULL) < 0) {
        buf_free(&out);
        return NULL;
    }
    char *s = buf_steal(&out, NULL);
    return s ? s : strdup("");
}

TEST(mset_family_name_rules)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "requests", METRIC_COUNTER, ""), -EINVAL);
    CHECK_INT(mset_family(s, "requests_total", METRIC_COUNTER, ""), 0);
    CHECK_INT(mset_family(s, "build", METRIC_INFO, ""), -EINVAL);
    CHECK_INT(mset_family(s, "build_info", METRIC_INFO, ""), 0);
    CHECK_INT(mset_family(s, "1abc", METRIC_GAUGE, ""), -EINVAL);
    CHECK_INT(mset_family(s, "a-b", METRIC_GAUGE, ""), -EINVAL);
    CHECK_INT(mset_family(s, "a b", METRIC_GAUGE, ""), -EINVAL);
    CHECK_INT(mset_family(s, "", METRIC_GAUGE, ""), -EINVAL);
    CHECK_INT(mset_family(s, "caf\xc3\xa9", METRIC_GAUGE, ""), -EINVAL);
    CHECK_INT(mset_family(s, "ns:sub_metric", METRIC_GAUGE, ""), 0);
    CHECK_INT(mset_family(s, "_private", METRIC_GAUGE, ""), 0);
    CHECK_INT(s->n_families, 4);
    CHECK(metric_name_valid("a:b_c9"));
    CHECK(!metric_name_valid("9a"));
    CHECK(!metric_name_valid(NULL));
    mset_free(s);
}

TEST(mset_family_reselect_and_type_clash)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_add(s, MSET_SUFFIX_NONE, NULL, 1), -ENOENT);
    CHECK_INT(mset_family(s, "a", METRIC_GAUGE, "A."), 0);
    CHECK_INT(mset_addl(s, 1, NULL), 0);
    CHECK_INT(mset_family(s, "b", METRIC_GAUGE, "B."), 0);
    CHECK_INT(mset_addl(s, 2, NULL), 0);
    CHECK_INT(mset_family(s, "a", METRIC_UNTYPED, "A."), -EEXIST);
    CHECK_INT(mset_family(s, "b", METRIC_UNTYPED, "B."), -EEXIST); /* the current one */
    CHECK_INT(mset_family(s, "a", METRIC_GAUGE, "ignored"), 0);
    CHECK_INT(mset_addl(s, 3, NULL), 0);
    CHECK_INT(s->n_families, 2);
    CHECK_INT(s->families[0].n_samples, 2);
    CHECK_INT(s->families[1].n_samples, 1);
    char *text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK_STR(text, "# HELP a A.\n# TYPE a gauge\na 1\na 3\n# HELP b B.\n# TYPE b gauge\nb 2\n");
    free(text);
    mset_free(s);
}

TEST(mset_label_rules)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "m", METRIC_GAUGE, ""), 0);
    CHECK_INT(mset_addl(s, 1, "__name__", "x", NULL), -EINVAL);
    CHECK_INT(mset_addl(s, 1, "__reserved", "x", NULL), -EINVAL);
    CHECK_INT(mset_addl(s, 1, "a:b", "x", NULL), -EINVAL);
    CHECK_INT(mset_addl(s, 1, "1a", "x", NULL), -EINVAL);
    CHECK_INT(mset_addl(s, 1, "", "x", NULL), -EINVAL);
    CHECK_INT(mset_addl(s, 1, "ok", "x", "bad-name", "y", NULL), -EINVAL);
    static const char *const missing_value[] = {"a", NULL, NULL};
    CHECK_INT(mset_add(s, MSET_SUFFIX_NONE, missing_value, 1), -EINVAL);
    CHECK_INT(s->families[0].n_samples, 0);
    CHECK_INT(mset_addl(s, 1, "_x", "1", "le", "0.5", "A9", "", NULL), 0);
    CHECK_INT(s->families[0].n_samples, 1);
    CHECK(!label_name_valid("__"));
    CHECK(label_name_valid("_"));
    mset_free(s);
}

/* Label values must be well-formed UTF-8: one bad byte would make Prometheus reject
 * the whole exposition. */
TEST(mset_label_values_utf8)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "m", METRIC_GAUGE, ""), 0);
    static const char *const bad[] = {
        "\xff",             /* never valid */
        "ab\x80",           /* stray continuation byte */
        "\xc0\xaf",         /* overlong "/" */
        "\xe0\x80\xaf",     /* overlong, three bytes */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xe2\x9c",         /* truncated */
        "\xc3(",            /* bad continuation */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (mset_addl(s, 1, "v", bad[i], NULL) != -EINVAL)
            TEST_FAIL("label value %zu accepted", i);
    static const char *const good[] = {"",
                                       "ascii",
                                       "caf\xc3\xa9",
                                       "\xe2\x9c\x93",
                                       "\xf0\x9f\x98\x80",
                                       "\xef\xbf\xbd",
                                       "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (mset_addl(s, 1, "v", good[i], NULL) != 0)
            TEST_FAIL("label value %zu refused", i);
    CHECK_INT(s->families[0].n_samples, sizeof(good) / sizeof(good[0]));
    mset_free(s);
}

TEST(mset_addl_label_limit)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "m", METRIC_GAUGE, ""), 0);
    CHECK_INT(mset_addl(s, 1, "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7",
                        "h", "8", "i", "9", "j", "10", "k", "11", "l", "12", "m", "13", "n", "14",
                        "o", "15", "p", "16", NULL),
              0);
    CHECK_INT(mset_addl(s, 1, "a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7",
                        "h", "8", "i", "9", "j", "10", "k", "11", "l", "12", "m", "13", "n", "14",
                        "o", "15", "p", "16", "q", "17", NULL),
              -E2BIG);
    mset_free(s);
}

TEST(mset_strings_are_copied)
{
    struct mset *s = mset_new();
    CHECK(s);
    char name[8], help[8], lname[8], lval[8];
    snprintf(name, sizeof(name), "m");
    snprintf(help, sizeof(help), "H.");
    snprintf(lname, sizeof(lname), "l");
    snprintf(lval, sizeof(lval), "v");
    CHECK_INT(mset_family(s, name, METRIC_GAUGE, help), 0);
    CHECK_INT(mset_addl(s, 1, lname, lval, NULL), 0);
    memset(name, 'X', sizeof(name) - 1);
    memset(help, 'X', sizeof(help) - 1);
    memset(lname, 'X', sizeof(lname) - 1);
    memset(lval, 'X', sizeof(lval) - 1);
    char *text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK_STR(text, "# HELP m H.\n# TYPE m gauge\nm{l=\"v\"} 1\n");
    free(text);
    const char *dup = mset_strdup(s, "copied");
    CHECK_STR(dup, "copied");
    mset_free(s);
}

TEST(mset_histogram_is_cumulative)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "req_seconds", METRIC_HISTOGRAM, ""), 0);
    static const double bounds[] = {1, 2.5, 5};
    static const uint64_t counts[] = {1, 2, 3, 4};
    static const char *const labels[] = {"path", "/api", NULL};
    CHECK_INT(mset_histogram(s, labels, bounds, counts, 3, 31.5), 0);
    char *text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK_STR(text, "# TYPE req_seconds histogram\n"
                    "req_seconds_bucket{path=\"/api\",le=\"1\"} 1\n"
                    "req_seconds_bucket{path=\"/api\",le=\"2.5\"} 3\n"
                    "req_seconds_bucket{path=\"/api\",le=\"5\"} 6\n"
                    "req_seconds_bucket{path=\"/api\",le=\"+Inf\"} 10\n"
                    "req_seconds_sum{path=\"/api\"} 31.5\n"
                    "req_seconds_count{path=\"/api\"} 10\n");
    free(text);
    mset_free(s);
}

TEST(mset_histogram_without_bounds)
{
    struct mset *s = mset_new();
    CHECK(s);
    CHECK_INT(mset_family(s, "h", METRIC_HISTOGRAM, ""), 0);
    static const uint64_t counts[] = {7};
    CHECK_INT(mset_histogram(s, NULL, NULL, counts, 0, 2), 0);
    char *text = render1(EXPO_TEXT, s);
    CHECK(text);
    CHECK_STR(text, "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 7\nh_sum 2\nh_count 7\n");
    free(text);
    mset_free(s);
}

TEST(mset_max_samples)
{
    struct mset *s = mset_new();
    CHECK(s);
    s->max_samples = 3;
    CHECK_INT(mset_family(s, "a", METRIC_GAUGE, ""), 0);
    CHECK_INT(mset_addl(s, 1, NULL), 0);
    CHECK_INT(mset_addl(s, 2, NULL), 0);
    CHECK_INT(mset_family(s, "b", METRIC_GAUGE, ""), 0);
    CHECK_INT(mset_addl(s, 3, NULL), 0);
    CHECK_INT(mset_addl(s, 4, NULL), -E2BIG); /* the limit counts across families */
    CHECK_INT(s->families[1].n_samples, 1);
    CHECK_INT(mset_family(s, "h", METRIC_HISTOGRAM, ""), 0);
    static const double bounds[] = {1};
    static const uint64_t counts[] = {1, 1};
    CHECK_INT(mset_histogram(s, NULL, bounds, counts, 1, 1), -E2BIG);
    mset_clear(s);
    CHECK_INT(s->n_families, 0);
    CHECK_INT(s->max_samples, 3); /* kept across clear */
    CHECK_INT(mset_family(s, "h", METRIC_HISTOGRAM, ""), 0);
    CHECK_INT(mset_histogram(s, NULL, bounds, counts, 1, 1), -E2BIG); /* needs 4 */
    mset_clear(s);
    s->max_samples = 4;
    CHECK_INT(mset_family(s, "h", METRIC_HISTOGRAM, ""), 0);
    CHECK_INT(mset_histogram(s, NULL, bounds, counts, 1, 1), 0);
    mset_free(s);
}

TEST(mset_clear_reuses)
{
    struct mset *s = mset_new();
    CHECK(s);
    for (int round = 0; round < 3; round++) {
        CHECK_INT(mset_family(s, "g", METRIC_GAUGE, "G."), 0);
        for (int i = 0; i < 2000; i++) {
            char v[16];
            snprintf(v, sizeof(v), "%d", i);
            CHECK_INT(mset_addl(s, i, "i", v, NULL), 0);
        }
        CHECK_INT(s->n_families, 1);
        CHECK_INT(s->families[0].n_samples, 2000);
        CHECK_STR(s->families[0].samples[1999].labels[1], "1999");
        mset_clear(s);
        CHECK_INT(s->n_families, 0);
        CHECK_INT(mset_add(s, MSET_SUFFIX_NONE, NULL, 1), -ENOENT);
    }
    mset_free(s);
    mset_free(NULL);
}

TEST_MAIN(TEST_ENTRY(mset_family_name_rules), TEST_ENTRY(mset_family_reselect_and_type_clash),
          TEST_ENTRY(mset_label_rules), TEST_ENTRY(mset_label_values_utf8),
          TEST_ENTRY(mset_addl_label_limit), TEST_ENTRY(mset_strings_are_copied),
          TEST_ENTRY(mset_histogram_is_cumulative), TEST_ENTRY(mset_histogram_without_bounds),
          TEST_ENTRY(mset_max_samples), TEST_ENTRY(mset_clear_reuses))
