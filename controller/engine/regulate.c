/* regulate: the regulators' control laws of regulate.h. One step from a signal to the next
 * output (unknown, inactive, tolerance, the law, the stabilization windows, max_step,
 * min/max, rounding, resolution) and the sentence that says why. Pure: no clock, no I/O,
 * no allocation; what it remembers lives in struct regulator_state.
 *
 * Sources (facts read, no code copied):
 *   the HPA's algorithm, tolerance 0.1, min/max, the windows (down 300 s, the highest
 *     recommendation; up 0 s, the lowest): https://kubernetes.io/docs/tasks/run-application/
 *     horizontal-pod-autoscale/ ("Algorithm details", "Stabilization window", "Default
 *     Behavior")
 *   ceil(ratio * replicas), no change when |ratio - 1| <= tolerance, ceil(ratio) from zero
 *     replicas: kubernetes/kubernetes pkg/controller/podautoscaler/replica_calculator.go
 *   the windows (up: max(current, lowest of the up window), down: min(that, highest of the
 *     down window), every recommendation recorded, "no change" ones too):
 *     pkg/controller/podautoscaler/horizontal.go, stabilizeRecommendationWithBehaviors
 *   the behavior policies (each policy's limit from the replicas at the period's start, the
 *     current ones less the changes within periodSeconds; Percent rounded up going up and
 *     down by truncation; selectPolicy Max, Min, Disabled; the limit never past the current
 *     replicas the other way; defaults 100 % or 4 pods per 15 s up, 100 % per 15 s down):
 *     horizontal.go, calculateScaleUpLimitWithScalingRules,
 *     calculateScaleDownLimitWithBehaviors and convertDesiredReplicasWithBehaviorRate;
 *     pkg/apis/autoscaling/v2/defaults.go
 *   aimd (backoff 0.9, +1, a decrease of at least one): Netflix/concurrency-limits
 *     concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/AIMDLimit.java
 *   gradient (long RTT / short RTT, clamped to [0.5, 1]): Gradient2Limit.java, same folder;
 *     Envoy's (minRTT + buffer) / sampleRTT, clamped to [0.5, 2]: https://www.envoyproxy.io/
 *     docs/envoy/latest/configuration/http/http_filters/adaptive_concurrency_filter
 *
 * Where regulate.h leaves room, this file decides:
 * - A window of W seconds is kept in REGULATOR_WINDOW_SLICES slices of W / (SLICES - 1)
 *   seconds each, aligned on multiples of the width since the epoch, slice k in slot
 *   k % SLICES. A slice is live while start + width > now - W, so every slice that can still
 *   be live has a slot of its own, and a recommendation counts for at least W seconds (as
 *   the HPA's) and less than W * (1 + 1 / (SLICES - 1)). A slice that starts after now
 *   (the clock went back) does not count. After the window's length changes (a reload) the
 *   old slices are read with the new width: approximate for one window, then exact again.
 * - max_step always allows one resolution (one unit for an integer output, whose bound it
 *   rounds toward the current output): 10 % of 3 replicas, or of a quota smaller than ten
 *   resolutions, would otherwise never move them. A step changes the output by at most
 *   max(fraction * output, resolution).
 * - A change within 1e-9 (relative) of the resolution counts as reaching it.
 * - aimd on an integer output decreases by at least one, as AIMDLimit does; otherwise a
 *   limit of 5 or less would never come down (5 * 0.9 rounds back to 5).
 * - An output at 0 or below moves the multiplicative laws and max_step as if it were one
 *   unit (1 for integers, else the resolution, else a thousandth of max - min): the HPA
 *   scales from zero replicas to ceil(ratio) the same way.
 * - A setpoint that is not a positive number holds the output like an unknown signal (the
 *   ratio is undefined); r is at most 1e6, so no law divides by zero or overflows.
 * - A law parameter that is zero or out of its range counts as its default (aimd 1 and
 *   0.9, gradient slope 1, min 0.5, max 2): the loader rejects them, a definition built
 *   by hand need not repeat them.
 * - The behavior policies count the regulator's own changes (as the HPA counts its scale
 *   events), not one read back from the world; a policy's period counts the changes made
 *   after now - period, as the HPA's. An output at 0 has a percent limit of 0, as the HPA's.
 * - The explanation names every limit that acted, in order (window, max_step, behavior,
 *   min/max, rounding); when the output changes, its last number is the new output. */
