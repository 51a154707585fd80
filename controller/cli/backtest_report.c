/* backtest_report: the backtest's result as JSON (backtest_json) and as text
 * (backtest_write_text): timeline, summary, flaps, what would have fired, and each
 * regulator's trajectory when the rules have regulators (with targets, summed over them
 * and per target). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backtest.h"
#include "buf.h"
#include "evaluate.h"
#include "fileio.h"
#include "parse.h"
#include "step.h"

#include "backtest_private.h"

/* ---- reports -------------------------------------------------------------------------- */

static bool would_fire(enum decision_outcome o)
{
    return o == OUTCOME_EXECUTED || o == OUTCOME_DRY_RUN;
}

/* The outcomes that keep a decision's actions from running. */
static const enum decision_outcome held_outcomes[] = {
    OUTCOME_COOLDOWN, OUTCOME_BELOW_CONFIDENCE, OUTCOME_BUDGET, OUTCOME_UNCERTAIN, OUTCOME_PAUSED};
#define N_HELD (sizeof(held_outcomes) / sizeof(held_outcomes[0]))

static uint64_t held_total(const uint64_t *outcomes)
{
    uint64_t n = 0;
    for (size_t i = 0; i < N_HELD; i++)
        n += outcomes[held_outcomes[i]];
    return n;
}

static const char *slot_name(const struct rules *r, size_t slot)
{
    return eval_state_name(r, slot < r->n_states ? slot : EVAL_STATE_UNKNOWN);
}

static json_t *json_time_ms(int64_t ms)
{
    char t[64];
    backtest_format_time(ms, t, sizeof(t));
    return json_string(t);
}

static json_t *json_finite(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *actions_json(const struct decision_def *d, uint64_t count)
{
    json_t *arr = json_array();
    for (size_t i = 0; d && arr && i < d->n_actions; i++) {
        json_t *a = json_object();
        json_object_set_new(a, "kind", json_string(action_kind_name(d->actions[i].kind)));
        json_object_set_new(a, "summary", json_string(d->actions[i].summary));
        if (count != UINT64_MAX)
            json_object_set_new(a, "would_fire", json_integer((json_int_t)count));
        json_array_append_new(arr, a);
    }
    return arr;
}

static json_t *event_json(const struct backtest_result *b, const struct backtest_event *e)
{
    const struct rules *r = b->rules;
    json_t *o = json_object();
    json_object_set_new(o, "time", json_time_ms(e->time_ms));
    json_object_set_new(o, "timestamp", json_real((double)e->time_ms / 1000.0));
    if (e->target)
        json_object_set_new(o, "target", json_string(e->target));
    json_object_set_new(o, "from", json_string(eval_state_name(r, e->from)));
    json_object_set_new(o, "to", json_string(eval_state_name(r, e->to)));
    json_object_set_new(o, "changed", json_boolean(e->changed));
    json_object_set_new(o, "uncertain", json_boolean(e->uncertain));
    json_object_set_new(o, "flap", json_boolean(e->flap));
    json_object_set_new(o, "confidence", json_finite(e->confidence));
    json_object_set_new(o, "reasoning", json_string(e->reasoning));
    if (e->outcome == OUTCOME_NONE) {
        json_object_set_new(o, "decision", json_null());
        return o;
    }
    json_t *d = json_object();
    json_object_set_new(d, "state", json_string(eval_state_name(r, e->to)));
    json_object_set_new(d, "outcome", json_string(decision_outcome_name(e->outcome)));
    json_object_set_new(d, "would_fire", json_boolean(would_fire(e->outcome)));
    if (e->def)
        json_object_set_new(d, "min_confidence", json_real(e->def->min_confidence));
    json_object_set_new(d, "actions", actions_json(e->def, UINT64_MAX));
    json_object_set_new(o, "decision", d);
    return o;
}

static json_t *outcomes_json(const uint64_t *outcomes)
{
    json_t *o = json_object();
    for (int i = OUTCOME_UNCERTAIN; i < OUTCOME_MAX; i++)
        if (outcomes[i])
            json_object_set_new(o, decision_outcome_name((enum decision_outcome)i),
                                json_integer((json_int_t)outcomes[i]));
    return o;
}

/* Whether the rules have targets: the regulators' report is then over them. */
static bool by_target(const struct backtest_result *b)
{
    return b->rules->targets.by != NULL;
}

/* What the states' evaluations are counted out of: the steps, or with targets the
 * target-evaluations. */
static double evaluations(const struct backtest_result *b)
{
    return b->targets ? (double)(b->target_evaluations ? b->target_evaluations : 1) : (double)b->n;
}

/* An output as JSON: whole for an integer output. */
static json_t *json_output(const struct regulator_def *d, double v)
{
    return d->integer && fabs(v) < 9e15 ? json_integer((json_int_t)llround(v)) : json_real(v);
}

/* An output as JSON, null for NaN (no step yet). */
static json_t *json_output_or_null(const struct regulator_def *d, double v)
{
    return isfinite(v) ? json_output(d, v) : json_null();
}

/* With targets: a target's own summary of each regulator, by name. */
static json_t *target_regulators_json(const struct rules *r, const struct backtest_target_stats *t)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < r->n_regulators; i++) {
        const struct regulator_def *d = &r->regulators[i];
        const struct backtest_target_regulator *g = &t->regulators[i];
        json_t *x = json_object();
        json_object_set_new(x, "changes_up", json_integer((json_int_t)g->up));
        json_object_set_new(x, "changes_down", json_integer((json_int_t)g->down));
        json_object_set_new(x, "reversals", json_integer((json_int_t)g->reversals));
        json_object_set_new(x, "final_output", json_output_or_null(d, g->final_output));
        json_object_set_new(x, "lowest", json_output_or_null(d, g->lowest));
        json_object_set_new(x, "highest", json_output_or_null(d, g->highest));
        json_object_set_new(o, d->name, x);
    }
    return o;
}

