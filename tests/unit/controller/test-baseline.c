/* test-baseline: the bounded quantile sketches of controller/engine/baseline.c. Accuracy
 * against exact quantiles (qsort) of deterministic distributions, zero and negative values,
 * the bound on buckets and what it costs (the lowest quantiles), the seasonal slots and
 * their names, the window's two epochs and a clock that goes back, the state file's JSON
 * (round trip, malformed parts skipped) and the documented memory bounds. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "baseline.h"
#include "test.h"

#define T0 1700000000.0
#define N 10000
/* 2024-01-01T00:00:00Z, a Monday (checked with gmtime_r in seasonality_weekly) */
#define MONDAY 1704067200.0
#define HOUR 3600.0
#define DAY 86400.0

/* ---- helpers ---- */

static uint64_t lcg_state;

static void lcg_seed(uint64_t seed)
{
    lcg_state = seed;
}

/* Uniform in [0, 1): Knuth's MMIX LCG, the top 53 bits. */
static double lcg_uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg_state >> 11) * 0x1p-53;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

/* The exact answer the sketch approximates: the value at rank floor(q * (n - 1)) of the
 * sorted data (negative values count as 0, as the baseline counts them). */
static double exact_quantile(const double *values, size_t n, double q)
{
    double *s = malloc(n * sizeof(*s));
    if (!s)
        abort();
    for (size_t i = 0; i < n; i++)
        s[i] = values[i] < 0 ? 0 : values[i];
    qsort(s, n, sizeof(*s), cmp_double);
    double v = s[(size_t)floor(q * (double)(n - 1))];
    free(s);
    return v;
}

/* Within the stated relative error (and a float epsilon for a value on a bucket's edge);
 * an exact 0 must be answered 0. */
static bool within(double got, double want)
{
    if (want == 0)
        return got == 0;
    return fabs(got - want) <= want * (BASELINE_ALPHA + 1e-9);
}

static const double qs[] = {0.5, 0.9, 0.95, 0.99};

/* Checks every q of qs in b at now against values (n of them). */
static void check_quantiles(const char *what, const struct baseline *b, double now,
                            const double *values, size_t n)
{
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        double got = -1, want = exact_quantile(values, n, qs[i]);
        uint64_t count = 0;
        if (!baseline_quantile(b, now, qs[i], &got, &count))
            TEST_FAIL("%s: q=%g: no answer", what, qs[i]);
        if (count != n)
            TEST_FAIL("%s: q=%g: count %llu, expected %zu", what, qs[i], (unsigned long long)count,
                      n);
        if (!within(got, want))
            TEST_FAIL("%s: q=%g: %.17g, exact %.17g (relative error %g > %g)", what, qs[i], got,
                      want, fabs(got - want) / want, BASELINE_ALPHA);
    }
}

/* The distributions of the accuracy test, n values each from a fixed seed. */
enum dist { DIST_UNIFORM, DIST_LOGNORMAL, DIST_TWO_MODES, DIST_INTEGERS };

static void fill(enum dist d, double *v, size_t n)
{
    lcg_seed(42 + (uint64_t)d);
    for (size_t i = 0; i < n; i++) {
        switch (d) {
        case DIST_UNIFORM: v[i] = 0.05 + 0.45 * lcg_uniform(); break;
        case DIST_LOGNORMAL: {
            /* the sum of 12 uniforms less 6 is near a standard normal (Irwin-Hall) */
            double z = -6;
            for (int k = 0; k < 12; k++)
                z += lcg_uniform();
            v[i] = exp(0.5 + z);
            break;
        }
        case DIST_TWO_MODES: {
            /* 70 % near 0.1, 30 % near 50: the median in one mode, the tail in the other */
            double u = lcg_uniform(), w = lcg_uniform();
            v[i] = u < 0.7 ? 0.1 + 0.02 * w : 40 + 20 * w;
            break;
        }
        case DIST_INTEGERS: v[i] = 1 + floor(20 * lcg_uniform()); break; /* many ties */
        }
    }
}

/* ---- 1. accuracy ---- */

TEST(accuracy_against_exact_quantiles)
{
    static const char *const names[] = {"uniform", "log-normal", "two modes", "integers"};
    static double v[N];
    const double window = 86400;
    for (enum dist d = DIST_UNIFORM; d <= DIST_INTEGERS; d++) {
        fill(d, v, N);
        /* all in one epoch */
        struct baseline *one = baseline_new(SEASON_NONE, window);
        /* half in the previous epoch, half in the current: the quantile merges the two */
        struct baseline *two = baseline_new(SEASON_NONE, window);
        CHECK(one && two);
        for (size_t i = 0; i < N; i++) {
            CHECK_INT(baseline_add(one, T0 + (double)i * 1e-3, v[i]), 0);
            double t = i < N / 2 ? T0 + (double)i * 1e-3 : T0 + window / 2 + (double)i * 1e-3;
            CHECK_INT(baseline_add(two, t, v[i]), 0);
        }
        const double now = T0 + window / 2 + 20;
        CHECK_DBL(two->slots[0]->prev.start, T0, 0);
        CHECK_DBL(two->slots[0]->cur.start, T0 + window / 2 + (double)(N / 2) * 1e-3, 0);
        CHECK_INT(baseline_count(one, now), N);
        CHECK_INT(baseline_count(two, now), N);
        CHECK_INT(one->learned, N);
        CHECK_INT(two->learned, N);
        check_quantiles(names[d], one, now, v, N);
        check_quantiles(names[d], two, now, v, N);
        /* q = 1 is the largest value, also within the error */
        double got, want = exact_quantile(v, N, 1);
        CHECK(baseline_quantile(two, now, 1, &got, NULL));
        CHECK(within(got, want));
        baseline_free(one);
        baseline_free(two);
        if (test_failed_flag)
            return;
    }
}

