/* actuator_kubectl: the "kubectl" action kind (see actuator.h): its names and resource
 * types and the validation of an action. One verb per action: scale (absolute or
 * relative, within bounds), patch (a JSON merge patch, with an optional revert patch),
 * annotate (the decision's id, state and reasoning plus given annotations) and
 * rollout_restart. Running kubectl is actuator_kubectl_run.c. */
#include "actuator.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "subproc.h"
#include "actuator_kubectl.h"
#include "rules_loader.h"

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

/* ---- names ---- */

static bool is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most max characters. */
bool kubectl_dns_label_ok(const char *s, size_t len, size_t max)
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
            if (!kubectl_dns_label_ok(s + start, i - start, 63))
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
int kubectl_parse_resource(const char *value, enum kube_verb verb, char *resource,
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
int kubectl_parse_replicas(const json_t *v, long long *ret_value, bool *ret_relative)
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
int kubectl_find_verb(const json_t *params, const char **ret_key, enum kube_verb *ret_verb,
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

int kubectl_validate(const json_t *params, const char **bad_key, char *msg, size_t msg_size)
{
    const char *verb_key;
    enum kube_verb verb;
    if (kubectl_find_verb(params, &verb_key, &verb, bad_key, msg, msg_size) < 0)
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
    if (kubectl_parse_resource(json_string_value(res), verb, NULL, 0, msg, msg_size) < 0) {
        *bad_key = verb_key;
        return -EINVAL;
    }

    if ((v = json_object_get(params, "namespace"))) {
        const char *s =
            string_clean(v) ? with_dummies(json_string_value(v), "x", tmp, sizeof(tmp)) : NULL;
        if (!s || !kubectl_dns_label_ok(s, strlen(s), 63))
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
        int pr = kubectl_parse_replicas(probe ? probe : r, &n, &rel);
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

/* ---- the rules loader ---- */

/* The body: a map with exactly one verb key, whose value (TYPE/NAME) the summary shows
 * after the verb ("kubectl scale deployment/web"). */
bool kubectl_load(struct loader *l, struct action_def *a, const struct ytree_node *v,
                  struct buf *sum)
{
    const struct ytree_node *verb = NULL, *x;
    const char *verb_name = NULL, *s;
    bool ok = true;
    if (!loader_action_map(l, a, v))
        return false;
    for (size_t i = 0; i < sizeof(kube_verbs) / sizeof(kube_verbs[0]); i++) {
        const char *key = kube_verbs[i].key;
        if (!(x = ytree_get(v, key)))
            continue;
        if (verb) {
            loader_report(l, loader_key_node(v, key),
                          "kubectl takes one of scale, patch, annotate or rollout_restart, got "
                          "'%s' and '%s'",
                          verb_name, key);
            ok = false;
            continue;
        }
        verb = x;
        verb_name = key;
    }
    if (!verb) {
        loader_report(l, v, "kubectl needs one of scale, patch, annotate or rollout_restart");
        return false;
    }
    if (!loader_get_text(l, verb, verb_name, 256, &s))
        return false;
    buf_printf(sum, " %s %s", strcmp(verb_name, "rollout_restart") ? verb_name : "rollout restart",
               s);
    const char *const primary[] = {verb_name, NULL};
    return ok && loader_action_params(l, a, v, sum, primary);
}
