/* test-report: the health report. The report section of the rules
 * (every field, defaults, load errors with their positions, the JSON view, the
 * reference that outlives the rules), controller/engine/report.c's assembly (score formula and
 * status bands, issue texts and order, optimizations, checks without data or with a
 * failed query listed and never counted as passed, --quick, the controller's state as an
 * issue, the listing cap), the text output, promql_parse_series, and report_build over a
 * fake Prometheus on common/httpd and against a closed port. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "buf.h"
#include "httpd.h"
#include "promql.h"
#include "report.h"
#include "report_source.h"
#include "rules.h"
#include "template.h"
#include "test.h"

#define T0 1700000000.0

/* ---- the report section of the rules ---- */

#define BASE                                                                                       \
    "signals:\n  cpu: {query: \"1\"}\nstates:\n  - {name: hot, conditions: [\"cpu > 1\"]}\n"       \
    "  - {name: ok}\n"

static struct rules *load(const char *yaml, struct buf *e)
{
    struct rules *r = NULL;
    int ret = rules_load_string(yaml, strlen(yaml), "r.yaml", &r, e);
    if (ret < 0 && e && e->data)
        fprintf(stderr, "  load failed (%d):\n%s", ret, e->data);
    return r;
}

static const char *const FULL = BASE "report:\n"
                                     "  timeout: 30s\n"
                                     "  checks:\n"
                                     "    - name: cpu_busy\n"
                                     "      query: q_cpu\n"
                                     "      condition: value > 0.85\n"
                                     "      severity: critical\n"
                                     "      component: cpu\n"
                                     "      annotations:\n"
                                     "        summary: 'CPU of {{ $labels.instance }} busy'\n"
                                     "        description: 'busy {{ $value }} > {{ $threshold }}'\n"
                                     "        recommendation: add CPUs\n"
                                     "    - name: fs_fill\n"
                                     "      query: q_fill\n"
                                     "      condition: value<0\n"
                                     "      severity: warning\n"
                                     "      component: filesystem\n"
                                     "      slow: true\n"
                                     "      annotations: {description: filling}\n"
                                     "    - name: swap\n"
                                     "      query: q_swap\n"
                                     "      condition: value >= 0.5\n"
                                     "      severity: info\n"
                                     "      component: memory\n"
                                     "      annotations: {description: 'swap {{ $value }}'}\n"
                                     "  optimizations:\n"
                                     "    - name: idle_cpu\n"
                                     "      query: q_idle\n"
                                     "      condition: value <= 0.2\n"
                                     "      type: rightsizing\n"
                                     "      impact: high\n"
                                     "      effort: low\n"
                                     "      annotations:\n"
                                     "        description: '{{ $labels.instance }} idle'\n"
                                     "        recommendation: shrink it\n"
                                     "    - name: cache\n"
                                     "      query: q_cache\n"
                                     "      condition: value != 1\n"
                                     "      type: caching\n"
                                     "      slow: yes\n"
                                     "      annotations: {description: cache}\n";

TEST(rules_report_section)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = load(FULL, &e);
    CHECK(r != NULL);
    const struct report_def *d = r->report;
    CHECK(d != NULL);
    CHECK_INT(d->timeout_usec, 30000000);
    CHECK_INT(d->n_checks, 3);
    CHECK_INT(d->n_optimizations, 2);
    const struct report_item *c = &d->checks[0];
    CHECK_STR(c->name, "cpu_busy");
    CHECK_STR(c->query, "q_cpu");
    CHECK_INT(c->op, COND_GT);
    CHECK_DBL(c->threshold, 0.85, 0);
    CHECK_STR(c->condition, "value > 0.85");
    CHECK_INT(c->severity, REPORT_CRITICAL);
    CHECK_STR(c->component, "cpu");
    CHECK(!c->slow);
    CHECK_STR(c->summary, "CPU of {{ $labels.instance }} busy");
    CHECK_STR(c->recommendation, "add CPUs");
    CHECK_INT(d->checks[1].op, COND_LT);
    CHECK_DBL(d->checks[1].threshold, 0, 0);
    CHECK(d->checks[1].slow);
    CHECK(d->checks[1].summary == NULL && d->checks[1].recommendation == NULL);
    CHECK_INT(d->checks[2].op, COND_GE);
    CHECK_INT(d->checks[2].severity, REPORT_INFO);
    const struct report_item *o = &d->optimizations[0];
    CHECK_STR(o->type, "rightsizing");
    CHECK_INT(o->op, COND_LE);
    CHECK_INT(o->impact, REPORT_HIGH);
    CHECK_INT(o->effort, REPORT_LOW);
    CHECK_INT(d->optimizations[1].op, COND_NE);
    CHECK_INT(d->optimizations[1].impact, REPORT_MEDIUM); /* the defaults */
    CHECK_INT(d->optimizations[1].effort, REPORT_MEDIUM);
    CHECK(d->optimizations[1].slow);

    json_t *j = rules_to_json(r);
    char *s = json_dumps(json_object_get(j, "report"), JSON_COMPACT);
    CHECK_CONTAINS(s, "\"timeout_seconds\":30.0");
    CHECK_CONTAINS(s, "\"name\":\"cpu_busy\",\"query\":\"q_cpu\",\"condition\":\"value > "
                      "0.85\",\"op\":\">\",\"threshold\":0.84999999999999998");
    CHECK_CONTAINS(s, "\"severity\":\"critical\",\"component\":\"cpu\"");
    CHECK_CONTAINS(s, "\"type\":\"rightsizing\",\"impact\":\"high\",\"effort\":\"low\"");
    CHECK_CONTAINS(s, "\"annotations\":{\"summary\":null,\"description\":\"filling\","
                      "\"recommendation\":null}");
    free(s);
    json_decref(j);

    /* The section outlives the rules while a reference is held. */
    struct report_def *ref = rules_report_ref(r);
    rules_free(r);
    CHECK_STR(ref->checks[0].name, "cpu_busy");
    rules_report_unref(ref);
    buf_free(&e);

    /* Without a report section: an empty one, and states may carry a recommendation. */
    r = load(BASE, NULL);
    CHECK(r && r->report && r->report->n_checks == 0 && r->report->n_optimizations == 0);
    CHECK_INT(r->report->timeout_usec, 10000000);
    rules_free(r);
    r = load("signals:\n  cpu: {query: \"1\"}\nstates:\n  - {name: hot, conditions: [\"cpu > "
             "1\"], recommendation: cool it}\n  - {name: ok}\nreport:\n",
             NULL);
    CHECK(r != NULL);
    CHECK_STR(r->states[0].recommendation, "cool it");
    j = rules_to_json(r);
    CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "states"), 0),
                                                "recommendation")),
              "cool it");
    json_decref(j);
    rules_free(r);
}

