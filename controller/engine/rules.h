/* rules: the operator's rules file (docs/RULES.md): signals (named PromQL queries),
 * states worst first with conditions, for/keep_for hysteresis, decisions with
 * actions, manual actions, the health report's checks. rules_load_* validates
 * everything before anything is used and reports every error as "FILE:LINE:COL:
 * message". A loaded struct rules is immutable but for condition thresholds, which
 * runtime overrides change (under the daemon's lock); the daemon swaps whole rule sets
 * on reload. */
#ifndef HOMEOSTAT_CONTROLLER_RULES_H
#define HOMEOSTAT_CONTROLLER_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "httpclient.h" /* struct http_client_config: the prometheus section */
#include "regulate.h"   /* struct regulator_def: the regulators section */

#define RULES_MAX_FILE_BYTES (1u << 20)
#define RULES_STATE_UNKNOWN "unknown" /* the state on_missing_data: unknown moves to */

enum cond_op { COND_GT, COND_GE, COND_LT, COND_LE, COND_EQ, COND_NE };

struct condition {
    size_t signal; /* index into rules->signals */
    enum cond_op op;
    double threshold;      /* in force: the file's, or a runtime override */
    double threshold_file; /* as written in the file */
    char *text;            /* as written: "cpu_busy > 0.85" */
    /* "SIGNAL OP [FACTOR *] baseline(B[, q=Q]) [or FALLBACK]": the threshold is FACTOR times
     * the Q-quantile of B's baseline (rules->baseline_refs[base_ref]); while that is not
     * ready, FALLBACK when given, else the condition is unknown */
    bool baseline;
    size_t base_ref;
    double factor; /* 1 unless given */
    bool has_fallback;
    double fallback;
};

/* A signal's baseline (docs/RULES.md, "Baselines"): learned per target from its values
 * while the target is in one of learn_in. */
struct baseline_def {
    size_t *learn_in; /* state indexes */
    size_t n_learn_in;
    double window;        /* seconds: default 7 days */
    int season;           /* enum baseline_season (baseline.h) */
    uint64_t min_samples; /* below: not ready (default 300) */
};

/* A quantile of a signal's baseline that a condition uses; the evaluation's values hold
 * one entry per ref after the signals' (values[n_signals + k]). */
struct baseline_ref {
    size_t signal;
    double q;
};

struct signal_def {
    char *name;
    char *query;
    uint64_t max_age_usec;         /* 0: no limit; a sample older than this is unknown */
    char *help;                    /* optional description (NULL) */
    struct baseline_def *baseline; /* NULL: none */
    bool alert; /* "alert:NAME" from a condition: 1 while Alertmanager reports an alert of
                 * that name firing (webhook receiver), 0 otherwise; query is NULL */
};

#define RULES_ALERT_PREFIX "alert:"

enum when_mode { WHEN_ANY, WHEN_ALL };

struct state_def {
    char *name;
    enum when_mode when;
    struct condition *conditions;
    size_t n_conditions;    /* 0 only for the last state: the default */
    uint64_t for_usec;      /* must hold this long before entering */
    uint64_t keep_for_usec; /* kept this long after it stops holding */
    char *severity;         /* optional: "critical", "warning", ... for alerts (NULL) */
    char *description;      /* optional, for reports and alerts (NULL) */
    char *recommendation;   /* optional, for reports: what to do in this state (NULL) */
};

enum action_kind { ACTION_SYSTEMD, ACTION_KUBECTL, ACTION_WEBHOOK, ACTION_EXEC, ACTION_ALERT };

struct action_def {
    enum action_kind kind;
    json_t *params; /* the action's mapping converted to JSON (owned); the actuators
                     * validate their own keys */
    char *summary;  /* readable one-liner: "systemd app.service cpu_quota=50%" */
};

