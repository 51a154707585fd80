/* ruletest_private: what the files of `homeostat-controller test` share (ruletest.c: the
 * test file and the run; ruletest_values.c: promtool's expanding notation;
 * ruletest_targets.c: tests of a rules file with targets). Private to them. */
#ifndef HOMEOSTAT_CONTROLLER_RULETEST_PRIVATE_H
#define HOMEOSTAT_CONTROLLER_RULETEST_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "decide.h"
#include "evaluate.h"
#include "rules.h"
#include "step.h"
#include "yamltree.h"

/* The values of one signal in one test; a signal the test does not list has listed false. */
struct series {
    bool listed;
    size_t n, cap;
    double *value;
    bool *known;     /* false: '_' or 'stale' */
    bool per_target; /* a rules file with targets: the values are in the test's tseries */
};

/* The values of one signal for one target (a rules file with targets). */
struct tseries {
    size_t signal;
    json_t *labels; /* the series' labels (owned) */
    struct series s;
};

/* What an expectation says of one regulator (regulators: {NAME: {...}}); the unchecked
 * fields are marked so. */
struct reg_expectation {
    const struct ytree_node *node;
    size_t regulator;  /* index into rules->regulators */
    bool check_output; /* the output in force after the step */
    double output;
    int why;                          /* -1: not checked, else enum regulator_why */
    const char *explanation_contains; /* NULL: not checked; borrowed from the tree */
    bool check_changes;               /* changes applied (or dry run) from the start */
    uint64_t changes;
};

/* One entry of a test's expect list; the unchecked fields are marked so. */
struct expectation {
    const struct ytree_node *node;
    const char *at_text; /* as written, for messages */
    size_t step;
    bool check_state;
    size_t state; /* index or EVAL_STATE_UNKNOWN */
    int changed;  /* -1: not checked, else 0/1 */
    int uncertain;
    bool check_confidence;
    double confidence_min, confidence_max;
    int outcome;                    /* -1: not checked, else enum decision_outcome */
    const char *reasoning_contains; /* NULL: not checked; borrowed from the tree */
    bool check_decisions;
    uint64_t decisions;
    char *target; /* the target's key ({service="a"}; owned), NULL without targets */
    struct reg_expectation *regs; /* owned; n_regs of them */
    size_t n_regs;
};

struct rtest {
    const char *name; /* borrowed from the tree, or default_name */
    char default_name[32];
    uint64_t interval_usec; /* > 0: the rules' evaluation_interval is at least 100ms */
    uint64_t sample_age_usec;
    struct decide_flags flags;
    struct series *series;   /* rules->n_signals entries */
    struct tseries *tseries; /* per-target values of a rules file with targets */
    size_t n_tseries, cap_tseries;
    struct expectation *expect;
    size_t n_expect;
    size_t n_steps;
};

struct rfile {
    struct ytree *tree;
    struct rules *rules;
    uint64_t interval_usec; /* evaluation_interval: the default of each test's interval */
    struct rtest *tests;
    size_t n_tests;
};

/* Expands text (promtool's notation: "0.5x6 0.91+0.01x3 _x2 stale") into s; errors at n.
 * 0, -EINVAL or -ENOMEM. */
int ruletest_parse_values(const struct ytree_node *n, const char *text, struct series *s,
                          struct buf *errors);
/* Checks e against this step's results (regs: the replay's regulators, NULL with
 * targets); appends a failure block to report when it fails. Returns whether it passed. */
bool ruletest_check(const struct rules *rules, const struct rtest *t, const struct expectation *e,
                    const struct eval_result *res, enum decision_outcome outcome,
                    uint64_t decisions, const struct step_regulator *regs, struct buf *report);
/* A rules file with targets: signal sig's values per target, a map from label sets
 * ({service="a"}) to values. 0, -EINVAL with errors, or -ENOMEM. */
int ruletest_load_target_series(const struct rules *rules, struct rtest *t, size_t sig,
                                const struct ytree_node *n, struct buf *errors);
/* Runs test t of a rules file with targets (fleet_replay: the daemon's step of every
 * target); failures go to report. The number of failed expectations or -ENOMEM. */
int ruletest_run_targets(const struct rules *rules, const struct rtest *t, struct buf *report);
void ruletest_free_target_series(struct rtest *t);

#endif
