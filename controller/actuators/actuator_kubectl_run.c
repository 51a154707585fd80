/* actuator_kubectl_run: running kubectl for the "kubectl" action kind (see
 * actuator_kubectl.c): through subproc, argv only, a clean environment, the process group
 * killed at the deadline, the output in the detail; scale guarded by --current-replicas,
 * patch, annotate, rollout restart, and their reverts. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "subproc.h"

#include "actuator_kubectl.h"

/* KUBERNETES_SERVICE_HOST and _PORT are how kubectl in a pod finds the API server
 * (in-cluster config, with the service account's token and CA from their files). */
static const char *const kube_keep_env[] = {"KUBECONFIG", "HOME", "KUBERNETES_SERVICE_HOST",
                                            "KUBERNETES_SERVICE_PORT", NULL};

/* ---- running kubectl ---- */

/* Whether kubectl's error output says the failure may pass: an answer of the API server
 * with a 5xx or 429 reason, or no answer at all (refused, reset, timed out). Other
 * answers (NotFound, Forbidden, Invalid, Conflict) are permanent. */
static bool transient_error(const char *err)
{
    static const char *const server_reasons[] = {
        "Error from server (ServiceUnavailable)",    "Error from server (InternalError)",
        "Error from server (TooManyRequests)",       "Error from server (Timeout)",
        "Error from server (ServerTimeout)",         "the server is currently unable",
        "the server has received too many requests",
    };
    static const char *const no_answer[] = {
        "Unable to connect",
        "unable to connect",
        "connection refused",
        "connection reset",
        "no route to host",
        "i/o timeout",
        "Timeout exceeded",
        "handshake timeout",
        "deadline exceeded",
        "timed out",
        "unexpected EOF",
        "server sent GOAWAY",
        "the server was unable to return a response",
    };
    if (!err)
        return false;
    for (size_t i = 0; i < sizeof(server_reasons) / sizeof(server_reasons[0]); i++)
        if (strstr(err, server_reasons[i]))
            return true;
    if (strstr(err, "Error from server"))
        return false;
    for (size_t i = 0; i < sizeof(no_answer) / sizeof(no_answer[0]); i++)
        if (strstr(err, no_answer[i]))
            return true;
    return false;
}

/* A klog line ("E1121 10:16:21.998311   29741 memcache.go:265] ..."): client-go's log,
 * noise before kubectl's own one-line error. */
static bool klog_line(const char *s)
{
    return (s[0] == 'E' || s[0] == 'W' || s[0] == 'I' || s[0] == 'F') &&
           strspn(s + 1, "0123456789") == 4 && s[5] == ' ';
}

/* The line of kubectl's output that says what went wrong: the first that is not klog's,
 * else the first. */
static const char *error_line(const char *text, char *out, size_t size)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (*p != '\n' && !klog_line(p))
            return subproc_first_line(p, out, size);
    }
    return subproc_first_line(text, out, size);
}

struct kube {
    const json_t *params;
    const struct action_ctx *ctx;
    uint64_t timeout_usec;
    struct action_result *res;
    json_t *commands; /* detail.commands, borrowed from res->detail */
    const char *verb_key;
    enum kube_verb verb;
    char resource[300]; /* "deployment/app" */
};

struct kube_call {
    struct subproc_result sr;
    int r;          /* subproc_run's return */
    char what[340]; /* "kubectl scale deployment/app", for errors */
    char line[256]; /* the first line of stderr (or stdout) */
};

/* Runs kubectl with the common flags and args (NULL-terminated); --dry-run=server is
 * added to a mutating command in a dry run. Records the command in detail.commands. The
 * caller frees call->sr. */
