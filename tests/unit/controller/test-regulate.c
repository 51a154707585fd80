/* test-regulate: the regulators' control laws (controller/engine/regulate.c). Parity with
 * the Kubernetes HPA (the examples of its documentation and rows of its own tests), a
 * deterministic simulated plant per law (convergence from above and below, no oscillation
 * on a steady load, holding on unknown data, min/max/max_step, stabilization), and the
 * edges: NaN/Inf signals, a signal of 0, a tiny or zero setpoint, integer rounding at exact
 * boundaries, resolution, inactive states, the explanation's words and its bound. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "regulate.h"
#include "rules.h"
#include "step.h"
#include "test.h"

#define T0 1700000000.0
#define SYNC 15.0 /* the HPA's default sync period (--horizontal-pod-autoscaler-sync-period) */

/* A definition with the loader's defaults (docs/RULES.md): tolerance 10 %, aimd +1 and
 * x0.9, gradient slope 1 in [0.5, 2]; no max_step, no windows unless a test sets them. */
static struct regulator_def def(enum regulator_law law, bool increases_signal, double min,
                                double max, double start, bool integer)
{
    struct regulator_def d;
    memset(&d, 0, sizeof(d));
    d.name = (char *)"reg";
    d.setpoint = 1;
    d.out_min = min;
    d.out_max = max;
    d.out_start = start;
    d.integer = integer;
    d.resolution = integer ? 1 : 0;
    d.increases_signal = increases_signal;
    d.law = law;
    d.tolerance = 0.1;
    d.aimd_increase = 1;
    d.aimd_decrease = 0.9;
    d.gradient_slope = 1;
    d.gradient_min = 0.5;
    d.gradient_max = 2;
    return d;
}

static struct regulator_step step_at(const struct regulator_def *d, struct regulator_state *st,
                                     double now, double signal)
{
    struct regulator_input in = {.now = now, .known = true, .signal = signal, .active = true};
    struct regulator_step out;
    regulator_step(d, st, "sig", &in, &out);
    return out;
}

/* ---- 1. HPA parity ---- */

/* The replica calculator and min/max: proportional, replicas, increases_signal false; the
 * signal is the current metric (a utilization or a per-pod average), the setpoint the
 * target. Each row cites where it comes from: the documentation
 * (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/, "Algorithm
 * details"), the v1.33 configurable-tolerance blog post, or a test of
 * kubernetes/kubernetes pkg/controller/podautoscaler (replica_calculator_test.go,
 * horizontal_test.go) with its inputs reduced to the ratio the HPA computes. */
struct hpa_case {
    const char *source;
    double current, metric, target, tolerance, min, max, want;
};

static const struct hpa_case hpa_cases[] = {
    /* docs, Algorithm details: 200m for a target of 100m doubles the replicas */
    {"docs: 200m / 100m doubles", 2, 200, 100, 0.1, 1, 10, 4},
    /* docs, Algorithm details: 50m for 100m halves them */
    {"docs: 50m / 100m halves", 2, 50, 100, 0.1, 1, 10, 1},
    /* docs: within the tolerance (0.1 by default) the HPA skips scaling */
    {"docs: ratio 1.05 within 0.1", 4, 105, 100, 0.1, 1, 10, 4},
    /* blog 2025-04-28 "HPA configurable tolerance": 50 replicas at 90 % for 75 % -> 60 */
    {"blog: 50 * 90/75", 50, 90, 75, 0.1, 1, 100, 60},
    /* replica_calculator_test.go TestReplicaCalcScaleUpCM: qps 20, 10, 30 for 15 */
    {"TestReplicaCalcScaleUpCM", 3, 20000, 15000, 0.1, 1, 100, 4},
    /* TestReplicaCalcScaleDownCM: five pods at 12 qps for 20 */
    {"TestReplicaCalcScaleDownCM", 5, 12000, 20000, 0.1, 1, 100, 3},
    /* TestReplicaCalcScaleDownCMExternal: 8600 for 14334, 5 * 0.59997 = 2.9998 rounds up */
    {"TestReplicaCalcScaleDownCMExternal", 5, 8600, 14334, 0.1, 1, 100, 3},
    /* TestReplicaCalcToleranceCM: average 20666 for 20000, within 10 % */
    {"TestReplicaCalcToleranceCM", 3, 20666, 20000, 0.1, 1, 100, 3},
    /* TestReplicaCalcToleranceCMExternal: 8600 for 8888 */
    {"TestReplicaCalcToleranceCMExternal", 3, 8600, 8888, 0.1, 1, 100, 3},
    /* TestReplicaCalcConfigurableToleranceCMExternal: 8900 for 8800 with a tolerance of 1 % */
    {"TestReplicaCalcConfigurableToleranceCMExternal", 3, 8900, 8800, 0.01, 1, 100, 4},
    /* TestReplicaCalcConfigurableTolerance "Outside of a 0% tolerance": 101 % for 100 % */
    {"TestReplicaCalcConfigurableTolerance 0%", 3, 101, 100, 0, 1, 100, 4},
    /* TestReplicaCalcConfigurableTolerance "Within a 36% scale-down tolerance": 65 % */
    {"TestReplicaCalcConfigurableTolerance 36%", 3, 65, 100, 0.36, 1, 100, 3},
    /* TestReplicaCalcConfigurableTolerance "Outside a 34% scale-down tolerance" */
    {"TestReplicaCalcConfigurableTolerance 34%", 3, 65, 100, 0.34, 1, 100, 2},
    /* TestReplicaCalcComputedToleranceAlgImplementation: 50 % for 56 % just leaves the
     * tolerance (10 -> 9); for 55 % it stays within it (10) */
    {"TestReplicaCalcComputedToleranceAlgImplementation out", 10, 50, 56, 0.1, 1, 100, 9},
    {"TestReplicaCalcComputedToleranceAlgImplementation in", 10, 50, 55, 0.1, 1, 100, 10},
    /* horizontal_test.go TestScaleUp: 300m+500m+700m of 3 x 1 CPU = 50 % for 30 %, 2..6 */
    {"TestScaleUp", 3, 50, 30, 0.1, 2, 6, 5},
    /* TestScaleDown: 1400m of 5 CPU = 28 % for 50 %, 2..6 */
    {"TestScaleDown", 5, 28, 50, 0.1, 2, 6, 3},
    /* TestTolerance: 102 % for 100 % */
    {"TestTolerance", 3, 102, 100, 0.1, 1, 5, 3},
    /* TestMinReplicas: 115m of 3 CPU = 3 % for 90 % gives 1, min 2 */
    {"TestMinReplicas", 3, 3, 90, 0.1, 2, 5, 2},
    /* TestMaxReplicas: 18500m of 3 CPU = 616 % for 90 % gives 21, max 5 */
    {"TestMaxReplicas", 3, 616, 90, 0.1, 2, 5, 5},
};

