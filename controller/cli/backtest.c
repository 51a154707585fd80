/* backtest: `homeostat-controller backtest` (see backtest.h). backtest_main() parses the
 * flags and the times, loads the rules, fetches each distinct query's range
 * (promql_query_range, chunked), and hands the ranges to backtest_replay(), which turns
 * each point into the signal value the daemon's instant query would have given at that
 * time and steps replay_next() through them, collecting the timeline and the summary
 * that backtest_json() and backtest_write_text() report. */
#include "backtest.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "evaluate.h"
#include "fileio.h"
#include "parse.h"
#include "replay.h"

#define PROG "homeostat-controller"
#define DEFAULT_FROM "-24h"
#define DEFAULT_TO "now"
#define DEFAULT_QUERY_TIMEOUT_USEC 30000000u
#define DEFAULT_FLAP_WINDOW_USEC 300000000u
#define MAX_TIME_TEXT 64 /* bytes of a --from or --to value */

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
static void format_time(int64_t ms, char *dst, size_t dstsz)
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
static void format_duration(uint64_t ms, char *dst, size_t dstsz)
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
    size_t o = 0;
    if (dstsz)
        dst[0] = '\0';
    if (ms == 0) {
        snprintf(dst, dstsz, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        uint64_t q = ms / units[i].ms;
        ms %= units[i].ms;
        if (!q || o >= dstsz)
            continue;
        int w = snprintf(dst + o, dstsz - o, "%llu%s", (unsigned long long)q, units[i].unit);
        if (w < 0)
            return;
        o += (size_t)w;
    }
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
    for (size_t i = 0; i < b->n_events; i++)
        free(b->events[i].reasoning);
    free(b->events);
    for (size_t i = 0; b->signals && i < b->rules->n_signals; i++)
        free(b->signals[i].gaps);
    free(b->signals);
    free(b->states);
    free(b);
}

static size_t state_slot(const struct rules *r, size_t index)
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

static int add_event(struct backtest_result *b, int64_t t_ms, const struct eval_result *res,
                     enum decision_outcome o, const struct decision_def *def, bool flap)
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
    if (!why)
        return -ENOMEM;
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
    };
    return 0;
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
    struct replay rp = {0};
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
        replay_init(&rp, rules, (double)b->start_ms / 1000.0, false, false) < 0)
        goto fail;

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
        enum decision_outcome o = replay_next(&rp, values, now, res, &def);

        b->evaluations_missing += any_missing;
        b->evaluations_uncertain += res->uncertain;
        b->states[state_slot(rules, res->to)].evaluations++;
        bool flap = false;
        if (res->changed) {
            b->transitions++;
            b->states[state_slot(rules, res->to)].entered++;
            if (stay_from_change && (uint64_t)(t_ms - stay_since) < flap_window_ms) {
                flap = true;
                b->flaps++;
                b->states[state_slot(rules, res->from)].flaps++;
            }
            stay_since = t_ms;
            stay_from_change = true;
        }
        if (o != OUTCOME_NONE) {
            b->decisions++;
            b->outcomes[o]++;
            b->states[state_slot(rules, res->to)].outcomes[o]++;
        }
        if ((res->changed || o != OUTCOME_NONE) && add_event(b, t_ms, res, o, def, flap) < 0)
            goto fail;
    }
    replay_free(&rp);
    free(values);
    free(prev_missing);
    free(res);
    *ret = b;
    return 0;
fail:
    replay_free(&rp);
    free(values);
    free(prev_missing);
    free(res);
    backtest_result_free(b);
    return r;
}

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
    format_time(ms, t, sizeof(t));
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
        json_object_set_new(o, "share", json_real((double)st->evaluations / (double)b->n));
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
    json_object_set_new(root, "summary", sum);
    return root;
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
    format_time(e->time_ms, t, sizeof(t));
    if (e->changed)
        fprintf(out, "  %s  %s -> %s", t, eval_state_name(r, e->from), eval_state_name(r, e->to));
    else
        fprintf(out, "  %s  %s (kept)", t, eval_state_name(r, e->to));
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

