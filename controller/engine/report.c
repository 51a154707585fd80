/* report: builds the health report from the rules' report section and one round of
 * instant queries, and renders it as text (see report.h, docs/REPORT.md). */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "targets.h"
#include "template.h"

#define SCORE_FORMULA "max(0, 100 - 30 * critical - 10 * warning - 2 * info), over the issues"
#define STATUS_BANDS                                                                               \
    "healthy: score 80..100, degraded: 50..79, critical: 0..49; unknown when no check could "      \
    "be evaluated"

/* ---- small JSON helpers ---- */

struct jb {
    bool failed;
};

static void put(struct jb *j, json_t *o, const char *key, json_t *v)
{
    if (json_object_set_new(o, key, v) < 0)
        j->failed = true;
}

static void append(struct jb *j, json_t *a, json_t *v)
{
    if (json_array_append_new(a, v) < 0)
        j->failed = true;
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* RFC 3339 UTC with milliseconds. */
static json_t *time_json(double t)
{
    if (!(t > 0))
        return json_null();
    time_t s = (time_t)t;
    struct tm tm;
    gmtime_r(&s, &tm);
    char day[40], out[64];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof(out), "%s.%03dZ", day, (int)((t - (double)s) * 1000));
    return json_string(out);
}

/* ---- one item's series ---- */

struct series {
    json_t *labels; /* new reference: the series' labels without __name__ */
    char *key;      /* labels as sorted compact JSON, for a stable order */
    double value;
};

static int series_cmp(const void *a, const void *b)
{
    return strcmp(((const struct series *)a)->key, ((const struct series *)b)->key);
}

static void series_free(struct series *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) {
        json_decref(s[i].labels);
        free(s[i].key);
    }
    free(s);
}

/* The finite-valued series of an instant vector, sorted by labels; *ret_nan counts those
 * without a number. -ENOMEM, or -EINVAL when the vector is not what Prometheus sends. */
static int read_series(const json_t *vec, struct series **ret, size_t *ret_n, size_t *ret_nan)
{
    size_t n = json_array_size(vec), k = 0;
    struct series *s = calloc(n ? n : 1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    *ret_nan = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *one = json_array_get(vec, i);
        const json_t *metric = json_object_get(one, "metric");
        const json_t *value = json_object_get(one, "value");
        if (!json_is_object(one) || (metric && !json_is_object(metric))) {
            series_free(s, k);
            return -EINVAL;
        }
        double v = NAN;
        const char *text = json_string_value(json_array_get(value, 1));
        if (!text || parse_double(text, &v) < 0 || isnan(v)) {
            (*ret_nan)++; /* a native histogram, NaN, or no value */
            continue;
        }
        json_t *labels = json_object();
        const char *key;
        json_t *lv;
        if (!labels) {
            series_free(s, k);
            return -ENOMEM;
        }
        json_object_foreach((json_t *)metric, key, lv)
        {
            if (strcmp(key, "__name__") != 0 && json_is_string(lv) &&
                json_object_set(labels, key, lv) < 0) {
                json_decref(labels);
                series_free(s, k);
                return -ENOMEM;
            }
        }
        s[k].labels = labels;
        s[k].key = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS);
        s[k].value = v;
        if (!s[k++].key) {
            series_free(s, k);
            return -ENOMEM;
        }
    }
    qsort(s, k, sizeof(*s), series_cmp);
    *ret = s;
    *ret_n = k;
    return 0;
}

/* ---- assembling ---- */

enum sev_count { N_CRITICAL, N_WARNING, N_INFO };

struct acc {
    struct jb j;
    json_t *issues, *optimizations, *items, *not_evaluated, *skipped;
    size_t severity[3]; /* issues by severity, listed or not */
    size_t n_opts;      /* optimizations found, listed or not */
    size_t n_checks, evaluated, passed, with_issues, failed_checks, skipped_checks, n_skipped;
    struct buf text; /* template output */
    const struct report_options *o;
};

