/* rules_json: the JSON view of the rules (GET /api/v1/rules) and the redaction of
 * secrets in every view. */
#include "rules_loader.h"

#include "baseline.h"

/* ---- JSON ---- */

struct jb {
    bool failed;
};

/* Sets key to v (taking it, also on failure); remembers a failure (NULL o or v, OOM). */
static void put(struct jb *j, json_t *o, const char *key, json_t *v)
{
    if (json_object_set_new(o, key, v) < 0)
        j->failed = true;
}

static void append(struct jb *j, json_t *a, json_t *v)
{
    if (json_array_append_new(a, v) < 0)
        j->failed = true;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *seconds(uint64_t usec)
{
    return json_real((double)usec / 1e6);
}

json_t *rules_action_params_redacted(const struct action_def *a)
{
    return loader_redacted(a->params);
}

json_t *rules_json_redacted(const json_t *v)
{
    return v ? loader_redacted((json_t *)v) : json_null();
}

static json_t *actions_json(struct jb *j, const struct action_def *a, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        put(j, o, "kind", json_string(action_kind_name(a[i].kind)));
        put(j, o, "params", rules_action_params_redacted(&a[i]));
        put(j, o, "summary", json_string(a[i].summary));
        append(j, arr, o);
    }
    return arr;
}

static json_t *report_items_json(struct jb *j, const struct report_item *it, size_t n,
                                 bool optimization)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        put(j, o, "name", json_string(it[i].name));
        put(j, o, "query", json_string(it[i].query));
        put(j, o, "condition", json_string(it[i].condition));
        put(j, o, "op", json_string(cond_op_text(it[i].op)));
        put(j, o, "threshold", json_real(it[i].threshold));
        put(j, o, "slow", json_boolean(it[i].slow));
        if (optimization) {
            put(j, o, "type", json_string(it[i].type));
            put(j, o, "impact", json_string(report_level_name(it[i].impact)));
            put(j, o, "effort", json_string(report_level_name(it[i].effort)));
        } else {
            put(j, o, "severity", json_string(report_severity_name(it[i].severity)));
            put(j, o, "component", json_string(it[i].component));
        }
        json_t *notes = json_object();
        if (!optimization)
            put(j, notes, "summary", str_or_null(it[i].summary));
        put(j, notes, "description", str_or_null(it[i].description));
        put(j, notes, "recommendation", str_or_null(it[i].recommendation));
        put(j, o, "annotations", notes);
        append(j, arr, o);
    }
    return arr;
}

static json_t *report_json(struct jb *j, const struct report_def *d)
{
    json_t *o = json_object();
    put(j, o, "timeout_seconds", seconds(d ? d->timeout_usec : 0));
    put(j, o, "checks", report_items_json(j, d ? d->checks : NULL, d ? d->n_checks : 0, false));
    put(j, o, "optimizations",
        report_items_json(j, d ? d->optimizations : NULL, d ? d->n_optimizations : 0, true));
    return o;
}

