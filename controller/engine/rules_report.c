/* rules_report: the report section (checks and optimizations of the health report). */
#include "rules_loader.h"

/* ---- report ---- */

/* "value OP NUMBER", the condition of a report check or optimization on each series. */
static bool parse_report_condition(struct loader *l, const struct ytree_node *n,
                                   struct report_item *it)
{
    const char *s;
    if (!loader_get_string(l, n, &s))
        return false;
    const char *p = s;
    while (isspace((unsigned char)*p))
        p++;
    if (strncmp(p, "value", 5) != 0 || isalnum((unsigned char)p[5]) || p[5] == '_') {
        loader_report(l, n, "condition '%.80s': expected 'value OP NUMBER' such as 'value > 0.9'",
                      s);
        return false;
    }
    p += 5;
    while (isspace((unsigned char)*p))
        p++;
    enum cond_op op = COND_GT;
    size_t op_len = cond_op_parse(p, &op), run = 0;
    while (loader_op_char(p[run]))
        run++;
    if (op_len == 0 || run != op_len) {
        loader_report(
            l, n, "condition '%.80s': expected an operator (>, >=, <, <=, == or !=) after 'value'",
            s);
        return false;
    }
    p += run;
    while (isspace((unsigned char)*p))
        p++;
    double v;
    if (!loader_threshold(l, n, s, p, op, false, &v))
        return false;
    it->op = op;
    it->threshold = v;
    it->condition = loader_dup_str(l, s);
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
            loader_report(l, map, "%s needs annotations.%s", owner, key);
        return;
    }
    if (!loader_get_text(l, x, key, 0, &s))
        return;
    char msg[512];
    if (template_check(s, msg, sizeof(msg)) < 0) {
        loader_report(l, x, "annotations.%s: %s", key, msg);
        return;
    }
    *ret = loader_dup_str(l, s);
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
    if (!loader_get_map(l, v))
        return;
    loader_check_keys(l, v, optimization ? opt_keys : check_keys_);
    const struct ytree_node *x;
    const char *s;
    int k;
    if (!(x = ytree_get(v, "name"))) {
        loader_report(l, v, "report %s has no name", what);
    } else if (loader_get_name(l, x, what, &s)) {
        names[index] = x;
        it->name = loader_dup_str(l, s);
        for (size_t j = 0; j < index; j++)
            if (names[j] && strcmp(ytree_text(names[j], NULL), s) == 0) {
                loader_report(l, x, "duplicate report name '%.64s' (first at %u:%u)", s,
                              ytree_line(names[j]), ytree_column(names[j]));
                break;
            }
    }
    char owner[96];
    snprintf(owner, sizeof(owner), "%s '%.64s'", what, it->name ? it->name : "?");
    if (!(x = ytree_get(v, "query"))) {
        loader_report(l, v, "%s has no query", owner);
    } else if (loader_get_string(l, x, &s)) {
        const char *c = s;
        while (isspace((unsigned char)*c))
            c++;
        if (!*c)
            loader_report(l, x, "query is empty");
        else
            it->query = loader_dup_str(l, s);
    }
    if (!(x = ytree_get(v, "condition")))
        loader_report(l, v, "%s has no condition (such as 'value > 0.9')", owner);
    else
        parse_report_condition(l, x, it);
    if ((x = ytree_get(v, "slow")))
        loader_get_bool(l, x, &it->slow);
    if (optimization) {
        if (!(x = ytree_get(v, "type")))
            loader_report(l, v,
                          "%s has no type (such as rightsizing, caching, scaling, configuration)",
                          owner);
        else if (loader_get_name(l, x, "type", &s))
            it->type = loader_dup_str(l, s);
        it->impact = it->effort = REPORT_MEDIUM;
        if ((x = ytree_get(v, "impact")) && loader_get_enum(l, x, "impact", levels, &k))
            it->impact = (enum report_level)k;
        if ((x = ytree_get(v, "effort")) && loader_get_enum(l, x, "effort", levels, &k))
            it->effort = (enum report_level)k;
    } else {
        if (!(x = ytree_get(v, "severity")))
            loader_report(l, v, "%s has no severity (critical, warning or info)", owner);
        else if (loader_get_enum(l, x, "severity", severities, &k))
            it->severity = (enum report_severity)k;
        if (!(x = ytree_get(v, "component")))
            loader_report(l, v, "%s has no component (such as cpu, memory, filesystem)", owner);
        else if (loader_get_name(l, x, "component", &s))
            it->component = loader_dup_str(l, s);
    }
    if (!(x = ytree_get(v, "annotations"))) {
        loader_report(l, v, "%s needs annotations with a description", owner);
        return;
    }
    if (!loader_get_map(l, x))
        return;
    loader_check_keys(l, x, optimization ? opt_notes : check_notes);
    if (!optimization)
        load_annotation(l, x, "summary", false, owner, &it->summary);
    load_annotation(l, x, "description", true, owner, &it->description);
    load_annotation(l, x, "recommendation", false, owner, &it->recommendation);
}

static void load_report_items(struct loader *l, const struct ytree_node *v, bool optimization,
                              const struct ytree_node **names, size_t *n_names)
{
    struct report_def *d = l->r->report;
    if (!v || ytree_is_null(v) || !loader_get_seq(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_REPORT_ITEMS) {
        loader_report(l, v, "more than %d %s", RULES_MAX_REPORT_ITEMS,
                      optimization ? "optimizations" : "checks");
        return;
    }
    struct report_item *items = loader_alloc_array(l, n, sizeof(*items));
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

void loader_load_report(struct loader *l, const struct ytree_node *v)
{
    static const char *const keys[] = {"timeout", "checks", "optimizations", NULL};
    struct report_def *d = loader_alloc_array(l, 1, sizeof(*d));
    if (!d)
        return;
    d->refs = 1;
    d->timeout_usec = DEFAULT_REPORT_TIMEOUT_USEC;
    l->r->report = d;
    if (!v || ytree_is_null(v) || !loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    if ((x = ytree_get(v, "timeout")) && loader_get_duration(l, x, &d->timeout_usec) &&
        (d->timeout_usec < MIN_INTERVAL_USEC || d->timeout_usec > 60 * USEC_PER_SEC))
        loader_report(l, x, "timeout must be from 100ms to 1m, got '%s'", ytree_text(x, NULL));
    /* Names are unique over checks and optimizations together. */
    const struct ytree_node **names =
        loader_alloc_array(l, 2 * RULES_MAX_REPORT_ITEMS, sizeof(*names));
    size_t n_names = 0;
    if (!names)
        return;
    load_report_items(l, ytree_get(v, "checks"), false, names, &n_names);
    if (!l->oom)
        load_report_items(l, ytree_get(v, "optimizations"), true, names, &n_names);
    free(names);
}
