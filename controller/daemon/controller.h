/* controller: the daemon's shared state and the functions of its files, which call one
 * another one way: run.c (start, the evaluation loop, reloads) -> api.c (the HTTP API) ->
 * targets_api.c (the targets' views) -> actions.c (decisions' and manual actions, reverts,
 * the hourly budget) and overrides.c (runtime overrides) -> records.c (ids, audit, state
 * file, metrics) -> targets_table.c (the table of targets); run.c -> targets.c (an
 * evaluation with targets) -> actions.c; flags.c reads the command line. Locking: `lock` guards
 * everything the HTTP threads read or change; the main thread alone swaps the rules. `act_lock`
 * serialises actuation, which runs outside `lock` so the API stays responsive while an action waits
 * on its timeout. */
#ifndef HOMEOSTAT_CONTROLLER_CONTROLLER_H
#define HOMEOSTAT_CONTROLLER_CONTROLLER_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>

#include "actuator.h"
#include "amreceiver.h"
#include "audit.h"
#include "buf.h"
#include "credentials.h"
#include "decide.h"
#include "evaluate.h"
#include "ha.h"
#include "hmap.h"
#include "ivec.h"
#include "httpd.h"
#include "promql.h"
#include "mset.h"
#include "registry.h"
#include "rules.h"
#include "statefile.h"
#include "step.h" /* struct baseline_set */

#define PROG "homeostat-controller"
#define HISTORY_SIZE 256
#define DEFAULT_LISTEN "127.0.0.1:19111"
/* The API's connection limits (--web.max-connections, --web.max-connections-per-ip,
 * --web.timeout in seconds): a few operators, Prometheus and Alertmanager talk to it. */
#define DEFAULT_MAX_CONNECTIONS 2048u
#define DEFAULT_MAX_CONNECTIONS_PER_IP 32u
#define DEFAULT_WEB_TIMEOUT_SEC 30u
#define EFFECTS_MAX 256 /* actions in effect kept for revert; the oldest are forgotten */
/* ... with targets: 2 per target of targets.max, this at most */
#define EFFECTS_MAX_TARGETS 20000

struct cli {
    const char *config;
    const char *prometheus_url;
    const char *listen_address;
    /* --web.{receiver,operator,admin}-token-file, each repeatable */
    const char *token_files[API_ROLE_MAX][CREDENTIALS_MAX_FILES];
    size_t n_token_files[API_ROLE_MAX];
    const char *state_directory;
    const char *audit_log;
    const char *baselines_seed; /* --baselines.seed: `baseline learn`'s file (NULL: none) */
    const char *kubectl_path;
    const char *external_url;
    const char *web_config_file;         /* --web.config.file: TLS, basic auth; NULL: none */
    unsigned web_max_connections;        /* --web.max-connections, 0: the default */
    unsigned web_max_connections_per_ip; /* --web.max-connections-per-ip, 0: the default */
    unsigned web_timeout_sec;            /* --web.timeout, 0: the default */
    bool systemd_user_bus;
    bool kubectl_server_dry_run;
    bool dry_run;
    struct ha_config ha;     /* --ha.*: leader election (backend HA_NONE: none) */
    char ha_endpoints[2048]; /* --ha.etcd.endpoints, cut at its commas into ha.endpoints */
};

/* A target of a rules file with a targets section (daemon/targets.c): its own machine,
 * cooldowns, budget, pause and last decision; everything a file without targets keeps
 * once in struct controller_state. */
/* A target's last evaluation, kept compactly: its reasoning at its own length (10,000
 * eval_results, each with a fixed 2 KiB reasoning buffer, were 24 MiB). */
struct target_result {
    size_t from, to;
    bool changed, uncertain;
    double confidence;
    struct confidence_parts parts;
    char *reasoning; /* NULL before the first evaluation */
    size_t reasoning_cap;
};

