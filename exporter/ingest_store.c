/* ingest_store: bounded, collision-safe application series with a raw-input
 * lookup cache (see ingest_store.h). */
#include "ingest_store.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hmap.h"
#include "mset.h"
#include "naming.h"

/* Exposition names one family owns at most (exposed_names). */
#define EXPOSED_MAX 6

struct family {
    struct hnode node; /* by name */
    struct family *next;
    char *name;
    char *help;
    enum ingest_kind kind;
    size_t n_labels;
    char **label_names; /* sorted */
    double *buckets;
    size_t n_buckets;
    uint64_t ttl_usec;
    char **states;
    size_t n_states;
    char *state_label;
    struct series *head, *tail;
    size_t n_series;
    struct reserved *reserved[EXPOSED_MAX]; /* exposition names this family owns */
    size_t n_reserved;
};

struct series {
    struct hnode node; /* by family + label values */
    struct series *prev, *next;
    struct family *family;
    uint64_t last_usec;
    double value; /* counter, gauge, state index; histogram sum */
    uint64_t count;
    uint64_t *buckets; /* histogram: n_buckets + 1, in the same allocation */
    size_t labels_len;
    char labels[]; /* label values in family order, each NUL-terminated */
};

/* Exposition names owned by a family (x, x_bucket, x_sum, x_count, ...). */
struct reserved {
    struct hnode node;
    struct family *owner;
    char name[];
};

/* Raw input -> series (or a cached drop). */
struct cache_entry {
    struct hnode node;
    struct series *series; /* NULL: drop with reason */
    enum ingest_reason reason;
    enum statsd_type type;
    uint32_t name_len, tags_len;
    char key[]; /* name, then tags */
};

struct ingest_store {
    pthread_mutex_t lock;
    struct mapping *mapping;
    size_t max_series, n_series, max_cache, cached_drops;
    uint64_t seed;
    struct hmap families, series, reserved, cache;
    struct family *fam_head, *fam_tail;
    uint64_t dropped[INGEST_REASON_MAX];
    uint64_t lines[INGEST_PROTO_MAX][INGEST_REASON_MAX];
    uint64_t fields_ignored[STATSD_FIELD_MAX];
    uint64_t packets[INGEST_PROTO_MAX], kernel_drops[INGEST_PROTO_MAX], truncated[INGEST_PROTO_MAX];
    uint64_t expired;
};

static const char default_help[] = "Application metric ingested through StatsD.";

static const char *const protocol_names[INGEST_PROTO_MAX] = {"udp", "unixgram", "http_text",
                                                             "http_json"};

/* ---- cache ---- */

static uint64_t cache_hash(const struct ingest_store *s, const struct statsd_event *ev)
{
    uint64_t h = hash_bytes(ev->name, ev->name_len, s->seed ^ (uint64_t)ev->type);
    if (ev->tags_len)
        h = hash_bytes(ev->tags, ev->tags_len, h);
    return h;
}

static struct cache_entry *cache_find(struct ingest_store *s, const struct statsd_event *ev,
                                      uint64_t h)
{
    for (struct hnode *n = hmap_chain(&s->cache, h); n; n = n->next) {
        if (n->hash != h)
            continue;
        struct cache_entry *e = (struct cache_entry *)n;
        if (e->type == ev->type && e->name_len == ev->name_len && e->tags_len == ev->tags_len &&
            memcmp(e->key, ev->name, ev->name_len) == 0 &&
            (ev->tags_len == 0 || memcmp(e->key + e->name_len, ev->tags, ev->tags_len) == 0))
            return e;
    }
    return NULL;
}

static void cache_put(struct ingest_store *s, const struct statsd_event *ev, uint64_t h,
                      struct series *series, enum ingest_reason reason)
{
    if (s->cache.n >= s->max_cache)
        return; /* full: the slow path still answers correctly */
    if (!series && s->cached_drops >= s->max_cache / 2)
        return; /* remembered drops never crowd out live series */
    struct cache_entry *e = malloc(sizeof(*e) + ev->name_len + ev->tags_len);
    if (!e)
        return;
    e->node.hash = h;
    e->series = series;
    e->reason = reason;
    e->type = ev->type;
    e->name_len = (uint32_t)ev->name_len;
    e->tags_len = (uint32_t)ev->tags_len;
    memcpy(e->key, ev->name, ev->name_len);
    if (ev->tags_len)
        memcpy(e->key + ev->name_len, ev->tags, ev->tags_len);
    hmap_insert(&s->cache, &e->node);
    if (!series)
        s->cached_drops++;
}

