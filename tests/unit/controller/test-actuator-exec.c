/* test-actuator-exec: the exec action kind of controller/actuators/actuator_exec.c through
 * actuator_validate, actuator_run and actuator_revert with real subprocesses: validation
 * messages and the key they name; success with its detail; the failure message with the
 * first line of stderr; exit 75 retried with the attempts counted; a timeout; a missing
 * program; placeholders expanded in argv and env (a number too); the revert argv and its
 * undo; a server dry run that runs nothing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actuator.h"
#include "test.h"

static const struct actuator_env env = {.alert_resend_usec = 60000000};

static struct action_ctx ctx(void)
{
    return (struct action_ctx){
        .decision_id = "18c3f2a1b20-42",
        .state = "critical",
        .from = "optimal",
        .reasoning = "cpu_busy=0.93 > 0.85",
        .confidence = 0.9,
        .time = 1700000000,
        .env = &env,
    };
}

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, JSON_ALLOW_NUL, &e);
    if (!v)
        fprintf(stderr, "bad test JSON: %s: %s\n", e.text, text);
    return v;
}

/* Validates params (JSON text): the return value; msg and *bad_key filled (*bad_key, a key
 * of params, is copied to static storage before params go). */
static int validate(const char *text, const char **bad_key, char *msg, size_t size)
{
    static char key[128];
    json_t *p = parse(text);
    int r = actuator_validate(ACTION_EXEC, p, NULL, bad_key, msg, size);
    if (*bad_key) {
        snprintf(key, sizeof(key), "%s", *bad_key);
        *bad_key = key;
    }
    json_decref(p);
    return r;
}

/* Runs an exec action (params as JSON text) with c; res to be cleared by the caller;
 * *ret_params (may be NULL) the expanded params. */
static void apply(const char *text, const struct action_ctx *c, struct action_result *res,
                  json_t **ret_params)
{
    json_t *p = parse(text);
    struct action_def a = {.kind = ACTION_EXEC, .params = p, .summary = (char *)"test"};
    actuator_run(&a, c, res, ret_params);
    json_decref(p);
}

static const char *dstr(const struct action_result *res, const char *key)
{
    return json_string_value(json_object_get(res->detail, key));
}

#define CHECK_INVALID(text, key, fragment)                                                         \
    do {                                                                                           \
        const char *_bk = "unset";                                                                 \
        char _msg[512];                                                                            \
        CHECK_INT(validate((text), &_bk, _msg, sizeof(_msg)), -EINVAL);                            \
        if ((key) == NULL)                                                                         \
            CHECK(_bk == NULL);                                                                    \
        else                                                                                       \
            CHECK_STR(_bk, (key));                                                                 \
        CHECK_CONTAINS(_msg, (fragment));                                                          \
    } while (0)

