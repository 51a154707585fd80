/* test-rules: the rules file loader of controller/rules_*.c: a file with every key checked
 * field by field, the PRODUCT.md example, defaults, every load error with its exact
 * position and message, all errors of a file reported at once, reachability of states,
 * the JSON view without secrets, lookups, `homeostat-controller check` output, and a
 * mutation loop that must never crash the loader. */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "buf.h"
#include "check.h"
#include "fileio.h"
#include "parse.h"
#include "rules.h"
#include "test.h"

#define SEC 1000000ULL

static struct rules *load_str(const char *yaml, struct buf *e)
{
    struct rules *r = NULL;
    int ret = rules_load_string(yaml, strlen(yaml), "r.yaml", &r, e);
    if (ret < 0 && e && e->data)
        fprintf(stderr, "  load failed (%d):\n%s", ret, e->data);
    return r;
}

static struct rules *load_fixture(const char *rel)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = NULL;
    int ret = rules_load_file(test_fixture(rel), &r, &e);
    if (ret < 0)
        fprintf(stderr, "  loading %s: %d\n%s", rel, ret, e.data ? e.data : "");
    buf_free(&e);
    return r;
}

static char *dump(json_t *j)
{
    return json_dumps(j, JSON_COMPACT);
}

/* The JSON of params, compact, or "(null)". */
static const char *params_text(const struct action_def *a)
{
    static char out[1024];
    char *s = a->params ? dump(a->params) : NULL;
    snprintf(out, sizeof(out), "%s", s ? s : "(null)");
    free(s);
    return out;
}

TEST(full_file_every_field)
{
    struct rules *r = load_fixture("rules/full.yaml");
    CHECK(r != NULL);
    CHECK_STR(r->path, test_fixture("rules/full.yaml"));
    CHECK_INT(r->evaluation_interval_usec, 10 * SEC);

    const struct http_client_config *p = &r->prometheus;
    CHECK_STR(p->url, "https://prometheus.example:9090/prefix");
    CHECK_INT(p->timeout_usec, 1500000);
    /* relative to the rules file's directory, like Prometheus */
    char want[4200];
    snprintf(want, sizeof(want), "%s/secrets/token", test_fixture("rules"));
    CHECK_STR(p->bearer_token_file, want);
    CHECK(p->basic_auth_username == NULL);
    CHECK(p->basic_auth_password_file == NULL);
    CHECK_STR(p->ca_file, "/etc/ssl/certs/prometheus-ca.pem");
    CHECK(!p->insecure_skip_verify);
    CHECK_INT(p->n_headers, 2);
    CHECK_STR(p->headers[0], "X-Scope-OrgID: tenant-1");
    CHECK_STR(p->headers[1], "X-Extra: on");
    CHECK(p->headers[2] == NULL);

    CHECK_INT(r->n_signals, 4);
    CHECK_STR(r->signals[0].name, "cpu_busy");
    CHECK_STR(r->signals[0].query, "1 - avg(rate(homeostat_cpu_seconds_total{mode=\"idle\"}[1m]))");
    CHECK_INT(r->signals[0].max_age_usec, 30 * SEC);
    CHECK_STR(r->signals[0].help, "Share of CPU time not idle");
    CHECK_STR(r->signals[1].name, "memory_used");
    CHECK_INT(r->signals[1].max_age_usec, 60 * SEC);
    CHECK(r->signals[1].help == NULL);
    CHECK_STR(r->signals[2].name, "p95_latency_seconds");
    CHECK_INT(r->signals[2].max_age_usec, 0);
    CHECK_STR(r->signals[3].name, "error_ratio");
    CHECK_STR(r->signals[3].query, "sum(rate(app_requests_total{result=\"failure\"}[2m])) / "
                                   "sum(rate(app_requests_total[2m]))");

    CHECK_INT(r->n_states, 4);
    const struct state_def *s = &r->states[0];
    CHECK_STR(s->name, "critical");
    CHECK_INT(s->when, WHEN_ANY);
    CHECK_INT(s->n_conditions, 2);
    CHECK_INT(s->conditions[0].signal, 0);
    CHECK_INT(s->conditions[0].op, COND_GT);
    CHECK(s->conditions[0].threshold == 0.85);
    CHECK_STR(s->conditions[0].text, "cpu_busy > 0.85");
    CHECK_INT(s->conditions[1].signal, 1);
    CHECK_INT(s->conditions[1].op, COND_GE);
    CHECK(s->conditions[1].threshold == 0.9);
    CHECK_INT(s->for_usec, 30 * SEC);
    CHECK_INT(s->keep_for_usec, 120 * SEC);
    CHECK_STR(s->severity, "critical");
    CHECK_STR(s->description, "The host is saturated");

    s = &r->states[1];
    CHECK_STR(s->name, "degraded");
    CHECK_INT(s->when, WHEN_ALL);
    CHECK_INT(s->n_conditions, 3);
    CHECK_INT(s->conditions[0].signal, 2);
    CHECK_INT(s->conditions[0].op, COND_GT);
    CHECK(s->conditions[0].threshold == 5);
    CHECK_STR(s->conditions[0].text, "p95_latency_seconds>5");
    CHECK_INT(s->conditions[1].signal, 3);
    CHECK_INT(s->conditions[1].op, COND_NE);
    CHECK(s->conditions[1].threshold == -1);
    CHECK_STR(s->conditions[1].text, "  error_ratio  !=  -1 ");
    CHECK_INT(s->conditions[2].op, COND_GT);
    CHECK(s->conditions[2].threshold == 0.02);
    CHECK_INT(s->for_usec, 90 * SEC);
    CHECK_INT(s->keep_for_usec, 0);
    CHECK_STR(s->severity, "warning");
    CHECK(s->description == NULL);

    s = &r->states[2];
    CHECK_STR(s->name, "stressed");
    CHECK_INT(s->n_conditions, 4);
    CHECK_INT(s->conditions[1].op, COND_LT);
    CHECK(s->conditions[1].threshold == 0.95);
    CHECK_INT(s->conditions[2].op, COND_LE);
    CHECK(s->conditions[2].threshold == 0.85);
    CHECK_INT(s->conditions[3].op, COND_EQ);
    CHECK(s->conditions[3].threshold == 0);
    CHECK(s->severity == NULL);

    s = &r->states[3];
    CHECK_STR(s->name, "optimal");
    CHECK_INT(s->n_conditions, 0);
    CHECK_INT(s->when, WHEN_ANY);
    CHECK_INT(s->for_usec, 0);
    CHECK_STR(s->description, "Nothing else holds");

    CHECK_INT(r->on_missing_data, MISSING_UNKNOWN);

    CHECK_INT(r->n_decisions, 3);
    const struct decision_def *d = &r->decisions[0];
    CHECK_INT(d->state, 0);
    CHECK(d->min_confidence == 0.6);
    CHECK_INT(d->cooldown_usec, 120 * SEC);
    CHECK(d->revert_on_exit);
    CHECK(!d->dry_run);
    CHECK_INT(d->n_actions, 5);
    CHECK_INT(d->actions[0].kind, ACTION_SYSTEMD);
    CHECK_STR(d->actions[0].summary, "systemd app.service cpu_quota=50% memory_high=2G");
    CHECK_STR(params_text(&d->actions[0]),
              "{\"unit\":\"app.service\",\"cpu_quota\":\"50%\",\"memory_high\":\"2G\"}");
    CHECK_INT(d->actions[1].kind, ACTION_KUBECTL);
    CHECK_STR(d->actions[1].summary,
              "kubectl scale deployment/app namespace=prod replicas=+2 max=10");
    CHECK_STR(
        params_text(&d->actions[1]),
        "{\"scale\":\"deployment/app\",\"namespace\":\"prod\",\"replicas\":\"+2\",\"max\":10}");
    CHECK_INT(d->actions[2].kind, ACTION_WEBHOOK);
    CHECK_STR(
        d->actions[2].summary,
        "webhook PUT http://127.0.0.1:8080/admin/limits "
        "body={\"concurrency\":8,\"mode\":\"strict\",\"ratio\":0.5,\"enabled\":true,"
        "\"note\":null,\"list\":[1,\"2\",\"three\"]} headers={\"Authorization\":\"<redacted>\"}");
    /* the actuator gets the real value */
    CHECK_STR(params_text(&d->actions[2]),
              "{\"url\":\"http://127.0.0.1:8080/admin/limits\",\"method\":\"PUT\","
              "\"body\":{\"concurrency\":8,\"mode\":\"strict\",\"ratio\":0.5,\"enabled\":true,"
              "\"note\":null,\"list\":[1,\"2\",\"three\"]},"
              "\"headers\":{\"Authorization\":\"Bearer hunter2\"}}");
    CHECK_INT(d->actions[3].kind, ACTION_EXEC);
    CHECK_STR(d->actions[3].summary, "exec /usr/local/bin/notify --level critical 'two words'");
    CHECK_STR(params_text(&d->actions[3]),
              "{\"argv\":[\"/usr/local/bin/notify\",\"--level\",\"critical\",\"two words\"]}");
    CHECK_INT(d->actions[4].kind, ACTION_ALERT);
    CHECK_STR(d->actions[4].summary,
              "alert severity=page annotations={\"summary\":\"CPU is saturated\"}");

    d = &r->decisions[1];
    CHECK_INT(d->state, 1);
    CHECK(d->min_confidence == 0);
    CHECK_INT(d->cooldown_usec, 300 * SEC);
    CHECK(!d->revert_on_exit);
    CHECK(d->dry_run);
    CHECK_INT(d->n_actions, 3);
    CHECK_STR(d->actions[0].summary, "exec /usr/bin/logger -t homeostat 42 timeout=5s");
    CHECK_STR(params_text(&d->actions[0]),
              "{\"argv\":[\"/usr/bin/logger\",\"-t\",\"homeostat\",\"42\"],\"timeout\":\"5s\"}");
    CHECK_STR(d->actions[1].summary, "kubectl rollout restart deployment/app namespace=prod");
    CHECK_INT(d->actions[2].kind, ACTION_ALERT);
    CHECK_STR(d->actions[2].summary, "alert");
    CHECK_STR(params_text(&d->actions[2]), "{}");

    d = &r->decisions[2];
    CHECK_INT(d->state, 3);
    CHECK_INT(d->cooldown_usec, 0);
    CHECK_INT(d->n_actions, 2);
    CHECK_STR(d->actions[0].summary,
              "kubectl patch deployment/app merge_patch={\"spec\":{\"replicas\":2}}");
    CHECK_STR(d->actions[1].summary,
              "kubectl annotate deployment/app annotations={\"example.com/note\":\"optimal\"}");

    CHECK_INT(r->n_manual_actions, 2);
    const struct manual_action_def *m = &r->manual_actions[0];
    CHECK_STR(m->name, "emergency_throttle");
    CHECK_INT(m->n_actions, 1);
    CHECK_STR(
        m->actions[0].summary,
        "webhook POST http://127.0.0.1:8080/admin/limits body={\"concurrency\":\"{{limit}}\"}");
    CHECK_STR(params_text(&m->actions[0]), "{\"url\":\"http://127.0.0.1:8080/admin/limits\","
                                           "\"body\":{\"concurrency\":\"{{limit}}\"}}");
    m = &r->manual_actions[1];
    CHECK_STR(m->name, "reset_breaker");
    CHECK_INT(m->n_actions, 2);
    CHECK_STR(m->actions[0].summary, "webhook POST https://app.example/admin/breaker/reset");
    CHECK_STR(m->actions[1].summary, "systemd app.service cpu_weight=100");
    CHECK_STR(params_text(&m->actions[1]), "{\"unit\":\"app.service\",\"cpu_weight\":100}");
    rules_free(r);
}