static void cache_flush(struct ingest_store *s)
{
    for (size_t i = 0; i <= s->cache.mask; i++) {
        struct hnode *n = s->cache.buckets[i];
        while (n) {
            struct hnode *next = n->next;
            free(n);
            n = next;
        }
    }
    hmap_clear(&s->cache);
    s->cached_drops = 0;
}

/* ---- families and reserved names ---- */

static struct reserved *reserved_find(struct ingest_store *s, const char *name)
{
    uint64_t h = hash_bytes(name, strlen(name), s->seed);
    for (struct hnode *n = hmap_chain(&s->reserved, h); n; n = n->next)
        if (n->hash == h && strcmp(((struct reserved *)n)->name, name) == 0)
            return (struct reserved *)n;
    return NULL;
}

static struct family *family_find(struct ingest_store *s, const char *name)
{
    uint64_t h = hash_bytes(name, strlen(name), s->seed);
    for (struct hnode *n = hmap_chain(&s->families, h); n; n = n->next)
        if (n->hash == h && strcmp(((struct family *)n)->name, name) == 0)
            return (struct family *)n;
    return NULL;
}

static void family_free(struct family *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_labels; i++)
        free(f->label_names[i]);
    for (size_t i = 0; i < f->n_states; i++)
        free(f->states[i]);
    for (size_t i = 0; i < f->n_reserved; i++)
        free(f->reserved[i]);
    free(f->label_names);
    free(f->states);
    free(f->state_label);
    free(f->buckets);
    free(f->name);
    if (f->help != default_help)
        free(f->help);
    free(f);
}

static bool name_has_total(const char *name)
{
    size_t len = strlen(name);
    return len > 6 && strcmp(name + len - 6, "_total") == 0;
}

/* The names a family of this kind puts into the exposition or that the OpenMetrics 1.0
 * spec reserves for it, in both formats: a counter owns its family name, <family>_total
 * and <family>_created; a histogram <name>, _bucket, _sum, _count and _created; a gauge
 * its name. Another family taking one of them would make the output unparsable. */
static size_t exposed_names(const char *name, enum ingest_kind kind, char out[EXPOSED_MAX][256])
{
    size_t n = 0, len = strlen(name);
    snprintf(out[n++], 256, "%s", name);
    if (kind == INGEST_KIND_COUNTER) {
        /* The other spelling of the family (foo_total's family foo, or foo's samples
         * foo_total), then its _created. */
        bool total = name_has_total(name);
        int fam = (int)(total ? len - 6 : len);
        if (total)
            snprintf(out[n++], 256, "%.*s", fam, name);
        else
            snprintf(out[n++], 256, "%s_total", name);
        snprintf(out[n++], 256, "%.*s_created", fam, name);
    }
    if (kind == INGEST_KIND_HISTOGRAM) {
        snprintf(out[n++], 256, "%s_bucket", name);
        snprintf(out[n++], 256, "%s_sum", name);
        snprintf(out[n++], 256, "%s_count", name);
        snprintf(out[n++], 256, "%s_created", name);
    }
    return n;
}

static bool name_reserved_for_host(const char *name)
{
    /* The exporter's own families: an application must not write into them. */
    return strncmp(name, "homeostat_", 10) == 0 || strncmp(name, "process_", 8) == 0;
}

