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
#include "log.h"
#include "parse.h"
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

void controller_save_state(struct controller *c)
{
    int sr = statefile_save(c->state_path, c->rules, &c->st);
    if (sr < 0) {
        metric_add(c->m.state_errors, 1);
        log_warning_errno(sr, "state: cannot save %s", c->state_path);
    }
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
    struct rfamily *bi = registry_family(r, "homeostat_controller_build_info", METRIC_GAUGE,
                                         "A metric with a constant 1 labelled by the version.",
                                         (const char *const[]){"version", NULL}, NULL, 0);
    if (!m->state || !m->decisions || !m->signal_value || !m->signal_known || !m->query_errors ||
        !m->confidence || !m->evaluations || !m->last_eval || !m->eval_duration ||
        !m->query_duration || !m->reload_ok || !m->reload_time || !m->paused || !m->dry_run ||
        !m->audit_errors || !m->state_errors || !m->since || !bi || !m->actions ||
        !m->action_duration || !m->in_effect || !m->budget_left || !m->overrides ||
        !m->alerts_firing || !m->webhooks || !m->audit_truncated || !m->api_denied)
        return -ENOMEM;
    metric_set(registry_series(bi, (const char *const[]){HOMEOSTAT_VERSION, NULL}), 1);
    metric_set(m->dry_run, c->cli.dry_run ? 1 : 0);
    return 0;
}