/* A template expanded, or JSON null for none. */
static json_t *expand(struct acc *a, const char *tmpl, const struct series *s, double threshold)
{
    if (!tmpl)
        return json_null();
    struct template_vars v = {s ? s->value : NAN, threshold, s ? s->labels : NULL};
    if (template_render(tmpl, &v, &a->text) < 0) {
        a->j.failed = true;
        return json_null();
    }
    return json_string(a->text.data ? a->text.data : "");
}

static const char *item_kind(bool optimization)
{
    return optimization ? "optimization" : "check";
}

/* One check or optimization: its entry in "checks" and what it found. */
static void assemble_item(struct acc *a, const struct report_item *it, bool optimization,
                          const struct report_answer *ans)
{
    json_t *entry = json_object();
    put(&a->j, entry, "name", json_string(it->name));
    put(&a->j, entry, "kind", json_string(item_kind(optimization)));
    if (optimization) {
        put(&a->j, entry, "type", json_string(it->type));
    } else {
        put(&a->j, entry, "component", json_string(it->component));
        put(&a->j, entry, "severity", json_string(report_severity_name(it->severity)));
        a->n_checks++;
    }
    put(&a->j, entry, "condition", json_string(it->condition));
    put(&a->j, entry, "slow", json_boolean(it->slow));

    const char *status = NULL, *error = NULL;
    char reason[320] = "";
    struct series *s = NULL;
    size_t n = 0, nan = 0;
    int r = 0;
    if (ans->skipped) {
        status = "skipped";
        snprintf(reason, sizeof(reason), "slow: left out by --quick");
    } else if (!ans->series) {
        status = "failed";
        error = ans->error ? ans->error : "unknown";
        snprintf(reason, sizeof(reason), "query failed: %s", ans->detail[0] ? ans->detail : error);
    } else if ((r = read_series(ans->series, &s, &n, &nan)) < 0) {
        if (r == -ENOMEM)
            a->j.failed = true;
        status = "failed";
        error = "bad_response";
        snprintf(reason, sizeof(reason), "query failed: the reply is not an instant vector");
    } else if (n == 0) {
        status = "no_data";
        if (nan)
            snprintf(reason, sizeof(reason), "no data: %zu series without a number (NaN)", nan);
        else
            snprintf(reason, sizeof(reason), "no data: the query returned no series");
    }

    size_t matched = 0, listed = 0;
    for (size_t i = 0; !status && i < n; i++) {
        if (!cond_op_holds(it->op, s[i].value, it->threshold))
            continue;
        matched++;
        if (listed >= REPORT_MAX_LISTED)
            continue;
        listed++;
        json_t *o = json_object();
        if (optimization) {
            put(&a->j, o, "name", json_string(it->name));
            put(&a->j, o, "type", json_string(it->type));
            put(&a->j, o, "impact", json_string(report_level_name(it->impact)));
            put(&a->j, o, "effort", json_string(report_level_name(it->effort)));
        } else {
            put(&a->j, o, "check", json_string(it->name));
            put(&a->j, o, "severity", json_string(report_severity_name(it->severity)));
            put(&a->j, o, "component", json_string(it->component));
            put(&a->j, o, "summary", expand(a, it->summary, &s[i], it->threshold));
        }
        put(&a->j, o, "description", expand(a, it->description, &s[i], it->threshold));
        put(&a->j, o, "recommendation", expand(a, it->recommendation, &s[i], it->threshold));
        put(&a->j, o, "value", num_or_null(s[i].value));
        put(&a->j, o, "threshold", json_real(it->threshold));
        put(&a->j, o, "condition", json_string(it->condition));
        put(&a->j, o, "labels", json_incref(s[i].labels));
        bool named = false;
        for (size_t b = 0; b < a->o->n_target_by && !named; b++)
            named = json_object_get(s[i].labels, a->o->target_by[b]) != NULL;
        char key[TARGETS_MAX_KEY];
        if (named &&
            targets_key_by(a->o->target_by, a->o->n_target_by, s[i].labels, key, sizeof(key)) >= 0)
            put(&a->j, o, "target", json_string(key));
        append(&a->j, optimization ? a->optimizations : a->issues, o);
    }
    if (!status)
        status = matched ? (optimization ? "found" : "issues") : "ok";
    put(&a->j, entry, "status", json_string(status));
    put(&a->j, entry, "series", json_integer((json_int_t)n));
    put(&a->j, entry, "matched", json_integer((json_int_t)matched));
    if (matched > listed)
        put(&a->j, entry, "not_listed", json_integer((json_int_t)(matched - listed)));
    put(&a->j, entry, "reason", reason[0] ? json_string(reason) : json_null());
    if (error)
        put(&a->j, entry, "error", json_string(error));
    if (!ans->skipped && ans->warnings[0]) /* partial data, from Prometheus */
        put(&a->j, entry, "warnings", json_string(ans->warnings));
    append(&a->j, a->items, entry);

    bool evaluated =
        strcmp(status, "ok") == 0 || strcmp(status, "issues") == 0 || strcmp(status, "found") == 0;
    if (!optimization && evaluated) {
        a->evaluated++;
        if (matched) {
            a->with_issues++;
            a->severity[it->severity] += matched;
        } else {
            a->passed++;
        }
    }
    if (optimization)
        a->n_opts += matched;
    if (ans->skipped) {
        a->n_skipped++;
        if (!optimization)
            a->skipped_checks++;
        json_t *o = json_object();
        put(&a->j, o, "name", json_string(it->name));
        put(&a->j, o, "kind", json_string(item_kind(optimization)));
        put(&a->j, o, "reason", json_string(reason));
        append(&a->j, a->skipped, o);
    } else if (!evaluated) {
        if (!optimization)
            a->failed_checks++;
        json_t *o = json_object();
        put(&a->j, o, "name", json_string(it->name));
        put(&a->j, o, "kind", json_string(item_kind(optimization)));
        if (!optimization)
            put(&a->j, o, "component", json_string(it->component));
        put(&a->j, o, "status", json_string(status));
        put(&a->j, o, "reason", json_string(reason));
        if (error)
            put(&a->j, o, "error", json_string(error));
        append(&a->j, a->not_evaluated, o);
    }
    series_free(s, n);
}

