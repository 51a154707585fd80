/* ingest_store: the live application series fed by StatsD and pushes. Bounded by
 * --ingest.max-series: past it new series are dropped and counted while existing
 * ones keep updating. A name, type or label-set collision drops the conflicting
 * event and never reaches /metrics. Idle series expire after their mapping's ttl.
 * A cache keyed on the raw input (name, type, tags) makes the common case one hash
 * lookup and one update. Callers lock around batches; collect locks itself. */
#ifndef HOMEOSTAT_EXPORTER_INGEST_STORE_H
#define HOMEOSTAT_EXPORTER_INGEST_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ingest.h"
#include "mapping.h"
#include "mset.h"

struct ingest_store;

/* Creates a store of at most max_series series (> 0) using mapping (takes
 * ownership). Returns 0 and *ret, or -errno (the mapping is freed on failure). */
int ingest_store_new(size_t max_series, struct mapping *mapping, struct ingest_store **ret);
void ingest_store_free(struct ingest_store *s); /* accepts NULL */

/* Replaces the mapping (takes ownership, frees the old one) and forgets the lookup
 * cache; live series stay. Locks itself. */
void ingest_store_set_mapping(struct ingest_store *s, struct mapping *m);

void ingest_store_lock(struct ingest_store *s);
void ingest_store_unlock(struct ingest_store *s);

/* Applies one event with the store locked. Returns INGEST_OK or why it was dropped
 * (counted in homeostat_ingest_dropped_total{reason} by the store itself). */
enum ingest_reason ingest_store_apply_locked(struct ingest_store *s, const struct statsd_event *ev,
                                             uint64_t now_usec);
/* Adds per-reason line counts (INGEST_REASON_MAX entries) of one protocol. Locked. */
void ingest_store_count_lines_locked(struct ingest_store *s, enum ingest_protocol p,
                                     const uint64_t *counts);
/* Adds per-field counts (STATSD_FIELD_MAX entries) of DogStatsD fields read and not used
 * or not known. Locked. */
void ingest_store_count_fields_locked(struct ingest_store *s, const uint64_t *fields);
/* Counts datagrams received, dropped by the kernel before we read them, and cut
 * because they were larger than the read buffer. Locked. */
void ingest_store_count_packets_locked(struct ingest_store *s, enum ingest_protocol p,
                                       uint64_t packets, uint64_t kernel_drops, uint64_t truncated);

/* Expires idle series, then appends every series and the ingest self metrics
 * (homeostat_ingest_*) to out. Locks itself. Returns 0 or -ENOMEM/-E2BIG. */
int ingest_store_collect(struct ingest_store *s, struct mset *out, uint64_t now_usec);
/* Live series count. Locks itself. */
size_t ingest_store_series(struct ingest_store *s);

#endif
