/* actuator: what every action kind shares (see actuator.h): the table of kinds, the
 * generic keys, placeholder checking and expansion, and the retry loop. */
#include "actuator.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse.h"
#include "rules_loader.h"

/* The one table of kinds: a new kind is its file and a line here. */
static const struct actuator *const kinds[] = {
    [ACTION_SYSTEMD] = &actuator_systemd, [ACTION_KUBECTL] = &actuator_kubectl,
    [ACTION_WEBHOOK] = &actuator_webhook, [ACTION_EXEC] = &actuator_exec,
    [ACTION_ALERT] = &actuator_alert,
};
#define N_ACTUATORS (sizeof(kinds) / sizeof(kinds[0]))

const struct actuator *actuator_for(enum action_kind kind)
{
    return (size_t)kind < N_ACTUATORS ? kinds[kind] : NULL;
}

static const char *kind_name(enum action_kind kind)
{
    const struct actuator *a = actuator_for(kind);
    return a ? a->name : "unknown";
}

static bool kind_load(enum action_kind kind, struct loader *l, struct action_def *a,
                      const struct ytree_node *v, struct buf *sum)
{
    const struct actuator *k = actuator_for(kind);
    if (k && k->load)
        return k->load(l, a, v, sum);
    return loader_action_map(l, a, v) && loader_action_params(l, a, v, sum, NULL);
}

/* What the rules loader needs of the kinds (engine/rules.h declares it). */
const struct rules_action_kinds rules_action_kinds = {
    .count = N_ACTUATORS,
    .name = kind_name,
    .validate = actuator_validate,
    .load = kind_load,
};

bool actuator_generic_key(const char *key)
{
    return strcmp(key, "timeout") == 0 || strcmp(key, "retries") == 0 ||
           strcmp(key, "backoff") == 0;
}

void action_fail(struct action_result *res, enum act_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->error, sizeof(res->error), fmt, ap);
    va_end(ap);
    res->status = status;
}

void action_result_clear(struct action_result *res)
{
    json_decref(res->detail);
    json_decref(res->undo);
    res->detail = NULL;
    res->undo = NULL;
}

/* A duration key: 0 and *ret, or -EINVAL (absent: def). */
static int duration_key(const json_t *params, const char *key, uint64_t def, uint64_t *ret)
{
    const json_t *v = json_object_get(params, key);
    *ret = def;
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) == 0) {
        *ret = 0;
        return 0;
    }
    if (!json_is_string(v))
        return -EINVAL;
    return parse_duration_usec(json_string_value(v), ret);
}

uint64_t actuator_timeout(const json_t *params, uint64_t def)
{
    uint64_t t;
    if (duration_key(params, "timeout", def, &t) < 0 || t == 0)
        return def;
    return t;
}

/* ---- placeholders ---- */

struct check_ud {
    const char *const *declared;
    char *msg;
    size_t msg_size;
};

static bool in_list(const char *const *list, const char *name, size_t len)
{
    for (; list && *list; list++)
        if (strlen(*list) == len && strncmp(*list, name, len) == 0)
            return true;
    return false;
}

static int check_one(const char *name, size_t len, void *ud)
{
    struct check_ud *c = ud;
    if (in_list(placeholder_builtins, name, len) || in_list(c->declared, name, len))
        return 0;
    size_t lp = strlen(PLACEHOLDER_LABELS);
    if (len > lp && strncmp(name, PLACEHOLDER_LABELS, lp) == 0) {
        char by[256] = "";
        size_t o = 0;
        for (const char *const *d = c->declared; d && *d && o < sizeof(by); d++)
            if (strncmp(*d, PLACEHOLDER_LABELS, lp) == 0)
                o += (size_t)snprintf(by + o, sizeof(by) - o, "%s%s", o ? ", " : "", *d + lp);
        if (by[0])
            snprintf(c->msg, c->msg_size,
                     "{{ %.*s }}: '%.*s' is not a target label: targets.by has %s",
                     (int)(len > 80 ? 80 : len), name, (int)(len - lp > 64 ? 64 : len - lp),
                     name + lp, by);
        else
            snprintf(c->msg, c->msg_size,
                     "{{ %.*s }}: labels name a target only in a decision of a rules file "
                     "with a targets section (targets: {by: [...]})",
                     (int)(len > 80 ? 80 : len), name);
        return -EINVAL;
    }
    snprintf(c->msg, c->msg_size,
             "unknown placeholder {{%.*s}}: use a parameter declared in params or one of id, "
             "state, from, severity, reasoning, confidence, time",
             (int)(len > 64 ? 64 : len), name);
    return -EINVAL;
}

