/* baselines_api: the signals' baselines as the daemon shows them (docs/API.md, "Baselines";
 * docs/METRICS.md): GET /api/v1/baselines, their part of GET /api/v1/status and of GET
 * /api/v1/targets/{id}, and their metrics, each read from the sketches at the time asked
 * (a quantile is that of the current seasonal slot). Lock held in every function. */
#ifndef HOMEOSTAT_CONTROLLER_BASELINES_API_H
#define HOMEOSTAT_CONTROLLER_BASELINES_API_H

#include <jansson.h>
#include <stdbool.h>

#include "controller.h"
#include "mset.h"
#include "report_baselines.h"

/* Whether the rules have a signal with a baseline section. */
bool baselines_any(const struct rules *r);

/* GET /api/v1/baselines: {"signals": [...], "memory_bytes"}, each signal with its settings
 * and, without targets, what it learned; with targets, targets_total, targets_ready and,
 * when targets is true, the first 1000 targets by key (the status leaves them out). New
 * reference (NULL when out of memory). */
json_t *baselines_json(struct controller *c, double now, bool targets);

/* What one set learned (the controller's, or a target's), one entry per signal with a
 * baseline: GET /api/v1/targets/{id}'s "baselines". New reference. */
json_t *baselines_set_view(struct controller *c, const struct baseline_set *s, double now);

/* The report's "compared with the baseline" (report_baselines.h): each learned signal of the
 * controller, or of the first REPORT_BASELINES_MAX_TARGETS targets of the table, added to rb
 * at now with its last value. 0 or -ENOMEM. */
int baselines_report(struct controller *c, struct report_baselines *rb, double now);

/* The families homeostat_controller_baseline_* (without targets) or
 * homeostat_controller_target_baseline_* (with), and _baseline_memory_bytes, added to set
 * when the rules have baselines. 0 or -errno from mset. */
int baselines_metrics(struct controller *c, struct mset *set, double now);

#endif