/* With targets: each target's counts (the first BACKTEST_MAX_TARGETS_LISTED). */
/* {STATE: {helped, no_effect, worse, unknown}} of the states with verdicts in v. */
static json_t *verdicts_json(const struct rules *r, const uint64_t (*v)[EFFECT_MAX])
{
    json_t *out = json_object();
    for (size_t s = 0; out && s < r->n_states; s++) {
        uint64_t n = 0;
        for (int k = 0; k < EFFECT_MAX; k++)
            n += v[s][k];
        if (!n)
            continue;
        json_t *o = json_object();
        for (int k = 0; k < EFFECT_MAX; k++)
            json_object_set_new(o, effect_verdict_name((enum effect_verdict)k),
                                json_integer((json_int_t)v[s][k]));
        json_object_set_new(out, r->states[s].name, o);
    }
    return out;
}

static json_t *targets_json(const struct backtest_result *b)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < b->n_targets && i < BACKTEST_MAX_TARGETS_LISTED; i++) {
        const struct backtest_target_stats *t = &b->targets[i];
        json_t *o = json_object();
        json_object_set_new(o, "target", json_string(t->key));
        json_object_set_new(o, "evaluations", json_integer((json_int_t)t->evaluations));
        json_object_set_new(o, "worst_state", json_string(slot_name(b->rules, t->worst)));
        json_object_set_new(o, "transitions", json_integer((json_int_t)t->transitions));
        json_object_set_new(o, "flaps", json_integer((json_int_t)t->flaps));
        json_object_set_new(o, "decisions_recorded", json_integer((json_int_t)t->decisions));
        json_object_set_new(o, "outcomes", outcomes_json(t->outcomes));
        json_object_set_new(o, "would_fire",
                            json_integer((json_int_t)(t->outcomes[OUTCOME_EXECUTED] +
                                                      t->outcomes[OUTCOME_DRY_RUN])));
        if (t->regulators)
            json_object_set_new(o, "regulators", target_regulators_json(b->rules, t));
        if (t->verdicts)
            json_object_set_new(o, "verdicts", verdicts_json(b->rules, t->verdicts));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* Each regulator's trajectory: its changes (the first BACKTEST_MAX_REG_CHANGES) and
 * counts; with targets summed over them (no final output: each target has its own), each
 * change naming its target. */
static json_t *regulators_json(const struct backtest_result *b)
{
    const struct rules *r = b->rules;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < r->n_regulators; i++) {
        const struct regulator_def *d = &r->regulators[i];
        const struct backtest_regulator *g = &b->regulators[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(d->name));
        json_object_set_new(o, "signal", json_string(r->signals[d->signal].name));
        json_object_set_new(o, "setpoint", json_real(d->setpoint));
        json_object_set_new(o, "law", json_string(regulator_law_name(d->law)));
        json_object_set_new(o, "output_name",
                            json_string(d->output_name ? d->output_name : d->name));
        json_object_set_new(o, "min", json_output(d, d->out_min));
        json_object_set_new(o, "max", json_output(d, d->out_max));
        json_object_set_new(o, "start", json_output(d, d->out_start));
        json_object_set_new(o, "dry_run", json_boolean(d->dry_run));
        json_object_set_new(o, "final_output",
                            by_target(b) ? json_null() : json_output(d, g->final_output));
        json_object_set_new(o, "lowest",
                            isfinite(g->lowest) ? json_output(d, g->lowest) : json_null());
        json_object_set_new(o, "highest",
                            isfinite(g->highest) ? json_output(d, g->highest) : json_null());
        json_object_set_new(o, "changes_total", json_integer((json_int_t)(g->up + g->down)));
        json_object_set_new(o, "changes_up", json_integer((json_int_t)g->up));
        json_object_set_new(o, "changes_down", json_integer((json_int_t)g->down));
        json_object_set_new(o, "reversals", json_integer((json_int_t)g->reversals));
        json_object_set_new(o, "budget_exhausted", json_integer((json_int_t)g->budget_exhausted));
        json_object_set_new(o, "evaluations_at_min", json_integer((json_int_t)g->at_min));
        json_object_set_new(o, "seconds_at_min",
                            json_real((double)g->at_min * (double)b->step_ms / 1000.0));
        json_object_set_new(o, "evaluations_at_max", json_integer((json_int_t)g->at_max));
        json_object_set_new(o, "seconds_at_max",
                            json_real((double)g->at_max * (double)b->step_ms / 1000.0));
        json_t *steps = json_object();
        for (int w = 0; w < REG_WHY_MAX; w++)
            if (g->steps[w])
                json_object_set_new(steps, regulator_why_name((enum regulator_why)w),
                                    json_integer((json_int_t)g->steps[w]));
        json_object_set_new(o, "steps", steps);
        json_t *changes = json_array();
        for (size_t k = 0; k < g->n_changes; k++) {
            const struct backtest_reg_change *c = &g->changes[k];
            json_t *x = json_object();
            json_object_set_new(x, "time", json_time_ms(c->time_ms));
            json_object_set_new(x, "timestamp", json_real((double)c->time_ms / 1000.0));
            if (c->target)
                json_object_set_new(x, "target", json_string(c->target));
            json_object_set_new(x, "from", json_output(d, c->from));
            json_object_set_new(x, "to", json_output(d, c->to));
            json_object_set_new(x, "direction", json_string(c->to > c->from ? "up" : "down"));
            json_object_set_new(x, "dry_run", json_boolean(c->dry_run));
            json_object_set_new(x, "explanation", json_string(c->explanation));
            json_array_append_new(changes, x);
        }
        json_object_set_new(o, "changes", changes);
        json_object_set_new(o, "changes_dropped", json_integer((json_int_t)g->changes_dropped));
        json_array_append_new(arr, o);
    }
    return arr;
}

