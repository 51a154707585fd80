/* api: the controller's HTTP API (docs/API.md): health, metrics, status, signals,
 * decisions, rules, regulators, baselines, evaluate and reload, and the operator
 * endpoints: pause and resume, manual actions, runtime overrides, the Alertmanager
 * webhook receiver and the alerts it fed. Mutating endpoints need a bearer token of the
 * role they name (receiver, operator, admin: credentials.h, docs/SECURITY.md). GET /
 * serves the status page (status.html, embedded at build time). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "baselines_api.h"
#include "controller.h"
#include "daemon.h"
#include "expo.h"
#include "hmac.h"
#include "log.h"
#include "parse.h"
#include "report.h"
#include "report_source.h"

json_t *signals_json(const struct controller *c, double now)
{
    return controller_signals_json(c, c->have_eval ? c->values : NULL, now);
}

json_t *status_json(struct controller *c, double now)
{
    json_t *o = json_object();
    const struct rules *r = c->rules;
    json_object_set_new(o, "state", json_string(eval_state_name(r, c->st.eval.current)));
    json_object_set_new(o, "confidence", json_real(c->have_eval ? c->last.confidence : 0));
    json_object_set_new(o, "since", json_time(c->st.eval.since));
    json_object_set_new(o, "paused", json_boolean(c->st.paused));
    json_object_set_new(o, "dry_run", json_boolean(c->cli.dry_run));
    if (c->ha)
        json_object_set_new(o, "ha", replicas_status_json(c));
    json_object_set_new(o, "uncertain", json_boolean(c->have_eval && c->last.uncertain));
    json_object_set_new(o, "reasoning", json_string(c->have_eval ? c->last.reasoning : ""));
    json_object_set_new(o, "last_evaluation", json_time(c->last_eval_time));
    json_object_set_new(o, "evaluations", json_integer((json_int_t)c->eval_count));
    json_object_set_new(o, "evaluation_interval_seconds",
                        json_real((double)overrides_interval_usec(c) / 1e6));
    json_object_set_new(o, "rules_file", json_string(r->path ? r->path : ""));
    json_object_set_new(o, "last_decision",
                        c->last_decision ? json_incref(c->last_decision) : json_null());
    json_object_set_new(o, "signals", signals_json(c, now));
    json_object_set_new(o, "actions_in_effect", actions_effects_json(c));
    json_object_set_new(o, "last_action",
                        c->last_action ? json_incref(c->last_action) : json_null());
    json_object_set_new(o, "overrides", json_deep_copy(c->st.overrides));
    bool limited;
    unsigned left = actions_budget_left(c, now, &limited);
    json_t *budget = json_object();
    json_object_set_new(budget, "max_actions_per_hour", json_integer(r->max_actions_per_hour));
    json_object_set_new(budget, "used_last_hour",
                        json_integer((json_int_t)json_array_size(c->st.action_times)));
    json_object_set_new(budget, "left", limited ? json_integer(left) : json_null());
    json_object_set_new(o, "budget", budget);
    json_object_set_new(o, "alerts_firing",
                        json_integer((json_int_t)amreceiver_count(c->alerts, now)));
    if (r->targets.by)
        json_object_set_new(o, "targets", targets_summary_json(c));
    /* with targets, each target's are in its detail and GET /api/v1/regulators */
    if (r->n_regulators && !r->targets.by)
        json_object_set_new(o, "regulators", regulators_json(c));
    /* with targets, how many are ready per signal; each target's in GET /api/v1/baselines */
    if (baselines_any(r)) {
        json_t *b = baselines_json(c, now, false);
        json_object_set_new(o, "baselines", b ? b : json_null());
    }
    return o;
}

static void count_denied(struct controller *c, const char *reason, enum api_role need)
{
    struct metric *m =
        registry_series(c->m.api_denied, (const char *const[]){reason, api_role_name(need), NULL});
    if (m)
        metric_add(m, 1);
}

/* Whether the request carries a token of a role that may call an endpoint needing `need`
 * (docs/SECURITY.md); fills who. Otherwise answers 403 (no token configured at all, or a
 * valid token of another role: the answer names the role needed) or 401, counted. */
