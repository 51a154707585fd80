/* regulate: the regulators' control laws (docs/RULES.md, "Regulators"). Pure, like
 * evaluate and decide: given a regulator's definition, what it remembers, the signal and
 * the time, one step gives the next output, whether to send it, and why, in words. The
 * daemon, `test` and `backtest` share it.
 *
 * A regulator holds a signal near its setpoint by moving an output (a concurrency limit, a
 * replica count, a CPU quota). With increases_signal a larger output makes the signal
 * larger (a concurrency limit and latency); without it a larger output makes it smaller
 * (replicas and utilization, the HPA's case). "Too high" below means the signal is above
 * the setpoint; the output moves down when that is so and increases_signal, up otherwise.
 *
 * One step, first match wins:
 *   unknown    the signal is unknown or stale, or not a finite number: the output is held
 *              (never moved), the windows untouched
 *   settling   less than settle since the last change: held, so that the signal can show
 *              the change first (the windows untouched)
 *   inactive   the target is not in one of active_in: the output returns to start, at
 *              most max_step.up (or .down) per step toward it, no law, windows untouched
 *   (a setpoint that is not a positive number holds the output as unknown does)
 *   tolerance  |signal / setpoint - 1| <= tolerance: no change; the current output is
 *              recorded in the windows as this step's recommendation (as the HPA does)
 *   law        the law's recommendation (below), recorded in both windows, then the
 *              stabilization windows (the HPA's: a move up goes to the smallest
 *              recommendation of the last stabilization.up but not below the current
 *              output, a move down to the largest of the last stabilization.down but not
 *              above it), then max_step (a fraction of the current output per step, at
 *              least one resolution; 0: none), then the behavior policies (the HPA's
 *              rates per period, below), then min/max, then integer rounding (up
 *              for proportional, in the law as the HPA's replica calculator, so that its
 *              recommendations are whole; to nearest for the others)
 * A resulting change smaller than the output's resolution (at least 1 for integer
 * outputs, else `resolution`; 0: any change) is not sent (REG_BELOW_RESOLUTION).
 *
 * A window is kept in REGULATOR_WINDOW_SLICES slices of window / (SLICES - 1) seconds
 * each, each slice the smallest and largest recommendation made in it: bounded memory per
 * target, at the price that a recommendation counts for at least the window and less than
 * window * (1 + 1 / (SLICES - 1)). `now` is epoch seconds.
 *
 * The laws, r = signal / setpoint (r > 0; a signal <= 0 with a setpoint > 0 counts as r
 * = 0 and gives the law's largest move):
 *   proportional (the HPA's replica calculator): desired = output * r without
 *     increases_signal, output / r with it.
 *   aimd (additive increase, multiplicative decrease; Netflix's AIMDLimit): when there is
 *     too much output (r > 1 with increases_signal: the latency is too high; r < 1
 *     without: the utilization is too low) the output is multiplied by aimd.decrease
 *     (0.9; an integer output by at least one, as AIMDLimit), otherwise aimd.increase
 *     (1) is added. Either way the output comes down multiplicatively and goes up
 *     additively.
 *   gradient (Netflix's Gradient2, Envoy's adaptive concurrency): g = (1/r)^slope with
 *     increases_signal, r^slope without, clamped to [gradient.min, gradient.max]
 *     (0.5, 2); desired = output * g.
 * An output at 0 or below moves proportional, gradient and max_step as if it were one
 * unit (the HPA scales from 0 replicas to ceil(ratio)). regulate.c says where each rule
 * comes from.
 */
#ifndef HOMEOSTAT_CONTROLLER_REGULATE_H
#define HOMEOSTAT_CONTROLLER_REGULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum regulator_law { LAW_PROPORTIONAL, LAW_AIMD, LAW_GRADIENT };

#define REGULATOR_WINDOW_SLICES 32 /* a stabilization window is kept in this many slices */
#define REGULATOR_MAX_POLICIES 8   /* behavior policies per direction */
#define REGULATOR_EVENTS 16        /* changes remembered for the behavior policies */

/* The HPA's behavior (spec.behavior.scaleUp / scaleDown): how far the output may move in
 * a period, from where it was at the period's start (output now minus the changes made
 * within the period). Each policy proposes a limit: start + value (units) or start * (1 +
 * value / 100) (percent; rounded up for an integer output) going up, start - value or
 * start * (1 - value / 100) (rounded down) going down. select max takes the proposal that
 * allows the largest change, min the smallest, disabled allows none in that direction.
 * The limit never moves the output the other way. No policies: no limit. */
enum regulator_select { SELECT_MAX, SELECT_MIN, SELECT_DISABLED };
enum regulator_policy_kind { POLICY_UNITS, POLICY_PERCENT };

struct regulator_policy {
    enum regulator_policy_kind kind;
    double value;  /* units of the output, or percent */
    double period; /* seconds */
};

struct regulator_behavior {
    enum regulator_select select;
    struct regulator_policy policies[REGULATOR_MAX_POLICIES];
    size_t n_policies;
};

