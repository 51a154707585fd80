/* rules_targets: the targets section (docs/RULES.md, "Targets"): the labels that name
 * one target (by), the cardinality bound (max) and when a target without series is
 * forgotten (forget_after); and the {{ $labels.NAME }} placeholders it allows in the
 * decisions' actions. */
#include "rules_loader.h"

#define MAX_FORGET_AFTER_USEC (7 * 24 * 3600 * USEC_PER_SEC)
#define DEFAULT_FORGET_AFTER_USEC (600 * USEC_PER_SEC)

/* A Prometheus label name that a target may be named by: [a-zA-Z_][a-zA-Z0-9_]*, not one
 * of the reserved __names__. */
static const char *label_name_error(const char *s)
{
    if (!*s)
        return "is empty";
    if (strncmp(s, "__", 2) == 0)
        return "starts with __, which Prometheus reserves";
    if (strlen(s) > RULES_MAX_NAME)
        return "is longer than 64 characters";
    for (const char *p = s; *p; p++)
        if (!(*p == '_' || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p > s && *p >= '0' && *p <= '9')))
            return "is not a label name (letters, digits and _, not starting with a digit)";
    return NULL;
}

static void load_by(struct loader *l, const struct ytree_node *x)
{
    struct targets_def *t = &l->r->targets;
    if (!loader_get_seq(l, x))
        return;
    size_t n = ytree_len(x);
    if (n == 0 || n > RULES_MAX_TARGET_LABELS) {
        loader_report(l, x, "targets.by names 1 to %d labels, got %zu", RULES_MAX_TARGET_LABELS, n);
        return;
    }
    t->by = loader_alloc_array(l, n + 1, sizeof(char *));
    l->label_placeholders = loader_alloc_array(l, n + 1, sizeof(char *));
    if (!t->by || !l->label_placeholders)
        return;
    for (size_t i = 0; i < n && !l->oom; i++) {
        const struct ytree_node *item = ytree_item(x, i);
        const char *s, *why;
        if (!loader_get_string(l, item, &s))
            continue;
        if ((why = label_name_error(s))) {
            loader_report(l, item, "targets.by: '%.64s' %s", s, why);
            continue;
        }
        bool dup = false;
        for (size_t j = 0; j < t->n_by && !dup; j++)
            dup = strcmp(t->by[j], s) == 0;
        if (dup) {
            loader_report(l, item, "targets.by: '%s' is listed twice", s);
            continue;
        }
        char ph[RULES_MAX_NAME + sizeof(PLACEHOLDER_LABELS)];
        snprintf(ph, sizeof(ph), "%s%s", PLACEHOLDER_LABELS, s);
        t->by[t->n_by] = loader_dup_str(l, s);
        l->label_placeholders[t->n_by] = loader_dup_str(l, ph);
        t->n_by++;
    }
}

void loader_load_targets(struct loader *l, const struct ytree_node *v)
{
    static const char *const keys[] = {"by", "max", "forget_after", NULL};
    struct targets_def *t = &l->r->targets;
    t->max = RULES_DEFAULT_TARGETS;
    t->forget_after_usec = DEFAULT_FORGET_AFTER_USEC;
    if (!v || ytree_is_null(v) || !loader_get_map(l, v))
        return;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    if (!(x = ytree_get(v, "by")))
        loader_report(l, v,
                      "targets needs by: the labels that name one target, such as "
                      "[namespace, deployment]");
    else
        load_by(l, x);
    if ((x = ytree_get(v, "max"))) {
        double d;
        if (ytree_get_double(x, &d, l->errors) < 0)
            l->err = -EINVAL;
        else if (!(d >= 1 && d <= RULES_MAX_TARGETS) || d != floor(d))
            loader_report(l, x, "targets.max must be a whole number from 1 to %d",
                          RULES_MAX_TARGETS);
        else
            t->max = (unsigned)d;
    }
    if ((x = ytree_get(v, "forget_after")) && loader_get_duration(l, x, &t->forget_after_usec) &&
        (t->forget_after_usec < USEC_PER_SEC || t->forget_after_usec > MAX_FORGET_AFTER_USEC))
        loader_report(l, x, "targets.forget_after must be from 1s to 7d, got '%s'",
                      ytree_text(x, NULL));
}