/* Nothing learned: no answer, *ret untouched, a count of 0. */
TEST(empty_has_no_answer)
{
    struct baseline *b = baseline_new(SEASON_DAILY, 3600);
    CHECK(b != NULL);
    double got = 12345;
    uint64_t count = 99;
    CHECK(!baseline_quantile(b, T0, 0.5, &got, &count));
    CHECK_DBL(got, 12345, 0);
    CHECK_INT(count, 0);
    CHECK_INT(baseline_count(b, T0), 0);
    baseline_free(b);
    baseline_free(NULL); /* a destructor accepts NULL */
}

/* ---- 2. zero and negative values ---- */

TEST(zero_share_and_negatives)
{
    static double v[N];
    struct baseline *b = baseline_new(SEASON_NONE, 86400);
    CHECK(b != NULL);
    /* an error ratio: 0 nine times in ten (some of them a negative value, which counts as
     * 0), else 0.001..0.2: exactly 9000 zeros, ranks 0..8999 */
    lcg_seed(7);
    for (size_t i = 0; i < N; i++) {
        double u = lcg_uniform();
        v[i] = i % 10 ? (i % 7 == 0 ? -3.5 : 0) : 0.001 + 0.199 * u;
        CHECK_INT(baseline_add(b, T0 + (double)i, v[i]), 0);
    }
    const double now = T0 + N;
    /* 0.9 * 9999 = 8999.1: rank 8999, the last zero; 0.9001 * 9999: rank 9000, the smallest
     * positive value (an off-by-one in the rank answers the wrong side of the share) */
    static const double zq[] = {0, 0.5, 0.9, 0.9001, 0.95, 0.99, 1};
    int zeros = 0, positives = 0;
    for (size_t i = 0; i < sizeof(zq) / sizeof(zq[0]); i++) {
        double got = -1, want = exact_quantile(v, N, zq[i]);
        uint64_t count = 0;
        CHECK(baseline_quantile(b, now, zq[i], &got, &count));
        CHECK_INT(count, N);
        if (!within(got, want))
            TEST_FAIL("q=%g: %.17g, exact %.17g", zq[i], got, want);
        if (want == 0)
            zeros++;
        else
            positives++;
    }
    CHECK_INT(zeros, 3);
    CHECK_INT(positives, 4);
    baseline_free(b);
}

TEST(negative_zero_and_non_finite)
{
    struct baseline *b = baseline_new(SEASON_NONE, 86400);
    CHECK(b != NULL);
    const size_t empty = baseline_memory(b);
    /* refused before any allocation, and not counted */
    CHECK_INT(baseline_add(b, T0, NAN), -EINVAL);
    CHECK_INT(baseline_add(b, T0, INFINITY), -EINVAL);
    CHECK_INT(baseline_add(b, T0, -INFINITY), -EINVAL);
    CHECK_INT(baseline_add(b, NAN, 1), -EINVAL);
    CHECK_INT(baseline_add(b, INFINITY, 1), -EINVAL);
    CHECK_INT(baseline_memory(b), empty);
    CHECK_INT(b->learned, 0);
    CHECK_INT(baseline_count(b, T0), 0);

    /* a negative value, -0, values at or below BASELINE_MIN_VALUE: the zero bucket */
    CHECK_INT(baseline_add(b, T0, -5), 0);
    double got = -1;
    uint64_t count = 0;
    CHECK(baseline_quantile(b, T0, 1, &got, &count));
    CHECK_DBL(got, 0, 0);
    CHECK_INT(count, 1);
    CHECK_INT(baseline_add(b, T0, -0.0), 0);
    CHECK_INT(baseline_add(b, T0, BASELINE_MIN_VALUE), 0);
    CHECK_INT(baseline_add(b, T0, BASELINE_MIN_VALUE / 2), 0);
    CHECK_INT(baseline_add(b, T0, -1e300), 0);
    CHECK_INT(b->slots[0]->cur.zero, 5);
    CHECK_INT(b->slots[0]->cur.n, 0);
    CHECK(baseline_quantile(b, T0, 1, &got, &count));
    CHECK_DBL(got, 0, 0);
    CHECK_INT(count, 5);

    /* refused values among counted ones change nothing */
    CHECK_INT(baseline_add(b, T0, 3), 0);
    CHECK_INT(baseline_add(b, T0, NAN), -EINVAL);
    CHECK_INT(baseline_count(b, T0), 6);
    CHECK_INT(b->learned, 6);
    CHECK(baseline_quantile(b, T0, 1, &got, &count));
    CHECK(within(got, 3));
    CHECK(baseline_quantile(b, T0, 0.8, &got, &count)); /* rank 4: the last zero */
    CHECK_DBL(got, 0, 0);
    /* just above BASELINE_MIN_VALUE: a real bucket, within the error */
    CHECK_INT(baseline_add(b, T0, 1e-11), 0);
    CHECK_INT(b->slots[0]->cur.zero, 5);
    CHECK(baseline_quantile(b, T0, 0.84, &got, &count)); /* rank floor(5.04) of 7: 1e-11 */
    CHECK(within(got, 1e-11));
    baseline_free(b);
}

/* ---- 3. the bound on buckets ---- */

/* Values from 1e-6 to 1e6, evenly in log: 12 decades are about 690 buckets of ratio
 * gamma = 1.02 / 0.98, far past BASELINE_BUCKETS. The lowest buckets collapse: the count and
 * the upper quantiles (which the conditions use) stay right, while the lowest quantiles are
 * answered higher than the data (the kept buckets span gamma^128, about 2.2 decades, from
 * the top): that is the documented cost of the bound, checked here as such. */
