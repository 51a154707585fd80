/* test-ruletest: `homeostat-controller test` (controller/cli/ruletest.c) on the files of
 * tests/fixtures/ruletest: passing files exit 0, failing expectations exit 1 and name the
 * test, the time and the step, malformed test files and broken rules files exit 2 with
 * FILE:LINE:COL for every error, and the expanding notation of the values. */
#include <stdio.h>

#include "ruletest.h"
#include "test.h"

/* Runs the named fixtures; *ret_out gets the output (caller frees). Returns the exit
 * status of ruletest_run_files. */
static int run(const char *const *names, size_t n, char **ret_out)
{
    char *paths[8];
    for (size_t i = 0; i < n && i < 8; i++)
        paths[i] = strdup(test_fixture(names[i]));
    size_t len = 0;
    FILE *out = open_memstream(ret_out, &len);
    if (!out)
        abort();
    int r = ruletest_run_files((const char *const *)paths, n, out);
    fclose(out);
    for (size_t i = 0; i < n && i < 8; i++)
        free(paths[i]);
    return r;
}

static int run1(const char *name, char **ret_out)
{
    return run(&name, 1, ret_out);
}

TEST(passing_files_exit_0)
{
    char *out = NULL;
    static const char *const names[] = {"ruletest/pass.yaml", "ruletest/pass-unknown.yaml"};
    int r = run(names, 2, &out);
    if (r != 0)
        TEST_FAIL("exit %d:\n%s", r, out);
    CHECK_CONTAINS(out, "Unit Testing: ");
    CHECK_CONTAINS(out, "ruletest/pass.yaml\n  SUCCESS: 9 tests\n");
    CHECK_CONTAINS(out, "ruletest/pass-unknown.yaml\n  SUCCESS: 1 test\n");
    CHECK(!strstr(out, "FAILED"));
    free(out);
}

TEST(failing_expectations_exit_1_and_name_test_and_step)
{
    char *out = NULL;
    CHECK_INT(run1("ruletest/fail.yaml", &out), 1);
    CHECK_CONTAINS(out, "  FAILED: 2 of 3 tests\n");
    /* The wrong state, one step early. */
    CHECK_CONTAINS(out, "    test \"critical one step too early\" at 25s (step 5, ");
    CHECK_CONTAINS(out, "fail.yaml:18:9):\n"
                        "      state: expected critical, got stressed\n"
                        "      reasoning: stressed: cpu_busy=0.95 > 0.7 (+36%) for 25s "
                        "\xe2\x89\xa5 10s; confidence 1.00");
    CHECK(!strstr(out, "too early\" at 30s")); /* the expectation that holds */
    /* The confidence bound; the decisions count of the same step passes. */
    CHECK_CONTAINS(out, "    test \"confidence out of bounds\" at 30s (step 6, ");
    CHECK_CONTAINS(out, "      confidence: expected 0.9..1, got 0.6667\n"
                        "      reasoning: critical: cpu_busy=0.95 > 0.85 (+12%) for 30s "
                        "\xe2\x89\xa5 30s; memory_used=0.5 below 0.9 (not holding); "
                        "confidence 0.67");
    CHECK(!strstr(out, "decisions: expected"));
    CHECK(!strstr(out, "\"passes\""));
    free(out);
}

TEST(malformed_test_file_exits_2_with_positions)
{
    char *out = NULL;
    CHECK_INT(run1("ruletest/bad-keys.yaml", &out), 2);
    const char *f = test_fixture("ruletest/bad-keys.yaml");
    char want[4200];
    static const char *const errors[] = {
        ":3:1: unknown key 'evaluation_intervall'; did you mean 'evaluation_interval'?",
        ":7:7: unknown signal 'cpu_bsy' (did you mean 'cpu_busy'?)",
        (":8:20: bad value '0.5y3': expected a number, 'AxN', 'A+BxN', 'A-BxN', '_', '_xN' "
         "or 'stale'"),
        ":10:13: at 7s does not fall on a step (interval 5s)",
        ":13:9: unknown key 'stat'; did you mean 'state'?",
        ":12:9: expectation checks nothing",
        ":15:16: unknown state 'critcal' (did you mean 'critical'?)",
        ":16:18: unknown outcome 'ran': expected none, uncertain,",
        ":17:21: confidence bounds must satisfy 0 <= min <= max <= 1",
        ":18:9: expectation checks nothing",
        ":20:21: expected true or false, got 'maybe'",
        ":19:5: test 'no expect' has no expect list",
    };
    CHECK_CONTAINS(out, "  FAILED:\n");
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        snprintf(want, sizeof(want), "%s%s", f, errors[i]);
        CHECK_CONTAINS(out, want);
    }
    free(out);
}