static struct family *family_create(struct ingest_store *s, const struct mapping_result *mr,
                                    char *const *names, size_t n_labels,
                                    enum ingest_reason *ret_reason)
{
    char exposed[EXPOSED_MAX][256];
    size_t ne = exposed_names(mr->name, mr->kind, exposed);
    for (size_t i = 0; i < ne; i++)
        if (reserved_find(s, exposed[i]) || name_reserved_for_host(exposed[i])) {
            *ret_reason = INGEST_CONFLICT;
            return NULL;
        }
    /* How a name reads (promtool's lint) is never a reason to drop it: the naming
     * (naming.c) makes names that read well, or the operator's mapping chose this one. */
    struct family *f = calloc(1, sizeof(*f));
    if (!f)
        goto nomem;
    f->name = strdup(mr->name);
    f->help = mr->help ? strdup(mr->help) : (char *)default_help;
    f->kind = mr->kind;
    f->ttl_usec = mr->ttl_usec;
    f->n_labels = n_labels;
    f->label_names = calloc(n_labels ? n_labels : 1, sizeof(char *));
    if (!f->name || !f->help || !f->label_names)
        goto nomem;
    for (size_t i = 0; i < n_labels; i++)
        if (!(f->label_names[i] = strdup(names[i])))
            goto nomem;
    if (mr->kind == INGEST_KIND_HISTOGRAM) {
        f->n_buckets = mr->n_buckets;
        f->buckets = malloc((mr->n_buckets ? mr->n_buckets : 1) * sizeof(double));
        if (!f->buckets)
            goto nomem;
        memcpy(f->buckets, mr->buckets, mr->n_buckets * sizeof(double));
    }
    if (mr->kind == INGEST_KIND_STATE) {
        f->states = calloc(mr->n_states ? mr->n_states : 1, sizeof(char *));
        f->state_label = strdup(mr->state_label ? mr->state_label : "state");
        if (!f->states || !f->state_label)
            goto nomem;
        for (size_t i = 0; i < mr->n_states; i++) {
            if (!(f->states[i] = strdup(mr->states[i])))
                goto nomem;
            f->n_states++;
        }
    }
    for (size_t i = 0; i < ne; i++) {
        size_t l = strlen(exposed[i]);
        struct reserved *r = malloc(sizeof(*r) + l + 1);
        if (!r)
            goto nomem;
        memcpy(r->name, exposed[i], l + 1);
        r->owner = f;
        r->node.hash = hash_bytes(r->name, l, s->seed);
        f->reserved[f->n_reserved++] = r;
    }
    for (size_t i = 0; i < f->n_reserved; i++)
        hmap_insert(&s->reserved, &f->reserved[i]->node);
    f->node.hash = hash_bytes(f->name, strlen(f->name), s->seed);
    hmap_insert(&s->families, &f->node);
    if (s->fam_tail)
        s->fam_tail->next = f;
    else
        s->fam_head = f;
    s->fam_tail = f;
    return f;
nomem:
    family_free(f);
    *ret_reason = INGEST_SERIES_LIMIT; /* out of memory behaves like a full store */
    return NULL;
}

static void family_unlink(struct ingest_store *s, struct family *f)
{
    for (size_t i = 0; i < f->n_reserved; i++)
        hmap_remove(&s->reserved, &f->reserved[i]->node);
    hmap_remove(&s->families, &f->node);
    struct family **p = &s->fam_head, *prev = NULL;
    while (*p && *p != f) {
        prev = *p;
        p = &(*p)->next;
    }
    if (*p)
        *p = f->next;
    if (s->fam_tail == f)
        s->fam_tail = prev;
    family_free(f);
}

/* ---- series ---- */

static uint64_t series_hash(const struct ingest_store *s, const struct family *f,
                            const char *labels, size_t len)
{
    return hash_bytes(labels, len, s->seed ^ (uint64_t)(uintptr_t)f);
}

static struct series *series_find(struct ingest_store *s, struct family *f, const char *labels,
                                  size_t len, uint64_t h)
{
    for (struct hnode *n = hmap_chain(&s->series, h); n; n = n->next) {
        struct series *x = (struct series *)n;
        if (n->hash == h && x->family == f && x->labels_len == len &&
            memcmp(x->labels, labels, len) == 0)
            return x;
    }
    return NULL;
}

static struct series *series_create(struct ingest_store *s, struct family *f, const char *labels,
                                    size_t len, uint64_t h)
{
    size_t nb = f->kind == INGEST_KIND_HISTOGRAM ? f->n_buckets + 1 : 0;
    size_t labels_size = (len + 7) & ~(size_t)7;
    struct series *x = calloc(1, sizeof(*x) + labels_size + nb * sizeof(uint64_t));
    if (!x)
        return NULL;
    x->family = f;
    x->labels_len = len;
    memcpy(x->labels, labels, len);
    if (nb)
        x->buckets = (uint64_t *)(void *)(x->labels + labels_size);
    if (f->kind == INGEST_KIND_STATE)
        x->value = -1; /* no state reported yet */
    x->node.hash = h;
    hmap_insert(&s->series, &x->node);
    x->prev = f->tail;
    if (f->tail)
        f->tail->next = x;
    else
        f->head = x;
    f->tail = x;
    f->n_series++;
    s->n_series++;
    return x;
}

