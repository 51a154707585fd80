/* fleet: a step of every target, the budgets and the storm guard (see fleet.h), and the
 * replay of targets for the tools. */
#include "fleet.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "step.h"

size_t fleet_state_rank(size_t state)
{
    return state == EVAL_STATE_UNKNOWN ? 0 : state + 1;
}

/* The worst state first, then the most confident, then by key. */
static int acting_order(const void *a, const void *b)
{
    const struct fleet_member *x = a, *y = b;
    size_t rx = fleet_state_rank(x->to), ry = fleet_state_rank(y->to);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    if (x->confidence != y->confidence)
        return x->confidence > y->confidence ? -1 : 1;
    return strcmp(x->key, y->key);
}

size_t fleet_acting_limit(const struct rules *r, size_t n)
{
    const struct acting_limit *l = &r->max_targets_acting;
    if (l->count)
        return l->count;
    if (l->share <= 0)
        return (size_t)-1;
    size_t k = (size_t)ceil(l->share * (double)n - 1e-9);
    return k ? k : 1;
}

/* In a state whose decision has actions, on certain data. */
static bool wants_to_act(const struct rules *r, const struct fleet_member *m)
{
    const struct decision_def *d = rules_decision_for(r, m->to);
    return d && d->n_actions && !m->uncertain;
}

/* It ran that decision within its cooldown, before this step. */
static bool acted(const struct rules *r, const struct fleet_member *m, double now)
{
    const struct decision_def *d = rules_decision_for(r, m->to);
    if (!d)
        return false;
    size_t k = (size_t)(d - r->decisions);
    return m->saved_exec[k] > 0 && now - m->saved_exec[k] < (double)d->cooldown_usec / 1e6;
}

void fleet_step(const struct rules *r, struct fleet_member *m, size_t n, double now,
                const struct decide_flags *global, struct fleet_outcome *out)
{
    fleet_step_with(r, m, n, now, global, out, NULL, NULL);
}

void fleet_step_with(const struct rules *r, struct fleet_member *m, size_t n, double now,
                     const struct decide_flags *global, struct fleet_outcome *out,
                     void (*stepped)(struct fleet_member *m, void *ctx), void *ctx)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        struct fleet_member *x = &m[i];
        memcpy(x->saved_exec, x->last_exec, r->n_decisions * sizeof(double));
        struct decide_flags flags = {.paused = global->paused || x->paused,
                                     .dry_run = global->dry_run};
        x->outcome = step_evaluate(r, x->eval, x->last_exec, x->values, now, &flags, x->res,
                                   &x->def, x->baselines);
        x->to = x->res->to;
        x->confidence = x->res->confidence;
        x->uncertain = x->res->uncertain;
        if (stepped)
            stepped(x, ctx);
    }
    qsort(m, n, sizeof(*m), acting_order);
    size_t done = 0;
    for (size_t i = 0; i < n; i++)
        if (wants_to_act(r, &m[i])) {
            out->wanted++;
            done += acted(r, &m[i], now);
        }
    out->limit = fleet_acting_limit(r, n);
    out->storm = out->wanted > out->limit;
    size_t may = out->storm ? (out->limit > done ? out->limit - done : 0) : (size_t)-1;
    unsigned left = global->budget_left;
    for (size_t i = 0; i < n; i++) {
        struct fleet_member *x = &m[i];
        if (x->outcome != OUTCOME_EXECUTED)
            continue;
        unsigned need = (unsigned)x->def->n_actions;
        if (may == 0) {
            x->outcome = OUTCOME_STORM;
            out->held++;
        } else if ((global->budget_limited && left < need) ||
                   (x->budget_limited && x->budget_left < need)) {
            x->outcome = OUTCOME_BUDGET;
        } else {
            if (may != (size_t)-1)
                may--;
            if (global->budget_limited)
                left -= need;
            continue;
        }
        /* not run: the cooldown does not start */
        memcpy(x->last_exec, x->saved_exec, r->n_decisions * sizeof(double));
    }
}

