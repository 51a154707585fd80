/* rules_load: the rules file's loader (yamltree into an immutable struct rules): the
 * loader's helpers, URLs, headers and paths, the prometheus section, signals, limits
 * and alerting, the whole file, freeing and the lookups. Every error is reported,
 * sorted by position (see rules.h, docs/RULES.md). */
#include "rules_loader.h"

#include "baseline.h"

/* ---- freeing ---- */

void loader_free_actions(struct action_def *a, size_t n)
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
    struct http_client_config *p = &r->prometheus;
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
        if (r->signals[i].baseline)
            free(r->signals[i].baseline->learn_in);
        free(r->signals[i].baseline);
    }
    free(r->signals);
    free(r->baseline_refs);
    for (size_t i = 0; i < r->targets.n_by; i++)
        free(r->targets.by[i]);
    free(r->targets.by);
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
        loader_free_actions(r->decisions[i].actions, r->decisions[i].n_actions);
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
        loader_free_actions(m->actions, m->n_actions);
    }
    free(r->manual_actions);
    rules_regulators_free(r);
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

void loader_report(struct loader *l, const struct ytree_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void loader_report(struct loader *l, const struct ytree_node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    l->err = ytree_error(l->errors, n, "%s", msg);
}

char *loader_dup_str(struct loader *l, const char *s)
{
    if (!s)
        return NULL;
    char *p = strdup(s);
    if (!p)
        l->oom = true;
    return p;
}

void *loader_alloc_array(struct loader *l, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        l->oom = true;
    return p;
}

bool loader_get_map(struct loader *l, const struct ytree_node *n)
{
    if (ytree_expect(n, YTREE_MAP, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    return true;
}

bool loader_get_seq(struct loader *l, const struct ytree_node *n)
{
    if (ytree_expect(n, YTREE_SEQ, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    return true;
}

bool loader_get_string(struct loader *l, const struct ytree_node *n, const char **ret)
{
    if (ytree_get_string(n, ret, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    return true;
}

bool loader_get_bool(struct loader *l, const struct ytree_node *n, bool *ret)
{
    if (ytree_get_bool(n, ret, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    return true;
}

bool loader_get_duration(struct loader *l, const struct ytree_node *n, uint64_t *ret)
{
    if (ytree_get_duration(n, ret, l->errors) < 0) {
        l->err = -EINVAL;
        return false;
    }
    return true;
}

void loader_check_keys(struct loader *l, const struct ytree_node *map, const char *const *keys)
{
    if (ytree_check_keys(map, keys, l->errors) < 0)
        l->err = -EINVAL;
}

/* The key node of map's entry key (for positions), or NULL. */
const struct ytree_node *loader_key_node(const struct ytree_node *map, const char *key)
{
    for (size_t i = 0; i < ytree_len(map); i++)
        if (strcmp(ytree_text(ytree_key(map, i), NULL), key) == 0)
            return ytree_key(map, i);
    return NULL;
}

/* A non-empty string of at most max bytes. */
bool loader_get_text(struct loader *l, const struct ytree_node *n, const char *what, size_t max,
                     const char **ret)
{
    const char *s;
    if (!loader_get_string(l, n, &s))
        return false;
    if (!*s) {
        loader_report(l, n, "%s is empty", what);
        return false;
    }
    if (max && strlen(s) > max) {
        loader_report(l, n, "%s is longer than %zu bytes", what, max);
        return false;
    }
    *ret = s;
    return true;
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
bool loader_get_name(struct loader *l, const struct ytree_node *n, const char *what,
                     const char **ret)
{
    const char *s;
    if (!loader_get_string(l, n, &s))
        return false;
    if (!is_identifier(s)) {
        loader_report(
            l, n,
            "%s name '%.64s' is not an identifier (letters, digits and '_', not starting with "
            "a digit)",
            what, s);
        return false;
    }
    if (strlen(s) > RULES_MAX_NAME) {
        loader_report(l, n, "%s name '%.64s...' is longer than %d characters", what, s,
                      RULES_MAX_NAME);
        return false;
    }
    *ret = s;
    return true;
}

/* One of names (NULL-terminated); the message lists them. */
bool loader_get_enum(struct loader *l, const struct ytree_node *n, const char *what,
                     const char *const *names, int *ret)
{
    const char *s;
    if (!loader_get_string(l, n, &s))
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
    loader_report(l, n, "%s must be %s, got '%.64s'", what, list, s);
    return false;
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

/* s with every {{ ... }} placeholder written without its inner spaces ({{$labels.x}}), so
 * that the URL check judges what the operator wrote around them (the kind checks the
 * expanded URL again when it runs). NULL on OOM. */
static char *url_without_placeholder_spaces(const char *s)
{
    char *out = strdup(s);
    if (!out)
        return NULL;
    char *w = out;
    int depth = 0;
    for (const char *p = s; *p; p++) {
        if (p[0] == '{' && p[1] == '{') {
            depth = 1;
            *w++ = *p++;
            *w++ = *p;
            continue;
        }
        if (depth && p[0] == '}' && p[1] == '}')
            depth = 0;
        if (!(depth && *p == ' '))
            *w++ = *p;
    }
    *w = '\0';
    return out;
}

bool loader_get_url(struct loader *l, const struct ytree_node *n, const char **ret)
{
    const char *s;
    if (!loader_get_string(l, n, &s))
        return false;
    char *checked = strstr(s, "{{") ? url_without_placeholder_spaces(s) : NULL;
    const char *why = rules_url_error(checked ? checked : s);
    free(checked);
    if (why && strstr(why, "credentials")) {
        loader_report(l, n, "url %s", why); /* without the password */
        return false;
    }
    if (why) {
        loader_report(l, n, "url '%.128s' %s", s, why);
        return false;
    }
    *ret = s;
    return true;
}

/* A file path, made relative to the rules file's directory when that is known. */
bool loader_get_path(struct loader *l, const struct ytree_node *n, const char *what, char **ret)
{
    const char *s;
    if (!loader_get_text(l, n, what, 4096, &s))
        return false;
    if (s[0] == '/' || !l->dir) {
        *ret = loader_dup_str(l, s);
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

bool loader_header_name_valid(const char *s)
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
bool loader_key_is_secret(const char *key)
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

/* ---- signals ---- */

/* A signal's baseline: {learn_in (resolved after the states), window, seasonality,
 * min_samples}. */
static void load_baseline(struct loader *l, struct signal_def *s, const struct ytree_node *v)
{
    static const char *const keys[] = {"learn_in", "window", "seasonality", "min_samples", NULL};
    static const char *const seasons[] = {"none", "daily", "weekly", NULL};
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    struct baseline_def *b = calloc(1, sizeof(*b));
    if (!b) {
        l->oom = true;
        return;
    }
    s->baseline = b;
    b->window = 7 * 86400.0;
    b->min_samples = 300;
    const struct ytree_node *x;
    uint64_t u;
    if ((x = ytree_get(v, "window")) && loader_get_duration(l, x, &u)) {
        if (u < 60 * USEC_PER_SEC || u > 366ull * 86400 * USEC_PER_SEC)
            loader_report(l, x, "baseline window must be between 1m and 366d");
        else
            b->window = (double)u / USEC_PER_SEC;
    }
    int k;
    if ((x = ytree_get(v, "seasonality")) && loader_get_enum(l, x, "seasonality", seasons, &k))
        b->season = k;
    /* an hour of the week comes once a week: four of them by default */
    if (b->season == SEASON_WEEKLY && !ytree_get(v, "window"))
        b->window = 28 * 86400.0;
    if ((x = ytree_get(v, "min_samples"))) {
        if (ytree_get_uint(x, &u, l->errors) < 0)
            l->err = -EINVAL;
        else if (u < 1 || u > 100000000)
            loader_report(l, x, "min_samples must be between 1 and 100000000");
        else
            b->min_samples = u;
    }
    if (b->season == SEASON_WEEKLY && b->window < 7 * 86400.0 && ytree_get(v, "window"))
        loader_report(l, ytree_get(v, "window"),
                      "a weekly baseline needs a window of 7d or more (each hour of the week "
                      "comes once a week)");
    else if (b->season == SEASON_DAILY && b->window < 86400.0 && ytree_get(v, "window"))
        loader_report(l, ytree_get(v, "window"), "a daily baseline needs a window of 1d or more");
}

/* The baselines' learn_in, once the states are known: default the last (healthy) state. */
void loader_load_baseline_learn_in(struct loader *l, const struct ytree_node *root)
{
    struct rules *r = l->r;
    const struct ytree_node *sigs = ytree_get(root, "signals");
    for (size_t i = 0; i < r->n_signals && sigs && ytree_kind(sigs) == YTREE_MAP; i++) {
        struct baseline_def *b = r->signals[i].baseline;
        if (!b || i >= ytree_len(sigs))
            continue;
        const struct ytree_node *v = ytree_get(ytree_value(sigs, i), "baseline");
        const struct ytree_node *x = v ? ytree_get(v, "learn_in") : NULL;
        if (!x) {
            if (r->n_states == 0)
                continue;
            b->learn_in = calloc(1, sizeof(*b->learn_in));
            if (!b->learn_in) {
                l->oom = true;
                return;
            }
            b->learn_in[b->n_learn_in++] = r->n_states - 1;
            continue;
        }
        if (!loader_get_seq(l, x))
            continue;
        size_t n = ytree_len(x);
        if (n == 0) {
            loader_report(l, x, "learn_in is empty: leave it out to learn in the default state");
            continue;
        }
        b->learn_in = calloc(n, sizeof(*b->learn_in));
        if (!b->learn_in) {
            l->oom = true;
            return;
        }
        for (size_t j = 0; j < n; j++) {
            const char *name;
            if (!loader_get_string(l, ytree_item(x, j), &name))
                continue;
            int k = rules_state_index(r, name);
            if (k < 0) {
                if (l->states_ok)
                    loader_report(l, ytree_item(x, j), "learn_in: unknown state '%.64s'", name);
                continue;
            }
            b->learn_in[b->n_learn_in++] = (size_t)k;
        }
    }
}

static void load_signal(struct loader *l, struct signal_def *s, const struct ytree_node *v)
{
    static const char *const keys[] = {"query", "max_age", "help", "baseline", NULL};
    if (ytree_kind(v) != YTREE_MAP) {
        loader_report(l, v, "signal '%.64s': expected a map with 'query', got %s", s->name,
                      ytree_describe(v));
        return;
    }
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *str;
    if (!(x = ytree_get(v, "query"))) {
        loader_report(l, v, "signal '%.64s' has no query", s->name);
    } else if (loader_get_string(l, x, &str)) {
        const char *c = str;
        while (isspace((unsigned char)*c))
            c++;
        if (!*c)
            loader_report(l, x, "query is empty");
        else
            s->query = loader_dup_str(l, str);
    }
    if ((x = ytree_get(v, "max_age")) && loader_get_duration(l, x, &s->max_age_usec) &&
        s->max_age_usec == 0)
        loader_report(l, x, "max_age must be more than 0 (leave it out for no limit)");
    if ((x = ytree_get(v, "help")) && loader_get_string(l, x, &str))
        s->help = loader_dup_str(l, str);
    if ((x = ytree_get(v, "baseline")))
        load_baseline(l, s, x);
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
    if (!loader_get_map(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_SIGNALS) { /* nothing more: the checks below grow with the count */
        loader_report(l, v, "more than %d signals", RULES_MAX_SIGNALS);
        return;
    }
    r->signals = loader_alloc_array(l, n, sizeof(*r->signals));
    if (!r->signals)
        return;
    r->n_signals = n;
    l->signals_ok = true;
    for (size_t i = 0; i < n; i++) {
        struct signal_def *s = &r->signals[i];
        const struct ytree_node *k = ytree_key(v, i);
        const char *name;
        /* Keep even a bad name, so that conditions naming it do not add errors. */
        s->name = loader_dup_str(l, ytree_text(k, NULL));
        if (!s->name)
            return;
        loader_get_name(l, k, "signal", &name);
        load_signal(l, s, ytree_value(v, i));
    }
}

/* ---- limits and alerting ---- */

static void load_limits(struct loader *l, const struct ytree_node *v)
{
    static const char *const keys[] = {"max_actions_per_hour", "max_actions_per_hour_per_target",
                                       "max_targets_acting", "max_regulator_changes_per_hour",
                                       NULL};
    l->r->max_actions_per_hour = DEFAULT_ACTIONS_PER_HOUR;
    l->r->max_regulator_changes_per_hour = DEFAULT_REGULATOR_CHANGES_PER_HOUR;
    l->r->max_targets_acting.share = RULES_DEFAULT_ACTING_SHARE;
    if (!v || ytree_is_null(v) || !loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    bool targets = l->r->targets.by != NULL;
    if ((x = ytree_get(v, "max_actions_per_hour_per_target"))) {
        double d;
        if (!targets)
            loader_report(l, x, "max_actions_per_hour_per_target needs a targets section");
        else if (ytree_get_double(x, &d, l->errors) < 0)
            l->err = -EINVAL;
        else if (!(d >= 0 && d <= 100000) || d != floor(d))
            loader_report(l, x,
                          "max_actions_per_hour_per_target must be a whole number from 0 (no "
                          "limit) to 100000");
        else
            l->r->max_actions_per_hour_per_target = (unsigned)d;
    }
    if ((x = ytree_get(v, "max_targets_acting"))) {
        const char *s = ytree_kind(x) == YTREE_SCALAR ? ytree_text(x, NULL) : "";
        size_t len = strlen(s);
        char *end = NULL;
        double d = len ? strtod(s, &end) : NAN;
        bool pct = end && *end == '%' && end[1] == '\0';
        if (!targets) {
            loader_report(l, x, "max_targets_acting needs a targets section");
        } else if (!end || end == s || (*end && !pct) || !(d >= 0) ||
                   (pct ? d > 100 : (d != floor(d) || d > RULES_MAX_TARGETS))) {
            loader_report(l, x,
                          "max_targets_acting is a number of targets (10) or a share of them "
                          "(10%%), 0 for no limit; got '%.64s'",
                          s);
        } else {
            l->r->max_targets_acting.share = pct ? d / 100 : 0;
            l->r->max_targets_acting.count = pct ? 0 : (unsigned)d;
        }
    }
    if ((x = ytree_get(v, "max_regulator_changes_per_hour"))) {
        double d;
        if (ytree_get_double(x, &d, l->errors) < 0)
            l->err = -EINVAL;
        else if (!(d >= 0 && d <= 100000) || d != floor(d))
            loader_report(l, x,
                          "max_regulator_changes_per_hour must be a whole number from 0 (no "
                          "limit) to 100000");
        else
            l->r->max_regulator_changes_per_hour = (unsigned)d;
    }
    if ((x = ytree_get(v, "max_actions_per_hour"))) {
        double d;
        if (ytree_get_double(x, &d, l->errors) < 0)
            l->err = -EINVAL;
        else if (!(d >= 0 && d <= 100000) || d != floor(d))
            loader_report(
                l, x, "max_actions_per_hour must be a whole number from 0 (no limit) to 100000");
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
    if (v && !ytree_is_null(v) && loader_get_map(l, v))
        load_alerting_map(l, v, keys);
    for (size_t i = 0; i < r->n_decisions; i++)
        for (size_t j = 0; j < r->decisions[i].n_actions; j++)
            if (r->decisions[i].actions[j].kind == ACTION_ALERT &&
                r->decisions[i].actions[j].params && r->n_alertmanagers == 0 &&
                !json_object_get(r->decisions[i].actions[j].params, "alertmanagers")) {
                loader_report(l, v ? v : loader_key_node(l->root, "decisions"),
                              "decisions use alert actions, but alerting.alertmanagers is empty");
                return;
            }
}

static void load_alerting_map(struct loader *l, const struct ytree_node *v, const char *const *keys)
{
    struct rules *r = l->r;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if ((x = ytree_get(v, "alertmanagers")) && !ytree_is_null(x) && loader_get_seq(l, x)) {
        size_t n = ytree_len(x);
        if (n > RULES_MAX_ALERTMANAGERS) {
            loader_report(l, x, "more than %d alertmanagers", RULES_MAX_ALERTMANAGERS);
            n = 0;
        }
        r->alertmanagers = loader_alloc_array(l, n + 1, sizeof(char *));
        for (size_t i = 0; r->alertmanagers && i < n; i++)
            if (loader_get_url(l, ytree_item(x, i), &s)) {
                r->alertmanagers[r->n_alertmanagers++] = loader_dup_str(l, s);
            }
    }
    if ((x = ytree_get(v, "resend_interval")) && loader_get_duration(l, x, &r->alert_resend_usec) &&
        (r->alert_resend_usec < USEC_PER_SEC || r->alert_resend_usec > 3600 * USEC_PER_SEC)) {
        loader_report(l, x, "resend_interval must be from 1s to 1h, got '%s'", ytree_text(x, NULL));
    }
    if ((x = ytree_get(v, "external_url")) && loader_get_url(l, x, &s))
        r->external_url = loader_dup_str(l, s);
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
                                       "targets",
                                       "regulators",
                                       NULL};
    static const char *const policies[] = {"hold", "unknown", NULL};
    struct rules *r = l->r;
    r->evaluation_interval_usec = DEFAULT_INTERVAL_USEC;
    r->prometheus.timeout_usec = DEFAULT_TIMEOUT_USEC;
    if (ytree_kind(root) != YTREE_MAP) {
        loader_report(l, root, "expected a map with 'signals' and 'states', got %s",
                      ytree_describe(root));
        return;
    }
    loader_check_keys(l, root, keys);
    const struct ytree_node *v;
    bool interval_ok = true;
    if ((v = ytree_get(root, "evaluation_interval"))) {
        uint64_t u;
        if (!loader_get_duration(l, v, &u)) {
            interval_ok = false;
        } else if (u < MIN_INTERVAL_USEC) {
            loader_report(l, v, "evaluation_interval must be at least 100ms, got '%s'",
                          ytree_text(v, NULL));
            interval_ok = false;
        } else {
            r->evaluation_interval_usec = u;
        }
    }
    loader_load_prometheus(l, ytree_get(root, "prometheus"), interval_ok);
    loader_load_targets(l, ytree_get(root, "targets"));
    load_signals(l, root);
    if (!l->oom)
        loader_load_states(l, root);
    if (!l->oom)
        loader_load_baseline_learn_in(l, root);
    if (!l->oom && l->r->n_signals == 0 && l->no_signals) {
        if (l->no_signals == root)
            loader_report(l, root, "missing key 'signals': at least one signal is needed");
        else
            loader_report(l, l->no_signals, "signals is empty: at least one signal is needed");
    }
    int k;
    if ((v = ytree_get(root, "on_missing_data")) &&
        loader_get_enum(l, v, "on_missing_data", policies, &k))
        r->on_missing_data = (enum missing_policy)k;
    if (!l->oom)
        loader_load_decisions(l, root);
    if (!l->oom)
        loader_load_manual_actions(l, root);
    if (!l->oom)
        loader_load_regulators(l, root);
    if (!l->oom)
        load_limits(l, ytree_get(root, "limits"));
    l->root = root;
    if (!l->oom)
        load_alerting(l, ytree_get(root, "alerting"));
    if (!l->oom)
        loader_load_report(l, ytree_get(root, "report"));
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
    r->path = loader_dup_str(&l, ytree_name(tree));
    if (!l.oom)
        load_root(&l, ytree_root(tree));
    free(l.states);
    for (size_t i = 0; l.label_placeholders && l.label_placeholders[i]; i++)
        free(l.label_placeholders[i]);
    free(l.label_placeholders);
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

int rules_signal_index_n(const struct rules *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->n_signals; i++)
        if (strlen(r->signals[i].name) == len && strncmp(r->signals[i].name, name, len) == 0)
            return (int)i;
    return -ENOENT;
}

int rules_signal_index(const struct rules *r, const char *name)
{
    return rules_signal_index_n(r, name, strlen(name));
}

int rules_state_index(const struct rules *r, const char *name)
{
    for (size_t i = 0; i < r->n_states; i++) /* a state whose name was refused has none */
        if (r->states[i].name && strcmp(r->states[i].name, name) == 0)
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