static void check_bucket_bound(bool ascending)
{
    enum { M = 20000 };
    static double v[M];
    struct baseline *b = baseline_new(SEASON_NONE, 86400);
    CHECK(b != NULL);
    const size_t bound = sizeof(struct baseline) + sizeof(struct baseline_slot *) +
                         2 * sizeof(struct baseline_sketch);
    lcg_seed(ascending ? 11 : 12);
    for (size_t i = 0; i < M; i++) {
        double u = ascending ? (double)i / (M - 1) : lcg_uniform();
        v[i] = pow(10, -6 + 12 * u);
        CHECK_INT(baseline_add(b, T0 + (double)i * 1e-3, v[i]), 0);
        if (i == 100 || i == M - 1)
            CHECK_INT(baseline_memory(b), bound); /* no growth with the number of values */
        if (b->slots[0]->cur.n > BASELINE_BUCKETS)
            TEST_FAIL("%u buckets after %zu values", b->slots[0]->cur.n, i + 1);
    }
    const double now = T0 + 100;
    CHECK_INT(b->slots[0]->cur.n, BASELINE_BUCKETS); /* the bound was reached */
    CHECK_INT(baseline_count(b, now), M);
    double got;
    uint64_t count;
    static const double upper[] = {0.95, 0.99, 1};
    for (size_t i = 0; i < 3; i++) {
        double want = exact_quantile(v, M, upper[i]);
        CHECK(baseline_quantile(b, now, upper[i], &got, &count));
        CHECK_INT(count, M);
        if (!within(got, want))
            TEST_FAIL("q=%g: %.17g, exact %.17g", upper[i], got, want);
    }
    /* q = 0: the lowest value (about 1e-6) sits in the collapsed lowest bucket, answered at
     * that bucket's value: never lower than the data, here well above it */
    double lowest = exact_quantile(v, M, 0);
    CHECK(baseline_quantile(b, now, 0, &got, &count));
    CHECK(got >= lowest * (1 - BASELINE_ALPHA));
    CHECK(got > lowest * 100);
    /* and the lowest kept bucket is within about 2.2 decades of the top (1e6) */
    CHECK(got > 1e6 / pow((1 + BASELINE_ALPHA) / (1 - BASELINE_ALPHA), BASELINE_BUCKETS) / 2);
    baseline_free(b);
}

TEST(bucket_bound_random_order)
{
    check_bucket_bound(false);
}

TEST(bucket_bound_ascending_order)
{
    check_bucket_bound(true);
}

/* Descending: each new value is below every kept bucket once the sketch is full, and joins
 * the lowest one; the top buckets stay exact. */
TEST(bucket_bound_descending_order)
{
    enum { M = 2000 };
    static double v[M];
    struct baseline *b = baseline_new(SEASON_NONE, 86400);
    CHECK(b != NULL);
    for (size_t i = 0; i < M; i++) {
        v[i] = pow(10, 6 - 12 * (double)i / (M - 1));
        CHECK_INT(baseline_add(b, T0, v[i]), 0);
    }
    CHECK_INT(b->slots[0]->cur.n, BASELINE_BUCKETS);
    CHECK_INT(baseline_count(b, T0), M);
    double got;
    CHECK(baseline_quantile(b, T0, 0.99, &got, NULL));
    CHECK(within(got, exact_quantile(v, M, 0.99)));
    CHECK(baseline_quantile(b, T0, 1, &got, NULL));
    CHECK(within(got, 1e6));
    baseline_free(b);
}

/* ---- 4. seasonality ---- */

TEST(seasons_and_slot_names)
{
    CHECK_INT(baseline_slots(SEASON_NONE), 1);
    CHECK_INT(baseline_slots(SEASON_DAILY), 24);
    CHECK_INT(baseline_slots(SEASON_WEEKLY), 168);
    CHECK_STR(baseline_season_name(SEASON_NONE), "none");
    CHECK_STR(baseline_season_name(SEASON_DAILY), "daily");
    CHECK_STR(baseline_season_name(SEASON_WEEKLY), "weekly");
    CHECK_INT(baseline_season_parse("none"), SEASON_NONE);
    CHECK_INT(baseline_season_parse("daily"), SEASON_DAILY);
    CHECK_INT(baseline_season_parse("weekly"), SEASON_WEEKLY);
    CHECK_INT(baseline_season_parse("hourly"), -EINVAL);
    CHECK_INT(baseline_season_parse("Daily"), -EINVAL);
    CHECK_INT(baseline_season_parse(""), -EINVAL);
    CHECK_INT(baseline_season_parse(NULL), -EINVAL);

    char buf[32];
    CHECK_INT(baseline_slot_of(SEASON_NONE, T0), 0);
    baseline_slot_name(SEASON_NONE, 0, buf, sizeof(buf));
    CHECK_STR(buf, "all");
    CHECK_INT(baseline_slot_of(SEASON_DAILY, MONDAY + 14 * HOUR), 14);
    CHECK_INT(baseline_slot_of(SEASON_DAILY, MONDAY + 14 * HOUR + 3599.5), 14);
    CHECK_INT(baseline_slot_of(SEASON_DAILY, MONDAY + 15 * HOUR), 15);
    CHECK_INT(baseline_slot_of(SEASON_DAILY, MONDAY + 5 * DAY + 2 * HOUR), 2);
    CHECK_INT(baseline_slot_of(SEASON_DAILY, MONDAY - 1), 23);
    baseline_slot_name(SEASON_DAILY, 14, buf, sizeof(buf));
    CHECK_STR(buf, "14h");
    baseline_slot_name(SEASON_DAILY, 0, buf, sizeof(buf));
    CHECK_STR(buf, "0h");
}