TEST(hpa_parity_replica_calculator)
{
    for (size_t i = 0; i < sizeof(hpa_cases) / sizeof(hpa_cases[0]); i++) {
        const struct hpa_case *c = &hpa_cases[i];
        struct regulator_def d = def(LAW_PROPORTIONAL, false, c->min, c->max, c->current, true);
        d.setpoint = c->target;
        d.tolerance = c->tolerance;
        d.stab_down = 300; /* the HPA's default; a fresh state's window holds only this step */
        struct regulator_state st;
        regulator_state_init(&d, &st);
        struct regulator_step s = step_at(&d, &st, T0, c->metric);
        if (s.output != c->want)
            TEST_FAIL("%s: %g replicas at %g for %g -> %g, expected %g (%s)", c->source, c->current,
                      c->metric, c->target, s.output, c->want, s.explanation);
        CHECK_DBL(st.output, c->want, 0);
        CHECK_INT(s.change, c->want != c->current);
    }
}

/* One HPA sync with the replicas reset to 10 first, as horizontal_test.go injects a log of
 * recommendations whatever the replicas were: the signal is chosen so that the
 * proportional law recommends rec exactly. */
static struct regulator_step hpa_sync(const struct regulator_def *d, struct regulator_state *st,
                                      double now, double rec)
{
    st->output = 10;
    return step_at(d, st, now, d->setpoint * rec / 10);
}

/* horizontal_test.go TestNormalizeDesiredReplicas (downscaleStabilisationWindow 5 min): the
 * result is the highest recommendation of the last five minutes, the new one included. */
TEST(hpa_parity_stabilization_log)
{
    struct regulator_def d = def(LAW_PROPORTIONAL, false, 1, 100, 10, true);
    d.setpoint = 100;
    d.tolerance = 0; /* the test feeds recommendations, not metrics */
    d.stab_down = 300;
    struct regulator_state st;

    /* "empty log": 5 -> 5 */
    regulator_state_init(&d, &st);
    CHECK_DBL(hpa_sync(&d, &st, T0, 5).output, 5, 0);

    /* "stabilize": 4 two minutes ago, 5 one minute ago, 3 now -> 5 */
    regulator_state_init(&d, &st);
    hpa_sync(&d, &st, T0 - 120, 4);
    hpa_sync(&d, &st, T0 - 60, 5);
    struct regulator_step s = hpa_sync(&d, &st, T0, 3);
    CHECK_DBL(s.output, 5, 0);
    CHECK_DBL(s.recommended, 3, 0);
    CHECK_CONTAINS(s.explanation, "limited to 5 by the 5m down window (largest recommendation 5)");

    /* "no stabilize": 1 and 2 before, 3 now -> 3 */
    regulator_state_init(&d, &st);
    hpa_sync(&d, &st, T0 - 120, 1);
    hpa_sync(&d, &st, T0 - 60, 2);
    CHECK_DBL(hpa_sync(&d, &st, T0, 3).output, 3, 0);

    /* "no stabilize - old recommendations": 10 and 9, ten and nine minutes ago -> 3 */
    regulator_state_init(&d, &st);
    hpa_sync(&d, &st, T0 - 600, 10);
    hpa_sync(&d, &st, T0 - 540, 9);
    CHECK_DBL(hpa_sync(&d, &st, T0, 3).output, 3, 0);

    /* "stabilize - old recommendations": 10 (-10 min), 9 (-9), 5 (-2), 4 (-1), 3 -> 5 */
    regulator_state_init(&d, &st);
    hpa_sync(&d, &st, T0 - 600, 10);
    hpa_sync(&d, &st, T0 - 540, 9);
    hpa_sync(&d, &st, T0 - 120, 5);
    hpa_sync(&d, &st, T0 - 60, 4);
    CHECK_DBL(hpa_sync(&d, &st, T0, 3).output, 5, 0);
}

/* docs, "Stabilization window": a scale-down takes the highest recommendation of the last
 * 300 s. Ten replicas at their target, then the load drops to 40 %: the HPA holds 10 until
 * the last recommendation of 10 is 300 s old, then goes to 4. The slices may remember it
 * up to one slice longer (300 s / 31), never shorter. */
TEST(hpa_parity_stabilization_sequence)
{
    struct regulator_def d = def(LAW_PROPORTIONAL, false, 1, 100, 10, true);
    d.setpoint = 50;
    d.stab_down = 300;
    struct regulator_state st;
    regulator_state_init(&d, &st);
    double t = T0;
    for (int i = 0; i < 20; i++, t += SYNC)
        CHECK_INT(step_at(&d, &st, t, 50).why, REG_TOLERANCE);
    double last_ten = t - SYNC, moved = 0;
    for (; t < last_ten + 400; t += SYNC) {
        struct regulator_step s = step_at(&d, &st, t, 20);
        CHECK_DBL(s.recommended, 4, 0);
        if (s.change) {
            moved = t;
            CHECK_DBL(s.output, 4, 0);
            break;
        }
        CHECK_INT(s.why, REG_STABILIZING);
        CHECK_CONTAINS(s.explanation, "held at 10 by the 5m down window (largest recommendation "
                                      "10)");
    }
    CHECK(moved >= last_ten + 300);
    CHECK(moved <= last_ten + 300 + 300.0 / (REGULATOR_WINDOW_SLICES - 1) + SYNC);

    /* docs, "Default Behavior": scale-up windows take the lowest recommendation. With a
     * 60 s up window, a jump to 8 waits until the recommendation of 4 has left it. */
    d.stab_up = 60;
    regulator_state_init(&d, &st);
    st.output = 4;
    t = T0;
    step_at(&d, &st, t, 50); /* 4 at target: recommends 4 */
    double jumped = 0;
    for (t += SYNC; t < T0 + 200; t += SYNC) {
        struct regulator_step s = step_at(&d, &st, t, 100);
        if (s.change) {
            jumped = t;
            CHECK_DBL(s.output, 8, 0);
            break;
        }
        CHECK_INT(s.why, REG_STABILIZING);
        CHECK_CONTAINS(s.explanation, "by the 1m up window (smallest recommendation 4)");
    }
    CHECK(jumped >= T0 + 60 && jumped <= T0 + 60 + 60.0 / 31 + SYNC);
}

/* The behavior policies (spec.behavior): rows of horizontal_test.go's TestScalingWithRules
 * (generateScalingRules(pods, podsPeriod, percent, percentPeriod, window) with selectPolicy
 * Max; the prenormalized desired replicas are what the replica calculator gave, here the
 * law's recommendation) and of TestCalculateScaleUpLimitWithScalingRules and
 * TestCalculateScaleDownLimitWithBehaviors (selectPolicy Min). Events are the HPA's
 * generateEventsUniformDistribution([1, 5, 9], 120): +1 at -100 s, +5 at -60 s, +9 at -20 s.
 * "disabled" follows the documentation's "Disable scale down" (selectPolicy: Disabled). */
struct hpa_behavior_case {
    const char *source;
    double current, desired, min, max;
    bool defaults;              /* the HPA's default behavior */
    int up_select, down_select; /* enum regulator_select */
    double up_pods, up_pods_period, up_pct, up_pct_period;
    double down_pods, down_pods_period, down_pct, down_pct_period;
    bool events; /* the three scale-up events above */
    double want;
    int why; /* REG_CHANGE or the reason it is held */
};