static bool authorized(struct controller *c, const struct httpd_request *req, enum api_role need,
                       struct api_actor *who, struct httpd_response *resp)
{
    memset(who, 0, sizeof(*who));
    who->role = API_ROLE_NONE;
    httpd_client_address(req, who->address, sizeof(who->address));
    if (req->user)
        snprintf(who->user, sizeof(who->user), "%s", req->user);
    /* "Authorization: Bearer TOKEN", or "X-Homeostat-Token: TOKEN" where Authorization
     * carries basic auth (basic_auth_users of --web.config.file; see docs/SECURITY.md). */
    const char *h = httpd_header(req, "Authorization");
    const char *given = h && strncmp(h, "Bearer ", 7) == 0 ? h + 7 : NULL;
    if (!given)
        given = httpd_header(req, "X-Homeostat-Token");
    pthread_mutex_lock(&c->lock);
    bool any = credentials_count(c->creds) > 0;
    enum api_role role =
        any && given ? credentials_lookup(c->creds, given, who->credential) : API_ROLE_NONE;
    pthread_mutex_unlock(&c->lock);
    if (!any) {
        count_denied(c, "unauthenticated", need);
        httpd_reply_error(resp, 403,
                          "mutating endpoints are disabled: start the controller "
                          "with --web.admin-token-file");
        return false;
    }
    if (role == API_ROLE_NONE) {
        count_denied(c, "unauthenticated", need);
        httpd_response_header(resp, "WWW-Authenticate", "Bearer");
        httpd_reply_error(resp, 401, "missing or wrong bearer token");
        return false;
    }
    who->role = role;
    if (!api_role_allows(role, need)) {
        count_denied(c, "forbidden", need);
        log_notice("api: %s %s refused: credential %s of role %s from %s; it needs the %s role",
                   req->method, req->path, who->credential, api_role_name(role), who->address,
                   api_role_name(need));
        char msg[160];
        snprintf(msg, sizeof(msg), "this needs the %s role; the token presented is of the %s role",
                 api_role_name(need), api_role_name(role));
        httpd_reply_error(resp, 403, msg);
        return false;
    }
    snprintf(who->text, sizeof(who->text), "%s %s from %s%s%s%s", api_role_name(role),
             who->credential, who->address, who->user[0] ? " (user " : "", who->user,
             who->user[0] ? ")" : "");
    /* A standby takes no operator's request that changes the state or acts (the leader's
     * state replaces its own when it leads): 503, naming the leader, as a client retries
     * elsewhere. Evaluating is its own business. */
    char why[300];
    if (need == API_ROLE_OPERATOR && strcmp(req->path, "/api/v1/evaluate") != 0 &&
        replicas_refuse(c, why, sizeof(why))) {
        log_notice("api: %s %s by %s refused: %s", req->method, req->path, who->text, why);
        httpd_response_header(resp, "Retry-After", "2");
        httpd_reply_error(resp, 503, why);
        return false;
    }
    return true;
}

static void reply_json(struct httpd_response *resp, unsigned status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    resp->status = text ? status : 500;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    if (text) {
        buf_puts(&resp->body, text);
        buf_putc(&resp->body, '\n');
    }
    free(text);
}

static json_t *envelope(json_t *data)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string("success"));
    json_object_set_new(o, "data", data);
    return o;
}

/* ---- operator endpoints ---- */

static void pause_resume(struct controller *c, bool pause, const struct api_actor *who,
                         struct httpd_response *resp)
{
    pthread_mutex_lock(&c->lock);
    bool was = c->st.paused;
    json_t *extra = json_object();
    json_object_set_new(extra, "was_paused", json_boolean(was));
    int r = controller_audit_operator(c, pause ? "pause" : "resume", who, extra);
    /* An emergency stop works even when the audit log cannot be written; resuming
     * actuation without a record does not. */
    if (r < 0 && !pause) {
        pthread_mutex_unlock(&c->lock);
        httpd_reply_error(resp, 500, "the audit log cannot be written; still paused");
        return;
    }
    c->st.paused = pause;
    controller_save_state(c);
    controller_publish(c);
    json_t *s = status_json(c, now_realtime());
    pthread_mutex_unlock(&c->lock);
    if (was != pause)
        log_warning("actuation %s by %s", pause ? "PAUSED" : "resumed", who->text);
    daemon_notify_status(pause ? "actuation paused (emergency stop)" : "actuation resumed");
    reply_json(resp, 200, envelope(s));
}

/* The suspended decisions (lock held), each of a target known now with its target_id, as
 * POST /api/v1/suspensions/resume takes it (the status page's Resume button). */
static json_t *suspensions_json(struct controller *c)
{
    json_t *a = verdicts_suspensions_json(c);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *s = json_array_get(a, i);
        const char *key = json_string_value(json_object_get(s, "key"));
        struct target *t = key ? targets_find(c, key) : NULL;
        if (!t)
            continue;
        json_t *copy = json_copy(s); /* the entry is the state's own */
        json_object_set_new(copy, "target_id", json_string(t->id));
        json_array_set_new(a, i, copy);
    }
    return a;
}

/* POST /api/v1/suspensions/resume {"decision": STATE[, "target_id": ID]}: a decision
 * suspended by on_no_effect: stop runs again. */
