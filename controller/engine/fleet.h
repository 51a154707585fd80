/* fleet: one evaluation step of a rules file with targets, as the daemon takes it and the
 * tools replay it (docs/RULES.md, "Targets"). Pure. Every target takes its own step
 * (step_evaluate: state, timers, confidence, cooldowns); then, in acting order (the worst
 * state first, then the most confident, then by key), the hourly budgets and the storm
 * guard decide which of the decisions that would run may:
 * - the global budget (limits.max_actions_per_hour) and each target's own
 *   (limits.max_actions_per_hour_per_target): budget_exhausted;
 * - the storm guard (limits.max_targets_acting): when more targets are in a state whose
 *   decision acts (with certain data) than it allows, no more than that many act, counting
 *   those that already did within their cooldown; the others get storm_guard and wait
 *   until fewer are bad.
 * A decision held back does not start its cooldown. */
#ifndef HOMEOSTAT_CONTROLLER_FLEET_H
#define HOMEOSTAT_CONTROLLER_FLEET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "decide.h"
#include "evaluate.h"
#include "hmap.h"
#include "rules.h"
#include "step.h"
#include "targets.h"

/* One target in a step: its machine (in), what its step gave (out). */
struct fleet_member {
    void *owner; /* the caller's: the daemon's struct target, a replay's fleet_target */
    const char *key;
    struct eval_state *eval;
    double *last_exec;  /* per decision */
    double *saved_exec; /* scratch, per decision: last_exec before the step */
    const struct signal_value *values;
    struct baseline_set *baselines; /* its baselines (learned in the step), or NULL */
    bool paused;
    bool budget_limited;  /* limits.max_actions_per_hour_per_target applies */
    unsigned budget_left; /* ... what it leaves this target */
    /* Where the step's result goes (the caller's storage; members may share one when
     * the caller keeps what it needs in fleet_step's stepped hook). */
    struct eval_result *res;
    /* What the acting order and the storm guard read, copied from res after the step. */
    size_t to;
    double confidence;
    bool uncertain;
    const struct decision_def *def;
    enum decision_outcome outcome;
};

struct fleet_outcome {
    size_t wanted; /* targets in a state that acts */
    size_t limit;  /* what max_targets_acting allows now ((size_t)-1: no limit) */
    size_t held;   /* decisions held back by the storm guard */
    bool storm;    /* wanted > limit */
};

/* Steps m[0..n) at now with the global flags (paused, dry_run, the global budget) and
 * sorts them in acting order. Fills *out. */
void fleet_step(const struct rules *r, struct fleet_member *m, size_t n, double now,
                const struct decide_flags *global, struct fleet_outcome *out);
/* The same, calling stepped(member, ctx) right after each member's step (before the next
 * one), while member->res holds its result. */
void fleet_step_with(const struct rules *r, struct fleet_member *m, size_t n, double now,
                     const struct decide_flags *global, struct fleet_outcome *out,
                     void (*stepped)(struct fleet_member *m, void *ctx), void *ctx);
/* A state's place in the acting order and in worst-first lists: unknown (something is
 * missing) 0, then the states of the rules in order (1 for the worst). */
size_t fleet_state_rank(size_t state);
/* How many targets may act with n targets known ((size_t)-1: no limit). */
size_t fleet_acting_limit(const struct rules *r, size_t n);

/* ---- replays (test, backtest): the daemon's targets without the daemon ---- */

struct fleet_target {
    struct hnode node;
    char *key;
    json_t *labels;
    struct eval_state eval;
    double *last_exec, *saved_exec;
    struct signal_value *values;
    struct eval_result res; /* the last step's */
    double last_seen;
    double *action_times; /* this target's, for the per-target budget */
    size_t n_action_times, cap_action_times;
    struct step_regulator *regs; /* its run of each regulator (NULL without regulators) */
    size_t n_regs;
    struct baseline_set baselines;
};

struct fleet_replay {
    const struct rules *rules;
    struct hmap map;
    bool paused, dry_run;
    struct fleet_target **targets; /* in the order they appeared */
    size_t n, cap;
    double *action_times; /* every target's, for the global budget */
    size_t n_action_times, cap_action_times;
    size_t refused; /* label sets refused by targets.max */
    struct fleet_member *members;
    size_t cap_members;
};

void fleet_replay_init(struct fleet_replay *rp, const struct rules *rules, bool paused,
                       bool dry_run);
void fleet_replay_free(struct fleet_replay *rp);
/* One step at now from the signals' vectors in[0..n_signals): matching, admission up to
 * targets.max, forgetting (forget_after without series), fleet_step, the budgets'
 * accounting, then each target's regulators (step_regulators_next, as the daemon's
 * regulators_targets_evaluate). 0 with *ret (members in acting order, valid until the next call)
 * and *ret_n, or -ENOMEM. */
int fleet_replay_next(struct fleet_replay *rp, const struct target_input *in, double now,
                      struct fleet_member **ret, size_t *ret_n, struct fleet_outcome *out);
/* The target of this key in the replay, or NULL. */
struct fleet_target *fleet_replay_find(struct fleet_replay *rp, const char *key);

#endif
