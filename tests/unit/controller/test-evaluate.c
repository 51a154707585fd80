/* test-evaluate: the state machine (controller/engine/evaluate.c) on hand-built rules
 * (trules.h) with an injected clock: every condition operator at its boundary, any/all
 * with unknown data, for and keep_for, missing data (hold, unknown, what blocks what), the
 * confidence formula part by part with the worked example of docs/RULES.md, max_age
 * staleness, the reasoning text and rebase across a reload. decide() is test-decide.c. */
#include <stdbool.h>
#include <stdint.h>

#include "decide.h"
#include "evaluate.h"
#include "rules.h"
#include "test.h"

#include "trules.h"

/* ---- conditions ---- */

TEST(condition_operators_at_their_boundaries)
{
    static const struct {
        enum cond_op op;
        enum tri below, equal, above;
    } cases[] = {
        {COND_GT, TRI_FALSE, TRI_FALSE, TRI_TRUE}, {COND_GE, TRI_FALSE, TRI_TRUE, TRI_TRUE},
        {COND_LT, TRI_TRUE, TRI_FALSE, TRI_FALSE}, {COND_LE, TRI_TRUE, TRI_TRUE, TRI_FALSE},
        {COND_EQ, TRI_FALSE, TRI_TRUE, TRI_FALSE}, {COND_NE, TRI_TRUE, TRI_FALSE, TRI_TRUE},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct trules t;
        trules_init(&t, MISSING_HOLD);
        add_state(&t, "s", WHEN_ANY, 0, 0);
        add_cond(&t, CPU, cases[c].op, 0.85);
        add_state(&t, "optimal", WHEN_ANY, 0, 0);
        struct eval_state st;
        CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
        struct eval_result out;
        step(&t, &st, 0.84, 0, T0, &out);
        CHECK_INT(out.holds[0], cases[c].below);
        step(&t, &st, 0.85, 0, T0 + 5, &out); /* the same double as the threshold */
        CHECK_INT(out.holds[0], cases[c].equal);
        step(&t, &st, 0.86, 0, T0 + 10, &out);
        CHECK_INT(out.holds[0], cases[c].above);
        step(&t, &st, U, 0, T0 + 15, &out);
        CHECK_INT(out.holds[0], TRI_UNKNOWN);
        CHECK_INT(out.holds[1], TRI_TRUE); /* the default state always holds */
        eval_state_free(&st);
    }
}

TEST(any_and_all_with_unknown)
{
    static const struct {
        enum when_mode when;
        double cpu, mem;
        enum tri want;
    } cases[] = {
        {WHEN_ANY, 0.9, U, TRI_TRUE},    {WHEN_ANY, 0.5, U, TRI_UNKNOWN},
        {WHEN_ANY, 0.5, 0.5, TRI_FALSE}, {WHEN_ANY, 0.5, 0.95, TRI_TRUE},
        {WHEN_ANY, U, U, TRI_UNKNOWN},   {WHEN_ALL, 0.9, 0.95, TRI_TRUE},
        {WHEN_ALL, 0.9, U, TRI_UNKNOWN}, {WHEN_ALL, 0.5, U, TRI_FALSE},
        {WHEN_ALL, 0.9, 0.5, TRI_FALSE}, {WHEN_ALL, U, U, TRI_UNKNOWN},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct trules t;
        trules_init(&t, MISSING_HOLD);
        add_state(&t, "critical", cases[c].when, 0, 0);
        add_cond(&t, CPU, COND_GT, 0.85);
        add_cond(&t, MEM, COND_GT, 0.90);
        add_state(&t, "optimal", WHEN_ANY, 0, 0);
        struct eval_state st;
        CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
        struct eval_result out;
        step(&t, &st, cases[c].cpu, cases[c].mem, T0, &out);
        if (out.holds[0] != cases[c].want)
            TEST_FAIL("case %zu: holds %d, expected %d", c, out.holds[0], cases[c].want);
        eval_state_free(&st);
    }
}

/* ---- for ---- */

