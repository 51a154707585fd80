/* backtest: the backtest's times and replay (see backtest.h). backtest_replay() turns
 * each point of the fetched ranges into the signal value the daemon's instant query
 * would have given at that time and steps step_replay_next() through them, collecting the
 * timeline, the summary and each regulator's trajectory that backtest_report.c writes;
 * backtest_cli.c is the command. */
#include "backtest.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "effects.h"
#include "evaluate.h"
#include "fileio.h"
#include "parse.h"
#include "step.h"
#include "backtest_private.h"

/* ---- times ---------------------------------------------------------------------------- */

/* Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at s into *ret. */
static bool take_digits(const char *s, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *ret = v;
    return true;
}

/* Milliseconds of a fraction ".d+" at *p (cut after three digits); advances *p. */
static bool take_fraction(const char **p, int64_t *ret_ms)
{
    const char *s = *p;
    if (*s != '.')
        return true;
    s++;
    if (!isdigit((unsigned char)*s))
        return false;
    int64_t ms = 0;
    int n = 0;
    for (; isdigit((unsigned char)*s); s++, n++)
        if (n < 3)
            ms = ms * 10 + (*s - '0');
    for (; n < 3; n++)
        ms *= 10;
    *ret_ms = ms;
    *p = s;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)"; 't', 'z' and a space for the 'T' are
 * allowed, as RFC 3339 allows them. */