/* Checks the placeholders of every string under v; *bad_key is the top-level key. */
static int check_placeholders(const json_t *v, struct check_ud *c)
{
    if (json_is_string(v)) {
        int r = placeholder_each(json_string_value(v), check_one, c);
        if (r == -EINVAL && !c->msg[0])
            snprintf(c->msg, c->msg_size,
                     "malformed placeholder in '%.80s': write {{name}} with letters, digits "
                     "and _",
                     json_string_value(v));
        return r;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (check_placeholders(json_array_get(v, i), c) < 0)
                return -EINVAL;
        return 0;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item)
        {
            if (check_placeholders(item, c) < 0)
                return -EINVAL;
        }
    }
    return 0;
}

int actuator_validate(enum action_kind kind, const json_t *params,
                      const char *const *params_declared, const char **bad_key, char *msg,
                      size_t msg_size)
{
    *bad_key = NULL;
    msg[0] = '\0';
    const struct actuator *a = actuator_for(kind);
    if (!a || !json_is_object(params)) {
        snprintf(msg, msg_size, "expected a map of settings");
        return -EINVAL;
    }
    uint64_t t;
    if (duration_key(params, "timeout", 0, &t) < 0 || t > ACTUATOR_MAX_TIMEOUT_USEC ||
        (json_object_get(params, "timeout") && t == 0)) {
        *bad_key = "timeout";
        snprintf(msg, msg_size, "timeout must be a duration from 1ms to 5m, such as 10s");
        return -EINVAL;
    }
    if (duration_key(params, "backoff", 0, &t) < 0 || t > 60ull * 1000000) {
        *bad_key = "backoff";
        snprintf(msg, msg_size, "backoff must be a duration up to 1m, such as 1s");
        return -EINVAL;
    }
    const json_t *rt = json_object_get(params, "retries");
    if (rt && (!json_is_integer(rt) || json_integer_value(rt) < 0 ||
               json_integer_value(rt) > ACTUATOR_MAX_RETRIES)) {
        *bad_key = "retries";
        snprintf(msg, msg_size, "retries must be a whole number from 0 to %d",
                 ACTUATOR_MAX_RETRIES);
        return -EINVAL;
    }
    struct check_ud c = {params_declared, msg, msg_size};
    const char *k;
    json_t *item;
    json_object_foreach((json_t *)params, k, item)
    {
        if (check_placeholders(item, &c) < 0) {
            *bad_key = k;
            return -EINVAL;
        }
    }
    return a->validate ? a->validate(params, bad_key, msg, msg_size) : 0;
}

/* ---- expansion ---- */

const char *actuator_label_value_error(const char *v)
{
    size_t n = strlen(v);
    if (n == 0)
        return "is empty";
    if (n > 253)
        return "is longer than 253 characters";
    if (v[0] == '-' || v[0] == '.')
        return "starts with - or .";
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == ':' || *p == '@' || *p == '-'))
            return "has a character other than letters, digits and . _ : @ -";
    return NULL;
}

/* The value of a variable (new reference), NULL when unknown (msg says why when it is a
 * label that cannot be used). */
static json_t *var_value(const char *name, size_t len, const struct action_ctx *ctx, char *msg,
                         size_t msg_size)
{
#define IS(s) (len == strlen(s) && strncmp(name, s, len) == 0)
    size_t lp = strlen(PLACEHOLDER_LABELS);
    if (len > lp && strncmp(name, PLACEHOLDER_LABELS, lp) == 0) {
        char key[128];
        if (!ctx->labels || len - lp >= sizeof(key))
            return NULL;
        memcpy(key, name + lp, len - lp);
        key[len - lp] = '\0';
        const char *v = json_string_value(json_object_get(ctx->labels, key));
        const char *why = v ? actuator_label_value_error(v) : "is missing";
        if (why) {
            snprintf(msg, msg_size, "label %s=\"%.64s%s\" %s: refused in an action", key,
                     v ? v : "", v && strlen(v) > 64 ? "..." : "", why);
            return NULL;
        }
        return json_string(v);
    }
    if (ctx->args) {
        char key[128];
        if (len < sizeof(key)) {
            memcpy(key, name, len);
            key[len] = '\0';
            json_t *v = json_object_get(ctx->args, key);
            if (v)
                return json_incref(v);
        }
    }
    if (IS("id"))
        return json_string(ctx->decision_id ? ctx->decision_id : "");
    if (IS("state"))
        return json_string(ctx->state ? ctx->state : "");
    if (IS("from"))
        return json_string(ctx->from ? ctx->from : "");
    if (IS("severity"))
        return json_string(ctx->severity ? ctx->severity : "");
    if (IS("reasoning"))
        return json_string(ctx->reasoning ? ctx->reasoning : "");
    if (IS("confidence"))
        return json_real(round(ctx->confidence * 1000) / 1000);
    if (IS("time")) {
        char buf[32];
        time_t s = (time_t)ctx->time;
        struct tm tm;
        gmtime_r(&s, &tm);
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
        return json_string(buf);
    }
    return NULL;
#undef IS
}