/* The state's severity as a report severity: critical, warning or info as written;
 * anything else (or none) counts as a warning. */
static enum report_severity state_severity(const char *s)
{
    if (s && strcmp(s, "critical") == 0)
        return REPORT_CRITICAL;
    if (s && strcmp(s, "info") == 0)
        return REPORT_INFO;
    return REPORT_WARNING;
}

/* The issue of the controller's current state, first in the list when there is one. */
static void assemble_state(struct acc *a, const struct report_state *st, json_t *controller)
{
    put(&a->j, controller, "state", json_string(st->name));
    put(&a->j, controller, "since", time_json(st->since));
    put(&a->j, controller, "severity", str_or_null(st->severity));
    if (st->is_default)
        return;
    bool unknown = strcmp(st->name, RULES_STATE_UNKNOWN) == 0;
    enum report_severity sev = unknown ? REPORT_WARNING : state_severity(st->severity);
    char summary[160], description[200];
    snprintf(summary, sizeof(summary), "The controller is in state %.64s", st->name);
    if (unknown)
        snprintf(description, sizeof(description),
                 "The controller cannot decide the state: data it needs is missing "
                 "(on_missing_data: unknown)");
    else
        snprintf(description, sizeof(description), "The conditions of the rules' state %.64s hold",
                 st->name);
    json_t *o = json_object();
    put(&a->j, o, "check", json_string("state"));
    put(&a->j, o, "severity", json_string(report_severity_name(sev)));
    put(&a->j, o, "component", json_string("controller"));
    put(&a->j, o, "summary", json_string(summary));
    put(&a->j, o, "description",
        json_string(st->description && *st->description ? st->description : description));
    put(&a->j, o, "recommendation", str_or_null(st->recommendation));
    put(&a->j, o, "value", json_null());
    put(&a->j, o, "threshold", json_null());
    put(&a->j, o, "condition", json_null());
    put(&a->j, o, "labels", json_pack("{ss}", "state", st->name));
    append(&a->j, a->issues, o);
    a->severity[sev]++;
}

static int severity_rank(const json_t *issue)
{
    const char *s = json_string_value(json_object_get(issue, "severity"));
    return !s ? 3 : strcmp(s, "critical") == 0 ? 0 : strcmp(s, "warning") == 0 ? 1 : 2;
}

