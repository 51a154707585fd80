/* mapping: loads and validates the StatsD mapping file (yamltree), compiles its globs
 * into per-component patterns and its names and labels into capture templates, and maps
 * StatsD names to metrics (see mapping.h). The built-in conventions are an embedded YAML
 * document read by the same loader. */
#include "mapping.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mset.h"
#include "naming.h"
#include "yamltree.h"

#define MAX_CAPTURES 9
#define MAX_COMPONENTS 32
#define MAX_MATCH_LEN 256
#define MAX_BUCKETS 64
#define MAX_STATES 16
#define MAX_HELP 1024
#define MAX_RULES 10000
#define LABEL_NAME_MAX 63 /* struct mapping_result label_names[][64] */

const double mapping_default_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
const size_t mapping_default_bucket_count =
    sizeof(mapping_default_buckets) / sizeof(mapping_default_buckets[0]);

/* The application conventions of docs/INGEST.md, appended after a file's own mappings
 * unless it sets defaults: {conventions: false}. */
static const char conventions_yaml[] =
    "mappings:\n"
    "  - match: \"*.request.duration\"\n"
    "    match_metric_type: observer\n"
    "    name: app_request_duration_seconds\n"
    "    type: histogram\n"
    "    labels: {service: \"$1\"}\n"
    "    help: \"Request latency in seconds, from <service>.request.duration.\"\n"
    "  - match: \"*.request.success\"\n"
    "    match_metric_type: counter\n"
    "    name: app_requests_total\n"
    "    labels: {service: \"$1\", result: success}\n"
    "    help: &requests \"Requests handled, by result, from <service>.request.success and "
    ".failure.\"\n"
    "  - match: \"*.request.failure\"\n"
    "    match_metric_type: counter\n"
    "    name: app_requests_total\n"
    "    labels: {service: \"$1\", result: failure}\n"
    "    help: *requests\n"
    "  - match: \"*.cache.*.hit\"\n"
    "    match_metric_type: counter\n"
    "    name: app_cache_requests_total\n"
    "    labels: {service: \"$1\", cache: \"$2\", result: hit}\n"
    "    help: &cache \"Cache lookups, by result, from <service>.cache.<cache>.hit and .miss.\"\n"
    "  - match: \"*.cache.*.miss\"\n"
    "    match_metric_type: counter\n"
    "    name: app_cache_requests_total\n"
    "    labels: {service: \"$1\", cache: \"$2\", result: miss}\n"
    "    help: *cache\n"
    "  - match: \"*.cache.*.size\"\n"
    "    match_metric_type: gauge\n"
    "    name: app_cache_entries\n"
    "    type: gauge\n"
    "    labels: {service: \"$1\", cache: \"$2\"}\n"
    "    help: \"Entries in the cache, from <service>.cache.<cache>.size.\"\n"
    "  - match: \"*.breaker.*.state\"\n"
    "    match_metric_type: gauge\n"
    "    name: app_breaker_state\n"
    "    type: state\n"
    "    states: [closed, open, half_open]\n"
    "    labels: {service: \"$1\", breaker: \"$2\"}\n"
    "    help: \"Circuit breaker state (1 on the current one), from "
    "<service>.breaker.<breaker>.state (0 closed, 1 open, 2 half_open).\"\n"
    "  - match: \"*.breaker.*.transition.*.*\"\n"
    "    match_metric_type: counter\n"
    "    name: app_breaker_transitions_total\n"
    "    labels: {service: \"$1\", breaker: \"$2\", from: \"$3\", to: \"$4\"}\n"
    "    help: \"Circuit breaker transitions, from "
    "<service>.breaker.<breaker>.transition.<from>.<to>.\"\n";

#define CONVENTIONS_NAME "<built-in conventions>"

/* A string with $1..$9 captures: literal parts point into the tree's text. */
struct tmpl_part {
    const char *lit; /* NULL for a capture */
    size_t len;
    unsigned capture; /* 1..9 */
};

struct tmpl {
    struct tmpl_part *parts;
    size_t n_parts;
};

/* One dot-separated component of a glob: literal pieces around its stars. */
struct glob_comp {
    unsigned n_stars;
    unsigned first_capture; /* index (0-based) of this component's first star */
    const char *piece[MAX_CAPTURES + 1];
    size_t piece_len[MAX_CAPTURES + 1];
};

enum type_filter {
    FILTER_ANY,
    FILTER_COUNTER,
    FILTER_GAUGE,
    FILTER_OBSERVER,
};

struct rule {
    const char *match; /* tree text */
    unsigned line, column;
    struct glob_comp *comps;
    unsigned n_comps, n_stars;
    enum type_filter filter;
    bool drop;
    bool has_name, has_type, has_ttl;
    struct tmpl name;
    enum ingest_kind type;
    double *buckets; /* NULL: the mapping's defaults */
    size_t n_buckets;
    uint64_t ttl_usec;
    const char *help; /* tree text or NULL */
    size_t n_labels;
    const char *label_names[INGEST_MAX_LABELS];
    struct tmpl label_values[INGEST_MAX_LABELS];
    const char **states; /* tree text */
    size_t n_states;
    const char *state_label;
};

struct mapping {
    struct ytree *file_tree, *conv_tree; /* rules borrow their strings */
    struct rule *rules;
    size_t n_rules, n_file_rules;
    double *buckets;
    size_t n_buckets;
    uint64_t ttl_usec;
    bool conventions;
    enum naming_mode naming; /* defaults.naming, else --statsd.naming */
};

