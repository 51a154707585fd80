/* evaluate: the state machine of evaluate.h. Judges every state's conditions on this
 * evaluation's values (a value older than its signal's max_age is unknown), keeps the
 * for/keep_for timers, picks the first eligible state worst first, refuses to decide on
 * unknown data, scores the confidence and writes the reasoning. Pure and allocation-free:
 * everything it needs is recomputed from the rules, the values and the clock.
 *
 * Where evaluate.h leaves room, this file decides (docs/RULES.md says the same):
 * - The last state (the default) is always eligible; a for or keep_for on it is ignored.
 * - A known value that is NaN is unknown ("NaN"); a sample from the future has age 0.
 * - The second uncertainty rule of evaluate.h (the candidate is better than the current
 *   state and the current state is UNKNOWN) is a special case of the first: the current
 *   state is then before the candidate and UNKNOWN. The reasoning words it differently.
 * - A state kept by keep_for whose conditions do not hold now has margin 0 (nothing is
 *   past its threshold), so its confidence is 0 and decide() does not repeat its actions
 *   while it is only kept.
 * - Default-state margin: a worse state that holds but has not held for its `for` yet
 *   ("pending") counts 0; a worse state with when: all that is FALSE counts the largest
 *   miss among its FALSE conditions (all of them would have to flip), one with when: any
 *   the smallest; the margin is the smallest over the worse states. For when: any this
 *   is exactly "the smallest margin by which a known condition misses its threshold".
 * - Coverage and freshness count each signal once per decision, however many conditions
 *   use it. Freshness is 1 when the decision depends on no signal, 0 when it depends on
 *   some but none is known (coverage is then 0 too). */
#include "evaluate.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "textbuf.h"

#define MARGIN_FULL 0.10  /* 10 % past the threshold is full margin */
#define DURATION_FULL 1.5 /* holding for 1.5 times `for` is full duration */

/* ---- signals and conditions ---- */

/* What a signal is worth at now: known with its value and age, or unknown with why. */
struct sig {
    bool known;
    double value;
    double age;         /* seconds, >= 0 */
    double max_age;     /* seconds, 0 = none */
    bool stale;         /* unknown because age > max_age */
    bool nan;           /* unknown because the value is NaN */
    const char *reason; /* the caller's reason when it marked the value unknown */
};

static double usec_to_sec(uint64_t usec)
{
    return (double)usec / 1e6;
}

static struct sig signal_at(const struct rules *r, const struct signal_value *values, size_t i,
                            double now)
{
    const struct signal_value *v = &values[i];
    struct sig s = {.value = v->value, .max_age = usec_to_sec(r->signals[i].max_age_usec)};
    s.age = now - v->sample_time;
    if (s.age < 0)
        s.age = 0;
    if (!v->known) {
        s.reason = v->reason[0] ? v->reason : "no value";
        return s;
    }
    if (isnan(v->value)) {
        s.nan = true;
        return s;
    }
    if (s.max_age > 0 && s.age > s.max_age) {
        s.stale = true;
        return s;
    }
    s.known = true;
    return s;
}

/* A condition's signal and its threshold at now. A baseline's threshold is its factor times
 * the baseline's quantile (values[n_signals + ref], filled by the caller); while that is
 * not known, the fallback, or else the condition is unknown with the baseline's reason. */
struct csig {
    struct sig s;
    double t;
    bool fallback;                   /* the baseline's fallback is in force */
    const struct signal_value *base; /* the baseline's entry (NULL: a number) */
};

static struct csig cond_at(const struct rules *r, const struct condition *c,
                           const struct signal_value *values, double now)
{
    struct csig x = {.s = signal_at(r, values, c->signal, now), .t = c->threshold};
    if (!c->baseline)
        return x;
    x.base = &values[r->n_signals + c->base_ref];
    if (x.base->known && isfinite(x.base->value)) {
        x.t = c->factor * x.base->value;
        return x;
    }
    if (c->has_fallback) {
        x.t = c->fallback;
        x.fallback = true;
        return x;
    }
    if (x.s.known) {
        x.s.known = false;
        x.s.reason = x.base->reason[0] ? x.base->reason : "baseline not ready";
    }
    return x;
}