#include "regulate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "textbuf.h"

#define RATIO_MAX 1e6

static const char *const law_names[] = {
    [LAW_PROPORTIONAL] = "proportional",
    [LAW_AIMD] = "aimd",
    [LAW_GRADIENT] = "gradient",
};

static const char *const why_names[] = {
    [REG_CHANGE] = "change",       [REG_UNKNOWN] = "unknown",
    [REG_TOLERANCE] = "tolerance", [REG_STABILIZING] = "stabilizing",
    [REG_AT_LIMIT] = "at_limit",   [REG_BELOW_RESOLUTION] = "below_resolution",
    [REG_INACTIVE] = "inactive",   [REG_SETTLING] = "settling",
    [REG_BEHAVIOR] = "behavior",
};

static const char *const select_names[] = {
    [SELECT_MAX] = "max",
    [SELECT_MIN] = "min",
    [SELECT_DISABLED] = "disabled",
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

const char *regulator_select_name(enum regulator_select sel)
{
    return (size_t)sel < N_ELEMS(select_names) ? select_names[sel] : "unknown";
}

void regulator_behavior_hpa_defaults(struct regulator_def *d)
{
    d->behavior_up = (struct regulator_behavior){
        .select = SELECT_MAX,
        .policies = {{POLICY_PERCENT, 100, 15}, {POLICY_UNITS, 4, 15}},
        .n_policies = 2,
    };
    d->behavior_down = (struct regulator_behavior){
        .select = SELECT_MAX,
        .policies = {{POLICY_PERCENT, 100, 15}},
        .n_policies = 1,
    };
}

const char *regulator_law_name(enum regulator_law law)
{
    return (size_t)law < N_ELEMS(law_names) ? law_names[law] : "unknown";
}

int regulator_law_parse(const char *name)
{
    for (size_t i = 0; name && i < N_ELEMS(law_names); i++)
        if (strcmp(name, law_names[i]) == 0)
            return (int)i;
    return -EINVAL;
}

const char *regulator_why_name(enum regulator_why why)
{
    return (size_t)why < N_ELEMS(why_names) ? why_names[why] : "unknown";
}

/* ---- numbers ---- */

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* ceil and floor that forgive the last bits of a product: 10 * 0.4 / 0.1 is 40.000000000000007
 * and must give 40, as the HPA's exact ratios of the documentation do. */
static double ceil_eps(double x)
{
    return ceil(x - 1e-9 * fmax(1, fabs(x)));
}

static double floor_eps(double x)
{
    return floor(x + 1e-9 * fmax(1, fabs(x)));
}

/* The output's bounds: whole ones for an integer output. */
static double out_lo(const struct regulator_def *d)
{
    return d->integer ? ceil(d->out_min) : d->out_min;
}

static double out_hi(const struct regulator_def *d)
{
    double hi = d->integer ? floor(d->out_max) : d->out_max;
    return hi < out_lo(d) ? out_lo(d) : hi;
}

/* The smallest change sent. */
static double resolution(const struct regulator_def *d)
{
    double res = d->resolution >= 0 ? d->resolution : 0;
    return d->integer ? fmax(1, res) : res;
}

/* What an output at 0 or below counts as for a multiplicative move (see the top). */
static double base(const struct regulator_def *d, double cur)
{
    if (cur > 0)
        return cur;
    if (d->integer)
        return 1;
    if (d->resolution > 0)
        return d->resolution;
    double span = d->out_max - d->out_min;
    return isfinite(span) && span > 0 ? span / 1000 : 1e-3;
}

/* The bounds of one step up or down from cur under max_step (0: none): whole for an
 * integer output, and never closer than one resolution. */
static double step_up_limit(const struct regulator_def *d, double cur)
{
    double l = cur + d->max_up * base(d, cur);
    return fmax(cur + resolution(d), d->integer ? floor_eps(l) : l);
}

static double step_down_limit(const struct regulator_def *d, double cur)
{
    double l = cur - d->max_down * base(d, cur);
    return fmin(cur - resolution(d), d->integer ? ceil_eps(l) : l);
}

/* Whether a change of delta reaches the resolution (forgiving the last bits: 0.25 - 0.2
 * is 0.04999999999999999). */
static bool sendable(const struct regulator_def *d, double delta)
{
    return delta > 0 && delta >= resolution(d) * (1 - 1e-9);
}

/* Numbers in the explanation: signals, setpoints and factors with three digits; outputs
 * whole when they are, else with four. */
struct num {
    char s[32];
};

static struct num gnum(double x)
{
    struct num n;
    snprintf(n.s, sizeof(n.s), "%.3g", x);
    return n;
}

static struct num onum(double x)
{
    struct num n;
    if (x == floor(x) && fabs(x) < 1e15)
        snprintf(n.s, sizeof(n.s), "%.0f", x);
    else
        snprintf(n.s, sizeof(n.s), "%.4g", x);
    return n;
}

static struct num dur(double seconds)
{
    struct num n;
    double usec = round(seconds * 1e6);
    format_duration_usec(usec > 0 && usec < 1.8e19 ? (uint64_t)usec : 0, n.s, sizeof(n.s));
    return n;
}

/* ---- the explanation ---- */

/* ---- stabilization windows ---- */

static double slice_width(double window)
{
    return window / (REGULATOR_WINDOW_SLICES - 1);
}

static bool slice_live(const struct regulator_slice *s, double window, double now)
{
    return s->start > 0 && s->start <= now && s->start + slice_width(window) > now - window;
}

/* Remembers value in the slice of now. */
static void window_record(struct regulator_slice *w, double window, double now, double value)
{
    if (!(window > 0) || !(now > 0) || !isfinite(value))
        return;
    double width = slice_width(window), k = floor(now / width), start = k * width;
    if (!(start > 0) || !isfinite(start))
        return;
    struct regulator_slice *s = &w[(size_t)fmod(k, REGULATOR_WINDOW_SLICES)];
    if (s->start == start) {
        s->lo = fmin(s->lo, value);
        s->hi = fmax(s->hi, value);
    } else {
        *s = (struct regulator_slice){.start = start, .lo = value, .hi = value};
    }
}

/* The lowest (or highest) recommendation of the live slices; false when none is. */
static bool window_extreme(const struct regulator_slice *w, double window, double now, bool high,
                           double *ret)
{
    bool any = false;
    double x = 0;
    for (size_t i = 0; i < REGULATOR_WINDOW_SLICES; i++) {
        if (!slice_live(&w[i], window, now))
            continue;
        double v = high ? w[i].hi : w[i].lo;
        if (!any || (high ? v > x : v < x))
            x = v;
        any = true;
    }
    if (any)
        *ret = x;
    return any;
}

/* ---- the laws ---- */

/* The law's recommendation from cur at r = signal / setpoint; writes the law's words
 * ("gradient 0.65"). raw is the recommendation before proportional's rounding up. */
static double law(const struct regulator_def *d, double cur, double r, struct text *t, double *raw)
{
    double rec;
    switch (d->law) {
    case LAW_AIMD: {
        double inc = d->aimd_increase > 0 ? d->aimd_increase : 1;
        double dec = d->aimd_decrease > 0 && d->aimd_decrease < 1 ? d->aimd_decrease : 0.9;
        bool too_much = d->increases_signal ? r > 1 : r < 1;
        if (too_much) {
            rec = cur * dec;
            if (d->integer)
                rec = fmin(rec, cur - 1);
            text_printf(t, "aimd \xc3\x97%s", gnum(dec).s); /* × */
        } else {
            rec = cur + inc;
            text_printf(t, "aimd +%s", gnum(inc).s);
        }
        *raw = rec;
        return rec;
    }
    case LAW_GRADIENT: {
        double slope = d->gradient_slope > 0 ? d->gradient_slope : 1;
        double gmin = d->gradient_min > 0 && d->gradient_min <= 1 ? d->gradient_min : 0.5;
        double gmax = d->gradient_max >= 1 ? d->gradient_max : 2;
        double graw = pow(d->increases_signal ? 1 / r : r, slope);
        double g = clampd(graw, gmin, gmax);
        text_printf(t, "gradient %s", gnum(g).s);
        if (g != graw && isfinite(graw))
            text_printf(t, " (clamped from %s)", gnum(graw).s);
        rec = base(d, cur) * g;
        *raw = rec;
        return rec;
    }
    case LAW_PROPORTIONAL:
    default: {
        double f = d->increases_signal ? 1 / r : r;
        f = f < RATIO_MAX ? f : RATIO_MAX;
        text_printf(t, "proportional %s", gnum(f).s);
        *raw = base(d, cur) * f;
        return d->integer ? ceil_eps(*raw) : *raw;
    }
    }
}

/* ---- behavior policies ---- */

/* The net change of the output by the regulator after now - period. */
static double changed_within(const struct regulator_state *st, double now, double period)
{
    double sum = 0;
    for (size_t i = 0; i < REGULATOR_EVENTS; i++)
        if (st->events[i].at > 0 && st->events[i].at > now - period && st->events[i].at <= now)
            sum += st->events[i].change;
    return sum;
}

/* Remembers a change: in the first free slot, else the two oldest merged first. */
static void event_record(struct regulator_state *st, double now, double change)
{
    struct regulator_event *e = st->events;
    size_t n = 0;
    while (n < REGULATOR_EVENTS && e[n].at > 0)
        n++;
    if (n == REGULATOR_EVENTS) {
        e[1].change += e[0].change; /* at e[1]'s time: counted as long as or longer */
        memmove(&e[0], &e[1], (REGULATOR_EVENTS - 1) * sizeof(*e));
        n--;
    }
    e[n] = (struct regulator_event){.at = now, .change = change};
}

/* Drops the changes older than every policy's period. */
static void events_expire(const struct regulator_def *d, struct regulator_state *st, double now)
{
    double longest = 0;
    for (size_t i = 0; i < d->behavior_up.n_policies; i++)
        longest = fmax(longest, d->behavior_up.policies[i].period);
    for (size_t i = 0; i < d->behavior_down.n_policies; i++)
        longest = fmax(longest, d->behavior_down.policies[i].period);
    size_t k = 0;
    for (size_t i = 0; i < REGULATOR_EVENTS; i++)
        if (st->events[i].at > 0 && st->events[i].at > now - longest && st->events[i].at <= now)
            st->events[k++] = st->events[i];
    for (; k < REGULATOR_EVENTS; k++)
        st->events[k] = (struct regulator_event){0};
}

/* The behavior's limit on a move from cur up (dir > 0) or down: true with *ret set when the
 * direction has policies or is disabled; the policies' proposals go into the text. */
static bool behavior_limit(const struct regulator_def *d, const struct regulator_state *st,
                           double now, double cur, int dir, double *ret, struct text *t)
{
    const struct regulator_behavior *b = dir > 0 ? &d->behavior_up : &d->behavior_down;
    const char *name = dir > 0 ? "up" : "down";
    if (b->select == SELECT_DISABLED) {
        *ret = cur;
        text_printf(t, " (behavior.%s select disabled)", name);
        return true;
    }
    if (b->n_policies == 0)
        return false;
    double lim = cur;
    text_printf(t, " (behavior.%s select %s:", name, regulator_select_name(b->select));
    for (size_t i = 0; i < b->n_policies; i++) {
        const struct regulator_policy *p = &b->policies[i];
        double start = cur - changed_within(st, now, p->period), prop;
        if (p->kind == POLICY_UNITS) {
            prop = dir > 0 ? start + p->value : start - p->value;
        } else if (dir > 0) {
            prop = start * (1 + p->value / 100);
            prop = d->integer ? ceil_eps(prop) : prop;
        } else {
            prop = start * (1 - p->value / 100);
            prop = d->integer ? floor_eps(prop) : prop;
        }
        /* max: the proposal that allows the largest change; min: the smallest */
        bool larger = dir > 0 ? prop > lim : prop < lim;
        if (i == 0 || (b->select == SELECT_MAX) == larger)
            lim = prop;
        text_printf(t, "%s %s%s per %s from %s \xe2\x86\x92 %s", i ? "," : "", onum(p->value).s,
                    p->kind == POLICY_PERCENT ? "%" : "", dur(p->period).s, onum(start).s,
                    onum(prop).s);
    }
    text_printf(t, ")");
    /* never past the current output the other way (events from a changed policy) */
    *ret = dir > 0 ? fmax(lim, cur) : fmin(lim, cur);
    return true;
}

/* ---- one step ---- */

void regulator_state_init(const struct regulator_def *d, struct regulator_state *st)
{
    memset(st, 0, sizeof(*st));
    st->output = d->out_start;
}

static void finish(const struct regulator_def *d, struct regulator_state *st,
                   const struct regulator_input *in, struct regulator_step *out, double v)
{
    out->output = v;
    out->change = v != out->previous;
    out->direction = v > out->previous ? 1 : v < out->previous ? -1 : 0;
    if (out->change) {
        st->output = v;
        st->last_change = in->now;
        if (d->behavior_up.n_policies || d->behavior_down.n_policies) {
            events_expire(d, st, in->now);
            event_record(st, in->now, v - out->previous);
        }
    }
}

void regulator_revert(struct regulator_state *st, const struct regulator_state *before)
{
    st->output = before->output;
    st->last_change = before->last_change;
    memcpy(st->events, before->events, sizeof(st->events));
}

/* Not active: back toward start, at most max_step per step. */
static void step_inactive(const struct regulator_def *d, struct regulator_state *st,
                          const struct regulator_input *in, struct regulator_step *out,
                          struct text *t, const char *oname)
{
    double cur = out->previous;
    double start = clampd(isfinite(d->out_start) ? d->out_start : out_lo(d), out_lo(d), out_hi(d));
    if (d->integer)
        start = round(start);
    out->recommended = start;
    if (cur == start) {
        out->why = REG_INACTIVE;
        text_printf(t, "the state is not in active_in: %s at its start %s", oname, onum(cur).s);
        return;
    }
    double v = start;
    const char *limited = NULL;
    double frac = 0;
    if (start > cur && d->max_up > 0 && v > step_up_limit(d, cur)) {
        v = step_up_limit(d, cur);
        limited = "up";
        frac = d->max_up;
    } else if (start < cur && d->max_down > 0 && v < step_down_limit(d, cur)) {
        v = step_down_limit(d, cur);
        limited = "down";
        frac = d->max_down;
    }
    char bt[240];
    struct text btx = TEXT_INIT(bt, sizeof(bt));
    double blim;
    int dir = start > cur ? 1 : -1;
    bt[0] = '\0';
    bool by_behavior =
        behavior_limit(d, st, in->now, cur, dir, &blim, &btx) && (dir > 0 ? v > blim : v < blim);
    if (by_behavior)
        v = blim;
    text_printf(t, "the state is not in active_in: %s returns to its start %s: %s \xe2\x86\x92 %s",
                oname, onum(start).s, onum(cur).s, onum(v).s);
    if (limited && !by_behavior)
        text_printf(t, " (max_step %s %s%%)", limited, gnum(frac * 100).s);
    if (by_behavior)
        text_printf(t, " (by behavior%s)", bt);
    if (v == cur) {
        out->why = REG_BEHAVIOR;
        return;
    }
    if (v != start && !sendable(d, fabs(v - cur))) {
        out->why = REG_BELOW_RESOLUTION;
        text_printf(t, ": a change of %s is less than the resolution %s, not sent",
                    onum(fabs(v - cur)).s, onum(resolution(d)).s);
        return;
    }
    out->why = REG_CHANGE;
    finish(d, st, in, out, v);
}

void regulator_step(const struct regulator_def *d, struct regulator_state *st,
                    const char *signal_name, const struct regulator_input *in,
                    struct regulator_step *out)
{
    memset(out, 0, sizeof(*out));
    struct text tx = TEXT_INIT(out->explanation, sizeof(out->explanation)), *t = &tx;
    const char *sig = signal_name && *signal_name ? signal_name : "signal";
    const char *oname = d->output_name && *d->output_name ? d->output_name
                        : d->name && *d->name             ? d->name
                                                          : "output";
    double lo = out_lo(d), hi = out_hi(d);
    double cur = st->output;
    if (!isfinite(cur)) /* a damaged state: start over from start */
        cur = st->output = clampd(isfinite(d->out_start) ? d->out_start : lo, lo, hi);
    out->previous = out->recommended = out->output = cur;

    if (in->state_unknown) {
        out->why = REG_UNKNOWN;
        text_printf(t, "the state is unknown or uncertain (active_in): %s held at %s", oname,
                    onum(cur).s);
        return;
    }
    if (!in->known || !isfinite(in->signal)) {
        out->why = REG_UNKNOWN;
        if (in->known)
            text_printf(t, "%s unknown (%s): %s held at %s", sig,
                        isnan(in->signal) ? "NaN" : "infinite", oname, onum(cur).s);
        else
            text_printf(t, "%s unknown: %s held at %s", sig, oname, onum(cur).s);
        return;
    }
    /* after a change the signal may not show it yet: nothing is decided on it */
    if (st->last_change > 0 && d->settle > 0 && in->now - st->last_change < d->settle) {
        out->why = REG_SETTLING;
        text_printf(t, "settling: %s changed to %s %ss ago; held for settle %s", oname, onum(cur).s,
                    gnum(in->now - st->last_change).s, dur(d->settle).s);
        return;
    }
    if (!in->active) {
        step_inactive(d, st, in, out, t, oname);
        return;
    }
    if (!(d->setpoint > 0) || !isfinite(d->setpoint)) {
        out->why = REG_UNKNOWN;
        text_printf(t, "setpoint %s is not a positive number: %s held at %s", gnum(d->setpoint).s,
                    oname, onum(cur).s);
        return;
    }

    double r = in->signal > 0 ? in->signal / d->setpoint : 0;
    r = r < RATIO_MAX ? r : RATIO_MAX;
    text_printf(t, "%s %s %s %s setpoint (%s%s%%): ", sig, gnum(in->signal).s,
                r > 1   ? ">"
                : r < 1 ? "<"
                        : "=",
                gnum(d->setpoint).s, r >= 1 ? "+" : "", gnum((r - 1) * 100).s);

    double tolerance = d->tolerance >= 0 ? d->tolerance : 0;
    if (fabs(r - 1) <= tolerance) {
        /* The HPA records "no change" as a recommendation of the current replicas. */
        window_record(st->up, d->stab_up, in->now, cur);
        window_record(st->down, d->stab_down, in->now, cur);
        out->why = REG_TOLERANCE;
        text_printf(t, "within tolerance %s%%: %s stays %s", gnum(tolerance * 100).s, oname,
                    onum(cur).s);
        return;
    }

    double raw, rec = law(d, cur, r, t, &raw);
    if (!isfinite(rec)) /* cannot happen with r in [0, 1e6]; clamp to a bound if it does */
        rec = raw = rec > 0 ? hi : lo;
    out->recommended = rec;
    text_printf(t, " \xe2\x86\x92 %s %s \xe2\x86\x92 %s", oname, onum(cur).s, onum(rec).s);
    if (d->integer && d->law == LAW_PROPORTIONAL && fabs(raw - rec) > 1e-9 * fmax(1, fabs(raw)))
        text_printf(t, " (%s rounded up)", onum(raw).s);
    window_record(st->up, d->stab_up, in->now, rec);
    window_record(st->down, d->stab_down, in->now, rec);

    /* The stabilization windows: never past the current output the other way. */
    double v = rec, wext = rec;
    const char *wdir = NULL;
    double wlen = 0;
    if (rec > cur && d->stab_up > 0 && window_extreme(st->up, d->stab_up, in->now, false, &wext) &&
        fmax(cur, wext) < v) {
        v = fmax(cur, wext);
        wdir = "up";
        wlen = d->stab_up;
    } else if (rec < cur && d->stab_down > 0 &&
               window_extreme(st->down, d->stab_down, in->now, true, &wext) &&
               fmin(cur, wext) > v) {
        v = fmin(cur, wext);
        wdir = "down";
        wlen = d->stab_down;
    }
    double after_window = v;
    if (wdir)
        text_printf(t, ", %s %s by the %s %s window (%s recommendation %s)",
                    v == cur ? "held at" : "limited to", onum(v).s, dur(wlen).s, wdir,
                    *wdir == 'u' ? "smallest" : "largest", onum(wext).s);

    if (v > cur && d->max_up > 0 && v > step_up_limit(d, cur)) {
        v = step_up_limit(d, cur);
        text_printf(t, ", limited to %s by max_step up %s%%", onum(v).s, gnum(d->max_up * 100).s);
    } else if (v < cur && d->max_down > 0 && v < step_down_limit(d, cur)) {
        v = step_down_limit(d, cur);
        text_printf(t, ", limited to %s by max_step down %s%%", onum(v).s,
                    gnum(d->max_down * 100).s);
    }

    /* the behavior policies: the change allowed within each policy's period */
    bool behavior_held = false;
    if (v != cur) {
        char bt[240];
        struct text btx = TEXT_INIT(bt, sizeof(bt));
        int dir = v > cur ? 1 : -1;
        double blim;
        bt[0] = '\0';
        if (behavior_limit(d, st, in->now, cur, dir, &blim, &btx) &&
            (dir > 0 ? v > blim : v < blim)) {
            v = blim;
            behavior_held = v == cur;
            text_printf(t, ", %s %s by behavior%s", behavior_held ? "held at" : "limited to",
                        onum(v).s, bt);
        }
    }

    /* min/max: past a bound, or at one the law wanted to cross */
    bool at_limit = v > hi || v < lo || (v == hi && rec > hi) || (v == lo && rec < lo);
    v = clampd(v, lo, hi);
    if (at_limit)
        text_printf(t, ", %s %s %s", v == cur ? "held at" : "at", v == hi ? "max" : "min",
                    onum(v).s);
    double before_round = v;
    if (d->integer) {
        double n = d->law == LAW_PROPORTIONAL ? ceil_eps(v) : round(v);
        /* outside the tolerance (checked above) a move the law wants is never rounded
         * away: to nearest would stall 3 replicas at a gradient of 1.15 (3.45 -> 3) */
        if (n == cur && v > cur)
            n = ceil(v);
        else if (n == cur && v < cur)
            n = floor(v);
        v = clampd(n, lo, hi);
        if (v != before_round)
            text_printf(t, ", rounded to %s", onum(v).s);
    }

    double delta = fabs(v - cur);
    if (sendable(d, delta) && isfinite(v)) {
        out->why = REG_CHANGE;
        finish(d, st, in, out, v);
        return;
    }
    if (wdir && after_window == cur)
        out->why = REG_STABILIZING;
    else if (behavior_held && v == cur)
        out->why = REG_BEHAVIOR;
    else if (at_limit && v == cur)
        out->why = REG_AT_LIMIT;
    else
        out->why = REG_BELOW_RESOLUTION;
    if (out->why != REG_BELOW_RESOLUTION)
        return;
    if (delta > 0)
        text_printf(t, ": a change of %s is less than the resolution %s, not sent", onum(delta).s,
                    onum(resolution(d)).s);
    else
        text_printf(t, ": no change");
}
