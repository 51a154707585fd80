/* actuator_kubectl: the "kubectl" action kind (see actuator.h). One verb per action:
 * scale (absolute or relative, within bounds, guarded by --current-replicas so a retry or
 * a race never scales twice), patch (a JSON merge patch, with an optional revert patch),
 * annotate (the decision's id, state and reasoning plus given annotations) and
 * rollout_restart. kubectl runs through subproc: argv only, an environment of PATH, LANG,
 * KUBECONFIG, HOME and the in-cluster KUBERNETES_SERVICE_HOST/PORT, its process group
 * killed at the deadline, output captured into the detail. */
#include "actuator.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "subproc.h"

#define KUBE_MAX_REPLICAS 1000000
#define KUBE_MAX_ANNOTATIONS 64
#define KUBE_MAX_PATCH_BYTES (64u << 10)
#define KUBE_MAX_REASONING_BYTES 1024
#define KUBE_MAX_ANNOTATION_BYTES (256u << 10) /* what the API server accepts in all */
#define KUBE_MAX_ARGS (16 + KUBE_MAX_ANNOTATIONS)

enum kube_verb {
    VERB_SCALE = 1 << 0,
    VERB_PATCH = 1 << 1,
    VERB_ANNOTATE = 1 << 2,
    VERB_RESTART = 1 << 3,
};
#define VERB_ANY (VERB_SCALE | VERB_PATCH | VERB_ANNOTATE | VERB_RESTART)
#define VERB_EDIT (VERB_PATCH | VERB_ANNOTATE)

static const struct {
    const char *key; /* the params key naming the verb and holding TYPE/NAME */
    enum kube_verb verb;
} kube_verbs[] = {
    {"scale", VERB_SCALE},
    {"patch", VERB_PATCH},
    {"annotate", VERB_ANNOTATE},
    {"rollout_restart", VERB_RESTART},
};

/* Resource types, their accepted spellings, and the verbs that take them. */
static const struct kube_type {
    const char *name;
    const char *alias[3];
    unsigned verbs;
} kube_types[] = {
    {"deployment", {"deploy", "deployments", NULL}, VERB_ANY},
    {"statefulset", {"sts", "statefulsets", NULL}, VERB_ANY},
    {"replicaset", {"rs", "replicasets", NULL}, VERB_SCALE | VERB_EDIT},
    {"daemonset", {"ds", "daemonsets", NULL}, VERB_RESTART | VERB_EDIT},
    {"pod", {"po", "pods", NULL}, VERB_EDIT},
    {"service", {"svc", "services", NULL}, VERB_EDIT},
    {"configmap", {"cm", "configmaps", NULL}, VERB_EDIT},
    {"job", {"jobs", NULL, NULL}, VERB_EDIT},
    {"cronjob", {"cj", "cronjobs", NULL}, VERB_EDIT},
    {"horizontalpodautoscaler", {"hpa", "horizontalpodautoscalers", NULL}, VERB_EDIT},
    {"poddisruptionbudget", {"pdb", "poddisruptionbudgets", NULL}, VERB_EDIT},
    {"ingress", {"ing", "ingresses", NULL}, VERB_EDIT},
    {"persistentvolumeclaim", {"pvc", "persistentvolumeclaims", NULL}, VERB_EDIT},
    {"namespace", {"ns", "namespaces", NULL}, VERB_EDIT},
    {"node", {"no", "nodes", NULL}, VERB_EDIT},
};

/* KUBERNETES_SERVICE_HOST and _PORT are how kubectl in a pod finds the API server
 * (in-cluster config, with the service account's token and CA from their files). */
static const char *const kube_keep_env[] = {"KUBECONFIG", "HOME", "KUBERNETES_SERVICE_HOST",
                                            "KUBERNETES_SERVICE_PORT", NULL};

/* ---- names ---- */

