/* report_baselines: the report's "compared with the baseline" (report_baselines.h). An entry
 * is {signal, target, slot, samples, min_samples, ready, now, median, q99, ratio,
 * trend_per_hour} as docs/REPORT.md says; while it is built it also holds the signal's index
 * and whether its value is still to be queried, removed by report_baselines_finish. */
#include "report_baselines.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baseline.h"
#include "parse.h"
#include "targets.h"

#define KEY_SIGNAL "_signal_index" /* the entry's signal (internal) */
#define KEY_QUERY "_query_value"   /* its now is to be queried (internal) */

void report_baselines_free(struct report_baselines *rb)
{
    json_decref(rb->entries);
    for (size_t i = 0; i < RULES_MAX_SIGNALS; i++) {
        free(rb->value_query[i]);
        free(rb->trend_query[i]);
    }
    for (size_t i = 0; i < RULES_MAX_TARGET_LABELS; i++)
        free(rb->by[i]);
    memset(rb, 0, sizeof(*rb));
}

int report_baselines_init(struct report_baselines *rb, const struct rules *r)
{
    memset(rb, 0, sizeof(*rb));
    rb->n_signals = r->n_signals < RULES_MAX_SIGNALS ? r->n_signals : RULES_MAX_SIGNALS;
    if (!(rb->entries = json_array()))
        return -ENOMEM;
    for (size_t i = 0; i < rb->n_signals; i++) {
        const struct signal_def *s = &r->signals[i];
        if (!s->baseline || !s->query)
            continue;
        if (!(rb->value_query[i] = strdup(s->query)) ||
            (!r->targets.by && asprintf(&rb->trend_query[i], "deriv((%s)[%ds:1m]) * 3600", s->query,
                                        REPORT_TREND_SECONDS) < 0)) {
            rb->trend_query[i] = NULL;
            report_baselines_free(rb);
            return -ENOMEM;
        }
    }
    for (; rb->n_by < r->targets.n_by && rb->n_by < RULES_MAX_TARGET_LABELS; rb->n_by++)
        if (!(rb->by[rb->n_by] = strdup(r->targets.by[rb->n_by]))) {
            report_baselines_free(rb);
            return -ENOMEM;
        }
    return 0;
}

/* Signal i's entry of one owner: its baseline b (NULL: nothing learned) at now, against
 * value v (NULL: to be queried). */