static void series_remove(struct ingest_store *s, struct series *x)
{
    struct family *f = x->family;
    hmap_remove(&s->series, &x->node);
    if (x->prev)
        x->prev->next = x->next;
    else
        f->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    else
        f->tail = x->prev;
    f->n_series--;
    s->n_series--;
    free(x);
}

/* ---- the slow path: map, build the label set, find or create ---- */

static enum ingest_reason resolve(struct ingest_store *s, const struct statsd_event *ev,
                                  struct series **ret)
{
    struct mapping_result mr;
    int r = mapping_apply(s->mapping, ev->name, ev->name_len, ev->type, &mr);
    if (r < 0)
        return (enum ingest_reason)(-r);
    if (mr.drop)
        return INGEST_MAPPED_DROP;
    /* Refuse a value the series could not hold before creating the series. */
    if (mr.kind == INGEST_KIND_STATE &&
        (!(ev->value >= 0) || ev->value != floor(ev->value) || ev->value >= (double)mr.n_states))
        return INGEST_BAD_VALUE;
    if (mr.kind == INGEST_KIND_COUNTER && ev->value < 0)
        return INGEST_BAD_VALUE;

    /* Label set: the mapping's labels, then DogStatsD tags whose names the mapping
     * did not set (mapping wins); valueless tags are skipped. */
    char names[INGEST_MAX_LABELS][64];
    char values[INGEST_MAX_LABELS][INGEST_MAX_LABEL_VALUE + 1];
    size_t n = 0;
    for (size_t i = 0; i < mr.n_labels; i++) {
        memcpy(names[n], mr.label_names[i], sizeof(names[n]));
        memcpy(values[n], mr.label_values[i], sizeof(values[n]));
        n++;
    }
    const char *t = ev->tags, *te = ev->tags ? ev->tags + ev->tags_len : NULL;
    while (t && t < te) {
        const char *comma = memchr(t, ev->tag_sep ? ev->tag_sep : ',', (size_t)(te - t));
        const char *tend = comma ? comma : te;
        const char *colon = memchr(t, ':', (size_t)(tend - t));
        if (colon && colon + 1 < tend) {
            char name[NAMING_LABEL_MAX + 1];
            if (naming_label(mapping_naming(s->mapping), t, (size_t)(colon - t), name) < 0)
                return INGEST_BAD_TAGS;
            /* "quantile" belongs to summaries; promtool flags it anywhere else. */
            if (mapping_naming(s->mapping) == NAMING_PROMETHEUS && strcmp(name, "quantile") == 0)
                return INGEST_BAD_TAGS;
            size_t vl = (size_t)(tend - colon - 1);
            if (vl > INGEST_MAX_LABEL_VALUE)
                return INGEST_BAD_TAGS;
            bool dup = false;
            for (size_t i = 0; i < n && !dup; i++)
                dup = strcmp(names[i], name) == 0;
            if (!dup) {
                if (strcmp(name, "le") == 0 ||
                    (mr.kind == INGEST_KIND_STATE &&
                     strcmp(name, mr.state_label ? mr.state_label : "state") == 0))
                    return INGEST_BAD_TAGS;
                if (n == INGEST_MAX_LABELS)
                    return INGEST_TOO_MANY_LABELS;
                memcpy(names[n], name, sizeof(name));
                memcpy(values[n], colon + 1, vl);
                values[n][vl] = '\0';
                n++;
            }
        }
        t = comma ? comma + 1 : te;
    }
    /* Canonical order: by label name, so tag order does not make another series. */
    size_t order[INGEST_MAX_LABELS];
    for (size_t i = 0; i < n; i++) {
        size_t k = i;
        while (k > 0 && strcmp(names[order[k - 1]], names[i]) > 0) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
    char *sorted_names[INGEST_MAX_LABELS];
    char buf[INGEST_MAX_LABELS * (INGEST_MAX_LABEL_VALUE + 1)];
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = order[i];
        if (!label_value_valid(values[k]))
            return INGEST_BAD_TAGS; /* would make the exposition unparsable */
        sorted_names[i] = names[k];
        size_t vl = strlen(values[k]);
        memcpy(buf + len, values[k], vl + 1);
        len += vl + 1;
    }

