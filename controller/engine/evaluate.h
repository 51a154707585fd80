/* evaluate: the state machine. Pure: given the rules, the previous machine state,
 * the signal values of this evaluation and the time, it computes the next state,
 * the confidence and a readable reasoning. The daemon, `homeostat-controller test`
 * and the backtest all call this one function, so they cannot disagree.
 *
 * Semantics (docs/RULES.md is the operator's version):
 * - A condition "signal OP threshold" is TRUE or FALSE on a known value, UNKNOWN
 *   when the signal is unknown. A state with when: any holds (TRUE) when any of its
 *   conditions is TRUE, is FALSE when all are FALSE, else UNKNOWN; with when: all it
 *   holds when all are TRUE, is FALSE when any is FALSE, else UNKNOWN. The last
 *   state (no conditions) always holds.
 * - held_since[i] is when state i's conditions started holding continuously; FALSE
 *   or UNKNOWN clears it. last_held[i] is the last evaluation at which they held.
 * - A state is eligible when it holds and has held for at least its `for`
 *   (now - held_since >= for), or when it is the current state and either holds or
 *   stopped holding less than keep_for ago (now - last_held < keep_for).
 * - Candidate: the first eligible state in order (worst first), treating UNKNOWN as
 *   not holding.
 * - Missing data: the outcome is uncertain when a state before the candidate is
 *   UNKNOWN (it might hold), or when the candidate is better than the current state
 *   and the current state is UNKNOWN (we cannot tell that it stopped). Then
 *   on_missing_data: hold keeps the current state, unknown moves to "unknown"; in
 *   both cases the result is marked uncertain and no action may be taken.
 * - Confidence (0..1) of the resulting state is the product of four parts:
 *   margin: for a state with conditions, how far the deciding values are past their
 *     thresholds relative to the threshold: d = |v - t| / max(|t|, 1e-9) per TRUE
 *     condition, part = min(1, d / 0.10) (10 % past the threshold is full margin);
 *     the largest over TRUE conditions for any, the smallest for all; a TRUE ==
 *     condition has full margin (1). For the
 *     default state: the smallest margin by which a known condition of a worse state
 *     misses its threshold, same scale. No conditions to judge: 1.
 *   duration: how long the state's conditions have held relative to its for:
 *     min(1, held / (1.5 * for)); 1 when for is 0 or for the default state.
 *   coverage: share of the signals the decision depends on that are known (the
 *     state's own conditions; for the default state, the conditions of every worse
 *     state).
 *   freshness: mean over those known signals of 1 - age / max_age (clamped to
 *     0..1; 1 for signals without max_age), where age = now - sample time.
 *   An uncertain result has confidence 0. */
#ifndef HOMEOSTAT_CONTROLLER_EVALUATE_H
#define HOMEOSTAT_CONTROLLER_EVALUATE_H

#include <stdbool.h>
#include <stddef.h>

#include "rules.h"

#define EVAL_STATE_UNKNOWN ((size_t)-1) /* index meaning the "unknown" state */
#define EVAL_MAX_REASONING 2048

struct signal_value {
    bool known;
    double value;
    double sample_time; /* seconds since the epoch (the sample's timestamp) */
    char reason[160];   /* why unknown: "empty result", "3 series", "NaN", "stale: ..." */
};

enum tri { TRI_FALSE, TRI_TRUE, TRI_UNKNOWN };

/* What persists between evaluations (saved in the state file). Arrays sized by the
 * rules' n_states; evaluate_state_init allocates them. */
struct eval_state {
    size_t current;     /* state index or EVAL_STATE_UNKNOWN */
    double since;       /* when current was entered (epoch seconds) */
    double *held_since; /* per state, 0 = not holding */
    double *last_held;  /* per state, 0 = never */
    size_t n_states;
};

struct confidence_parts {
    double margin, duration, coverage, freshness;
};

struct eval_result {
    size_t from, to; /* state indexes (or EVAL_STATE_UNKNOWN) */
    bool changed;
    bool uncertain; /* decided on missing data: never act */
    double confidence;
    struct confidence_parts parts;
    enum tri holds[64]; /* per state, this evaluation (first 64 states) */
    char reasoning[EVAL_MAX_REASONING];
};

/* Initial machine state: the default (last) state, since now. 0 or -ENOMEM. */
int eval_state_init(struct eval_state *st, const struct rules *r, double now);
void eval_state_free(struct eval_state *st);
/* Carries a machine state over to new rules after a reload (states matched by
 * name; timers of removed states dropped). 0 or -ENOMEM; st is replaced. */
int eval_state_rebase(struct eval_state *st, const struct rules *old_rules,
                      const struct rules *new_rules);

/* Applies values (r->n_signals entries, after max_age staleness has been applied
 * by the caller or not: evaluate marks values older than max_age unknown itself)
 * at time now; updates st and fills out. */
void evaluate(const struct rules *r, struct eval_state *st, const struct signal_value *values,
              double now, struct eval_result *out);

/* Name of a state index (or "unknown"). */
const char *eval_state_name(const struct rules *r, size_t index);

#endif
