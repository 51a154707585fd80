/* mapping: the StatsD mapping configuration (--statsd.mapping-config), YAML in the
 * spirit of statsd_exporter's: glob matches on dotted names with captures ($1..$9)
 * into the metric name and labels, per-mapping histogram buckets, action: drop,
 * ttl, help, and type: state for one-hot state gauges. A built-in default mapping
 * gives the application conventions (app_request_duration_seconds,
 * app_requests_total{result}, app_cache_requests_total{cache,result},
 * app_cache_entries{cache}, app_breaker_state{breaker,state},
 * app_breaker_transitions_total{breaker,from,to}) without any file. */
#ifndef HOMEOSTAT_EXPORTER_MAPPING_H
#define HOMEOSTAT_EXPORTER_MAPPING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "ingest.h"
#include "naming.h"

struct mapping;

#define MAPPING_MAX_FILE_BYTES (1u << 20)

/* Loads and validates a mapping file in full; naming is the naming of unmapped names
 * unless the file's defaults.naming sets another. On success returns 0 and *ret (caller
 * frees with mapping_free). On failure returns -EINVAL (or -errno for I/O) and appends
 * every error found to errors, one per line, as "FILE:LINE:COL: message". The
 * built-in conventions are appended after the file's own mappings unless the file
 * sets "defaults: {conventions: false}". */
int mapping_load_file(const char *path, enum naming_mode naming, struct mapping **ret,
                      struct buf *errors);
/* Same, from a string (name is used in error positions). */
int mapping_load_string(const char *yaml, size_t len, const char *name, enum naming_mode naming,
                        struct mapping **ret, struct buf *errors);
/* The built-in default mapping (conventions only). */
int mapping_default(enum naming_mode naming, struct mapping **ret);
void mapping_free(struct mapping *m); /* accepts NULL */
/* Mappings the file itself holds (the conventions not counted). */
size_t mapping_count(const struct mapping *m);
/* Whether the built-in conventions follow the file's mappings. */
bool mapping_conventions(const struct mapping *m);
/* The naming of names no mapping sets: the file's defaults.naming, else the naming the
 * load was given (--statsd.naming). */
enum naming_mode mapping_naming(const struct mapping *m);
/* homeostat-exporter --check-config: loads path and prints "PATH: OK (N mappings)", or
 * every error followed by "PATH: FAILED (N errors)", to out. Returns 0 when valid, 1
 * otherwise. */
int mapping_check_file(const char *path, enum naming_mode naming, FILE *out);

/* Maps one StatsD name of the given type. Fills *out; returns 0, or a negative
 * INGEST reason as -reason: -INGEST_BAD_NAME when no valid metric name can be made.
 * Names no mapping names are made by the mapping's naming (naming_metric: words,
 * suffixes and, in prometheus mode, the unit label); captured text in a mapping's
 * name is escaped by it too. Thread-safe (the mapping is immutable).
 * A match with action: drop returns 0 with out->drop set (nothing else filled but
 * matched). Further negative reasons: -INGEST_BAD_TYPE when the matching mapping's
 * type does not take this StatsD type (type: state takes absolute gauges only),
 * -INGEST_SET_UNSUPPORTED for sets, -INGEST_BAD_NAME also when a captured label value
 * is longer than INGEST_MAX_LABEL_VALUE or not UTF-8, -INGEST_TOO_MANY_LABELS when the
 * unit label does not fit. The pointers in *out are borrowed from m. */
int mapping_apply(const struct mapping *m, const char *name, size_t name_len, enum statsd_type type,
                  struct mapping_result *out);

/* The default histogram buckets (seconds): .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10. */
extern const double mapping_default_buckets[];
extern const size_t mapping_default_bucket_count;

#endif