static void resume_suspension(struct controller *c, const struct httpd_request *req,
                              const struct api_actor *who, struct httpd_response *resp)
{
    json_error_t e;
    json_t *body = req->body && req->body_len ? json_loadb(req->body, req->body_len, 0, &e) : NULL;
    const char *state = json_string_value(json_object_get(body, "decision"));
    const json_t *tid = json_object_get(body, "target_id");
    if (!json_is_object(body) || !state || (tid && !json_is_string(tid))) {
        json_decref(body);
        httpd_reply_error(resp, 400,
                          "body: expected {\"decision\": STATE} or {\"decision\": STATE, "
                          "\"target_id\": ID}");
        return;
    }
    pthread_mutex_lock(&c->lock);
    const char *key = NULL;
    if (tid) {
        struct target *t = targets_find_id(c, json_string_value(tid));
        if (!t) {
            pthread_mutex_unlock(&c->lock);
            json_decref(body);
            httpd_reply_error(resp, 404, "no such target");
            return;
        }
        key = t->key;
    }
    int r = verdicts_resume(c, state, key, who);
    json_t *list = r == 0 ? suspensions_json(c) : NULL;
    pthread_mutex_unlock(&c->lock);
    json_decref(body);
    if (r == -ENOENT)
        httpd_reply_error(resp, 404, "that decision is not suspended");
    else if (r < 0)
        httpd_reply_error(resp, 500, "the audit log cannot be written; still suspended");
    else
        reply_json(resp, 200, envelope(list));
}

static void manual_action(struct controller *c, const struct httpd_request *req, const char *name,
                          const struct api_actor *who, struct httpd_response *resp)
{
    json_t *given = NULL;
    if (req->body && req->body_len) {
        json_error_t e;
        given = json_loadb(req->body, req->body_len, 0, &e);
        if (!given || !json_is_object(given)) {
            char msg[256];
            snprintf(msg, sizeof(msg), "body: expected a JSON object of parameters%s%s",
                     given ? "" : ": ", given ? "" : e.text);
            json_decref(given);
            httpd_reply_error(resp, 400, msg);
            return;
        }
    }
    /* act_lock first: the rules cannot be swapped by a reload while the action runs. */
    pthread_mutex_lock(&c->act_lock);
    pthread_mutex_lock(&c->lock);
    bool paused = c->st.paused;
    const struct manual_action_def *m = rules_manual_action(c->rules, name);
    pthread_mutex_unlock(&c->lock);
    if (!m) {
        pthread_mutex_unlock(&c->act_lock);
        json_decref(given);
        char msg[160];
        snprintf(msg, sizeof(msg), "no manual action '%.64s' in the rules", name);
        httpd_reply_error(resp, 404, msg);
        return;
    }
    char msg[1024];
    json_t *args = rules_manual_args(m, given, msg, sizeof(msg));
    json_decref(given);
    if (!args) {
        pthread_mutex_unlock(&c->act_lock);
        httpd_reply_error(resp, 400, msg);
        return;
    }
    if (paused) {
        pthread_mutex_unlock(&c->act_lock);
        json_decref(args);
        httpd_reply_error(resp, 409, "actuation is paused (POST /api/v1/resume to resume)");
        return;
    }
    if (c->cli.dry_run) {
        pthread_mutex_unlock(&c->act_lock);
        json_decref(args);
        httpd_reply_error(resp, 409, "the controller runs with --dry-run: nothing is actuated");
        return;
    }
    json_t *result = NULL;
    int r = actions_manual(c, m, args, who, &result);
    pthread_mutex_unlock(&c->act_lock);
    json_decref(args);
    if (r < 0) {
        httpd_reply_error(resp, 500, "the audit log cannot be written; nothing was run");
        return;
    }
    bool ok = json_is_true(json_object_get(result, "ok"));
    reply_json(resp, ok ? 200 : 502, envelope(result));
}

static void overrides(struct controller *c, const struct httpd_request *req,
                      const struct api_actor *who, struct httpd_response *resp)
{
    bool put = strcmp(req->method, "PUT") == 0;
    json_t *body = NULL;
    if (put) {
        json_error_t e;
        body = req->body ? json_loadb(req->body, req->body_len, 0, &e) : NULL;
        if (!body || !json_is_object(body)) {
            json_decref(body);
            httpd_reply_error(resp, 400,
                              "body: expected a JSON object such as {\"thresholds\": "
                              "[{\"state\": \"critical\", \"signal\": \"cpu_busy\", "
                              "\"threshold\": 0.9}], \"evaluation_interval\": \"10s\"}");
            return;
        }
    }
    char msg[512] = "";
    pthread_mutex_lock(&c->lock);
    int r = put ? overrides_put(c, body, who, msg, sizeof(msg)) : overrides_clear(c, who);
    json_t *now_in_force = json_deep_copy(c->st.overrides);
    pthread_mutex_unlock(&c->lock);
    json_decref(body);
    if (r == -EINVAL) {
        json_decref(now_in_force);
        httpd_reply_error(resp, 400, msg);
    } else if (r < 0) {
        json_decref(now_in_force);
        httpd_reply_error(resp, 500, "the audit log cannot be written; overrides unchanged");
    } else {
        daemon_wake(); /* an interval change takes effect now */
        reply_json(resp, 200, envelope(now_in_force));
    }
}