static const struct hpa_behavior_case behavior_cases[] = {
    {"scaleUp with default behavior", 10, 50, 1, 1000, true, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, false,
     20, REG_CHANGE},
    {"scaleUp with pods policy larger than percent policy", 10, 500, 1, 1000, false, 0, 0, 100, 60,
     100, 60, 0, 0, 0, 0, false, 110, REG_CHANGE},
    {"scaleUp with percent policy larger than pods policy", 10, 500, 1, 1000, false, 0, 0, 2, 60,
     100, 60, 0, 0, 0, 0, false, 20, REG_CHANGE},
    {"scaleUp with spec MaxReplicas limitation with large pod policy", 10, 50, 1, 1000, false, 0, 0,
     100, 60, 0, 0, 0, 0, 0, 0, false, 50, REG_CHANGE},
    {"scaleUp with pod policy limitation", 10, 50, 1, 1000, false, 0, 0, 30, 60, 0, 0, 0, 0, 0, 0,
     false, 40, REG_CHANGE},
    {"scaleUp with percent policy limitation", 10, 50, 1, 1000, false, 0, 0, 0, 0, 200, 60, 0, 0, 0,
     0, false, 30, REG_CHANGE},
    {"scaleUpLimit is the limit because scaleUpLimit < maxReplicas with user policies", 3, 1000, 1,
     2000, false, 0, 0, 0, 0, 1, 60, 0, 0, 0, 0, false, 4, REG_CHANGE},
    {"maxReplicas is the limit because maxReplicas < scaleUpLimit", 20, 1000, 1, 10, true, 0, 0, 0,
     0, 0, 0, 0, 0, 0, 0, false, 10, REG_CHANGE},
    {"scaleDownLimit is the limit because scaleDownLimit > minReplicas", 1000, 3, 3, 2000, false, 0,
     0, 0, 0, 0, 0, 20, 60, 0, 0, false, 980, REG_CHANGE},
    {"scaleDown with percent policy larger than pod policy", 100, 2, 1, 1000, false, 0, 0, 0, 0, 0,
     0, 20, 60, 1, 60, false, 80, REG_CHANGE},
    {"scaleDown with pod policy larger than percent policy", 100, 2, 1, 1000, false, 0, 0, 0, 0, 0,
     0, 2, 60, 1, 60, false, 98, REG_CHANGE},
    {"scaleDown with spec MinReplicas limitation with large percent policy", 10, 2, 5, 1000, false,
     0, 0, 0, 0, 0, 0, 0, 0, 100, 60, false, 5, REG_CHANGE},
    {"scaleDown with pod policy limitation", 10, 2, 1, 1000, false, 0, 0, 0, 0, 0, 0, 5, 60, 0, 0,
     false, 5, REG_CHANGE},
    {"scaleDown with percent policy limitation", 10, 5, 1, 1000, false, 0, 0, 0, 0, 0, 0, 0, 0, 50,
     60, false, 5, REG_CHANGE},
    {"scaleUp with spec MaxReplicas limitation with large pod policy and events", 100, 500, 1, 200,
     false, 0, 0, 300, 60, 0, 0, 0, 0, 0, 0, true, 200, REG_CHANGE},
    {"scaleUp with currentReplicas limitation with rate.PeriodSeconds with a lot of recent "
     "scale up events",
     100, 500, 1, 1000, false, 0, 0, 5, 120, 0, 0, 0, 0, 0, 0, true, 100, REG_BEHAVIOR},
    {"scaleUp with pod policy and previous scale up events", 100, 500, 1, 1000, false, 0, 0, 150,
     120, 0, 0, 0, 0, 0, 0, true, 235, REG_CHANGE},
    {"TestCalculateScaleUpLimitWithScalingRules (Min)", 1, 10, 1, 100, false, SELECT_MIN, 0, 2, 60,
     50, 60, 0, 0, 0, 0, false, 2, REG_CHANGE},
    {"TestCalculateScaleDownLimitWithBehaviors (Min)", 5, 1, 1, 100, false, 0, SELECT_MIN, 0, 0, 0,
     0, 2, 60, 50, 60, false, 3, REG_CHANGE},
    {"docs: Disable scale down", 10, 2, 1, 100, false, 0, SELECT_DISABLED, 0, 0, 0, 0, 0, 0, 100,
     15, false, 10, REG_BEHAVIOR},
};

static void add_policy(struct regulator_behavior *b, enum regulator_policy_kind kind, double value,
                       double period)
{
    if (value > 0)
        b->policies[b->n_policies++] = (struct regulator_policy){kind, value, period};
}

TEST(hpa_parity_behavior_policies)
{
    for (size_t i = 0; i < sizeof(behavior_cases) / sizeof(behavior_cases[0]); i++) {
        const struct hpa_behavior_case *c = &behavior_cases[i];
        struct regulator_def d = def(LAW_PROPORTIONAL, false, c->min, c->max, c->current, true);
        d.setpoint = 100;
        d.tolerance = 0;
        if (c->defaults) {
            regulator_behavior_hpa_defaults(&d);
        } else {
            d.behavior_up.select = (enum regulator_select)c->up_select;
            d.behavior_down.select = (enum regulator_select)c->down_select;
            add_policy(&d.behavior_up, POLICY_UNITS, c->up_pods, c->up_pods_period);
            add_policy(&d.behavior_up, POLICY_PERCENT, c->up_pct, c->up_pct_period);
            add_policy(&d.behavior_down, POLICY_UNITS, c->down_pods, c->down_pods_period);
            add_policy(&d.behavior_down, POLICY_PERCENT, c->down_pct, c->down_pct_period);
        }
        struct regulator_state st;
        regulator_state_init(&d, &st);
        if (c->events) {
            st.events[0] = (struct regulator_event){T0 - 100, 1};
            st.events[1] = (struct regulator_event){T0 - 60, 5};
            st.events[2] = (struct regulator_event){T0 - 20, 9};
        }
        /* the signal for which the replica calculator recommends desired exactly */
        struct regulator_step s = step_at(&d, &st, T0, d.setpoint * c->desired / c->current);
        if (s.output != c->want || (int)s.why != c->why)
            TEST_FAIL("%s: %g -> %g, expected %g (why %s, expected %s): %s", c->source, c->current,
                      s.output, c->want, regulator_why_name(s.why),
                      regulator_why_name((enum regulator_why)c->why), s.explanation);
    }
}

/* Within a period the changes made count against it; after it, the limit starts afresh.
 * The HPA's default up policies (100 % or 4 per 15 s): from 2, at most 6 at once; 6 is
 * all the period allows until the change leaves it; a reverted change does not count. */