/* A value as text for interpolation into a longer string. */
static void append_value(struct buf *b, const json_t *v)
{
    if (json_is_string(v)) {
        buf_puts(b, json_string_value(v));
    } else if (json_is_integer(v)) {
        buf_printf(b, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        buf_printf(b, "%.15g", json_real_value(v));
    } else if (json_is_true(v)) {
        buf_puts(b, "true");
    } else if (json_is_false(v)) {
        buf_puts(b, "false");
    } else if (!json_is_null(v)) {
        char *s = json_dumps(v, JSON_COMPACT);
        buf_puts(b, s ? s : "");
        free(s);
    }
}

/* The next {{ name }} of p: *ret_open at its "{{", the name (spaces trimmed) in
 * [*ret_start, *ret_end), *ret_close at its "}}". false when there is none. */
static bool next_placeholder(const char *p, const char **ret_open, const char **ret_start,
                             const char **ret_end, const char **ret_close)
{
    const char *open = strstr(p, "{{");
    if (!open)
        return false;
    const char *start = open + 2;
    while (*start == ' ')
        start++;
    const char *close = strstr(start, "}}");
    if (!close)
        return false;
    const char *e = close;
    while (e > start && e[-1] == ' ')
        e--;
    *ret_open = open;
    *ret_start = start;
    *ret_end = e;
    *ret_close = close;
    return true;
}

static json_t *expand_string(const char *s, const struct action_ctx *ctx, char *msg,
                             size_t msg_size)
{
    struct buf b;
    buf_init(&b, 256u << 10);
    const char *p = s;
    const char *open, *start, *e, *close;
    while (next_placeholder(p, &open, &start, &e, &close)) {
        msg[0] = '\0';
        json_t *v = var_value(start, (size_t)(e - start), ctx, msg, msg_size);
        if (!v) {
            if (!msg[0])
                snprintf(msg, msg_size, "unknown placeholder {{%.*s}}",
                         (int)((e - start) > 64 ? 64 : (e - start)), start);
            buf_free(&b);
            return NULL;
        }
        /* A string that is exactly one placeholder keeps the value's type. */
        if (open == s && close[2] == '\0') {
            buf_free(&b);
            return v;
        }
        buf_append(&b, p, (size_t)(open - p));
        append_value(&b, v);
        json_decref(v);
        p = close + 2;
    }
    buf_puts(&b, p);
    json_t *out = json_stringn(b.data ? b.data : "", b.len);
    buf_free(&b);
    if (!out)
        snprintf(msg, msg_size, "expanded value is not valid UTF-8 or too large");
    return out;
}

char *actuator_with_labels(const char *s, const json_t *labels)
{
    struct buf b;
    buf_init(&b, 0);
    const char *p = s, *open, *start, *e, *close;
    size_t lp = strlen(PLACEHOLDER_LABELS);
    while (next_placeholder(p, &open, &start, &e, &close)) {
        const char *v = NULL;
        char key[128];
        size_t len = (size_t)(e - start);
        if (labels && len > lp && len - lp < sizeof(key) &&
            strncmp(start, PLACEHOLDER_LABELS, lp) == 0) {
            memcpy(key, start + lp, len - lp);
            key[len - lp] = '\0';
            v = json_string_value(json_object_get(labels, key));
        }
        buf_append(&b, p, (size_t)((v ? open : close + 2) - p));
        if (v)
            buf_puts(&b, v);
        p = close + 2;
    }
    if (buf_puts(&b, p) < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

json_t *actuator_json_with_labels(const json_t *v, const json_t *labels)
{
    if (json_is_string(v)) {
        char *s = actuator_with_labels(json_string_value(v), labels);
        json_t *out = s ? json_string(s) : NULL;
        free(s);
        return out ? out : json_incref((json_t *)v);
    }
    if (json_is_array(v)) {
        json_t *out = json_array();
        for (size_t i = 0; out && i < json_array_size(v); i++)
            json_array_append_new(out, actuator_json_with_labels(json_array_get(v, i), labels));
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item)
        {
            if (out)
                json_object_set_new(out, k, actuator_json_with_labels(item, labels));
        }
        return out;
    }
    return json_incref((json_t *)v);
}

json_t *actuator_expand(const json_t *params, const struct action_ctx *ctx, char *msg,
                        size_t msg_size)
{
    if (json_is_string(params))
        return expand_string(json_string_value(params), ctx, msg, msg_size);
    if (json_is_array(params)) {
        json_t *out = json_array();
        for (size_t i = 0; out && i < json_array_size(params); i++) {
            json_t *item = actuator_expand(json_array_get(params, i), ctx, msg, msg_size);
            if (!item || json_array_append_new(out, item) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    if (json_is_object(params)) {
        json_t *out = json_object();
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)params, k, item)
        {
            if (!out)
                break;
            json_t *e = actuator_expand(item, ctx, msg, msg_size);
            if (!e || json_object_set_new(out, k, e) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    return json_deep_copy(params);
}

/* ---- running ---- */

static void sleep_usec(uint64_t usec)
{
    struct timespec ts = {(time_t)(usec / 1000000), (long)(usec % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static unsigned retries_of(const json_t *params, unsigned def)
{
    const json_t *r = json_object_get(params, "retries");
    return json_is_integer(r) ? (unsigned)json_integer_value(r) : def;
}

static void attempt_loop(const struct actuator *act, const json_t *params, const json_t *undo,
                         const struct action_ctx *ctx, struct action_result *res)
{
    uint64_t timeout = actuator_timeout(params, act->default_timeout_usec);
    unsigned retries = retries_of(params, act->default_retries);
    uint64_t backoff;
    if (duration_key(params, "backoff", 1000000, &backoff) < 0)
        backoff = 1000000;
    /* The first attempt's undo holds the values from before any change: an attempt that
     * timed out may still have applied, and a retry would read its result as "previous". */
    json_t *first_undo = NULL;
    for (unsigned attempt = 0;; attempt++) {
        action_result_clear(res);
        res->status = ACT_OK;
        res->error[0] = '\0';
        res->attempts = attempt + 1;
        if (undo)
            act->revert(params, undo, ctx, timeout, res);
        else
            act->apply(params, ctx, timeout, res);
        if (!first_undo && res->undo)
            first_undo = json_incref(res->undo);
        if (res->status != ACT_RETRY || attempt >= retries || ctx->server_dry_run)
            break;
        sleep_usec(backoff);
        backoff = backoff * 2 > 60ull * 1000000 ? 60ull * 1000000 : backoff * 2;
    }
    if (first_undo && res->undo && first_undo != res->undo) {
        json_decref(res->undo);
        res->undo = json_incref(first_undo);
    }
    json_decref(first_undo);
}

void actuator_run(const struct action_def *a, const struct action_ctx *ctx,
                  struct action_result *res, json_t **ret_params)
{
    memset(res, 0, sizeof(*res));
    if (ret_params)
        *ret_params = NULL;
    const struct actuator *act = actuator_for(a->kind);
    char msg[256] = "";
    json_t *params = actuator_expand(a->params, ctx, msg, sizeof(msg));
    if (!params) {
        action_fail(res, ACT_FAIL, "%s: %s", action_kind_name(a->kind),
                    msg[0] ? msg : "out of memory");
        return;
    }
    /* Placeholders may bring in anything: the kind checks the result again. */
    const char *bad_key = NULL;
    if (act->validate && act->validate(params, &bad_key, msg, sizeof(msg)) < 0) {
        action_fail(res, ACT_FAIL, "%s: after expanding placeholders: %s%s%s",
                    action_kind_name(a->kind), bad_key ? bad_key : "", bad_key ? ": " : "", msg);
        json_decref(params);
        return;
    }
    attempt_loop(act, params, NULL, ctx, res);
    if (ret_params)
        *ret_params = params;
    else
        json_decref(params);
}

int actuator_read(const struct action_def *a, const struct action_ctx *ctx, double *ret_now,
                  double *ret_asked, char *msg, size_t msg_size)
{
    const struct actuator *act = actuator_for(a->kind);
    if (!act->read)
        return -EOPNOTSUPP;
    json_t *params = actuator_expand(a->params, ctx, msg, msg_size);
    if (!params)
        return -EIO;
    struct action_result res;
    memset(&res, 0, sizeof(res));
    int r = act->read(a->params, params, ctx, actuator_timeout(params, act->default_timeout_usec),
                      ret_now, ret_asked, &res);
    if (r == -EIO)
        snprintf(msg, msg_size, "%s", res.error);
    action_result_clear(&res);
    json_decref(params);
    return r;
}

void actuator_revert(enum action_kind kind, const json_t *expanded_params, const json_t *undo,
                     const struct action_ctx *ctx, struct action_result *res)
{
    memset(res, 0, sizeof(*res));
    const struct actuator *act = actuator_for(kind);
    if (!act->revert || !undo) {
        res->status = ACT_OK;
        return;
    }
    attempt_loop(act, expanded_params, undo, ctx, res);
}