struct target {
    struct hnode node;
    char *key;      /* {namespace="a",deployment="web"} */
    char id[17];    /* hex of a hash of the key: /api/v1/targets/{id} */
    json_t *labels; /* {"namespace": "a", "deployment": "web"} */
    struct eval_state eval;
    double *last_exec; /* per decision of the rules, 0 = never */
    struct target_result last;
    bool have_eval;
    struct signal_value *values;  /* the last evaluation's, per signal (NULL before one) */
    double first_seen, last_seen; /* epoch seconds: series seen first and last */
    bool paused;                  /* POST /api/v1/targets/{id}/pause */
    bool forgetting;      /* no series for forget_after: its actions are reverted, then it goes */
    bool seen;            /* had series at the last evaluation */
    json_t *action_times; /* actions run for it in the last hour (per-target budget) */
    char *last_decision;  /* its last decision record as compact JSON text (NULL: none) */
    struct regulator_run *regs; /* one per regulator of the rules (NULL without any) */
    size_t n_regs;
    struct baseline_set baselines; /* its signals' baselines */
};

/* How often the baselines are written out (DIR/baselines.json, apart from the state file,
 * which is written every evaluation): a crash loses at most this much learning; the stop
 * writes them all. */
#define BASELINES_SAVE_SECONDS 60.0

/* The targets, the table the main thread evaluates and the HTTP threads read (lock). */
struct target_table {
    struct hmap map;
    struct target **list; /* in no order; the API sorts */
    size_t n, cap;
    size_t refused_last; /* new targets refused by targets.max at the last evaluation */
    bool storm_active;   /* more targets wanted to act than the storm guard allows, last time */
    uint64_t seed;       /* matching's hash seed (random, set once) */
};

struct metrics {
    struct rfamily *state, *decisions, *signal_value, *signal_known, *query_errors, *actions,
        *webhooks, *api_denied, *reg_output, *reg_setpoint, *reg_signal, *reg_changes, *effects,
        *suspended, *escalations;
    struct metric *confidence, *evaluations, *last_eval, *eval_duration, *query_duration,
        *reload_ok, *reload_time, *paused, *dry_run, *audit_errors, *state_errors, *since,
        *in_effect, *budget_left, *overrides, *alerts_firing, *action_duration, *audit_truncated,
        *targets_refused, *storm_refused, *storm_active, *state_save_duration;
};

/* replicas.c's metrics (--ha.*): leader always, the others with a backend */
struct ha_metrics {
    struct metric *leader, *acquired, *lost, *fenced, *errors, *state_writes, *too_large;
};

/* A regulator as the daemon runs it (daemon/regulators.c), for the controller or for one
 * target: its state, its last step, and for the controller's a short trajectory for the API
 * and the status page. */
#define REGULATOR_HISTORY 120
/* Targets whose regulator runs keep a history too (for the charts of their status page):
 * those added while fewer targets than this are known, so that at most this many have one
 * (120 steps of 24 bytes per regulator: about 2.8 MiB per regulator for 1000). */
#define REGULATOR_TARGET_HISTORIES 1000
struct regulator_point {
    double time, output, signal; /* signal NaN: unknown */
};
struct regulator_run {
    struct regulator_state st;
    struct regulator_step last; /* the last step (last_time 0: none yet) */
    double last_time;
    bool signal_known, paused;
    double signal;
    bool budget_recorded;         /* a change held by the budget was recorded */
    double verdict_at;            /* when its last change to be judged was applied (0: none) */
    json_t *change_times;         /* changes applied (or dry run) in the last hour */
    struct regulator_point *hist; /* REGULATOR_HISTORY of them, or NULL (a target's) */
    size_t n_hist, hist_next;
};