static enum tri cond_eval(const struct rules *r, const struct condition *c,
                          const struct signal_value *values, double now)
{
    struct csig x = cond_at(r, c, values, now);
    if (!x.s.known)
        return TRI_UNKNOWN;
    return cond_op_holds(c->op, x.s.value, x.t) ? TRI_TRUE : TRI_FALSE;
}

/* The state's conditions combined by its when; the default state always holds. */
static enum tri state_eval(const struct rules *r, size_t i, const struct signal_value *values,
                           double now)
{
    const struct state_def *s = &r->states[i];
    if (s->n_conditions == 0)
        return TRI_TRUE;
    size_t n_true = 0, n_false = 0;
    for (size_t k = 0; k < s->n_conditions; k++) {
        enum tri t = cond_eval(r, &s->conditions[k], values, now);
        n_true += t == TRI_TRUE;
        n_false += t == TRI_FALSE;
    }
    if (s->when == WHEN_ANY) {
        if (n_true > 0)
            return TRI_TRUE;
        return n_false == s->n_conditions ? TRI_FALSE : TRI_UNKNOWN;
    }
    if (n_false > 0)
        return TRI_FALSE;
    return n_true == s->n_conditions ? TRI_TRUE : TRI_UNKNOWN;
}

/* How far v is from threshold t, relative to t, on the 0..1 margin scale. */
static double margin_part(double v, double t)
{
    double d = fabs(v - t) / fmax(fabs(t), 1e-9);
    return fmin(1.0, d / MARGIN_FULL);
}

static double cond_margin(const struct rules *r, const struct condition *c,
                          const struct signal_value *values, double now)
{
    struct csig x = cond_at(r, c, values, now);
    /* An equality that holds has full margin (alert:NAME == 1). */
    if (c->op == COND_EQ && x.s.value == x.t)
        return 1;
    return margin_part(x.s.value, x.t);
}

/* ---- timers and eligibility ---- */

static bool is_default(const struct rules *r, size_t i)
{
    return i == r->n_states - 1;
}

static double held_for(const struct eval_state *st, size_t i, enum tri h, double now)
{
    return h == TRI_TRUE ? now - st->held_since[i] : 0;
}

static bool eligible(const struct rules *r, const struct eval_state *st, size_t i, enum tri h,
                     double now)
{
    const struct state_def *s = &r->states[i];
    if (is_default(r, i))
        return true;
    if (h == TRI_TRUE && now - st->held_since[i] >= usec_to_sec(s->for_usec))
        return true;
    if (i == st->current) {
        if (h == TRI_TRUE)
            return true;
        if (st->last_held[i] > 0 && now - st->last_held[i] < usec_to_sec(s->keep_for_usec))
            return true;
    }
    return false;
}

/* ---- confidence ---- */

/* Whether a condition of states [first, end) reads signal sig. */
static bool states_use_signal(const struct rules *r, size_t first, size_t end, size_t sig)
{
    for (size_t i = first; i < end; i++)
        for (size_t k = 0; k < r->states[i].n_conditions; k++)
            if (r->states[i].conditions[k].signal == sig)
                return true;
    return false;
}

/* The signals the decision for state `to` depends on: its own conditions', or for the
 * default state those of every worse state. */
static void dependency_range(const struct rules *r, size_t to, size_t *first, size_t *end)
{
    if (is_default(r, to)) {
        *first = 0;
        *end = to;
    } else {
        *first = to;
        *end = to + 1;
    }
}

/* Safety margin of a worse state while the default state is chosen (see the top). */
static double worse_state_margin(const struct rules *r, size_t j, const struct signal_value *values,
                                 double now)
{
    const struct state_def *s = &r->states[j];
    enum tri h = state_eval(r, j, values, now);
    if (h == TRI_TRUE)
        return 0;
    if (h == TRI_UNKNOWN) /* cannot happen on a certain result; nothing to judge */
        return 1;
    double m = s->when == WHEN_ANY ? 1 : 0;
    for (size_t k = 0; k < s->n_conditions; k++) {
        const struct condition *c = &s->conditions[k];
        if (cond_eval(r, c, values, now) != TRI_FALSE)
            continue;
        double part = cond_margin(r, c, values, now);
        m = s->when == WHEN_ANY ? fmin(m, part) : fmax(m, part);
    }
    return m;
}

