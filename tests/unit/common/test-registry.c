/* test-registry: common/registry.c: counters, gauges and histograms (le inclusive,
 * +Inf == _count in the collected set), name and label validation, family
 * redeclaration, exact totals under concurrent updates, and rfamily_reset. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "expo.h"
#include "registry.h"
#include "test.h"

/* Renders reg in the text format into a new string (caller frees); NULL on error. */
static char *render(struct registry *reg)
{
    struct mset *set = mset_new();
    if (!set)
        return NULL;
    struct buf out;
    buf_init(&out, 0);
    char *text = NULL;
    if (registry_collect(reg, set) == 0 && expo_render(&out, EXPO_TEXT, &set, 1, NULL) == 0)
        text = buf_steal(&out, NULL);
    if (!text)
        text = strdup(""); /* an empty registry renders nothing */
    buf_free(&out);
    mset_free(set);
    return text;
}

/* Finds the sample of family name with this suffix whose label lname has value lval
 * (lname NULL: the first sample with the suffix). */
static const struct mset_sample *find_sample(const struct mset *set, const char *name,
                                             enum mset_suffix suffix, const char *lname,
                                             const char *lval)
{
    for (size_t i = 0; i < set->n_families; i++) {
        const struct mset_family *f = &set->families[i];
        if (strcmp(f->name, name) != 0)
            continue;
        for (size_t j = 0; j < f->n_samples; j++) {
            const struct mset_sample *s = &f->samples[j];
            if (s->suffix != suffix)
                continue;
            if (!lname)
                return s;
            for (unsigned l = 0; l < s->n_labels; l++)
                if (strcmp(s->labels[2 * l], lname) == 0 && strcmp(s->labels[2 * l + 1], lval) == 0)
                    return s;
        }
    }
    return NULL;
}

TEST(counter_and_gauge_values)
{
    struct registry *r = registry_new();
    CHECK(r);
    struct metric *c = registry_metric(r, "test_requests_total", METRIC_COUNTER, "Requests.");
    struct metric *g = registry_metric(r, "test_temperature", METRIC_GAUGE, "Temperature.");
    CHECK(c && g);
    CHECK(metric_value(c) == 0.0);
    metric_add(c, 1);
    metric_add(c, 2.5);
    CHECK(metric_value(c) == 3.5);
    metric_set(g, 5);
    metric_add(g, -2);
    CHECK(metric_value(g) == 3.0);
    char *text = render(r);
    CHECK(text);
    CHECK_STR(text, "# HELP test_requests_total Requests.\n"
                    "# TYPE test_requests_total counter\n"
                    "test_requests_total 3.5\n"
                    "# HELP test_temperature Temperature.\n"
                    "# TYPE test_temperature gauge\n"
                    "test_temperature 3\n");
    free(text);
    registry_free(r);
}

TEST(histogram_le_is_inclusive)
{
    struct registry *r = registry_new();
    CHECK(r);
    static const double b[] = {0.1, 0.5, 1};
    struct rfamily *f = registry_family(r, "test_ratio", METRIC_HISTOGRAM, "Ratio.", NULL, b, 3);
    CHECK(f);
    struct metric *m = registry_series(f, NULL);
    CHECK(m);
    metric_observe(m, 0.5); /* exactly on a bound: le="0.5" */
    char *text = render(r);
    CHECK(text);
    CHECK_CONTAINS(text, "test_ratio_bucket{le=\"0.1\"} 0\n"
                         "test_ratio_bucket{le=\"0.5\"} 1\n"
                         "test_ratio_bucket{le=\"1\"} 1\n"
                         "test_ratio_bucket{le=\"+Inf\"} 1\n"
                         "test_ratio_sum 0.5\n"
                         "test_ratio_count 1\n");
    free(text);
    metric_observe(m, 0.1);  /* le="0.1" */
    metric_observe(m, 1.0);  /* le="1" */
    metric_observe(m, 1.5);  /* only +Inf */
    metric_observe(m, -3.0); /* below the first bound: le="0.1" */
    metric_observe(m, NAN);  /* ignored */
    text = render(r);
    CHECK(text);
    CHECK_CONTAINS(text, "test_ratio_bucket{le=\"0.1\"} 2\n"
                         "test_ratio_bucket{le=\"0.5\"} 3\n"
                         "test_ratio_bucket{le=\"1\"} 4\n"
                         "test_ratio_bucket{le=\"+Inf\"} 5\n");
    CHECK_CONTAINS(text, "test_ratio_count 5\n");
    free(text);
    unsigned long long count;
    double sum;
    metric_histogram_totals(m, &count, &sum);
    CHECK_INT(count, 5);
    CHECK_DBL(sum, 0.1, 1e-12);
    registry_free(r);
}

