/* targets_api: the targets as the API shows them (controller.h): GET /api/v1/targets
 * (filtered by state and a label selector, worst first, paginated), GET
 * /api/v1/targets/{id} (the detail /api/v1/status gives of the controller), the status'
 * summary and the per-target metrics. Lock held in every function. */
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "baselines_api.h"
#include "controller.h"
#include "parse.h"
#include "fleet.h"
#include "targets.h"

#define LIST_DEFAULT_LIMIT 100
#define LIST_MAX_LIMIT 1000
#define MAX_MATCHERS 16

/* Worst first (fleet_state_rank: unknown, then the states in order), then the more
 * confident, then by key: the order the storm guard lets targets act in. */
static int worst_first(const void *a, const void *b)
{
    const struct target *x = *(struct target *const *)a, *y = *(struct target *const *)b;
    size_t rx = fleet_state_rank(x->eval.current), ry = fleet_state_rank(y->eval.current);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    double cx = x->have_eval ? x->last.confidence : 0, cy = y->have_eval ? y->last.confidence : 0;
    if (cx != cy)
        return cx > cy ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* A matcher of the match parameter, with its regular expression compiled. */
struct matcher {
    struct label_matcher m;
    regex_t re;
    bool has_re;
};

static void matchers_free(struct matcher *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].m.value);
        if (m[i].has_re)
            regfree(&m[i].re);
    }
}

/* The match parameter: a selector (targets_parse_selector) whose regular expressions are
 * anchored at both ends, as Prometheus anchors them (POSIX extended syntax). */
static int parse_matchers(const char *s, struct matcher *m, size_t *ret_n, char *msg,
                          size_t msg_size)
{
    struct label_matcher lm[MAX_MATCHERS];
    size_t n = 0;
    const char *end;
    char why[160];
    int r = targets_parse_selector(s, lm, MAX_MATCHERS, &n, &end, why, sizeof(why));
    while (r == 0 && *end == ' ')
        end++;
    if (r == 0 && *end) {
        targets_matchers_free(lm, n);
        snprintf(why, sizeof(why), "unexpected '%.40s'", end);
        r = -EINVAL;
    }
    if (r < 0) {
        snprintf(msg, msg_size, "match: %s", why);
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        m[i] = (struct matcher){.m = lm[i]};
        if (m[i].m.op[1] != '~')
            continue;
        size_t rl = strlen(m[i].m.value) + 8;
        char *anchored = malloc(rl);
        int rc = -1;
        if (anchored) {
            snprintf(anchored, rl, "^(%s)$", m[i].m.value);
            rc = regcomp(&m[i].re, anchored, REG_EXTENDED | REG_NOSUB);
            free(anchored);
        }
        if (rc != 0) {
            snprintf(msg, msg_size, "match: %s: not a regular expression: \"%.60s\"", m[i].m.name,
                     m[i].m.value);
            matchers_free(m, i);
            targets_matchers_free(lm + i, n - i);
            return -EINVAL;
        }
        m[i].has_re = true;
    }
    *ret_n = n;
    return 0;
}

static bool matches(const struct target *t, const struct matcher *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *v = json_string_value(json_object_get(t->labels, m[i].m.name));
        if (!v)
            v = "";
        bool ok =
            m[i].has_re ? regexec(&m[i].re, v, 0, NULL, 0) == 0 : strcmp(v, m[i].m.value) == 0;
        if (m[i].m.op[0] == '!')
            ok = !ok;
        if (!ok)
            return false;
    }
    return true;
}

/* The first line of a reasoning, cut: the list's short form. */
static json_t *short_reasoning(const struct target *t)
{
    if (!t->have_eval)
        return json_string("not evaluated yet");
    const char *s = t->last.reasoning;
    size_t n = strcspn(s, "\n");
    if (n > 200)
        n = 200;
    return json_stringn(s, n);
}

/* Actions in effect of the target with this key (redacted, as the status shows them). */
static json_t *target_effects(struct controller *c, const char *key)
{
    json_t *all = actions_effects_json(c), *mine = json_array();
    for (size_t i = 0; i < json_array_size(all); i++) {
        json_t *e = json_array_get(all, i);
        const char *k = json_string_value(json_object_get(e, "target"));
        if (k && strcmp(k, key) == 0)
            json_array_append(mine, e);
    }
    json_decref(all);
    return mine;
}

