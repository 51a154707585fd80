/* verdicts: whether each executed decision helped (engine/effects.h has the rule). An
 * executed decision with a verify_after is remembered (st.verdicts, in the state file:
 * a restart does not lose it); once verify_after has passed, its deciding signals (the
 * conditions of its state, > and >= meaning larger is worse, < and <= smaller, == and !=
 * not judged) are fetched from Prometheus with query_range over the window before the
 * decision and the window ending verify_after after it, at the evaluation interval (with
 * targets, the series of the decision's target), and judged. The verdict is written to
 * the audit log (action_effect, "of" the decision's id) and counted in
 * homeostat_controller_action_effects_total{decision, kind, verdict}, once per kind of its
 * actions that act (alerts change nothing and are not judged).
 *
 * on_no_effect: stop: a verdict of no_effect or worse suspends the decision for its target
 * (st.suspensions, "STATE" or "STATE KEY"; a decision_suspended record): its outcome is
 * then "suspended" instead of executed, until an operator resumes it (POST
 * /api/v1/suspensions/resume) or the same decision helps for another target (a
 * decision_resumed record either way). The gauge homeostat_controller_decisions_suspended
 * counts them, for the HomeostatDecisionSuspended alert.
 *
 * on_no_effect: escalate: a verdict of no_effect or worse leaves an escalation waiting for
 * the verdict's target (st.escalations, by target key, "" for the controller; a later one
 * replaces it): at the target's next evaluation whose result is certain, while it is still
 * in the decision's state or one between it and the worse state escalated to
 * (engine/decide.h), the worse state's decision is taken in place of the evaluation's own,
 * through everything a decision goes through (pause, confidence, its cooldown, budgets,
 * the storm guard, dry run, suspension), its record saying what it escalated from
 * ("escalated"); counted in homeostat_controller_escalations_total for the
 * HomeostatDecisionEscalated alert. It is dropped when the target got better, or reached
 * that state by itself.
 *
 * A regulator's change applied is judged the same way (verdicts_schedule_regulator): its
 * signal's distance from the setpoint, |signal - setpoint| (effect_window_error), over the
 * window before the change and the one ending verify_after after it; at most one change per
 * verify_window of each regulator (and target), the others not judged (they come every step).
 * Its action_effect record says trigger "regulator" and names it; it is counted and tracked
 * as the decision "regulator:NAME".
 *
 * At most VERDICTS_MAX wait (the oldest is then judged unknown, "too many waiting"); at most
 * VERDICTS_PER_ROUND are judged per evaluation, the queries outside the lock. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "effects.h"
#include "log.h"
#include "parse.h"
#include "promql.h"

#define VERDICTS_MAX 1000
#define VERDICTS_PER_ROUND 8

static void count(struct controller *c, const char *decision, const char *kind,
                  enum effect_verdict v)
{
    struct metric *m = registry_series(
        c->m.effects, (const char *const[]){decision, kind, effect_verdict_name(v), NULL});
    if (m)
        metric_add(m, 1);
}

/* ---- suspensions ---- */

static void suspension_key(const char *state, const char *target_key, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s%s", state, target_key ? " " : "", target_key ? target_key : "");
}

bool verdicts_suspended(struct controller *c, const char *state, const char *target_key)
{
    char key[1024];
    suspension_key(state, target_key, key, sizeof(key));
    return json_object_get(c->st.suspensions, key) != NULL;
}

void verdicts_publish(struct controller *c)
{
    rfamily_reset(c->m.suspended);
    const char *key;
    json_t *v;
    json_object_foreach(c->st.suspensions, key, v)
    {
        const char *state = json_string_value(json_object_get(v, "decision"));
        struct metric *m =
            state ? registry_series(c->m.suspended, (const char *const[]){state, NULL}) : NULL;
        if (m)
            metric_add(m, 1);
    }
}