struct decision_def {
    size_t state;           /* index into rules->states */
    double min_confidence;  /* 0..1, default 0 */
    uint64_t cooldown_usec; /* default 5m: minimum time between two executions */
    struct action_def *actions;
    size_t n_actions;
    bool revert_on_exit;
    uint64_t revert_delay_usec; /* default 1m: how long the state must stay left */
    bool dry_run;
    /* Did it help (effects.h): the deciding signals verify_after the decision against
     * before it, each over verify_window. 0 verify_after: no verdict (a decision whose
     * actions are all alerts, which change nothing). Defaults: 2m with a kubectl action
     * (pods must start), else 1m; window 1m. */
    uint64_t verify_after_usec;
    uint64_t verify_window_usec;
    /* on_no_effect: what a verdict of no_effect or worse does: repeat (nothing: the
     * decision runs again after its cooldown), stop (the decision is suspended for the
     * target until an operator resumes it or it helps elsewhere) or escalate (the decision
     * of escalate_to, the nearest worse state that has one with actions, is taken for the
     * target at its next certain evaluation: decide_escalation) */
    bool stop_on_no_effect;
    bool escalate_on_no_effect;
    size_t escalate_to; /* a state index, with escalate_on_no_effect */
};

/* PARAM_SCALAR: a string, number or boolean; the type of the parameters that the short
 * form (a bare sequence of actions) declares by using {{name}}. */
enum param_type { PARAM_STRING, PARAM_INTEGER, PARAM_NUMBER, PARAM_BOOLEAN, PARAM_SCALAR };

/* A declared parameter of a manual action ({{name}} in its actions). */
struct param_def {
    char *name;
    enum param_type type;
    bool required; /* default: true unless a default is given */
    json_t *def;   /* default value (owned) or NULL */
    bool has_min, has_max;
    double min, max;   /* numbers: the value's bounds; strings: the length's */
    char **choices;    /* strings only: allowed values (NULL-terminated) or NULL */
    char *description; /* NULL */
};

struct manual_action_def {
    char *name;
    char *description; /* NULL */
    struct param_def *params;
    size_t n_params;
    struct action_def *actions;
    size_t n_actions;
};

enum missing_policy { MISSING_HOLD, MISSING_UNKNOWN };

/* The health report's checks and optimizations (the `report` section, docs/RULES.md). */
enum report_severity { REPORT_CRITICAL, REPORT_WARNING, REPORT_INFO };
enum report_level { REPORT_HIGH, REPORT_MEDIUM, REPORT_LOW }; /* impact and effort */

/* A check (issues) or an optimization of the report section. The annotations are
 * templates (template.h), checked at load; summary and recommendation are NULL when not
 * given, summary always for optimizations. */
struct report_item {
    char *name;
    char *query;     /* one or more series; each one past the condition is an issue */
    enum cond_op op; /* the condition "value OP NUMBER" on each series' value */
    double threshold;
    char *condition; /* as written: "value > 0.9" */
    bool slow;       /* left out by --quick */
    char *summary, *description, *recommendation;
    /* checks */
    enum report_severity severity;
    char *component; /* "cpu", "filesystem", ... */
    /* optimizations */
    char *type; /* "rightsizing", "caching", ... */
    enum report_level impact, effort;
};

struct report_def {
    unsigned refs;         /* rules_report_ref/unref; starts at 1, owned by struct rules */
    uint64_t timeout_usec; /* per report query, default 10s */
    struct report_item *checks;
    size_t n_checks;
    struct report_item *optimizations;
    size_t n_optimizations;
};

/* The targets section: which labels name one target (docs/RULES.md, "Targets"). Without
 * it (by NULL) the rules file has one machine, as a file always had. */
struct targets_def {
    char **by;    /* label names, NULL-terminated, sorted as written; NULL: no targets */
    size_t n_by;  /* 1..RULES_MAX_TARGET_LABELS when by is set */
    unsigned max; /* cardinality bound, default 1000 */
    uint64_t forget_after_usec; /* a target without series this long is forgotten (10m) */
};

/* limits.max_targets_acting: at most count targets, or share of the known targets
 * (rounded up, at least 1), may act in one evaluation; both 0: no limit. */
struct acting_limit {
    unsigned count;
    double share; /* 0..1 */
};