static json_t *target_row_json(struct controller *c, const struct target *t, bool detail,
                               double now)
{
    const struct rules *r = c->rules;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(t->id));
    json_object_set_new(o, "key", json_string(t->key));
    json_object_set_new(o, "labels", json_incref(t->labels));
    json_object_set_new(o, "state", json_string(eval_state_name(r, t->eval.current)));
    json_object_set_new(o, "since", json_time(t->eval.since));
    json_object_set_new(o, "confidence", json_real(t->have_eval ? t->last.confidence : 0));
    json_object_set_new(o, "uncertain", json_boolean(t->have_eval && t->last.uncertain));
    json_object_set_new(o, "paused", json_boolean(t->paused));
    json_object_set_new(o, "last_seen", json_time(t->last_seen));
    if (!detail) {
        json_object_set_new(o, "reasoning", short_reasoning(t));
        json_object_set_new(o, "actions_in_effect",
                            json_integer((json_int_t)actions_target_effects(c, t->key)));
        return o;
    }
    json_t *effects = target_effects(c, t->key);
    json_object_set_new(o, "reasoning",
                        json_string(t->have_eval ? t->last.reasoning : "not evaluated yet"));
    json_t *parts = json_object();
    json_object_set_new(parts, "margin", json_real(t->have_eval ? t->last.parts.margin : 0));
    json_object_set_new(parts, "duration", json_real(t->have_eval ? t->last.parts.duration : 0));
    json_object_set_new(parts, "coverage", json_real(t->have_eval ? t->last.parts.coverage : 0));
    json_object_set_new(parts, "freshness", json_real(t->have_eval ? t->last.parts.freshness : 0));
    json_object_set_new(o, "confidence_parts", parts);
    json_object_set_new(o, "first_seen", json_time(t->first_seen));
    json_object_set_new(o, "signals", controller_signals_json(c, t->values, now));
    json_object_set_new(o, "actions_in_effect", effects);
    json_t *last = t->last_decision ? json_loads(t->last_decision, 0, NULL) : NULL;
    json_object_set_new(o, "last_decision", last ? last : json_null());
    bool limited;
    unsigned left = actions_target_budget_left(c, (struct target *)t, now, &limited);
    json_t *budget = json_object();
    json_object_set_new(budget, "max_actions_per_hour_per_target",
                        json_integer(r->max_actions_per_hour_per_target));
    json_object_set_new(budget, "used_last_hour",
                        json_integer((json_int_t)json_array_size(t->action_times)));
    json_object_set_new(budget, "left", limited ? json_integer(left) : json_null());
    json_object_set_new(o, "budget", budget);
    return o;
}

int targets_list_json(struct controller *c, const char *state, const char *match,
                      const char *search, const char *limit_s, const char *offset_s, json_t **ret,
                      char *msg, size_t msg_size)
{
    const struct rules *r = c->rules;
    unsigned limit = LIST_DEFAULT_LIMIT, offset = 0;
    if (limit_s && (parse_uint(limit_s, &limit) < 0 || limit == 0 || limit > LIST_MAX_LIMIT)) {
        snprintf(msg, msg_size, "limit must be a number from 1 to %d", LIST_MAX_LIMIT);
        return -EINVAL;
    }
    if (offset_s && parse_uint(offset_s, &offset) < 0) {
        snprintf(msg, msg_size, "offset must be a whole number");
        return -EINVAL;
    }
    size_t want_state = 0;
    bool by_state = state && *state;
    if (by_state) {
        int idx = rules_state_index(r, state);
        if (strcmp(state, RULES_STATE_UNKNOWN) == 0) {
            want_state = EVAL_STATE_UNKNOWN;
        } else if (idx < 0) {
            snprintf(msg, msg_size, "state: no state '%.64s' in the rules", state);
            return -EINVAL;
        } else {
            want_state = (size_t)idx;
        }
    }
    struct matcher m[MAX_MATCHERS];
    size_t n_m = 0;
    if (match && *match && parse_matchers(match, m, &n_m, msg, msg_size) < 0)
        return -EINVAL;
    struct target **sel = malloc((c->targets.n ? c->targets.n : 1) * sizeof(*sel));
    if (!sel) {
        matchers_free(m, n_m);
        snprintf(msg, msg_size, "out of memory");
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = 0; i < c->targets.n; i++) {
        struct target *t = c->targets.list[i];
        if ((!by_state || t->eval.current == want_state) && matches(t, m, n_m) &&
            (!search || !*search || strstr(t->key, search)))
            sel[n++] = t;
    }
    matchers_free(m, n_m);
    qsort(sel, n, sizeof(*sel), worst_first);
    double now = now_realtime();
    json_t *out = json_object(), *rows = json_array();
    for (size_t i = offset; i < n && i < (size_t)offset + limit; i++)
        json_array_append_new(rows, target_row_json(c, sel[i], false, now));
    free(sel);
    json_object_set_new(out, "total", json_integer((json_int_t)n));
    json_object_set_new(out, "offset", json_integer(offset));
    json_object_set_new(out, "limit", json_integer(limit));
    json_object_set_new(out, "next_offset",
                        (size_t)offset + limit < n ? json_integer((json_int_t)offset + limit)
                                                   : json_null());
    json_object_set_new(out, "targets", rows);
    *ret = out;
    return 0;
}

int targets_detail_json(struct controller *c, const char *id, json_t **ret)
{
    struct target *t = targets_find_id(c, id);
    if (!t)
        return -ENOENT;
    *ret = target_row_json(c, t, true, now_realtime());
    if (t->regs)
        json_object_set_new(*ret, "regulators", regulator_runs_json(c, t->regs));
    if (baselines_any(c->rules))
        json_object_set_new(*ret, "baselines",
                            baselines_set_view(c, &t->baselines, now_realtime()));
    return 0;
}