static void rule_clear(struct rule *r)
{
    free(r->comps);
    free(r->name.parts);
    for (size_t i = 0; i < r->n_labels; i++)
        free(r->label_values[i].parts);
    free(r->buckets);
    free(r->states);
}

void mapping_free(struct mapping *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_rules; i++)
        rule_clear(&m->rules[i]);
    free(m->rules);
    free(m->buckets);
    ytree_free(m->file_tree);
    ytree_free(m->conv_tree);
    free(m);
}

size_t mapping_count(const struct mapping *m)
{
    return m->n_file_rules;
}

bool mapping_conventions(const struct mapping *m)
{
    return m->conventions;
}

enum naming_mode mapping_naming(const struct mapping *m)
{
    return m->naming;
}

/* ---- loading ---- */

static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t sl = strlen(suffix);
    return len >= sl && memcmp(s + len - sl, suffix, sl) == 0;
}

/* Compiles a glob: components separated by '.', each a literal with up to nine '*' in
 * all, each '*' matching one or more characters other than '.'. */
static int compile_glob(struct rule *r, const struct ytree_node *n, const char *glob,
                        struct buf *errors)
{
    size_t len = strlen(glob);
    if (len == 0)
        return ytree_error(errors, n, "match is empty");
    if (len > MAX_MATCH_LEN)
        return ytree_error(errors, n, "match is longer than %d characters", MAX_MATCH_LEN);
    for (const char *c = glob; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch == ':' || ch == '|' || ch <= ' ' || ch == 0x7f)
            return ytree_error(errors, n,
                               "match '%s' contains %s%c%s, which a StatsD name cannot contain",
                               glob, ch > ' ' ? "'" : "", ch > ' ' ? ch : '?',
                               ch > ' ' ? "'" : " (a space or control character)");
        if (ch == '*' && c[1] == '*')
            return ytree_error(errors, n,
                               "match '%s' has '**'; a '*' matches one or more characters of "
                               "one component",
                               glob);
    }
    unsigned n_comps = 1, n_stars = 0;
    for (const char *c = glob; *c; c++) {
        n_comps += *c == '.';
        n_stars += *c == '*';
    }
    if (glob[0] == '.' || glob[len - 1] == '.' || strstr(glob, ".."))
        return ytree_error(errors, n, "match '%s' has an empty component", glob);
    if (n_comps > MAX_COMPONENTS)
        return ytree_error(errors, n, "match '%s' has more than %d components", glob,
                           MAX_COMPONENTS);
    if (n_stars > MAX_CAPTURES)
        return ytree_error(errors, n, "match '%s' has more than %d '*'", glob, MAX_CAPTURES);
    r->comps = calloc(n_comps, sizeof(*r->comps));
    if (!r->comps)
        return -ENOMEM;
    r->n_comps = n_comps;
    r->n_stars = n_stars;
    const char *c = glob;
    unsigned capture = 0;
    for (unsigned i = 0; i < n_comps; i++) {
        const char *end = strchr(c, '.');
        if (!end)
            end = c + strlen(c);
        struct glob_comp *g = &r->comps[i];
        g->first_capture = capture;
        const char *p = c;
        for (;;) {
            const char *star = memchr(p, '*', (size_t)(end - p));
            const char *pend = star ? star : end;
            g->piece[g->n_stars] = p;
            g->piece_len[g->n_stars] = (size_t)(pend - p);
            if (!star)
                break;
            g->n_stars++;
            capture++;
            p = star + 1;
        }
        c = *end ? end + 1 : end;
    }
    return 0;
}

/* Parses "$1", "${1}" and "$$" in s. max_capture is the number of '*' of the match. */
static int compile_tmpl(struct tmpl *t, const struct ytree_node *n, const char *what, const char *s,
                        unsigned max_capture, struct buf *errors)
{
    size_t cap = 1;
    for (const char *c = s; *c; c++)
        cap += *c == '$' ? 2 : 0;
    t->parts = calloc(cap, sizeof(*t->parts));
    if (!t->parts)
        return -ENOMEM;
    t->n_parts = 0;
    const char *lit = s;
    for (const char *c = s; *c;) {
        if (*c != '$') {
            c++;
            continue;
        }
        if (c > lit)
            t->parts[t->n_parts++] = (struct tmpl_part){lit, (size_t)(c - lit), 0};
        unsigned k;
        if (c[1] == '$') {
            t->parts[t->n_parts++] = (struct tmpl_part){c, 1, 0};
            c += 2;
            lit = c;
            continue;
        } else if (c[1] >= '0' && c[1] <= '9') {
            k = (unsigned)(c[1] - '0');
            c += 2;
        } else if (c[1] == '{' && c[2] >= '0' && c[2] <= '9' && c[3] == '}') {
            k = (unsigned)(c[2] - '0');
            c += 4;
        } else {
            return ytree_error(errors, n,
                               "%s '%s': '$' must be followed by a capture number ($1 to $9 or "
                               "${1}) or '$'",
                               what, s);
        }
        if (k == 0)
            return ytree_error(errors, n, "%s '%s' uses $0; captures are numbered from $1", what,
                               s);
        if (k > max_capture)
            return ytree_error(errors, n, "%s '%s' uses $%u but the match has only %u '*'", what, s,
                               k, max_capture);
        t->parts[t->n_parts++] = (struct tmpl_part){NULL, 0, k};
        lit = c;
    }
    if (*lit)
        t->parts[t->n_parts++] = (struct tmpl_part){lit, strlen(lit), 0};
    return 0;
}

