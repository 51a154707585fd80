/* ivec: compact instant vectors (see ivec.h). */
#include "ivec.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

void ivec_init(struct ivec *v)
{
    memset(v, 0, sizeof(*v));
}

void ivec_free(struct ivec *v)
{
    if (!v)
        return;
    free(v->s);
    free(v->arena);
    memset(v, 0, sizeof(*v));
}

void ivec_reset(struct ivec *v)
{
    v->n = 0;
    v->used = 0;
    v->labels_end = 0;
}

int ivec_copy(struct ivec *dst, const struct ivec *src)
{
    ivec_reset(dst);
    if (src->n > dst->cap) {
        struct ivec_series *s = realloc(dst->s, src->n * sizeof(*s));
        if (!s)
            return -ENOMEM;
        dst->s = s;
        dst->cap = src->n;
    }
    if (src->used > dst->size) {
        char *a = realloc(dst->arena, src->used);
        if (!a)
            return -ENOMEM;
        dst->arena = a;
        dst->size = src->used;
    }
    if (src->n)
        memcpy(dst->s, src->s, src->n * sizeof(*src->s));
    if (src->used)
        memcpy(dst->arena, src->arena, src->used);
    dst->n = src->n;
    dst->used = src->used;
    dst->labels_end = src->labels_end;
    return 0;
}

static size_t bytes(size_t series_cap, size_t arena_size)
{
    return series_cap * sizeof(struct ivec_series) + arena_size;
}

/* Room for n more arena bytes: 0, -ENOMEM, or -E2BIG past IVEC_MAX_BYTES. */
static int arena_reserve(struct ivec *v, size_t n)
{
    if (n <= v->size - v->used)
        return 0;
    if (n > IVEC_MAX_BYTES || bytes(v->cap, v->used + n) > IVEC_MAX_BYTES)
        return -E2BIG;
    size_t need = v->used + n, size = v->size ? v->size : 4096;
    while (size < need)
        size *= 2;
    if (bytes(v->cap, size) > IVEC_MAX_BYTES)
        size = need;
    char *a = realloc(v->arena, size);
    if (!a)
        return -ENOMEM;
    v->arena = a;
    v->size = size;
    return 0;
}

/* Copies s[0..len) and a NUL into the arena (reserved): its offset. */
static uint32_t put(struct ivec *v, const char *s, size_t len)
{
    uint32_t at = (uint32_t)v->used;
    if (len)
        memcpy(v->arena + v->used, s, len);
    v->arena[v->used + len] = '\0';
    v->used += len + 1;
    return at;
}

int ivec_add_series(struct ivec *v)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        if (bytes(cap, v->size) > IVEC_MAX_BYTES)
            cap = v->cap + 1;
        if (bytes(cap, v->size) > IVEC_MAX_BYTES)
            return -E2BIG;
        struct ivec_series *s = realloc(v->s, cap * sizeof(*s));
        if (!s)
            return -ENOMEM;
        v->s = s;
        v->cap = cap;
    }
    v->s[v->n++] =
        (struct ivec_series){.value = NAN, .labels = (uint32_t)v->used, .sample = IVEC_NO_VALUE};
    v->labels_end = v->used;
    return 0;
}

int ivec_add_label(struct ivec *v, const char *name, size_t name_len, const char *value,
                   size_t value_len)
{
    if (!v->n)
        return -EINVAL;
    struct ivec_series *s = &v->s[v->n - 1];
    if (s->n_labels && v->labels_end != v->used)
        return -EINVAL; /* something else was added after its labels */
    if (name_len > IVEC_MAX_BYTES || value_len > IVEC_MAX_BYTES)
        return -E2BIG;
    int r = arena_reserve(v, name_len + value_len + 2);
    if (r < 0)
        return r;
    uint32_t at = put(v, name, name_len);
    put(v, value, value_len);
    if (s->n_labels++ == 0)
        s->labels = at;
    v->labels_end = v->used;
    return 0;
}

void ivec_clear_labels(struct ivec *v)
{
    if (v->n) {
        v->s[v->n - 1].n_labels = 0;
        v->s[v->n - 1].labels = (uint32_t)v->used;
    }
}

int ivec_set_sample(struct ivec *v, double ts, const char *text, size_t len)
{
    if (!v->n)
        return -EINVAL;
    struct ivec_series *s = &v->s[v->n - 1];
    char small[64], *tmp = len < sizeof(small) ? small : malloc(len + 1);
    double d = NAN;
    int r = -EINVAL;
    if (!tmp)
        return -ENOMEM;
    if (!memchr(text, '\0', len)) {
        memcpy(tmp, text, len);
        tmp[len] = '\0';
        r = parse_double(tmp, &d);
    }
    if (tmp != small)
        free(tmp);
    s->ts = ts;
    if (r == 0) {
        s->value = d;
        s->sample = isnan(d) ? IVEC_NAN : IVEC_VALUE;
        return 0;
    }
    size_t keep = len > 40 ? 40 : len; /* the reason quotes at most 40 bytes */
    int ar = arena_reserve(v, keep + 1);
    if (ar < 0)
        return ar;
    s->bad = put(v, text, keep);
    s->value = NAN;
    s->sample = IVEC_NOT_A_NUMBER;
    return 0;
}

void ivec_set_no_value(struct ivec *v)
{
    if (v->n) {
        v->s[v->n - 1].sample = IVEC_NO_VALUE;
        v->s[v->n - 1].value = NAN;
    }
}

const char *ivec_label_at(const struct ivec *v, size_t i, size_t k, const char **ret_value)
{
    const char *p = v->arena + v->s[i].labels;
    for (size_t j = 0; j < k; j++) {
        p += strlen(p) + 1;
        p += strlen(p) + 1;
    }
    *ret_value = p + strlen(p) + 1;
    return p;
}

const char *ivec_label(const struct ivec *v, size_t i, const char *name)
{
    if (i >= v->n || v->s[i].n_labels == 0)
        return NULL;
    const char *p = v->arena + v->s[i].labels;
    for (uint32_t k = 0; k < v->s[i].n_labels; k++) {
        const char *value = p + strlen(p) + 1;
        if (strcmp(p, name) == 0)
            return value;
        p = value + strlen(value) + 1;
    }
    return NULL;
}

const char *ivec_bad_text(const struct ivec *v, size_t i)
{
    return i < v->n && v->s[i].sample == IVEC_NOT_A_NUMBER ? v->arena + v->s[i].bad : "";
}
