/* backtest_targets: the backtest of a rules file with targets (see backtest.h). Every
 * signal's series over the range (query_range's matrix) are cut into the instant vectors
 * the daemon would have queried at each step, which go through fleet_replay_next(): the
 * daemon's own matching, steps, budgets and storm guard, from a fresh start. The timeline
 * names each entry's target; the summary counts target-evaluations and keeps each
 * target's own counts; each regulator's trajectory (every target's run of it, which
 * fleet_replay_next steps) is summed over the targets, each target keeping its own. The
 * decisions that fire are judged as without targets (backtest_judge_events), each on its
 * target's own series, and counted per target too. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backtest_private.h"
#include "fleet.h"
#include "hmap.h"
#include "parse.h"
#include "targets.h"

/* The instant vectors of one signal, one per step: vec[k] is what an instant query at
 * start + k * step would have returned (the range's point at that time of each series). */
static int cut(const struct promql_range *g, json_t **vec, uint64_t *points)
{
    for (size_t k = 0; k < g->n; k++)
        if (!(vec[k] = json_array()))
            return -ENOMEM;
    const json_t *m = g->matrix;
    for (size_t i = 0; i < json_array_size(m); i++) {
        const json_t *s = json_array_get(m, i);
        json_t *metric = json_object_get(s, "metric");
        const json_t *values = json_object_get(s, "values");
        for (size_t j = 0; j < json_array_size(values); j++) {
            const json_t *p = json_array_get(values, j);
            double t = json_number_value(json_array_get(p, 0));
            double off = (t * 1000.0 - (double)g->start_ms) / (double)g->step_ms;
            long long k = llround(off);
            if (k < 0 || (size_t)k >= g->n || fabs(off - (double)k) > 1e-3)
                continue; /* off the grid: promql_parse_range_reply refused such replies */
            if (++*points > BACKTEST_MAX_SERIES_POINTS)
                return -E2BIG;
            json_t *one =
                json_pack("{s:O, s:[f,O]}", "metric", metric, "value", t, json_array_get(p, 1));
            if (!one || json_array_append_new(vec[k], one) < 0)
                return -ENOMEM;
        }
    }
    return 0;
}

/* A target's own counts, by key. */
struct counted {
    struct hnode node;
    size_t index; /* into b->targets */
    int64_t stay_since;
    bool stay_from_change;
};

static struct backtest_target_stats *stats_of(struct backtest_result *b, struct hmap *map,
                                              const char *key, struct counted **ret)
{
    uint64_t h = hash_bytes(key, strlen(key), 0);
    for (struct hnode *n = hmap_chain(map, h); n; n = n->next) {
        struct counted *c = (struct counted *)n;
        if (n->hash == h && strcmp(b->targets[c->index].key, key) == 0) {
            *ret = c;
            return &b->targets[c->index];
        }
    }
    if ((b->n_targets & (b->n_targets - 1)) == 0) {
        size_t cap = b->n_targets ? 2 * b->n_targets : 16;
        struct backtest_target_stats *t = realloc(b->targets, cap * sizeof(*t));
        if (!t)
            return NULL;
        b->targets = t;
    }
    size_t nr = b->regulators ? b->rules->n_regulators : 0;
    struct counted *c = calloc(1, sizeof(*c));
    char *k = strdup(key);
    struct backtest_target_regulator *regs = nr ? calloc(nr, sizeof(*regs)) : NULL;
    if (!c || !k || (nr && !regs)) {
        free(c);
        free(k);
        free(regs);
        return NULL;
    }
    for (size_t i = 0; i < nr; i++) /* fmin and fmax skip a NaN */
        regs[i].final_output = regs[i].lowest = regs[i].highest = NAN;
    struct backtest_target_stats *t = &b->targets[b->n_targets];
    memset(t, 0, sizeof(*t));
    t->key = k;
    t->regulators = regs;
    t->worst = b->rules->n_states;
    c->index = b->n_targets++;
    c->node.hash = h;
    hmap_insert(map, &c->node);
    *ret = c;
    return t;
}

/* Counts one target's step (as backtest_replay counts the controller's), its regulators'
 * included. */