    struct family *f = family_find(s, mr.name);
    if (f) {
        bool same = f->kind == mr.kind && f->n_labels == n;
        for (size_t i = 0; same && i < n; i++)
            same = strcmp(f->label_names[i], sorted_names[i]) == 0;
        if (!same)
            return INGEST_CONFLICT;
    } else {
        if (s->n_series >= s->max_series)
            return INGEST_SERIES_LIMIT;
        enum ingest_reason why = INGEST_CONFLICT;
        f = family_create(s, &mr, sorted_names, n, &why);
        if (!f)
            return why;
    }
    uint64_t h = series_hash(s, f, buf, len);
    struct series *x = series_find(s, f, buf, len, h);
    if (!x) {
        if (s->n_series >= s->max_series) {
            if (f->n_series == 0)
                family_unlink(s, f);
            return INGEST_SERIES_LIMIT;
        }
        x = series_create(s, f, buf, len, h);
        if (!x) {
            if (f->n_series == 0)
                family_unlink(s, f);
            return INGEST_SERIES_LIMIT;
        }
    }
    *ret = x;
    return INGEST_OK;
}

/* ---- the hot path ---- */

static enum ingest_reason update(struct series *x, const struct statsd_event *ev, uint64_t now)
{
    const struct family *f = x->family;
    double v = ev->value;
    switch (f->kind) {
    case INGEST_KIND_COUNTER:
        if (v < 0)
            return INGEST_BAD_VALUE;
        x->value += v / ev->sample_rate;
        break;
    case INGEST_KIND_GAUGE:
        if (ev->type == STATSD_GAUGE_DELTA)
            x->value += v;
        else
            x->value = v;
        break;
    case INGEST_KIND_STATE:
        if (!(v >= 0) || v != floor(v) || v >= (double)f->n_states)
            return INGEST_BAD_VALUE;
        x->value = v;
        break;
    case INGEST_KIND_HISTOGRAM: {
        if (ev->type == STATSD_TIMER)
            v /= 1000.0;
        /* A sampled observation stands for 1/rate of them, as statsd_exporter does. */
        double w = floor(1.0 / ev->sample_rate + 0.5);
        uint64_t times = w < 1 ? 1 : (w > 1e6 ? 1000000 : (uint64_t)w);
        size_t lo = 0, hi = f->n_buckets;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (v <= f->buckets[mid])
                hi = mid;
            else
                lo = mid + 1;
        }
        x->buckets[lo] += times;
        x->count += times;
        x->value += v * (double)times;
        break;
    }
    }
    x->last_usec = now;
    return INGEST_OK;
}

enum ingest_reason ingest_store_apply_locked(struct ingest_store *s, const struct statsd_event *ev,
                                             uint64_t now_usec)
{
    uint64_t h = cache_hash(s, ev);
    struct cache_entry *e = cache_find(s, ev, h);
    enum ingest_reason r;
    if (e) {
        r = e->series ? update(e->series, ev, now_usec) : e->reason;
    } else {
        struct series *x = NULL;
        r = resolve(s, ev, &x);
        /* Drops that depend on the store's fill level are not remembered. */
        if (r == INGEST_OK || r == INGEST_MAPPED_DROP || r == INGEST_CONFLICT ||
            r == INGEST_BAD_NAME || r == INGEST_BAD_TAGS || r == INGEST_TOO_MANY_LABELS)
            cache_put(s, ev, h, x, r);
        if (r == INGEST_OK)
            r = update(x, ev, now_usec);
    }
    if (r != INGEST_OK)
        s->dropped[r]++;
    return r;
}

/* ---- lifecycle, counting, collection ---- */