struct controller {
    struct cli cli;
    pthread_mutex_t lock; /* everything below, for the HTTP threads */
    pthread_cond_t evaluated;
    pthread_mutex_t act_lock; /* one actuation at a time */
    /* One state file write at a time; a snapshot older than the one written is dropped. */
    pthread_mutex_t save_lock;
    unsigned long long save_seq, saved_seq; /* snapshots taken (lock), written (save_lock) */
    size_t state_size;                      /* the last snapshot's bytes (lock) */
    struct rules *rules;
    struct promql_client *prom;
    struct controller_state st;
    struct baseline_set baselines; /* without targets: the signals' baselines */
    double baselines_saved_at;     /* when DIR/baselines.json was last written */
    char baselines_path[4096];     /* DIR/baselines.json */
    json_t *baseline_seed;         /* --baselines.seed's "targets" ({KEY: ...}; NULL: none) */
    struct target_table targets;   /* empty for rules without targets */
    struct regulator_run *regs;    /* per regulator of the rules (without targets) */
    size_t n_regs;
    struct signal_value *values;
    struct promql_result *results;
    struct eval_result last;
    bool have_eval;
    double last_eval_time;
    unsigned long long eval_count;
    json_t *last_decision;
    json_t *last_action; /* the last action result record, for the status (NULL) */
    struct audit *audit;
    bool audit_deferred; /* controller_decision appends without an fsync (targets.c syncs) */
    struct registry *reg;
    struct metrics m;
    char state_path[PATH_MAX];
    struct credentials *creds; /* the API's tokens by role; replaced on reload */
    bool eval_requested;
    /* POST /-/reload runs the reload on the main thread and waits for its result. */
    bool reload_requested;
    unsigned long long reload_count;
    int reload_result;
    struct buf reload_errors;
    struct amreceiver *alerts;
    struct actuator_env env;
    /* While an action runs the main loop does not pet the systemd watchdog; a thread
     * does, until this time (CLOCK_MONOTONIC usec; 0: nothing running). Atomic. */
    uint64_t acting_until_usec;
    /* --ha.backend (daemon/replicas.c): NULL without. A replica acts only while it leads and
     * has taken the shared state over since it last became leader (ha_adopted ==
     * ha_acquired; both atomic). */
    struct ha *ha;
    unsigned long long ha_acquired, ha_adopted;
    struct ha_metrics ha_m;
    char *ha_baselines; /* the last baselines.json written, shared at the next fence (lock) */
    size_t ha_baselines_len;
    bool ha_baselines_new; /* written since the last share (lock) */
    bool stopping;         /* atomic: the watchdog thread ends */
    bool report_running;   /* atomic: GET /api/v1/report builds one report at a time */
    char generator_url[512];
};

/* Who made a request that changes something: the role and credential of its bearer
 * token, the client address and, behind basic auth, the user. Written to the audit log
 * ("actor") and, as text ("by"), to the logs. */
struct api_actor {
    enum api_role role;
    char credential[CREDENTIALS_ID_SIZE];
    char address[80];
    char user[128]; /* "" without basic auth */
    char text[320]; /* "operator alice from 127.0.0.1 (user bob)" */
};

/* flags.c: the daemon's flags into cli. 0 to run, 1 after -h or --version (exit 0), or
 * -EINVAL after a message (exit 2). */
int controller_parse_flags(int argc, char **argv, struct cli *cli);

/* records.c */
/* Creates the daemon's metrics in c->reg. 0 or -ENOMEM. */
int controller_metrics_init(struct controller *c);
json_t *json_time(double t); /* RFC 3339 UTC with milliseconds, null for t <= 0 */
json_t *json_num(double v);  /* null for NaN and infinities */
/* A new decision id ("<ms hex>-<seq>"), lock held. */
void controller_new_id(struct controller *c, double now, char *buf, size_t size);
/* A new audit record {type, id, time, timestamp} (new reference). */
json_t *controller_record(const char *type, const char *id, double now);
/* Writes an operator's request to the audit log (lock held): rec (taken; NULL for an
 * empty one) gets type, a new id, the time, by (who->text) and actor (role, credential,
 * address, user). 0, or -errno (counted and logged). */
int controller_audit_operator(struct controller *c, const char *type, const struct api_actor *who,
                              json_t *rec);
/* The actor object of audit records (new reference). */
json_t *controller_actor_json(const struct api_actor *who);
/* Saves the state file, counting a failure (lock held). */
void controller_save_state(struct controller *c);
/* The same in two halves, so that the file is written without the lock: the snapshot (lock
 * held; 0 or -errno, its text to free by the write), then its write (lock not needed;
 * r: the snapshot's result, counted when it failed), one writer at a time, and a
 * snapshot older than one already written is dropped. */
struct state_snapshot {
    struct buf text;
    unsigned long long seq;
    uint64_t usec; /* spent making it */
};
int controller_state_snapshot(struct controller *c, struct state_snapshot *snap);
void controller_state_write(struct controller *c, struct state_snapshot *snap, int r);
void controller_publish(struct controller *c); /* lock held: gauges from the state */

