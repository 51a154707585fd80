/* test-report-baselines: the report's "compared with the baseline" (report_baselines.c), as
 * GET /api/v1/report and `report --baselines` build it: the entries of the controller and of
 * targets, the values given (the daemon's) or queried (the command's) with the trends in one
 * round from a fake struct report_source, matched to targets as targets_match reads a
 * vector, the ratio, and the internal keys gone. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "buf.h"
#include "report_baselines.h"
#include "rules.h"
#include "step.h"
#include "test.h"

#define T0 1700000000.0

static struct rules *load(const char *yaml)
{
    struct buf e;
    buf_init(&e, 1 << 16);
    struct rules *r = NULL;
    if (rules_load_string(yaml, strlen(yaml), "r.yaml", &r, &e) < 0)
        fprintf(stderr, "  load failed:\n%s", e.data ? e.data : "");
    buf_free(&e);
    return r;
}

/* The fake source: each query asked, and the reply of each known query (else no series). */
static char asked[8][256];
static size_t n_asked;
static const char *const replies[][2] = {
    {"p95_q", "[{\"metric\": {}, \"value\": [1700000000, \"6\"]}]"},
    {"deriv((p95_q)[3600s:1m]) * 3600", "[{\"metric\": {}, \"value\": [1700000000, \"0.5\"]}]"},
    {"svc_q", "[{\"metric\": {\"service\": \"a\"}, \"value\": [1700000000, \"4\"]},"
              " {\"metric\": {\"service\": \"b\"}, \"value\": [1700000000, \"8\"]},"
              " {\"metric\": {\"service\": \"c\"}, \"value\": [1700000000, \"1\"]}]"},
    {"shared_q", "[{\"metric\": {\"job\": \"x\"}, \"value\": [1700000000, \"3\"]}]"},
};

static bool down; /* every query: connection refused */

static void fake_query(void *ctx, const char *const *queries, size_t n, double time,
                       struct report_answer *answers)
{
    (void)ctx;
    (void)time;
    for (size_t i = 0; i < n; i++) {
        memset(&answers[i], 0, sizeof(answers[i]));
        if (down) {
            answers[i].error = "connect";
            answers[i].unreachable = true;
            snprintf(answers[i].detail, sizeof(answers[i].detail), "connection refused");
            continue;
        }
        if (n_asked < 8)
            snprintf(asked[n_asked++], sizeof(asked[0]), "%s", queries[i]);
        const char *text = "[]";
        for (size_t k = 0; k < sizeof(replies) / sizeof(replies[0]); k++)
            if (strcmp(replies[k][0], queries[i]) == 0)
                text = replies[k][1];
        answers[i].series = json_loads(text, 0, NULL);
        answers[i].error = "ok";
    }
}

static const struct report_source fake = {.query = fake_query, .ctx = NULL};

/* A set for r with values 1..n of its first signal learned at T0. */
static void learn(struct baseline_set *s, const struct rules *r, int n)
{
    CHECK_INT(baseline_set_init(s, r), 0);
    const struct baseline_def *d = r->signals[0].baseline;
    s->by_signal[0] = baseline_new((enum baseline_season)d->season, d->window);
    CHECK(s->by_signal[0] != NULL);
    for (int v = 1; v <= n; v++)
        CHECK_INT(baseline_add(s->by_signal[0], T0, v), 0);
}

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