TEST(for_enters_only_after_holding_long_enough)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    CHECK_STR(name(&t, st.current), "optimal");
    struct eval_result out;
    /* Memory above 0.90 from T0: critical holds from T0, entered at T0 + 30 exactly. */
    run(&t, &st, 0.5, 0.95, T0, T0 + 25, &out);
    CHECK_STR(name(&t, out.to), "optimal");
    CHECK(!out.changed);
    CHECK_DBL(st.held_since[0], T0, 0);
    step(&t, &st, 0.5, 0.95, T0 + 30, &out);
    CHECK_STR(name(&t, out.to), "critical");
    CHECK_STR(name(&t, out.from), "optimal");
    CHECK(out.changed);
    CHECK(!out.uncertain);
    CHECK_INT(st.current, 0);
    CHECK_DBL(st.since, T0 + 30, 0);
    CHECK_CONTAINS(out.reasoning, "for 30s \xe2\x89\xa5 30s");
    /* Staying is no change. */
    step(&t, &st, 0.5, 0.95, T0 + 35, &out);
    CHECK(!out.changed);
    CHECK_DBL(st.since, T0 + 30, 0);
    eval_state_free(&st);
}

TEST(for_a_single_false_resets)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    run(&t, &st, 0.5, 0.95, T0, T0 + 25, &out);
    step(&t, &st, 0.5, 0.5, T0 + 30, &out); /* one FALSE */
    CHECK_DBL(st.held_since[0], 0, 0);
    CHECK_DBL(st.last_held[0], T0 + 25, 0);
    CHECK_STR(name(&t, out.to), "optimal");
    run(&t, &st, 0.5, 0.95, T0 + 35, T0 + 60, &out);
    CHECK_STR(name(&t, out.to), "optimal"); /* held 25 s of 30 */
    step(&t, &st, 0.5, 0.95, T0 + 65, &out);
    CHECK_STR(name(&t, out.to), "critical");
    CHECK(out.changed);
    eval_state_free(&st);
}

TEST(for_unknown_resets)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    run(&t, &st, 0.5, 0.95, T0, T0 + 25, &out);
    step(&t, &st, 0.5, U, T0 + 30, &out); /* critical UNKNOWN: cannot have held */
    CHECK_INT(out.holds[0], TRI_UNKNOWN);
    CHECK_DBL(st.held_since[0], 0, 0);
    CHECK(out.uncertain);
    CHECK_STR(name(&t, out.to), "optimal");
    run(&t, &st, 0.5, 0.95, T0 + 35, T0 + 60, &out);
    CHECK_STR(name(&t, out.to), "optimal");
    step(&t, &st, 0.5, 0.95, T0 + 65, &out);
    CHECK_STR(name(&t, out.to), "critical");
    eval_state_free(&st);
}

/* ---- keep_for ---- */

TEST(keep_for_keeps_a_state_after_it_stops_holding)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    run(&t, &st, 0.5, 0.95, T0, T0 + 40, &out);
    CHECK_STR(name(&t, out.to), "critical");
    /* Stops holding after T0 + 40; kept while now - last_held < 2m. */
    step(&t, &st, 0.5, 0.5, T0 + 60, &out);
    CHECK_STR(name(&t, out.to), "critical");
    CHECK(!out.changed);
    CHECK(!out.uncertain);
    CHECK_CONTAINS(out.reasoning, "critical kept: stopped holding 20s ago < keep_for 2m");
    CHECK_CONTAINS(out.reasoning, "memory_used=0.5 below 0.9 (not holding)");
    CHECK_DBL(out.parts.margin, 0, 0); /* only kept: no confidence, no repeated actions */
    CHECK_DBL(out.confidence, 0, 0);
    step(&t, &st, 0.5, 0.5, T0 + 155, &out); /* 115 s */
    CHECK_STR(name(&t, out.to), "critical");
    step(&t, &st, 0.5, 0.5, T0 + 160, &out); /* 120 s: no longer < keep_for */
    CHECK_STR(name(&t, out.to), "optimal");
    CHECK(out.changed);
    eval_state_free(&st);
}

TEST(keep_for_holding_again_needs_no_new_for)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    run(&t, &st, 0.5, 0.95, T0, T0 + 30, &out);
    CHECK_STR(name(&t, out.to), "critical");
    step(&t, &st, 0.5, 0.5, T0 + 35, &out);
    step(&t, &st, 0.5, 0.95, T0 + 40, &out); /* the current state holds again */
    CHECK_STR(name(&t, out.to), "critical");
    CHECK_DBL(st.held_since[0], T0 + 40, 0);
    CHECK_CONTAINS(out.reasoning, "for 0s (current state)");
    CHECK_DBL(out.parts.duration, 0, 0);
    eval_state_free(&st);
}

