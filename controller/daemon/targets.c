/* targets: one evaluation of a rules file with targets (see controller.h): the signals'
 * vectors are matched to targets (engine/targets.c), new targets are admitted up to
 * targets.max (the rest refused and counted), each target takes its own step
 * (step_evaluate: state, timers, confidence, cooldowns), then, worst first, the hourly
 * budgets and the storm guard (limits.max_targets_acting) decide which of the decisions
 * that would run may; every decision is written to the audit log with the target's labels
 * before anything runs; the actions run with {{ $labels.NAME }} expanded; actions of
 * targets without series for forget_after are reverted, then those targets forgotten. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"
#include "parse.h"
#include "step.h"
#include "targets.h"

#define STORM_LISTED 50 /* targets named in a storm_guard record */

/* One target's step this evaluation. */
struct stepped {
    struct target *t;
    struct eval_result res;
    const struct decision_def *def;
    enum decision_outcome outcome;
    double *saved_exec; /* last_exec before the step */
    json_t *d;          /* its decision record */
};

static size_t rank_of(size_t state)
{
    return state == EVAL_STATE_UNKNOWN ? 0 : state + 1;
}

/* Who acts first when not all may: the worst state, then the most confident, then by key. */
static int acting_order(const void *a, const void *b)
{
    const struct stepped *x = a, *y = b;
    size_t rx = rank_of(x->res.to), ry = rank_of(y->res.to);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    if (x->res.confidence != y->res.confidence)
        return x->res.confidence > y->res.confidence ? -1 : 1;
    return strcmp(x->t->key, y->t->key);
}

/* How many targets may act in one evaluation (SIZE_MAX: no limit). */
static size_t acting_limit(const struct rules *r, size_t n_targets)
{
    const struct acting_limit *l = &r->max_targets_acting;
    if (l->count)
        return l->count;
    if (l->share <= 0)
        return (size_t)-1;
    size_t n = (size_t)ceil(l->share * (double)n_targets - 1e-9);
    return n ? n : 1;
}

/* Takes this evaluation's targets in (lock held): known ones get their values, new ones are
 * admitted while there is room; the others keep none. */
static void admit(struct controller *c, const struct target_set *set, double now)
{
    const struct rules *r = c->rules;
    struct target_table *tt = &c->targets;
    size_t refused = 0;
    for (size_t i = 0; i < tt->n; i++)
        tt->list[i]->seen = false;
    for (size_t i = 0; i < set->n; i++) {
        const struct target_row *row = set->rows[i];
        struct target *t = targets_find(c, row->key);
        if (!t && tt->n >= r->targets.max) {
            refused++;
            continue;
        }
        if (!t && !(t = targets_add(c, row->key, row->labels, now))) {
            log_error("targets: out of memory adding %s", row->key);
            continue;
        }
        if (!t->values &&
            !(t->values = calloc(r->n_signals ? r->n_signals : 1, sizeof(*t->values))))
            continue;
        memcpy(t->values, row->values, r->n_signals * sizeof(*t->values));
        t->seen = true;
        t->last_seen = now;
    }
    if (refused && refused != tt->refused_last)
        log_warning("targets: %zu label sets refused: targets.max (%u) reached", refused,
                    r->targets.max);
    tt->refused_last = refused;
    tt->refused += refused;
    metric_add(c->m.targets_refused, (double)refused);
    tt->n_series_refused = set->refused_key;
    /* A target without series this time: every signal unknown, so it is never acted on. */
    for (size_t i = 0; i < tt->n; i++) {
        struct target *t = tt->list[i];
        if (t->seen)
            continue;
        if (!t->values &&
            !(t->values = calloc(r->n_signals ? r->n_signals : 1, sizeof(*t->values))))
            continue;
        for (size_t s = 0; s < r->n_signals; s++) {
            memset(&t->values[s], 0, sizeof(t->values[s]));
            snprintf(t->values[s].reason, sizeof(t->values[s].reason), "no series for this target");
        }
        if (!t->forgetting && now - t->last_seen >= (double)r->targets.forget_after_usec / 1e6) {
            t->forgetting = true;
            log_info("targets: %s has had no series for %.0fs (forget_after): forgetting it%s",
                     t->key, now - t->last_seen,
                     actions_target_has_effects(c, t->key) ? " once its actions are reverted" : "");
        }
    }
}