static void alertmanager_webhook(struct controller *c, const struct httpd_request *req,
                                 const struct api_actor *who, struct httpd_response *resp)
{
    unsigned firing, resolved, dropped;
    char msg[256];
    pthread_mutex_lock(&c->lock);
    int r = amreceiver_apply(c->alerts, req->body ? req->body : "", req->body_len, now_realtime(),
                             &firing, &resolved, &dropped, msg, sizeof(msg));
    metric_set(c->m.alerts_firing, (double)amreceiver_count(c->alerts, now_realtime()));
    if (r == 0)
        controller_save_state(c); /* a restart keeps what Alertmanager reported */
    pthread_mutex_unlock(&c->lock);
    struct metric *m = registry_series(
        c->m.webhooks, (const char *const[]){r == 0 ? "accepted" : "invalid", NULL});
    if (m)
        metric_add(m, 1);
    if (r < 0) {
        log_warning("alertmanager webhook from %s: rejected: %s", who->text, msg);
        httpd_reply_error(resp, 400, msg);
        return;
    }
    log_debug("alertmanager webhook from %s: %u firing, %u resolved, %u dropped", who->text, firing,
              resolved, dropped);
    json_t *o = json_object();
    json_object_set_new(o, "firing", json_integer(firing));
    json_object_set_new(o, "resolved", json_integer(resolved));
    json_object_set_new(o, "dropped", json_integer(dropped));
    reply_json(resp, 200, envelope(o));
}

/* GET /api/v1/alerts: the firing alerts, each with the signals and states it feeds. */
static json_t *alerts_json(struct controller *c, double now)
{
    json_t *arr = amreceiver_json(c->alerts, now);
    const struct rules *r = c->rules;
    for (size_t i = 0; arr && i < json_array_size(arr); i++) {
        json_t *a = json_array_get(arr, i);
        const char *name =
            json_string_value(json_object_get(json_object_get(a, "labels"), "alertname"));
        json_t *feeds = json_array();
        for (size_t s = 0; name && s < r->n_signals; s++) {
            if (!r->signals[s].alert ||
                strcmp(r->signals[s].name + strlen(RULES_ALERT_PREFIX), name) != 0)
                continue;
            json_t *f = json_object();
            json_object_set_new(f, "signal", json_string(r->signals[s].name));
            json_t *states = json_array();
            for (size_t st = 0; st < r->n_states; st++)
                for (size_t k = 0; k < r->states[st].n_conditions; k++)
                    if (r->states[st].conditions[k].signal == s) {
                        json_t *x = json_object();
                        json_object_set_new(x, "state", json_string(r->states[st].name));
                        json_object_set_new(x, "condition",
                                            json_string(r->states[st].conditions[k].text));
                        json_array_append_new(states, x);
                    }
            json_object_set_new(f, "conditions", states);
            json_array_append_new(feeds, f);
        }
        json_object_set_new(a, "feeds", feeds);
    }
    return arr;
}

/* GET /api/v1/report[?quick=1][&format=text]: the health report of the running rules and
 * the current state, built on this HTTP thread with a Prometheus client of its own (the
 * main loop's is not shared), one report at a time: 429 while one is being built. */