TEST(behavior_periods_count_the_changes)
{
    struct regulator_def d = def(LAW_PROPORTIONAL, false, 1, 100, 2, true);
    regulator_behavior_hpa_defaults(&d);
    d.setpoint = 50;
    struct regulator_state st;
    regulator_state_init(&d, &st);
    struct regulator_step s = step_at(&d, &st, T0, 400); /* 2 x 8 = 16 */
    CHECK_INT(s.why, REG_CHANGE);
    CHECK_DBL(s.output, 6, 0); /* max(2 x 2, 2 + 4) */
    CHECK_CONTAINS(s.explanation, "limited to 6 by behavior (behavior.up select max: 100% per 15s "
                                  "from 2 \xe2\x86\x92 4, 4 per 15s from 2 \xe2\x86\x92 6)");
    CHECK_DBL(st.events[0].change, 4, 0);
    /* 5 s later: the period started at 2 still */
    s = step_at(&d, &st, T0 + 5, 400);
    CHECK_INT(s.why, REG_BEHAVIOR);
    CHECK_DBL(s.output, 6, 0);
    CHECK_CONTAINS(s.explanation, "held at 6 by behavior");
    s = step_at(&d, &st, T0 + 14.9, 400);
    CHECK_INT(s.why, REG_BEHAVIOR);
    /* 15 s later it is out (a change counts while it is after now - period, as the HPA's
     * timestamp.After(cutoff)): from 6, max(12, 10) */
    struct regulator_state before = st;
    s = step_at(&d, &st, T0 + 15, 400);
    CHECK_INT(s.why, REG_CHANGE);
    CHECK_DBL(s.output, 12, 0);
    /* not applied after all (budget, failure): the event goes with it */
    regulator_revert(&st, &before);
    CHECK_DBL(st.output, 6, 0);
    s = step_at(&d, &st, T0 + 16, 400);
    CHECK_DBL(s.output, 12, 0);
    /* a move down in the same period: start = 12 - 6 (this period's +6) = 6, 100 % down
     * allows 0, so the law's 1 (min) is reached */
    s = step_at(&d, &st, T0 + 17, 1);
    CHECK_INT(s.why, REG_CHANGE);
    CHECK_DBL(s.output, 1, 0);
}

/* The list of changes is bounded: the two oldest merge at the later time. */
TEST(behavior_events_bounded)
{
    struct regulator_def d = def(LAW_AIMD, false, 1, 1000, 1, true);
    d.setpoint = 1;
    d.behavior_up.policies[d.behavior_up.n_policies++] =
        (struct regulator_policy){POLICY_UNITS, 1000, 1800};
    struct regulator_state st;
    regulator_state_init(&d, &st);
    for (int i = 0; i < 3 * REGULATOR_EVENTS; i++) {
        struct regulator_step s = step_at(&d, &st, T0 + i, 2); /* aimd +1 each step */
        CHECK_INT(s.why, REG_CHANGE);
    }
    double sum = 0;
    for (size_t i = 0; i < REGULATOR_EVENTS; i++)
        sum += st.events[i].change;
    CHECK_DBL(st.output, 1 + 3 * REGULATOR_EVENTS, 0);
    CHECK_DBL(sum, 3 * REGULATOR_EVENTS, 1e-9); /* nothing lost, only merged */
    CHECK_DBL(st.events[REGULATOR_EVENTS - 1].at, T0 + 3 * REGULATOR_EVENTS - 1, 0);
}

/* ---- 2. simulated plants ---- */

/* A deterministic plant: the signal the output produces under a load, with an optional
 * relative noise from a fixed-seed LCG. */
struct plant {
    double (*signal)(const struct plant *p, double output);
    double load;
    double noise;
    uint64_t seed;
};

static double lcg_uniform(uint64_t *x) /* in [-1, 1) */
{
    *x = *x * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*x >> 11) * (1.0 / 9007199254740992.0) * 2 - 1;
}

/* A concurrency limit and its p95 latency: 0.1 s plus quadratic queueing past the
 * capacity 50 / load (load 1: 0.2 s at 50). Increases with the output. */
static double p95_of_limit(const struct plant *p, double limit)
{
    double x = limit * p->load / 50;
    return 0.1 * (1 + x * x);
}

/* Replicas and CPU utilization (%): the load in percent-replicas spread over them. */
static double util_of_replicas(const struct plant *p, double replicas)
{
    return p->load / (replicas > 0 ? replicas : 1);
}

/* A CPU quota in cores and its utilization (0..1) for a demand of `load` cores, saturating
 * at 1 when the quota is smaller than the demand. */
static double util_of_quota(const struct plant *p, double quota)
{
    return fmin(1, p->load / (quota > 0 ? quota : 1e-9));
}

struct run {
    int steps;          /* steps run */
    int to_band;        /* steps until the plant's signal first was within the tolerance (-1) */
    int reversals;      /* direction reversals after that */
    int changes;        /* outputs sent */
    double final;       /* the output at the end */
    double final_ratio; /* noise-free signal / setpoint at the end */
    bool bounds_ok;     /* min/max and max_step held on every step */
};

/* Runs n steps of period seconds from t; the plant's noise applies to what the regulator
 * sees, the band is judged on the noise-free signal. */
static struct run simulate(const struct regulator_def *d, struct regulator_state *st,
                           struct plant *p, double *t, double period, int n)
{
    struct run r = {.to_band = -1, .bounds_ok = true};
    int last_dir = 0;
    for (int i = 0; i < n; i++, *t += period) {
        double clean = p->signal(p, st->output);
        if (r.to_band < 0 && fabs(clean / d->setpoint - 1) <= d->tolerance)
            r.to_band = i;
        double seen = clean * (1 + (p->noise > 0 ? p->noise * lcg_uniform(&p->seed) : 0));
        double before = st->output;
        struct regulator_step s = step_at(d, st, *t, seen);
        double after = st->output;
        if (after < d->out_min || after > d->out_max || !isfinite(after))
            r.bounds_ok = false;
        /* max_step: at most the fraction of the output, or one resolution */
        double base = before > 0 ? before : 1,
               res = d->integer ? fmax(1, d->resolution) : d->resolution;
        if (after > before && d->max_up > 0 &&
            after - before > fmax(d->max_up * base, res) + 1e-9 * base)
            r.bounds_ok = false;
        if (after < before && d->max_down > 0 &&
            before - after > fmax(d->max_down * base, res) + 1e-9 * base)
            r.bounds_ok = false;
        if (s.change) {
            r.changes++;
            if (r.to_band >= 0 && last_dir && s.direction != last_dir)
                r.reversals++;
            last_dir = s.direction;
        }
        r.steps++;
    }
    r.final = st->output;
    r.final_ratio = p->signal(p, st->output) / d->setpoint;
    return r;
}

static void report(const char *what, const struct run *r)
{
    printf("  %-46s %3d steps to the band, %d reversals after, %3d changes, final %g (%.3f)\n",
           what, r->to_band, r->reversals, r->changes, r->final, r->final_ratio);
    fflush(stdout);
}

/* The common plant checks of one law: from above and from below it reaches the band,
 * stays there under a noisy steady load with at most one reversal, holds through a run of
 * unknown data with its windows untouched, and keeps min/max/max_step. */
