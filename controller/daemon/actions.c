/* actions: the daemon's side of running actions (see controller.h): a decision's actions
 * with an audit record after each, the actions in effect and their revert once their
 * state has been left for revert_delay, re-sent alerts, the hourly action budget, manual
 * actions, and the kubectl server-side check (the overrides are overrides.c).
 *
 * An action in effect is a JSON object in st.effects, saved in the state file:
 *   key (decision id/index), id, state, kind, summary, params (expanded: the revert needs
 *   them; never shown unredacted), undo, applied_at, leaving_since (0 while its state or a
 *   worse one is current), revert_delay_seconds, last_sent (alerts), failures; and for a
 *   target's action, target (its key) and labels.
 * Only actions with something to do later are kept: those of a revert_on_exit decision
 * that returned an undo, and every alert (resolved when its state is left). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"
#include "parse.h"

#define REVERT_MAX_FAILURES 3
#define HOUR_SECONDS 3600.0

void actions_mark(struct controller *c, int kind, const json_t *params)
{
    uint64_t until = 0;
    if (kind >= 0) {
        const struct actuator *a = actuator_for((enum action_kind)kind);
        uint64_t t = actuator_timeout(params, a->default_timeout_usec);
        const json_t *r = json_object_get(params, "retries");
        uint64_t n =
            (json_is_integer(r) ? (uint64_t)json_integer_value(r) : a->default_retries) + 1;
        /* every attempt, the kill grace and the longest backoff */
        until = now_usec() + n * (t + 63ull * 1000000);
    }
    __atomic_store_n(&c->acting_until_usec, until, __ATOMIC_RELAXED);
}

static const char *status_name(enum act_status s)
{
    return s == ACT_OK ? "ok" : "failed";
}

static void count_action(struct controller *c, enum action_kind kind, const char *trigger,
                         const char *result)
{
    struct metric *m = registry_series(
        c->m.actions, (const char *const[]){action_kind_name(kind), trigger, result, NULL});
    if (m)
        metric_add(m, 1);
}

/* An audit record of one action's result (lock held). Also the status' last_action. */
static void record_result(struct controller *c, const char *type, const char *id, size_t index,
                          enum action_kind kind, const char *summary, const char *trigger,
                          const struct action_result *ar, double seconds, double now,
                          const json_t *labels)
{
    json_t *rec = controller_record(type, id, now);
    if (labels) /* a target's: every record of it carries its labels */
        json_object_set_new(rec, "target", json_deep_copy(labels));
    json_object_set_new(rec, "index", json_integer((json_int_t)index));
    json_object_set_new(rec, "trigger", json_string(trigger));
    json_object_set_new(rec, "kind", json_string(action_kind_name(kind)));
    json_object_set_new(rec, "summary", json_string(summary));
    json_object_set_new(rec, "result", json_string(status_name(ar->status)));
    if (ar->status != ACT_OK)
        json_object_set_new(rec, "error", json_string(ar->error));
    json_object_set_new(rec, "attempts", json_integer(ar->attempts));
    json_object_set_new(rec, "duration_seconds", json_real(seconds));
    json_object_set_new(rec, "detail", rules_json_redacted(ar->detail));
    int r = audit_append(c->audit, rec);
    if (r < 0) {
        metric_add(c->m.audit_errors, 1);
        log_error_errno(r, "audit: cannot record the result of %s %s in %s", id, summary,
                        audit_path(c->audit));
    }
    json_decref(c->last_action);
    c->last_action = rec;
    metric_observe(c->m.action_duration, seconds);
    count_action(c, kind, trigger, status_name(ar->status));
}

void actions_record_result(struct controller *c, const char *id, size_t index,
                           enum action_kind kind, const char *summary, const char *trigger,
                           const struct action_result *ar, double seconds, double now,
                           const json_t *labels)
{
    record_result(c, "action_result", id, index, kind, summary, trigger, ar, seconds, now, labels);
}