/* Expands t with every capture replaced by "x", for checking names at load time. */
static size_t tmpl_dummy(const struct tmpl *t, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < t->n_parts; i++) {
        const char *p = t->parts[i].lit ? t->parts[i].lit : "x";
        size_t l = t->parts[i].lit ? t->parts[i].len : 1;
        for (size_t j = 0; j < l; j++) {
            if (o + 1 < outsz)
                out[o] = p[j];
            o++;
        }
    }
    out[o < outsz ? o : outsz - 1] = '\0';
    return o;
}

static const char *const rule_keys[] = {
    "match",  "match_metric_type", "action", "name", "type", "buckets", "labels", "help", "ttl",
    "states", "state_label",       NULL,
};

/* Reads a sequence of bucket bounds: finite, strictly ascending, 1..MAX_BUCKETS. */
static int load_buckets(const struct ytree_node *n, double **ret, size_t *ret_n, struct buf *errors)
{
    if (ytree_expect(n, YTREE_SEQ, errors) < 0)
        return -EINVAL;
    size_t count = ytree_len(n);
    if (count == 0)
        return ytree_error(errors, n, "buckets is empty");
    if (count > MAX_BUCKETS)
        return ytree_error(errors, n, "more than %d buckets", MAX_BUCKETS);
    double *b = calloc(count, sizeof(*b));
    if (!b)
        return -ENOMEM;
    int r = 0;
    bool have_prev = false;
    double prev = 0;
    for (size_t i = 0; i < count; i++) {
        const struct ytree_node *item = ytree_item(n, i);
        double v;
        if (ytree_get_double(item, &v, errors) < 0) {
            r = -EINVAL;
            have_prev = false;
            continue;
        }
        if (!isfinite(v)) {
            r = ytree_error(errors, item, "bucket %s is not a finite number",
                            ytree_text(item, NULL));
            have_prev = false;
            continue;
        }
        if (have_prev && !(v > prev))
            r = ytree_error(errors, item, "buckets must be strictly ascending: %g after %g", v,
                            prev);
        b[i] = v;
        prev = v;
        have_prev = true;
    }
    if (r < 0) {
        free(b);
        return r;
    }
    *ret = b;
    *ret_n = count;
    return 0;
}

static bool name_reserved(const char *name)
{
    return strncmp(name, "homeostat_", 10) == 0 || strncmp(name, "process_", 8) == 0;
}

static int parse_enum(const struct ytree_node *n, const char *what, const char *const *names,
                      int *ret, struct buf *errors)
{
    const char *s;
    if (ytree_get_string(n, &s, errors) < 0)
        return -EINVAL;
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) {
            *ret = i;
            return 0;
        }
    char list[128];
    size_t o = 0;
    for (int i = 0; names[i]; i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                              i == 0         ? ""
                              : names[i + 1] ? ", "
                                             : " or ",
                              names[i]);
    return ytree_error(errors, n, "%s must be %s, got '%.64s'", what, list, s);
}

static const char *const type_names[] = {"counter", "gauge", "histogram", "state", NULL};
static const enum ingest_kind type_kinds[] = {INGEST_KIND_COUNTER, INGEST_KIND_GAUGE,
                                              INGEST_KIND_HISTOGRAM, INGEST_KIND_STATE};
static const char *const filter_names[] = {"counter", "gauge", "observer", NULL};

/* Which match_metric_type a type can apply to. */
static enum type_filter type_filter_of(enum ingest_kind k)
{
    switch (k) {
    case INGEST_KIND_COUNTER: return FILTER_COUNTER;
    case INGEST_KIND_HISTOGRAM: return FILTER_OBSERVER;
    case INGEST_KIND_GAUGE:
    case INGEST_KIND_STATE: return FILTER_GAUGE;
    }
    return FILTER_ANY;
}

/* Loads one entry of mappings. All errors are reported; returns -EINVAL when there was
 * one, -ENOMEM, or 0. */
static int load_rule(struct rule *r, const struct ytree_node *n, enum naming_mode naming,
                     struct buf *errors)
{
    int err = 0;
    if (ytree_expect(n, YTREE_MAP, errors) < 0)
        return -EINVAL;
    r->line = ytree_line(n);
    r->column = ytree_column(n);
    if (ytree_check_keys(n, rule_keys, errors) < 0)
        err = -EINVAL;

    const struct ytree_node *v;
    int k;
    bool glob_ok = false;
    if (!(v = ytree_get(n, "match"))) {
        err = ytree_error(errors, n, "mapping has no 'match'");
    } else if (ytree_get_string(v, &r->match, errors) < 0) {
        err = -EINVAL;
    } else {
        r->line = ytree_line(v);
        r->column = ytree_column(v);
        int rr = compile_glob(r, v, r->match, errors);
        if (rr == -ENOMEM)
            return rr;
        if (rr < 0)
            err = rr;
        else
            glob_ok = true;
    }
    unsigned max_capture = glob_ok ? r->n_stars : MAX_CAPTURES;