TEST(validate_errors_name_the_key)
{
    CHECK_INVALID("{}", NULL, "exec needs argv");
    CHECK_INVALID("{\"argv\": \"/bin/true\"}", "argv", "argv must be a non-empty list");
    CHECK_INVALID("{\"argv\": []}", "argv", "argv must be a non-empty list");
    CHECK_INVALID("{\"argv\": [\"./run.sh\"]}", "argv", "relative path");
    CHECK_INVALID("{\"argv\": [\"bin/run\"]}", "argv", "relative path");
    CHECK_INVALID("{\"argv\": [\"\"]}", "argv", "argv[0] must be the program");
    CHECK_INVALID("{\"argv\": [5]}", "argv", "argv[0] must be the program");
    CHECK_INVALID("{\"argv\": [\"/bin/true\", {\"a\": 1}]}", "argv", "argv[1] must be a string");
    CHECK_INVALID("{\"argv\": [\"/bin/true\", \"a\\u0000b\"]}", "argv", "argv[1] must be a string");
    CHECK_INVALID("{\"argv\": [\"/bin/true\"], \"revert\": [\"x/y\"]}", "revert",
                  "revert[0] 'x/y' is a relative path");
    CHECK_INVALID("{\"argv\": [\"/bin/true\"], \"revert\": []}", "revert",
                  "revert must be a non-empty list");
    CHECK_INVALID("{\"argv\": [\"/bin/true\"], \"env\": [\"A=1\"]}", "env", "env must be a map");
    CHECK_INVALID("{\"argv\": [\"/bin/true\"], \"env\": {\"lower\": \"x\"}}", "env",
                  "env name 'lower' is not valid");
    CHECK_INVALID("{\"argv\": [\"/bin/true\"], \"env\": {\"1ABC\": \"x\"}}", "env",
                  "env name '1ABC'");
    CHECK_INVALID("{\"argv\": [\"/bin/true\"], \"env\": {\"A\": {\"b\": 1}}}", "env",
                  "env A must be a string");
    CHECK_INVALID("{\"argv\": [\"/bin/true\"], \"shell\": true}", "shell", "unknown key for exec");
    CHECK_INVALID("{\"argv\": [\"/bin/true\"], \"timeout\": \"1h\"}", "timeout",
                  "timeout must be a duration");
    CHECK_INVALID("{\"argv\": [\"/bin/echo\", \"{{nope}}\"]}", "argv",
                  "unknown placeholder {{nope}}");

    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"argv\": [\"/bin/true\"], \"env\": {");
    for (int i = 0; i < 33; i++)
        buf_printf(&b, "%s\"V%d\": \"x\"", i ? ", " : "", i);
    buf_puts(&b, "}}");
    CHECK_INVALID(b.data, "env", "env has 33 variables, at most 32");
    buf_free(&b);

    const char *bad_key = "unset";
    char msg[512];
    CHECK_INT(validate("{\"argv\": [\"/bin/echo\", \"{{state}}\", 3], \"revert\": [\"echo\"], "
                       "\"env\": {\"MODE\": \"{{state}}\", \"_X1\": \"y\"}, \"timeout\": \"5s\", "
                       "\"retries\": 2, \"backoff\": \"10ms\"}",
                       &bad_key, msg, sizeof(msg)),
              0);
    CHECK_INT(validate("{\"argv\": [\"{{state}}/bin/run\"]}", &bad_key, msg, sizeof(msg)), 0);
}

TEST(apply_ok_with_detail)
{
    struct action_ctx c = ctx();
    struct action_result res;
    apply("{\"argv\": [\"/bin/sh\", \"-c\", \"echo hi; echo warn >&2\"]}", &c, &res, NULL);
    CHECK_INT(res.status, ACT_OK);
    CHECK_INT(res.attempts, 1);
    CHECK_STR(res.error, "");
    CHECK_STR(dstr(&res, "stdout"), "hi\n");
    CHECK_STR(dstr(&res, "stderr"), "warn\n");
    CHECK_INT(json_integer_value(json_object_get(res.detail, "exit_status")), 0);
    CHECK(json_is_null(json_object_get(res.detail, "signal")));
    CHECK(json_is_false(json_object_get(res.detail, "timed_out")));
    CHECK(json_is_real(json_object_get(res.detail, "duration_seconds")));
    CHECK_INT(json_integer_value(json_object_get(res.detail, "stdout_dropped_bytes")), 0);
    CHECK_INT(json_integer_value(json_object_get(res.detail, "stderr_dropped_bytes")), 0);
    CHECK_INT(json_array_size(json_object_get(res.detail, "argv")), 3);
    CHECK(res.undo == NULL);
    action_result_clear(&res);

    /* Output past 16 KiB is counted, and invalid UTF-8 does not lose the detail. */
    apply("{\"argv\": [\"/bin/sh\", \"-c\", \"head -c 20000 /dev/zero | tr '\\\\0' a; printf "
          "'\\\\377\\\\n' >&2\"]}",
          &c, &res, NULL);
    CHECK_INT(res.status, ACT_OK);
    CHECK_INT(strlen(dstr(&res, "stdout")), 16384);
    CHECK_INT(json_integer_value(json_object_get(res.detail, "stdout_dropped_bytes")),
              20000 - 16384);
    CHECK_STR(dstr(&res, "stderr"), "\xef\xbf\xbd\n");
    action_result_clear(&res);
}