TEST(keep_for_a_better_state_waits_a_worse_one_preempts)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    t.states[1].keep_for_usec = 60 * SEC; /* stressed kept 1m */
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    /* critical on memory, then memory recovers while cpu is stressed (0.75): stressed
     * is eligible but better, so critical is kept for its 2m. */
    run(&t, &st, 0.75, 0.95, T0, T0 + 30, &out);
    CHECK_STR(name(&t, out.to), "critical");
    run(&t, &st, 0.75, 0.5, T0 + 35, T0 + 145, &out);
    CHECK_STR(name(&t, out.to), "critical");
    step(&t, &st, 0.75, 0.5, T0 + 150, &out); /* 120 s after T0 + 30 */
    CHECK_STR(name(&t, out.to), "stressed");
    CHECK_STR(name(&t, out.from), "critical");
    /* stressed stops holding and is kept for 1m, but critical preempts it at once
     * when eligible. */
    run(&t, &st, 0.5, 0.5, T0 + 155, T0 + 165, &out);
    CHECK_STR(name(&t, out.to), "stressed");
    run(&t, &st, 0.9, 0.5, T0 + 170, T0 + 195, &out);
    CHECK_STR(name(&t, out.to), "stressed"); /* critical held 25 s of 30 */
    step(&t, &st, 0.9, 0.5, T0 + 200, &out);
    CHECK_STR(name(&t, out.to), "critical");
    CHECK(out.changed);
    eval_state_free(&st);
}

/* ---- missing data ---- */

TEST(missing_data_hold_keeps_the_current_state)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    step(&t, &st, U, 0.5, T0, &out);
    CHECK(out.uncertain);
    CHECK(!out.changed);
    CHECK_STR(name(&t, out.to), "optimal");
    CHECK_DBL(out.confidence, 0, 0);
    CHECK_DBL(out.parts.margin, 0, 0);
    CHECK_CONTAINS(out.reasoning, "holding optimal: critical cannot be evaluated: cpu_busy "
                                  "unknown (timeout); stressed cannot be evaluated: cpu_busy "
                                  "unknown (timeout) (on_missing_data: hold)");
    eval_state_free(&st);
}

TEST(missing_data_unknown_moves_to_unknown_and_back)
{
    struct trules t;
    std_rules(&t, MISSING_UNKNOWN);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    step(&t, &st, U, 0.5, T0, &out);
    CHECK(out.uncertain);
    CHECK(out.changed);
    CHECK(out.to == EVAL_STATE_UNKNOWN);
    CHECK(st.current == EVAL_STATE_UNKNOWN);
    CHECK_STR(name(&t, out.to), "unknown");
    CHECK_CONTAINS(out.reasoning, "unknown: critical cannot be evaluated");
    CHECK_CONTAINS(out.reasoning, "(on_missing_data: unknown)");
    step(&t, &st, U, 0.5, T0 + 5, &out);
    CHECK(!out.changed);
    step(&t, &st, 0.5, 0.5, T0 + 10, &out);
    CHECK(!out.uncertain);
    CHECK(out.changed);
    CHECK(out.from == EVAL_STATE_UNKNOWN);
    CHECK_STR(name(&t, out.to), "optimal");
    eval_state_free(&st);
}

/* critical (cpu_busy > 0.85), degraded (memory_used > 0.90), optimal. */
static void two_signal_rules(struct trules *t, enum missing_policy policy)
{
    trules_init(t, policy);
    add_state(t, "critical", WHEN_ANY, 0, 0);
    add_cond(t, CPU, COND_GT, 0.85);
    add_state(t, "degraded", WHEN_ANY, 0, 0);
    add_cond(t, MEM, COND_GT, 0.90);
    add_state(t, "optimal", WHEN_ANY, 0, 0);
}

TEST(missing_data_unknown_earlier_state_blocks_a_better_candidate)
{
    struct trules t;
    two_signal_rules(&t, MISSING_HOLD);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    step(&t, &st, 0.5, 0.95, T0, &out);
    CHECK_STR(name(&t, out.to), "degraded");
    /* Memory recovers but cpu is unknown: critical might hold, optimal is blocked. */
    step(&t, &st, U, 0.5, T0 + 5, &out);
    CHECK(out.uncertain);
    CHECK_STR(name(&t, out.to), "degraded");
    CHECK_CONTAINS(out.reasoning, "holding degraded: critical cannot be evaluated: cpu_busy "
                                  "unknown (timeout) (on_missing_data: hold)");
    /* The same blocks a worse candidate than the current state (evaluate.h: any state
     * before the candidate that is UNKNOWN). */
    step(&t, &st, 0.5, 0.5, T0 + 10, &out);
    CHECK_STR(name(&t, out.to), "optimal");
    step(&t, &st, U, 0.95, T0 + 15, &out);
    CHECK(out.uncertain);
    CHECK_STR(name(&t, out.to), "optimal");
    eval_state_free(&st);
}

