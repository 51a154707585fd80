/* statefile: the controller's state file in --state.directory: the current state and
 * since when, the per-state hysteresis timers, the cooldowns, paused, and the
 * decision counter, the actions in effect, overrides and the action budget. Saved
 * atomically (mode 0600: the actions in effect keep their parameters for the revert) (temp file,
 * fsync, rename, fsync of the directory) after every evaluation that changed something, restored at
 * start, so a restart neither repeats an action nor forgets a state. */
#ifndef HOMEOSTAT_CONTROLLER_STATEFILE_H
#define HOMEOSTAT_CONTROLLER_STATEFILE_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"
#include "evaluate.h"
#include "rules.h"

#define STATE_MAX_FILE_BYTES (64u << 20) /* 1000 alerts, 256 actions in effect, 10k targets */

struct controller_state {
    struct eval_state eval;
    double *last_exec; /* per decision of the rules, 0 = never */
    bool paused;
    unsigned long long decision_seq;
    /* Kept as JSON, owned (never NULL after state_init): the actions in effect (array of
     * objects, see actions.c), the runtime overrides (object), the times of the actions
     * run in the last hour (array of epoch seconds, for limits.max_actions_per_hour), the
     * alerts received (amreceiver's store). */
    json_t *effects;
    json_t *overrides;
    json_t *action_times;
    json_t *alerts_received; /* firing alerts from Alertmanager's webhook (object) */
    json_t *regulators;      /* the regulators' outputs and windows (object by name) */
    json_t *verdicts;        /* executed decisions waiting for their verdict (array) */
    json_t *suspensions;     /* decisions suspended by on_no_effect: stop (object by key) */
    json_t *escalations;     /* on_no_effect: escalate waiting (object by target key) */
    json_t *track;           /* the verdicts' track record: {DECISION: {KIND: {...}}} */
    /* The targets' machines (object by key, daemon/targets.c) as loaded, until the daemon
     * has restored them into its table (then NULL: it saves them from the table). */
    json_t *targets;
};

/* Allocates the JSON parts (empty). 0 or -ENOMEM. */
int statefile_init_json(struct controller_state *s);
void statefile_free_json(struct controller_state *s);

/* Writes s as JSON to path atomically. 0 or -errno. */
int statefile_save(const char *path, const struct rules *r, const struct controller_state *s);
/* The file's text into out: s, with "targets" what targets(ctx, out) appends (an object's
 * JSON text; targets NULL: s->targets, if any). 0, -ENOMEM or -E2BIG. */
int statefile_render(const struct rules *r, const struct controller_state *s,
                     int (*targets)(void *ctx, struct buf *out), void *ctx, struct buf *out);
/* Reads path into s (already initialised for r): states and decisions are matched
 * by name, unknown names are ignored. -ENOENT when there is no file (start fresh),
 * -EINVAL with a message in errors for a file that does not parse (s untouched). */
int statefile_load(const char *path, const struct rules *r, struct controller_state *s,
                   struct buf *errors);
/* The same from text (another replica's, through the HA backend); path names it in errors. */
int statefile_load_text(const char *path, const char *text, size_t len, const struct rules *r,
                        struct controller_state *s, struct buf *errors);

#endif