TEST(seasonality_weekly)
{
    /* the constants are what they say: checked with the C library */
    struct tm tm;
    time_t t = (time_t)MONDAY;
    CHECK(gmtime_r(&t, &tm) != NULL);
    CHECK_INT(tm.tm_wday, 1);
    CHECK_INT(tm.tm_hour, 0);
    t = 345600; /* 1970-01-05T00:00Z */
    CHECK(gmtime_r(&t, &tm) != NULL);
    CHECK_INT(tm.tm_wday, 1);

    char buf[32];
    CHECK_INT(baseline_slot_of(SEASON_WEEKLY, 345600), 0);
    baseline_slot_name(SEASON_WEEKLY, 0, buf, sizeof(buf));
    CHECK_STR(buf, "Mon 0h");
    CHECK_INT(baseline_slot_of(SEASON_WEEKLY, 0), 72); /* 1970-01-01 was a Thursday */
    baseline_slot_name(SEASON_WEEKLY, 72, buf, sizeof(buf));
    CHECK_STR(buf, "Thu 0h");
    /* 2024-01-02T14:00Z, a Tuesday */
    const double tuesday14 = MONDAY + DAY + 14 * HOUR;
    t = (time_t)tuesday14;
    CHECK(gmtime_r(&t, &tm) != NULL);
    CHECK_INT(tm.tm_wday, 2);
    CHECK_INT(tm.tm_hour, 14);
    CHECK_INT(baseline_slot_of(SEASON_WEEKLY, tuesday14), 38);
    baseline_slot_name(SEASON_WEEKLY, baseline_slot_of(SEASON_WEEKLY, tuesday14), buf, sizeof(buf));
    CHECK_STR(buf, "Tue 14h");
    CHECK_INT(baseline_slot_of(SEASON_WEEKLY, tuesday14 + 7 * DAY), 38); /* a week later */
    CHECK_INT(baseline_slot_of(SEASON_WEEKLY, MONDAY + 7 * DAY - 1), 167);
    baseline_slot_name(SEASON_WEEKLY, 167, buf, sizeof(buf));
    CHECK_STR(buf, "Sun 23h");
    /* a short buffer is cut, not overrun */
    char small[4];
    baseline_slot_name(SEASON_WEEKLY, 38, small, sizeof(small));
    CHECK_STR(small, "Tue");

    /* Tuesday 14h and Wednesday 14h are different slots; Tuesday 14h of the next week is the
     * same one */
    struct baseline *b = baseline_new(SEASON_WEEKLY, 30 * DAY);
    CHECK(b != NULL);
    CHECK_INT(baseline_add(b, tuesday14, 10), 0);
    CHECK_INT(baseline_add(b, tuesday14 + DAY, 1000), 0);
    CHECK_INT(baseline_add(b, tuesday14 + 7 * DAY + 60, 20), 0);
    const double later = tuesday14 + 14 * DAY + 120;
    CHECK_INT(baseline_count(b, later), 2);
    CHECK_INT(baseline_count(b, later + DAY), 1);
    double got;
    CHECK(baseline_quantile(b, later, 1, &got, NULL));
    CHECK(within(got, 20));
    CHECK(baseline_quantile(b, later + DAY, 0, &got, NULL));
    CHECK(within(got, 1000));
    baseline_free(b);
}

TEST(seasonality_daily)
{
    enum { DAYS = 6, PER_HOUR = 50 };
    static double at14[DAYS * PER_HOUR], at02[DAYS * PER_HOUR];
    struct baseline *b = baseline_new(SEASON_DAILY, 30 * DAY);
    CHECK(b != NULL);
    lcg_seed(3);
    size_t n = 0;
    for (int d = 0; d < DAYS; d++)
        for (int i = 0; i < PER_HOUR; i++, n++) {
            at14[n] = 100 + 50 * lcg_uniform(); /* busy afternoons */
            at02[n] = 1 + lcg_uniform();        /* quiet nights */
            CHECK_INT(baseline_add(b, MONDAY + d * DAY + 14 * HOUR + i * 60, at14[n]), 0);
            CHECK_INT(baseline_add(b, MONDAY + d * DAY + 2 * HOUR + i * 60, at02[n]), 0);
        }
    /* two slots allocated, the rest untouched */
    for (size_t k = 0; k < 24; k++)
        CHECK((b->slots[k] != NULL) == (k == 14 || k == 2));
    const double day = MONDAY + 10 * DAY;
    /* a 14h time answers from the 14h values only; 02h from 02h's */
    for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
        double got;
        uint64_t count;
        CHECK(baseline_quantile(b, day + 14 * HOUR + 1800, qs[i], &got, &count));
        CHECK_INT(count, n);
        CHECK(within(got, exact_quantile(at14, n, qs[i])));
        CHECK(baseline_quantile(b, day + 2 * HOUR + 59 * 60, qs[i], &got, &count));
        CHECK_INT(count, n);
        CHECK(within(got, exact_quantile(at02, n, qs[i])));
    }
    double got = -1;
    uint64_t count = 7;
    CHECK(!baseline_quantile(b, day + 5 * HOUR, 0.5, &got, &count)); /* nothing at 05h */
    CHECK_INT(count, 0);
    CHECK_DBL(got, -1, 0);
    CHECK_INT(baseline_count(b, day + 15 * HOUR), 0);
    CHECK_INT(b->learned, 2 * n);
    baseline_free(b);
}

/* ---- 5. the window ---- */