TEST(missing_data_current_state_unknown_blocks_leaving_it)
{
    struct trules t;
    two_signal_rules(&t, MISSING_HOLD);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    step(&t, &st, 0.5, 0.95, T0, &out);
    CHECK_STR(name(&t, out.to), "degraded");
    step(&t, &st, 0.5, U, T0 + 5, &out);
    CHECK(out.uncertain);
    CHECK(!out.changed);
    CHECK_STR(name(&t, out.to), "degraded");
    CHECK_CONTAINS(out.reasoning, "holding degraded: cannot tell whether degraded stopped "
                                  "holding: memory_used unknown (timeout)");
    eval_state_free(&st);
}

TEST(missing_data_worse_state_on_known_data_is_entered)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    t.states[0].for_usec = 0;
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    /* any: cpu_busy holds, memory_used unknown: critical holds on known data. */
    step(&t, &st, 0.95, U, T0, &out);
    CHECK_INT(out.holds[0], TRI_TRUE);
    CHECK(!out.uncertain);
    CHECK(out.changed);
    CHECK_STR(name(&t, out.to), "critical");
    CHECK_DBL(out.parts.coverage, 0.5, 0);
    CHECK_CONTAINS(out.reasoning, "memory_used unknown (timeout)");
    /* A later state that cannot be evaluated does not matter either. */
    two_signal_rules(&t, MISSING_UNKNOWN);
    eval_state_free(&st);
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    step(&t, &st, 0.95, U, T0, &out);
    CHECK(!out.uncertain);
    CHECK_INT(out.holds[1], TRI_UNKNOWN);
    CHECK_STR(name(&t, out.to), "critical");
    eval_state_free(&st);
}

TEST(no_action_on_uncertain_data)
{
    struct trules t;
    std_rules(&t, MISSING_UNKNOWN);
    add_decision(&t, 2, 0, 60); /* even optimal has an action here */
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    double last_exec[4] = {0};
    struct decide_flags flags = {0};
    const struct decision_def *def = NULL;
    struct eval_result out;
    step(&t, &st, U, 0.5, T0, &out);
    CHECK(out.changed);
    CHECK_INT(decide(&t.r, last_exec, &out, T0, &flags, &def), OUTCOME_UNCERTAIN);
    CHECK(def == NULL);
    step(&t, &st, U, 0.5, T0 + 5, &out);
    CHECK_INT(decide(&t.r, last_exec, &out, T0 + 5, &flags, &def), OUTCOME_NONE);

    /* hold: staying in a state with actions on uncertain data records nothing. */
    std_rules(&t, MISSING_HOLD);
    add_decision(&t, 2, 0, 60);
    eval_state_free(&st);
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    step(&t, &st, U, 0.5, T0, &out);
    CHECK(out.uncertain);
    CHECK_INT(decide(&t.r, last_exec, &out, T0, &flags, &def), OUTCOME_NONE);
    CHECK_DBL(last_exec[0], 0, 0);
    /* A hand-made uncertain change is recorded as uncertain, never executed. */
    out.changed = true;
    CHECK_INT(decide(&t.r, last_exec, &out, T0, &flags, &def), OUTCOME_UNCERTAIN);
    CHECK(def == &t.decisions[0]);
    CHECK_DBL(last_exec[0], 0, 0);
    eval_state_free(&st);
}

/* ---- confidence ---- */

/* The worked example of docs/RULES.md: cpu_busy 0.91 against 0.85, held 45 s with for
 * 30 s, memory_used 0.62 (not holding), both known, both samples 3 s old of max_age
 * 30 s. */
TEST(confidence_worked_example)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    t.signals[CPU].max_age_usec = 30 * SEC;
    t.signals[MEM].max_age_usec = 30 * SEC;
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    struct signal_value v[2];
    for (double now = T0; now <= T0 + 45; now += 5) {
        set_values(v, 0.91, 0.62, now - 3);
        evaluate(&t.r, &st, v, now, &out);
    }
    CHECK_STR(name(&t, out.to), "critical");
    CHECK_DBL(out.parts.margin, 0.06 / 0.85 / 0.10, 1e-12); /* 0.705882... */
    CHECK_DBL(out.parts.duration, 1, 0);                    /* 45 / (1.5 * 30) */
    CHECK_DBL(out.parts.coverage, 1, 0);
    CHECK_DBL(out.parts.freshness, 0.9, 1e-12); /* 1 - 3 / 30 */
    CHECK_DBL(out.confidence, 0.6352941176470588, 1e-12);
    CHECK_STR(out.reasoning, "critical: cpu_busy=0.91 > 0.85 (+7%) for 45s \xe2\x89\xa5 30s; "
                             "memory_used=0.62 below 0.9 (not holding); confidence 0.64 (margin "
                             "0.71, duration 1.00, coverage 1.00, freshness 0.90)");
    eval_state_free(&st);
}

