/* rules: loads the operator's rules file (yamltree) into an immutable struct rules and
 * validates all of it first: keys, types, durations, conditions, names, action syntax,
 * and that every state can be reached. Every error is reported, sorted by position.
 * Also the lookups and the JSON view of GET /api/v1/rules (see rules.h, docs/RULES.md). */
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "actuator.h"
#include "parse.h"
#include "template.h"
#include "yamltree.h"

#define USEC_PER_SEC 1000000ULL
#define DEFAULT_INTERVAL_USEC (5 * USEC_PER_SEC)
#define MIN_INTERVAL_USEC (USEC_PER_SEC / 10)
#define DEFAULT_TIMEOUT_USEC (2 * USEC_PER_SEC)
#define DEFAULT_COOLDOWN_USEC (300 * USEC_PER_SEC)
#define DEFAULT_REVERT_DELAY_USEC (60 * USEC_PER_SEC)
#define DEFAULT_RESEND_USEC (60 * USEC_PER_SEC)
#define DEFAULT_ACTIONS_PER_HOUR 30
#define DEFAULT_REPORT_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define NONE ((size_t)-1)

static const char *const kind_names[] = {
    [ACTION_SYSTEMD] = "systemd", [ACTION_KUBECTL] = "kubectl", [ACTION_WEBHOOK] = "webhook",
    [ACTION_EXEC] = "exec",       [ACTION_ALERT] = "alert",
};
#define N_KINDS (sizeof(kind_names) / sizeof(kind_names[0]))
#define KIND_LIST "systemd, kubectl, webhook, exec or alert"

static const char *const kubectl_verbs[] = {"scale", "patch", "annotate", "rollout_restart", NULL};

const char *action_kind_name(enum action_kind kind)
{
    return (size_t)kind < N_KINDS ? kind_names[kind] : "unknown";
}

int action_kind_parse(const char *name)
{
    for (size_t i = 0; name && i < N_KINDS; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return (int)i;
    return -EINVAL;
}

const char *cond_op_text(enum cond_op op)
{
    static const char *const ops[] = {
        [COND_GT] = ">",  [COND_GE] = ">=", [COND_LT] = "<",
        [COND_LE] = "<=", [COND_EQ] = "==", [COND_NE] = "!=",
    };
    return (size_t)op < sizeof(ops) / sizeof(ops[0]) ? ops[op] : "?";
}

bool cond_op_holds(enum cond_op op, double value, double threshold)
{
    switch (op) {
    case COND_GT: return value > threshold;
    case COND_GE: return value >= threshold;
    case COND_LT: return value < threshold;
    case COND_LE: return value <= threshold;
    case COND_EQ: return value == threshold;
    case COND_NE: return value != threshold;
    }
    return false;
}

/* ---- freeing ---- */

static void free_actions(struct action_def *a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++) {
        json_decref(a[i].params);
        free(a[i].summary);
    }
    free(a);
}

void rules_free(struct rules *r)
{
    if (!r)
        return;
    free(r->path);
    free(r->warnings);
    struct prometheus_cfg *p = &r->prometheus;
    free(p->url);
    free(p->bearer_token_file);
    free(p->basic_auth_username);
    free(p->basic_auth_password_file);
    free(p->ca_file);
    if (p->headers)
        for (size_t i = 0; i < p->n_headers; i++)
            free(p->headers[i]);
    free(p->headers);
    for (size_t i = 0; i < r->n_signals; i++) {
        free(r->signals[i].name);
        free(r->signals[i].query);
        free(r->signals[i].help);
    }
    free(r->signals);
    for (size_t i = 0; i < r->n_states; i++) {
        struct state_def *s = &r->states[i];
        free(s->name);
        for (size_t c = 0; c < s->n_conditions; c++)
            free(s->conditions[c].text);
        free(s->conditions);
        free(s->severity);
        free(s->description);
        free(s->recommendation);
    }
    free(r->states);
    for (size_t i = 0; i < r->n_decisions; i++)
        free_actions(r->decisions[i].actions, r->decisions[i].n_actions);
    free(r->decisions);
    for (size_t i = 0; i < r->n_manual_actions; i++) {
        struct manual_action_def *m = &r->manual_actions[i];
        free(m->name);
        free(m->description);
        for (size_t j = 0; m->params && j < m->n_params; j++) {
            free(m->params[j].name);
            json_decref(m->params[j].def);
            for (char **c = m->params[j].choices; c && *c; c++)
                free(*c);
            free(m->params[j].choices);
            free(m->params[j].description);
        }
        free(m->params);
        free_actions(m->actions, m->n_actions);
    }
    free(r->manual_actions);
    for (size_t i = 0; i < r->n_alertmanagers; i++)
        free(r->alertmanagers[i]);
    free(r->alertmanagers);
    free(r->external_url);
    rules_report_unref(r->report);
    free(r);
}

static void free_report_items(struct report_item *it, size_t n)
{
    for (size_t i = 0; it && i < n; i++) {
        free(it[i].name);
        free(it[i].query);
        free(it[i].condition);
        free(it[i].component);
        free(it[i].summary);
        free(it[i].description);
        free(it[i].recommendation);
        free(it[i].type);
    }
    free(it);
}

struct report_def *rules_report_ref(const struct rules *r)
{
    if (!r->report)
        return NULL;
    __atomic_add_fetch(&r->report->refs, 1, __ATOMIC_RELAXED);
    return r->report;
}

