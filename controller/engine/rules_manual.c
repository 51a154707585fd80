/* rules_manual: manual actions and their parameters: declared or implied by
 * placeholders, and checked against a request's arguments (rules_manual_args). */
#include "rules_loader.h"

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
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    int t;
    if (!(x = ytree_get(v, "type")))
        loader_report(l, v,
                      "parameter '%.64s' needs a type (string, integer, number, boolean or scalar)",
                      p->name);
    else if (loader_get_enum(l, x, "type", param_types, &t))
        p->type = (enum param_type)t;
    else
        return;
    if ((x = ytree_get(v, "required")))
        loader_get_bool(l, x, &p->required);
    const char *bounds[] = {"min", "max"};
    for (int b = 0; b < 2; b++) {
        if (!(x = ytree_get(v, bounds[b])))
            continue;
        double d;
        if (p->type == PARAM_BOOLEAN) {
            loader_report(l, x, "%s does not apply to a boolean parameter", bounds[b]);
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
        loader_report(l, ytree_get(v, "max"), "max %g is below min %g", p->max, p->min);
    if ((x = ytree_get(v, "choices"))) {
        if (p->type != PARAM_STRING) {
            loader_report(l, x, "choices applies to string parameters only");
        } else if (loader_get_seq(l, x)) {
            p->choices = loader_alloc_array(l, ytree_len(x) + 1, sizeof(char *));
            /* Packed: the list ends at its first NULL (a choice that is not a string is
             * reported and left out, not a hole that would hide the ones after it). */
            size_t n = 0;
            for (size_t i = 0; p->choices && i < ytree_len(x); i++) {
                const char *c;
                if (loader_get_string(l, ytree_item(x, i), &c) &&
                    (p->choices[n] = loader_dup_str(l, c)))
                    n++;
            }
        }
    }
    const char *s;
    if ((x = ytree_get(v, "description")) && loader_get_string(l, x, &s))
        p->description = loader_dup_str(l, s);
    if ((x = ytree_get(v, "default"))) {
        json_t *d = loader_to_json(l, x);
        if (d) {
            struct buf why;
            buf_init(&why, 1024);
            param_check(p, d, &why);
            if (why.len) {
                loader_report(l, x, "default: %s", why.data);
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
    size_t lp = strlen(PLACEHOLDER_LABELS);
    if (n > lp && strncmp(name, PLACEHOLDER_LABELS, lp) == 0) {
        loader_report(x->l, x->at,
                      "{{ %.*s }}: a manual action has no target; labels name a target only in "
                      "a decision",
                      (int)(n > 80 ? 80 : n), name);
        return 1;
    }
    bool known = n > RULES_MAX_NAME;
    for (const char *const *b = placeholder_builtins; *b && !known; b++)
        known = strlen(*b) == n && strncmp(*b, name, n) == 0;
    for (size_t i = 0; i < m->n_params && !known; i++)
        known = strlen(m->params[i].name) == n && strncmp(m->params[i].name, name, n) == 0;
    if (known)
        return 0;
    if (m->n_params >= RULES_MAX_PARAMS) {
        loader_report(x->l, x->at, "more than %d parameters", RULES_MAX_PARAMS);
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
        placeholder_each(text, add_implicit, &x);
}

static void implicit_params(struct loader *l, struct manual_action_def *m,
                            const struct ytree_node *v, const char **declared)
{
    m->params = loader_alloc_array(l, RULES_MAX_PARAMS, sizeof(*m->params));
    if (m->params)
        collect_placeholders(l, m, v, declared);
}

/* The map form: description, params and actions. */
static void load_manual_map(struct loader *l, struct manual_action_def *m,
                            const struct ytree_node *v)
{
    static const char *const keys[] = {"description", "params", "actions", NULL};
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if ((x = ytree_get(v, "description")) && loader_get_string(l, x, &s))
        m->description = loader_dup_str(l, s);
    const char *declared[RULES_MAX_PARAMS + 1] = {NULL};
    if ((x = ytree_get(v, "params")) && !ytree_is_null(x) && loader_get_map(l, x)) {
        size_t n = ytree_len(x);
        if (n > RULES_MAX_PARAMS) {
            loader_report(l, x, "more than %d parameters", RULES_MAX_PARAMS);
            n = 0;
        }
        m->params = loader_alloc_array(l, n, sizeof(*m->params));
        for (size_t i = 0; m->params && i < n; i++) {
            const char *name;
            m->params[i].name = loader_dup_str(l, ytree_text(ytree_key(x, i), NULL));
            m->n_params = i + 1;
            if (!m->params[i].name)
                break;
            loader_get_name(l, ytree_key(x, i), "parameter", &name);
            for (const char *const *b = placeholder_builtins; *b; b++)
                if (strcmp(*b, m->params[i].name) == 0)
                    loader_report(l, ytree_key(x, i),
                                  "parameter '%s' would hide the built-in placeholder {{%s}}", *b,
                                  *b);
            declared[i] = m->params[i].name;
            load_param(l, &m->params[i], ytree_value(x, i));
        }
    }
    x = ytree_get(v, "actions");
    if (!x || ytree_is_null(x) || (ytree_kind(x) == YTREE_SEQ && ytree_len(x) == 0)) {
        loader_report(l, x ? x : v, "manual action '%.64s' has no actions",
                      m->name ? m->name : "?");
        return;
    }
    l->declared = declared;
    loader_load_actions(l, x, &m->actions, &m->n_actions);
    l->declared = NULL;
}

void loader_load_manual_actions(struct loader *l, const struct ytree_node *root)
{
    struct rules *r = l->r;
    const struct ytree_node *v = ytree_get(root, "manual_actions");
    if (!v || ytree_is_null(v) || !loader_get_map(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_MANUAL_ACTIONS) {
        loader_report(l, v, "more than %d manual actions", RULES_MAX_MANUAL_ACTIONS);
        return;
    }
    r->manual_actions = loader_alloc_array(l, n, sizeof(*r->manual_actions));
    if (!r->manual_actions)
        return;
    r->n_manual_actions = n;
    for (size_t i = 0; i < n && !l->oom; i++) {
        struct manual_action_def *m = &r->manual_actions[i];
        const struct ytree_node *k = ytree_key(v, i), *val = ytree_value(v, i);
        const char *name;
        m->name = loader_dup_str(l, ytree_text(k, NULL));
        loader_get_name(l, k, "manual action", &name);
        if (ytree_kind(val) == YTREE_MAP) {
            load_manual_map(l, m, val);
        } else if (ytree_is_null(val) || (ytree_kind(val) == YTREE_SEQ && ytree_len(val) == 0)) {
            loader_report(l, val, "manual action '%.64s' has no actions", ytree_text(k, NULL));
        } else {
            const char *declared[RULES_MAX_PARAMS + 1] = {NULL};
            implicit_params(l, m, val, declared);
            l->declared = declared;
            loader_load_actions(l, val, &m->actions, &m->n_actions);
            l->declared = NULL;
        }
    }
}
