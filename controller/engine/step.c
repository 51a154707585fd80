/* step: evaluate() then decide() as one step (see step.h), and the loop state of the
 * tools that replay scenarios: machine state, cooldowns, and the hourly action budget
 * kept as the times of the actions that would have run. */
#include "step.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum decision_outcome step_evaluate(const struct rules *r, struct eval_state *st, double *last_exec,
                                    const struct signal_value *values, double now,
                                    const struct decide_flags *flags, struct eval_result *res,
                                    const struct decision_def **ret_def)
{
    evaluate(r, st, values, now, res);
    return decide(r, last_exec, res, now, flags, ret_def);
}

int step_replay_init(struct step_replay *rp, const struct rules *rules, double t0, bool paused,
                     bool dry_run)
{
    memset(rp, 0, sizeof(*rp));
    rp->rules = rules;
    rp->paused = paused;
    rp->dry_run = dry_run;
    rp->last_exec = calloc(rules->n_decisions ? rules->n_decisions : 1, sizeof(*rp->last_exec));
    unsigned max = rules->max_actions_per_hour;
    rp->action_times = calloc(max ? max : 1, sizeof(*rp->action_times));
    if (!rp->last_exec || !rp->action_times || eval_state_init(&rp->eval, rules, t0) < 0) {
        free(rp->last_exec);
        free(rp->action_times);
        memset(rp, 0, sizeof(*rp));
        return -ENOMEM;
    }
    return 0;
}

void step_replay_free(struct step_replay *rp)
{
    if (!rp || !rp->rules)
        return;
    eval_state_free(&rp->eval);
    free(rp->last_exec);
    free(rp->action_times);
    memset(rp, 0, sizeof(*rp));
}

enum decision_outcome step_replay_next(struct step_replay *rp, const struct signal_value *values,
                                       double now, struct eval_result *res,
                                       const struct decision_def **ret_def)
{
    unsigned max = rp->rules->max_actions_per_hour;
    /* As actuate_budget_left: what ran an hour ago or earlier no longer counts. */
    size_t drop = 0;
    while (drop < rp->n_action_times && now - rp->action_times[drop] >= STEP_BUDGET_WINDOW_SECONDS)
        drop++;
    if (drop) {
        memmove(rp->action_times, rp->action_times + drop,
                (rp->n_action_times - drop) * sizeof(*rp->action_times));
        rp->n_action_times -= drop;
    }
    struct decide_flags flags = {
        .paused = rp->paused,
        .dry_run = rp->dry_run,
        .budget_limited = max > 0,
        .budget_left = max > rp->n_action_times ? max - (unsigned)rp->n_action_times : 0,
    };
    enum decision_outcome o =
        step_evaluate(rp->rules, &rp->eval, rp->last_exec, values, now, &flags, res, ret_def);
    /* decide() only executes what the budget has room for, so this stays within max. */
    if (o == OUTCOME_EXECUTED && max > 0 && *ret_def)
        for (size_t i = 0; i < (*ret_def)->n_actions && rp->n_action_times < max; i++)
            rp->action_times[rp->n_action_times++] = now;
    return o;
}