struct rules {
    char *path;
    uint64_t evaluation_interval_usec; /* default 5s */
    struct http_client_config prometheus;
    struct signal_def *signals;
    size_t n_signals;
    struct baseline_ref *baseline_refs; /* the quantiles of baselines the conditions use */
    size_t n_baseline_refs;
    struct state_def *states; /* worst first; the last has no conditions */
    size_t n_states;
    enum missing_policy on_missing_data;
    struct decision_def *decisions;
    size_t n_decisions;
    struct manual_action_def *manual_actions;
    size_t n_manual_actions;
    struct regulator_def *regulators; /* the file's order */
    size_t n_regulators;
    unsigned max_actions_per_hour; /* limits.max_actions_per_hour: default 30, 0 no limit */
    /* limits.max_regulator_changes_per_hour: per regulator (and target), default 360, 0 none;
     * counted apart from the decisions' actions */
    unsigned max_regulator_changes_per_hour;
    struct targets_def targets;
    unsigned max_actions_per_hour_per_target; /* limits.max_actions_per_hour_per_target: 0 none */
    struct acting_limit max_targets_acting;   /* limits.max_targets_acting: default 25% */
    char **alertmanagers; /* alerting.alertmanagers URLs, NULL-terminated (NULL) */
    size_t n_alertmanagers;
    uint64_t alert_resend_usec; /* alerting.resend_interval, default 1m */
    char *external_url;         /* alerting.external_url: generatorURL of alerts (NULL) */
    struct report_def *report;  /* never NULL once loaded: empty without a report section */
    char *warnings;             /* "FILE:LINE:COL: warning: ..." lines, sorted; NULL when none */
};

/* Loads and validates path. 0 and *ret (caller frees), or -EINVAL with every error
 * appended to errors (one "FILE:LINE:COL: message" per line), or -errno for I/O. */
int rules_load_file(const char *path, struct rules **ret, struct buf *errors);
int rules_load_string(const char *yaml, size_t len, const char *name, struct rules **ret,
                      struct buf *errors);
void rules_free(struct rules *r); /* accepts NULL */

/* The report section outlives a reload while a report is being built from it: take a
 * reference (with the lock that guards the rules held) and drop it when done. Atomic;
 * unref accepts NULL. */
struct report_def *rules_report_ref(const struct rules *r);
void rules_report_unref(struct report_def *d);
const char *report_severity_name(enum report_severity s); /* "critical", "warning", "info" */
const char *report_level_name(enum report_level l);       /* "high", "medium", "low" */

/* Index of the named signal/state, or -ENOENT. */
int rules_signal_index(const struct rules *r, const char *name);
/* The same for name[0..len) (not NUL-terminated): the one signal lookup. */
int rules_signal_index_n(const struct rules *r, const char *name, size_t len);
int rules_state_index(const struct rules *r, const char *name);
/* The decision of a state, or NULL when the state has none (borrowed). */
const struct decision_def *rules_decision_for(const struct rules *r, size_t state);
const struct manual_action_def *rules_manual_action(const struct rules *r, const char *name);
const struct regulator_def *rules_regulator(const struct rules *r, const char *name);
/* The one table of comparison operators: their text (">", ">=", ...), the text of the
 * operator that holds when op does not ("\u2264" for >, "<" for >=, ...), and the parser
 * of the conditions of states and of the report: the operator at the start of s, longest
 * first; returns its length with *ret set, or 0 (*ret untouched) when s starts with none. */
const char *cond_op_text(enum cond_op op);
const char *cond_op_negated_text(enum cond_op op);
size_t cond_op_parse(const char *s, enum cond_op *ret);
/* Whether "value OP threshold" holds (false for a NaN, except with !=). States' conditions
 * and the report's checks compare through this one function. */
bool cond_op_holds(enum cond_op op, double value, double threshold);
/* The rules as JSON for GET /api/v1/rules (new reference). */
json_t *rules_to_json(const struct rules *r);

/* Checks the parameters given to a manual action (a JSON object, NULL for none) against
 * its declarations: unknown names, missing required ones, wrong types, bounds, choices.
 * Returns the arguments with defaults filled in (new reference), or NULL with every
 * problem in msg ("limit: expected an integer, got \"five\"; unknown parameter 'x'"). */
json_t *rules_manual_args(const struct manual_action_def *m, const json_t *given, char *msg,
                          size_t msg_size);
const char *rules_param_type_name(enum param_type t);