TEST(broken_or_missing_rules_exit_2)
{
    char *out = NULL;
    CHECK_INT(run1("ruletest/bad-rules.yaml", &out), 2);
    CHECK_CONTAINS(out, "broken-rules.yaml:7:18: unknown signal 'cpu_bsuy'");
    free(out);
    CHECK_INT(run1("ruletest/missing-rules.yaml", &out), 2);
    CHECK_CONTAINS(out, "missing-rules.yaml:1:14: cannot load rules file ");
    CHECK_CONTAINS(out, "does-not-exist.yaml: No such file or directory");
    free(out);
    CHECK_INT(run1("ruletest/no-such-test-file.yaml", &out), 2);
    CHECK_CONTAINS(out, "no-such-test-file.yaml");
    free(out);
}

TEST(worst_exit_status_over_files)
{
    char *out = NULL;
    static const char *const a[] = {"ruletest/pass.yaml", "ruletest/fail.yaml"};
    CHECK_INT(run(a, 2, &out), 1);
    free(out);
    static const char *const b[] = {"ruletest/bad-rules.yaml", "ruletest/fail.yaml",
                                    "ruletest/pass.yaml"};
    CHECK_INT(run(b, 3, &out), 2);
    CHECK_CONTAINS(out, "pass.yaml\n  SUCCESS"); /* every file runs */
    free(out);
    CHECK_INT(run(NULL, 0, &out), 0);
    free(out);
}

