/* step: evaluate() then decide() as one step (see step.h), and the loop state of the
 * tools that replay scenarios: machine state, cooldowns, the hourly action budget kept as
 * the times of the actions that would have run, and the regulators stepped as the daemon
 * steps them. */
#include "step.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- baselines ---- */

static bool rules_learn(const struct rules *r)
{
    for (size_t i = 0; i < r->n_signals; i++)
        if (r->signals[i].baseline)
            return true;
    return false;
}

int baseline_set_init(struct baseline_set *s, const struct rules *r)
{
    memset(s, 0, sizeof(*s));
    if (!rules_learn(r))
        return 0;
    s->by_signal = calloc(r->n_signals, sizeof(*s->by_signal));
    if (!s->by_signal)
        return -ENOMEM;
    s->n = r->n_signals;
    return 0;
}

void baseline_set_free(struct baseline_set *s)
{
    for (size_t i = 0; s->by_signal && i < s->n; i++)
        baseline_free(s->by_signal[i]);
    free(s->by_signal);
    memset(s, 0, sizeof(*s));
}

json_t *baseline_set_json(const struct rules *r, const struct baseline_set *s)
{
    json_t *o = json_object();
    for (size_t i = 0; o && s->by_signal && i < s->n && i < r->n_signals; i++) {
        if (!s->by_signal[i])
            continue;
        json_t *b = baseline_to_json(s->by_signal[i]);
        if (!b || json_object_set_new(o, r->signals[i].name, b) < 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static int set_restore(struct baseline_set *s, const struct rules *r, const json_t *j,
                       bool only_empty)
{
    for (size_t i = 0; json_is_object(j) && s->by_signal && i < s->n && i < r->n_signals; i++) {
        const struct baseline_def *d = r->signals[i].baseline;
        const json_t *b = json_object_get(j, r->signals[i].name);
        if (!d || !b || (only_empty && s->by_signal[i]))
            continue;
        baseline_free(s->by_signal[i]);
        if (!(s->by_signal[i] = baseline_new((enum baseline_season)d->season, d->window)))
            return -ENOMEM;
        if (baseline_from_json(s->by_signal[i], b) < 0)
            return -ENOMEM;
    }
    return 0;
}

int baseline_set_restore(struct baseline_set *s, const struct rules *r, const json_t *j)
{
    return set_restore(s, r, j, false);
}

int baseline_set_seed(struct baseline_set *s, const struct rules *r, const json_t *j)
{
    return set_restore(s, r, j, true);
}

size_t baseline_set_memory(const struct baseline_set *s)
{
    size_t m = s->n * sizeof(*s->by_signal);
    for (size_t i = 0; s->by_signal && i < s->n; i++)
        if (s->by_signal[i])
            m += baseline_memory(s->by_signal[i]);
    return m;
}

void step_baselines_fill(const struct rules *r, const struct baseline_set *bl,
                         struct signal_value *values, double now)
{
    for (size_t k = 0; k < r->n_baseline_refs; k++) {
        const struct baseline_ref *ref = &r->baseline_refs[k];
        const struct baseline_def *d = r->signals[ref->signal].baseline;
        struct signal_value *sv = &values[r->n_signals + k];
        memset(sv, 0, sizeof(*sv));
        sv->sample_time = now;
        const struct baseline *b =
            bl && bl->by_signal && ref->signal < bl->n ? bl->by_signal[ref->signal] : NULL;
        char where[48] = "";
        if (d->season != SEASON_NONE) {
            char slot[16];
            baseline_slot_name((enum baseline_season)d->season,
                               baseline_slot_of((enum baseline_season)d->season, now), slot,
                               sizeof(slot));
            snprintf(where, sizeof(where), "%s slot %s, ",
                     baseline_season_name((enum baseline_season)d->season), slot);
        }
        uint64_t n = 0;
        double v = 0;
        bool any = b && baseline_quantile(b, now, ref->q, &v, &n);
        if (any && n >= d->min_samples) {
            sv->known = true;
            sv->value = v;
            snprintf(sv->reason, sizeof(sv->reason), "%s%llu sample%s", where,
                     (unsigned long long)n, n == 1 ? "" : "s");
        } else {
            snprintf(sv->reason, sizeof(sv->reason),
                     "baseline(%s) not ready: %s%llu of %llu samples", r->signals[ref->signal].name,
                     where, (unsigned long long)n, (unsigned long long)d->min_samples);
        }
    }
}

static bool learns_in(const struct baseline_def *d, size_t state)
{
    for (size_t i = 0; i < d->n_learn_in; i++)
        if (d->learn_in[i] == state)
            return true;
    return false;
}

/* A value as the evaluation takes it: known, finite and not older than max_age. */
static bool usable(const struct rules *r, const struct signal_value *v, size_t i, double now)
{
    double max_age = (double)r->signals[i].max_age_usec / 1e6;
    return v[i].known && isfinite(v[i].value) && !(max_age > 0 && now - v[i].sample_time > max_age);
}

/* Whether state j may hold, for learning: as the evaluation judges it (an unknown value
 * may hold), except that a condition on a baseline that is not ready yet (and has no
 * fallback) does not hold: nothing learned is no sign of trouble, and else a baseline
 * that a state's condition needs could never start learning. v holds the baselines'
 * entries after the signals'. */
static bool may_hold(const struct rules *r, size_t j, const struct signal_value *v, double now)
{
    const struct state_def *s = &r->states[j];
    size_t n_true = 0, n_false = 0;
    for (size_t k = 0; k < s->n_conditions; k++) {
        const struct condition *c = &s->conditions[k];
        double t = c->threshold;
        if (c->baseline) {
            const struct signal_value *b = &v[r->n_signals + c->base_ref];
            if (b->known && isfinite(b->value))
                t = c->factor * b->value;
            else if (!c->has_fallback) {
                n_false++;
                continue;
            }
        }
        if (!usable(r, v, c->signal, now))
            continue; /* unknown */
        if (cond_op_holds(c->op, v[c->signal].value, t))
            n_true++;
        else
            n_false++;
    }
    if (s->n_conditions == 0)
        return true;
    if (s->when == WHEN_ANY)
        return n_true > 0 || n_false < s->n_conditions;
    return n_false == 0;
}

/* Each baselined signal learns its value of this evaluation (see step_evaluate). */
static void baselines_learn(const struct rules *r, struct baseline_set *bl,
                            const struct signal_value *values, const struct eval_result *res,
                            double now)
{
    if (!bl || !bl->by_signal || res->to == EVAL_STATE_UNKNOWN)
        return;
    /* healthy: no worse state holds, not even pending its for (a rise that is about to
     * be judged is not taught as normal); a result held as uncertain only because
     * baselines are not ready still learns */
    for (size_t j = 0; j < res->to; j++)
        if (may_hold(r, j, values, now))
            return;
    for (size_t i = 0; i < r->n_signals && i < bl->n; i++) {
        const struct baseline_def *d = r->signals[i].baseline;
        const struct signal_value *sv = &values[i];
        if (!d || !learns_in(d, res->to) || !usable(r, values, i, now))
            continue;
        if (!bl->by_signal[i] &&
            !(bl->by_signal[i] = baseline_new((enum baseline_season)d->season, d->window)))
            continue; /* out of memory: this value is not learned */
        baseline_add(bl->by_signal[i], now, sv->value);
    }
}

/* The values with the baselines' entries after them: a buffer per thread, as big as the
 * rules may need (about 59 KiB). */
static _Thread_local struct signal_value
    with_baselines[RULES_MAX_SIGNALS + RULES_MAX_BASELINE_REFS];

enum decision_outcome step_evaluate(const struct rules *r, struct eval_state *st, double *last_exec,
                                    const struct signal_value *values, double now,
                                    const struct decide_flags *flags, struct eval_result *res,
                                    const struct decision_def **ret_def, struct baseline_set *bl)
{
    const struct signal_value *v = values;
    if (r->n_baseline_refs && r->n_signals <= RULES_MAX_SIGNALS) {
        memcpy(with_baselines, values, r->n_signals * sizeof(*values));
        step_baselines_fill(r, bl, with_baselines, now);
        v = with_baselines;
    }
    evaluate(r, st, v, now, res);
    if (r->n_baseline_refs || bl)
        baselines_learn(r, bl, v, res, now);
    return decide(r, last_exec, res, now, flags, ret_def);
}

static bool in_active_in(const struct regulator_def *d, size_t state)
{
    if (d->n_active_in == 0)
        return true;
    for (size_t i = 0; i < d->n_active_in; i++)
        if (d->active_in[i] == state)
            return true;
    return false;
}

void step_regulator_input(const struct rules *r, const struct regulator_def *d, size_t to,
                          bool uncertain, const struct signal_value *values, double now,
                          struct regulator_input *ret)
{
    const struct signal_value *sv = values ? &values[d->signal] : NULL;
    *ret = (struct regulator_input){
        .now = now,
        .known = sv && usable(r, values, d->signal, now),
        .signal = sv ? sv->value : NAN,
    };
    bool state_unknown = to == EVAL_STATE_UNKNOWN || (uncertain && d->n_active_in);
    ret->active = !state_unknown && in_active_in(d, to);
    ret->state_unknown = state_unknown && d->n_active_in;
}

const char *step_reg_outcome_name(enum step_reg_outcome o)
{
    static const char *const names[] = {
        [STEP_REG_NONE] = "none",       [STEP_REG_APPLIED] = "applied",
        [STEP_REG_DRY_RUN] = "dry_run", [STEP_REG_BUDGET] = "budget_exhausted",
        [STEP_REG_PAUSED] = "paused",
    };
    return (size_t)o < sizeof(names) / sizeof(names[0]) ? names[o] : "unknown";
}

void step_regulators_free(struct step_regulator *regs, size_t n)
{
    for (size_t i = 0; regs && i < n; i++)
        free(regs[i].change_times);
    free(regs);
}

struct step_regulator *step_regulators_new(const struct rules *rules)
{
    size_t n = rules->n_regulators;
    unsigned max = rules->max_regulator_changes_per_hour;
    struct step_regulator *regs = calloc(n, sizeof(*regs));
    if (!regs)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        regulator_state_init(&rules->regulators[i], &regs[i].st);
        if (max && !(regs[i].change_times = calloc(max, sizeof(*regs[i].change_times)))) {
            step_regulators_free(regs, n);
            return NULL;
        }
    }
    return regs;
}

int step_replay_init(struct step_replay *rp, const struct rules *rules, double t0, bool paused,
                     bool dry_run)
{
    memset(rp, 0, sizeof(*rp));
    rp->rules = rules;
    rp->paused = paused;
    rp->dry_run = dry_run;
    rp->last_exec = calloc(rules->n_decisions ? rules->n_decisions : 1, sizeof(*rp->last_exec));
    unsigned max = rules->max_actions_per_hour;
    rp->action_times = calloc(max ? max : 1, sizeof(*rp->action_times));
    bool regs = rules->n_regulators && !rules->targets.by;
    if (regs)
        rp->regs = step_regulators_new(rules);
    if (!rp->last_exec || !rp->action_times || (regs && !rp->regs) ||
        baseline_set_init(&rp->baselines, rules) < 0 || eval_state_init(&rp->eval, rules, t0) < 0) {
        free(rp->last_exec);
        free(rp->action_times);
        step_regulators_free(rp->regs, rules->n_regulators);
        baseline_set_free(&rp->baselines);
        memset(rp, 0, sizeof(*rp));
        return -ENOMEM;
    }
    return 0;
}

void step_replay_free(struct step_replay *rp)
{
    if (!rp || !rp->rules)
        return;
    eval_state_free(&rp->eval);
    free(rp->last_exec);
    free(rp->action_times);
    step_regulators_free(rp->regs, rp->rules->n_regulators);
    baseline_set_free(&rp->baselines);
    memset(rp, 0, sizeof(*rp));
}

/* Forgets the times (oldest first) an hour old or older, as actuate_budget_left and the
 * regulators' expire() do. */
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

/* As plan_runs (daemon/regulators.c) with nothing to send: paused holds, a change past the
 * hourly budget waits (the windows keep its recommendation), any other change is in force
 * at once. */
void step_regulators_next(const struct rules *r, struct step_regulator *regs, size_t to,
                          bool uncertain, const struct signal_value *values, bool paused,
                          bool dry_run, double now)
{
    unsigned max = r->max_regulator_changes_per_hour;
    for (size_t i = 0; i < r->n_regulators; i++) {
        const struct regulator_def *d = &r->regulators[i];
        struct step_regulator *g = &regs[i];
        if (paused) {
            double out = g->st.output;
            g->last = (struct regulator_step){
                .why = REG_UNKNOWN, .previous = out, .recommended = out, .output = out};
            snprintf(g->last.explanation, sizeof(g->last.explanation),
                     d->integer ? "paused: %s held at %.0f" : "paused: %s held at %.6g",
                     d->output_name ? d->output_name : d->name, out);
            g->outcome = STEP_REG_PAUSED;
            continue;
        }
        struct regulator_input in;
        step_regulator_input(r, d, to, uncertain, values, now, &in);
        struct regulator_state before = g->st;
        regulator_step(d, &g->st, r->signals[d->signal].name, &in, &g->last);
        g->outcome = STEP_REG_NONE;
        if (!g->last.change)
            continue;
        expire(g->change_times, &g->n_change_times, now);
        if (max && g->n_change_times >= max) {
            regulator_revert(&g->st, &before);
            size_t len = strlen(g->last.explanation);
            snprintf(g->last.explanation + len, sizeof(g->last.explanation) - len,
                     "; held: %u changes in the last hour (max_regulator_changes_per_hour)", max);
            g->last.change = false;
            g->outcome = STEP_REG_BUDGET;
            continue;
        }
        if (max)
            g->change_times[g->n_change_times++] = now;
        g->changes++;
        g->outcome = dry_run || d->dry_run ? STEP_REG_DRY_RUN : STEP_REG_APPLIED;
    }
}

enum decision_outcome step_replay_next(struct step_replay *rp, const struct signal_value *values,
                                       double now, struct eval_result *res,
                                       const struct decision_def **ret_def)
{
    unsigned max = rp->rules->max_actions_per_hour;
    expire(rp->action_times, &rp->n_action_times, now);
    struct decide_flags flags = {
        .paused = rp->paused,
        .dry_run = rp->dry_run,
        .budget_limited = max > 0,
        .budget_left = max > rp->n_action_times ? max - (unsigned)rp->n_action_times : 0,
    };
    enum decision_outcome o = step_evaluate(rp->rules, &rp->eval, rp->last_exec, values, now,
                                            &flags, res, ret_def, &rp->baselines);
    /* decide() only executes what the budget has room for, so this stays within max. */
    if (o == OUTCOME_EXECUTED && max > 0 && *ret_def)
        for (size_t i = 0; i < (*ret_def)->n_actions && rp->n_action_times < max; i++)
            rp->action_times[rp->n_action_times++] = now;
    if (rp->regs)
        step_regulators_next(rp->rules, rp->regs, res->to, res->uncertain, values, rp->paused,
                             rp->dry_run, now);
    return o;
}