/* records.c: the signals with values (the controller's, or a target's; NULL: not
 * evaluated yet) for the status and records (lock held; new reference). */
json_t *controller_signals_json(const struct controller *c, const struct signal_value *values,
                                double now);
/* records.c: keeps d (without its signals) as t's last decision; again once its actions
 * have their results. */
void controller_keep_last_decision(struct target *t, json_t *d);
/* records.c: the record of a decision (its explanation), written to the audit log before
 * anything runs. When the write fails the outcome becomes failed and last_exec is put
 * back from saved_exec (the cooldown does not start). With t, the record names the
 * target. Returns the record (new reference), lock held. */
json_t *controller_decision(struct controller *c, const struct eval_result *res,
                            const struct decision_def *def, enum decision_outcome *outcome,
                            const struct decide_flags *flags, struct target *t, double *last_exec,
                            const double *saved_exec, double now);
/* The same for a decision taken by on_no_effect: escalate: escalation (borrowed; NULL: an
 * ordinary decision) is what verdicts_escalation_taken gave; the record says so. */
json_t *controller_decision_with(struct controller *c, const struct eval_result *res,
                                 const struct decision_def *def, enum decision_outcome *outcome,
                                 const struct decide_flags *flags, struct target *t,
                                 double *last_exec, const double *saved_exec, double now,
                                 const json_t *escalation);
/* With c->audit_deferred the record is written without an fsync; when the audit_sync that
 * must follow fails, each executed decision of the batch becomes failed this way (its
 * record d, counted), before anything runs (lock held). */
void controller_decision_unsynced(struct controller *c, json_t *d, const struct decision_def *def,
                                  enum decision_outcome *outcome, struct target *t,
                                  double *last_exec, const double *saved_exec);
/* decisions_total for a recorded decision: one per action (or "none"), lock held. */
void controller_count_decision(struct controller *c, const char *state,
                               const struct decision_def *def, json_t *d,
                               enum decision_outcome outcome);

/* targets.c: one evaluation of a rules file's targets (its targets section), from the
 * signals' vectors this evaluation (vecs[i] when have[i]; none when signal i's query gave
 * none: see c->values and c->results): matching, a step per target, the storm guard,
 * records and actions, forgetting; status gets the sd_notify text. Main thread: called
 * without the lock, returns with it held. */
void targets_evaluate(struct controller *c, const struct ivec *vecs, const bool *have, double now,
                      char *status, size_t status_size);

/* targets_table.c (a leaf, lock held): lookups, adding (NULL on OOM), removing, freeing. */
void targets_free(struct target_table *tt);
struct target *targets_find(struct controller *c, const char *key);
struct target *targets_find_id(struct controller *c, const char *id);
struct target *targets_add(struct controller *c, const char *key, const json_t *labels, double now);
void targets_remove(struct controller *c, struct target *t);
/* The targets' part of the state file, appended to b as JSON text (an object by key),
 * and its restore at start. 0, or -ENOMEM / -E2BIG from b. */
int targets_state_text(struct controller *c, struct buf *b);
void targets_restore(struct controller *c, const json_t *saved);
/* After a reload to new_rules: machines carried over (states by name); all targets dropped
 * when targets.by changed. 0 or -ENOMEM. */
int targets_rebase(struct controller *c, const struct rules *old_rules,
                   const struct rules *new_rules);

/* targets_api.c: GET /api/v1/targets (state, match: a label selector, search: text the
 * target's key contains, limit, offset; each NULL when not given), GET
 * /api/v1/targets/{id}, the status' summary, the per-target metrics (lock held). 0 and
 * *ret, or -EINVAL with msg (a bad query), -ENOENT (no such target). */
int targets_list_json(struct controller *c, const char *state, const char *match,
                      const char *search, const char *limit, const char *offset, json_t **ret,
                      char *msg, size_t msg_size);
int targets_detail_json(struct controller *c, const char *id, json_t **ret);
json_t *targets_summary_json(struct controller *c);
int targets_metrics(struct controller *c, struct mset *set);

/* api.c */
void api_handle(void *userdata, const struct httpd_request *req, struct httpd_response *resp);
json_t *signals_json(const struct controller *c, double now);
json_t *status_json(struct controller *c, double now); /* lock held */