TEST(confidence_margin_of_equality)
{
    /* alert:NAME == 1: a holding equality has full margin, a missed one its distance. */
    struct trules t;
    trules_init(&t, MISSING_HOLD);
    add_state(&t, "alerting", WHEN_ANY, 0, 0);
    add_cond(&t, CPU, COND_EQ, 1);
    add_state(&t, "calm", WHEN_ANY, 0, 0);
    struct eval_state st;
    struct eval_result out;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    step(&t, &st, 1, 0, T0, &out);
    CHECK_STR(name(&t, out.to), "alerting");
    CHECK_DBL(out.parts.margin, 1, 1e-12);
    step(&t, &st, 0, 0, T0 + 5, &out);
    CHECK_STR(name(&t, out.to), "calm");
    CHECK_DBL(out.parts.margin, 1, 1e-12); /* |0 - 1| / 1 = 100 % away */
    eval_state_free(&st);
}

TEST(confidence_margin_any_all_and_cap)
{
    struct trules t;
    struct eval_state st;
    struct eval_result out;
    /* any: the largest margin over TRUE conditions. */
    std_rules(&t, MISSING_HOLD);
    t.states[0].for_usec = 0;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    step(&t, &st, 0.87, 0.99, T0, &out); /* 0.02/0.85/0.1 = 0.235..., 0.09/0.9/0.1 = 1 */
    CHECK_STR(name(&t, out.to), "critical");
    CHECK_DBL(out.parts.margin, 1, 1e-12);
    step(&t, &st, 0.87, 0.5, T0 + 5, &out);
    CHECK_DBL(out.parts.margin, 0.02 / 0.85 / 0.10, 1e-12);
    eval_state_free(&st);
    /* all: the smallest. */
    t.states[0].when = WHEN_ALL;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    step(&t, &st, 0.87, 0.99, T0, &out);
    CHECK_STR(name(&t, out.to), "critical");
    CHECK_DBL(out.parts.margin, 0.02 / 0.85 / 0.10, 1e-12);
    step(&t, &st, 1.7, 0.99, T0 + 5, &out); /* 100 % past: capped at 1 */
    CHECK_DBL(out.parts.margin, 1, 1e-12);
    eval_state_free(&st);
    /* A threshold of 0: any positive distance is full margin; no percentage shown. */
    trules_init(&t, MISSING_HOLD);
    add_state(&t, "failing", WHEN_ANY, 0, 0);
    add_cond(&t, CPU, COND_GT, 0);
    add_state(&t, "optimal", WHEN_ANY, 0, 0);
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    step(&t, &st, 0.001, 0, T0, &out);
    CHECK_STR(name(&t, out.to), "failing");
    CHECK_DBL(out.parts.margin, 1, 0);
    CHECK_CONTAINS(out.reasoning, "failing: cpu_busy=0.001 > 0 for 0s; confidence 1.00");
    eval_state_free(&st);
}

TEST(confidence_duration)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    /* stressed: for 10 s, entered at 10 s held: 10 / 15. */
    run(&t, &st, 0.77, 0.5, T0, T0 + 10, &out);
    CHECK_STR(name(&t, out.to), "stressed");
    CHECK_DBL(out.parts.duration, 10.0 / 15.0, 1e-12);
    CHECK_DBL(out.parts.margin, 1, 1e-12); /* 0.07 / 0.70 = 10 % */
    CHECK_DBL(out.confidence, 10.0 / 15.0, 1e-12);
    step(&t, &st, 0.77, 0.5, T0 + 15, &out);
    CHECK_DBL(out.parts.duration, 1, 0);
    eval_state_free(&st);
    /* for 0: full duration at once. */
    t.states[1].for_usec = 0;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    step(&t, &st, 0.77, 0.5, T0, &out);
    CHECK_STR(name(&t, out.to), "stressed");
    CHECK_DBL(out.parts.duration, 1, 0);
    CHECK_CONTAINS(out.reasoning, "stressed: cpu_busy=0.77 > 0.7 (+10%) for 0s; confidence");
    eval_state_free(&st);
}