#define CHECK_HEAD                                                                                 \
    BASE "report:\n  checks:\n    - name: c\n      query: q\n      severity: warning\n"            \
         "      component: cpu\n      annotations: {description: d}\n"

static const struct {
    const char *yaml, *want;
} report_errors[] = {
    {BASE "report: [a]\n", "r.yaml:6:9: expected a map, got a sequence\n"},
    {BASE "report:\n  checks: {a: 1}\n", "r.yaml:7:11: expected a sequence, got a map\n"},
    {BASE "report:\n  tiemout: 5s\n",
     "r.yaml:7:3: unknown key 'tiemout'; did you mean 'timeout'?\n"},
    {BASE "report:\n  timeout: 2m\n", "r.yaml:7:12: timeout must be from 100ms to 1m, got '2m'\n"},
    {CHECK_HEAD "      condition: value > 0.9\n      slow: maybe\n",
     "r.yaml:14:13: expected true or false, got 'maybe'\n"},
    {CHECK_HEAD, "r.yaml:8:7: check 'c' has no condition (such as 'value > 0.9')\n"},
    {CHECK_HEAD "      condition: cpu > 0.9\n",
     "r.yaml:13:18: condition 'cpu > 0.9': expected 'value OP NUMBER' such as 'value > 0.9'\n"},
    {CHECK_HEAD "      condition: value => 0.9\n",
     "r.yaml:13:18: condition 'value => 0.9': expected an operator (>, >=, <, <=, == or !=) "
     "after 'value'\n"},
    {CHECK_HEAD "      condition: value >\n",
     "r.yaml:13:18: condition 'value >': expected a number after '>'\n"},
    {CHECK_HEAD "      condition: value > 90%\n",
     "r.yaml:13:18: condition 'value > 90%': unexpected '%' after the threshold: write the "
     "number in the query's unit (0.85 for 85 % of a ratio)\n"},
    {CHECK_HEAD "      condition: value > 0.9 or more\n",
     "r.yaml:13:18: condition 'value > 0.9 or more': unexpected 'or more' after the "
     "threshold\n"},
    {CHECK_HEAD "      condition: value > 1e999\n",
     "r.yaml:13:18: condition 'value > 1e999': '1e999' is not a number\n"},
    {BASE "report:\n  checks:\n    - name: c\n      query: q\n      condition: value > 1\n"
          "      severity: major\n      component: cpu\n      annotations: {description: d}\n",
     "r.yaml:11:17: severity must be critical, warning or info, got 'major'\n"},
    {BASE "report:\n  checks:\n    - name: c\n      query: ' '\n      condition: value > 1\n"
          "      severity: info\n      component: CPU load\n      annotations: {description: "
          "d}\n",
     "r.yaml:9:14: query is empty\n"
     "r.yaml:12:18: component name 'CPU load' is not an identifier (letters, digits and '_', "
     "not starting with a digit)\n"},
    {BASE "report:\n  checks:\n    - {name: c, query: q, condition: value > 1, severity: "
          "info, component: cpu}\n",
     "r.yaml:8:7: check 'c' needs annotations with a description\n"},
    {BASE "report:\n  checks:\n    - {name: c, query: q, condition: value > 1, severity: "
          "info, component: cpu, annotations: {summary: s}}\n",
     "r.yaml:8:94: check 'c' needs annotations.description\n"},
    {BASE "report:\n  checks:\n    - {name: c, query: q, condition: value > 1, severity: "
          "info, component: cpu, annotations: {description: '{{ $lables.x }}'}}\n",
     "r.yaml:8:108: annotations.description: '{{ $lables.x }}': unknown variable '$lables' "
     "(use $value, $threshold or $labels.NAME)\n"},
    {BASE "report:\n  checks:\n    - {name: c, query: q, condition: value > 1, severity: "
          "info, component: cpu, annotations: {description: d, runbook: x}}\n",
     "r.yaml:8:111: unknown key 'runbook'\n"},
    {BASE "report:\n  checks:\n    - {query: q, condition: value > 1, severity: info, "
          "component: cpu, annotations: {description: d}}\n",
     "r.yaml:8:7: report check has no name\n"},
    {BASE "report:\n  checks:\n    - {name: c, condition: value > 1}\n",
     "r.yaml:8:7: check 'c' has no query\n"
     "r.yaml:8:7: check 'c' has no severity (critical, warning or info)\n"
     "r.yaml:8:7: check 'c' has no component (such as cpu, memory, filesystem)\n"
     "r.yaml:8:7: check 'c' needs annotations with a description\n"},
    {BASE "report:\n  checks:\n    - {name: x, query: q, condition: value > 1, severity: "
          "info, component: cpu, annotations: {description: d}}\n"
          "  optimizations:\n    - {name: x, query: q, condition: value > 1, type: caching, "
          "annotations: {description: d}}\n",
     "r.yaml:10:14: duplicate report name 'x' (first at 8:14)\n"},
    {BASE "report:\n  optimizations:\n    - {name: o, query: q, condition: value < 1, "
          "impact: huge, effort: low, annotations: {description: d, summary: s}}\n",
     "r.yaml:8:7: optimization 'o' has no type (such as rightsizing, caching, scaling, "
     "configuration)\n"
     "r.yaml:8:57: impact must be high, medium or low, got 'huge'\n"
     "r.yaml:8:106: unknown key 'summary'\n"},
    {BASE "report:\n  optimizations:\n    - {name: o, query: q, condition: value < 1, "
          "type: caching, severity: info, annotations: {description: d}}\n",
     "r.yaml:8:64: unknown key 'severity'\n"},
};

