/* test-effects: the verdicts of controller/engine/effects.c: the windows' mean and standard
 * deviation, a change judged against the noise (2 standard errors) and the 5 % minimum,
 * the direction of the deciding condition, too few samples, and the decision's verdict
 * over its signals (missing data never no_effect), and a regulator's change judged on its
 * signal's distance from the setpoint. */
#include <math.h>
#include <stddef.h>

#include "effects.h"
#include "test.h"

static struct effect_window win(double mean, double sd, size_t n)
{
    return (struct effect_window){.n = n, .mean = mean, .sd = sd};
}

TEST(window_mean_and_sd)
{
    const double v[] = {2, 4, 4, 4, 5, 5, 7, 9, NAN, INFINITY};
    struct effect_window w;
    effect_window_of(v, 10, &w);
    CHECK_INT(w.n, 8); /* NaN and Inf left out */
    CHECK_DBL(w.mean, 5, 1e-12);
    CHECK_DBL(w.sd, sqrt(32.0 / 7.0), 1e-12); /* the sample standard deviation */
    effect_window_of(v, 1, &w);
    CHECK_INT(w.n, 1);
    CHECK_DBL(w.sd, 0, 0);
    effect_window_of(v + 8, 2, &w);
    CHECK_INT(w.n, 0);
}

TEST(judge_against_noise_and_minimum)
{
    struct effect_signal s;
    /* p95 0.65 -> 0.08 (a > condition: lower is better), little noise: helped */
    struct effect_window a = win(0.65, 0.02, 20), b = win(0.08, 0.01, 20);
    effect_judge(&a, &b, 1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_HELPED);
    CHECK_DBL(s.change, 0.57, 1e-12);
    CHECK_DBL(s.relative, 0.57 / 0.65, 1e-12);
    /* the other way: worse */
    effect_judge(&b, &a, 1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_WORSE);
    /* a < condition (free memory too low): a rise is better */
    effect_judge(&b, &a, -1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_HELPED);
    /* 10 % better but the noise is large: 2 se = 2 sqrt(0.1^2/5 + 0.1^2/5) = 0.126 > 0.1 */
    a = win(1.0, 0.1, 5);
    b = win(0.9, 0.1, 5);
    effect_judge(&a, &b, 1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_NO_EFFECT);
    CHECK_DBL(s.threshold, 2 * sqrt(0.01 / 5 + 0.01 / 5), 1e-12);
    /* the same change with 50 samples each: 2 se = 0.04 < 0.1: helped */
    a.n = b.n = 50;
    effect_judge(&a, &b, 1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_HELPED);
    /* 3 % better without any noise: under the 5 % minimum */
    a = win(1.0, 0, 20);
    b = win(0.97, 0, 20);
    effect_judge(&a, &b, 1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_NO_EFFECT);
    CHECK_DBL(s.threshold, 0.05, 1e-12);
    /* nothing changed at all */
    effect_judge(&a, &a, 1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_NO_EFFECT);
    /* a mean of 0 before (an error ratio): the change against the noise only */
    a = win(0, 0, 10);
    b = win(0.02, 0.001, 10);
    effect_judge(&a, &b, 1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_WORSE);
    CHECK_DBL(s.relative, 0, 0);
}

TEST(judge_too_few_samples_is_unknown)
{
    struct effect_signal s;
    struct effect_window a = win(1, 0, EFFECT_MIN_SAMPLES - 1), b = win(0.1, 0, 20);
    effect_judge(&a, &b, 1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_UNKNOWN);
    effect_judge(&b, &a, 1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_UNKNOWN);
    a.n = EFFECT_MIN_SAMPLES;
    effect_judge(&a, &b, 1, 0.05, &s);
    CHECK_INT(s.verdict, EFFECT_HELPED);
}

