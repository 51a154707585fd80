/* report_source: the health report's instant vectors over the Prometheus client
 * (report_source_promql), for the report command and GET /api/v1/report: each query's
 * "result" vector, or its failure as the report shows it. */
#include "report_source.h"

#include <stdlib.h>
#include <string.h>

#include "promql.h"

void report_source_promql(void *ctx, const char *const *queries, size_t n, double time,
                          struct report_answer *answers)
{
    struct promql_result *results = calloc(n ? n : 1, sizeof(*results));
    json_t **series = calloc(n ? n : 1, sizeof(*series));
    if (results && series)
        promql_query_series(ctx, queries, n, time, results, series);
    for (size_t i = 0; i < n; i++) {
        struct report_answer *a = &answers[i];
        memset(a, 0, sizeof(*a));
        if (!results || !series) {
            a->error = "out_of_memory";
            continue;
        }
        enum promql_error e = results[i].error;
        a->series = series[i];
        a->error = promql_error_name(e);
        snprintf(a->detail, sizeof(a->detail), "%s", results[i].detail);
        snprintf(a->warnings, sizeof(a->warnings), "%s", results[i].warnings);
        a->unreachable = e == PROMQL_ERR_CONNECT || e == PROMQL_ERR_TIMEOUT || e == PROMQL_ERR_HTTP;
    }
    free(series);
    free(results);
}