/* A decision_resumed record; false when it cannot be written. */
static bool record_resumed(struct controller *c, const json_t *s, const char *by,
                           const json_t *extra, double now)
{
    char id[64];
    controller_new_id(c, now, id, sizeof(id));
    json_t *rec = controller_record("decision_resumed", id, now);
    json_object_set(rec, "decision", json_object_get(s, "decision"));
    if (json_is_object(json_object_get(s, "target")))
        json_object_set(rec, "target", json_object_get(s, "target"));
    json_object_set(rec, "suspended_at", json_object_get(s, "since"));
    json_object_set_new(rec, "by", json_string(by));
    if (extra)
        json_object_update(rec, (json_t *)extra);
    int r = audit_append(c->audit, rec);
    json_decref(rec);
    if (r < 0)
        metric_add(c->m.audit_errors, 1);
    return r >= 0;
}

int verdicts_resume(struct controller *c, const char *state, const char *target_key,
                    const struct api_actor *who)
{
    char key[1024];
    suspension_key(state, target_key, key, sizeof(key));
    json_t *s = json_object_get(c->st.suspensions, key);
    if (!s)
        return -ENOENT;
    json_t *extra = json_pack("{s:o}", "actor", controller_actor_json(who));
    bool ok = record_resumed(c, s, "operator", extra, now_realtime());
    json_decref(extra);
    if (!ok)
        return -EIO;
    log_warning("decision %s resumed by %s", key, who->text);
    json_object_del(c->st.suspensions, key);
    /* the runs before the resume are still judged, but do not suspend it again */
    for (size_t i = 0; i < json_array_size(c->st.verdicts); i++) {
        json_t *e = json_array_get(c->st.verdicts, i);
        const char *st = json_string_value(json_object_get(e, "state"));
        const char *k = json_string_value(json_object_get(e, "key"));
        if (st && strcmp(st, state) == 0 && (target_key ? k && strcmp(k, target_key) == 0 : !k))
            json_object_set_new(e, "no_policy", json_true());
    }
    verdicts_publish(c);
    controller_save_state(c);
    return 0;
}

json_t *verdicts_suspensions_json(struct controller *c)
{
    json_t *a = json_array();
    const char *key;
    json_t *v;
    json_object_foreach(c->st.suspensions, key, v) json_array_append(a, v);
    return a;
}

/* ---- escalations ---- */

/* on_no_effect: escalate: the verdict v on e (a run of def) leaves an escalation waiting
 * for its target (lock held). */
static void escalation_wait(struct controller *c, const json_t *e, const struct decision_def *def,
                            enum effect_verdict v, const char *verdict_id, double now)
{
    const char *tkey = json_string_value(json_object_get(e, "key"));
    const char *state = c->rules->states[def->state].name;
    const char *to = c->rules->states[def->escalate_to].name;
    json_t *x = json_pack("{s:s,s:s,s:s,s:s,s:O,s:f}", "from", state, "to", to, "verdict",
                          effect_verdict_name(v), "verdict_id", verdict_id, "of",
                          json_object_get(e, "id"), "since", now);
    if (!x)
        return;
    if (json_is_object(json_object_get(e, "target")))
        json_object_set(x, "target", json_object_get(e, "target"));
    if (!c->st.escalations)
        c->st.escalations = json_object();
    json_object_set_new(c->st.escalations, tkey ? tkey : "", x);
    log_warning("decision %s%s%s: verdict %s; on_no_effect: escalate: %s's decision is taken at "
                "the next certain evaluation",
                state, tkey ? " for " : "", tkey ? tkey : "", effect_verdict_name(v), to);
}