static int parse_rfc3339(const char *s, int64_t *ret_ms)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec;
    if (!take_digits(s, 4, &y) || s[4] != '-' || !take_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !take_digits(s + 8, 2, &d) || !(s[10] == 'T' || s[10] == 't' || s[10] == ' ') ||
        !take_digits(s + 11, 2, &h) || s[13] != ':' || !take_digits(s + 14, 2, &mi) ||
        s[16] != ':' || !take_digits(s + 17, 2, &sec))
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && is_leap(y)) || h > 23 ||
        mi > 59 || sec > 59)
        return -EINVAL;
    const char *p = s + 19;
    int64_t frac = 0;
    if (!take_fraction(&p, &frac))
        return -EINVAL;
    int64_t offset_s = 0;
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        offset_s = 0;
    } else if ((*p == '+' || *p == '-') && p[3] == ':' && p[6] == '\0') {
        int oh, om;
        if (!take_digits(p + 1, 2, &oh) || !take_digits(p + 4, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
    } else {
        return -EINVAL;
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *ret_ms = secs * 1000 + frac;
    return 0;
}

int backtest_parse_time(const char *s, int64_t now_ms, int64_t *ret_ms)
{
    if (!s || strlen(s) > MAX_TIME_TEXT)
        return -EINVAL;
    if (strcmp(s, "now") == 0) {
        *ret_ms = now_ms;
        return 0;
    }
    if (s[0] == '-') {
        uint64_t usec;
        if (!isdigit((unsigned char)s[1]) || parse_duration_usec(s + 1, &usec) < 0 ||
            usec / 1000 > (uint64_t)INT64_MAX / 2)
            return -EINVAL;
        *ret_ms = now_ms - (int64_t)(usec / 1000);
        return 0;
    }
    if (isdigit((unsigned char)s[0]) && strlen(s) > 4 && s[4] == '-')
        return parse_rfc3339(s, ret_ms);
    /* Unix seconds, with an optional fraction. */
    const char *p = s;
    int64_t secs = 0;
    int n = 0;
    for (; isdigit((unsigned char)*p); p++, n++) {
        if (n >= 12) /* past the year 33658 */
            return -EINVAL;
        secs = secs * 10 + (*p - '0');
    }
    int64_t frac = 0;
    if (n == 0 || !take_fraction(&p, &frac) || *p != '\0')
        return -EINVAL;
    *ret_ms = secs * 1000 + frac;
    return 0;
}

/* "2024-05-01T07:01:00Z", with ".250" before the Z when there are milliseconds. */
void backtest_format_time(int64_t ms, char *dst, size_t dstsz)
{
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        secs--;
        rem += 1000;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    char base[40];
    if (!gmtime_r(&t, &tm) || strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        snprintf(base, sizeof(base), "@%lld", (long long)secs);
    if (rem)
        snprintf(dst, dstsz, "%s.%03lldZ", base, (long long)rem);
    else
        snprintf(dst, dstsz, "%sZ", base);
}

/* "1d2h", "20m15s", "1s500ms", "0s". */
void backtest_format_duration(uint64_t ms, char *dst, size_t dstsz)
{
    format_duration_usec(ms * 1000, dst, dstsz);
}

/* ---- the replay ----------------------------------------------------------------------- */

char *backtest_signal_query(const struct signal_def *s)
{
    if (!s->alert)
        return s->query ? strdup(s->query) : NULL;
    struct buf b;
    buf_init(&b, 0);
    if (buf_printf(&b, "max(ALERTS{alertname=\"%s\",alertstate=\"firing\"}) or vector(0)",
                   s->name + strlen(RULES_ALERT_PREFIX)) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

void backtest_result_free(struct backtest_result *b)
{
    if (!b)
        return;
    free(b->verdicts);
    json_decref(b->baselines);
    for (size_t i = 0; i < b->n_events; i++) {
        free(b->events[i].reasoning);
        free(b->events[i].target);
    }
    free(b->events);
    for (size_t i = 0; i < b->n_targets; i++) {
        free(b->targets[i].key);
        free(b->targets[i].regulators);
        free(b->targets[i].verdicts);
    }
    free(b->targets);
    for (size_t i = 0; b->signals && i < b->rules->n_signals; i++)
        free(b->signals[i].gaps);
    for (size_t i = 0; b->regulators && i < b->rules->n_regulators; i++) {
        for (size_t k = 0; k < b->regulators[i].n_changes; k++) {
            free(b->regulators[i].changes[k].explanation);
            free(b->regulators[i].changes[k].target);
        }
        free(b->regulators[i].changes);
    }
    free(b->regulators);
    free(b->signals);
    free(b->states);
    free(b);
}

size_t backtest_state_slot(const struct rules *r, size_t index)
{
    return index == EVAL_STATE_UNKNOWN || index >= r->n_states ? r->n_states : index;
}

/* Counts an unknown point of signal i at step k; a run of them is one gap. */
static int note_missing(struct backtest_result *b, size_t i, bool prev_missing, int64_t t_ms,
                        const char *reason)
{
    struct backtest_signal_stats *s = &b->signals[i];
    s->missing++;
    if (prev_missing) {
        if (s->n_gaps <= BACKTEST_MAX_GAPS)
            s->gaps[s->n_gaps - 1].to_ms = t_ms;
        return 0;
    }
    s->n_gaps++;
    if (s->n_gaps > BACKTEST_MAX_GAPS)
        return 0;
    if (!s->gaps) {
        s->gaps = calloc(BACKTEST_MAX_GAPS, sizeof(*s->gaps));
        if (!s->gaps)
            return -ENOMEM;
    }
    struct backtest_gap *g = &s->gaps[s->n_gaps - 1];
    g->from_ms = g->to_ms = t_ms;
    snprintf(g->reason, sizeof(g->reason), "%s", reason);
    return 0;
}

int backtest_add_event(struct backtest_result *b, int64_t t_ms, const struct eval_result *res,
                       enum decision_outcome o, const struct decision_def *def, bool flap,
                       const char *target)
{
    if (b->n_events >= BACKTEST_MAX_EVENTS) {
        b->events_dropped++;
        return 0;
    }
    if (!b->events) {
        b->events = calloc(64, sizeof(*b->events));
        if (!b->events)
            return -ENOMEM;
    } else if ((b->n_events & (b->n_events - 1)) == 0 && b->n_events >= 64) {
        struct backtest_event *grown = realloc(b->events, 2 * b->n_events * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        b->events = grown;
    }
    char *why = strdup(res->reasoning);
    char *who = target ? strdup(target) : NULL;
    if (!why || (target && !who)) {
        free(why);
        free(who);
        return -ENOMEM;
    }
    b->events[b->n_events++] = (struct backtest_event){
        .time_ms = t_ms,
        .from = res->from,
        .to = res->to,
        .changed = res->changed,
        .uncertain = res->uncertain,
        .flap = flap,
        .confidence = res->confidence,
        .reasoning = why,
        .outcome = o,
        .def = def,
        .target = who,
    };
    return 0;
}

/* Whether a and b are the same output (forgiving the last bits of a product). */
static bool same_output(double a, double b)
{
    return fabs(a - b) <= 1e-9 * fmax(1, fabs(b));
}

int backtest_note_regulator(struct backtest_regulator *bt, struct backtest_target_regulator *own,
                            const struct regulator_def *d, const struct step_regulator *g,
                            int64_t t_ms, const char *target)
{
    double out = g->st.output;
    if (g->outcome == STEP_REG_BUDGET)
        bt->budget_exhausted++;
    else
        bt->steps[g->last.why < REG_WHY_MAX ? g->last.why : REG_UNKNOWN]++;
    /* whole bounds for an integer output, as regulate.c keeps them */
    double lo = d->integer ? ceil(d->out_min) : d->out_min;
    double hi = d->integer ? floor(d->out_max) : d->out_max;
    bt->at_min += same_output(out, lo);
    bt->at_max += same_output(out, hi);
    bt->lowest = fmin(bt->lowest, out);
    bt->highest = fmax(bt->highest, out);
    if (own) {
        own->final_output = out;
        own->lowest = fmin(own->lowest, out);
        own->highest = fmax(own->highest, out);
    } else {
        bt->final_output = out;
    }
    if (g->outcome != STEP_REG_APPLIED && g->outcome != STEP_REG_DRY_RUN)
        return 0;
    int direction = g->last.direction;
    int *last = own ? &own->last_direction : &bt->last_direction;
    bool reversal = *last && direction != *last;
    *last = direction;
    if (direction > 0)
        bt->up++;
    else
        bt->down++;
    bt->reversals += reversal;
    if (own) {
        own->up += direction > 0;
        own->down += direction <= 0;
        own->reversals += reversal;
    }
    if (bt->n_changes >= BACKTEST_MAX_REG_CHANGES) {
        bt->changes_dropped++;
        return 0;
    }
    if (bt->n_changes == 0 || ((bt->n_changes & (bt->n_changes - 1)) == 0 && bt->n_changes >= 16)) {
        size_t cap = bt->n_changes ? 2 * bt->n_changes : 16;
        struct backtest_reg_change *grown = realloc(bt->changes, cap * sizeof(*grown));
        if (!grown)
            return -ENOMEM;
        bt->changes = grown;
    }
    char *why = strdup(g->last.explanation);
    char *who = target ? strdup(target) : NULL;
    if (!why || (target && !who)) {
        free(why);
        free(who);
        return -ENOMEM;
    }
    bt->changes[bt->n_changes++] = (struct backtest_reg_change){
        .time_ms = t_ms,
        .from = g->last.previous,
        .to = out,
        .dry_run = g->outcome == STEP_REG_DRY_RUN,
        .explanation = why,
        .target = who,
    };
    return 0;
}

int backtest_count_verdict(uint64_t (**v)[EFFECT_MAX], size_t n_states, size_t state,
                           enum effect_verdict verdict)
{
    if (!*v && !(*v = calloc(n_states + 1, sizeof(**v))))
        return -ENOMEM;
    (*v)[state][verdict]++;
    return 0;
}

int backtest_judge_events(struct backtest_result *b, backtest_window_fn *window, void *ctx)
{
    const struct rules *r = b->rules;
    for (size_t i = 0; i < b->n_events; i++) {
        struct backtest_event *e = &b->events[i];
        if ((e->outcome != OUTCOME_EXECUTED && e->outcome != OUTCOME_DRY_RUN) || !e->def ||
            !e->def->verify_after_usec)
            continue;
        const struct state_def *st = &r->states[e->def->state];
        int64_t after = (int64_t)(e->def->verify_after_usec / 1000);
        int64_t span = (int64_t)(e->def->verify_window_usec / 1000);
        struct effect_signal s[RULES_MAX_CONDITIONS];
        size_t n = 0;
        bool past_end = e->time_ms + after > b->start_ms + (int64_t)(b->n - 1) * b->step_ms;
        for (size_t k = 0; k < st->n_conditions; k++) {
            const struct condition *c = &st->conditions[k];
            int dir = effect_direction(c->op);
            bool seen = false;
            for (size_t j = 0; j < k && !seen; j++)
                seen = st->conditions[j].signal == c->signal;
            if (!dir || seen || r->signals[c->signal].alert)
                continue;
            struct effect_window before, afterw;
            window(ctx, e, c->signal, e->time_ms - span, e->time_ms, &before);
            window(ctx, e, c->signal, e->time_ms + after - span, e->time_ms + after, &afterw);
            effect_judge(&before, &afterw, dir, EFFECT_MIN_CHANGE, &s[n]);
            if (past_end)
                s[n].verdict = EFFECT_UNKNOWN;
            n++;
        }
        e->verdict = effect_combine(s, n);
        e->judged = true;
        if (backtest_count_verdict(&b->verdicts, r->n_states, e->def->state, e->verdict) < 0)
            return -ENOMEM;
        b->has_verdicts = true;
    }
    return 0;
}

/* backtest_window_fn without targets: the known points of the signal's one series (ctx: the
 * series, as backtest_replay has them). */
static void window_at(void *ctx, const struct backtest_event *e, size_t signal, int64_t from_ms,
                      int64_t to_ms, struct effect_window *w)
{
    (void)e;
    const struct promql_range *s = ((const struct promql_range *const *)ctx)[signal];
    double *v = calloc(s->n ? s->n : 1, sizeof(*v));
    size_t n = 0;
    for (size_t k = 0; v && k < s->n; k++) {
        int64_t t = s->start_ms + (int64_t)k * s->step_ms;
        if (t >= from_ms && t <= to_ms && s->error[k] == PROMQL_OK)
            v[n++] = s->value[k];
    }
    effect_window_of(v ? v : (double[1]){0}, n, w);
    free(v);
}

int backtest_replay(const struct rules *rules, const struct promql_range *const *series,
                    uint64_t flap_window_ms, struct backtest_result **ret)
{
    size_t ns = rules->n_signals;
    if (ns == 0 && !series)
        return -EINVAL;
    const struct promql_range *first = ns ? series[0] : NULL;
    for (size_t i = 1; i < ns; i++)
        if (series[i]->n != first->n || series[i]->start_ms != first->start_ms ||
            series[i]->step_ms != first->step_ms)
            return -EINVAL;
    if (!first)
        return -EINVAL; /* rules without signals cannot happen: evaluate needs one */

    struct backtest_result *b = calloc(1, sizeof(*b));
    struct signal_value *values = calloc(ns, sizeof(*values));
    bool *prev_missing = calloc(ns, sizeof(*prev_missing));
    struct eval_result *res = malloc(sizeof(*res));
    struct step_replay rp = {0};
    int r = -ENOMEM;
    if (!b || !values || !prev_missing || !res)
        goto fail;
    b->rules = rules;
    b->start_ms = first->start_ms;
    b->step_ms = first->step_ms;
    b->n = first->n;
    b->flap_window_ms = flap_window_ms;
    b->states = calloc(rules->n_states + 1, sizeof(*b->states));
    b->signals = calloc(ns, sizeof(*b->signals));
    if (!b->states || !b->signals ||
        step_replay_init(&rp, rules, (double)b->start_ms / 1000.0, false, false) < 0)
        goto fail;
    if (rp.regs) {
        b->regulators = calloc(rules->n_regulators, sizeof(*b->regulators));
        if (!b->regulators)
            goto fail;
        for (size_t i = 0; i < rules->n_regulators; i++) /* fmin and fmax skip a NaN */
            b->regulators[i].lowest = b->regulators[i].highest = NAN;
    }

    int64_t stay_since = b->start_ms;
    bool stay_from_change = false; /* the first stay was not started by a change */
    for (size_t k = 0; k < b->n; k++) {
        int64_t t_ms = b->start_ms + (int64_t)k * b->step_ms;
        double now = (double)t_ms / 1000.0;
        bool any_missing = false;
        for (size_t i = 0; i < ns; i++) {
            const struct promql_range *s = series[i];
            struct signal_value *v = &values[i];
            v->sample_time = now; /* Prometheus stamps a result with the query's time */
            v->reason[0] = '\0';
            v->known = s->error[k] == PROMQL_OK;
            v->value = v->known ? s->value[k] : 0;
            if (!v->known) {
                promql_range_reason(s, k, v->reason, sizeof(v->reason));
                if (note_missing(b, i, prev_missing[i], t_ms, v->reason) < 0)
                    goto fail;
                any_missing = true;
            }
            prev_missing[i] = !v->known;
        }
        const struct decision_def *def = NULL;
        enum decision_outcome o = step_replay_next(&rp, values, now, res, &def);

        b->evaluations_missing += any_missing;
        b->evaluations_uncertain += res->uncertain;
        b->states[backtest_state_slot(rules, res->to)].evaluations++;
        bool flap = false;
        if (res->changed) {
            b->transitions++;
            b->states[backtest_state_slot(rules, res->to)].entered++;
            if (stay_from_change && (uint64_t)(t_ms - stay_since) < flap_window_ms) {
                flap = true;
                b->flaps++;
                b->states[backtest_state_slot(rules, res->from)].flaps++;
            }
            stay_since = t_ms;
            stay_from_change = true;
        }
        if (o != OUTCOME_NONE) {
            b->decisions++;
            b->outcomes[o]++;
            b->states[backtest_state_slot(rules, res->to)].outcomes[o]++;
        }
        if ((res->changed || o != OUTCOME_NONE) &&
            backtest_add_event(b, t_ms, res, o, def, flap, NULL) < 0)
            goto fail;
        for (size_t i = 0; b->regulators && i < rules->n_regulators; i++)
            if (backtest_note_regulator(&b->regulators[i], NULL, &rules->regulators[i], &rp.regs[i],
                                        t_ms, NULL) < 0)
                goto fail;
    }
    if (rp.baselines.by_signal && !(b->baselines = baseline_set_json(rules, &rp.baselines)))
        goto fail;
    if (backtest_judge_events(b, window_at, (void *)series) < 0)
        goto fail;
    step_replay_free(&rp);
    free(values);
    free(prev_missing);
    free(res);
    *ret = b;
    return 0;
fail:
    step_replay_free(&rp);
    free(values);
    free(prev_missing);
    free(res);
    backtest_result_free(b);
    return r;
}
