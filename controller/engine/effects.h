/* effects: whether an action helped (docs/RULES.md, "Did it help?"). Pure: given a signal's
 * samples before a decision and after its verify_after, a verdict that takes the signal's
 * noise into account, and the words that say why.
 *
 * The rule, per deciding signal (each signal of the conditions of the decision's state):
 *   before: the samples of the window of verify_window before the decision; after: those
 *   of the window of verify_window ending verify_after after it. Each needs
 *   EFFECT_MIN_SAMPLES known samples, else the signal's verdict is unknown.
 *   change = (mean before - mean after) x direction, direction +1 when a larger value is
 *   worse (the condition is > or >=), -1 when a smaller one is (< or <=): positive is
 *   better. The noise: se = sqrt(sd_before^2 / n_before + sd_after^2 / n_after), the
 *   standard error of the difference of the two means. The change counts when it is
 *   past both 2 se (about 95 % that it is no accident of the noise, for samples near
 *   normal) and min_change of the mean before (a change too small to matter: 5 % by
 *   default): helped when it is better by that much, worse when it is worse by that much,
 *   no_effect otherwise.
 * The decision's verdict over its signals: unknown when every signal is unknown; worse
 * when any is worse; helped when any helped (and none is worse); unknown when some are
 * unknown and none decided; no_effect otherwise. Missing data is never no_effect.
 * A regulator's change is judged the same way on one signal, its distance from the
 * setpoint (effect_window_error). */
#ifndef HOMEOSTAT_CONTROLLER_EFFECTS_H
#define HOMEOSTAT_CONTROLLER_EFFECTS_H

#include <stdbool.h>
#include <stddef.h>

#include "rules.h" /* enum cond_op */

#define EFFECT_MIN_SAMPLES 3
#define EFFECT_MIN_CHANGE 0.05 /* the minimum change that counts, of the mean before */

enum effect_verdict { EFFECT_HELPED, EFFECT_NO_EFFECT, EFFECT_WORSE, EFFECT_UNKNOWN, EFFECT_MAX };

struct effect_window {
    size_t n;        /* finite samples */
    double mean, sd; /* sd: the sample standard deviation (0 for one sample) */
};

struct effect_signal {
    enum effect_verdict verdict;
    double change;    /* (before - after) x direction, in the signal's unit: + is better */
    double relative;  /* change / |mean before| (0 when that is 0) */
    double threshold; /* what the change had to pass: max(2 se, min_change x |mean before|) */
};

const char *effect_verdict_name(enum effect_verdict v); /* "helped", "no_effect", ... */

/* The direction of worse for a deciding condition's operator: +1 for > and >=, -1 for <
 * and <=, 0 (not judged) for == and !=. */
int effect_direction(enum cond_op op);

/* The window of the finite values of v[0..n). */
void effect_window_of(const double *v, size_t n, struct effect_window *w);
/* A regulator change's (docs/RULES.md, "Did it help?"): the window of the distances
 * |v[i] - setpoint| of the finite values, judged with direction +1 (farther is worse): the
 * change helped when the signal came nearer its setpoint by more than the noise and 5 % of
 * the distance before. */
void effect_window_error(const double *v, size_t n, double setpoint, struct effect_window *w);

/* One signal's verdict (see the top). direction: +1 or -1; min_change: a fraction (0.05). */
void effect_judge(const struct effect_window *before, const struct effect_window *after,
                  int direction, double min_change, struct effect_signal *out);

/* The decision's verdict over its signals' verdicts. */
enum effect_verdict effect_combine(const struct effect_signal *s, size_t n);

#endif