TEST(product_example)
{
    struct rules *r = load_fixture("rules/product.yaml");
    CHECK(r != NULL);
    CHECK_INT(r->n_signals, 4);
    CHECK_INT(r->n_states, 4);
    CHECK_STR(r->states[1].name, "degraded");
    CHECK_INT(r->states[1].conditions[1].signal, rules_signal_index(r, "error_ratio"));
    CHECK_STR(r->prometheus.url, "http://127.0.0.1:9090");
    CHECK_INT(r->prometheus.timeout_usec, 2 * SEC);
    CHECK_INT(r->on_missing_data, MISSING_HOLD);
    CHECK_INT(r->n_decisions, 1);
    CHECK_STR(r->decisions[0].actions[0].summary, "systemd app.service cpu_quota=50%");
    CHECK_STR(r->decisions[0].actions[2].summary,
              "webhook POST http://127.0.0.1:8080/admin/limits body={\"concurrency\":8}");
    CHECK(rules_manual_action(r, "emergency_throttle") != NULL);
    rules_free(r);

    /* Verbatim, the example uses two signals it does not define. */
    struct buf e = BUF_INIT_MAX(0);
    char path[4200];
    snprintf(path, sizeof(path), "%s", test_fixture("rules/product-example.yaml"));
    r = NULL;
    CHECK_INT(rules_load_file(path, &r, &e), -EINVAL);
    CHECK(r == NULL);
    char want[9000];
    snprintf(want, sizeof(want),
             "%s:14:37: unknown signal 'memory_used'\n%s:18:45: unknown signal 'error_ratio'\n",
             path, path);
    CHECK_STR(e.data, want);
    buf_free(&e);
}

/* The annotated example of docs/RULES.md loads as documented. */
TEST(docs_example)
{
    const char *src = getenv("HOMEOSTAT_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/docs/RULES.md", src ? src : ".");
    char *doc = NULL;
    size_t len = 0;
    CHECK_INT(file_read_alloc(path, 1 << 20, &doc, &len), 0);
    const char *start = strstr(doc, "## An annotated example\n\n```yaml\n");
    CHECK(start != NULL);
    start = strchr(strstr(start, "```yaml"), '\n') + 1;
    const char *end = strstr(start, "```");
    CHECK(end != NULL);
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = NULL;
    int ret = rules_load_string(start, (size_t)(end - start), "RULES.md", &r, &e);
    if (ret < 0)
        fprintf(stderr, "%s", e.data ? e.data : "");
    free(doc);
    CHECK_INT(ret, 0);
    CHECK_INT(r->n_signals, 4);
    CHECK_INT(r->n_states, 4);
    CHECK_STR(r->states[3].name, "optimal");
    CHECK_STR(r->prometheus.headers[0], "X-Scope-OrgID: team-a");
    CHECK_INT(r->n_decisions, 1);
    CHECK(r->decisions[0].revert_on_exit);
    CHECK_INT(r->n_manual_actions, 1);
    rules_free(r);
    buf_free(&e);
}

TEST(defaults)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = load_str("signals: {cpu: {query: up}}\n"
                               "states:\n"
                               "  - {name: busy, conditions: [cpu > 0.5]}\n"
                               "  - name: fine\n",
                               &e);
    CHECK(r != NULL);
    CHECK_INT(e.len, 0);
    CHECK_STR(r->path, "r.yaml");
    CHECK_INT(r->evaluation_interval_usec, 5 * SEC);
    CHECK(r->prometheus.url == NULL); /* the daemon needs --prometheus.url then */
    CHECK_INT(r->prometheus.timeout_usec, 2 * SEC);
    CHECK(r->prometheus.bearer_token_file == NULL);
    CHECK(r->prometheus.ca_file == NULL);
    CHECK(!r->prometheus.insecure_skip_verify);
    CHECK_INT(r->prometheus.n_headers, 0);
    CHECK_INT(r->signals[0].max_age_usec, 0);
    CHECK(r->signals[0].help == NULL);
    CHECK_INT(r->states[0].when, WHEN_ANY);
    CHECK_INT(r->states[0].for_usec, 0);
    CHECK_INT(r->states[0].keep_for_usec, 0);
    CHECK(r->states[0].severity == NULL);
    CHECK_INT(r->on_missing_data, MISSING_HOLD);
    CHECK_INT(r->n_decisions, 0);
    CHECK_INT(r->n_manual_actions, 0);
    rules_free(r);

    /* A decision with nothing set; the timeout follows a shorter interval. */
    r = load_str("evaluation_interval: 1s\n"
                 "prometheus: {url: 'http://[::1]:9090', basic_auth: {username: me, "
                 "password_file: pw}, headers: {X-A: 'a\tb'}}\n"
                 "signals: {cpu: {query: up}}\n"
                 "states:\n"
                 "  - {name: busy, conditions: [cpu > 0.5]}\n"
                 "  - name: fine\n"
                 "decisions:\n"
                 "  busy: {}\n"
                 "  fine:\n"
                 "manual_actions: ~\n",
                 &e);
    CHECK(r != NULL);
    CHECK_INT(r->prometheus.timeout_usec, 1 * SEC);
    CHECK_STR(r->prometheus.url, "http://[::1]:9090");
    CHECK_STR(r->prometheus.basic_auth_username, "me");
    CHECK_STR(r->prometheus.basic_auth_password_file, "pw"); /* as written from a string */
    CHECK_STR(r->prometheus.headers[0], "X-A: a\tb");
    CHECK_INT(r->n_decisions, 2);
    CHECK_INT(r->decisions[0].state, 0);
    CHECK(r->decisions[0].min_confidence == 0);
    CHECK_INT(r->decisions[0].cooldown_usec, 300 * SEC);
    CHECK_INT(r->decisions[0].n_actions, 0);
    CHECK(!r->decisions[0].revert_on_exit);
    CHECK(!r->decisions[0].dry_run);
    CHECK_INT(r->decisions[1].state, 1);
    CHECK_INT(r->decisions[1].cooldown_usec, 300 * SEC);
    CHECK_INT(r->n_manual_actions, 0);
    rules_free(r);
    buf_free(&e);
}

struct error_case {
    const char *yaml;
    const char *want; /* every error line */
};

#define SIG "signals:\n  cpu: {query: up}\n  mem: {query: up2}\n"
#define ST "states:\n  - {name: hot, conditions: [\"cpu > 1\"]}\n  - {name: ok}\n"
/* The condition sits at 6:18. */
#define COND(c) SIG "states:\n  - name: hot\n    conditions: [\"" c "\"]\n  - {name: ok}\n"
/* The action sits at 10:9. */
#define ACTION(a) SIG ST "decisions:\n  hot:\n    actions:\n      - " a "\n"
#define WHEN_ALL(c)                                                                                \
    SIG "states:\n  - name: hot\n    when: all\n    conditions: [" c "]\n  - {name: ok}\n"

