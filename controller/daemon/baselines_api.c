/* baselines_api: the baselines' views (baselines_api.h). A view is read from the sketches at
 * the time asked, so its slot is the current one (for a daily or weekly seasonality, the
 * hour now) and so are its count, readiness and quantiles: the quantiles the conditions use
 * (rules->baseline_refs of the signal) and always 0.5, 0.9 and 0.99, ascending, each null
 * (absent from the metrics) while the slot has no value. Ready is what the conditions go
 * by: at least min_samples values in the current slot. */
#include "baselines_api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIEW_MAX_TARGETS 1000 /* targets listed per signal by GET /api/v1/baselines */
#define VIEW_MAX_QUANTILES (RULES_MAX_BASELINE_REFS + 3)

static const double always_q[] = {0.5, 0.9, 0.99};

bool baselines_any(const struct rules *r)
{
    for (size_t i = 0; i < r->n_signals; i++)
        if (r->signals[i].baseline)
            return true;
    return false;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The quantiles shown of signal si, ascending, without repeats; returns how many. */
static size_t signal_quantiles(const struct rules *r, size_t si, double *qs)
{
    size_t n = 0;
    for (size_t i = 0; i < sizeof(always_q) / sizeof(always_q[0]); i++)
        qs[n++] = always_q[i];
    for (size_t k = 0; k < r->n_baseline_refs && n < VIEW_MAX_QUANTILES; k++)
        if (r->baseline_refs[k].signal == si)
            qs[n++] = r->baseline_refs[k].q;
    qsort(qs, n, sizeof(*qs), cmp_double);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || qs[i] != qs[m - 1])
            qs[m++] = qs[i];
    return m;
}

/* A quantile as a JSON key and a label value: "0.5", "0.99". */
static void q_text(double q, char *buf, size_t size)
{
    snprintf(buf, size, "%g", q);
}

/* The set's baseline of signal si, NULL while it learned nothing. */
static const struct baseline *set_get(const struct baseline_set *s, size_t si)
{
    return s && s->by_signal && si < s->n ? s->by_signal[si] : NULL;
}

/* What a signal's baseline has learned, at now, into o: slot, count, min_samples, ready,
 * quantiles, learned, last_learned, memory_bytes. */
static void learned_json(const struct rules *r, size_t si, const struct baseline *b, double now,
                         json_t *o)
{
    const struct baseline_def *d = r->signals[si].baseline;
    enum baseline_season season = (enum baseline_season)d->season;
    char slot[16];
    baseline_slot_name(season, baseline_slot_of(season, now), slot, sizeof(slot));
    uint64_t count = b ? baseline_count(b, now) : 0;
    json_object_set_new(o, "slot", json_string(slot));
    json_object_set_new(o, "count", json_integer((json_int_t)count));
    json_object_set_new(o, "min_samples", json_integer((json_int_t)d->min_samples));
    json_object_set_new(o, "ready", json_boolean(count > 0 && count >= d->min_samples));
    double qs[VIEW_MAX_QUANTILES], v;
    size_t nq = signal_quantiles(r, si, qs);
    json_t *quantiles = json_object();
    for (size_t k = 0; k < nq; k++) {
        char key[32];
        q_text(qs[k], key, sizeof(key));
        bool any = b && baseline_quantile(b, now, qs[k], &v, NULL);
        json_object_set_new(quantiles, key, any ? json_num(v) : json_null());
    }
    json_object_set_new(o, "quantiles", quantiles);
    json_object_set_new(o, "learned", json_integer(b ? (json_int_t)b->learned : 0));
    json_object_set_new(o, "last_learned", json_time(b ? b->last_learned : 0));
    json_object_set_new(o, "memory_bytes", json_integer(b ? (json_int_t)baseline_memory(b) : 0));
}

static bool is_ready(const struct rules *r, size_t si, const struct baseline *b, double now)
{
    uint64_t n = b ? baseline_count(b, now) : 0;
    return n > 0 && n >= r->signals[si].baseline->min_samples;
}

