/* backtest: `homeostat-controller backtest`, a rules file replayed over Prometheus
 * history. Fetches every signal's values over [from, to] at a step with query_range
 * (promql.h, chunked under Prometheus' 11,000 points), replays them step by step through
 * step_replay_next(), the daemon's own evaluate() and decide() (step.h), and reports a
 * timeline (state changes and decisions with their outcomes) and a summary (time in each
 * state, transitions, flaps, decisions that would have fired, actions held back, missing
 * data) as text or JSON; with targets, per target as well (backtest_targets.c). No action
 * is ever run. docs/RULES.md ("Backtesting a rule
 * change") is the operator's version; alert:NAME signals come from Prometheus' ALERTS
 * series there. */
#ifndef HOMEOSTAT_CONTROLLER_BACKTEST_H
#define HOMEOSTAT_CONTROLLER_BACKTEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "decide.h"
#include "effects.h"
#include "promql.h"
#include "rules.h"

#define BACKTEST_MAX_POINTS 5000000u        /* distinct queries × evaluations of one backtest */
#define BACKTEST_MAX_EVENTS 10000u          /* timeline entries kept (the summary counts all) */
#define BACKTEST_MAX_GAPS 100u              /* gaps listed per signal (all are counted) */
#define BACKTEST_MAX_SERIES_POINTS 1000000u /* with targets: every series' points, all queries */
#define BACKTEST_MAX_TARGETS_LISTED 1000u   /* targets in the report (all are counted) */
#define BACKTEST_MAX_REG_CHANGES 10000u     /* changes listed per regulator (all are counted) */
#define BACKTEST_MAX_REG_TARGETS_TEXT 20u   /* with targets: per regulator in the text report */
#define BACKTEST_MAX_NO_EFFECT_TARGETS_TEXT 10u /* targets named per state in "Did they help?" */

/* `homeostat-controller backtest FLAGS...`: argv[0] is "backtest". Returns the exit
 * status: 0 done, 1 Prometheus failed or the output could not be written, 2 bad flags, an
 * invalid rules file or a range over BACKTEST_MAX_POINTS (errors on stderr). */
int backtest_main(int argc, char **argv);

/* A time given on the command line, in epoch milliseconds: RFC 3339
 * ("2024-05-01T12:00:00Z", "2024-05-01T14:00:00.5+02:00"), Unix seconds ("1714564800",
 * "1714564800.25"), "now", or now minus a duration ("-24h", "-7d", "-1h30m"). Fractions
 * finer than a millisecond are cut. 0, or -EINVAL (*ret untouched). */
int backtest_parse_time(const char *s, int64_t now_ms, int64_t *ret_ms);

/* The query a signal is fetched with: its own, or for alert:NAME
 * `max(ALERTS{alertname="NAME",alertstate="firing"}) or vector(0)`, 1 while Prometheus
 * had an alert of that name firing, else 0. New string (caller frees) or NULL. */
char *backtest_signal_query(const struct signal_def *s);

/* One entry of the timeline: an evaluation that changed the state or recorded a
 * decision. */
struct backtest_event {
    int64_t time_ms;
    size_t from, to; /* state indexes, or EVAL_STATE_UNKNOWN */
    bool changed, uncertain;
    bool flap; /* the change ends a stay shorter than the flap window (see below) */
    double confidence;
    char *reasoning;                /* owned */
    enum decision_outcome outcome;  /* OUTCOME_NONE: no decision recorded */
    const struct decision_def *def; /* the decision concerned (borrowed from the rules) */
    char *target;                   /* with targets: the target's key (owned); else NULL */
    bool judged;                    /* a decision that fires, judged: verdict */
    enum effect_verdict verdict;
};

/* With targets: what one regulator did at one target. */
struct backtest_target_regulator {
    uint64_t up, down, reversals;         /* as in struct backtest_regulator */
    double final_output, lowest, highest; /* after its last step, and over all (NaN: none) */
    int last_direction;                   /* of its last change: +1, -1, 0 before the first */
};

/* With targets: what one target went through. */
struct backtest_target_stats {
    char *key;            /* {service="a"} (owned) */
    uint64_t evaluations; /* steps it was known at */
    uint64_t transitions, flaps, decisions;
    uint64_t outcomes[OUTCOME_MAX];
    size_t worst; /* the worst state it was in (index; n_states: only unknown) */
    struct backtest_target_regulator *regulators; /* rules->n_regulators (owned), or NULL */
    uint64_t (*verdicts)[EFFECT_MAX]; /* its decisions' verdicts, as b->verdicts (or NULL) */
};

/* A run of consecutive evaluations at which one signal was unknown. */
struct backtest_gap {
    int64_t from_ms, to_ms; /* the first and last evaluation of the run */
    char reason[160];       /* why, at its first evaluation */
};

struct backtest_signal_stats {
    uint64_t missing; /* evaluations at which it was unknown */
    uint64_t n_gaps;  /* runs of them; the first BACKTEST_MAX_GAPS are in gaps */
    struct backtest_gap *gaps;
};

/* Per state, indexed like the rules' states with [n_states] for "unknown". */
struct backtest_state_stats {
    uint64_t evaluations;           /* each counts one step of time */
    uint64_t entered;               /* changes into it */
    uint64_t flaps;                 /* stays in it shorter than the flap window */
    uint64_t outcomes[OUTCOME_MAX]; /* decisions recorded in it, by outcome */
};