static void report_endpoint(struct controller *c, const struct httpd_request *req,
                            struct httpd_response *resp)
{
    const char *q = httpd_query(req, "quick"), *fmt = httpd_query(req, "format");
    bool quick = false;
    if (q && parse_bool(q, &quick) < 0) {
        httpd_reply_error(resp, 400, "quick must be 1 or 0 (or true or false)");
        return;
    }
    if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "text") != 0) {
        httpd_reply_error(resp, 400, "format must be json or text");
        return;
    }
    if (__atomic_exchange_n(&c->report_running, true, __ATOMIC_ACQ_REL)) {
        httpd_response_header(resp, "Retry-After", "5");
        httpd_reply_error(resp, 429, "a report is being built; try again when it is done");
        return;
    }
    struct buf errors;
    buf_init(&errors, 4096);
    /* Everything the report needs from the rules and the state, taken under the lock:
     * the report section by reference (a reload may free the rules meanwhile), the rest
     * copied. */
    pthread_mutex_lock(&c->lock);
    const struct rules *r = c->rules;
    struct report_def *d = rules_report_ref(r);
    struct http_client_config cfg = r->prometheus;
    cfg.timeout_usec = d ? d->timeout_usec : cfg.timeout_usec;
    struct promql_client *prom = NULL;
    int ret = promql_client_new(&cfg, &prom, &errors);
    size_t cur = c->st.eval.current;
    const struct state_def *sd = cur < r->n_states ? &r->states[cur] : NULL;
    char *name = strdup(eval_state_name(r, cur));
    char *severity = sd && sd->severity ? strdup(sd->severity) : NULL;
    char *description = sd && sd->description ? strdup(sd->description) : NULL;
    char *recommendation = sd && sd->recommendation ? strdup(sd->recommendation) : NULL;
    char *url = cfg.url ? strdup(cfg.url) : NULL;
    char *path = r->path ? strdup(r->path) : NULL;
    /* targets.by, copied: a reload may free the rules while the report is built */
    char *by[RULES_MAX_TARGET_LABELS] = {NULL};
    size_t n_by = 0;
    for (; n_by < r->targets.n_by && (by[n_by] = strdup(r->targets.by[n_by])); n_by++)
        ;
    /* each learned signal now against its baseline (the controller's, or the first targets'),
     * its trend queried with the report */
    struct report_baselines rb;
    int rbr = report_baselines_init(&rb, r);
    if (rbr >= 0 && (rbr = baselines_report(c, &rb, now_realtime())) < 0)
        report_baselines_free(&rb);
    json_t *track = verdicts_track_json(c); /* its verdicts' track record, for the report */
    struct report_state st = {
        .name = name,
        .severity = severity,
        .description = description,
        .recommendation = recommendation,
        .is_default = cur == r->n_states - 1,
        .since = c->st.eval.since,
    };
    pthread_mutex_unlock(&c->lock);

    json_t *rep = NULL;
    char err[512];
    if (ret < 0) {
        snprintf(err, sizeof(err), "cannot create a Prometheus client: %s",
                 errors.len ? errors.data : strerror(-ret));
    } else if (!d || !name) {
        ret = -ENOMEM;
        snprintf(err, sizeof(err), "out of memory");
    } else {
        promql_client_no_watchdog(prom);
        struct report_options o = {
            .quick = quick,
            .time = now_realtime(),
            .prometheus_url = url,
            .rules_file = path,
            .state = &st,
            .target_by = (const char *const *)by,
            .n_target_by = n_by,
        };
        struct report_source src = {.query = report_source_promql, .ctx = prom};
        ret = report_build(d, &src, &o, &rep, err, sizeof(err));
        if (ret >= 0 && rbr >= 0 &&
            (ret = report_baselines_finish(&rb, &src, o.time, rep, err, sizeof(err))) < 0) {
            json_decref(rep);
            rep = NULL;
        }
        if (rep && json_array_size(track))
            json_object_set(rep, "actions_track_record", track);
    }
    json_decref(track);
    report_baselines_free(&rb);
    promql_client_free(prom);
    rules_report_unref(d);
    free(name);
    free(severity);
    free(description);
    free(recommendation);
    free(url);
    free(path);
    for (size_t i = 0; i < n_by; i++)
        free(by[i]);
    buf_free(&errors);
    __atomic_store_n(&c->report_running, false, __ATOMIC_RELEASE);
    if (ret < 0) {
        while (strlen(err) && err[strlen(err) - 1] == '\n')
            err[strlen(err) - 1] = '\0';
        httpd_reply_error(resp, ret == -EHOSTUNREACH ? 503 : 500, err);
        return;
    }
    if (fmt && strcmp(fmt, "text") == 0) {
        buf_reset(&resp->body);
        if (report_text(rep, &resp->body) < 0) {
            json_decref(rep);
            httpd_reply_error(resp, 500, "out of memory");
            return;
        }
        json_decref(rep);
        resp->status = 200;
        resp->content_type = "text/plain; charset=utf-8";
        return;
    }
    reply_json(resp, 200, envelope(rep));
}

/* /api/v1/targets, /api/v1/targets/{id} and its pause and resume (a rules file with targets). */
static void targets_route(struct controller *c, const struct httpd_request *req, const char *rest,
                          bool get, bool post, struct httpd_response *resp)
{
    json_t *out = NULL;
    char msg[256] = "";
    int r = 0;
    const char *slash = *rest ? strchr(rest + 1, '/') : NULL;
    size_t id_len = slash ? (size_t)(slash - rest - 1) : strlen(rest) - (*rest ? 1 : 0);
    char id[32] = "";
    if (*rest && id_len < sizeof(id))
        memcpy(id, rest + 1, id_len);
    bool pause = slash && strcmp(slash, "/pause") == 0,
         resume = slash && strcmp(slash, "/resume") == 0;
    if ((*rest && (id_len == 0 || id_len >= sizeof(id))) || (slash && !pause && !resume)) {
        httpd_reply_error(resp, 404, "not found");
        return;
    }
    if ((pause || resume) ? !post : !get) {
        httpd_response_header(resp, "Allow", (pause || resume) ? "POST" : "GET, HEAD");
        httpd_reply_error(resp, 405, "method not allowed");
        return;
    }
    struct api_actor who;
    if ((pause || resume) && !authorized(c, req, API_ROLE_OPERATOR, &who, resp))
        return;
    pthread_mutex_lock(&c->lock);
    if (!c->rules->targets.by) {
        r = -ENOTSUP;
    } else if (pause || resume) {
        struct target *t = targets_find_id(c, id);
        json_t *extra =
            t ? json_pack("{s:O, s:b}", "target", t->labels, "was_paused", t->paused) : NULL;
        r = !t ? -ENOENT
               : controller_audit_operator(c, pause ? "pause_target" : "resume_target", &who,
                                           extra);
        /* as the controller's pause: stopping works without a record, resuming does not */
        if (t && (r >= 0 || pause)) {
            t->paused = pause;
            controller_save_state(c);
            log_warning("target %s: actuation %s by %s", t->key, pause ? "PAUSED" : "resumed",
                        who.text);
            r = targets_detail_json(c, id, &out);
        }
    } else if (*rest) {
        r = targets_detail_json(c, id, &out);
    } else {
        r = targets_list_json(c, httpd_query(req, "state"), httpd_query(req, "match"),
                              httpd_query(req, "search"), httpd_query(req, "limit"),
                              httpd_query(req, "offset"), &out, msg, sizeof(msg));
    }
    pthread_mutex_unlock(&c->lock);
    if (r == -ENOTSUP)
        httpd_reply_error(resp, 404, "the rules file has no targets section");
    else if (r == -ENOENT)
        httpd_reply_error(resp, 404, "no such target");
    else if (r == -EINVAL)
        httpd_reply_error(resp, 400, msg);
    else if (r < 0)
        httpd_reply_error(resp, 500,
                          (pause || resume) ? "the audit log cannot be written" : "out of memory");
    else
        reply_json(resp, 200, envelope(out));
}