/* Whether the target's step leaves it in a state whose decision has actions (certain data:
 * it would act, or has acted within the decision's cooldown). */
static bool wants_to_act(const struct rules *r, const struct stepped *s)
{
    const struct decision_def *d = rules_decision_for(r, s->res.to);
    return d && d->n_actions && !s->res.uncertain;
}

/* Whether it already acted for that decision, within its cooldown, before this step. */
static bool acted(const struct rules *r, const struct stepped *s, double now)
{
    const struct decision_def *d = rules_decision_for(r, s->res.to);
    if (!d)
        return false;
    size_t k = (size_t)(d - r->decisions);
    return s->saved_exec[k] > 0 && now - s->saved_exec[k] < (double)d->cooldown_usec / 1e6;
}

/* Holds back what the budgets and the storm guard do not allow (lock held), in acting
 * order (st sorted by acting_order). The storm guard: when more targets are in a state
 * whose decision acts than limits.max_targets_acting allows, no more than that many act,
 * counting those that already did within their cooldown; the others wait until fewer are
 * bad (then everything runs as usual). Returns the number held back by it. */
static size_t limit_acting(struct controller *c, struct stepped *st, size_t n, double now,
                           size_t *ret_wanted, size_t *ret_limit)
{
    const struct rules *r = c->rules;
    size_t wanted = 0, done = 0, storm = 0;
    for (size_t i = 0; i < n; i++)
        if (wants_to_act(r, &st[i])) {
            wanted++;
            done += acted(r, &st[i], now);
        }
    size_t limit = acting_limit(r, c->targets.n);
    size_t may = wanted > limit ? (limit > done ? limit - done : 0) : (size_t)-1;
    bool limited;
    unsigned global = actions_budget_left(c, now, &limited);
    for (size_t i = 0; i < n; i++) {
        struct stepped *s = &st[i];
        if (s->outcome != OUTCOME_EXECUTED)
            continue;
        bool own_limited;
        unsigned own = actions_target_budget_left(c, s->t, now, &own_limited);
        unsigned need = (unsigned)s->def->n_actions;
        if (may == 0) {
            s->outcome = OUTCOME_STORM;
            storm++;
        } else if ((limited && global < need) ||
                   (r->max_actions_per_hour_per_target && own < need)) {
            s->outcome = OUTCOME_BUDGET;
        } else {
            if (may != (size_t)-1)
                may--;
            if (limited)
                global -= need;
            continue;
        }
        /* not run: the cooldown does not start */
        memcpy(s->t->last_exec, s->saved_exec, r->n_decisions * sizeof(double));
    }
    *ret_wanted = wanted;
    *ret_limit = limit;
    return storm;
}

