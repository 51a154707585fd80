/* decide: whether an evaluation records a decision and what becomes of its
 * actions. Pure, like evaluate: the daemon, `homeostat-controller test` and `backtest` share
 * it through step_evaluate() (step.h).
 *
 * A decision is recorded when the state changed, or when the state kept has a
 * decision with actions that would run now (cooldown passed, not paused, confident
 * enough, data certain: a scale-up repeats every cooldown while critical). Its
 * outcome, first match wins:
 *   uncertain         the result rests on unknown data: nothing runs, ever
 *   no_actions        the state has no decision or no actions
 *   paused            actuation is paused (emergency stop)
 *   below_confidence  confidence < min_confidence
 *   cooldown          the decision ran less than cooldown ago
 *   dry_run           --dry-run or the decision's dry_run: everything but running
 *   budget_exhausted  running the actions would pass limits.max_actions_per_hour
 *   executed          the actions run (their own results are recorded separately)
 * Cooldowns start on executed and on dry_run, so a dry run shows what would
 * really have happened. */
#ifndef HOMEOSTAT_CONTROLLER_DECIDE_H
#define HOMEOSTAT_CONTROLLER_DECIDE_H

#include <stdbool.h>

#include "evaluate.h"
#include "rules.h"

enum decision_outcome {
    OUTCOME_NONE, /* nothing recorded */
    OUTCOME_UNCERTAIN,
    OUTCOME_NO_ACTIONS,
    OUTCOME_PAUSED,
    OUTCOME_BELOW_CONFIDENCE,
    OUTCOME_COOLDOWN,
    OUTCOME_DRY_RUN,
    OUTCOME_BUDGET,
    OUTCOME_EXECUTED,
    OUTCOME_FAILED,    /* set by the daemon when an action failed */
    OUTCOME_STORM,     /* "storm_guard": set by the daemon when more targets would act at once
                        * than limits.max_targets_acting allows (this one was held back) */
    OUTCOME_SUSPENDED, /* set by the daemon: on_no_effect: stop suspended this decision
                        * (for this target) after a verdict of no_effect or worse */
    OUTCOME_MAX,
};

const char *decision_outcome_name(enum decision_outcome o); /* "dry_run", ... */

struct decide_flags {
    bool paused;
    bool dry_run;
    bool budget_limited;  /* false: no limit (budget_left is ignored) */
    unsigned budget_left; /* actions that may still run in the current hour */
};

/* last_exec[i]: when rules->decisions[i] last ran (executed or dry run), 0 never.
 * Returns the outcome and sets *ret_def to the decision concerned (NULL when the
 * state has none). Updates last_exec when the outcome starts a cooldown. */
enum decision_outcome decide(const struct rules *r, double *last_exec,
                             const struct eval_result *res, double now,
                             const struct decide_flags *flags, const struct decision_def **ret_def);

/* on_no_effect: escalate (docs/RULES.md, "Did it help?"): what becomes of an escalation
 * waiting since a verdict of no_effect or worse on the decision of state `from`, at an
 * evaluation whose result is res (last_exec as before this evaluation's decide()). */
enum escalation_step {
    ESCALATION_WAIT, /* res is uncertain or unknown: never on missing data; it waits */
    ESCALATION_DROP, /* from's decision no longer escalates, or res is not in from's state
                      * or a state between it and escalate_to (it got better, or is there
                      * already and that state's own decision applies) */
    ESCALATION_TAKE, /* the decision of escalate_to is taken now: *ret_outcome is what
                      * decide() gives it on entering its state (paused, below_confidence,
                      * cooldown, budget_exhausted, dry_run or executed; last_exec updated
                      * the same way) and *ret_def is that decision */
};
enum escalation_step decide_escalation(const struct rules *r, double *last_exec, size_t from,
                                       const struct eval_result *res, double now,
                                       const struct decide_flags *flags,
                                       enum decision_outcome *ret_outcome,
                                       const struct decision_def **ret_def);

#endif
