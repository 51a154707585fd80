/* mset: a metric set, the neutral form of one collection: families (name, type,
 * help) each with samples (suffix, label pairs, value). Collectors fill one at
 * scrape time, the registry snapshots into one, and expo renders a list of them in
 * text or OpenMetrics format. Strings are copied into the set's arena; nothing
 * passed in is kept. A set is not thread-safe: one writer at a time. */
#ifndef HOMEOSTAT_MSET_H
#define HOMEOSTAT_MSET_H

#include <stddef.h>
#include <stdint.h>

enum metric_type {
    METRIC_COUNTER, /* family name must end in _total */
    METRIC_GAUGE,
    METRIC_HISTOGRAM, /* samples _bucket (with le), _sum, _count */
    METRIC_UNTYPED,
    METRIC_INFO, /* family name must end in _info; rendered as a gauge of 1 in 0.0.4 */
    METRIC_COUNTER_UNSUFFIXED, /* a counter named without _total, as client_golang exposes
                                * statsd_exporter's: the name as it is in 0.0.4, with
                                * _total appended to the samples in OpenMetrics */
};

enum mset_suffix {
    MSET_SUFFIX_NONE,
    MSET_SUFFIX_BUCKET,
    MSET_SUFFIX_SUM,
    MSET_SUFFIX_COUNT,
};

struct mset_sample {
    enum mset_suffix suffix;
    unsigned n_labels;
    const char **labels; /* 2 * n_labels: name, value, name, value ... (arena) */
    double value;
};

struct mset_family {
    const char *name; /* arena */
    const char *help; /* arena */
    enum metric_type type;
    struct mset_sample *samples;
    size_t n_samples, cap_samples;
};

struct mset {
    struct mset_family *families;
    size_t n_families, cap_families;
    size_t cur; /* index of the family samples go to, or SIZE_MAX */
    struct mset_chunk *arena;
    size_t max_samples; /* 0: unlimited; past it mset_add returns -E2BIG */
    size_t n_samples_total;
    size_t *index;    /* open addressing: family index + 1, 0 = empty */
    size_t index_cap; /* a power of two, at least twice n_families */
};

/* Returns a new empty set (caller frees with mset_free), NULL on ENOMEM. */
struct mset *mset_new(void);
void mset_free(struct mset *s); /* accepts NULL */
/* Empties the set, keeping its first arena chunk for reuse. */
void mset_clear(struct mset *s);

/* Selects the family name for the following samples, creating it with type and
 * help. Selecting an existing family of another type is -EEXIST; a name that is
 * not a valid metric name is -EINVAL, as is a counter not ending in _total. */
int mset_family(struct mset *s, const char *name, enum metric_type type, const char *help);
/* Adds a sample to the selected family. labels: NULL, or a NULL-terminated array of
 * name, value, name, value ... Label names are checked, and values must be
 * well-formed UTF-8 (-EINVAL otherwise; escaped on output). -ENOENT when no family is
 * selected. */
int mset_add(struct mset *s, enum mset_suffix suffix, const char *const *labels, double value);
/* Convenience: mset_addl(s, value, "cpu", "0", "mode", "idle", NULL). */
int mset_addl(struct mset *s, double value, ...);
/* Adds the samples of one histogram to the selected histogram family: labels as for
 * mset_add (without le); bounds[n_bounds] upper bounds ascending (without +Inf);
 * counts[n_bounds + 1] non-cumulative counts, the last being above the last bound.
 * Emits cumulative _bucket samples, +Inf equal to _count, then _sum and _count. */
int mset_histogram(struct mset *s, const char *const *labels, const double *bounds,
                   const uint64_t *counts, size_t n_bounds, double sum);
/* Copies a string into the set's arena (lives as long as the set). NULL on ENOMEM. */
const char *mset_strdup(struct mset *s, const char *str);

/* Formats a sample value the way Prometheus reads it: integers without exponent,
 * others in the shortest form that reads back exactly, NaN, +Inf, -Inf. Returns the
 * length (as snprintf). */
int metric_format_value(char *out, size_t outsz, double v);

/* Metric and label name rules of the Prometheus data model. */
int metric_name_valid(const char *name);
int label_name_valid(const char *name);
/* Well-formed UTF-8 (what mset_add requires of label values). */
int label_value_valid(const char *value);
/* The naming rules `promtool check metrics` enforces (client_golang's promlint):
 * returns NULL when name is clean for a family of this type, else the problem in
 * promtool's words (a static string). Names we generate from outside input are
 * checked with it so /metrics always passes promtool. */
const char *metric_name_lint(const char *name, enum metric_type type);
/* Same for a label name of a family of this type (camelCase, "le", "quantile"). */
const char *label_name_lint(const char *label, enum metric_type type);

#endif
