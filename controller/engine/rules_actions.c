/* rules_actions: actions (the kinds' names and bodies, summaries, relative files,
 * inline secrets) and the decisions section. */
#include "rules_loader.h"

const char *action_kind_name(enum action_kind kind)
{
    return (size_t)kind < N_KINDS ? rules_action_kinds.name(kind) : "unknown";
}

int action_kind_parse(const char *name)
{
    for (size_t i = 0; name && i < N_KINDS; i++)
        if (strcmp(name, rules_action_kinds.name((enum action_kind)i)) == 0)
            return (int)i;
    return -EINVAL;
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
        loader_report(l, n, "string contains a NUL character");
        return NULL;
    }
    json_t *s = json_stringn(text, len);
    if (!s)
        l->oom = true;
    return s;
}

/* The node as JSON (new reference), or NULL after reporting (or running out of memory). */
json_t *loader_to_json(struct loader *l, const struct ytree_node *n)
{
    json_t *out;
    switch (ytree_kind(n)) {
    case YTREE_SCALAR: return scalar_json(l, n);
    case YTREE_SEQ:
        if (!(out = json_array()))
            break;
        for (size_t i = 0; i < ytree_len(n); i++) {
            json_t *item = loader_to_json(l, ytree_item(n, i));
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
            if (!loader_get_string(l, ytree_key(n, i), &key)) {
                json_decref(out);
                return NULL;
            }
            json_t *item = loader_to_json(l, ytree_value(n, i));
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
json_t *loader_redacted(json_t *v)
{
    if (json_is_array(v)) {
        json_t *out = json_array();
        for (size_t i = 0; out && i < json_array_size(v); i++)
            if (json_array_append_new(out, loader_redacted(json_array_get(v, i))) < 0) {
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
            json_t *copy = loader_key_is_secret(key) && !file_ref ? json_string("<redacted>")
                                                                  : loader_redacted(item);
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
    if (loader_key_is_secret(key)) {
        buf_puts(b, "<redacted>");
    } else if (ytree_kind(v) == YTREE_SCALAR) {
        buf_puts(b, ytree_is_null(v) ? "null" : ytree_text(v, NULL));
    } else {
        json_t *safe = loader_redacted(jv);
        char *s = safe ? json_dumps(safe, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
        buf_puts(b, s ? s : "?");
        free(s);
        json_decref(safe);
    }
}

void loader_summary_rest(struct buf *b, const struct ytree_node *v, json_t *params,
                         const char *const *skip)
{
    if (ytree_kind(v) != YTREE_MAP)
        return;
    for (size_t i = 0; i < ytree_len(v); i++) {
        const char *key = ytree_text(ytree_key(v, i), NULL);
        bool skipped = false;
        for (const char *const *s = skip; s && *s && !skipped; s++)
            skipped = strcmp(*s, key) == 0;
        if (!skipped)
            summary_kv(b, key, ytree_value(v, i), json_object_get(params, key));
    }
}

void loader_summary_arg(struct buf *b, const char *arg)
{
    if (*arg && !strpbrk(arg, " \t'\""))
        buf_printf(b, " %s", arg);
    else
        buf_printf(b, " '%s'", arg);
}

bool loader_action_map(struct loader *l, const struct action_def *a, const struct ytree_node *v)
{
    if (ytree_kind(v) == YTREE_MAP)
        return true;
    loader_report(l, v, "%s: expected a map, got %s", action_kind_name(a->kind), ytree_describe(v));
    return false;
}

bool loader_action_params(struct loader *l, struct action_def *a, const struct ytree_node *v,
                          struct buf *sum, const char *const *primary)
{
    a->params = loader_to_json(l, v);
    if (!a->params)
        return false;
    loader_summary_rest(sum, v, a->params, primary);
    return true;
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
        if (!key || !text || !*text || strstr(text, "{{") || !loader_key_is_secret(key))
            continue;
        ytree_error(l->warnings, v,
                    "warning: '%.64s' holds a secret inline; read it from a file instead "
                    "(%.64s: {file: /etc/homeostat/secret, prefix: \"Bearer \"} for a header, "
                    "a *_file key elsewhere)",
                    key, key);
    }
}

/* "systemd, kubectl, webhook, exec or alert": the kinds the actuators define. */
static const char *kind_list(char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < N_KINDS && o < size; i++) {
        const char *sep = i == 0 ? "" : i + 1 == N_KINDS ? " or " : ", ";
        int w = snprintf(out + o, size - o, "%s%s", sep, action_kind_name((enum action_kind)i));
        if (w < 0)
            break;
        o += (size_t)w;
    }
    return out;
}

static bool load_action(struct loader *l, struct action_def *a, const struct ytree_node *v)
{
    char kinds[160];
    if (ytree_kind(v) != YTREE_MAP || ytree_len(v) != 1) {
        if (ytree_kind(v) == YTREE_MAP && ytree_len(v) > 1)
            loader_report(l, v,
                          "an action is a map with one key (%s), got %zu keys: indent the "
                          "settings under the kind",
                          kind_list(kinds, sizeof(kinds)), ytree_len(v));
        else
            loader_report(l, v, "an action is a map with one key (%s), got %s",
                          kind_list(kinds, sizeof(kinds)), ytree_describe(v));
        return false;
    }
    const struct ytree_node *k = ytree_key(v, 0);
    const char *kind = ytree_text(k, NULL);
    size_t i;
    for (i = 0; i < N_KINDS; i++)
        if (strcmp(kind, action_kind_name((enum action_kind)i)) == 0)
            break;
    if (i == N_KINDS) {
        const char *names[16];
        size_t n_names = 0;
        for (size_t j = 0; j < N_KINDS && n_names < 16; j++)
            names[n_names++] = action_kind_name((enum action_kind)j);
        const char *hint = ytree_suggest(kind, names, n_names);
        if (hint)
            loader_report(l, k, "unknown action '%.64s'; did you mean '%s'?", kind, hint);
        else
            loader_report(l, k, "unknown action '%.64s' (%s)", kind,
                          kind_list(kinds, sizeof(kinds)));
        return false;
    }
    a->kind = (enum action_kind)i;
    struct buf sum;
    buf_init(&sum, 0);
    buf_puts(&sum, action_kind_name((enum action_kind)i));
    const struct ytree_node *body = ytree_value(v, 0);
    if (!rules_action_kinds.load(a->kind, l, a, body, &sum)) {
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
    if (rules_action_kinds.validate(a->kind, a->params, l->declared, &bad_key, msg, sizeof(msg)) <
        0) {
        const struct ytree_node *at = NULL;
        if (bad_key && ytree_kind(body) == YTREE_MAP)
            at = ytree_get(body, bad_key);
        loader_report(l, at ? at : body, "%s: %s%s%s", action_kind_name((enum action_kind)i),
                      at || !bad_key ? "" : bad_key, at || !bad_key ? "" : ": ", msg);
        buf_free(&sum);
        return false;
    }
    a->summary = finish_summary(l, &sum);
    return a->summary != NULL;
}

/* A sequence of actions into *ret (owned by the caller even when it fails). */
void loader_load_actions(struct loader *l, const struct ytree_node *v, struct action_def **ret,
                         size_t *ret_n)
{
    if (ytree_is_null(v))
        return;
    if (!loader_get_seq(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_ACTIONS) {
        loader_report(l, v, "more than %d actions", RULES_MAX_ACTIONS);
        return;
    }
    *ret = loader_alloc_array(l, n, sizeof(**ret));
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
    static const char *const keys[] = {
        "min_confidence", "cooldown",     "actions",       "revert_on_exit", "revert_delay",
        "dry_run",        "verify_after", "verify_window", "on_no_effect",   NULL};
    d->cooldown_usec = DEFAULT_COOLDOWN_USEC;
    d->revert_delay_usec = DEFAULT_REVERT_DELAY_USEC;
    if (ytree_is_null(v))
        return;
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    if ((x = ytree_get(v, "min_confidence"))) {
        double c;
        if (ytree_get_double(x, &c, l->errors) < 0)
            l->err = -EINVAL;
        else if (!(c >= 0 && c <= 1))
            loader_report(l, x, "min_confidence must be between 0 and 1, got %s",
                          ytree_text(x, NULL));
        else
            d->min_confidence = c;
    }
    if ((x = ytree_get(v, "cooldown")))
        loader_get_duration(l, x, &d->cooldown_usec);
    if ((x = ytree_get(v, "actions")))
        loader_load_actions(l, x, &d->actions, &d->n_actions);
    if ((x = ytree_get(v, "revert_on_exit")))
        loader_get_bool(l, x, &d->revert_on_exit);
    if ((x = ytree_get(v, "revert_delay")))
        loader_get_duration(l, x, &d->revert_delay_usec);
    if ((x = ytree_get(v, "dry_run")))
        loader_get_bool(l, x, &d->dry_run);
    /* the verdict's defaults: nothing to judge for alerts only; pods take longer */
    bool acts = false, kubectl = false;
    for (size_t i = 0; i < d->n_actions; i++) {
        acts |= d->actions[i].kind != ACTION_ALERT;
        kubectl |= d->actions[i].kind == ACTION_KUBECTL;
    }
    d->verify_after_usec = !acts ? 0 : kubectl ? 120 * USEC_PER_SEC : 60 * USEC_PER_SEC;
    d->verify_window_usec = 60 * USEC_PER_SEC;
    if ((x = ytree_get(v, "verify_after")) && loader_get_duration(l, x, &d->verify_after_usec) &&
        d->verify_after_usec > 86400 * USEC_PER_SEC)
        loader_report(l, x, "verify_after must be at most 1d (0s: no verdict)");
    if ((x = ytree_get(v, "on_no_effect"))) {
        static const char *const policies[] = {"repeat", "stop", "escalate", NULL};
        int k;
        if (loader_get_enum(l, x, "on_no_effect", policies, &k)) {
            d->stop_on_no_effect = k == 1;
            d->escalate_on_no_effect = k == 2;
            if (k && !d->verify_after_usec && ytree_get(v, "verify_after"))
                loader_report(l, x, "on_no_effect: %s needs a verdict: verify_after is 0s",
                              policies[k]);
            else if (k && !d->verify_after_usec)
                loader_report(l, x,
                              "on_no_effect: %s needs a verdict, and a decision of alerts "
                              "only gets none",
                              policies[k]);
        }
    }
    if ((x = ytree_get(v, "verify_window")) && loader_get_duration(l, x, &d->verify_window_usec) &&
        (d->verify_window_usec < USEC_PER_SEC || d->verify_window_usec > 3600 * USEC_PER_SEC))
        loader_report(l, x, "verify_window must be between 1s and 1h");
}

void loader_load_decisions(struct loader *l, const struct ytree_node *root)
{
    struct rules *r = l->r;
    const struct ytree_node *v = ytree_get(root, "decisions");
    if (!v || ytree_is_null(v) || !loader_get_map(l, v))
        return;
    size_t n = ytree_len(v);
    r->decisions = loader_alloc_array(l, n, sizeof(*r->decisions));
    if (!r->decisions)
        return;
    r->n_decisions = n;
    const char **names = loader_alloc_array(l, r->n_states, sizeof(*names));
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
            loader_report(l, k,
                          "no decision can be attached to 'unknown': nothing runs on missing data");
        } else if (s == r->n_states && l->states_ok) {
            const char *hint = ytree_suggest(name, names, r->n_states);
            if (hint)
                loader_report(l, k, "decision for unknown state '%.64s' (did you mean '%s'?)", name,
                              hint);
            else
                loader_report(l, k, "decision for unknown state '%.64s'", name);
        }
        l->declared = (const char *const *)l->label_placeholders;
        load_decision(l, d, ytree_value(v, i));
        l->declared = NULL;
    }
    /* on_no_effect: escalate moves to the nearest worse state (states are worst first)
     * whose decision has actions */
    for (size_t i = 0; i < n && !l->oom; i++) {
        struct decision_def *d = &r->decisions[i];
        if (!d->escalate_on_no_effect || d->state >= r->n_states)
            continue;
        size_t to = d->state;
        while (to-- > 0) {
            const struct decision_def *w = NULL;
            for (size_t j = 0; j < n && !w; j++)
                if (r->decisions[j].state == to)
                    w = &r->decisions[j];
            if (w && w->n_actions) {
                d->escalate_to = to;
                break;
            }
        }
        if (to == (size_t)-1)
            loader_report(l, ytree_get(ytree_value(v, i), "on_no_effect"),
                          "on_no_effect: escalate: no state worse than '%s' has a decision "
                          "with actions to escalate to (repeat or stop)",
                          r->states[d->state].name);
    }
    free(names);
}