json_t *backtest_json(const struct backtest_result *b, const struct backtest_about *about)
{
    const struct rules *r = b->rules;
    json_t *root = json_object();
    if (!root)
        return NULL;
    json_object_set_new(root, "rules", json_string(about->rules_path));
    json_object_set_new(root, "prometheus", json_string(about->prometheus_url));
    json_object_set_new(root, "from", json_time_ms(b->start_ms));
    json_object_set_new(root, "to", json_time_ms(b->start_ms + (int64_t)(b->n - 1) * b->step_ms));
    json_object_set_new(root, "step_seconds", json_real((double)b->step_ms / 1000.0));
    json_object_set_new(root, "evaluations", json_integer((json_int_t)b->n));
    json_object_set_new(root, "requests", json_integer((json_int_t)about->requests));
    json_object_set_new(root, "flap_window_seconds", json_real((double)b->flap_window_ms / 1000.0));

    json_t *sigs = json_array();
    for (size_t i = 0; i < r->n_signals; i++) {
        const struct backtest_signal_stats *s = &b->signals[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(r->signals[i].name));
        json_object_set_new(o, "query", json_string(about->queries[i]));
        json_object_set_new(o, "source",
                            json_string(r->signals[i].alert ? "prometheus_alerts" : "prometheus"));
        json_object_set_new(o, "missing_evaluations", json_integer((json_int_t)s->missing));
        json_object_set_new(o, "gaps_total", json_integer((json_int_t)s->n_gaps));
        json_t *gaps = json_array();
        for (uint64_t g = 0; g < s->n_gaps && g < BACKTEST_MAX_GAPS; g++) {
            json_t *go = json_object();
            json_object_set_new(go, "from", json_time_ms(s->gaps[g].from_ms));
            json_object_set_new(go, "to", json_time_ms(s->gaps[g].to_ms));
            json_object_set_new(
                go, "evaluations",
                json_integer(
                    (json_int_t)((s->gaps[g].to_ms - s->gaps[g].from_ms) / b->step_ms + 1)));
            json_object_set_new(go, "reason", json_string(s->gaps[g].reason));
            json_array_append_new(gaps, go);
        }
        json_object_set_new(o, "gaps", gaps);
        json_array_append_new(sigs, o);
    }
    json_object_set_new(root, "signals", sigs);

    json_t *timeline = json_array();
    for (size_t i = 0; i < b->n_events; i++)
        json_array_append_new(timeline, event_json(b, &b->events[i]));
    json_object_set_new(root, "timeline", timeline);
    json_object_set_new(root, "timeline_dropped", json_integer((json_int_t)b->events_dropped));

    json_t *sum = json_object();
    json_t *states = json_array();
    for (size_t s = 0; s <= r->n_states; s++) {
        const struct backtest_state_stats *st = &b->states[s];
        json_t *o = json_object();
        json_object_set_new(o, "state", json_string(slot_name(r, s)));
        json_object_set_new(o, "evaluations", json_integer((json_int_t)st->evaluations));
        json_object_set_new(o, "seconds",
                            json_real((double)st->evaluations * (double)b->step_ms / 1000.0));
        json_object_set_new(o, "share", json_real((double)st->evaluations / evaluations(b)));
        json_object_set_new(o, "entered", json_integer((json_int_t)st->entered));
        json_object_set_new(o, "flaps", json_integer((json_int_t)st->flaps));
        json_array_append_new(states, o);
    }
    json_object_set_new(sum, "states", states);
    json_object_set_new(sum, "transitions", json_integer((json_int_t)b->transitions));
    json_object_set_new(sum, "flaps", json_integer((json_int_t)b->flaps));
    json_object_set_new(sum, "decisions_recorded", json_integer((json_int_t)b->decisions));
    json_object_set_new(sum, "outcomes", outcomes_json(b->outcomes));
    json_object_set_new(
        sum, "would_fire",
        json_integer((json_int_t)(b->outcomes[OUTCOME_EXECUTED] + b->outcomes[OUTCOME_DRY_RUN])));
    json_t *held = json_object();
    for (size_t i = 0; i < N_HELD; i++)
        json_object_set_new(held, decision_outcome_name(held_outcomes[i]),
                            json_integer((json_int_t)b->outcomes[held_outcomes[i]]));
    json_object_set_new(held, "total", json_integer((json_int_t)held_total(b->outcomes)));
    json_object_set_new(sum, "held_back", held);

    json_t *decisions = json_array();
    for (size_t s = 0; s <= r->n_states; s++) {
        const struct backtest_state_stats *st = &b->states[s];
        const struct decision_def *d = s < r->n_states ? rules_decision_for(r, s) : NULL;
        uint64_t recorded = 0;
        for (int o = OUTCOME_UNCERTAIN; o < OUTCOME_MAX; o++)
            recorded += st->outcomes[o];
        if (!recorded && !d)
            continue;
        uint64_t fired = st->outcomes[OUTCOME_EXECUTED] + st->outcomes[OUTCOME_DRY_RUN];
        json_t *o = json_object();
        json_object_set_new(o, "state", json_string(slot_name(r, s)));
        json_object_set_new(o, "recorded", json_integer((json_int_t)recorded));
        json_object_set_new(o, "outcomes", outcomes_json(st->outcomes));
        json_object_set_new(o, "would_fire", json_integer((json_int_t)fired));
        json_object_set_new(o, "held_back", json_integer((json_int_t)held_total(st->outcomes)));
        json_object_set_new(o, "actions", actions_json(d, fired));
        json_array_append_new(decisions, o);
    }
    json_object_set_new(sum, "decisions", decisions);
    json_t *missing = json_object();
    json_object_set_new(missing, "evaluations_with_unknown_signal",
                        json_integer((json_int_t)b->evaluations_missing));
    json_object_set_new(missing, "evaluations_uncertain",
                        json_integer((json_int_t)b->evaluations_uncertain));
    uint64_t points = 0;
    for (size_t i = 0; i < r->n_signals; i++)
        points += b->signals[i].missing;
    json_object_set_new(missing, "points", json_integer((json_int_t)points));
    json_object_set_new(sum, "missing_data", missing);
    if (b->targets) {
        json_object_set_new(sum, "target_evaluations",
                            json_integer((json_int_t)b->target_evaluations));
        json_object_set_new(sum, "targets_total", json_integer((json_int_t)b->n_targets));
        json_object_set_new(sum, "targets_refused", json_integer((json_int_t)b->targets_refused));
        json_object_set_new(sum, "targets", targets_json(b));
    }
    if (b->has_verdicts)
        json_object_set_new(sum, "verdicts", verdicts_json(b->rules, b->verdicts));
    json_object_set_new(root, "summary", sum);
    if (b->regulators)
        json_object_set_new(root, "regulators", regulators_json(b));
    return root;
}