TEST(confidence_coverage_and_freshness)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    t.states[0].for_usec = 0;
    t.signals[CPU].max_age_usec = 30 * SEC;
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    struct signal_value v[2];
    /* cpu 15 s old of 30 (0.5), memory without max_age (1): mean 0.75. */
    set_values(v, 0.95, 0.5, T0 - 15);
    v[MEM].sample_time = T0 - 1000;
    evaluate(&t.r, &st, v, T0, &out);
    CHECK_STR(name(&t, out.to), "critical");
    CHECK_DBL(out.parts.freshness, 0.75, 1e-12);
    CHECK_DBL(out.parts.coverage, 1, 0);
    /* cpu exactly max_age old: still known, freshness 0. */
    set_values(v, 0.95, 0.5, T0 + 5 - 30);
    evaluate(&t.r, &st, v, T0 + 5, &out);
    CHECK_STR(name(&t, out.to), "critical");
    CHECK_DBL(out.parts.freshness, 0.5, 1e-12);
    /* memory unknown: coverage 1 of 2, freshness of the known one only. */
    set_values(v, 0.95, U, T0 + 10 - 3);
    evaluate(&t.r, &st, v, T0 + 10, &out);
    CHECK_DBL(out.parts.coverage, 0.5, 0);
    CHECK_DBL(out.parts.freshness, 0.9, 1e-12);
    CHECK_DBL(out.confidence, 1 * 1 * 0.5 * 0.9, 1e-12);
    /* A sample from the future counts as age 0. */
    set_values(v, 0.95, 0.95, T0 + 20);
    evaluate(&t.r, &st, v, T0 + 15, &out);
    CHECK_DBL(out.parts.freshness, 1, 0);
    eval_state_free(&st);
}

TEST(confidence_default_state)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    /* Far from every threshold. */
    step(&t, &st, 0.4, 0.5, T0, &out);
    CHECK_STR(name(&t, out.to), "optimal");
    CHECK_DBL(out.confidence, 1, 0);
    CHECK_STR(out.reasoning, "optimal: no worse state holds: critical: cpu_busy=0.4 \xe2\x89\xa4 "
                             "0.85, memory_used=0.5 \xe2\x89\xa4 0.9; stressed: cpu_busy=0.4 "
                             "\xe2\x89\xa4 0.7; confidence 1.00 (margin 1.00, duration 1.00, "
                             "coverage 1.00, freshness 1.00)");
    /* The closest miss decides: memory 0.88 against 0.90 (0.222...), cpu 0.68 against
     * 0.70 (0.285...). */
    step(&t, &st, 0.68, 0.88, T0 + 5, &out);
    CHECK_DBL(out.parts.margin, 0.02 / 0.90 / 0.10, 1e-12);
    CHECK_DBL(out.parts.duration, 1, 0);
    /* stressed holds but is pending (for 10 s): optimal has no margin left. */
    step(&t, &st, 0.75, 0.5, T0 + 10, &out);
    CHECK_STR(name(&t, out.to), "optimal");
    CHECK_DBL(out.parts.margin, 0, 0);
    CHECK_DBL(out.confidence, 0, 0);
    CHECK_CONTAINS(out.reasoning, "stressed: cpu_busy=0.75 > 0.7 (+7%) for 0s < 10s (pending)");
    eval_state_free(&st);
    /* when: all that is FALSE: the largest miss among its FALSE conditions. */
    trules_init(&t, MISSING_HOLD);
    add_state(&t, "critical", WHEN_ALL, 0, 0);
    add_cond(&t, CPU, COND_GT, 0.85);
    add_cond(&t, MEM, COND_GT, 0.90);
    add_state(&t, "optimal", WHEN_ANY, 0, 0);
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    step(&t, &st, 0.84, 0.89, T0, &out);
    CHECK_DBL(out.parts.margin, 0.01 / 0.85 / 0.10, 1e-12);
    step(&t, &st, 0.95, 0.89, T0 + 5, &out); /* cpu TRUE: the memory miss decides */
    CHECK_DBL(out.parts.margin, 0.01 / 0.90 / 0.10, 1e-12);
    /* memory unknown but cpu FALSE: all is FALSE on known data; coverage 1 of 2. */
    step(&t, &st, 0.5, U, T0 + 10, &out);
    CHECK(!out.uncertain);
    CHECK_STR(name(&t, out.to), "optimal");
    CHECK_DBL(out.parts.coverage, 0.5, 0);
    CHECK_DBL(out.parts.margin, 1, 0);
    CHECK_CONTAINS(out.reasoning, "critical: cpu_busy=0.5 \xe2\x89\xa4 0.85, memory_used unknown "
                                  "(timeout)");
    eval_state_free(&st);
}

