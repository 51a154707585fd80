/* actuator_exec: the "exec" action kind (see actuator.h). Runs a program from an argv
 * array (never through a shell) with subproc: a clean environment (PATH, LANG and the
 * action's env map), its own process group, a deadline after which the whole group is
 * killed, and capped output. Exit 0 is success, exit 75 (EX_TEMPFAIL) or a timeout is
 * worth a retry, anything else fails. revert runs the optional revert argv. */
#include "actuator.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "subproc.h"
#include "rules_loader.h"

#define EXEC_MAX_ARGS 256
#define EXEC_MAX_ARG_BYTES (32u << 10)
#define EXEC_MAX_ENV 32
#define EXEC_EX_TEMPFAIL 75

/* ---- validation ---- */

static bool env_name_ok(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* An argv item or env value: a string without NUL bytes, or a number or boolean (what a
 * placeholder such as {{limit}} expands to), written out as text when run. */
static bool scalar_ok(const json_t *v)
{
    if (json_is_string(v))
        return strlen(json_string_value(v)) == json_string_length(v) &&
               json_string_length(v) <= EXEC_MAX_ARG_BYTES;
    return json_is_number(v) || json_is_boolean(v);
}

static int check_argv(const json_t *v, const char *key, char *msg, size_t msg_size)
{
    if (!json_is_array(v) || json_array_size(v) == 0) {
        snprintf(msg, msg_size, "%s must be a non-empty list of strings: [program, args...]", key);
        return -EINVAL;
    }
    if (json_array_size(v) > EXEC_MAX_ARGS) {
        snprintf(msg, msg_size, "%s has %zu items, at most %d are allowed", key, json_array_size(v),
                 EXEC_MAX_ARGS);
        return -EINVAL;
    }
    for (size_t i = 0; i < json_array_size(v); i++) {
        if (!scalar_ok(json_array_get(v, i))) {
            snprintf(msg, msg_size,
                     "%s[%zu] must be a string (at most %u bytes, no NUL) or a number", key, i,
                     EXEC_MAX_ARG_BYTES);
            return -EINVAL;
        }
    }
    const json_t *prog = json_array_get(v, 0);
    const char *p = json_string_value(prog);
    if (!p || !p[0]) {
        snprintf(msg, msg_size, "%s[0] must be the program: an absolute path or a name", key);
        return -EINVAL;
    }
    if (p[0] != '/' && strchr(p, '/') && !strstr(p, "{{")) {
        snprintf(msg, msg_size,
                 "%s[0] '%.200s' is a relative path: give an absolute path, or a bare name "
                 "looked up in PATH",
                 key, p);
        return -EINVAL;
    }
    return 0;
}

static int validate_exec(const json_t *params, const char **bad_key, char *msg, size_t msg_size)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)params, k, v)
    {
        if (strcmp(k, "argv") == 0 || strcmp(k, "revert") == 0 || strcmp(k, "env") == 0 ||
            actuator_generic_key(k))
            continue;
        *bad_key = k;
        snprintf(msg, msg_size,
                 "unknown key for exec: expected argv, revert, env, timeout, retries, backoff");
        return -EINVAL;
    }
    const json_t *argv = json_object_get(params, "argv");
    if (!argv) {
        snprintf(msg, msg_size, "exec needs argv: the program and its arguments, as a list");
        return -EINVAL;
    }
    if (check_argv(argv, "argv", msg, msg_size) < 0) {
        *bad_key = "argv";
        return -EINVAL;
    }
    const json_t *revert = json_object_get(params, "revert");
    if (revert && check_argv(revert, "revert", msg, msg_size) < 0) {
        *bad_key = "revert";
        return -EINVAL;
    }
    const json_t *env = json_object_get(params, "env");
    if (env) {
        *bad_key = "env";
        if (!json_is_object(env)) {
            snprintf(msg, msg_size, "env must be a map of NAME: value");
            return -EINVAL;
        }
        if (json_object_size(env) > EXEC_MAX_ENV) {
            snprintf(msg, msg_size, "env has %zu variables, at most %d are allowed",
                     json_object_size(env), EXEC_MAX_ENV);
            return -EINVAL;
        }
        json_object_foreach((json_t *)env, k, v)
        {
            if (!env_name_ok(k)) {
                snprintf(msg, msg_size,
                         "env name '%.64s' is not valid: use capitals, digits and _ "
                         "([A-Z_][A-Z0-9_]*)",
                         k);
                return -EINVAL;
            }
            if (!scalar_ok(v)) {
                snprintf(msg, msg_size, "env %.64s must be a string (no NUL) or a number", k);
                return -EINVAL;
            }
        }
        *bad_key = NULL;
    }
    return 0;
}

