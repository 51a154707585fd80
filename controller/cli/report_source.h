/* report_source: where the health report's instant vectors come from outside the engine
 * (engine/report.h's struct report_source): the Prometheus client. */
#ifndef HOMEOSTAT_CONTROLLER_REPORT_SOURCE_H
#define HOMEOSTAT_CONTROLLER_REPORT_SOURCE_H

#include <stddef.h>

#include "report.h"

/* struct report_source's query over a Prometheus client: ctx is a struct promql_client.
 * The report command and GET /api/v1/report both query through it. */
void report_source_promql(void *ctx, const char *const *queries, size_t n, double time,
                          struct report_answer *answers);

#endif