TEST(controller_queried_and_given)
{
    struct rules *r =
        load("signals:\n"
             "  p95: {query: p95_q, baseline: {learn_in: [ok], min_samples: 3}}\n"
             "  other: {query: other_q}\n"
             "states:\n  - {name: slow, conditions: [\"p95 > 2\"]}\n  - {name: ok}\n");
    CHECK(r != NULL);
    struct baseline_set set;
    learn(&set, r, 5);
    char err[256];

    /* the command: now queried, with the trend, in one round */
    struct report_baselines rb;
    CHECK_INT(report_baselines_init(&rb, r), 0);
    CHECK_INT(report_baselines_add(&rb, r, &set, NULL, NULL, T0), 0);
    json_t *rep = json_object();
    n_asked = 0;
    CHECK_INT(report_baselines_finish(&rb, &fake, T0, rep, err, sizeof(err)), 0);
    CHECK_INT(n_asked, 2);
    CHECK_STR(asked[0], "p95_q");
    CHECK_STR(asked[1], "deriv((p95_q)[3600s:1m]) * 3600");
    json_t *cb = json_object_get(rep, "compared_with_baseline");
    CHECK_INT(json_array_size(cb), 1);
    json_t *x = json_array_get(cb, 0);
    CHECK_STR(json_string_value(json_object_get(x, "signal")), "p95");
    CHECK_STR(json_string_value(json_object_get(x, "slot")), "all");
    CHECK_INT(json_integer_value(json_object_get(x, "samples")), 5);
    CHECK(json_is_true(json_object_get(x, "ready")));
    CHECK(fabs(num(x, "median") - 3) <= 3 * 0.02);
    CHECK(fabs(num(x, "q99") - 4) <= 4 * 0.02); /* rank floor(0.99 x 4) */
    CHECK(num(x, "now") == 6);
    CHECK(fabs(num(x, "ratio") - 6 / num(x, "median")) < 1e-12);
    CHECK(num(x, "trend_per_hour") == 0.5);
    CHECK(json_object_get(x, "target") == NULL);
    CHECK_INT(json_object_size(x), 10); /* no internal key left */
    json_decref(rep);

    /* the daemon: its last value given, only the trend asked */
    struct signal_value values[2] = {{.known = true, .value = 1.5}, {.known = true, .value = 9}};
    CHECK_INT(report_baselines_init(&rb, r), 0);
    CHECK_INT(report_baselines_add(&rb, r, &set, values, NULL, T0), 0);
    rep = json_object();
    n_asked = 0;
    CHECK_INT(report_baselines_finish(&rb, &fake, T0, rep, err, sizeof(err)), 0);
    CHECK_INT(n_asked, 1);
    CHECK_STR(asked[0], "deriv((p95_q)[3600s:1m]) * 3600");
    x = json_array_get(json_object_get(rep, "compared_with_baseline"), 0);
    CHECK(num(x, "now") == 1.5);
    CHECK(fabs(num(x, "ratio") - 1.5 / num(x, "median")) < 1e-12);
    json_decref(rep);

    /* not ready (2 of 3 samples): no median, q99 or ratio; an unknown value is null */
    baseline_set_free(&set);
    learn(&set, r, 2);
    values[0].known = false;
    CHECK_INT(report_baselines_init(&rb, r), 0);
    CHECK_INT(report_baselines_add(&rb, r, &set, values, NULL, T0), 0);
    rep = json_object();
    CHECK_INT(report_baselines_finish(&rb, NULL, T0, rep, err, sizeof(err)), 0);
    x = json_array_get(json_object_get(rep, "compared_with_baseline"), 0);
    CHECK(json_is_false(json_object_get(x, "ready")));
    CHECK(json_is_null(json_object_get(x, "now")));
    CHECK(!json_object_get(x, "median") && !json_object_get(x, "ratio"));
    json_decref(rep);

    /* Prometheus down (the baseline of 2 values above): no report when the report queried nothing
     * else (as report_build fails), the values null when its checks were queried */
    down = true;
    CHECK_INT(report_baselines_init(&rb, r), 0);
    CHECK_INT(report_baselines_add(&rb, r, &set, NULL, NULL, T0), 0);
    rep =
        json_pack("{s:s,s:[{s:s}]}", "prometheus", "http://p:9090", "checks", "status", "skipped");
    CHECK_INT(report_baselines_finish(&rb, &fake, T0, rep, err, sizeof(err)), -EHOSTUNREACH);
    CHECK_STR(err, "cannot query Prometheus at http://p:9090: connection refused");
    json_decref(rep);
    CHECK_INT(report_baselines_init(&rb, r), 0);
    CHECK_INT(report_baselines_add(&rb, r, &set, NULL, NULL, T0), 0);
    rep = json_pack("{s:[{s:s}]}", "checks", "status", "failed");
    CHECK_INT(report_baselines_finish(&rb, &fake, T0, rep, err, sizeof(err)), 0);
    x = json_array_get(json_object_get(rep, "compared_with_baseline"), 0);
    CHECK(json_is_null(json_object_get(x, "now"))); /* (2 samples: not ready, no ratio) */
    CHECK(json_is_null(json_object_get(x, "trend_per_hour")));
    json_decref(rep);
    down = false;
    baseline_set_free(&set);
    rules_free(r);
}

