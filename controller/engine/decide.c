/* decide: the decision policy between evaluation and actuation (see decide.h). */
#include "decide.h"

#include <stddef.h>

static const char *const outcome_names[OUTCOME_MAX] = {
    [OUTCOME_NONE] = "none",
    [OUTCOME_UNCERTAIN] = "uncertain",
    [OUTCOME_NO_ACTIONS] = "no_actions",
    [OUTCOME_PAUSED] = "paused",
    [OUTCOME_BELOW_CONFIDENCE] = "below_confidence",
    [OUTCOME_COOLDOWN] = "cooldown",
    [OUTCOME_DRY_RUN] = "dry_run",
    [OUTCOME_BUDGET] = "budget_exhausted",
    [OUTCOME_EXECUTED] = "executed",
    [OUTCOME_FAILED] = "failed",
    [OUTCOME_STORM] = "storm_guard",
    [OUTCOME_SUSPENDED] = "suspended",
};

const char *decision_outcome_name(enum decision_outcome o)
{
    return o >= 0 && o < OUTCOME_MAX ? outcome_names[o] : "unknown";
}

enum decision_outcome decide(const struct rules *r, double *last_exec,
                             const struct eval_result *res, double now,
                             const struct decide_flags *flags, const struct decision_def **ret_def)
{
    *ret_def = NULL;
    const struct decision_def *d = NULL;
    if (res->to != EVAL_STATE_UNKNOWN)
        d = rules_decision_for(r, res->to);
    *ret_def = d;
    bool has_actions = d && d->n_actions > 0;
    size_t di = d ? (size_t)(d - r->decisions) : 0;
    bool cooling =
        has_actions && last_exec[di] > 0 && now - last_exec[di] < (double)d->cooldown_usec / 1e6;
    bool dry = flags->dry_run || (d && d->dry_run);
    bool over_budget =
        has_actions && !dry && flags->budget_limited && d->n_actions > flags->budget_left;

    if (!res->changed) {
        /* Staying: a decision only when it would really act again, so a paused or
         * unsure controller does not write one record per evaluation. */
        if (!has_actions || res->uncertain || cooling || flags->paused ||
            res->confidence < d->min_confidence || over_budget)
            return OUTCOME_NONE;
    }
    if (res->uncertain)
        return OUTCOME_UNCERTAIN;
    if (!has_actions)
        return OUTCOME_NO_ACTIONS;
    if (flags->paused)
        return OUTCOME_PAUSED;
    if (res->confidence < d->min_confidence)
        return OUTCOME_BELOW_CONFIDENCE;
    if (cooling)
        return OUTCOME_COOLDOWN;
    if (over_budget)
        return OUTCOME_BUDGET;
    last_exec[di] = now;
    return dry ? OUTCOME_DRY_RUN : OUTCOME_EXECUTED;
}