static const struct error_case error_cases[] = {
    /* the file as a whole */
    {"", "r.yaml:1:1: expected a map with 'signals' and 'states', got null\n"},
    {"- a\n", "r.yaml:1:1: expected a map with 'signals' and 'states', got a sequence\n"},
    {"evaluation_intervall: 5s\n" SIG ST,
     "r.yaml:1:1: unknown key 'evaluation_intervall'; did you mean 'evaluation_interval'?\n"},
    {SIG "states: [\n", "r.yaml:5:1: did not find expected node content (while parsing a flow "
                        "node at 5:1)\n"},
    {"signals:\n  cpu: {query: up}\n  cpu: {query: up2}\n" ST,
     "r.yaml:3:3: duplicate key 'cpu' (first at 2:3)\n"},
    /* evaluation_interval */
    {"evaluation_interval: 5 seconds\n" SIG ST,
     "r.yaml:1:22: expected a duration such as 30s, 5m or 1h30m, got '5 seconds'\n"},
    {"evaluation_interval: 50ms\n" SIG ST,
     "r.yaml:1:22: evaluation_interval must be at least 100ms, got '50ms'\n"},
    /* prometheus */
    {"prometheus: {url: ftp://p:9090}\n" SIG ST,
     "r.yaml:1:19: url 'ftp://p:9090' does not start with http:// or https://\n"},
    {"prometheus: {url: 'http://u:pw@p:9090'}\n" SIG ST,
     "r.yaml:1:19: url contains credentials: use basic_auth with password_file\n"},
    {"prometheus: {url: 'http:///x'}\n" SIG ST, "r.yaml:1:19: url 'http:///x' has no host\n"},
    {"prometheus: {url: \"http://p:9090/a b\"}\n" SIG ST,
     "r.yaml:1:19: url 'http://p:9090/a b' contains a space or a control character\n"},
    {"evaluation_interval: 1s\nprometheus: {url: http://p:9090, timeout: 2s}\n" SIG ST,
     "r.yaml:2:43: timeout 2s is longer than evaluation_interval 1s\n"},
    {"prometheus: {timeout: 0s}\n" SIG ST, "r.yaml:1:23: timeout must be more than 0\n"},
    {"prometheus: {tmeout: 1s}\n" SIG ST,
     "r.yaml:1:14: unknown key 'tmeout'; did you mean 'timeout'?\n"},
    {"prometheus:\n  bearer_token_file: t\n  basic_auth: {username: u, password_file: p}\n" SIG ST,
     "r.yaml:3:3: basic_auth and bearer_token_file cannot be used together\n"},
    {"prometheus:\n  basic_auth: {username: u, password: x}\n" SIG ST,
     "r.yaml:2:29: password is not accepted: put it in a file and name that with "
     "password_file\n"},
    {"prometheus:\n  basic_auth: {password_file: p}\n" SIG ST,
     "r.yaml:2:15: basic_auth needs a username\n"},
    {"prometheus:\n  basic_auth: {username: u}\n" SIG ST,
     "r.yaml:2:15: basic_auth needs a password_file\n"},
    {"prometheus:\n  bearer_token: abc\n" SIG ST,
     "r.yaml:2:3: bearer_token is not accepted: put the token in a file and name that with "
     "bearer_token_file\n"},
    {"prometheus:\n  bearer_token_file: ''\n" SIG ST, "r.yaml:2:22: bearer_token_file is empty\n"},
    {"prometheus:\n  headers: {\"X Bad\": v, X-Ok: \"a\\r\\nb\"}\n" SIG ST,
     "r.yaml:2:13: header name 'X Bad' is not valid (letters, digits and !#$%&'*+-.^_`|~)\n"
     "r.yaml:2:31: header value contains a line break or a control character\n"},
    {"prometheus:\n  headers: {Authorization: x, host: y}\n" SIG ST,
     "r.yaml:2:13: header 'Authorization' would put a secret in the rules file: use "
     "bearer_token_file or basic_auth\n"
     "r.yaml:2:31: header 'host' is set by the controller itself\n"},
    {"prometheus:\n  headers: {X-A: 1, x-a: 2}\n" SIG ST,
     "r.yaml:2:21: duplicate header 'x-a' (first at 2:13; names ignore case)\n"},
    {"prometheus:\n  insecure_skip_verify: maybe\n" SIG ST,
     "r.yaml:2:25: expected true or false, got 'maybe'\n"},
    /* signals */
    {ST, "r.yaml:1:1: missing key 'signals': at least one signal is needed\n"},
    {"signals: {}\n" ST, "r.yaml:1:10: signals is empty: at least one signal is needed\n"
                         "r.yaml:3:30: unknown signal 'cpu'\n"},
    {"signals: [cpu]\n" ST, "r.yaml:1:10: expected a map, got a sequence\n"},
    {"signals:\n  cpu: {query: up}\n  1x: {query: up}\n" ST,
     "r.yaml:3:3: signal name '1x' is not an identifier (letters, digits and '_', not starting "
     "with a digit)\n"},
    {"signals:\n  cpu: {max_age: 30s}\n" ST, "r.yaml:2:8: signal 'cpu' has no query\n"},
    {"signals:\n  cpu: {query: '  '}\n" ST, "r.yaml:2:16: query is empty\n"},
    {"signals:\n  cpu: {query: up, max_age: 0s}\n" ST,
     "r.yaml:2:29: max_age must be more than 0 (leave it out for no limit)\n"},
    {"signals:\n  cpu: {query: up, max_age: soon}\n" ST,
     "r.yaml:2:29: expected a duration such as 30s, 5m or 1h30m, got 'soon'\n"},
    {"signals:\n  cpu: {query: up, maxage: 30s}\n" ST,
     "r.yaml:2:20: unknown key 'maxage'; did you mean 'max_age'?\n"},
    {"signals:\n  cpu:\n  mem: {query: up2}\n" ST,
     "r.yaml:2:7: signal 'cpu': expected a map with 'query', got null\n"},
    /* states */
    {SIG, "r.yaml:1:1: missing key 'states': at least 2 are needed (the last, without "
          "conditions, is the default)\n"},
    {SIG "states:\n  - {name: ok}\n",
     "r.yaml:5:3: states has 1 state: at least 2 are needed (the last, without conditions, is "
     "the default)\n"},
    {SIG "states: {hot: 1}\n", "r.yaml:4:9: expected a sequence, got a map\n"},
    {SIG "states:\n  - {name: unknown, conditions: [\"cpu > 1\"]}\n  - {name: ok}\n",
     "r.yaml:5:12: state name 'unknown' is reserved: it is the state that on_missing_data: "
     "unknown moves to\n"},
    {SIG "states:\n  - {name: hot-path, conditions: [\"cpu > 1\"]}\n  - {name: ok}\n",
     "r.yaml:5:12: state name 'hot-path' is not an identifier (letters, digits and '_', not "
     "starting with a digit)\n"},
    {SIG "states:\n  - {name: hot, conditions: [\"cpu > 1\"]}\n"
         "  - {name: hot, conditions: [\"mem > 1\"]}\n  - {name: ok}\n",
     "r.yaml:6:12: duplicate state 'hot' (first at 5:12)\n"},
    {SIG "states:\n  - {conditions: [\"cpu > 1\"]}\n  - {name: ok}\n",
     "r.yaml:5:5: state has no name\n"},
    {SIG "states:\n  - {name: hot, when: some, conditions: [\"cpu > 1\"]}\n  - {name: ok}\n",
     "r.yaml:5:23: when must be any or all, got 'some'\n"},
    {SIG "states:\n  - {name: hot, fro: 1m, conditions: [\"cpu > 1\"]}\n  - {name: ok}\n",
     "r.yaml:5:17: unknown key 'fro'; did you mean 'for'?\n"},
    {SIG "states:\n  - {name: hot, keep_for: -1s, conditions: [\"cpu > 1\"]}\n  - {name: ok}\n",
     "r.yaml:5:27: expected a duration such as 30s, 5m or 1h30m, got '-1s'\n"},
    {SIG "states:\n  - {name: hot, severity: '', conditions: [\"cpu > 1\"]}\n  - {name: ok}\n",
     "r.yaml:5:27: severity is empty\n"},
    {SIG "states:\n  - {name: hot, conditions: \"cpu > 1\"}\n  - {name: ok}\n",
     "r.yaml:5:29: expected a sequence, got a string\n"},
    /* conditions */
    {"signals:\n  cpu_busy: {query: up}\nstates:\n  - name: hot\n"
     "    conditions: [\"cpu_bsy > 0.85\"]\n  - {name: ok}\n",
     "r.yaml:5:18: unknown signal 'cpu_bsy' (did you mean 'cpu_busy'?)\n"},
    {COND("cpu = 1"), "r.yaml:6:18: condition 'cpu = 1': expected an operator (>, >=, <, <=, == "
                      "or !=) after 'cpu', got '='\n"},
    {COND("cpu => 1"), "r.yaml:6:18: condition 'cpu => 1': expected an operator (>, >=, <, <=, "
                       "== or !=) after 'cpu', got '=>'\n"},
    {COND("cpu busy > 1"), "r.yaml:6:18: condition 'cpu busy > 1': expected an operator (>, >=, "
                           "<, <=, == or !=) after 'cpu', got 'busy'\n"},
    {COND("cpu"),
     "r.yaml:6:18: condition 'cpu': expected an operator (>, >=, <, <=, == or !=) after 'cpu'\n"},
    {COND("cpu >"), "r.yaml:6:18: condition 'cpu >': missing the threshold after '>'\n"},
    {COND("cpu > 1 and mem > 2"),
     "r.yaml:6:18: condition 'cpu > 1 and mem > 2': unexpected 'and mem > 2' after the "
     "threshold\n"},
    {COND("cpu > 85%"), "r.yaml:6:18: condition 'cpu > 85%': unexpected '%' after the threshold: "
                        "write the number in the query's unit (0.85 for 85 % of a ratio)\n"},
    {COND("cpu > 1.2.3"), "r.yaml:6:18: condition 'cpu > 1.2.3': '1.2.3' is not a number\n"},
    {COND("cpu > high"),
     "r.yaml:6:18: condition 'cpu > high': expected a number after '>', got 'high'\n"},
    {COND("cpu > 1e999"),
     "r.yaml:6:18: condition 'cpu > 1e999': threshold '1e999' is out of range\n"},
    {COND("> 1"), "r.yaml:6:18: condition '> 1' does not start with a signal name: expected "
                  "'SIGNAL OP NUMBER' such as 'cpu_busy > 0.85'\n"},
    {SIG "states:\n  - name: hot\n    conditions: [{cpu: 1}]\n  - {name: ok}\n",
     "r.yaml:6:18: expected a string, got a map\n"},
    /* reachability */
    {SIG "states:\n  - {name: hot, conditions: [\"cpu > 1\"]}\n"
         "  - {name: warm, conditions: [\"cpu > 0.5\"]}\n",
     "r.yaml:6:30: the last state 'warm' has conditions, but the last state is the default and "
     "must have none: end with a state without conditions (such as optimal)\n"},
    {SIG "states:\n  - {name: hot, conditions: [\"cpu > 1\"]}\n  - {name: ok}\n"
         "  - {name: cold, conditions: [\"cpu < 0\"]}\n  - {name: idle}\n",
     "r.yaml:7:5: state 'cold' can never be reached: state 'ok' (at 6:5) before it has no "
     "conditions, so it always holds; only the last state may have none\n"
     "r.yaml:8:5: state 'idle' can never be reached: state 'ok' (at 6:5) before it has no "
     "conditions, so it always holds; only the last state may have none\n"},
    {WHEN_ALL("\"cpu > 5\", \"mem > 1\", \"cpu < 3\""),
     "r.yaml:5:5: state 'hot' can never be reached: with when: all, conditions 'cpu > 5' and "
     "'cpu < 3' cannot both hold\n"},
    {WHEN_ALL("\"cpu == 1\", \"cpu == 2\""),
     "r.yaml:5:5: state 'hot' can never be reached: with when: all, conditions 'cpu == 1' and "
     "'cpu == 2' cannot both hold\n"},
    {WHEN_ALL("\"cpu > 5\", \"cpu <= 5\""),
     "r.yaml:5:5: state 'hot' can never be reached: with when: all, conditions 'cpu > 5' and "
     "'cpu <= 5' cannot both hold\n"},
    {WHEN_ALL("\"cpu >= 5\", \"cpu != 5\", \"cpu <= 5\""),
     "r.yaml:5:5: state 'hot' can never be reached: with when: all, conditions 'cpu >= 5', "
     "'cpu != 5' and 'cpu <= 5' cannot all hold\n"},
    {WHEN_ALL("\"mem > 0\", \"cpu == 5\", \"cpu != 5\""),
     "r.yaml:5:5: state 'hot' can never be reached: with when: all, conditions 'cpu == 5' and "
     "'cpu != 5' cannot both hold\n"},
    {SIG "states:\n  - {name: a, conditions: [\"cpu > 1\", \"mem > 2\"]}\n"
         "  - {name: b, for: 30s, conditions: [\"mem > 2\", \"cpu > 1\"]}\n  - {name: ok}\n",
     "r.yaml:6:5: state 'b' can never be reached: whenever it holds, the earlier state 'a' (at "
     "5:5) holds too and needs no longer (for 0s, here 30s), so 'a' always wins\n"},
    {SIG "states:\n  - {name: stressed, conditions: [\"cpu > 0.7\"]}\n"
         "  - {name: critical, for: 30s, conditions: [\"cpu > 0.85\", \"mem >= 0.9\"], when: all}\n"
         "  - {name: ok}\n",
     "r.yaml:6:5: state 'critical' can never be reached: whenever it holds, the earlier state "
     "'stressed' (at 5:5) holds too and needs no longer (for 0s, here 30s), so 'stressed' always "
     "wins\n"},
    {SIG "states:\n  - {name: hot, conditions: [\"cpu > 1\"]}\n  - {name: ok, for: 30s}\n",
     "r.yaml:6:16: 'for' has no effect on the default state 'ok' (the last one, without "
     "conditions)\n"},
    {SIG "states:\n  - {name: hot, conditions: [\"cpu > 1\"]}\n"
         "  - {name: ok, when: all, keep_for: 1m, conditions: []}\n",
     "r.yaml:6:16: 'when' has no effect on the default state 'ok' (the last one, without "
     "conditions)\n"
     "r.yaml:6:27: 'keep_for' has no effect on the default state 'ok' (the last one, without "
     "conditions)\n"},
    /* on_missing_data */
    {SIG ST "on_missing_data: skip\n",
     "r.yaml:7:18: on_missing_data must be hold or unknown, got 'skip'\n"},
    /* decisions */
    {SIG ST "decisions:\n  hott: {cooldown: 1m}\n",
     "r.yaml:8:3: decision for unknown state 'hott' (did you mean 'hot'?)\n"},
    {SIG ST "decisions:\n  unknown: {}\n",
     "r.yaml:8:3: no decision can be attached to 'unknown': nothing runs on missing data\n"},
    {SIG ST "decisions:\n  hot: {min_confidence: 1.5}\n",
     "r.yaml:8:25: min_confidence must be between 0 and 1, got 1.5\n"},
    {SIG ST "decisions:\n  hot: {min_confidence: high}\n",
     "r.yaml:8:25: expected a number, got 'high'\n"},
    {SIG ST "decisions:\n  hot: {cooldwn: 1m}\n",
     "r.yaml:8:9: unknown key 'cooldwn'; did you mean 'cooldown'?\n"},
    {SIG ST "decisions:\n  hot: {cooldown: often}\n",
     "r.yaml:8:19: expected a duration such as 30s, 5m or 1h30m, got 'often'\n"},
    {SIG ST "decisions:\n  hot: {revert_on_exit: maybe}\n",
     "r.yaml:8:25: expected true or false, got 'maybe'\n"},
    {SIG ST "decisions:\n  hot: {dry_run: 1}\n", "r.yaml:8:18: expected true or false, got '1'\n"},
    {SIG ST "decisions:\n  hot: {actions: {systemd: {unit: a}}}\n",
     "r.yaml:8:18: expected a sequence, got a map\n"},
    /* actions */
    {ACTION("systmd: {unit: a}"),
     "r.yaml:10:9: unknown action 'systmd'; did you mean 'systemd'?\n"},
    {ACTION("restart"), "r.yaml:10:9: an action is a map with one key (systemd, kubectl, webhook, "
                        "exec or alert), got 'restart'\n"},
    {ACTION("systemd:\n        unit: app.service"),
     "r.yaml:10:9: an action is a map with one key (systemd, kubectl, webhook, exec or alert), got "
     "2 keys: indent the settings under the kind\n"},
    {ACTION("systemd: {cpu_quota: 50%}"), "r.yaml:10:18: systemd needs a unit\n"},
    {ACTION("systemd: app.service"), "r.yaml:10:18: systemd: expected a map, got 'app.service'\n"},
    {ACTION("kubectl: {namespace: prod}"),
     "r.yaml:10:18: kubectl needs one of scale, patch, annotate or rollout_restart\n"},
    {ACTION("kubectl: {scale: a, patch: b}"),
     "r.yaml:10:29: kubectl takes one of scale, patch, annotate or rollout_restart, got 'scale' "
     "and 'patch'\n"},
    {ACTION("webhook: {url: 'localhost:8080'}"),
     "r.yaml:10:24: url 'localhost:8080' does not start with http:// or https://\n"},
    {ACTION("webhook: {body: {}}"), "r.yaml:10:18: webhook needs a url\n"},
    {ACTION("exec: []"), "r.yaml:10:15: exec argv is empty\n"},
    {ACTION("exec: [/bin/x, {a: 1}]"),
     "r.yaml:10:24: exec argv items must be strings, got a map\n"},
    {ACTION("exec: {timeout: 5s}"),
     "r.yaml:10:15: exec needs argv: a sequence such as [/usr/bin/foo, --bar]\n"},
    {ACTION("exec: /bin/true"),
     "r.yaml:10:15: exec needs argv: a sequence such as [/usr/bin/foo, --bar], got '/bin/true'\n"},
    {ACTION("alert: hello"), "r.yaml:10:16: alert: expected a map, got 'hello'\n"},
    {ACTION("alert: {note: \"a\\0b\"}"), "r.yaml:10:23: string contains a NUL character\n"},
    /* manual actions */
    {SIG ST "manual_actions:\n  emergency-throttle:\n    - alert: {}\n",
     "r.yaml:8:3: manual action name 'emergency-throttle' is not an identifier (letters, digits "
     "and '_', not starting with a digit)\n"},
    {SIG ST "manual_actions:\n  noop: []\n", "r.yaml:8:9: manual action 'noop' has no actions\n"},
    {SIG ST "manual_actions:\n  noop:\n", "r.yaml:8:8: manual action 'noop' has no actions\n"},
    {SIG ST "manual_actions:\n  throttle:\n    - webhook: {url: ftp://x}\n",
     "r.yaml:9:22: url 'ftp://x' does not start with http:// or https://\n"},
    /* A choice that is not a string, before others (leaked them; found by fuzz_rules). */
    {SIG ST "manual_actions:\n  m:\n    params:\n      mode: {type: string, choices: [a, [b], "
            "c, d]}\n    actions:\n      - webhook: {url: \"http://x/{{mode}}\"}\n",
     "r.yaml:10:41: expected a string, got a sequence\n"},
    /* regulators (the regulator's map sits on line 8) */
    {SIG ST "regulators:\n  c: {signal: cpx, setpoint: 1, output: {min: 1, max: 10}, "
            "increases_signal: true, actions: [{exec: [/bin/true]}]}\n",
     "r.yaml:8:15: unknown signal 'cpx' (did you mean 'cpu'?)\n"},
    {SIG ST "regulators:\n  c: {signal: cpu, setpoint: 0, output: {min: 10, max: 1}, "
            "increases_signal: true, actions: [{exec: [/bin/true]}]}\n",
     "r.yaml:8:30: setpoint must be more than 0, got 0\n"
     "r.yaml:8:56: output.max (1) must be more than output.min (10)\n"},
    {SIG ST
     "regulators:\n  c: {signal: cpu, setpoint: 1, output: {min: 1, max: 10}, actions: []}\n",
     "r.yaml:8:6: regulator 'c': say whether a larger output makes the signal larger "
     "(increases_signal: true, a concurrency limit and latency) or smaller (false, replicas "
     "and utilization)\n"
     "r.yaml:8:69: regulator 'c' has no actions: how its output is applied ({{output}})\n"},
    {SIG ST "regulators:\n  c: {signal: cpu, setpoint: 1, output: {min: 1, max: 10, start: 0.5, "
            "integer: true}, increases_signal: true, law: pid, tolerance: 150%, max_step: {down: "
            "100%}, actions: [{exec: [/bin/true]}]}\n",
     "r.yaml:8:41: an integer output needs whole min, max and start\n"
     "r.yaml:8:66: output.start (0.5) must be between min (1) and max (10)\n"
     "r.yaml:8:116: law must be proportional, aimd or gradient, got 'pid'\n"
     "r.yaml:8:132: tolerance must be between 0% and 99%, got '150%'\n"
     "r.yaml:8:155: max_step.down must be between 0% and 99%, got '100%'\n"},
    {SIG ST "regulators:\n  c: {signal: cpu, setpoint: 1, output: {min: 1, max: 10}, "
            "increases_signal: true, law: aimd, gradient: {slope: 2}, aimd: {decrease: 1.5}, "
            "active_in: [hott], actions: [{alert: {}}]}\n",
     "r.yaml:8:105: gradient settings with law aimd\n"
     "r.yaml:8:134: aimd.decrease is a factor between 0 and 1 (0.9), got 1.5\n"
     "r.yaml:8:152: active_in: unknown state 'hott' (did you mean 'hot'?)\n"
     "r.yaml:8:169: an alert cannot apply a regulator's output (use a webhook, kubectl, "
     "systemd or exec)\n"},
    {SIG ST "regulators:\n  c: {signal: cpu, setpoint: 1, output: {min: 1, max: 10}, "
            "increases_signal: true, verify_after: 2d, verify_window: 0s, actions: [{exec: "
            "[/bin/true]}]}\n",
     "r.yaml:8:98: verify_after must be at most 1d (0s: no verdict)\n"
     "r.yaml:8:117: verify_window must be between 1s and 1h\n"},
    {SIG ST "regulators:\n  c: {signal: cpu, setpoint: 1, output: {min: 1, max: 10}, "
            "increases_signal: true, actions: [{exec: [/bin/true, \"{{outptu}}\"]}]}\n",
     "r.yaml:8:101: exec: argv: unknown placeholder {{outptu}}: use a parameter declared in "
     "params or one of id, state, from, severity, reasoning, confidence, time\n"},
    /* behavior: the HPA's policies, each part checked */
    {"signals:\n"
     "  cpu: {query: up}\n"
     "states:\n"
     "  - {name: hot, conditions: [\"cpu > 1\"]}\n"
     "  - {name: ok}\n"
     "regulators:\n"
     "  c:\n"
     "    signal: cpu\n"
     "    setpoint: 1\n"
     "    output: {min: 1, max: 10, integer: true}\n"
     "    increases_signal: false\n"
     "    behavior:\n"
     "      up: {select: most, policies: [{type: pod, value: 1, period: 15s}, {type: units, value: "
     "0.5, period: 0s}, {value: 0}]}\n"
     "      down: {policies: []}\n"
     "      sideways: {}\n"
     "    actions: [{exec: [/bin/true]}]\n",
     "r.yaml:13:20: select must be max, min, disabled, Max, Min or Disabled, got 'most'\n"
     "r.yaml:13:44: type must be units, percent, pods, Pods or Percent, got 'pod'\n"
     "r.yaml:13:94: an integer output moves by whole units, got 0.5\n"
     "r.yaml:13:107: a policy's period must be between 1s and 30m\n"
     "r.yaml:13:112: a policy needs a type: percent or units (the HPA's Pods)\n"
     "r.yaml:13:112: a policy needs a period (15s): the time its value is allowed in\n"
     "r.yaml:13:120: a policy's value must be more than 0, got 0\n"
     "r.yaml:14:24: behavior.down.policies is empty: leave it out (the HPA's defaults)\n"
     "r.yaml:15:7: unknown key 'sideways'\n"},
    /* baselines: the signal's section and the conditions' syntax */
    {"signals:\n"
     "  p95: {query: up, baseline: {learn_in: [ok], window: 30s, seasonality: hourly, min_samples: "
     "0, forget: 1}}\n"
     "  errs: {query: up}\n"
     "  lat: {query: up, baseline: {seasonality: weekly, window: 1d}}\n"
     "states:\n"
     "  - name: bad\n"
     "    conditions: [\"p95 > 2 * baseline(errs)\", \"p95 > baseline(p95, q=1.5)\", \"p95 > "
     "baseline(p95\", \"p95 > 0 * baseline(p95)\", \"p95 > baseline(p95) or x\", \"p95 > "
     "baseline(nope)\", \"p95 > baseline(p95) + 1\", \"p95 > baseline(p95, w=1)\"]\n"
     "  - name: ok\n",
     "r.yaml:2:55: baseline window must be between 1m and 366d\n"
     "r.yaml:2:73: seasonality must be none, daily or weekly, got 'hourly'\n"
     "r.yaml:2:94: min_samples must be between 1 and 100000000\n"
     "r.yaml:2:97: unknown key 'forget'\n"
     "r.yaml:4:60: a weekly baseline needs a window of 7d or more (each hour of the week comes "
     "once a week)\n"
     "r.yaml:7:18: condition 'p95 > 2 * baseline(errs)': signal 'errs' learns no baseline (give it "
     "a baseline: section)\n"
     "r.yaml:7:46: condition 'p95 > baseline(p95, q=1.5)': q must be a number between 0 and 1\n"
     "r.yaml:7:76: condition 'p95 > baseline(p95': expected baseline(SIGNAL) or baseline(SIGNAL, "
     "q=0.99)\n"
     "r.yaml:7:98: condition 'p95 > 0 * baseline(p95)': the factor of a baseline must be more than "
     "0\n"
     "r.yaml:7:125: condition 'p95 > baseline(p95) or x': expected a number after 'or' (the "
     "threshold while the baseline is not ready)\n"
     "r.yaml:7:153: condition 'p95 > baseline(nope)': unknown signal 'nope' in baseline()\n"
     "r.yaml:7:177: condition 'p95 > baseline(p95) + 1': unexpected '+ 1' after the baseline\n"
     "r.yaml:7:204: condition 'p95 > baseline(p95, w=1)': expected q=QUANTILE after ',' in "
     "baseline()\n"},
    /* did it help: on_no_effect and the verdict's windows */
    {"signals:\n"
     "  cpu: {query: up}\n"
     "states:\n"
     "  - {name: hot, conditions: [\"cpu > 1\"]}\n"
     "  - {name: warm, conditions: [\"cpu > 0.5\"]}\n"
     "  - {name: ok}\n"
     "decisions:\n"
     "  hot:\n"
     "    on_no_effect: escalate\n"
     "    verify_window: 2h\n"
     "    actions: [{exec: [/bin/true]}]\n"
     "  warm:\n"
     "    on_no_effect: stop\n"
     "    verify_after: 0s\n"
     "    actions: [{exec: [/bin/true]}]\n",
     "r.yaml:9:19: on_no_effect: escalate: no state worse than 'hot' has a decision with "
     "actions to escalate to (repeat or stop)\n"
     "r.yaml:10:20: verify_window must be between 1s and 1h\n"
     "r.yaml:13:19: on_no_effect: stop needs a verdict: verify_after is 0s\n"},
    /* active_in beside a state whose name was refused (a NULL name; found by fuzz_rules) */
    {"signals:\n  cpu: {query: up}\nstates:\n  - {name: hot, conditions: [\"cpu > 1\"]}\n  - "
     "{nme: x, conditions: [\"cpu > 2\"]}\n  - {name: ok}\nregulators:\n  c: {signal: cpu, "
     "setpoint: 1, output: {min: 1, max: 10}, increases_signal: true, active_in: [hot, x], "
     "actions: [{exec: [/bin/true]}]}\n",
     "r.yaml:5:5: state has no name\n"
     "r.yaml:5:6: unknown key 'nme'; did you mean 'name'?\n"
     "r.yaml:8:101: active_in: unknown state 'x'\n"},
};

