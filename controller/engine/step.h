/* step: one evaluation step as the daemon takes it, evaluate() and then decide(), and
 * what the tools that replay a scenario carry from one step to the next. The daemon
 * (main.c), `homeostat-controller test` (ruletest.c) and `homeostat-controller backtest`
 * (backtest.c) all go through step_evaluate(), so the three cannot disagree on what the
 * same values at the same times lead to.
 *
 * The daemon keeps its machine state, cooldowns and hourly action budget in its state
 * file and calls step_evaluate() with them. The tools keep them in a struct step_replay, whose
 * step_replay_next() accounts the budget as the daemon does (actions.c): every action of an
 * executed decision counts once, at the decision's time, for one hour; dry runs,
 * reverts and manual actions do not count. Nothing is ever run. */
#ifndef HOMEOSTAT_CONTROLLER_STEP_H
#define HOMEOSTAT_CONTROLLER_STEP_H

#include <stddef.h>

#include "decide.h"
#include "evaluate.h"
#include "rules.h"

#define STEP_BUDGET_WINDOW_SECONDS 3600.0 /* limits.max_actions_per_hour's window */

/* One evaluation at now: evaluate() updates st and fills res, then decide() (with flags,
 * and last_exec: the times each decision of r last ran) gives the outcome and *ret_def,
 * the decision concerned (NULL when none). */
enum decision_outcome step_evaluate(const struct rules *r, struct eval_state *st, double *last_exec,
                                    const struct signal_value *values, double now,
                                    const struct decide_flags *flags, struct eval_result *res,
                                    const struct decision_def **ret_def);

/* A replay from a fresh start: the default state, no timers, no decision ever run, an
 * empty budget; as a daemon started with no state file. */
struct step_replay {
    const struct rules *rules; /* borrowed, must outlive the replay */
    struct eval_state eval;
    double *last_exec; /* per decision of the rules, 0 = never */
    bool paused, dry_run;
    double *action_times; /* the times of the actions run in the last hour, oldest first;
                           * at most max_actions_per_hour of them */
    size_t n_action_times;
};

/* 0 or -ENOMEM. rules is borrowed; t0 is the time of the start. */
int step_replay_init(struct step_replay *rp, const struct rules *rules, double t0, bool paused,
                     bool dry_run);
void step_replay_free(struct step_replay *rp); /* accepts a zeroed struct */

/* One step at now (times must not go back): the hourly budget from the actions counted so
 * far, step_evaluate(), and, when the outcome is executed, the decision's actions counted. */
enum decision_outcome step_replay_next(struct step_replay *rp, const struct signal_value *values,
                                       double now, struct eval_result *res,
                                       const struct decision_def **ret_def);

#endif