/* ---- replays ---- */

void fleet_replay_init(struct fleet_replay *rp, const struct rules *rules, bool paused,
                       bool dry_run)
{
    memset(rp, 0, sizeof(*rp));
    rp->rules = rules;
    rp->paused = paused;
    rp->dry_run = dry_run;
}

static void target_free(struct fleet_target *t)
{
    if (!t)
        return;
    free(t->key);
    json_decref(t->labels);
    eval_state_free(&t->eval);
    free(t->last_exec);
    free(t->saved_exec);
    free(t->values);
    free(t->action_times);
    step_regulators_free(t->regs, t->n_regs);
    baseline_set_free(&t->baselines);
    free(t);
}

void fleet_replay_free(struct fleet_replay *rp)
{
    for (size_t i = 0; i < rp->n; i++)
        target_free(rp->targets[i]);
    free(rp->targets);
    free(rp->action_times);
    free(rp->members);
    hmap_destroy(&rp->map);
    memset(rp, 0, sizeof(*rp));
}

struct fleet_target *fleet_replay_find(struct fleet_replay *rp, const char *key)
{
    if (!rp->map.buckets)
        return NULL;
    uint64_t h = hash_bytes(key, strlen(key), 0);
    for (struct hnode *n = hmap_chain(&rp->map, h); n; n = n->next) {
        struct fleet_target *t = (struct fleet_target *)n;
        if (n->hash == h && strcmp(t->key, key) == 0)
            return t;
    }
    return NULL;
}

static struct fleet_target *add(struct fleet_replay *rp, const struct target_row *row, double now)
{
    const struct rules *r = rp->rules;
    size_t nd = r->n_decisions ? r->n_decisions : 1;
    if (!rp->map.buckets && hmap_init(&rp->map, 64) < 0)
        return NULL;
    if (rp->n == rp->cap) {
        size_t cap = rp->cap ? rp->cap * 2 : 16;
        struct fleet_target **t = realloc(rp->targets, cap * sizeof(*t));
        if (!t)
            return NULL;
        rp->targets = t;
        rp->cap = cap;
    }
    struct fleet_target *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->key = strdup(row->key);
    t->labels = targets_row_labels(r, row);
    t->last_exec = calloc(nd, sizeof(double));
    t->saved_exec = calloc(nd, sizeof(double));
    t->values = calloc(r->n_signals ? r->n_signals : 1, sizeof(*t->values));
    if (r->n_regulators && (t->regs = step_regulators_new(r)))
        t->n_regs = r->n_regulators;
    if (!t->key || !t->labels || !t->last_exec || !t->saved_exec || !t->values ||
        (r->n_regulators && !t->regs) || baseline_set_init(&t->baselines, r) < 0 ||
        eval_state_init(&t->eval, r, now) < 0) {
        target_free(t);
        return NULL;
    }
    t->node.hash = hash_bytes(t->key, strlen(t->key), 0);
    hmap_insert(&rp->map, &t->node);
    rp->targets[rp->n++] = t;
    return t;
}

/* Drops the times older than the budget's window from times[0..*n). */
static void expire(double *times, size_t *n, double now)
{
    size_t drop = 0;
    while (drop < *n && now - times[drop] >= STEP_BUDGET_WINDOW_SECONDS)
        drop++;
    if (drop) {
        memmove(times, times + drop, (*n - drop) * sizeof(*times));
        *n -= drop;
    }
}

static int push_time(double **times, size_t *n, size_t *cap, double now)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        double *t = realloc(*times, c * sizeof(*t));
        if (!t)
            return -ENOMEM;
        *times = t;
        *cap = c;
    }
    (*times)[(*n)++] = now;
    return 0;
}

