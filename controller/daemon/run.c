/* run: the daemon, homeostat-controller's default verb (controller_run, see run.h): its
 * flags, metrics, the records it writes (ids, audit, state file), reloads, and the loop
 * that every evaluation interval queries the signals from Prometheus, evaluates the
 * states, decides, writes explained decisions to the audit log and runs their actions,
 * while the API, the metrics and the sd_notify status are served. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "actuator.h"
#include "amreceiver.h"
#include "audit.h"
#include "controller.h"
#include "credentials.h"
#include "daemon.h"
#include "decide.h"
#include "evaluate.h"
#include "expo.h"
#include "fileio.h"
#include "httpd.h"
#include "log.h"
#include "parse.h"
#include "promql.h"
#include "registry.h"
#include "report.h"
#include "step.h"
#include "rules.h"
#include "run.h"
#include "statefile.h"
#include "webconfig.h"

/* ---- baselines (without targets: the controller's; a target keeps its own) ---- */

/* The baselines for rules r, carried over by signal name from those of old (NULL at the
 * start: from the state file). Logged, not fatal: without memory they start empty. */
static void baselines_reset(struct controller *c, const struct rules *old, const struct rules *r,
                            const json_t *file)
{
    json_t *saved = old ? baseline_set_json(old, &c->baselines)
                        : json_incref(json_object_get(file, "baselines"));
    baseline_set_free(&c->baselines);
    if (!r->targets.by && (baseline_set_init(&c->baselines, r) < 0 ||
                           baseline_set_restore(&c->baselines, r, saved) < 0))
        log_error("baselines: out of memory; they start over");
    json_decref(saved);
    c->baselines_saved_at = 0;
}

/* --baselines.seed (`baseline learn`'s file): the controller's signals without a baseline
 * in the state file get the file's; with targets, kept for each target that appears (or
 * was restored) without one. -1 (logged) when the file cannot be used. */
static int baselines_seed(struct controller *c)
{
    json_error_t err;
    json_t *j = json_load_file(c->cli.baselines_seed, JSON_REJECT_DUPLICATES, &err);
    if (!j || !json_is_object(j)) {
        log_error(PROG ": --baselines.seed %s: %s", c->cli.baselines_seed,
                  j ? "expected a JSON object (homeostat-controller baseline learn's file)"
                    : err.text);
        json_decref(j);
        return -1;
    }
    const json_t *own = json_object_get(j, "baselines"), *targets = json_object_get(j, "targets");
    bool with_targets = c->rules->targets.by != NULL;
    if (with_targets ? !json_is_object(targets) : !json_is_object(own)) {
        log_error(PROG ": --baselines.seed %s: has no \"%s\": learned from rules %s targets",
                  c->cli.baselines_seed, with_targets ? "targets" : "baselines",
                  with_targets ? "without" : "with");
        json_decref(j);
        return -1;
    }
    int r = 0;
    if (with_targets) {
        c->baseline_seed = json_incref((json_t *)targets);
        for (size_t i = 0; r == 0 && i < c->targets.n; i++) {
            struct target *t = c->targets.list[i];
            r = baseline_set_seed(&t->baselines, c->rules, json_object_get(targets, t->key));
        }
    } else {
        r = baseline_set_seed(&c->baselines, c->rules, own);
    }
    const char *from = json_string_value(json_object_get(j, "from"));
    const char *to = json_string_value(json_object_get(j, "to"));
    log_info("baselines: seeded from %s (learned %s to %s)", c->cli.baselines_seed,
             from ? from : "?", to ? to : "?");
    json_decref(j);
    if (r < 0)
        return log_error(PROG ": out of memory"), -1;
    c->baselines_saved_at = 0; /* written with the next save */
    return 0;
}

/* DIR/baselines.json, at most once a BASELINES_SAVE_SECONDS unless force (lock held): the
 * controller's {"baselines": {SIGNAL: ...}}, or {"targets": {KEY: {SIGNAL: ...}}}, compact.
 * Apart from state.json, which is written every evaluation: the baselines are large and
 * change slowly. */
