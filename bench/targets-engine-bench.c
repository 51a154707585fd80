/* targets-engine-bench: the controller's engine on many targets, without I/O: per
 * evaluation, targets_match() of SIGNALS instant vectors of TARGETS series each (already
 * read into ivecs, as the daemon holds them after a query) and fleet_step() of every target
 * (evaluate, decide, the budgets and the storm guard). Prints one line per evaluation and
 * a summary: microseconds of CPU per evaluation and per target-signal (the goal in
 * issue 18: at most 2 us), with and without the matching.
 *
 *     targets-engine-bench [TARGETS [SIGNALS [EVALUATIONS]]]     (10000 10 20)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fleet.h"
#include "rules.h"
#include "targets.h"

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t n_targets = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
    size_t n_signals = argc > 2 ? strtoul(argv[2], NULL, 10) : 10;
    size_t n_evals = argc > 3 ? strtoul(argv[3], NULL, 10) : 20;
    if (!n_targets || !n_signals || n_signals > 64 || !n_evals)
        return fprintf(stderr, "usage: targets-engine-bench [TARGETS [SIGNALS [EVALUATIONS]]]\n"),
               2;
    /* rules: s0..s(n-1); critical when s0 > 0.9 and s1 > 0.8 (all), degraded when any of
     * the others > 0.7 for 10s, optimal */
    struct buf y;
    buf_init(&y, 1 << 20);
    buf_printf(&y,
               "targets: {by: [target], max: %zu}\nlimits: {max_actions_per_hour: 0, "
               "max_targets_acting: 5%%}\nsignals:\n",
               n_targets);
    for (size_t s = 0; s < n_signals; s++)
        buf_printf(&y, "  s%zu: {query: 'm%zu', max_age: 1m}\n", s, s);
    buf_printf(&y,
               "states:\n  - {name: critical, when: all, conditions: ['s0 > 0.9', 's%zu > 0.8']}\n"
               "  - name: degraded\n    for: 10s\n    conditions: [",
               n_signals > 1 ? (size_t)1 : (size_t)0);
    for (size_t s = 0; s < n_signals; s++)
        buf_printf(&y, "%s's%zu > 0.7'", s ? ", " : "", s);
    buf_printf(&y, "]\n  - {name: optimal}\ndecisions:\n  critical:\n    cooldown: 1m\n"
                   "    actions:\n      - exec: [/bin/true, '{{ $labels.target }}']\n");
    struct rules *r = NULL;
    struct buf e;
    buf_init(&e, 0);
    if (rules_load_string(y.data, y.len, "bench.yaml", &r, &e) < 0)
        return fprintf(stderr, "%s", e.data ? e.data : "rules?\n"), 1;
    /* the vectors: each target's value of each signal wanders between 0 and 1 */
    struct ivec *vec = calloc(n_signals, sizeof(*vec));
    struct target_input *in = calloc(n_signals, sizeof(*in));
    struct fleet_replay rp;
    fleet_replay_init(&rp, r, false, true);
    double *match_us = calloc(n_evals, sizeof(double)), *total_us = calloc(n_evals, sizeof(double));
    double t0 = 1700000000;
    unsigned seed = 1;
    for (size_t k = 0; k < n_evals; k++) {
        double now = t0 + 5.0 * (double)k;
        for (size_t s = 0; s < n_signals; s++) {
            /* as the daemon reads a reply: only the targets.by label kept */
            ivec_reset(&vec[s]);
            for (size_t t = 0; t < n_targets; t++) {
                char name[32], v[32];
                int nl = snprintf(name, sizeof(name), "t%06zu", t);
                int vl = snprintf(v, sizeof(v), "%.3f", (double)(rand_r(&seed) % 1000) / 1000);
                if (ivec_add_series(&vec[s]) < 0 ||
                    ivec_add_label(&vec[s], "target", 6, name, (size_t)nl) < 0 ||
                    ivec_set_sample(&vec[s], now, v, (size_t)vl) < 0)
                    return 1;
            }
            in[s].series = &vec[s];
        }
        /* the matching alone, then the whole step (which matches again) */
        double a = cpu_us();
        struct target_set set;
        if (targets_match(r, in, NULL, NULL, 0, 42, &set) < 0)
            return 1;
        double b = cpu_us();
        target_set_free(&set);
        struct fleet_member *m;
        size_t n;
        struct fleet_outcome fo;
        double c = cpu_us();
        if (fleet_replay_next(&rp, in, now, &m, &n, &fo) < 0)
            return 1;
        double d = cpu_us();
        match_us[k] = b - a;
        total_us[k] = d - c;
        size_t crit = 0;
        for (size_t i = 0; i < n; i++)
            crit += m[i].res->to == 0;
        printf("evaluation %zu: %zu targets, %zu critical, storm guard %s; match %.1f ms, "
               "match + steps %.1f ms\n",
               k + 1, n, crit, fo.storm ? "on" : "off", match_us[k] / 1e3, total_us[k] / 1e3);
    }
    qsort(match_us, n_evals, sizeof(double), cmp);
    qsort(total_us, n_evals, sizeof(double), cmp);
    double per = (double)(n_targets * n_signals);
    printf("summary: %zu targets x %zu signals, %zu evaluations: CPU per evaluation, median: "
           "match %.1f ms, match + steps %.1f ms = %.3f us per target-signal (max %.3f)\n",
           n_targets, n_signals, n_evals, match_us[n_evals / 2] / 1e3, total_us[n_evals / 2] / 1e3,
           total_us[n_evals / 2] / per, total_us[n_evals - 1] / per);
    fleet_replay_free(&rp);
    rules_free(r);
    for (size_t s = 0; s < n_signals; s++)
        ivec_free(&vec[s]);
    free(vec);
    free(in);
    free(match_us);
    free(total_us);
    buf_free(&y);
    buf_free(&e);
    return 0;
}
