/* records: what the daemon writes and publishes, below everything else in it: decision
 * and record ids, audit records of operators' requests (with their actor), the state file,
 * the gauges derived from the state, and the JSON value helpers. run.c, api.c and
 * actions.c call these; these call none of them. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"
#include "actuator.h"
#include "statefile.h"

/* Rebuilds the per-state and per-signal gauges for the current rules (lock held). */
void controller_publish(struct controller *c)
{
    const struct rules *r = c->rules;
    rfamily_reset(c->m.state);
    for (size_t i = 0; i <= r->n_states; i++) {
        size_t idx = i < r->n_states ? i : EVAL_STATE_UNKNOWN;
        struct metric *m =
            registry_series(c->m.state, (const char *const[]){eval_state_name(r, idx), NULL});
        if (m)
            metric_set(m, c->st.eval.current == idx ? 1 : 0);
    }
    rfamily_reset(c->m.signal_value);
    rfamily_reset(c->m.signal_known);
    for (size_t i = 0; c->have_eval && i < r->n_signals; i++) {
        const char *lv[] = {r->signals[i].name, NULL};
        struct metric *k = registry_series(c->m.signal_known, lv);
        if (k)
            metric_set(k, c->values[i].known ? 1 : 0);
        if (c->values[i].known) {
            struct metric *v = registry_series(c->m.signal_value, lv);
            if (v)
                metric_set(v, c->values[i].value);
        }
    }
    metric_set(c->m.confidence, c->have_eval ? c->last.confidence : 0);
    metric_set(c->m.paused, c->st.paused ? 1 : 0);
    metric_set(c->m.since, c->st.eval.since);
    metric_set(c->m.in_effect, (double)json_array_size(c->st.effects));
    regulators_publish(c);
}

json_t *json_time(double t)
{
    if (t <= 0)
        return json_null();
    char buf[64];
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    char out[80];
    snprintf(out, sizeof(out), "%s.%03dZ", buf, (int)((t - (double)s) * 1000));
    return json_string(out);
}

json_t *json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

void controller_new_id(struct controller *c, double now, char *buf, size_t size)
{
    c->st.decision_seq++;
    snprintf(buf, size, "%llx-%llu", (unsigned long long)(now * 1000), c->st.decision_seq);
}

json_t *controller_record(const char *type, const char *id, double now)
{
    json_t *rec = json_object();
    json_object_set_new(rec, "type", json_string(type));
    json_object_set_new(rec, "id", json_string(id));
    json_object_set_new(rec, "time", json_time(now));
    json_object_set_new(rec, "timestamp", json_real(now));
    return rec;
}

json_t *controller_actor_json(const struct api_actor *who)
{
    json_t *o = json_object();
    json_object_set_new(o, "role", json_string(api_role_name(who->role)));
    json_object_set_new(o, "credential", json_string(who->credential));
    json_object_set_new(o, "address", json_string(who->address));
    if (who->user[0])
        json_object_set_new(o, "user", json_string(who->user));
    return o;
}

int controller_audit_operator(struct controller *c, const char *type, const struct api_actor *who,
                              json_t *extra)
{
    double now = now_realtime();
    char id[48];
    controller_new_id(c, now, id, sizeof(id));
    json_t *rec = controller_record(type, id, now);
    if (extra) {
        json_object_update(rec, extra);
        json_decref(extra);
    }
    json_object_set_new(rec, "by", json_string(who->text));
    json_object_set_new(rec, "actor", controller_actor_json(who));
    int r = audit_append(c->audit, rec);
    if (r < 0) {
        metric_add(c->m.audit_errors, 1);
        log_error_errno(r, "audit: cannot record %s by %s in %s", type, who->text,
                        audit_path(c->audit));
    }
    json_decref(rec);
    return r;
}

static int state_targets(void *c, struct buf *out)
{
    return targets_state_text(c, out);
}

int controller_state_snapshot(struct controller *c, struct state_snapshot *snap)
{
    uint64_t t0 = now_usec();
    buf_init(&snap->text, STATE_MAX_FILE_BYTES);
    /* about the last one's size: no doubling past it (4 MiB more at 10,000 targets) */
    int r = c->state_size ? buf_reserve(&snap->text, c->state_size + c->state_size / 16) : 0;
    if (r == 0)
        r = statefile_render(c->rules, &c->st, c->rules->targets.by ? state_targets : NULL, c,
                             &snap->text);
    if (r == 0)
        c->state_size = snap->text.len;
    snap->seq = ++c->save_seq;
    snap->usec = now_usec() - t0;
    if (r < 0)
        buf_free(&snap->text);
    return r;
}