static void check_law_on_plant(struct regulator_def *d, struct plant *p, double above, double below,
                               int max_steps, const char *name)
{
    double starts[2] = {above, below};
    for (int k = 0; k < 2; k++) {
        struct regulator_state st;
        regulator_state_init(d, &st);
        st.output = starts[k];
        double t = T0;
        p->noise = 0;
        struct run r = simulate(d, &st, p, &t, SYNC, max_steps);
        char what[96];
        snprintf(what, sizeof(what), "%s from %s %g", name, k ? "below" : "above", starts[k]);
        report(what, &r);
        if (r.to_band < 0 || fabs(r.final_ratio - 1) > d->tolerance)
            TEST_FAIL("%s: not within the tolerance after %d steps (ratio %g)", what, max_steps,
                      r.final_ratio);
        CHECK(r.bounds_ok);
        CHECK(r.reversals <= 1);

        /* A steady load with 3 % noise: at most one reversal, still in the band. */
        p->noise = 0.03;
        p->seed = 42;
        struct run steady = simulate(d, &st, p, &t, SYNC, 400);
        snprintf(what, sizeof(what), "%s steady, 3%% noise", name);
        report(what, &steady);
        CHECK(steady.reversals <= 1);
        CHECK(steady.changes <= 2);
        CHECK(fabs(steady.final_ratio - 1) <= d->tolerance);
        CHECK(steady.bounds_ok);

        /* Unknown data: nothing moves, the windows are untouched. */
        struct regulator_state before = st;
        for (int i = 0; i < 40; i++, t += SYNC) {
            struct regulator_input in = {.now = t, .known = false, .active = true};
            struct regulator_step s;
            regulator_step(d, &st, "sig", &in, &s);
            CHECK_INT(s.why, REG_UNKNOWN);
            CHECK(!s.change);
        }
        CHECK(memcmp(&before, &st, sizeof(st)) == 0);
    }
}

TEST(plant_gradient_concurrency)
{
    struct regulator_def d = def(LAW_GRADIENT, true, 1, 1000, 100, true);
    d.setpoint = 0.2;
    d.output_name = (char *)"concurrency";
    struct plant p = {.signal = p95_of_limit, .load = 1};
    check_law_on_plant(&d, &p, 200, 5, 20, "gradient concurrency");
}

TEST(plant_aimd_concurrency)
{
    struct regulator_def d = def(LAW_AIMD, true, 1, 1000, 100, true);
    d.setpoint = 0.2;
    struct plant p = {.signal = p95_of_limit, .load = 1};
    check_law_on_plant(&d, &p, 200, 5, 60, "aimd concurrency");
}

TEST(plant_proportional_concurrency)
{
    struct regulator_def d = def(LAW_PROPORTIONAL, true, 1, 1000, 100, true);
    d.setpoint = 0.2;
    struct plant p = {.signal = p95_of_limit, .load = 1};
    check_law_on_plant(&d, &p, 200, 5, 20, "proportional concurrency");
}

TEST(plant_proportional_replicas)
{
    /* The HPA's case: a larger output makes utilization smaller; 1000 %-replicas of load
     * for a 50 % target: 20 replicas. */
    struct regulator_def d = def(LAW_PROPORTIONAL, false, 1, 100, 1, true);
    d.setpoint = 50;
    d.stab_down = 300;
    struct plant p = {.signal = util_of_replicas, .load = 1000};
    check_law_on_plant(&d, &p, 90, 2, 40, "proportional replicas");
    /* and with the other laws on the same plant (no window: each move down would wait 5m) */
    d.stab_down = 0;
    d.law = LAW_GRADIENT;
    check_law_on_plant(&d, &p, 90, 2, 60, "gradient replicas");
    d.law = LAW_AIMD;
    check_law_on_plant(&d, &p, 90, 2, 60, "aimd replicas");
}

TEST(plant_gradient_cpu_quota)
{
    /* A non-integer output: a CPU quota in cores for a demand of 1.3 cores, utilization
     * target 0.8 (1.625 cores), resolution 0.05. */
    struct regulator_def d = def(LAW_GRADIENT, false, 0.1, 8, 1, false);
    d.setpoint = 0.8;
    d.resolution = 0.05;
    d.output_name = (char *)"cpu_quota";
    struct plant p = {.signal = util_of_quota, .load = 1.3};
    check_law_on_plant(&d, &p, 6, 0.2, 40, "gradient cpu quota");
    d.law = LAW_PROPORTIONAL;
    check_law_on_plant(&d, &p, 6, 0.2, 40, "proportional cpu quota");
}

/* max_step per step and min/max: from far away every step stays within its fraction, and
 * an equilibrium outside [min, max] ends at the bound, held there (at_limit). */
TEST(plant_max_step_and_limits)
{
    struct regulator_def d = def(LAW_PROPORTIONAL, false, 2, 100, 2, true);
    d.setpoint = 50;
    d.max_up = 0.5;
    d.max_down = 0.2;
    struct plant p = {.signal = util_of_replicas, .load = 1000};
    struct regulator_state st;
    regulator_state_init(&d, &st);
    double t = T0;
    struct run up = simulate(&d, &st, &p, &t, SYNC, 30);
    report("proportional replicas, max_step up 50%", &up);
    CHECK(up.bounds_ok);
    CHECK(up.changes >= 5); /* 2 3 4 6 9 13 19 or so: many small steps, not one */
    CHECK(fabs(up.final_ratio - 1) <= d.tolerance);
    p.load = 20000; /* wants 400 replicas, max 100 */
    struct run capped = simulate(&d, &st, &p, &t, SYNC, 30);
    CHECK(capped.bounds_ok);
    CHECK_DBL(capped.final, 100, 0);
    struct regulator_step s = step_at(&d, &st, t, p.signal(&p, st.output));
    CHECK_INT(s.why, REG_AT_LIMIT);
    CHECK_CONTAINS(s.explanation, "held at max 100");
    p.load = 10; /* wants 0.2 replicas, min 2: at most 20 % down per step */
    struct run down = simulate(&d, &st, &p, &t, SYNC, 40);
    report("proportional replicas, max_step down 20%", &down);
    CHECK(down.bounds_ok);
    CHECK(down.changes >= 10);
    CHECK_DBL(down.final, 2, 0);

    /* the same on a non-integer output */
    struct regulator_def q = def(LAW_GRADIENT, false, 0.1, 8, 4, false);
    q.setpoint = 0.8;
    q.max_up = 0.1;
    q.max_down = 0.1;
    struct plant cpu = {.signal = util_of_quota, .load = 1.3};
    regulator_state_init(&q, &st);
    t = T0;
    struct run r = simulate(&q, &st, &cpu, &t, SYNC, 60);
    report("gradient cpu quota, max_step 10%", &r);
    CHECK(r.bounds_ok);
    CHECK(fabs(r.final_ratio - 1) <= q.tolerance);
}

/* Stabilization on the concurrency plant: after a steady minute at the setpoint the load
 * doubles; with a 60 s down window the gradient's lower recommendations wait until the
 * steady ones expire, then the limit comes down. */
TEST(plant_stabilization_delays_down)
{
    struct regulator_def d = def(LAW_GRADIENT, true, 1, 1000, 50, true);
    d.setpoint = 0.2;
    d.stab_down = 60;
    struct plant p = {.signal = p95_of_limit, .load = 1};
    struct regulator_state st;
    regulator_state_init(&d, &st);
    double t = T0;
    struct run steady = simulate(&d, &st, &p, &t, 5, 24);
    CHECK_INT(steady.changes, 0);
    double last_steady = t - 5;
    p.load = 2;
    double first_down = 0;
    for (; t < last_steady + 200; t += 5) {
        struct regulator_step s = step_at(&d, &st, t, p.signal(&p, st.output));
        if (s.change) {
            CHECK_INT(s.direction, -1);
            first_down = t;
            break;
        }
        CHECK_INT(s.why, REG_STABILIZING);
    }
    CHECK(first_down >= last_steady + 60);
    CHECK(first_down <= last_steady + 60 + 60.0 / 31 + 5);
    /* then it settles in the band of the new load */
    struct run after = simulate(&d, &st, &p, &t, 5, 120);
    report("gradient concurrency, load x2, 60s down window", &after);
    CHECK(fabs(after.final_ratio - 1) <= d.tolerance);
    CHECK(after.reversals <= 1);
}

