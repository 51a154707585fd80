/* report_cli: `homeostat-controller report`, the health report's command-line front-end
 * (flags, --output, --output-dir and --keep; docs/REPORT.md). */
#ifndef HOMEOSTAT_CONTROLLER_REPORT_CLI_H
#define HOMEOSTAT_CONTROLLER_REPORT_CLI_H

#include <stddef.h>

#include "report.h"

/* `homeostat-controller report [FLAGS]`: argv[0] is "report". Returns the exit status: 0
 * when the report was built (and written), 1 when the rules do not load, Prometheus
 * cannot be reached or the output cannot be written, 2 for a bad flag. */
int report_cli(int argc, char **argv);

/* The report's source of instant vectors (struct report_source's query) over a Prometheus
 * client: ctx is a struct promql_client. The report command and GET /api/v1/report both
 * query through it. */
void report_cli_query(void *ctx, const char *const *queries, size_t n, double time,
                      struct report_answer *answers);

#endif