static void ctx_for(struct controller *c, struct action_ctx *ctx, const char *id, const char *state,
                    const char *from, const char *severity, const char *reasoning,
                    double confidence, double now)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->decision_id = id;
    ctx->state = state;
    ctx->from = from;
    ctx->severity = severity;
    ctx->reasoning = reasoning;
    ctx->confidence = confidence;
    ctx->time = now;
    ctx->env = &c->env;
}

/* How many actions in effect are kept: EFFECTS_MAX, or with targets two per target that
 * targets.max allows, at most EFFECTS_MAX_TARGETS. */
static size_t effects_max(const struct controller *c)
{
    size_t per_targets = c->rules->targets.by ? 2 * (size_t)c->rules->targets.max : 0;
    if (per_targets > EFFECTS_MAX_TARGETS)
        per_targets = EFFECTS_MAX_TARGETS;
    return per_targets > EFFECTS_MAX ? per_targets : EFFECTS_MAX;
}

/* Adds an action in effect (lock held); the oldest is forgotten past effects_max(). */
static void add_effect(struct controller *c, json_t *e)
{
    size_t max = effects_max(c);
    while (json_array_size(c->st.effects) >= max) {
        json_t *old = json_array_get(c->st.effects, 0);
        log_warning("actions in effect: more than %zu; forgetting %s (it will not be reverted)",
                    max, json_string_value(json_object_get(old, "summary")));
        json_array_remove(c->st.effects, 0);
    }
    json_array_append_new(c->st.effects, e);
    metric_set(c->m.in_effect, (double)json_array_size(c->st.effects));
}

size_t actions_decision(struct controller *c, const struct decision_def *def, json_t *d,
                        const struct eval_result *res, const struct target *t, double now)
{
    size_t failed = 0;
    pthread_mutex_lock(&c->act_lock);
    pthread_mutex_lock(&c->lock);
    const struct rules *r = c->rules;
    char id[64], state[RULES_MAX_NAME + 8], from[RULES_MAX_NAME + 8], severity[72];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(d, "id")));
    snprintf(state, sizeof(state), "%s", eval_state_name(r, res->to));
    snprintf(from, sizeof(from), "%s", eval_state_name(r, res->from));
    const char *sev = res->to < r->n_states ? r->states[res->to].severity : NULL;
    snprintf(severity, sizeof(severity), "%s", sev ? sev : "");
    pthread_mutex_unlock(&c->lock);

    json_t *listed = json_object_get(d, "actions");
    for (size_t i = 0; i < def->n_actions; i++) {
        const struct action_def *a = &def->actions[i];
        struct action_ctx ctx;
        ctx_for(c, &ctx, id, state, from, severity[0] ? severity : NULL, res->reasoning,
                res->confidence, now);
        ctx.labels = t ? t->labels : NULL; /* only the main thread changes a target's labels */
        struct action_result ar;
        json_t *expanded = NULL;
        /* the records name the target's own values, not {{ $labels.NAME }} */
        char *shown = t ? actuator_with_labels(a->summary, t->labels) : NULL;
        const char *summary = shown ? shown : a->summary;
        uint64_t t0 = now_usec();
        char why[300];
        if (replicas_fence(c, why, sizeof(why)) < 0) {
            /* a replica that does not hold the lease now never acts (issue: fencing) */
            memset(&ar, 0, sizeof(ar));
            action_fail(&ar, ACT_FAIL, "not run: %s", why);
        } else {
            actions_mark(c, (int)a->kind, a->params);
            actuator_run(a, &ctx, &ar, &expanded);
            actions_mark(c, -1, NULL);
        }
        double secs = (double)(now_usec() - t0) / 1e6;
        double ended = now_realtime(); /* the record's time: the action's end */
        if (ar.status != ACT_OK) {
            failed++;
            log_error("decision %s: %s failed: %s", id, summary, ar.error);
        } else {
            log_info("decision %s: %s: ok", id, summary);
        }
        pthread_mutex_lock(&c->lock);
        json_array_append_new(c->st.action_times, json_real(now));
        if (t)
            json_array_append_new(t->action_times, json_real(now));
        bool keep =
            ar.status == ACT_OK && ar.undo && (def->revert_on_exit || a->kind == ACTION_ALERT);
        if (keep) {
            char key[96];
            snprintf(key, sizeof(key), "%s/%zu", id, i);
            json_t *e = json_object();
            json_object_set_new(e, "key", json_string(key));
            json_object_set_new(e, "id", json_string(id));
            json_object_set_new(e, "state", json_string(state));
            json_object_set_new(e, "kind", json_string(action_kind_name(a->kind)));
            json_object_set_new(e, "summary", json_string(summary));
            json_object_set_new(e, "params", json_incref(expanded));
            json_object_set_new(e, "undo", json_incref(ar.undo));
            json_object_set_new(e, "applied_at", json_real(now));
            json_object_set_new(e, "leaving_since", json_real(0));
            json_object_set_new(e, "revert_delay_seconds",
                                json_real(a->kind == ACTION_ALERT && !def->revert_on_exit
                                              ? 0
                                              : (double)def->revert_delay_usec / 1e6));
            json_object_set_new(e, "last_sent", json_real(now));
            json_object_set_new(e, "failures", json_integer(0));
            if (t) {
                json_object_set_new(e, "target", json_string(t->key));
                json_object_set_new(e, "labels", json_incref(t->labels));
            }
            add_effect(c, e);
        }
        pthread_mutex_unlock(&c->lock);
        /* With --ha.backend, what a next leader must revert goes to the backend first, before
         * the records' fsyncs: a leader that dies now leaves the least unknown. */
        replicas_share(c);
        pthread_mutex_lock(&c->lock);
        record_result(c, "action_result", id, i, a->kind, summary, "decision", &ar, secs, ended,
                      t ? t->labels : NULL);
        json_t *item = json_array_get(listed, i);
        if (item) {
            json_object_set_new(item, "result", json_string(status_name(ar.status)));
            if (ar.status != ACT_OK)
                json_object_set_new(item, "error", json_string(ar.error));
        }
        controller_save_state(c);
        pthread_mutex_unlock(&c->lock);
        json_decref(expanded);
        free(shown);
        action_result_clear(&ar);
    }
    pthread_mutex_unlock(&c->act_lock);
    return failed;
}

