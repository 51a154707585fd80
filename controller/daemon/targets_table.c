/* targets_table: the daemon's targets (struct target_table, controller.h): lookups by key
 * and id, adding and removing, the state file's part (save and restore) and carrying the
 * machines over a reload. A leaf of the daemon: it calls nothing of its other files (the
 * API's views of the targets are targets_api.c). Lock held in every function (the main
 * thread alone adds and removes). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "log.h"
#include "parse.h"
#include "targets.h"

#define ID_SEED 0x686f6d656f737461ULL /* fixed: a target keeps its id across restarts */

static uint64_t key_hash(const char *key)
{
    return hash_bytes(key, strlen(key), ID_SEED);
}

struct target *targets_find(struct controller *c, const char *key)
{
    struct target_table *tt = &c->targets;
    if (!tt->map.buckets)
        return NULL;
    uint64_t h = key_hash(key);
    for (struct hnode *n = hmap_chain(&tt->map, h); n; n = n->next) {
        struct target *t = (struct target *)n;
        if (n->hash == h && strcmp(t->key, key) == 0)
            return t;
    }
    return NULL;
}

struct target *targets_find_id(struct controller *c, const char *id)
{
    for (size_t i = 0; i < c->targets.n; i++)
        if (strcmp(c->targets.list[i]->id, id) == 0)
            return c->targets.list[i];
    return NULL;
}

static void target_free(struct target *t)
{
    if (!t)
        return;
    free(t->key);
    json_decref(t->labels);
    eval_state_free(&t->eval);
    free(t->last_exec);
    free(t->values);
    json_decref(t->action_times);
    free(t->last_decision);
    free(t->last.reasoning);
    regulator_runs_free(t->regs, t->n_regs);
    baseline_set_free(&t->baselines);
    free(t);
}

struct target *targets_add(struct controller *c, const char *key, const json_t *labels, double now)
{
    struct target_table *tt = &c->targets;
    const struct rules *r = c->rules;
    if (!tt->map.buckets && hmap_init(&tt->map, 64) < 0)
        return NULL;
    if (tt->n == tt->cap) {
        size_t cap = tt->cap ? tt->cap * 2 : 64;
        struct target **list = realloc(tt->list, cap * sizeof(*list));
        if (!list)
            return NULL;
        tt->list = list;
        tt->cap = cap;
    }
    struct target *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->key = strdup(key);
    t->labels = json_deep_copy(labels);
    t->last_exec = calloc(r->n_decisions ? r->n_decisions : 1, sizeof(double));
    t->action_times = json_array();
    t->regs = regulator_runs_new(r, NULL, tt->n < REGULATOR_TARGET_HISTORIES);
    t->n_regs = t->regs ? r->n_regulators : 0;
    if (!t->key || !t->labels || !t->last_exec || !t->action_times ||
        (r->n_regulators && !t->regs) || baseline_set_init(&t->baselines, r) < 0 ||
        eval_state_init(&t->eval, r, now) < 0) {
        target_free(t);
        return NULL;
    }
    if (c->baseline_seed &&
        baseline_set_seed(&t->baselines, r, json_object_get(c->baseline_seed, key)) < 0) {
        target_free(t);
        return NULL;
    }
    t->node.hash = key_hash(key);
    snprintf(t->id, sizeof(t->id), "%016llx", (unsigned long long)t->node.hash);
    t->first_seen = t->last_seen = now;
    hmap_insert(&tt->map, &t->node);
    tt->list[tt->n++] = t;
    return t;
}

void targets_remove(struct controller *c, struct target *t)
{
    struct target_table *tt = &c->targets;
    for (size_t i = 0; i < tt->n; i++)
        if (tt->list[i] == t) {
            tt->list[i] = tt->list[--tt->n];
            break;
        }
    hmap_remove(&tt->map, &t->node);
    target_free(t);
}

void targets_free(struct target_table *tt)
{
    for (size_t i = 0; i < tt->n; i++)
        target_free(tt->list[i]);
    free(tt->list);
    hmap_destroy(&tt->map);
    memset(tt, 0, sizeof(*tt));
}

/* ---- the state file ---- */

/* Written straight into text, not through a JSON tree: 10,000 machines are about 5 MB of
 * JSON, which a tree and json_dumps took 200 ms of CPU to make at every evaluation. The
 * same document as json_dumps would give (the loader reads it with jansson). */

/* A JSON string (label names and values are valid UTF-8: they come from replies or from
 * the rules). */
static void put_string(struct buf *b, const char *s)
{
    buf_putc(b, '"');
    for (const char *run = s;; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch && ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        buf_append(b, run, (size_t)(s - run));
        if (!ch)
            break;
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            buf_append(b, esc, 2);
        } else {
            buf_printf(b, "\\u%04x", ch);
        }
        run = s + 1;
    }
    buf_putc(b, '"');
}