void backtest_write_text(const struct backtest_result *b, const struct backtest_about *about,
                         FILE *out)
{
    const struct rules *r = b->rules;
    char from[64], to[64], step[32], d[32], flap[32];
    format_time(b->start_ms, from, sizeof(from));
    format_time(b->start_ms + (int64_t)(b->n - 1) * b->step_ms, to, sizeof(to));
    format_duration((uint64_t)b->step_ms, step, sizeof(step));
    format_duration(b->flap_window_ms, flap, sizeof(flap));
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

    fprintf(out, "\nStates\n  %-24s %12s %7s %8s %6s\n", "state", "time", "share", "entered",
            "flaps");
    for (size_t s = 0; s <= r->n_states; s++) {
        const struct backtest_state_stats *st = &b->states[s];
        if (s == r->n_states && !st->evaluations && !st->entered)
            continue; /* "unknown", never visited */
        format_duration(st->evaluations * (uint64_t)b->step_ms, d, sizeof(d));
        fprintf(out, "  %-24s %12s %6.1f%% %8llu %6llu\n", slot_name(r, s), d,
                100.0 * (double)st->evaluations / (double)b->n, (unsigned long long)st->entered,
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

    fprintf(out,
            "\nMissing data: %llu of %zu evaluations had an unknown signal, %llu were "
            "uncertain\n",
            (unsigned long long)b->evaluations_missing, b->n,
            (unsigned long long)b->evaluations_uncertain);
    for (size_t i = 0; i < r->n_signals; i++) {
        const struct backtest_signal_stats *s = &b->signals[i];
        if (!s->missing)
            continue;
        fprintf(out, "  %s: unknown at %llu evaluations, in %llu gap%s\n", r->signals[i].name,
                (unsigned long long)s->missing, (unsigned long long)s->n_gaps,
                s->n_gaps == 1 ? "" : "s");
        for (uint64_t g = 0; g < s->n_gaps && g < BACKTEST_MAX_GAPS; g++) {
            char gf[64], gt[64];
            format_time(s->gaps[g].from_ms, gf, sizeof(gf));
            format_time(s->gaps[g].to_ms, gt, sizeof(gt));
            format_duration((uint64_t)(s->gaps[g].to_ms - s->gaps[g].from_ms + b->step_ms), d,
                            sizeof(d));
            fprintf(out, "    %s .. %s (%s): %s\n", gf, gt, d, s->gaps[g].reason);
        }
        if (s->n_gaps > BACKTEST_MAX_GAPS)
            fprintf(out, "    ... and %llu more gaps\n",
                    (unsigned long long)(s->n_gaps - BACKTEST_MAX_GAPS));
    }
}

/* ---- the command ---------------------------------------------------------------------- */

enum {
    BT_CONFIG = 1000,
    BT_FROM,
    BT_TO,
    BT_STEP,
    BT_PROM_URL,
    BT_QUERY_TIMEOUT,
    BT_FLAP_WINDOW,
    BT_FORMAT,
    BT_OUTPUT,
};

static const struct option bt_options[] = {
    {"config", required_argument, NULL, BT_CONFIG},
    {"from", required_argument, NULL, BT_FROM},
    {"to", required_argument, NULL, BT_TO},
    {"step", required_argument, NULL, BT_STEP},
    {"prometheus.url", required_argument, NULL, BT_PROM_URL},
    {"query.timeout", required_argument, NULL, BT_QUERY_TIMEOUT},
    {"flap-window", required_argument, NULL, BT_FLAP_WINDOW},
    {"format", required_argument, NULL, BT_FORMAT},
    {"output", required_argument, NULL, BT_OUTPUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void bt_usage(FILE *f)
{
    fprintf(
        f, "Usage: " PROG " backtest --config=FILE [--from=TIME] [--to=TIME] [--step=DURATION]\n"
           "                                     [FLAGS]\n\n"
           "Replays the rules over Prometheus history exactly as the daemon would have\n"
           "evaluated them (states, confidence, decisions, cooldowns, the hourly budget)\n"
           "and prints a timeline and a summary. Nothing is run.\n\n"
           "Flags:\n"
           "  -h, --help                     Show this help and exit.\n"
           "      --config=FILE              The rules file (required).\n"
           "      --from=TIME                Start: RFC 3339, Unix seconds, now, or -DURATION\n"
           "                                 for that long before now (default " DEFAULT_FROM ").\n"
           "      --to=TIME                  End, in the same forms (default " DEFAULT_TO ").\n"
           "      --step=DURATION            Time between two evaluations (default: the rules'\n"
           "                                 evaluation_interval).\n"
           "      --prometheus.url=URL       Overrides prometheus.url of the rules file.\n"
           "      --query.timeout=DURATION   Limit of each query_range request (default 30s).\n"
           "      --flap-window=DURATION     A stay in a state between two changes shorter\n"
           "                                 than this is a flap (default 5m).\n"
           "      --format=FORMAT            text or json (default text).\n"
           "      --output=FILE              Write the report to FILE (default: standard\n"
           "                                 output).\n");
}

struct bt_cli {
    const char *config, *from, *to, *step, *prometheus_url, *output;
    uint64_t query_timeout_usec, flap_window_usec;
    bool json;
};

static int bt_duration(const char *flag, const char *v, uint64_t *ret)
{
    if (parse_duration_usec(v, ret) < 0 || *ret == 0) {
        fprintf(stderr,
                PROG " backtest: invalid value '%.64s' for --%s: expected a duration such as "
                     "15s, 5m or 1h30m\n",
                v, flag);
        return -EINVAL;
    }
    return 0;
}

/* 0, 1 after --help, or -EINVAL (reported). */
static int bt_parse_flags(int argc, char **argv, struct bt_cli *cli)
{
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", bt_options, NULL)) != -1) {
        switch (c) {
        case 'h': bt_usage(stdout); return 1;
        case BT_CONFIG: cli->config = optarg; break;
        case BT_FROM: cli->from = optarg; break;
        case BT_TO: cli->to = optarg; break;
        case BT_STEP: cli->step = optarg; break;
        case BT_PROM_URL: {
            const char *why = rules_url_error(optarg);
            if (why) {
                fprintf(stderr, PROG " backtest: invalid value for --prometheus.url: %s\n", why);
                return -EINVAL;
            }
            cli->prometheus_url = optarg;
            break;
        }
        case BT_QUERY_TIMEOUT:
            if (bt_duration("query.timeout", optarg, &cli->query_timeout_usec) < 0)
                return -EINVAL;
            break;
        case BT_FLAP_WINDOW:
            if (bt_duration("flap-window", optarg, &cli->flap_window_usec) < 0)
                return -EINVAL;
            break;
        case BT_FORMAT:
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
                fprintf(stderr,
                        PROG " backtest: invalid value '%.64s' for --format: expected text or "
                             "json\n",
                        optarg);
                return -EINVAL;
            }
            cli->json = strcmp(optarg, "json") == 0;
            break;
        case BT_OUTPUT: cli->output = optarg; break;
        case ':':
            fprintf(stderr, PROG " backtest: flag '%s' needs a value\n", argv[optind - 1]);
            return -EINVAL;
        default:
            if (optopt)
                fprintf(stderr, PROG " backtest: unknown flag '-%c'\n", optopt);
            else
                fprintf(stderr, PROG " backtest: unknown flag '%s'\n", argv[optind - 1]);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG " backtest: unexpected argument '%.64s'\n", argv[optind]);
        return -EINVAL;
    }
    if (!cli->config) {
        fprintf(stderr, PROG " backtest: --config=FILE is required\n");
        return -EINVAL;
    }
    return 0;
}

static void print_errors(const struct buf *errors)
{
    if (errors->len)
        fprintf(stderr, "%.*s%s", (int)errors->len, errors->data,
                errors->data[errors->len - 1] == '\n' ? "" : "\n");
}

/* The rules with the --prometheus.url override; 0 or 2 (reported). */
static int bt_load_rules(const struct bt_cli *cli, struct rules **ret)
{
    struct buf errors;
    buf_init(&errors, 1 << 20);
    struct rules *r = NULL;
    int rc = rules_load_file(cli->config, &r, &errors);
    if (rc < 0) {
        if (rc == -EINVAL)
            fprintf(stderr, PROG " backtest: %s is invalid:\n", cli->config);
        else if (!errors.len)
            fprintf(stderr, PROG " backtest: cannot read %s: %s\n", cli->config, strerror(-rc));
        else
            fprintf(stderr, PROG " backtest: ");
        print_errors(&errors);
        buf_free(&errors);
        return 2;
    }
    buf_free(&errors);
    if (cli->prometheus_url) {
        free(r->prometheus.url);
        r->prometheus.url = strdup(cli->prometheus_url);
        if (!r->prometheus.url) {
            rules_free(r);
            fprintf(stderr, PROG " backtest: out of memory\n");
            return 2;
        }
    }
    if (!r->prometheus.url) {
        fprintf(stderr, PROG " backtest: %s: prometheus.url is not set (and no --prometheus.url)\n",
                cli->config);
        rules_free(r);
        return 2;
    }
    *ret = r;
    return 0;
}

/* Resolves --from, --to and --step into the points; 0 or 2 (reported). */
static int bt_range(const struct bt_cli *cli, const struct rules *r, int64_t *ret_start,
                    int64_t *ret_step, size_t *ret_n)
{
    int64_t now_ms = (int64_t)(now_realtime() * 1000.0);
    int64_t from, to;
    const char *fv = cli->from ? cli->from : DEFAULT_FROM;
    const char *tv = cli->to ? cli->to : DEFAULT_TO;
    static const char *const forms =
        "expected RFC 3339 (2024-05-01T12:00:00Z), Unix seconds, now, or -DURATION (-24h)";
    if (backtest_parse_time(fv, now_ms, &from) < 0) {
        fprintf(stderr, PROG " backtest: invalid value '%.64s' for --from: %s\n", fv, forms);
        return 2;
    }
    if (backtest_parse_time(tv, now_ms, &to) < 0) {
        fprintf(stderr, PROG " backtest: invalid value '%.64s' for --to: %s\n", tv, forms);
        return 2;
    }
    if (to > now_ms) {
        char t[64];
        format_time(to, t, sizeof(t));
        fprintf(stderr, PROG " backtest: --to (%s) is in the future\n", t);
        return 2;
    }
    if (from <= 0 || to < from) {
        char f[64], t[64];
        format_time(from, f, sizeof(f));
        format_time(to, t, sizeof(t));
        fprintf(stderr, PROG " backtest: --from (%s) must be after 1970 and not after --to (%s)\n",
                f, t);
        return 2;
    }
    uint64_t step_usec = r->evaluation_interval_usec;
    if (cli->step && bt_duration("step", cli->step, &step_usec) < 0)
        return 2;
    if (step_usec % 1000 != 0) {
        fprintf(stderr, PROG " backtest: --step %s is not a whole number of milliseconds\n",
                cli->step ? cli->step : "(evaluation_interval)");
        return 2;
    }
    int64_t step = (int64_t)(step_usec / 1000);
    uint64_t n = (uint64_t)((to - from) / step) + 1;
    *ret_start = from;
    *ret_step = step;
    *ret_n = (size_t)(n > SIZE_MAX ? SIZE_MAX : n);
    return 0;
}

static int write_output(const struct bt_cli *cli, const char *data, size_t len)
{
    if (!cli->output || strcmp(cli->output, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
            fprintf(stderr, PROG " backtest: cannot write the report: %s\n", strerror(errno));
            return 1;
        }
        return 0;
    }
    int r = file_write_atomic(cli->output, data, len, 0644);
    if (r < 0) {
        fprintf(stderr, PROG " backtest: cannot write %s: %s\n", cli->output, strerror(-r));
        return 1;
    }
    return 0;
}

int backtest_main(int argc, char **argv)
{
    struct bt_cli cli = {.query_timeout_usec = DEFAULT_QUERY_TIMEOUT_USEC,
                         .flap_window_usec = DEFAULT_FLAP_WINDOW_USEC};
    int rc = bt_parse_flags(argc, argv, &cli);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    struct rules *r = NULL;
    if ((rc = bt_load_rules(&cli, &r)) != 0)
        return rc;

    int64_t start_ms, step_ms;
    size_t n;
    struct promql_client *client = NULL;
    size_t ns = r->n_signals;
    char **queries = calloc(ns ? ns : 1, sizeof(*queries));
    size_t *fetch = calloc(ns ? ns : 1, sizeof(*fetch)); /* signal -> range it reads */
    struct promql_range *ranges = calloc(ns ? ns : 1, sizeof(*ranges));
    const struct promql_range **series = calloc(ns ? ns : 1, sizeof(*series));
    struct backtest_result *result = NULL;
    size_t n_ranges = 0, requests = 0;
    char *text = NULL;
    size_t text_len = 0;
    rc = 2;
    if (!queries || !fetch || !ranges || !series) {
        fprintf(stderr, PROG " backtest: out of memory\n");
        goto out;
    }
    if (bt_range(&cli, r, &start_ms, &step_ms, &n) != 0)
        goto out;
    for (size_t i = 0; i < ns; i++) {
        if (!(queries[i] = backtest_signal_query(&r->signals[i]))) {
            fprintf(stderr, PROG " backtest: out of memory\n");
            goto out;
        }
        fetch[i] = n_ranges;
        for (size_t j = 0; j < i; j++)
            if (strcmp(queries[i], queries[j]) == 0) {
                fetch[i] = fetch[j];
                break;
            }
        if (fetch[i] == n_ranges)
            n_ranges++;
    }
    if (n_ranges && n > BACKTEST_MAX_POINTS / n_ranges) {
        char step[32];
        format_duration((uint64_t)step_ms, step, sizeof(step));
        fprintf(stderr,
                PROG " backtest: %zu queries x %zu evaluations (step %s) = %llu points, over the "
                     "limit of %u: use a larger --step or a shorter range\n",
                n_ranges, n, step, (unsigned long long)n_ranges * n, BACKTEST_MAX_POINTS);
        goto out;
    }

    struct buf errors;
    buf_init(&errors, 1 << 16);
    int cr = promql_client_new(&r->prometheus, &client, &errors);
    if (cr < 0) {
        fprintf(stderr, PROG " backtest: cannot query Prometheus:\n");
        print_errors(&errors);
        buf_free(&errors);
        goto out;
    }
    buf_free(&errors);

    rc = 1;
    for (size_t i = 0; i < ns; i++) {
        struct promql_range *g = &ranges[fetch[i]];
        series[i] = g;
        if (g->n)
            continue; /* fetched for an earlier signal with the same query */
        if (promql_range_init(g, start_ms, step_ms, n) < 0) {
            fprintf(stderr, PROG " backtest: out of memory\n");
            goto out;
        }
        struct promql_result err;
        size_t first, count;
        if (promql_query_range(client, queries[i], g, cli.query_timeout_usec, &err, &first,
                               &count) < 0) {
            char f[64], t[64], step[32];
            format_time(start_ms + (int64_t)first * step_ms, f, sizeof(f));
            format_time(start_ms + (int64_t)(first + count - 1) * step_ms, t, sizeof(t));
            format_duration((uint64_t)step_ms, step, sizeof(step));
            fprintf(stderr,
                    PROG " backtest: signal %s: query_range %s .. %s (step %s, points %zu..%zu "
                         "of %zu) failed: %s: %s\n",
                    r->signals[i].name, f, t, step, first, first + count - 1, n,
                    promql_error_name(err.error), err.detail);
            goto out;
        }
        requests += promql_range_chunks(n);
    }

    int q = backtest_replay(r, series, cli.flap_window_usec / 1000, &result);
    if (q < 0) {
        fprintf(stderr, PROG " backtest: %s\n", q == -ENOMEM ? "out of memory" : strerror(-q));
        goto out;
    }
    struct backtest_about about = {
        .rules_path = cli.config,
        .prometheus_url = r->prometheus.url,
        .queries = (const char *const *)queries,
        .requests = requests,
    };
    if (cli.json) {
        json_t *j = backtest_json(result, &about);
        text = j ? json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
        json_decref(j);
        if (text) {
            text_len = strlen(text);
            char *nl = realloc(text, text_len + 2);
            if (nl) {
                text = nl;
                text[text_len++] = '\n';
                text[text_len] = '\0';
            }
        }
    } else {
        FILE *f = open_memstream(&text, &text_len);
        if (f) {
            backtest_write_text(result, &about, f);
            if (fclose(f) != 0) {
                free(text);
                text = NULL;
            }
        }
    }
    if (!text) {
        fprintf(stderr, PROG " backtest: out of memory\n");
        goto out;
    }
    rc = write_output(&cli, text, text_len);
out:
    free(text);
    backtest_result_free(result);
    for (size_t i = 0; ranges && i < ns; i++)
        promql_range_free(&ranges[i]);
    for (size_t i = 0; queries && i < ns; i++)
        free(queries[i]);
    free(queries);
    free(fetch);
    free(ranges);
    free(series);
    promql_client_free(client);
    rules_free(r);
    return rc;
}
