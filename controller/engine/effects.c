/* effects: the verdicts of effects.h. */
#include "effects.h"

#include <math.h>

static const char *const verdict_names[] = {
    [EFFECT_HELPED] = "helped",
    [EFFECT_NO_EFFECT] = "no_effect",
    [EFFECT_WORSE] = "worse",
    [EFFECT_UNKNOWN] = "unknown",
};

const char *effect_verdict_name(enum effect_verdict v)
{
    return (size_t)v < EFFECT_MAX ? verdict_names[v] : "unknown";
}

int effect_direction(enum cond_op op)
{
    return op == COND_GT || op == COND_GE ? 1 : op == COND_LT || op == COND_LE ? -1 : 0;
}

/* The window of v[i], or of |v[i] - setpoint| when setpoint is a number. */
static void window(const double *v, size_t n, double setpoint, struct effect_window *w)
{
    /* Welford's running mean and variance: one pass, no cancellation */
    double mean = 0, m2 = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        double x = isnan(setpoint) ? v[i] : fabs(v[i] - setpoint);
        if (!isfinite(x))
            continue;
        k++;
        double d = x - mean;
        mean += d / (double)k;
        m2 += d * (x - mean);
    }
    w->n = k;
    w->mean = k ? mean : 0;
    w->sd = k > 1 ? sqrt(m2 / (double)(k - 1)) : 0;
}

void effect_window_of(const double *v, size_t n, struct effect_window *w)
{
    window(v, n, NAN, w);
}

void effect_window_error(const double *v, size_t n, double setpoint, struct effect_window *w)
{
    window(v, n, isfinite(setpoint) ? setpoint : 0, w);
}

void effect_judge(const struct effect_window *before, const struct effect_window *after,
                  int direction, double min_change, struct effect_signal *out)
{
    *out = (struct effect_signal){.verdict = EFFECT_UNKNOWN};
    if (before->n < EFFECT_MIN_SAMPLES || after->n < EFFECT_MIN_SAMPLES)
        return;
    double dir = direction < 0 ? -1 : 1;
    out->change = (before->mean - after->mean) * dir;
    double scale = fabs(before->mean);
    out->relative = scale > 0 ? out->change / scale : 0;
    double se = sqrt(before->sd * before->sd / (double)before->n +
                     after->sd * after->sd / (double)after->n);
    out->threshold = fmax(2 * se, (min_change > 0 ? min_change : 0) * scale);
    if (out->change > out->threshold)
        out->verdict = EFFECT_HELPED;
    else if (out->change < -out->threshold)
        out->verdict = EFFECT_WORSE;
    else
        out->verdict = EFFECT_NO_EFFECT;
}

enum effect_verdict effect_combine(const struct effect_signal *s, size_t n)
{
    size_t count[EFFECT_MAX] = {0};
    for (size_t i = 0; i < n; i++)
        count[s[i].verdict < EFFECT_MAX ? s[i].verdict : EFFECT_UNKNOWN]++;
    if (count[EFFECT_UNKNOWN] == n)
        return EFFECT_UNKNOWN;
    if (count[EFFECT_WORSE])
        return EFFECT_WORSE;
    if (count[EFFECT_HELPED])
        return EFFECT_HELPED;
    if (count[EFFECT_UNKNOWN])
        return EFFECT_UNKNOWN;
    return EFFECT_NO_EFFECT;
}
