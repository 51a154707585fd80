/* test-actuator: what every action kind shares (controller/actuators/actuator.c): the generic keys,
 * placeholder checks at load time, expansion (typed when a string is one placeholder),
 * and the retry loop's attempts and backoff, through the exec kind. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "actuator.h"
#include "parse.h"
#include "test.h"

static struct actuator_env env;

static struct action_ctx ctx_for_test(const json_t *args)
{
    struct action_ctx c = {
        .decision_id = "d-1",
        .state = "critical",
        .from = "optimal",
        .severity = "page",
        .reasoning = "cpu_busy=0.93 > 0.85",
        .confidence = 0.8765,
        .time = 1700000000.0,
        .args = args,
        .env = &env,
    };
    return c;
}

TEST(expand_placeholders)
{
    json_t *args = json_pack("{sisssb}", "limit", 5, "who", "ops", "on", 1);
    struct action_ctx c = ctx_for_test(args);
    json_t *params =
        json_loads("{\"body\": {\"n\": \"{{limit}}\", \"text\": \"limit {{ limit }} "
                   "by {{who}} in {{state}} from {{from}}\", \"c\": \"{{confidence}}\", "
                   "\"on\": \"{{on}}\", \"t\": \"{{time}}\", \"list\": [\"{{id}}\"]}, "
                   "\"plain\": 3}",
                   0, NULL);
    char msg[256] = "";
    json_t *out = actuator_expand(params, &c, msg, sizeof(msg));
    CHECK(out != NULL);
    char *text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STR(text, "{\"body\":{\"c\":0.877,\"list\":[\"d-1\"],\"n\":5,\"on\":true,"
                    "\"t\":\"2023-11-14T22:13:20Z\",\"text\":\"limit 5 by ops in critical from "
                    "optimal\"},\"plain\":3}");
    free(text);
    json_decref(out);
    json_decref(params);
    /* An unknown variable at run time. */
    params = json_pack("{ss}", "x", "{{nope}}");
    CHECK(actuator_expand(params, &c, msg, sizeof(msg)) == NULL);
    CHECK_CONTAINS(msg, "unknown placeholder {{nope}}");
    json_decref(params);
    json_decref(args);
}

TEST(validate_generic_keys_and_placeholders)
{
    static const char *const declared[] = {"limit", NULL};
    static const struct {
        const char *json, *bad_key, *want;
    } cases[] = {
        {"{\"argv\": [\"/bin/true\"], \"timeout\": \"10m\"}", "timeout", "timeout must be"},
        {"{\"argv\": [\"/bin/true\"], \"timeout\": \"soon\"}", "timeout", "timeout must be"},
        {"{\"argv\": [\"/bin/true\"], \"retries\": 11}", "retries", "retries must be"},
        {"{\"argv\": [\"/bin/true\"], \"retries\": \"2\"}", "retries", "retries must be"},
        {"{\"argv\": [\"/bin/true\"], \"backoff\": \"2m\"}", "backoff", "backoff must be"},
        {"{\"argv\": [\"/bin/echo\", \"{{limt}}\"]}", "argv", "unknown placeholder {{limt}}"},
        {"{\"argv\": [\"/bin/echo\", \"{{ bad name }}\"]}", "argv", "malformed placeholder"},
        {"{\"argv\": [\"/bin/echo\", \"{{limit\"]}", "argv", "malformed placeholder"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *p = json_loads(cases[i].json, 0, NULL);
        const char *bad = NULL;
        char msg[512];
        CHECK_INT(actuator_validate(ACTION_EXEC, p, declared, &bad, msg, sizeof(msg)), -EINVAL);
        CHECK_STR(bad ? bad : "(null)", cases[i].bad_key);
        CHECK_CONTAINS(msg, cases[i].want);
        json_decref(p);
    }
    json_t *p = json_loads("{\"argv\": [\"/bin/echo\", \"{{limit}}\", \"{{reasoning}}\"], "
                           "\"timeout\": \"3s\", \"retries\": 2, \"backoff\": \"10ms\"}",
                           0, NULL);
    const char *bad = NULL;
    char msg[512];
    CHECK_INT(actuator_validate(ACTION_EXEC, p, declared, &bad, msg, sizeof(msg)), 0);
    CHECK_INT(actuator_timeout(p, 1), 3000000);
    json_decref(p);
}

TEST(retries_with_backoff)
{
    /* exit 75 (EX_TEMPFAIL) is a transient failure: 1 + retries attempts, backoff doubling. */
    json_t *p = json_loads("{\"argv\": [\"/bin/sh\", \"-c\", \"exit 75\"], \"retries\": 2, "
                           "\"backoff\": \"100ms\"}",
                           0, NULL);
    struct action_def a = {.kind = ACTION_EXEC, .params = p, .summary = (char *)"exec"};
    struct action_ctx c = ctx_for_test(NULL);
    struct action_result res;
    uint64_t t0 = now_usec();
    actuator_run(&a, &c, &res, NULL);
    uint64_t took = now_usec() - t0;
    CHECK_INT(res.attempts, 3);
    CHECK_INT(res.status, ACT_RETRY);
    /* the pauses were 100 ms then 200 ms: correctness of the backoff, not speed */
    CHECK(took >= 300000);
    action_result_clear(&res);
    json_decref(p);
    /* A permanent failure is not retried. */
    p = json_loads("{\"argv\": [\"/bin/sh\", \"-c\", \"exit 3\"], \"retries\": 2}", 0, NULL);
    a.params = p;
    actuator_run(&a, &c, &res, NULL);
    CHECK_INT(res.attempts, 1);
    CHECK_INT(res.status, ACT_FAIL);
    action_result_clear(&res);
    json_decref(p);
}

/* For the records: a target's {{ $labels.NAME }} shown with its values, nothing else. */
TEST(labels_shown_in_summaries)
{
    json_t *labels = json_pack("{s:s}", "service", "checkout");
    char *s = actuator_with_labels(
        "webhook POST http://h/{{ $labels.service }}/x {{state}} {{$labels.missing}} {{", labels);
    CHECK_STR(s, "webhook POST http://h/checkout/x {{state}} {{$labels.missing}} {{");
    free(s);
    s = actuator_with_labels("no placeholder", NULL);
    CHECK_STR(s, "no placeholder");
    free(s);
    json_t *params =
        json_pack("{s:[s,s], s:i}", "argv", "/bin/act", "{{ $labels.service }}", "n", 3);
    json_t *shown = actuator_json_with_labels(params, labels);
    CHECK_STR(json_string_value(json_array_get(json_object_get(shown, "argv"), 1)), "checkout");
    CHECK_INT(json_integer_value(json_object_get(shown, "n")), 3);
    CHECK_STR(json_string_value(json_array_get(json_object_get(params, "argv"), 1)),
              "{{ $labels.service }}"); /* the rules' own value is untouched */
    json_decref(shown);
    json_decref(params);
    json_decref(labels);
}

TEST_MAIN(TEST_ENTRY(expand_placeholders), TEST_ENTRY(validate_generic_keys_and_placeholders),
          TEST_ENTRY(retries_with_backoff), TEST_ENTRY(labels_shown_in_summaries))
