/* mset: arena-backed metric sets filled by collectors and the registry (see mset.h). */
#include "mset.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

#define CHUNK_MIN 16384

struct mset_chunk {
    struct mset_chunk *next;
    size_t used, size;
    _Alignas(max_align_t) char data[];
};

static void *arena_alloc(struct mset *s, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct mset_chunk *c = s->arena;
    if (!c || c->size - c->used < n) {
        size_t size = n > CHUNK_MIN ? n : CHUNK_MIN;
        struct mset_chunk *nc = malloc(sizeof(*nc) + size);
        if (!nc)
            return NULL;
        nc->used = 0;
        nc->size = size;
        nc->next = c;
        s->arena = nc;
        c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

const char *mset_strdup(struct mset *s, const char *str)
{
    size_t n = strlen(str) + 1;
    char *p = arena_alloc(s, n);
    if (p)
        memcpy(p, str, n);
    return p;
}

struct mset *mset_new(void)
{
    struct mset *s = calloc(1, sizeof(*s));
    if (s)
        s->cur = SIZE_MAX;
    return s;
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Slot of name in the index: its family's, or the empty one where it would go. */
static size_t index_slot(const struct mset *s, const char *name)
{
    size_t mask = s->index_cap - 1, i = (size_t)name_hash(name) & mask;
    while (s->index[i] && strcmp(s->families[s->index[i] - 1].name, name) != 0)
        i = (i + 1) & mask;
    return i;
}

static int index_grow(struct mset *s)
{
    size_t cap = s->index_cap ? s->index_cap * 2 : 64;
    size_t *idx = calloc(cap, sizeof(*idx));
    if (!idx)
        return -ENOMEM;
    free(s->index);
    s->index = idx;
    s->index_cap = cap;
    for (size_t f = 0; f < s->n_families; f++)
        s->index[index_slot(s, s->families[f].name)] = f + 1;
    return 0;
}

void mset_clear(struct mset *s)
{
    for (size_t i = 0; i < s->n_families; i++)
        free(s->families[i].samples);
    s->n_families = 0;
    if (s->index)
        memset(s->index, 0, s->index_cap * sizeof(*s->index));
    s->cur = SIZE_MAX;
    s->n_samples_total = 0;
    if (s->arena) {
        struct mset_chunk *c = s->arena->next;
        while (c) {
            struct mset_chunk *n = c->next;
            free(c);
            c = n;
        }
        s->arena->next = NULL;
        s->arena->used = 0;
    }
}

void mset_free(struct mset *s)
{
    if (!s)
        return;
    mset_clear(s);
    free(s->arena);
    free(s->families);
    free(s->index);
    free(s);
}

static bool name_char(char c, bool first, bool colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
        return true;
    if (colon && c == ':')
        return true;
    return !first && c >= '0' && c <= '9';
}

int metric_name_valid(const char *name)
{
    if (!name || !*name)
        return 0;
    for (const char *c = name; *c; c++)
        if (!name_char(*c, c == name, true))
            return 0;
    return 1;
}

int label_name_valid(const char *name)
{
    if (!name || !*name || (name[0] == '_' && name[1] == '_'))
        return 0;
    for (const char *c = name; *c; c++)
        if (!name_char(*c, c == name, false))
            return 0;
    return 1;
}

/* Well-formed UTF-8 without NUL: anything else would make the whole exposition
 * unparsable for Prometheus. */
static bool utf8_valid(const char *str);

int label_value_valid(const char *value)
{
    return utf8_valid(value);
}

static bool utf8_valid(const char *str)
{
    size_t n = strlen(str);
    for (size_t i = 0, l; i < n; i += l)
        if (!(l = utf8_seq_len(str + i, n - i)))
            return false;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

int mset_family(struct mset *s, const char *name, enum metric_type type, const char *help)
{
    if (s->cur != SIZE_MAX && strcmp(s->families[s->cur].name, name) == 0)
        return s->families[s->cur].type == type ? 0 : -EEXIST;
    if (s->index_cap) {
        size_t slot = s->index[index_slot(s, name)];
        if (slot) {
            if (s->families[slot - 1].type != type)
                return -EEXIST;
            s->cur = slot - 1;
            return 0;
        }
    }
    if (!metric_name_valid(name))
        return -EINVAL;
    if (type == METRIC_COUNTER && !ends_with(name, "_total"))
        return -EINVAL;
    if (type == METRIC_INFO && !ends_with(name, "_info"))
        return -EINVAL;
    if (type == METRIC_COUNTER_UNSUFFIXED && ends_with(name, "_total"))
        return -EINVAL;
    if (s->n_families == s->cap_families) {
        size_t cap = s->cap_families ? s->cap_families * 2 : 16;
        struct mset_family *f = realloc(s->families, cap * sizeof(*f));
        if (!f)
            return -ENOMEM;
        s->families = f;
        s->cap_families = cap;
    }
    struct mset_family *f = &s->families[s->n_families];
    memset(f, 0, sizeof(*f));
    f->name = mset_strdup(s, name);
    f->help = mset_strdup(s, help ? help : "");
    if (!f->name || !f->help)
        return -ENOMEM;
    f->type = type;
    s->cur = s->n_families++;
    if (s->n_families * 2 > s->index_cap) {
        if (index_grow(s) < 0) {
            s->n_families--;
            s->cur = SIZE_MAX;
            return -ENOMEM;
        }
    } else {
        s->index[index_slot(s, f->name)] = s->cur + 1;
    }
    return 0;
}

int mset_add(struct mset *s, enum mset_suffix suffix, const char *const *labels, double value)
{
    if (s->cur == SIZE_MAX)
        return -ENOENT;
    if (s->max_samples && s->n_samples_total >= s->max_samples)
        return -E2BIG;
    struct mset_family *f = &s->families[s->cur];
    unsigned n = 0;
    if (labels)
        for (; labels[2 * n]; n++) {
            if (!labels[2 * n + 1] || !label_name_valid(labels[2 * n]) ||
                !utf8_valid(labels[2 * n + 1]))
                return -EINVAL;
        }
    if (f->n_samples == f->cap_samples) {
        size_t cap = f->cap_samples ? f->cap_samples * 2 : 8;
        struct mset_sample *ns = realloc(f->samples, cap * sizeof(*ns));
        if (!ns)
            return -ENOMEM;
        f->samples = ns;
        f->cap_samples = cap;
    }
    struct mset_sample *sm = &f->samples[f->n_samples];
    sm->suffix = suffix;
    sm->n_labels = n;
    sm->value = value;
    sm->labels = NULL;
    if (n) {
        sm->labels = arena_alloc(s, 2 * n * sizeof(char *));
        if (!sm->labels)
            return -ENOMEM;
        for (unsigned i = 0; i < 2 * n; i++) {
            sm->labels[i] = mset_strdup(s, labels[i]);
            if (!sm->labels[i])
                return -ENOMEM;
        }
    }
    f->n_samples++;
    s->n_samples_total++;
    return 0;
}

#define MSET_MAX_LABELS 16

int mset_addl(struct mset *s, double value, ...)
{
    const char *labels[2 * MSET_MAX_LABELS + 1];
    size_t n = 0;
    va_list ap;
    va_start(ap, value);
    for (;;) {
        const char *name = va_arg(ap, const char *);
        if (!name)
            break;
        if (n >= 2 * MSET_MAX_LABELS) {
            va_end(ap);
            return -E2BIG;
        }
        labels[n++] = name;
        labels[n++] = va_arg(ap, const char *);
    }
    va_end(ap);
    labels[n] = NULL;
    return mset_add(s, MSET_SUFFIX_NONE, labels, value);
}

int mset_histogram(struct mset *s, const char *const *labels, const double *bounds,
                   const uint64_t *counts, size_t n_bounds, double sum)
{
    const char *lv[2 * MSET_MAX_LABELS + 3];
    size_t n = 0;
    if (labels)
        for (; labels[n]; n += 2) {
            if (n >= 2 * MSET_MAX_LABELS)
                return -E2BIG;
            lv[n] = labels[n];
            lv[n + 1] = labels[n + 1];
        }
    lv[n] = "le";
    lv[n + 2] = NULL;
    uint64_t cum = 0;
    char le[32];
    for (size_t i = 0; i <= n_bounds; i++) {
        cum += counts[i];
        if (i < n_bounds)
            metric_format_value(le, sizeof(le), bounds[i]);
        else
            memcpy(le, "+Inf", 5);
        lv[n + 1] = le;
        int r = mset_add(s, MSET_SUFFIX_BUCKET, lv, (double)cum);
        if (r < 0)
            return r;
    }
    lv[n] = NULL;
    int r = mset_add(s, MSET_SUFFIX_SUM, lv, sum);
    if (r < 0)
        return r;
    return mset_add(s, MSET_SUFFIX_COUNT, lv, (double)cum);
}

int metric_format_value(char *out, size_t outsz, double v)
{
    int n;
    if (isnan(v))
        n = snprintf(out, outsz, "NaN");
    else if (isinf(v))
        n = snprintf(out, outsz, v > 0 ? "+Inf" : "-Inf");
    else if (fabs(v) < 1e15 && v == (double)(long long)v)
        n = snprintf(out, outsz, "%lld", (long long)v);
    else {
        /* Shortest of %.15g .. %.17g that reads back as the same double. */
        n = snprintf(out, outsz, "%.15g", v);
        if (strtod(out, NULL) != v) {
            n = snprintf(out, outsz, "%.16g", v);
            if (strtod(out, NULL) != v)
                n = snprintf(out, outsz, "%.17g", v);
        }
    }
    return n;
}

static bool has_component(const char *lower, const char *word)
{
    /* "_word_" anywhere or "_word" at the end, as promlint matches. */
    size_t wl = strlen(word);
    for (const char *p = strchr(lower, '_'); p; p = strchr(p + 1, '_'))
        if (strncmp(p + 1, word, wl) == 0 && (p[1 + wl] == '_' || p[1 + wl] == '\0'))
            return true;
    return false;
}

static bool camel_case(const char *s)
{
    for (; s[0] && s[1]; s++)
        if (s[0] >= 'a' && s[0] <= 'z' && s[1] >= 'A' && s[1] <= 'Z')
            return true;
    return false;
}

/* A non-base unit in one '_'-separated component: a prefixed unit ("milliseconds",
 * "kilobytes") or a unit promlint maps to another base ("minutes", "bits"). */
static bool non_base_unit(const char *name)
{
    static const char *const base[] = {"amperes", "bytes",  "celsius", "grams",   "joules",
                                       "kelvin",  "meters", "metres",  "seconds", "volts"};
    static const char *const other[] = {"minutes",    "hours",    "days",   "weeks", "kelvins",
                                        "fahrenheit", "rankine",  "inches", "yards", "miles",
                                        "bits",       "calories", "pounds", "ounces"};
    static const char *const prefixes[] = {"pico", "nano",  "micro", "milli", "centi", "deci",
                                           "deca", "hecto", "kilo",  "kibi",  "mega",  "mibi",
                                           "giga", "gibi",  "tera",  "tebi",  "peta",  "pebi"};
    const char *c = name;
    while (*c) {
        const char *e = strchr(c, '_');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        for (size_t u = 0; u < sizeof(other) / sizeof(other[0]); u++)
            if (n == strlen(other[u]) && strncmp(c, other[u], n) == 0)
                return true;
        for (size_t p = 0; p < sizeof(prefixes) / sizeof(prefixes[0]); p++) {
            size_t pl = strlen(prefixes[p]);
            if (n <= pl || strncmp(c, prefixes[p], pl) != 0)
                continue;
            for (size_t u = 0; u < sizeof(base) / sizeof(base[0]); u++)
                if (n - pl == strlen(base[u]) && strncmp(c + pl, base[u], n - pl) == 0)
                    return true;
            for (size_t u = 0; u < sizeof(other) / sizeof(other[0]); u++)
                if (n - pl == strlen(other[u]) && strncmp(c + pl, other[u], n - pl) == 0)
                    return true;
        }
        c = e ? e + 1 : c + n;
    }
    return false;
}

const char *metric_name_lint(const char *name, enum metric_type type)
{
    static const char *const abbreviations[] = {"s",  "ms", "us", "ns", "sec", "b", "kb",
                                                "mb", "gb", "tb", "pb", "m",   "h", "d"};
    static const char *const types[] = {"counter", "gauge", "summary", "histogram",
                                        "gaugehistogram"};
    char lower[256];
    size_t n = strlen(name);
    if (n >= sizeof(lower))
        n = sizeof(lower) - 1;
    for (size_t i = 0; i < n; i++)
        lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
    lower[n] = '\0';
    bool total = ends_with(name, "_total");
    if (type == METRIC_COUNTER_UNSUFFIXED)
        type = METRIC_COUNTER;
    if (type == METRIC_COUNTER && !total)
        return "counter metrics should have \"_total\" suffix";
    if (type != METRIC_UNTYPED && type != METRIC_COUNTER && total)
        return "non-counter metrics should not have \"_total\" suffix";
    if (type != METRIC_UNTYPED && type != METRIC_HISTOGRAM) {
        if (ends_with(name, "_bucket"))
            return "non-histogram metrics should not have \"_bucket\" suffix";
        if (ends_with(name, "_count"))
            return "non-histogram and non-summary metrics should not have \"_count\" suffix";
        if (ends_with(name, "_sum"))
            return "non-histogram and non-summary metrics should not have \"_sum\" suffix";
    }
    if (non_base_unit(lower))
        return "use base units (seconds, bytes, ...) instead of prefixed or other units";
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (has_component(lower, types[i]))
            return "metric name should not include its type";
    if (strchr(name, ':'))
        return "metric names should not contain ':'";
    if (camel_case(name))
        return "metric names should be written in 'snake_case' not 'camelCase'";
    for (size_t i = 0; i < sizeof(abbreviations) / sizeof(abbreviations[0]); i++)
        if (has_component(lower, abbreviations[i]))
            return "metric names should not contain abbreviated units";
    return NULL;
}

const char *label_name_lint(const char *label, enum metric_type type)
{
    if (type != METRIC_HISTOGRAM && strcmp(label, "le") == 0)
        return "non-histogram metrics should not have \"le\" label";
    if (strcmp(label, "quantile") == 0)
        return "non-summary metrics should not have \"quantile\" label";
    if (camel_case(label))
        return "label names should be written in 'snake_case' not 'camelCase'";
    return NULL;
}
