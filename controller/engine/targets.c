/* targets: signals' vectors matched to targets by the targets.by labels (see targets.h). */
#include "targets.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "ivec.h"
#include "parse.h"

struct match {
    const struct rules *r;
    struct hmap map;
    struct target_set *set;
    size_t cap;
    uint64_t seed;
};

/* Appends v to out with \, " and newlines escaped, as Prometheus writes label values. */
static size_t put_escaped(char *out, size_t o, size_t size, const char *v)
{
    for (; *v && o + 2 < size; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            out[o++] = '\\';
            out[o++] = *v == '\n' ? 'n' : *v;
        } else {
            out[o++] = *v;
        }
    }
    return *v ? size : o;
}

/* A label's value of a series, however it is kept (NULL: no such label). */
typedef const char *(*label_getter)(const void *series, size_t i, const char *name);

static const char *json_getter(const void *metric, size_t i, const char *name)
{
    (void)i;
    return json_string_value(json_object_get(metric, name));
}

static const char *ivec_getter(const void *vec, size_t i, const char *name)
{
    return ivec_label(vec, i, name);
}

static int key_of(const char *const *by, size_t n_by, label_getter get, const void *series,
                  size_t idx, char *out, size_t size)
{
    size_t o = 0;
    if (size < 3)
        return -E2BIG;
    out[o++] = '{';
    for (size_t i = 0; i < n_by; i++) {
        const char *name = by[i];
        const char *v = get(series, idx, name);
        size_t len = strlen(name);
        if (o + len + 4 > size)
            return -E2BIG;
        if (i)
            out[o++] = ',';
        memcpy(out + o, name, len);
        o += len;
        out[o++] = '=';
        out[o++] = '"';
        o = put_escaped(out, o, size, v ? v : "");
        if (o + 3 > size)
            return -E2BIG;
        out[o++] = '"';
    }
    out[o++] = '}';
    out[o] = '\0';
    return (int)o;
}

int targets_key(const struct rules *r, const json_t *metric, char *out, size_t size)
{
    return targets_key_by((const char *const *)r->targets.by, r->targets.n_by, metric, out, size);
}

int targets_key_by(const char *const *by, size_t n_by, const json_t *metric, char *out, size_t size)
{
    return key_of(by, n_by, json_getter, metric, 0, out, size);
}

static bool has_target_label(const struct rules *r, label_getter get, const void *series,
                             size_t idx)
{
    for (size_t i = 0; i < r->targets.n_by; i++)
        if (get(series, idx, r->targets.by[i]))
            return true;
    return false;
}

static struct target_row *find(struct match *m, const char *key, size_t len, uint64_t h)
{
    for (struct hnode *n = hmap_chain(&m->map, h); n; n = n->next) {
        struct target_row *row = (struct target_row *)n;
        if (n->hash == h && row->key_len == len && memcmp(row->key, key, len) == 0)
            return row;
    }
    return NULL;
}

static void row_free(struct target_row *row)
{
    if (!row)
        return;
    free(row->key);
    if (!row->borrowed)
        free(row->values);
    free(row);
}

json_t *targets_row_labels(const struct rules *r, const struct target_row *row)
{
    json_t *labels = json_object();
    for (size_t i = 0; labels && i < r->targets.n_by; i++) {
        const char *name = r->targets.by[i];
        const char *v = row->vec ? ivec_label(row->vec, row->idx, name)
                                 : json_string_value(json_object_get(row->metric, name));
        if (json_object_set_new(labels, name, json_string(v ? v : "")) < 0) {
            json_decref(labels);
            labels = NULL;
        }
    }
    return labels;
}

/* The row of a series' label set (series idx of vec, or the known label set metric),
 * created when new; NULL on OOM or a key too long. */