    if ((v = ytree_get(n, "match_metric_type"))) {
        if (parse_enum(v, "match_metric_type", filter_names, &k, errors) < 0)
            err = -EINVAL;
        else
            r->filter = (enum type_filter)(k + 1);
    }
    if ((v = ytree_get(n, "action"))) {
        static const char *const actions[] = {"map", "drop", NULL};
        if (parse_enum(v, "action", actions, &k, errors) < 0)
            err = -EINVAL;
        else
            r->drop = k == 1;
    }
    if (r->drop) {
        /* Everything but the match is meaningless on a drop: say so rather than ignore. */
        for (size_t i = 0; i < ytree_len(n); i++) {
            const char *key = ytree_text(ytree_key(n, i), NULL);
            bool known = false;
            for (const char *const *a = rule_keys; *a; a++)
                known |= strcmp(key, *a) == 0;
            if (known && strcmp(key, "match") != 0 && strcmp(key, "action") != 0 &&
                strcmp(key, "match_metric_type") != 0)
                err = ytree_error(errors, ytree_key(n, i), "'%s' has no effect with action: drop",
                                  key);
        }
        return err;
    }

    if ((v = ytree_get(n, "type"))) {
        if (parse_enum(v, "type", type_names, &k, errors) < 0) {
            err = -EINVAL;
        } else {
            r->has_type = true;
            r->type = type_kinds[k];
            if (r->filter != FILTER_ANY && r->filter != type_filter_of(r->type))
                err = ytree_error(errors, v, "type %s never applies to match_metric_type %s",
                                  type_names[k], filter_names[r->filter - 1]);
        }
    }
    const char *name = NULL;
    if ((v = ytree_get(n, "name"))) {
        if (ytree_get_string(v, &name, errors) < 0) {
            err = -EINVAL;
        } else {
            int rr = compile_tmpl(&r->name, v, "name", name, max_capture, errors);
            if (rr == -ENOMEM)
                return rr;
            if (rr < 0) {
                err = rr;
            } else {
                r->has_name = true;
                char dummy[INGEST_MAX_NAME + 16];
                size_t dl = tmpl_dummy(&r->name, dummy, sizeof(dummy));
                size_t extra = naming == NAMING_PROMETHEUS && r->has_type &&
                                       r->type == INGEST_KIND_COUNTER &&
                                       !ends_with(dummy, dl, "_total")
                                   ? 6
                                   : 0;
                if (dl + extra > INGEST_MAX_NAME)
                    err = ytree_error(errors, v, "name '%.64s...' is longer than %d characters",
                                      name, INGEST_MAX_NAME);
                else if (!metric_name_valid(dummy))
                    err = ytree_error(errors, v,
                                      "name '%s' is not a valid metric name (letters, digits, "
                                      "'_' and ':', not starting with a digit)",
                                      name);
                else if (name_reserved(dummy))
                    err = ytree_error(errors, v,
                                      "name '%s' is reserved for the exporter's own metrics", name);
                else if (naming == NAMING_PROMETHEUS) {
                    /* promtool's naming rules; the suffix rules only when the type is
                     * fixed here (otherwise the StatsD type decides at run time). The
                     * statsd_exporter naming takes any valid name, as it does. */
                    enum metric_type mt = METRIC_UNTYPED;
                    if (r->has_type)
                        mt = r->type == INGEST_KIND_COUNTER     ? METRIC_COUNTER
                             : r->type == INGEST_KIND_HISTOGRAM ? METRIC_HISTOGRAM
                                                                : METRIC_GAUGE;
                    if (extra)
                        memcpy(dummy + dl, "_total", 7);
                    const char *lint = metric_name_lint(dummy, mt);
                    if (lint)
                        err = ytree_error(errors, v, "name '%s': %s (promtool would reject it)",
                                          name, lint);
                }
            }
        }
    }
    if ((v = ytree_get(n, "buckets"))) {
        bool applies = (!r->has_type || r->type == INGEST_KIND_HISTOGRAM) &&
                       (r->filter == FILTER_ANY || r->filter == FILTER_OBSERVER);
        int rr = load_buckets(v, &r->buckets, &r->n_buckets, errors);
        if (rr == -ENOMEM)
            return rr;
        if (rr < 0)
            err = rr;
        else if (!applies)
            err = ytree_error(errors, v, "buckets only apply to histograms");
    }
    if ((v = ytree_get(n, "help"))) {
        if (ytree_get_string(v, &r->help, errors) < 0)
            err = -EINVAL;
        else if (strlen(r->help) > MAX_HELP)
            err = ytree_error(errors, v, "help is longer than %d bytes", MAX_HELP);
        else if (!label_value_valid(r->help))
            err = ytree_error(errors, v, "help is not valid UTF-8");
    }
    if ((v = ytree_get(n, "ttl"))) {
        if (ytree_get_duration(v, &r->ttl_usec, errors) < 0)
            err = -EINVAL;
        else
            r->has_ttl = true;
    }

