/* actuator: the common interface of the controller's actions. One file per kind
 * (actuator_systemd.c, actuator_kubectl.c, actuator_webhook.c, actuator_exec.c,
 * actuator_alert.c), each an instance of struct actuator: validate (at load time, so a
 * rules file with a bad action never loads), apply, and revert (undo what apply did,
 * from the "undo" object apply returned). This file also owns what every kind shares:
 * the generic keys (timeout, retries), placeholder expansion ({{state}}, {{limit}}), and
 * the retry loop with backoff. Actuators block (bounded by their timeouts); the daemon
 * calls them outside its lock. */
#ifndef HOMEOSTAT_CONTROLLER_ACTUATOR_H
#define HOMEOSTAT_CONTROLLER_ACTUATOR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "placeholders.h"
#include "rules.h"

/* Process-wide settings from the daemon's flags, shared by every action. */
struct actuator_env {
    const char *kubectl_path;   /* "kubectl" resolved through PATH when NULL */
    bool systemd_user_bus;      /* --systemd.bus=user: the caller's user manager */
    const char *generator_url;  /* the controller's own URL, for alerts (may be NULL) */
    char *const *alertmanagers; /* alerting.alertmanagers URLs, NULL-terminated (may be NULL) */
    uint64_t alert_resend_usec; /* alerts are re-sent this often while active (default 1m) */
};

/* What an action is run for: a decision, a manual action, or a revert. */
struct action_ctx {
    const char *decision_id; /* "18c3f2a1b20-42" */
    const char *state;       /* state entered or kept ("critical"), or the manual action */
    const char *from;        /* previous state ("optimal"), or "" */
    const char *severity;    /* the state's severity, or NULL */
    const char *reasoning;   /* the decision's reasoning */
    double confidence;       /* 0..1 */
    double time;             /* the decision's time, epoch seconds */
    const json_t *args;      /* a manual action's parameters (JSON object), or NULL */
    const json_t *labels;    /* the target's labels ({{ $labels.NAME }}; object), or NULL */
    bool server_dry_run;     /* kubectl --dry-run=server, webhook/exec/systemd: skip (check only) */
    const struct actuator_env *env;
};

enum act_status {
    ACT_OK = 0,
    ACT_RETRY, /* a transient failure (timeout, 5xx, bus busy): worth another attempt */
    ACT_FAIL,  /* a permanent failure (4xx, precondition, invalid name): do not retry */
};

struct action_result {
    enum act_status status;
    char error[512];   /* why it failed, one line naming the action ("kubectl: exit 1: ...") */
    json_t *detail;    /* owned: what was done (argv, http_status, output, values, ...) */
    json_t *undo;      /* owned: what revert needs (previous values), NULL when nothing to undo */
    unsigned attempts; /* filled by actuator_run */
};

struct actuator {
    enum action_kind kind;
    const char *name; /* the key of the kind in a rules file: "systemd", "kubectl", ... */
    /* Reads the action's body from the rules file into a->params and its summary (see
     * struct rules_action_kinds, engine/rules.h). NULL: the body is a map, every key of
     * which the summary lists. */
    bool (*load)(struct loader *l, struct action_def *a, const struct ytree_node *v,
                 struct buf *sum);
    /* Checks params (the rules' JSON, placeholders unexpanded). 0, or -EINVAL with a
     * message in msg and *bad_key set to the offending key (NULL: the action itself).
     * Must accept the generic keys (actuator_generic_key). */
    int (*validate)(const json_t *params, const char **bad_key, char *msg, size_t msg_size);
    /* Runs the action with expanded params; fills res (status, error, detail, undo). */
    void (*apply)(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                  struct action_result *res);
    /* Undoes an apply from its undo object (params as given to apply). NULL: the kind
     * has nothing to undo. */
    void (*revert)(const json_t *params, const json_t *undo, const struct action_ctx *ctx,
                   uint64_t timeout_usec, struct action_result *res);
    /* A regulator's read back (NULL: the kind has none): what the world has now of the value
     * the action sets from {{output}} (raw: the params as written, which tell the key that
     * carries {{output}}; params: expanded), in the kind's own units, and what params ask
     * for in the same units. 0, -EOPNOTSUPP when the action has no one value made of
     * {{output}}, or -EIO with res's error. */
    int (*read)(const json_t *raw, const json_t *params, const struct action_ctx *ctx,
                uint64_t timeout_usec, double *ret_now, double *ret_asked,
                struct action_result *res);
    uint64_t default_timeout_usec;
    unsigned default_retries;
};