/* With targets: the targets where state s's decision had no effect, the first
 * BACKTEST_MAX_NO_EFFECT_TARGETS_TEXT in order of appearance, each with how often. */
static void write_no_effect_targets(const struct backtest_result *b, size_t s, FILE *out)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n_targets; i++)
        n += b->targets[i].verdicts && b->targets[i].verdicts[s][EFFECT_NO_EFFECT];
    fprintf(out, "    no effect at %zu target%s:", n, n == 1 ? "" : "s");
    for (size_t i = 0, listed = 0; i < b->n_targets; i++) {
        const uint64_t(*v)[EFFECT_MAX] = b->targets[i].verdicts;
        if (!v || !v[s][EFFECT_NO_EFFECT])
            continue;
        if (listed++ == BACKTEST_MAX_NO_EFFECT_TARGETS_TEXT) {
            fprintf(out, " and %zu more", n - BACKTEST_MAX_NO_EFFECT_TARGETS_TEXT);
            break;
        }
        uint64_t all = 0;
        for (int k = 0; k < EFFECT_MAX; k++)
            all += v[s][k];
        fprintf(out, "%s %s (%llu of %llu)", listed > 1 ? "," : "", b->targets[i].key,
                (unsigned long long)v[s][EFFECT_NO_EFFECT], (unsigned long long)all);
    }
    fputc('\n', out);
}