static int find_effect(json_t *effects, const char *key)
{
    for (size_t i = 0; i < json_array_size(effects); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(effects, i), "key")), key) == 0)
            return (int)i;
    return -1;
}

/* Whether the effect's state is still current or better off than the current one: a
 * mitigation stays while things are as bad or worse. */
static bool state_still_on(const struct rules *r, const char *state, size_t current)
{
    int idx = rules_state_index(r, state);
    if (idx < 0)
        return false; /* the rules no longer have it */
    return current != EVAL_STATE_UNKNOWN && current <= (size_t)idx;
}

/* Reverts one action in effect: an audit record before, one after (no lock held). */
static void revert_one(struct controller *c, json_t *e, double now)
{
    const char *key = json_string_value(json_object_get(e, "key"));
    const char *summary = json_string_value(json_object_get(e, "summary"));
    /* Saved by this program: an unknown kind (a newer state file) cannot be reverted. */
    int k = action_kind_parse(json_string_value(json_object_get(e, "kind")));
    enum action_kind kind = k < 0 ? ACTION_EXEC : (enum action_kind)k;
    pthread_mutex_lock(&c->lock);
    char id[48];
    controller_new_id(c, now, id, sizeof(id));
    json_t *rec = controller_record("revert", id, now);
    json_object_set_new(rec, "of", json_string(key));
    json_object_set_new(rec, "state", json_incref(json_object_get(e, "state")));
    json_object_set_new(rec, "kind", json_string(action_kind_name(kind)));
    json_object_set_new(rec, "summary", json_string(summary));
    json_object_set_new(rec, "undo", rules_json_redacted(json_object_get(e, "undo")));
    const char *tkey = json_string_value(json_object_get(e, "target"));
    struct target *t = tkey ? targets_find(c, tkey) : NULL;
    if (tkey)
        json_object_set_new(rec, "target", json_incref(json_object_get(e, "labels")));
    const char *why = tkey ? (t && t->have_eval ? t->last.reasoning : "the target is gone")
                           : (c->have_eval ? c->last.reasoning : "state left");
    json_object_set_new(rec, "reasoning", json_string(why));
    int ar_ = audit_append(c->audit, rec);
    json_decref(rec);
    if (ar_ < 0) {
        metric_add(c->m.audit_errors, 1);
        log_error_errno(ar_, "audit: cannot record the revert of %s in %s; not reverting", summary,
                        audit_path(c->audit));
        pthread_mutex_unlock(&c->lock);
        return;
    }
    char state[RULES_MAX_NAME + 8];
    snprintf(state, sizeof(state), "%s",
             tkey ? (t ? eval_state_name(c->rules, t->eval.current) : "forgotten")
                  : eval_state_name(c->rules, c->st.eval.current));
    pthread_mutex_unlock(&c->lock);

    struct action_ctx ctx;
    ctx_for(c, &ctx, id, state, json_string_value(json_object_get(e, "state")), NULL,
            "revert: the state was left", 1, now);
    ctx.labels = json_object_get(e, "labels");
    struct action_result ar;
    uint64_t t0 = now_usec();
    char fenced[300];
    if (replicas_fence(c, fenced, sizeof(fenced)) < 0) {
        memset(&ar, 0, sizeof(ar));
        action_fail(&ar, ACT_FAIL, "not run: %s", fenced);
    } else {
        actions_mark(c, (int)kind, json_object_get(e, "params"));
        actuator_revert(kind, json_object_get(e, "params"), json_object_get(e, "undo"), &ctx, &ar);
        actions_mark(c, -1, NULL);
    }
    double secs = (double)(now_usec() - t0) / 1e6;
    double ended = now_realtime(); /* the record's time: the action's end */
    if (ar.status == ACT_OK)
        log_info("reverted %s (%s)", summary, key);
    else
        log_error("revert of %s failed: %s", summary, ar.error);

    pthread_mutex_lock(&c->lock);
    int i = find_effect(c->st.effects, key);
    if (i >= 0) {
        json_t *cur = json_array_get(c->st.effects, (size_t)i);
        json_int_t failures = json_integer_value(json_object_get(cur, "failures")) + 1;
        if (ar.status == ACT_OK || failures >= REVERT_MAX_FAILURES) {
            if (ar.status != ACT_OK)
                log_error("revert of %s failed %d times; given up (undo it by hand)", summary,
                          REVERT_MAX_FAILURES);
            json_array_remove(c->st.effects, (size_t)i);
        } else {
            json_object_set_new(cur, "failures", json_integer(failures));
        }
    }
    metric_set(c->m.in_effect, (double)json_array_size(c->st.effects));
    pthread_mutex_unlock(&c->lock);
    /* With --ha.backend, that it is reverted goes to the backend first, before the records'
     * fsyncs: a leader that dies now leaves the least to revert again. */
    replicas_share(c);
    pthread_mutex_lock(&c->lock);
    record_result(c, "revert_result", id, 0, kind, summary, "revert", &ar, secs, ended,
                  json_object_get(e, "labels"));
    controller_save_state(c);
    pthread_mutex_unlock(&c->lock);
    action_result_clear(&ar);
}