/* ---- staleness, NaN ---- */

TEST(max_age_makes_old_samples_unknown)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    t.signals[CPU].max_age_usec = 30 * SEC;
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    struct signal_value v[2];
    set_values(v, 0.5, 0.5, T0 - 45);
    evaluate(&t.r, &st, v, T0, &out);
    CHECK_INT(out.holds[0], TRI_UNKNOWN);
    CHECK(out.uncertain);
    CHECK_CONTAINS(out.reasoning,
                   "critical cannot be evaluated: cpu_busy unknown (stale: sample 45s old > "
                   "max_age 30s)");
    /* 30 s old is not older than max_age. */
    set_values(v, 0.5, 0.5, T0 + 5 - 30);
    evaluate(&t.r, &st, v, T0 + 5, &out);
    CHECK_INT(out.holds[0], TRI_FALSE);
    CHECK(!out.uncertain);
    /* A known NaN is unknown too. */
    set_values(v, NAN, 0.5, T0 + 10);
    v[CPU].known = true;
    v[CPU].value = NAN;
    evaluate(&t.r, &st, v, T0 + 10, &out);
    CHECK_INT(out.holds[0], TRI_UNKNOWN);
    CHECK_CONTAINS(out.reasoning, "cpu_busy unknown (NaN)");
    eval_state_free(&st);
}

/* ---- reasoning ---- */

/* Whether s is valid UTF-8. */
static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xE0) == 0xC0 ? 1
                : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3
                                      : -1;
        if (n < 0)
            return false;
        p++;
        for (int i = 0; i < n; i++, p++)
            if ((*p & 0xC0) != 0x80)
                return false;
    }
    return true;
}

TEST(reasoning_is_cut_at_a_character_boundary)
{
    struct trules t;
    trules_init(&t, MISSING_HOLD);
    /* Seven states on both signals, every signal unknown with a long multi-byte reason:
     * the uncertain text lists each state's unknown signals and overflows 2048 bytes. */
    static const char *const names[] = {"a", "b", "c", "d", "e", "f", "g"};
    for (int i = 0; i < 7; i++) {
        add_state(&t, names[i], WHEN_ANY, 0, 0);
        add_cond(&t, CPU, COND_GT, i);
        add_cond(&t, MEM, COND_GT, i);
    }
    add_state(&t, "optimal", WHEN_ANY, 0, 0);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct signal_value v[2];
    set_values(v, U, U, T0);
    for (int i = 0; i < 2; i++) {
        char *p = v[i].reason;
        size_t left = sizeof(v[i].reason);
        while (left > 3) { /* "é" is 2 bytes: 0xC3 0xA9; pad with "x" to shift alignment */
            memcpy(p, i ? "x\xc3\xa9" : "\xc3\xa9", i ? 3 : 2);
            p += i ? 3 : 2;
            left -= i ? 3 : 2;
        }
        *p = '\0';
    }
    struct eval_result out;
    evaluate(&t.r, &st, v, T0, &out);
    size_t len = strlen(out.reasoning);
    CHECK(len < EVAL_MAX_REASONING);
    CHECK(len > EVAL_MAX_REASONING - 8);
    CHECK(utf8_valid(out.reasoning));
    CHECK(strcmp(out.reasoning + len - 3, "\xe2\x80\xa6") == 0);
    eval_state_free(&st);
}

TEST(reasoning_percentages_and_durations)
{
    struct trules t;
    trules_init(&t, MISSING_HOLD);
    add_state(&t, "low", WHEN_ALL, 90, 0);
    add_cond(&t, CPU, COND_LT, 0.2);
    add_cond(&t, MEM, COND_GE, 100);
    add_state(&t, "optimal", WHEN_ANY, 0, 0);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    struct eval_result out;
    run(&t, &st, 0.15, 100.2, T0, T0 + 95, &out);
    CHECK_STR(name(&t, out.to), "low");
    CHECK_STR(out.reasoning, "low: cpu_busy=0.15 < 0.2 (-25%), memory_used=100 >= 100 (+0.2%) "
                             "for 1m35s \xe2\x89\xa5 1m30s; confidence 0.01 (margin 0.02, "
                             "duration 0.70, coverage 1.00, freshness 1.00)");
    eval_state_free(&st);
}

/* ---- rebase ---- */