TEST(histogram_with_labels_and_infinities)
{
    struct registry *r = registry_new();
    CHECK(r);
    static const double b[] = {1, 2};
    struct rfamily *f = registry_family(r, "test_lat_seconds", METRIC_HISTOGRAM, "",
                                        (const char *const[]){"path", NULL}, b, 2);
    CHECK(f);
    struct metric *m = registry_series(f, (const char *const[]){"/x", NULL});
    CHECK(m);
    metric_observe(m, INFINITY);
    metric_observe(m, -INFINITY);
    metric_observe(m, 2.0);
    struct mset *set = mset_new();
    CHECK(set);
    CHECK_INT(registry_collect(r, set), 0);
    const struct mset_sample *inf =
        find_sample(set, "test_lat_seconds", MSET_SUFFIX_BUCKET, "le", "+Inf");
    const struct mset_sample *le1 =
        find_sample(set, "test_lat_seconds", MSET_SUFFIX_BUCKET, "le", "1");
    const struct mset_sample *le2 =
        find_sample(set, "test_lat_seconds", MSET_SUFFIX_BUCKET, "le", "2");
    CHECK(inf && le1 && le2);
    CHECK(le1->value == 1.0); /* -Inf */
    CHECK(le2->value == 2.0); /* 2 */
    CHECK(inf->value == 3.0);
    CHECK_INT(inf->n_labels, 2);
    CHECK_STR(inf->labels[0], "path");
    CHECK_STR(inf->labels[2], "le");
    mset_free(set);
    registry_free(r);
}

/* The collected +Inf bucket and _count are the same number for every series. */
TEST(collect_inf_bucket_equals_count)
{
    struct registry *r = registry_new();
    CHECK(r);
    static const double b[] = {0.25, 0.5, 0.75};
    struct rfamily *f = registry_family(r, "test_h", METRIC_HISTOGRAM, "H.",
                                        (const char *const[]){"k", NULL}, b, 3);
    CHECK(f);
    static const char *const keys[] = {"a", "b", "c"};
    for (int k = 0; k < 3; k++) {
        struct metric *m = registry_series(f, (const char *const[]){keys[k], NULL});
        CHECK(m);
        for (int i = 0; i < 100 * (k + 1); i++)
            metric_observe(m, (double)(i % 10) / 9.0 * (k + 1));
    }
    struct mset *set = mset_new();
    CHECK(set);
    CHECK_INT(registry_collect(r, set), 0);
    for (int k = 0; k < 3; k++) {
        const struct mset_sample *inf = NULL, *count = NULL;
        for (size_t j = 0; j < set->families[0].n_samples; j++) {
            const struct mset_sample *s = &set->families[0].samples[j];
            if (strcmp(s->labels[1], keys[k]) != 0)
                continue;
            if (s->suffix == MSET_SUFFIX_COUNT)
                count = s;
            if (s->suffix == MSET_SUFFIX_BUCKET && strcmp(s->labels[3], "+Inf") == 0)
                inf = s;
        }
        CHECK(inf && count);
        CHECK(inf->value == count->value);
        CHECK(count->value == 100.0 * (k + 1));
    }
    mset_free(set);
    registry_free(r);
}