void controller_state_write(struct controller *c, struct state_snapshot *snap, int r)
{
    uint64_t t0 = now_usec();
    pthread_mutex_lock(&c->save_lock);
    if (r == 0 && snap->seq > c->saved_seq) {
        r = file_write_atomic(c->state_path, snap->text.data, snap->text.len, 0600);
        if (r == 0)
            c->saved_seq = snap->seq;
    }
    pthread_mutex_unlock(&c->save_lock);
    buf_free(&snap->text);
    /* the metric and the counter are the registry's: safe without the lock */
    metric_observe(c->m.state_save_duration, (double)(snap->usec + now_usec() - t0) / 1e6);
    if (r < 0) {
        metric_add(c->m.state_errors, 1);
        log_warning_errno(r, "state: cannot save %s", c->state_path);
    }
}

void controller_save_state(struct controller *c)
{
    struct state_snapshot snap;
    int r = controller_state_snapshot(c, &snap);
    controller_state_write(c, &snap, r);
}

json_t *controller_signals_json(const struct controller *c, const struct signal_value *values,
                                double now)
{
    json_t *arr = json_array();
    const struct rules *r = c->rules;
    for (size_t i = 0; i < r->n_signals; i++) {
        const struct signal_value *v = values ? &values[i] : NULL;
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(r->signals[i].name));
        json_object_set_new(o, "query", json_string(r->signals[i].query));
        json_object_set_new(o, "known", json_boolean(v && v->known));
        json_object_set_new(o, "value", v && v->known ? json_num(v->value) : json_null());
        if (v && v->known) {
            json_object_set_new(o, "sample_time", json_time(v->sample_time));
            json_object_set_new(o, "age_seconds", json_real(now - v->sample_time));
        } else {
            json_object_set_new(o, "reason", json_string(v ? v->reason : "not evaluated yet"));
        }
        if (r->signals[i].max_age_usec)
            json_object_set_new(o, "max_age_seconds",
                                json_real((double)r->signals[i].max_age_usec / 1e6));
        if (c->have_eval) {
            json_object_set_new(o, "query_duration_seconds",
                                json_real(c->results[i].duration_seconds));
            /* Prometheus' own warnings (partial data from a federated query...). */
            if (c->results[i].warnings[0])
                json_object_set_new(o, "warnings", json_string(c->results[i].warnings));
        }
        json_array_append_new(arr, o);
    }
    return arr;
}

/* ---- decisions ---- */

/* The decision's actions; with a target's labels, its {{ $labels.NAME }} shown with their
 * values. */
static json_t *actions_json(const struct decision_def *d, enum decision_outcome outcome,
                            const json_t *labels)
{
    json_t *arr = json_array();
    for (size_t i = 0; d && i < d->n_actions; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(action_kind_name(d->actions[i].kind)));
        char *summary = labels ? actuator_with_labels(d->actions[i].summary, labels) : NULL;
        json_object_set_new(o, "summary", json_string(summary ? summary : d->actions[i].summary));
        free(summary);
        /* Secret-looking parameters never reach the audit log or the API. */
        json_t *params = rules_action_params_redacted(&d->actions[i]);
        if (labels) {
            json_t *shown = actuator_json_with_labels(params, labels);
            json_decref(params);
            params = shown;
        }
        json_object_set_new(o, "params", params);
        /* "pending" until it has run: the record is written before anything runs, and
         * the result of each action follows in an action_result record. */
        json_object_set_new(o, "result",
                            json_string(outcome == OUTCOME_EXECUTED ? "pending" : "not_run"));
        json_array_append_new(arr, o);
    }
    return arr;
}