/* Stable sort of the issues by severity, worst first (insertion sort: lists are short). */
static json_t *sorted_issues(json_t *issues)
{
    json_t *out = json_array();
    for (int rank = 0; out && rank <= 3; rank++)
        for (size_t i = 0; i < json_array_size(issues); i++)
            if (severity_rank(json_array_get(issues, i)) == rank &&
                json_array_append(out, json_array_get(issues, i)) < 0) {
                json_decref(out);
                return NULL;
            }
    return out;
}

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

json_t *report_assemble(const struct report_def *d, const struct report_options *o,
                        const struct report_answer *checks,
                        const struct report_answer *optimizations)
{
    struct acc a;
    memset(&a, 0, sizeof(a));
    a.o = o;
    buf_init(&a.text, TEMPLATE_MAX_OUTPUT_BYTES * 2); /* template_render keeps less */
    json_t *root = json_object();
    json_t *controller = o->state ? json_object() : json_null();
    a.issues = json_array();
    a.optimizations = json_array();
    a.items = json_array();
    a.not_evaluated = json_array();
    a.skipped = json_array();
    if (!root || !controller || !a.issues || !a.optimizations || !a.items || !a.not_evaluated ||
        !a.skipped)
        a.j.failed = true;
    if (o->state && controller)
        assemble_state(&a, o->state, controller);
    for (size_t i = 0; d && i < d->n_checks && !a.j.failed; i++)
        assemble_item(&a, &d->checks[i], false, &checks[i]);
    for (size_t i = 0; d && i < d->n_optimizations && !a.j.failed; i++)
        assemble_item(&a, &d->optimizations[i], true, &optimizations[i]);
    buf_free(&a.text);

    long long penalty = (long long)a.severity[N_CRITICAL] * REPORT_PENALTY_CRITICAL +
                        (long long)a.severity[N_WARNING] * REPORT_PENALTY_WARNING +
                        (long long)a.severity[N_INFO] * REPORT_PENALTY_INFO;
    int score = penalty >= 100 ? 0 : (int)(100 - penalty);
    const char *status = score >= REPORT_HEALTHY_MIN    ? "healthy"
                         : score >= REPORT_DEGRADED_MIN ? "degraded"
                                                        : "critical";
    if (a.n_checks > 0 && a.evaluated == 0)
        status = "unknown";
    size_t n_issues = a.severity[0] + a.severity[1] + a.severity[2];

    char summary[768];
    size_t off = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (off < sizeof(summary))                                                                 \
            off += (size_t)snprintf(summary + off, sizeof(summary) - off, __VA_ARGS__);            \
    } while (0)
    ADD("%s, score %d/100: %zu %s (%zu critical, %zu warning, %zu info), %zu %s", status, score,
        n_issues, plural(n_issues, "issue", "issues"), a.severity[N_CRITICAL],
        a.severity[N_WARNING], a.severity[N_INFO], a.n_opts,
        plural(a.n_opts, "optimization", "optimizations"));
    if (d && d->n_checks)
        ADD("; %zu of %zu checks evaluated", a.evaluated, a.n_checks);
    else
        ADD("; the rules define no report checks");
    if (a.failed_checks)
        ADD(", %zu could not be", a.failed_checks);
    if (a.skipped_checks)
        ADD(", %zu skipped (--quick)", a.skipped_checks);
    if (o->state)
        ADD("; controller state %s", o->state->name);