static json_t *settings_json(const struct rules *r, size_t si)
{
    const struct baseline_def *d = r->signals[si].baseline;
    json_t *o = json_object(), *learn = json_array();
    for (size_t k = 0; k < d->n_learn_in; k++)
        json_array_append_new(learn, json_string(r->states[d->learn_in[k]].name));
    json_object_set_new(o, "signal", json_string(r->signals[si].name));
    json_object_set_new(o, "learn_in", learn);
    json_object_set_new(o, "window_seconds", json_real(d->window));
    json_object_set_new(o, "seasonality",
                        json_string(baseline_season_name((enum baseline_season)d->season)));
    json_object_set_new(o, "min_samples", json_integer((json_int_t)d->min_samples));
    return o;
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(struct target *const *)a)->key, (*(struct target *const *)b)->key);
}

/* Bytes held by every baseline: the controller's and its targets'. */
static size_t memory_total(const struct controller *c)
{
    size_t m = baseline_set_memory(&c->baselines);
    for (size_t i = 0; i < c->targets.n; i++)
        m += baseline_set_memory(&c->targets.list[i]->baselines);
    return m;
}

json_t *baselines_json(struct controller *c, double now, bool targets)
{
    const struct rules *r = c->rules;
    json_t *out = json_object(), *signals = json_array();
    if (!out || !signals) {
        json_decref(out);
        json_decref(signals);
        return NULL;
    }
    struct target **sorted = NULL;
    size_t n_listed = 0;
    if (r->targets.by && targets && c->targets.n) {
        sorted = malloc(c->targets.n * sizeof(*sorted));
        if (!sorted) {
            json_decref(out);
            json_decref(signals);
            return NULL;
        }
        memcpy(sorted, c->targets.list, c->targets.n * sizeof(*sorted));
        qsort(sorted, c->targets.n, sizeof(*sorted), by_key);
        n_listed = c->targets.n < VIEW_MAX_TARGETS ? c->targets.n : VIEW_MAX_TARGETS;
    }
    for (size_t si = 0; si < r->n_signals; si++) {
        if (!r->signals[si].baseline)
            continue;
        json_t *o = settings_json(r, si);
        if (!r->targets.by) {
            learned_json(r, si, set_get(&c->baselines, si), now, o);
        } else {
            size_t ready = 0;
            for (size_t i = 0; i < c->targets.n; i++)
                ready += is_ready(r, si, set_get(&c->targets.list[i]->baselines, si), now);
            json_object_set_new(o, "targets_total", json_integer((json_int_t)c->targets.n));
            json_object_set_new(o, "targets_ready", json_integer((json_int_t)ready));
            if (targets) {
                json_t *rows = json_array();
                for (size_t i = 0; i < n_listed; i++) {
                    const struct target *t = sorted[i];
                    json_t *x = json_object();
                    json_object_set_new(x, "target", json_deep_copy(t->labels));
                    json_object_set_new(x, "id", json_string(t->id));
                    learned_json(r, si, set_get(&t->baselines, si), now, x);
                    json_array_append_new(rows, x);
                }
                json_object_set_new(o, "targets", rows);
            }
        }
        json_array_append_new(signals, o);
    }
    free(sorted);
    json_object_set_new(out, "signals", signals);
    json_object_set_new(out, "memory_bytes", json_integer((json_int_t)memory_total(c)));
    return out;
}

json_t *baselines_set_view(struct controller *c, const struct baseline_set *s, double now)
{
    const struct rules *r = c->rules;
    json_t *a = json_array();
    for (size_t si = 0; a && si < r->n_signals; si++) {
        if (!r->signals[si].baseline)
            continue;
        json_t *o = json_object();
        json_object_set_new(o, "signal", json_string(r->signals[si].name));
        learned_json(r, si, set_get(s, si), now, o);
        json_array_append_new(a, o);
    }
    return a;
}

/* ---- metrics ---- */

/* One set's series of signal si: labels[0..k) are the target's (none without targets), the
 * families are selected by name. */