static void kube_run(struct kube *k, const char *const *args, bool mutating, struct kube_call *call)
{
    const char *argv[KUBE_MAX_ARGS + 8];
    char kubeconfig[PATH_MAX + 16], context[300], ns[80], request_timeout[48];
    size_t n = 0;
    const struct actuator_env *env = k->ctx->env;
    argv[n++] = env && env->kubectl_path ? env->kubectl_path : "kubectl";
    const char *s;
    if ((s = json_string_value(json_object_get(k->params, "kubeconfig")))) {
        snprintf(kubeconfig, sizeof(kubeconfig), "--kubeconfig=%s", s);
        argv[n++] = kubeconfig;
    }
    if ((s = json_string_value(json_object_get(k->params, "context")))) {
        snprintf(context, sizeof(context), "--context=%s", s);
        argv[n++] = context;
    }
    if ((s = json_string_value(json_object_get(k->params, "namespace")))) {
        snprintf(ns, sizeof(ns), "--namespace=%s", s);
        argv[n++] = ns;
    }
    uint64_t secs = (k->timeout_usec + 999999) / 1000000;
    snprintf(request_timeout, sizeof(request_timeout), "--request-timeout=%llus",
             (unsigned long long)(secs ? secs : 1));
    argv[n++] = request_timeout;
    for (size_t i = 0; args[i] && n < KUBE_MAX_ARGS + 6; i++)
        argv[n++] = args[i];
    if (mutating && k->ctx->server_dry_run)
        argv[n++] = "--dry-run=server";
    argv[n] = NULL;

    snprintf(call->what, sizeof(call->what), "kubectl %s %s",
             strcmp(args[0], "rollout") == 0 ? "rollout restart" : args[0], k->resource);
    struct subproc_opts opts = {
        .argv = argv,
        .keep_env = kube_keep_env,
        .timeout_usec = k->timeout_usec + 1000000,
        .output_cap = SUBPROC_DEFAULT_OUTPUT_CAP,
    };
    call->r = subproc_run(&opts, &call->sr);
    error_line(call->sr.err.data, call->line, sizeof(call->line));
    if (!call->line[0] && call->sr.exit_status != 0)
        subproc_first_line(call->sr.out.data, call->line, sizeof(call->line));

    json_t *jargv = json_array();
    for (size_t i = 0; jargv && argv[i]; i++)
        json_array_append_new(jargv, subproc_text_json(argv[i], strlen(argv[i])));
    json_t *rec;
    if (call->r < 0) {
        char ebuf[128];
        rec = json_pack("{s:o, s:s}", "argv", jargv, "error",
                        call->r == -ENOENT ? "program not found"
                                           : strerror_r(-call->r, ebuf, sizeof(ebuf)));
    } else {
        const struct subproc_result *sr = &call->sr;
        rec = json_pack("{s:o, s:o, s:b, s:o, s:o, s:f}", "argv", jargv, "exit_status",
                        sr->term_signal ? json_null() : json_integer(sr->exit_status), "timed_out",
                        (int)sr->timed_out, "stdout", subproc_text_json(sr->out.data, sr->out.len),
                        "stderr", subproc_text_json(sr->err.data, sr->err.len), "duration_seconds",
                        (double)sr->duration_usec / 1e6);
    }
    if (rec)
        json_array_append_new(k->commands, rec);
}

/* Sets res from a failed or timed-out call (status RETRY or FAIL); false when the call
 * succeeded (nothing set). */
static bool kube_failed(struct kube *k, struct kube_call *call)
{
    struct action_result *res = k->res;
    if (call->r == -ENOENT) {
        const struct actuator_env *env = k->ctx->env;
        action_fail(res, ACT_FAIL, "kubectl: program '%s' not found",
                    env && env->kubectl_path ? env->kubectl_path : "kubectl");
        return true;
    }
    if (call->r < 0) {
        char ebuf[128];
        action_fail(res, ACT_FAIL, "kubectl: cannot start: %s",
                    strerror_r(-call->r, ebuf, sizeof(ebuf)));
        return true;
    }
    const struct subproc_result *sr = &call->sr;
    char how[96];
    subproc_describe(sr, how, sizeof(how));
    if (sr->timed_out) {
        action_fail(res, ACT_RETRY, "%s: %s", call->what, how);
        return true;
    }
    if (sr->exit_status == 0 && !sr->term_signal)
        return false;
    action_fail(res, transient_error(sr->err.data) ? ACT_RETRY : ACT_FAIL, "%s: %s%s%s", call->what,
                how, call->line[0] ? ": " : "", call->line);
    return true;
}