TEST(load_errors)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        struct buf e = BUF_INIT_MAX(0);
        struct rules *r = NULL;
        int ret = rules_load_string(c->yaml, strlen(c->yaml), "r.yaml", &r, &e);
        const char *got = e.data ? e.data : "";
        if (ret != -EINVAL || r != NULL || strcmp(got, c->want) != 0) {
            fprintf(stderr, "  case %zu (%d):\n%s  got:\n%s  want:\n%s", i, ret, c->yaml, got,
                    c->want);
            bad++;
        }
        rules_free(r);
        buf_free(&e);
    }
    CHECK_INT(bad, 0);
}

/* Files that look suspicious but are fine: the reachability checks must not fire. */
static const char *const valid_cases[] = {
    /* a shorter `for` on the later state: it can win for a while */
    SIG "states:\n  - {name: a, for: 1m, conditions: [\"cpu > 1\"]}\n"
        "  - {name: b, for: 30s, conditions: [\"cpu > 1\"]}\n  - {name: ok}\n",
    /* any before any: the later one has a condition the earlier lacks */
    SIG "states:\n  - {name: a, conditions: [\"cpu > 1\"]}\n"
        "  - {name: b, conditions: [\"cpu > 1\", \"mem > 1\"]}\n  - {name: ok}\n",
    /* worst first with growing thresholds */
    SIG "states:\n  - {name: critical, conditions: [\"cpu > 0.85\"]}\n"
        "  - {name: stressed, conditions: [\"cpu > 0.7\"]}\n  - {name: ok}\n",
    /* all before any: b may hold with only one of them */
    SIG "states:\n  - {name: a, when: all, conditions: [\"cpu > 1\", \"mem > 1\"]}\n"
        "  - {name: b, conditions: [\"cpu > 1\", \"mem > 1\"]}\n  - {name: ok}\n",
    /* satisfiable when: all on one signal, and != that leaves room */
    SIG "states:\n  - {name: a, when: all, conditions: [\"cpu > 3\", \"cpu < 5\", \"cpu != 4\"]}\n"
        "  - {name: b, when: all, conditions: [\"cpu >= 5\", \"cpu <= 5\"]}\n"
        "  - {name: c, when: all, conditions: [\"cpu == 7\", \"cpu != 5\", \"cpu >= 7\"]}\n"
        "  - {name: ok}\n",
    /* the same condition when: any over two signals is not implied by one of them */
    SIG "states:\n  - {name: a, when: all, conditions: [\"cpu > 1\", \"mem > 1\"]}\n"
        "  - {name: b, conditions: [\"cpu > 2\"]}\n  - {name: ok}\n",
    /* != is implied by nothing but a matching != or a range that excludes its value */
    SIG "states:\n  - {name: a, conditions: [\"cpu != 0\"]}\n"
        "  - {name: b, conditions: [\"cpu >= 0\"]}\n  - {name: ok}\n",
    /* an empty document section is fine */
    SIG ST "decisions:\nmanual_actions:\nprometheus:\n",
};