/* The endpoints of this file's second half; false when p is none of them. */
static bool operator_endpoint(struct controller *c, const struct httpd_request *req,
                              struct httpd_response *resp)
{
    const char *p = req->path, *m = req->method;
    bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
    bool post = strcmp(m, "POST") == 0;
    struct api_actor who;
    if ((strcmp(p, "/api/v1/pause") == 0 || strcmp(p, "/api/v1/resume") == 0) && post) {
        if (authorized(c, req, API_ROLE_OPERATOR, &who, resp))
            pause_resume(c, strcmp(p, "/api/v1/pause") == 0, &who, resp);
    } else if (strncmp(p, "/api/v1/actions/", 16) == 0 && p[16] && post) {
        if (authorized(c, req, API_ROLE_OPERATOR, &who, resp))
            manual_action(c, req, p + 16, &who, resp);
    } else if (strcmp(p, "/api/v1/overrides") == 0 && get) {
        pthread_mutex_lock(&c->lock);
        json_t *o = json_deep_copy(c->st.overrides);
        pthread_mutex_unlock(&c->lock);
        reply_json(resp, 200, envelope(o));
    } else if (strcmp(p, "/api/v1/overrides") == 0 &&
               (strcmp(m, "PUT") == 0 || strcmp(m, "DELETE") == 0)) {
        if (authorized(c, req, API_ROLE_OPERATOR, &who, resp))
            overrides(c, req, &who, resp);
    } else if (strcmp(p, "/api/v1/alertmanager") == 0 && post) {
        if (authorized(c, req, API_ROLE_RECEIVER, &who, resp))
            alertmanager_webhook(c, req, &who, resp);
    } else if (strcmp(p, "/api/v1/effects") == 0 && get) {
        pthread_mutex_lock(&c->lock);
        json_t *a = verdicts_track_json(c);
        pthread_mutex_unlock(&c->lock);
        reply_json(resp, 200, envelope(a));
    } else if (strcmp(p, "/api/v1/suspensions") == 0 && get) {
        pthread_mutex_lock(&c->lock);
        json_t *a = suspensions_json(c);
        pthread_mutex_unlock(&c->lock);
        reply_json(resp, 200, envelope(a));
    } else if (strcmp(p, "/api/v1/suspensions/resume") == 0 && post) {
        if (authorized(c, req, API_ROLE_OPERATOR, &who, resp))
            resume_suspension(c, req, &who, resp);
    } else if (strcmp(p, "/api/v1/alerts") == 0 && get) {
        pthread_mutex_lock(&c->lock);
        json_t *a = alerts_json(c, now_realtime());
        pthread_mutex_unlock(&c->lock);
        reply_json(resp, 200, envelope(a));
    } else if (strcmp(p, "/api/v1/report") == 0 && get) {
        report_endpoint(c, req, resp);
    } else if (strncmp(p, "/api/v1/targets", 15) == 0 && (!p[15] || p[15] == '/')) {
        targets_route(c, req, p + 15, get, post, resp);
    } else {
        return false;
    }
    return true;
}

/* ---- the status page ---- */

/* status.html, generated into status_html.c by controller/CMakeLists.txt: the page and
 * its length (the array also ends with a NUL). */
extern const char homeostat_status_html[];
extern const size_t homeostat_status_html_len;

static char status_csp[512];
static pthread_once_t status_csp_once = PTHREAD_ONCE_INIT;

/* " 'sha256-BASE64'" of the text between the page's first OPEN and the CLOSE after it, the
 * CSP source that allows that inline element; "" when the page has none. */