static void baselines_save(struct controller *c, double now, bool force)
{
    bool any = c->baselines.by_signal != NULL;
    for (size_t i = 0; !any && i < c->targets.n; i++)
        any = c->targets.list[i]->baselines.by_signal != NULL;
    if (!any || (!force && now - c->baselines_saved_at < BASELINES_SAVE_SECONDS))
        return;
    c->baselines_saved_at = now;
    struct buf b;
    buf_init(&b, 0);
    int r = 0;
    if (!c->rules->targets.by) {
        json_t *j = baseline_set_json(c->rules, &c->baselines);
        char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        json_decref(j);
        r = text ? buf_puts(&b, "{\"baselines\": ") : -ENOMEM;
        if (r == 0)
            r = buf_puts(&b, text);
        free(text);
    } else {
        r = buf_puts(&b, "{\"targets\": {");
        bool first = true;
        for (size_t i = 0; r == 0 && i < c->targets.n; i++) {
            const struct target *t = c->targets.list[i];
            if (!t->baselines.by_signal)
                continue;
            json_t *j = baseline_set_json(c->rules, &t->baselines);
            json_t *key = json_string(t->key);
            char *kt = key ? json_dumps(key, JSON_ENCODE_ANY) : NULL;
            char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            json_decref(j);
            json_decref(key);
            if (!kt || !text)
                r = -ENOMEM;
            if (r == 0)
                r = buf_puts(&b, first ? "\n" : ",\n");
            if (r == 0)
                r = buf_puts(&b, kt);
            if (r == 0)
                r = buf_puts(&b, ": ");
            if (r == 0)
                r = buf_puts(&b, text);
            free(kt);
            free(text);
            first = false;
        }
        if (r == 0)
            r = buf_puts(&b, "}");
    }
    if (r == 0)
        r = buf_puts(&b, "}\n");
    if (r == 0)
        r = file_write_atomic(c->baselines_path, b.data, b.len, 0600);
    if (r < 0) {
        metric_add(c->m.state_errors, 1);
        log_error_errno(r, "baselines: cannot save %s", c->baselines_path);
    } else if (c->ha) {
        /* shared with the state at the next fence (daemon/replicas.c) */
        free(c->ha_baselines);
        c->ha_baselines = buf_steal(&b, &c->ha_baselines_len);
        c->ha_baselines_new = true;
    }
    buf_free(&b);
}

void controller_baselines_adopt(struct controller *c, const json_t *saved)
{
    const struct rules *r = c->rules;
    int e = 0;
    if (!r->targets.by)
        e = baseline_set_seed(&c->baselines, r, json_object_get(saved, "baselines"));
    const json_t *targets = json_object_get(saved, "targets");
    for (size_t i = 0; e == 0 && targets && i < c->targets.n; i++) {
        struct target *t = c->targets.list[i];
        e = baseline_set_seed(&t->baselines, r, json_object_get(targets, t->key));
    }
    if (e < 0)
        log_error("baselines: out of memory taking the shared ones over");
}

/* DIR/baselines.json as saved (NULL when there is none or it does not parse: logged). */
static json_t *baselines_load(struct controller *c)
{
    json_error_t err;
    json_t *j = json_load_file(c->baselines_path, JSON_REJECT_DUPLICATES, &err);
    if (!j && access(c->baselines_path, F_OK) == 0)
        log_warning("baselines: %s: %s; they start over", c->baselines_path, err.text);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Queries the Prometheus signals and reads the alert:NAME ones from the webhook store.
 * With vecs (a rules file with targets), each query's whole vector goes there, keeping the
 * targets.by labels, have[i] true when there is one, and values say whether a query
 * answered (value: its number of series). */
static void read_signals(struct controller *c, const struct rules *r, double now,
                         struct promql_result *results, struct signal_value *values,
                         struct ivec *vecs, bool *have)
{
    const char *queries[r->n_signals ? r->n_signals : 1];
    size_t map[r->n_signals ? r->n_signals : 1], n = 0;
    for (size_t i = 0; i < r->n_signals; i++)
        if (!r->signals[i].alert) {
            map[n] = i;
            queries[n++] = r->signals[i].query;
        }
    struct promql_result *got = calloc(n ? n : 1, sizeof(*got));
    struct ivec *vec = vecs ? calloc(n ? n : 1, sizeof(*vec)) : NULL;
    bool *got_vec = vecs ? calloc(n ? n : 1, sizeof(*got_vec)) : NULL;
    bool vectors = vecs && vec && got_vec;
    if (got && vectors)
        promql_query_vectors(c->prom, queries, n, now, (const char *const *)r->targets.by,
                             r->targets.n_by, got, vec, got_vec);
    else if (got && !vecs)
        promql_query_many(c->prom, queries, n, now, got);
    for (size_t k = 0; k < n; k++) {
        size_t i = map[k];
        if (got && (!vecs || vectors))
            results[i] = got[k];
        else
            results[i].error = PROMQL_ERR_TOO_LARGE;
        metric_observe(c->m.query_duration, results[i].duration_seconds);
        if (vectors && got && got_vec[k]) {
            vecs[i] = vec[k]; /* moved */
            ivec_init(&vec[k]);
            have[i] = true;
            values[i].known = true;
            values[i].value = (double)vecs[i].n;
            values[i].sample_time = now;
        } else if (results[i].error == PROMQL_OK && !vecs) {
            values[i].known = true;
            values[i].value = results[i].value;
            values[i].sample_time = results[i].sample_time;
        } else {
            snprintf(values[i].reason, sizeof(values[i].reason), "%.159s",
                     results[i].detail[0] ? results[i].detail
                                          : promql_error_name(results[i].error));
            struct metric *e =
                registry_series(c->m.query_errors,
                                (const char *const[]){promql_error_name(results[i].error), NULL});
            if (e)
                metric_add(e, 1);
        }
    }
    for (size_t k = 0; vec && k < n; k++)
        ivec_free(&vec[k]);
    free(got);
    free(vec);
    free(got_vec);
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < r->n_signals; i++)
        if (r->signals[i].alert) {
            values[i].known = true;
            values[i].value =
                amreceiver_firing(c->alerts, r->signals[i].name + strlen(RULES_ALERT_PREFIX), now)
                    ? 1
                    : 0;
            values[i].sample_time = now;
        }
    metric_set(c->m.alerts_firing, (double)amreceiver_count(c->alerts, now));
    pthread_mutex_unlock(&c->lock);
}