int fleet_replay_next(struct fleet_replay *rp, const struct target_input *in, double now,
                      struct fleet_member **ret, size_t *ret_n, struct fleet_outcome *out)
{
    const struct rules *r = rp->rules;
    struct target_set set;
    const json_t **known = malloc((rp->n ? rp->n : 1) * sizeof(*known));
    if (!known)
        return -ENOMEM;
    for (size_t i = 0; i < rp->n; i++)
        known[i] = rp->targets[i]->labels;
    int err = targets_match(r, in, known, NULL, rp->n, 0, &set);
    free(known);
    if (err < 0)
        return err;
    for (size_t i = 0; i < set.n && !err; i++) {
        struct fleet_target *t = fleet_replay_find(rp, set.rows[i]->key);
        if (!t && rp->n >= r->targets.max) {
            rp->refused++;
            continue;
        }
        if (!t && !(t = add(rp, set.rows[i], now)))
            err = -ENOMEM;
        if (t) {
            memcpy(t->values, set.rows[i]->values, r->n_signals * sizeof(*t->values));
            if (set.rows[i]->present)
                t->last_seen = now;
        }
    }
    target_set_free(&set);
    if (err < 0)
        return err;
    /* Forgotten (the tools have no actions in effect to revert first). */
    for (size_t i = rp->n; i-- > 0;) {
        struct fleet_target *t = rp->targets[i];
        if (now - t->last_seen >= (double)r->targets.forget_after_usec / 1e6) {
            hmap_remove(&rp->map, &t->node);
            memmove(rp->targets + i, rp->targets + i + 1, (rp->n - i - 1) * sizeof(*rp->targets));
            rp->n--;
            target_free(t);
        }
    }
    if (rp->n > rp->cap_members) {
        struct fleet_member *m = realloc(rp->members, rp->n * sizeof(*m));
        if (!m)
            return -ENOMEM;
        rp->members = m;
        rp->cap_members = rp->n;
    }
    unsigned max = r->max_actions_per_hour, own_max = r->max_actions_per_hour_per_target;
    expire(rp->action_times, &rp->n_action_times, now);
    for (size_t i = 0; i < rp->n; i++) {
        struct fleet_target *t = rp->targets[i];
        struct fleet_member *m = &rp->members[i];
        expire(t->action_times, &t->n_action_times, now);
        memset(m, 0, sizeof(*m));
        m->owner = t;
        m->key = t->key;
        m->eval = &t->eval;
        m->last_exec = t->last_exec;
        m->saved_exec = t->saved_exec;
        m->values = t->values;
        m->baselines = &t->baselines;
        m->res = &t->res;
        m->budget_limited = own_max > 0;
        m->budget_left = own_max > t->n_action_times ? own_max - (unsigned)t->n_action_times : 0;
    }
    struct decide_flags global = {
        .paused = rp->paused,
        .dry_run = rp->dry_run,
        .budget_limited = max > 0,
        .budget_left = max > rp->n_action_times ? max - (unsigned)rp->n_action_times : 0,
    };
    fleet_step(r, rp->members, rp->n, now, &global, out);
    /* As the daemon counts: every action of an executed decision, once, for an hour. */
    for (size_t i = 0; i < rp->n; i++) {
        struct fleet_member *m = &rp->members[i];
        if (m->outcome != OUTCOME_EXECUTED || !m->def)
            continue;
        struct fleet_target *t = m->owner;
        for (size_t a = 0; a < m->def->n_actions; a++)
            if (push_time(&rp->action_times, &rp->n_action_times, &rp->cap_action_times, now) < 0 ||
                push_time(&t->action_times, &t->n_action_times, &t->cap_action_times, now) < 0)
                return -ENOMEM;
    }
    for (size_t i = 0; i < rp->n; i++) {
        struct fleet_target *t = rp->targets[i];
        if (t->regs)
            step_regulators_next(r, t->regs, t->res.to, t->res.uncertain, t->values, rp->paused,
                                 rp->dry_run, now);
    }
    *ret = rp->members;
    *ret_n = rp->n;
    return 0;
}
