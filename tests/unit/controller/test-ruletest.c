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

/* A test file written here, next to a copy of the fixture rules_fixture as rules.yaml. */
static int run_text_with(const char *rules_fixture, const char *yaml, char **ret_out)
{
    char *dir = test_tmpdir();
    char path[4096], rules[4096];
    snprintf(rules, sizeof(rules), "%s/rules.yaml", dir);
    snprintf(path, sizeof(path), "%s/t.yaml", dir);
    FILE *in = fopen(test_fixture(rules_fixture), "r"), *o = fopen(rules, "w");
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

static int run_text(const char *yaml, char **ret_out)
{
    return run_text_with("ruletest/rules.yaml", yaml, ret_out);
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

/* ruletest/rules-regulators.yaml: workers = ceil(workers x utilization / 0.5), 1..20, from
 * 4, while load > 10; two changes an hour. */
static int run_regulators(const char *tests, char **ret_out)
{
    char yaml[4096];
    snprintf(yaml, sizeof(yaml), "rule_files: [rules.yaml]\ntests:\n%s", tests);
    return run_text_with("ruletest/rules-regulators.yaml", yaml, ret_out);
}

TEST(regulator_expectations_pass)
{
    char *out = NULL;
    /* 4 -> 8 -> 16; the third change (to 20) waits for the hourly budget until the first
     * is an hour old; while quiet (load 5) the output returns to its start at once (no
     * max_step), a change the budget allows since the second is an hour old too. */
    int r = run_regulators(
        "  - signals: {utilization: \"1x400\", load: \"20x360 5x40\"}\n"
        "    expect:\n"
        "      - {at: 0s, state: busy, regulators: {workers: {output: 8, step: change,\n"
        "         explanation_contains: \"utilization 1 > 0.5 setpoint (+100%): proportional 2 "
        "\u2192 workers 4 \u2192 8\", changes: 1}}}\n"
        "      - {at: 10s, regulators: {workers: {output: 16, changes: 2}}}\n"
        "      - {at: 20s, regulators: {workers: {output: 16, step: change, changes: 2,\n"
        "         explanation_contains: \"; held: 2 changes in the last hour "
        "(max_regulator_changes_per_hour)\"}}}\n"
        "      - {at: 3590s, regulators: {workers: {output: 16, changes: 2}}}\n"
        "      - {at: 3600s, regulators: {workers: {output: 20, step: change, changes: 3,\n"
        "         explanation_contains: \"at max 20\"}}}\n"
        "      - {at: 3610s, state: quiet, regulators: {workers: {output: 4, step: change,\n"
        "         explanation_contains: \"not in active_in: workers returns to its start 4: "
        "20 \u2192 4\"}}}\n",
        &out);
    if (r != 0)
        TEST_FAIL("exit %d:\n%s", r, out);
    free(out);
}

TEST(regulator_expectation_fails_with_regulator_time_and_both_values)
{
    char *out = NULL;
    CHECK_INT(run_regulators("  - name: wrong\n"
                             "    signals: {utilization: \"1x3\", load: \"20x3\"}\n"
                             "    expect:\n"
                             "      - at: 10s\n"
                             "        regulators:\n"
                             "          workers: {output: 9, step: tolerance, changes: 1,\n"
                             "                    explanation_contains: \"gradient\"}\n",
                             &out),
              1);
    CHECK_CONTAINS(out, "  FAILED: 1 of 1 test\n"
                        "    test \"wrong\" at 10s (step 1, ");
    CHECK_CONTAINS(out, "t.yaml:6:9):\n"
                        "      regulator workers: output: expected 9, got 16\n"
                        "      regulator workers: step: expected tolerance, got change\n"
                        "      regulator workers: explanation_contains: expected \"gradient\"\n"
                        "      regulator workers: changes: expected 1, got 2\n"
                        "      regulator workers: explanation: utilization 1 > 0.5 setpoint "
                        "(+100%): proportional 2 \xe2\x86\x92 workers 8 \xe2\x86\x92 16\n"
                        "      reasoning: busy: load=20 > 10");
    free(out);
    /* A non-integer output is shown with its digits; only the failing keys are named. */
    CHECK_INT(run_regulators("  - signals: {utilization: \"1x3\", load: \"20x3\"}\n"
                             "    expect:\n"
                             "      - {at: 0s, regulators: {workers: {output: 8.25, step: "
                             "change}}}\n",
                             &out),
              1);
    CHECK_CONTAINS(out, "      regulator workers: output: expected 8.25, got 8\n"
                        "      regulator workers: explanation: ");
    CHECK(!strstr(out, "step: expected"));
    free(out);
    /* The state is checked as before beside the regulator. */
    CHECK_INT(run_regulators("  - signals: {utilization: \"1x3\", load: \"20x3\"}\n"
                             "    expect:\n"
                             "      - {at: 0s, state: quiet, regulators: {workers: {output: 8}}}\n",
                             &out),
              1);
    CHECK_CONTAINS(out, "      state: expected quiet, got busy\n      reasoning: ");
    CHECK(!strstr(out, "regulator workers:"));
    free(out);
}

TEST(regulator_expectation_errors)
{
    char *out = NULL;
    CHECK_INT(run_regulators("  - expect:\n"
                             "      - at: 0s\n"
                             "        regulators:\n"
                             "          worker: {output: 4}\n"
                             "          workers: {outptu: 4, step: chnage}\n"
                             "      - {at: 0s, regulators: {workers: {}}}\n"
                             "      - {at: 0s, regulators: {}}\n"
                             "      - {at: 0s, regulators: {workers: {output: x, changes: -1}}}\n",
                             &out),
              2);
    CHECK_CONTAINS(out, "t.yaml:6:11: unknown regulator 'worker' (did you mean 'workers'?)");
    CHECK_CONTAINS(out, "t.yaml:7:21: unknown key 'outptu'; did you mean 'output'?");
    CHECK_CONTAINS(out, "t.yaml:7:38: unknown step 'chnage': expected change, unknown, "
                        "tolerance, stabilizing, at_limit, below_resolution, inactive or settling");
    CHECK_CONTAINS(out, "t.yaml:8:40: regulator expectation checks nothing: give output, step, "
                        "explanation_contains or changes");
    CHECK(!strstr(out, "t.yaml:7:20: regulator expectation checks nothing"));
    CHECK_CONTAINS(out, "t.yaml:9:30: regulators is empty");
    CHECK_CONTAINS(out, "t.yaml:10:49: expected a number, got 'x'");
    CHECK_CONTAINS(out, "t.yaml:10:61: expected a non-negative integer, got '-1'");
    free(out);
    /* A rules file without regulators. */
    CHECK_INT(run_text("rule_files: [rules.yaml]\n"
                       "tests:\n"
                       "  - expect: [{at: 0s, regulators: {workers: {output: 4}}}]\n",
                       &out),
              2);
    CHECK_CONTAINS(out, "t.yaml:3:35: regulators: the rules file has no regulators section");
    free(out);
}

TEST(regulator_expectations_per_target)
{
    char *out = NULL;
    /* a: 2 s, four times the setpoint: halved at every step; b: at the setpoint, then
     * unknown (held), then at it again. Each target keeps its own output and count. */
    static const char *const tests =
        "rule_files: [rules.yaml]\n"
        "tests:\n"
        "  - signals:\n"
        "      p95:\n"
        "        '{service=\"a\"}': \"2x3\"\n"
        "        '{service=\"b\"}': \"0.5 _ 0.5\"\n"
        "    expect:\n"
        "      - {at: 0s, target: '{service=\"a\"}', regulators: {limit: {output: 32, step: "
        "change}}}\n"
        "      - {at: 10s, target: '{service=\"a\"}', regulators: {limit: {output: 16, "
        "changes: 2}}}\n"
        "      - {at: 0s, target: '{service=\"b\"}', regulators: {limit: {output: 64, step: "
        "tolerance}}}\n"
        "      - {at: 10s, target: '{service=\"b\"}', regulators: {limit: {output: 64, step: "
        "unknown}}}\n"
        "      - {at: 20s, target: '{service=\"b\"}', regulators: {limit: {output: 64, step: "
        "tolerance, changes: 0}}}\n";
    int r = run_text_with("ruletest/rules-regulators-targets.yaml", tests, &out);
    if (r != 0)
        TEST_FAIL("exit %d:\n%s", r, out);
    free(out);
    /* A failure names the target and the regulator. */
    CHECK_INT(run_text_with("ruletest/rules-regulators-targets.yaml",
                            "rule_files: [rules.yaml]\n"
                            "tests:\n"
                            "  - signals: {p95: {'{service=\"a\"}': \"2x3\"}}\n"
                            "    expect:\n"
                            "      - {at: 10s, target: '{service=\"a\"}', regulators: {limit: "
                            "{output: 32}}}\n",
                            &out),
              1);
    CHECK_CONTAINS(out, "    test \"#1\" at 10s for {service=\"a\"} (step 1, ");
    CHECK_CONTAINS(out, "      regulator limit: output: expected 32, got 16\n");
    free(out);
}

TEST_MAIN(TEST_ENTRY(passing_files_exit_0),
          TEST_ENTRY(failing_expectations_exit_1_and_name_test_and_step),
          TEST_ENTRY(malformed_test_file_exits_2_with_positions),
          TEST_ENTRY(broken_or_missing_rules_exit_2), TEST_ENTRY(worst_exit_status_over_files),
          TEST_ENTRY(expanding_notation), TEST_ENTRY(file_level_settings),
          TEST_ENTRY(regulator_expectations_pass),
          TEST_ENTRY(regulator_expectation_fails_with_regulator_time_and_both_values),
          TEST_ENTRY(regulator_expectation_errors), TEST_ENTRY(regulator_expectations_per_target))