TEST(combine)
{
    struct effect_signal s[3] = {
        {.verdict = EFFECT_UNKNOWN}, {.verdict = EFFECT_UNKNOWN}, {.verdict = EFFECT_UNKNOWN}};
    CHECK_INT(effect_combine(s, 3), EFFECT_UNKNOWN);
    CHECK_INT(effect_combine(s, 0), EFFECT_UNKNOWN); /* nothing to judge */
    s[0].verdict = EFFECT_NO_EFFECT;
    CHECK_INT(effect_combine(s, 3), EFFECT_UNKNOWN); /* missing data is never no_effect */
    s[1].verdict = EFFECT_NO_EFFECT;
    s[2].verdict = EFFECT_NO_EFFECT;
    CHECK_INT(effect_combine(s, 3), EFFECT_NO_EFFECT);
    s[1].verdict = EFFECT_HELPED;
    CHECK_INT(effect_combine(s, 3), EFFECT_HELPED);
    s[2].verdict = EFFECT_UNKNOWN;
    CHECK_INT(effect_combine(s, 3), EFFECT_HELPED); /* one decided: helped */
    s[0].verdict = EFFECT_WORSE;
    CHECK_INT(effect_combine(s, 3), EFFECT_WORSE); /* any worse wins */
    CHECK_STR(effect_verdict_name(EFFECT_NO_EFFECT), "no_effect");
    CHECK_STR(effect_verdict_name(EFFECT_MAX), "unknown");
}

/* A regulator's change: nearer the setpoint from either side is better; crossing it and
 * ending as far on the other side is no effect; overshooting farther is worse. */
TEST(regulator_distance_from_setpoint)
{
    const double above[] = {0.60, 0.65, 0.70, NAN}, near[] = {0.22, 0.18, 0.21, 0.19};
    const double below[] = {0.05, 0.06, 0.04}, over[] = {0.30, 0.35, 0.40};
    struct effect_window a, b;
    struct effect_signal s;
    effect_window_error(above, 4, 0.2, &a);
    CHECK_INT(a.n, 3);
    CHECK_DBL(a.mean, 0.45, 1e-12);
    CHECK_DBL(a.sd, 0.05, 1e-12);
    effect_window_error(near, 4, 0.2, &b);
    CHECK_DBL(b.mean, 0.015, 1e-12);
    effect_judge(&a, &b, 1, EFFECT_MIN_CHANGE, &s);
    CHECK_INT(s.verdict, EFFECT_HELPED); /* 0.65 -> 0.2: nearer by 0.435 */
    CHECK_DBL(s.change, 0.435, 1e-12);
    effect_window_error(below, 3, 0.2, &a); /* 0.15 below the setpoint */
    effect_judge(&a, &b, 1, EFFECT_MIN_CHANGE, &s);
    CHECK_INT(s.verdict, EFFECT_HELPED);   /* coming up to it from below helps too */
    effect_window_error(over, 3, 0.2, &b); /* 0.15 above: as far, on the other side */
    effect_judge(&a, &b, 1, EFFECT_MIN_CHANGE, &s);
    CHECK_INT(s.verdict, EFFECT_NO_EFFECT);
    effect_window_error(near, 4, 0.2, &a);
    effect_judge(&a, &b, 1, EFFECT_MIN_CHANGE, &s);
    CHECK_INT(s.verdict, EFFECT_WORSE); /* from near it to 0.15 away */
    /* too few samples: unknown, as for a decision */
    effect_window_error(below, 2, 0.2, &a);
    effect_judge(&a, &b, 1, EFFECT_MIN_CHANGE, &s);
    CHECK_INT(s.verdict, EFFECT_UNKNOWN);
}

TEST_MAIN(TEST_ENTRY(window_mean_and_sd), TEST_ENTRY(judge_against_noise_and_minimum),
          TEST_ENTRY(judge_too_few_samples_is_unknown), TEST_ENTRY(combine),
          TEST_ENTRY(regulator_distance_from_setpoint))