static bool is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most max characters. */
static bool dns_label_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max || !is_alnum_lower(s[0]) || !is_alnum_lower(s[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return false;
    return true;
}

/* A DNS-1123 subdomain: dot-separated labels, at most 253 characters. */
static bool dns_subdomain_ok(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (!dns_label_ok(s + start, i - start, 63))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* A Kubernetes annotation key: [prefix/]name, prefix a DNS-1123 subdomain, name at most
 * 63 characters of [A-Za-z0-9._-] starting and ending alphanumeric. */
static bool annotation_key_ok(const char *k)
{
    const char *slash = strchr(k, '/');
    const char *name = k;
    if (slash) {
        if (!dns_subdomain_ok(k, (size_t)(slash - k)))
            return false;
        name = slash + 1;
    }
    size_t len = strlen(name);
    if (len == 0 || len > 63)
        return false;
#define ALNUM(c)                                                                                   \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9'))
    if (!ALNUM(name[0]) || !ALNUM(name[len - 1]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!ALNUM(name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.')
            return false;
#undef ALNUM
    return true;
}

/* s with every {{...}} replaced by dummy, into out, for checking the shape of a value
 * whose placeholders are expanded later (and checked again then). */
static const char *with_dummies(const char *s, const char *dummy, char *out, size_t size)
{
    if (!strstr(s, "{{"))
        return s;
    size_t n = 0, dlen = strlen(dummy);
    while (*s && n + 1 < size) {
        const char *close;
        if (s[0] == '{' && s[1] == '{' && (close = strstr(s + 2, "}}"))) {
            for (size_t i = 0; i < dlen && n + 1 < size; i++)
                out[n++] = dummy[i];
            s = close + 2;
        } else {
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
    return out;
}

static const struct kube_type *type_find(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(kube_types) / sizeof(kube_types[0]); i++) {
        const struct kube_type *t = &kube_types[i];
        if (strlen(t->name) == len && strncmp(t->name, s, len) == 0)
            return t;
        for (size_t a = 0; a < 3 && t->alias[a]; a++)
            if (strlen(t->alias[a]) == len && strncmp(t->alias[a], s, len) == 0)
                return t;
    }
    return NULL;
}

/* Which verbs take a type, as a phrase. */
static void types_for(enum kube_verb verb, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof(kube_types) / sizeof(kube_types[0]); i++)
        if (kube_types[i].verbs & verb)
            n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s", n ? ", " : "",
                                  kube_types[i].name);
}

/* Parses "TYPE/NAME" for verb into "type/name" with the type's canonical name (into
 * resource). 0, or -EINVAL with msg. */
static int parse_resource(const char *value, enum kube_verb verb, char *resource,
                          size_t resource_size, char *msg, size_t msg_size)
{
    char tmp[512];
    /* Placeholders stand for a name while the rules load; never when running. */
    const char *s = resource ? value : with_dummies(value, "x", tmp, sizeof(tmp));
    const char *slash = strchr(s, '/'), *vslash = strchr(value, '/');
    if (!slash || !vslash || strchr(slash + 1, '/')) {
        snprintf(msg, msg_size, "must be TYPE/NAME, such as deployment/app (got '%.100s')", value);
        return -EINVAL;
    }
    const struct kube_type *t = type_find(s, (size_t)(slash - s));
    bool templated_type = memchr(value, '{', (size_t)(vslash - value)) != NULL;
    /* A type from a placeholder is checked once expanded (resource != NULL: running). */
    if ((!templated_type || resource) && (!t || !(t->verbs & verb))) {
        char list[400];
        types_for(verb, list, sizeof(list));
        snprintf(msg, msg_size, "resource type '%.*s' is not one of %s",
                 (int)(slash - s > 64 ? 64 : slash - s), s, list);
        return -EINVAL;
    }
    const char *name = slash + 1;
    if (!dns_subdomain_ok(name, strlen(name))) {
        snprintf(msg, msg_size,
                 "name '%.100s' is not a valid Kubernetes name (lower-case letters, digits, "
                 "'-' and '.', starting and ending alphanumeric, at most 253 characters)",
                 vslash + 1);
        return -EINVAL;
    }
    if (resource)
        snprintf(resource, resource_size, "%s/%s", t ? t->name : "", name);
    return 0;
}

/* replicas: an integer >= 0, or "N", "+N", "-N". *ret_value and *ret_relative. */
static int parse_replicas(const json_t *v, long long *ret_value, bool *ret_relative)
{
    if (json_is_integer(v)) {
        long long n = json_integer_value(v);
        if (n < 0 || n > KUBE_MAX_REPLICAS)
            return -EINVAL;
        *ret_value = n;
        *ret_relative = false;
        return 0;
    }
    if (!json_is_string(v))
        return -EINVAL;
    const char *s = json_string_value(v);
    bool rel = s[0] == '+' || s[0] == '-';
    const char *d = rel ? s + 1 : s;
    size_t len = strlen(d);
    if (len == 0 || len > 7 || strspn(d, "0123456789") != len)
        return -EINVAL;
    long long n = strtoll(d, NULL, 10);
    if (n > KUBE_MAX_REPLICAS)
        return -EINVAL;
    *ret_value = s[0] == '-' ? -n : n;
    *ret_relative = rel;
    return 0;
}

static bool is_placeholder_string(const json_t *v)
{
    return json_is_string(v) && strstr(json_string_value(v), "{{");
}

/* ---- validation ---- */

static int fail_key(const char **bad_key, const char *key, char *msg, size_t msg_size,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail_key(const char **bad_key, const char *key, char *msg, size_t msg_size,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_size, fmt, ap);
    va_end(ap);
    *bad_key = key;
    return -EINVAL;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

static bool string_clean(const json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* The verb an action names (exactly one of the verb keys). */
static int find_verb(const json_t *params, const char **ret_key, enum kube_verb *ret_verb,
                     const char **bad_key, char *msg, size_t msg_size)
{
    *ret_key = NULL;
    for (size_t i = 0; i < sizeof(kube_verbs) / sizeof(kube_verbs[0]); i++) {
        if (!json_object_get(params, kube_verbs[i].key))
            continue;
        if (*ret_key)
            return fail_key(bad_key, kube_verbs[i].key, msg, msg_size,
                            "one kubectl action does one thing: it has both %s and %s", *ret_key,
                            kube_verbs[i].key);
        *ret_key = kube_verbs[i].key;
        *ret_verb = kube_verbs[i].verb;
    }
    if (!*ret_key)
        return fail_key(bad_key, NULL, msg, msg_size,
                        "kubectl needs one of scale, patch, annotate, rollout_restart "
                        "(TYPE/NAME)");
    return 0;
}

static int check_int_bound(const json_t *v, const char *key, const char **bad_key, char *msg,
                           size_t msg_size)
{
    if (is_placeholder_string(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > KUBE_MAX_REPLICAS)
        return fail_key(bad_key, key, msg, msg_size,
                        "%s must be a whole number of replicas from 0 to %d", key,
                        KUBE_MAX_REPLICAS);
    return 0;
}

static int validate_kubectl(const json_t *params, const char **bad_key, char *msg, size_t msg_size)
{
    const char *verb_key;
    enum kube_verb verb;
    if (find_verb(params, &verb_key, &verb, bad_key, msg, msg_size) < 0)
        return -EINVAL;
    const char *k;
    json_t *v;
    char tmp[512];
    json_object_foreach((json_t *)params, k, v)
    {
        const char *only = NULL; /* the verb a key belongs to */
        if (strcmp(k, "replicas") == 0 || strcmp(k, "min") == 0 || strcmp(k, "max") == 0)
            only = verb == VERB_SCALE ? NULL : "scale";
        else if (strcmp(k, "merge_patch") == 0 || strcmp(k, "revert_patch") == 0)
            only = verb == VERB_PATCH ? NULL : "patch";
        else if (strcmp(k, "annotations") == 0)
            only = verb == VERB_ANNOTATE ? NULL : "annotate";
        else if (strcmp(k, verb_key) != 0 && strcmp(k, "namespace") != 0 &&
                 strcmp(k, "context") != 0 && strcmp(k, "kubeconfig") != 0 &&
                 !actuator_generic_key(k))
            return fail_key(bad_key, k, msg, msg_size,
                            "unknown key for kubectl %s: expected namespace, context, "
                            "kubeconfig, timeout, retries, backoff%s",
                            verb_key,
                            verb == VERB_SCALE      ? ", replicas, min, max"
                            : verb == VERB_PATCH    ? ", merge_patch, revert_patch"
                            : verb == VERB_ANNOTATE ? ", annotations"
                                                    : "");
        if (only)
            return fail_key(bad_key, k, msg, msg_size, "%s goes with %s, not with %s", k, only,
                            verb_key);
    }

    const json_t *res = json_object_get(params, verb_key);
    if (!string_clean(res))
        return fail_key(bad_key, verb_key, msg, msg_size,
                        "%s must be a string TYPE/NAME, such as deployment/app", verb_key);
    if (parse_resource(json_string_value(res), verb, NULL, 0, msg, msg_size) < 0) {
        *bad_key = verb_key;
        return -EINVAL;
    }

    if ((v = json_object_get(params, "namespace"))) {
        const char *s =
            string_clean(v) ? with_dummies(json_string_value(v), "x", tmp, sizeof(tmp)) : NULL;
        if (!s || !dns_label_ok(s, strlen(s), 63))
            return fail_key(bad_key, "namespace", msg, msg_size,
                            "namespace must be a DNS-1123 label: lower-case letters, digits "
                            "and '-', starting and ending alphanumeric, at most 63 characters");
    }
    if ((v = json_object_get(params, "context"))) {
        const char *s = string_clean(v) ? json_string_value(v) : NULL;
        if (!s || !s[0] || strlen(s) > 253 || s[0] == '-' || has_control(s))
            return fail_key(bad_key, "context", msg, msg_size,
                            "context must be a kubeconfig context name: 1 to 253 characters, "
                            "no control characters, not starting with '-'");
    }
    if ((v = json_object_get(params, "kubeconfig"))) {
        const char *s = string_clean(v) ? json_string_value(v) : NULL;
        if (!s || s[0] != '/' || strlen(s) >= PATH_MAX || has_control(s))
            return fail_key(bad_key, "kubeconfig", msg, msg_size,
                            "kubeconfig must be an absolute path to a kubeconfig file");
    }

    if (verb == VERB_SCALE) {
        const json_t *r = json_object_get(params, "replicas");
        long long n;
        bool rel;
        if (!r)
            return fail_key(bad_key, NULL, msg, msg_size,
                            "scale needs replicas: a number, or \"+N\" / \"-N\" to add or "
                            "remove replicas");
        json_t *probe = NULL;
        if (is_placeholder_string(r))
            probe = json_string(with_dummies(json_string_value(r), "1", tmp, sizeof(tmp)));
        int pr = parse_replicas(probe ? probe : r, &n, &rel);
        json_decref(probe);
        if (pr < 0)
            return fail_key(bad_key, "replicas", msg, msg_size,
                            "replicas must be a whole number from 0 to %d, or a string "
                            "\"N\", \"+N\" or \"-N\"",
                            KUBE_MAX_REPLICAS);
        const json_t *mn = json_object_get(params, "min"), *mx = json_object_get(params, "max");
        if ((mn && check_int_bound(mn, "min", bad_key, msg, msg_size) < 0) ||
            (mx && check_int_bound(mx, "max", bad_key, msg, msg_size) < 0))
            return -EINVAL;
        if (json_is_integer(mn) && json_is_integer(mx) &&
            json_integer_value(mn) > json_integer_value(mx))
            return fail_key(bad_key, "min", msg, msg_size, "min (%lld) is above max (%lld)",
                            (long long)json_integer_value(mn), (long long)json_integer_value(mx));
    } else if (verb == VERB_PATCH) {
        const json_t *p = json_object_get(params, "merge_patch");
        if (!p)
            return fail_key(bad_key, NULL, msg, msg_size,
                            "patch needs merge_patch: the JSON merge patch to apply");
        const char *keys[] = {"merge_patch", "revert_patch"};
        for (size_t i = 0; i < 2; i++) {
            p = json_object_get(params, keys[i]);
            if (!p)
                continue;
            if (!json_is_object(p) || json_object_size(p) == 0)
                return fail_key(bad_key, keys[i], msg, msg_size,
                                "%s must be a non-empty map (a JSON merge patch)", keys[i]);
            char *text = json_dumps(p, JSON_COMPACT);
            size_t len = text ? strlen(text) : 0;
            free(text);
            if (len > KUBE_MAX_PATCH_BYTES)
                return fail_key(bad_key, keys[i], msg, msg_size,
                                "%s is %zu bytes as JSON, at most %u are allowed", keys[i], len,
                                KUBE_MAX_PATCH_BYTES);
        }
    } else if (verb == VERB_ANNOTATE) {
        const json_t *a = json_object_get(params, "annotations");
        if (a && !json_is_object(a))
            return fail_key(bad_key, "annotations", msg, msg_size,
                            "annotations must be a map of key: value");
        if (json_object_size(a) > KUBE_MAX_ANNOTATIONS)
            return fail_key(bad_key, "annotations", msg, msg_size,
                            "annotations has %zu keys, at most %d are allowed", json_object_size(a),
                            KUBE_MAX_ANNOTATIONS);
        size_t total = 0;
        json_object_foreach((json_t *)a, k, v)
        {
            total += strlen(k) + json_string_length(v);
            if (!annotation_key_ok(k))
                return fail_key(bad_key, "annotations", msg, msg_size,
                                "annotation key '%.100s' is not valid: [prefix/]name, the "
                                "prefix a DNS subdomain, the name at most 63 characters of "
                                "letters, digits, '-', '_' and '.'",
                                k);
            if (strncmp(k, "homeostat.io/", 13) == 0)
                return fail_key(bad_key, "annotations", msg, msg_size,
                                "annotation key '%.100s': homeostat.io/ keys are written by "
                                "homeostat itself",
                                k);
            if (!string_clean(v) || json_string_length(v) > KUBE_MAX_PATCH_BYTES)
                return fail_key(bad_key, "annotations", msg, msg_size,
                                "annotation %.100s must be a string (no NUL, at most %u bytes)", k,
                                KUBE_MAX_PATCH_BYTES);
        }
        if (total > KUBE_MAX_ANNOTATION_BYTES)
            return fail_key(bad_key, "annotations", msg, msg_size,
                            "annotations total %zu bytes, Kubernetes allows %u", total,
                            KUBE_MAX_ANNOTATION_BYTES);
    }
    return 0;
}

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
    if (find_verb(params, &k->verb_key, &k->verb, &bad_key, msg, sizeof(msg)) < 0 ||
        !json_is_string(json_object_get(params, k->verb_key)) ||
        parse_resource(json_string_value(json_object_get(params, k->verb_key)), k->verb,
                       k->resource, sizeof(k->resource), msg, sizeof(msg)) < 0) {
        action_fail(res, ACT_FAIL, "kubectl %s: %s", k->verb_key ? k->verb_key : "", msg);
        return false;
    }
    const char *ns = json_string_value(json_object_get(params, "namespace"));
    if (ns && !dns_label_ok(ns, strlen(ns), 63)) {
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
    if (parse_replicas(json_object_get(k->params, "replicas"), &want, &rel) < 0) {
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

const struct actuator actuator_kubectl = {
    .kind = ACTION_KUBECTL,
    .validate = validate_kubectl,
    .apply = apply_kubectl,
    .revert = revert_kubectl,
    .default_timeout_usec = 15000000,
    .default_retries = 1,
};