static void resend_one(struct controller *c, json_t *e, double now)
{
    struct action_ctx ctx;
    ctx_for(c, &ctx, json_string_value(json_object_get(e, "id")),
            json_string_value(json_object_get(e, "state")), "", NULL, "", 1, now);
    struct action_result ar;
    memset(&ar, 0, sizeof(ar));
    char why[300];
    if (replicas_fence(c, why, sizeof(why)) < 0)
        return; /* not the leader's to send */
    actions_mark(c, ACTION_ALERT, json_object_get(e, "params"));
    actuator_alert_resend(json_object_get(e, "undo"), &ctx,
                          actuator_timeout(json_object_get(e, "params"), 5000000), &ar);
    actions_mark(c, -1, NULL);
    if (ar.status != ACT_OK)
        log_warning("alert re-send failed: %s", ar.error);
    pthread_mutex_lock(&c->lock);
    int i = find_effect(c->st.effects, json_string_value(json_object_get(e, "key")));
    if (i >= 0 && ar.status == ACT_OK)
        json_object_set_new(json_array_get(c->st.effects, (size_t)i), "last_sent", json_real(now));
    count_action(c, ACTION_ALERT, "resend", status_name(ar.status));
    pthread_mutex_unlock(&c->lock);
    action_result_clear(&ar);
}