bool verdicts_escalate(struct controller *c, const char *target_key, const struct eval_result *res,
                       double *last_exec, const double *saved_exec,
                       const struct decide_flags *flags, double now, enum decision_outcome *outcome,
                       const struct decision_def **def)
{
    if (!json_object_size(c->st.escalations))
        return false;
    const char *key = target_key ? target_key : "";
    json_t *x = json_object_get(c->st.escalations, key);
    if (!x)
        return false;
    const struct rules *r = c->rules;
    const char *from = json_string_value(json_object_get(x, "from"));
    int si = from ? rules_state_index(r, from) : -1;
    if (json_is_true(json_object_get(x, "taken")) || si < 0) {
        json_object_del(c->st.escalations, key); /* left over, or the state is gone */
        return false;
    }
    /* as before this evaluation's own decision, which the escalation replaces */
    size_t nd = r->n_decisions ? r->n_decisions : 1;
    double exec[nd];
    memcpy(exec, saved_exec, r->n_decisions * sizeof(double));
    enum decision_outcome o = OUTCOME_NONE;
    const struct decision_def *d = NULL;
    switch (decide_escalation(r, exec, (size_t)si, res, now, flags, &o, &d)) {
    case ESCALATION_WAIT: return false;
    case ESCALATION_DROP:
        log_info("decision %s%s%s: escalation dropped: the state is %s now", from,
                 target_key ? " for " : "", target_key ? target_key : "",
                 eval_state_name(r, res->to));
        json_object_del(c->st.escalations, key);
        return false;
    case ESCALATION_TAKE: break;
    }
    memcpy(last_exec, exec, r->n_decisions * sizeof(double));
    *outcome = o;
    *def = d;
    json_object_set_new(x, "taken", json_true());
    struct metric *m = registry_series(c->m.escalations,
                                       (const char *const[]){from, r->states[d->state].name, NULL});
    if (m)
        metric_add(m, 1);
    return true;
}

json_t *verdicts_escalation_taken(struct controller *c, const char *target_key)
{
    if (!json_object_size(c->st.escalations))
        return NULL;
    const char *key = target_key ? target_key : "";
    json_t *x = json_object_get(c->st.escalations, key);
    if (!x || !json_is_true(json_object_get(x, "taken")))
        return NULL;
    json_incref(x);
    json_object_del(c->st.escalations, key);
    json_object_del(x, "taken");
    return x;
}

/* What a verdict does to suspensions (lock held): on_no_effect: stop suspends the
 * decision for the verdict's target after no_effect or worse; helped resumes the
 * decision wherever it is suspended (it helps elsewhere). */
static void apply_policy(struct controller *c, json_t *e, enum effect_verdict v,
                         const char *verdict_id, double now)
{
    const char *state = json_string_value(json_object_get(e, "state"));
    if (!state)
        return;
    if (v == EFFECT_HELPED) {
        const char *key;
        json_t *s, *tmp;
        bool changed = false;
        json_object_foreach_safe(c->st.suspensions, tmp, key, s)
        {
            const char *d = json_string_value(json_object_get(s, "decision"));
            if (!d || strcmp(d, state) != 0)
                continue;
            json_t *extra = json_pack("{s:s}", "helped", verdict_id);
            bool ok = record_resumed(c, s, "helped_elsewhere", extra, now);
            json_decref(extra);
            if (!ok)
                continue; /* not resumed without a record */
            log_info("decision %s resumed: it helped elsewhere (verdict %s)", key, verdict_id);
            json_object_del(c->st.suspensions, key);
            changed = true;
        }
        if (changed)
            verdicts_publish(c);
        return;
    }
    if (v != EFFECT_NO_EFFECT && v != EFFECT_WORSE)
        return;
    if (json_is_true(json_object_get(e, "no_policy")))
        return; /* a run from before an operator resumed it */
    int si = rules_state_index(c->rules, state);
    const struct decision_def *def = si >= 0 ? rules_decision_for(c->rules, (size_t)si) : NULL;
    if (def && def->escalate_on_no_effect) {
        escalation_wait(c, e, def, v, verdict_id, now);
        return;
    }
    if (!def || !def->stop_on_no_effect)
        return;
    const char *tkey = json_string_value(json_object_get(e, "key"));
    char key[1024];
    suspension_key(state, tkey, key, sizeof(key));
    if (json_object_get(c->st.suspensions, key))
        return; /* already (a verdict on an earlier run of it) */
    json_t *s =
        json_pack("{s:s,s:f,s:s,s:s,s:O}", "decision", state, "since", now, "verdict",
                  effect_verdict_name(v), "verdict_id", verdict_id, "of", json_object_get(e, "id"));
    if (!s)
        return;
    if (json_is_object(json_object_get(e, "target"))) {
        json_object_set(s, "target", json_object_get(e, "target"));
        json_object_set_new(s, "key", json_string(tkey ? tkey : ""));
    }
    char id[64];
    controller_new_id(c, now, id, sizeof(id));
    json_t *rec = controller_record("decision_suspended", id, now);
    json_object_update(rec, s);
    json_object_set_new(rec, "reason",
                        json_string("on_no_effect: stop: the decision's last verdict was not "
                                    "helped; it runs again when an operator resumes it or it "
                                    "helps elsewhere"));
    int r = audit_append(c->audit, rec);
    json_decref(rec);
    if (r < 0) {
        metric_add(c->m.audit_errors, 1);
        log_error("audit: cannot record the suspension of %s; suspended all the same", key);
    }
    if (!c->st.suspensions)
        c->st.suspensions = json_object();
    json_object_set_new(c->st.suspensions, key, s);
    log_warning("decision %s suspended (on_no_effect: stop): verdict %s", key,
                effect_verdict_name(v));
    verdicts_publish(c);
}