/* The storm guard's own audit record and log line (lock held). */
static void record_storm(struct controller *c, const struct stepped *st, size_t n, size_t wanted,
                         size_t limit, size_t held, double now)
{
    char id[48];
    controller_new_id(c, now, id, sizeof(id));
    json_t *rec = controller_record("storm_guard", id, now);
    json_object_set_new(rec, "targets", json_integer((json_int_t)c->targets.n));
    json_object_set_new(rec, "wanted_to_act", json_integer((json_int_t)wanted));
    json_object_set_new(rec, "limit", json_integer((json_int_t)limit));
    json_object_set_new(rec, "held_back", json_integer((json_int_t)held));
    json_t *list = json_array();
    for (size_t i = 0; i < n && json_array_size(list) < STORM_LISTED; i++)
        if (st[i].outcome == OUTCOME_STORM)
            json_array_append_new(list, json_incref(st[i].t->labels));
    json_object_set_new(rec, "held_back_targets", list);
    char why[320];
    snprintf(why, sizeof(why),
             "%zu of %zu targets are in a state that acts, more than limits.max_targets_acting "
             "allows (%zu): at most %zu act, %zu held back now. A query that makes many "
             "targets bad at once is more likely broken than the fleet.",
             wanted, c->targets.n, limit, limit, held);
    json_object_set_new(rec, "reasoning", json_string(why));
    int ar = audit_append(c->audit, rec);
    if (ar < 0) {
        metric_add(c->m.audit_errors, 1);
        log_error_errno(ar, "audit: cannot record the storm guard in %s", audit_path(c->audit));
    }
    json_decref(rec);
    log_error("storm guard: %s", why);
}

/* The rolled-up state of the controller for its status and gauges (lock held): the worst
 * target's, or the default state without targets. */
static void roll_up(struct controller *c, const struct stepped *st, size_t n, double now)
{
    const struct rules *r = c->rules;
    const struct stepped *worst = NULL;
    for (size_t i = 0; i < n; i++)
        if (!worst || acting_order(&st[i], worst) < 0)
            worst = &st[i];
    size_t counts[RULES_MAX_STATES + 1] = {0};
    for (size_t i = 0; i < n; i++)
        counts[rank_of(st[i].res.to)]++;
    struct eval_result res;
    memset(&res, 0, sizeof(res));
    res.from = c->st.eval.current;
    res.to = worst ? worst->res.to : r->n_states - 1;
    res.confidence = worst ? worst->res.confidence : 1;
    res.parts = worst ? worst->res.parts : (struct confidence_parts){1, 1, 1, 1};
    res.uncertain = worst && worst->res.uncertain;
    size_t o = (size_t)snprintf(res.reasoning, sizeof(res.reasoning), "%zu targets:", n);
    for (size_t s = 0; s <= r->n_states && o < sizeof(res.reasoning); s++)
        if (counts[s])
            o += (size_t)snprintf(res.reasoning + o, sizeof(res.reasoning) - o, " %zu %s,",
                                  counts[s], s == 0 ? RULES_STATE_UNKNOWN : r->states[s - 1].name);
    if (worst && o < sizeof(res.reasoning))
        snprintf(res.reasoning + o, sizeof(res.reasoning) - o, " worst %.300s: %.1400s",
                 worst->t->key, worst->res.reasoning);
    else if (o > 0 && res.reasoning[o - 1] == ':')
        snprintf(res.reasoning + o, sizeof(res.reasoning) - o, " none yet");
    res.changed = res.to != c->st.eval.current;
    if (res.changed) {
        c->st.eval.current = res.to;
        c->st.eval.since = worst ? worst->t->eval.since : now;
    }
    c->last = res;
}