int ingest_store_new(size_t max_series, struct mapping *mapping, struct ingest_store **ret)
{
    struct ingest_store *s = calloc(1, sizeof(*s));
    if (!s || max_series == 0) {
        free(s);
        mapping_free(mapping);
        return max_series == 0 ? -EINVAL : -ENOMEM;
    }
    s->mapping = mapping;
    s->max_series = max_series;
    s->max_cache = 2 * max_series + 4096;
    s->seed = hash_random_seed();
    if (hmap_init(&s->families, 64) < 0 || hmap_init(&s->series, 1024) < 0 ||
        hmap_init(&s->reserved, 256) < 0 || hmap_init(&s->cache, 1024) < 0) {
        ingest_store_free(s);
        return -ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    *ret = s;
    return 0;
}

void ingest_store_free(struct ingest_store *s)
{
    if (!s)
        return;
    if (s->cache.buckets)
        cache_flush(s);
    struct family *f = s->fam_head;
    while (f) {
        struct family *next = f->next;
        struct series *x = f->head;
        while (x) {
            struct series *xn = x->next;
            free(x);
            x = xn;
        }
        family_free(f);
        f = next;
    }
    hmap_destroy(&s->families);
    hmap_destroy(&s->series);
    hmap_destroy(&s->reserved);
    hmap_destroy(&s->cache);
    mapping_free(s->mapping);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void ingest_store_set_mapping(struct ingest_store *s, struct mapping *m)
{
    pthread_mutex_lock(&s->lock);
    struct mapping *old = s->mapping;
    s->mapping = m;
    cache_flush(s);
    pthread_mutex_unlock(&s->lock);
    mapping_free(old);
}

void ingest_store_lock(struct ingest_store *s)
{
    pthread_mutex_lock(&s->lock);
}

void ingest_store_unlock(struct ingest_store *s)
{
    pthread_mutex_unlock(&s->lock);
}

void ingest_store_count_lines_locked(struct ingest_store *s, enum ingest_protocol p,
                                     const uint64_t *counts)
{
    for (int r = 0; r < INGEST_REASON_MAX; r++)
        s->lines[p][r] += counts[r];
}

void ingest_store_count_fields_locked(struct ingest_store *s, const uint64_t *fields)
{
    for (int f = 0; f < STATSD_FIELD_MAX; f++)
        s->fields_ignored[f] += fields[f];
}

void ingest_store_count_packets_locked(struct ingest_store *s, enum ingest_protocol p,
                                       uint64_t packets, uint64_t kernel_drops, uint64_t truncated)
{
    s->packets[p] += packets;
    s->kernel_drops[p] += kernel_drops;
    s->truncated[p] += truncated;
}

static void expire_locked(struct ingest_store *s, uint64_t now)
{
    bool any = false;
    struct family *f = s->fam_head;
    while (f) {
        struct family *next = f->next;
        if (f->ttl_usec) {
            struct series *x = f->head;
            while (x) {
                struct series *xn = x->next;
                if (now > x->last_usec && now - x->last_usec > f->ttl_usec) {
                    if (!any)
                        cache_flush(s); /* entries may point at x */
                    any = true;
                    series_remove(s, x);
                    s->expired++;
                }
                x = xn;
            }
            if (f->n_series == 0 && any)
                family_unlink(s, f);
        }
        f = next;
    }
}

static int collect_series(struct mset *out, const struct family *f)
{
    enum metric_type type = f->kind == INGEST_KIND_HISTOGRAM ? METRIC_HISTOGRAM
                            : f->kind != INGEST_KIND_COUNTER ? METRIC_GAUGE
                            : name_has_total(f->name)        ? METRIC_COUNTER
                                                             : METRIC_COUNTER_UNSUFFIXED;
    int r = mset_family(out, f->name, type, f->help);
    if (r < 0)
        return r;
    const char *lv[2 * (INGEST_MAX_LABELS + 1) + 1];
    for (const struct series *x = f->head; x && r >= 0; x = x->next) {
        const char *v = x->labels;
        for (size_t i = 0; i < f->n_labels; i++) {
            lv[2 * i] = f->label_names[i];
            lv[2 * i + 1] = v;
            v += strlen(v) + 1;
        }
        size_t n = f->n_labels;
        lv[2 * n] = NULL;
        switch (f->kind) {
        case INGEST_KIND_COUNTER:
        case INGEST_KIND_GAUGE: r = mset_add(out, MSET_SUFFIX_NONE, lv, x->value); break;
        case INGEST_KIND_HISTOGRAM:
            r = mset_histogram(out, lv, f->buckets, x->buckets, f->n_buckets, x->value);
            break;
        case INGEST_KIND_STATE:
            if (x->value < 0)
                break;
            lv[2 * n] = f->state_label;
            lv[2 * n + 2] = NULL;
            for (size_t i = 0; i < f->n_states && r >= 0; i++) {
                lv[2 * n + 1] = f->states[i];
                r = mset_add(out, MSET_SUFFIX_NONE, lv, (double)i == x->value ? 1 : 0);
            }
            break;
        }
    }
    return r;
}

int ingest_store_collect(struct ingest_store *s, struct mset *out, uint64_t now_usec)
{
    pthread_mutex_lock(&s->lock);
    expire_locked(s, now_usec);
    int r = 0;
    for (const struct family *f = s->fam_head; f && r >= 0; f = f->next)
        if (f->n_series)
            r = collect_series(out, f);
    if (r >= 0)
        r = mset_family(out, "homeostat_ingest_lines_total", METRIC_COUNTER,
                        "StatsD lines received, by protocol and result (accepted or the "
                        "reason they were rejected).");
    for (int p = 0; p < INGEST_PROTO_MAX && r >= 0; p++)
        for (int k = 0; k < INGEST_REASON_MAX && r >= 0; k++)
            if (k != INGEST_EMPTY && (s->lines[p][k] || k == INGEST_OK))
                r = mset_addl(out, (double)s->lines[p][k], "protocol", protocol_names[p], "result",
                              ingest_reason_name(k), NULL);
    if (r >= 0)
        r = mset_family(out, "homeostat_ingest_fields_ignored_total", METRIC_COUNTER,
                        "DogStatsD fields of accepted lines read and not used (container_id, "
                        "timestamp, external_data, cardinality) or not known (unknown).");
    for (int k = 0; k < STATSD_FIELD_MAX && r >= 0; k++)
        r = mset_addl(out, (double)s->fields_ignored[k], "field", statsd_field_name(k), NULL);
    if (r >= 0)
        r = mset_family(out, "homeostat_ingest_dropped_total", METRIC_COUNTER,
                        "Events of accepted lines that were dropped, by reason.");
    for (int k = INGEST_MALFORMED; k < INGEST_REASON_MAX && r >= 0; k++)
        if (k == INGEST_MAPPED_DROP || k == INGEST_SERIES_LIMIT || k == INGEST_CONFLICT ||
            k == INGEST_TOO_MANY_LABELS || s->dropped[k])
            r = mset_addl(out, (double)s->dropped[k], "reason", ingest_reason_name(k), NULL);
    if (r >= 0)
        r = mset_family(out, "homeostat_ingest_packets_total", METRIC_COUNTER,
                        "Datagrams and push requests received, by protocol.");
    for (int p = 0; p < INGEST_PROTO_MAX && r >= 0; p++)
        r = mset_addl(out, (double)s->packets[p], "protocol", protocol_names[p], NULL);
    if (r >= 0)
        r = mset_family(out, "homeostat_ingest_packets_dropped_total", METRIC_COUNTER,
                        "Datagrams lost: dropped by the kernel before they were read (socket "
                        "buffer full), or cut because larger than the read buffer.");
    for (int p = 0; p < INGEST_PROTO_UNIXGRAM + 1 && r >= 0; p++) {
        r = mset_addl(out, (double)s->kernel_drops[p], "protocol", protocol_names[p], "reason",
                      "kernel", NULL);
        if (r >= 0)
            r = mset_addl(out, (double)s->truncated[p], "protocol", protocol_names[p], "reason",
                          "truncated", NULL);
    }
    if (r >= 0)
        r = mset_family(out, "homeostat_ingest_series", METRIC_GAUGE,
                        "Live application series held by the exporter.");
    if (r >= 0)
        r = mset_addl(out, (double)s->n_series, NULL);
    if (r >= 0)
        r = mset_family(out, "homeostat_ingest_series_limit", METRIC_GAUGE,
                        "The --ingest.max-series limit.");
    if (r >= 0)
        r = mset_addl(out, (double)s->max_series, NULL);
    if (r >= 0)
        r = mset_family(out, "homeostat_ingest_series_expired_total", METRIC_COUNTER,
                        "Series forgotten after their mapping's ttl without updates.");
    if (r >= 0)
        r = mset_addl(out, (double)s->expired, NULL);
    pthread_mutex_unlock(&s->lock);
    return r < 0 ? r : 0;
}

size_t ingest_store_series(struct ingest_store *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->n_series;
    pthread_mutex_unlock(&s->lock);
    return n;
}
