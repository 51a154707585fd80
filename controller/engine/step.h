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
 * reverts and manual actions do not count. Nothing is ever run.
 *
 * After the decision, step_replay_next() steps each regulator of a rules file without
 * targets as the daemon does (daemon/regulators.c): the same inputs (step_regulator_input),
 * paused holds, a change past limits.max_regulator_changes_per_hour waits, and any other
 * change moves the output as if it had been applied (a dry run moves it too, as in the
 * daemon's state); nothing is sent. */
#ifndef HOMEOSTAT_CONTROLLER_STEP_H
#define HOMEOSTAT_CONTROLLER_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "baseline.h"
#include "decide.h"
#include "evaluate.h"
#include "regulate.h"
#include "rules.h"

/* limits.max_actions_per_hour's window, and max_regulator_changes_per_hour's */
#define STEP_BUDGET_WINDOW_SECONDS 3600.0

/* The baselines of one target (or of the controller without targets): one per signal with
 * a baseline section, created at its first value. */
struct baseline_set {
    struct baseline **by_signal; /* n of them, NULL entries until learned */
    size_t n;                    /* the rules' n_signals when made */
};

/* 0 (an empty set when the rules learn no baseline) or -ENOMEM. */
int baseline_set_init(struct baseline_set *s, const struct rules *r);
void baseline_set_free(struct baseline_set *s); /* accepts a zeroed set */
/* {SIGNAL: baseline_to_json} of the learned ones (new reference, NULL when out of memory). */
json_t *baseline_set_json(const struct rules *r, const struct baseline_set *s);
/* Restores what baseline_set_json wrote, by signal name, into s (made for r), each signal
 * saved replacing what s had of it: a signal whose seasonality changed starts over. 0 or
 * -ENOMEM. */
int baseline_set_restore(struct baseline_set *s, const struct rules *r, const json_t *j);
/* The same for the signals of s that learned nothing yet (--baselines.seed). */
int baseline_set_seed(struct baseline_set *s, const struct rules *r, const json_t *j);
/* Bytes held by the set's baselines. */
size_t baseline_set_memory(const struct baseline_set *s);

/* One evaluation at now: evaluate() updates st and fills res, then decide() (with flags,
 * and last_exec: the times each decision of r last ran) gives the outcome and *ret_def,
 * the decision concerned (NULL when none). With baselines (bl, may be NULL: none learned
 * yet), the conditions' baseline thresholds are read from bl first (a baseline with fewer
 * than min_samples values in now's slot is not ready), and after the evaluation each
 * signal with a baseline learns its value when the state is one of its learn_in, no worse
 * state may hold (not even pending its for; a condition on a baseline that is not ready
 * counts as not holding, so that a result held uncertain by such a condition still
 * learns), and the value is known, finite and fresh. */
enum decision_outcome step_evaluate(const struct rules *r, struct eval_state *st, double *last_exec,
                                    const struct signal_value *values, double now,
                                    const struct decide_flags *flags, struct eval_result *res,
                                    const struct decision_def **ret_def, struct baseline_set *bl);
/* The baseline entries of an evaluation: values[n_signals + k] for each of the rules'
 * baseline_refs from bl at now (known with the quantile, the reason saying the slot and
 * the count; unknown, saying why, when not ready). */
void step_baselines_fill(const struct rules *r, const struct baseline_set *bl,
                         struct signal_value *values, double now);

/* What a regulator gets from an evaluation, as the daemon gives it: the signal is known
 * when its value is known, finite and not older than its signal's max_age (values NULL:
 * unknown); active when the state `to` is known (and, with active_in, certain) and one of
 * active_in; when active_in is given and the state is unknown or uncertain, whether it is
 * active cannot be told: state_unknown, the output holds. */
void step_regulator_input(const struct rules *r, const struct regulator_def *d, size_t to,
                          bool uncertain, const struct signal_value *values, double now,
                          struct regulator_input *ret);

/* What the daemon would have done with a regulator's step. */
enum step_reg_outcome {
    STEP_REG_NONE,    /* no change */
    STEP_REG_APPLIED, /* the output changed, as applied (nothing is sent in a replay) */
    STEP_REG_DRY_RUN, /* changed in the state only: --dry-run or the regulator's dry_run */
    STEP_REG_BUDGET,  /* a change that waits: max_regulator_changes_per_hour reached */
    STEP_REG_PAUSED,  /* paused: held, nothing computed */
};

const char *step_reg_outcome_name(enum step_reg_outcome o); /* "applied", ... */

/* One regulator in a replay (of the controller, or of one target). */
struct step_regulator {
    struct regulator_state st;  /* what it remembers; st.output is the output in force */
    struct regulator_step last; /* this step's (after the daemon's handling: a change held
                                 * by the budget has change false and says so) */
    enum step_reg_outcome outcome;
    uint64_t changes;     /* applied and dry-run changes since the start */
    double *change_times; /* those of the last hour, oldest first; at most
                           * max_regulator_changes_per_hour (NULL when that is 0) */
    size_t n_change_times;
};

/* Every regulator of rules at its start (rules->n_regulators of them; free with
 * step_regulators_free), or NULL when out of memory. */
struct step_regulator *step_regulators_new(const struct rules *rules);
void step_regulators_free(struct step_regulator *regs, size_t n); /* accepts NULL */
/* One step of every regulator of regs, as the daemon takes it after an evaluation whose
 * state is `to` (uncertain or not), with values (NULL: every signal unknown): paused holds
 * (nothing computed), a change past max_regulator_changes_per_hour waits, any other change
 * is in force at once (dry_run, or the regulator's own, only names it so). */
void step_regulators_next(const struct rules *rules, struct step_regulator *regs, size_t to,
                          bool uncertain, const struct signal_value *values, bool paused,
                          bool dry_run, double now);

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
    /* per regulator of the rules, each from its start (NULL without regulators; the
     * loader refuses them with targets) */
    struct step_regulator *regs;
    struct baseline_set baselines; /* learned as the daemon learns them, from nothing */
};

/* 0 or -ENOMEM. rules is borrowed; t0 is the time of the start. */
int step_replay_init(struct step_replay *rp, const struct rules *rules, double t0, bool paused,
                     bool dry_run);
void step_replay_free(struct step_replay *rp); /* accepts a zeroed struct */

/* One step at now (times must not go back): the hourly budget from the actions counted so
 * far, step_evaluate(), and, when the outcome is executed, the decision's actions counted;
 * then each regulator's step (rp->regs[i].last, .outcome and .st). */
enum decision_outcome step_replay_next(struct step_replay *rp, const struct signal_value *values,
                                       double now, struct eval_result *res,
                                       const struct decision_def **ret_def);

#endif