TEST(window_expires_and_rotates)
{
    const double w = 1000;
    struct baseline *b = baseline_new(SEASON_NONE, w);
    CHECK(b != NULL);
    CHECK_DBL(b->window, w, 0);
    double got;
    uint64_t count;

    /* one epoch: counted for a window, then not at all */
    for (int i = 0; i < 10; i++)
        CHECK_INT(baseline_add(b, T0, 1), 0);
    CHECK_INT(baseline_count(b, T0), 10);
    CHECK_INT(baseline_count(b, T0 + w - 1), 10);
    CHECK_INT(baseline_count(b, T0 + w), 0);
    count = 99;
    CHECK(!baseline_quantile(b, T0 + w, 0.5, &got, &count));
    CHECK_INT(count, 0);
    baseline_free(b);

    /* two epochs: 8 values in [T0, T0 + w/2), then at T0 + w/2 the current epoch becomes the
     * previous one and 7 more start a new one */
    b = baseline_new(SEASON_NONE, w);
    CHECK(b != NULL);
    for (int i = 0; i < 5; i++)
        CHECK_INT(baseline_add(b, T0, 1), 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(baseline_add(b, T0 + w / 2 - 1, 1), 0);
    CHECK_INT(b->slots[0]->prev.start, 0); /* not rotated yet */
    for (int i = 0; i < 7; i++)
        CHECK_INT(baseline_add(b, T0 + w / 2, 100), 0);
    CHECK_DBL(b->slots[0]->prev.start, T0, 0);
    CHECK_DBL(b->slots[0]->cur.start, T0 + w / 2, 0);
    CHECK_INT(baseline_count(b, T0 + w / 2), 15);
    CHECK_INT(baseline_count(b, T0 + w - 1), 15);
    CHECK(baseline_quantile(b, T0 + w - 1, 0, &got, &count));
    CHECK(within(got, 1));
    CHECK_INT(count, 15);
    /* the previous epoch counts while its newest value (T0 + w/2 - 1) is less than a
     * window old: still at T0 + w, no longer at T0 + w/2 - 1 + w */
    CHECK_INT(baseline_count(b, T0 + w), 15);
    CHECK_INT(baseline_count(b, T0 + w / 2 - 1 + w - 1), 15);
    CHECK_INT(baseline_count(b, T0 + w / 2 - 1 + w), 7);
    CHECK(baseline_quantile(b, T0 + w / 2 - 1 + w, 0, &got, &count));
    CHECK(within(got, 100));
    CHECK_INT(count, 7);
    CHECK_INT(baseline_count(b, T0 + w / 2 + w - 1), 7);
    CHECK_INT(baseline_count(b, T0 + w / 2 + w), 0);

    /* rotating again drops the older epoch (its 8 values) and keeps the 7 */
    for (int i = 0; i < 2; i++)
        CHECK_INT(baseline_add(b, T0 + w, 10), 0);
    CHECK_DBL(b->slots[0]->prev.start, T0 + w / 2, 0);
    CHECK_INT(baseline_count(b, T0 + w), 9);
    CHECK(baseline_quantile(b, T0 + w, 1, &got, &count));
    CHECK(within(got, 100));
    CHECK_INT(b->learned, 17);

    /* a long silence: the next value starts afresh, nothing old counts */
    CHECK_INT(baseline_add(b, T0 + 20 * w, 5), 0);
    CHECK_INT(baseline_count(b, T0 + 20 * w), 1);
    CHECK(baseline_quantile(b, T0 + 20 * w, 0, &got, &count));
    CHECK(within(got, 5));
    baseline_free(b);
}

/* A seasonal slot learns only in its hour: its previous visits count while their newest
 * value is within the window (an epoch's start would drop yesterday's visit of a daily
 * slot with a 1d window as soon as today's began). */
TEST(window_seasonal_visits)
{
    struct baseline *b = baseline_new(SEASON_DAILY, DAY);
    CHECK(b != NULL);
    for (int i = 0; i < 60; i++) /* Monday 14:00 to 14:59 */
        CHECK_INT(baseline_add(b, MONDAY + 14 * HOUR + i * 60, 0.2), 0);
    for (int i = 0; i < 30; i++) /* Tuesday 14:00 to 14:29: a new epoch */
        CHECK_INT(baseline_add(b, MONDAY + DAY + 14 * HOUR + i * 60, 0.3), 0);
    CHECK_INT(baseline_count(b, MONDAY + DAY + 14 * HOUR + 30 * 60), 90);
    /* Wednesday 14:00: Monday's visit is over a day old, Tuesday's not */
    CHECK_INT(baseline_count(b, MONDAY + 2 * DAY + 14 * HOUR), 30);
    baseline_free(b);

    /* weekly with 28 days: four visits of Monday 14h count */
    b = baseline_new(SEASON_WEEKLY, 28 * DAY);
    CHECK(b != NULL);
    for (int week = 0; week < 5; week++)
        for (int i = 0; i < 10; i++)
            CHECK_INT(baseline_add(b, MONDAY + week * 7 * DAY + 14 * HOUR + i * 60, 1), 0);
    uint64_t n = baseline_count(b, MONDAY + 4 * 7 * DAY + 14 * HOUR + 30 * 60);
    CHECK(n >= 30 && n <= 50);
    baseline_free(b);
}

TEST(window_clock_goes_back)
{
    struct baseline *b = baseline_new(SEASON_NONE, 1000);
    CHECK(b != NULL);
    for (int i = 0; i < 4; i++)
        CHECK_INT(baseline_add(b, T0 + i, 50), 0);
    CHECK_INT(baseline_count(b, T0 + 10), 4);
    /* 100 s back: the slot starts over with this one value */
    CHECK_INT(baseline_add(b, T0 - 100, 7), 0);
    CHECK_INT(baseline_count(b, T0 - 100), 1);
    CHECK_INT(baseline_count(b, T0 + 10), 1);
    double got;
    uint64_t count;
    CHECK(baseline_quantile(b, T0 + 10, 1, &got, &count));
    CHECK(within(got, 7));
    CHECK_INT(count, 1);
    CHECK_INT(b->learned, 5);
    CHECK_DBL(b->last_learned, T0 - 100, 0);
    /* and counts again from there */
    CHECK_INT(baseline_add(b, T0 - 50, 8), 0);
    CHECK_INT(baseline_count(b, T0 - 50), 2);
    /* a year back, after rotations: no crash, a fresh start */
    for (int i = 0; i < 5; i++)
        CHECK_INT(baseline_add(b, T0 + 600 * i, 9), 0);
    CHECK(b->slots[0]->prev.start > 0);
    CHECK_INT(baseline_add(b, T0 - 365 * DAY, 3), 0);
    CHECK_INT(baseline_count(b, T0 - 365 * DAY), 1);
    CHECK_DBL(b->slots[0]->prev.start, 0, 0);
    baseline_free(b);
}

/* ---- 6. JSON ---- */

/* A daily baseline with values in several slots, across both epochs, zeros among them. */
static struct baseline *sample_baseline(void)
{
    struct baseline *b = baseline_new(SEASON_DAILY, 4 * DAY);
    if (!b)
        return NULL;
    lcg_seed(99);
    for (int d = 0; d < 4; d++)
        for (int h = 0; h < 24; h += 5)
            for (int i = 0; i < 40; i++) {
                double u = lcg_uniform();
                double v = u < 0.1 ? 0 : exp(h / 4.0 + 3 * lcg_uniform());
                if (baseline_add(b, MONDAY + d * DAY + h * HOUR + i * 30, v) < 0) {
                    baseline_free(b);
                    return NULL;
                }
            }
    return b;
}

/* Whether a and b answer alike (the same counts, the same quantiles) in every slot at now's
 * day. */
static void check_same(const struct baseline *a, const struct baseline *b, double day)
{
    static const double jq[] = {0, 0.1, 0.5, 0.9, 0.95, 0.99, 1};
    for (int h = 0; h < 24; h++) {
        double now = day + h * HOUR + 1800;
        if (baseline_count(a, now) != baseline_count(b, now))
            TEST_FAIL("%dh: count %llu != %llu", h, (unsigned long long)baseline_count(a, now),
                      (unsigned long long)baseline_count(b, now));
        for (size_t i = 0; i < sizeof(jq) / sizeof(jq[0]); i++) {
            double x = -1, y = -2;
            uint64_t cx = 1, cy = 2;
            bool hx = baseline_quantile(a, now, jq[i], &x, &cx);
            bool hy = baseline_quantile(b, now, jq[i], &y, &cy);
            if (hx != hy || cx != cy || (hx && x != y))
                TEST_FAIL("%dh q=%g: %d %.17g %llu != %d %.17g %llu", h, jq[i], hx, x,
                          (unsigned long long)cx, hy, y, (unsigned long long)cy);
        }
    }
}

TEST(json_round_trip)
{
    struct baseline *a = sample_baseline();
    CHECK(a != NULL);
    /* days 0 and 1 in the previous epoch, 2 and 3 in the current: at day 3 both live */
    const double day = MONDAY + 3 * DAY;
    CHECK_INT(baseline_count(a, day + 10 * HOUR + 1800), 160);
    CHECK_DBL(a->slots[10]->prev.start, MONDAY + 10 * HOUR, 0);

    json_t *j = baseline_to_json(a);
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "season")), "daily");
    CHECK_INT(json_object_size(json_object_get(j, "slots")), 5); /* 0, 5, 10, 15, 20 */
    struct baseline *b = baseline_new(SEASON_DAILY, 4 * DAY);
    CHECK(b != NULL);
    CHECK_INT(baseline_from_json(b, j), 0);
    check_same(a, b, day);
    check_same(a, b, day - DAY);
    check_same(a, b, day + DAY); /* the previous epoch out of the window */
    CHECK_INT(b->learned, a->learned);
    CHECK_DBL(b->last_learned, a->last_learned, 0);
    CHECK_INT(baseline_memory(b), baseline_memory(a));

    /* through text: the same answers, and the same text again */
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    CHECK(text != NULL);
    json_error_t err;
    json_t *k = json_loads(text, 0, &err);
    CHECK(k != NULL);
    struct baseline *c = baseline_new(SEASON_DAILY, 4 * DAY);
    CHECK(c != NULL);
    CHECK_INT(baseline_from_json(c, k), 0);
    check_same(a, c, day);
    json_t *again = baseline_to_json(c);
    char *text2 = json_dumps(again, JSON_SORT_KEYS | JSON_COMPACT);
    CHECK_STR(text2, text);

    /* learning goes on after a restore as it would have */
    CHECK_INT(baseline_add(a, day + 10 * HOUR, 42), 0);
    CHECK_INT(baseline_add(c, day + 10 * HOUR, 42), 0);
    check_same(a, c, day);

    free(text);
    free(text2);
    json_decref(again);
    json_decref(k);
    json_decref(j);
    baseline_free(a);
    baseline_free(b);
    baseline_free(c);
}

