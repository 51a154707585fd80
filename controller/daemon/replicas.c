/* replicas: the daemon's side of high availability (--ha.*, clients/ha.h). Every replica
 * evaluates; one leads and acts. A replica acts only while it leads and after it has taken
 * the shared state over (the state file's text another leader wrote to the backend), so a
 * new leader neither repeats what the last one did nor forgets what it must revert. Before
 * each action the state is written to the backend in one request bound to the lease (the
 * fence): a leader that lost its lease while paused cannot act on waking. A standby records
 * no decisions (its audit log holds its transitions), refuses the API's requests that change
 * something (503, naming the leader) and holds its regulators. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "daemon.h"
#include "log.h"
#include "parse.h"

static unsigned long long load(const unsigned long long *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

/* The HA thread (or a fence) tells of a transition: an audit record, at once. */
static void on_change(void *ctx, bool leader, const char *why)
{
    struct controller *c = ctx;
    if (leader)
        __atomic_add_fetch(&c->ha_acquired, 1, __ATOMIC_ACQ_REL);
    double now = now_realtime();
    json_t *st = ha_status_json(c->ha);
    pthread_mutex_lock(&c->lock);
    char id[48];
    controller_new_id(c, now, id, sizeof(id));
    json_t *rec = controller_record(leader ? "ha_leader" : "ha_standby", id, now);
    json_object_set_new(rec, "identity", json_incref(json_object_get(st, "identity")));
    json_object_set_new(rec, "backend", json_incref(json_object_get(st, "backend")));
    json_object_set_new(rec, "lease", json_incref(json_object_get(st, "lease")));
    json_object_set_new(rec, "reasoning", json_string(why));
    int r = audit_append(c->audit, rec);
    if (r < 0) {
        metric_add(c->m.audit_errors, 1);
        log_error_errno(r, "audit: cannot record that this replica %s",
                        leader ? "leads" : "stepped down");
    }
    json_decref(rec);
    replicas_publish(c);
    pthread_mutex_unlock(&c->lock);
    json_decref(st);
    if (leader)
        daemon_wake(); /* take the state over and carry on now, not at the next interval */
}

int replicas_start(struct controller *c)
{
    if (c->cli.ha.backend == HA_NONE)
        return 0;
    char msg[512] = "";
    int r = ha_start(&c->cli.ha, on_change, c, &c->ha, msg, sizeof(msg));
    if (r < 0) {
        log_error(PROG ": cannot start high availability: %s", msg[0] ? msg : strerror(-r));
        return 1;
    }
    json_t *st = ha_status_json(c->ha);
    log_info("ha: %s backend, lease %s, this replica %s; acting only while leading",
             json_string_value(json_object_get(st, "backend")),
             json_string_value(json_object_get(st, "lease")),
             json_string_value(json_object_get(st, "identity")));
    json_decref(st);
    return 0;
}

void replicas_stop(struct controller *c)
{
    ha_stop(c->ha);
    c->ha = NULL;
}

bool replicas_may_act(struct controller *c)
{
    if (!c->ha)
        return true;
    return ha_leading(c->ha) && load(&c->ha_adopted) == load(&c->ha_acquired);
}

/* Who leads, for messages (NULL: nobody known). */
static void leader_text(struct controller *c, char *buf, size_t size)
{
    json_t *st = ha_status_json(c->ha);
    const char *holder = json_string_value(json_object_get(st, "holder"));
    const char *why = json_string_value(json_object_get(st, "why"));
    if (holder && strcmp(holder, json_string_value(json_object_get(st, "identity"))) != 0)
        snprintf(buf, size, "not the leader: %s leads", holder);
    else
        snprintf(buf, size, "not the leader: %s", why ? why : "no lease");
    json_decref(st);
}

int replicas_fence(struct controller *c, char *why, size_t why_size)
{
    if (!c->ha)
        return 0;
    if (!replicas_may_act(c)) {
        leader_text(c, why, why_size);
        return -EPERM;
    }
    struct state_snapshot snap;
    struct buf both;
    buf_init(&both, STATE_MAX_FILE_BYTES);
    pthread_mutex_lock(&c->lock);
    int r = controller_state_snapshot(c, &snap);
    /* the baselines last written ride along under "ha_baselines" (the state file's reader
     * passes over it), when the two fit the backend together */
    char *end = r == 0 && c->ha_baselines ? memrchr(snap.text.data, '}', snap.text.len) : NULL;
    c->ha_baselines_new = false;
    if (end &&
        (buf_append(&both, snap.text.data, (size_t)(end - snap.text.data)) < 0 ||
         buf_puts(&both, ",\"ha_baselines\":") < 0 ||
         buf_append(&both, c->ha_baselines, c->ha_baselines_len) < 0 || buf_puts(&both, "}") < 0))
        buf_free(&both);
    pthread_mutex_unlock(&c->lock);
    if (r == 0)
        r = ha_fence_either(c->ha, both.len ? both.data : snap.text.data,
                            both.len ? both.len : snap.text.len, snap.text.data, snap.text.len);
    else
        r = ha_fence(c->ha, NULL, 0);
    buf_free(&snap.text);
    buf_free(&both);
    if (r == -EPERM)
        snprintf(why, why_size, "fenced: this replica no longer holds the lease");
    else if (r < 0)
        snprintf(why, why_size, "cannot confirm the lease with the backend (%s)", strerror(-r));
    pthread_mutex_lock(&c->lock);
    replicas_publish(c);
    pthread_mutex_unlock(&c->lock);
    return r;
}