static void confidence_of(const struct rules *r, const struct eval_state *st, size_t to,
                          const struct signal_value *values, double now, struct confidence_parts *p)
{
    const struct state_def *s = &r->states[to];
    enum tri h = state_eval(r, to, values, now);

    if (is_default(r, to)) {
        p->margin = 1;
        for (size_t j = 0; j < to; j++)
            p->margin = fmin(p->margin, worse_state_margin(r, j, values, now));
        p->duration = 1;
    } else {
        p->margin = 0; /* kept without holding: nothing is past its threshold */
        if (h == TRI_TRUE) {
            p->margin = s->when == WHEN_ANY ? 0 : 1;
            for (size_t k = 0; k < s->n_conditions; k++) {
                const struct condition *c = &s->conditions[k];
                if (cond_eval(r, c, values, now) != TRI_TRUE)
                    continue;
                double part = cond_margin(r, c, values, now);
                p->margin = s->when == WHEN_ANY ? fmax(p->margin, part) : fmin(p->margin, part);
            }
        }
        double for_sec = usec_to_sec(s->for_usec);
        p->duration =
            for_sec > 0 ? fmin(1.0, held_for(st, to, h, now) / (DURATION_FULL * for_sec)) : 1;
    }

    size_t first, end, n_used = 0, n_known = 0;
    double fresh_sum = 0;
    dependency_range(r, to, &first, &end);
    for (size_t i = 0; i < r->n_signals; i++) {
        if (!states_use_signal(r, first, end, i))
            continue;
        n_used++;
        struct sig sg = signal_at(r, values, i, now);
        if (!sg.known)
            continue;
        n_known++;
        double f = sg.max_age > 0 ? 1 - sg.age / sg.max_age : 1;
        fresh_sum += fmin(1.0, fmax(0.0, f));
    }
    p->coverage = n_used ? (double)n_known / (double)n_used : 1;
    p->freshness = n_known ? fresh_sum / (double)n_known : n_used ? 0 : 1;
}

/* ---- reasoning text ---- */

/* Durations in the reasoning: whole seconds from a second up ("45s", "1m30s"),
 * milliseconds below ("250ms"), written by the one formatter (format_duration_usec). */
static const char *fmt_duration(char *b, size_t n, double sec)
{
    double usec = sec > 0 && sec < 1 ? round(sec * 1000) * 1000 : round(sec) * 1e6;
    return format_duration_usec(usec > 0 ? (uint64_t)usec : 0, b, n);
}

/* "cpu_busy unknown (timeout)", "cpu_busy unknown (stale: sample 45s old > max_age 30s)" */
static void put_unknown(struct text *t, const struct rules *r, size_t i, const struct sig *s)
{
    const char *name = r->signals[i].name;
    char a[32], b[32];
    if (s->stale)
        text_printf(t, "%s unknown (stale: sample %s old > max_age %s)", name,
                    fmt_duration(a, sizeof(a), s->age), fmt_duration(b, sizeof(b), s->max_age));
    else if (s->nan)
        text_printf(t, "%s unknown (NaN)", name);
    else
        text_printf(t, "%s unknown (%s)", name, s->reason);
}

/* A condition's threshold: "0.85", or with a baseline "0.24 = 2 x baseline(p95) 0.12
 * (weekly slot Tue 14h, 2310 samples)", "0.5 (fallback: baseline(p95) not ready: ...)". */
static void put_threshold(struct text *t, const struct rules *r, const struct condition *c,
                          const struct csig *x)
{
    text_printf(t, "%.3g", x->t);
    if (!c->baseline)
        return;
    const struct baseline_ref *b = &r->baseline_refs[c->base_ref];
    char q[32] = "";
    if (b->q != 0.5)
        snprintf(q, sizeof(q), ", q=%g", b->q);
    if (x->fallback) {
        text_printf(t, " (fallback: %s)", x->base->reason[0] ? x->base->reason : "no baseline");
        return;
    }
    text_printf(t, " = ");
    if (c->factor != 1)
        text_printf(t, "%g \xc3\x97 ", c->factor); /* × */
    text_printf(t, "baseline(%s%s) %.3g (%s)", r->signals[b->signal].name, q, x->base->value,
                x->base->reason);
}