/* ---- 3. edges ---- */

TEST(edge_non_finite_signal_is_unknown)
{
    struct regulator_def d = def(LAW_GRADIENT, true, 1, 100, 16, true);
    d.setpoint = 0.2;
    d.stab_down = 60;
    d.output_name = (char *)"concurrency";
    struct regulator_state st;
    regulator_state_init(&d, &st);
    step_at(&d, &st, T0, 0.2);
    struct regulator_state before = st;
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        struct regulator_step s = step_at(&d, &st, T0 + 15 * (double)(i + 1), bad[i]);
        CHECK_INT(s.why, REG_UNKNOWN);
        CHECK(!s.change);
        CHECK_DBL(s.output, 16, 0);
        CHECK_CONTAINS(s.explanation, "concurrency held at 16");
    }
    CHECK(memcmp(&before, &st, sizeof(st)) == 0);
    struct regulator_input in = {.now = T0 + 100, .known = false, .active = true};
    struct regulator_step s;
    regulator_step(&d, &st, "p95", &in, &s);
    CHECK_STR(s.explanation, "p95 unknown: concurrency held at 16");
    regulator_step(&d, &st, NULL, &in, &s);
    CHECK_STR(s.explanation, "signal unknown: concurrency held at 16");
}

TEST(edge_signal_zero_and_negative)
{
    /* With increases_signal a signal of 0 is the largest move up, without it the largest
     * move down; all finite and within min/max. */
    const enum regulator_law laws[] = {LAW_PROPORTIONAL, LAW_AIMD, LAW_GRADIENT};
    for (size_t i = 0; i < 3; i++) {
        for (int inc = 0; inc < 2; inc++) {
            for (int neg = 0; neg < 2; neg++) {
                struct regulator_def d = def(laws[i], inc, 2, 50, 10, true);
                d.setpoint = 0.2;
                struct regulator_state st;
                regulator_state_init(&d, &st);
                struct regulator_step s = step_at(&d, &st, T0, neg ? -3 : 0);
                CHECK(isfinite(s.output) && isfinite(s.recommended));
                CHECK(s.output >= 2 && s.output <= 50);
                CHECK_INT(s.direction, inc ? 1 : -1);
                CHECK_CONTAINS(s.explanation, "(-100%)");
            }
        }
    }
    /* proportional without increases_signal: 0 % utilization -> min, as the HPA's
     * ceil(0 * replicas) = 0 clamped to minReplicas */
    struct regulator_def d = def(LAW_PROPORTIONAL, false, 2, 50, 10, true);
    d.setpoint = 50;
    struct regulator_state st;
    regulator_state_init(&d, &st);
    struct regulator_step s = step_at(&d, &st, T0, 0);
    CHECK_DBL(s.output, 2, 0);
    CHECK_CONTAINS(s.explanation, ", at min 2");
    /* with it: to max, within max_step */
    d = def(LAW_PROPORTIONAL, true, 2, 50, 10, true);
    d.max_up = 1;
    regulator_state_init(&d, &st);
    CHECK_DBL(step_at(&d, &st, T0, 0).output, 20, 0);
}

TEST(edge_setpoint_zero_tiny_and_huge_ratios)
{
    struct regulator_def d = def(LAW_PROPORTIONAL, true, 1, 64, 16, true);
    struct regulator_state st;
    regulator_state_init(&d, &st);
    d.setpoint = 0;
    struct regulator_step s = step_at(&d, &st, T0, 0.3);
    CHECK_INT(s.why, REG_UNKNOWN);
    CHECK_CONTAINS(s.explanation, "setpoint 0 is not a positive number");
    d.setpoint = NAN;
    CHECK_INT(step_at(&d, &st, T0, 0.3).why, REG_UNKNOWN);
    d.setpoint = -1;
    CHECK_INT(step_at(&d, &st, T0, 0.3).why, REG_UNKNOWN);
    CHECK_DBL(st.output, 16, 0);

    /* a tiny setpoint, a huge signal: r is capped, the outputs stay finite */
    const double setpoints[] = {1e-300, 5e-324, 1e-10};
    const double signals[] = {1, 1e308, DBL_MIN};
    const enum regulator_law laws[] = {LAW_PROPORTIONAL, LAW_AIMD, LAW_GRADIENT};
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < 3; i++)
            for (size_t j = 0; j < 3; j++)
                for (int inc = 0; inc < 2; inc++) {
                    struct regulator_def e = def(laws[l], inc, 1, 64, 16, (i + j) % 2 == 0);
                    e.setpoint = setpoints[i];
                    regulator_state_init(&e, &st);
                    s = step_at(&e, &st, T0, signals[j]);
                    CHECK(isfinite(s.output) && isfinite(s.recommended));
                    CHECK(s.output >= 1 && s.output <= 64);
                    CHECK(!strstr(s.explanation, "nan") && !strstr(s.explanation, "inf"));
                }
}