TEST(failure_message_has_the_first_stderr_line)
{
    struct action_ctx c = ctx();
    struct action_result res;
    apply("{\"argv\": [\"/bin/sh\", \"-c\", \"echo; echo 'disk full' >&2; echo more >&2; exit "
          "3\"], \"retries\": 2, \"backoff\": \"10ms\"}",
          &c, &res, NULL);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_INT(res.attempts, 1); /* a permanent failure is not retried */
    CHECK_STR(res.error, "exec /bin/sh: exit 3: disk full");
    CHECK_INT(json_integer_value(json_object_get(res.detail, "exit_status")), 3);
    action_result_clear(&res);

    /* Killed by a signal. */
    apply("{\"argv\": [\"/bin/sh\", \"-c\", \"kill -KILL $$\"]}", &c, &res, NULL);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_STR(res.error, "exec /bin/sh: killed by SIGKILL");
    CHECK(json_is_null(json_object_get(res.detail, "exit_status")));
    CHECK_INT(json_integer_value(json_object_get(res.detail, "signal")), 9);
    action_result_clear(&res);

    /* A program that is not there. */
    apply("{\"argv\": [\"homeostat-no-such-program\"]}", &c, &res, NULL);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_STR(res.error, "exec homeostat-no-such-program: program not found in PATH");
    action_result_clear(&res);
}

TEST(exit_75_is_retried)
{
    struct action_ctx c = ctx();
    struct action_result res;
    apply("{\"argv\": [\"/bin/sh\", \"-c\", \"echo busy >&2; exit 75\"], \"retries\": 2, "
          "\"backoff\": \"10ms\"}",
          &c, &res, NULL);
    CHECK_INT(res.status, ACT_RETRY);
    CHECK_INT(res.attempts, 3);
    CHECK_STR(res.error, "exec /bin/sh: exit 75 (temporary failure): busy");
    action_result_clear(&res);

    /* The second attempt succeeds: a file left by the first tells it apart. */
    char *dir = test_tmpdir();
    CHECK(dir);
    char params[1024];
    snprintf(params, sizeof(params),
             "{\"argv\": [\"/bin/sh\", \"-c\", \"if [ -e %s/once ]; then exit 0; fi; touch "
             "%s/once; exit 75\"], \"retries\": 3, \"backoff\": \"10ms\"}",
             dir, dir);
    apply(params, &c, &res, NULL);
    CHECK_INT(res.status, ACT_OK);
    CHECK_INT(res.attempts, 2);
    action_result_clear(&res);
    char path[512];
    snprintf(path, sizeof(path), "%s/once", dir);
    unlink(path);
    rmdir(dir);
}

TEST(timeout_kills_and_retries)
{
    struct action_ctx c = ctx();
    struct action_result res;
    apply("{\"argv\": [\"/bin/sh\", \"-c\", \"/bin/sleep 100 & /bin/sleep 100\"], \"timeout\": "
          "\"200ms\", \"retries\": 0}",
          &c, &res, NULL);
    CHECK_INT(res.status, ACT_RETRY);
    CHECK_INT(res.attempts, 1);
    CHECK(json_is_true(json_object_get(res.detail, "timed_out")));
    CHECK_CONTAINS(res.error, "exec /bin/sh: timed out after 0.");
    CHECK_CONTAINS(res.error, "(process group killed)");
    action_result_clear(&res);
}

TEST(placeholders_are_expanded)
{
    struct action_ctx c = ctx();
    json_t *args = parse("{\"limit\": 5}");
    c.args = args;
    struct action_result res;
    json_t *expanded = NULL;
    apply("{\"argv\": [\"/bin/sh\", \"-c\", \"echo \\\"$1 $2 $3 $MODE\\\"\", \"sh\", "
          "\"{{state}}\", \"from {{from}}\", \"{{limit}}\"], \"env\": {\"MODE\": \"m-{{state}}\"}}",
          &c, &res, &expanded);
    CHECK_INT(res.status, ACT_OK);
    CHECK_STR(dstr(&res, "stdout"), "critical from optimal 5 m-critical\n");
    /* {{limit}} alone keeps its type: a number in the expanded params, "5" on the line. */
    CHECK(json_is_integer(json_array_get(json_object_get(expanded, "argv"), 6)));
    json_decref(expanded);
    action_result_clear(&res);
    json_decref(args);
}