/* The end of every evaluation (lock held; released here): the gauges, the evaluation's
 * metrics, waking POST /api/v1/evaluate, and the sd_notify status. */
static void finish_evaluation(struct controller *c, uint64_t t0, const char *status)
{
    controller_publish(c);
    replicas_publish(c);
    metric_add(c->m.evaluations, 1);
    metric_set(c->m.last_eval, now_realtime());
    metric_observe(c->m.eval_duration, (double)(now_usec() - t0) / 1e6);
    c->eval_requested = false;
    pthread_cond_broadcast(&c->evaluated);
    pthread_mutex_unlock(&c->lock);
    daemon_notify_status(status);
}

static void evaluate_once(struct controller *c)
{
    uint64_t t0 = now_usec();
    double now = now_realtime();
    const struct rules *r = c->rules; /* only this thread swaps the rules */
    struct promql_result *results = calloc(r->n_signals ? r->n_signals : 1, sizeof(*results));
    struct signal_value *values = calloc(r->n_signals ? r->n_signals : 1, sizeof(*values));
    if (!results || !values) {
        free(results);
        free(values);
        log_error("evaluation: out of memory; skipped");
        return;
    }
    size_t ns = r->n_signals ? r->n_signals : 1;
    struct ivec *vecs = r->targets.by ? calloc(ns, sizeof(*vecs)) : NULL;
    bool *have = r->targets.by ? calloc(ns, sizeof(*have)) : NULL;
    if (r->targets.by && (!vecs || !have)) {
        free(vecs);
        free(have);
        free(results);
        free(values);
        log_error("evaluation: out of memory; skipped");
        return;
    }
    read_signals(c, r, now, results, values, vecs, have);

    pthread_mutex_lock(&c->lock);
    free(c->results);
    free(c->values);
    c->results = results;
    c->values = values;
    c->have_eval = true;
    c->last_eval_time = now;
    c->eval_count++;
    char status[480];
    if (vecs) {
        pthread_mutex_unlock(&c->lock);
        targets_evaluate(c, vecs, have, now, status, sizeof(status)); /* returns locked */
        baselines_save(c, now, false);
        for (size_t i = 0; i < r->n_signals; i++)
            ivec_free(&vecs[i]);
        free(vecs);
        free(have);
        finish_evaluation(c, t0, status);
        return;
    }
    struct eval_result res;
    struct decide_flags flags = {.paused = c->st.paused, .dry_run = c->cli.dry_run};
    flags.budget_left = actions_budget_left(c, now, &flags.budget_limited);
    const struct decision_def *def = NULL;
    /* decide() starts cooldowns; a decision that cannot be recorded must not. */
    double saved_exec[r->n_decisions ? r->n_decisions : 1];
    memcpy(saved_exec, c->st.last_exec, r->n_decisions * sizeof(double));
    /* The step `test` and `backtest` replay too: evaluate(), then decide(). */
    enum decision_outcome outcome = step_evaluate(r, &c->st.eval, c->st.last_exec, values, now,
                                                  &flags, &res, &def, &c->baselines);
    /* on_no_effect: escalate: a worse state's decision in place of this one */
    json_t *esc =
        verdicts_escalate(c, NULL, &res, c->st.last_exec, saved_exec, &flags, now, &outcome, &def)
            ? verdicts_escalation_taken(c, NULL)
            : NULL;
    if (outcome != OUTCOME_NONE && !replicas_may_act(c)) {
        /* a standby records no decisions and starts no cooldowns: the leader's state, taken
         * over when this replica leads, has them (daemon/replicas.c) */
        memcpy(c->st.last_exec, saved_exec, r->n_decisions * sizeof(double));
        outcome = OUTCOME_NONE;
    }
    if (outcome == OUTCOME_EXECUTED && def && def->stop_on_no_effect &&
        verdicts_suspended(c, r->states[def->state].name, NULL)) {
        /* on_no_effect: stop; its cooldown starts all the same, so that the suspended
         * decision is recorded once a cooldown, not at every evaluation */
        outcome = OUTCOME_SUSPENDED;
    }
    baselines_save(c, now, false);
    c->last = res;
    if (res.changed)
        log_info("state %s -> %s: %s", eval_state_name(r, res.from), eval_state_name(r, res.to),
                 res.reasoning);
    json_t *d = NULL;
    const char *sname = eval_state_name(r, res.to);
    if (outcome != OUTCOME_NONE)
        d = controller_decision_with(c, &res, def, &outcome, &flags, NULL, c->st.last_exec,
                                     saved_exec, now, esc);
    json_decref(esc);
    controller_save_state(c);
    pthread_mutex_unlock(&c->lock);

    /* Actions run outside the lock (the API keeps answering), one at a time. */
    size_t failed = 0;
    if (outcome == OUTCOME_EXECUTED) {
        failed = actions_decision(c, def, d, &res, NULL, now);
        pthread_mutex_lock(&c->lock);
        controller_count_decision(c, sname, def, d, outcome);
        verdicts_schedule(c, def, d, NULL, now);
        if (failed)
            json_object_set_new(d, "failed_actions", json_integer((json_int_t)failed));
        pthread_mutex_unlock(&c->lock);
    }
    actions_effects(c, &res, now);
    json_decref(d);
    regulators_evaluate(c, &res, values, now);

    pthread_mutex_lock(&c->lock);
    /* What `systemctl status` shows: the state, why, and the last action. */
    const char *last =
        c->last_action ? json_string_value(json_object_get(c->last_action, "summary")) : NULL;
    const char *last_result =
        c->last_action ? json_string_value(json_object_get(c->last_action, "result")) : NULL;
    snprintf(status, sizeof(status), "%s (confidence %.2f)%s%s%s: %.200s%s%.120s%s%s",
             eval_state_name(r, c->st.eval.current), res.confidence,
             res.uncertain ? ", data missing" : "", c->cli.dry_run ? ", dry run" : "",
             c->st.paused ? ", PAUSED" : "", res.reasoning, last ? "; last action: " : "",
             last ? last : "", last_result ? " " : "", last_result ? last_result : "");
    finish_evaluation(c, t0, status);
}