/* A test file written here, next to a copy of the fixture rules. */
static int run_text(const char *yaml, char **ret_out)
{
    char *dir = test_tmpdir();
    char path[4096], rules[4096];
    snprintf(rules, sizeof(rules), "%s/rules.yaml", dir);
    snprintf(path, sizeof(path), "%s/t.yaml", dir);
    FILE *in = fopen(test_fixture("ruletest/rules.yaml"), "r"), *o = fopen(rules, "w");
    char chunk[4096];
    size_t n;
    while (in && o && (n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        fwrite(chunk, 1, n, o);
    if (in)
        fclose(in);
    if (o)
        fclose(o);
    o = fopen(path, "w");
    if (o) {
        fputs(yaml, o);
        fclose(o);
    }
    const char *paths[1] = {path};
    size_t len = 0;
    FILE *out = open_memstream(ret_out, &len);
    int r = ruletest_run_files(paths, 1, out);
    fclose(out);
    remove(path);
    remove(rules);
    remove(dir);
    return r;
}

TEST(expanding_notation)
{
    /* Each case: values of memory_used and a fragment of the reasoning at 10s (step 2). */
    static const struct {
        const char *values, *want;
    } ok[] = {
        {"0.5 0.6 0.7", "memory_used=0.7 \xe2\x89\xa4 0.9"},
        {"0.5x1 0.7", "memory_used=0.7 \xe2\x89\xa4 0.9"},
        {"0.5+0.1x2", "memory_used=0.7 \xe2\x89\xa4 0.9"},
        {"0.8-0.05x2", "memory_used=0.7 \xe2\x89\xa4 0.9"},
        {"-1+0.85x2", "memory_used=0.7 \xe2\x89\xa4 0.9"},
        {"1e-1+3e-1x2", "memory_used=0.7 \xe2\x89\xa4 0.9"},
        {"0.7x0 0.7x0 0.7", "memory_used=0.7 \xe2\x89\xa4 0.9"},
        {"_x2 0.7", "memory_used=0.7 \xe2\x89\xa4 0.9"},
        {"0.7 _", "memory_used unknown (empty result)"},
        {"0.7 0.7 _", "memory_used unknown (empty result)"},
        {"0.7 0.7 stale", "memory_used unknown (empty result)"},
        {"_x3", "memory_used unknown (empty result)"},
        {"0.7 0.7", "memory_used unknown (empty result)"}, /* past the end */
        {"0.7 0.7 NaN", "memory_used unknown (NaN)"},
        {"0.7 0.7 +Inf", "memory_used=inf > 0.9"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char yaml[1024], *out = NULL;
        snprintf(yaml, sizeof(yaml),
                 "rule_files: [rules.yaml]\n"
                 "tests:\n"
                 "  - signals: {cpu_busy: \"0.1x5\", memory_used: \"%s\", "
                 "p95_latency_seconds: \"1x5\"}\n"
                 "    expect: [{at: 10s, reasoning_contains: \"%s\"}]\n",
                 ok[i].values, ok[i].want);
        int r = run_text(yaml, &out);
        if (r != 0)
            TEST_FAIL("'%s': exit %d\n%s", ok[i].values, r, out);
        free(out);
    }
    static const char *const bad[] = {"0.5x", "x3",  "0.5+0.1", "0.5+0.1y3", "0x5x3",  "abc",
                                      "_x",   "_y3", "0.5xx3",  "1..2",      "0.5x-1", "stale2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[1024], *out = NULL;
        snprintf(yaml, sizeof(yaml),
                 "rule_files: [rules.yaml]\n"
                 "tests:\n"
                 "  - signals: {memory_used: \"0.5 %s\"}\n"
                 "    expect: [{at: 0s, state: optimal}]\n",
                 bad[i]);
        int r = run_text(yaml, &out);
        char want[128];
        snprintf(want, sizeof(want), ":3:28: bad value '%s'", bad[i]);
        if (r != 2 || !strstr(out, want))
            TEST_FAIL("'%s': exit %d, expected 2 and \"%s\" in\n%s", bad[i], r, want, out);
        free(out);
    }
    /* Too many values. */
    char *out = NULL;
    CHECK_INT(run_text("rule_files: [rules.yaml]\n"
                       "tests:\n"
                       "  - signals: {memory_used: \"0.5x100000\"}\n"
                       "    expect: [{at: 0s, state: optimal}]\n",
                       &out),
              2);
    CHECK_CONTAINS(out, ":3:28: more than 100000 values");
    free(out);
    CHECK_INT(run_text("rule_files: [rules.yaml]\n"
                       "tests:\n"
                       "  - signals: {memory_used: \"0.5x99999\"}\n"
                       "    expect: [{at: 0s, state: optimal}]\n",
                       &out),
              0);
    free(out);
}

TEST(file_level_settings)
{
    char *out = NULL;
    /* evaluation_interval is the default interval of each test. */
    CHECK_INT(run_text("rule_files: [rules.yaml]\n"
                       "evaluation_interval: 10s\n"
                       "tests:\n"
                       "  - signals: {cpu_busy: \"0.95x5\", memory_used: \"0.5x5\", "
                       "p95_latency_seconds: \"1x5\"}\n"
                       "    expect: [{at: 30s, state: critical, changed: true}]\n",
                       &out),
              0);
    free(out);
    CHECK_INT(run_text("rule_files: [rules.yaml]\n"
                       "evaluation_interval: 10s\n"
                       "tests:\n"
                       "  - expect: [{at: 5s, state: optimal}]\n",
                       &out),
              2);
    CHECK_CONTAINS(out, ":4:19: at 5s does not fall on a step (interval 10s)");
    free(out);
    CHECK_INT(run_text("rule_files: [rules.yaml, rules.yaml]\n"
                       "tests:\n"
                       "  - expect: [{at: 0s, state: optimal}]\n",
                       &out),
              2);
    CHECK_CONTAINS(out, ":1:13: rule_files must name exactly one rules file, got 2");
    free(out);
    CHECK_INT(run_text("tests: []\n", &out), 2);
    CHECK_CONTAINS(out, ":1:1: missing key 'rule_files'");
    free(out);
    CHECK_INT(run_text("- a\n", &out), 2);
    CHECK_CONTAINS(out, ":1:1: expected a map with rule_files and tests, got a sequence");
    free(out);
    CHECK_INT(run_text("rule_files: [rules.yaml]\ntests:\n  - expect: [{at: 0s, state: "
                       "optimal}]\n   bad: [\n",
                       &out),
              2);
    CHECK_CONTAINS(out, "t.yaml:");
    free(out);
}

TEST_MAIN(TEST_ENTRY(passing_files_exit_0),
          TEST_ENTRY(failing_expectations_exit_1_and_name_test_and_step),
          TEST_ENTRY(malformed_test_file_exits_2_with_positions),
          TEST_ENTRY(broken_or_missing_rules_exit_2), TEST_ENTRY(worst_exit_status_over_files),
          TEST_ENTRY(expanding_notation), TEST_ENTRY(file_level_settings))