size_t actions_target_effects(struct controller *c, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(c->st.effects); i++) {
        const char *k =
            json_string_value(json_object_get(json_array_get(c->st.effects, i), "target"));
        n += k && strcmp(k, key) == 0;
    }
    return n;
}

void actions_effects(struct controller *c, const struct eval_result *res, double now)
{
    if (!replicas_may_act(c))
        return; /* a standby reverts nothing: the leader does */
    pthread_mutex_lock(&c->act_lock);
    pthread_mutex_lock(&c->lock);
    double resend = (double)c->env.alert_resend_usec / 1e6;
    /* Decide under the lock, act without it, newest first (the last applied is undone
     * first, so stacked changes unwind in order). */
    json_t *revert = json_array(), *again = json_array();
    for (size_t k = json_array_size(c->st.effects); k-- > 0;) {
        json_t *e = json_array_get(c->st.effects, k);
        const char *state = json_string_value(json_object_get(e, "state"));
        const char *tkey = json_string_value(json_object_get(e, "target"));
        bool alert = strcmp(json_string_value(json_object_get(e, "kind")), "alert") == 0;
        /* Whose machine the action belongs to: the controller's, or its target's. */
        bool paused = c->st.paused, uncertain = res ? res->uncertain : true;
        size_t current = c->st.eval.current;
        bool forgotten = false;
        if (tkey) {
            struct target *t = targets_find(c, tkey);
            forgotten = !t || t->forgetting;
            paused = paused || (t && t->paused);
            uncertain = t && !forgotten && (!t->have_eval || t->last.uncertain);
            current = t && !forgotten ? t->eval.current : EVAL_STATE_UNKNOWN;
        } else if (!res) {
            continue; /* a rules file with targets: the controller's own are not evaluated */
        }
        if (forgotten && !paused && !c->cli.dry_run) {
            json_array_append(revert, e); /* forgotten: reverted now, whatever the delay */
        } else if (!uncertain && (forgotten || !state_still_on(c->rules, state, current))) {
            double since = json_number_value(json_object_get(e, "leaving_since"));
            if (since == 0) {
                since = now;
                json_object_set_new(e, "leaving_since", json_real(now));
            }
            double delay = json_number_value(json_object_get(e, "revert_delay_seconds"));
            /* --dry-run acts on nothing, reverts included (effects restored from an
             * earlier run's state file wait for a run that may act). */
            if (!paused && !c->cli.dry_run && now - since >= delay)
                json_array_append(revert, e);
        } else {
            if (!uncertain)
                json_object_set_new(e, "leaving_since", json_real(0));
            if (alert && now - json_number_value(json_object_get(e, "last_sent")) >= resend)
                json_array_append(again, e);
        }
    }
    pthread_mutex_unlock(&c->lock);
    for (size_t k = 0; k < json_array_size(revert); k++)
        revert_one(c, json_array_get(revert, k), now);
    for (size_t k = 0; k < json_array_size(again); k++)
        resend_one(c, json_array_get(again, k), now);
    json_decref(revert);
    json_decref(again);
    pthread_mutex_unlock(&c->act_lock);
}

/* Drops the times of actions older than an hour. */
static void expire_times(json_t *t, double now)
{
    for (size_t i = json_array_size(t); i-- > 0;)
        if (now - json_number_value(json_array_get(t, i)) >= HOUR_SECONDS)
            json_array_remove(t, i);
}