/* ---- the track record ---- */

#define TRACK_CHANGES 100 /* relative changes kept per decision and kind, for the median */

/* Adds a verdict to the track record of state's decision, kind (lock held). relative: the
 * mean relative change (better positive) of its judged signals, NAN when none. */
static void track(struct controller *c, const char *state, const char *kind, enum effect_verdict v,
                  double relative)
{
    if (!c->st.track)
        c->st.track = json_object();
    json_t *d = json_object_get(c->st.track, state);
    if (!d) {
        d = json_object();
        json_object_set_new(c->st.track, state, d);
    }
    json_t *k = json_object_get(d, kind);
    if (!k) {
        k = json_pack("{s:i,s:i,s:i,s:i,s:[]}", "helped", 0, "no_effect", 0, "worse", 0, "unknown",
                      0, "changes");
        json_object_set_new(d, kind, k);
    }
    if (!k)
        return;
    const char *name = effect_verdict_name(v);
    json_object_set_new(k, name, json_integer(json_integer_value(json_object_get(k, name)) + 1));
    json_t *changes = json_object_get(k, "changes");
    if (isfinite(relative) && json_is_array(changes)) {
        json_array_append_new(changes, json_real(relative));
        while (json_array_size(changes) > TRACK_CHANGES)
            json_array_remove(changes, 0);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

json_t *verdicts_track_json(struct controller *c)
{
    json_t *out = json_array();
    const char *state, *kind;
    json_t *d, *k;
    json_object_foreach(c->st.track, state, d) json_object_foreach(d, kind, k)
    {
        json_int_t n[EFFECT_MAX], total = 0;
        for (int v = 0; v < EFFECT_MAX; v++)
            total += n[v] =
                json_integer_value(json_object_get(k, effect_verdict_name((enum effect_verdict)v)));
        json_t *changes = json_object_get(k, "changes");
        size_t m = json_array_size(changes);
        double *x = m ? calloc(m, sizeof(*x)) : NULL;
        for (size_t i = 0; x && i < m; i++)
            x[i] = json_number_value(json_array_get(changes, i));
        json_t *median = json_null();
        if (x) {
            qsort(x, m, sizeof(*x), cmp_double);
            median = json_real(m % 2 ? x[m / 2] : (x[m / 2 - 1] + x[m / 2]) / 2);
        }
        free(x);
        json_int_t judged = total - n[EFFECT_UNKNOWN];
        json_array_append_new(
            out,
            json_pack("{s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:o}", "decision", state, "kind", kind,
                      "verdicts", total, "helped", n[EFFECT_HELPED], "no_effect",
                      n[EFFECT_NO_EFFECT], "worse", n[EFFECT_WORSE], "unknown", n[EFFECT_UNKNOWN],
                      "helped_share",
                      judged ? json_real((double)n[EFFECT_HELPED] / (double)judged) : json_null(),
                      "median_improvement", median));
    }
    return out;
}

/* Writes the verdict record and counts it (lock held). */
static void record(struct controller *c, json_t *e, enum effect_verdict v, json_t *signals,
                   const char *why, double now)
{
    /* the mean relative change of the judged signals, for the track record */
    double rel = 0;
    size_t nrel = 0;
    for (size_t i = 0; i < json_array_size(signals); i++) {
        const json_t *r = json_object_get(json_array_get(signals, i), "relative_change");
        if (json_is_number(r)) {
            rel += json_number_value(r);
            nrel++;
        }
    }
    char id[64], label[RULES_MAX_NAME + 16];
    const char *reg = json_string_value(json_object_get(e, "regulator"));
    controller_new_id(c, now, id, sizeof(id));
    json_t *rec = controller_record("action_effect", id, now);
    json_object_set(rec, "of", json_object_get(e, "id"));
    json_object_set_new(rec, "trigger", json_string(reg ? "regulator" : "decision"));
    if (reg) {
        json_object_set(rec, "regulator", json_object_get(e, "regulator"));
        json_object_set(rec, "setpoint", json_object_get(e, "setpoint"));
    } else {
        json_object_set(rec, "state", json_object_get(e, "state"));
    }
    if (json_is_object(json_object_get(e, "target")))
        json_object_set(rec, "target", json_object_get(e, "target"));
    json_object_set(rec, "kinds", json_object_get(e, "kinds"));
    json_object_set(rec, "decided_at", json_object_get(e, "at"));
    json_object_set(rec, "verify_after_seconds", json_object_get(e, "after"));
    json_object_set(rec, "verify_window_seconds", json_object_get(e, "window"));
    json_object_set_new(rec, "verdict", json_string(effect_verdict_name(v)));
    json_object_set_new(rec, "signals", signals ? signals : json_array());
    json_object_set_new(rec, "explanation", json_string(why));
    if (audit_append(c->audit, rec) < 0)
        metric_add(c->m.audit_errors, 1);
    json_decref(rec);
    apply_policy(c, e, v, id, now);
    const char *state = json_string_value(json_object_get(e, "state"));
    if (reg) { /* counted and tracked as the decision regulator:NAME */
        snprintf(label, sizeof(label), "regulator:%s", reg);
        state = label;
    }
    const json_t *kinds = json_object_get(e, "kinds");
    for (size_t i = 0; i < json_array_size(kinds); i++) {
        count(c, state ? state : "?", json_string_value(json_array_get(kinds, i)), v);
        track(c, state ? state : "?", json_string_value(json_array_get(kinds, i)), v,
              nrel ? rel / (double)nrel : NAN);
    }
    log_info("verdict on %s %s (%s): %s: %s", reg ? "change" : "decision",
             json_string_value(json_object_get(e, "id")), state ? state : "?",
             effect_verdict_name(v), why);
}

static void remember(struct controller *c, json_t *e, const struct target *t, double now);

void verdicts_schedule(struct controller *c, const struct decision_def *def, const json_t *d,
                       const struct target *t, double now)
{
    if (!def || !def->verify_after_usec || !d)
        return;
    json_t *kinds = json_array();
    for (size_t i = 0; i < def->n_actions; i++) {
        const char *k = action_kind_name(def->actions[i].kind);
        bool seen = def->actions[i].kind == ACTION_ALERT;
        for (size_t j = 0; j < json_array_size(kinds) && !seen; j++)
            seen = strcmp(json_string_value(json_array_get(kinds, j)), k) == 0;
        if (!seen)
            json_array_append_new(kinds, json_string(k));
    }
    double after = (double)def->verify_after_usec / 1e6;
    double window = (double)def->verify_window_usec / 1e6;
    json_t *e = json_pack("{s:O,s:s,s:f,s:f,s:f,s:f,s:o}", "id", json_object_get(d, "id"), "state",
                          c->rules->states[def->state].name, "at", now, "due", now + after, "after",
                          after, "window", window, "kinds", kinds);
    if (!e)
        return;
    remember(c, e, t, now);
}

void verdicts_schedule_regulator(struct controller *c, const struct regulator_def *d,
                                 struct regulator_run *run, const char *id, const struct target *t,
                                 double now)
{
    if (!d->verify_after_usec ||
        (run->verdict_at > 0 && now - run->verdict_at < (double)d->verify_window_usec / 1e6))
        return; /* one per verify_window: changes come every step */
    run->verdict_at = now;
    json_t *kinds = json_array();
    for (size_t i = 0; i < d->n_actions; i++) {
        const char *k = action_kind_name(d->actions[i].kind);
        bool seen = false;
        for (size_t j = 0; j < json_array_size(kinds) && !seen; j++)
            seen = strcmp(json_string_value(json_array_get(kinds, j)), k) == 0;
        if (!seen)
            json_array_append_new(kinds, json_string(k));
    }
    double after = (double)d->verify_after_usec / 1e6;
    double window = (double)d->verify_window_usec / 1e6;
    json_t *e = json_pack("{s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:o}", "id", id, "regulator", d->name,
                          "setpoint", d->setpoint, "at", now, "due", now + after, "after", after,
                          "window", window, "kinds", kinds);
    if (e)
        remember(c, e, t, now);
}

/* Adds e (taken) to the verdicts waiting, for target t (or NULL); lock held. */
static void remember(struct controller *c, json_t *e, const struct target *t, double now)
{
    if (t) {
        json_object_set(e, "target", t->labels);
        json_object_set_new(e, "key", json_string(t->key));
    }
    if (!c->st.verdicts)
        c->st.verdicts = json_array();
    while (json_array_size(c->st.verdicts) >= VERDICTS_MAX) {
        json_t *old = json_incref(json_array_get(c->st.verdicts, 0));
        json_array_remove(c->st.verdicts, 0);
        record(c, old, EFFECT_UNKNOWN, NULL, "too many verdicts waiting: not judged", now);
        json_decref(old);
    }
    json_array_append_new(c->st.verdicts, e);
}

/* Whether the series' labels hold every label of want. */
static bool labels_match(const json_t *metric, const json_t *want)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)want, k, v)
    {
        const char *got = json_string_value(json_object_get(metric, k));
        if (!got || !json_is_string(v) || strcmp(got, json_string_value(v)) != 0)
            return false;
    }
    return true;
}