TEST(revert_runs_the_revert_argv)
{
    struct action_ctx c = ctx();
    struct action_result res;
    json_t *expanded = NULL;
    apply("{\"argv\": [\"/bin/echo\", \"apply\"], \"revert\": [\"/bin/echo\", \"revert\", "
          "\"{{state}}\"]}",
          &c, &res, &expanded);
    CHECK_INT(res.status, ACT_OK);
    CHECK_STR(dstr(&res, "stdout"), "apply\n");
    CHECK(res.undo != NULL);
    json_t *want = parse("{\"argv\": [\"/bin/echo\", \"revert\", \"critical\"]}");
    CHECK(json_equal(res.undo, want));
    json_decref(want);

    json_t *undo = json_incref(res.undo);
    action_result_clear(&res);
    actuator_revert(ACTION_EXEC, expanded, undo, &c, &res);
    CHECK_INT(res.status, ACT_OK);
    CHECK_STR(dstr(&res, "stdout"), "revert critical\n");
    CHECK(res.undo == NULL);
    action_result_clear(&res);

    /* A broken undo fails clearly. */
    json_t *bad = parse("{\"argv\": \"rm\"}");
    actuator_revert(ACTION_EXEC, expanded, bad, &c, &res);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_CONTAINS(res.error, "exec revert: undo.argv must be a non-empty list");
    action_result_clear(&res);
    json_decref(bad);
    json_decref(undo);
    json_decref(expanded);

    /* No revert: no undo; a failed apply leaves none either. */
    apply("{\"argv\": [\"/bin/true\"]}", &c, &res, NULL);
    CHECK(res.undo == NULL);
    action_result_clear(&res);
    apply("{\"argv\": [\"/bin/false\"], \"revert\": [\"/bin/true\"]}", &c, &res, NULL);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK(res.undo == NULL);
    action_result_clear(&res);
}

TEST(server_dry_run_runs_nothing)
{
    char *dir = test_tmpdir();
    CHECK(dir);
    char path[512], params[1024];
    snprintf(path, sizeof(path), "%s/touched", dir);
    snprintf(params, sizeof(params),
             "{\"argv\": [\"/usr/bin/touch\", \"%s\"], \"revert\": [\"/bin/true\"]}", path);
    struct action_ctx c = ctx();
    c.server_dry_run = true;
    struct action_result res;
    apply(params, &c, &res, NULL);
    CHECK_INT(res.status, ACT_OK);
    CHECK_STR(dstr(&res, "skipped"), "dry run");
    CHECK(res.undo == NULL);
    CHECK(access(path, F_OK) != 0);
    action_result_clear(&res);

    /* The same without the dry run does touch it. */
    c.server_dry_run = false;
    apply(params, &c, &res, NULL);
    CHECK_INT(res.status, ACT_OK);
    CHECK(access(path, F_OK) == 0);
    action_result_clear(&res);
    unlink(path);
    rmdir(dir);
}

TEST(environment_is_only_path_lang_and_env)
{
    setenv("HOMEOSTAT_TEST_SECRET", "hunter2", 1);
    struct action_ctx c = ctx();
    struct action_result res;
    apply("{\"argv\": [\"/usr/bin/env\"], \"env\": {\"MODE\": \"fast\"}}", &c, &res, NULL);
    unsetenv("HOMEOSTAT_TEST_SECRET");
    CHECK_INT(res.status, ACT_OK);
    const char *out = dstr(&res, "stdout");
    CHECK(out && !strstr(out, "hunter2"));
    CHECK_CONTAINS(out, "MODE=fast\n");
    CHECK_CONTAINS(out, "LANG=C.UTF-8\n");
    CHECK_CONTAINS(out, "PATH=");
    size_t lines = 0;
    for (const char *p = out; (p = strchr(p, '\n')); p++)
        lines++;
    CHECK_INT(lines, 3);
    action_result_clear(&res);
}

TEST_MAIN(TEST_ENTRY(validate_errors_name_the_key), TEST_ENTRY(apply_ok_with_detail),
          TEST_ENTRY(failure_message_has_the_first_stderr_line), TEST_ENTRY(exit_75_is_retried),
          TEST_ENTRY(timeout_kills_and_retries), TEST_ENTRY(placeholders_are_expanded),
          TEST_ENTRY(revert_runs_the_revert_argv), TEST_ENTRY(server_dry_run_runs_nothing),
          TEST_ENTRY(environment_is_only_path_lang_and_env))