static void csp_hash(const char *open, const char *close, char *out, size_t size)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *a = strstr(homeostat_status_html, open);
    const char *b = a ? strstr(a + strlen(open), close) : NULL;
    out[0] = '\0';
    if (!b)
        return;
    a += strlen(open);
    uint8_t d[SHA256_DIGEST_BYTES + 1] = {0};
    hmac_sha256_digest(a, (size_t)(b - a), d);
    char enc[48];
    size_t n = 0;
    for (size_t i = 0; i < SHA256_DIGEST_BYTES; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 |
                     (i + 2 < SHA256_DIGEST_BYTES ? d[i + 2] : 0);
        enc[n++] = b64[v >> 18 & 63];
        enc[n++] = b64[v >> 12 & 63];
        enc[n++] = i + 1 < SHA256_DIGEST_BYTES ? b64[v >> 6 & 63] : '=';
        enc[n++] = i + 2 < SHA256_DIGEST_BYTES ? b64[v & 63] : '=';
    }
    enc[n] = '\0';
    snprintf(out, size, " 'sha256-%s'", enc);
}

/* The page's Content-Security-Policy: nothing but its own inline style and script (by
 * their hashes, computed once from the embedded page, so they always match it) and
 * fetches to this server. */
static void status_csp_init(void)
{
    char script[64], style[64];
    csp_hash("<script>", "</script>", script, sizeof(script));
    csp_hash("<style>", "</style>", style, sizeof(style));
    snprintf(status_csp, sizeof(status_csp),
             "default-src 'none'; script-src%s; style-src%s; connect-src 'self'; "
             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
             script[0] ? script : " 'none'", style[0] ? style : " 'none'");
}

static void status_page(struct httpd_response *resp)
{
    pthread_once(&status_csp_once, status_csp_init);
    buf_reset(&resp->body);
    if (buf_append(&resp->body, homeostat_status_html, homeostat_status_html_len) < 0) {
        httpd_reply_error(resp, 500, "out of memory");
        return;
    }
    resp->status = 200;
    resp->content_type = "text/html; charset=utf-8";
    /* X-Content-Type-Options: nosniff is on every reply of httpd. */
    httpd_response_header(resp, "Content-Security-Policy", status_csp);
    httpd_response_header(resp, "X-Frame-Options", "DENY");
    httpd_response_header(resp, "Referrer-Policy", "no-referrer");
    httpd_response_header(resp, "Cache-Control", "no-cache");
}

/* ---- routing ---- */