unsigned actions_target_own_left(struct controller *c, struct target *t, double now)
{
    unsigned max = c->rules->max_actions_per_hour_per_target;
    if (max == 0)
        return UINT_MAX;
    expire_times(t->action_times, now);
    size_t used = json_array_size(t->action_times);
    return max > used ? max - (unsigned)used : 0;
}

unsigned actions_target_budget_left(struct controller *c, struct target *t, double now,
                                    bool *ret_limited)
{
    unsigned left = actions_budget_left(c, now, ret_limited);
    if (c->rules->max_actions_per_hour_per_target == 0)
        return left;
    unsigned own = actions_target_own_left(c, t, now);
    if (!*ret_limited || own < left)
        left = own;
    *ret_limited = true;
    return left;
}

unsigned actions_budget_left(struct controller *c, double now, bool *ret_limited)
{
    json_t *t = c->st.action_times;
    expire_times(t, now);
    unsigned max = c->rules->max_actions_per_hour;
    *ret_limited = max > 0;
    size_t used = json_array_size(t);
    unsigned left = max > used ? max - (unsigned)used : 0;
    metric_set(c->m.budget_left, *ret_limited ? (double)left : -1.0);
    return left;
}

int actions_manual(struct controller *c, const struct manual_action_def *m, json_t *args,
                   const struct api_actor *who, json_t **ret_result)
{
    double now = now_realtime();
    char id[48], state[RULES_MAX_NAME + 8], reasoning[256];
    pthread_mutex_lock(&c->lock);
    controller_new_id(c, now, id, sizeof(id));
    snprintf(state, sizeof(state), "%s", eval_state_name(c->rules, c->st.eval.current));
    json_t *rec = controller_record("manual_action", id, now);
    json_object_set_new(rec, "name", json_string(m->name));
    json_object_set_new(rec, "by", json_string(who->text));
    json_object_set_new(rec, "actor", controller_actor_json(who));
    json_object_set_new(rec, "args", rules_json_redacted(args));
    json_object_set_new(rec, "state", json_string(state));
    json_t *listed = json_array();
    for (size_t i = 0; i < m->n_actions; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(action_kind_name(m->actions[i].kind)));
        json_object_set_new(o, "summary", json_string(m->actions[i].summary));
        json_object_set_new(o, "params", rules_action_params_redacted(&m->actions[i]));
        json_array_append_new(listed, o);
    }
    json_object_set_new(rec, "actions", listed);
    int r = audit_append(c->audit, rec);
    json_decref(rec);
    if (r < 0) {
        metric_add(c->m.audit_errors, 1);
        log_error_errno(r, "audit: cannot record manual action %s by %s in %s; not running it",
                        m->name, who->text, audit_path(c->audit));
        pthread_mutex_unlock(&c->lock);
        return -EIO;
    }
    pthread_mutex_unlock(&c->lock);
    log_warning("manual action %s (%s) started by %s", m->name, id, who->text);
    snprintf(reasoning, sizeof(reasoning), "manual action %s started by %.200s", m->name,
             who->text);

    json_t *out = json_object();
    json_t *results = json_array();
    bool ok = true;
    for (size_t i = 0; i < m->n_actions; i++) {
        struct action_ctx ctx;
        ctx_for(c, &ctx, id, state, state, NULL, reasoning, 1, now);
        ctx.args = args;
        struct action_result ar;
        uint64_t t0 = now_usec();
        char why[300];
        if (replicas_fence(c, why, sizeof(why)) < 0) {
            memset(&ar, 0, sizeof(ar));
            action_fail(&ar, ACT_FAIL, "not run: %s", why);
        } else {
            actions_mark(c, (int)m->actions[i].kind, m->actions[i].params);
            actuator_run(&m->actions[i], &ctx, &ar, NULL);
            actions_mark(c, -1, NULL);
        }
        double secs = (double)(now_usec() - t0) / 1e6;
        double ended = now_realtime(); /* the record's time: the action's end */
        ok &= ar.status == ACT_OK;
        json_t *o = json_object();
        json_object_set_new(o, "kind", json_string(action_kind_name(m->actions[i].kind)));
        json_object_set_new(o, "summary", json_string(m->actions[i].summary));
        json_object_set_new(o, "result", json_string(status_name(ar.status)));
        if (ar.status != ACT_OK)
            json_object_set_new(o, "error", json_string(ar.error));
        json_object_set_new(o, "attempts", json_integer(ar.attempts));
        json_object_set_new(o, "detail", rules_json_redacted(ar.detail));
        json_array_append_new(results, o);
        pthread_mutex_lock(&c->lock);
        record_result(c, "action_result", id, i, m->actions[i].kind, m->actions[i].summary,
                      "manual", &ar, secs, ended, NULL);
        pthread_mutex_unlock(&c->lock);
        action_result_clear(&ar);
    }
    json_object_set_new(out, "id", json_string(id));
    json_object_set_new(out, "name", json_string(m->name));
    json_object_set_new(out, "args", rules_json_redacted(args));
    json_object_set_new(out, "ok", json_boolean(ok));
    json_object_set_new(out, "actions", results);
    *ret_result = out;
    return 0;
}