/* Starts the detail and the resource name; false (res set) when params are unusable. */
static bool kube_init(struct kube *k, const json_t *params, const struct action_ctx *ctx,
                      uint64_t timeout_usec, struct action_result *res)
{
    memset(k, 0, sizeof(*k));
    k->params = params;
    k->ctx = ctx;
    k->timeout_usec = timeout_usec;
    k->res = res;
    const char *bad_key = NULL;
    char msg[400];
    if (kubectl_find_verb(params, &k->verb_key, &k->verb, &bad_key, msg, sizeof(msg)) < 0 ||
        !json_is_string(json_object_get(params, k->verb_key)) ||
        kubectl_parse_resource(json_string_value(json_object_get(params, k->verb_key)), k->verb,
                               k->resource, sizeof(k->resource), msg, sizeof(msg)) < 0) {
        action_fail(res, ACT_FAIL, "kubectl %s: %s", k->verb_key ? k->verb_key : "", msg);
        return false;
    }
    const char *ns = json_string_value(json_object_get(params, "namespace"));
    if (ns && !kubectl_dns_label_ok(ns, strlen(ns), 63)) {
        action_fail(res, ACT_FAIL, "kubectl %s: namespace '%.64s' is not a DNS-1123 label",
                    k->verb_key, ns);
        return false;
    }
    k->commands = json_array();
    res->detail = json_pack("{s:s, s:s, s:b, s:o}", "verb", k->verb_key, "resource", k->resource,
                            "dry_run", (int)ctx->server_dry_run, "commands", k->commands);
    if (res->detail && ns)
        json_object_set_new(res->detail, "namespace", json_string(ns));
    if (!res->detail) {
        action_fail(res, ACT_FAIL, "kubectl: out of memory");
        return false;
    }
    return true;
}

/* ---- scale ---- */

/* Runs scale with --replicas=to --current-replicas=expected. */
static void kube_scale(struct kube *k, long long to, long long expected, struct kube_call *call)
{
    char rep[48], cur[48];
    snprintf(rep, sizeof(rep), "--replicas=%lld", to);
    snprintf(cur, sizeof(cur), "--current-replicas=%lld", expected);
    const char *args[] = {"scale", k->resource, rep, cur, NULL};
    kube_run(k, args, true, call);
}

/* "Expected replicas to be 5, was 7": kubectl's --current-replicas precondition failed;
 * *ret_actual is the count found (-1 when not in the message). */
static bool precondition_failed(const char *err, long long *ret_actual)
{
    const char *p = err ? strstr(err, "Expected replicas to be") : NULL;
    *ret_actual = -1;
    if (!p)
        return false;
    const char *was = strstr(p, ", was ");
    if (was)
        *ret_actual = strtoll(was + 6, NULL, 10);
    return true;
}

static bool conflict(const char *err)
{
    return err && (strstr(err, "Conflict") || strstr(err, "the object has been modified"));
}

