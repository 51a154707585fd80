/* statsd: the StatsD and DogStatsD line parser. Zero-copy: events point into the
 * caller's buffer. Grammar (DogStatsD protocol 1.6):
 * name:value[:value...]|type[|@rate][|#tag:v,...][|c:container][|T<unix seconds>]
 * [|e:external data][|card:cardinality], the optional fields in any order, where type
 * is c, g (a leading + or - makes it relative), ms, h, d or s (sets, refused); the
 * fields c:, T, e: and card: are read and not used, any other non-empty field is
 * skipped; both are counted per field. DogStatsD events (_e{..}) and service checks
 * (_sc|..) are checked and counted, not turned into metrics. */
#ifndef HOMEOSTAT_EXPORTER_STATSD_H
#define HOMEOSTAT_EXPORTER_STATSD_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"

/* Values in one line past this are rejected as too long. */
#define STATSD_MAX_VALUES 64

/* Receives each value of an accepted line; ev and its strings are borrowed for the
 * duration of the call. */
typedef void (*statsd_event_fn)(void *userdata, const struct statsd_event *ev);

/* Parses one line (no newline; a trailing '\r' is ignored). A line is accepted or
 * rejected whole: on success calls fn once per value, adds one to
 * fields_ignored[field] (STATSD_FIELD_MAX entries; NULL: not counted) per field read
 * and not used, and returns INGEST_OK; a valid event or service check returns
 * INGEST_EVENT or INGEST_SERVICE_CHECK and calls nothing; otherwise returns the
 * reason and calls nothing. */
enum ingest_reason statsd_parse_line(const char *line, size_t len, statsd_event_fn fn,
                                     void *userdata, uint64_t *fields_ignored);

/* Splits buf into lines ('\n'), parses each, and adds one to counts[reason] per
 * non-empty line (counts has INGEST_REASON_MAX entries). Lines longer than
 * INGEST_MAX_LINE are rejected as INGEST_TOO_LONG. */
void statsd_parse_buffer(const char *buf, size_t len, statsd_event_fn fn, void *userdata,
                         uint64_t *counts, uint64_t *fields_ignored);

/* Parses a StatsD number: [+-]digits[.digits][e[+-]digits]; finite only. */
int statsd_parse_number(const char *s, size_t len, double *ret);

#endif