#undef ADD

    json_t *counts = json_object();
    json_t *by_sev = json_object();
    put(&a.j, by_sev, "critical", json_integer((json_int_t)a.severity[N_CRITICAL]));
    put(&a.j, by_sev, "warning", json_integer((json_int_t)a.severity[N_WARNING]));
    put(&a.j, by_sev, "info", json_integer((json_int_t)a.severity[N_INFO]));
    put(&a.j, counts, "issues", by_sev);
    put(&a.j, counts, "optimizations", json_integer((json_int_t)a.n_opts));
    put(&a.j, counts, "checks", json_integer((json_int_t)a.n_checks));
    put(&a.j, counts, "evaluated", json_integer((json_int_t)a.evaluated));
    put(&a.j, counts, "passed", json_integer((json_int_t)a.passed));
    put(&a.j, counts, "with_issues", json_integer((json_int_t)a.with_issues));
    put(&a.j, counts, "not_evaluated", json_integer((json_int_t)json_array_size(a.not_evaluated)));
    put(&a.j, counts, "skipped", json_integer((json_int_t)a.n_skipped));

    put(&a.j, root, "generated_at", time_json(o->time));
    put(&a.j, root, "timestamp", json_real(o->time));
    put(&a.j, root, "prometheus", str_or_null(o->prometheus_url));
    put(&a.j, root, "rules_file", str_or_null(o->rules_file));
    put(&a.j, root, "quick", json_boolean(o->quick));
    put(&a.j, root, "score", json_integer(score));
    put(&a.j, root, "score_formula", json_string(SCORE_FORMULA));
    put(&a.j, root, "status", json_string(status));
    put(&a.j, root, "status_bands", json_string(STATUS_BANDS));
    put(&a.j, root, "summary", json_string(summary));
    put(&a.j, root, "controller", controller);
    put(&a.j, root, "counts", counts);
    put(&a.j, root, "issues", sorted_issues(a.issues));
    put(&a.j, root, "optimizations", a.optimizations);
    put(&a.j, root, "not_evaluated", a.not_evaluated);
    put(&a.j, root, "skipped", a.skipped);
    put(&a.j, root, "checks", a.items);
    json_decref(a.issues);
    if (a.j.failed) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- querying ---- */

void report_unreachable(const struct report_answer *a, const char *url, char *err, size_t err_size)
{
    const char *why = a->detail[0] ? a->detail : a->error ? a->error : "?";
    bool named = !url || strstr(why, url);
    snprintf(err, err_size, "cannot query Prometheus%s%s: %s", named ? "" : " at ",
             named ? "" : url, why);
}

int report_build(const struct report_def *d, const struct report_source *src,
                 const struct report_options *o, json_t **ret, char *err, size_t err_size)
{
    size_t nc = d ? d->n_checks : 0, no = d ? d->n_optimizations : 0, total = nc + no;
    struct report_answer *ans = calloc(total ? total : 1, sizeof(*ans));
    const char **queries = calloc(total ? total : 1, sizeof(*queries));
    size_t *map = calloc(total ? total : 1, sizeof(*map));
    struct report_answer *got = calloc(total ? total : 1, sizeof(*got));
    int r = -ENOMEM;
    if (!ans || !queries || !map || !got) {
        snprintf(err, err_size, "out of memory");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < total; i++) {
        const struct report_item *it = i < nc ? &d->checks[i] : &d->optimizations[i - nc];
        if (o->quick && it->slow) {
            ans[i].skipped = true;
            continue;
        }
        map[n] = i;
        queries[n++] = it->query;
    }
    src->query(src->ctx, queries, n, o->time, got);
    size_t unreachable = 0;
    for (size_t k = 0; k < n; k++) {
        ans[map[k]] = got[k];
        if (!got[k].series && got[k].unreachable)
            unreachable++;
    }
    if (n > 0 && unreachable == n) {
        report_unreachable(&got[0], o->prometheus_url, err, err_size);
        r = -EHOSTUNREACH;
        goto out;
    }
    *ret = report_assemble(d, o, ans, ans + nc);
    r = *ret ? 0 : -ENOMEM;
    if (r < 0)
        snprintf(err, err_size, "out of memory");
out:
    for (size_t i = 0; got && i < total; i++)
        json_decref(got[i].series);
    free(got);
    free(map);
    free(queries);
    free(ans);
    return r;
}

/* ---- text ---- */

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void upper(const char *s, char *out, size_t size)
{
    size_t i = 0;
    for (; s && s[i] && i + 1 < size; i++)
        out[i] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
    out[i] = '\0';
}