static struct target_row *row_for(struct match *m, const struct ivec *vec, size_t idx,
                                  const json_t *metric, struct signal_value *values, int *err)
{
    char key[TARGETS_MAX_KEY];
    int len = vec ? key_of((const char *const *)m->r->targets.by, m->r->targets.n_by, ivec_getter,
                           vec, idx, key, sizeof(key))
                  : targets_key(m->r, metric, key, sizeof(key));
    if (len < 0) {
        m->set->refused_key++;
        return NULL;
    }
    uint64_t h = hash_bytes(key, (size_t)len, m->seed);
    struct target_row *row = find(m, key, (size_t)len, h);
    if (row)
        return row;
    struct target_set *s = m->set;
    if (s->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct target_row **rows = realloc(s->rows, cap * sizeof(*rows));
        if (!rows) {
            *err = -ENOMEM;
            return NULL;
        }
        s->rows = rows;
        m->cap = cap;
    }
    row = calloc(1, sizeof(*row));
    if (row) {
        row->key = malloc((size_t)len + 1);
        if (row->key)
            memcpy(row->key, key, (size_t)len + 1);
        row->key_len = (size_t)len;
        row->vec = vec;
        row->idx = idx;
        row->metric = metric;
        row->borrowed = values != NULL;
        row->values =
            values ? values : calloc(m->r->n_signals ? m->r->n_signals : 1, sizeof(*row->values));
    }
    if (!row || !row->key || !row->values) {
        row_free(row);
        *err = -ENOMEM;
        return NULL;
    }
    row->node.hash = h;
    hmap_insert(&m->map, &row->node);
    s->rows[s->n++] = row;
    return row;
}

__attribute__((format(printf, 2, 3))) static void unknown(struct signal_value *v, const char *fmt,
                                                          ...)
{
    memset(v, 0, sizeof(*v));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
    va_end(ap);
}

/* Series k's sample into v. */
static void sample(const struct ivec *vec, size_t k, struct signal_value *v)
{
    const struct ivec_series *s = &vec->s[k];
    switch (s->sample) {
    case IVEC_VALUE:
        v->known = true;
        v->value = s->value;
        v->sample_time = s->ts;
        v->reason[0] = '\0';
        break;
    case IVEC_NAN: unknown(v, "NaN"); break;
    case IVEC_NOT_A_NUMBER: unknown(v, "not a number: \"%.40s\"", ivec_bad_text(vec, k)); break;
    default: unknown(v, "bad_response: a series without a value"); break;
    }
}

static int by_key(const void *a, const void *b)
{
    return strcmp((*(struct target_row *const *)a)->key, (*(struct target_row *const *)b)->key);
}

/* Signal i's values for every row; rows[k]: the row of its series k (NULL: none). */
static void fill_signal(struct match *m, size_t i, const struct target_input *in,
                        struct target_row *const *rows)
{
    struct target_set *s = m->set;
    const struct ivec *series = in->series;
    size_t n = series ? series->n : 0;
    bool per_target = false;
    for (size_t k = 0; k < n && !per_target; k++)
        per_target = rows[k] != NULL || has_target_label(m->r, ivec_getter, series, k);
    if (!series || !per_target) {
        struct signal_value shared = in->value;
        if (series && n == 0)
            unknown(&shared, "empty result");
        else if (series && n > 1)
            unknown(&shared, "%zu series (use sum or max)", n);
        else if (series)
            sample(series, 0, &shared);
        for (size_t t = 0; t < s->n; t++)
            s->rows[t]->values[i] = shared;
        return;
    }
    for (size_t t = 0; t < s->n; t++)
        s->rows[t]->seen = 0;
    for (size_t k = 0; k < n; k++) {
        struct target_row *row = rows[k];
        if (row && row->seen++ == 0)
            sample(series, k, &row->values[i]);
    }
    for (size_t t = 0; t < s->n; t++) {
        struct target_row *row = s->rows[t];
        if (row->seen == 0)
            unknown(&row->values[i], "no series for %.140s", row->key);
        else if (row->seen > 1)
            unknown(&row->values[i], "%u series for %.140s", row->seen, row->key);
    }
}