/* actions.c */
/* Marks an action of this kind and params as running (watchdog), or none (kind < 0). */
void actions_mark(struct controller *c, int kind, const json_t *params);
/* Runs the actions of a decision whose record (already in the audit log) is d, one
 * action_result audit record after each; adds what must later be reverted or re-sent to
 * the actions in effect. Returns the number of actions that failed. No lock held. */
size_t actions_decision(struct controller *c, const struct decision_def *def, json_t *d,
                        const struct eval_result *res, const struct target *t, double now);
/* Reverts the actions in effect whose state has been left for their revert_delay, and
 * re-sends active alerts; nothing while paused or when res is uncertain (an action of a
 * target: that target's pause and last result; of a target that is gone or being
 * forgotten (forget_after): reverted now). res NULL: a rules file with targets (the
 * controller's own machine is not evaluated). No lock held. */
void actions_effects(struct controller *c, const struct eval_result *res, double now);
/* How many actions in effect belong to the target of this key (lock held). */
size_t actions_target_effects(struct controller *c, const char *key);
/* Actions that may still run this hour (lock held); *ret_limited false: no limit. With t,
 * the smaller of that and the target's own (limits.max_actions_per_hour_per_target). */
unsigned actions_budget_left(struct controller *c, double now, bool *ret_limited);
unsigned actions_target_budget_left(struct controller *c, struct target *t, double now,
                                    bool *ret_limited);
/* The target's own actions left this hour (limits.max_actions_per_hour_per_target),
 * UINT_MAX without that limit. */
unsigned actions_target_own_left(struct controller *c, struct target *t, double now);
/* Runs manual action m with checked args for the API: audit first, then the actions.
 * 0 with *ret_result (new reference), -EIO when the audit write failed (nothing ran).
 * No lock held. */
int actions_manual(struct controller *c, const struct manual_action_def *m, json_t *args,
                   const struct api_actor *who, json_t **ret_result);
/* The actions in effect for the API, secrets redacted (lock held; new reference). */
json_t *actions_effects_json(struct controller *c);
/* Records an action's result in the audit log (type action_result; lock held), with
 * trigger "decision", "manual", "revert" or "regulator"; labels: a target's, or NULL. */
void actions_record_result(struct controller *c, const char *id, size_t index,
                           enum action_kind kind, const char *summary, const char *trigger,
                           const struct action_result *ar, double seconds, double now,
                           const json_t *labels);

/* regulators.c: the regulators of a rules file without targets. init (lock held) builds
 * their runs from the rules and c->st.regulators (the state file's, by name; at start and
 * after a reload); evaluate runs one step of each after an evaluation (no lock held:
 * actions run outside it); json is GET /api/v1/regulators (lock held); publish sets their
 * gauges (lock held). */
int regulators_init(struct controller *c);
/* With targets: one step of each target's regulators after their evaluation (no lock
 * held). */
void regulators_targets_evaluate(struct controller *c, double now);
/* Did it help (daemon/verdicts.c): remembers an executed decision d of def (for target t,
 * or NULL) to be judged verify_after later (lock held); judges those that are due, the
 * queries outside the lock (called without it, after an evaluation). */
void verdicts_schedule(struct controller *c, const struct decision_def *def, const json_t *d,
                       const struct target *t, double now);
void verdicts_judge_due(struct controller *c, double now);
/* The same for a regulator's change applied (record id; for target t, or NULL), when d has a
 * verify_after and run has no other change judged within verify_window (lock held). */
void verdicts_schedule_regulator(struct controller *c, const struct regulator_def *d,
                                 struct regulator_run *run, const char *id, const struct target *t,
                                 double now);
/* on_no_effect: stop: whether the decision of state is suspended for target_key (NULL:
 * the controller's); resumes it (the operator's POST /api/v1/suspensions/resume: 0,
 * -ENOENT when it was not, -EIO when the audit log cannot be written); the list; the
 * suspended-decisions gauge (all lock held). */
bool verdicts_suspended(struct controller *c, const char *state, const char *target_key);
int verdicts_resume(struct controller *c, const char *state, const char *target_key,
                    const struct api_actor *who);