static int set_metrics(struct mset *set, const struct rules *r, size_t si, const struct baseline *b,
                       double now, const char **labels, size_t k, const char *const *names)
{
    labels[k] = "signal";
    labels[k + 1] = r->signals[si].name;
    labels[k + 2] = NULL;
    uint64_t count = b ? baseline_count(b, now) : 0;
    int ret = mset_family(set, names[1], METRIC_GAUGE, NULL);
    if (ret >= 0)
        ret = mset_add(set, MSET_SUFFIX_NONE, labels, (double)count);
    if (ret >= 0)
        ret = mset_family(set, names[2], METRIC_GAUGE, NULL);
    if (ret >= 0)
        ret = mset_add(set, MSET_SUFFIX_NONE, labels, is_ready(r, si, b, now) ? 1 : 0);
    if (ret < 0 || !b || count == 0)
        return ret;
    ret = mset_family(set, names[0], METRIC_GAUGE, NULL);
    double qs[VIEW_MAX_QUANTILES], v;
    char text[32];
    size_t nq = signal_quantiles(r, si, qs);
    labels[k + 2] = "q";
    labels[k + 3] = text;
    labels[k + 4] = NULL;
    for (size_t i = 0; ret >= 0 && i < nq; i++) {
        q_text(qs[i], text, sizeof(text));
        if (baseline_quantile(b, now, qs[i], &v, NULL))
            ret = mset_add(set, MSET_SUFFIX_NONE, labels, v);
    }
    return ret;
}

int baselines_metrics(struct controller *c, struct mset *set, double now)
{
    const struct rules *r = c->rules;
    if (!baselines_any(r))
        return 0;
    bool with_targets = r->targets.by != NULL;
    static const char *const own[] = {"homeostat_controller_baseline_quantile",
                                      "homeostat_controller_baseline_samples",
                                      "homeostat_controller_baseline_ready"};
    static const char *const per_target[] = {"homeostat_controller_target_baseline_quantile",
                                             "homeostat_controller_target_baseline_samples",
                                             "homeostat_controller_target_baseline_ready"};
    const char *const *names = with_targets ? per_target : own;
    /* The families first, in this order, with their help (set_metrics selects them again). */
    int ret = mset_family(set, names[0], METRIC_GAUGE,
                          with_targets ? "Each target's learned quantile q of each signal's "
                                         "baseline in the current slot; absent while it is empty."
                                       : "The learned quantile q of each signal's baseline in "
                                         "the current slot; absent while it is empty.");
    if (ret >= 0)
        ret = mset_family(set, names[1], METRIC_GAUGE,
                          with_targets ? "Values each target's baseline of each signal counts "
                                         "in the current slot."
                                       : "Values each signal's baseline counts in the current "
                                         "slot.");
    if (ret >= 0)
        ret = mset_family(set, names[2], METRIC_GAUGE,
                          with_targets ? "1 when each target's baseline of each signal has "
                                         "min_samples values in the current slot, else 0."
                                       : "1 when each signal's baseline has min_samples values "
                                         "in the current slot (the conditions use it), else 0.");
    const char *labels[2 * (RULES_MAX_TARGET_LABELS + 2) + 1];
    for (size_t si = 0; ret >= 0 && si < r->n_signals; si++) {
        if (!r->signals[si].baseline)
            continue;
        if (!with_targets) {
            ret = set_metrics(set, r, si, set_get(&c->baselines, si), now, labels, 0, names);
            continue;
        }
        for (size_t i = 0; ret >= 0 && i < c->targets.n; i++) {
            const struct target *t = c->targets.list[i];
            size_t k = 0;
            for (size_t b = 0; b < r->targets.n_by; b++) {
                const char *v = json_string_value(json_object_get(t->labels, r->targets.by[b]));
                labels[k++] = r->targets.by[b];
                labels[k++] = v ? v : "";
            }
            ret = set_metrics(set, r, si, set_get(&t->baselines, si), now, labels, k, names);
        }
    }
    if (ret >= 0)
        ret = mset_family(set, "homeostat_controller_baseline_memory_bytes", METRIC_GAUGE,
                          "Bytes the baselines' sketches hold (the controller's and every "
                          "target's).");
    if (ret >= 0)
        ret = mset_add(set, MSET_SUFFIX_NONE, NULL, (double)memory_total(c));
    return ret < 0 ? ret : 0;
}

/* ---- the report ---- */

int baselines_report(struct controller *c, struct report_baselines *rb, double now)
{
    const struct rules *r = c->rules;
    if (!r->targets.by)
        return report_baselines_add(rb, r, &c->baselines, c->values, NULL, now);
    int ret = 0;
    for (size_t k = 0; ret == 0 && k < c->targets.n && k < REPORT_BASELINES_MAX_TARGETS; k++) {
        const struct target *t = c->targets.list[k];
        ret = report_baselines_add(rb, r, &t->baselines, t->values, t->labels, now);
    }
    return ret;
}