static int count_step(struct backtest_result *b, struct hmap *map, const struct fleet_member *m,
                      int64_t t_ms)
{
    const struct rules *r = b->rules;
    struct counted *c;
    struct backtest_target_stats *t = stats_of(b, map, m->key, &c);
    if (!t)
        return -ENOMEM;
    const struct eval_result *res = m->res;
    size_t slot = backtest_state_slot(r, res->to);
    t->evaluations++;
    if (slot < t->worst)
        t->worst = slot;
    b->target_evaluations++;
    b->evaluations_uncertain += res->uncertain;
    b->states[slot].evaluations++;
    for (size_t i = 0; i < r->n_signals; i++)
        if (!m->values[i].known)
            b->signals[i].missing++;
    for (size_t i = 0; i < r->n_signals; i++)
        if (!m->values[i].known) {
            b->evaluations_missing++;
            break;
        }
    bool flap = false;
    if (res->changed) {
        b->transitions++;
        t->transitions++;
        b->states[slot].entered++;
        if (c->stay_from_change && (uint64_t)(t_ms - c->stay_since) < b->flap_window_ms) {
            flap = true;
            b->flaps++;
            t->flaps++;
            b->states[backtest_state_slot(r, res->from)].flaps++;
        }
        c->stay_since = t_ms;
        c->stay_from_change = true;
    }
    if (m->outcome != OUTCOME_NONE) {
        b->decisions++;
        t->decisions++;
        b->outcomes[m->outcome]++;
        t->outcomes[m->outcome]++;
        b->states[slot].outcomes[m->outcome]++;
    }
    if ((res->changed || m->outcome != OUTCOME_NONE) &&
        backtest_add_event(b, t_ms, res, m->outcome, m->def, flap, m->key) < 0)
        return -ENOMEM;
    const struct fleet_target *ft = m->owner;
    for (size_t i = 0; b->regulators && ft->regs && i < r->n_regulators; i++)
        if (backtest_note_regulator(&b->regulators[i], &t->regulators[i], &r->regulators[i],
                                    &ft->regs[i], t_ms, m->key) < 0)
            return -ENOMEM;
    return 0;
}

/* What a target's window reads: each signal's series and the target key of each. */
struct own_series {
    const struct promql_range *const *series;
    char ***keys; /* [signal][series of its matrix]: its key, NULL when it has none */
    size_t n_signals;
};

static void own_series_free(struct own_series *o)
{
    for (size_t i = 0; o->keys && i < o->n_signals; i++) {
        for (size_t j = 0; o->keys[i] && j < json_array_size(o->series[i]->matrix); j++)
            free(o->keys[i][j]);
        free(o->keys[i]);
    }
    free(o->keys);
}

static int own_series_init(struct own_series *o, const struct rules *r,
                           const struct promql_range *const *series)
{
    *o = (struct own_series){.series = series, .n_signals = r->n_signals};
    if (!(o->keys = calloc(r->n_signals, sizeof(*o->keys))))
        return -ENOMEM;
    char key[TARGETS_MAX_KEY];
    for (size_t i = 0; i < r->n_signals; i++) {
        const json_t *m = series[i]->matrix;
        if (!json_array_size(m))
            continue;
        if (!(o->keys[i] = calloc(json_array_size(m), sizeof(**o->keys))))
            return -ENOMEM;
        for (size_t j = 0; j < json_array_size(m); j++)
            if (targets_key(r, json_object_get(json_array_get(m, j), "metric"), key, sizeof(key)) >=
                    0 &&
                !(o->keys[i][j] = strdup(key)))
                return -ENOMEM;
    }
    return 0;
}

/* backtest_window_fn with targets (ctx: a struct own_series): the points of the series of
 * the event's target, as the daemon fetches a target's series for its verdicts. */
static void own_window(void *ctx, const struct backtest_event *e, size_t signal, int64_t from_ms,
                       int64_t to_ms, struct effect_window *w)
{
    const struct own_series *o = ctx;
    const json_t *m = o->series[signal]->matrix;
    size_t cap = 0, n = 0;
    for (size_t j = 0; o->keys[signal] && j < json_array_size(m); j++)
        if (o->keys[signal][j] && e->target && strcmp(o->keys[signal][j], e->target) == 0)
            cap += json_array_size(json_object_get(json_array_get(m, j), "values"));
    double *v = calloc(cap ? cap : 1, sizeof(*v));
    for (size_t j = 0; v && cap && j < json_array_size(m); j++) {
        if (!o->keys[signal][j] || strcmp(o->keys[signal][j], e->target) != 0)
            continue;
        const json_t *values = json_object_get(json_array_get(m, j), "values");
        for (size_t k = 0; k < json_array_size(values); k++) {
            const json_t *p = json_array_get(values, k);
            int64_t t = (int64_t)llround(json_number_value(json_array_get(p, 0)) * 1000.0);
            const char *text = json_string_value(json_array_get(p, 1));
            double x;
            if (t >= from_ms && t <= to_ms && text && parse_double(text, &x) == 0)
                v[n++] = x;
        }
    }
    effect_window_of(v ? v : (double[1]){0}, n, w);
    free(v);
}

/* The verdicts of the decisions that fire, each on its target's series, counted over all
 * targets and per target. 0 or -ENOMEM. */
static int judge(struct backtest_result *b, struct hmap *map,
                 const struct promql_range *const *series)
{
    struct own_series o;
    int r = own_series_init(&o, b->rules, series);
    if (r == 0)
        r = backtest_judge_events(b, own_window, &o);
    own_series_free(&o);
    for (size_t i = 0; r == 0 && i < b->n_events; i++) {
        const struct backtest_event *e = &b->events[i];
        struct counted *c;
        struct backtest_target_stats *t =
            e->judged && e->target ? stats_of(b, map, e->target, &c) : NULL;
        if (t)
            r = backtest_count_verdict(&t->verdicts, b->rules->n_states, e->def->state, e->verdict);
        else if (e->judged && e->target)
            r = -ENOMEM;
    }
    return r;
}

