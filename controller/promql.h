/* promql: the Prometheus HTTP API client (libcurl multi + jansson). Sends
 * POST /api/v1/query with form-encoded query and time, concurrently, one request
 * per distinct query, each with its own timeout, and turns every reply into one
 * number or a reason why there is none. Works against any Prometheus-compatible
 * API (Thanos, Mimir with X-Scope-OrgID, VictoriaMetrics). */
#ifndef HOMEOSTAT_CONTROLLER_PROMQL_H
#define HOMEOSTAT_CONTROLLER_PROMQL_H

#include <stddef.h>
#include <stdint.h>

#include "rules.h"

#define PROMQL_MAX_REPLY_BYTES (4u << 20)

enum promql_error {
    PROMQL_OK,
    PROMQL_ERR_TIMEOUT,   /* "timeout" */
    PROMQL_ERR_CONNECT,   /* "connect": refused, DNS, TLS */
    PROMQL_ERR_HTTP,      /* "http": a status other than 200 (with status and body) */
    PROMQL_ERR_PARSE,     /* "bad_response": not JSON, truncated, unexpected shape */
    PROMQL_ERR_QUERY,     /* "query": status "error" with errorType/error */
    PROMQL_ERR_EMPTY,     /* "empty": no series */
    PROMQL_ERR_MULTIPLE,  /* "multiple_series" */
    PROMQL_ERR_NAN,       /* "nan": NaN or not a number */
    PROMQL_ERR_TOO_LARGE, /* "too_large": reply over PROMQL_MAX_REPLY_BYTES */
    PROMQL_ERR_MAX,
};

/* The errorType-like label value of an error ("timeout", ...). */
const char *promql_error_name(enum promql_error e);

struct promql_result {
    enum promql_error error;
    double value;       /* when PROMQL_OK (may be +Inf/-Inf) */
    double sample_time; /* the sample's timestamp, epoch seconds */
    long http_status;   /* 0 when no HTTP reply */
    char detail[256];   /* readable: "bad_data: 1:5: parse error: ...", "HTTP 503: ..." */
    char warnings[256]; /* the reply's warnings joined, "" when none */
    double duration_seconds;
};

struct promql_client;

/* Creates a client for cfg (borrowed for the call: copied). Reads the bearer token
 * and password files now (errors name the file). 0 and *ret, or -errno. */
int promql_client_new(const struct prometheus_cfg *cfg, struct promql_client **ret,
                      struct buf *errors);
void promql_client_free(struct promql_client *c); /* accepts NULL */

/* Runs queries[0..n) at evaluation time `time` (epoch seconds) concurrently; equal
 * query strings are sent once and share the result. Fills results[0..n). Returns
 * when every query has answered or hit its timeout. */
void promql_query_many(struct promql_client *c, const char *const *queries, size_t n, double time,
                       struct promql_result *results);

/* Parses one reply body (exposed for tests and the fuzzer). */
void promql_parse_reply(const char *body, size_t len, long http_status, struct promql_result *out);

#endif