static void apply_scale(struct kube *k)
{
    struct action_result *res = k->res;
    long long want, lo = 0, hi = KUBE_MAX_REPLICAS;
    bool rel;
    if (kubectl_parse_replicas(json_object_get(k->params, "replicas"), &want, &rel) < 0) {
        action_fail(res, ACT_FAIL, "kubectl scale %s: replicas is not a number or +N/-N",
                    k->resource);
        return;
    }
    const json_t *mn = json_object_get(k->params, "min"), *mx = json_object_get(k->params, "max");
    if ((mn && !json_is_integer(mn)) || (mx && !json_is_integer(mx))) {
        action_fail(res, ACT_FAIL, "kubectl scale %s: min and max must be whole numbers",
                    k->resource);
        return;
    }
    if (mn)
        lo = json_integer_value(mn);
    if (mx)
        hi = json_integer_value(mx);

    struct kube_call get;
    const char *args[] = {"get", k->resource, "--output=jsonpath={.spec.replicas}", NULL};
    kube_run(k, args, false, &get);
    if (kube_failed(k, &get)) {
        subproc_result_free(&get.sr);
        return;
    }
    char digits[32];
    subproc_first_line(get.sr.out.data, digits, sizeof(digits));
    subproc_result_free(&get.sr);
    size_t dlen = strlen(digits);
    if (dlen == 0 || dlen > 9 || strspn(digits, "0123456789") != dlen) {
        action_fail(res, ACT_FAIL, "kubectl get %s: cannot read the current replicas (got '%.40s')",
                    k->resource, digits);
        return;
    }
    long long current = strtoll(digits, NULL, 10);
    long long target = rel ? current + want : want;
    if (target > hi)
        target = hi;
    if (target < lo)
        target = lo;
    if (target < 0)
        target = 0;
    json_object_set_new(res->detail, "current_replicas", json_integer(current));
    json_object_set_new(res->detail, "target_replicas", json_integer(target));
    if (target == current) {
        json_object_set_new(res->detail, "unchanged", json_true());
        res->status = ACT_OK;
        return;
    }
    json_object_set_new(res->detail, "unchanged", json_false());

    struct kube_call call;
    kube_scale(k, target, current, &call);
    long long actual;
    if (kube_failed(k, &call)) {
        if (precondition_failed(call.sr.err.data, &actual) || conflict(call.sr.err.data))
            action_fail(res, ACT_RETRY,
                        "kubectl scale %s: the replicas changed between reading them (%lld) "
                        "and scaling; not scaled: %s",
                        k->resource, current, call.line);
    } else {
        res->status = ACT_OK;
        if (!k->ctx->server_dry_run)
            res->undo = json_pack("{s:I, s:I}", "replicas", (json_int_t)current, "expected",
                                  (json_int_t)target);
    }
    subproc_result_free(&call.sr);
}

static void revert_scale(struct kube *k, const json_t *undo)
{
    struct action_result *res = k->res;
    const json_t *r = json_object_get(undo, "replicas"), *e = json_object_get(undo, "expected");
    if (!json_is_integer(r) || !json_is_integer(e) || json_integer_value(r) < 0 ||
        json_integer_value(e) < 0) {
        action_fail(res, ACT_FAIL,
                    "kubectl scale %s: revert needs undo {replicas, expected} as numbers",
                    k->resource);
        return;
    }
    long long to = json_integer_value(r), expected = json_integer_value(e);
    json_object_set_new(res->detail, "current_replicas", json_integer(expected));
    json_object_set_new(res->detail, "target_replicas", json_integer(to));
    struct kube_call call;
    kube_scale(k, to, expected, &call);
    long long actual;
    if (!kube_failed(k, &call)) {
        res->status = ACT_OK;
    } else if (precondition_failed(call.sr.err.data, &actual)) {
        if (actual == to) {
            /* Someone already put it back: nothing left to undo. */
            res->status = ACT_OK;
            res->error[0] = '\0';
            json_object_set_new(res->detail, "unchanged", json_true());
        } else {
            char found[48] = "";
            if (actual >= 0)
                snprintf(found, sizeof(found), " (now %lld)", actual);
            action_fail(res, ACT_FAIL,
                        "kubectl scale %s: not reverted: the replicas are no longer the %lld "
                        "this action set%s, someone else changed them; left alone",
                        k->resource, expected, found);
        }
    }
    subproc_result_free(&call.sr);
}

/* ---- patch, annotate, rollout restart ---- */