struct action_def; /* rules.h */

struct regulator_def {
    char *name;
    size_t signal; /* index into rules->signals */
    double setpoint;
    double out_min, out_max, out_start;
    bool integer;
    double resolution; /* smallest change sent; integer outputs: 1 */
    bool increases_signal;
    enum regulator_law law;
    double tolerance;          /* fraction, default 0.1 */
    double max_up, max_down;   /* fraction of the output per step, 0: no limit */
    double stab_up, stab_down; /* stabilization windows, seconds (0: none) */
    double settle;             /* the daemon holds the output this long after a change */
    /* Did it help (effects.h): the signal's distance from the setpoint verify_after a change
     * against before it, each over verify_window; at most one change judged per verify_window
     * (per target). 0 verify_after: none. Defaults as a decision's: 2m with a kubectl action,
     * else 1m; window 1m. */
    uint64_t verify_after_usec, verify_window_usec;
    struct regulator_behavior behavior_up, behavior_down; /* the HPA's policies (see above) */
    double aimd_increase;                                 /* default 1 */
    double aimd_decrease;                                 /* default 0.9, in (0, 1) */
    double gradient_slope;                                /* default 1 */
    double gradient_min, gradient_max;                    /* default 0.5, 2 */
    size_t *active_in; /* state indexes; NULL (n_active_in 0): active in every state */
    size_t n_active_in;
    struct action_def *actions; /* how the output is applied ({{output}}) */
    size_t n_actions;
    bool dry_run;
    char *output_name; /* what the output is called in explanations ("concurrency"); the
                        * regulator's name when not given */
};

/* A slice of a stabilization window: the smallest and largest recommendation made in it
 * (the slices of a window are described at the top). */
struct regulator_slice {
    double start; /* epoch seconds; 0: empty */
    double lo, hi;
};

/* A change of the output, for the behavior policies' periods. */
struct regulator_event {
    double at;     /* epoch seconds; 0: empty */
    double change; /* new - old */
};

/* What a regulator remembers between steps (per target; saved in the state file). */
struct regulator_state {
    double output;      /* the output in force (as applied, or as read back) */
    double last_change; /* when it last changed (0: never) */
    struct regulator_slice up[REGULATOR_WINDOW_SLICES], down[REGULATOR_WINDOW_SLICES];
    /* the regulator's own changes within the longest policy period, oldest first; when
     * full, the two oldest are merged into one at the later time (what a period counts is
     * only their sum, so the limit can only be tighter for a while) */
    struct regulator_event events[REGULATOR_EVENTS];
};

enum regulator_why {
    REG_CHANGE,           /* the output changes */
    REG_UNKNOWN,          /* held: the signal is unknown */
    REG_TOLERANCE,        /* within the tolerance */
    REG_STABILIZING,      /* the window's recommendation keeps the output */
    REG_AT_LIMIT,         /* min or max keeps it */
    REG_BELOW_RESOLUTION, /* the change is smaller than the resolution */
    REG_INACTIVE,         /* at start, not active */
    REG_SETTLING,         /* held for settle after the last change */
    REG_BEHAVIOR,         /* the behavior policies allow no move now */
    REG_WHY_MAX
};

struct regulator_input {
    double now;
    bool known;         /* the signal's value is known and fresh */
    double signal;      /* its value when known */
    bool active;        /* the target's state is one of active_in */
    bool state_unknown; /* with active_in: the state is unknown or uncertain, so whether the
                         * regulator is active cannot be told: held as unknown */
};

struct regulator_step {
    enum regulator_why why;
    double previous;    /* the output before */
    double recommended; /* the law's (or inactive's: start) recommendation */
    double output;      /* after the window, max_step, min/max and rounding */
    bool change;        /* output != previous: to be applied */
    int direction;      /* +1 up, -1 down, 0 */
    char explanation[320];
};

const char *regulator_law_name(enum regulator_law law); /* "proportional", ... */
int regulator_law_parse(const char *name);              /* the law, or -EINVAL */
const char *regulator_why_name(enum regulator_why why); /* "change", "unknown", ... */

/* A fresh state: output at the definition's start, empty windows. */
void regulator_state_init(const struct regulator_def *d, struct regulator_state *st);

/* One step: fills out; updates st (the windows; output, last_change and events only when
 * out->change). signal_name names the signal in the explanation. */
void regulator_step(const struct regulator_def *d, struct regulator_state *st,
                    const char *signal_name, const struct regulator_input *in,
                    struct regulator_step *out);

/* A change that was not applied after all (held by the budget, failed, found moved by
 * someone else): output, last_change and events as in before; the windows keep the
 * step's recommendation. */
void regulator_revert(struct regulator_state *st, const struct regulator_state *before);

/* The HPA's defaults for law proportional (spec.behavior left out): up, select max of 100 %
 * and 4 units per 15 s; down, 100 % per 15 s. */
void regulator_behavior_hpa_defaults(struct regulator_def *d);

const char *regulator_select_name(enum regulator_select s); /* "max", "min", "disabled" */

#endif
