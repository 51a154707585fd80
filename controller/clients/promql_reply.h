/* promql_reply: what promql.c (the client) and promql_reply.c (the parsing of Prometheus'
 * replies, instant, range and series) share. Private to them. */
#ifndef HOMEOSTAT_CONTROLLER_PROMQL_REPLY_H
#define HOMEOSTAT_CONTROLLER_PROMQL_REPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "promql.h"

#define SNIPPET_MAX_CHARS 100

/* The words of an unknown value, shared by instant replies and the points of a range. */
#define MSG_EMPTY "empty result"
#define MSG_MULTIPLE "%zu series (use sum or max)"
#define MSG_NAN "NaN"
#define MSG_HISTOGRAM "native histogram: use histogram_quantile, histogram_count or histogram_sum"

/* Fills out with error e and its detail (printf-style, made readable UTF-8). */
void promql_set_result(struct promql_result *out, enum promql_error e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The reply's warnings, joined with "; ", as readable text into out->warnings. */
void promql_set_warnings(struct promql_result *out, const char *text, size_t len);

#endif