static json_t *entry(const struct rules *r, size_t i, const struct baseline *b,
                     const struct signal_value *v, const json_t *labels, double now)
{
    const struct baseline_def *d = r->signals[i].baseline;
    enum baseline_season season = (enum baseline_season)d->season;
    char slot[16];
    baseline_slot_name(season, baseline_slot_of(season, now), slot, sizeof(slot));
    uint64_t n = b ? baseline_count(b, now) : 0;
    double median = 0, q99 = 0;
    bool any = b && baseline_quantile(b, now, 0.5, &median, NULL) &&
               baseline_quantile(b, now, 0.99, &q99, NULL);
    bool ready = any && n >= d->min_samples;
    json_t *o = json_pack("{s:s,s:I,s:s,s:I,s:I,s:b}", "signal", r->signals[i].name, KEY_SIGNAL,
                          (json_int_t)i, "slot", slot, "samples", (json_int_t)n, "min_samples",
                          (json_int_t)d->min_samples, "ready", ready);
    if (!o)
        return NULL;
    int ret = labels ? json_object_set(o, "target", (json_t *)labels) : 0;
    bool known = v && v->known && isfinite(v->value);
    ret |= json_object_set_new(o, "now", known ? json_real(v->value) : json_null());
    if (!v)
        ret |= json_object_set_new(o, KEY_QUERY, json_true());
    if (ready) {
        ret |= json_object_set_new(o, "median", json_real(median));
        ret |= json_object_set_new(o, "q99", json_real(q99));
    }
    if (ret < 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int report_baselines_add(struct report_baselines *rb, const struct rules *r,
                         const struct baseline_set *set, const struct signal_value *values,
                         const json_t *labels, double now)
{
    if (labels && rb->n_targets++ >= REPORT_BASELINES_MAX_TARGETS)
        return 0;
    for (size_t i = 0; i < rb->n_signals && i < r->n_signals; i++) {
        if (!r->signals[i].baseline)
            continue;
        const struct baseline *b = set && set->by_signal && i < set->n ? set->by_signal[i] : NULL;
        json_t *o = entry(r, i, b, values ? &values[i] : NULL, labels, now);
        if (!o || json_array_append_new(rb->entries, o) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* A series' value ("value": [time, "text"]), NaN when it has none. */
static double series_value(const json_t *series)
{
    double v;
    const char *text = json_string_value(json_array_get(json_object_get(series, "value"), 1));
    return text && parse_double(text, &v) == 0 ? v : NAN;
}

/* The one number an answer gives the entry: without targets (labels NULL) its only series';
 * with, the series of the target's labels, or a series shared by all targets (none of the
 * by labels) when it is the only one, as targets_match reads a vector. NaN when none, or
 * more than one. */
static double answer_value(const struct report_baselines *rb, const struct report_answer *a,
                           const json_t *labels)
{
    const json_t *vec = a->series;
    size_t n = json_array_size(vec);
    if (!labels)
        return n == 1 ? series_value(json_array_get(vec, 0)) : NAN;
    char want[TARGETS_MAX_KEY], got[TARGETS_MAX_KEY];
    const char *const *by = (const char *const *)rb->by;
    if (targets_key_by(by, rb->n_by, labels, want, sizeof(want)) < 0)
        return NAN;
    double v = NAN;
    size_t found = 0;
    for (size_t k = 0; k < n; k++) {
        const json_t *s = json_array_get(vec, k);
        if (targets_key_by(by, rb->n_by, json_object_get(s, "metric"), got, sizeof(got)) >= 0 &&
            strcmp(got, want) == 0 && found++ == 0)
            v = series_value(s);
    }
    if (found == 0 && n == 1) {
        const json_t *metric = json_object_get(json_array_get(vec, 0), "metric");
        bool shared = true;
        for (size_t b = 0; b < rb->n_by && shared; b++)
            shared = json_object_get(metric, rb->by[b]) == NULL;
        return shared ? series_value(json_array_get(vec, 0)) : NAN;
    }
    return found == 1 ? v : NAN;
}

/* Whether the report queried nothing of its own: every check skipped, or none. */
static bool report_queried_nothing(const json_t *rep)
{
    size_t k;
    const json_t *x;
    json_array_foreach(json_object_get(rep, "checks"), k, x)
    {
        const char *st = json_string_value(json_object_get(x, "status"));
        if (!st || strcmp(st, "skipped") != 0)
            return false;
    }
    return true;
}

int report_baselines_finish(struct report_baselines *rb, const struct report_source *src,
                            double time, json_t *rep, char *err, size_t err_size)
{
    /* the queries: each signal's value when an entry waits for it, each trend */
    const char *qs[2 * RULES_MAX_SIGNALS];
    size_t value_at[RULES_MAX_SIGNALS], trend_at[RULES_MAX_SIGNALS], n = 0;
    bool wanted[RULES_MAX_SIGNALS] = {false};
    size_t k;
    json_t *x;
    json_array_foreach(rb->entries, k, x)
    {
        json_int_t i = json_integer_value(json_object_get(x, KEY_SIGNAL));
        if (json_object_get(x, KEY_QUERY) && i >= 0 && (size_t)i < rb->n_signals)
            wanted[i] = true;
    }
    for (size_t i = 0; i < rb->n_signals; i++) {
        value_at[i] = trend_at[i] = SIZE_MAX;
        if (wanted[i] && rb->value_query[i]) {
            value_at[i] = n;
            qs[n++] = rb->value_query[i];
        }
        if (rb->trend_query[i]) {
            trend_at[i] = n;
            qs[n++] = rb->trend_query[i];
        }
    }
    struct report_answer *answers = n && src ? calloc(n, sizeof(*answers)) : NULL;
    if (n && src && !answers) {
        snprintf(err, err_size, "out of memory");
        report_baselines_free(rb);
        return -ENOMEM;
    }
    if (answers)
        src->query(src->ctx, qs, n, time, answers);
    size_t unreachable = 0;
    for (size_t q = 0; answers && q < n; q++)
        unreachable += !answers[q].series && answers[q].unreachable;
    int ret = 0;
    if (answers && unreachable == n && report_queried_nothing(rep)) {
        report_unreachable(&answers[0], json_string_value(json_object_get(rep, "prometheus")), err,
                           err_size);
        ret = -EHOSTUNREACH;
    }
    int set = 0; /* json_object_set_new's results, or-ed */
    json_array_foreach(rb->entries, k, x)
    {
        size_t i = (size_t)json_integer_value(json_object_get(x, KEY_SIGNAL));
        const json_t *labels = json_object_get(x, "target");
        if (i >= rb->n_signals)
            continue;
        if (json_object_get(x, KEY_QUERY) && answers && value_at[i] != SIZE_MAX) {
            double v = answer_value(rb, &answers[value_at[i]], labels);
            set |= json_object_set_new(x, "now", isfinite(v) ? json_real(v) : json_null());
        }
        const json_t *now = json_object_get(x, "now"), *median = json_object_get(x, "median");
        if (json_is_true(json_object_get(x, "ready")))
            set |= json_object_set_new(
                x, "ratio",
                json_is_number(now) && json_number_value(median) > 0
                    ? json_real(json_number_value(now) / json_number_value(median))
                    : json_null());
        /* the trend: null when Prometheus has not two points of it in the window */
        if (!labels && answers && trend_at[i] != SIZE_MAX) {
            double v = answer_value(rb, &answers[trend_at[i]], NULL);
            set |=
                json_object_set_new(x, "trend_per_hour", isfinite(v) ? json_real(v) : json_null());
        }
        json_object_del(x, KEY_SIGNAL);
        json_object_del(x, KEY_QUERY);
    }
    for (size_t q = 0; answers && q < n; q++)
        json_decref(answers[q].series);
    free(answers);
    if (ret == 0 && set < 0)
        ret = -ENOMEM;
    if (ret == 0 && json_array_size(rb->entries) &&
        json_object_set(rep, "compared_with_baseline", rb->entries) < 0)
        ret = -ENOMEM;
    if (ret == -ENOMEM)
        snprintf(err, err_size, "out of memory");
    report_baselines_free(rb);
    return ret;
}