/* The finite values of query over [from, to] at step (the target's series when target),
 * into w (their distances from setpoint unless it is NaN); false (why set) when Prometheus
 * did not answer. */
static bool fetch(struct promql_client *client, const char *query, const json_t *target,
                  double from, double to, double step, double setpoint, struct effect_window *w,
                  char *why, size_t why_size)
{
    int64_t step_ms = (int64_t)llround(step * 1000);
    if (step_ms < 1000)
        step_ms = 1000;
    int64_t start_ms = (int64_t)llround(from * 1000);
    size_t n = (size_t)((llround(to * 1000) - start_ms) / step_ms) + 1;
    if (n > 11000)
        n = 11000;
    struct promql_range g;
    double *v = calloc(n ? n : 1, sizeof(*v));
    *w = (struct effect_window){0};
    if (!v || promql_range_init(&g, start_ms, step_ms, n) < 0) {
        free(v);
        snprintf(why, why_size, "out of memory");
        return false;
    }
    if (target)
        g.matrix = json_array();
    struct promql_result err;
    size_t first, cnt, k = 0;
    bool ok = promql_query_range(client, query, &g, 0, &err, &first, &cnt) == 0;
    if (!ok) {
        snprintf(why, why_size, "%s: %s", promql_error_name(err.error), err.detail);
    } else if (!target) {
        for (size_t i = 0; i < g.n; i++)
            if (g.error[i] == PROMQL_OK && isfinite(g.value[i]))
                v[k++] = g.value[i];
    } else {
        for (size_t i = 0; i < json_array_size(g.matrix); i++) {
            const json_t *s = json_array_get(g.matrix, i);
            if (!labels_match(json_object_get(s, "metric"), target))
                continue;
            const json_t *vals = json_object_get(s, "values");
            for (size_t j = 0; j < json_array_size(vals) && k < n; j++) {
                double x;
                const char *txt = json_string_value(json_array_get(json_array_get(vals, j), 1));
                if (txt && parse_double(txt, &x) == 0 && isfinite(x))
                    v[k++] = x;
            }
        }
    }
    if (isnan(setpoint))
        effect_window_of(v, k, w);
    else
        effect_window_error(v, k, setpoint, w);
    free(v);
    promql_range_free(&g);
    return ok;
}