/* Targets per state, indexed by fleet_state_rank. */
static void count_states(const struct controller *c, size_t *counts)
{
    for (size_t i = 0; i < c->targets.n; i++)
        counts[fleet_state_rank(c->targets.list[i]->eval.current)]++;
}

json_t *targets_summary_json(struct controller *c)
{
    const struct rules *r = c->rules;
    json_t *o = json_object(), *per = json_object();
    size_t counts[RULES_MAX_STATES + 1] = {0};
    count_states(c, counts);
    json_object_set_new(per, RULES_STATE_UNKNOWN, json_integer((json_int_t)counts[0]));
    for (size_t s = 0; s < r->n_states; s++)
        json_object_set_new(per, r->states[s].name, json_integer((json_int_t)counts[s + 1]));
    json_object_set_new(o, "by", json_pack("[]"));
    for (size_t i = 0; i < r->targets.n_by; i++)
        json_array_append_new(json_object_get(o, "by"), json_string(r->targets.by[i]));
    json_object_set_new(o, "total", json_integer((json_int_t)c->targets.n));
    json_object_set_new(o, "max", json_integer(r->targets.max));
    json_object_set_new(o, "per_state", per);
    json_object_set_new(o, "refused_last_evaluation",
                        json_integer((json_int_t)c->targets.refused_last));
    json_object_set_new(o, "storm_guard_active", json_boolean(c->targets.storm_active));
    return o;
}

/* ---- metrics ---- */

/* labels[0..2 * n_by): the target's by labels as name, value pairs; returns 2 * n_by. */
static size_t by_labels(const struct rules *r, const struct target *t, const char **labels)
{
    for (size_t b = 0; b < r->targets.n_by; b++) {
        labels[2 * b] = r->targets.by[b];
        labels[2 * b + 1] = json_string_value(json_object_get(t->labels, r->targets.by[b]));
    }
    return 2 * r->targets.n_by;
}

int targets_metrics(struct controller *c, struct mset *set)
{
    const struct rules *r = c->rules;
    if (!r->targets.by)
        return 0;
    const char *labels[2 * (RULES_MAX_TARGET_LABELS + 1) + 1];
    int ret = mset_family(set, "homeostat_controller_target_state", METRIC_GAUGE,
                          "1 for the current state of each target, 0 for its other states "
                          "(one series per target and state).");
    for (size_t i = 0; ret >= 0 && i < c->targets.n; i++) {
        const struct target *t = c->targets.list[i];
        size_t k = by_labels(r, t, labels);
        labels[k] = "state";
        labels[k + 2] = NULL;
        for (size_t s = 0; ret >= 0 && s <= r->n_states; s++) {
            size_t idx = s < r->n_states ? s : EVAL_STATE_UNKNOWN;
            labels[k + 1] = eval_state_name(r, idx);
            ret = mset_add(set, MSET_SUFFIX_NONE, labels, t->eval.current == idx ? 1 : 0);
        }
    }
    if (ret >= 0)
        ret = mset_family(set, "homeostat_controller_target_confidence", METRIC_GAUGE,
                          "Confidence (0..1) in each target's state at the last evaluation.");
    for (size_t i = 0; ret >= 0 && i < c->targets.n; i++) {
        const struct target *t = c->targets.list[i];
        labels[by_labels(r, t, labels)] = NULL;
        ret = mset_add(set, MSET_SUFFIX_NONE, labels, t->have_eval ? t->last.confidence : 0);
    }
    if (ret >= 0 && r->n_regulators) {
        ret = mset_family(set, "homeostat_controller_target_regulator_output", METRIC_GAUGE,
                          "The output in force of each regulator for each target (one series "
                          "per target and regulator).");
        for (size_t i = 0; ret >= 0 && i < c->targets.n; i++) {
            const struct target *t = c->targets.list[i];
            size_t k = by_labels(r, t, labels);
            labels[k] = "regulator";
            labels[k + 2] = NULL;
            for (size_t g = 0; ret >= 0 && t->regs && g < r->n_regulators; g++) {
                labels[k + 1] = r->regulators[g].name;
                ret = mset_add(set, MSET_SUFFIX_NONE, labels, t->regs[g].st.output);
            }
        }
    }
    if (ret >= 0)
        ret = mset_family(set, "homeostat_controller_targets", METRIC_GAUGE,
                          "Targets in each state.");
    size_t counts[RULES_MAX_STATES + 1] = {0};
    count_states(c, counts);
    for (size_t s = 0; ret >= 0 && s <= r->n_states; s++) {
        const char *name = s == 0 ? RULES_STATE_UNKNOWN : r->states[s - 1].name;
        ret = mset_addl(set, (double)counts[s], "state", name, NULL);
    }
    return ret < 0 ? ret : 0;
}