int backtest_replay_targets(const struct rules *rules, const struct promql_range *const *series,
                            uint64_t flap_window_ms, struct backtest_result **ret)
{
    size_t ns = rules->n_signals;
    if (!ns || !rules->targets.by)
        return -EINVAL;
    const struct promql_range *first = series[0];
    for (size_t i = 0; i < ns; i++)
        if (!series[i]->matrix || series[i]->n != first->n ||
            series[i]->start_ms != first->start_ms || series[i]->step_ms != first->step_ms)
            return -EINVAL;
    struct backtest_result *b = calloc(1, sizeof(*b));
    json_t ***vec = calloc(ns, sizeof(*vec));
    struct target_input *in = calloc(ns, sizeof(*in));
    struct ivec *iv = calloc(ns, sizeof(*iv));
    struct hmap map = {0};
    struct fleet_replay rp;
    fleet_replay_init(&rp, rules, false, false);
    int r = -ENOMEM;
    if (!b || !vec || !in || !iv || hmap_init(&map, 64) < 0)
        goto out;
    b->rules = rules;
    b->start_ms = first->start_ms;
    b->step_ms = first->step_ms;
    b->n = first->n;
    b->flap_window_ms = flap_window_ms;
    b->states = calloc(rules->n_states + 1, sizeof(*b->states));
    b->signals = calloc(ns, sizeof(*b->signals));
    if (!b->states || !b->signals)
        goto out;
    if (rules->n_regulators) {
        b->regulators = calloc(rules->n_regulators, sizeof(*b->regulators));
        if (!b->regulators)
            goto out;
        for (size_t i = 0; i < rules->n_regulators; i++) /* fmin and fmax skip a NaN */
            b->regulators[i].final_output = b->regulators[i].lowest = b->regulators[i].highest =
                NAN;
    }
    /* Equal queries share one range: cut each once. */
    uint64_t points = 0;
    for (size_t i = 0; i < ns; i++) {
        for (size_t j = 0; j < i && !vec[i]; j++)
            if (series[j] == series[i])
                vec[i] = vec[j];
        if (vec[i])
            continue;
        if (!(vec[i] = calloc(b->n, sizeof(**vec))) || (r = cut(series[i], vec[i], &points)) < 0) {
            if (r == 0 || r == -ENOMEM)
                r = -ENOMEM;
            goto out;
        }
    }
    r = 0;
    for (size_t k = 0; k < b->n && r == 0; k++) {
        int64_t t_ms = b->start_ms + (int64_t)k * b->step_ms;
        for (size_t i = 0; i < ns && r == 0; i++) {
            in[i] = (struct target_input){0};
            if (vec[i][k] &&
                (r = targets_ivec_from_json(vec[i][k], (const char *const *)rules->targets.by,
                                            rules->targets.n_by, &iv[i])) == 0)
                in[i].series = &iv[i];
        }
        if (r < 0)
            break;
        struct fleet_member *m;
        size_t n;
        struct fleet_outcome fo;
        r = fleet_replay_next(&rp, in, (double)t_ms / 1000.0, &m, &n, &fo);
        for (size_t i = 0; i < n && r == 0; i++)
            r = count_step(b, &map, &m[i], t_ms);
    }
    if (r == 0)
        r = judge(b, &map, series);
    b->targets_refused = rp.refused;
    for (size_t i = 0; r == 0 && i < rp.n; i++) { /* each target's baselines, by key */
        const struct fleet_target *t = rp.targets[i];
        if (!t->baselines.by_signal)
            continue;
        json_t *one = baseline_set_json(rules, &t->baselines);
        if (!b->baselines)
            b->baselines = json_object();
        if (!one || !b->baselines || json_object_set_new(b->baselines, t->key, one) < 0)
            r = -ENOMEM;
    }
out:
    for (size_t i = 0; vec && i < ns; i++) {
        bool shared = false;
        for (size_t j = 0; j < i && !shared; j++)
            shared = vec[j] == vec[i];
        for (size_t k = 0; vec[i] && !shared && k < (b ? b->n : 0); k++)
            json_decref(vec[i][k]);
        if (!shared)
            free(vec[i]);
    }
    free(vec);
    free(in);
    for (size_t i = 0; iv && i < ns; i++)
        ivec_free(&iv[i]);
    free(iv);
    for (size_t i = 0; i < map.mask + 1 && map.buckets; i++)
        for (struct hnode *n = map.buckets[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
    hmap_destroy(&map);
    fleet_replay_free(&rp);
    if (r < 0) {
        backtest_result_free(b);
        return r;
    }
    *ret = b;
    return 0;
}
