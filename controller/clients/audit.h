/* audit: the append-only JSON-lines audit log of decisions. Each record is written
 * with one write(2) and fsync(2) before the call returns, so a record that was
 * reported written survives a crash; a truncated last line left by a crash is cut
 * off (and reported) when the log is opened. A bounded in-memory history of the
 * most recent records serves the API. */
#ifndef HOMEOSTAT_CONTROLLER_AUDIT_H
#define HOMEOSTAT_CONTROLLER_AUDIT_H

#include <jansson.h>
#include <stddef.h>

struct audit;

#define AUDIT_MAX_RECORD_BYTES (256u << 10)

/* Opens (creating, mode 0640) the log at path and recovers it: a last line without
 * a newline is truncated away and *ret_dropped_bytes says how much. The last
 * history_size records that parse are loaded into the history. 0 and *ret, or
 * -errno. */
int audit_open(const char *path, size_t history_size, struct audit **ret,
               size_t *ret_dropped_bytes);
void audit_close(struct audit *a); /* accepts NULL */

/* Appends record (borrowed; serialised compactly on one line) and fsyncs. On
 * failure (ENOSPC, EIO) nothing is added to the history and -errno is returned;
 * the caller must not act on a decision it could not record. */
int audit_append(struct audit *a, json_t *record);
/* The same without the fsync, for many records at once (one evaluation's decisions): the
 * caller calls audit_sync before acting on any of them, and acts on none if it fails. An
 * audit_append in between syncs them too. */
int audit_append_nosync(struct audit *a, json_t *record);
/* fsyncs what audit_append_nosync wrote: 0 (also when there was nothing), or -errno. */
int audit_sync(struct audit *a);

/* The newest records, newest first, at most limit (new reference: a JSON array). */
json_t *audit_recent(struct audit *a, size_t limit);
/* Records written since open (not counting those recovered). */
unsigned long long audit_written(const struct audit *a);
/* The path given to audit_open (borrowed, valid until audit_close), for error messages. */
const char *audit_path(const struct audit *a);

#endif
