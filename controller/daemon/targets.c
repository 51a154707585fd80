/* targets: one evaluation of a rules file with targets (see controller.h): the signals'
 * vectors are matched to targets (engine/targets.c), new targets are admitted up to
 * targets.max (the rest refused and counted), each target takes its own step and the
 * budgets and the storm guard decide which decisions may run (engine/fleet.c, shared with
 * `test` and `backtest`); every decision is written to the audit log with the target's labels
 * before anything runs; the actions run with {{ $labels.NAME }} expanded; actions of
 * targets without series for forget_after are reverted, then those targets forgotten. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"
#include "parse.h"
#include "fleet.h"
#include "targets.h"

#define STORM_LISTED 50 /* targets named in a storm_guard record */

/* Takes this evaluation's targets in (lock held): known ones get their values, new ones are
 * admitted while there is room; the others keep none. */
static void admit(struct controller *c, struct target_set *set, double now)
{
    const struct rules *r = c->rules;
    struct target_table *tt = &c->targets;
    size_t refused = 0;
    for (size_t i = 0; i < tt->n; i++)
        tt->list[i]->seen = false;
    for (size_t i = 0; i < set->n; i++) {
        struct target_row *row = set->rows[i];
        struct target *t = targets_find(c, row->key);
        if (!t && tt->n >= r->targets.max) {
            refused++;
            continue;
        }
        if (!t) {
            json_t *labels = targets_row_labels(r, row);
            t = labels ? targets_add(c, row->key, labels, now) : NULL;
            json_decref(labels);
            if (!t) {
                log_error("targets: out of memory adding %s", row->key);
                continue;
            }
        }
        if (!row->borrowed) {
            /* a new target's (or a known one's first) values: taken over from the row */
            free(t->values);
            t->values = row->values;
            row->values = NULL;
        }
        t->seen = true;
        if (row->present)
            t->last_seen = now;
    }
    if (refused && refused != tt->refused_last)
        log_warning("targets: %zu label sets refused: targets.max (%u) reached", refused,
                    r->targets.max);
    tt->refused_last = refused;
    metric_add(c->m.targets_refused, (double)refused);
    /* A target no series named this time (its per-target signals are unknown: never acted
     * on) is forgotten after forget_after. One the matching gave no row (its key too long
     * now) has every signal unknown. */
    for (size_t i = 0; i < tt->n; i++) {
        struct target *t = tt->list[i];
        if (!t->seen && t->values)
            for (size_t s = 0; s < r->n_signals; s++) {
                memset(&t->values[s], 0, sizeof(t->values[s]));
                snprintf(t->values[s].reason, sizeof(t->values[s].reason),
                         "no series for this target");
            }
        if (t->last_seen == now)
            continue;
        if (!t->forgetting && now - t->last_seen >= (double)r->targets.forget_after_usec / 1e6) {
            t->forgetting = true;
            log_info("targets: %s has had no series for %.0fs (forget_after): forgetting it%s",
                     t->key, now - t->last_seen,
                     actions_target_effects(c, t->key) ? " once its actions are reverted" : "");
        }
    }
}