TEST(rules_report_errors)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof(report_errors) / sizeof(report_errors[0]); i++) {
        struct buf e = BUF_INIT_MAX(0);
        struct rules *r = NULL;
        const char *y = report_errors[i].yaml;
        int ret = rules_load_string(y, strlen(y), "r.yaml", &r, &e);
        const char *got = e.data ? e.data : "";
        if (ret != -EINVAL || r != NULL || strcmp(got, report_errors[i].want) != 0) {
            fprintf(stderr, "  case %zu (%d):\n%s  got:\n%s  want:\n%s", i, ret, y, got,
                    report_errors[i].want);
            bad++;
        }
        rules_free(r);
        buf_free(&e);
    }
    CHECK_INT(bad, 0);
    /* more than the limit */
    struct buf y = BUF_INIT_MAX(0);
    buf_puts(&y, BASE "report:\n  checks:\n");
    for (int i = 0; i <= RULES_MAX_REPORT_ITEMS; i++)
        buf_printf(&y,
                   "    - {name: c%d, query: q, condition: value > 1, severity: info, "
                   "component: cpu, annotations: {description: d}}\n",
                   i);
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = NULL;
    CHECK_INT(rules_load_string(y.data, y.len, "r.yaml", &r, &e), -EINVAL);
    CHECK_STR(e.data, "r.yaml:8:5: more than 128 checks\n");
    buf_free(&y);
    buf_free(&e);
}

/* ---- assembling ---- */

/* An answer with the vector of JSON text vec (NULL: a failed query with detail). */
struct fixture {
    struct rules *rules;
    struct report_answer checks[8], opts[8];
};

static void answer(struct report_answer *a, const char *vec)
{
    memset(a, 0, sizeof(*a));
    a->series = vec ? json_loads(vec, 0, NULL) : NULL;
    if (vec && !a->series)
        fprintf(stderr, "  bad fixture vector: %s\n", vec);
}

static void fail_answer(struct report_answer *a, enum promql_error e, const char *detail)
{
    memset(a, 0, sizeof(*a));
    a->error = promql_error_name(e);
    snprintf(a->detail, sizeof(a->detail), "%s", detail);
}

static void fixture_free(struct fixture *f)
{
    for (size_t i = 0; i < 8; i++) {
        json_decref(f->checks[i].series);
        json_decref(f->opts[i].series);
    }
    rules_free(f->rules);
}

#define S(labels, v) "{\"metric\": " labels ", \"value\": [1700000000, \"" v "\"]}"

static json_t *assemble(struct fixture *f, const struct report_options *o)
{
    return report_assemble(f->rules->report, o, f->checks, f->opts);
}

static int64_t jint(const json_t *o, const char *path)
{
    return json_integer_value(json_object_get(o, path));
}