void replicas_share(struct controller *c)
{
    char why[300];
    if (c->ha && replicas_may_act(c))
        (void)replicas_fence(c, why, sizeof(why));
}

void replicas_share_baselines(struct controller *c)
{
    if (!c->ha)
        return;
    pthread_mutex_lock(&c->lock);
    bool fresh = c->ha_baselines_new;
    c->ha_baselines_new = false;
    pthread_mutex_unlock(&c->lock);
    if (fresh)
        replicas_share(c);
}

/* The shared state replaces this replica's own (lock held). */
static void adopt(struct controller *c, const struct buf *text, double now)
{
    const struct rules *r = c->rules;
    struct controller_state ns;
    memset(&ns, 0, sizeof(ns));
    struct buf errors;
    buf_init(&errors, 4096);
    ns.last_exec = calloc(r->n_decisions ? r->n_decisions : 1, sizeof(double));
    int e = !ns.last_exec || eval_state_init(&ns.eval, r, now) < 0 || statefile_init_json(&ns) < 0
                ? -ENOMEM
                : statefile_load_text("the shared state", text->data, text->len, r, &ns, &errors);
    if (e < 0) {
        log_error("ha: %s; carrying on from this replica's own",
                  e == -ENOMEM ? "out of memory taking the shared state over" : errors.data);
        free(ns.last_exec);
        if (ns.eval.n_states)
            eval_state_free(&ns.eval);
        statefile_free_json(&ns);
        buf_free(&errors);
        return;
    }
    buf_free(&errors);
    /* the alerts Alertmanager sent this replica stay its own (the receiver holds them) */
    json_t *alerts = ns.alerts_received;
    ns.alerts_received = c->st.alerts_received;
    c->st.alerts_received = alerts;
    struct controller_state old = c->st;
    c->st = ns;
    alerts = old.alerts_received;
    old.alerts_received = c->st.alerts_received;
    c->st.alerts_received = alerts;
    free(old.last_exec);
    eval_state_free(&old.eval);
    statefile_free_json(&old);
    if (r->targets.by && c->st.targets)
        targets_restore(c, c->st.targets);
    json_decref(c->st.targets);
    c->st.targets = NULL;
    /* the baselines: this replica learned its own from the same evaluations; the leader's
     * fill those it has none of (it started later, or a target is new to it) */
    json_t *whole = json_loadb(text->data, text->len, 0, NULL);
    const json_t *bl = json_object_get(whole, "ha_baselines");
    if (json_is_object(bl))
        controller_baselines_adopt(c, bl);
    json_decref(whole);
    if (regulators_init(c) < 0)
        log_error("ha: out of memory restoring the regulators");
    overrides_reapply(c);
    verdicts_publish(c);
    metric_set(c->m.in_effect, (double)json_array_size(c->st.effects));
}