/* The storm guard's own audit record and log line (lock held). */
static void record_storm(struct controller *c, const struct fleet_member *st, size_t n,
                         size_t wanted, size_t limit, size_t held, double now)
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
            json_array_append_new(list, json_incref(((struct target *)st[i].owner)->labels));
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
static void roll_up(struct controller *c, const struct fleet_member *st, size_t n, double now)
{
    const struct rules *r = c->rules;
    const struct fleet_member *worst = n ? &st[0] : NULL; /* st is in acting order */
    size_t counts[RULES_MAX_STATES + 1] = {0};
    for (size_t i = 0; i < n; i++)
        counts[fleet_state_rank(st[i].to)]++;
    struct eval_result res;
    memset(&res, 0, sizeof(res));
    res.from = c->st.eval.current;
    const struct target *wt = worst ? worst->owner : NULL;
    res.to = worst ? worst->to : r->n_states - 1;
    res.confidence = worst ? worst->confidence : 1;
    res.parts = wt ? wt->last.parts : (struct confidence_parts){1, 1, 1, 1};
    res.uncertain = worst && worst->uncertain;
    size_t o = (size_t)snprintf(res.reasoning, sizeof(res.reasoning), "%zu targets:", n);
    for (size_t s = 0; s <= r->n_states && o < sizeof(res.reasoning); s++)
        if (counts[s])
            o += (size_t)snprintf(res.reasoning + o, sizeof(res.reasoning) - o, " %zu %s,",
                                  counts[s], s == 0 ? RULES_STATE_UNKNOWN : r->states[s - 1].name);
    if (worst && o < sizeof(res.reasoning))
        snprintf(res.reasoning + o, sizeof(res.reasoning) - o, " worst %.300s: %.1400s", worst->key,
                 wt->last.reasoning ? wt->last.reasoning : "");
    else if (o > 0 && res.reasoning[o - 1] == ':')
        snprintf(res.reasoning + o, sizeof(res.reasoning) - o, " none yet");
    res.changed = res.to != c->st.eval.current;
    if (res.changed) {
        c->st.eval.current = res.to;
        c->st.eval.since = worst ? worst->eval->since : now;
    }
    c->last = res;
}

struct step_ctx {
    struct controller *c;
    double now;
};

/* fleet_step's hook: a target's step result (in the evaluation's one scratch result)
 * kept compactly in the target, and its change of state logged; on_no_effect: escalate's
 * decision in place of its own (before the budgets and the storm guard judge it). */
static void keep_result(struct fleet_member *m, void *ctx)
{
    struct step_ctx *sc = ctx;
    struct controller *c = sc->c;
    const struct rules *r = c->rules;
    struct target *t = m->owner;
    struct decide_flags flags = {.paused = c->st.paused || m->paused, .dry_run = c->cli.dry_run};
    verdicts_escalate(c, t->key, m->res, m->last_exec, m->saved_exec, &flags, sc->now, &m->outcome,
                      &m->def);
    const struct eval_result *res = m->res;
    struct target_result *l = &t->last;
    l->from = res->from;
    l->to = res->to;
    l->changed = res->changed;
    l->uncertain = res->uncertain;
    l->confidence = res->confidence;
    l->parts = res->parts;
    size_t len = strnlen(res->reasoning, sizeof(res->reasoning) - 1);
    if (len + 1 > l->reasoning_cap || len + 1 < l->reasoning_cap / 4) {
        char *p = realloc(l->reasoning, len + 1);
        if (p) {
            l->reasoning = p;
            l->reasoning_cap = len + 1;
        }
    }
    if (l->reasoning) {
        size_t n = len < l->reasoning_cap ? len : l->reasoning_cap - 1;
        memcpy(l->reasoning, res->reasoning, n);
        l->reasoning[n] = '\0';
    }
    t->have_eval = l->reasoning != NULL; /* only out of memory leaves it without */
    if (res->changed)
        log_info("%s: state %s -> %s: %s", t->key, eval_state_name(r, res->from),
                 eval_state_name(r, res->to), res->reasoning);
}

/* A target's last result as the engine's struct again, for its decision's record and
 * actions. */
static void result_of(const struct target *t, struct eval_result *out)
{
    const struct target_result *l = &t->last;
    memset(out, 0, offsetof(struct eval_result, reasoning));
    out->from = l->from;
    out->to = l->to;
    out->changed = l->changed;
    out->uncertain = l->uncertain;
    out->confidence = l->confidence;
    out->parts = l->parts;
    snprintf(out->reasoning, sizeof(out->reasoning), "%s", l->reasoning ? l->reasoning : "");
}

