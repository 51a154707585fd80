/* naming: the one rule that turns StatsD names and DogStatsD tag keys into Prometheus
 * metric and label names (docs/INGEST.md, "How a StatsD name becomes a metric"). Two
 * modes: "prometheus" (the default: words split at separators and case changes,
 * lower-cased, joined by '_', with documented renames that keep /metrics free of
 * promtool lint findings) and "statsd_exporter" (exactly statsd_exporter's
 * EscapeMetricName, no suffixes, for users who migrate dashboards). A name is refused
 * only when no valid name can be made from it. Pure functions, thread-safe. */
#ifndef HOMEOSTAT_EXPORTER_NAMING_H
#define HOMEOSTAT_EXPORTER_NAMING_H

#include <stdbool.h>
#include <stddef.h>

#include "ingest.h"

enum naming_mode {
    NAMING_PROMETHEUS,      /* "prometheus" */
    NAMING_STATSD_EXPORTER, /* "statsd_exporter" */
};

/* Label values are at most this long; the unit label's name. */
#define NAMING_UNIT_MAX 63
#define NAMING_UNIT_LABEL "unit"
#define NAMING_LABEL_MAX 63

/* "prometheus" or "statsd_exporter" -> *ret; -EINVAL (ret untouched) otherwise. */
int naming_mode_parse(const char *s, enum naming_mode *ret);
const char *naming_mode_name(enum naming_mode m);

/* Appends the escaped form of s[n] (text captured by a mapping's glob) to out, which
 * holds *o bytes and at most max (a NUL follows). prometheus: words joined by '_',
 * lower-cased; statsd_exporter: its escaping. Returns false, out unchanged past
 * *o, when the result would not fit. */
bool naming_append(enum naming_mode mode, const char *s, size_t n, char *out, size_t *o,
                   size_t max);

/* The metric name of an event whose name no mapping names: name[n] of StatsD type t,
 * becoming a metric of kind k. Writes the name to out (INGEST_MAX_NAME + 1 bytes) and,
 * in prometheus mode, the unit words moved out of the name to unit (NAMING_UNIT_MAX + 1
 * bytes, "" when none). Suffixes: prometheus appends "_total" to counters and
 * "_seconds" to timers; statsd_exporter appends nothing. Returns 0, or
 * -INGEST_BAD_NAME when no valid name can be made (no letter or digit at all, or
 * longer than INGEST_MAX_NAME). */
int naming_metric(enum naming_mode mode, const char *name, size_t n, enum statsd_type t,
                  enum ingest_kind k, char *out, char *unit);

/* The label name of a DogStatsD tag key key[n], into out (NAMING_LABEL_MAX + 1 bytes).
 * Returns 0, or -INGEST_BAD_TAGS when none can be made (empty after escaping, or
 * longer than NAMING_LABEL_MAX). A name starting with "__" (reserved by Prometheus)
 * gets 'x' for its first '_'. */
int naming_label(enum naming_mode mode, const char *key, size_t n, char *out);

#endif