static void run_patch(struct kube *k, const json_t *patch)
{
    char *text = json_dumps(patch, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        action_fail(k->res, ACT_FAIL, "kubectl patch %s: out of memory", k->resource);
        return;
    }
    const char *args[] = {"patch", k->resource, "--type=merge", "-p", text, NULL};
    struct kube_call call;
    kube_run(k, args, true, &call);
    if (!kube_failed(k, &call))
        k->res->status = ACT_OK;
    subproc_result_free(&call.sr);
    free(text);
}

/* s cut to at most max bytes, not in the middle of a UTF-8 character; new string. */
static char *cut_utf8(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
    }
    return strndup(s, len);
}

static char *kv(const char *key, const char *value)
{
    size_t len = strlen(key) + 1 + strlen(value) + 1;
    char *s = malloc(len);
    if (s)
        snprintf(s, len, "%s=%s", key, value);
    return s;
}

static void apply_annotate(struct kube *k)
{
    const struct action_ctx *ctx = k->ctx;
    const json_t *given = json_object_get(k->params, "annotations");
    char *owned[KUBE_MAX_ANNOTATIONS + 3] = {NULL};
    const char *args[KUBE_MAX_ANNOTATIONS + 8];
    size_t n = 0, o = 0;
    args[n++] = "annotate";
    args[n++] = "--overwrite";
    args[n++] = k->resource;
    char *reasoning = cut_utf8(ctx->reasoning ? ctx->reasoning : "", KUBE_MAX_REASONING_BYTES);
    json_t *written = json_object();
    owned[o++] = kv("homeostat.io/decision-id", ctx->decision_id ? ctx->decision_id : "");
    owned[o++] = kv("homeostat.io/state", ctx->state ? ctx->state : "");
    owned[o++] = kv("homeostat.io/reasoning", reasoning ? reasoning : "");
    json_object_set_new(written, "homeostat.io/decision-id",
                        json_string(ctx->decision_id ? ctx->decision_id : ""));
    json_object_set_new(written, "homeostat.io/state", json_string(ctx->state ? ctx->state : ""));
    json_object_set_new(
        written, "homeostat.io/reasoning",
        subproc_text_json(reasoning ? reasoning : "", reasoning ? strlen(reasoning) : 0));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)given, key, v)
    {
        if (o >= KUBE_MAX_ANNOTATIONS + 3)
            break;
        owned[o++] = kv(key, json_string_value(v) ? json_string_value(v) : "");
        json_object_set(written, key, v);
    }
    bool oom = !reasoning;
    for (size_t i = 0; i < o; i++) {
        oom |= !owned[i];
        args[n++] = owned[i];
    }
    args[n] = NULL;
    json_object_set_new(k->res->detail, "annotations", written);
    if (oom) {
        action_fail(k->res, ACT_FAIL, "kubectl annotate %s: out of memory", k->resource);
    } else {
        struct kube_call call;
        kube_run(k, args, true, &call);
        if (!kube_failed(k, &call))
            k->res->status = ACT_OK;
        subproc_result_free(&call.sr);
    }
    for (size_t i = 0; i < o; i++)
        free(owned[i]);
    free(reasoning);
}

static void apply_restart(struct kube *k)
{
    struct kube_call call;
    if (!k->ctx->server_dry_run) {
        const char *args[] = {"rollout", "restart", k->resource, NULL};
        kube_run(k, args, true, &call);
    } else {
        /* kubectl rollout restart has no --dry-run: send the patch it would send, the pod
         * template's restartedAt annotation, as a strategic merge patch. */
        char now[32], patch[160];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(patch, sizeof(patch),
                 "{\"spec\":{\"template\":{\"metadata\":{\"annotations\":{"
                 "\"kubectl.kubernetes.io/restartedAt\":\"%s\"}}}}}",
                 now);
        const char *args[] = {"patch", k->resource, "--type=strategic", "-p", patch, NULL};
        kube_run(k, args, true, &call);
        snprintf(call.what, sizeof(call.what), "kubectl rollout restart %s", k->resource);
    }
    if (!kube_failed(k, &call))
        k->res->status = ACT_OK;
    subproc_result_free(&call.sr);
}

