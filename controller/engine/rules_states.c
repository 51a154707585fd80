/* rules_states: the states section and its analysis: implication, contradiction and
 * reachability of every state. */
#include "rules_loader.h"

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
    if (!loader_get_map(l, v))
        return;
    pos->node = v;
    loader_check_keys(l, v, keys);
    const struct ytree_node *x;
    const char *s;
    if (!(x = ytree_get(v, "name"))) {
        loader_report(l, v, "state has no name");
    } else if (loader_get_string(l, x, &s)) {
        pos->name = x;
        st->name = loader_dup_str(l, s);
        const char *ok;
        if (strcmp(s, RULES_STATE_UNKNOWN) == 0)
            loader_report(l, x,
                          "state name 'unknown' is reserved: it is the state that on_missing_data: "
                          "unknown moves to");
        else
            loader_get_name(l, x, "state", &ok);
        for (size_t j = 0; j < i; j++)
            if (l->r->states[j].name && strcmp(l->r->states[j].name, s) == 0) {
                loader_report(l, x, "duplicate state '%.64s' (first at %u:%u)", s,
                              ytree_line(l->states[j].name), ytree_column(l->states[j].name));
                break;
            }
    }
    const char *label = st->name ? st->name : "?";
    int k;
    if ((x = ytree_get(v, "when")) && loader_get_enum(l, x, "when", whens, &k))
        st->when = (enum when_mode)k;
    if ((x = ytree_get(v, "for")))
        loader_get_duration(l, x, &st->for_usec);
    if ((x = ytree_get(v, "keep_for")))
        loader_get_duration(l, x, &st->keep_for_usec);
    if ((x = ytree_get(v, "severity")) && loader_get_text(l, x, "severity", 64, &s))
        st->severity = loader_dup_str(l, s);
    if ((x = ytree_get(v, "description")) && loader_get_string(l, x, &s))
        st->description = loader_dup_str(l, s);
    if ((x = ytree_get(v, "recommendation")) && loader_get_string(l, x, &s))
        st->recommendation = loader_dup_str(l, s);

    x = ytree_get(v, "conditions");
    pos->conditions = x;
    if (!x || ytree_is_null(x)) {
        pos->form = FORM_NONE;
    } else if (loader_get_seq(l, x)) {
        size_t n = ytree_len(x);
        if (n > RULES_MAX_CONDITIONS) {
            loader_report(l, x, "state '%.64s' has more than %d conditions", label,
                          RULES_MAX_CONDITIONS);
            return;
        }
        st->conditions = loader_alloc_array(l, n, sizeof(*st->conditions));
        if (!st->conditions)
            return;
        bool all_ok = true;
        for (size_t c = 0; c < n; c++) {
            all_ok &= loader_parse_condition(l, ytree_item(x, c), &st->conditions[c]);
            st->n_conditions = c + 1;
        }
        pos->form = n == 0 ? FORM_NONE : all_ok ? FORM_SOME : FORM_BAD;
    }

    /* The default state always holds: timing and combining mean nothing there. */
    if (i == n_states - 1 && pos->form == FORM_NONE) {
        static const char *const idle[] = {"when", "for", "keep_for"};
        for (size_t j = 0; j < 3; j++)
            if (ytree_get(v, idle[j]))
                loader_report(
                    l, loader_key_node(v, idle[j]),
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
    /* a baseline's threshold is not known before the baseline is learned */
    if (a->signal != b->signal || a->baseline || b->baseline)
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
            if (c->signal != sig || c->op == COND_NE || c->baseline)
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
                    !st->conditions[j].baseline && st->conditions[j].threshold == iv.lo) {
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
            loader_report(
                l, pos->node,
                "state '%.64s' can never be reached: with when: all, conditions '%.80s' and "
                "'%.80s' cannot both hold",
                st->name, st->conditions[list[0]].text, st->conditions[list[1]].text);
        else
            loader_report(l, pos->node,
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
    bool *dead = loader_alloc_array(l, n, sizeof(*dead));
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
            loader_report(
                l, pos->node,
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
            loader_report(
                l, pos->conditions,
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
            loader_report(
                l, pos->node,
                "state '%.64s' can never be reached: whenever it holds, the earlier state "
                "'%.64s' (at %u:%u) holds too and needs no longer (for %s, here %s), so "
                "'%.64s' always wins",
                name, a->name, ytree_line(l->states[j].node), ytree_column(l->states[j].node),
                format_duration_usec(a->for_usec, fa, sizeof(fa)),
                format_duration_usec(st->for_usec, fb, sizeof(fb)), a->name);
            dead[i] = true;
            break;
        }
    }
    free(dead);
}

void loader_load_states(struct loader *l, const struct ytree_node *root)
{
    struct rules *r = l->r;
    const struct ytree_node *v = ytree_get(root, "states");
    if (!v) {
        loader_report(
            l, root,
            "missing key 'states': at least 2 are needed (the last, without conditions, is "
            "the default)");
        return;
    }
    if (ytree_is_null(v)) {
        loader_report(
            l, v,
            "states is empty: at least 2 are needed (the last, without conditions, is the "
            "default)");
        return;
    }
    if (!loader_get_seq(l, v))
        return;
    size_t n = ytree_len(v);
    if (n > RULES_MAX_STATES) { /* nothing more: the checks below are quadratic */
        loader_report(l, v, "more than %d states", RULES_MAX_STATES);
        return;
    }
    l->states_ok = true;
    if (n < 2)
        loader_report(
            l, v,
            "states has %zu state%s: at least 2 are needed (the last, without conditions, is "
            "the default)",
            n, n == 1 ? "" : "s");
    if (n == 0)
        return;
    r->states = loader_alloc_array(l, n, sizeof(*r->states));
    l->states = loader_alloc_array(l, n, sizeof(*l->states));
    if (!r->states || !l->states)
        return;
    r->n_states = n;
    for (size_t i = 0; i < n && !l->oom; i++)
        load_state(l, i, ytree_item(v, i), n);
    if (n >= 2 && !l->oom)
        check_reachable(l);
}