/* Limits of one rule set, each reported as an error when exceeded. */
#define RULES_MAX_NAME 64 /* characters of a signal, state or manual action name */
#define RULES_MAX_SIGNALS 256
#define RULES_MAX_STATES 64     /* struct eval_result keeps one entry per state */
#define RULES_MAX_CONDITIONS 64 /* per state */
#define RULES_MAX_ACTIONS 32    /* per decision or manual action */
#define RULES_MAX_MANUAL_ACTIONS 64
#define RULES_MAX_PARAMS 16 /* per manual action */
#define RULES_MAX_REGULATORS 32
#define RULES_MAX_BASELINE_REFS 64 /* distinct baseline(SIGNAL, q=Q) of the conditions */
#define RULES_MAX_ALERTMANAGERS 8
#define RULES_MAX_HEADERS 32
#define RULES_MAX_URL 2048
#define RULES_MAX_SUMMARY 240      /* bytes of an action summary, cut with "..." */
#define RULES_MAX_REPORT_ITEMS 128 /* checks, and optimizations, of the report section */
#define RULES_MAX_TARGET_LABELS 8  /* targets.by */
#define RULES_MAX_TARGETS 100000   /* the largest targets.max */
#define RULES_DEFAULT_TARGETS 1000
#define RULES_DEFAULT_ACTING_SHARE 0.25

/* Notes on the data model above:
 * - prometheus.url is NULL when the file has none; the daemon then requires
 *   --prometheus.url (checked with rules_url_error). The timeout defaults to 2s, or to the
 *   evaluation interval when that is shorter. File paths (token, password, CA) are kept as
 *   written by rules_load_string; rules_load_file makes relative ones relative to the rules
 *   file's directory, as Prometheus does. Nothing is read from them here.
 * - action_def.params is always a JSON object: exec's sequence form [argv...] becomes
 *   {"argv": [...]} (every item a string). Plain scalars become numbers, booleans (true,
 *   false, yes, no, on, off) or null; quoted scalars stay strings.
 * - decisions and manual_actions keep the file's order. */

/* What the rules loader needs of the action kinds, which belong to actuators/: defined
 * once there (actuators/actuator.c, from each kind's own file), declared here, so that the
 * engine includes nothing of actuators/ and a new kind is its file and a table line. */
struct loader;
struct ytree_node;
struct rules_action_kinds {
    size_t count;                            /* enum action_kind runs 0..count-1 */
    const char *(*name)(enum action_kind k); /* "systemd", ... the key in a rules file */
    /* Checks an action's params (placeholders unexpanded; declared: the manual action's
     * parameters, NULL-terminated, or NULL). 0, or -EINVAL with msg and *bad_key. */
    int (*validate)(enum action_kind k, const json_t *params, const char *const *declared,
                    const char **bad_key, char *msg, size_t msg_size);
    /* Reads the body v of an action of kind k (what its key holds) into a->params, and
     * appends to sum what follows the kind's name in its summary (" app.service
     * cpu_quota=50%"); each kind knows the shape of its own body. Errors go through
     * loader_report (rules_loader.h has the helpers a kind uses); false after one. */
    bool (*load)(enum action_kind k, struct loader *l, struct action_def *a,
                 const struct ytree_node *v, struct buf *sum);
};
extern const struct rules_action_kinds rules_action_kinds;

const char *action_kind_name(enum action_kind kind);
/* The kind of such a name, or -EINVAL. */
int action_kind_parse(const char *name);
/* NULL when url is an http:// or https:// URL with a host, without credentials, spaces or
 * control characters and at most RULES_MAX_URL bytes; otherwise why not, as a phrase that
 * follows the URL ("does not start with http:// or https://"). Static storage. */
const char *rules_url_error(const char *url);
/* The action's params with the value of every key that names a secret (authorization,
 * cookie, or containing password, secret, token, api_key, credential; not those ending
 * in _file or _path) replaced by "<redacted>", for records and APIs. New reference, NULL
 * on OOM. Summaries are redacted the same way. */
json_t *rules_action_params_redacted(const struct action_def *a);
/* The same for any JSON value (expanded params, results); json_null() for NULL. */
json_t *rules_json_redacted(const json_t *v);

#endif