void controller_count_decision(struct controller *c, const char *state,
                               const struct decision_def *def, json_t *d,
                               enum decision_outcome outcome)
{
    if (!def || def->n_actions == 0) {
        struct metric *m = registry_series(
            c->m.decisions,
            (const char *const[]){state, "none", decision_outcome_name(outcome), NULL});
        if (m)
            metric_add(m, 1);
    }
    json_t *listed = json_object_get(d, "actions");
    for (size_t i = 0; def && i < def->n_actions; i++) {
        const char *result = decision_outcome_name(outcome);
        /* An executed decision counts each action by how it went. */
        const char *ran = json_string_value(json_object_get(json_array_get(listed, i), "result"));
        if (outcome == OUTCOME_EXECUTED && ran && strcmp(ran, "failed") == 0)
            result = "failed";
        struct metric *m = registry_series(
            c->m.decisions,
            (const char *const[]){state, action_kind_name(def->actions[i].kind), result, NULL});
        if (m)
            metric_add(m, 1);
    }
}

/* A decision whose record could not be written: nothing runs, its cooldown not started. */
static void unrecorded(struct controller *c, json_t *d, const struct decision_def *def,
                       enum decision_outcome *outcome, double *last_exec, const double *saved_exec)
{
    *outcome = OUTCOME_FAILED;
    memcpy(last_exec, saved_exec, c->rules->n_decisions * sizeof(double));
    json_object_set_new(d, "outcome", json_string("failed"));
    json_object_set_new(d, "actions", actions_json(def, *outcome, json_object_get(d, "target")));
    json_object_set_new(d, "error", json_string("audit log write failed"));
}

/* Each target keeps its last decision without the signals (its detail shows them live),
 * as compact text: a tree of it is about 2.5 KiB, and when 9,000 targets change state at
 * once each keeps one. */
void controller_keep_last_decision(struct target *t, json_t *d)
{
    json_t *kept = json_copy(d); /* shallow */
    if (kept)
        json_object_del(kept, "signals");
    char *text = kept ? json_dumps(kept, JSON_COMPACT) : NULL;
    json_decref(kept);
    free(t->last_decision);
    t->last_decision = text;
}

static void keep_last(struct target *t, json_t *d)
{
    controller_keep_last_decision(t, d);
}

void controller_decision_unsynced(struct controller *c, json_t *d, const struct decision_def *def,
                                  enum decision_outcome *outcome, struct target *t,
                                  double *last_exec, const double *saved_exec)
{
    unrecorded(c, d, def, outcome, last_exec, saved_exec);
    if (t)
        keep_last(t, d);
    controller_count_decision(c, json_string_value(json_object_get(d, "to")), def, d, *outcome);
}

json_t *controller_decision(struct controller *c, const struct eval_result *res,
                            const struct decision_def *def, enum decision_outcome *outcome,
                            const struct decide_flags *flags, struct target *t, double *last_exec,
                            const double *saved_exec, double now)
{
    return controller_decision_with(c, res, def, outcome, flags, t, last_exec, saved_exec, now,
                                    NULL);
}