/* A time (epoch seconds) to the microsecond, without printf's floating point: "0" or
 * "1733520000.123456". */
static void put_time(struct buf *b, double t)
{
    if (!(t > 0 && t < 1e12)) {
        buf_printf(b, "%.17g", isfinite(t) ? t : 0);
        return;
    }
    unsigned long long us = (unsigned long long)llround(t * 1e6);
    char tmp[32], *p = tmp + sizeof(tmp);
    unsigned long long frac = us % 1000000, sec = us / 1000000;
    for (int i = 0; i < 6; i++, frac /= 10)
        *--p = (char)('0' + frac % 10);
    *--p = '.';
    do
        *--p = (char)('0' + sec % 10);
    while ((sec /= 10) > 0);
    buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

int targets_state_text(struct controller *c, struct buf *b)
{
    const struct rules *r = c->rules;
    buf_puts(b, "{");
    for (size_t i = 0; i < c->targets.n; i++) {
        const struct target *t = c->targets.list[i];
        buf_puts(b, i ? ",\n  " : "\n  ");
        put_string(b, t->key);
        buf_puts(b, ": {\"labels\": {");
        const char *name;
        const json_t *v;
        bool first = true;
        json_object_foreach((json_t *)t->labels, name, v)
        {
            buf_puts(b, first ? "" : ", ");
            first = false;
            put_string(b, name);
            buf_puts(b, ": ");
            put_string(b, json_string_value(v) ? json_string_value(v) : "");
        }
        buf_puts(b, "}, \"state\": ");
        put_string(b, eval_state_name(r, t->eval.current));
        buf_puts(b, ", \"since\": ");
        put_time(b, t->eval.since);
        buf_puts(b, ", \"states\": {");
        first = true;
        for (size_t s = 0; s < r->n_states && s < t->eval.n_states; s++)
            if (t->eval.held_since[s] > 0 || t->eval.last_held[s] > 0) {
                buf_puts(b, first ? "" : ", ");
                first = false;
                put_string(b, r->states[s].name);
                buf_puts(b, ": {\"held_since\": ");
                put_time(b, t->eval.held_since[s]);
                buf_puts(b, ", \"last_held\": ");
                put_time(b, t->eval.last_held[s]);
                buf_puts(b, "}");
            }
        buf_puts(b, "}, \"last_executed\": {");
        first = true;
        for (size_t d = 0; d < r->n_decisions; d++)
            if (t->last_exec[d] > 0) {
                buf_puts(b, first ? "" : ", ");
                first = false;
                put_string(b, r->states[r->decisions[d].state].name);
                buf_puts(b, ": ");
                put_time(b, t->last_exec[d]);
            }
        buf_puts(b, "}, \"first_seen\": ");
        put_time(b, t->first_seen);
        buf_puts(b, ", \"last_seen\": ");
        put_time(b, t->last_seen);
        buf_puts(b, t->paused ? ", \"paused\": true" : ", \"paused\": false");
        buf_puts(b, ", \"action_times\": [");
        for (size_t k = 0; k < json_array_size(t->action_times); k++) {
            buf_puts(b, k ? ", " : "");
            put_time(b, json_number_value(json_array_get(t->action_times, k)));
        }
        buf_puts(b, "]");
        if (t->regs) {
            json_t *regs = regulator_runs_state(r, t->regs);
            char *text = regs ? json_dumps(regs, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
            if (text) {
                buf_puts(b, ", \"regulators\": ");
                buf_puts(b, text);
            }
            free(text);
            json_decref(regs);
        }
        buf_puts(b, "}");
    }
    return buf_puts(b, c->targets.n ? "\n}" : "}");
}

static double num(const json_t *v)
{
    return json_is_number(v) ? json_number_value(v) : 0;
}

/* A saved machine into t (states and decisions by name). */
static void restore_one(const struct rules *r, struct target *t, const json_t *o)
{
    const char *name = json_string_value(json_object_get(o, "state"));
    int idx = name ? rules_state_index(r, name) : -1;
    if (name && strcmp(name, RULES_STATE_UNKNOWN) == 0) {
        t->eval.current = EVAL_STATE_UNKNOWN;
        t->eval.since = num(json_object_get(o, "since"));
    } else if (idx >= 0) {
        t->eval.current = (size_t)idx;
        t->eval.since = num(json_object_get(o, "since"));
    }
    const json_t *states = json_object_get(o, "states");
    for (size_t s = 0; s < r->n_states && s < t->eval.n_states; s++) {
        const json_t *x = json_object_get(states, r->states[s].name);
        t->eval.held_since[s] = num(json_object_get(x, "held_since"));
        t->eval.last_held[s] = num(json_object_get(x, "last_held"));
    }
    const json_t *cool = json_object_get(o, "last_executed");
    for (size_t d = 0; d < r->n_decisions; d++)
        t->last_exec[d] = num(json_object_get(cool, r->states[r->decisions[d].state].name));
    t->first_seen = num(json_object_get(o, "first_seen"));
    t->last_seen = num(json_object_get(o, "last_seen"));
    t->paused = json_is_true(json_object_get(o, "paused"));
    const json_t *times = json_object_get(o, "action_times");
    for (size_t k = 0; k < json_array_size(times); k++)
        if (json_is_number(json_array_get(times, k)))
            json_array_append(t->action_times, json_array_get(times, k));
    const json_t *regs = json_object_get(o, "regulators");
    if (t->regs && json_is_object(regs)) {
        struct regulator_run *again = regulator_runs_new(r, regs, t->regs[0].hist != NULL);
        if (again) {
            regulator_runs_free(t->regs, t->n_regs);
            t->regs = again;
        }
    }
}

void targets_restore(struct controller *c, const json_t *saved)
{
    const struct rules *r = c->rules;
    const char *key;
    const json_t *o;
    size_t n = 0, skipped = 0;
    json_object_foreach((json_t *)saved, key, o)
    {
        const json_t *labels = json_object_get(o, "labels");
        char again[TARGETS_MAX_KEY];
        /* Only machines of the same targets.by: their key is their labels' key. */
        if (!json_is_object(labels) || targets_key(r, labels, again, sizeof(again)) < 0 ||
            strcmp(again, key) != 0 || json_object_size(labels) != r->targets.n_by) {
            skipped++;
            continue;
        }
        /* known already (another replica's state taken over, daemon/replicas.c): its machine
         * is the saved one */
        struct target *t = targets_find(c, key);
        if (t) {
            json_array_clear(t->action_times);
            restore_one(r, t, o);
            n++;
            continue;
        }
        if (c->targets.n >= r->targets.max) {
            skipped++;
            continue;
        }
        t = targets_add(c, key, labels, num(json_object_get(o, "last_seen")));
        if (!t) {
            log_error("state: out of memory restoring the targets");
            return;
        }
        restore_one(r, t, o);
        n++;
    }
    if (n || skipped)
        log_info("state: restored %zu targets%s", n,
                 skipped ? " (others not of this rules file's targets.by)" : "");
}

int targets_rebase(struct controller *c, const struct rules *old_rules,
                   const struct rules *new_rules)
{
    struct target_table *tt = &c->targets;
    bool same_by = old_rules->targets.n_by == new_rules->targets.n_by && new_rules->targets.by;
    for (size_t i = 0; same_by && i < new_rules->targets.n_by; i++)
        same_by = strcmp(old_rules->targets.by[i], new_rules->targets.by[i]) == 0;
    if (!same_by) {
        if (tt->n)
            log_info("reload: targets.by changed; %zu targets start over", tt->n);
        targets_free(tt);
        return 0;
    }
    for (size_t i = 0; i < tt->n; i++) {
        struct target *t = tt->list[i];
        double *last_exec =
            calloc(new_rules->n_decisions ? new_rules->n_decisions : 1, sizeof(double));
        if (!last_exec || eval_state_rebase(&t->eval, old_rules, new_rules) < 0) {
            free(last_exec);
            return -ENOMEM;
        }
        for (size_t d = 0; d < new_rules->n_decisions; d++) {
            const char *name = new_rules->states[new_rules->decisions[d].state].name;
            for (size_t j = 0; j < old_rules->n_decisions; j++)
                if (strcmp(old_rules->states[old_rules->decisions[j].state].name, name) == 0)
                    last_exec[d] = t->last_exec[j];
        }
        free(t->last_exec);
        t->last_exec = last_exec;
        free(t->values); /* sized by the old signals */
        t->values = NULL;
        t->have_eval = false;
        /* the baselines by signal name */
        json_t *bsaved = baseline_set_json(old_rules, &t->baselines);
        baseline_set_free(&t->baselines);
        int br = baseline_set_init(&t->baselines, new_rules);
        if (br == 0)
            br = baseline_set_restore(&t->baselines, new_rules, bsaved);
        json_decref(bsaved);
        if (br < 0)
            return -ENOMEM;
        /* the regulators by name, within their new bounds */
        json_t *saved = regulator_runs_state(old_rules, t->regs);
        struct regulator_run *regs = regulator_runs_new(
            new_rules, saved, t->regs ? t->regs[0].hist != NULL : i < REGULATOR_TARGET_HISTORIES);
        json_decref(saved);
        if (new_rules->n_regulators && !regs)
            return -ENOMEM;
        regulator_runs_free(t->regs, t->n_regs);
        t->regs = regs;
        t->n_regs = regs ? new_rules->n_regulators : 0;
    }
    return 0;
}