    bool is_state = r->has_type && r->type == INGEST_KIND_STATE;
    r->state_label = "state";
    if ((v = ytree_get(n, "state_label"))) {
        const char *sl;
        if (ytree_get_string(v, &sl, errors) < 0)
            err = -EINVAL;
        else if (!is_state)
            err = ytree_error(errors, v, "state_label only applies to type: state");
        else if (!label_name_valid(sl) || strlen(sl) > LABEL_NAME_MAX)
            err = ytree_error(errors, v, "state_label '%.64s' is not a valid label name", sl);
        else if (strcmp(sl, "le") == 0)
            err = ytree_error(errors, v, "label 'le' is reserved for histogram buckets");
        else
            r->state_label = sl;
    }
    if ((v = ytree_get(n, "states"))) {
        if (!is_state) {
            err = ytree_error(errors, v, "states only apply to type: state");
        } else if (ytree_expect(v, YTREE_SEQ, errors) < 0) {
            err = -EINVAL;
        } else if (ytree_len(v) == 0 || ytree_len(v) > MAX_STATES) {
            err = ytree_error(errors, v, "states must list 1 to %d names, got %zu", MAX_STATES,
                              ytree_len(v));
        } else {
            r->states = calloc(ytree_len(v), sizeof(*r->states));
            if (!r->states)
                return -ENOMEM;
            for (size_t i = 0; i < ytree_len(v); i++) {
                const struct ytree_node *item = ytree_item(v, i);
                const char *s;
                if (ytree_get_string(item, &s, errors) < 0) {
                    err = -EINVAL;
                    continue;
                }
                if (!*s || strlen(s) > INGEST_MAX_LABEL_VALUE || !label_value_valid(s)) {
                    err = ytree_error(errors, item,
                                      "state '%.64s' is not a valid label value (1 to %d bytes "
                                      "of UTF-8)",
                                      s, INGEST_MAX_LABEL_VALUE);
                    continue;
                }
                for (size_t j = 0; j < r->n_states; j++)
                    if (strcmp(r->states[j], s) == 0) {
                        err = ytree_error(errors, item, "duplicate state '%s'", s);
                        break;
                    }
                r->states[r->n_states++] = s;
            }
        }
    } else if (is_state) {
        err = ytree_error(errors, ytree_get(n, "type"), "type: state needs 'states'");
    }

    if ((v = ytree_get(n, "labels"))) {
        if (ytree_expect(v, YTREE_MAP, errors) < 0) {
            err = -EINVAL;
        } else {
            size_t max = INGEST_MAX_LABELS - (is_state ? 1 : 0);
            if (ytree_len(v) > max)
                err = ytree_error(errors, v, "more than %zu labels%s", max,
                                  is_state ? " (the state label counts)" : "");
            for (size_t i = 0; i < ytree_len(v) && i < max; i++) {
                const struct ytree_node *key = ytree_key(v, i), *val = ytree_value(v, i);
                const char *ln, *lv;
                bool ok = true;
                if (ytree_get_string(key, &ln, errors) < 0) {
                    ok = false;
                    err = -EINVAL;
                } else if (!label_name_valid(ln) || strlen(ln) > LABEL_NAME_MAX) {
                    ok = false;
                    err = ytree_error(errors, key,
                                      "invalid label name '%.64s' (letters, digits and '_', not "
                                      "starting with a digit or '__')",
                                      ln);
                } else if (strcmp(ln, "le") == 0) {
                    ok = false;
                    err = ytree_error(errors, key, "label 'le' is reserved for histogram buckets");
                } else if (is_state && strcmp(ln, r->state_label) == 0) {
                    ok = false;
                    err = ytree_error(errors, key, "label '%s' is the state label", ln);
                }
                if (ytree_get_string(val, &lv, errors) < 0) {
                    err = -EINVAL;
                    continue;
                }
                if (!ok)
                    continue;
                struct tmpl *t = &r->label_values[r->n_labels];
                int rr = compile_tmpl(t, val, "label value", lv, max_capture, errors);
                if (rr == -ENOMEM)
                    return rr;
                r->label_names[r->n_labels++] = ln; /* the template is freed with it */
                if (rr < 0) {
                    err = rr;
                    continue;
                }
                char dummy[INGEST_MAX_LABEL_VALUE + 2];
                if (tmpl_dummy(t, dummy, sizeof(dummy)) > INGEST_MAX_LABEL_VALUE)
                    err = ytree_error(errors, val, "label value is longer than %d bytes",
                                      INGEST_MAX_LABEL_VALUE);
                else if (!label_value_valid(dummy))
                    err = ytree_error(errors, val, "label value is not valid UTF-8");
            }
        }
    }
    return err;
}

static int load_defaults(struct mapping *m, const struct ytree_node *n, struct buf *errors)
{
    static const char *const keys[] = {"buckets",     "ttl",    "timer_type",
                                       "conventions", "naming", NULL};
    if (ytree_is_null(n))
        return 0;
    if (ytree_expect(n, YTREE_MAP, errors) < 0)
        return -EINVAL;
    int err = ytree_check_keys(n, keys, errors);
    const struct ytree_node *v;
    if ((v = ytree_get(n, "buckets"))) {
        double *b;
        size_t nb;
        int r = load_buckets(v, &b, &nb, errors);
        if (r == -ENOMEM)
            return r;
        if (r < 0) {
            err = r;
        } else {
            free(m->buckets);
            m->buckets = b;
            m->n_buckets = nb;
        }
    }
    if ((v = ytree_get(n, "ttl")) && ytree_get_duration(v, &m->ttl_usec, errors) < 0)
        err = -EINVAL;
    if ((v = ytree_get(n, "timer_type"))) {
        static const char *const timer_types[] = {"histogram", NULL};
        int k;
        if (parse_enum(v, "timer_type", timer_types, &k, errors) < 0)
            err = -EINVAL;
    }
    if ((v = ytree_get(n, "conventions")) && ytree_get_bool(v, &m->conventions, errors) < 0)
        err = -EINVAL;
    if ((v = ytree_get(n, "naming"))) {
        static const char *const modes[] = {"prometheus", "statsd_exporter", NULL};
        int k;
        if (parse_enum(v, "naming", modes, &k, errors) < 0)
            err = -EINVAL;
        else
            (void)naming_mode_parse(modes[k], &m->naming); /* one of its two names */
    }
    return err;
}

struct match_ref {
    const struct rule *rule;
    size_t index;
};