json_t *controller_decision_with(struct controller *c, const struct eval_result *res,
                                 const struct decision_def *def, enum decision_outcome *outcome,
                                 const struct decide_flags *flags, struct target *t,
                                 double *last_exec, const double *saved_exec, double now,
                                 const json_t *escalation)
{
    const struct rules *r = c->rules;
    const char *sname = eval_state_name(r, res->to);
    char id[48];
    controller_new_id(c, now, id, sizeof(id));
    json_t *d = controller_record("decision", id, now);
    if (t) {
        json_object_set_new(d, "target", json_incref(t->labels));
        json_object_set_new(d, "target_id", json_string(t->id));
    }
    json_object_set_new(d, "from", json_string(eval_state_name(r, res->from)));
    json_object_set_new(d, "to", json_string(sname));
    json_object_set_new(d, "changed", json_boolean(res->changed));
    json_object_set_new(d, "uncertain", json_boolean(res->uncertain));
    json_object_set_new(d, "confidence", json_real(res->confidence));
    json_t *parts = json_object();
    json_object_set_new(parts, "margin", json_real(res->parts.margin));
    json_object_set_new(parts, "duration", json_real(res->parts.duration));
    json_object_set_new(parts, "coverage", json_real(res->parts.coverage));
    json_object_set_new(parts, "freshness", json_real(res->parts.freshness));
    json_object_set_new(d, "confidence_parts", parts);
    if (def)
        json_object_set_new(d, "min_confidence", json_real(def->min_confidence));
    if (escalation && def) {
        /* on_no_effect: escalate: the worse state's decision, taken early */
        char why[sizeof(res->reasoning) + 320];
        snprintf(why, sizeof(why),
                 "on_no_effect: escalate: the %s decision's verdict was %s (%s); %s's decision "
                 "is taken now. %s",
                 json_string_value(json_object_get(escalation, "from")),
                 json_string_value(json_object_get(escalation, "verdict")),
                 json_string_value(json_object_get(escalation, "verdict_id")),
                 r->states[def->state].name, res->reasoning);
        json_object_set_new(d, "reasoning", json_string(why));
        json_object_set_new(d, "decision", json_string(r->states[def->state].name));
        json_t *x = json_deep_copy(escalation);
        json_object_del(x, "target");
        json_object_set_new(d, "escalated", x);
    } else {
        json_object_set_new(d, "reasoning", json_string(res->reasoning));
    }
    json_object_set_new(
        d, "signals",
        controller_signals_json(c, t ? t->values : (c->have_eval ? c->values : NULL), now));
    json_object_set_new(d, "actions", actions_json(def, *outcome, t ? t->labels : NULL));
    json_object_set_new(d, "dry_run", json_boolean(c->cli.dry_run || (def && def->dry_run)));
    json_object_set_new(d, "paused", json_boolean(c->st.paused || (t && t->paused)));
    if (flags->budget_limited)
        json_object_set_new(d, "budget_left", json_integer(flags->budget_left));
    json_object_set_new(d, "outcome", json_string(decision_outcome_name(*outcome)));
    /* The record is written before anything runs; without it, nothing runs. */
    int ar = c->audit_deferred ? audit_append_nosync(c->audit, d) : audit_append(c->audit, d);
    if (ar < 0) {
        log_error_errno(ar, "audit: cannot record decision %s in %s; not acting on it", id,
                        audit_path(c->audit));
        metric_add(c->m.audit_errors, 1);
        unrecorded(c, d, def, outcome, last_exec, saved_exec);
    }
    json_decref(c->last_decision);
    c->last_decision = json_incref(d);
    if (t)
        keep_last(t, d);
    log_info("decision %s%s%s: %s -> %s, confidence %.2f, %s%s%s", id, t ? " for " : "",
             t ? t->key : "", eval_state_name(r, res->from), sname, res->confidence,
             decision_outcome_name(*outcome), escalation && def ? ", escalated to " : "",
             escalation && def ? r->states[def->state].name : "");
    if (*outcome != OUTCOME_EXECUTED)
        controller_count_decision(c, sname, def, d, *outcome);
    return d;
}

/* ---- metrics ---- */

