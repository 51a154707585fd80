/* test-targets: targets in the rules (controller/engine/rules_targets.c: the section, its
 * limits and the {{ $labels.NAME }} placeholders, each error at its position), the
 * matching of signals' vectors to targets (engine/targets.c: shared and per-target
 * signals, missing and duplicate series, failed queries, escaping, the key), and label
 * values in actions (actuators/actuator.c: expanded when safe, refused otherwise). */
#include <errno.h>
#include <stdint.h>

#include "actuator.h"
#include "buf.h"
#include "rules.h"
#include "targets.h"
#include "test.h"

#define HEAD                                                                                       \
    "signals:\n"                                                                                   \
    "  p95: {query: 'p95'}\n"                                                                      \
    "  cpu: {query: 'cpu'}\n"                                                                      \
    "states:\n"                                                                                    \
    "  - {name: critical, conditions: ['p95 > 1']}\n"                                              \
    "  - {name: optimal}\n"

static struct rules *load(const char *yaml, struct buf *e)
{
    struct rules *r = NULL;
    buf_reset(e);
    if (e->data)
        e->data[0] = '\0';
    rules_load_string(yaml, strlen(yaml), "r.yaml", &r, e);
    return r;
}

TEST(section_defaults_and_values)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = load(HEAD, &e);
    CHECK(r != NULL);
    CHECK(r->targets.by == NULL); /* no section: one machine, as always */
    CHECK_INT(r->targets.n_by, 0);
    rules_free(r);
    r = load("targets: {by: [namespace, deployment]}\n" HEAD, &e);
    CHECK(r != NULL);
    CHECK_INT(r->targets.n_by, 2);
    CHECK_STR(r->targets.by[0], "namespace");
    CHECK_STR(r->targets.by[1], "deployment");
    CHECK_INT(r->targets.max, 1000);
    CHECK_INT(r->targets.forget_after_usec, 600000000ULL);
    CHECK_INT(r->max_actions_per_hour_per_target, 0);
    CHECK_DBL(r->max_targets_acting.share, 0.25, 0);
    CHECK_INT(r->max_targets_acting.count, 0);
    rules_free(r);
    r = load("targets: {by: [service], max: 5000, forget_after: 2m}\n"
             "limits: {max_actions_per_hour_per_target: 4, max_targets_acting: 10%}\n" HEAD,
             &e);
    CHECK(r != NULL);
    CHECK_INT(r->targets.max, 5000);
    CHECK_INT(r->targets.forget_after_usec, 120000000ULL);
    CHECK_INT(r->max_actions_per_hour_per_target, 4);
    CHECK_DBL(r->max_targets_acting.share, 0.10, 1e-12);
    rules_free(r);
    r = load("targets: {by: [service]}\nlimits: {max_targets_acting: 3}\n" HEAD, &e);
    CHECK(r != NULL);
    CHECK_INT(r->max_targets_acting.count, 3);
    CHECK_DBL(r->max_targets_acting.share, 0, 0);
    rules_free(r);
    buf_free(&e);
}

TEST(section_errors_at_their_position)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"targets: {max: 5}\n" HEAD, "r.yaml:1:10: targets needs by: the labels that name one "
                                     "target, such as [namespace, deployment]"},
        {"targets: {by: []}\n" HEAD, "r.yaml:1:15: targets.by names 1 to 8 labels, got 0"},
        {"targets: {by: [a, a]}\n" HEAD, "r.yaml:1:19: targets.by: 'a' is listed twice"},
        {"targets: {by: [__name__]}\n" HEAD,
         "r.yaml:1:16: targets.by: '__name__' starts with __, which Prometheus reserves"},
        {"targets: {by: [1x]}\n" HEAD, "r.yaml:1:16: targets.by: '1x' is not a label name"},
        {"targets: {by: [a], max: 0}\n" HEAD,
         "r.yaml:1:25: targets.max must be a whole number from 1 to 100000"},
        {"targets: {by: [a], forget_after: 10ms}\n" HEAD,
         "r.yaml:1:34: targets.forget_after must be from 1s to 7d, got '10ms'"},
        {"targets: {by: [a], bye: 1}\n" HEAD, "r.yaml:1:20: unknown key 'bye'"},
        {"limits: {max_targets_acting: 3}\n" HEAD,
         "r.yaml:1:30: max_targets_acting needs a targets section"},
        {"targets: {by: [a]}\nlimits: {max_targets_acting: 150%}\n" HEAD,
         "r.yaml:2:30: max_targets_acting is a number of targets (10) or a share of them "
         "(10%), 0 for no limit; got '150%'"},
        {"limits: {max_actions_per_hour_per_target: 3}\n" HEAD,
         "r.yaml:1:43: max_actions_per_hour_per_target needs a targets section"},
    };
    struct buf e = BUF_INIT_MAX(0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rules *r = load(cases[i].yaml, &e);
        CHECK(r == NULL);
        CHECK_CONTAINS(e.data ? e.data : "", cases[i].want);
        rules_free(r);
    }
    buf_free(&e);
}