/* A TRUE condition: "cpu_busy=0.91 > 0.85 (+7%)"; the percentage is left out for a
 * threshold of 0. */
static void put_true(struct text *t, const struct rules *r, const struct condition *c,
                     const struct csig *x)
{
    double v = x->s.value;
    text_printf(t, "%s=%.3g %s ", r->signals[c->signal].name, v, cond_op_text(c->op));
    put_threshold(t, r, c, x);
    if (fabs(x->t) < 1e-9)
        return;
    double pct = (v - x->t) / fabs(x->t) * 100;
    if (fabs(pct) >= 1 || pct == 0)
        text_printf(t, " (%+.0f%%)", pct);
    else
        text_printf(t, " (%+.1g%%)", pct);
}

/* A FALSE condition of the state being reported: "memory_used=0.62 below 0.9 (not
 * holding)". */
static void put_false_own(struct text *t, const struct rules *r, const struct condition *c,
                          const struct csig *x)
{
    double v = x->s.value;
    const char *where = v < x->t ? "below" : v > x->t ? "above" : "at";
    text_printf(t, "%s=%.3g %s ", r->signals[c->signal].name, v, where);
    put_threshold(t, r, c, x);
    text_printf(t, " (not holding)");
}

/* Conditions of the chosen state that do not hold now: FALSE and unknown ones. */
static void put_other_conditions(struct text *t, const struct rules *r, size_t to,
                                 const struct signal_value *values, double now)
{
    const struct state_def *s = &r->states[to];
    for (size_t k = 0; k < s->n_conditions; k++) {
        const struct condition *c = &s->conditions[k];
        struct csig x = cond_at(r, c, values, now);
        if (x.s.known && cond_op_holds(c->op, x.s.value, x.t))
            continue;
        text_printf(t, "; ");
        if (x.s.known)
            put_false_own(t, r, c, &x);
        else
            put_unknown(t, r, c->signal, &x.s);
    }
}

/* The unknown signals of state j, each once: "cpu_busy unknown (timeout), ...". */
static void put_unknown_signals(struct text *t, const struct rules *r, size_t j,
                                const struct signal_value *values, double now)
{
    const struct state_def *s = &r->states[j];
    bool first = true;
    for (size_t k = 0; k < s->n_conditions; k++) {
        const struct condition *c = &s->conditions[k];
        size_t i = c->signal;
        struct csig x = cond_at(r, c, values, now);
        bool seen = false;
        for (size_t e = 0; e < k; e++) /* a signal once; each unready baseline too */
            seen |= s->conditions[e].signal == i &&
                    (!c->baseline ||
                     (s->conditions[e].baseline && s->conditions[e].base_ref == c->base_ref));
        if (seen || x.s.known)
            continue;
        text_printf(t, "%s", first ? "" : ", ");
        put_unknown(t, r, i, &x.s);
        first = false;
    }
}

static void put_confidence(struct text *t, const struct eval_result *out)
{
    text_printf(t, "; confidence %.2f (margin %.2f, duration %.2f, coverage %.2f, freshness %.2f)",
                out->confidence, out->parts.margin, out->parts.duration, out->parts.coverage,
                out->parts.freshness);
}