/* ---- the actuator ---- */

static void apply_kubectl(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                          struct action_result *res)
{
    struct kube k;
    if (!kube_init(&k, params, ctx, timeout_usec, res))
        return;
    switch (k.verb) {
    case VERB_SCALE: apply_scale(&k); break;
    case VERB_PATCH: {
        run_patch(&k, json_object_get(params, "merge_patch"));
        const json_t *rp = json_object_get(params, "revert_patch");
        if (res->status == ACT_OK && rp && !ctx->server_dry_run)
            res->undo = json_pack("{s:O}", "merge_patch", rp);
        break;
    }
    case VERB_ANNOTATE: apply_annotate(&k); break;
    case VERB_RESTART: apply_restart(&k); break;
    }
}

static void revert_kubectl(const json_t *params, const json_t *undo, const struct action_ctx *ctx,
                           uint64_t timeout_usec, struct action_result *res)
{
    struct kube k;
    if (!kube_init(&k, params, ctx, timeout_usec, res))
        return;
    json_object_set_new(res->detail, "revert", json_true());
    if (k.verb == VERB_SCALE) {
        revert_scale(&k, undo);
    } else if (k.verb == VERB_PATCH) {
        const json_t *p = json_object_get(undo, "merge_patch");
        if (!json_is_object(p))
            action_fail(res, ACT_FAIL, "kubectl patch %s: revert needs undo {merge_patch}",
                        k.resource);
        else
            run_patch(&k, p);
    } else {
        res->status = ACT_OK; /* annotate and rollout_restart leave nothing to undo */
    }
}

/* A regulator's read back: scale with replicas "{{output}}": the current replicas. */
static int read_kubectl(const json_t *raw, const json_t *params, const struct action_ctx *ctx,
                        uint64_t timeout_usec, double *ret_now, double *ret_asked,
                        struct action_result *res)
{
    const char *rep = json_string_value(json_object_get(raw, "replicas"));
    if (!json_object_get(raw, "scale") || !rep || strcmp(rep, "{{output}}") != 0)
        return -EOPNOTSUPP;
    struct kube k;
    long long want;
    bool rel;
    if (!kube_init(&k, params, ctx, timeout_usec, res))
        return -EIO;
    if (kubectl_parse_replicas(json_object_get(params, "replicas"), &want, &rel) < 0 || rel) {
        action_fail(res, ACT_FAIL, "kubectl scale %s: replicas is not a number", k.resource);
        return -EIO;
    }
    struct kube_call get;
    const char *args[] = {"get", k.resource, "--output=jsonpath={.spec.replicas}", NULL};
    kube_run(&k, args, false, &get);
    if (kube_failed(&k, &get)) {
        subproc_result_free(&get.sr);
        return -EIO;
    }
    char digits[32];
    subproc_first_line(get.sr.out.data, digits, sizeof(digits));
    subproc_result_free(&get.sr);
    size_t dlen = strlen(digits);
    if (dlen == 0 || dlen > 9 || strspn(digits, "0123456789") != dlen) {
        action_fail(res, ACT_FAIL, "kubectl get %s: cannot read the current replicas (got '%.40s')",
                    k.resource, digits);
        return -EIO;
    }
    *ret_now = (double)strtoll(digits, NULL, 10);
    *ret_asked = (double)want;
    return 0;
}

const struct actuator actuator_kubectl = {
    .kind = ACTION_KUBECTL,
    .name = "kubectl",
    .load = kubectl_load,
    .validate = kubectl_validate,
    .apply = apply_kubectl,
    .revert = revert_kubectl,
    .read = read_kubectl,
    .default_timeout_usec = 15000000,
    .default_retries = 1,
};