json_t *rules_to_json(const struct rules *r)
{
    struct jb j = {false};
    json_t *root = json_object();
    put(&j, root, "path", str_or_null(r->path));
    put(&j, root, "evaluation_interval_seconds", seconds(r->evaluation_interval_usec));

    const struct http_client_config *p = &r->prometheus;
    json_t *prom = json_object();
    put(&j, prom, "url", str_or_null(p->url));
    put(&j, prom, "timeout_seconds", seconds(p->timeout_usec));
    put(&j, prom, "bearer_token_file", str_or_null(p->bearer_token_file));
    json_t *basic = json_null();
    if (p->basic_auth_username) {
        basic = json_object();
        put(&j, basic, "username", json_string(p->basic_auth_username));
        put(&j, basic, "password_file", str_or_null(p->basic_auth_password_file));
    }
    put(&j, prom, "basic_auth", basic);
    put(&j, prom, "ca_file", str_or_null(p->ca_file));
    put(&j, prom, "insecure_skip_verify", json_boolean(p->insecure_skip_verify));
    json_t *headers = json_array(); /* names only: values may be credentials */
    for (size_t i = 0; i < p->n_headers; i++) {
        const char *colon = strchr(p->headers[i], ':');
        append(&j, headers,
               json_stringn(p->headers[i],
                            colon ? (size_t)(colon - p->headers[i]) : strlen(p->headers[i])));
    }
    put(&j, prom, "headers", headers);
    put(&j, root, "prometheus", prom);

    json_t *signals = json_array();
    for (size_t i = 0; i < r->n_signals; i++) {
        const struct signal_def *s = &r->signals[i];
        json_t *o = json_object();
        put(&j, o, "name", json_string(s->name));
        put(&j, o, "query", str_or_null(s->query));
        put(&j, o, "source", json_string(s->alert ? "alertmanager" : "prometheus"));
        put(&j, o, "max_age_seconds", s->max_age_usec ? seconds(s->max_age_usec) : json_null());
        put(&j, o, "help", str_or_null(s->help));
        if (s->baseline) {
            const struct baseline_def *b = s->baseline;
            json_t *learn = json_array();
            for (size_t k = 0; k < b->n_learn_in; k++)
                append(&j, learn, json_string(r->states[b->learn_in[k]].name));
            put(&j, o, "baseline",
                json_pack("{s:o,s:f,s:s,s:I}", "learn_in", learn, "window_seconds", b->window,
                          "seasonality", baseline_season_name((enum baseline_season)b->season),
                          "min_samples", (json_int_t)b->min_samples));
        }
        append(&j, signals, o);
    }
    put(&j, root, "signals", signals);

    json_t *states = json_array();
    for (size_t i = 0; i < r->n_states; i++) {
        const struct state_def *s = &r->states[i];
        json_t *o = json_object();
        put(&j, o, "name", json_string(s->name));
        put(&j, o, "default", json_boolean(i == r->n_states - 1));
        put(&j, o, "when", json_string(s->when == WHEN_ALL ? "all" : "any"));
        json_t *conds = json_array();
        for (size_t c = 0; c < s->n_conditions; c++) {
            const struct condition *cd = &s->conditions[c];
            json_t *co = json_object();
            put(&j, co, "signal", json_string(r->signals[cd->signal].name));
            put(&j, co, "op", json_string(cond_op_text(cd->op)));
            put(&j, co, "threshold",
                isfinite(cd->threshold) ? json_real(cd->threshold) : json_null());
            put(&j, co, "threshold_file",
                isfinite(cd->threshold_file) ? json_real(cd->threshold_file) : json_null());
            put(&j, co, "text", json_string(cd->text));
            if (cd->baseline) {
                const struct baseline_ref *b = &r->baseline_refs[cd->base_ref];
                put(&j, co, "baseline",
                    json_pack("{s:s,s:f,s:f,s:o}", "signal", r->signals[b->signal].name, "q", b->q,
                              "factor", cd->factor, "fallback",
                              cd->has_fallback ? json_real(cd->fallback) : json_null()));
            }
            append(&j, conds, co);
        }
        put(&j, o, "conditions", conds);
        put(&j, o, "for_seconds", seconds(s->for_usec));
        put(&j, o, "keep_for_seconds", seconds(s->keep_for_usec));
        put(&j, o, "severity", str_or_null(s->severity));
        put(&j, o, "description", str_or_null(s->description));
        put(&j, o, "recommendation", str_or_null(s->recommendation));
        append(&j, states, o);
    }
    put(&j, root, "states", states);
    put(&j, root, "on_missing_data",
        json_string(r->on_missing_data == MISSING_UNKNOWN ? "unknown" : "hold"));

    json_t *decisions = json_array();
    for (size_t i = 0; i < r->n_decisions; i++) {
        const struct decision_def *d = &r->decisions[i];
        json_t *o = json_object();
        put(&j, o, "state", json_string(r->states[d->state].name));
        put(&j, o, "min_confidence", json_real(d->min_confidence));
        put(&j, o, "cooldown_seconds", seconds(d->cooldown_usec));
        put(&j, o, "revert_on_exit", json_boolean(d->revert_on_exit));
        put(&j, o, "revert_delay_seconds", seconds(d->revert_delay_usec));
        put(&j, o, "verify_after_seconds", seconds(d->verify_after_usec));
        put(&j, o, "verify_window_seconds", seconds(d->verify_window_usec));
        put(&j, o, "on_no_effect",
            json_string(d->stop_on_no_effect       ? "stop"
                        : d->escalate_on_no_effect ? "escalate"
                                                   : "repeat"));
        if (d->escalate_on_no_effect)
            put(&j, o, "escalate_to", json_string(r->states[d->escalate_to].name));
        put(&j, o, "dry_run", json_boolean(d->dry_run));
        put(&j, o, "actions", actions_json(&j, d->actions, d->n_actions));
        append(&j, decisions, o);
    }
    put(&j, root, "decisions", decisions);

    json_t *manual = json_array();
    for (size_t i = 0; i < r->n_manual_actions; i++) {
        const struct manual_action_def *m = &r->manual_actions[i];
        json_t *o = json_object();
        put(&j, o, "name", json_string(m->name));
        put(&j, o, "description", str_or_null(m->description));
        json_t *params = json_array();
        for (size_t k = 0; k < m->n_params; k++) {
            const struct param_def *pd = &m->params[k];
            json_t *po = json_object();
            put(&j, po, "name", json_string(pd->name));
            put(&j, po, "type", json_string(rules_param_type_name(pd->type)));
            put(&j, po, "required", json_boolean(pd->required));
            put(&j, po, "default", pd->def ? json_incref(pd->def) : json_null());
            put(&j, po, "min", pd->has_min ? json_real(pd->min) : json_null());
            put(&j, po, "max", pd->has_max ? json_real(pd->max) : json_null());
            json_t *ch = json_null();
            if (pd->choices) {
                ch = json_array();
                for (char **c = pd->choices; *c; c++)
                    append(&j, ch, json_string(*c));
            }
            put(&j, po, "choices", ch);
            put(&j, po, "description", str_or_null(pd->description));
            append(&j, params, po);
        }
        put(&j, o, "params", params);
        put(&j, o, "actions", actions_json(&j, m->actions, m->n_actions));
        append(&j, manual, o);
    }
    put(&j, root, "manual_actions", manual);

    json_t *regulators = json_array();
    for (size_t i = 0; i < r->n_regulators; i++) {
        const struct regulator_def *d = &r->regulators[i];
        json_t *o = json_object();
        put(&j, o, "name", json_string(d->name));
        put(&j, o, "signal", json_string(r->signals[d->signal].name));
        put(&j, o, "setpoint", json_real(d->setpoint));
        json_t *out = json_object();
        put(&j, out, "name", json_string(d->output_name ? d->output_name : d->name));
        put(&j, out, "min", json_real(d->out_min));
        put(&j, out, "max", json_real(d->out_max));
        put(&j, out, "start", json_real(d->out_start));
        put(&j, out, "integer", json_boolean(d->integer));
        put(&j, out, "resolution", json_real(d->resolution));
        put(&j, o, "output", out);
        put(&j, o, "increases_signal", json_boolean(d->increases_signal));
        put(&j, o, "law", json_string(regulator_law_name(d->law)));
        put(&j, o, "tolerance", json_real(d->tolerance));
        put(&j, o, "max_step", json_pack("{s:f,s:f}", "up", d->max_up, "down", d->max_down));
        put(&j, o, "settle_seconds", json_real(d->settle));
        put(&j, o, "verify_after_seconds", seconds(d->verify_after_usec));
        put(&j, o, "verify_window_seconds", seconds(d->verify_window_usec));
        put(&j, o, "stabilization_seconds",
            json_pack("{s:f,s:f}", "up", d->stab_up, "down", d->stab_down));
        json_t *behavior = json_object();
        for (int up = 1; up >= 0; up--) {
            const struct regulator_behavior *b = up ? &d->behavior_up : &d->behavior_down;
            json_t *pols = json_array();
            for (size_t k = 0; k < b->n_policies; k++)
                append(&j, pols,
                       json_pack("{s:s,s:f,s:f}", "type",
                                 b->policies[k].kind == POLICY_PERCENT ? "percent" : "units",
                                 "value", b->policies[k].value, "period_seconds",
                                 b->policies[k].period));
            put(&j, behavior, up ? "up" : "down",
                json_pack("{s:s,s:o}", "select", regulator_select_name(b->select), "policies",
                          pols));
        }
        put(&j, o, "behavior", behavior);
        if (d->law == LAW_AIMD)
            put(&j, o, "aimd",
                json_pack("{s:f,s:f}", "increase", d->aimd_increase, "decrease", d->aimd_decrease));
        if (d->law == LAW_GRADIENT)
            put(&j, o, "gradient",
                json_pack("{s:f,s:f,s:f}", "slope", d->gradient_slope, "min", d->gradient_min,
                          "max", d->gradient_max));
        json_t *active = json_null();
        if (d->n_active_in) {
            active = json_array();
            for (size_t k = 0; k < d->n_active_in; k++)
                append(&j, active, json_string(r->states[d->active_in[k]].name));
        }
        put(&j, o, "active_in", active);
        put(&j, o, "dry_run", json_boolean(d->dry_run));
        put(&j, o, "actions", actions_json(&j, d->actions, d->n_actions));
        append(&j, regulators, o);
    }
    put(&j, root, "regulators", regulators);
    put(&j, root, "max_actions_per_hour", json_integer(r->max_actions_per_hour));
    put(&j, root, "max_regulator_changes_per_hour",
        json_integer(r->max_regulator_changes_per_hour));
    put(&j, root, "max_actions_per_hour_per_target",
        json_integer(r->max_actions_per_hour_per_target));
    json_t *acting = json_null();
    if (r->max_targets_acting.count)
        acting = json_pack("{s:I}", "count", (json_int_t)r->max_targets_acting.count);
    else if (r->max_targets_acting.share > 0)
        acting = json_pack("{s:f}", "share", r->max_targets_acting.share);
    put(&j, root, "max_targets_acting", acting);
    json_t *targets = json_null();
    if (r->targets.by) {
        targets = json_object();
        json_t *by = json_array();
        for (size_t i = 0; i < r->targets.n_by; i++)
            append(&j, by, json_string(r->targets.by[i]));
        put(&j, targets, "by", by);
        put(&j, targets, "max", json_integer(r->targets.max));
        put(&j, targets, "forget_after_seconds", seconds(r->targets.forget_after_usec));
    }
    put(&j, root, "targets", targets);
    json_t *alerting = json_object();
    json_t *ams = json_array();
    for (size_t i = 0; i < r->n_alertmanagers; i++)
        append(&j, ams, json_string(r->alertmanagers[i]));
    put(&j, alerting, "alertmanagers", ams);
    put(&j, alerting, "resend_interval_seconds", seconds(r->alert_resend_usec));
    put(&j, alerting, "external_url", str_or_null(r->external_url));
    put(&j, root, "alerting", alerting);
    put(&j, root, "report", report_json(&j, r->report));

    if (j.failed) {
        json_decref(root);
        return NULL;
    }
    return root;
}
