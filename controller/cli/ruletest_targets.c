/* ruletest_targets: rule tests of a rules file with targets (docs/RULES.md, "Testing
 * targets"). A signal's values are given per target, as a map from label sets to values
 * in promtool's notation, or as one string for a signal shared by every target; every
 * expectation names its target. Each step builds the instant vectors Prometheus would have
 * answered and runs them through fleet_replay_next(): the matching, the steps, the budgets
 * and the storm guard of the daemon. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.h"
#include "ruletest.h"
#include "ruletest_private.h"
#include "targets.h"

void ruletest_free_target_series(struct rtest *t)
{
    for (size_t i = 0; i < t->n_tseries; i++) {
        json_decref(t->tseries[i].labels);
        free(t->tseries[i].s.value);
        free(t->tseries[i].s.known);
    }
    free(t->tseries);
    t->tseries = NULL;
    t->n_tseries = t->cap_tseries = 0;
}

int ruletest_load_target_series(const struct rules *rules, struct rtest *t, size_t sig,
                                const struct ytree_node *n, struct buf *errors)
{
    int r = 0;
    for (size_t i = 0; i < ytree_len(n); i++) {
        const struct ytree_node *k = ytree_key(n, i), *v = ytree_value(n, i);
        const char *text, *set;
        json_t *labels = NULL;
        char msg[160];
        if (ytree_get_string(k, &set, errors) < 0 || ytree_get_string(v, &text, errors) < 0) {
            r = -EINVAL;
            continue;
        }
        int q = targets_parse_labels(set, &labels, msg, sizeof(msg));
        if (q == -ENOMEM)
            return q;
        if (q < 0) {
            r = ytree_error(errors, k, "'%.64s': %s", set, msg);
            continue;
        }
        bool named = false;
        for (size_t b = 0; b < rules->targets.n_by && !named; b++)
            named = json_object_get(labels, rules->targets.by[b]) != NULL;
        if (!named) {
            json_decref(labels);
            r = ytree_error(errors, k, "'%.64s' has none of the labels of targets.by (%s%s)", set,
                            rules->targets.by[0], rules->targets.n_by > 1 ? ", ..." : "");
            continue;
        }
        if (t->n_tseries == t->cap_tseries) {
            size_t cap = t->cap_tseries ? t->cap_tseries * 2 : 8;
            struct tseries *ts = realloc(t->tseries, cap * sizeof(*ts));
            if (!ts) {
                json_decref(labels);
                return -ENOMEM;
            }
            t->tseries = ts;
            t->cap_tseries = cap;
        }
        struct tseries *ts = &t->tseries[t->n_tseries++];
        memset(ts, 0, sizeof(*ts));
        ts->signal = sig;
        ts->labels = labels;
        q = ruletest_parse_values(v, text, &ts->s, errors);
        if (q == -ENOMEM)
            return q;
        if (q < 0)
            r = q;
    }
    return r;
}

/* A series {"metric": labels, "value": [time, "v"]} appended to vec. */
static int append_sample(json_t *vec, json_t *labels, double time, double value)
{
    char v[40];
    if (isnan(value))
        snprintf(v, sizeof(v), "NaN");
    else if (isinf(value))
        snprintf(v, sizeof(v), value > 0 ? "+Inf" : "-Inf");
    else
        snprintf(v, sizeof(v), "%.17g", value);
    return json_array_append_new(vec,
                                 json_pack("{s:O, s:[f, s]}", "metric", labels, "value", time, v));
}

/* The instant vectors of step k: what Prometheus would have answered each signal. */
static int vectors_at(const struct rules *rules, const struct rtest *t, size_t k, double now,
                      struct target_input *in, json_t **vec, struct ivec *iv)
{
    double ts = now - (double)t->sample_age_usec / 1e6;
    json_t *none = json_object();
    if (!none)
        return -ENOMEM;
    for (size_t i = 0; i < rules->n_signals; i++) {
        const struct series *s = &t->series[i];
        memset(&in[i], 0, sizeof(in[i]));
        vec[i] = NULL;
        if (!s->listed) {
            snprintf(in[i].value.reason, sizeof(in[i].value.reason), "not in test");
            continue;
        }
        if (!(vec[i] = json_array())) {
            json_decref(none);
            return -ENOMEM;
        }
        if (!s->per_target && k < s->n && s->known[k] &&
            append_sample(vec[i], none, ts, s->value[k]) < 0) {
            json_decref(none);
            return -ENOMEM;
        }
    }
    json_decref(none);
    for (size_t j = 0; j < t->n_tseries; j++) {
        const struct tseries *x = &t->tseries[j];
        if (k < x->s.n && x->s.known[k] &&
            append_sample(vec[x->signal], x->labels, ts, x->s.value[k]) < 0)
            return -ENOMEM;
    }
    for (size_t i = 0; i < rules->n_signals; i++) {
        if (!vec[i])
            continue;
        int r = targets_ivec_from_json(vec[i], (const char *const *)rules->targets.by,
                                       rules->targets.n_by, &iv[i]);
        if (r < 0)
            return r;
        in[i].series = &iv[i];
    }
    return 0;
}