static int match_ref_cmp(const void *a, const void *b)
{
    const struct match_ref *x = a, *y = b;
    int c = strcmp(x->rule->match, y->rule->match);
    if (c)
        return c;
    if (x->rule->filter != y->rule->filter)
        return x->rule->filter < y->rule->filter ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* The same match (and match_metric_type) twice: the second could never match. */
static int check_duplicates(const struct rule *rules, size_t n, const char *file,
                            struct buf *errors)
{
    if (n < 2)
        return 0;
    struct match_ref *refs = malloc(n * sizeof(*refs));
    size_t *first = malloc(n * sizeof(*first));
    if (!refs || !first) {
        free(refs);
        free(first);
        return -ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        first[i] = SIZE_MAX;
        if (rules[i].match && rules[i].comps)
            refs[k++] = (struct match_ref){&rules[i], i};
    }
    qsort(refs, k, sizeof(*refs), match_ref_cmp);
    for (size_t i = 1; i < k; i++)
        if (strcmp(refs[i].rule->match, refs[i - 1].rule->match) == 0 &&
            refs[i].rule->filter == refs[i - 1].rule->filter)
            first[refs[i].index] =
                first[refs[i - 1].index] == SIZE_MAX ? refs[i - 1].index : first[refs[i - 1].index];
    int err = 0;
    for (size_t i = 0; i < n; i++) {
        if (first[i] == SIZE_MAX)
            continue;
        const struct rule *r = &rules[i], *o = &rules[first[i]];
        buf_printf(errors, "%s:%u:%u: duplicate match '%s' (first at %u:%u)\n", file, r->line,
                   r->column, r->match, o->line, o->column);
        err = -EINVAL;
    }
    free(refs);
    free(first);
    return err;
}

/* Loads the mappings of tree into m->rules (appending). */
static int load_tree(struct mapping *m, const struct ytree *tree, bool is_file, struct buf *errors)
{
    static const char *const keys[] = {"defaults", "mappings", NULL};
    const struct ytree_node *root = ytree_root(tree);
    if (ytree_is_null(root))
        return 0;
    if (ytree_kind(root) != YTREE_MAP)
        return ytree_error(errors, root, "expected a map with 'mappings' and 'defaults', got %s",
                           ytree_describe(root));
    int err = ytree_check_keys(root, keys, errors);
    const struct ytree_node *v;
    if ((v = ytree_get(root, "defaults"))) {
        if (!is_file)
            return ytree_error(errors, v, "the conventions cannot set defaults");
        int r = load_defaults(m, v, errors);
        if (r == -ENOMEM)
            return r;
        if (r < 0)
            err = r;
    }
    v = ytree_get(root, "mappings");
    if (!v || ytree_is_null(v))
        return err;
    if (ytree_expect(v, YTREE_SEQ, errors) < 0)
        return -EINVAL;
    size_t count = ytree_len(v);
    if (count == 0)
        return err;
    if (m->n_rules + count > MAX_RULES)
        return ytree_error(errors, v, "more than %d mappings", MAX_RULES);
    struct rule *rules = realloc(m->rules, (m->n_rules + count) * sizeof(*rules));
    if (!rules)
        return -ENOMEM;
    m->rules = rules;
    size_t base = m->n_rules;
    for (size_t i = 0; i < count; i++) {
        struct rule *r = &m->rules[m->n_rules++];
        memset(r, 0, sizeof(*r));
        int rr = load_rule(r, ytree_item(v, i), m->naming, errors);
        if (rr == -ENOMEM)
            return rr;
        if (rr < 0)
            err = rr;
    }
    int rr = check_duplicates(m->rules + base, count, ytree_name(tree), errors);
    if (rr == -ENOMEM)
        return rr;
    if (rr < 0)
        err = rr;
    return err;
}

static int load_conventions(struct mapping *m, struct buf *errors)
{
    int r = ytree_load_string(conventions_yaml, sizeof(conventions_yaml) - 1, CONVENTIONS_NAME,
                              NULL, &m->conv_tree, errors);
    if (r < 0)
        return r;
    return load_tree(m, m->conv_tree, false, errors);
}

static struct mapping *mapping_new(enum naming_mode naming)
{
    struct mapping *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->conventions = true;
    m->naming = naming;
    return m;
}

/* Validates tree (taking ownership) into a new mapping with the conventions appended. */
static int load_from_tree(struct ytree *tree, enum naming_mode naming, struct mapping **ret,
                          struct buf *errors)
{
    struct mapping *m = mapping_new(naming);
    if (!m) {
        ytree_free(tree);
        return -ENOMEM;
    }
    m->file_tree = tree;
    struct buf found;
    buf_init(&found, errors && errors->max ? errors->max : 0);
    int r = load_tree(m, tree, true, &found);
    m->n_file_rules = m->n_rules;
    if (r >= 0 && m->conventions)
        r = load_conventions(m, &found);
    ytree_errors_sorted(errors, &found, ytree_name(tree));
    buf_free(&found);
    if (r < 0) {
        mapping_free(m);
        return r == -ENOMEM ? r : -EINVAL;
    }
    *ret = m;
    return 0;
}

static const struct ytree_limits mapping_limits = {.max_bytes = MAPPING_MAX_FILE_BYTES};

int mapping_load_string(const char *yaml, size_t len, const char *name, enum naming_mode naming,
                        struct mapping **ret, struct buf *errors)
{
    struct ytree *tree;
    int r = ytree_load_string(yaml, len, name, &mapping_limits, &tree, errors);
    if (r < 0)
        return r == -ENOMEM ? r : -EINVAL;
    return load_from_tree(tree, naming, ret, errors);
}

int mapping_load_file(const char *path, enum naming_mode naming, struct mapping **ret,
                      struct buf *errors)
{
    struct ytree *tree;
    int r = ytree_load_file(path, &mapping_limits, &tree, errors);
    if (r < 0)
        return r == -E2BIG ? -EINVAL : r; /* -EINVAL, -ENOMEM or the read's -errno */
    return load_from_tree(tree, naming, ret, errors);
}

int mapping_default(enum naming_mode naming, struct mapping **ret)
{
    struct mapping *m = mapping_new(naming);
    if (!m)
        return -ENOMEM;
    int r = load_conventions(m, NULL);
    if (r < 0) {
        mapping_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

int mapping_check_file(const char *path, enum naming_mode naming, FILE *out)
{
    struct buf errors;
    buf_init(&errors, 1 << 20);
    struct mapping *m = NULL;
    int r = mapping_load_file(path, naming, &m, &errors);
    if (r < 0) {
        if (errors.len)
            fputs(errors.data, out);
        else
            fprintf(out, "%s: %s\n", path, strerror(-r));
        size_t lines = 0;
        for (size_t i = 0; i < errors.len; i++)
            lines += errors.data[i] == '\n';
        fprintf(out, "%s: FAILED (%zu error%s)\n", path, lines ? lines : 1,
                lines == 1 || !lines ? "" : "s");
        buf_free(&errors);
        return 1;
    }
    fprintf(out, "%s: OK (%zu mapping%s)\n", path, m->n_file_rules,
            m->n_file_rules == 1 ? "" : "s");
    mapping_free(m);
    buf_free(&errors);
    return 0;
}

/* ---- matching ---- */

struct span {
    const char *p;
    size_t len;
};

static const char *find_piece(const char *s, size_t n, const char *piece, size_t pl)
{
    if (pl == 0)
        return s;
    for (size_t i = 0; i + pl <= n; i++)
        if (s[i] == piece[0] && memcmp(s + i, piece, pl) == 0)
            return s + i;
    return NULL;
}

/* Matches one component. Each '*' takes one or more characters, earlier ones as few as
 * possible (leftmost placement of the literal pieces between them is always a match when
 * there is one). */
static bool match_comp(const struct glob_comp *g, const char *s, size_t n, struct span *caps)
{
    if (g->n_stars == 0)
        return n == g->piece_len[0] && memcmp(s, g->piece[0], n) == 0;
    size_t need = g->n_stars;
    for (unsigned i = 0; i <= g->n_stars; i++)
        need += g->piece_len[i];
    if (n < need)
        return false;
    size_t pl0 = g->piece_len[0], plk = g->piece_len[g->n_stars];
    if (memcmp(s, g->piece[0], pl0) != 0 || memcmp(s + n - plk, g->piece[g->n_stars], plk) != 0)
        return false;
    size_t pos = pl0, end = n - plk;
    for (unsigned i = 1; i < g->n_stars; i++) {
        /* Star i takes s[pos .. start) with start > pos; room for the later stars. */
        size_t from = pos + 1;
        size_t pl = g->piece_len[i];
        size_t room = end - (g->n_stars - i); /* the last star needs a character too */
        if (from + pl > room)
            return false;
        const char *at = find_piece(s + from, room - from, g->piece[i], pl);
        if (!at)
            return false;
        size_t start = (size_t)(at - s);
        caps[g->first_capture + i - 1] = (struct span){s + pos, start - pos};
        pos = start + pl;
    }
    if (end <= pos)
        return false;
    caps[g->first_capture + g->n_stars - 1] = (struct span){s + pos, end - pos};
    return true;
}

static bool filter_accepts(enum type_filter f, enum statsd_type t)
{
    switch (f) {
    case FILTER_ANY: return true;
    case FILTER_COUNTER: return t == STATSD_COUNTER;
    case FILTER_GAUGE: return t == STATSD_GAUGE || t == STATSD_GAUGE_DELTA;
    case FILTER_OBSERVER:
        return t == STATSD_TIMER || t == STATSD_HISTOGRAM || t == STATSD_DISTRIBUTION;
    }
    return false;
}

/* Appends s[n] to out (of INGEST_MAX_NAME + 1): literal text as it is, captured text
 * escaped by the mapping's naming. false past the limit. */
static bool put(const struct mapping *m, char *out, size_t *o, const char *s, size_t n, bool escape)
{
    if (escape)
        return naming_append(m->naming, s, n, out, o, INGEST_MAX_NAME);
    if (*o + n > INGEST_MAX_NAME)
        return false;
    memcpy(out + *o, s, n);
    *o += n;
    out[*o] = '\0';
    return true;
}

/* The kind a StatsD type becomes, given the mapping's type (if any). -1: incompatible. */
static int resolve_kind(const struct rule *r, enum statsd_type t)
{
    bool observer = t == STATSD_TIMER || t == STATSD_HISTOGRAM || t == STATSD_DISTRIBUTION;
    bool gauge = t == STATSD_GAUGE || t == STATSD_GAUGE_DELTA;
    if (!r || !r->has_type)
        return t == STATSD_COUNTER ? INGEST_KIND_COUNTER
               : gauge             ? INGEST_KIND_GAUGE
                                   : INGEST_KIND_HISTOGRAM;
    switch (r->type) {
    case INGEST_KIND_COUNTER: return t == STATSD_COUNTER ? (int)r->type : -1;
    case INGEST_KIND_GAUGE: return gauge ? (int)r->type : -1;
    case INGEST_KIND_HISTOGRAM: return observer ? (int)r->type : -1;
    case INGEST_KIND_STATE: return t == STATSD_GAUGE ? (int)r->type : -1;
    }
    return -1;
}

int mapping_apply(const struct mapping *m, const char *name, size_t name_len, enum statsd_type type,
                  struct mapping_result *out)
{
    if (type == STATSD_SET)
        return -INGEST_SET_UNSUPPORTED;
    if (name_len == 0 || memchr(name, '\0', name_len))
        return -INGEST_BAD_NAME;

    /* Split into components once; a name with more than any glob has matches nothing. */
    struct span comp[MAX_COMPONENTS];
    size_t n_comps = 0;
    bool too_many = false;
    for (size_t i = 0, start = 0; i <= name_len; i++) {
        if (i < name_len && name[i] != '.')
            continue;
        if (n_comps == MAX_COMPONENTS) {
            too_many = true;
            break;
        }
        comp[n_comps++] = (struct span){name + start, i - start};
        start = i + 1;
    }

    const struct rule *rule = NULL;
    struct span caps[MAX_CAPTURES];
    for (size_t i = 0; i < m->n_rules && !too_many; i++) {
        const struct rule *r = &m->rules[i];
        if (r->n_comps != n_comps || !filter_accepts(r->filter, type))
            continue;
        size_t c = 0;
        while (c < n_comps && match_comp(&r->comps[c], comp[c].p, comp[c].len, caps))
            c++;
        if (c == n_comps) {
            rule = r;
            break;
        }
    }

    memset(out, 0, offsetof(struct mapping_result, label_names));
    out->n_labels = 0;
    out->buckets = NULL;
    out->n_buckets = 0;
    out->help = NULL;
    out->states = NULL;
    out->n_states = 0;
    out->state_label = NULL;
    out->ttl_usec = m->ttl_usec;
    out->matched = rule != NULL;
    if (rule && rule->drop) {
        out->drop = 1;
        return 0;
    }
    int kind = resolve_kind(rule, type);
    if (kind < 0)
        return -INGEST_BAD_TYPE;
    out->kind = (enum ingest_kind)kind;

    size_t o = 0;
    char unit[NAMING_UNIT_MAX + 1] = "";
    out->name[0] = '\0';
    if (rule && rule->has_name) {
        for (size_t i = 0; i < rule->name.n_parts; i++) {
            const struct tmpl_part *p = &rule->name.parts[i];
            bool ok = p->lit ? put(m, out->name, &o, p->lit, p->len, false)
                             : put(m, out->name, &o, caps[p->capture - 1].p,
                                   caps[p->capture - 1].len, true);
            if (!ok)
                return -INGEST_BAD_NAME;
        }
        if (m->naming == NAMING_PROMETHEUS && out->kind == INGEST_KIND_COUNTER &&
            !ends_with(out->name, o, "_total") && !put(m, out->name, &o, "_total", 6, false))
            return -INGEST_BAD_NAME;
    } else {
        int r = naming_metric(m->naming, name, name_len, type, out->kind, out->name, unit);
        if (r < 0)
            return r;
    }
    if (!metric_name_valid(out->name))
        return -INGEST_BAD_NAME;

    if (rule) {
        for (size_t l = 0; l < rule->n_labels; l++) {
            const struct tmpl *t = &rule->label_values[l];
            char *v = out->label_values[l];
            size_t vl = 0;
            for (size_t i = 0; i < t->n_parts; i++) {
                const struct tmpl_part *p = &t->parts[i];
                const char *s = p->lit ? p->lit : caps[p->capture - 1].p;
                size_t sl = p->lit ? p->len : caps[p->capture - 1].len;
                if (vl + sl > INGEST_MAX_LABEL_VALUE)
                    return -INGEST_BAD_NAME;
                memcpy(v + vl, s, sl);
                vl += sl;
            }
            v[vl] = '\0';
            if (!label_value_valid(v))
                return -INGEST_BAD_NAME;
            size_t nl = strlen(rule->label_names[l]);
            memcpy(out->label_names[l], rule->label_names[l], nl + 1);
        }
        out->n_labels = rule->n_labels;
        out->help = rule->help;
        if (rule->has_ttl)
            out->ttl_usec = rule->ttl_usec;
    }
    /* The unit words the naming moved out of the name, unless the mapping sets the label. */
    bool unit_set = false;
    for (size_t l = 0; l < out->n_labels; l++)
        unit_set |= strcmp(out->label_names[l], NAMING_UNIT_LABEL) == 0;
    if (unit[0] && !unit_set) {
        if (out->n_labels == INGEST_MAX_LABELS)
            return -INGEST_TOO_MANY_LABELS;
        memcpy(out->label_names[out->n_labels], NAMING_UNIT_LABEL, sizeof(NAMING_UNIT_LABEL));
        memcpy(out->label_values[out->n_labels], unit, strlen(unit) + 1);
        out->n_labels++;
    }
    if (out->kind == INGEST_KIND_HISTOGRAM) {
        if (rule && rule->buckets) {
            out->buckets = rule->buckets;
            out->n_buckets = rule->n_buckets;
        } else if (m->buckets) {
            out->buckets = m->buckets;
            out->n_buckets = m->n_buckets;
        } else {
            out->buckets = mapping_default_buckets;
            out->n_buckets = mapping_default_bucket_count;
        }
    }
    if (out->kind == INGEST_KIND_STATE) {
        out->states = rule->states;
        out->n_states = rule->n_states;
        out->state_label = rule->state_label;
    }
    return 0;
}