TEST(suspicious_but_valid)
{
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        struct buf e = BUF_INIT_MAX(0);
        struct rules *r = load_str(valid_cases[i], &e);
        if (!r)
            TEST_FAIL("valid case %zu failed:\n%s", i, valid_cases[i]);
        CHECK_INT(e.len, 0);
        rules_free(r);
        buf_free(&e);
    }
}

TEST(shadowing_implications)
{
    /* Pairs (earlier, later): the later is unreachable exactly when want is set. */
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        {"[\"cpu > 1\"]", "[\"cpu > 2\"]", 1},
        {"[\"cpu > 1\"]", "[\"cpu >= 1\"]", 0},
        {"[\"cpu >= 1\"]", "[\"cpu > 1\"]", 1},
        {"[\"cpu >= 1\"]", "[\"cpu == 1\"]", 1},
        {"[\"cpu < 1\"]", "[\"cpu <= 0.5\"]", 1},
        {"[\"cpu <= 1\"]", "[\"cpu < 1\"]", 1},
        {"[\"cpu < 1\"]", "[\"cpu <= 1\"]", 0},
        {"[\"cpu != 3\"]", "[\"cpu > 3\"]", 1},
        {"[\"cpu != 3\"]", "[\"cpu >= 3\"]", 0},
        {"[\"cpu != 3\"]", "[\"cpu == 4\"]", 1},
        {"[\"cpu != 3\"]", "[\"cpu != 3\"]", 1},
        {"[\"cpu == 3\"]", "[\"cpu != 4\"]", 0},
        {"[\"cpu > 1\", \"mem > 1\"]", "[\"mem > 5\"]", 1},
        {"[\"cpu > 1\"]", "[\"cpu > 2\", \"mem > 5\"]", 0}, /* b: any */
        {"[\"mem > 1\"]", "[\"cpu > 2\", \"mem > 5\"]", 0},
        {"[\"mem > 1\", \"cpu > 1\"]", "[\"cpu > 2\", \"mem > 5\"]", 1},
        {"[\"cpu > 1\"]", "[\"mem > 1\"]", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char yaml[1024];
        snprintf(yaml, sizeof(yaml),
                 SIG "states:\n  - {name: a, conditions: %s}\n  - {name: b, conditions: %s}\n"
                     "  - {name: ok}\n",
                 cases[i].a, cases[i].b);
        struct buf e = BUF_INIT_MAX(0);
        struct rules *r = NULL;
        int ret = rules_load_string(yaml, strlen(yaml), "r.yaml", &r, &e);
        bool shadowed = ret == -EINVAL && e.data && strstr(e.data, "state 'b' can never be");
        if (shadowed != (cases[i].want == 1) || (!shadowed && ret != 0)) {
            fprintf(stderr, "  case %zu: %s then %s: ret %d\n%s", i, cases[i].a, cases[i].b, ret,
                    e.data ? e.data : "");
            test_failed_flag = 1;
        }
        rules_free(r);
        buf_free(&e);
    }
    /* b with when: all is implied by a with when: any if one of its conditions is. */
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = NULL;
    const char *yaml = SIG "states:\n  - {name: a, conditions: [\"cpu > 9\", \"mem > 1\"]}\n"
                           "  - {name: b, when: all, conditions: [\"mem > 2\", \"cpu > 0\"]}\n"
                           "  - {name: ok}\n";
    CHECK_INT(rules_load_string(yaml, strlen(yaml), "r.yaml", &r, &e), -EINVAL);
    CHECK_CONTAINS(e.data, "r.yaml:6:5: state 'b' can never be reached");
    buf_free(&e);
}

TEST(many_errors_at_once)
{
    static const char yaml[] =
        "evaluation_interval: 10ms\n"                                        /* 1 */
        "prometheus:\n"                                                      /* 2 */
        "  url: localhost\n"                                                 /* 3 */
        "  timeout: 0s\n"                                                    /* 4 */
        "signals:\n"                                                         /* 5 */
        "  cpu: {query: up, max_age: 0s}\n"                                  /* 6 */
        "  bad-name: {query: up}\n"                                          /* 7 */
        "  mem: {querry: up}\n"                                              /* 8 */
        "states:\n"                                                          /* 9 */
        "  - {name: hot, when: sometimes, conditions: [\"cpu >> 1\"]}\n"     /* 10 */
        "  - {name: hot, conditions: [\"cpux > 1\", \"mem < x\"]}\n"         /* 11 */
        "  - {name: ok, for: 1m}\n"                                          /* 12 */
        "on_missing_data: maybe\n"                                           /* 13 */
        "decisions:\n"                                                       /* 14 */
        "  hto: {min_confidence: 2, actions: [{systemd: {}}, {exec: []}]}\n" /* 15 */
        "manual_actions:\n"                                                  /* 16 */
        "  x: [{webhook: {url: 'gopher://x'}}]\n"                            /* 17 */
        "extra: 1\n";                                                        /* 18 */
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = NULL;
    CHECK_INT(rules_load_string(yaml, sizeof(yaml) - 1, "m.yaml", &r, &e), -EINVAL);
    CHECK(r == NULL);
    CHECK_STR(e.data,
              "m.yaml:1:22: evaluation_interval must be at least 100ms, got '10ms'\n"
              "m.yaml:3:8: url 'localhost' does not start with http:// or https://\n"
              "m.yaml:4:12: timeout must be more than 0\n"
              "m.yaml:6:29: max_age must be more than 0 (leave it out for no limit)\n"
              "m.yaml:7:3: signal name 'bad-name' is not an identifier (letters, digits and '_', "
              "not starting with a digit)\n"
              "m.yaml:8:8: signal 'mem' has no query\n"
              "m.yaml:8:9: unknown key 'querry'; did you mean 'query'?\n"
              "m.yaml:10:23: when must be any or all, got 'sometimes'\n"
              "m.yaml:10:47: condition 'cpu >> 1': expected an operator (>, >=, <, <=, == or "
              "!=) after 'cpu', got '>>'\n"
              "m.yaml:11:12: duplicate state 'hot' (first at 10:12)\n"
              "m.yaml:11:30: unknown signal 'cpux' (did you mean 'cpu'?)\n"
              "m.yaml:11:42: condition 'mem < x': expected a number after '<', got 'x'\n"
              "m.yaml:12:16: 'for' has no effect on the default state 'ok' (the last one, "
              "without conditions)\n"
              "m.yaml:13:18: on_missing_data must be hold or unknown, got 'maybe'\n"
              "m.yaml:15:3: decision for unknown state 'hto' (did you mean 'hot'?)\n"
              "m.yaml:15:25: min_confidence must be between 0 and 1, got 2\n"
              "m.yaml:15:48: systemd needs a unit\n"
              "m.yaml:15:60: exec argv is empty\n"
              "m.yaml:17:23: url 'gopher://x' does not start with http:// or https://\n"
              "m.yaml:18:1: unknown key 'extra'\n");
    size_t lines = 0;
    for (size_t i = 0; i < e.len; i++)
        lines += e.data[i] == '\n';
    CHECK_INT(lines, 20);
    buf_free(&e);
}

static const char *jstr(json_t *root, const char *path)
{
    /* "a.b.0.c": object keys and array indexes */
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", path);
    json_t *v = root;
    for (char *save = NULL, *part = strtok_r(tmp, ".", &save); part && v;
         part = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(part, NULL, 10))
                             : json_object_get(v, part);
    static char out[2048];
    if (!v)
        return "(missing)";
    if (json_is_string(v))
        return json_string_value(v);
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
    snprintf(out, sizeof(out), "%s", s ? s : "?");
    free(s);
    return out;
}