/* ---- reload ---- */

static int load_rules(const struct cli *cli, struct rules **ret, struct promql_client **ret_prom,
                      struct buf *errors)
{
    struct rules *r = NULL;
    int ret_code = rules_load_file(cli->config, &r, errors);
    if (ret_code < 0)
        return ret_code;
    for (const char *w = r->warnings; w && *w;) {
        const char *nl = strchr(w, '\n');
        size_t n = nl ? (size_t)(nl - w) : strlen(w);
        log_warning("rules: %.*s", (int)n, w);
        w += n + (nl ? 1 : 0);
    }
    if (cli->prometheus_url) {
        free(r->prometheus.url);
        r->prometheus.url = strdup(cli->prometheus_url);
        if (!r->prometheus.url) {
            rules_free(r);
            return -ENOMEM;
        }
    }
    if (!r->prometheus.url) {
        buf_printf(errors, "%s: prometheus.url is not set (and no --prometheus.url)\n",
                   cli->config);
        rules_free(r);
        return -EINVAL;
    }
    struct promql_client *p = NULL;
    ret_code = promql_client_new(&r->prometheus, &p, errors);
    if (ret_code < 0) {
        rules_free(r);
        return ret_code;
    }
    *ret = r;
    *ret_prom = p;
    return 0;
}

