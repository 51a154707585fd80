/* overrides: the runtime overrides of the API (PUT and DELETE /api/v1/overrides):
 * thresholds and the evaluation interval moved without editing the rules, audited,
 * saved in the state file and applied again after a reload (see controller.h). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"
#include "parse.h"

/* ---- overrides ---- */

/* The condition of state st that an override names: by signal, and op when the state
 * has several conditions on it. Index, or -1 with msg. */
static int find_condition(const struct rules *r, const struct state_def *st, const char *signal,
                          const char *op, char *msg, size_t msg_size)
{
    int found = -1, n = 0;
    for (size_t k = 0; k < st->n_conditions; k++) {
        const struct condition *cd = &st->conditions[k];
        if (strcmp(r->signals[cd->signal].name, signal) != 0)
            continue;
        if (op && strcmp(cond_op_text(cd->op), op) != 0)
            continue;
        found = (int)k;
        n++;
    }
    if (n == 0)
        snprintf(msg, msg_size, "state '%s' has no condition on signal '%.64s'%s%s", st->name,
                 signal, op ? " with operator " : "", op ? op : "");
    else if (n > 1)
        snprintf(msg, msg_size,
                 "state '%s' has %d conditions on signal '%.64s': add \"op\" to say which",
                 st->name, n, signal);
    return n == 1 ? found : -1;
}

void overrides_reapply(struct controller *c)
{
    struct rules *r = c->rules;
    for (size_t i = 0; i < r->n_states; i++)
        for (size_t k = 0; k < r->states[i].n_conditions; k++)
            r->states[i].conditions[k].threshold = r->states[i].conditions[k].threshold_file;
    json_t *list = json_object_get(c->st.overrides, "thresholds");
    size_t applied = 0;
    for (size_t i = json_array_size(list); i-- > 0;) {
        json_t *o = json_array_get(list, i);
        const char *state = json_string_value(json_object_get(o, "state"));
        const char *signal = json_string_value(json_object_get(o, "signal"));
        const char *op = json_string_value(json_object_get(o, "op"));
        int si = state ? rules_state_index(r, state) : -1;
        char msg[256];
        int k = si >= 0 && signal ? find_condition(r, &r->states[si], signal, op, msg, sizeof(msg))
                                  : -1;
        if (k >= 0 && r->states[si].conditions[k].baseline)
            k = -1; /* the condition now takes a baseline: nothing to override */
        if (k < 0) {
            log_warning("override of %s/%s no longer matches the rules; dropped",
                        state ? state : "?", signal ? signal : "?");
            json_array_remove(list, i);
            continue;
        }
        r->states[si].conditions[k].threshold = json_number_value(json_object_get(o, "threshold"));
        applied++;
    }
    metric_set(c->m.overrides,
               (double)applied +
                   (json_object_get(c->st.overrides, "evaluation_interval_seconds") ? 1 : 0));
}

uint64_t overrides_interval_usec(struct controller *c)
{
    json_t *v = json_object_get(c->st.overrides, "evaluation_interval_seconds");
    if (json_is_number(v) && json_number_value(v) > 0)
        return (uint64_t)(json_number_value(v) * 1e6);
    return c->rules->evaluation_interval_usec;
}