TEST(to_json)
{
    struct rules *r = load_fixture("rules/full.yaml");
    CHECK(r != NULL);
    json_t *j = rules_to_json(r);
    CHECK(j != NULL);
    char *all = dump(j);
    /* never a secret: token files by path, header names without values */
    CHECK(strstr(all, "hunter2") == NULL);
    CHECK(strstr(all, "tenant-1") == NULL);
    CHECK_CONTAINS(all, "secrets/token");
    free(all);
    CHECK_STR(jstr(j, "evaluation_interval_seconds"), "10.0");
    CHECK_STR(jstr(j, "prometheus.url"), "https://prometheus.example:9090/prefix");
    CHECK_STR(jstr(j, "prometheus.timeout_seconds"), "1.5");
    CHECK_STR(jstr(j, "prometheus.headers"), "[\"X-Scope-OrgID\",\"X-Extra\"]");
    CHECK_STR(jstr(j, "prometheus.basic_auth"), "null");
    CHECK_STR(jstr(j, "prometheus.ca_file"), "/etc/ssl/certs/prometheus-ca.pem");
    CHECK_STR(jstr(j, "prometheus.insecure_skip_verify"), "false");
    CHECK_STR(jstr(j, "signals.0.name"), "cpu_busy");
    CHECK_STR(jstr(j, "signals.0.max_age_seconds"), "30.0");
    CHECK_STR(jstr(j, "signals.0.help"), "Share of CPU time not idle");
    CHECK_STR(jstr(j, "signals.2.max_age_seconds"), "null");
    CHECK_STR(
        jstr(j, "signals.2.query"),
        "histogram_quantile(0.95, sum by (le) (rate(app_request_duration_seconds_bucket[2m])))");
    CHECK_STR(jstr(j, "states.0.name"), "critical");
    CHECK_STR(jstr(j, "states.0.when"), "any");
    CHECK_STR(jstr(j, "states.0.default"), "false");
    CHECK_STR(jstr(j, "states.0.conditions.1"),
              "{\"signal\":\"memory_used\",\"op\":\">=\",\"threshold\":0.9,\"threshold_file\":0.9,"
              "\"text\":\"memory_used >= 0.9\"}");
    CHECK_STR(jstr(j, "states.0.for_seconds"), "30.0");
    CHECK_STR(jstr(j, "states.0.keep_for_seconds"), "120.0");
    CHECK_STR(jstr(j, "states.0.severity"), "critical");
    CHECK_STR(jstr(j, "states.1.when"), "all");
    CHECK_STR(jstr(j, "states.1.for_seconds"), "90.0");
    CHECK_STR(jstr(j, "states.3.default"), "true");
    CHECK_STR(jstr(j, "states.3.conditions"), "[]");
    CHECK_STR(jstr(j, "on_missing_data"), "unknown");
    CHECK_STR(jstr(j, "decisions.0.state"), "critical");
    CHECK_STR(jstr(j, "decisions.0.min_confidence"), "0.6");
    CHECK_STR(jstr(j, "decisions.0.cooldown_seconds"), "120.0");
    CHECK_STR(jstr(j, "decisions.0.revert_on_exit"), "true");
    CHECK_STR(jstr(j, "decisions.0.actions.0"),
              "{\"kind\":\"systemd\",\"params\":{\"unit\":\"app.service\",\"cpu_quota\":\"50%\","
              "\"memory_high\":\"2G\"},\"summary\":\"systemd app.service cpu_quota=50% "
              "memory_high=2G\"}");
    CHECK_STR(jstr(j, "decisions.0.actions.2.params.headers.Authorization"), "<redacted>");
    CHECK_STR(jstr(j, "decisions.1.dry_run"), "true");
    CHECK_STR(jstr(j, "decisions.2.state"), "optimal");
    CHECK_STR(jstr(j, "manual_actions.0.name"), "emergency_throttle");
    CHECK_STR(jstr(j, "manual_actions.0.actions.0.kind"), "webhook");
    CHECK_STR(jstr(j, "manual_actions.1.actions.1.params.cpu_weight"), "100");
    json_decref(j);
    /* the rules themselves keep the secret for the actuator */
    CHECK_STR(json_string_value(json_object_get(
                  json_object_get(r->decisions[0].actions[2].params, "headers"), "Authorization")),
              "Bearer hunter2");
    rules_free(r);

    /* basic_auth: the user and the file, never a password */
    struct buf e = BUF_INIT_MAX(0);
    r = load_str("prometheus: {basic_auth: {username: me, password_file: /run/pw}}\n" SIG ST, &e);
    CHECK(r != NULL);
    j = rules_to_json(r);
    CHECK_STR(jstr(j, "prometheus.basic_auth"),
              "{\"username\":\"me\",\"password_file\":\"/run/pw\"}");
    CHECK_STR(jstr(j, "prometheus.url"), "null");
    json_decref(j);
    rules_free(r);
    buf_free(&e);
}

TEST(secret_keys_redacted)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r =
        load_str(SIG ST "manual_actions:\n  m:\n"
                        "    - webhook: {url: 'http://a/', body: {api_key: k1, db_password: k2, "
                        "token_file: /t, nested: [{Secret: k3}]}}\n"
                        "    - webhook: {url: 'http://b/', headers: {Authorization: k4, X-S: s}}\n",
                 &e);
    CHECK(r != NULL);
    const struct manual_action_def *m = rules_manual_action(r, "m");
    CHECK(m != NULL);
    CHECK_STR(m->actions[0].summary,
              "webhook POST http://a/ body={\"api_key\":\"<redacted>\",\"db_password\":"
              "\"<redacted>\",\"token_file\":\"/t\",\"nested\":[{\"Secret\":\"<redacted>\"}]}");
    CHECK_STR(m->actions[1].summary,
              "webhook POST http://b/ headers={\"Authorization\":\"<redacted>\",\"X-S\":\"s\"}");
    json_t *j = rules_to_json(r);
    char *all = dump(j);
    CHECK(strstr(all, "k1") == NULL && strstr(all, "k2") == NULL && strstr(all, "k3") == NULL &&
          strstr(all, "k4") == NULL);
    CHECK_CONTAINS(all, "\"token_file\":\"/t\"");
    free(all);
    json_decref(j);
    j = rules_action_params_redacted(&m->actions[0]);
    all = dump(j);
    CHECK_STR(all,
              "{\"url\":\"http://a/\",\"body\":{\"api_key\":\"<redacted>\",\"db_password\":"
              "\"<redacted>\",\"token_file\":\"/t\",\"nested\":[{\"Secret\":\"<redacted>\"}]}}");
    free(all);
    json_decref(j);
    CHECK_STR(json_string_value(
                  json_object_get(json_object_get(m->actions[0].params, "body"), "api_key")),
              "k1");
    rules_free(r);
    buf_free(&e);
}