TEST(rebase_matches_states_by_name)
{
    struct trules old_rules, new_rules;
    std_rules(&old_rules, MISSING_HOLD);
    /* The reload renames stressed to busy and adds overloaded before critical. */
    trules_init(&new_rules, MISSING_HOLD);
    add_state(&new_rules, "overloaded", WHEN_ANY, 0, 0);
    add_cond(&new_rules, CPU, COND_GT, 0.99);
    add_state(&new_rules, "critical", WHEN_ANY, 30, 120);
    add_cond(&new_rules, MEM, COND_GT, 0.90);
    add_state(&new_rules, "busy", WHEN_ANY, 10, 0);
    add_cond(&new_rules, CPU, COND_GT, 0.70);
    add_state(&new_rules, "optimal", WHEN_ANY, 0, 0);

    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &old_rules.r, T0), 0);
    struct eval_result out;
    run(&old_rules, &st, 0.75, 0.95, T0, T0 + 30, &out);
    CHECK_STR(name(&old_rules, st.current), "critical");
    CHECK_DBL(st.held_since[0], T0, 0);
    CHECK_INT(eval_state_rebase(&st, &old_rules.r, &new_rules.r), 0);
    CHECK_INT(st.n_states, 4);
    CHECK_INT(st.current, 1);
    CHECK_DBL(st.since, T0 + 30, 0);
    CHECK_DBL(st.held_since[0], 0, 0);      /* new */
    CHECK_DBL(st.held_since[1], T0, 0);     /* critical carried */
    CHECK_DBL(st.held_since[2], 0, 0);      /* stressed's timers dropped */
    CHECK_DBL(st.last_held[3], T0 + 30, 0); /* optimal carried */
    step(&new_rules, &st, 0.75, 0.95, T0 + 35, &out);
    CHECK_STR(name(&new_rules, out.to), "critical");
    CHECK(!out.changed);
    eval_state_free(&st);
}

TEST(rebase_removed_current_state_becomes_unknown)
{
    struct trules old_rules, new_rules;
    std_rules(&old_rules, MISSING_HOLD);
    two_signal_rules(&new_rules, MISSING_HOLD); /* critical, degraded, optimal */
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &old_rules.r, T0), 0);
    struct eval_result out;
    run(&old_rules, &st, 0.75, 0.5, T0, T0 + 10, &out);
    CHECK_STR(name(&old_rules, st.current), "stressed");
    CHECK_INT(eval_state_rebase(&st, &old_rules.r, &new_rules.r), 0);
    CHECK(st.current == EVAL_STATE_UNKNOWN);
    CHECK_INT(st.n_states, 3);
    step(&new_rules, &st, 0.75, 0.5, T0 + 15, &out);
    CHECK(out.changed);
    CHECK(out.from == EVAL_STATE_UNKNOWN);
    CHECK_STR(name(&new_rules, out.to), "optimal");
    eval_state_free(&st);
    eval_state_free(&st); /* twice is harmless */
    eval_state_free(NULL);
}

TEST_MAIN(TEST_ENTRY(condition_operators_at_their_boundaries), TEST_ENTRY(any_and_all_with_unknown),
          TEST_ENTRY(confidence_margin_of_equality),
          TEST_ENTRY(for_enters_only_after_holding_long_enough),
          TEST_ENTRY(for_a_single_false_resets), TEST_ENTRY(for_unknown_resets),
          TEST_ENTRY(keep_for_keeps_a_state_after_it_stops_holding),
          TEST_ENTRY(keep_for_holding_again_needs_no_new_for),
          TEST_ENTRY(keep_for_a_better_state_waits_a_worse_one_preempts),
          TEST_ENTRY(missing_data_hold_keeps_the_current_state),
          TEST_ENTRY(missing_data_unknown_moves_to_unknown_and_back),
          TEST_ENTRY(missing_data_unknown_earlier_state_blocks_a_better_candidate),
          TEST_ENTRY(missing_data_current_state_unknown_blocks_leaving_it),
          TEST_ENTRY(missing_data_worse_state_on_known_data_is_entered),
          TEST_ENTRY(no_action_on_uncertain_data), TEST_ENTRY(confidence_worked_example),
          TEST_ENTRY(confidence_margin_any_all_and_cap), TEST_ENTRY(confidence_duration),
          TEST_ENTRY(confidence_coverage_and_freshness), TEST_ENTRY(confidence_default_state),
          TEST_ENTRY(max_age_makes_old_samples_unknown),
          TEST_ENTRY(reasoning_is_cut_at_a_character_boundary),
          TEST_ENTRY(reasoning_percentages_and_durations),
          TEST_ENTRY(rebase_matches_states_by_name),
          TEST_ENTRY(rebase_removed_current_state_becomes_unknown))