static void log_errors(const char *what, const struct buf *errors)
{
    const char *p = errors->data ? errors->data : "";
    log_error("%s", what);
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n)
            log_error("  %.*s", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

/* Rereads the token files (a rotation); an unusable file keeps the running tokens. */
static int reload_credentials(struct controller *c, struct buf *errors)
{
    struct credentials *fresh = NULL;
    struct buf found;
    buf_init(&found, 1 << 16);
    int r = credentials_load(c->cli.token_files, c->cli.n_token_files, &fresh, &found);
    if (r < 0) {
        metric_set(c->m.reload_ok, 0);
        log_errors("reload: a token file is unusable; keeping the running tokens:", &found);
        if (found.len)
            buf_append(errors, found.data, found.len);
        buf_free(&found);
        return r;
    }
    buf_free(&found);
    pthread_mutex_lock(&c->lock);
    struct credentials *old = c->creds;
    c->creds = fresh;
    pthread_mutex_unlock(&c->lock);
    credentials_free(old);
    log_info("reload: %zu API tokens (%zu admin, %zu operator, %zu receiver)",
             credentials_count(fresh), credentials_count_role(fresh, API_ROLE_ADMIN),
             credentials_count_role(fresh, API_ROLE_OPERATOR),
             credentials_count_role(fresh, API_ROLE_RECEIVER));
    return 0;
}

static int reload(struct controller *c, struct buf *errors)
{
    struct rules *r = NULL;
    struct promql_client *p = NULL;
    int ret = load_rules(&c->cli, &r, &p, errors);
    if (ret < 0) {
        metric_set(c->m.reload_ok, 0);
        log_errors("reload: the rules file is invalid; keeping the running rules:", errors);
        return ret;
    }
    if (c->cli.kubectl_server_dry_run && actions_check_kubectl(c, r, errors) < 0) {
        metric_set(c->m.reload_ok, 0);
        log_errors("reload: the API server rejects kubectl actions; keeping the running rules:",
                   errors);
        rules_free(r);
        promql_client_free(p);
        return -EINVAL;
    }
    double *last_exec = calloc(r->n_decisions ? r->n_decisions : 1, sizeof(double));
    if (!last_exec) {
        rules_free(r);
        promql_client_free(p);
        return -ENOMEM;
    }
    /* No action may run on the old rules while they are swapped. */
    pthread_mutex_lock(&c->act_lock);
    pthread_mutex_lock(&c->lock);
    /* Carry state, timers and cooldowns over by name, the targets' too. */
    ret = eval_state_rebase(&c->st.eval, c->rules, r);
    if (ret >= 0)
        ret = targets_rebase(c, c->rules, r);
    if (ret < 0) {
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_unlock(&c->act_lock);
        free(last_exec);
        rules_free(r);
        promql_client_free(p);
        return ret;
    }
    for (size_t i = 0; i < r->n_decisions; i++) {
        const char *name = r->states[r->decisions[i].state].name;
        for (size_t j = 0; j < c->rules->n_decisions; j++)
            if (strcmp(c->rules->states[c->rules->decisions[j].state].name, name) == 0)
                last_exec[i] = c->st.last_exec[j];
    }
    free(c->st.last_exec);
    c->st.last_exec = last_exec;
    struct rules *old = c->rules;
    struct promql_client *old_p = c->prom;
    c->rules = r;
    c->prom = p;
    free(c->values);
    free(c->results);
    c->values = NULL;
    c->results = NULL;
    c->have_eval = false;
    c->env.alertmanagers = r->alertmanagers;
    c->env.alert_resend_usec = r->alert_resend_usec;
    overrides_reapply(c);
    baselines_reset(c, old, r, NULL);
    if (regulators_init(c) < 0)
        log_error("reload: out of memory for the regulators; they hold until the next reload");
    controller_publish(c);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_unlock(&c->act_lock);
    rules_free(old);
    promql_client_free(old_p);
    metric_set(c->m.reload_ok, 1);
    metric_set(c->m.reload_time, now_realtime());
    log_info("reload: %s loaded (%zu signals, %zu states, %zu decisions)", c->cli.config,
             r->n_signals, r->n_states, r->n_decisions);
    return 0;
}

/* ---- HTTP API ---- */

/* Pets the systemd watchdog while an action keeps the main loop busy (bounded by the
 * action's own timeouts: see actions_mark); otherwise the main loop pets it. */
static void *watchdog_main(void *arg)
{
    struct controller *c = arg;
    uint64_t step = daemon_watchdog_usec() / 4;
    while (!__atomic_load_n(&c->stopping, __ATOMIC_RELAXED)) {
        struct timespec ts = {(time_t)(step / 1000000), (long)(step % 1000000) * 1000};
        nanosleep(&ts, NULL);
        if (now_usec() < __atomic_load_n(&c->acting_until_usec, __ATOMIC_RELAXED))
            sd_notify(0, "WATCHDOG=1");
    }
    return NULL;
}

/* Reloads --web.config.file into the running server: users, headers and the rate limit
 * apply at once, TLS settings at the next start (said in the log). An invalid file keeps
 * the running configuration. Returns 0 (also without the flag), or -errno with the
 * errors appended to errors. */
static int reload_web(struct controller *c, struct httpd *http, struct buf *errors)
{
    if (!c->cli.web_config_file)
        return 0;
    struct buf found;
    buf_init(&found, 1 << 16);
    char d[256];
    int r = httpd_reload_webconfig(http, c->cli.web_config_file, &found, d, sizeof(d));
    if (r < 0) {
        metric_set(c->m.reload_ok, 0);
        log_errors("reload: the web configuration is invalid; keeping the running one:", &found);
        if (found.len)
            buf_append(errors, found.data, found.len);
        buf_free(&found);
        return r;
    }
    buf_free(&found);
    if (r > 0)
        log_warning("reload: %s: the TLS settings changed; they apply at the next restart "
                    "(users, headers and the rate limit apply now)",
                    c->cli.web_config_file);
    log_info("reload: %s loaded (%s)", c->cli.web_config_file, d);
    return 0;
}

static int run_daemon(struct controller *c)
{
    struct buf errors;
    buf_init(&errors, 1 << 16);
    /* The web configuration first: an invalid one stops the start. */
    struct webconfig *web = NULL;
    if (c->cli.web_config_file) {
        int wr = webconfig_load_file(c->cli.web_config_file, &web, &errors);
        if (wr < 0) {
            if (!errors.len)
                buf_printf(&errors, "%s: %s\n", c->cli.web_config_file, strerror(-wr));
            log_errors(PROG ": cannot start: the web configuration is invalid:", &errors);
            buf_free(&errors);
            return 1;
        }
        char d[256];
        webconfig_describe(web, d, sizeof(d));
        log_info("web: loaded %s (%s)", c->cli.web_config_file, d);
    }
    int r = load_rules(&c->cli, &c->rules, &c->prom, &errors);
    if (r < 0) {
        log_errors(PROG ": cannot start: the rules file is invalid:", &errors);
        buf_free(&errors);
        return 1;
    }
    buf_free(&errors);
    buf_init(&errors, 1 << 16);
    r = credentials_load(c->cli.token_files, c->cli.n_token_files, &c->creds, &errors);
    if (r < 0) {
        log_errors(PROG ": cannot start: a --web.*-token-file is unusable:", &errors);
        buf_free(&errors);
        return 1;
    }
    buf_free(&errors);
    const char *dir =
        c->cli.state_directory ? c->cli.state_directory : "/var/lib/homeostat-controller";
    if (mkdir(dir, 0750) < 0 && errno != EEXIST)
        return log_error_errno(errno, PROG ": cannot create --state.directory %s", dir), 1;
    if (path_join(c->state_path, sizeof(c->state_path), dir, "state.json") < 0 ||
        path_join(c->baselines_path, sizeof(c->baselines_path), dir, "baselines.json") < 0)
        return log_error(PROG ": --state.directory is too long"), 1;
    char audit_file[PATH_MAX];
    if (c->cli.audit_log)
        snprintf(audit_file, sizeof(audit_file), "%s", c->cli.audit_log);
    else if (path_join(audit_file, sizeof(audit_file), dir, "audit.jsonl") < 0)
        return log_error(PROG ": --state.directory is too long"), 1;
    /* A save killed between write and rename leaves state.json.tmp.PID behind. */
    DIR *dh = opendir(dir);
    if (dh) {
        struct dirent *de;
        while ((de = readdir(dh)))
            if (strncmp(de->d_name, "state.json.tmp.", 15) == 0)
                unlinkat(dirfd(dh), de->d_name, 0);
        closedir(dh);
    }
    size_t dropped = 0;
    r = audit_open(audit_file, HISTORY_SIZE, &c->audit, &dropped);
    if (r < 0)
        return log_error_errno(r, PROG ": cannot open the audit log %s", audit_file), 1;
    if (dropped)
        log_warning("audit: %s ended in a partial record (%zu bytes, a crash during a write); "
                    "cut off",
                    audit_file, dropped);
    json_t *recent = audit_recent(c->audit, 1);
    if (json_array_size(recent) == 1)
        c->last_decision = json_incref(json_array_get(recent, 0));
    json_decref(recent);

    double now = now_realtime();
    c->st.last_exec = calloc(c->rules->n_decisions ? c->rules->n_decisions : 1, sizeof(double));
    if (!c->st.last_exec || eval_state_init(&c->st.eval, c->rules, now) < 0 ||
        statefile_init_json(&c->st) < 0)
        return log_error(PROG ": out of memory"), 1;
    buf_init(&errors, 4096);
    r = statefile_load(c->state_path, c->rules, &c->st, &errors);
    if (r == 0)
        log_info("state: restored %s (%s since %.0f)", c->state_path,
                 eval_state_name(c->rules, c->st.eval.current), c->st.eval.since);
    else if (r != -ENOENT)
        log_warning("state: %s; starting fresh", errors.data ? errors.data : "unreadable");
    buf_free(&errors);
    if (c->rules->targets.by && c->st.targets)
        targets_restore(c, c->st.targets);
    json_decref(c->st.targets); /* restored: the machines are the table's now */
    c->st.targets = NULL;
    if (regulators_init(c) < 0)
        return log_error(PROG ": out of memory"), 1;
    json_t *saved_baselines = baselines_load(c);
    baselines_reset(c, NULL, c->rules, saved_baselines);
    const json_t *saved_targets = json_object_get(saved_baselines, "targets");
    for (size_t i = 0; saved_targets && i < c->targets.n; i++) {
        struct target *t = c->targets.list[i];
        if (baseline_set_restore(&t->baselines, c->rules, json_object_get(saved_targets, t->key)) <
            0)
            log_error("baselines: out of memory restoring %s's", t->key);
    }
    json_decref(saved_baselines);
    if (c->cli.baselines_seed && baselines_seed(c) < 0)
        return 1;
    c->reg = registry_new();
    if (!c->reg || controller_metrics_init(c) < 0 || replicas_metrics_init(c) < 0 ||
        amreceiver_new(c->st.alerts_received, &c->alerts) < 0)
        return log_error(PROG ": out of memory"), 1;
    metric_set(c->m.audit_truncated, (double)dropped);
    verdicts_publish(c);
    c->env.kubectl_path = c->cli.kubectl_path;
    c->env.systemd_user_bus = c->cli.systemd_user_bus;
    c->env.alertmanagers = c->rules->alertmanagers;
    c->env.alert_resend_usec = c->rules->alert_resend_usec;
    overrides_reapply(c);
    if (json_array_size(c->st.effects))
        log_info("state: %zu actions in effect, to be reverted when their state is left",
                 json_array_size(c->st.effects));
    if (c->cli.kubectl_server_dry_run) {
        buf_init(&errors, 1 << 16);
        if (actions_check_kubectl(c, c->rules, &errors) < 0) {
            log_errors(PROG ": cannot start: the API server rejects kubectl actions:", &errors);
            buf_free(&errors);
            return 1;
        }
        buf_free(&errors);
    }
    metric_set(c->m.reload_ok, 1);
    metric_set(c->m.reload_time, now);
    controller_publish(c);

    struct httpd_options hopts = {
        .listen_address = c->cli.listen_address ? c->cli.listen_address : DEFAULT_LISTEN,
        .connection_limit =
            c->cli.web_max_connections ? c->cli.web_max_connections : DEFAULT_MAX_CONNECTIONS,
        .per_ip_limit = c->cli.web_max_connections_per_ip ? c->cli.web_max_connections_per_ip
                                                          : DEFAULT_MAX_CONNECTIONS_PER_IP,
        .timeout_sec = c->cli.web_timeout_sec ? c->cli.web_timeout_sec : DEFAULT_WEB_TIMEOUT_SEC,
        .connection_memory = 64 * 1024,
        .max_body_bytes = 64 * 1024,
        .threads = 2,
        .web = web,
    };
    struct httpd *http;
    r = httpd_start(&hopts, api_handle, c, &http);
    webconfig_unref(web); /* httpd keeps its own reference */
    if (r < 0)
        return log_error_errno(
                   r, PROG ": cannot listen on %s%s", hopts.listen_address,
                   r == -EPROTONOSUPPORT ? " with TLS: libmicrohttpd was built without it" : ""),
               1;
    const char *ext = c->cli.external_url ? c->cli.external_url : c->rules->external_url;
    snprintf(c->generator_url, sizeof(c->generator_url), "%s", ext ? ext : "");
    if (!ext)
        snprintf(c->generator_url, sizeof(c->generator_url), "%s://%s/",
                 httpd_tls(http) ? "https" : "http", httpd_bound_address(http));
    c->env.generator_url = c->generator_url;
    log_info(PROG " %s listening on %s://%s (rules %s, %zu signals, %zu states%s)",
             HOMEOSTAT_VERSION, httpd_tls(http) ? "https" : "http", httpd_bound_address(http),
             c->cli.config, c->rules->n_signals, c->rules->n_states,
             c->cli.dry_run ? ", dry run" : "");
    if (replicas_start(c) != 0) {
        httpd_stop(http);
        return 1;
    }
    daemon_notify_ready("rules loaded; waiting for the first evaluation");
    pthread_t wd;
    bool wd_started =
        daemon_watchdog_usec() > 0 && pthread_create(&wd, NULL, watchdog_main, c) == 0;

    uint64_t next = now_usec();
    for (;;) {
        uint64_t t = now_usec();
        enum daemon_event ev = next > t ? daemon_wait(next - t) : DAEMON_EVENT_TIMEOUT;
        if (ev == DAEMON_EVENT_STOP)
            break;
        pthread_mutex_lock(&c->lock);
        bool http_reload = c->reload_requested;
        c->reload_requested = false;
        pthread_mutex_unlock(&c->lock);
        if (ev == DAEMON_EVENT_RELOAD || (ev == DAEMON_EVENT_WAKE && http_reload)) {
            daemon_notify_reloading();
            buf_init(&errors, 1 << 16);
            int rr = reload(c, &errors);
            int wr = reload_web(c, http, &errors);
            int cr = reload_credentials(c, &errors);
            if (wr >= 0 && cr < 0)
                wr = cr;
            daemon_notify_ready(rr < 0   ? "reload failed; running the previous rules"
                                : wr < 0 ? "rules reloaded; the web configuration or a "
                                           "token file is unusable"
                                         : "rules reloaded");
            if (rr >= 0 && wr < 0)
                rr = wr;
            pthread_mutex_lock(&c->lock);
            c->reload_result = rr;
            buf_reset(&c->reload_errors);
            if (errors.len)
                buf_append(&c->reload_errors, errors.data, errors.len);
            c->reload_count++;
            pthread_cond_broadcast(&c->evaluated);
            pthread_mutex_unlock(&c->lock);
            buf_free(&errors);
            if (!(ev == DAEMON_EVENT_WAKE && c->eval_requested))
                continue;
        }
        if (ev == DAEMON_EVENT_WAKE || ev == DAEMON_EVENT_TIMEOUT) {
            replicas_takeover(c); /* once after becoming leader, before acting */
            evaluate_once(c);
            replicas_share_baselines(c); /* when written since (at most once a minute) */
            /* a standby judges nothing: the leader does */
            if (replicas_may_act(c))
                verdicts_judge_due(c, now_realtime());
            if (ev == DAEMON_EVENT_TIMEOUT || next <= now_usec()) {
                pthread_mutex_lock(&c->lock);
                next = now_usec() + overrides_interval_usec(c);
                pthread_mutex_unlock(&c->lock);
            }
        }
    }
    log_info(PROG ": stopping");
    daemon_notify_stopping();
    if (wd_started) {
        __atomic_store_n(&c->stopping, true, __ATOMIC_RELAXED);
        pthread_join(wd, NULL);
    }
    httpd_stop(http);
    replicas_stop(c); /* the lease given up: another replica leads at once */
    pthread_mutex_lock(&c->lock);
    baselines_save(c, now_realtime(), true);
    controller_save_state(c); /* with the targets' machines */
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static void controller_free(struct controller *c)
{
    audit_close(c->audit);
    json_decref(c->last_decision);
    json_decref(c->last_action);
    amreceiver_free(c->alerts);
    regulators_free(c);
    baseline_set_free(&c->baselines);
    json_decref(c->baseline_seed);
    free(c->ha_baselines);
    statefile_free_json(&c->st);
    targets_free(&c->targets);
    eval_state_free(&c->st.eval);
    free(c->st.last_exec);
    free(c->values);
    free(c->results);
    promql_client_free(c->prom);
    rules_free(c->rules);
    registry_free(c->reg);
    credentials_free(c->creds);
    buf_free(&c->reload_errors);
}

int controller_run(int argc, char **argv)
{
    struct controller c;
    memset(&c, 0, sizeof(c));
    int r = controller_parse_flags(argc, argv, &c.cli);
    if (r != 0)
        return r > 0 ? 0 : 2;
    if (optind < argc) {
        fprintf(stderr,
                PROG ": unexpected argument '%s' (subcommands: check, test, backtest, "
                     "report)\n",
                argv[optind]);
        return 2;
    }
    if (!c.cli.config) {
        fprintf(stderr, PROG ": --config=FILE is required (or use 'check' or 'test')\n");
        return 2;
    }
    daemon_raise_nofile(); /* the connection limits, not a soft limit of 1024, apply */
    daemon_block_signals();
    curl_global_init(CURL_GLOBAL_DEFAULT); /* before any thread, as libcurl asks */
    pthread_mutex_init(&c.lock, NULL);
    pthread_cond_init(&c.evaluated, NULL);
    pthread_mutex_init(&c.act_lock, NULL);
    pthread_mutex_init(&c.save_lock, NULL);
    buf_init(&c.reload_errors, 1 << 16);
    r = run_daemon(&c);
    controller_free(&c);
    curl_global_cleanup();
    return r;
}