TEST(param_types_and_summary_limit)
{
    struct buf e = BUF_INIT_MAX(0);
    char yaml[4096];
    char long_value[400];
    memset(long_value, 'x', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    /* a multi-byte character right at the cut */
    for (int i = 0; i < 16; i++) /* bytes 212.. of the summary, leads on even ones */
        memcpy(long_value + 175 + 2 * i, "\xc3\xa9", 2);
    snprintf(yaml, sizeof(yaml),
             SIG ST
             "manual_actions:\n  m:\n"
             "    - webhook: {url: 'http://a/', body: {a: 1, b: -2.5, c: 1e3, d: '7', e: yes, "
             "f: ~, g: .inf, h: 0x10, i: !!str 5, j: 99999999999999999999, k: [1, {x: "
             "off}]}}\n"
             "    - webhook: {url: 'http://a/', body: {long: %s}}\n",
             long_value);
    struct rules *r = load_str(yaml, &e);
    CHECK(r != NULL);
    const struct manual_action_def *m = &r->manual_actions[0];
    CHECK_STR(params_text(&m->actions[0]),
              "{\"url\":\"http://a/\",\"body\":{\"a\":1,\"b\":-2.5,\"c\":1000.0,\"d\":\"7\","
              "\"e\":true,\"f\":null,\"g\":\".inf\",\"h\":\"0x10\",\"i\":\"5\",\"j\":1e20,"
              "\"k\":[1,{\"x\":false}]}}");
    /* scalars inside a collection are shown as the JSON they became */
    CHECK_STR(m->actions[0].summary,
              "webhook POST http://a/ body={\"a\":1,\"b\":-2.5,\"c\":1000.0,\"d\":\"7\",\"e\":true,"
              "\"f\":null,\"g\":\".inf\",\"h\":\"0x10\",\"i\":\"5\",\"j\":1e20,\"k\":[1,{\"x\":"
              "false}]}");
    const char *s = m->actions[1].summary;
    CHECK(strlen(s) <= RULES_MAX_SUMMARY);
    CHECK(strncmp(s, "webhook POST http://a/ body={\"long\":\"xxx", 40) == 0);
    CHECK(strcmp(s + strlen(s) - 3, "...") == 0);
    /* cut before the 2-byte character that would straddle the limit */
    CHECK_INT(strlen(s), 237 - 1 + 3);
    rules_free(r);
    buf_free(&e);
}

TEST(lookups_and_names)
{
    struct rules *r = load_fixture("rules/full.yaml");
    CHECK(r != NULL);
    CHECK_INT(rules_signal_index(r, "memory_used"), 1);
    CHECK_INT(rules_signal_index(r, "error_ratio"), 3);
    CHECK_INT(rules_signal_index(r, "nope"), -ENOENT);
    CHECK_INT(rules_state_index(r, "critical"), 0);
    CHECK_INT(rules_state_index(r, "optimal"), 3);
    CHECK_INT(rules_state_index(r, RULES_STATE_UNKNOWN), -ENOENT);
    CHECK(rules_decision_for(r, 0) == &r->decisions[0]);
    CHECK(rules_decision_for(r, 1) == &r->decisions[1]);
    CHECK(rules_decision_for(r, 2) == NULL);
    CHECK(rules_decision_for(r, 3) == &r->decisions[2]);
    CHECK(rules_manual_action(r, "reset_breaker") == &r->manual_actions[1]);
    CHECK(rules_manual_action(r, "reset") == NULL);
    rules_free(r);
    rules_free(NULL);

    CHECK_STR(cond_op_text(COND_GT), ">");
    CHECK_STR(cond_op_text(COND_GE), ">=");
    CHECK_STR(cond_op_text(COND_LT), "<");
    CHECK_STR(cond_op_text(COND_LE), "<=");
    CHECK_STR(cond_op_text(COND_EQ), "==");
    CHECK_STR(cond_op_text(COND_NE), "!=");
    CHECK_STR(action_kind_name(ACTION_SYSTEMD), "systemd");
    CHECK_STR(action_kind_name(ACTION_KUBECTL), "kubectl");
    CHECK_STR(action_kind_name(ACTION_WEBHOOK), "webhook");
    CHECK_STR(action_kind_name(ACTION_EXEC), "exec");
    CHECK_STR(action_kind_name(ACTION_ALERT), "alert");
}

TEST(url_check)
{
    CHECK(rules_url_error("http://127.0.0.1:9090") == NULL);
    CHECK(rules_url_error("https://mimir.example/prometheus") == NULL);
    CHECK(rules_url_error("HTTP://[::1]:9090/") == NULL);
    CHECK_STR(rules_url_error("127.0.0.1:9090"), "does not start with http:// or https://");
    CHECK_STR(rules_url_error("http://"), "has no host");
    CHECK_STR(rules_url_error("http://:9090"), "has no host");
    CHECK_STR(rules_url_error("http://a b"), "contains a space or a control character");
    CHECK_STR(rules_url_error("http://a\nb"), "contains a space or a control character");
    CHECK_STR(rules_url_error("http://user:pw@host/"),
              "contains credentials: use basic_auth with password_file");
    CHECK(rules_url_error("http://host/path@x") == NULL); /* '@' after the authority */
    char big[RULES_MAX_URL + 16] = "http://h/";
    memset(big + 9, 'a', RULES_MAX_URL);
    big[RULES_MAX_URL + 1] = '\0';
    CHECK_STR(rules_url_error(big), "is longer than 2048 bytes");
}

TEST(limits)
{
    struct buf yaml = BUF_INIT_MAX(0);
    buf_puts(&yaml, SIG "states:\n");
    for (int i = 0; i < RULES_MAX_STATES; i++)
        buf_printf(&yaml, "  - {name: s%d, conditions: [\"cpu > %d\"]}\n", i, RULES_MAX_STATES - i);
    buf_puts(&yaml, "  - {name: ok}\n");
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = NULL;
    CHECK_INT(rules_load_string(yaml.data, yaml.len, "r.yaml", &r, &e), -EINVAL);
    CHECK_STR(e.data, "r.yaml:5:3: more than 64 states\n");
    buf_free(&e);
    buf_free(&yaml);

    /* Past a limit, the section is not examined further (no cascades, no quadratic
     * work): 10000 states and 300 signals load, fail and report one error each, fast. */
    buf_init(&yaml, 0);
    buf_puts(&yaml, "signals:\n");
    for (int i = 0; i < 300; i++)
        buf_printf(&yaml, "  s%d: {query: up}\n", i);
    buf_puts(&yaml, "states:\n");
    for (int i = 0; i < 10000; i++)
        buf_printf(&yaml, "  - {name: x, conditions: [\"s1 > 1\"]}\n");
    buf_puts(&yaml, "decisions: {x: {}}\nmanual_actions:\n");
    for (int i = 0; i < 65; i++)
        buf_printf(&yaml, "  m%d: [{alert: {}}]\n", i);
    buf_puts(&yaml, "  m65:\n");
    for (int i = 0; i < 33; i++)
        buf_puts(&yaml, "    - alert: {}\n");
    buf_puts(&yaml, "  m66:\n    - alert: {}\n");
    buf_init(&e, 0);
    uint64_t t0 = now_usec();
    CHECK_INT(rules_load_string(yaml.data, yaml.len, "r.yaml", &r, &e), -EINVAL);
    CHECK(now_usec() - t0 < 2 * SEC);
    CHECK_STR(e.data, "r.yaml:2:3: more than 256 signals\n"
                      "r.yaml:303:3: more than 64 states\n"
                      "r.yaml:10305:3: more than 64 manual actions\n");
    buf_free(&e);
    buf_free(&yaml);

    /* 33 actions, 65 conditions */
    buf_init(&yaml, 0);
    buf_puts(&yaml, SIG "states:\n  - name: hot\n    conditions:\n");
    for (int i = 0; i < 65; i++)
        buf_puts(&yaml, "      - cpu > 1\n");
    buf_puts(&yaml, "  - name: ok\ndecisions:\n  ok:\n    actions:\n");
    for (int i = 0; i < 33; i++)
        buf_puts(&yaml, "      - alert: {}\n");
    buf_init(&e, 0);
    CHECK_INT(rules_load_string(yaml.data, yaml.len, "r.yaml", &r, &e), -EINVAL);
    CHECK_STR(e.data, "r.yaml:7:7: state 'hot' has more than 64 conditions\n"
                      "r.yaml:76:7: more than 32 actions\n");
    buf_free(&e);
    buf_free(&yaml);

    /* a file over RULES_MAX_FILE_BYTES */
    size_t n = RULES_MAX_FILE_BYTES + 1;
    char *big = malloc(n);
    CHECK(big != NULL);
    memset(big, '#', n);
    buf_init(&e, 0);
    CHECK_INT(rules_load_string(big, n, "big.yaml", &r, &e), -EINVAL);
    CHECK_STR(e.data, "big.yaml: input is 1048577 bytes, more than the limit of 1048576\n");
    free(big);
    buf_free(&e);
}

TEST(check_files_output)
{
    char *dir = test_tmpdir();
    CHECK(dir != NULL);
    char good[128], bad[128], missing[128];
    snprintf(good, sizeof(good), "%s/good.yaml", dir);
    snprintf(bad, sizeof(bad), "%s/bad.yaml", dir);
    snprintf(missing, sizeof(missing), "%s/missing.yaml", dir);
    static const char good_yaml[] = SIG ST "decisions:\n  hot: {actions: [{alert: {}}]}\n"
                                           "alerting: {alertmanagers: ['http://127.0.0.1:9093']}\n";
    static const char bad_yaml[] = SIG "states:\n  - {name: hot, conditions: [\"cpu > x\"]}\n"
                                       "  - {name: ok, for: 1m}\n";
    CHECK_INT(file_write_atomic(good, good_yaml, sizeof(good_yaml) - 1, 0644), 0);
    CHECK_INT(file_write_atomic(bad, bad_yaml, sizeof(bad_yaml) - 1, 0644), 0);

    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const char *one[] = {good};
    CHECK_INT(check_files(one, 1, f), 0);
    fclose(f);
    char want[4096];
    snprintf(want, sizeof(want),
             "Checking %s\n  SUCCESS: 2 signals, 2 states, 1 decision found\n\n", good);
    CHECK_STR(out, want);
    free(out);

    f = open_memstream(&out, &len);
    const char *three[] = {good, bad, missing};
    CHECK_INT(check_files(three, 3, f), 1);
    fclose(f);
    snprintf(want, sizeof(want),
             "Checking %s\n  SUCCESS: 2 signals, 2 states, 1 decision found\n\n"
             "Checking %s\n  FAILED:\n"
             "%s:5:30: condition 'cpu > x': expected a number after '>', got 'x'\n"
             "%s:6:16: 'for' has no effect on the default state 'ok' (the last one, without "
             "conditions)\n\n"
             "Checking %s\n  FAILED:\n%s: cannot read: No such file or directory\n\n",
             good, bad, bad, bad, missing, missing);
    CHECK_STR(out, want);
    free(out);

    f = open_memstream(&out, &len);
    CHECK_INT(check_files(NULL, 0, f), 1);
    fclose(f);
    CHECK_STR(out, "");
    free(out);

    unlink(good);
    unlink(bad);
    rmdir(dir);
}

TEST(relative_paths)
{
    /* From a string, paths stay as written; from a file, they follow the file. */
    static const char yaml[] = "prometheus: {ca_file: ca.pem, bearer_token_file: /abs/t}\n" SIG ST;
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = load_str(yaml, &e);
    CHECK(r != NULL);
    CHECK_STR(r->prometheus.ca_file, "ca.pem");
    CHECK_STR(r->prometheus.bearer_token_file, "/abs/t");
    rules_free(r);

    char *dir = test_tmpdir();
    CHECK(dir != NULL);
    char path[4200], want[4200];
    snprintf(path, sizeof(path), "%s/rules.yaml", dir);
    CHECK_INT(file_write_atomic(path, yaml, sizeof(yaml) - 1, 0600), 0);
    r = NULL;
    CHECK_INT(rules_load_file(path, &r, &e), 0);
    snprintf(want, sizeof(want), "%s/ca.pem", dir);
    CHECK_STR(r->prometheus.ca_file, want);
    CHECK_STR(r->prometheus.bearer_token_file, "/abs/t");
    rules_free(r);
    unlink(path);
    rmdir(dir);
    buf_free(&e);
}

/* Mutates full.yaml many ways; every result must be a clean load or a clean failure. */
TEST(fuzz_mutations)
{
    char *base = NULL;
    size_t base_len = 0;
    CHECK_INT(file_read_alloc(test_fixture("rules/full.yaml"), 1 << 20, &base, &base_len), 0);
    static const char alphabet[] = " :-[]{}\n#&*!|>'\"0a,.%=<\\\t9e";
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    size_t ok = 0, failed = 0;
    char *m = malloc(base_len * 2 + 64);
    CHECK(m != NULL);
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(m, base, base_len);
        size_t len = base_len;
        int edits = 1 + iter % 4;
        for (int k = 0; k < edits; k++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t pos = (size_t)(seed >> 33) % len;
            unsigned what = (unsigned)(seed >> 20) % 5;
            char c = alphabet[(seed >> 8) % (sizeof(alphabet) - 1)];
            if (what == 0) { /* replace */
                m[pos] = c;
            } else if (what == 1 && len > 1) { /* delete a run */
                size_t n = 1 + (seed >> 40) % 8;
                if (pos + n > len)
                    n = len - pos;
                memmove(m + pos, m + pos + n, len - pos - n);
                len -= n;
            } else if (what == 2) { /* insert */
                memmove(m + pos + 1, m + pos, len - pos);
                m[pos] = c;
                len++;
            } else if (what == 3 && len < base_len * 2) { /* duplicate a short run */
                size_t n = 1 + (seed >> 40) % 24;
                if (pos + n > len)
                    n = len - pos;
                if (len + n <= base_len * 2) {
                    memmove(m + pos + n, m + pos, len - pos);
                    len += n;
                }
            } else { /* swap two bytes */
                size_t other = (size_t)(seed >> 13) % len;
                char t = m[pos];
                m[pos] = m[other];
                m[other] = t;
            }
        }
        struct buf e = BUF_INIT_MAX(0);
        struct rules *r = NULL;
        int ret = rules_load_string(m, len, "fuzz.yaml", &r, &e);
        if (ret == 0) {
            CHECK(r != NULL);
            CHECK_INT(e.len, 0);
            json_t *j = rules_to_json(r);
            CHECK(j != NULL);
            json_decref(j);
            ok++;
        } else {
            CHECK_INT(ret, -EINVAL);
            CHECK(r == NULL);
            CHECK(e.len > 0);
            /* every line names the file */
            for (const char *p = e.data; *p; p = strchr(p, '\n') + 1)
                CHECK(strncmp(p, "fuzz.yaml:", 10) == 0);
            failed++;
        }
        rules_free(r);
        buf_free(&e);
    }
    free(m);
    free(base);
    CHECK_INT(ok + failed, 2000);
    CHECK(ok > 0 && failed > 0); /* both paths were taken */
}

/* An error load: the errors text (caller frees), NULL when it loaded. */
static char *load_errors_of(const char *yaml)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = NULL;
    int ret = rules_load_string(yaml, strlen(yaml), "r.yaml", &r, &e);
    rules_free(r);
    if (ret == 0) {
        buf_free(&e);
        return NULL;
    }
    return e.data ? buf_steal(&e, NULL) : strdup("");
}

TEST(alert_signals)
{
    struct buf e = BUF_INIT_MAX(0);
    /* No signals section at all: alert:NAME conditions are enough. */
    struct rules *r = load_str("states:\n"
                               "  - {name: hot, conditions: [\"alert:HighErrorRate == 1\", "
                               "\"alert:Disk.Full-1 >= 1\"]}\n"
                               "  - {name: warm, when: all, conditions: [\"alert:HighErrorRate "
                               "== 0\", \"alert:Other == 1\"]}\n"
                               "  - {name: ok}\n",
                               &e);
    CHECK(r != NULL);
    CHECK_INT(r->n_signals, 3);
    CHECK_STR(r->signals[0].name, "alert:HighErrorRate");
    CHECK(r->signals[0].alert);
    CHECK(r->signals[0].query == NULL);
    CHECK_STR(r->signals[1].name, "alert:Disk.Full-1");
    CHECK_INT(r->states[1].conditions[0].signal, 0); /* the same signal, not a new one */
    json_t *j = rules_to_json(r);
    CHECK_STR(jstr(j, "signals.0.source"), "alertmanager");
    CHECK_STR(jstr(j, "signals.0.query"), "null");
    json_decref(j);
    rules_free(r);
    /* Beside Prometheus signals. */
    r = load_str(SIG "states:\n  - {name: hot, conditions: [\"cpu > 1\", \"alert:X == 1\"]}\n"
                     "  - {name: ok}\n",
                 &e);
    CHECK(r != NULL);
    CHECK_INT(r->n_signals, 3);
    CHECK(!r->signals[0].alert && r->signals[2].alert);
    rules_free(r);
    char *err = load_errors_of("states:\n  - {name: hot, conditions: [\"alert: == 1\"]}\n"
                               "  - {name: ok}\n");
    CHECK(err != NULL);
    CHECK_CONTAINS(err, "expected an alert name after 'alert:'");
    free(err);
    /* Without any signal, the old message. */
    err = load_errors_of("states:\n  - {name: ok}\n");
    CHECK_CONTAINS(err, "missing key 'signals'");
    free(err);
    buf_free(&e);
}

