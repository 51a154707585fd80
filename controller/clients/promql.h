/* promql: the Prometheus HTTP API client (libcurl multi + jansson). Sends
 * POST /api/v1/query with form-encoded query and time, concurrently, one request
 * per distinct query, each with its own timeout, and turns every reply into one
 * number or a reason why there is none; for the backtest, POST /api/v1/query_range in
 * chunks, each point turned into what an instant query would have given. Works against any
 * Prometheus-compatible API (Thanos, Mimir with X-Scope-OrgID, VictoriaMetrics). */
#ifndef HOMEOSTAT_CONTROLLER_PROMQL_H
#define HOMEOSTAT_CONTROLLER_PROMQL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "httpclient.h"
#include "ivec.h"

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

/* Where and how to query: the rules file's prometheus section (docs/RULES.md), or the
 * flags of a tool: a struct http_client_config (common/httpclient.h); the timeout is per
 * query, 2s by default. */

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
int promql_client_new(const struct http_client_config *cfg, struct promql_client **ret,
                      struct buf *errors);
void promql_client_free(struct promql_client *c); /* accepts NULL */

/* Runs queries[0..n) at evaluation time `time` (epoch seconds) concurrently; equal
 * query strings are sent once and share the result. Fills results[0..n). Returns
 * when every query has answered or hit its timeout. */
void promql_query_many(struct promql_client *c, const char *const *queries, size_t n, double time,
                       struct promql_result *results);

/* Parses one reply body (exposed for tests and the fuzzer). */
void promql_parse_reply(const char *body, size_t len, long http_status, struct promql_result *out);

/* ---- instant vectors (the health report) ----
 * As promql_query_many, and each reply's whole result as well: series[i] gets the
 * "result" array of an instant vector as Prometheus sent it ([{"metric": {...}, "value":
 * [ts, "v"]}, ...]; a scalar becomes one series without labels), a new reference the
 * caller frees, whenever Prometheus answered with a vector or a scalar, whatever
 * results[i] says of it as one number (PROMQL_ERR_EMPTY, _MULTIPLE...); NULL otherwise,
 * with results[i] saying why. Equal queries share one reply. */
void promql_query_series(struct promql_client *c, const char *const *queries, size_t n, double time,
                         struct promql_result *results, json_t **series);
/* A client used outside the daemon's main loop (the API's reports) must not pet the
 * systemd watchdog while it waits, or it would hide a stuck main loop. */
void promql_client_no_watchdog(struct promql_client *c);
/* The same as promql_parse_reply for one reply body, with its series (exposed for tests). */
void promql_parse_series(const char *body, size_t len, long http_status, struct promql_result *out,
                         json_t **ret);

/* ---- instant vectors, compact (a rules file with targets) ----
 * As promql_query_many, and each reply's series read straight into vectors[i] (ivec_init'ed
 * by the caller, reused from one call to the next) keeping only the labels keep[0..n_keep)
 * (keep NULL: all): have[i] is true whenever Prometheus answered with a vector or a
 * scalar (a scalar is one series without labels), whatever results[i] says of it as one
 * number; false with results[i] saying why. No JSON tree is built (promql_vector.c). */
void promql_query_vectors(struct promql_client *c, const char *const *queries, size_t n,
                          double time, const char *const *keep, size_t n_keep,
                          struct promql_result *results, struct ivec *vectors, bool *have);
/* The same for one reply body (exposed for tests and the fuzzer): true with the vector
 * in *vec, or false (vec empty) with out saying why. What it cannot read itself goes
 * through promql_parse_reply, so every error reads the same; two things it refuses that
 * jansson would take: a kept label twice in one series ("a series with one label
 * twice") and a NUL byte in the reply ("a NUL byte in the reply"). */
bool promql_parse_vector(const char *body, size_t len, long http_status, const char *const *keep,
                         size_t n_keep, struct promql_result *out, struct ivec *vec);

/* ---- range queries (the backtest) ----
 * POST /api/v1/query_range with start, end and step. Prometheus evaluates the query at
 * start, start + step, ... as an instant query at each of those times would (the same
 * 5m lookback and staleness), so point k of a range is what the daemon's instant query
 * at that time would have answered. Prometheus refuses more than 11,000 points per
 * series ((end - start) / step > 11000), so a range is fetched in chunks of at most
 * PROMQL_RANGE_MAX_POINTS points; chunk i holds the points [i * MAX, (i + 1) * MAX) and
 * the next one starts one step after its end, so no point is asked for twice. */

#define PROMQL_RANGE_MAX_POINTS 11000

/* One query's values at start_ms + k * step_ms for k in [0, n). Per point, error is what
 * an instant query would have reported: PROMQL_OK (value), PROMQL_ERR_EMPTY (no series),
 * PROMQL_ERR_MULTIPLE (value = the number of series), PROMQL_ERR_NAN, or
 * PROMQL_ERR_PARSE (a native histogram sample). */
struct promql_range {
    int64_t start_ms, step_ms;
    size_t n;
    double *value;
    uint8_t *error; /* enum promql_error */
    /* Set to an empty JSON array by the caller to keep the series themselves: every
     * chunk's series ({"metric": {...}, "values": [[t, "v"], ...]}) are appended to it
     * (a series spanning chunks appears once per chunk). NULL: only the points above.
     * Owned: promql_range_free releases it. */
    json_t *matrix;
};

/* Allocates n points, all PROMQL_ERR_EMPTY (matrix NULL). 0, -EINVAL (n or step 0), or
 * -ENOMEM. */
int promql_range_init(struct promql_range *r, int64_t start_ms, int64_t step_ms, size_t n);
void promql_range_free(struct promql_range *r); /* accepts a zeroed range */
/* The reason point k is unknown, in the words of the instant query's detail ("empty
 * result", "3 series (use sum or max)", "NaN", ...). */
void promql_range_reason(const struct promql_range *r, size_t k, char *dst, size_t dstsz);

/* Chunking: the number of chunks of n points, and the points [*ret_first, *ret_first +
 * *ret_count) of chunk i (i < promql_range_chunks(n)). */
size_t promql_range_chunks(size_t n);
void promql_range_chunk(size_t n, size_t i, size_t *ret_first, size_t *ret_count);

/* Parses one query_range reply meant to hold the points [first, first + count) of r into
 * them (exposed for tests and the fuzzer). A point outside that span, off the step grid,
 * or repeated within one series is a PROMQL_ERR_PARSE of the whole reply, as are a result
 * that is not a matrix and every error of an instant reply (HTTP, JSON, status "error",
 * size). out->error is PROMQL_OK when the points were filled; otherwise the points of the
 * span are left PROMQL_ERR_EMPTY and out says why. */
void promql_parse_range_reply(const char *body, size_t len, long http_status,
                              struct promql_range *r, size_t first, size_t count,
                              struct promql_result *out);

/* Fetches query over every point of r (initialised by the caller), one chunk after the
 * other, each request with timeout_usec (0: the client's timeout) and the client's
 * headers and credentials. 0 when every chunk answered; -EIO at the first chunk that did
 * not, with its error in *ret_err and its points in *ret_first and *ret_count. */
int promql_query_range(struct promql_client *c, const char *query, struct promql_range *r,
                       uint64_t timeout_usec, struct promql_result *ret_err, size_t *ret_first,
                       size_t *ret_count);

#endif
