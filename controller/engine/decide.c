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

/* The outcome of decision d (NULL: none) for a result that changed or stayed, uncertain
 * or not, at confidence; starts its cooldown when it acts. */
static enum decision_outcome outcome_of(const struct rules *r, const struct decision_def *d,
                                        double *last_exec, bool changed, bool uncertain,
                                        double confidence, double now,
                                        const struct decide_flags *flags)
{
    bool has_actions = d && d->n_actions > 0;
    size_t di = d ? (size_t)(d - r->decisions) : 0;
    bool cooling =
        has_actions && last_exec[di] > 0 && now - last_exec[di] < (double)d->cooldown_usec / 1e6;
    bool dry = flags->dry_run || (d && d->dry_run);
    bool over_budget =
        has_actions && !dry && flags->budget_limited && d->n_actions > flags->budget_left;

    if (!changed) {
        /* Staying: a decision only when it would really act again, so a paused or
         * unsure controller does not write one record per evaluation. */
        if (!has_actions || uncertain || cooling || flags->paused ||
            confidence < d->min_confidence || over_budget)
            return OUTCOME_NONE;
    }
    if (uncertain)
        return OUTCOME_UNCERTAIN;
    if (!has_actions)
        return OUTCOME_NO_ACTIONS;
    if (flags->paused)
        return OUTCOME_PAUSED;
    if (confidence < d->min_confidence)
        return OUTCOME_BELOW_CONFIDENCE;
    if (cooling)
        return OUTCOME_COOLDOWN;
    if (over_budget)
        return OUTCOME_BUDGET;
    last_exec[di] = now;
    return dry ? OUTCOME_DRY_RUN : OUTCOME_EXECUTED;
}

enum decision_outcome decide(const struct rules *r, double *last_exec,
                             const struct eval_result *res, double now,
                             const struct decide_flags *flags, const struct decision_def **ret_def)
{
    const struct decision_def *d = NULL;
    if (res->to != EVAL_STATE_UNKNOWN)
        d = rules_decision_for(r, res->to);
    *ret_def = d;
    return outcome_of(r, d, last_exec, res->changed, res->uncertain, res->confidence, now, flags);
}

enum escalation_step decide_escalation(const struct rules *r, double *last_exec, size_t from,
                                       const struct eval_result *res, double now,
                                       const struct decide_flags *flags,
                                       enum decision_outcome *ret_outcome,
                                       const struct decision_def **ret_def)
{
    const struct decision_def *d = from < r->n_states ? rules_decision_for(r, from) : NULL;
    const struct decision_def *to =
        d && d->escalate_on_no_effect ? rules_decision_for(r, d->escalate_to) : NULL;
    if (!to || to->n_actions == 0)
        return ESCALATION_DROP;
    if (res->to == EVAL_STATE_UNKNOWN || res->uncertain)
        return ESCALATION_WAIT;
    /* states are worst first: escalate_to < res->to <= from */
    if (res->to > from || res->to <= d->escalate_to)
        return ESCALATION_DROP;
    *ret_def = to;
    /* as if its state had just been entered: a record whatever the outcome */
    *ret_outcome = outcome_of(r, to, last_exec, true, false, res->confidence, now, flags);
    return ESCALATION_TAKE;
}