TEST(label_placeholders_checked_at_load)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = load("targets: {by: [namespace, deployment]}\n" HEAD "decisions:\n"
                           "  critical:\n"
                           "    actions:\n"
                           "      - kubectl: {scale: 'deployment/{{ $labels.deployment }}', "
                           "namespace: '{{ $labels.namespace }}', replicas: '+1', max: 10}\n",
                           &e);
    CHECK(r != NULL);
    if (r)
        CHECK_STR(r->decisions[0].actions[0].summary,
                  "kubectl scale deployment/{{ $labels.deployment }} namespace={{ "
                  "$labels.namespace }} replicas=+1 max=10");
    rules_free(r);
    /* a label that is not in by */
    r = load("targets: {by: [namespace]}\n" HEAD "decisions:\n  critical:\n    actions:\n"
             "      - exec: {argv: [/bin/true, '{{ $labels.pod }}']}\n",
             &e);
    CHECK(r == NULL);
    CHECK_CONTAINS(e.data ? e.data : "",
                   "r.yaml:11:22: exec: {{ $labels.pod }}: 'pod' is not a target label: "
                   "targets.by has namespace");
    rules_free(r);
    /* labels without targets */
    r = load(HEAD "decisions:\n  critical:\n    actions:\n"
                  "      - webhook: {url: 'http://h/x', body: '{{$labels.service}}'}\n",
             &e);
    CHECK(r == NULL);
    CHECK_CONTAINS(e.data ? e.data : "",
                   "{{ $labels.service }}: labels name a target only in a decision of a rules "
                   "file with a targets section");
    rules_free(r);
    /* a manual action has no target */
    r = load("targets: {by: [service]}\n" HEAD
             "manual_actions:\n  restart:\n    - exec: [/bin/echo, '{{ $labels.service }}']\n",
             &e);
    CHECK(r == NULL);
    CHECK_CONTAINS(e.data ? e.data : "", "a manual action has no target");
    rules_free(r);
    /* malformed */
    r = load("targets: {by: [service]}\n" HEAD "decisions:\n  critical:\n    actions:\n"
             "      - exec: [/bin/echo, '{{ $labels. }}']\n",
             &e);
    CHECK(r == NULL);
    CHECK_CONTAINS(e.data ? e.data : "", "malformed placeholder");
    rules_free(r);
    buf_free(&e);
}

/* ---- matching ---- */

static json_t *json(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!j)
        fprintf(stderr, "  bad fixture: %s: %s\n", text, err.text);
    return j;
}

/* An instant vector's JSON as the matching reads it (every label kept). */
static struct ivec *ivec_of(json_t *j)
{
    struct ivec *v = calloc(1, sizeof(*v));
    if (v && targets_ivec_from_json(j, NULL, 0, v) < 0)
        fprintf(stderr, "  cannot convert a fixture\n");
    json_decref(j);
    return v;
}

static struct ivec *vec(const char *text)
{
    return ivec_of(json(text));
}

static void vec_free(struct ivec *v)
{
    ivec_free(v);
    free(v);
}

#define SER(labels, v) "{\"metric\": " labels ", \"value\": [1700000000.5, \"" v "\"]}"