json_t *verdicts_suspensions_json(struct controller *c);
/* on_no_effect: escalate (lock held): when an escalation waits for target_key (NULL: the
 * controller) and res allows it (engine/decide.h's decide_escalation), the worse state's
 * decision replaces this evaluation's own: last_exec becomes saved_exec (the times before
 * this evaluation) with that decision's cooldown started when it acts, *outcome and *def
 * are its; true then, and verdicts_escalation_taken gives the escalation (new reference)
 * for the record. False otherwise (nothing changed): none waits, it waits for certain
 * data, or it is dropped (the state got better, or is the worse one already). */
bool verdicts_escalate(struct controller *c, const char *target_key, const struct eval_result *res,
                       double *last_exec, const double *saved_exec,
                       const struct decide_flags *flags, double now, enum decision_outcome *outcome,
                       const struct decision_def **def);
json_t *verdicts_escalation_taken(struct controller *c, const char *target_key);
/* GET /api/v1/effects: per decision and kind of action, how often it helped and the median
 * relative change of its deciding signals (lock held). */
json_t *verdicts_track_json(struct controller *c);
void verdicts_publish(struct controller *c);
/* A set of runs for the rules' regulators, each restored from saved (the state file's
 * object by name; NULL: none), with a trajectory or not; NULL without regulators or on OOM.
 * Its state for the file (new reference), its API view (lock held), and its end. */
struct regulator_run *regulator_runs_new(const struct rules *r, const json_t *saved, bool history);
json_t *regulator_runs_state(const struct rules *r, const struct regulator_run *runs);
json_t *regulator_runs_json(struct controller *c, const struct regulator_run *runs);
void regulator_runs_free(struct regulator_run *runs, size_t n);
void regulators_free(struct controller *c);
void regulators_evaluate(struct controller *c, const struct eval_result *res,
                         const struct signal_value *values, double now);
json_t *regulators_json(struct controller *c);
void regulators_publish(struct controller *c);

/* replicas.c: high availability (--ha.*). start after the state is restored (0, or 1 after
 * a message: the daemon exits); stop gives the lease up. may_act: no HA, or leading with
 * the shared state taken over (no lock needed). fence: immediately before an action (no
 * lock held): the state written to the backend bound to the lease; 0 to act, -errno not
 * to (audited, with why). takeover: on the main thread before an evaluation, once after
 * becoming leader: the shared state replaces this replica's own. refuse: for the API's
 * requests that change something on a standby: true (with msg naming the leader) when this
 * replica may not take them. */
/* run.c: baselines another replica learned (baselines.json's form), for the signals and
 * targets that have none yet (lock held). */
void controller_baselines_adopt(struct controller *c, const json_t *saved);
int replicas_start(struct controller *c);
void replicas_stop(struct controller *c);
bool replicas_may_act(struct controller *c);
int replicas_fence(struct controller *c, char *why, size_t why_size);
/* The state written to the backend after an action (while leading; no lock held). */
void replicas_share(struct controller *c);
/* The same when the baselines were written since the last share (main thread, no lock). */
void replicas_share_baselines(struct controller *c);
void replicas_takeover(struct controller *c);
bool replicas_refuse(struct controller *c, char *msg, size_t msg_size);
json_t *replicas_status_json(struct controller *c);
int replicas_metrics_init(struct controller *c); /* 0 or -ENOMEM */
void replicas_publish(struct controller *c);     /* lock held */

/* overrides.c: runtime overrides (lock held): PUT merges req into the overrides, DELETE
 * clears them; both are audited and saved. 0, -EINVAL with msg for a bad request, -EIO (audit). */
int overrides_put(struct controller *c, const json_t *req, const struct api_actor *who, char *msg,
                  size_t msg_size);
int overrides_clear(struct controller *c, const struct api_actor *who);
/* Applies the saved overrides to the current rules (after start and reload), dropping
 * those that no longer match, with a warning. Lock held. */
void overrides_reapply(struct controller *c);
/* The evaluation interval in force (override or rules). */
uint64_t overrides_interval_usec(struct controller *c);
/* kubectl --dry-run=server of every kubectl action of r (--kubectl.server-dry-run):
 * 0, or -EINVAL with each failure appended to errors. */
int actions_check_kubectl(struct controller *c, const struct rules *r, struct buf *errors);

#endif