TEST(manual_action_params)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r =
        load_str(SIG ST "manual_actions:\n"
                        "  throttle:\n"
                        "    description: Cut concurrency\n"
                        "    params:\n"
                        "      limit: {type: integer, min: 1, max: 64}\n"
                        "      mode: {type: string, choices: [soft, hard], default: soft}\n"
                        "      ratio: {type: number, required: false}\n"
                        "    actions:\n"
                        "      - webhook: {url: 'http://a/', body: {c: '{{limit}}', m: '{{mode}}', "
                        "why: '{{reasoning}}'}}\n"
                        "  short:\n"
                        "    - exec: [/bin/echo, '{{who}}', '{{state}}']\n",
                 &e);
    CHECK(r != NULL);
    const struct manual_action_def *m = rules_manual_action(r, "throttle");
    CHECK(m != NULL);
    CHECK_STR(m->description, "Cut concurrency");
    CHECK_INT(m->n_params, 3);
    CHECK_INT(m->params[0].type, PARAM_INTEGER);
    CHECK(m->params[0].required);
    CHECK(!m->params[1].required); /* it has a default */
    char msg[512];
    json_t *given = json_pack("{si}", "limit", 5);
    json_t *args = rules_manual_args(m, given, msg, sizeof(msg));
    CHECK(args != NULL);
    CHECK_INT(json_integer_value(json_object_get(args, "limit")), 5);
    CHECK_STR(json_string_value(json_object_get(args, "mode")), "soft"); /* default filled */
    CHECK(json_is_null(json_object_get(args, "ratio"))); /* optional, left out: null */
    json_decref(args);
    json_decref(given);
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"{\"limit\": \"five\"}", "limit: expected an integer, got \"five\""},
        {"{\"limit\": 2.5}", "limit: expected an integer"},
        {"{\"limit\": 0}", "limit: 0 is below the minimum 1"},
        {"{\"limit\": 65}", "limit: 65 is above the maximum 64"},
        {"{}", "missing parameter 'limit' (integer)"},
        {"{\"limit\": 1, \"force\": true}", "unknown parameter 'force'"},
        {"{\"limit\": 1, \"mode\": \"wild\"}", "mode: 'wild' is not one of the allowed values"},
        {"{\"limit\": 1, \"ratio\": \"x\"}", "ratio: expected number"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        given = json_loads(bad[i].json, 0, NULL);
        args = rules_manual_args(m, given, msg, sizeof(msg));
        CHECK(args == NULL);
        CHECK_CONTAINS(msg, bad[i].want);
        json_decref(given);
    }
    /* The short form declares a required scalar per placeholder that is not built in. */
    m = rules_manual_action(r, "short");
    CHECK_INT(m->n_params, 1);
    CHECK_STR(m->params[0].name, "who");
    CHECK_INT(m->params[0].type, PARAM_SCALAR);
    given = json_pack("{ss}", "who", "ops");
    args = rules_manual_args(m, given, msg, sizeof(msg));
    CHECK(args != NULL);
    json_decref(args);
    json_decref(given);
    given = json_pack("{s[i]}", "who", 1);
    CHECK(rules_manual_args(m, given, msg, sizeof(msg)) == NULL);
    CHECK_CONTAINS(msg, "who: expected a string, number or boolean");
    json_decref(given);
    rules_free(r);

    char *err = load_errors_of(SIG ST "manual_actions:\n  m:\n    params:\n"
                                      "      n: {type: integer, default: x}\n"
                                      "      state: {type: string}\n"
                                      "    actions: [{webhook: {url: 'http://a/', body: "
                                      "'{{nope}}'}}]\n");
    CHECK(err != NULL);
    CHECK_CONTAINS(err, "r.yaml:10:35: default: n: expected an integer");
    CHECK_CONTAINS(err, "parameter 'state' would hide the built-in placeholder {{state}}");
    CHECK_CONTAINS(err, "webhook: unknown placeholder {{nope}}");
    free(err);
    buf_free(&e);
}

TEST(decision_limits_and_alerting)
{
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = load_str(SIG ST "decisions:\n  hot:\n    revert_on_exit: true\n"
                                      "    actions: [{alert: {labels: {team: web}}}]\n"
                                      "  ok:\n    revert_delay: 10s\n",
                               &e);
    CHECK(r == NULL);
    CHECK_CONTAINS(e.data, "decisions use alert actions, but alerting.alertmanagers is empty");
    buf_reset(&e);
    r = load_str(SIG ST "decisions:\n  hot:\n    revert_on_exit: true\n"
                        "    actions: [{alert: {labels: {team: web}}}]\n"
                        "  ok:\n    revert_delay: 10s\n"
                        "limits: {max_actions_per_hour: 12}\n"
                        "alerting: {alertmanagers: ['http://127.0.0.1:9093'], resend_interval: "
                        "30s, external_url: 'https://ctl.example/'}\n",
                 &e);
    CHECK(r != NULL);
    CHECK_INT(r->decisions[0].revert_delay_usec, 60 * SEC); /* the default */
    CHECK_INT(r->decisions[1].revert_delay_usec, 10 * SEC);
    CHECK_INT(r->max_actions_per_hour, 12);
    CHECK_INT(r->n_alertmanagers, 1);
    CHECK_STR(r->alertmanagers[0], "http://127.0.0.1:9093");
    CHECK(r->alertmanagers[1] == NULL);
    CHECK_INT(r->alert_resend_usec, 30 * SEC);
    CHECK_STR(r->external_url, "https://ctl.example/");
    rules_free(r);
    r = load_str(SIG ST, &e);
    CHECK_INT(r->max_actions_per_hour, 30);
    CHECK_INT(r->alert_resend_usec, 60 * SEC);
    rules_free(r);
    char *err =
        load_errors_of(SIG ST "limits: {max_actions_per_hour: -1}\n"
                              "alerting: {alertmanagers: [ftp://x], resend_interval: 10ms}\n");
    CHECK_CONTAINS(err, "max_actions_per_hour must be a whole number");
    CHECK_CONTAINS(err, "resend_interval must be from 1s to 1h");
    free(err);
    /* An actuator's own check, at the key it is about. */
    err = load_errors_of(SIG ST "decisions:\n  hot:\n    actions:\n"
                                "      - kubectl: {scale: deployment/app, replicas: 2, "
                                "namespace: Bad_NS}\n"
                                "      - exec: {argv: [/bin/true], retries: 99}\n"
                                "      - webhook: {url: 'http://a/', timeout: 10m}\n");
    CHECK(err != NULL);
    CHECK_CONTAINS(err, "r.yaml:10:66: kubectl: namespace must be a DNS-1123 label");
    CHECK_CONTAINS(err, "retries must be a whole number from 0 to 10");
    CHECK_CONTAINS(err, "timeout must be a duration from 1ms to 5m");
    free(err);
    /* on_no_effect: escalate goes to the nearest worse state with a decision that acts
     * (past one without actions), and needs a verdict */
    const char *esc = "signals:\n  cpu: {query: up}\nstates:\n"
                      "  - {name: down, conditions: [\"cpu > 3\"]}\n"
                      "  - {name: hot, conditions: [\"cpu > 2\"]}\n"
                      "  - {name: warm, conditions: [\"cpu > 1\"]}\n  - {name: ok}\n"
                      "decisions:\n"
                      "  down: {actions: [{exec: [/bin/true]}]}\n"
                      "  hot: {}\n"
                      "  warm: {on_no_effect: escalate, actions: [{exec: [/bin/false]}]}\n";
    r = load_str(esc, &e);
    CHECK(r != NULL);
    CHECK(r->decisions[2].escalate_on_no_effect);
    CHECK(!r->decisions[2].stop_on_no_effect);
    CHECK_INT(r->decisions[2].escalate_to, 0);
    json_t *j = rules_to_json(r);
    json_t *d2 = json_array_get(json_object_get(j, "decisions"), 2);
    CHECK_STR(json_string_value(json_object_get(d2, "on_no_effect")), "escalate");
    CHECK_STR(json_string_value(json_object_get(d2, "escalate_to")), "down");
    json_decref(j);
    rules_free(r);
    err = load_errors_of(SIG ST "decisions:\n  ok:\n    on_no_effect: escalate\n"
                                "    actions: [{exec: [/bin/true]}]\n"
                                "  hot: {actions: [{alert: {labels: {a: b}}}]}\n"
                                "alerting: {alertmanagers: ['http://127.0.0.1:9093']}\n");
    CHECK(err == NULL); /* hot's alert is a decision that acts */
    free(err);
    err = load_errors_of(SIG ST "decisions:\n  ok:\n    on_no_effect: escalate\n"
                                "    actions: [{alert: {labels: {a: b}}}]\n"
                                "  hot: {actions: [{exec: [/bin/true]}]}\n"
                                "alerting: {alertmanagers: ['http://127.0.0.1:9093']}\n");
    CHECK_CONTAINS(err, "on_no_effect: escalate needs a verdict, and a decision of alerts only "
                        "gets none");
    free(err);
    /* a regulator's changes are judged with a decision's defaults */
    r = load_str(SIG ST "regulators:\n  c: {signal: cpu, setpoint: 1, output: {min: 1, max: 10}, "
                        "increases_signal: true, actions: [{exec: [/bin/true]}]}\n"
                        "  k: {signal: cpu, setpoint: 1, output: {min: 1, max: 10}, "
                        "increases_signal: true, verify_after: 0s, verify_window: 5s, actions: "
                        "[{kubectl: {scale: deployment/app, replicas: '{{output}}'}}]}\n",
                 &e);
    CHECK(r != NULL);
    CHECK_INT(r->regulators[0].verify_after_usec, 60 * SEC);
    CHECK_INT(r->regulators[0].verify_window_usec, 60 * SEC);
    CHECK_INT(r->regulators[1].verify_after_usec, 0);
    CHECK_INT(r->regulators[1].verify_window_usec, 5 * SEC);
    rules_free(r);
    buf_free(&e);
}

TEST_MAIN(TEST_ENTRY(full_file_every_field), TEST_ENTRY(product_example), TEST_ENTRY(docs_example),
          TEST_ENTRY(defaults), TEST_ENTRY(load_errors), TEST_ENTRY(suspicious_but_valid),
          TEST_ENTRY(shadowing_implications), TEST_ENTRY(many_errors_at_once), TEST_ENTRY(to_json),
          TEST_ENTRY(secret_keys_redacted), TEST_ENTRY(param_types_and_summary_limit),
          TEST_ENTRY(lookups_and_names), TEST_ENTRY(url_check), TEST_ENTRY(limits),
          TEST_ENTRY(check_files_output), TEST_ENTRY(relative_paths), TEST_ENTRY(fuzz_mutations),
          TEST_ENTRY(alert_signals), TEST_ENTRY(manual_action_params),
          TEST_ENTRY(decision_limits_and_alerting))