TEST(match_shared_and_per_target)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = load("targets: {by: [namespace, deployment]}\n" HEAD, &e);
    CHECK(r != NULL);
    if (!r)
        return;
    struct ivec *p95 =
        vec("[" SER("{\"namespace\": \"a\", \"deployment\": \"web\"}", "0.5") "," SER(
            "{\"namespace\": \"a\", \"deployment\": \"api\"}",
            "2") "," SER("{\"namespace\": \"b\", \"deployment\": \"web\", \"x\": \"1\"}",
                         "NaN") "," SER("{\"namespace\": \"b\", \"deployment\": \"db\"}",
                                        "3") "," SER("{\"namespace\": \"b\", \"deployment\": "
                                                     "\"db\", "
                                                     "\"pod\": \"2\"}",
                                                     "4") "]");
    struct ivec *cpu = vec("[" SER("{}", "0.75") "]");
    struct target_input in[2] = {{.series = p95}, {.series = cpu}};
    struct target_set s;
    CHECK_INT(targets_match(r, in, NULL, NULL, 0, 42, &s), 0);
    CHECK_INT(s.n, 4); /* sorted by key */
    CHECK_STR(s.rows[0]->key, "{namespace=\"a\",deployment=\"api\"}");
    CHECK_STR(s.rows[1]->key, "{namespace=\"a\",deployment=\"web\"}");
    CHECK_STR(s.rows[2]->key, "{namespace=\"b\",deployment=\"db\"}");
    CHECK_STR(s.rows[3]->key, "{namespace=\"b\",deployment=\"web\"}");
    json_t *labels = targets_row_labels(r, s.rows[1]);
    CHECK_STR(json_string_value(json_object_get(labels, "deployment")), "web");
    CHECK_INT(json_object_size(labels), 2); /* by's labels only, not x */
    json_decref(labels);
    CHECK(s.rows[0]->values[0].known);
    CHECK_DBL(s.rows[0]->values[0].value, 2, 0);
    CHECK_DBL(s.rows[0]->values[0].sample_time, 1700000000.5, 0);
    CHECK(s.rows[1]->values[0].known);
    CHECK_DBL(s.rows[1]->values[0].value, 0.5, 0);
    CHECK(!s.rows[2]->values[0].known); /* two series for one target */
    CHECK_STR(s.rows[2]->values[0].reason, "2 series for {namespace=\"b\",deployment=\"db\"}");
    CHECK(!s.rows[3]->values[0].known);
    CHECK_STR(s.rows[3]->values[0].reason, "NaN");
    for (size_t t = 0; t < 4; t++) { /* the shared signal */
        CHECK(s.rows[t]->values[1].known);
        CHECK_DBL(s.rows[t]->values[1].value, 0.75, 0);
    }
    target_set_free(&s);

    /* cpu per target too, with one target missing; a failed query for p95 */
    vec_free(cpu);
    cpu = vec("[" SER("{\"namespace\": \"a\", \"deployment\": \"web\"}",
                      "0.1") "," SER("{\"namespace\": \"z\", \"deployment\": \"new\"}", "0.2") "]");
    in[0].series = NULL;
    snprintf(in[0].value.reason, sizeof(in[0].value.reason), "timeout");
    in[1].series = cpu;
    CHECK_INT(targets_match(r, in, NULL, NULL, 0, 42, &s), 0);
    CHECK_INT(s.n, 2);
    CHECK_STR(s.rows[0]->key, "{namespace=\"a\",deployment=\"web\"}");
    CHECK(!s.rows[0]->values[0].known);
    CHECK_STR(s.rows[0]->values[0].reason, "timeout");
    CHECK(s.rows[1]->values[1].known);
    target_set_free(&s);

    /* a shared signal with two series is unknown for every target */
    struct ivec *two = vec("[" SER("{\"a\": \"1\"}", "1") "," SER("{\"a\": \"2\"}", "2") "]");
    in[0].series = cpu;
    in[1].series = two;
    CHECK_INT(targets_match(r, in, NULL, NULL, 0, 42, &s), 0);
    CHECK_INT(s.n, 2);
    CHECK(!s.rows[0]->values[1].known);
    CHECK_STR(s.rows[0]->values[1].reason, "2 series (use sum or max)");
    target_set_free(&s);

    /* a target with one signal but not the other */
    struct ivec *one = vec("[" SER("{\"namespace\": \"a\", \"deployment\": \"web\"}", "1") "]");
    in[0].series = one;
    in[1].series = cpu;
    CHECK_INT(targets_match(r, in, NULL, NULL, 0, 42, &s), 0);
    CHECK_INT(s.n, 2);
    CHECK(!s.rows[1]->values[0].known);
    CHECK_STR(s.rows[1]->values[0].reason, "no series for {namespace=\"z\",deployment=\"new\"}");
    target_set_free(&s);
    vec_free(one);
    vec_free(two);
    vec_free(p95);
    vec_free(cpu);
    rules_free(r);
    buf_free(&e);
}

