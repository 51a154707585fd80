/* trules: hand-built rules for the tests of the state machine and the decision policy
 * (test-evaluate.c, test-decide.c): up to 8 states of up to 8 conditions over 2 signals,
 * and steps with an injected clock. */
#ifndef HOMEOSTAT_TESTS_TRULES_H
#define HOMEOSTAT_TESTS_TRULES_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "decide.h"
#include "evaluate.h"
#include "rules.h"
#include "test.h"

#define T0 1700000000.0
#define SEC 1000000ull
#define U NAN /* an unknown value in step() */

/* Rules built by hand: up to 8 states with up to 8 conditions each, 2 signals. */
struct trules {
    struct rules r;
    struct signal_def signals[2];
    struct state_def states[8];
    struct condition conds[8][8];
    struct decision_def decisions[4];
    struct action_def actions[4];
};

enum { CPU, MEM };

static inline void trules_init(struct trules *t, enum missing_policy policy)
{
    memset(t, 0, sizeof(*t));
    t->signals[CPU].name = "cpu_busy";
    t->signals[MEM].name = "memory_used";
    t->r.signals = t->signals;
    t->r.n_signals = 2;
    t->r.states = t->states;
    t->r.decisions = t->decisions;
    t->r.on_missing_data = policy;
    t->r.evaluation_interval_usec = 5 * SEC;
}

static inline void add_state(struct trules *t, const char *name, enum when_mode when,
                             double for_sec, double keep_for_sec)
{
    struct state_def *s = &t->states[t->r.n_states];
    s->name = (char *)name;
    s->when = when;
    s->conditions = t->conds[t->r.n_states];
    s->for_usec = (uint64_t)(for_sec * 1e6);
    s->keep_for_usec = (uint64_t)(keep_for_sec * 1e6);
    t->r.n_states++;
}

/* Adds a condition to the last state added. */
static inline void add_cond(struct trules *t, size_t signal, enum cond_op op, double threshold)
{
    struct state_def *s = &t->states[t->r.n_states - 1];
    s->conditions[s->n_conditions++] =
        (struct condition){.signal = signal, .op = op, .threshold = threshold};
}

/* Gives state `state` a decision with one action. */
static inline void add_decision(struct trules *t, size_t state, double min_confidence,
                                double cooldown_sec)
{
    struct decision_def *d = &t->decisions[t->r.n_decisions];
    *d = (struct decision_def){
        .state = state,
        .min_confidence = min_confidence,
        .cooldown_usec = (uint64_t)(cooldown_sec * 1e6),
        .actions = &t->actions[t->r.n_decisions],
        .n_actions = 1,
    };
    t->actions[t->r.n_decisions].summary = "webhook http://127.0.0.1:8080/admin/limits";
    t->r.n_decisions++;
}

/* critical (any: cpu_busy > 0.85, memory_used > 0.90; for 30s, keep_for 2m), stressed
 * (cpu_busy > 0.70; for 10s), optimal: the rules of the product brief, cut down. */
static inline void std_rules(struct trules *t, enum missing_policy policy)
{
    trules_init(t, policy);
    add_state(t, "critical", WHEN_ANY, 30, 120);
    add_cond(t, CPU, COND_GT, 0.85);
    add_cond(t, MEM, COND_GT, 0.90);
    add_state(t, "stressed", WHEN_ANY, 10, 0);
    add_cond(t, CPU, COND_GT, 0.70);
    add_state(t, "optimal", WHEN_ANY, 0, 0);
}

/* Fills v with cpu and mem sampled at sample_time; U makes a signal unknown ("timeout"). */
static inline void set_values(struct signal_value v[2], double cpu, double mem, double sample_time)
{
    double x[2] = {cpu, mem};
    for (int i = 0; i < 2; i++) {
        memset(&v[i], 0, sizeof(v[i]));
        v[i].known = !isnan(x[i]);
        v[i].value = isnan(x[i]) ? 0 : x[i];
        v[i].sample_time = sample_time;
        if (!v[i].known)
            snprintf(v[i].reason, sizeof(v[i].reason), "timeout");
    }
}

/* One evaluation at now with fresh samples. */
static inline void step(const struct trules *t, struct eval_state *st, double cpu, double mem,
                        double now, struct eval_result *out)
{
    struct signal_value v[2];
    set_values(v, cpu, mem, now);
    evaluate(&t->r, st, v, now, out);
}

/* Evaluates every 5 s over [from, to] with the same values; out is the last result. */
static inline void run(const struct trules *t, struct eval_state *st, double cpu, double mem,
                       double from, double to, struct eval_result *out)
{
    for (double now = from; now <= to; now += 5)
        step(t, st, cpu, mem, now, out);
}

static inline const char *name(const struct trules *t, size_t i)
{
    return eval_state_name(&t->r, i);
}

#endif