/* What one verdict needs of the rules, copied under the lock. */
struct judged {
    json_t *e;
    size_t n;
    char *query[RULES_MAX_CONDITIONS];
    char *name[RULES_MAX_CONDITIONS];
    int direction[RULES_MAX_CONDITIONS];
    double setpoint; /* a regulator's change: the distance from it is judged; NaN otherwise */
    bool state_gone; /* the state (the regulator) is no longer in the rules */
};

static void plan(const struct rules *r, struct judged *j)
{
    j->setpoint = NAN;
    const char *reg = json_string_value(json_object_get(j->e, "regulator"));
    if (reg) {
        const struct regulator_def *d = rules_regulator(r, reg);
        const struct signal_def *sig = d ? &r->signals[d->signal] : NULL;
        j->state_gone = !d;
        if (!sig || !sig->query)
            return;
        j->setpoint = json_number_value(json_object_get(j->e, "setpoint"));
        j->query[0] = strdup(sig->query);
        j->name[0] = strdup(sig->name);
        j->direction[0] = 1; /* farther from the setpoint is worse */
        if (j->query[0] && j->name[0])
            j->n = 1;
        else {
            free(j->query[0]);
            free(j->name[0]);
        }
        return;
    }
    const char *state = json_string_value(json_object_get(j->e, "state"));
    int si = state ? rules_state_index(r, state) : -1;
    if (si < 0) {
        j->state_gone = true;
        return;
    }
    const struct state_def *s = &r->states[si];
    for (size_t k = 0; k < s->n_conditions && j->n < RULES_MAX_CONDITIONS; k++) {
        const struct condition *cd = &s->conditions[k];
        const struct signal_def *sig = &r->signals[cd->signal];
        int dir = effect_direction(cd->op);
        if (!dir || !sig->query)
            continue;
        bool seen = false;
        for (size_t i = 0; i < j->n && !seen; i++)
            seen = strcmp(j->name[i], sig->name) == 0;
        if (seen)
            continue;
        j->query[j->n] = strdup(sig->query);
        j->name[j->n] = strdup(sig->name);
        j->direction[j->n] = dir;
        if (!j->query[j->n] || !j->name[j->n]) {
            free(j->query[j->n]);
            free(j->name[j->n]);
            continue;
        }
        j->n++;
    }
}