/* A state file document of season with slots (takes the reference). */
static json_t *doc(const char *season, json_t *slots)
{
    return json_pack("{s:s,s:f,s:I,s:f,s:o}", "season", season, "window", 4 * DAY, "learned",
                     (json_int_t)10, "last_learned", MONDAY + 3 * HOUR, "slots", slots);
}

/* A valid epoch of slot 3 (daily): start at 03h, 2 zeros, 3 values near 1, 4 near 100. */
static json_t *good_epoch(void)
{
    return json_pack("[f,i,[[i,i],[i,i]]]", MONDAY + 3 * HOUR, 2, 0, 3, 116, 4);
}

static json_t *unused_epoch(void)
{
    return json_pack("[f,i,[]]", 0.0, 0);
}

/* Loads d (takes the reference) into a fresh daily baseline; returns it. */
static struct baseline *load(json_t *d)
{
    struct baseline *b = baseline_new(SEASON_DAILY, 4 * DAY);
    if (!b || !d)
        abort();
    if (baseline_from_json(b, d) != 0)
        abort();
    json_decref(d);
    return b;
}

#define AT3 (MONDAY + 3 * HOUR + 60)

TEST(json_valid_sample_loads)
{
    /* the fixture of the malformed cases below is itself accepted */
    struct baseline *b = load(
        doc("daily", json_pack("{s:{s:o,s:o}}", "3", "cur", good_epoch(), "prev", unused_epoch())));
    CHECK_INT(baseline_count(b, AT3), 9);
    double got;
    CHECK(baseline_quantile(b, AT3, 0, &got, NULL));
    CHECK_DBL(got, 0, 0);
    CHECK(baseline_quantile(b, AT3, 0.5, &got, NULL)); /* rank 4: in bucket 0, near 1 */
    CHECK(within(got, 1));
    CHECK(baseline_quantile(b, AT3, 1, &got, NULL)); /* bucket 116: gamma^116, about 103 */
    CHECK(got > 95 && got < 110);
    CHECK_INT(b->learned, 10);
    CHECK_DBL(b->last_learned, MONDAY + 3 * HOUR, 0);
    baseline_free(b);
}