void targets_evaluate(struct controller *c, json_t *const *series, double now, char *status,
                      size_t status_size)
{
    const struct rules *r = c->rules; /* only this thread swaps the rules */
    struct target_table *tt = &c->targets;
    struct target_input *in = calloc(r->n_signals ? r->n_signals : 1, sizeof(*in));
    struct target_set set = {0};
    pthread_mutex_lock(&c->lock);
    if (!tt->seed)
        tt->seed = hash_random_seed();
    for (size_t i = 0; in && i < r->n_signals; i++) {
        in[i].series = series[i];
        in[i].value = c->values[i]; /* a failed query's reason, an alert:NAME's value */
    }
    int mr = in ? targets_match(r, in, tt->seed, &set) : -ENOMEM;
    free(in);
    if (mr < 0) {
        log_error("evaluation: out of memory matching targets; skipped");
        snprintf(status, status_size, "out of memory matching targets");
        return;
    }
    admit(c, &set, now);
    target_set_free(&set);

    size_t n = tt->n, nd = r->n_decisions ? r->n_decisions : 1;
    struct stepped *st = calloc(n ? n : 1, sizeof(*st));
    double *saved = calloc((n ? n : 1) * nd, sizeof(double));
    if (!st || !saved) {
        free(st);
        free(saved);
        log_error("evaluation: out of memory; skipped");
        snprintf(status, status_size, "out of memory");
        return;
    }
    /* Each target's own step; budgets and the storm guard come after, worst first. */
    for (size_t i = 0; i < n; i++) {
        struct target *t = tt->list[i];
        struct stepped *s = &st[i];
        s->t = t;
        s->saved_exec = saved + i * nd;
        memcpy(s->saved_exec, t->last_exec, r->n_decisions * sizeof(double));
        struct decide_flags flags = {.paused = c->st.paused || t->paused,
                                     .dry_run = c->cli.dry_run};
        s->outcome =
            step_evaluate(r, &t->eval, t->last_exec, t->values, now, &flags, &s->res, &s->def);
        t->last = s->res;
        t->have_eval = true;
        if (s->res.changed)
            log_info("%s: state %s -> %s: %s", t->key, eval_state_name(r, s->res.from),
                     eval_state_name(r, s->res.to), s->res.reasoning);
    }
    qsort(st, n, sizeof(*st), acting_order);
    size_t wanted, limit;
    size_t held = limit_acting(c, st, n, now, &wanted, &limit);
    tt->storm_active = wanted > limit;
    metric_set(c->m.storm_active, tt->storm_active ? 1 : 0);
    if (held) {
        tt->storm_refused += held;
        metric_add(c->m.storm_refused, (double)held);
        record_storm(c, st, n, wanted, limit, held, now);
    }
    for (size_t i = 0; i < n; i++) {
        struct stepped *s = &st[i];
        if (s->outcome == OUTCOME_NONE)
            continue;
        bool limited;
        struct decide_flags flags = {.paused = c->st.paused || s->t->paused,
                                     .dry_run = c->cli.dry_run};
        flags.budget_left = actions_target_budget_left(c, s->t, now, &limited);
        flags.budget_limited = limited;
        s->d = controller_decision(c, &s->res, s->def, &s->outcome, &flags, s->t, s->t->last_exec,
                                   s->saved_exec, now);
    }
    roll_up(c, st, n, now);
    controller_save_state(c);
    pthread_mutex_unlock(&c->lock);

    /* Actions run outside the lock, one at a time, worst target first. Only this thread
     * removes targets, so the pointers stay valid. */
    for (size_t i = 0; i < n; i++) {
        struct stepped *s = &st[i];
        if (s->outcome != OUTCOME_EXECUTED)
            continue;
        size_t failed = actions_decision(c, s->def, s->d, &s->res, s->t, now);
        pthread_mutex_lock(&c->lock);
        controller_count_decision(c, eval_state_name(r, s->res.to), s->def, s->d, s->outcome);
        if (failed)
            json_object_set_new(s->d, "failed_actions", json_integer((json_int_t)failed));
        pthread_mutex_unlock(&c->lock);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(st[i].d);
    free(st);
    free(saved);
    actions_effects(c, NULL, now);

    pthread_mutex_lock(&c->lock);
    /* Forgotten: those whose actions are all reverted (or given up). */
    size_t forgotten = 0;
    for (size_t i = tt->n; i-- > 0;) {
        struct target *t = tt->list[i];
        if (t->forgetting && !actions_target_has_effects(c, t->key)) {
            log_info("targets: %s forgotten", t->key);
            targets_remove(c, t);
            forgotten++;
        }
    }
    if (forgotten)
        controller_save_state(c);
    snprintf(status, status_size, "%s%s%s%s: %.300s", eval_state_name(r, c->st.eval.current),
             c->cli.dry_run ? ", dry run" : "", c->st.paused ? ", PAUSED" : "",
             tt->storm_active ? ", STORM GUARD" : "", c->last.reasoning);
}