/* "optimal: no worse state holds: critical: cpu_busy=0.4 ≤ 0.85, ...; stressed: ..." */
static void reason_default(struct text *t, const struct rules *r, const struct eval_state *st,
                           size_t to, const struct signal_value *values, double now)
{
    char a[32], b[32];
    text_printf(t, "%s: ", r->states[to].name);
    if (to == 0) {
        text_printf(t, "the only state");
        return;
    }
    text_printf(t, "no worse state holds");
    for (size_t j = 0; j < to; j++) {
        const struct state_def *s = &r->states[j];
        enum tri h = state_eval(r, j, values, now);
        text_printf(t, "%s%s: ", j == 0 ? ": " : "; ", s->name);
        for (size_t k = 0; k < s->n_conditions; k++) {
            const struct condition *c = &s->conditions[k];
            struct csig x = cond_at(r, c, values, now);
            text_printf(t, "%s", k ? ", " : "");
            if (!x.s.known) {
                put_unknown(t, r, c->signal, &x.s);
            } else if (cond_op_holds(c->op, x.s.value, x.t)) {
                put_true(t, r, c, &x);
            } else {
                text_printf(t, "%s=%.3g %s ", r->signals[c->signal].name, x.s.value,
                            cond_op_negated_text(c->op));
                put_threshold(t, r, c, &x);
            }
        }
        if (h == TRI_TRUE)
            text_printf(t, " for %s < %s (pending)",
                        fmt_duration(a, sizeof(a), held_for(st, j, h, now)),
                        fmt_duration(b, sizeof(b), usec_to_sec(s->for_usec)));
    }
}

/* "critical: cpu_busy=0.91 > 0.85 (+7%) for 45s ≥ 30s; memory_used=0.62 below 0.9 (not
 * holding)" or "critical kept: stopped holding 20s ago < keep_for 2m; ..." */
static void reason_state(struct text *t, const struct rules *r, const struct eval_state *st,
                         size_t to, const struct signal_value *values, double now)
{
    const struct state_def *s = &r->states[to];
    enum tri h = state_eval(r, to, values, now);
    char a[32], b[32];
    if (h != TRI_TRUE) {
        text_printf(t, "%s kept: stopped holding %s ago < keep_for %s", s->name,
                    fmt_duration(a, sizeof(a), now - st->last_held[to]),
                    fmt_duration(b, sizeof(b), usec_to_sec(s->keep_for_usec)));
        put_other_conditions(t, r, to, values, now);
        return;
    }
    text_printf(t, "%s: ", s->name);
    bool first = true;
    for (size_t k = 0; k < s->n_conditions; k++) {
        const struct condition *c = &s->conditions[k];
        struct csig x = cond_at(r, c, values, now);
        if (!x.s.known || !cond_op_holds(c->op, x.s.value, x.t))
            continue;
        text_printf(t, "%s", first ? "" : ", ");
        put_true(t, r, c, &x);
        first = false;
    }
    double held = held_for(st, to, h, now), for_sec = usec_to_sec(s->for_usec);
    fmt_duration(a, sizeof(a), held);
    if (for_sec <= 0)
        text_printf(t, " for %s", a);
    else if (held >= for_sec)
        text_printf(t, " for %s \xe2\x89\xa5 %s", a, fmt_duration(b, sizeof(b), for_sec));
    else /* the current state, holding again within keep_for */
        text_printf(t, " for %s (current state)", a);
    put_other_conditions(t, r, to, values, now);
}

/* "holding critical: stressed cannot be evaluated: cpu_busy unknown (timeout)
 * (on_missing_data: hold)" */
static void reason_uncertain(struct text *t, const struct rules *r, const struct eval_state *st,
                             size_t cand, const struct signal_value *values, double now)
{
    if (r->on_missing_data == MISSING_HOLD)
        text_printf(t, "holding %s: ", eval_state_name(r, st->current));
    else
        text_printf(t, "%s: ", RULES_STATE_UNKNOWN);
    bool first = true;
    for (size_t j = 0; j < cand; j++) {
        if (state_eval(r, j, values, now) != TRI_UNKNOWN)
            continue;
        text_printf(t, "%s", first ? "" : "; ");
        if (j == st->current)
            text_printf(t, "cannot tell whether %s stopped holding: ", r->states[j].name);
        else
            text_printf(t, "%s cannot be evaluated: ", r->states[j].name);
        put_unknown_signals(t, r, j, values, now);
        first = false;
    }
    text_printf(t, " (on_missing_data: %s); confidence 0.00 (uncertain)",
                r->on_missing_data == MISSING_HOLD ? "hold" : "unknown");
}

/* ---- the machine ---- */