void targets_evaluate(struct controller *c, const struct ivec *vecs, const bool *have, double now,
                      char *status, size_t status_size)
{
    const struct rules *r = c->rules; /* only this thread swaps the rules */
    struct target_table *tt = &c->targets;
    struct target_input *in = calloc(r->n_signals ? r->n_signals : 1, sizeof(*in));
    struct target_set set = {0};
    pthread_mutex_lock(&c->lock);
    if (!tt->seed)
        tt->seed = hash_random_seed();
    for (size_t i = 0; in && i < r->n_signals; i++) {
        in[i].series = have[i] ? &vecs[i] : NULL;
        in[i].value = c->values[i]; /* a failed query's reason, an alert:NAME's value */
    }
    const json_t **known = malloc((tt->n ? tt->n : 1) * sizeof(*known));
    struct signal_value **known_values = malloc((tt->n ? tt->n : 1) * sizeof(*known_values));
    for (size_t i = 0; known && known_values && i < tt->n; i++) {
        known[i] = tt->list[i]->labels;
        known_values[i] = tt->list[i]->values; /* filled in place (NULL: not yet) */
    }
    int mr = in && known && known_values
                 ? targets_match(r, in, known, known_values, tt->n, tt->seed, &set)
                 : -ENOMEM;
    free(known);
    free(known_values);
    free(in);
    if (mr < 0) {
        log_error("evaluation: out of memory matching targets; skipped");
        snprintf(status, status_size, "out of memory matching targets");
        return;
    }
    admit(c, &set, now);
    target_set_free(&set);

    size_t n = tt->n, nd = r->n_decisions ? r->n_decisions : 1;
    struct fleet_member *st = calloc(n ? n : 1, sizeof(*st));
    double *saved = calloc((n ? n : 1) * nd, sizeof(double));
    json_t **recs = calloc(n ? n : 1, sizeof(*recs));
    struct eval_result *scratch = calloc(1, sizeof(*scratch)); /* one for every target */
    if (!st || !saved || !recs || !scratch) {
        free(st);
        free(saved);
        free(recs);
        free(scratch);
        log_error("evaluation: out of memory; skipped");
        snprintf(status, status_size, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct target *t = tt->list[i];
        struct fleet_member *m = &st[i];
        m->owner = t;
        m->key = t->key;
        m->eval = &t->eval;
        m->last_exec = t->last_exec;
        m->saved_exec = saved + i * nd;
        m->values = t->values;
        m->baselines = &t->baselines;
        m->res = scratch; /* kept in the target by keep_result */
        m->paused = t->paused;
        /* the global budget is fleet_step's; each member carries only its own */
        m->budget_limited = r->max_actions_per_hour_per_target > 0;
        m->budget_left = m->budget_limited ? actions_target_own_left(c, t, now) : 0;
    }
    /* Each target's own step, then the budgets and the storm guard, worst first
     * (engine/fleet.c: what `test` and `backtest` replay too). */
    struct decide_flags global = {.paused = c->st.paused, .dry_run = c->cli.dry_run};
    global.budget_left = actions_budget_left(c, now, &global.budget_limited);
    struct fleet_outcome fo;
    struct step_ctx sc = {c, now};
    fleet_step_with(r, st, n, now, &global, &fo, keep_result, &sc);
    tt->storm_active = fo.storm;
    metric_set(c->m.storm_active, fo.storm ? 1 : 0);
    if (fo.held) {
        metric_add(c->m.storm_refused, (double)fo.held);
        record_storm(c, st, n, fo.wanted, fo.limit, fo.held, now);
    }
    /* on_no_effect: stop: a suspended decision does not run for its target (its cooldown
     * starts all the same: it is recorded once a cooldown) */
    for (size_t i = 0; i < n; i++) {
        struct fleet_member *m = &st[i];
        if (m->outcome == OUTCOME_EXECUTED && m->def && m->def->stop_on_no_effect &&
            verdicts_suspended(c, r->states[m->def->state].name, m->key))
            m->outcome = OUTCOME_SUSPENDED;
    }
    /* A standby records no decisions and starts no cooldowns: the leader's state, taken
     * over when it leads, has them (daemon/replicas.c). */
    if (!replicas_may_act(c))
        for (size_t i = 0; i < n; i++) {
            struct fleet_member *m = &st[i];
            if (m->outcome == OUTCOME_NONE)
                continue;
            memcpy(((struct target *)m->owner)->last_exec, m->saved_exec, nd * sizeof(double));
            m->outcome = OUTCOME_NONE;
        }
    c->audit_deferred = true;
    for (size_t i = 0; i < n; i++) {
        struct fleet_member *m = &st[i];
        if (m->outcome == OUTCOME_NONE)
            continue;
        struct target *t = m->owner;
        bool limited;
        struct decide_flags flags = {.paused = c->st.paused || t->paused,
                                     .dry_run = c->cli.dry_run};
        flags.budget_left = actions_target_budget_left(c, t, now, &limited);
        flags.budget_limited = limited;
        result_of(t, scratch);
        json_t *esc = verdicts_escalation_taken(c, t->key);
        recs[i] = controller_decision_with(c, scratch, m->def, &m->outcome, &flags, t, t->last_exec,
                                           m->saved_exec, now, esc);
        json_decref(esc);
        if (m->outcome != OUTCOME_EXECUTED) {
            /* written and counted: only the records of decisions that run are needed after
             * (when 9,000 targets change state at once, all of them would be 100 MiB) */
            json_decref(recs[i]);
            recs[i] = NULL;
        }
    }
    c->audit_deferred = false;
    /* One fsync for all of this evaluation's decision records, before any of them acts. */
    int as = audit_sync(c->audit);
    if (as < 0) {
        metric_add(c->m.audit_errors, 1);
        log_error_errno(as,
                        "audit: cannot sync this evaluation's decisions to %s; not acting "
                        "on any of them",
                        audit_path(c->audit));
        for (size_t i = 0; i < n; i++)
            if (st[i].outcome == OUTCOME_EXECUTED)
                controller_decision_unsynced(c, recs[i], st[i].def, &st[i].outcome, st[i].owner,
                                             ((struct target *)st[i].owner)->last_exec,
                                             st[i].saved_exec);
    }
    roll_up(c, st, n, now);
    /* The snapshot under the lock, the write (megabytes and an fsync at 10,000 targets)
     * without it, before any action runs. */
    struct state_snapshot snap;
    int sr = controller_state_snapshot(c, &snap);
    pthread_mutex_unlock(&c->lock);
    controller_state_write(c, &snap, sr);

    /* Actions run outside the lock, one at a time, worst target first. Only this thread
     * removes targets, so the pointers stay valid. */
    for (size_t i = 0; i < n; i++) {
        struct fleet_member *m = &st[i];
        if (m->outcome != OUTCOME_EXECUTED)
            continue;
        result_of(m->owner, scratch); /* only this thread changes a target's result */
        size_t failed = actions_decision(c, m->def, recs[i], scratch, m->owner, now);
        pthread_mutex_lock(&c->lock);
        controller_count_decision(c, eval_state_name(r, m->to), m->def, recs[i], m->outcome);
        verdicts_schedule(c, m->def, recs[i], m->owner, now);
        if (failed)
            json_object_set_new(recs[i], "failed_actions", json_integer((json_int_t)failed));
        controller_keep_last_decision(m->owner, recs[i]); /* now with its actions' results */
        pthread_mutex_unlock(&c->lock);
    }
    for (size_t i = 0; i < n; i++)
        json_decref(recs[i]);
    free(recs);
    free(st);
    free(saved);
    free(scratch);
    regulators_targets_evaluate(c, now);
    actions_effects(c, NULL, now);

    pthread_mutex_lock(&c->lock);
    /* Forgotten: those whose actions are all reverted (or given up). */
    size_t forgotten = 0;
    for (size_t i = tt->n; i-- > 0;) {
        struct target *t = tt->list[i];
        if (t->forgetting && !actions_target_effects(c, t->key)) {
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