static void judged_free(struct judged *j)
{
    for (size_t i = 0; i < j->n; i++) {
        free(j->query[i]);
        free(j->name[i]);
    }
    json_decref(j->e);
}

static json_t *window_json(const struct effect_window *w)
{
    return json_pack("{s:I,s:o,s:o}", "samples", (json_int_t)w->n, "mean",
                     w->n ? json_real(w->mean) : json_null(), "sd",
                     w->n ? json_real(w->sd) : json_null());
}

void verdicts_judge_due(struct controller *c, double now)
{
    struct judged due[VERDICTS_PER_ROUND];
    size_t n = 0;
    double step;
    pthread_mutex_lock(&c->lock);
    step = (double)c->rules->evaluation_interval_usec / 1e6;
    for (size_t i = 0; i < json_array_size(c->st.verdicts) && n < VERDICTS_PER_ROUND;) {
        json_t *e = json_array_get(c->st.verdicts, i);
        if (json_number_value(json_object_get(e, "due")) > now) {
            i++;
            continue;
        }
        due[n] = (struct judged){.e = json_incref(e)};
        plan(c->rules, &due[n]);
        n++;
        json_array_remove(c->st.verdicts, i);
    }
    struct promql_client *client = c->prom;
    pthread_mutex_unlock(&c->lock);
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        struct judged *j = &due[i];
        double at = json_number_value(json_object_get(j->e, "at"));
        double after = json_number_value(json_object_get(j->e, "after"));
        double window = json_number_value(json_object_get(j->e, "window"));
        const json_t *target = json_object_get(j->e, "target");
        struct effect_signal s[RULES_MAX_CONDITIONS];
        json_t *signals = json_array();
        char why[1024] = "", one[400];
        size_t len = 0;
        for (size_t k = 0; k < j->n; k++) {
            struct effect_window before, afterw;
            char err[320] = "", what[RULES_MAX_NAME + 64];
            if (isnan(j->setpoint))
                snprintf(what, sizeof(what), "%s", j->name[k]);
            else /* a regulator's change */
                snprintf(what, sizeof(what), "%s's distance from %.3g", j->name[k], j->setpoint);
            bool ok = fetch(client, j->query[k], json_is_object(target) ? target : NULL,
                            at - window, at, step, j->setpoint, &before, err, sizeof(err)) &&
                      fetch(client, j->query[k], json_is_object(target) ? target : NULL,
                            at + after - window, at + after, step, j->setpoint, &afterw, err,
                            sizeof(err));
            effect_judge(&before, &afterw, j->direction[k], EFFECT_MIN_CHANGE, &s[k]);
            if (!ok)
                s[k].verdict = EFFECT_UNKNOWN;
            if (!ok)
                snprintf(one, sizeof(one), "%s: unknown (Prometheus: %s)", j->name[k], err);
            else if (s[k].verdict == EFFECT_UNKNOWN)
                snprintf(one, sizeof(one),
                         "%s: unknown (%zu sample%s before, %zu after; %d needed in each)",
                         j->name[k], before.n, before.n == 1 ? "" : "s", afterw.n,
                         EFFECT_MIN_SAMPLES);
            else
                snprintf(
                    one, sizeof(one),
                    "%s: %.3g before, %.3g after (%+.0f%%, %s; noise and the %.0f%% "
                    "minimum: %.3g)",
                    what, before.mean, afterw.mean,
                    before.mean != 0 ? (afterw.mean - before.mean) / fabs(before.mean) * 100 : 0,
                    effect_verdict_name(s[k].verdict), EFFECT_MIN_CHANGE * 100, s[k].threshold);
            len += (size_t)snprintf(why + len, len < sizeof(why) ? sizeof(why) - len : 0, "%s%s",
                                    k ? "; " : "", one);
            if (len >= sizeof(why))
                len = sizeof(why) - 1;
            json_t *o = json_pack("{s:s,s:s,s:o,s:o,s:s}", "signal", j->name[k], "worse",
                                  j->direction[k] > 0 ? "higher" : "lower", "before",
                                  window_json(&before), "after", window_json(&afterw), "verdict",
                                  effect_verdict_name(s[k].verdict));
            if (o && !isnan(j->setpoint)) /* the windows are of |signal - setpoint| */
                json_object_set_new(o, "distance_from", json_real(j->setpoint));
            if (o && s[k].verdict != EFFECT_UNKNOWN) {
                json_object_set_new(o, "change", json_real(s[k].change));
                json_object_set_new(o, "relative_change", json_real(s[k].relative));
                json_object_set_new(o, "threshold", json_real(s[k].threshold));
            }
            json_array_append_new(signals, o);
        }
        enum effect_verdict v = j->state_gone ? EFFECT_UNKNOWN : effect_combine(s, j->n);
        const char *reg = json_string_value(json_object_get(j->e, "regulator"));
        if (j->state_gone)
            snprintf(why, sizeof(why), "the rules no longer have %s %s",
                     reg ? "regulator" : "state",
                     reg ? reg : json_string_value(json_object_get(j->e, "state")));
        else if (j->n == 0)
            snprintf(why, sizeof(why), "no signal to judge (only == and != conditions)");
        pthread_mutex_lock(&c->lock);
        record(c, j->e, v, signals, why, now);
        pthread_mutex_unlock(&c->lock);
        judged_free(j);
    }
}
