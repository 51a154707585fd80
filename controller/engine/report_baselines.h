/* report_baselines: the health report's "compared with the baseline" section (docs/REPORT.md),
 * built by the same code for GET /api/v1/report and `homeostat-controller report
 * --baselines=FILE`: each learned signal (with targets, per target the caller adds) now
 * against the median and q=0.99 of its baseline's current slot, the ratio, and without
 * targets its trend over the last REPORT_TREND_SECONDS.
 *
 * Two steps, so that the daemon reads its baselines under its lock and queries without it:
 * report_baselines_init and report_baselines_add copy what they need of the rules and the
 * baselines; report_baselines_finish queries through a struct report_source (the engine does
 * no I/O) and puts the section into the report. Pure otherwise: the caller gives the time. */
#ifndef HOMEOSTAT_CONTROLLER_REPORT_BASELINES_H
#define HOMEOSTAT_CONTROLLER_REPORT_BASELINES_H

#include <jansson.h>
#include <stddef.h>

#include "evaluate.h"
#include "report.h"
#include "rules.h"
#include "step.h"

#define REPORT_BASELINES_MAX_TARGETS 100 /* targets compared (the first the caller adds) */
#define REPORT_TREND_SECONDS 3600        /* the trend's window: deriv over [1h:1m] */

/* What the section needs of the rules, copied, and the section being built. */
struct report_baselines {
    json_t *entries; /* one object per learned signal and owner (owned) */
    size_t n_signals;
    size_t n_targets;                     /* owners added with labels */
    char *value_query[RULES_MAX_SIGNALS]; /* each learned signal's query (owned) or NULL */
    char *trend_query[RULES_MAX_SIGNALS]; /* without targets, its trend's query, or NULL */
    char *by[RULES_MAX_TARGET_LABELS];    /* targets.by (owned) */
    size_t n_by;
};

/* Copies what the section needs of r into rb. 0 or -ENOMEM (rb is then freed). */
int report_baselines_init(struct report_baselines *rb, const struct rules *r);
void report_baselines_free(struct report_baselines *rb); /* accepts a zeroed one */

/* Adds one owner's entries at now: the controller's (labels NULL) or a target's (labels its
 * targets.by labels, borrowed; past REPORT_BASELINES_MAX_TARGETS targets nothing is added).
 * set (borrowed, may be NULL: nothing learned) holds its baselines, made for r. values: its
 * last values (the daemon's evaluation), or NULL: report_baselines_finish queries each
 * signal at the report's time. 0 or -ENOMEM. */
int report_baselines_add(struct report_baselines *rb, const struct rules *r,
                         const struct baseline_set *set, const struct signal_value *values,
                         const json_t *labels, double now);

/* Queries from src (NULL: none), at time and in one round, the trends and the values not
 * given, and sets the section into rep as "compared_with_baseline" (left out when it is
 * empty). rb is freed. 0; -EHOSTUNREACH when none of these queries reached Prometheus and
 * the report had none of its own (every check skipped, or none), as report_build fails;
 * -ENOMEM; with why in err. */
int report_baselines_finish(struct report_baselines *rb, const struct report_source *src,
                            double time, json_t *rep, char *err, size_t err_size);

#endif