int targets_match(const struct rules *r, const struct target_input *in, const json_t *const *known,
                  struct signal_value *const *known_values, size_t n_known, uint64_t seed,
                  struct target_set *out)
{
    memset(out, 0, sizeof(*out));
    if (!r->targets.by)
        return -EINVAL;
    struct match m = {.r = r, .set = out, .seed = seed};
    /* Each series' row, found once: rows[first[i] + k] for series k of signal i. */
    size_t total = 0, *first = calloc(r->n_signals ? r->n_signals : 1, sizeof(*first));
    for (size_t i = 0; first && i < r->n_signals; i++) {
        first[i] = total;
        total += in[i].series ? in[i].series->n : 0;
    }
    struct target_row **rows = calloc(total ? total : 1, sizeof(*rows));
    int err = first && rows ? hmap_init(&m.map, total / 2 + n_known + 64) : -ENOMEM;
    /* the known ones first: their rows fill their own values */
    for (size_t i = 0; !err && i < n_known; i++)
        row_for(&m, NULL, 0, known[i], known_values ? known_values[i] : NULL, &err);
    for (size_t i = 0; !err && i < r->n_signals; i++) {
        const struct ivec *series = in[i].series;
        for (size_t k = 0; !err && series && k < series->n; k++) {
            struct target_row *row = has_target_label(r, ivec_getter, series, k)
                                         ? row_for(&m, series, k, NULL, NULL, &err)
                                         : NULL;
            if (row)
                row->present = true;
            rows[first[i] + k] = row;
        }
    }
    for (size_t i = 0; !err && i < r->n_signals; i++)
        fill_signal(&m, i, &in[i], rows + first[i]);
    free(rows);
    free(first);
    hmap_destroy(&m.map);
    if (err) {
        target_set_free(out);
        return err;
    }
    if (out->n > 1)
        qsort(out->rows, out->n, sizeof(*out->rows), by_key);
    return 0;
}

int targets_ivec_from_json(const json_t *result, const char *const *keep, size_t n_keep,
                           struct ivec *out)
{
    ivec_reset(out);
    size_t k;
    const json_t *item;
    int r = 0;
    json_array_foreach(result, k, item)
    {
        if ((r = ivec_add_series(out)) < 0)
            return r;
        const json_t *metric = json_object_get(item, "metric");
        const char *name;
        const json_t *v;
        json_object_foreach((json_t *)metric, name, v)
        {
            bool kept = !keep;
            for (size_t j = 0; !kept && j < n_keep; j++)
                kept = strcmp(keep[j], name) == 0;
            if (kept && json_is_string(v) &&
                (r = ivec_add_label(out, name, strlen(name), json_string_value(v),
                                    json_string_length(v))) < 0)
                return r;
        }
        const json_t *pair = json_object_get(item, "value");
        const json_t *text = json_array_get(pair, 1);
        if (json_is_string(text)) {
            r = ivec_set_sample(out, json_number_value(json_array_get(pair, 0)),
                                json_string_value(text), json_string_length(text));
            if (r < 0)
                return r;
        }
    }
    return 0;
}

void target_set_free(struct target_set *s)
{
    for (size_t i = 0; s->rows && i < s->n; i++)
        row_free(s->rows[i]);
    free(s->rows);
    memset(s, 0, sizeof(*s));
}

void targets_matchers_free(struct label_matcher *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(m[i].value);
}