void replicas_takeover(struct controller *c)
{
    if (!c->ha)
        return;
    unsigned long long acquired = load(&c->ha_acquired);
    if (acquired == load(&c->ha_adopted) || !ha_leading(c->ha))
        return;
    struct buf text;
    buf_init(&text, STATE_MAX_FILE_BYTES);
    char msg[512] = "";
    int r = ha_get_state(c->ha, &text, msg, sizeof(msg));
    if (r < 0) {
        /* not acting until it can be read: acting without it could repeat or forget */
        log_error("ha: cannot read the shared state: %s; not acting yet",
                  msg[0] ? msg : strerror(-r));
        buf_free(&text);
        return;
    }
    double now = now_realtime();
    pthread_mutex_lock(&c->lock);
    size_t before = json_array_size(c->st.effects);
    if (text.len)
        adopt(c, &text, now);
    char id[48];
    controller_new_id(c, now, id, sizeof(id));
    json_t *rec = controller_record("ha_takeover", id, now);
    json_object_set_new(rec, "state_bytes", json_integer((json_int_t)text.len));
    json_object_set_new(rec, "effects", json_integer((json_int_t)json_array_size(c->st.effects)));
    json_object_set_new(rec, "paused", json_boolean(c->st.paused));
    json_object_set_new(rec, "reasoning",
                        json_string(text.len ? "carrying on from the shared state the last "
                                               "leader wrote"
                                             : "no shared state yet: carrying on from this "
                                               "replica's own"));
    if (audit_append(c->audit, rec) < 0)
        metric_add(c->m.audit_errors, 1);
    json_decref(rec);
    log_notice("ha: took the shared state over (%zu bytes; %zu actions in effect, %zu before)",
               text.len, json_array_size(c->st.effects), before);
    controller_save_state(c);
    __atomic_store_n(&c->ha_adopted, acquired, __ATOMIC_RELEASE);
    replicas_publish(c);
    pthread_mutex_unlock(&c->lock);
    buf_free(&text);
}

bool replicas_refuse(struct controller *c, char *msg, size_t msg_size)
{
    if (!c->ha || replicas_may_act(c))
        return false;
    leader_text(c, msg, msg_size);
    return true;
}

json_t *replicas_status_json(struct controller *c)
{
    json_t *o = ha_status_json(c->ha);
    json_object_set_new(o, "acting", json_boolean(replicas_may_act(c)));
    static const char *const times[] = {"since", "error_time"}; /* as the API's others */
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        const json_t *t = json_object_get(o, times[i]);
        if (json_is_number(t))
            json_object_set_new(o, times[i], json_time(json_number_value(t)));
    }
    return o;
}

/* The backend's counters as the registry's (counters only go up). */
static void set_counter(struct metric *m, double v)
{
    double d = v - metric_value(m);
    if (d > 0)
        metric_add(m, d);
}

void replicas_publish(struct controller *c)
{
    struct ha_counters n;
    ha_counters(c->ha, &n);
    bool acting = replicas_may_act(c);
    metric_set(c->ha_m.leader, acting ? 1 : 0);
    if (!c->ha)
        return;
    set_counter(c->ha_m.acquired, (double)n.acquired);
    set_counter(c->ha_m.lost, (double)n.lost);
    set_counter(c->ha_m.fenced, (double)n.fenced);
    set_counter(c->ha_m.errors, (double)n.errors);
    set_counter(c->ha_m.state_writes, (double)n.state_writes);
    set_counter(c->ha_m.too_large, (double)n.state_too_large);
}

int replicas_metrics_init(struct controller *c)
{
    struct registry *r = c->reg;
    struct ha_metrics *m = &c->ha_m;
    m->leader = registry_metric(r, "homeostat_controller_leader", METRIC_GAUGE,
                                "1 while this replica may act: no --ha.backend, or it holds "
                                "the lease and has taken the shared state over; 0 on a "
                                "standby.");
    if (!m->leader)
        return -ENOMEM;
    if (c->cli.ha.backend == HA_NONE) {
        metric_set(m->leader, 1);
        return 0;
    }
    struct rfamily *tr = registry_family(
        r, "homeostat_controller_ha_transitions_total", METRIC_COUNTER,
        "Leadership transitions of this replica: acquired (it became leader), lost (it "
        "stepped down: another holds the lease, it could not renew, or it was fenced).",
        (const char *const[]){"transition", NULL}, NULL, 0);
    m->acquired = tr ? registry_series(tr, (const char *const[]){"acquired", NULL}) : NULL;
    m->lost = tr ? registry_series(tr, (const char *const[]){"lost", NULL}) : NULL;
    m->fenced = registry_metric(r, "homeostat_controller_ha_fenced_total", METRIC_COUNTER,
                                "Actions not run because the check immediately before them "
                                "found the lease no longer this replica's.");
    m->errors = registry_metric(r, "homeostat_controller_ha_backend_errors_total", METRIC_COUNTER,
                                "Requests to the HA backend that failed (unreachable, no "
                                "quorum, an error answer).");
    m->state_writes =
        registry_metric(r, "homeostat_controller_ha_state_writes_total", METRIC_COUNTER,
                        "Writes of the shared state to the HA backend (one before each "
                        "action, bound to the lease).");
    m->too_large =
        registry_metric(r, "homeostat_controller_ha_state_too_large_total", METRIC_COUNTER,
                        "Fences whose state was over the backend's limit once "
                        "gzipped, so not shared.");
    return m->acquired && m->lost && m->fenced && m->errors && m->state_writes && m->too_large
               ? 0
               : -ENOMEM;
}
