/* registry: long-lived, thread-safe metrics with atomic updates (see registry.h). */
#include "registry.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct metric {
    struct metric *next;
    struct rfamily *family;
    char **label_values;
    _Atomic uint64_t value_bits; /* counter/gauge value; histogram sum */
    _Atomic uint64_t *buckets;   /* histogram: n_buckets + 1 non-cumulative counts */
};

struct rfamily {
    struct rfamily *next;
    struct registry *registry;
    char *name, *help;
    enum metric_type type;
    unsigned n_labels;
    char *label_names[REGISTRY_MAX_LABELS];
    double *bounds;
    size_t n_bounds;
    struct metric *series, *series_tail;
    size_t n_series;
};

struct registry {
    pthread_mutex_t lock;
    struct rfamily *families, *tail;
};

static inline uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof(u));
    return u;
}

static inline double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof(d));
    return d;
}

static struct rfamily *registry_family_locked(struct registry *r, const char *name,
                                              enum metric_type type, const char *help,
                                              const char *const *label_names, const double *buckets,
                                              size_t n_buckets);

struct registry *registry_new(void)
{
    struct registry *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

static void metric_free(struct metric *m)
{
    if (!m)
        return;
    if (m->label_values)
        for (unsigned i = 0; i < m->family->n_labels; i++)
            free(m->label_values[i]);
    free(m->label_values);
    free(m->buckets);
    free(m);
}

static void family_free(struct rfamily *f)
{
    struct metric *m = f->series;
    while (m) {
        struct metric *n = m->next;
        metric_free(m);
        m = n;
    }
    for (unsigned i = 0; i < f->n_labels; i++)
        free(f->label_names[i]);
    free(f->name);
    free(f->help);
    free(f->bounds);
    free(f);
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    struct rfamily *f = r->families;
    while (f) {
        struct rfamily *n = f->next;
        family_free(f);
        f = n;
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
}

struct rfamily *registry_family(struct registry *r, const char *name, enum metric_type type,
                                const char *help, const char *const *label_names,
                                const double *buckets, size_t n_buckets)
{
    pthread_mutex_lock(&r->lock);
    struct rfamily *f =
        registry_family_locked(r, name, type, help, label_names, buckets, n_buckets);
    pthread_mutex_unlock(&r->lock);
    return f;
}

static struct rfamily *registry_family_locked(struct registry *r, const char *name,
                                              enum metric_type type, const char *help,
                                              const char *const *label_names, const double *buckets,
                                              size_t n_buckets)
{
    for (struct rfamily *f = r->families; f; f = f->next)
        if (strcmp(f->name, name) == 0) {
            if (f->type != type) {
                errno = EINVAL;
                return NULL;
            }
            return f;
        }
    size_t nl = 0;
    if (label_names)
        while (label_names[nl])
            if (!label_name_valid(label_names[nl++]) || nl > REGISTRY_MAX_LABELS) {
                errno = EINVAL;
                return NULL;
            }
    size_t name_len = strlen(name);
    if ((type == METRIC_COUNTER && (name_len < 7 || strcmp(name + name_len - 6, "_total"))) ||
        (type == METRIC_INFO && (name_len < 6 || strcmp(name + name_len - 5, "_info")))) {
        errno = EINVAL;
        return NULL;
    }
    if (!metric_name_valid(name) || (type == METRIC_HISTOGRAM) != (buckets != NULL) ||
        n_buckets > REGISTRY_MAX_BUCKETS) {
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 1; i < n_buckets; i++)
        if (!(buckets[i] > buckets[i - 1])) {
            errno = EINVAL;
            return NULL;
        }
    struct rfamily *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->registry = r;
    f->type = type;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    f->n_labels = (unsigned)nl;
    bool ok = f->name && f->help;
    for (size_t i = 0; i < nl && ok; i++)
        ok = (f->label_names[i] = strdup(label_names[i])) != NULL;
    if (ok && buckets) {
        f->bounds = malloc(n_buckets * sizeof(double));
        ok = f->bounds != NULL;
        if (ok)
            memcpy(f->bounds, buckets, n_buckets * sizeof(double));
        f->n_bounds = n_buckets;
    }
    if (!ok) {
        family_free(f);
        errno = ENOMEM;
        return NULL;
    }
    if (r->tail)
        r->tail->next = f;
    else
        r->families = f;
    r->tail = f;
    return f;
}

struct metric *registry_series(struct rfamily *f, const char *const *label_values)
{
    size_t nv = 0;
    if (label_values)
        while (label_values[nv])
            nv++;
    if (nv != f->n_labels) {
        errno = EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < nv; i++)
        if (!label_value_valid(label_values[i])) {
            errno = EINVAL; /* it would make the whole exposition unparsable */
            return NULL;
        }
    pthread_mutex_lock(&f->registry->lock);
    for (struct metric *m = f->series; m; m = m->next) {
        bool same = true;
        for (size_t i = 0; i < nv && same; i++)
            same = strcmp(m->label_values[i], label_values[i]) == 0;
        if (same) {
            pthread_mutex_unlock(&f->registry->lock);
            return m;
        }
    }
    struct metric *m = calloc(1, sizeof(*m));
    bool ok = m != NULL;
    if (ok) {
        m->family = f;
        if (nv) {
            m->label_values = calloc(nv, sizeof(char *));
            ok = m->label_values != NULL;
            for (size_t i = 0; i < nv && ok; i++)
                ok = (m->label_values[i] = strdup(label_values[i])) != NULL;
        }
        if (ok && f->type == METRIC_HISTOGRAM) {
            m->buckets = calloc(f->n_bounds + 1, sizeof(*m->buckets));
            ok = m->buckets != NULL;
        }
    }
    if (!ok) {
        pthread_mutex_unlock(&f->registry->lock);
        metric_free(m);
        errno = ENOMEM;
        return NULL;
    }
    atomic_init(&m->value_bits, d2u(0.0));
    if (f->series_tail)
        f->series_tail->next = m;
    else
        f->series = m;
    f->series_tail = m;
    f->n_series++;
    pthread_mutex_unlock(&f->registry->lock);
    return m;
}

struct metric *registry_metric(struct registry *r, const char *name, enum metric_type type,
                               const char *help)
{
    struct rfamily *f = registry_family(r, name, type, help, NULL, NULL, 0);
    return f ? registry_series(f, NULL) : NULL;
}

void rfamily_reset(struct rfamily *f)
{
    pthread_mutex_lock(&f->registry->lock);
    struct metric *m = f->series;
    f->series = f->series_tail = NULL;
    f->n_series = 0;
    pthread_mutex_unlock(&f->registry->lock);
    while (m) {
        struct metric *n = m->next;
        metric_free(m);
        m = n;
    }
}

static void atomic_add_double(_Atomic uint64_t *bits, double v)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old, d2u(u2d(old) + v),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

void metric_add(struct metric *m, double v)
{
    atomic_add_double(&m->value_bits, v);
}

void metric_set(struct metric *m, double v)
{
    atomic_store_explicit(&m->value_bits, d2u(v), memory_order_relaxed);
}

double metric_value(const struct metric *m)
{
    return u2d(atomic_load_explicit(&((struct metric *)m)->value_bits, memory_order_relaxed));
}

void metric_observe(struct metric *m, double v)
{
    if (isnan(v))
        return;
    const struct rfamily *f = m->family;
    /* First bucket whose upper bound is >= v (le is inclusive). */
    size_t lo = 0, hi = f->n_bounds;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= f->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&m->buckets[lo], 1, memory_order_relaxed);
    atomic_add_double(&m->value_bits, v);
}

void metric_histogram_totals(const struct metric *m, unsigned long long *ret_count, double *ret_sum)
{
    unsigned long long c = 0;
    for (size_t i = 0; i <= m->family->n_bounds; i++)
        c += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
    *ret_count = c;
    *ret_sum = metric_value(m);
}

int registry_collect(struct registry *r, struct mset *out)
{
    int ret = 0;
    pthread_mutex_lock(&r->lock);
    for (struct rfamily *f = r->families; f && ret >= 0; f = f->next) {
        if (!f->series)
            continue;
        ret = mset_family(out, f->name, f->type, f->help);
        for (struct metric *m = f->series; m && ret >= 0; m = m->next) {
            const char *labels[2 * REGISTRY_MAX_LABELS + 1];
            for (unsigned i = 0; i < f->n_labels; i++) {
                labels[2 * i] = f->label_names[i];
                labels[2 * i + 1] = m->label_values[i];
            }
            labels[2 * f->n_labels] = NULL;
            if (f->type == METRIC_HISTOGRAM) {
                uint64_t counts[REGISTRY_MAX_BUCKETS + 1];
                for (size_t i = 0; i <= f->n_bounds; i++)
                    counts[i] = atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
                ret = mset_histogram(out, labels, f->bounds, counts, f->n_bounds, metric_value(m));
            } else {
                ret = mset_add(out, MSET_SUFFIX_NONE, labels, metric_value(m));
            }
        }
    }
    pthread_mutex_unlock(&r->lock);
    return ret < 0 ? ret : 0;
}