/* "cooldown 1, budget_exhausted 2" for the nonzero held outcomes; "" when none. */
static void held_text(const uint64_t *outcomes, char *dst, size_t dstsz)
{
    size_t o = 0;
    dst[0] = '\0';
    for (size_t i = 0; i < N_HELD && o < dstsz; i++) {
        uint64_t n = outcomes[held_outcomes[i]];
        if (!n)
            continue;
        int w = snprintf(dst + o, dstsz - o, "%s%s %llu", o ? ", " : "",
                         decision_outcome_name(held_outcomes[i]), (unsigned long long)n);
        if (w < 0)
            return;
        o += (size_t)w;
    }
}

static void write_event_text(const struct backtest_result *b, const struct backtest_event *e,
                             FILE *out)
{
    const struct rules *r = b->rules;
    char t[64];
    backtest_format_time(e->time_ms, t, sizeof(t));
    if (e->target)
        fprintf(out, "  %s  %s", t, e->target);
    else
        fputs("  ", out), fputs(t, out);
    if (e->changed)
        fprintf(out, "  %s -> %s", eval_state_name(r, e->from), eval_state_name(r, e->to));
    else
        fprintf(out, "  %s (kept)", eval_state_name(r, e->to));
    fprintf(out, "  confidence %.2f%s%s\n", e->confidence, e->uncertain ? ", uncertain" : "",
            e->flap ? ", ends a flap" : "");
    fprintf(out, "      %s\n", e->reasoning);
    if (e->outcome == OUTCOME_NONE)
        return;
    fprintf(out, "      decision: %s%s", decision_outcome_name(e->outcome),
            would_fire(e->outcome) ? " (would fire)" : "");
    for (size_t i = 0; e->def && i < e->def->n_actions; i++)
        fprintf(out, "%s%s", i ? "; " : ": ", e->def->actions[i].summary);
    fputc('\n', out);
}

/* "16" for an integer output, else "%.6g". */
static void fmt_output(const struct regulator_def *d, double v, char *dst, size_t dstsz)
{
    if (d->integer || (v == floor(v) && fabs(v) < 1e15))
        snprintf(dst, dstsz, "%.0f", v);
    else
        snprintf(dst, dstsz, "%.6g", v);
}

/* "  36m (12.0%)": the time of n evaluations and its share (with targets, of
 * target-evaluations). */
static void fmt_time_share(const struct backtest_result *b, uint64_t n, char *dst, size_t dstsz)
{
    char d[32];
    uint64_t of = by_target(b) ? b->target_evaluations : b->n;
    backtest_format_duration(n * (uint64_t)b->step_ms, d, sizeof(d));
    snprintf(dst, dstsz, "%s (%.1f%%)", d, 100.0 * (double)n / (double)(of ? of : 1));
}

/* A target's place in a regulator's list: most changes first, then in order of
 * appearance. */
struct ranked {
    uint64_t changes;
    size_t index;
};

static int by_changes(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->changes != y->changes)
        return x->changes > y->changes ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* With targets: regulator i at each target, the first BACKTEST_MAX_REG_TARGETS_TEXT by
 * most changes. */