int targets_parse_selector(const char *s, struct label_matcher *m, size_t max, size_t *ret_n,
                           const char **ret_end, char *msg, size_t msg_size)
{
    static const char *const ops[] = {"=~", "!~", "!=", "=", NULL};
    size_t n = 0;
    const char *p = s;
    while (*p == ' ')
        p++;
    bool braces = *p == '{';
    if (braces)
        p++;
    for (;;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p || (braces && *p == '}'))
            break;
        if (n == max) {
            snprintf(msg, msg_size, "more than %zu matchers", max);
            goto fail;
        }
        struct label_matcher *x = &m[n];
        memset(x, 0, sizeof(*x));
        size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        if (len == 0 || len > RULES_MAX_NAME || (*p >= '0' && *p <= '9')) {
            snprintf(msg, msg_size, "expected a label name at '%.40s'", p);
            goto fail;
        }
        memcpy(x->name, p, len);
        p += len;
        while (*p == ' ')
            p++;
        const char *const *op = ops;
        for (; *op; op++)
            if (strncmp(p, *op, strlen(*op)) == 0)
                break;
        if (!*op) {
            snprintf(msg, msg_size, "expected =, !=, =~ or !~ after %s", x->name);
            goto fail;
        }
        snprintf(x->op, sizeof(x->op), "%s", *op);
        p += strlen(*op);
        while (*p == ' ')
            p++;
        if (*p != '"') {
            snprintf(msg, msg_size, "the value of %s must be quoted (\"...\")", x->name);
            goto fail;
        }
        const char *start = ++p;
        struct buf v;
        buf_init(&v, 4096);
        while (*p && *p != '"') {
            if (*p == '\\' && p[1]) {
                p++;
                buf_putc(&v, *p == 'n' ? '\n' : *p);
            } else {
                buf_putc(&v, *p);
            }
            p++;
        }
        if (*p != '"') {
            buf_free(&v);
            snprintf(msg, msg_size, "unterminated value at '%.40s'", start - 1);
            goto fail;
        }
        p++;
        x->value = v.data ? buf_steal(&v, NULL) : strdup("");
        buf_free(&v);
        if (!x->value) {
            snprintf(msg, msg_size, "out of memory");
            targets_matchers_free(m, n);
            return -ENOMEM;
        }
        n++;
    }
    if (braces && *p != '}') {
        snprintf(msg, msg_size, "missing }");
        goto fail;
    }
    if (braces)
        p++;
    *ret_n = n;
    if (ret_end)
        *ret_end = p;
    return 0;
fail:
    targets_matchers_free(m, n);
    return -EINVAL;
}

int targets_parse_labels(const char *s, json_t **ret, char *msg, size_t msg_size)
{
    struct label_matcher m[RULES_MAX_TARGET_LABELS * 2];
    size_t n = 0;
    const char *end = s;
    while (*s == ' ')
        s++;
    if (*s != '{') {
        snprintf(msg, msg_size, "a label set is written {name=\"value\", ...}");
        return -EINVAL;
    }
    int r = targets_parse_selector(s, m, sizeof(m) / sizeof(m[0]), &n, &end, msg, msg_size);
    if (r < 0)
        return r;
    json_t *labels = json_object();
    for (size_t i = 0; r == 0 && i < n; i++) {
        if (strcmp(m[i].op, "=") != 0) {
            snprintf(msg, msg_size, "a label set gives values (%s=\"...\"), not %s", m[i].name,
                     m[i].op);
            r = -EINVAL;
        } else if (json_object_get(labels, m[i].name)) {
            snprintf(msg, msg_size, "label %s given twice", m[i].name);
            r = -EINVAL;
        } else if (!labels || json_object_set_new(labels, m[i].name, json_string(m[i].value)) < 0) {
            snprintf(msg, msg_size, "the value of %s is not UTF-8", m[i].name);
            r = -EINVAL;
        }
    }
    while (r == 0 && *end == ' ')
        end++;
    if (r == 0 && *end) {
        snprintf(msg, msg_size, "unexpected '%.40s' after the label set", end);
        r = -EINVAL;
    }
    targets_matchers_free(m, n);
    if (r < 0) {
        json_decref(labels);
        return r;
    }
    *ret = labels;
    return 0;
}