void api_handle(void *userdata, const struct httpd_request *req, struct httpd_response *resp)
{
    struct controller *c = userdata;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    bool post = strcmp(req->method, "POST") == 0;
    const char *p = req->path;
    if (strcmp(p, "/-/healthy") == 0 && get) {
        httpd_reply(resp, 200, "text/plain; charset=utf-8", "Healthy.\n");
    } else if (strcmp(p, "/-/ready") == 0 && get) {
        httpd_reply(resp, 200, "text/plain; charset=utf-8", "Ready.\n");
    } else if (strcmp(p, "/metrics") == 0 && get) {
        struct mset *set = mset_new();
        enum expo_format f = expo_negotiate(httpd_header(req, "Accept"));
        pthread_mutex_lock(&c->lock);
        int tm = set ? targets_metrics(c, set) : -ENOMEM;
        if (tm >= 0)
            tm = baselines_metrics(c, set, now_realtime());
        pthread_mutex_unlock(&c->lock);
        if (!set || tm < 0 || registry_collect(c->reg, set) < 0 ||
            expo_render(&resp->body, f, &set, 1, NULL) < 0) {
            httpd_reply_error(resp, 500, "cannot render metrics");
        } else {
            resp->status = 200;
            resp->content_type = expo_content_type(f);
        }
        mset_free(set);
    } else if (strcmp(p, "/api/v1/status") == 0 && get) {
        pthread_mutex_lock(&c->lock);
        json_t *s = status_json(c, now_realtime());
        pthread_mutex_unlock(&c->lock);
        reply_json(resp, 200, envelope(s));
    } else if (strcmp(p, "/api/v1/regulators") == 0 && get) {
        pthread_mutex_lock(&c->lock);
        json_t *s = regulators_json(c);
        pthread_mutex_unlock(&c->lock);
        reply_json(resp, 200, envelope(s));
    } else if (strcmp(p, "/api/v1/baselines") == 0 && get) {
        pthread_mutex_lock(&c->lock);
        json_t *s = baselines_json(c, now_realtime(), true);
        pthread_mutex_unlock(&c->lock);
        if (!s)
            httpd_reply_error(resp, 500, "out of memory");
        else
            reply_json(resp, 200, envelope(s));
    } else if (strcmp(p, "/api/v1/signals") == 0 && get) {
        pthread_mutex_lock(&c->lock);
        json_t *s = signals_json(c, now_realtime());
        pthread_mutex_unlock(&c->lock);
        reply_json(resp, 200, envelope(s));
    } else if (strcmp(p, "/api/v1/decisions") == 0 && get) {
        const char *ls = httpd_query(req, "limit");
        unsigned limit = 20;
        if (ls && (parse_uint(ls, &limit) < 0 || limit == 0 || limit > HISTORY_SIZE)) {
            char msg[96];
            snprintf(msg, sizeof(msg), "limit must be a number from 1 to %d", HISTORY_SIZE);
            httpd_reply_error(resp, 400, msg);
            return;
        }
        reply_json(resp, 200, envelope(audit_recent(c->audit, limit)));
    } else if (strcmp(p, "/api/v1/rules") == 0 && get) {
        pthread_mutex_lock(&c->lock);
        json_t *r = rules_to_json(c->rules);
        pthread_mutex_unlock(&c->lock);
        reply_json(resp, 200, envelope(r));
    } else if (strcmp(p, "/api/v1/evaluate") == 0 && post) {
        struct api_actor who;
        if (!authorized(c, req, API_ROLE_OPERATOR, &who, resp))
            return;
        pthread_mutex_lock(&c->lock);
        if (controller_audit_operator(c, "evaluate", &who, NULL) < 0) {
            pthread_mutex_unlock(&c->lock);
            httpd_reply_error(resp, 500, "the audit log cannot be written; nothing was run");
            return;
        }
        unsigned long long before = c->eval_count;
        c->eval_requested = true;
        daemon_wake();
        /* Wait for the evaluation (queries are bounded by their timeouts). */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 30;
        while (c->eval_count == before)
            if (pthread_cond_timedwait(&c->evaluated, &c->lock, &ts) != 0)
                break;
        bool done = c->eval_count != before;
        json_t *s = status_json(c, now_realtime());
        pthread_mutex_unlock(&c->lock);
        if (!done) {
            json_decref(s);
            httpd_reply_error(resp, 503, "the evaluation did not finish within 30s");
            return;
        }
        reply_json(resp, 200, envelope(s));
    } else if (strcmp(p, "/-/reload") == 0 && (post || strcmp(req->method, "PUT") == 0)) {
        struct api_actor who;
        if (!authorized(c, req, API_ROLE_ADMIN, &who, resp))
            return;
        /* The main thread reloads (exactly as on SIGHUP); we wait for its result. */
        pthread_mutex_lock(&c->lock);
        if (controller_audit_operator(c, "reload", &who, NULL) < 0) {
            pthread_mutex_unlock(&c->lock);
            httpd_reply_error(resp, 500, "the audit log cannot be written; nothing was reloaded");
            return;
        }
        unsigned long long before = c->reload_count;
        c->reload_requested = true;
        daemon_wake();
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 30;
        while (c->reload_count == before)
            if (pthread_cond_timedwait(&c->evaluated, &c->lock, &ts) != 0)
                break;
        bool done = c->reload_count != before;
        int result = c->reload_result;
        struct buf errors;
        buf_init(&errors, 1 << 16);
        if (c->reload_errors.len)
            buf_append(&errors, c->reload_errors.data, c->reload_errors.len);
        pthread_mutex_unlock(&c->lock);
        while (errors.len > 0 && errors.data[errors.len - 1] == '\n')
            errors.data[--errors.len] = '\0';
        if (!done)
            httpd_reply_error(resp, 503, "the reload did not finish within 30s");
        else if (result < 0)
            httpd_reply_error(resp, 400, errors.len ? errors.data : "invalid rules file");
        else
            httpd_reply(resp, 200, "text/plain; charset=utf-8", "Reloaded.\n");
        buf_free(&errors);
    } else if (strcmp(p, "/") == 0 && get) {
        status_page(resp);
    } else if (!operator_endpoint(c, req, resp)) {
        /* Known paths with another method get 405 and Allow. */
        static const struct {
            const char *path, *allow;
        } known[] = {
            {"/-/healthy", "GET, HEAD"},
            {"/-/ready", "GET, HEAD"},
            {"/metrics", "GET, HEAD"},
            {"/api/v1/status", "GET, HEAD"},
            {"/api/v1/signals", "GET, HEAD"},
            {"/api/v1/regulators", "GET, HEAD"},
            {"/api/v1/baselines", "GET, HEAD"},
            {"/api/v1/decisions", "GET, HEAD"},
            {"/api/v1/rules", "GET, HEAD"},
            {"/api/v1/evaluate", "POST"},
            {"/-/reload", "POST, PUT"},
            {"/", "GET, HEAD"},
            {"/api/v1/pause", "POST"},
            {"/api/v1/resume", "POST"},
            {"/api/v1/overrides", "GET, HEAD, PUT, DELETE"},
            {"/api/v1/alertmanager", "POST"},
            {"/api/v1/alerts", "GET, HEAD"},
            {"/api/v1/effects", "GET, HEAD"},
            {"/api/v1/suspensions", "GET, HEAD"},
            {"/api/v1/suspensions/resume", "POST"},
            {"/api/v1/report", "GET, HEAD"},
        };
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcmp(p, known[i].path) == 0) {
                httpd_response_header(resp, "Allow", known[i].allow);
                httpd_reply_error(resp, 405, "method not allowed");
                return;
            }
        if (strncmp(p, "/api/v1/actions/", 16) == 0) {
            httpd_response_header(resp, "Allow", "POST");
            httpd_reply_error(resp, 405, "method not allowed");
            return;
        }
        httpd_reply_error(resp, 404, "not found");
    }
}

/* ---- daemon ---- */