int overrides_put(struct controller *c, const json_t *req, const struct api_actor *who, char *msg,
                  size_t msg_size)
{
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)req, key, v)
    {
        if (strcmp(key, "thresholds") != 0 && strcmp(key, "evaluation_interval") != 0) {
            snprintf(msg, msg_size, "unknown key '%.64s' (thresholds, evaluation_interval)", key);
            return -EINVAL;
        }
    }
    json_t *next = json_deep_copy(c->st.overrides);
    json_t *list = json_object_get(next, "thresholds");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(next, "thresholds", list);
    }
    json_t *given = json_object_get(req, "thresholds");
    if (given && !json_is_array(given)) {
        snprintf(msg, msg_size, "thresholds: expected an array of {state, signal, threshold}");
        json_decref(next);
        return -EINVAL;
    }
    double now = now_realtime();
    for (size_t i = 0; i < json_array_size(given); i++) {
        json_t *o = json_array_get(given, i);
        const char *state = json_string_value(json_object_get(o, "state"));
        const char *signal = json_string_value(json_object_get(o, "signal"));
        const char *op = json_string_value(json_object_get(o, "op"));
        json_t *th = json_object_get(o, "threshold");
        if (!json_is_object(o) || !state || !signal || !json_is_number(th) ||
            !isfinite(json_number_value(th))) {
            snprintf(msg, msg_size,
                     "thresholds[%zu]: expected {\"state\": ..., \"signal\": ..., \"threshold\": "
                     "NUMBER} (and \"op\" when needed)",
                     i);
            json_decref(next);
            return -EINVAL;
        }
        int si = rules_state_index(c->rules, state);
        if (si < 0) {
            snprintf(msg, msg_size, "thresholds[%zu]: no state '%.64s' in the rules", i, state);
            json_decref(next);
            return -EINVAL;
        }
        char why[256];
        int k = find_condition(c->rules, &c->rules->states[si], signal, op, why, sizeof(why));
        if (k < 0) {
            snprintf(msg, msg_size, "thresholds[%zu]: %s", i, why);
            json_decref(next);
            return -EINVAL;
        }
        const struct condition *cd = &c->rules->states[si].conditions[k];
        if (cd->baseline) {
            snprintf(msg, msg_size,
                     "thresholds[%zu]: '%.80s' takes its threshold from a baseline: edit the "
                     "rules to change it",
                     i, cd->text);
            json_decref(next);
            return -EINVAL;
        }
        json_t *entry = json_object();
        json_object_set_new(entry, "state", json_string(state));
        json_object_set_new(entry, "signal", json_string(signal));
        json_object_set_new(entry, "op", json_string(cond_op_text(cd->op)));
        json_object_set_new(entry, "threshold", json_real(json_number_value(th)));
        json_object_set_new(entry, "threshold_file", json_real(cd->threshold_file));
        json_object_set_new(entry, "set_at", json_time(now));
        json_object_set_new(entry, "by", json_string(who->text));
        for (size_t j = json_array_size(list); j-- > 0;) {
            json_t *old = json_array_get(list, j);
            if (strcmp(json_string_value(json_object_get(old, "state")), state) == 0 &&
                strcmp(json_string_value(json_object_get(old, "signal")), signal) == 0 &&
                strcmp(json_string_value(json_object_get(old, "op")), cond_op_text(cd->op)) == 0)
                json_array_remove(list, j);
        }
        json_array_append_new(list, entry);
    }
    json_t *iv = json_object_get(req, "evaluation_interval");
    if (iv) {
        uint64_t usec = 0;
        if (!json_is_string(iv) || parse_duration_usec(json_string_value(iv), &usec) < 0 ||
            usec < 100000 || usec > 3600ull * 1000000) {
            snprintf(msg, msg_size,
                     "evaluation_interval: expected a duration from 100ms to 1h, such as \"10s\"");
            json_decref(next);
            return -EINVAL;
        }
        json_object_set_new(next, "evaluation_interval_seconds", json_real((double)usec / 1e6));
    }
    json_t *rec = json_object();
    json_object_set_new(rec, "request", json_deep_copy(req));
    json_object_set_new(rec, "overrides", json_incref(next));
    if (controller_audit_operator(c, "override", who, rec) < 0) {
        json_decref(next);
        return -EIO;
    }
    json_decref(c->st.overrides);
    c->st.overrides = next;
    overrides_reapply(c);
    controller_save_state(c);
    log_warning("overrides set by %s", who->text);
    return 0;
}

int overrides_clear(struct controller *c, const struct api_actor *who)
{
    json_t *rec = json_object();
    json_object_set_new(rec, "overrides", json_incref(c->st.overrides));
    if (controller_audit_operator(c, "overrides_cleared", who, rec) < 0)
        return -EIO;
    json_decref(c->st.overrides);
    c->st.overrides = json_object();
    overrides_reapply(c);
    controller_save_state(c);
    log_warning("overrides cleared by %s", who->text);
    return 0;
}