json_t *actions_effects_json(struct controller *c)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < json_array_size(c->st.effects); i++) {
        json_t *e = json_array_get(c->st.effects, i);
        json_t *o = json_object();
        static const char *const shown[] = {
            "key",      "id",     "state",  "kind", "summary", "revert_delay_seconds",
            "failures", "target", "labels", NULL};
        for (const char *const *k = shown; *k; k++) {
            json_t *v = json_object_get(e, *k);
            if (v)
                json_object_set(o, *k, v);
        }
        json_object_set_new(o, "applied_at",
                            json_time(json_number_value(json_object_get(e, "applied_at"))));
        double since = json_number_value(json_object_get(e, "leaving_since"));
        json_object_set_new(o, "state_left_at", json_time(since));
        json_object_set_new(o, "params", rules_json_redacted(json_object_get(e, "params")));
        json_object_set_new(o, "undo", rules_json_redacted(json_object_get(e, "undo")));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* ---- kubectl check ---- */

static void check_actions(struct controller *c, const struct rules *r, const char *what,
                          const struct action_def *a, size_t n, struct buf *errors, int *ret)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i].kind != ACTION_KUBECTL)
            continue;
        struct action_ctx ctx;
        ctx_for(c, &ctx, "server-dry-run", "check", "check", NULL, "server-side dry run", 1,
                now_realtime());
        ctx.server_dry_run = true;
        struct action_result ar;
        actuator_run(&a[i], &ctx, &ar, NULL);
        if (ar.status != ACT_OK) {
            buf_printf(errors, "%s: %s action %zu (%s): server-side dry run failed: %s\n",
                       r->path ? r->path : "rules", what, i + 1, a[i].summary, ar.error);
            *ret = -EINVAL;
        } else {
            log_info("kubectl check: %s: %s: accepted by the server (dry run)", what, a[i].summary);
        }
        action_result_clear(&ar);
    }
}

int actions_check_kubectl(struct controller *c, const struct rules *r, struct buf *errors)
{
    int ret = 0;
    char what[RULES_MAX_NAME + 32];
    /* A target's actions need its labels: they are checked per target when they run. */
    for (size_t i = 0; !r->targets.by && i < r->n_decisions; i++) {
        snprintf(what, sizeof(what), "decision '%s'", r->states[r->decisions[i].state].name);
        check_actions(c, r, what, r->decisions[i].actions, r->decisions[i].n_actions, errors, &ret);
    }
    /* Manual actions need their parameters: only those without any are checked. */
    for (size_t i = 0; i < r->n_manual_actions; i++) {
        if (r->manual_actions[i].n_params)
            continue;
        snprintf(what, sizeof(what), "manual action '%s'", r->manual_actions[i].name);
        check_actions(c, r, what, r->manual_actions[i].actions, r->manual_actions[i].n_actions,
                      errors, &ret);
    }
    return ret;
}
