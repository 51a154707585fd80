/* registry: long-lived metrics owned by a daemon (self metrics, sampled
 * histograms, controller state). Families and series are created under a mutex;
 * updating a series through its handle (metric_add, metric_set, metric_observe) is
 * lock-free atomics, cheap enough for a sampler running every few milliseconds.
 * registry_collect() snapshots everything into an mset for exposition. */
#ifndef HOMEOSTAT_REGISTRY_H
#define HOMEOSTAT_REGISTRY_H

#include <stddef.h>

#include "mset.h"

struct registry;
struct rfamily;
struct metric;

#define REGISTRY_MAX_LABELS 8
#define REGISTRY_MAX_BUCKETS 64

/* Returns a new empty registry (caller frees), NULL on ENOMEM. */
struct registry *registry_new(void);
/* Frees the registry, its families and series; all handles become invalid. NULL ok. */
void registry_free(struct registry *r);

/* Declares a family. label_names: NULL or NULL-terminated (copied, at most
 * REGISTRY_MAX_LABELS). buckets: upper bounds ascending, without +Inf, for
 * histograms only (copied; at most REGISTRY_MAX_BUCKETS). Declaring an existing name
 * again with the same type returns the existing family. Returns a handle borrowed
 * from the registry (valid until registry_free) or NULL with errno set (EINVAL for
 * bad names, buckets or type clashes, ENOMEM). */
struct rfamily *registry_family(struct registry *r, const char *name, enum metric_type type,
                                const char *help, const char *const *label_names,
                                const double *buckets, size_t n_buckets);

/* Returns the series with these label values (one per label name of the family,
 * copied), creating it at zero. Borrowed handle valid until registry_free. NULL with
 * errno on ENOMEM, or EINVAL for a wrong number of values or a value that is not
 * well-formed UTF-8. */
struct metric *registry_series(struct rfamily *f, const char *const *label_values);
/* Convenience for a family without labels. */
struct metric *registry_metric(struct registry *r, const char *name, enum metric_type type,
                               const char *help);
/* Removes every series of the family (for gauges whose label sets come and go). */
void rfamily_reset(struct rfamily *f);

void metric_add(struct metric *m, double v);     /* counters (v >= 0) and gauges */
void metric_set(struct metric *m, double v);     /* gauges */
void metric_observe(struct metric *m, double v); /* histograms; NaN is ignored */
double metric_value(const struct metric *m);     /* counter or gauge value */
/* Histogram snapshot: count (all buckets) and sum. */
void metric_histogram_totals(const struct metric *m, unsigned long long *ret_count,
                             double *ret_sum);

/* Appends every family and series to out. Histogram +Inf equals _count by
 * construction (both are sums of the same bucket counts). */
int registry_collect(struct registry *r, struct mset *out);

#endif