static const char *jstr(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

TEST(assemble_issues_and_score)
{
    struct fixture f = {0};
    f.rules = load(FULL, NULL);
    CHECK(f.rules != NULL);
    /* cpu_busy: node-a over, node-b under, a third without a number */
    answer(&f.checks[0], "[" S("{\"__name__\": \"x\", \"instance\": \"node-b\"}", "0.5") ", " S(
                             "{\"instance\": \"node-a\", \"job\": \"n\"}",
                             "0.95") ", " S("{\"instance\": \"node-c\"}", "NaN") "]");
    answer(&f.checks[1], "[" S("{\"mountpoint\": \"/\"}", "-1.5e9") "]");
    answer(&f.checks[2], "[" S("{}", "0.5") "]"); /* >= 0.5: an info issue */
    answer(&f.opts[0], "[" S("{\"instance\": \"node-b\"}",
                             "0.1") ", " S("{\"instance\": \"node-a\"}", "0.9") "]");
    answer(&f.opts[1], "[" S("{}", "1") "]"); /* != 1 does not hold */
    struct report_options o = {
        .time = T0, .prometheus_url = "http://p:9090", .rules_file = "r.yaml"};
    json_t *rep = assemble(&f, &o);
    CHECK(rep != NULL);
    /* 1 critical, 1 warning, 1 info: 100 - 30 - 10 - 2 */
    CHECK_INT(jint(rep, "score"), 58);
    CHECK_STR(jstr(rep, "status"), "degraded");
    CHECK_STR(jstr(rep, "score_formula"),
              "max(0, 100 - 30 * critical - 10 * warning - 2 * info), over the issues");
    CHECK_STR(jstr(rep, "generated_at"), "2023-11-14T22:13:20.000Z");
    CHECK_STR(jstr(rep, "summary"),
              "degraded, score 58/100: 3 issues (1 critical, 1 warning, 1 info), 1 "
              "optimization; 3 of 3 checks evaluated");
    CHECK(json_is_null(json_object_get(rep, "controller")));
    const json_t *issues = json_object_get(rep, "issues");
    CHECK_INT(json_array_size(issues), 3);
    const json_t *i0 = json_array_get(issues, 0);
    CHECK_STR(jstr(i0, "check"), "cpu_busy");
    CHECK_STR(jstr(i0, "severity"), "critical");
    CHECK_STR(jstr(i0, "component"), "cpu");
    CHECK_STR(jstr(i0, "summary"), "CPU of node-a busy");
    CHECK_STR(jstr(i0, "description"), "busy 0.95 > 0.85");
    CHECK_STR(jstr(i0, "recommendation"), "add CPUs");
    CHECK_DBL(json_real_value(json_object_get(i0, "value")), 0.95, 0);
    CHECK_STR(jstr(i0, "condition"), "value > 0.85");
    char *labels = json_dumps(json_object_get(i0, "labels"), JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(labels, "{\"instance\":\"node-a\",\"job\":\"n\"}"); /* no __name__ */
    free(labels);
    const json_t *i1 = json_array_get(issues, 1);
    CHECK_STR(jstr(i1, "check"), "fs_fill");
    CHECK(json_is_null(json_object_get(i1, "summary")));
    CHECK(json_is_null(json_object_get(i1, "recommendation")));
    CHECK_STR(jstr(json_array_get(issues, 2), "description"), "swap 0.5");
    const json_t *opts = json_object_get(rep, "optimizations");
    CHECK_INT(json_array_size(opts), 1);
    CHECK_STR(jstr(json_array_get(opts, 0), "description"), "node-b idle");
    CHECK_STR(jstr(json_array_get(opts, 0), "type"), "rightsizing");
    CHECK_STR(jstr(json_array_get(opts, 0), "impact"), "high");
    CHECK_STR(jstr(json_array_get(opts, 0), "effort"), "low");
    CHECK_STR(jstr(json_array_get(opts, 0), "recommendation"), "shrink it");
    const json_t *counts = json_object_get(rep, "counts");
    CHECK_INT(jint(counts, "checks"), 3);
    CHECK_INT(jint(counts, "evaluated"), 3);
    CHECK_INT(jint(counts, "passed"), 0);
    CHECK_INT(jint(counts, "with_issues"), 3);
    CHECK_INT(jint(json_object_get(counts, "issues"), "critical"), 1);
    const json_t *items = json_object_get(rep, "checks");
    CHECK_INT(json_array_size(items), 5);
    CHECK_STR(jstr(json_array_get(items, 0), "status"), "issues");
    CHECK_INT(jint(json_array_get(items, 0), "series"), 2); /* the NaN one is not counted */
    CHECK_INT(jint(json_array_get(items, 0), "matched"), 1);
    CHECK_STR(jstr(json_array_get(items, 3), "status"), "found");
    CHECK_STR(jstr(json_array_get(items, 4), "status"), "ok");
    CHECK_INT(json_array_size(json_object_get(rep, "not_evaluated")), 0);

    /* The text view. */
    struct buf t = BUF_INIT_MAX(0);
    CHECK_INT(report_text(rep, &t), 0);
    CHECK_CONTAINS(t.data, "homeostat health report, 2023-11-14T22:13:20.000Z\n"
                           "Prometheus: http://p:9090\nRules:      r.yaml\n\n"
                           "Status: DEGRADED    Score: 58/100\n");
    CHECK_CONTAINS(t.data, "\nIssues (3):\n"
                           "  [CRITICAL] cpu: CPU of node-a busy (cpu_busy)\n"
                           "      busy 0.95 > 0.85\n"
                           "      Recommendation: add CPUs\n"
                           "      value 0.95 (value > 0.85) {instance=\"node-a\", job=\"n\"}\n"
                           "  [WARNING] filesystem: filling (fs_fill)\n"
                           "      value -1.5e+09 (value<0) {mountpoint=\"/\"}\n");
    CHECK_CONTAINS(t.data, "\nOptimizations (1):\n"
                           "  [rightsizing, impact high, effort low] node-b idle (idle_cpu)\n"
                           "      Recommendation: shrink it\n"
                           "      value 0.1 (value <= 0.2) {instance=\"node-b\"}\n");
    buf_free(&t);
    json_decref(rep);
    fixture_free(&f);
}

TEST(issues_name_their_target)
{
    struct fixture f = {0};
    f.rules = load(FULL, NULL);
    CHECK(f.rules != NULL);
    answer(&f.checks[0], "[" S("{\"instance\": \"node-a\", \"job\": \"n\"}",
                               "0.95") ", " S("{\"job\": \"n\"}", "0.99") "]");
    const char *const by[] = {"instance"};
    struct report_options o = {.time = T0, .target_by = by, .n_target_by = 1};
    json_t *rep = assemble(&f, &o);
    CHECK(rep != NULL);
    const json_t *issues = json_object_get(rep, "issues");
    CHECK_INT(json_array_size(issues), 2);
    /* the one with instance names its target; the other has none of targets.by */
    size_t named = 0;
    for (size_t i = 0; i < json_array_size(issues); i++) {
        const char *t = jstr(json_array_get(issues, i), "target");
        if (t) {
            CHECK_STR(t, "{instance=\"node-a\"}");
            named++;
        }
    }
    CHECK_INT(named, 1);
    json_decref(rep);
    /* without targets: no target field */
    o.n_target_by = 0;
    rep = assemble(&f, &o);
    CHECK(jstr(json_array_get(json_object_get(rep, "issues"), 0), "target") == NULL);
    json_decref(rep);
    fixture_free(&f);
}

TEST(score_bands_and_clamp)
{
    /* (critical, warning, info) -> score, status */
    static const struct {
        int c, w, i, score;
        const char *status;
    } cases[] = {
        {0, 0, 0, 100, "healthy"},  {0, 1, 5, 80, "healthy"},  {0, 2, 1, 78, "degraded"},
        {1, 0, 0, 70, "degraded"},  {0, 5, 0, 50, "degraded"}, {0, 5, 1, 48, "critical"},
        {2, 1, 3, 24, "critical"},  {4, 0, 0, 0, "critical"},  {0, 0, 49, 2, "critical"},
        {0, 0, 150, 0, "critical"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct buf y = BUF_INIT_MAX(0);
        buf_puts(&y, BASE "report:\n  checks:\n");
        static const char *const sev[] = {"critical", "warning", "info"};
        int n[3] = {cases[k].c, cases[k].w, cases[k].i};
        struct fixture f = {0};
        for (int s = 0; s < 3; s++) {
            buf_printf(&y,
                       "    - {name: c%d, query: q%d, condition: value > 0, severity: %s, "
                       "component: x, annotations: {description: d}}\n",
                       s, s, sev[s]);
            /* one series that passes, n[s] that do not */
            struct buf v = BUF_INIT_MAX(0);
            buf_puts(&v, "[{\"metric\": {}, \"value\": [1, \"0\"]}");
            for (int i = 0; i < n[s]; i++)
                buf_printf(&v, ", {\"metric\": {\"i\": \"%d\"}, \"value\": [1, \"1\"]}", i);
            buf_putc(&v, ']');
            answer(&f.checks[s], v.data);
            buf_free(&v);
        }
        f.rules = load(y.data, NULL);
        buf_free(&y);
        struct report_options o = {.time = T0};
        json_t *rep = f.rules ? assemble(&f, &o) : NULL;
        CHECK(rep != NULL);
        if (jint(rep, "score") != cases[k].score || strcmp(jstr(rep, "status"), cases[k].status))
            TEST_FAIL("case %zu: score %lld %s, want %d %s", k, (long long)jint(rep, "score"),
                      jstr(rep, "status"), cases[k].score, cases[k].status);
        /* never more than REPORT_MAX_LISTED listed per check, every one counted */
        const json_t *items = json_object_get(rep, "checks");
        if (cases[k].i > REPORT_MAX_LISTED) {
            CHECK_INT(json_array_size(json_object_get(rep, "issues")), REPORT_MAX_LISTED);
            CHECK_INT(jint(json_array_get(items, 2), "matched"), cases[k].i);
            CHECK_INT(jint(json_array_get(items, 2), "not_listed"), cases[k].i - REPORT_MAX_LISTED);
            CHECK_INT(jint(json_object_get(json_object_get(rep, "counts"), "issues"), "info"),
                      cases[k].i);
        }
        json_decref(rep);
        fixture_free(&f);
    }
}

TEST(unknown_checks_are_listed_never_passed)
{
    struct fixture f = {0};
    f.rules = load(FULL, NULL);
    CHECK(f.rules != NULL);
    fail_answer(&f.checks[0], PROMQL_ERR_QUERY, "bad_data: 1:5: parse error: unexpected");
    answer(&f.checks[1], "[]");
    answer(&f.checks[2], "[" S("{}", "NaN") ", " S("{\"a\": \"b\"}", "NaN") "]");
    answer(&f.opts[0], "[{\"metric\": {}, \"histogram\": [1, {}]}]");
    fail_answer(&f.opts[1], PROMQL_ERR_TIMEOUT, "timeout after 10s");
    struct report_options o = {.time = T0};
    json_t *rep = assemble(&f, &o);
    CHECK(rep != NULL);
    CHECK_INT(jint(rep, "score"), 100);
    CHECK_STR(jstr(rep, "status"), "unknown"); /* no check could be evaluated */
    CHECK_STR(jstr(rep, "summary"), "unknown, score 100/100: 0 issues (0 critical, 0 warning, "
                                    "0 info), 0 optimizations; 0 of 3 checks evaluated, 3 could "
                                    "not be");
    const json_t *counts = json_object_get(rep, "counts");
    CHECK_INT(jint(counts, "passed"), 0);
    CHECK_INT(jint(counts, "evaluated"), 0);
    CHECK_INT(jint(counts, "not_evaluated"), 5);
    const json_t *ne = json_object_get(rep, "not_evaluated");
    CHECK_INT(json_array_size(ne), 5);
    const json_t *x = json_array_get(ne, 0);
    CHECK_STR(jstr(x, "name"), "cpu_busy");
    CHECK_STR(jstr(x, "kind"), "check");
    CHECK_STR(jstr(x, "component"), "cpu");
    CHECK_STR(jstr(x, "status"), "failed");
    CHECK_STR(jstr(x, "error"), "query");
    CHECK_STR(jstr(x, "reason"), "query failed: bad_data: 1:5: parse error: unexpected");
    CHECK_STR(jstr(json_array_get(ne, 1), "status"), "no_data");
    CHECK_STR(jstr(json_array_get(ne, 1), "reason"), "no data: the query returned no series");
    CHECK_STR(jstr(json_array_get(ne, 2), "reason"), "no data: 2 series without a number (NaN)");
    CHECK_STR(jstr(json_array_get(ne, 3), "kind"), "optimization");
    CHECK_STR(jstr(json_array_get(ne, 3), "reason"), "no data: 1 series without a number (NaN)");
    CHECK_STR(jstr(json_array_get(ne, 4), "reason"), "query failed: timeout after 10s");
    struct buf t = BUF_INIT_MAX(0);
    CHECK_INT(report_text(rep, &t), 0);
    CHECK_CONTAINS(t.data, "Status: UNKNOWN    Score: 100/100\n");
    CHECK_CONTAINS(t.data, "\nIssues (0): none\n");
    CHECK_CONTAINS(t.data, "\nNot evaluated (5): no penalty, not counted as passed\n"
                           "  cpu_busy (check): query failed: bad_data: 1:5: parse error: "
                           "unexpected\n"
                           "  fs_fill (check): no data: the query returned no series\n");
    buf_free(&t);
    json_decref(rep);

    /* One check evaluated is enough for a status from the score; the others are listed. */
    json_decref(f.checks[2].series);
    answer(&f.checks[2], "[" S("{}", "0.1") "]");
    rep = assemble(&f, &o);
    CHECK_STR(jstr(rep, "status"), "healthy");
    CHECK_INT(jint(json_object_get(rep, "counts"), "passed"), 1);
    CHECK_INT(jint(json_object_get(rep, "counts"), "not_evaluated"), 4);
    json_decref(rep);
    fixture_free(&f);
}

TEST(quick_skips_slow)
{
    struct fixture f = {0};
    f.rules = load(FULL, NULL);
    CHECK(f.rules != NULL);
    answer(&f.checks[0], "[" S("{}", "0.1") "]");
    f.checks[1].skipped = true;
    answer(&f.checks[2], "[" S("{}", "0.1") "]");
    answer(&f.opts[0], "[" S("{}", "0.9") "]");
    f.opts[1].skipped = true;
    struct report_options o = {.time = T0, .quick = true};
    json_t *rep = assemble(&f, &o);
    CHECK(json_is_true(json_object_get(rep, "quick")));
    CHECK_STR(jstr(rep, "status"), "healthy");
    CHECK_STR(jstr(rep, "summary"), "healthy, score 100/100: 0 issues (0 critical, 0 warning, 0 "
                                    "info), 0 optimizations; 2 of 3 checks evaluated, 1 skipped "
                                    "(--quick)");
    const json_t *sk = json_object_get(rep, "skipped");
    CHECK_INT(json_array_size(sk), 2);
    CHECK_STR(jstr(json_array_get(sk, 0), "name"), "fs_fill");
    CHECK_STR(jstr(json_array_get(sk, 1), "name"), "cache");
    CHECK_STR(jstr(json_array_get(sk, 1), "reason"), "slow: left out by --quick");
    CHECK_INT(json_array_size(json_object_get(rep, "not_evaluated")), 0);
    CHECK_INT(jint(json_object_get(rep, "counts"), "skipped"), 2);
    struct buf t = BUF_INIT_MAX(0);
    CHECK_INT(report_text(rep, &t), 0);
    CHECK_CONTAINS(t.data, "\nSkipped with --quick (2): fs_fill, cache\n");
    buf_free(&t);
    json_decref(rep);
    fixture_free(&f);
}

TEST(controller_state_issue)
{
    struct fixture f = {0};
    f.rules = load(FULL, NULL);
    CHECK(f.rules != NULL);
    answer(&f.checks[0], "[" S("{}", "0.9") "]"); /* a critical issue */
    answer(&f.checks[1], "[]");
    answer(&f.checks[2], "[]");
    answer(&f.opts[0], "[]");
    answer(&f.opts[1], "[]");
    struct report_state st = {.name = "degraded",
                              .severity = "warning",
                              .description = "A service is failing",
                              .recommendation = "read its logs",
                              .since = T0 - 60};
    struct report_options o = {.time = T0, .state = &st};
    json_t *rep = assemble(&f, &o);
    CHECK_INT(jint(rep, "score"), 60); /* 100 - 30 - 10 */
    const json_t *ctl = json_object_get(rep, "controller");
    CHECK_STR(jstr(ctl, "state"), "degraded");
    CHECK_STR(jstr(ctl, "since"), "2023-11-14T22:12:20.000Z");
    const json_t *issues = json_object_get(rep, "issues");
    CHECK_INT(json_array_size(issues), 2);
    CHECK_STR(jstr(json_array_get(issues, 0), "check"), "cpu_busy"); /* critical first */
    const json_t *s = json_array_get(issues, 1);
    CHECK_STR(jstr(s, "check"), "state");
    CHECK_STR(jstr(s, "component"), "controller");
    CHECK_STR(jstr(s, "severity"), "warning");
    CHECK_STR(jstr(s, "summary"), "The controller is in state degraded");
    CHECK_STR(jstr(s, "description"), "A service is failing");
    CHECK_STR(jstr(s, "recommendation"), "read its logs");
    CHECK_STR(jstr(json_object_get(s, "labels"), "state"), "degraded");
    CHECK_CONTAINS(jstr(rep, "summary"), "; controller state degraded");
    struct buf t = BUF_INIT_MAX(0);
    CHECK_INT(report_text(rep, &t), 0);
    CHECK_CONTAINS(t.data, "Controller: state degraded since 2023-11-14T22:12:20.000Z\n");
    CHECK_CONTAINS(t.data, "  [WARNING] controller: The controller is in state degraded (state)\n"
                           "      A service is failing\n"
                           "      Recommendation: read its logs\n");
    buf_free(&t);
    json_decref(rep);

    /* a severity outside critical/warning/info counts as a warning; critical is critical */
    st.severity = "page";
    rep = assemble(&f, &o);
    CHECK_INT(jint(rep, "score"), 60);
    json_decref(rep);
    st.severity = "critical";
    rep = assemble(&f, &o);
    CHECK_INT(jint(rep, "score"), 40);
    json_decref(rep);
    /* the default state: nothing to report */
    st.is_default = true;
    st.name = "optimal";
    rep = assemble(&f, &o);
    CHECK_INT(jint(rep, "score"), 70);
    CHECK_INT(json_array_size(json_object_get(rep, "issues")), 1);
    CHECK_STR(jstr(json_object_get(rep, "controller"), "state"), "optimal");
    json_decref(rep);
    /* unknown: a warning that says data is missing */
    struct report_state unk = {.name = "unknown", .since = T0};
    o.state = &unk;
    rep = assemble(&f, &o);
    CHECK_INT(jint(rep, "score"), 60);
    CHECK_CONTAINS(jstr(json_array_get(json_object_get(rep, "issues"), 1), "description"),
                   "data it needs is missing");
    json_decref(rep);
    fixture_free(&f);
}

/* ---- promql_parse_series ---- */

TEST(parse_series)
{
    struct promql_result r;
    json_t *s = NULL;
    const char *vec = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                      "{\"metric\":{\"a\":\"1\"},\"value\":[1,\"0.5\"]},"
                      "{\"metric\":{\"a\":\"2\"},\"value\":[1,\"2\"]}]}}";
    promql_parse_series(vec, strlen(vec), 200, &r, &s);
    CHECK_INT(r.error, PROMQL_ERR_MULTIPLE); /* as one number; the series are all there */
    CHECK_INT(json_array_size(s), 2);
    json_decref(s);
    const char *scalar = "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
                         "\"result\":[1,\"3\"]}}";
    promql_parse_series(scalar, strlen(scalar), 200, &r, &s);
    CHECK_INT(r.error, PROMQL_OK);
    char *d = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(d, "[{\"metric\":{},\"value\":[1,\"3\"]}]");
    free(d);
    json_decref(s);
    const char *empty = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
                        "\"result\":[]}}";
    promql_parse_series(empty, strlen(empty), 200, &r, &s);
    CHECK_INT(r.error, PROMQL_ERR_EMPTY);
    CHECK(json_is_array(s) && json_array_size(s) == 0);
    json_decref(s);
    const char *err = "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"parse\"}";
    promql_parse_series(err, strlen(err), 400, &r, &s);
    CHECK(s == NULL);
    CHECK_INT(r.error, PROMQL_ERR_QUERY);
    const char *matrix = "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
                         "\"result\":[]}}";
    promql_parse_series(matrix, strlen(matrix), 200, &r, &s);
    CHECK(s == NULL);
    CHECK_INT(r.error, PROMQL_ERR_PARSE);
    promql_parse_series("<html>", 6, 502, &r, &s);
    CHECK(s == NULL);
    CHECK_INT(r.error, PROMQL_ERR_HTTP);
}

/* ---- report_build over a fake Prometheus ---- */

struct fake {
    struct httpd *h;
    pthread_mutex_t lock;
    unsigned requests;
    char url[64];
};

/* Answers by the query in the form body: q_cpu two series, q_fill one, q_swap none,
 * q_idle a parse error, q_cache 503. */
static void fake_handler(void *ud, const struct httpd_request *req, struct httpd_response *resp)
{
    struct fake *f = ud;
    pthread_mutex_lock(&f->lock);
    f->requests++;
    pthread_mutex_unlock(&f->lock);
    const char *b = req->body ? req->body : "";
#define OK "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[%s]}}"
    if (strstr(b, "query=q_cpu&"))
        httpd_reply(resp, 200, "application/json", OK,
                    S("{\"instance\":\"a\"}", "0.97") "," S("{\"instance\":\"b\"}", "0.2"));
    else if (strstr(b, "query=q_fill&"))
        httpd_reply(resp, 200, "application/json", OK, S("{\"mountpoint\":\"/\"}", "-5"));
    else if (strstr(b, "query=q_swap&"))
        httpd_reply(resp, 200, "application/json", OK, "");
    else if (strstr(b, "query=q_idle&"))
        httpd_reply(resp, 400, "application/json",
                    "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"1:1: parse "
                    "error\"}");
    else
        httpd_reply(resp, 503, "text/plain", "overloaded");
#undef OK
}

TEST(build_against_fake_prometheus)
{
    struct fake f = {0};
    pthread_mutex_init(&f.lock, NULL);
    struct httpd_options ho = {.listen_address = "127.0.0.1:0"};
    CHECK_INT(httpd_start(&ho, fake_handler, &f, &f.h), 0);
    snprintf(f.url, sizeof(f.url), "http://%s", httpd_bound_address(f.h));
    struct rules *r = load(FULL, NULL);
    CHECK(r != NULL);
    struct http_client_config cfg = {.url = f.url, .timeout_usec = 5000000};
    struct promql_client *c = NULL;
    struct buf e = BUF_INIT_MAX(0);
    CHECK_INT(promql_client_new(&cfg, &c, &e), 0);
    struct report_source src = {.query = report_source_promql, .ctx = c};
    struct report_options o = {.time = T0, .prometheus_url = f.url};
    json_t *rep = NULL;
    char err[256] = "";
    CHECK_INT(report_build(r->report, &src, &o, &rep, err, sizeof(err)), 0);
    CHECK_INT(f.requests, 5);
    CHECK_INT(jint(rep, "score"), 60); /* cpu a critical, fill warning */
    const json_t *issues = json_object_get(rep, "issues");
    CHECK_INT(json_array_size(issues), 2);
    CHECK_STR(jstr(json_object_get(json_array_get(issues, 0), "labels"), "instance"), "a");
    CHECK_STR(jstr(json_array_get(issues, 1), "check"), "fs_fill");
    const json_t *ne = json_object_get(rep, "not_evaluated");
    CHECK_INT(json_array_size(ne), 3);
    CHECK_STR(jstr(json_array_get(ne, 0), "reason"), "no data: the query returned no series");
    CHECK_STR(jstr(json_array_get(ne, 1), "reason"), "query failed: bad_data: 1:1: parse error");
    CHECK_STR(jstr(json_array_get(ne, 2), "reason"), "query failed: HTTP 503: overloaded");
    json_decref(rep);

    /* --quick: the slow ones are not even asked for */
    o.quick = true;
    CHECK_INT(report_build(r->report, &src, &o, &rep, err, sizeof(err)), 0);
    CHECK_INT(f.requests, 8);
    CHECK_INT(json_array_size(json_object_get(rep, "skipped")), 2);
    CHECK_INT(jint(rep, "score"), 70);
    json_decref(rep);
    promql_client_free(c);
    httpd_stop(f.h);
    pthread_mutex_destroy(&f.lock);

    /* Nothing answers: no report, and why. */
    struct httpd_options ho2 = {.listen_address = "127.0.0.1:0"};
    struct httpd *h2 = NULL;
    CHECK_INT(httpd_start(&ho2, fake_handler, &f, &h2), 0);
    char closed[64];
    snprintf(closed, sizeof(closed), "http://%s", httpd_bound_address(h2));
    httpd_stop(h2); /* the port is free again: connections are refused */
    cfg.url = closed;
    CHECK_INT(promql_client_new(&cfg, &c, &e), 0);
    src.ctx = c;
    o.prometheus_url = closed;
    rep = NULL;
    CHECK_INT(report_build(r->report, &src, &o, &rep, err, sizeof(err)), -EHOSTUNREACH);
    CHECK(rep == NULL);
    CHECK_CONTAINS(err, "cannot query Prometheus: connection refused (");
    CHECK_CONTAINS(err, closed);
    promql_client_free(c);
    rules_free(r);
    buf_free(&e);
}

TEST_MAIN(TEST_ENTRY(rules_report_section), TEST_ENTRY(rules_report_errors),
          TEST_ENTRY(assemble_issues_and_score), TEST_ENTRY(issues_name_their_target),
          TEST_ENTRY(score_bands_and_clamp), TEST_ENTRY(unknown_checks_are_listed_never_passed),
          TEST_ENTRY(quick_skips_slow), TEST_ENTRY(controller_state_issue),
          TEST_ENTRY(parse_series), TEST_ENTRY(build_against_fake_prometheus))