TEST(match_key_escaping_and_bounds)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = load("targets: {by: [service]}\n" HEAD, &e);
    CHECK(r != NULL);
    if (!r)
        return;
    json_t *m = json("{\"service\": \"a\\\"b\\\\c\\nd\"}");
    char key[64];
    CHECK_INT(targets_key(r, m, key, sizeof(key)), 22);
    CHECK_STR(key, "{service=\"a\\\"b\\\\c\\nd\"}");
    CHECK_INT(targets_key(r, m, key, 10), -E2BIG);
    json_decref(m);
    /* a label value too long for a key is refused, not truncated into another target */
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct ivec *series =
        ivec_of(json_pack("[{s:{s:s}, s:[f,s]}, {s:{s:s}, s:[f,s]}]", "metric", "service", big,
                          "value", 1.0, "1", "metric", "service", "ok", "value", 1.0, "2"));
    struct target_input in[2] = {{.series = series}, {.series = NULL}};
    snprintf(in[1].value.reason, sizeof(in[1].value.reason), "empty result");
    struct target_set s;
    CHECK_INT(targets_match(r, in, NULL, NULL, 0, 1, &s), 0);
    CHECK_INT(s.n, 1);
    CHECK_INT(s.refused_key, 1);
    CHECK_STR(s.rows[0]->key, "{service=\"ok\"}");
    target_set_free(&s);
    vec_free(series);
    /* rules without targets */
    rules_free(r);
    r = load(HEAD, &e);
    CHECK_INT(targets_match(r, in, NULL, NULL, 0, 1, &s), -EINVAL);
    rules_free(r);
    buf_free(&e);
}

/* ---- label sets and selectors ---- */

TEST(label_sets_and_selectors)
{
    json_t *l = NULL;
    char msg[160];
    CHECK_INT(targets_parse_labels(" {unit=\"a.service\", x=\"q\\\"\"} ", &l, msg, sizeof(msg)), 0);
    CHECK_STR(json_string_value(json_object_get(l, "unit")), "a.service");
    CHECK_STR(json_string_value(json_object_get(l, "x")), "q\"");
    json_decref(l);
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"unit=\"a\"", "a label set is written {name=\"value\", ...}"},
        {"{unit!=\"a\"}", "a label set gives values (unit=\"...\"), not !="},
        {"{a=\"1\", a=\"2\"}", "label a given twice"},
        {"{a=\"1\"} x", "unexpected 'x' after the label set"},
        {"{a=\"1\"", "missing }"},
        {"{1a=\"1\"}", "expected a label name at '1a=\"1\"}'"},
        {"{a=1}", "the value of a must be quoted (\"...\")"},
        {"{a=\"1}", "unterminated value at '\"1}'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l = NULL;
        CHECK_INT(targets_parse_labels(bad[i].in, &l, msg, sizeof(msg)), -EINVAL);
        CHECK_STR(msg, bad[i].why);
        CHECK(l == NULL);
    }
    struct label_matcher m[4];
    size_t n = 0;
    const char *end;
    CHECK_INT(targets_parse_selector("{a=\"x\",b!=\"y\", c=~\"z.*\" ,d!~\"w\"}", m, 4, &n, &end,
                                     msg, sizeof(msg)),
              0);
    CHECK_INT(n, 4);
    CHECK_STR(m[1].op, "!=");
    CHECK_STR(m[2].op, "=~");
    CHECK_STR(m[2].value, "z.*");
    CHECK_STR(m[3].name, "d");
    CHECK_STR(end, "");
    targets_matchers_free(m, n);
    CHECK_INT(targets_parse_selector("a=\"1\",b=\"2\",c=\"3\"", m, 2, &n, NULL, msg, sizeof(msg)),
              -EINVAL);
    CHECK_STR(msg, "more than 2 matchers");
}