extern const struct actuator actuator_systemd, actuator_kubectl, actuator_webhook, actuator_exec,
    actuator_alert;

const struct actuator *actuator_for(enum action_kind kind);

/* Keys every kind accepts: timeout (duration, at most 5m), retries (0..10), backoff
 * (duration: the first pause between attempts, doubled each time, at most 1m). */
bool actuator_generic_key(const char *key);
#define ACTUATOR_MAX_TIMEOUT_USEC (300ull * 1000000)
#define ACTUATOR_MAX_RETRIES 10

/* Validates an action's params: the generic keys, placeholders (every {{name}} must be a
 * built-in variable or one of params_declared, a NULL-terminated list, may be NULL), then
 * the kind's own validate. 0 or -EINVAL with msg and *bad_key. */
int actuator_validate(enum action_kind kind, const json_t *params,
                      const char *const *params_declared, const char **bad_key, char *msg,
                      size_t msg_size);

/* A deep copy of params with every {{name}} in strings replaced from ctx (built-ins) and
 * ctx->args (manual parameters). A string that is exactly one placeholder takes the
 * variable's JSON type ("{{limit}}" with limit 5 becomes the number 5). New reference,
 * or NULL with msg ("unknown placeholder {{x}}"). */
json_t *actuator_expand(const json_t *params, const struct action_ctx *ctx, char *msg,
                        size_t msg_size);

/* Expands params, then applies (or reverts, when undo is non-NULL and revert is set)
 * with the action's timeout, retrying ACT_RETRY results up to retries times with
 * exponential backoff. res is initialised here; free it with action_result_clear.
 * *ret_params, when non-NULL, receives the expanded params (new reference) for
 * recording and for a later revert. */
void actuator_run(const struct action_def *a, const struct action_ctx *ctx,
                  struct action_result *res, json_t **ret_params);
/* A regulator's read back through the action's kind (struct actuator's read), its params
 * expanded from ctx (args: output and previous_output), once within the action's timeout.
 * 0 with *ret_now and *ret_asked; -EOPNOTSUPP when the kind or the action has no read
 * back; -EIO with msg. */
int actuator_read(const struct action_def *a, const struct action_ctx *ctx, double *ret_now,
                  double *ret_asked, char *msg, size_t msg_size);
void actuator_revert(enum action_kind kind, const json_t *expanded_params, const json_t *undo,
                     const struct action_ctx *ctx, struct action_result *res);
void action_result_clear(struct action_result *res);

/* alert: re-sends a firing alert from the undo object its apply returned (with a new
 * endsAt), for the daemon to call every env->alert_resend_usec while it is in effect. */
void actuator_alert_resend(const json_t *undo, const struct action_ctx *ctx, uint64_t timeout_usec,
                           struct action_result *res);

/* NULL when a target's label value may go into an action (a Kubernetes name, a unit name,
 * a URL path segment, an argument): 1 to 253 characters of letters, digits and . _ : @ -,
 * not starting with - or . ; otherwise why not. Each kind then checks the expanded
 * parameters by its own rules (DNS-1123, unit names, ...). */
const char *actuator_label_value_error(const char *v);

/* For the records and the API: s (an action's summary) with each {{ $labels.NAME }} of a
 * target replaced by the label's value as it is (the other placeholders and a label the
 * set lacks are left as written). malloc()ed, or NULL (out of memory). */
char *actuator_with_labels(const char *s, const json_t *labels);
/* The same through a JSON value (params): a new value, every string done so. */
json_t *actuator_json_with_labels(const json_t *v, const json_t *labels);

/* Helpers for the kinds. */
void action_fail(struct action_result *res, enum act_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The timeout of params (its "timeout" key) or def. */
uint64_t actuator_timeout(const json_t *params, uint64_t def);

#endif