/* ---- running ---- */

/* A scalar as a new string (numbers and booleans written out), NULL on OOM. */
static char *scalar_text(const json_t *v)
{
    char tmp[64];
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v))
        snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(tmp, sizeof(tmp), "%.15g", json_real_value(v));
    else
        snprintf(tmp, sizeof(tmp), "%s", json_is_true(v) ? "true" : "false");
    return strdup(tmp);
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* argv as a NULL-terminated array of new strings, NULL on OOM. */
static char **argv_build(const json_t *argv)
{
    size_t n = json_array_size(argv);
    char **v = calloc(n + 1, sizeof(char *));
    for (size_t i = 0; v && i < n; i++) {
        if (!(v[i] = scalar_text(json_array_get(argv, i)))) {
            strv_free(v);
            return NULL;
        }
    }
    return v;
}

/* env as "NAME=value" entries, NULL-terminated; NULL on OOM. */
static char **env_build(const json_t *env)
{
    char **v = calloc(json_object_size(env) + 1, sizeof(char *));
    size_t i = 0;
    const char *k;
    json_t *item;
    json_object_foreach((json_t *)env, k, item)
    {
        if (!v)
            break;
        char *val = scalar_text(item);
        size_t len = strlen(k) + 1 + (val ? strlen(val) : 0) + 1;
        v[i] = val ? malloc(len) : NULL;
        if (!v[i]) {
            free(val);
            strv_free(v);
            return NULL;
        }
        snprintf(v[i++], len, "%s=%s", k, val);
        free(val);
    }
    return v;
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v[i]; i++)
        json_array_append_new(a, subproc_text_json(v[i], strlen(v[i])));
    return a;
}

/* Runs argv (with params' env) and fills res: status, error, detail. */
static void run_argv(const char *what, const json_t *argv_json, const json_t *params,
                     const struct action_ctx *ctx, uint64_t timeout_usec, struct action_result *res)
{
    char **argv = argv_build(argv_json);
    const json_t *env_json = json_object_get(params, "env");
    char **env = env_json ? env_build(env_json) : NULL;
    if (!argv || (env_json && !env)) {
        action_fail(res, ACT_FAIL, "%s: out of memory", what);
        goto out;
    }
    if (ctx->server_dry_run) {
        res->detail = json_pack("{s:s, s:o}", "skipped", "dry run", "argv", strv_json(argv));
        res->status = ACT_OK;
        goto out;
    }
    struct subproc_opts opts = {
        .argv = (const char *const *)argv,
        .set_env = (const char *const *)env,
        .timeout_usec = timeout_usec,
    };
    struct subproc_result sr;
    int r = subproc_run(&opts, &sr);
    if (r < 0) {
        char ebuf[128];
        if (r == -ENOENT)
            action_fail(res, ACT_FAIL, "%s %s: %s", what, argv[0],
                        strchr(argv[0], '/') ? "no such program" : "program not found in PATH");
        else
            action_fail(res, ACT_FAIL, "%s %s: cannot start: %s", what, argv[0],
                        strerror_r(-r, ebuf, sizeof(ebuf)));
        res->detail = json_pack("{s:o, s:s}", "argv", strv_json(argv), "error", res->error);
        subproc_result_free(&sr);
        goto out;
    }
    res->detail = json_pack(
        "{s:o, s:o, s:o, s:b, s:f, s:o, s:o, s:I, s:I}", "argv", strv_json(argv), "exit_status",
        sr.term_signal ? json_null() : json_integer(sr.exit_status), "signal",
        sr.term_signal ? json_integer(sr.term_signal) : json_null(), "timed_out", (int)sr.timed_out,
        "duration_seconds", (double)sr.duration_usec / 1e6, "stdout",
        subproc_text_json(sr.out.data, sr.out.len), "stderr",
        subproc_text_json(sr.err.data, sr.err.len), "stdout_dropped_bytes",
        (json_int_t)sr.out_dropped, "stderr_dropped_bytes", (json_int_t)sr.err_dropped);
    char how[96], line[200];
    subproc_describe(&sr, how, sizeof(how));
    subproc_first_line(sr.err.data, line, sizeof(line));
    if (!line[0])
        subproc_first_line(sr.out.data, line, sizeof(line));
    if (sr.timed_out)
        action_fail(res, ACT_RETRY, "%s %s: %s", what, argv[0], how);
    else if (sr.exit_status == 0 && !sr.term_signal)
        res->status = ACT_OK;
    else
        action_fail(res, sr.exit_status == EXEC_EX_TEMPFAIL ? ACT_RETRY : ACT_FAIL,
                    "%s %s: %s%s%s%s", what, argv[0], how,
                    sr.exit_status == EXEC_EX_TEMPFAIL ? " (temporary failure)" : "",
                    line[0] ? ": " : "", line);
    subproc_result_free(&sr);
out:
    strv_free(argv);
    strv_free(env);
}