void evaluate(const struct rules *r, struct eval_state *st, const struct signal_value *values,
              double now, struct eval_result *out)
{
    assert(r->n_states > 0 && st->n_states == r->n_states);
    size_t n = r->n_states;

    memset(out, 0, sizeof(*out));
    out->from = st->current;

    /* 1. Which states hold, and their timers. */
    for (size_t i = 0; i < n; i++) {
        enum tri h = state_eval(r, i, values, now);
        if (i < sizeof(out->holds) / sizeof(out->holds[0]))
            out->holds[i] = h;
        if (h == TRI_TRUE) {
            if (st->held_since[i] == 0)
                st->held_since[i] = now;
            st->last_held[i] = now;
        } else {
            st->held_since[i] = 0;
        }
    }

    /* 2. The candidate: the first eligible state, UNKNOWN counting as not holding. */
    size_t cand = n - 1;
    for (size_t i = 0; i < n; i++) {
        if (eligible(r, st, i, state_eval(r, i, values, now), now)) {
            cand = i;
            break;
        }
    }

    /* 3. Uncertain when a state before the candidate might hold. This includes a
     * current state that is UNKNOWN and worse than the candidate. */
    for (size_t j = 0; j < cand; j++)
        if (state_eval(r, j, values, now) == TRI_UNKNOWN)
            out->uncertain = true;

    if (out->uncertain)
        out->to = r->on_missing_data == MISSING_HOLD ? st->current : EVAL_STATE_UNKNOWN;
    else
        out->to = cand;
    out->changed = out->to != out->from;

    /* 4. Confidence: an uncertain result has none. */
    if (!out->uncertain) {
        confidence_of(r, st, cand, values, now, &out->parts);
        out->confidence =
            out->parts.margin * out->parts.duration * out->parts.coverage * out->parts.freshness;
    }

    /* 5. Reasoning, with the timers as this evaluation left them. */
    struct text t = TEXT_INIT(out->reasoning, sizeof(out->reasoning));
    out->reasoning[0] = '\0';
    if (out->uncertain) {
        reason_uncertain(&t, r, st, cand, values, now);
    } else {
        if (is_default(r, cand))
            reason_default(&t, r, st, cand, values, now);
        else
            reason_state(&t, r, st, cand, values, now);
        put_confidence(&t, out);
    }

    if (out->changed) {
        st->current = out->to;
        st->since = now;
    }
}

/* ---- machine state ---- */

int eval_state_init(struct eval_state *st, const struct rules *r, double now)
{
    if (r->n_states == 0)
        return -EINVAL;
    double *held = calloc(r->n_states, sizeof(double));
    double *last = calloc(r->n_states, sizeof(double));
    if (!held || !last) {
        free(held);
        free(last);
        return -ENOMEM;
    }
    *st = (struct eval_state){
        .current = r->n_states - 1,
        .since = now,
        .held_since = held,
        .last_held = last,
        .n_states = r->n_states,
    };
    return 0;
}

void eval_state_free(struct eval_state *st)
{
    if (!st)
        return;
    free(st->held_since);
    free(st->last_held);
    st->held_since = NULL;
    st->last_held = NULL;
    st->n_states = 0;
}

/* A current state that the new rules no longer have becomes "unknown": the next
 * evaluation then records a change into whatever the new rules decide. */
int eval_state_rebase(struct eval_state *st, const struct rules *old_rules,
                      const struct rules *new_rules)
{
    struct eval_state next;
    int ret = eval_state_init(&next, new_rules, st->since);
    if (ret < 0)
        return ret;
    next.current = EVAL_STATE_UNKNOWN;
    for (size_t i = 0; i < new_rules->n_states; i++) {
        for (size_t o = 0; o < old_rules->n_states && o < st->n_states; o++) {
            if (strcmp(old_rules->states[o].name, new_rules->states[i].name) != 0)
                continue;
            next.held_since[i] = st->held_since[o];
            next.last_held[i] = st->last_held[o];
            if (o == st->current)
                next.current = i;
            break;
        }
    }
    eval_state_free(st);
    *st = next;
    return 0;
}

const char *eval_state_name(const struct rules *r, size_t index)
{
    if (index == EVAL_STATE_UNKNOWN || index >= r->n_states)
        return RULES_STATE_UNKNOWN;
    return r->states[index].name;
}