/* Decisions recorded per target so far, by key. */
struct counted {
    char *key;
    uint64_t n;
};

static uint64_t *count_of(struct counted **list, size_t *n, const char *key)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*list)[i].key, key) == 0)
            return &(*list)[i].n;
    struct counted *l = realloc(*list, (*n + 1) * sizeof(**list));
    if (!l)
        return NULL;
    *list = l;
    l[*n].key = strdup(key);
    l[*n].n = 0;
    if (!l[*n].key)
        return NULL;
    return &l[(*n)++].n;
}

int ruletest_run_targets(const struct rules *rules, const struct rtest *t, struct buf *report)
{
    size_t ns = rules->n_signals ? rules->n_signals : 1;
    struct target_input *in = calloc(ns, sizeof(*in));
    json_t **vec = calloc(ns, sizeof(*vec));
    struct ivec *iv = calloc(ns, sizeof(*iv));
    struct counted *counts = NULL;
    size_t n_counts = 0;
    struct fleet_replay rp;
    fleet_replay_init(&rp, rules, t->flags.paused, t->flags.dry_run);
    int failed = -ENOMEM;
    if (!in || !vec || !iv)
        goto out;
    failed = 0;
    for (size_t k = 0; k < t->n_steps && failed >= 0; k++) {
        double now = RULETEST_T0 + (double)(k * t->interval_usec) / 1e6;
        struct fleet_member *m = NULL;
        size_t n = 0;
        struct fleet_outcome fo;
        if (vectors_at(rules, t, k, now, in, vec, iv) < 0 ||
            fleet_replay_next(&rp, in, now, &m, &n, &fo) < 0) {
            failed = -ENOMEM;
        }
        for (size_t i = 0; i < rules->n_signals; i++) {
            json_decref(vec[i]);
            vec[i] = NULL;
        }
        for (size_t i = 0; failed >= 0 && i < n; i++) {
            uint64_t *c = count_of(&counts, &n_counts, m[i].key);
            if (!c)
                failed = -ENOMEM;
            else
                *c += m[i].outcome != OUTCOME_NONE;
        }
        for (size_t e = 0; failed >= 0 && e < t->n_expect; e++) {
            const struct expectation *x = &t->expect[e];
            if (x->step != k)
                continue;
            const struct fleet_member *found = NULL;
            for (size_t i = 0; i < n && !found; i++)
                if (strcmp(m[i].key, x->target) == 0)
                    found = &m[i];
            if (!found) {
                buf_printf(report,
                           "    test \"%s\" at %s for %s (step %zu, %s:%u:%u):\n"
                           "      no such target at this step (%zu targets)\n",
                           t->name, x->at_text, x->target, x->step, ytree_file(x->node),
                           ytree_line(x->node), ytree_column(x->node), n);
                failed++;
                continue;
            }
            uint64_t *c = count_of(&counts, &n_counts, found->key);
            const struct fleet_target *ft = found->owner;
            if (!ruletest_check(rules, t, x, found->res, found->outcome, c ? *c : 0, ft->regs,
                                report))
                failed++;
        }
    }
out:
    for (size_t i = 0; vec && i < rules->n_signals; i++)
        json_decref(vec[i]);
    for (size_t i = 0; iv && i < rules->n_signals; i++)
        ivec_free(&iv[i]);
    free(iv);
    for (size_t i = 0; i < n_counts; i++)
        free(counts[i].key);
    free(counts);
    fleet_replay_free(&rp);
    free(in);
    free(vec);
    return failed;
}