void rules_report_unref(struct report_def *d)
{
    if (!d || __atomic_sub_fetch(&d->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    free_report_items(d->checks, d->n_checks);
    free_report_items(d->optimizations, d->n_optimizations);
    free(d);
}

const char *report_severity_name(enum report_severity s)
{
    static const char *const names[] = {"critical", "warning", "info"};
    return (size_t)s < 3 ? names[s] : "unknown";
}

const char *report_level_name(enum report_level l)
{
    static const char *const names[] = {"high", "medium", "low"};
    return (size_t)l < 3 ? names[l] : "unknown";
}

/* ---- the loader's context and helpers ---- */

/* How a state's conditions were written. */
enum cond_form {
    FORM_NONE, /* absent, null or []: the default state */
    FORM_SOME, /* one or more, all parsed and resolved */
    FORM_BAD,  /* not a sequence, or a condition with an error */
};

struct state_pos {
    const struct ytree_node *node;       /* the state's map (NULL: not a map) */
    const struct ytree_node *name;       /* its name value */
    const struct ytree_node *conditions; /* its conditions value */
    enum cond_form form;
};

struct loader {
    struct rules *r;
    struct buf *errors;   /* unsorted; the caller gets them sorted by position */
    struct buf *warnings; /* the same, for what is allowed but unwise */
    const char *dir;      /* directory relative file paths are resolved against, or NULL */
    int err;              /* -EINVAL once an error was reported */
    bool oom;
    bool signals_ok; /* signals was a map: an unknown name in a condition is an error */
    bool states_ok;  /* states was a sequence: an unknown name in decisions is an error */
    const struct ytree_node *no_signals; /* signals missing (root) or empty (its node) */
    const char *const *declared;         /* parameters of the manual action being loaded */
    const struct ytree_node *root;
    struct state_pos *states;
};

static void report(struct loader *l, const struct ytree_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct loader *l, const struct ytree_node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    l->err = ytree_error(l->errors, n, "%s", msg);
}

static char *dup_str(struct loader *l, const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        l->oom = true;
    return p;
}

static void *alloc_array(struct loader *l, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        l->oom = true;
    return p;
}

static bool get_map(struct loader *l, const struct ytree_node *n)
{
    if (ytree_expect(n, YTREE_MAP, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    return true;
}

static bool get_seq(struct loader *l, const struct ytree_node *n)
{
    if (ytree_expect(n, YTREE_SEQ, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    return true;
}

static bool get_string(struct loader *l, const struct ytree_node *n, const char **ret)
{
    if (ytree_get_string(n, ret, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    return true;
}

static bool get_bool(struct loader *l, const struct ytree_node *n, bool *ret)
{
    if (ytree_get_bool(n, ret, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    return true;
}

static bool get_duration(struct loader *l, const struct ytree_node *n, uint64_t *ret)
{
    if (ytree_get_duration(n, ret, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    return true;
}

static void check_keys(struct loader *l, const struct ytree_node *map, const char *const *keys)
{
    if (ytree_check_keys(map, keys, l->errors) < 0)
        l->err = -EINVAL;
}

/* The key node of map's entry key (for positions), or NULL. */
static const struct ytree_node *key_node(const struct ytree_node *map, const char *key)
{
    for (size_t i = 0; i < ytree_len(map); i++)
        if (strcmp(ytree_text(ytree_key(map, i), NULL), key) == 0)
            return ytree_key(map, i);
    return NULL;
}

/* A non-empty string of at most max bytes. */
static bool get_text(struct loader *l, const struct ytree_node *n, const char *what, size_t max,
                     const char **ret)
{
    const char *s;
    if (!get_string(l, n, &s))
        return false;
    if (!*s) {
        report(l, n, "%s is empty", what);
        return false;
    }
    if (max && strlen(s) > max) {
        report(l, n, "%s is longer than %zu bytes", what, max);
        return false;
    }
    *ret = s;
    return true;
}

/* The closest of names[0..n) to s, when close enough to be a typo (as ytree_check_keys). */
static const char *did_you_mean(const char *s, const char *const *names, size_t n)
{
    const char *best = NULL;
    unsigned best_d = 255;
    for (size_t i = 0; i < n; i++) {
        if (!names[i])
            continue;
        unsigned d = ytree_edit_distance(s, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    if (best && best_d <= 2 && best_d * 3 <= strlen(best))
        return best;
    return NULL;
}

static bool is_identifier(const char *s)
{
    if (!(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

/* A name: an identifier of at most RULES_MAX_NAME characters. */
static bool get_name(struct loader *l, const struct ytree_node *n, const char *what,
                     const char **ret)
{
    const char *s;
    if (!get_string(l, n, &s))
        return false;
    if (!is_identifier(s)) {
        report(l, n,
               "%s name '%.64s' is not an identifier (letters, digits and '_', not starting with "
               "a digit)",
               what, s);
        return false;
    }
    if (strlen(s) > RULES_MAX_NAME) {
        report(l, n, "%s name '%.64s...' is longer than %d characters", what, s, RULES_MAX_NAME);
        return false;
    }
    *ret = s;
    return true;
}

/* One of names (NULL-terminated); the message lists them. */
static bool get_enum(struct loader *l, const struct ytree_node *n, const char *what,
                     const char *const *names, int *ret)
{
    const char *s;
    if (!get_string(l, n, &s))
        return false;
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) {
            *ret = i;
            return true;
        }
    char list[128];
    size_t o = 0;
    for (int i = 0; names[i] && o < sizeof(list); i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
                              i == 0         ? ""
                              : names[i + 1] ? ", "
                                             : " or ",
                              names[i]);
    report(l, n, "%s must be %s, got '%.64s'", what, list, s);
    return false;
}

/* "2s", "1m30s", "250ms", "1h" for messages. */
static const char *fmt_duration(uint64_t usec, char *out, size_t size)
{
    if (usec % USEC_PER_SEC) {
        if (usec % 1000)
            snprintf(out, size, "%lluus", (unsigned long long)usec);
        else
            snprintf(out, size, "%llums", (unsigned long long)(usec / 1000));
        return out;
    }
    unsigned long long s = usec / USEC_PER_SEC, h = s / 3600, m = s / 60 % 60;
    size_t o = 0;
    out[0] = '\0';
    if (h)
        o += (size_t)snprintf(out + o, size - o, "%lluh", h);
    if (m && o < size)
        o += (size_t)snprintf(out + o, size - o, "%llum", m);
    if ((s % 60 || (!h && !m)) && o < size)
        snprintf(out + o, size - o, "%llus", s % 60);
    return out;
}

/* ---- URLs, headers and paths ---- */

const char *rules_url_error(const char *url)
{
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return "does not start with http:// or https://";
    if (strlen(url) > RULES_MAX_URL)
        return "is longer than 2048 bytes";
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return "contains a space or a control character";
    const char *host = url + skip;
    size_t authority = strcspn(host, "/?#");
    if (authority == 0)
        return "has no host";
    if (memchr(host, '@', authority))
        return "contains credentials: use basic_auth with password_file";
    if (host[0] == ':')
        return "has no host";
    return NULL;
}

static bool get_url(struct loader *l, const struct ytree_node *n, const char **ret)
{
    const char *s;
    if (!get_string(l, n, &s))
        return false;
    const char *why = rules_url_error(s);
    if (why && strstr(why, "credentials")) {
        report(l, n, "url %s", why); /* without the password */
        return false;
    }
    if (why) {
        report(l, n, "url '%.128s' %s", s, why);
        return false;
    }
    *ret = s;
    return true;
}

/* A file path, made relative to the rules file's directory when that is known. */
static bool get_path(struct loader *l, const struct ytree_node *n, const char *what, char **ret)
{
    const char *s;
    if (!get_text(l, n, what, 4096, &s))
        return false;
    if (s[0] == '/' || !l->dir) {
        *ret = dup_str(l, s);
        return *ret != NULL;
    }
    struct buf b;
    buf_init(&b, 0);
    if (buf_printf(&b, "%s/%s", l->dir, s) < 0) {
        buf_free(&b);
        l->oom = true;
        return false;
    }
    *ret = buf_steal(&b, NULL);
    return true;
}

static bool header_name_valid(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
            return false;
    return true;
}

/* Keys of action parameters whose values are secrets: shown as "<redacted>" in summaries
 * and in rules_to_json. */
static bool key_is_secret(const char *key)
{
    static const char *const words[] = {"password", "passwd", "secret",  "token",
                                        "api_key",  "apikey", "api-key", "credential"};
    size_t len = strlen(key);
    if (len >= 5 &&
        (strcasecmp(key + len - 5, "_file") == 0 || strcasecmp(key + len - 5, "_path") == 0))
        return false;
    if (strcasecmp(key, "authorization") == 0 || strcasecmp(key, "proxy-authorization") == 0 ||
        strcasecmp(key, "cookie") == 0)
        return true;
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(key, words[i]))
            return true;
    return false;
}

/* ---- prometheus ---- */

static const char *const reserved_headers[] = {
    "Authorization", "Host",       "Content-Type",    "Content-Length",    "Content-Encoding",
    "Connection",    "User-Agent", "Accept-Encoding", "Transfer-Encoding", NULL,
};

static void load_headers(struct loader *l, const struct ytree_node *v)
{
    struct prometheus_cfg *p = &l->r->prometheus;
    if (ytree_is_null(v))
        return;
    if (!get_map(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_HEADERS) {
        report(l, v, "more than %d headers", RULES_MAX_HEADERS);
        return;
    }
    p->headers = alloc_array(l, n + 1, sizeof(*p->headers));
    if (!p->headers)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct ytree_node *k = ytree_key(v, i), *val = ytree_value(v, i);
        const char *name = NULL, *value = NULL;
        bool ok = get_string(l, k, &name);
        if (ok && !header_name_valid(name)) {
            report(l, k, "header name '%.64s' is not valid (letters, digits and !#$%%&'*+-.^_`|~)",
                   name);
            ok = false;
        }
        for (size_t j = 0; ok && reserved_headers[j]; j++)
            if (strcasecmp(name, reserved_headers[j]) == 0) {
                if (j == 0)
                    report(l, k,
                           "header 'Authorization' would put a secret in the rules file: use "
                           "bearer_token_file or basic_auth");
                else
                    report(l, k, "header '%s' is set by the controller itself", name);
                ok = false;
            }
        for (size_t j = 0; ok && j < i; j++) {
            const struct ytree_node *prev = ytree_key(v, j);
            if (strcasecmp(ytree_text(prev, NULL), name) == 0) {
                report(l, k, "duplicate header '%.64s' (first at %u:%u; names ignore case)", name,
                       ytree_line(prev), ytree_column(prev));
                ok = false;
            }
        }
        if (!get_string(l, val, &value))
            continue;
        for (const char *c = value; *c; c++)
            if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f) {
                report(l, val, "header value contains a line break or a control character");
                ok = false;
                break;
            }
        if (!ok)
            continue;
        struct buf b;
        buf_init(&b, 0);
        if (buf_printf(&b, "%s: %s", name, value) < 0) {
            buf_free(&b);
            l->oom = true;
            return;
        }
        p->headers[p->n_headers++] = buf_steal(&b, NULL);
    }
}

static void load_basic_auth(struct loader *l, const struct ytree_node *v)
{
    static const char *const keys[] = {"username", "password_file", "password", NULL};
    struct prometheus_cfg *p = &l->r->prometheus;
    if (!get_map(l, v))
        return;
    check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if (ytree_get(v, "password"))
        report(l, key_node(v, "password"),
               "password is not accepted: put it in a file and name that with password_file");
    if (!(x = ytree_get(v, "username")))
        report(l, v, "basic_auth needs a username");
    else if (get_text(l, x, "username", 1024, &s))
        p->basic_auth_username = dup_str(l, s);
    if (!(x = ytree_get(v, "password_file"))) {
        if (!ytree_get(v, "password"))
            report(l, v, "basic_auth needs a password_file");
    } else {
        get_path(l, x, "password_file", &p->basic_auth_password_file);
    }
}

static void load_prometheus(struct loader *l, const struct ytree_node *v, bool interval_ok)
{
    static const char *const keys[] = {
        "url",        "timeout",      "bearer_token_file",
        "basic_auth", "ca_file",      "insecure_skip_verify",
        "headers",    "bearer_token", /* only to say why not */
        NULL,
    };
    struct prometheus_cfg *p = &l->r->prometheus;
    uint64_t interval = l->r->evaluation_interval_usec;
    p->timeout_usec = interval < DEFAULT_TIMEOUT_USEC ? interval : DEFAULT_TIMEOUT_USEC;
    if (!v || ytree_is_null(v))
        return;
    if (!get_map(l, v))
        return;
    check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if ((x = ytree_get(v, "url")) && get_url(l, x, &s))
        p->url = dup_str(l, s);
    if ((x = ytree_get(v, "timeout"))) {
        uint64_t t = 0;
        char a[32], b[32];
        bool ok = get_duration(l, x, &t);
        if (ok && t == 0)
            report(l, x, "timeout must be more than 0");
        else if (ok && interval_ok && t > interval)
            report(l, x, "timeout %s is longer than evaluation_interval %s",
                   fmt_duration(t, a, sizeof(a)), fmt_duration(interval, b, sizeof(b)));
        else if (ok)
            p->timeout_usec = t;
    }
    if (ytree_get(v, "bearer_token"))
        report(l, key_node(v, "bearer_token"),
               "bearer_token is not accepted: put the token in a file and name that with "
               "bearer_token_file");
    if ((x = ytree_get(v, "bearer_token_file")))
        get_path(l, x, "bearer_token_file", &p->bearer_token_file);
    if ((x = ytree_get(v, "basic_auth"))) {
        if (ytree_get(v, "bearer_token_file"))
            report(l, key_node(v, "basic_auth"),
                   "basic_auth and bearer_token_file cannot be used together");
        load_basic_auth(l, x);
    }
    if ((x = ytree_get(v, "ca_file")))
        get_path(l, x, "ca_file", &p->ca_file);
    if ((x = ytree_get(v, "insecure_skip_verify")))
        get_bool(l, x, &p->insecure_skip_verify);
    if ((x = ytree_get(v, "headers")))
        load_headers(l, x);
}

/* ---- signals ---- */

static void load_signal(struct loader *l, struct signal_def *s, const struct ytree_node *v)
{
    static const char *const keys[] = {"query", "max_age", "help", NULL};
    if (ytree_kind(v) != YTREE_MAP) {
        report(l, v, "signal '%.64s': expected a map with 'query', got %s", s->name,
               ytree_describe(v));
        return;
    }
    check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *str;
    if (!(x = ytree_get(v, "query"))) {
        report(l, v, "signal '%.64s' has no query", s->name);
    } else if (get_string(l, x, &str)) {
        const char *c = str;
        while (isspace((unsigned char)*c))
            c++;
        if (!*c)
            report(l, x, "query is empty");
        else
            s->query = dup_str(l, str);
    }
    if ((x = ytree_get(v, "max_age")) && get_duration(l, x, &s->max_age_usec) &&
        s->max_age_usec == 0)
        report(l, x, "max_age must be more than 0 (leave it out for no limit)");
    if ((x = ytree_get(v, "help")) && get_string(l, x, &str))
        s->help = dup_str(l, str);
}

static void load_signals(struct loader *l, const struct ytree_node *root)
{
    struct rules *r = l->r;
    const struct ytree_node *v = ytree_get(root, "signals");
    /* No signals is fine when conditions use alert:NAME ones; checked after the states. */
    if (!v || ytree_is_null(v) || (ytree_kind(v) == YTREE_MAP && ytree_len(v) == 0)) {
        l->no_signals = v ? v : root;
        l->signals_ok = v && ytree_kind(v) == YTREE_MAP;
        return;
    }
    if (!get_map(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_SIGNALS) { /* nothing more: the checks below grow with the count */
        report(l, v, "more than %d signals", RULES_MAX_SIGNALS);
        return;
    }
    r->signals = alloc_array(l, n, sizeof(*r->signals));
    if (!r->signals)
        return;
    r->n_signals = n;
    l->signals_ok = true;
    for (size_t i = 0; i < n; i++) {
        struct signal_def *s = &r->signals[i];
        const struct ytree_node *k = ytree_key(v, i);
        const char *name;
        /* Keep even a bad name, so that conditions naming it do not add errors. */
        s->name = dup_str(l, ytree_text(k, NULL));
        if (!s->name)
            return;
        get_name(l, k, "signal", &name);
        load_signal(l, s, ytree_value(v, i));
    }
}

/* ---- conditions ---- */

static bool op_char(char c)
{
    return c == '<' || c == '>' || c == '=' || c == '!' || c == '~';
}

/* Length of the run at s of characters other than whitespace, capped for messages. */
static int word_len(const char *s)
{
    size_t n = 0;
    while (s[n] && !isspace((unsigned char)s[n]))
        n++;
    return n > 32 ? 32 : (int)n;
}

/* Characters of an alert name after "alert:" (Alertmanager allows any label value; the
 * conditions' syntax takes the usual alertname characters). */
static bool alert_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == ':' || c == '.' || c == '-';
}

/* Appends the signal "alert:NAME" that a condition names for the first time. */
static bool add_alert_signal(struct loader *l, const struct ytree_node *n, const char *name,
                             size_t len, struct condition *c)
{
    struct rules *r = l->r;
    if (len > RULES_MAX_NAME + strlen(RULES_ALERT_PREFIX)) {
        report(l, n, "alert name '%.*s' is longer than %d characters", (int)len, name,
               RULES_MAX_NAME);
        return false;
    }
    if (r->n_signals >= RULES_MAX_SIGNALS) {
        report(l, n, "more than %d signals", RULES_MAX_SIGNALS);
        return false;
    }
    struct signal_def *grown = realloc(r->signals, (r->n_signals + 1) * sizeof(*grown));
    if (!grown) {
        l->oom = true;
        return false;
    }
    r->signals = grown;
    struct signal_def *sd = &r->signals[r->n_signals];
    memset(sd, 0, sizeof(*sd));
    sd->name = strndup(name, len);
    if (!sd->name) {
        l->oom = true;
        return false;
    }
    sd->alert = true;
    c->signal = r->n_signals++;
    return true;
}

/* "signal OP number", whitespace-tolerant. Reports at n and returns false on an error; a
 * signal that cannot be resolved because the signals section is broken is not reported
 * again. */
static bool parse_condition(struct loader *l, const struct ytree_node *n, struct condition *c)
{
    const char *s;
    if (!get_string(l, n, &s))
        return false;
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    const char *name = p;
    bool alert = strncmp(p, RULES_ALERT_PREFIX, strlen(RULES_ALERT_PREFIX)) == 0;
    if (alert) {
        p += strlen(RULES_ALERT_PREFIX);
        if (!alert_name_char(*p)) {
            report(l, n,
                   "condition '%.80s': expected an alert name after 'alert:', such as "
                   "'alert:HighErrorRate == 1'",
                   s);
            return false;
        }
        while (alert_name_char(*p))
            p++;
    } else if (!(isalpha((unsigned char)*p) || *p == '_')) {
        report(l, n,
               "condition '%.80s' does not start with a signal name: expected 'SIGNAL OP "
               "NUMBER' such as 'cpu_busy > 0.85'",
               s);
        return false;
    }
    while (!alert && (isalnum((unsigned char)*p) || *p == '_'))
        p++;
    int name_len = (int)(p - name);
    while (isspace((unsigned char)*p))
        p++;
    static const struct {
        const char *text;
        enum cond_op op;
    } ops[] = {{">=", COND_GE}, {"<=", COND_LE}, {"==", COND_EQ},
               {"!=", COND_NE}, {">", COND_GT},  {"<", COND_LT}};
    size_t o;
    for (o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
        if (strncmp(p, ops[o].text, strlen(ops[o].text)) == 0)
            break;
    /* "=>", "<>", "===", "=": an operator-like run that is not one of ours. */
    size_t run = 0;
    while (op_char(p[run]))
        run++;
    if (o == sizeof(ops) / sizeof(ops[0]) || run != strlen(ops[o].text)) {
        if (!*p)
            report(l, n,
                   "condition '%.80s': expected an operator (>, >=, <, <=, == or !=) after "
                   "'%.*s'",
                   s, name_len, name);
        else
            report(l, n,
                   "condition '%.80s': expected an operator (>, >=, <, <=, == or !=) after "
                   "'%.*s', got '%.*s'",
                   s, name_len, name, run ? (int)(run > 32 ? 32 : run) : word_len(p), p);
        return false;
    }
    c->op = ops[o].op;
    p += run;
    while (isspace((unsigned char)*p))
        p++;
    if (!*p) {
        report(l, n, "condition '%.80s': missing the threshold after '%s'", s, ops[o].text);
        return false;
    }
    size_t num = 0;
    while (p[num] && (isdigit((unsigned char)p[num]) || strchr(".eE+-", p[num])))
        num++;
    if (num == 0) {
        report(l, n, "condition '%.80s': expected a number after '%s', got '%.*s'", s, ops[o].text,
               word_len(p), p);
        return false;
    }
    char tmp[64];
    double v = 0;
    int r = -EINVAL;
    if (num < sizeof(tmp)) {
        memcpy(tmp, p, num);
        tmp[num] = '\0';
        r = parse_double(tmp, &v);
    }
    if (r == -ERANGE) {
        report(l, n, "condition '%.80s': threshold '%.*s' is out of range", s, (int)num, p);
        return false;
    }
    if (r < 0 || !isfinite(v)) {
        report(l, n, "condition '%.80s': '%.*s' is not a number", s, num > 32 ? 32 : (int)num, p);
        return false;
    }
    c->threshold = v;
    c->threshold_file = v;
    p += num;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '%') {
        report(l, n,
               "condition '%.80s': unexpected '%%' after the threshold: write the number in the "
               "query's unit (0.85 for 85 %% of a ratio)",
               s);
        return false;
    }
    if (*p) {
        report(l, n, "condition '%.80s': unexpected '%.32s' after the threshold", s, p);
        return false;
    }
    c->text = dup_str(l, s);
    if (!c->text)
        return false;
    if (alert && (l->signals_ok || l->no_signals))
        for (size_t i = 0; i < l->r->n_signals; i++)
            if ((int)strlen(l->r->signals[i].name) == name_len &&
                strncmp(l->r->signals[i].name, name, (size_t)name_len) == 0) {
                c->signal = i;
                return true;
            }
    if (alert && (l->signals_ok || l->no_signals))
        return add_alert_signal(l, n, name, (size_t)name_len, c);
    if (!l->signals_ok)
        return false; /* the signals section's own error says enough */
    struct rules *rules = l->r;
    for (size_t i = 0; i < rules->n_signals; i++)
        if ((int)strlen(rules->signals[i].name) == name_len &&
            strncmp(rules->signals[i].name, name, (size_t)name_len) == 0) {
            c->signal = i;
            return true;
        }
    char want[RULES_MAX_NAME + 1];
    snprintf(want, sizeof(want), "%.*s", name_len, name);
    const char **names = alloc_array(l, rules->n_signals, sizeof(*names));
    if (!names)
        return false;
    for (size_t i = 0; i < rules->n_signals; i++)
        names[i] = rules->signals[i].name;
    const char *hint = did_you_mean(want, names, rules->n_signals);
    if (hint)
        report(l, n, "unknown signal '%s' (did you mean '%s'?)", want, hint);
    else
        report(l, n, "unknown signal '%s'", want);
    free(names);
    return false;
}

/* ---- states ---- */

static void load_state(struct loader *l, size_t i, const struct ytree_node *v, size_t n_states)
{
    static const char *const keys[] = {"name",        "when",           "conditions",
                                       "for",         "keep_for",       "severity",
                                       "description", "recommendation", NULL};
    static const char *const whens[] = {"any", "all", NULL};
    struct state_def *st = &l->r->states[i];
    struct state_pos *pos = &l->states[i];
    pos->form = FORM_BAD;
    if (!get_map(l, v))
        return;
    pos->node = v;
    check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if (!(x = ytree_get(v, "name"))) {
        report(l, v, "state has no name");
    } else if (get_string(l, x, &s)) {
        pos->name = x;
        st->name = dup_str(l, s);
        const char *ok;
        if (strcmp(s, RULES_STATE_UNKNOWN) == 0)
            report(l, x,
                   "state name 'unknown' is reserved: it is the state that on_missing_data: "
                   "unknown moves to");
        else
            get_name(l, x, "state", &ok);
        for (size_t j = 0; j < i; j++)
            if (l->r->states[j].name && strcmp(l->r->states[j].name, s) == 0) {
                report(l, x, "duplicate state '%.64s' (first at %u:%u)", s,
                       ytree_line(l->states[j].name), ytree_column(l->states[j].name));
                break;
            }
    }
    const char *label = st->name ? st->name : "?";
    int k;
    if ((x = ytree_get(v, "when")) && get_enum(l, x, "when", whens, &k))
        st->when = (enum when_mode)k;
    if ((x = ytree_get(v, "for")))
        get_duration(l, x, &st->for_usec);
    if ((x = ytree_get(v, "keep_for")))
        get_duration(l, x, &st->keep_for_usec);
    if ((x = ytree_get(v, "severity")) && get_text(l, x, "severity", 64, &s))
        st->severity = dup_str(l, s);
    if ((x = ytree_get(v, "description")) && get_string(l, x, &s))
        st->description = dup_str(l, s);
    if ((x = ytree_get(v, "recommendation")) && get_string(l, x, &s))
        st->recommendation = dup_str(l, s);

    x = ytree_get(v, "conditions");
    pos->conditions = x;
    if (!x || ytree_is_null(x)) {
        pos->form = FORM_NONE;
    } else if (get_seq(l, x)) {
        size_t n = ytree_len(x);
        if (n > RULES_MAX_CONDITIONS) {
            report(l, x, "state '%.64s' has more than %d conditions", label, RULES_MAX_CONDITIONS);
            return;
        }
        st->conditions = alloc_array(l, n, sizeof(*st->conditions));
        if (!st->conditions)
            return;
        bool all_ok = true;
        for (size_t c = 0; c < n; c++) {
            all_ok &= parse_condition(l, ytree_item(x, c), &st->conditions[c]);
            st->n_conditions = c + 1;
        }
        pos->form = n == 0 ? FORM_NONE : all_ok ? FORM_SOME : FORM_BAD;
    }

    /* The default state always holds: timing and combining mean nothing there. */
    if (i == n_states - 1 && pos->form == FORM_NONE) {
        static const char *const idle[] = {"when", "for", "keep_for"};
        for (size_t j = 0; j < 3; j++)
            if (ytree_get(v, idle[j]))
                report(l, key_node(v, idle[j]),
                       "'%s' has no effect on the default state '%.64s' (the last one, without "
                       "conditions)",
                       idle[j], label);
    }
}

/* The values a condition accepts, as an interval (not for !=). */
struct interval {
    double lo, hi;
    bool lo_in, hi_in;
};

static struct interval interval_of(const struct condition *c)
{
    double t = c->threshold;
    switch (c->op) {
    case COND_GT: return (struct interval){t, INFINITY, false, false};
    case COND_GE: return (struct interval){t, INFINITY, true, false};
    case COND_LT: return (struct interval){-INFINITY, t, false, false};
    case COND_LE: return (struct interval){-INFINITY, t, false, true};
    case COND_EQ:
    case COND_NE: break;
    }
    return (struct interval){t, t, true, true};
}

static bool interval_contains(struct interval a, double x)
{
    return (x > a.lo || (x == a.lo && a.lo_in)) && (x < a.hi || (x == a.hi && a.hi_in));
}

/* Whether every value that makes a true also makes b true. */
static bool cond_implies(const struct condition *a, const struct condition *b)
{
    if (a->signal != b->signal)
        return false;
    if (b->op == COND_NE)
        return a->op == COND_NE ? a->threshold == b->threshold
                                : !interval_contains(interval_of(a), b->threshold);
    if (a->op == COND_NE)
        return false;
    struct interval x = interval_of(a), y = interval_of(b);
    bool lo = y.lo < x.lo || (y.lo == x.lo && (y.lo_in || !x.lo_in));
    bool hi = y.hi > x.hi || (y.hi == x.hi && (y.hi_in || !x.hi_in));
    return lo && hi;
}

/* Whether state b holding (TRUE) implies that state a holds. Sound, not complete: it
 * looks at conditions one by one. */
static bool state_implies(const struct state_def *b, const struct state_def *a)
{
    bool b_all = b->when == WHEN_ALL || b->n_conditions == 1;
    bool a_all = a->when == WHEN_ALL && a->n_conditions > 1;
    if (b_all) {
        /* Every condition of b is true: a holds when (some / each) of its conditions is
         * implied by one of them. */
        for (size_t i = 0; i < a->n_conditions; i++) {
            bool implied = false;
            for (size_t j = 0; j < b->n_conditions && !implied; j++)
                implied = cond_implies(&b->conditions[j], &a->conditions[i]);
            if (implied && !a_all)
                return true;
            if (!implied && a_all)
                return false;
        }
        return a_all;
    }
    /* Some condition of b is true, we do not know which: each must imply a. */
    for (size_t j = 0; j < b->n_conditions; j++) {
        bool ok = a_all;
        for (size_t i = 0; i < a->n_conditions; i++) {
            bool imp = cond_implies(&b->conditions[j], &a->conditions[i]);
            if (a_all && !imp) {
                ok = false;
                break;
            }
            if (!a_all && imp) {
                ok = true;
                break;
            }
        }
        if (!ok)
            return false;
    }
    return true;
}

/* With when: all, conditions on one signal that no value satisfies together. Reports
 * and returns true. */
static bool check_contradiction(struct loader *l, size_t i)
{
    const struct state_def *st = &l->r->states[i];
    if (st->when != WHEN_ALL || st->n_conditions < 2)
        return false;
    for (size_t first = 0; first < st->n_conditions; first++) {
        size_t sig = st->conditions[first].signal;
        bool seen = false;
        for (size_t j = 0; j < first && !seen; j++)
            seen = st->conditions[j].signal == sig;
        if (seen)
            continue;
        struct interval iv = {-INFINITY, INFINITY, false, false};
        size_t lo_who = NONE, hi_who = NONE;
        for (size_t j = first; j < st->n_conditions; j++) {
            const struct condition *c = &st->conditions[j];
            if (c->signal != sig || c->op == COND_NE)
                continue;
            struct interval ci = interval_of(c);
            if (ci.lo > iv.lo || (ci.lo == iv.lo && !ci.lo_in && iv.lo_in)) {
                iv.lo = ci.lo;
                iv.lo_in = ci.lo_in;
                lo_who = j;
            }
            if (ci.hi < iv.hi || (ci.hi == iv.hi && !ci.hi_in && iv.hi_in)) {
                iv.hi = ci.hi;
                iv.hi_in = ci.hi_in;
                hi_who = j;
            }
        }
        size_t who[3] = {NONE, NONE, NONE};
        if (iv.lo > iv.hi || (iv.lo == iv.hi && !(iv.lo_in && iv.hi_in))) {
            who[0] = lo_who;
            who[1] = hi_who;
        } else if (iv.lo == iv.hi) {
            for (size_t j = first; j < st->n_conditions; j++)
                if (st->conditions[j].signal == sig && st->conditions[j].op == COND_NE &&
                    st->conditions[j].threshold == iv.lo) {
                    who[0] = lo_who;
                    who[1] = hi_who == lo_who ? NONE : hi_who;
                    who[2] = j;
                    break;
                }
        }
        if (who[0] == NONE && who[2] == NONE)
            continue;
        /* Document order, without the gaps. */
        size_t k = 0, list[3];
        for (size_t j = 0; j < st->n_conditions; j++)
            if (j == who[0] || j == who[1] || j == who[2])
                list[k++] = j;
        const struct state_pos *pos = &l->states[i];
        if (k == 2)
            report(l, pos->node,
                   "state '%.64s' can never be reached: with when: all, conditions '%.80s' and "
                   "'%.80s' cannot both hold",
                   st->name, st->conditions[list[0]].text, st->conditions[list[1]].text);
        else
            report(l, pos->node,
                   "state '%.64s' can never be reached: with when: all, conditions '%.80s', "
                   "'%.80s' and '%.80s' cannot all hold",
                   st->name, st->conditions[list[0]].text, st->conditions[list[1]].text,
                   st->conditions[list[2]].text);
        return true;
    }
    return false;
}

/* Every state must be reachable: none after a state without conditions, the last one
 * without conditions, no self-contradictory when: all, none shadowed by an earlier state
 * that holds whenever it holds and needs no longer `for`. */
static void check_reachable(struct loader *l)
{
    struct rules *r = l->r;
    size_t n = r->n_states, open = NONE;
    bool *dead = alloc_array(l, n, sizeof(*dead));
    if (!dead)
        return;
    for (size_t i = 0; i < n; i++) {
        const struct state_pos *pos = &l->states[i];
        const struct state_def *st = &r->states[i];
        dead[i] = true;
        if (!pos->node)
            continue;
        const char *name = st->name ? st->name : "?";
        if (open != NONE) {
            const struct state_pos *o = &l->states[open];
            report(l, pos->node,
                   "state '%.64s' can never be reached: state '%.64s' (at %u:%u) before it has "
                   "no conditions, so it always holds; only the last state may have none",
                   name, r->states[open].name ? r->states[open].name : "?", ytree_line(o->node),
                   ytree_column(o->node));
            continue;
        }
        if (pos->form == FORM_NONE) {
            if (i < n - 1)
                open = i;
            continue;
        }
        if (i == n - 1) {
            report(l, pos->conditions,
                   "the last state '%.64s' has conditions, but the last state is the default "
                   "and must have none: end with a state without conditions (such as optimal)",
                   name);
            continue;
        }
        if (pos->form != FORM_SOME || !st->name)
            continue;
        if (check_contradiction(l, i))
            continue;
        dead[i] = false;
        for (size_t j = 0; j < i; j++) {
            const struct state_def *a = &r->states[j];
            if (dead[j] || !state_implies(st, a) || a->for_usec > st->for_usec)
                continue;
            char fa[32], fb[32];
            report(l, pos->node,
                   "state '%.64s' can never be reached: whenever it holds, the earlier state "
                   "'%.64s' (at %u:%u) holds too and needs no longer (for %s, here %s), so "
                   "'%.64s' always wins",
                   name, a->name, ytree_line(l->states[j].node), ytree_column(l->states[j].node),
                   fmt_duration(a->for_usec, fa, sizeof(fa)),
                   fmt_duration(st->for_usec, fb, sizeof(fb)), a->name);
            dead[i] = true;
            break;
        }
    }
    free(dead);
}

static void load_states(struct loader *l, const struct ytree_node *root)
{
    struct rules *r = l->r;
    const struct ytree_node *v = ytree_get(root, "states");
    if (!v) {
        report(l, root,
               "missing key 'states': at least 2 are needed (the last, without conditions, is "
               "the default)");
        return;
    }
    if (ytree_is_null(v)) {
        report(l, v,
               "states is empty: at least 2 are needed (the last, without conditions, is the "
               "default)");
        return;
    }
    if (!get_seq(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_STATES) { /* nothing more: the checks below are quadratic */
        report(l, v, "more than %d states", RULES_MAX_STATES);
        return;
    }
    l->states_ok = true;
    if (n < 2)
        report(l, v,
               "states has %zu state%s: at least 2 are needed (the last, without conditions, is "
               "the default)",
               n, n == 1 ? "" : "s");
    if (n == 0)
        return;
    r->states = alloc_array(l, n, sizeof(*r->states));
    l->states = alloc_array(l, n, sizeof(*l->states));
    if (!r->states || !l->states)
        return;
    r->n_states = n;
    for (size_t i = 0; i < n && !l->oom; i++)
        load_state(l, i, ytree_item(v, i), n);
    if (n >= 2 && !l->oom)
        check_reachable(l);
}

/* ---- actions ---- */

/* A scalar as JSON: null, boolean and number only for plain (or so tagged) scalars. */
static json_t *scalar_json(struct loader *l, const struct ytree_node *n)
{
    if (ytree_is_null(n))
        return json_null();
    bool b;
    if (ytree_get_bool(n, &b, NULL) == 0)
        return json_boolean(b);
    size_t len;
    const char *text = ytree_text(n, &len);
    double d;
    if (ytree_get_double(n, &d, NULL) == 0 && isfinite(d)) {
        char *end;
        errno = 0;
        long long i = strtoll(text, &end, 10);
        if (*end == '\0' && errno == 0)
            return json_integer((json_int_t)i);
        return json_real(d);
    }
    if (strlen(text) != len) {
        report(l, n, "string contains a NUL character");
        return NULL;
    }
    json_t *s = json_stringn(text, len);
    if (!s)
        l->oom = true;
    return s;
}

/* The node as JSON (new reference), or NULL after reporting (or running out of memory). */
static json_t *to_json(struct loader *l, const struct ytree_node *n)
{
    json_t *out;
    switch (ytree_kind(n)) {
    case YTREE_SCALAR: return scalar_json(l, n);
    case YTREE_SEQ:
        if (!(out = json_array()))
            break;
        for (size_t i = 0; i < ytree_len(n); i++) {
            json_t *item = to_json(l, ytree_item(n, i));
            if (!item || json_array_append_new(out, item) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    case YTREE_MAP:
        if (!(out = json_object()))
            break;
        for (size_t i = 0; i < ytree_len(n); i++) {
            const char *key;
            if (!get_string(l, ytree_key(n, i), &key)) {
                json_decref(out);
                return NULL;
            }
            json_t *item = to_json(l, ytree_value(n, i));
            if (!item || json_object_set_new(out, key, item) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    l->oom = true;
    return NULL;
}

/* A deep copy of v with the values of secret keys replaced (new reference, NULL on OOM). */
static json_t *redacted(json_t *v)
{
    if (json_is_array(v)) {
        json_t *out = json_array();
        for (size_t i = 0; out && i < json_array_size(v); i++)
            if (json_array_append_new(out, redacted(json_array_get(v, i))) < 0) {
                json_decref(out);
                return NULL;
            }
        return out;
    }
    if (json_is_object(v)) {
        json_t *out = json_object();
        const char *key;
        json_t *item;
        json_object_foreach(v, key, item)
        {
            if (!out)
                break;
            /* A value read from a file ({file: PATH}) names the file, not the secret. */
            bool file_ref = json_is_object(item) && json_object_get(item, "file");
            json_t *copy =
                key_is_secret(key) && !file_ref ? json_string("<redacted>") : redacted(item);
            if (json_object_set_new(out, key, copy) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    }
    return json_deep_copy(v);
}

/* Appends " key=value" for summaries: scalars as written, collections as compact JSON. */
static void summary_kv(struct buf *b, const char *key, const struct ytree_node *v, json_t *jv)
{
    buf_printf(b, " %s=", key);
    if (key_is_secret(key)) {
        buf_puts(b, "<redacted>");
    } else if (ytree_kind(v) == YTREE_SCALAR) {
        buf_puts(b, ytree_is_null(v) ? "null" : ytree_text(v, NULL));
    } else {
        json_t *safe = redacted(jv);
        char *s = safe ? json_dumps(safe, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
        buf_puts(b, s ? s : "?");
        free(s);
        json_decref(safe);
    }
}

/* The entries of map v other than those in skip, as " k=v". */
static void summary_rest(struct buf *b, const struct ytree_node *v, json_t *params,
                         const char *const *skip)
{
    if (ytree_kind(v) != YTREE_MAP)
        return;
    for (size_t i = 0; i < ytree_len(v); i++) {
        const char *key = ytree_text(ytree_key(v, i), NULL);
        bool skipped = false;
        for (const char *const *s = skip; *s && !skipped; s++)
            skipped = strcmp(*s, key) == 0;
        if (!skipped)
            summary_kv(b, key, ytree_value(v, i), json_object_get(params, key));
    }
}

static void put_arg(struct buf *b, const char *arg)
{
    if (*arg && !strpbrk(arg, " \t'\""))
        buf_printf(b, " %s", arg);
    else
        buf_printf(b, " '%s'", arg);
}

/* Cuts the summary to RULES_MAX_SUMMARY bytes on a character boundary. */
static char *finish_summary(struct loader *l, struct buf *b)
{
    if (b->len > RULES_MAX_SUMMARY) {
        size_t cut = RULES_MAX_SUMMARY - 3;
        while (cut > 0 && ((unsigned char)b->data[cut] & 0xc0) == 0x80)
            cut--;
        b->len = cut;
        b->data[cut] = '\0';
        buf_puts(b, "...");
    }
    char *s = b->data ? buf_steal(b, NULL) : strdup("");
    if (!s)
        l->oom = true;
    buf_free(b);
    return s;
}

/* exec: a sequence (argv) or a map with argv; params get argv as strings. */
static bool load_exec(struct loader *l, struct action_def *a, const struct ytree_node *v,
                      struct buf *sum)
{
    const struct ytree_node *argv = v;
    if (ytree_kind(v) == YTREE_MAP) {
        argv = ytree_get(v, "argv");
        if (!argv) {
            report(l, v, "exec needs argv: a sequence such as [/usr/bin/foo, --bar]");
            return false;
        }
    } else if (ytree_kind(v) != YTREE_SEQ) {
        report(l, v, "exec needs argv: a sequence such as [/usr/bin/foo, --bar], got %s",
               ytree_describe(v));
        return false;
    }
    if (!get_seq(l, argv))
        return false;
    if (ytree_len(argv) == 0) {
        report(l, argv, "exec argv is empty");
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
            report(l, item, "exec argv items must be strings, got %s", ytree_describe(item));
            ok = false;
            continue;
        }
        if (!get_string(l, item, &s)) {
            ok = false;
            continue;
        }
        if (i == 0 && !*s) {
            report(l, item, "exec argv[0] is empty");
            ok = false;
            continue;
        }
        if (json_array_append_new(arr, json_string(s)) < 0)
            l->oom = true;
        put_arg(sum, s);
    }
    if (ok && ytree_kind(v) == YTREE_MAP) {
        a->params = to_json(l, v);
        if (a->params)
            json_object_set(a->params, "argv", arr);
        else
            ok = false;
        static const char *const skip[] = {"argv", NULL};
        if (ok)
            summary_rest(sum, v, a->params, skip);
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

static bool load_action_body(struct loader *l, struct action_def *a, const struct ytree_node *v,
                             struct buf *sum)
{
    const struct ytree_node *x;
    const char *s;
    if (a->kind == ACTION_EXEC)
        return load_exec(l, a, v, sum);
    if (a->kind == ACTION_ALERT && ytree_is_null(v)) {
        a->params = json_object();
        if (!a->params)
            l->oom = true;
        return a->params != NULL;
    }
    if (ytree_kind(v) != YTREE_MAP) {
        report(l, v, "%s: expected a map, got %s", kind_names[a->kind], ytree_describe(v));
        return false;
    }
    bool ok = true;
    const char *primary[3] = {NULL, NULL, NULL};
    switch (a->kind) {
    case ACTION_SYSTEMD:
        primary[0] = "unit";
        if (!(x = ytree_get(v, "unit"))) {
            report(l, v, "systemd needs a unit");
            ok = false;
        } else if (get_text(l, x, "unit", 256, &s)) {
            buf_printf(sum, " %s", s);
        } else {
            ok = false;
        }
        break;
    case ACTION_KUBECTL: {
        const struct ytree_node *verb = NULL;
        const char *verb_name = NULL;
        for (const char *const *vb = kubectl_verbs; *vb; vb++) {
            if (!(x = ytree_get(v, *vb)))
                continue;
            if (verb) {
                report(l, key_node(v, *vb),
                       "kubectl takes one of scale, patch, annotate or rollout_restart, got "
                       "'%s' and '%s'",
                       verb_name, *vb);
                ok = false;
                continue;
            }
            verb = x;
            verb_name = *vb;
        }
        if (!verb) {
            report(l, v, "kubectl needs one of scale, patch, annotate or rollout_restart");
            return false;
        }
        primary[0] = verb_name;
        if (!get_text(l, verb, verb_name, 256, &s))
            return false;
        buf_printf(sum, " %s %s",
                   strcmp(verb_name, "rollout_restart") ? verb_name : "rollout restart", s);
        break;
    }
    case ACTION_WEBHOOK:
        primary[0] = "url";
        primary[1] = "method";
        if ((x = ytree_get(v, "method")) && !get_text(l, x, "method", 16, &s))
            ok = false;
        buf_printf(sum, " %s", x && ok ? ytree_text(x, NULL) : "POST");
        if (!(x = ytree_get(v, "url"))) {
            report(l, v, "webhook needs a url");
            ok = false;
        } else if (get_url(l, x, &s)) {
            buf_printf(sum, " %s", s);
        } else {
            ok = false;
        }
        break;
    case ACTION_ALERT:
    case ACTION_EXEC: break;
    }
    if (!ok)
        return false;
    a->params = to_json(l, v);
    if (!a->params)
        return false;
    summary_rest(sum, v, a->params, primary);
    return true;
}

/* Top-level *_file parameters of an action, made relative to the rules file's directory. */
/* Relative paths of *_file keys, and of the {file: PATH} values of headers (in the
 * params and in their revert map), are resolved against the rules file's directory. */
static bool resolve_files(struct loader *l, json_t *params)
{
    const char *key;
    json_t *v;
    if (!l->dir || !json_is_object(params))
        return true;
    json_object_foreach(params, key, v)
    {
        size_t len = strlen(key);
        if (strcmp(key, "headers") == 0 && json_is_object(v)) {
            const char *h;
            json_t *hv;
            json_object_foreach(v, h,
                                hv) if (json_is_object(hv) && !resolve_files(l, hv)) return false;
            continue;
        }
        if (strcmp(key, "revert") == 0 && json_is_object(v)) {
            if (!resolve_files(l, v))
                return false;
            continue;
        }
        if (!json_is_string(v) ||
            (strcmp(key, "file") != 0 && (len < 5 || strcmp(key + len - 5, "_file") != 0)))
            continue;
        const char *path = json_string_value(v);
        if (path[0] == '/' || !path[0] || strstr(path, "{{"))
            continue;
        struct buf b;
        buf_init(&b, 0);
        if (buf_printf(&b, "%s/%s", l->dir, path) < 0 ||
            json_object_set_new(params, key, json_string(b.data)) < 0) {
            buf_free(&b);
            l->oom = true;
            return false;
        }
        buf_free(&b);
    }
    return true;
}

/* A secret written into the rules file (a header such as Authorization, a key such as
 * api_key) is allowed but unwise: the file is read by many, copied to state and shown;
 * warn and point to the {file: PATH} form. Placeholders are not secrets. */
static void warn_inline_secrets(struct loader *l, const struct ytree_node *n)
{
    if (!l->warnings || ytree_kind(n) != YTREE_MAP)
        return;
    for (size_t i = 0; i < ytree_len(n); i++) {
        const struct ytree_node *k = ytree_key(n, i), *v = ytree_value(n, i);
        const char *key = ytree_text(k, NULL);
        if (ytree_kind(v) == YTREE_MAP) {
            warn_inline_secrets(l, v);
            continue;
        }
        const char *text = ytree_kind(v) == YTREE_SCALAR ? ytree_text(v, NULL) : NULL;
        if (!key || !text || !*text || strstr(text, "{{") || !key_is_secret(key))
            continue;
        ytree_error(l->warnings, v,
                    "warning: '%.64s' holds a secret inline; read it from a file instead "
                    "(%.64s: {file: /etc/homeostat/secret, prefix: \"Bearer \"} for a header, "
                    "a *_file key elsewhere)",
                    key, key);
    }
}

static bool load_action(struct loader *l, struct action_def *a, const struct ytree_node *v)
{
    if (ytree_kind(v) != YTREE_MAP || ytree_len(v) != 1) {
        if (ytree_kind(v) == YTREE_MAP && ytree_len(v) > 1)
            report(l, v,
                   "an action is a map with one key (" KIND_LIST
                   "), got %zu keys: indent the settings under the kind",
                   ytree_len(v));
        else
            report(l, v, "an action is a map with one key (" KIND_LIST "), got %s",
                   ytree_describe(v));
        return false;
    }
    const struct ytree_node *k = ytree_key(v, 0);
    const char *kind = ytree_text(k, NULL);
    size_t i;
    for (i = 0; i < N_KINDS; i++)
        if (strcmp(kind, kind_names[i]) == 0)
            break;
    if (i == N_KINDS) {
        const char *hint = did_you_mean(kind, kind_names, N_KINDS);
        if (hint)
            report(l, k, "unknown action '%.64s'; did you mean '%s'?", kind, hint);
        else
            report(l, k, "unknown action '%.64s' (" KIND_LIST ")", kind);
        return false;
    }
    a->kind = (enum action_kind)i;
    struct buf sum;
    buf_init(&sum, 0);
    buf_puts(&sum, kind_names[i]);
    const struct ytree_node *body = ytree_value(v, 0);
    if (!load_action_body(l, a, body, &sum)) {
        buf_free(&sum);
        return false;
    }
    if (!resolve_files(l, a->params)) {
        buf_free(&sum);
        return false;
    }
    warn_inline_secrets(l, body);
    const char *bad_key = NULL;
    char msg[512];
    if (actuator_validate(a->kind, a->params, l->declared, &bad_key, msg, sizeof(msg)) < 0) {
        const struct ytree_node *at = NULL;
        if (bad_key && ytree_kind(body) == YTREE_MAP)
            at = ytree_get(body, bad_key);
        report(l, at ? at : body, "%s: %s%s%s", kind_names[i], at || !bad_key ? "" : bad_key,
               at || !bad_key ? "" : ": ", msg);
        buf_free(&sum);
        return false;
    }
    a->summary = finish_summary(l, &sum);
    return a->summary != NULL;
}

/* A sequence of actions into *ret (owned by the caller even when it fails). */
static void load_actions(struct loader *l, const struct ytree_node *v, struct action_def **ret,
                         size_t *ret_n)
{
    if (ytree_is_null(v))
        return;
    if (!get_seq(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_ACTIONS) {
        report(l, v, "more than %d actions", RULES_MAX_ACTIONS);
        return;
    }
    *ret = alloc_array(l, n, sizeof(**ret));
    if (!*ret)
        return;
    for (size_t i = 0; i < n && !l->oom; i++) {
        load_action(l, &(*ret)[i], ytree_item(v, i));
        *ret_n = i + 1;
    }
}

/* ---- decisions and manual actions ---- */

static void load_decision(struct loader *l, struct decision_def *d, const struct ytree_node *v)
{
    static const char *const keys[] = {"min_confidence", "cooldown", "actions", "revert_on_exit",
                                       "revert_delay",   "dry_run",  NULL};
    d->cooldown_usec = DEFAULT_COOLDOWN_USEC;
    d->revert_delay_usec = DEFAULT_REVERT_DELAY_USEC;
    if (ytree_is_null(v))
        return;
    if (!get_map(l, v))
        return;
    check_keys(l, v, keys);
    const struct ytree_node *x;
    if ((x = ytree_get(v, "min_confidence"))) {
        double c;
        if (ytree_get_double(x, &c, l->errors) < 0)
            l->err = -EINVAL;
        else if (!(c >= 0 && c <= 1))
            report(l, x, "min_confidence must be between 0 and 1, got %s", ytree_text(x, NULL));
        else
            d->min_confidence = c;
    }
    if ((x = ytree_get(v, "cooldown")))
        get_duration(l, x, &d->cooldown_usec);
    if ((x = ytree_get(v, "actions")))
        load_actions(l, x, &d->actions, &d->n_actions);
    if ((x = ytree_get(v, "revert_on_exit")))
        get_bool(l, x, &d->revert_on_exit);
    if ((x = ytree_get(v, "revert_delay")))
        get_duration(l, x, &d->revert_delay_usec);
    if ((x = ytree_get(v, "dry_run")))
        get_bool(l, x, &d->dry_run);
}

static void load_decisions(struct loader *l, const struct ytree_node *root)
{
    struct rules *r = l->r;
    const struct ytree_node *v = ytree_get(root, "decisions");
    if (!v || ytree_is_null(v) || !get_map(l, v))
        return;
    size_t n = ytree_len(v);
    r->decisions = alloc_array(l, n, sizeof(*r->decisions));
    if (!r->decisions)
        return;
    r->n_decisions = n;
    const char **names = alloc_array(l, r->n_states, sizeof(*names));
    if (!names)
        return;
    for (size_t i = 0; i < r->n_states; i++)
        names[i] = r->states[i].name;
    for (size_t i = 0; i < n && !l->oom; i++) {
        struct decision_def *d = &r->decisions[i];
        const struct ytree_node *k = ytree_key(v, i);
        const char *name = ytree_text(k, NULL);
        size_t s;
        for (s = 0; s < r->n_states; s++)
            if (names[s] && strcmp(names[s], name) == 0)
                break;
        d->state = s;
        if (strcmp(name, RULES_STATE_UNKNOWN) == 0) {
            report(l, k, "no decision can be attached to 'unknown': nothing runs on missing data");
        } else if (s == r->n_states && l->states_ok) {
            const char *hint = did_you_mean(name, names, r->n_states);
            if (hint)
                report(l, k, "decision for unknown state '%.64s' (did you mean '%s'?)", name, hint);
            else
                report(l, k, "decision for unknown state '%.64s'", name);
        }
        load_decision(l, d, ytree_value(v, i));
    }
    free(names);
}

static const char *const param_types[] = {
    [PARAM_STRING] = "string",   [PARAM_INTEGER] = "integer", [PARAM_NUMBER] = "number",
    [PARAM_BOOLEAN] = "boolean", [PARAM_SCALAR] = "scalar",   NULL};

const char *rules_param_type_name(enum param_type t)
{
    return (size_t)t <= PARAM_SCALAR ? param_types[t] : "unknown";
}

/* Whether JSON value v has type t (an integer is also a number). */
static bool param_type_ok(enum param_type t, const json_t *v)
{
    switch (t) {
    case PARAM_STRING: return json_is_string(v);
    case PARAM_INTEGER: return json_is_integer(v);
    case PARAM_NUMBER: return json_is_number(v);
    case PARAM_BOOLEAN: return json_is_boolean(v);
    case PARAM_SCALAR: return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
    }
    return false;
}

/* Appends to msg why v does not fit p (nothing when it does). */
static void param_check(const struct param_def *p, const json_t *v, struct buf *why)
{
    if (!param_type_ok(p->type, v)) {
        char *shown = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        buf_printf(why, "%s%s: expected %s, got %.60s", why->len ? "; " : "", p->name,
                   p->type == PARAM_INTEGER  ? "an integer"
                   : p->type == PARAM_SCALAR ? "a string, number or boolean"
                                             : param_types[p->type],
                   shown ? shown : "?");
        free(shown);
        return;
    }
    double x = p->type == PARAM_STRING ? (double)strlen(json_string_value(v))
               : json_is_number(v)     ? json_number_value(v)
                                       : 0;
    const char *what = p->type == PARAM_STRING ? " characters" : "";
    if (p->has_min && x < p->min)
        buf_printf(why, "%s%s: %g%s is below the minimum %g", why->len ? "; " : "", p->name, x,
                   what, p->min);
    else if (p->has_max && x > p->max)
        buf_printf(why, "%s%s: %g%s is above the maximum %g", why->len ? "; " : "", p->name, x,
                   what, p->max);
    if (p->choices && json_is_string(v)) {
        bool found = false;
        for (char **c = p->choices; *c && !found; c++)
            found = strcmp(*c, json_string_value(v)) == 0;
        if (!found)
            buf_printf(why, "%s%s: '%.60s' is not one of the allowed values", why->len ? "; " : "",
                       p->name, json_string_value(v));
    }
}

json_t *rules_manual_args(const struct manual_action_def *m, const json_t *given, char *msg,
                          size_t msg_size)
{
    struct buf why;
    buf_init(&why, 4096);
    msg[0] = '\0';
    if (given && !json_is_object(given)) {
        snprintf(msg, msg_size, "parameters must be a JSON object");
        buf_free(&why);
        return NULL;
    }
    json_t *out = json_object();
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)given, key, v)
    {
        size_t i;
        for (i = 0; i < m->n_params; i++)
            if (strcmp(m->params[i].name, key) == 0)
                break;
        if (i == m->n_params)
            buf_printf(&why, "%sunknown parameter '%.64s'", why.len ? "; " : "", key);
    }
    for (size_t i = 0; i < m->n_params; i++) {
        const struct param_def *p = &m->params[i];
        json_t *x = given ? json_object_get(given, p->name) : NULL;
        if (!x || json_is_null(x)) {
            if (p->def)
                json_object_set(out, p->name, p->def);
            else if (p->required)
                buf_printf(&why, "%smissing parameter '%s' (%s)", why.len ? "; " : "", p->name,
                           param_types[p->type]);
            else /* {{name}} of an optional parameter left out: null, or "" in a string */
                json_object_set_new(out, p->name, json_null());
            continue;
        }
        size_t before = why.len;
        param_check(p, x, &why);
        if (why.len == before)
            json_object_set(out, p->name, x);
    }
    if (why.len) {
        snprintf(msg, msg_size, "%s", why.data);
        buf_free(&why);
        json_decref(out);
        return NULL;
    }
    buf_free(&why);
    return out;
}

static void load_param(struct loader *l, struct param_def *p, const struct ytree_node *v)
{
    static const char *const keys[] = {"type", "required", "default",     "min",
                                       "max",  "choices",  "description", NULL};
    p->required = true;
    if (!get_map(l, v))
        return;
    check_keys(l, v, keys);
    const struct ytree_node *x;
    int t;
    if (!(x = ytree_get(v, "type")))
        report(l, v, "parameter '%.64s' needs a type (string, integer, number, boolean or scalar)",
               p->name);
    else if (get_enum(l, x, "type", param_types, &t))
        p->type = (enum param_type)t;
    else
        return;
    if ((x = ytree_get(v, "required")))
        get_bool(l, x, &p->required);
    const char *bounds[] = {"min", "max"};
    for (int b = 0; b < 2; b++) {
        if (!(x = ytree_get(v, bounds[b])))
            continue;
        double d;
        if (p->type == PARAM_BOOLEAN) {
            report(l, x, "%s does not apply to a boolean parameter", bounds[b]);
        } else if (ytree_get_double(x, &d, l->errors) < 0 || !isfinite(d)) {
            l->err = -EINVAL;
        } else if (b == 0) {
            p->has_min = true;
            p->min = d;
        } else {
            p->has_max = true;
            p->max = d;
        }
    }
    if (p->has_min && p->has_max && p->min > p->max)
        report(l, ytree_get(v, "max"), "max %g is below min %g", p->max, p->min);
    if ((x = ytree_get(v, "choices"))) {
        if (p->type != PARAM_STRING) {
            report(l, x, "choices applies to string parameters only");
        } else if (get_seq(l, x)) {
            p->choices = alloc_array(l, ytree_len(x) + 1, sizeof(char *));
            /* Packed: the list ends at its first NULL (a choice that is not a string is
             * reported and left out, not a hole that would hide the ones after it). */
            size_t n = 0;
            for (size_t i = 0; p->choices && i < ytree_len(x); i++) {
                const char *c;
                if (get_string(l, ytree_item(x, i), &c) && (p->choices[n] = dup_str(l, c)))
                    n++;
            }
        }
    }
    const char *s;
    if ((x = ytree_get(v, "description")) && get_string(l, x, &s))
        p->description = dup_str(l, s);
    if ((x = ytree_get(v, "default"))) {
        json_t *d = to_json(l, x);
        if (d) {
            struct buf why;
            buf_init(&why, 1024);
            param_check(p, d, &why);
            if (why.len) {
                report(l, x, "default: %s", why.data);
                json_decref(d);
            } else {
                p->def = d;
                p->required = false;
            }
            buf_free(&why);
        }
    }
}

struct implicit {
    struct loader *l;
    struct manual_action_def *m;
    const struct ytree_node *at;
    const char **declared;
};

/* Declares {{name}} unless it is built in or already declared; nonzero stops. */
static int add_implicit(const char *name, size_t n, void *ud)
{
    struct implicit *x = ud;
    struct manual_action_def *m = x->m;
    bool known = n > RULES_MAX_NAME;
    for (const char *const *b = actuator_builtin_vars; *b && !known; b++)
        known = strlen(*b) == n && strncmp(*b, name, n) == 0;
    for (size_t i = 0; i < m->n_params && !known; i++)
        known = strlen(m->params[i].name) == n && strncmp(m->params[i].name, name, n) == 0;
    if (known)
        return 0;
    if (m->n_params >= RULES_MAX_PARAMS) {
        report(x->l, x->at, "more than %d parameters", RULES_MAX_PARAMS);
        return 1;
    }
    struct param_def *pd = &m->params[m->n_params];
    if (!(pd->name = strndup(name, n))) {
        x->l->oom = true;
        return 1;
    }
    pd->type = PARAM_SCALAR;
    pd->required = true;
    x->declared[m->n_params++] = pd->name;
    return 0;
}

/* The short form declares a required scalar parameter for every {{name}} that is not a
 * built-in placeholder, in order of appearance; declared[] gets their names. A malformed
 * placeholder is left to the actions' own check. */
static void collect_placeholders(struct loader *l, struct manual_action_def *m,
                                 const struct ytree_node *v, const char **declared)
{
    if (ytree_kind(v) == YTREE_SEQ || ytree_kind(v) == YTREE_MAP) {
        for (size_t i = 0; i < ytree_len(v); i++)
            collect_placeholders(
                l, m, ytree_kind(v) == YTREE_SEQ ? ytree_item(v, i) : ytree_value(v, i), declared);
        return;
    }
    struct implicit x = {l, m, v, declared};
    const char *text = ytree_text(v, NULL);
    if (text)
        actuator_each_placeholder(text, add_implicit, &x);
}

static void implicit_params(struct loader *l, struct manual_action_def *m,
                            const struct ytree_node *v, const char **declared)
{
    m->params = alloc_array(l, RULES_MAX_PARAMS, sizeof(*m->params));
    if (m->params)
        collect_placeholders(l, m, v, declared);
}

/* The map form: description, params and actions. */
static void load_manual_map(struct loader *l, struct manual_action_def *m,
                            const struct ytree_node *v)
{
    static const char *const keys[] = {"description", "params", "actions", NULL};
    check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if ((x = ytree_get(v, "description")) && get_string(l, x, &s))
        m->description = dup_str(l, s);
    const char *declared[RULES_MAX_PARAMS + 1] = {NULL};
    if ((x = ytree_get(v, "params")) && !ytree_is_null(x) && get_map(l, x)) {
        size_t n = ytree_len(x);
        if (n > RULES_MAX_PARAMS) {
            report(l, x, "more than %d parameters", RULES_MAX_PARAMS);
            n = 0;
        }
        m->params = alloc_array(l, n, sizeof(*m->params));
        for (size_t i = 0; m->params && i < n; i++) {
            const char *name;
            m->params[i].name = dup_str(l, ytree_text(ytree_key(x, i), NULL));
            m->n_params = i + 1;
            if (!m->params[i].name)
                break;
            get_name(l, ytree_key(x, i), "parameter", &name);
            for (const char *const *b = actuator_builtin_vars; *b; b++)
                if (strcmp(*b, m->params[i].name) == 0)
                    report(l, ytree_key(x, i),
                           "parameter '%s' would hide the built-in placeholder {{%s}}", *b, *b);
            declared[i] = m->params[i].name;
            load_param(l, &m->params[i], ytree_value(x, i));
        }
    }
    x = ytree_get(v, "actions");
    if (!x || ytree_is_null(x) || (ytree_kind(x) == YTREE_SEQ && ytree_len(x) == 0)) {
        report(l, x ? x : v, "manual action '%.64s' has no actions", m->name ? m->name : "?");
        return;
    }
    l->declared = declared;
    load_actions(l, x, &m->actions, &m->n_actions);
    l->declared = NULL;
}

static void load_manual_actions(struct loader *l, const struct ytree_node *root)
{
    struct rules *r = l->r;
    const struct ytree_node *v = ytree_get(root, "manual_actions");
    if (!v || ytree_is_null(v) || !get_map(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_MANUAL_ACTIONS) {
        report(l, v, "more than %d manual actions", RULES_MAX_MANUAL_ACTIONS);
        return;
    }
    r->manual_actions = alloc_array(l, n, sizeof(*r->manual_actions));
    if (!r->manual_actions)
        return;
    r->n_manual_actions = n;
    for (size_t i = 0; i < n && !l->oom; i++) {
        struct manual_action_def *m = &r->manual_actions[i];
        const struct ytree_node *k = ytree_key(v, i), *val = ytree_value(v, i);
        const char *name;
        m->name = dup_str(l, ytree_text(k, NULL));
        get_name(l, k, "manual action", &name);
        if (ytree_kind(val) == YTREE_MAP) {
            load_manual_map(l, m, val);
        } else if (ytree_is_null(val) || (ytree_kind(val) == YTREE_SEQ && ytree_len(val) == 0)) {
            report(l, val, "manual action '%.64s' has no actions", ytree_text(k, NULL));
        } else {
            const char *declared[RULES_MAX_PARAMS + 1] = {NULL};
            implicit_params(l, m, val, declared);
            l->declared = declared;
            load_actions(l, val, &m->actions, &m->n_actions);
            l->declared = NULL;
        }
    }
}

/* ---- limits and alerting ---- */

static void load_limits(struct loader *l, const struct ytree_node *v)
{
    static const char *const keys[] = {"max_actions_per_hour", NULL};
    l->r->max_actions_per_hour = DEFAULT_ACTIONS_PER_HOUR;
    if (!v || ytree_is_null(v) || !get_map(l, v))
        return;
    check_keys(l, v, keys);
    const struct ytree_node *x;
    if ((x = ytree_get(v, "max_actions_per_hour"))) {
        double d;
        if (ytree_get_double(x, &d, l->errors) < 0)
            l->err = -EINVAL;
        else if (!(d >= 0 && d <= 100000) || d != floor(d))
            report(l, x, "max_actions_per_hour must be a whole number from 0 (no limit) to 100000");
        else
            l->r->max_actions_per_hour = (unsigned)d;
    }
}

static void load_alerting_map(struct loader *l, const struct ytree_node *v,
                              const char *const *keys);

static void load_alerting(struct loader *l, const struct ytree_node *v)
{
    static const char *const keys[] = {"alertmanagers", "resend_interval", "external_url", NULL};
    struct rules *r = l->r;
    r->alert_resend_usec = DEFAULT_RESEND_USEC;
    if (v && !ytree_is_null(v) && get_map(l, v))
        load_alerting_map(l, v, keys);
    for (size_t i = 0; i < r->n_decisions; i++)
        for (size_t j = 0; j < r->decisions[i].n_actions; j++)
            if (r->decisions[i].actions[j].kind == ACTION_ALERT &&
                r->decisions[i].actions[j].params && r->n_alertmanagers == 0 &&
                !json_object_get(r->decisions[i].actions[j].params, "alertmanagers")) {
                report(l, v ? v : key_node(l->root, "decisions"),
                       "decisions use alert actions, but alerting.alertmanagers is empty");
                return;
            }
}

static void load_alerting_map(struct loader *l, const struct ytree_node *v, const char *const *keys)
{
    struct rules *r = l->r;
    check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if ((x = ytree_get(v, "alertmanagers")) && !ytree_is_null(x) && get_seq(l, x)) {
        size_t n = ytree_len(x);
        if (n > RULES_MAX_ALERTMANAGERS) {
            report(l, x, "more than %d alertmanagers", RULES_MAX_ALERTMANAGERS);
            n = 0;
        }
        r->alertmanagers = alloc_array(l, n + 1, sizeof(char *));
        for (size_t i = 0; r->alertmanagers && i < n; i++)
            if (get_url(l, ytree_item(x, i), &s)) {
                r->alertmanagers[r->n_alertmanagers++] = dup_str(l, s);
            }
    }
    if ((x = ytree_get(v, "resend_interval")) && get_duration(l, x, &r->alert_resend_usec) &&
        (r->alert_resend_usec < USEC_PER_SEC || r->alert_resend_usec > 3600 * USEC_PER_SEC)) {
        report(l, x, "resend_interval must be from 1s to 1h, got '%s'", ytree_text(x, NULL));
    }
    if ((x = ytree_get(v, "external_url")) && get_url(l, x, &s))
        r->external_url = dup_str(l, s);
}

/* ---- report ---- */

/* "value OP NUMBER", the condition of a report check or optimization on each series. */
static bool parse_report_condition(struct loader *l, const struct ytree_node *n,
                                   struct report_item *it)
{
    static const struct {
        const char *text;
        enum cond_op op;
    } ops[] = {{">=", COND_GE}, {"<=", COND_LE}, {"==", COND_EQ},
               {"!=", COND_NE}, {">", COND_GT},  {"<", COND_LT}};
    const char *s;
    if (!get_string(l, n, &s))
        return false;
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (strncmp(p, "value", 5) != 0 || isalnum((unsigned char)p[5]) || p[5] == '_') {
        report(l, n, "condition '%.80s': expected 'value OP NUMBER' such as 'value > 0.9'", s);
        return false;
    }
    p += 5;
    while (isspace((unsigned char)*p))
        p++;
    size_t o, run = 0;
    for (o = 0; o < sizeof(ops) / sizeof(ops[0]); o++)
        if (strncmp(p, ops[o].text, strlen(ops[o].text)) == 0)
            break;
    while (op_char(p[run]))
        run++;
    if (o == sizeof(ops) / sizeof(ops[0]) || run != strlen(ops[o].text)) {
        report(l, n,
               "condition '%.80s': expected an operator (>, >=, <, <=, == or !=) after 'value'", s);
        return false;
    }
    p += run;
    while (isspace((unsigned char)*p))
        p++;
    size_t num = 0;
    while (p[num] && (isdigit((unsigned char)p[num]) || strchr(".eE+-", p[num])))
        num++;
    char tmp[64];
    double v = 0;
    int r = -EINVAL;
    if (num > 0 && num < sizeof(tmp)) {
        memcpy(tmp, p, num);
        tmp[num] = '\0';
        r = parse_double(tmp, &v);
    }
    if (num == 0) {
        report(l, n, "condition '%.80s': expected a number after '%s'", s, ops[o].text);
        return false;
    }
    if (r < 0 || !isfinite(v)) {
        report(l, n, "condition '%.80s': '%.*s' is not a number", s, num > 32 ? 32 : (int)num, p);
        return false;
    }
    p += num;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '%') {
        report(l, n,
               "condition '%.80s': unexpected '%%' after the threshold: write the number in the "
               "query's unit (0.85 for 85 %% of a ratio)",
               s);
        return false;
    }
    if (*p) {
        report(l, n, "condition '%.80s': unexpected '%.32s' after the threshold", s, p);
        return false;
    }
    it->op = ops[o].op;
    it->threshold = v;
    it->condition = dup_str(l, s);
    return it->condition != NULL;
}

/* One annotation: a template (template.h), checked now. */
static void load_annotation(struct loader *l, const struct ytree_node *map, const char *key,
                            bool required, const char *owner, char **ret)
{
    const struct ytree_node *x = ytree_get(map, key);
    const char *s;
    if (!x) {
        if (required)
            report(l, map, "%s needs annotations.%s", owner, key);
        return;
    }
    if (!get_text(l, x, key, 0, &s))
        return;
    char msg[512];
    if (template_check(s, msg, sizeof(msg)) < 0) {
        report(l, x, "annotations.%s: %s", key, msg);
        return;
    }
    *ret = dup_str(l, s);
}

/* A check (optimization false) or an optimization of the report section. */
static void load_report_item(struct loader *l, struct report_item *it, const struct ytree_node *v,
                             bool optimization, const struct ytree_node **names, size_t index)
{
    static const char *const check_keys_[] = {"name",      "query", "condition",   "severity",
                                              "component", "slow",  "annotations", NULL};
    static const char *const opt_keys[] = {"name",   "query", "condition",   "type", "impact",
                                           "effort", "slow",  "annotations", NULL};
    static const char *const check_notes[] = {"summary", "description", "recommendation", NULL};
    static const char *const opt_notes[] = {"description", "recommendation", NULL};
    static const char *const severities[] = {"critical", "warning", "info", NULL};
    static const char *const levels[] = {"high", "medium", "low", NULL};
    const char *what = optimization ? "optimization" : "check";
    if (!get_map(l, v))
        return;
    check_keys(l, v, optimization ? opt_keys : check_keys_);
    const struct ytree_node *x;
    const char *s;
    int k;
    if (!(x = ytree_get(v, "name"))) {
        report(l, v, "report %s has no name", what);
    } else if (get_name(l, x, what, &s)) {
        names[index] = x;
        it->name = dup_str(l, s);
        for (size_t j = 0; j < index; j++)
            if (names[j] && strcmp(ytree_text(names[j], NULL), s) == 0) {
                report(l, x, "duplicate report name '%.64s' (first at %u:%u)", s,
                       ytree_line(names[j]), ytree_column(names[j]));
                break;
            }
    }
    char owner[96];
    snprintf(owner, sizeof(owner), "%s '%.64s'", what, it->name ? it->name : "?");
    if (!(x = ytree_get(v, "query"))) {
        report(l, v, "%s has no query", owner);
    } else if (get_string(l, x, &s)) {
        const char *c = s;
        while (isspace((unsigned char)*c))
            c++;
        if (!*c)
            report(l, x, "query is empty");
        else
            it->query = dup_str(l, s);
    }
    if (!(x = ytree_get(v, "condition")))
        report(l, v, "%s has no condition (such as 'value > 0.9')", owner);
    else
        parse_report_condition(l, x, it);
    if ((x = ytree_get(v, "slow")))
        get_bool(l, x, &it->slow);
    if (optimization) {
        if (!(x = ytree_get(v, "type")))
            report(l, v, "%s has no type (such as rightsizing, caching, scaling, configuration)",
                   owner);
        else if (get_name(l, x, "type", &s))
            it->type = dup_str(l, s);
        it->impact = it->effort = REPORT_MEDIUM;
        if ((x = ytree_get(v, "impact")) && get_enum(l, x, "impact", levels, &k))
            it->impact = (enum report_level)k;
        if ((x = ytree_get(v, "effort")) && get_enum(l, x, "effort", levels, &k))
            it->effort = (enum report_level)k;
    } else {
        if (!(x = ytree_get(v, "severity")))
            report(l, v, "%s has no severity (critical, warning or info)", owner);
        else if (get_enum(l, x, "severity", severities, &k))
            it->severity = (enum report_severity)k;
        if (!(x = ytree_get(v, "component")))
            report(l, v, "%s has no component (such as cpu, memory, filesystem)", owner);
        else if (get_name(l, x, "component", &s))
            it->component = dup_str(l, s);
    }
    if (!(x = ytree_get(v, "annotations"))) {
        report(l, v, "%s needs annotations with a description", owner);
        return;
    }
    if (!get_map(l, x))
        return;
    check_keys(l, x, optimization ? opt_notes : check_notes);
    if (!optimization)
        load_annotation(l, x, "summary", false, owner, &it->summary);
    load_annotation(l, x, "description", true, owner, &it->description);
    load_annotation(l, x, "recommendation", false, owner, &it->recommendation);
}

static void load_report_items(struct loader *l, const struct ytree_node *v, bool optimization,
                              const struct ytree_node **names, size_t *n_names)
{
    struct report_def *d = l->r->report;
    if (!v || ytree_is_null(v) || !get_seq(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_REPORT_ITEMS) {
        report(l, v, "more than %d %s", RULES_MAX_REPORT_ITEMS,
               optimization ? "optimizations" : "checks");
        return;
    }
    struct report_item *items = alloc_array(l, n, sizeof(*items));
    if (!items)
        return;
    if (optimization) {
        d->optimizations = items;
        d->n_optimizations = n;
    } else {
        d->checks = items;
        d->n_checks = n;
    }
    for (size_t i = 0; i < n && !l->oom; i++)
        load_report_item(l, &items[i], ytree_item(v, i), optimization, names, (*n_names)++);
}

static void load_report(struct loader *l, const struct ytree_node *v)
{
    static const char *const keys[] = {"timeout", "checks", "optimizations", NULL};
    struct report_def *d = alloc_array(l, 1, sizeof(*d));
    if (!d)
        return;
    d->refs = 1;
    d->timeout_usec = DEFAULT_REPORT_TIMEOUT_USEC;
    l->r->report = d;
    if (!v || ytree_is_null(v) || !get_map(l, v))
        return;
    check_keys(l, v, keys);
    const struct ytree_node *x;
    if ((x = ytree_get(v, "timeout")) && get_duration(l, x, &d->timeout_usec) &&
        (d->timeout_usec < MIN_INTERVAL_USEC || d->timeout_usec > 60 * USEC_PER_SEC))
        report(l, x, "timeout must be from 100ms to 1m, got '%s'", ytree_text(x, NULL));
    /* Names are unique over checks and optimizations together. */
    const struct ytree_node **names = alloc_array(l, 2 * RULES_MAX_REPORT_ITEMS, sizeof(*names));
    size_t n_names = 0;
    if (!names)
        return;
    load_report_items(l, ytree_get(v, "checks"), false, names, &n_names);
    if (!l->oom)
        load_report_items(l, ytree_get(v, "optimizations"), true, names, &n_names);
    free(names);
}

/* ---- the whole file ---- */

static void load_root(struct loader *l, const struct ytree_node *root)
{
    static const char *const keys[] = {"evaluation_interval",
                                       "prometheus",
                                       "signals",
                                       "states",
                                       "on_missing_data",
                                       "decisions",
                                       "manual_actions",
                                       "limits",
                                       "alerting",
                                       "report",
                                       NULL};
    static const char *const policies[] = {"hold", "unknown", NULL};
    struct rules *r = l->r;
    r->evaluation_interval_usec = DEFAULT_INTERVAL_USEC;
    r->prometheus.timeout_usec = DEFAULT_TIMEOUT_USEC;
    if (ytree_kind(root) != YTREE_MAP) {
        report(l, root, "expected a map with 'signals' and 'states', got %s", ytree_describe(root));
        return;
    }
    check_keys(l, root, keys);
    const struct ytree_node *v;
    bool interval_ok = true;
    if ((v = ytree_get(root, "evaluation_interval"))) {
        uint64_t u;
        if (!get_duration(l, v, &u)) {
            interval_ok = false;
        } else if (u < MIN_INTERVAL_USEC) {
            report(l, v, "evaluation_interval must be at least 100ms, got '%s'",
                   ytree_text(v, NULL));
            interval_ok = false;
        } else {
            r->evaluation_interval_usec = u;
        }
    }
    load_prometheus(l, ytree_get(root, "prometheus"), interval_ok);
    load_signals(l, root);
    if (!l->oom)
        load_states(l, root);
    if (!l->oom && l->r->n_signals == 0 && l->no_signals) {
        if (l->no_signals == root)
            report(l, root, "missing key 'signals': at least one signal is needed");
        else
            report(l, l->no_signals, "signals is empty: at least one signal is needed");
    }
    int k;
    if ((v = ytree_get(root, "on_missing_data")) && get_enum(l, v, "on_missing_data", policies, &k))
        r->on_missing_data = (enum missing_policy)k;
    if (!l->oom)
        load_decisions(l, root);
    if (!l->oom)
        load_manual_actions(l, root);
    if (!l->oom)
        load_limits(l, ytree_get(root, "limits"));
    l->root = root;
    if (!l->oom)
        load_alerting(l, ytree_get(root, "alerting"));
    if (!l->oom)
        load_report(l, ytree_get(root, "report"));
}

/* Validates tree (freed here) into a new struct rules. */
static int load_from_tree(struct ytree *tree, const char *dir, struct rules **ret,
                          struct buf *errors)
{
    struct rules *r = calloc(1, sizeof(*r));
    struct buf found, warned;
    buf_init(&found, errors && errors->max ? errors->max : 0);
    buf_init(&warned, 1 << 16);
    struct loader l = {.r = r, .errors = &found, .warnings = &warned, .dir = dir};
    if (!r) {
        ytree_free(tree);
        return -ENOMEM;
    }
    r->path = dup_str(&l, ytree_name(tree));
    if (!l.oom)
        load_root(&l, ytree_root(tree));
    free(l.states);
    ytree_errors_sorted(errors, &found, ytree_name(tree));
    buf_free(&found);
    if (r && warned.len) {
        struct buf sorted;
        buf_init(&sorted, 1 << 16);
        ytree_errors_sorted(&sorted, &warned, ytree_name(tree));
        r->warnings = sorted.data ? strdup(sorted.data) : NULL;
        buf_free(&sorted);
    }
    buf_free(&warned);
    ytree_free(tree);
    if (l.oom || l.err < 0) {
        rules_free(r);
        return l.oom ? -ENOMEM : -EINVAL;
    }
    *ret = r;
    return 0;
}

static const struct ytree_limits rules_limits = {.max_bytes = RULES_MAX_FILE_BYTES};

int rules_load_string(const char *yaml, size_t len, const char *name, struct rules **ret,
                      struct buf *errors)
{
    struct ytree *tree;
    int r = ytree_load_string(yaml, len, name, &rules_limits, &tree, errors);
    if (r < 0)
        return r == -ENOMEM ? r : -EINVAL;
    return load_from_tree(tree, NULL, ret, errors);
}

int rules_load_file(const char *path, struct rules **ret, struct buf *errors)
{
    struct ytree *tree;
    int r = ytree_load_file(path, &rules_limits, &tree, errors);
    if (r < 0)
        return r == -E2BIG ? -EINVAL : r;
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (slash) {
        dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
        if (!dir) {
            ytree_free(tree);
            return -ENOMEM;
        }
    }
    r = load_from_tree(tree, dir && strcmp(dir, "/") == 0 ? "" : dir, ret, errors);
    free(dir);
    return r;
}

/* ---- lookups ---- */

int rules_signal_index(const struct rules *r, const char *name)
{
    for (size_t i = 0; i < r->n_signals; i++)
        if (strcmp(r->signals[i].name, name) == 0)
            return (int)i;
    return -ENOENT;
}

int rules_state_index(const struct rules *r, const char *name)
{
    for (size_t i = 0; i < r->n_states; i++)
        if (strcmp(r->states[i].name, name) == 0)
            return (int)i;
    return -ENOENT;
}

const struct decision_def *rules_decision_for(const struct rules *r, size_t state)
{
    for (size_t i = 0; i < r->n_decisions; i++)
        if (r->decisions[i].state == state)
            return &r->decisions[i];
    return NULL;
}

const struct manual_action_def *rules_manual_action(const struct rules *r, const char *name)
{
    for (size_t i = 0; i < r->n_manual_actions; i++)
        if (strcmp(r->manual_actions[i].name, name) == 0)
            return &r->manual_actions[i];
    return NULL;
}

/* ---- JSON ---- */

struct jb {
    bool failed;
};

/* Sets key to v (taking it, also on failure); remembers a failure (NULL o or v, OOM). */
static void put(struct jb *j, json_t *o, const char *key, json_t *v)
{
    if (json_object_set_new(o, key, v) < 0)
        j->failed = true;
}

static void append(struct jb *j, json_t *a, json_t *v)
{
    if (json_array_append_new(a, v) < 0)
        j->failed = true;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *seconds(uint64_t usec)
{
    return json_real((double)usec / 1e6);
}

json_t *rules_action_params_redacted(const struct action_def *a)
{
    return redacted(a->params);
}

json_t *rules_json_redacted(const json_t *v)
{
    return v ? redacted((json_t *)v) : json_null();
}

static json_t *actions_json(struct jb *j, const struct action_def *a, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        put(j, o, "kind", json_string(action_kind_name(a[i].kind)));
        put(j, o, "params", rules_action_params_redacted(&a[i]));
        put(j, o, "summary", json_string(a[i].summary));
        append(j, arr, o);
    }
    return arr;
}

static json_t *report_items_json(struct jb *j, const struct report_item *it, size_t n,
                                 bool optimization)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        put(j, o, "name", json_string(it[i].name));
        put(j, o, "query", json_string(it[i].query));
        put(j, o, "condition", json_string(it[i].condition));
        put(j, o, "op", json_string(cond_op_text(it[i].op)));
        put(j, o, "threshold", json_real(it[i].threshold));
        put(j, o, "slow", json_boolean(it[i].slow));
        if (optimization) {
            put(j, o, "type", json_string(it[i].type));
            put(j, o, "impact", json_string(report_level_name(it[i].impact)));
            put(j, o, "effort", json_string(report_level_name(it[i].effort)));
        } else {
            put(j, o, "severity", json_string(report_severity_name(it[i].severity)));
            put(j, o, "component", json_string(it[i].component));
        }
        json_t *notes = json_object();
        if (!optimization)
            put(j, notes, "summary", str_or_null(it[i].summary));
        put(j, notes, "description", str_or_null(it[i].description));
        put(j, notes, "recommendation", str_or_null(it[i].recommendation));
        put(j, o, "annotations", notes);
        append(j, arr, o);
    }
    return arr;
}

static json_t *report_json(struct jb *j, const struct report_def *d)
{
    json_t *o = json_object();
    put(j, o, "timeout_seconds", seconds(d ? d->timeout_usec : 0));
    put(j, o, "checks", report_items_json(j, d ? d->checks : NULL, d ? d->n_checks : 0, false));
    put(j, o, "optimizations",
        report_items_json(j, d ? d->optimizations : NULL, d ? d->n_optimizations : 0, true));
    return o;
}

json_t *rules_to_json(const struct rules *r)
{
    struct jb j = {false};
    json_t *root = json_object();
    put(&j, root, "path", str_or_null(r->path));
    put(&j, root, "evaluation_interval_seconds", seconds(r->evaluation_interval_usec));

    const struct prometheus_cfg *p = &r->prometheus;
    json_t *prom = json_object();
    put(&j, prom, "url", str_or_null(p->url));
    put(&j, prom, "timeout_seconds", seconds(p->timeout_usec));
    put(&j, prom, "bearer_token_file", str_or_null(p->bearer_token_file));
    json_t *basic = json_null();
    if (p->basic_auth_username) {
        basic = json_object();
        put(&j, basic, "username", json_string(p->basic_auth_username));
        put(&j, basic, "password_file", str_or_null(p->basic_auth_password_file));
    }
    put(&j, prom, "basic_auth", basic);
    put(&j, prom, "ca_file", str_or_null(p->ca_file));
    put(&j, prom, "insecure_skip_verify", json_boolean(p->insecure_skip_verify));
    json_t *headers = json_array(); /* names only: values may be credentials */
    for (size_t i = 0; i < p->n_headers; i++) {
        const char *colon = strchr(p->headers[i], ':');
        append(&j, headers,
               json_stringn(p->headers[i],
                            colon ? (size_t)(colon - p->headers[i]) : strlen(p->headers[i])));
    }
    put(&j, prom, "headers", headers);
    put(&j, root, "prometheus", prom);

    json_t *signals = json_array();
    for (size_t i = 0; i < r->n_signals; i++) {
        const struct signal_def *s = &r->signals[i];
        json_t *o = json_object();
        put(&j, o, "name", json_string(s->name));
        put(&j, o, "query", str_or_null(s->query));
        put(&j, o, "source", json_string(s->alert ? "alertmanager" : "prometheus"));
        put(&j, o, "max_age_seconds", s->max_age_usec ? seconds(s->max_age_usec) : json_null());
        put(&j, o, "help", str_or_null(s->help));
        append(&j, signals, o);
    }
    put(&j, root, "signals", signals);

    json_t *states = json_array();
    for (size_t i = 0; i < r->n_states; i++) {
        const struct state_def *s = &r->states[i];
        json_t *o = json_object();
        put(&j, o, "name", json_string(s->name));
        put(&j, o, "default", json_boolean(i == r->n_states - 1));
        put(&j, o, "when", json_string(s->when == WHEN_ALL ? "all" : "any"));
        json_t *conds = json_array();
        for (size_t c = 0; c < s->n_conditions; c++) {
            const struct condition *cd = &s->conditions[c];
            json_t *co = json_object();
            put(&j, co, "signal", json_string(r->signals[cd->signal].name));
            put(&j, co, "op", json_string(cond_op_text(cd->op)));
            put(&j, co, "threshold", json_real(cd->threshold));
            put(&j, co, "threshold_file", json_real(cd->threshold_file));
            put(&j, co, "text", json_string(cd->text));
            append(&j, conds, co);
        }
        put(&j, o, "conditions", conds);
        put(&j, o, "for_seconds", seconds(s->for_usec));
        put(&j, o, "keep_for_seconds", seconds(s->keep_for_usec));
        put(&j, o, "severity", str_or_null(s->severity));
        put(&j, o, "description", str_or_null(s->description));
        put(&j, o, "recommendation", str_or_null(s->recommendation));
        append(&j, states, o);
    }
    put(&j, root, "states", states);
    put(&j, root, "on_missing_data",
        json_string(r->on_missing_data == MISSING_UNKNOWN ? "unknown" : "hold"));

    json_t *decisions = json_array();
    for (size_t i = 0; i < r->n_decisions; i++) {
        const struct decision_def *d = &r->decisions[i];
        json_t *o = json_object();
        put(&j, o, "state", json_string(r->states[d->state].name));
        put(&j, o, "min_confidence", json_real(d->min_confidence));
        put(&j, o, "cooldown_seconds", seconds(d->cooldown_usec));
        put(&j, o, "revert_on_exit", json_boolean(d->revert_on_exit));
        put(&j, o, "revert_delay_seconds", seconds(d->revert_delay_usec));
        put(&j, o, "dry_run", json_boolean(d->dry_run));
        put(&j, o, "actions", actions_json(&j, d->actions, d->n_actions));
        append(&j, decisions, o);
    }
    put(&j, root, "decisions", decisions);

    json_t *manual = json_array();
    for (size_t i = 0; i < r->n_manual_actions; i++) {
        const struct manual_action_def *m = &r->manual_actions[i];
        json_t *o = json_object();
        put(&j, o, "name", json_string(m->name));
        put(&j, o, "description", str_or_null(m->description));
        json_t *params = json_array();
        for (size_t k = 0; k < m->n_params; k++) {
            const struct param_def *pd = &m->params[k];
            json_t *po = json_object();
            put(&j, po, "name", json_string(pd->name));
            put(&j, po, "type", json_string(rules_param_type_name(pd->type)));
            put(&j, po, "required", json_boolean(pd->required));
            put(&j, po, "default", pd->def ? json_incref(pd->def) : json_null());
            put(&j, po, "min", pd->has_min ? json_real(pd->min) : json_null());
            put(&j, po, "max", pd->has_max ? json_real(pd->max) : json_null());
            json_t *ch = json_null();
            if (pd->choices) {
                ch = json_array();
                for (char **c = pd->choices; *c; c++)
                    append(&j, ch, json_string(*c));
            }
            put(&j, po, "choices", ch);
            put(&j, po, "description", str_or_null(pd->description));
            append(&j, params, po);
        }
        put(&j, o, "params", params);
        put(&j, o, "actions", actions_json(&j, m->actions, m->n_actions));
        append(&j, manual, o);
    }
    put(&j, root, "manual_actions", manual);
    put(&j, root, "max_actions_per_hour", json_integer(r->max_actions_per_hour));
    json_t *alerting = json_object();
    json_t *ams = json_array();
    for (size_t i = 0; i < r->n_alertmanagers; i++)
        append(&j, ams, json_string(r->alertmanagers[i]));
    put(&j, alerting, "alertmanagers", ams);
    put(&j, alerting, "resend_interval_seconds", seconds(r->alert_resend_usec));
    put(&j, alerting, "external_url", str_or_null(r->external_url));
    put(&j, root, "alerting", alerting);
    put(&j, root, "report", report_json(&j, r->report));

    if (j.failed) {
        json_decref(root);
        return NULL;
    }
    return root;
}