static void write_regulator_targets_text(const struct backtest_result *b, size_t i, FILE *out)
{
    const struct regulator_def *d = &b->rules->regulators[i];
    struct ranked *rank = malloc((b->n_targets ? b->n_targets : 1) * sizeof(*rank));
    if (!rank) {
        fprintf(out, "    (out of memory listing the targets)\n");
        return;
    }
    for (size_t t = 0; t < b->n_targets; t++) {
        const struct backtest_target_regulator *g = &b->targets[t].regulators[i];
        rank[t] = (struct ranked){g->up + g->down, t};
    }
    qsort(rank, b->n_targets, sizeof(*rank), by_changes);
    for (size_t k = 0; k < b->n_targets && k < BACKTEST_MAX_REG_TARGETS_TEXT; k++) {
        const struct backtest_target_stats *t = &b->targets[rank[k].index];
        const struct backtest_target_regulator *g = &t->regulators[i];
        char end[32], low[32], high[32];
        fmt_output(d, g->final_output, end, sizeof(end));
        fmt_output(d, g->lowest, low, sizeof(low));
        fmt_output(d, g->highest, high, sizeof(high));
        fprintf(out,
                "      %s: %llu changes (%llu up, %llu down), %llu reversals; final %s "
                "(lowest %s, highest %s)\n",
                t->key, (unsigned long long)(g->up + g->down), (unsigned long long)g->up,
                (unsigned long long)g->down, (unsigned long long)g->reversals, end, low, high);
    }
    if (b->n_targets > BACKTEST_MAX_REG_TARGETS_TEXT)
        fprintf(out, "      ... and %zu more\n", b->n_targets - BACKTEST_MAX_REG_TARGETS_TEXT);
    free(rank);
}

static void write_regulators_text(const struct backtest_result *b, FILE *out)
{
    const struct rules *r = b->rules;
    fprintf(out, "\nRegulators (open loop: the recorded signal never saw these outputs)\n");
    for (size_t i = 0; i < r->n_regulators; i++) {
        const struct regulator_def *d = &r->regulators[i];
        const struct backtest_regulator *g = &b->regulators[i];
        const char *oname = d->output_name ? d->output_name : d->name;
        char lo[32], hi[32], start[32], end[32], low[32], high[32], tmin[64], tmax[64];
        fmt_output(d, d->out_min, lo, sizeof(lo));
        fmt_output(d, d->out_max, hi, sizeof(hi));
        fmt_output(d, d->out_start, start, sizeof(start));
        fmt_output(d, g->final_output, end, sizeof(end));
        fmt_output(d, g->lowest, low, sizeof(low));
        fmt_output(d, g->highest, high, sizeof(high));
        fmt_time_share(b, g->at_min, tmin, sizeof(tmin));
        fmt_time_share(b, g->at_max, tmax, sizeof(tmax));
        if (by_target(b)) {
            fprintf(out,
                    "  %s: holds %s at %g (%s); %s %s..%s, from %s at each target (lowest %s, "
                    "highest %s over %zu targets)%s\n",
                    d->name, r->signals[d->signal].name, d->setpoint, regulator_law_name(d->law),
                    oname, lo, hi, start, low, high, b->n_targets, d->dry_run ? "; dry_run" : "");
            fprintf(out,
                    "    %llu changes over the targets (%llu up, %llu down), %llu reversals; "
                    "at min %s, at max %s (time summed over the targets)\n",
                    (unsigned long long)(g->up + g->down), (unsigned long long)g->up,
                    (unsigned long long)g->down, (unsigned long long)g->reversals, tmin, tmax);
        } else {
            fprintf(out,
                    "  %s: holds %s at %g (%s); %s %s..%s, from %s to %s (lowest %s, highest "
                    "%s)%s\n",
                    d->name, r->signals[d->signal].name, d->setpoint, regulator_law_name(d->law),
                    oname, lo, hi, start, end, low, high, d->dry_run ? "; dry_run" : "");
            fprintf(out,
                    "    %llu changes (%llu up, %llu down), %llu reversals; at min %s, at max "
                    "%s\n",
                    (unsigned long long)(g->up + g->down), (unsigned long long)g->up,
                    (unsigned long long)g->down, (unsigned long long)g->reversals, tmin, tmax);
        }
        fprintf(out, "    steps:");
        const char *sep = " ";
        for (int w = 0; w < REG_WHY_MAX; w++) {
            if (!g->steps[w])
                continue;
            fprintf(out, "%s%s %llu", sep, regulator_why_name((enum regulator_why)w),
                    (unsigned long long)g->steps[w]);
            sep = ", ";
        }
        if (g->budget_exhausted)
            fprintf(out, "; held by max_regulator_changes_per_hour %llu",
                    (unsigned long long)g->budget_exhausted);
        fputc('\n', out);
        if (by_target(b)) {
            fprintf(out, "    per target, most changes first:\n");
            write_regulator_targets_text(b, i, out);
        }
        for (size_t k = 0; k < g->n_changes; k++) {
            const struct backtest_reg_change *c = &g->changes[k];
            char t[64], from[32], to[32];
            backtest_format_time(c->time_ms, t, sizeof(t));
            fmt_output(d, c->from, from, sizeof(from));
            fmt_output(d, c->to, to, sizeof(to));
            fprintf(out, "    %s%s%s  %s -> %s%s\n        %s\n", t, c->target ? "  " : "",
                    c->target ? c->target : "", from, to, c->dry_run ? " (dry run)" : "",
                    c->explanation);
        }
        if (g->changes_dropped)
            fprintf(out, "    ... and %llu more changes\n", (unsigned long long)g->changes_dropped);
    }
}