TEST(edge_integer_rounding_at_boundaries)
{
    struct regulator_def d = def(LAW_PROPORTIONAL, false, 1, 1000, 10, true);
    d.tolerance = 0.05;
    d.output_name = (char *)"replicas";
    struct regulator_state st;
    /* 100 replicas at 110 % of target: 100 * 1.1 is 110.00000000000001 in binary; a plain
     * ceil would ask for 111 */
    regulator_state_init(&d, &st);
    st.output = 100;
    CHECK_DBL(step_at(&d, &st, T0, 1.1).output, 110, 0);
    /* exactly 4.0 stays 4, 4.5 goes up to 5 */
    st.output = 10;
    CHECK_DBL(step_at(&d, &st, T0, 0.4).output, 4, 0);
    st.output = 10;
    struct regulator_step s = step_at(&d, &st, T0, 0.45);
    CHECK_DBL(s.output, 5, 0);
    CHECK_CONTAINS(s.explanation, "replicas 10 \xe2\x86\x92 5 (4.5 rounded up)");
    /* 10 * 0.7 / 0.1 is 69.99999999999999: 70 */
    d.setpoint = 0.1;
    st.output = 10;
    CHECK_DBL(step_at(&d, &st, T0, 0.7).output, 70, 0);
    /* 9.5 rounds up to 10: no change, below the resolution */
    d.setpoint = 1;
    d.tolerance = 0.01;
    st.output = 10;
    s = step_at(&d, &st, T0, 0.95);
    CHECK_INT(s.why, REG_BELOW_RESOLUTION);
    CHECK(!s.change);
    CHECK_CONTAINS(s.explanation, "replicas 10 \xe2\x86\x92 10 (9.5 rounded up): no change");

    /* aimd and gradient round to nearest: 16 * 0.9 = 14.4 -> 14; 15 * 0.9 = 13.5 -> 14 */
    struct regulator_def a = def(LAW_AIMD, true, 1, 100, 16, true);
    regulator_state_init(&a, &st);
    s = step_at(&a, &st, T0, 2);
    CHECK_DBL(s.output, 14, 0);
    CHECK_CONTAINS(s.explanation, "aimd \xc3\x97"
                                  "0.9 \xe2\x86\x92 reg 16 \xe2\x86\x92 14.4, rounded to 14");
    st.output = 15;
    CHECK_DBL(step_at(&a, &st, T0, 2).output, 14, 0);
    /* aimd decreases an integer by at least one (AIMDLimit): 4 * 0.9 = 3.6 would round back
     * to 4 */
    st.output = 4;
    CHECK_DBL(step_at(&a, &st, T0, 2).output, 3, 0);
    /* gradient: 4 * 0.88 = 3.52 would round back to 4, but the signal is outside the
     * tolerance (+13.6 %): the move the law wants is rounded toward it, to 3 */
    struct regulator_def g = def(LAW_GRADIENT, true, 1, 100, 4, true);
    regulator_state_init(&g, &st);
    s = step_at(&g, &st, T0, 1 / 0.88);
    CHECK_INT(s.why, REG_CHANGE);
    CHECK_DBL(st.output, 3, 0);
    CHECK_CONTAINS(s.explanation, "rounded to 3");
    /* max_step on an integer: 10 % of 3 is less than one, one unit is allowed */
    d = def(LAW_PROPORTIONAL, false, 1, 100, 3, true);
    d.max_up = 0.1;
    d.max_down = 0.1;
    regulator_state_init(&d, &st);
    CHECK_DBL(step_at(&d, &st, T0, 3).output, 4, 0);
    CHECK_DBL(step_at(&d, &st, T0, 0.1).output, 3, 0);
    /* 50 % of 7 is 3.5: up to 10 (not 11), down to 4 (not 3) */
    d.max_up = d.max_down = 0.5;
    st.output = 7;
    CHECK_DBL(step_at(&d, &st, T0, 10).output, 10, 0);
    st.output = 7;
    s = step_at(&d, &st, T0, 0.01);
    CHECK_DBL(s.output, 4, 0);
    CHECK_CONTAINS(s.explanation, "limited to 4 by max_step down 50%");
}

TEST(edge_resolution)
{
    /* a CPU quota of 1 core, resolution 0.05 */
    struct regulator_def d = def(LAW_PROPORTIONAL, false, 0.1, 8, 1, false);
    d.setpoint = 0.8;
    d.tolerance = 0;
    d.resolution = 0.05;
    d.output_name = (char *)"cpu";
    struct regulator_state st;
    regulator_state_init(&d, &st);
    struct regulator_step s = step_at(&d, &st, T0, 0.8 * 1.03); /* wants 1.03 */
    CHECK_INT(s.why, REG_BELOW_RESOLUTION);
    CHECK(!s.change);
    CHECK_DBL(st.output, 1, 0);
    CHECK_CONTAINS(s.explanation, "a change of 0.03 is less than the resolution 0.05, not sent");
    s = step_at(&d, &st, T0, 0.8 * 1.05); /* wants 1.05: exactly the resolution, sent */
    CHECK_INT(s.why, REG_CHANGE);
    CHECK_DBL(st.output, 1.05, 1e-12);
    /* resolution 0: any change is sent */
    d.resolution = 0;
    st.output = 1;
    s = step_at(&d, &st, T0, 0.8 * 1.000001);
    CHECK_INT(s.why, REG_CHANGE);
    CHECK_DBL(st.output, 1.000001, 1e-12);
    /* an integer output with resolution 2: a change of 1 is not sent, of 2 is */
    struct regulator_def r = def(LAW_PROPORTIONAL, false, 1, 100, 10, true);
    r.resolution = 2;
    r.tolerance = 0;
    regulator_state_init(&r, &st);
    CHECK_INT(step_at(&r, &st, T0, 1.05).why, REG_BELOW_RESOLUTION);
    CHECK_INT(step_at(&r, &st, T0, 1.2).why, REG_CHANGE);
    CHECK_DBL(st.output, 12, 0);
}

TEST(edge_inactive_returns_to_start)
{
    struct regulator_def d = def(LAW_GRADIENT, true, 1, 100, 20, true);
    d.setpoint = 0.2;
    d.max_up = 0.5;
    d.stab_down = 60;
    d.output_name = (char *)"concurrency";
    struct regulator_state st;
    regulator_state_init(&d, &st);
    st.output = 6;
    struct regulator_state before = st;
    struct regulator_input in = {.now = T0, .known = true, .signal = 5, .active = false};
    struct regulator_step s;
    regulator_step(&d, &st, "p95", &in, &s);
    CHECK_INT(s.why, REG_CHANGE);
    CHECK_DBL(s.output, 9, 0);
    CHECK_DBL(s.recommended, 20, 0);
    CHECK_STR(s.explanation, "the state is not in active_in: concurrency returns to its start "
                             "20: 6 \xe2\x86\x92 9 (max_step up 50%)");
    CHECK(memcmp(before.down, st.down, sizeof(st.down)) == 0);
    const double path[] = {13, 19, 20}; /* 9 + 4.5 rounds down: within 50 % */
    for (size_t i = 0; i < 3; i++) {
        in.now += 15;
        regulator_step(&d, &st, "p95", &in, &s);
        CHECK_DBL(s.output, path[i], 0);
    }
    in.now += 15;
    regulator_step(&d, &st, "p95", &in, &s);
    CHECK_INT(s.why, REG_INACTIVE);
    CHECK(!s.change);
    CHECK_STR(s.explanation, "the state is not in active_in: concurrency at its start 20");
    /* straight back without max_step down */
    st.output = 80;
    in.now += 15;
    regulator_step(&d, &st, "p95", &in, &s);
    CHECK_DBL(s.output, 20, 0);
    CHECK_INT(s.direction, -1);
    CHECK_DBL(st.last_change, in.now, 0);
}