/* ' {instance="a", job="b"}' for a non-empty label set. */
static int put_labels(struct buf *b, const json_t *labels)
{
    if (json_object_size(labels) == 0)
        return 0;
    const char **keys = calloc(json_object_size(labels), sizeof(*keys));
    if (!keys)
        return -ENOMEM;
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v) keys[n++] = k;
    for (size_t i = 1; i < n; i++) /* insertion sort: few labels */
        for (size_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    int r = buf_puts(b, " {");
    for (size_t i = 0; r >= 0 && i < n; i++)
        r = buf_printf(b, "%s%s=\"%s\"", i ? ", " : "", keys[i],
                       json_string_value(json_object_get(labels, keys[i])));
    if (r >= 0)
        r = buf_putc(b, '}');
    free(keys);
    return r;
}

static int put_value(struct buf *b, const json_t *issue)
{
    const json_t *v = json_object_get(issue, "value");
    if (!json_is_number(v))
        return put_labels(b, json_object_get(issue, "labels")) < 0 ? -ENOMEM : 0;
    int r = buf_printf(b, "      value %.6g (%s)", json_number_value(v), jstr(issue, "condition"));
    if (r >= 0)
        r = put_labels(b, json_object_get(issue, "labels"));
    return r;
}

int report_text(const json_t *rep, struct buf *b)
{
    char st[32];
    upper(jstr(rep, "status"), st, sizeof(st));
    int r = buf_printf(b, "homeostat health report, %s\n", jstr(rep, "generated_at"));
    if (jstr(rep, "prometheus"))
        r |= buf_printf(b, "Prometheus: %s\n", jstr(rep, "prometheus"));
    if (jstr(rep, "rules_file"))
        r |= buf_printf(b, "Rules:      %s\n", jstr(rep, "rules_file"));
    const json_t *ctl = json_object_get(rep, "controller");
    if (json_is_object(ctl))
        r |= buf_printf(b, "Controller: state %s since %s\n", jstr(ctl, "state"),
                        jstr(ctl, "since") ? jstr(ctl, "since") : "?");
    r |= buf_printf(b, "\nStatus: %s    Score: %lld/100\n", st,
                    (long long)json_integer_value(json_object_get(rep, "score")));
    r |= buf_printf(b, "  score = %s\n  %s\n", jstr(rep, "score_formula"),
                    jstr(rep, "status_bands"));
    r |= buf_printf(b, "\nSummary: %s\n", jstr(rep, "summary"));

    const json_t *issues = json_object_get(rep, "issues");
    r |= buf_printf(b, "\nIssues (%zu)%s\n", json_array_size(issues),
                    json_array_size(issues) ? ":" : ": none");
    size_t i;
    const json_t *x;
    json_array_foreach(issues, i, x)
    {
        char sev[16];
        upper(jstr(x, "severity"), sev, sizeof(sev));
        const char *head = jstr(x, "summary") ? jstr(x, "summary") : jstr(x, "description");
        r |= buf_printf(b, "  [%s] %s: %s (%s)\n", sev, jstr(x, "component"), head ? head : "",
                        jstr(x, "check"));
        if (jstr(x, "summary") && jstr(x, "description"))
            r |= buf_printf(b, "      %s\n", jstr(x, "description"));
        if (jstr(x, "recommendation"))
            r |= buf_printf(b, "      Recommendation: %s\n", jstr(x, "recommendation"));
        if (json_is_number(json_object_get(x, "value"))) {
            r |= put_value(b, x);
            r |= buf_putc(b, '\n');
        }
    }
    const json_t *opts = json_object_get(rep, "optimizations");
    r |= buf_printf(b, "\nOptimizations (%zu)%s\n", json_array_size(opts),
                    json_array_size(opts) ? ":" : ": none");
    json_array_foreach(opts, i, x)
    {
        r |= buf_printf(b, "  [%s, impact %s, effort %s] %s (%s)\n", jstr(x, "type"),
                        jstr(x, "impact"), jstr(x, "effort"), jstr(x, "description"),
                        jstr(x, "name"));
        if (jstr(x, "recommendation"))
            r |= buf_printf(b, "      Recommendation: %s\n", jstr(x, "recommendation"));
        r |= put_value(b, x);
        r |= buf_putc(b, '\n');
    }
    const json_t *ne = json_object_get(rep, "not_evaluated");
    if (json_array_size(ne)) {
        r |= buf_printf(b, "\nNot evaluated (%zu): no penalty, not counted as passed\n",
                        json_array_size(ne));
        json_array_foreach(ne, i, x) r |=
            buf_printf(b, "  %s (%s): %s\n", jstr(x, "name"), jstr(x, "kind"), jstr(x, "reason"));
    }
    const json_t *cb = json_object_get(rep, "compared_with_baseline");
    if (json_array_size(cb)) {
        r |= buf_printf(b, "\nCompared with the baseline (%zu):\n", json_array_size(cb));
        json_array_foreach(cb, i, x)
        {
            const json_t *tg = json_object_get(x, "target");
            char *tk = json_is_object(tg) ? json_dumps(tg, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            r |= buf_printf(b, "  %s%s%s: ", jstr(x, "signal"), tk ? " " : "", tk ? tk : "");
            free(tk);
            if (!json_is_true(json_object_get(x, "ready"))) {
                r |= buf_printf(b, "baseline not ready (%lld of %lld samples, slot %s)\n",
                                (long long)json_integer_value(json_object_get(x, "samples")),
                                (long long)json_integer_value(json_object_get(x, "min_samples")),
                                jstr(x, "slot"));
                continue;
            }
            const json_t *now = json_object_get(x, "now");
            if (json_is_number(now))
                r |= buf_printf(b, "now %.3g, ", json_number_value(now));
            else
                r |= buf_printf(b, "now unknown, ");
            r |= buf_printf(b, "baseline median %.3g, q=0.99 %.3g (slot %s, %lld samples)",
                            json_number_value(json_object_get(x, "median")),
                            json_number_value(json_object_get(x, "q99")), jstr(x, "slot"),
                            (long long)json_integer_value(json_object_get(x, "samples")));
            if (json_is_number(json_object_get(x, "ratio")))
                r |= buf_printf(b, ": %.2fx the median",
                                json_number_value(json_object_get(x, "ratio")));
            if (json_is_number(json_object_get(x, "trend_per_hour")))
                r |= buf_printf(b, "; trend over the last hour %+.3g an hour",
                                json_number_value(json_object_get(x, "trend_per_hour")));
            r |= buf_putc(b, '\n');
        }
    }
    /* the daemon's: its verdicts' track record (docs/RULES.md, "Did it help?") */
    const json_t *tr = json_object_get(rep, "actions_track_record");
    if (json_array_size(tr)) {
        r |= buf_printf(b, "\nDid the actions help? (%zu)\n", json_array_size(tr));
        json_array_foreach(tr, i, x)
        {
            long long judged = (long long)json_integer_value(json_object_get(x, "verdicts")) -
                               (long long)json_integer_value(json_object_get(x, "unknown"));
            r |= buf_printf(b, "  %s %s: helped %lld of %lld times", jstr(x, "decision"),
                            jstr(x, "kind"),
                            (long long)json_integer_value(json_object_get(x, "helped")), judged);
            long long nef = (long long)json_integer_value(json_object_get(x, "no_effect")),
                      wo = (long long)json_integer_value(json_object_get(x, "worse")),
                      un = (long long)json_integer_value(json_object_get(x, "unknown"));
            if (nef || wo)
                r |= buf_printf(b, " (no effect %lld, worse %lld)", nef, wo);
            if (un)
                r |= buf_printf(b, ", %lld unknown (data missing)", un);
            const json_t *mi = json_object_get(x, "median_improvement");
            if (json_is_number(mi))
                r |= buf_printf(b, ", median improvement %+.0f %%", 100 * json_number_value(mi));
            r |= buf_putc(b, '\n');
        }
    }
    const json_t *sk = json_object_get(rep, "skipped");
    if (json_array_size(sk)) {
        r |= buf_printf(b, "\nSkipped with --quick (%zu):", json_array_size(sk));
        json_array_foreach(sk, i, x) r |= buf_printf(b, "%s %s", i ? "," : "", jstr(x, "name"));
        r |= buf_putc(b, '\n');
    }
    return r < 0 ? -ENOMEM : 0;
}