TEST(invalid_names_and_labels_rejected)
{
    struct registry *r = registry_new();
    CHECK(r);
    static const double b[] = {1, 2};
    errno = 0;
    CHECK(registry_family(r, "1bad", METRIC_GAUGE, "", NULL, NULL, 0) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    CHECK(registry_family(r, "bad-name", METRIC_GAUGE, "", NULL, NULL, 0) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    CHECK(registry_family(r, "", METRIC_GAUGE, "", NULL, NULL, 0) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    CHECK(registry_family(r, "test_g", METRIC_GAUGE, "", (const char *const[]){"__x", NULL}, NULL,
                          0) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    CHECK(registry_family(r, "test_g", METRIC_GAUGE, "", (const char *const[]){"a:b", NULL}, NULL,
                          0) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    CHECK(registry_family(r, "test_g", METRIC_GAUGE, "",
                          (const char *const[]){"ok", "9lives", NULL}, NULL, 0) == NULL);
    CHECK_INT(errno, EINVAL);
    /* Buckets only for histograms, ascending, at most REGISTRY_MAX_BUCKETS. */
    errno = 0;
    CHECK(registry_family(r, "test_h", METRIC_HISTOGRAM, "", NULL, NULL, 0) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    CHECK(registry_family(r, "test_g", METRIC_GAUGE, "", NULL, b, 2) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    static const double down[] = {2, 1};
    CHECK(registry_family(r, "test_h", METRIC_HISTOGRAM, "", NULL, down, 2) == NULL);
    CHECK_INT(errno, EINVAL);
    static const double same[] = {1, 1};
    CHECK(registry_family(r, "test_h", METRIC_HISTOGRAM, "", NULL, same, 2) == NULL);
    double many[REGISTRY_MAX_BUCKETS + 1];
    for (int i = 0; i <= REGISTRY_MAX_BUCKETS; i++)
        many[i] = i;
    errno = 0;
    CHECK(registry_family(r, "test_h", METRIC_HISTOGRAM, "", NULL, many,
                          REGISTRY_MAX_BUCKETS + 1) == NULL);
    CHECK_INT(errno, EINVAL);
    CHECK(registry_family(r, "test_h", METRIC_HISTOGRAM, "", NULL, many, REGISTRY_MAX_BUCKETS));
    /* Nothing rejected left a family behind. */
    char *text = render(r);
    CHECK(text);
    CHECK(strstr(text, "test_g") == NULL);
    free(text);
    registry_free(r);
}

TEST(label_count_limit)
{
    struct registry *r = registry_new();
    CHECK(r);
    const char *nine[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", NULL};
    errno = 0;
    CHECK(registry_family(r, "test_nine", METRIC_GAUGE, "", nine, NULL, 0) == NULL);
    CHECK_INT(errno, EINVAL);
    nine[REGISTRY_MAX_LABELS] = NULL; /* eight */
    struct rfamily *f = registry_family(r, "test_eight", METRIC_GAUGE, "", nine, NULL, 0);
    CHECK(f);
    struct metric *m =
        registry_series(f, (const char *const[]){"1", "2", "3", "4", "5", "6", "7", "8", NULL});
    CHECK(m);
    metric_set(m, 1);
    char *text = render(r);
    CHECK(text);
    CHECK_CONTAINS(text, "test_eight{a=\"1\",b=\"2\",c=\"3\",d=\"4\",e=\"5\",f=\"6\",g=\"7\","
                         "h=\"8\"} 1\n");
    free(text);
    registry_free(r);
}

/* mset_family() refuses a counter without _total (an info without _info); accepting
 * one here would make registry_collect() fail at every scrape, so it fails up front. */
TEST(counter_without_total_rejected_at_declaration)
{
    struct registry *r = registry_new();
    CHECK(r);
    errno = 0;
    struct rfamily *f = registry_family(r, "test_requests", METRIC_COUNTER, "", NULL, NULL, 0);
    CHECK(f == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    f = registry_family(r, "test_build", METRIC_INFO, "", NULL, NULL, 0);
    CHECK(f == NULL);
    CHECK_INT(errno, EINVAL);
    registry_free(r);
}

/* Regression (fixed; common/registry.c, registry_series): label values are not checked for UTF-8,
 * but mset_add() refuses malformed UTF-8, so registry_collect() stops at such a series
 * and returns -EINVAL: every family after it vanishes from /metrics (scrape.c ignores
 * the error). Values can come from outside (GPU labels read from sysfs/NVML and cut to
 * 31 bytes by snprintf, possibly mid-character). Fix: validate values in
 * registry_series() (EINVAL, as for a wrong count) with the same rule as mset_add
 * (export mset's utf8 check), and/or let registry_collect() skip a series it cannot
 * add instead of aborting. */
TEST(bad_label_value_does_not_break_collect)
{
    struct registry *r = registry_new();
    CHECK(r);
    struct rfamily *f =
        registry_family(r, "test_a", METRIC_GAUGE, "", (const char *const[]){"gpu", NULL}, NULL, 0);
    CHECK(f);
    errno = 0;
    struct metric *bad = registry_series(f, (const char *const[]){"caf\xc3", NULL});
    int refused = bad == NULL && errno == EINVAL;
    CHECK(registry_metric(r, "test_b", METRIC_GAUGE, ""));
    struct mset *set = mset_new();
    CHECK(set);
    int rc = registry_collect(r, set);
    int have_b =
        set->n_families > 0 && strcmp(set->families[set->n_families - 1].name, "test_b") == 0;
    mset_free(set);
    registry_free(r);
    CHECK(refused || (rc == 0 && have_b));
}

TEST(series_label_values_count_checked)
{
    struct registry *r = registry_new();
    CHECK(r);
    struct rfamily *f = registry_family(r, "test_g", METRIC_GAUGE, "",
                                        (const char *const[]){"a", "b", NULL}, NULL, 0);
    CHECK(f);
    errno = 0;
    CHECK(registry_series(f, (const char *const[]){"x", NULL}) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    CHECK(registry_series(f, (const char *const[]){"x", "y", "z", NULL}) == NULL);
    CHECK_INT(errno, EINVAL);
    errno = 0;
    CHECK(registry_series(f, NULL) == NULL);
    CHECK_INT(errno, EINVAL);
    struct metric *m1 = registry_series(f, (const char *const[]){"x", "y", NULL});
    struct metric *m2 = registry_series(f, (const char *const[]){"x", "y", NULL});
    struct metric *m3 = registry_series(f, (const char *const[]){"y", "x", NULL});
    CHECK(m1 && m3);
    CHECK(m1 == m2);
    CHECK(m1 != m3);
    /* A family without labels takes no values. */
    struct rfamily *plain = registry_family(r, "test_plain", METRIC_GAUGE, "", NULL, NULL, 0);
    CHECK(plain);
    errno = 0;
    CHECK(registry_series(plain, (const char *const[]){"x", NULL}) == NULL);
    CHECK_INT(errno, EINVAL);
    CHECK(registry_series(plain, NULL) == registry_series(plain, (const char *const[]){NULL}));
    registry_free(r);
}

TEST(label_values_are_copied_and_escaped)
{
    struct registry *r = registry_new();
    CHECK(r);
    struct rfamily *f =
        registry_family(r, "test_g", METRIC_GAUGE, "", (const char *const[]){"v", NULL}, NULL, 0);
    CHECK(f);
    char value[16];
    snprintf(value, sizeof(value), "a\"b\\c\nd");
    struct metric *m = registry_series(f, (const char *const[]){value, NULL});
    CHECK(m);
    memset(value, 'X', sizeof(value) - 1); /* the registry kept its own copy */
    metric_set(m, 2);
    char *text = render(r);
    CHECK(text);
    CHECK_CONTAINS(text, "test_g{v=\"a\\\"b\\\\c\\nd\"} 2\n");
    free(text);
    registry_free(r);
}

TEST(same_family_twice_returns_same_pointer)
{
    struct registry *r = registry_new();
    CHECK(r);
    struct rfamily *a = registry_family(r, "test_x_total", METRIC_COUNTER, "X.", NULL, NULL, 0);
    struct rfamily *b = registry_family(r, "test_x_total", METRIC_COUNTER, "X.", NULL, NULL, 0);
    CHECK(a && a == b);
    errno = 0;
    CHECK(registry_family(r, "test_x_total", METRIC_GAUGE, "X.", NULL, NULL, 0) == NULL);
    CHECK_INT(errno, EINVAL);
    struct metric *m1 = registry_metric(r, "test_x_total", METRIC_COUNTER, "X.");
    struct metric *m2 = registry_metric(r, "test_x_total", METRIC_COUNTER, "other help");
    CHECK(m1 && m1 == m2);
    errno = 0;
    CHECK(registry_metric(r, "test_x_total", METRIC_UNTYPED, "X.") == NULL);
    CHECK_INT(errno, EINVAL);
    metric_add(m1, 4);
    char *text = render(r);
    CHECK(text);
    CHECK_STR(text, "# HELP test_x_total X.\n# TYPE test_x_total counter\ntest_x_total 4\n");
    free(text);
    registry_free(r);
}

TEST(families_keep_declaration_order_and_empty_ones_hidden)
{
    struct registry *r = registry_new();
    CHECK(r);
    struct rfamily *empty = registry_family(r, "test_empty", METRIC_GAUGE, "",
                                            (const char *const[]){"a", NULL}, NULL, 0);
    CHECK(empty);
    CHECK(registry_metric(r, "test_b", METRIC_GAUGE, ""));
    CHECK(registry_metric(r, "test_a", METRIC_GAUGE, ""));
    struct mset *set = mset_new();
    CHECK(set);
    CHECK_INT(registry_collect(r, set), 0);
    CHECK_INT(set->n_families, 2);
    CHECK_STR(set->families[0].name, "test_b");
    CHECK_STR(set->families[1].name, "test_a");
    mset_free(set);
    registry_free(r);
}

enum { THREADS = 4, ITERATIONS = 100000 };

struct hammer {
    struct metric *hist, *counter, *gauge;
    struct rfamily *fam;
    struct metric *created;
};

static void *hammer_main(void *arg)
{
    struct hammer *h = arg;
    /* Every thread creates the same series concurrently: one series must result. */
    h->created = registry_series(h->fam, (const char *const[]){"shared", NULL});
    for (int i = 0; i < ITERATIONS; i++) {
        metric_observe(h->hist, i % 2 ? 0.25 : 2.0);
        metric_add(h->counter, 1);
        metric_add(h->gauge, 0.5);
        if (h->created)
            metric_add(h->created, 1);
    }
    return NULL;
}

TEST(concurrent_updates_are_exact)
{
    struct registry *r = registry_new();
    CHECK(r);
    static const double b[] = {0.5, 1};
    struct rfamily *hf = registry_family(r, "test_h", METRIC_HISTOGRAM, "", NULL, b, 2);
    struct rfamily *cf = registry_family(r, "test_c_total", METRIC_COUNTER, "",
                                         (const char *const[]){"k", NULL}, NULL, 0);
    CHECK(hf && cf);
    struct hammer h[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        h[i].hist = registry_series(hf, NULL);
        h[i].counter = registry_metric(r, "test_n_total", METRIC_COUNTER, "");
        h[i].gauge = registry_metric(r, "test_g", METRIC_GAUGE, "");
        h[i].fam = cf;
        h[i].created = NULL;
        CHECK(h[i].hist && h[i].counter && h[i].gauge);
    }
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, hammer_main, &h[i]) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 1; i < THREADS; i++)
        CHECK(h[i].created && h[i].created == h[0].created);
    const double n = (double)THREADS * ITERATIONS;
    CHECK(metric_value(h[0].counter) == n);
    CHECK(metric_value(h[0].gauge) == n * 0.5);
    CHECK(metric_value(h[0].created) == n);
    unsigned long long count;
    double sum;
    metric_histogram_totals(h[0].hist, &count, &sum);
    CHECK_INT(count, THREADS * ITERATIONS);
    CHECK(sum == n / 2 * 0.25 + n / 2 * 2.0); /* exact: all terms are dyadic */
    char *text = render(r);
    CHECK(text);
    CHECK_CONTAINS(text, "test_h_bucket{le=\"0.5\"} 200000\n"
                         "test_h_bucket{le=\"1\"} 200000\n"
                         "test_h_bucket{le=\"+Inf\"} 400000\n"
                         "test_h_sum 450000\n"
                         "test_h_count 400000\n");
    CHECK_CONTAINS(text, "test_c_total{k=\"shared\"} 400000\n");
    CHECK_CONTAINS(text, "test_n_total 400000\n");
    free(text);
    registry_free(r);
}

TEST(rfamily_reset_removes_series)
{
    struct registry *r = registry_new();
    CHECK(r);
    struct rfamily *f = registry_family(r, "test_up", METRIC_GAUGE, "Up.",
                                        (const char *const[]){"unit", NULL}, NULL, 0);
    CHECK(f);
    struct metric *a = registry_series(f, (const char *const[]){"a.service", NULL});
    struct metric *b = registry_series(f, (const char *const[]){"b.service", NULL});
    CHECK(a && b);
    metric_set(a, 1);
    metric_set(b, 1);
    char *text = render(r);
    CHECK(text);
    CHECK_CONTAINS(text, "test_up{unit=\"b.service\"} 1\n");
    free(text);
    rfamily_reset(f);
    text = render(r);
    CHECK(text);
    CHECK(strstr(text, "test_up") == NULL);
    free(text);
    struct metric *c = registry_series(f, (const char *const[]){"c.service", NULL});
    CHECK(c);
    CHECK(metric_value(c) == 0.0);
    metric_set(c, 7);
    text = render(r);
    CHECK(text);
    CHECK_STR(text, "# HELP test_up Up.\n# TYPE test_up gauge\ntest_up{unit=\"c.service\"} 7\n");
    free(text);
    rfamily_reset(f);
    rfamily_reset(f); /* resetting an empty family */
    registry_free(r);
}

TEST(free_accepts_null)
{
    registry_free(NULL);
    struct registry *r = registry_new();
    CHECK(r);
    struct mset *set = mset_new();
    CHECK(set);
    CHECK_INT(registry_collect(r, set), 0);
    CHECK_INT(set->n_families, 0);
    mset_free(set);
    registry_free(r);
}

TEST_MAIN(TEST_ENTRY(counter_and_gauge_values), TEST_ENTRY(histogram_le_is_inclusive),
          TEST_ENTRY(histogram_with_labels_and_infinities),
          TEST_ENTRY(collect_inf_bucket_equals_count),
          TEST_ENTRY(invalid_names_and_labels_rejected), TEST_ENTRY(label_count_limit),
          TEST_ENTRY(counter_without_total_rejected_at_declaration),
          TEST_ENTRY(bad_label_value_does_not_break_collect),
          TEST_ENTRY(series_label_values_count_checked),
          TEST_ENTRY(label_values_are_copied_and_escaped),
          TEST_ENTRY(same_family_twice_returns_same_pointer),
          TEST_ENTRY(families_keep_declaration_order_and_empty_ones_hidden),
          TEST_ENTRY(concurrent_updates_are_exact), TEST_ENTRY(rfamily_reset_removes_series),
          TEST_ENTRY(free_accepts_null))