TEST(explanations)
{
    struct regulator_def d = def(LAW_GRADIENT, true, 1, 100, 16, true);
    d.setpoint = 0.2;
    d.output_name = (char *)"concurrency";
    struct regulator_state st;
    regulator_state_init(&d, &st);
    struct regulator_input in = {.now = T0, .known = true, .signal = 0.31, .active = true};
    struct regulator_step s;
    regulator_step(&d, &st, "p95_latency_seconds", &in, &s);
    CHECK_STR(s.explanation, "p95_latency_seconds 0.31 > 0.2 setpoint (+55%): gradient 0.645 "
                             "\xe2\x86\x92 concurrency 16 \xe2\x86\x92 10.32, rounded to 10");
    CHECK_DBL(s.output, 10, 0);
    CHECK_DBL(s.previous, 16, 0);
    CHECK_INT(s.direction, -1);
    CHECK_STR(regulator_why_name(s.why), "change");
    in.signal = 0.21;
    regulator_step(&d, &st, "p95", &in, &s);
    CHECK_STR(s.explanation, "p95 0.21 > 0.2 setpoint (+5%): within tolerance 10%: concurrency "
                             "stays 10");
    CHECK_STR(regulator_why_name(s.why), "tolerance");
    /* clamped gradients say so */
    in.signal = 0.02;
    regulator_step(&d, &st, "p95", &in, &s);
    CHECK_CONTAINS(s.explanation, "gradient 2 (clamped from 10)");
    /* replicas held by the window, at min */
    struct regulator_def r = def(LAW_PROPORTIONAL, false, 2, 20, 10, true);
    r.setpoint = 50;
    r.stab_down = 300;
    r.output_name = (char *)"replicas";
    regulator_state_init(&r, &st);
    step_at(&r, &st, T0, 50);
    s = step_at(&r, &st, T0 + 15, 40);
    CHECK_STR(s.explanation, "sig 40 < 50 setpoint (-20%): proportional 0.8 \xe2\x86\x92 replicas "
                             "10 \xe2\x86\x92 8, held at 10 by the 5m down window (largest "
                             "recommendation 10)");
    CHECK_STR(regulator_why_name(s.why), "stabilizing");
    r.stab_down = 0;
    s = step_at(&r, &st, T0 + 30, 5);
    CHECK_CONTAINS(s.explanation, "\xe2\x86\x92 replicas 10 \xe2\x86\x92 1, at min 2");
    CHECK_DBL(s.output, 2, 0);
    /* a name too long for the buffer ends in "…" at a character boundary */
    char name[400];
    memset(name, 'x', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    in.signal = 0.5;
    regulator_step(&d, &st, name, &in, &s);
    size_t n = strlen(s.explanation);
    CHECK(n < sizeof(s.explanation));
    CHECK(n >= 3 && strcmp(s.explanation + n - 3, "\xe2\x80\xa6") == 0);
    /* names */
    CHECK_STR(regulator_law_name(LAW_AIMD), "aimd");
    CHECK_INT(regulator_law_parse("gradient"), LAW_GRADIENT);
    CHECK_INT(regulator_law_parse("proportional"), LAW_PROPORTIONAL);
    CHECK(regulator_law_parse("pid") < 0);
    CHECK(regulator_law_parse(NULL) < 0);
    CHECK_STR(regulator_why_name(REG_BELOW_RESOLUTION), "below_resolution");
    CHECK_STR(regulator_why_name(REG_AT_LIMIT), "at_limit");
    CHECK_STR(regulator_why_name(REG_INACTIVE), "inactive");
}

TEST(settle_holds_after_a_change)
{
    struct regulator_def d = def(LAW_GRADIENT, true, 1, 100, 64, true);
    d.setpoint = 0.2;
    d.settle = 10;
    struct regulator_state st;
    regulator_state_init(&d, &st);
    /* 64 at p95 1.6: gradient clamped to 0.5 -> 32 */
    struct regulator_step s = step_at(&d, &st, T0, 1.6);
    CHECK_INT(s.why, REG_CHANGE);
    CHECK_DBL(st.output, 32, 0);
    struct regulator_state before = st;
    /* within settle the signal still shows the old limit: nothing moves, windows untouched */
    s = step_at(&d, &st, T0 + 5, 1.6);
    CHECK_INT(s.why, REG_SETTLING);
    CHECK(!s.change);
    CHECK(memcmp(&before, &st, sizeof(st)) == 0);
    CHECK_CONTAINS(s.explanation, "settling: reg changed to 32 5s ago; held for settle 10s");
    /* an unknown signal is still unknown first */
    struct regulator_input in = {.now = T0 + 6, .known = false, .active = true};
    regulator_step(&d, &st, "sig", &in, &s);
    CHECK_INT(s.why, REG_UNKNOWN);
    /* settle over: the law again, 32 -> 16 */
    s = step_at(&d, &st, T0 + 10, 0.8);
    CHECK_INT(s.why, REG_CHANGE);
    CHECK_DBL(st.output, 16, 0);
}

/* What the daemon, test and backtest give a regulator (step_regulator_input): a sample
 * older than its signal's max_age is unknown, and with active_in an uncertain state holds,
 * saying so rather than calling the signal unknown. */
TEST(step_input_stale_and_uncertain)
{
    struct signal_def sig = {.name = (char *)"p95", .max_age_usec = 10000000};
    struct state_def states[2] = {{.name = (char *)"degraded"}, {.name = (char *)"optimal"}};
    struct rules r;
    memset(&r, 0, sizeof(r));
    r.signals = &sig;
    r.n_signals = 1;
    r.states = states;
    r.n_states = 2;
    struct regulator_def d = def(LAW_GRADIENT, true, 1, 100, 64, true);
    d.setpoint = 0.2;
    struct signal_value v = {.known = true, .value = 1.6, .sample_time = T0 - 5};
    struct regulator_input in;
    step_regulator_input(&r, &d, 1, false, &v, T0, &in);
    CHECK(in.known && in.active && !in.state_unknown);
    v.sample_time = T0 - 11; /* past max_age 10s */
    step_regulator_input(&r, &d, 1, false, &v, T0, &in);
    CHECK(!in.known);
    struct regulator_state st;
    regulator_state_init(&d, &st);
    struct regulator_step s;
    regulator_step(&d, &st, "p95", &in, &s);
    CHECK_INT(s.why, REG_UNKNOWN);
    CHECK_DBL(st.output, 64, 0);
    /* active_in [degraded], the state uncertain: held, and said so */
    size_t active[] = {0};
    d.active_in = active;
    d.n_active_in = 1;
    v.sample_time = T0;
    step_regulator_input(&r, &d, 0, true, &v, T0, &in);
    CHECK(in.state_unknown);
    regulator_step(&d, &st, "p95", &in, &s);
    CHECK_INT(s.why, REG_UNKNOWN);
    CHECK_CONTAINS(s.explanation, "the state is unknown or uncertain (active_in): reg held at 64");
    /* certain and in active_in: the law */
    step_regulator_input(&r, &d, 0, false, &v, T0, &in);
    regulator_step(&d, &st, "p95", &in, &s);
    CHECK_INT(s.why, REG_CHANGE);
}

TEST_MAIN(TEST_ENTRY(hpa_parity_replica_calculator), TEST_ENTRY(hpa_parity_stabilization_log),
          TEST_ENTRY(hpa_parity_stabilization_sequence), TEST_ENTRY(hpa_parity_behavior_policies),
          TEST_ENTRY(behavior_periods_count_the_changes), TEST_ENTRY(behavior_events_bounded),
          TEST_ENTRY(plant_gradient_concurrency), TEST_ENTRY(plant_aimd_concurrency),
          TEST_ENTRY(plant_proportional_concurrency), TEST_ENTRY(plant_proportional_replicas),
          TEST_ENTRY(plant_gradient_cpu_quota), TEST_ENTRY(plant_max_step_and_limits),
          TEST_ENTRY(plant_stabilization_delays_down),
          TEST_ENTRY(edge_non_finite_signal_is_unknown), TEST_ENTRY(edge_signal_zero_and_negative),
          TEST_ENTRY(edge_setpoint_zero_tiny_and_huge_ratios),
          TEST_ENTRY(edge_integer_rounding_at_boundaries), TEST_ENTRY(edge_resolution),
          TEST_ENTRY(edge_inactive_returns_to_start), TEST_ENTRY(explanations),
          TEST_ENTRY(settle_holds_after_a_change), TEST_ENTRY(step_input_stale_and_uncertain))
