/* expo: text 0.0.4 and OpenMetrics 1.0.0 exposition, content negotiation, gzip. */
#include "expo.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "parse.h"

struct media {
    const char *type;
    size_t type_len;
    double q;
    const char *version; /* NULL when absent */
    size_t version_len;
};

/* Parses one media range "type/sub; p=v; q=0.5" from [s, e). */
static void parse_media(const char *s, const char *e, struct media *m)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    const char *t = s;
    while (s < e && *s != ';')
        s++;
    const char *te = s;
    while (te > t && isspace((unsigned char)te[-1]))
        te--;
    m->type = t;
    m->type_len = (size_t)(te - t);
    m->q = 1.0;
    m->version = NULL;
    m->version_len = 0;
    while (s < e) {
        s++; /* ';' */
        while (s < e && isspace((unsigned char)*s))
            s++;
        const char *k = s;
        while (s < e && *s != '=' && *s != ';')
            s++;
        size_t kl = (size_t)(s - k);
        if (s >= e || *s != '=')
            continue;
        s++;
        const char *v = s;
        while (s < e && *s != ';')
            s++;
        const char *ve = s;
        while (ve > v && isspace((unsigned char)ve[-1]))
            ve--;
        if (kl == 1 && (*k == 'q' || *k == 'Q')) {
            char tmp[16];
            size_t vl = (size_t)(ve - v) < sizeof(tmp) - 1 ? (size_t)(ve - v) : sizeof(tmp) - 1;
            memcpy(tmp, v, vl);
            tmp[vl] = '\0';
            double q;
            m->q = parse_double(tmp, &q) == 0 && q >= 0 && q <= 1 ? q : 0;
        } else if (kl == 7 && strncasecmp(k, "version", 7) == 0) {
            m->version = v;
            m->version_len = (size_t)(ve - v);
        }
    }
}

static bool media_is(const struct media *m, const char *type)
{
    return m->type_len == strlen(type) && strncasecmp(m->type, type, m->type_len) == 0;
}

enum expo_format expo_negotiate(const char *accept)
{
    if (!accept)
        return EXPO_TEXT;
    double q_om = -1, q_text = -1;
    const char *s = accept;
    while (*s) {
        const char *e = strchr(s, ',');
        if (!e)
            e = s + strlen(s);
        struct media m;
        parse_media(s, e, &m);
        if (media_is(&m, "application/openmetrics-text")) {
            bool ok = !m.version || (m.version_len == 5 && memcmp(m.version, "1.0.0", 5) == 0);
            if (ok && m.q > q_om)
                q_om = m.q;
        } else if (media_is(&m, "text/plain") || media_is(&m, "*/*") || media_is(&m, "text/*")) {
            if (m.q > q_text)
                q_text = m.q;
        }
        s = *e ? e + 1 : e;
    }
    return q_om > 0 && q_om >= q_text ? EXPO_OPENMETRICS : EXPO_TEXT;
}

const char *expo_content_type(enum expo_format f)
{
    return f == EXPO_OPENMETRICS ? EXPO_CONTENT_TYPE_OPENMETRICS : EXPO_CONTENT_TYPE_TEXT;
}

bool expo_accepts_gzip(const char *ae)
{
    if (!ae)
        return false;
    /* An explicit "gzip" entry decides; "*" only applies when gzip is not named. */
    double q_gzip = -1, q_star = -1;
    const char *s = ae;
    while (*s) {
        const char *e = strchr(s, ',');
        if (!e)
            e = s + strlen(s);
        struct media m;
        parse_media(s, e, &m);
        if (m.type_len == 4 && strncasecmp(m.type, "gzip", 4) == 0)
            q_gzip = m.q;
        else if (m.type_len == 1 && m.type[0] == '*')
            q_star = m.q;
        s = *e ? e + 1 : e;
    }
    return q_gzip >= 0 ? q_gzip > 0 : q_star > 0;
}

/* HELP text: text 0.0.4 escapes \ and newline; OpenMetrics also escapes ". */
static int put_help(struct buf *b, const char *s, bool om)
{
    for (; *s; s++) {
        int r;
        if (*s == '\\')
            r = buf_append(b, "\\\\", 2);
        else if (*s == '\n')
            r = buf_append(b, "\\n", 2);
        else if (om && *s == '"')
            r = buf_append(b, "\\\"", 2);
        else
            r = buf_putc(b, *s);
        if (r < 0)
            return r;
    }
    return 0;
}

static int put_label_value(struct buf *b, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '"')
            esc = "\\\"";
        else if (*s == '\n')
            esc = "\\n";
        if (!esc)
            continue;
        int r = buf_append(b, run, (size_t)(s - run));
        if (r < 0 || (r = buf_append(b, esc, 2)) < 0)
            return r;
        run = s + 1;
    }
    return buf_append(b, run, (size_t)(s - run));
}

static const char *type_name(enum metric_type t, bool om)
{
    switch (t) {
    case METRIC_COUNTER:
    case METRIC_COUNTER_UNSUFFIXED: return "counter";
    case METRIC_GAUGE: return "gauge";
    case METRIC_HISTOGRAM: return "histogram";
    case METRIC_INFO: return om ? "info" : "gauge";
    case METRIC_UNTYPED: break;
    }
    return om ? "unknown" : "untyped";
}