/* ---- label values in actions ---- */

TEST(label_values_expanded_or_refused)
{
    CHECK(actuator_label_value_error("web-api") == NULL);
    CHECK(actuator_label_value_error("app.service") == NULL);
    CHECK(actuator_label_value_error("getty@tty1.service") == NULL);
    static const char *const bad[] = {"../x", "a b", "$(reboot)", "-rf", ".",
                                      "",     "a/b", "x;y",       "a\nb"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(actuator_label_value_error(bad[i]) != NULL);
    char longv[301];
    memset(longv, 'a', 300);
    longv[300] = '\0';
    CHECK_STR(actuator_label_value_error(longv), "is longer than 253 characters");

    json_t *labels = json_pack("{s:s, s:s}", "deployment", "web", "namespace", "../x");
    struct action_ctx ctx = {.labels = labels, .state = "critical"};
    char msg[256] = "";
    json_t *p = json_pack("{s:s}", "scale", "deployment/{{ $labels.deployment }}");
    json_t *x = actuator_expand(p, &ctx, msg, sizeof(msg));
    CHECK(x != NULL);
    CHECK_STR(json_string_value(json_object_get(x, "scale")), "deployment/web");
    json_decref(x);
    json_decref(p);
    p = json_pack("{s:s}", "namespace", "{{$labels.namespace}}");
    x = actuator_expand(p, &ctx, msg, sizeof(msg));
    CHECK(x == NULL);
    CHECK_STR(msg, "label namespace=\"../x\" starts with - or .: refused in an action");
    json_decref(p);
    /* nothing runs: actuator_run fails before the kind is called */
    struct action_def a = {
        .kind = ACTION_EXEC,
        .params = json_pack("{s:[s,s]}", "argv", "/bin/echo", "{{ $labels.namespace }}"),
        .summary = (char *)"exec"};
    struct action_result res;
    actuator_run(&a, &ctx, &res, NULL);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_CONTAINS(res.error, "exec: label namespace=\"../x\"");
    CHECK_INT(res.attempts, 0);
    action_result_clear(&res);
    json_decref(a.params);
    /* the same before kubectl, systemd and a webhook's URL path: no attempt is made */
    struct {
        enum action_kind kind;
        const char *key, *value;
    } kinds[] = {
        {ACTION_KUBECTL, "scale", "deployment/{{ $labels.namespace }}"},
        {ACTION_SYSTEMD, "unit", "{{ $labels.namespace }}.service"},
        {ACTION_WEBHOOK, "url", "http://127.0.0.1:9/admin/{{ $labels.namespace }}"},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        struct action_def k = {.kind = kinds[i].kind,
                               .params = json_pack("{s:s}", kinds[i].key, kinds[i].value),
                               .summary = (char *)"k"};
        actuator_run(&k, &ctx, &res, NULL);
        CHECK_INT(res.status, ACT_FAIL);
        CHECK_CONTAINS(res.error, "label namespace=\"../x\" starts with - or .: refused");
        CHECK_INT(res.attempts, 0);
        action_result_clear(&res);
        json_decref(k.params);
    }
    json_decref(labels);
}

TEST_MAIN(TEST_ENTRY(section_defaults_and_values), TEST_ENTRY(section_errors_at_their_position),
          TEST_ENTRY(label_placeholders_checked_at_load), TEST_ENTRY(match_shared_and_per_target),
          TEST_ENTRY(match_key_escaping_and_bounds), TEST_ENTRY(label_sets_and_selectors),
          TEST_ENTRY(label_values_expanded_or_refused))