/* A change of a regulator's output in the replay. */
struct backtest_reg_change {
    int64_t time_ms;
    double from, to;
    bool dry_run;      /* --dry-run or the regulator's dry_run: nothing would have been sent */
    char *explanation; /* owned */
    char *target;      /* with targets: the target's key (owned); else NULL */
};

/* What one regulator would have done over the range: open loop, since the recorded signal
 * never saw these outputs. With targets, summed over the targets (a reversal is one within
 * a target; the evaluations are target-evaluations); final_output and last_direction are
 * then each target's own (struct backtest_target_regulator) and here NaN and 0. */
struct backtest_regulator {
    struct backtest_reg_change *changes; /* the first BACKTEST_MAX_REG_CHANGES, in order */
    size_t n_changes;
    uint64_t changes_dropped;    /* past BACKTEST_MAX_REG_CHANGES */
    uint64_t up, down;           /* changes by direction (all of them) */
    uint64_t reversals;          /* changes the other way from the change before */
    uint64_t budget_exhausted;   /* changes that waited for max_regulator_changes_per_hour */
    uint64_t steps[REG_WHY_MAX]; /* evaluations by what the step did (budget's not here) */
    uint64_t at_min, at_max;     /* evaluations that ended with the output at min / max */
    double final_output, lowest, highest; /* after the last evaluation, and over all */
    int last_direction;                   /* of the last change: +1, -1, 0 before the first */
};

struct backtest_result {
    const struct rules *rules; /* borrowed */
    int64_t start_ms, step_ms;
    size_t n; /* evaluations: start_ms + k * step_ms for k < n */
    uint64_t flap_window_ms;
    struct backtest_event *events;
    size_t n_events;
    uint64_t events_dropped;               /* past BACKTEST_MAX_EVENTS */
    struct backtest_state_stats *states;   /* n_states + 1 */
    struct backtest_signal_stats *signals; /* rules->n_signals */
    uint64_t transitions, flaps;
    uint64_t decisions;             /* recorded, any outcome */
    uint64_t outcomes[OUTCOME_MAX]; /* over all states */
    uint64_t evaluations_missing;   /* with at least one signal unknown */
    uint64_t evaluations_uncertain; /* whose result was uncertain */
    /* Would the decisions that fire have helped (effects.h), judged on the replayed history
     * as the daemon judges them verify_after later (with targets, each on its target's
     * series, counted over all targets): per state (index; n_states + 1 slots), the
     * verdicts by enum effect_verdict; has_verdicts when any */
    uint64_t (*verdicts)[EFFECT_MAX];
    bool has_verdicts;
    /* With targets (else 0 and NULL): the states' evaluations, the missing and uncertain
     * counts and the signals' missing counts are of target-evaluations (a target at a
     * step), out of target_evaluations; a signal's gaps are not listed. */
    uint64_t target_evaluations;
    struct backtest_target_stats *targets; /* in the order they appeared */
    size_t n_targets;
    size_t targets_refused; /* label sets past targets.max */
    /* rules->n_regulators trajectories (with targets, summed over them); NULL without
     * regulators */
    struct backtest_regulator *regulators;
    /* The baselines learned over the replay, as the daemon would have them: without
     * targets {SIGNAL: ...} (baseline_set_json), with targets {KEY: {SIGNAL: ...}}; NULL
     * when the rules learn none */
    json_t *baselines;
};

/* Replays series (rules->n_signals ranges, borrowed, all with the same start, step and
 * number of points; series[i] holds signal i's values) through step_replay_next() from a fresh
 * start at the first point, as a daemon started then with no state file, neither paused
 * nor in --dry-run; each regulator's output moves as if applied (its trajectory in
 * b->regulators). A flap is a stay in a state that a change started and a change ended
 * less than flap_window_ms later. 0 and *ret (free with backtest_result_free), -EINVAL
 * when the ranges differ, or -ENOMEM. */
int backtest_replay(const struct rules *rules, const struct promql_range *const *series,
                    uint64_t flap_window_ms, struct backtest_result **ret);
void backtest_result_free(struct backtest_result *b); /* accepts NULL */
/* The same for a rules file with targets: series[i] holds signal i's series (its matrix,
 * promql_range.matrix); each step's instant vectors go through fleet_replay_next() (the
 * daemon's matching, steps, budgets and storm guard); the timeline names each entry's
 * target and the summary adds each target's; each regulator's trajectory is summed over
 * the targets, each change naming its target, and each target keeps its own summary of
 * each regulator. 0 and *ret, -EINVAL, -E2BIG (more series
 * points than BACKTEST_MAX_SERIES_POINTS) or -ENOMEM. */
int backtest_replay_targets(const struct rules *rules, const struct promql_range *const *series,
                            uint64_t flap_window_ms, struct backtest_result **ret);

/* What the backtest was asked, for the outputs (all borrowed). */
struct backtest_about {
    const char *rules_path;
    const char *prometheus_url;
    const char *const *queries; /* per signal, the query fetched */
    size_t requests;            /* query_range requests made */
};

/* The report as JSON (new reference, NULL on OOM) and as readable text. */
json_t *backtest_json(const struct backtest_result *b, const struct backtest_about *about);
/* `homeostat-controller baseline learn` (argv[0] "baseline"): the backtest's replay, its
 * baselines written to --output; the exit status. */
int baseline_main(int argc, char **argv);
void backtest_write_text(const struct backtest_result *b, const struct backtest_about *about,
                         FILE *out);

#endif