static const char *suffix_name(enum mset_suffix s)
{
    switch (s) {
    case MSET_SUFFIX_BUCKET: return "_bucket";
    case MSET_SUFFIX_SUM: return "_sum";
    case MSET_SUFFIX_COUNT: return "_count";
    case MSET_SUFFIX_NONE: break;
    }
    return "";
}

struct famref {
    const struct mset_family *f;
    size_t set, idx; /* for a stable sort */
};

static int famref_cmp(const void *a, const void *b)
{
    const struct famref *x = a, *y = b;
    int c = strcmp(x->f->name, y->f->name);
    if (c)
        return c;
    if (x->set != y->set)
        return x->set < y->set ? -1 : 1;
    return x->idx < y->idx ? -1 : (x->idx > y->idx);
}

static int put_samples(struct buf *b, const struct mset_family *f, const char *base,
                       size_t base_len, bool om)
{
    char num[40];
    for (size_t i = 0; i < f->n_samples; i++) {
        const struct mset_sample *sm = &f->samples[i];
        int r = buf_append(b, base, base_len);
        if (r >= 0 && (f->type == METRIC_COUNTER || f->type == METRIC_COUNTER_UNSUFFIXED) && om)
            r = buf_append(b, "_total", 6);
        if (r >= 0 && f->type == METRIC_INFO && om)
            r = buf_append(b, "_info", 5);
        if (r >= 0)
            r = buf_puts(b, suffix_name(sm->suffix));
        if (r >= 0 && sm->n_labels) {
            r = buf_putc(b, '{');
            for (unsigned l = 0; l < sm->n_labels && r >= 0; l++) {
                if (l)
                    r = buf_putc(b, ',');
                if (r >= 0)
                    r = buf_puts(b, sm->labels[2 * l]);
                if (r >= 0)
                    r = buf_append(b, "=\"", 2);
                if (r >= 0)
                    r = put_label_value(b, sm->labels[2 * l + 1]);
                if (r >= 0)
                    r = buf_putc(b, '"');
            }
            if (r >= 0)
                r = buf_putc(b, '}');
        }
        if (r >= 0)
            r = buf_putc(b, ' ');
        if (r >= 0) {
            int n = metric_format_value(num, sizeof(num), sm->value);
            r = buf_append(b, num, (size_t)n);
        }
        if (r >= 0)
            r = buf_putc(b, '\n');
        if (r < 0)
            return r;
    }
    return 0;
}

int expo_render(struct buf *out, enum expo_format fmt, struct mset *const *sets, size_t n,
                size_t *ret_conflicts)
{
    bool om = fmt == EXPO_OPENMETRICS;
    size_t total = 0, conflicts = 0;
    for (size_t i = 0; i < n; i++)
        if (sets[i])
            total += sets[i]->n_families;
    struct famref *refs = total ? malloc(total * sizeof(*refs)) : NULL;
    if (total && !refs)
        return -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (sets[i])
            for (size_t j = 0; j < sets[i]->n_families; j++)
                refs[k++] = (struct famref){&sets[i]->families[j], i, j};
    if (total > 1)
        qsort(refs, total, sizeof(*refs), famref_cmp);

    int r = 0;
    for (size_t i = 0; i < total && r >= 0;) {
        const struct mset_family *f = refs[i].f;
        size_t j = i + 1, samples = f->n_samples;
        while (j < total && strcmp(refs[j].f->name, f->name) == 0)
            samples += refs[j++].f->n_samples;
        if (samples == 0) {
            i = j;
            continue;
        }
        /* OpenMetrics names counter and info families without their suffix. */
        size_t full_len = strlen(f->name), meta_len = full_len;
        if (om && f->type == METRIC_COUNTER && full_len > 6)
            meta_len -= 6;
        if (om && f->type == METRIC_INFO && full_len > 5)
            meta_len -= 5;
        if (f->help[0]) {
            r = buf_puts(out, "# HELP ");
            if (r >= 0)
                r = buf_append(out, f->name, meta_len);
            if (r >= 0)
                r = buf_putc(out, ' ');
            if (r >= 0)
                r = put_help(out, f->help, om);
            if (r >= 0)
                r = buf_putc(out, '\n');
        }
        if (r >= 0)
            r = buf_puts(out, "# TYPE ");
        if (r >= 0)
            r = buf_append(out, f->name, meta_len);
        if (r >= 0)
            r = buf_printf(out, " %s\n", type_name(f->type, om));
        /* In the text format, samples use the full family name. */
        for (size_t m = i; m < j && r >= 0; m++) {
            if (refs[m].f->type != f->type) {
                conflicts++;
                continue;
            }
            r = put_samples(out, refs[m].f, f->name, om ? meta_len : full_len, om);
        }
        i = j;
    }
    if (r >= 0 && om)
        r = buf_puts(out, "# EOF\n");
    free(refs);
    if (ret_conflicts)
        *ret_conflicts = conflicts;
    return r < 0 ? r : 0;
}

int expo_gzip(struct buf *out, const void *in, size_t len, int level)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    buf_reset(out);
    uLong bound = deflateBound(&z, (uLong)len);
    int r = buf_reserve(out, bound);
    if (r < 0) {
        deflateEnd(&z);
        return r;
    }
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out->data;
    z.avail_out = (uInt)bound;
    int zr = deflate(&z, Z_FINISH);
    out->len = z.total_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END)
        return -EIO;
    return 0;
}