static void apply_exec(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                       struct action_result *res)
{
    run_argv("exec", json_object_get(params, "argv"), params, ctx, timeout_usec, res);
    const json_t *revert = json_object_get(params, "revert");
    if (res->status == ACT_OK && revert && !ctx->server_dry_run)
        res->undo = json_pack("{s:O}", "argv", revert);
}

static void revert_exec(const json_t *params, const json_t *undo, const struct action_ctx *ctx,
                        uint64_t timeout_usec, struct action_result *res)
{
    const json_t *argv = json_object_get(undo, "argv");
    char msg[256];
    if (check_argv(argv, "undo.argv", msg, sizeof(msg)) < 0) {
        action_fail(res, ACT_FAIL, "exec revert: %s", msg);
        return;
    }
    run_argv("exec revert", argv, params, ctx, timeout_usec, res);
}

/* The body: a sequence (argv) or a map with argv; params get argv as strings, and the
 * summary the arguments. */
static bool load_exec(struct loader *l, struct action_def *a, const struct ytree_node *v,
                      struct buf *sum)
{
    const struct ytree_node *argv = v;
    if (ytree_kind(v) == YTREE_MAP) {
        argv = ytree_get(v, "argv");
        if (!argv) {
            loader_report(l, v, "exec needs argv: a sequence such as [/usr/bin/foo, --bar]");
            return false;
        }
    } else if (ytree_kind(v) != YTREE_SEQ) {
        loader_report(l, v, "exec needs argv: a sequence such as [/usr/bin/foo, --bar], got %s",
                      ytree_describe(v));
        return false;
    }
    if (!loader_get_seq(l, argv))
        return false;
    if (ytree_len(argv) == 0) {
        loader_report(l, argv, "exec argv is empty");
        return false;
    }
    json_t *arr = json_array();
    if (!arr) {
        l->oom = true;
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < ytree_len(argv); i++) {
        const struct ytree_node *item = ytree_item(argv, i);
        const char *s;
        if (ytree_kind(item) != YTREE_SCALAR) {
            loader_report(l, item, "exec argv items must be strings, got %s", ytree_describe(item));
            ok = false;
            continue;
        }
        if (!loader_get_string(l, item, &s)) {
            ok = false;
            continue;
        }
        if (i == 0 && !*s) {
            loader_report(l, item, "exec argv[0] is empty");
            ok = false;
            continue;
        }
        if (json_array_append_new(arr, json_string(s)) < 0)
            l->oom = true;
        loader_summary_arg(sum, s);
    }
    if (ok && ytree_kind(v) == YTREE_MAP) {
        a->params = loader_to_json(l, v);
        if (a->params)
            json_object_set(a->params, "argv", arr);
        else
            ok = false;
        static const char *const skip[] = {"argv", NULL};
        if (ok)
            loader_summary_rest(sum, v, a->params, skip);
    } else if (ok) {
        a->params = json_object();
        if (!a->params || json_object_set(a->params, "argv", arr) < 0) {
            l->oom = true;
            ok = false;
        }
    }
    json_decref(arr);
    return ok;
}

const struct actuator actuator_exec = {
    .kind = ACTION_EXEC,
    .name = "exec",
    .load = load_exec,
    .validate = validate_exec,
    .apply = apply_exec,
    .revert = revert_exec,
    .default_timeout_usec = 10000000,
    .default_retries = 0,
};