void backtest_write_text(const struct backtest_result *b, const struct backtest_about *about,
                         FILE *out)
{
    const struct rules *r = b->rules;
    char from[64], to[64], step[32], d[32], flap[32];
    backtest_format_time(b->start_ms, from, sizeof(from));
    backtest_format_time(b->start_ms + (int64_t)(b->n - 1) * b->step_ms, to, sizeof(to));
    backtest_format_duration((uint64_t)b->step_ms, step, sizeof(step));
    backtest_format_duration(b->flap_window_ms, flap, sizeof(flap));
    fprintf(out, "Backtest of %s against %s\n", about->rules_path, about->prometheus_url);
    fprintf(out, "  %s .. %s, step %s: %zu evaluations, %zu query_range request%s\n", from, to,
            step, b->n, about->requests, about->requests == 1 ? "" : "s");
    fprintf(out,
            "  replayed as a daemon started at %s with no state file, not paused, without "
            "--dry-run; nothing was run\n",
            from);
    for (size_t i = 0; i < r->n_signals; i++)
        if (r->signals[i].alert)
            fprintf(out, "  %s from Prometheus: %s\n", r->signals[i].name, about->queries[i]);

    fprintf(out, "\nTimeline (%zu entries", b->n_events + (size_t)b->events_dropped);
    if (b->events_dropped)
        fprintf(out, "; the last %llu are not listed", (unsigned long long)b->events_dropped);
    fprintf(out, ")\n");
    if (b->n_events == 0)
        fprintf(out, "  no state change and no decision\n");
    for (size_t i = 0; i < b->n_events; i++)
        write_event_text(b, &b->events[i], out);

    fprintf(out, "\nStates%s\n  %-24s %12s %7s %8s %6s\n",
            b->targets ? " (time summed over the targets)" : "", "state", "time", "share",
            "entered", "flaps");
    for (size_t s = 0; s <= r->n_states; s++) {
        const struct backtest_state_stats *st = &b->states[s];
        if (s == r->n_states && !st->evaluations && !st->entered)
            continue; /* "unknown", never visited */
        backtest_format_duration(st->evaluations * (uint64_t)b->step_ms, d, sizeof(d));
        fprintf(out, "  %-24s %12s %6.1f%% %8llu %6llu\n", slot_name(r, s), d,
                100.0 * (double)st->evaluations / evaluations(b), (unsigned long long)st->entered,
                (unsigned long long)st->flaps);
    }
    fprintf(out, "  transitions: %llu; flaps: %llu (stays shorter than %s between two changes)\n",
            (unsigned long long)b->transitions, (unsigned long long)b->flaps, flap);

    char held[256];
    fprintf(out, "\nDecisions (%llu recorded)\n", (unsigned long long)b->decisions);
    for (size_t s = 0; s <= r->n_states; s++) {
        const struct backtest_state_stats *st = &b->states[s];
        const struct decision_def *def = s < r->n_states ? rules_decision_for(r, s) : NULL;
        uint64_t recorded = 0;
        for (int o = OUTCOME_UNCERTAIN; o < OUTCOME_MAX; o++)
            recorded += st->outcomes[o];
        if (!recorded && !def)
            continue;
        uint64_t fired = st->outcomes[OUTCOME_EXECUTED] + st->outcomes[OUTCOME_DRY_RUN];
        fprintf(out, "  %s: %llu recorded, %llu would fire", slot_name(r, s),
                (unsigned long long)recorded, (unsigned long long)fired);
        if (st->outcomes[OUTCOME_DRY_RUN])
            fprintf(out, " (%llu as dry runs)", (unsigned long long)st->outcomes[OUTCOME_DRY_RUN]);
        held_text(st->outcomes, held, sizeof(held));
        if (held[0])
            fprintf(out, ", held back: %s", held);
        if (st->outcomes[OUTCOME_NO_ACTIONS])
            fprintf(out, ", no_actions %llu", (unsigned long long)st->outcomes[OUTCOME_NO_ACTIONS]);
        fputc('\n', out);
        for (size_t i = 0; def && i < def->n_actions; i++)
            fprintf(out, "    %s: would fire %llu time%s\n", def->actions[i].summary,
                    (unsigned long long)fired, fired == 1 ? "" : "s");
    }
    held_text(b->outcomes, held, sizeof(held));
    fprintf(out, "  would fire: %llu; actions held back: %llu%s%s%s\n",
            (unsigned long long)(b->outcomes[OUTCOME_EXECUTED] + b->outcomes[OUTCOME_DRY_RUN]),
            (unsigned long long)held_total(b->outcomes), held[0] ? " (" : "", held,
            held[0] ? ")" : "");

    if (b->has_verdicts) {
        fprintf(out, "\nDid they help? (each decision that would fire, judged verify_after "
                     "later on this history)\n");
        for (size_t s = 0; s < r->n_states; s++) {
            const uint64_t *v = b->verdicts[s];
            if (!(v[EFFECT_HELPED] + v[EFFECT_NO_EFFECT] + v[EFFECT_WORSE] + v[EFFECT_UNKNOWN]))
                continue;
            fprintf(out, "  %s: helped %llu, no_effect %llu, worse %llu, unknown %llu\n",
                    r->states[s].name, (unsigned long long)v[EFFECT_HELPED],
                    (unsigned long long)v[EFFECT_NO_EFFECT], (unsigned long long)v[EFFECT_WORSE],
                    (unsigned long long)v[EFFECT_UNKNOWN]);
            if (b->targets && v[EFFECT_NO_EFFECT])
                write_no_effect_targets(b, s, out);
        }
    }

    if (b->regulators)
        write_regulators_text(b, out);

    if (b->targets) {
        fprintf(out, "\nTargets (%zu; %zu label sets refused by targets.max)\n", b->n_targets,
                b->targets_refused);
        for (size_t i = 0; i < b->n_targets && i < BACKTEST_MAX_TARGETS_LISTED; i++) {
            const struct backtest_target_stats *t = &b->targets[i];
            fprintf(
                out,
                "  %s: worst %s, %llu transitions, %llu flaps, %llu decisions, %llu would fire\n",
                t->key, slot_name(r, t->worst), (unsigned long long)t->transitions,
                (unsigned long long)t->flaps, (unsigned long long)t->decisions,
                (unsigned long long)(t->outcomes[OUTCOME_EXECUTED] + t->outcomes[OUTCOME_DRY_RUN]));
        }
        if (b->n_targets > BACKTEST_MAX_TARGETS_LISTED)
            fprintf(out, "  ... and %zu more\n", b->n_targets - BACKTEST_MAX_TARGETS_LISTED);
    }
    fprintf(out, "\nMissing data: %llu of %llu %s had an unknown signal, %llu were uncertain\n",
            (unsigned long long)b->evaluations_missing,
            (unsigned long long)(b->targets ? b->target_evaluations : b->n),
            b->targets ? "target-evaluations" : "evaluations",
            (unsigned long long)b->evaluations_uncertain);
    for (size_t i = 0; i < r->n_signals; i++) {
        const struct backtest_signal_stats *s = &b->signals[i];
        if (!s->missing)
            continue;
        if (b->targets) {
            fprintf(out, "  %s: unknown at %llu target-evaluations\n", r->signals[i].name,
                    (unsigned long long)s->missing);
            continue;
        }
        fprintf(out, "  %s: unknown at %llu evaluations, in %llu gap%s\n", r->signals[i].name,
                (unsigned long long)s->missing, (unsigned long long)s->n_gaps,
                s->n_gaps == 1 ? "" : "s");
        for (uint64_t g = 0; g < s->n_gaps && g < BACKTEST_MAX_GAPS; g++) {
            char gf[64], gt[64];
            backtest_format_time(s->gaps[g].from_ms, gf, sizeof(gf));
            backtest_format_time(s->gaps[g].to_ms, gt, sizeof(gt));
            backtest_format_duration((uint64_t)(s->gaps[g].to_ms - s->gaps[g].from_ms + b->step_ms),
                                     d, sizeof(d));
            fprintf(out, "    %s .. %s (%s): %s\n", gf, gt, d, s->gaps[g].reason);
        }
        if (s->n_gaps > BACKTEST_MAX_GAPS)
            fprintf(out, "    ... and %llu more gaps\n",
                    (unsigned long long)(s->n_gaps - BACKTEST_MAX_GAPS));
    }
}