TEST(json_malformed_parts_are_skipped)
{
    struct baseline *probe = baseline_new(SEASON_DAILY, 4 * DAY);
    CHECK(probe != NULL);
    const size_t empty = baseline_memory(probe);
    const size_t one_slot = empty + sizeof(struct baseline_slot);
    baseline_free(probe);

    /* each epoch is malformed in one way: the slot is skipped (not allocated, counts 0) */
    json_t *bad[] = {
        json_pack("[s,i,[[i,i]]]", "soon", 2, 0, 3),                              /* start */
        json_pack("[f,s,[[i,i]]]", MONDAY + 3 * HOUR, "2", 0, 3),                 /* zero */
        json_pack("[f,i,[[i,s]]]", MONDAY + 3 * HOUR, 2, 0, "3"),                 /* count */
        json_pack("[f,i,[[f,i]]]", MONDAY + 3 * HOUR, 2, 0.5, 3),                 /* key */
        json_pack("[f,i,[[i,f]]]", MONDAY + 3 * HOUR, 2, 0, 3.0),                 /* count */
        json_pack("[f,i,{}]", MONDAY + 3 * HOUR, 2),                              /* buckets */
        json_pack("[f,i,[i]]", MONDAY + 3 * HOUR, 2, 7),                          /* bucket */
        json_pack("[f,i,[[i,i,i]]]", MONDAY + 3 * HOUR, 2, 0, 3, 1),              /* bucket */
        json_pack("[f,i,[[i,i],[i,i]]]", MONDAY + 3 * HOUR, 2, 5, 1, 3, 1),       /* order */
        json_pack("[f,i,[[i,i],[i,i]]]", MONDAY + 3 * HOUR, 2, 3, 1, 3, 1),       /* order */
        json_pack("[f,i,[[i,I]]]", MONDAY + 3 * HOUR, 2, 0, (json_int_t)1 << 32), /* count */
        json_pack("[f,i,[[i,i]]]", MONDAY + 3 * HOUR, 2, 0, -1),                  /* count */
        json_pack("[f,I,[[i,i]]]", MONDAY + 3 * HOUR, (json_int_t)1 << 40, 0, 3), /* zero */
        json_pack("[f,i,[[i,i]]]", MONDAY + 3 * HOUR, -2, 0, 3),                  /* zero */
        json_pack("[f,i,[[i,i]]]", MONDAY + 3 * HOUR, 2, 40000, 3),               /* key */
        json_pack("[f,i,[[i,i]]]", MONDAY + 3 * HOUR, 2, -40000, 3),              /* key */
        json_pack("[f,i,[[i,i]]]", -5.0, 2, 0, 3),                                /* start */
        json_pack("[f,i]", MONDAY + 3 * HOUR, 2),                                 /* short */
        json_pack("[f,i,[],i]", MONDAY + 3 * HOUR, 2, 1),                         /* long */
        json_pack("{s:i}", "start", 1),                                           /* object */
        json_string("cur"),
        json_null(),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(bad[i] != NULL);
        /* as the current epoch, and as the previous one beside a good current epoch */
        struct baseline *b = load(
            doc("daily", json_pack("{s:{s:O,s:o}}", "3", "cur", bad[i], "prev", unused_epoch())));
        if (baseline_count(b, AT3) != 0 || baseline_memory(b) != empty)
            TEST_FAIL("bad cur %zu: loaded (count %llu, %zu bytes)", i,
                      (unsigned long long)baseline_count(b, AT3), baseline_memory(b));
        baseline_free(b);
        b = load(
            doc("daily", json_pack("{s:{s:o,s:o}}", "3", "cur", good_epoch(), "prev", bad[i])));
        if (baseline_count(b, AT3) != 0 || baseline_memory(b) != empty)
            TEST_FAIL("bad prev %zu: loaded (count %llu)", i,
                      (unsigned long long)baseline_count(b, AT3));
        baseline_free(b);
    }

    /* too many buckets (ascending, valid otherwise): skipped before any is read */
    json_t *many = json_array();
    for (int k = 0; k < 100000; k++)
        json_array_append_new(many, json_pack("[i,i]", k - 50000, 1));
    struct baseline *b =
        load(doc("daily", json_pack("{s:{s:[f,i,o],s:o}}", "3", "cur", MONDAY + 3 * HOUR, 0, many,
                                    "prev", unused_epoch())));
    CHECK_INT(baseline_count(b, AT3), 0);
    CHECK_INT(baseline_memory(b), empty);
    baseline_free(b);
    many = json_array();
    for (int k = 0; k <= BASELINE_BUCKETS; k++)
        json_array_append_new(many, json_pack("[i,i]", k, 1));
    b = load(doc("daily", json_pack("{s:{s:[f,i,o],s:o}}", "3", "cur", MONDAY + 3 * HOUR, 0, many,
                                    "prev", unused_epoch())));
    CHECK_INT(baseline_count(b, AT3), 0);
    baseline_free(b);
    /* exactly BASELINE_BUCKETS: accepted */
    many = json_array();
    for (int k = 0; k < BASELINE_BUCKETS; k++)
        json_array_append_new(many, json_pack("[i,i]", k, 1));
    b = load(doc("daily", json_pack("{s:{s:[f,i,o],s:o}}", "3", "cur", MONDAY + 3 * HOUR, 0, many,
                                    "prev", unused_epoch())));
    CHECK_INT(baseline_count(b, AT3), BASELINE_BUCKETS);
    baseline_free(b);

    /* slot indexes out of range or not numbers are skipped; a good slot beside them loads */
    json_t *slots = json_object();
    static const char *const keys[] = {"24", "-1", "x", "", "3x", "1e1", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        json_object_set_new(slots, keys[i],
                            json_pack("{s:o,s:o}", "cur", good_epoch(), "prev", unused_epoch()));
    json_object_set_new(slots, "4", json_string("not a slot"));
    json_object_set_new(slots, "3",
                        json_pack("{s:o,s:o}", "cur", good_epoch(), "prev", unused_epoch()));
    b = load(doc("daily", slots));
    CHECK_INT(baseline_count(b, AT3), 9);
    CHECK_INT(baseline_memory(b), one_slot);
    for (size_t k = 0; k < 24; k++)
        CHECK((b->slots[k] != NULL) == (k == 3));
    baseline_free(b);

    /* a wrong season, a missing one, a document that is no object: nothing loaded */
    json_t *docs[] = {
        doc("weekly", json_pack("{s:{s:o,s:o}}", "3", "cur", good_epoch(), "prev", unused_epoch())),
        doc("none", json_pack("{s:{s:o,s:o}}", "0", "cur", good_epoch(), "prev", unused_epoch())),
        json_pack("{s:i,s:{s:{s:o,s:o}}}", "season", 1, "slots", "3", "cur", good_epoch(), "prev",
                  unused_epoch()),
        json_pack("{s:{s:{s:o,s:o}}}", "slots", "3", "cur", good_epoch(), "prev", unused_epoch()),
        json_pack("[s]", "daily"),
        json_null(),
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        b = load(docs[i]);
        if (baseline_count(b, AT3) != 0 || baseline_memory(b) != empty || b->learned != 0)
            TEST_FAIL("doc %zu: loaded", i);
        baseline_free(b);
    }
    /* slots not an object; learned and last_learned of wrong types or negative */
    b = load(json_pack("{s:s,s:[i],s:i,s:s}", "season", "daily", "slots", 3, "learned", -4,
                       "last_learned", "yesterday"));
    CHECK_INT(baseline_memory(b), empty);
    CHECK_INT(b->learned, 0);
    CHECK_DBL(b->last_learned, 0, 0);
    baseline_free(b);
    b = baseline_new(SEASON_DAILY, DAY);
    CHECK(b != NULL);
    int r = baseline_from_json(b, NULL);
    size_t m = baseline_memory(b);
    baseline_free(b);
    CHECK_INT(r, 0);
    CHECK_INT(m, empty);
}

/* Loading a document with every slot, and junk besides, allocates no more than the bound. */
TEST(json_memory_is_bounded)
{
    json_t *slots = json_object();
    char key[32];
    for (int k = 0; k < 2000; k++) {
        snprintf(key, sizeof(key), "%d", k % 24 == 3 ? 3 : k);
        json_object_set_new(slots, key,
                            json_pack("{s:o,s:o}", "cur", good_epoch(), "prev", unused_epoch()));
    }
    struct baseline *b = load(doc("daily", slots));
    struct baseline *probe = baseline_new(SEASON_DAILY, DAY);
    CHECK(probe != NULL);
    const size_t bound = baseline_memory(probe) + 24 * sizeof(struct baseline_slot);
    baseline_free(probe);
    CHECK_INT(baseline_memory(b), bound);
    CHECK_INT(baseline_count(b, AT3), 9);
    baseline_free(b);
}

/* ---- 7. memory ---- */

/* The documented bound: the struct, the slot pointers, and per slot two sketches. */
static size_t documented(enum baseline_season s, size_t used)
{
    return sizeof(struct baseline) + baseline_slots(s) * sizeof(struct baseline_slot *) +
           used * 2 * BASELINE_SKETCH_BYTES;
}

TEST(memory_bounds)
{
    CHECK_INT(sizeof(struct baseline_slot), 2 * BASELINE_SKETCH_BYTES);
    CHECK(BASELINE_SKETCH_BYTES <= 1024); /* "about 1 KiB" */
    static const enum baseline_season seasons[] = {SEASON_NONE, SEASON_DAILY, SEASON_WEEKLY};
    static const size_t slots[] = {1, 24, 168};
    for (size_t i = 0; i < 3; i++) {
        enum baseline_season s = seasons[i];
        struct baseline *b = baseline_new(s, 14 * DAY);
        CHECK(b != NULL);
        CHECK_INT(baseline_memory(b), documented(s, 0));
        /* fill every slot of a week, with many distinct values, over two weeks (both epochs) */
        lcg_seed(5);
        for (int week = 0; week < 2; week++)
            for (size_t h = 0; h < 168; h++)
                for (int k = 0; k < 20; k++) {
                    double t = MONDAY + week * 7 * DAY + (double)h * HOUR + k * 60;
                    CHECK_INT(baseline_add(b, t, pow(10, -6 + 12 * lcg_uniform())), 0);
                }
        for (size_t k = 0; k < slots[i]; k++)
            CHECK(b->slots[k] != NULL);
        CHECK_INT(baseline_memory(b), documented(s, slots[i]));
        /* the header's round figures: 2, 48 and 336 KiB of sketches at most */
        CHECK(baseline_memory(b) - documented(s, 0) <= slots[i] * 2048);
        baseline_free(b);
    }
}

TEST_MAIN(TEST_ENTRY(accuracy_against_exact_quantiles), TEST_ENTRY(empty_has_no_answer),
          TEST_ENTRY(zero_share_and_negatives), TEST_ENTRY(negative_zero_and_non_finite),
          TEST_ENTRY(bucket_bound_random_order), TEST_ENTRY(bucket_bound_ascending_order),
          TEST_ENTRY(bucket_bound_descending_order), TEST_ENTRY(seasons_and_slot_names),
          TEST_ENTRY(seasonality_weekly), TEST_ENTRY(seasonality_daily),
          TEST_ENTRY(window_expires_and_rotates), TEST_ENTRY(window_seasonal_visits),
          TEST_ENTRY(window_clock_goes_back), TEST_ENTRY(json_round_trip),
          TEST_ENTRY(json_valid_sample_loads), TEST_ENTRY(json_malformed_parts_are_skipped),
          TEST_ENTRY(json_memory_is_bounded), TEST_ENTRY(memory_bounds))