int controller_metrics_init(struct controller *c)
{
    struct registry *r = c->reg;
    struct metrics *m = &c->m;
    static const double query_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
    m->state = registry_family(r, "homeostat_controller_state", METRIC_GAUGE,
                               "1 for the current state, 0 for the others.",
                               (const char *const[]){"state", NULL}, NULL, 0);
    m->decisions = registry_family(
        r, "homeostat_controller_decisions_total", METRIC_COUNTER,
        "Decisions recorded, by state entered or kept, action kind (none without actions) "
        "and result (executed, dry_run, paused, cooldown, below_confidence, uncertain, "
        "no_actions, budget_exhausted, failed).",
        (const char *const[]){"state", "action", "result", NULL}, NULL, 0);
    m->signal_value = registry_family(r, "homeostat_controller_signal_value", METRIC_GAUGE,
                                      "Last value of each known signal; absent when unknown.",
                                      (const char *const[]){"signal", NULL}, NULL, 0);
    m->signal_known = registry_family(r, "homeostat_controller_signal_known", METRIC_GAUGE,
                                      "1 when the signal had a fresh value at the last "
                                      "evaluation, 0 when it was unknown.",
                                      (const char *const[]){"signal", NULL}, NULL, 0);
    m->query_errors = registry_family(
        r, "homeostat_controller_query_errors_total", METRIC_COUNTER,
        "Signal queries that gave no value, by reason (timeout, connect, http, bad_response, "
        "query, empty, multiple_series, nan, too_large).",
        (const char *const[]){"reason", NULL}, NULL, 0);
    m->confidence = registry_metric(r, "homeostat_controller_confidence", METRIC_GAUGE,
                                    "Confidence (0..1) in the current state at the last "
                                    "evaluation.");
    m->evaluations = registry_metric(r, "homeostat_controller_evaluations_total", METRIC_COUNTER,
                                     "Evaluations run.");
    m->last_eval = registry_metric(r, "homeostat_controller_last_evaluation_timestamp_seconds",
                                   METRIC_GAUGE, "When the last evaluation completed.");
    struct rfamily *ed =
        registry_family(r, "homeostat_controller_evaluation_duration_seconds", METRIC_HISTOGRAM,
                        "Time one evaluation took, queries included.", NULL, query_buckets, 11);
    struct rfamily *qd =
        registry_family(r, "homeostat_controller_query_duration_seconds", METRIC_HISTOGRAM,
                        "Time each distinct signal query took.", NULL, query_buckets, 11);
    m->eval_duration = ed ? registry_series(ed, NULL) : NULL;
    m->query_duration = qd ? registry_series(qd, NULL) : NULL;
    m->reload_ok =
        registry_metric(r, "homeostat_controller_config_last_reload_successful", METRIC_GAUGE,
                        "Whether the last load of the rules file succeeded.");
    m->reload_time =
        registry_metric(r, "homeostat_controller_config_last_reload_success_timestamp_seconds",
                        METRIC_GAUGE, "When the rules file was last loaded successfully.");
    m->paused = registry_metric(r, "homeostat_controller_paused", METRIC_GAUGE,
                                "1 while actuation is paused (emergency stop).");
    m->dry_run = registry_metric(r, "homeostat_controller_dry_run", METRIC_GAUGE,
                                 "1 when the controller runs with --dry-run.");
    m->audit_errors = registry_metric(r, "homeostat_controller_audit_errors_total", METRIC_COUNTER,
                                      "Decisions that could not be written to the audit log "
                                      "(and were therefore not acted on).");
    m->state_errors = registry_metric(r, "homeostat_controller_state_file_errors_total",
                                      METRIC_COUNTER, "Failed writes of the state file.");
    m->audit_truncated =
        registry_metric(r, "homeostat_controller_audit_truncated_bytes", METRIC_GAUGE,
                        "Bytes of a partial last record (a crash during a write) cut off the "
                        "audit log when it was opened at start; 0 when it ended whole.");
    m->since = registry_metric(r, "homeostat_controller_state_since_timestamp_seconds",
                               METRIC_GAUGE, "When the current state was entered.");
    m->actions = registry_family(
        r, "homeostat_controller_actions_total", METRIC_COUNTER,
        "Actions run, by kind, trigger (decision, manual, revert, resend) and result (ok, "
        "failed).",
        (const char *const[]){"kind", "trigger", "result", NULL}, NULL, 0);
    static const double action_buckets[] = {.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60};
    struct rfamily *ad =
        registry_family(r, "homeostat_controller_action_duration_seconds", METRIC_HISTOGRAM,
                        "Time each action took, retries included.", NULL, action_buckets, 11);
    m->action_duration = ad ? registry_series(ad, NULL) : NULL;
    m->in_effect = registry_metric(r, "homeostat_controller_actions_in_effect", METRIC_GAUGE,
                                   "Actions applied and waiting to be reverted (or alerts to "
                                   "be resolved) when their state is left.");
    m->budget_left =
        registry_metric(r, "homeostat_controller_action_budget_remaining", METRIC_GAUGE,
                        "Actions that may still run in the current hour under "
                        "limits.max_actions_per_hour (-1: no limit).");
    m->overrides = registry_metric(r, "homeostat_controller_overrides", METRIC_GAUGE,
                                   "Runtime overrides in force (thresholds and interval).");
    m->alerts_firing =
        registry_metric(r, "homeostat_controller_alerts_received_firing", METRIC_GAUGE,
                        "Firing alerts received through the Alertmanager "
                        "webhook.");
    m->webhooks =
        registry_family(r, "homeostat_controller_alertmanager_webhooks_total", METRIC_COUNTER,
                        "Alertmanager webhook notifications received, by result "
                        "(accepted, invalid).",
                        (const char *const[]){"result", NULL}, NULL, 0);
    m->api_denied = registry_family(
        r, "homeostat_controller_api_requests_denied_total", METRIC_COUNTER,
        "Requests to an endpoint that changes something refused, by reason (unauthenticated: "
        "no or an unknown token; forbidden: a valid token of a role that may not) and the "
        "role the endpoint needs.",
        (const char *const[]){"reason", "role", NULL}, NULL, 0);
    struct rfamily *sd = registry_family(
        r, "homeostat_controller_state_file_write_duration_seconds", METRIC_HISTOGRAM,
        "Time each save of the state file took (serialising, writing, fsync, rename).", NULL,
        query_buckets, 11);
    m->state_save_duration = sd ? registry_series(sd, NULL) : NULL;
    m->targets_refused = registry_metric(
        r, "homeostat_controller_targets_refused_total", METRIC_COUNTER,
        "New targets (label sets of targets.by) refused because targets.max were known.");
    m->storm_refused =
        registry_metric(r, "homeostat_controller_storm_guard_held_back_total", METRIC_COUNTER,
                        "Decisions that would have run but were held back by the storm guard "
                        "(limits.max_targets_acting).");
    m->storm_active =
        registry_metric(r, "homeostat_controller_storm_guard_active", METRIC_GAUGE,
                        "1 while more targets are in a state that acts than "
                        "limits.max_targets_acting allows (the storm guard holds the rest back).");
    m->reg_output = registry_family(r, "homeostat_controller_regulator_output", METRIC_GAUGE,
                                    "The output in force of each regulator (as last applied).",
                                    (const char *const[]){"regulator", NULL}, NULL, 0);
    m->reg_setpoint = registry_family(r, "homeostat_controller_regulator_setpoint", METRIC_GAUGE,
                                      "The setpoint each regulator holds its signal at.",
                                      (const char *const[]){"regulator", NULL}, NULL, 0);
    m->reg_signal = registry_family(r, "homeostat_controller_regulator_signal", METRIC_GAUGE,
                                    "The value of each regulator's signal at its last step; "
                                    "absent while unknown.",
                                    (const char *const[]){"regulator", NULL}, NULL, 0);
    m->effects = registry_family(
        r, "homeostat_controller_action_effects_total", METRIC_COUNTER,
        "Verdicts on executed decisions, once per kind of their actions (alerts are not "
        "judged): helped, no_effect, worse or unknown (data missing), by the decision's state.",
        (const char *const[]){"decision", "kind", "verdict", NULL}, NULL, 0);
    m->suspended = registry_family(
        r, "homeostat_controller_decisions_suspended", METRIC_GAUGE,
        "Targets (1 for the controller without targets) for which each decision is suspended "
        "by on_no_effect: stop after a verdict of no_effect or worse.",
        (const char *const[]){"decision", NULL}, NULL, 0);
    m->escalations = registry_family(
        r, "homeostat_controller_escalations_total", METRIC_COUNTER,
        "Decisions taken early by on_no_effect: escalate after a verdict of no_effect or worse: "
        "the decision that did not help and the worse state's decision taken in its place.",
        (const char *const[]){"decision", "to", NULL}, NULL, 0);
    m->reg_changes = registry_family(
        r, "homeostat_controller_regulator_changes_total", METRIC_COUNTER,
        "Output changes of each regulator, by direction (up, down) and result (applied, "
        "dry_run, failed, budget_exhausted).",
        (const char *const[]){"regulator", "direction", "result", NULL}, NULL, 0);
    struct rfamily *bi = registry_family(r, "homeostat_controller_build_info", METRIC_GAUGE,
                                         "A metric with a constant 1 labelled by the version.",
                                         (const char *const[]){"version", NULL}, NULL, 0);
    if (!m->state || !m->decisions || !m->signal_value || !m->signal_known || !m->query_errors ||
        !m->confidence || !m->evaluations || !m->last_eval || !m->eval_duration ||
        !m->query_duration || !m->reload_ok || !m->reload_time || !m->paused || !m->dry_run ||
        !m->audit_errors || !m->state_errors || !m->since || !bi || !m->actions ||
        !m->action_duration || !m->in_effect || !m->budget_left || !m->overrides ||
        !m->alerts_firing || !m->webhooks || !m->audit_truncated || !m->api_denied ||
        !m->targets_refused || !m->storm_refused || !m->storm_active || !m->state_save_duration ||
        !m->reg_output || !m->reg_setpoint || !m->reg_signal || !m->reg_changes || !m->effects ||
        !m->suspended || !m->escalations)
        return -ENOMEM;
    metric_set(registry_series(bi, (const char *const[]){HOMEOSTAT_VERSION, NULL}), 1);
    metric_set(m->dry_run, c->cli.dry_run ? 1 : 0);
    return 0;
}