TEST(targets_matched_shared_and_limited)
{
    struct rules *r =
        load("targets: {by: [service]}\n"
             "signals:\n"
             "  p95: {query: svc_q, baseline: {learn_in: [ok], min_samples: 3}}\n"
             "states:\n  - {name: slow, conditions: [\"p95 > 2\"]}\n  - {name: ok}\n");
    CHECK(r != NULL);
    struct baseline_set set;
    learn(&set, r, 5);
    char err[256];
    json_t *a = json_pack("{s:s}", "service", "a"), *b = json_pack("{s:s}", "service", "b"),
           *d = json_pack("{s:s}", "service", "d");
    struct report_baselines rb;
    CHECK_INT(report_baselines_init(&rb, r), 0);
    CHECK_INT(report_baselines_add(&rb, r, &set, NULL, a, T0), 0);
    CHECK_INT(report_baselines_add(&rb, r, NULL, NULL, b, T0), 0); /* learned nothing */
    CHECK_INT(report_baselines_add(&rb, r, &set, NULL, d, T0), 0); /* no series */
    json_t *rep = json_object();
    n_asked = 0;
    CHECK_INT(report_baselines_finish(&rb, &fake, T0, rep, err, sizeof(err)), 0);
    CHECK_INT(n_asked, 1); /* the value; no trend with targets */
    json_t *cb = json_object_get(rep, "compared_with_baseline");
    CHECK_INT(json_array_size(cb), 3);
    json_t *xa = json_array_get(cb, 0), *xb = json_array_get(cb, 1), *xd = json_array_get(cb, 2);
    CHECK(json_equal(json_object_get(xa, "target"), a));
    CHECK(num(xa, "now") == 4);
    CHECK(fabs(num(xa, "ratio") - 4 / num(xa, "median")) < 1e-12);
    CHECK(!json_object_get(xa, "trend_per_hour"));
    CHECK(num(xb, "now") == 8 && json_is_false(json_object_get(xb, "ready")));
    CHECK_INT(json_integer_value(json_object_get(xb, "samples")), 0);
    CHECK(json_is_null(json_object_get(xd, "now")) && json_is_null(json_object_get(xd, "ratio")));
    json_decref(rep);

    /* a series shared by every target (none of the by labels) is each target's value */
    free(r->signals[0].query);
    r->signals[0].query = strdup("shared_q");
    CHECK_INT(report_baselines_init(&rb, r), 0);
    CHECK_INT(report_baselines_add(&rb, r, &set, NULL, a, T0), 0);
    CHECK_INT(report_baselines_add(&rb, r, &set, NULL, b, T0), 0);
    rep = json_object();
    CHECK_INT(report_baselines_finish(&rb, &fake, T0, rep, err, sizeof(err)), 0);
    cb = json_object_get(rep, "compared_with_baseline");
    CHECK(num(json_array_get(cb, 0), "now") == 3 && num(json_array_get(cb, 1), "now") == 3);
    json_decref(rep);

    /* past REPORT_BASELINES_MAX_TARGETS targets nothing is added */
    CHECK_INT(report_baselines_init(&rb, r), 0);
    for (int i = 0; i < REPORT_BASELINES_MAX_TARGETS + 5; i++)
        CHECK_INT(report_baselines_add(&rb, r, &set, NULL, a, T0), 0);
    rep = json_object();
    CHECK_INT(report_baselines_finish(&rb, &fake, T0, rep, err, sizeof(err)), 0);
    CHECK_INT(json_array_size(json_object_get(rep, "compared_with_baseline")),
              REPORT_BASELINES_MAX_TARGETS);
    json_decref(rep);

    /* nothing added: no section */
    CHECK_INT(report_baselines_init(&rb, r), 0);
    rep = json_object();
    CHECK_INT(report_baselines_finish(&rb, &fake, T0, rep, err, sizeof(err)), 0);
    CHECK(json_object_get(rep, "compared_with_baseline") == NULL);
    json_decref(rep);
    json_decref(a);
    json_decref(b);
    json_decref(d);
    baseline_set_free(&set);
    rules_free(r);
}

TEST_MAIN(TEST_ENTRY(controller_queried_and_given), TEST_ENTRY(targets_matched_shared_and_limited))
