/* ruletest: `homeostat-controller test FILE...` (see ruletest.h). Loads a test file
 * (yamltree) and its rules file (rules_load_file) and validates all of it before running
 * anything; then replays each test's signal values step by step through step_replay_next()
 * (evaluate() and decide() under the hourly action budget, then the regulators: the
 * daemon's step), and checks every expectation at its step.
 * Values use promtool's expanding notation ("0.5x6 0.91+0.01x3 _x2 stale"). */
#include "ruletest.h"
#include "ruletest_private.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "decide.h"
#include "evaluate.h"
#include "step.h"
#include "targets.h"
#include "rules.h"
#include "yamltree.h"

#define MAX_PATH_LEN 4096 /* of the rules file path built from the test file's directory */

static void rfile_free(struct rfile *f)
{
    for (size_t i = 0; i < f->n_tests; i++) {
        struct rtest *t = &f->tests[i];
        for (size_t s = 0; t->series && s < f->rules->n_signals; s++) {
            free(t->series[s].value);
            free(t->series[s].known);
        }
        free(t->series);
        for (size_t e = 0; t->expect && e < t->n_expect; e++) {
            free(t->expect[e].target);
            free(t->expect[e].regs);
        }
        free(t->expect);
        ruletest_free_target_series(t);
    }
    free(f->tests);
    rules_free(f->rules);
    ytree_free(f->tree);
    memset(f, 0, sizeof(*f));
}

/* ---- the test file ---- */

static int unknown_name(struct buf *errors, const struct ytree_node *n, const char *what,
                        const char *name, const char *const *names, size_t count)
{
    const char *hint = ytree_suggest(name, names, count);
    if (hint)
        return ytree_error(errors, n, "unknown %s '%.64s' (did you mean '%s'?)", what, name, hint);
    return ytree_error(errors, n, "unknown %s '%.64s'", what, name);
}

static int find_signal(const struct rules *r, const struct ytree_node *n, const char *name,
                       size_t *ret, struct buf *errors)
{
    int i = rules_signal_index(r, name);
    if (i >= 0) {
        *ret = (size_t)i;
        return 0;
    }
    const char *names[RULES_MAX_SIGNALS];
    size_t count = 0;
    for (size_t k = 0; k < r->n_signals && count < RULES_MAX_SIGNALS; k++)
        names[count++] = r->signals[k].name;
    return unknown_name(errors, n, "signal", name, names, count);
}

static int find_state(const struct rules *r, const struct ytree_node *n, const char *name,
                      size_t *ret, struct buf *errors)
{
    const char *names[RULES_MAX_STATES + 1];
    size_t count = 0;
    if (strcmp(name, RULES_STATE_UNKNOWN) == 0) {
        *ret = EVAL_STATE_UNKNOWN;
        return 0;
    }
    for (size_t i = 0; i < r->n_states; i++) {
        if (strcmp(r->states[i].name, name) == 0) {
            *ret = i;
            return 0;
        }
        if (count < RULES_MAX_STATES)
            names[count++] = r->states[i].name;
    }
    names[count++] = RULES_STATE_UNKNOWN;
    return unknown_name(errors, n, "state", name, names, count);
}

static int get_tristate(const struct ytree_node *n, int *ret, struct buf *errors)
{
    bool b;
    if (ytree_get_bool(n, &b, errors) < 0)
        return -EINVAL;
    *ret = b;
    return 0;
}

static int load_confidence(const struct ytree_node *n, struct expectation *e, struct buf *errors)
{
    static const char *const keys[] = {"min", "max", NULL};
    if (ytree_expect(n, YTREE_MAP, errors) < 0)
        return -EINVAL;
    int r = ytree_check_keys(n, keys, errors);
    const struct ytree_node *x;
    e->confidence_min = 0;
    e->confidence_max = 1;
    if (!ytree_get(n, "min") && !ytree_get(n, "max"))
        r = ytree_error(errors, n, "confidence needs min, max or both");
    if ((x = ytree_get(n, "min")) && ytree_get_double(x, &e->confidence_min, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "max")) && ytree_get_double(x, &e->confidence_max, errors) < 0)
        r = -EINVAL;
    if (r == 0 && !(0 <= e->confidence_min && e->confidence_min <= e->confidence_max &&
                    e->confidence_max <= 1))
        r = ytree_error(errors, n, "confidence bounds must satisfy 0 <= min <= max <= 1");
    e->check_confidence = true;
    return r;
}

static int parse_outcome(const struct ytree_node *n, int *ret, struct buf *errors)
{
    const char *s;
    if (ytree_get_string(n, &s, errors) < 0)
        return -EINVAL;
    for (int o = OUTCOME_NONE; o < OUTCOME_MAX; o++) {
        if (o != OUTCOME_FAILED &&
            strcmp(s, decision_outcome_name((enum decision_outcome)o)) == 0) {
            *ret = o;
            return 0;
        }
    }
    return ytree_error(errors, n,
                       "unknown outcome '%.64s': expected none, uncertain, no_actions, paused, "
                       "below_confidence, cooldown, dry_run, budget_exhausted, storm_guard or "
                       "executed",
                       s);
}

static int parse_why(const struct ytree_node *n, int *ret, struct buf *errors)
{
    const char *s;
    if (ytree_get_string(n, &s, errors) < 0)
        return -EINVAL;
    for (int w = 0; w < REG_WHY_MAX; w++) {
        if (strcmp(s, regulator_why_name((enum regulator_why)w)) == 0) {
            *ret = w;
            return 0;
        }
    }
    return ytree_error(errors, n,
                       "unknown step '%.64s': expected change, unknown, tolerance, stabilizing, "
                       "at_limit, below_resolution, inactive or settling",
                       s);
}

/* One regulator's expectation: {output: 32, step: change, explanation_contains: "...",
 * changes: 3}. */
static int load_reg_expectation(const struct ytree_node *n, struct reg_expectation *g,
                                struct buf *errors)
{
    static const char *const keys[] = {"output", "step", "explanation_contains", "changes", NULL};
    if (ytree_expect(n, YTREE_MAP, errors) < 0)
        return -EINVAL;
    int r = ytree_check_keys(n, keys, errors);
    const struct ytree_node *x;
    if ((x = ytree_get(n, "output"))) {
        if (ytree_get_double(x, &g->output, errors) < 0)
            r = -EINVAL;
        else if (!isfinite(g->output))
            r = ytree_error(errors, x, "output must be a finite number");
        g->check_output = true;
    }
    if ((x = ytree_get(n, "step")) && parse_why(x, &g->why, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "explanation_contains")) &&
        ytree_get_string(x, &g->explanation_contains, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "changes"))) {
        if (ytree_get_uint(x, &g->changes, errors) < 0)
            r = -EINVAL;
        g->check_changes = true;
    }
    if (!ytree_get(n, "output") && !ytree_get(n, "step") && !ytree_get(n, "explanation_contains") &&
        !ytree_get(n, "changes"))
        r = ytree_error(errors, n,
                        "regulator expectation checks nothing: give output, step, "
                        "explanation_contains or changes");
    return r;
}

/* regulators: {NAME: {...}, ...} of an expectation into e->regs. */
static int load_reg_expectations(const struct rules *rules, const struct ytree_node *n,
                                 struct expectation *e, struct buf *errors)
{
    if (rules->n_regulators == 0)
        return ytree_error(errors, n, "regulators: the rules file has no regulators section");
    if (ytree_expect(n, YTREE_MAP, errors) < 0)
        return -EINVAL;
    if (ytree_len(n) == 0)
        return ytree_error(errors, n, "regulators is empty: name a regulator and what to check");
    e->regs = calloc(ytree_len(n), sizeof(*e->regs));
    if (!e->regs)
        return -ENOMEM;
    int r = 0;
    for (size_t i = 0; i < ytree_len(n); i++) {
        const struct ytree_node *k = ytree_key(n, i);
        struct reg_expectation *g = &e->regs[e->n_regs];
        *g = (struct reg_expectation){.node = k, .why = -1};
        const char *name;
        if (ytree_get_string(k, &name, errors) < 0) {
            r = -EINVAL;
            continue;
        }
        const struct regulator_def *d = rules_regulator(rules, name);
        if (!d) {
            const char *names[RULES_MAX_REGULATORS];
            size_t count = 0;
            for (size_t j = 0; j < rules->n_regulators && count < RULES_MAX_REGULATORS; j++)
                names[count++] = rules->regulators[j].name;
            r = unknown_name(errors, k, "regulator", name, names, count);
            continue;
        }
        g->regulator = (size_t)(d - rules->regulators);
        if (load_reg_expectation(ytree_value(n, i), g, errors) < 0)
            r = -EINVAL;
        e->n_regs++;
    }
    return r;
}

static int load_expectation(const struct rules *rules, struct rtest *t, const struct ytree_node *n,
                            struct expectation *e, struct buf *errors)
{
    static const char *const keys[] = {"at",
                                       "state",
                                       "changed",
                                       "uncertain",
                                       "confidence",
                                       "outcome",
                                       "reasoning_contains",
                                       "decisions",
                                       "target",
                                       "regulators",
                                       NULL};
    *e = (struct expectation){.node = n, .changed = -1, .uncertain = -1, .outcome = -1};
    if (ytree_expect(n, YTREE_MAP, errors) < 0)
        return -EINVAL;
    int r = ytree_check_keys(n, keys, errors);
    const struct ytree_node *x;
    const char *s;

    uint64_t at;
    if (!(x = ytree_get(n, "at"))) {
        r = ytree_error(errors, n, "expectation has no 'at' (time from the start of the test)");
    } else if (ytree_get_duration(x, &at, errors) < 0) {
        r = -EINVAL;
    } else if (at % t->interval_usec != 0) {
        r = ytree_error(errors, x, "at %.32s does not fall on a step (interval %gs)",
                        ytree_text(x, NULL), (double)t->interval_usec / 1e6);
    } else if (at / t->interval_usec >= RULETEST_MAX_STEPS) {
        r = ytree_error(errors, x, "at %.32s is past the last step allowed (%d steps)",
                        ytree_text(x, NULL), RULETEST_MAX_STEPS);
    } else {
        e->at_text = ytree_text(x, NULL);
        e->step = (size_t)(at / t->interval_usec);
    }

    x = ytree_get(n, "target");
    if (x && !rules->targets.by) {
        r = ytree_error(errors, x, "target: the rules file has no targets section");
    } else if (!x && rules->targets.by) {
        r = ytree_error(errors, n,
                        "the rules file has targets: name the target of this expectation "
                        "(target: '{%s=\"...\"}')",
                        rules->targets.by[0]);
    } else if (x && ytree_get_string(x, &s, errors) < 0) {
        r = -EINVAL;
    } else if (x) {
        json_t *labels = NULL;
        char msg[160], key[TARGETS_MAX_KEY];
        int q = targets_parse_labels(s, &labels, msg, sizeof(msg));
        if (q == -ENOMEM)
            return q;
        if (q < 0)
            r = ytree_error(errors, x, "target '%.64s': %s", s, msg);
        else if (targets_key(rules, labels, key, sizeof(key)) < 0)
            r = ytree_error(errors, x, "target '%.64s': too long", s);
        else if (!(e->target = strdup(key)))
            r = -ENOMEM;
        json_decref(labels);
    }

    if ((x = ytree_get(n, "state"))) {
        if (ytree_get_string(x, &s, errors) < 0 || find_state(rules, x, s, &e->state, errors) < 0)
            r = -EINVAL;
        e->check_state = true;
    }
    if ((x = ytree_get(n, "changed")) && get_tristate(x, &e->changed, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "uncertain")) && get_tristate(x, &e->uncertain, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "confidence")) && load_confidence(x, e, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "outcome")) && parse_outcome(x, &e->outcome, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "reasoning_contains")) &&
        ytree_get_string(x, &e->reasoning_contains, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "decisions"))) {
        if (ytree_get_uint(x, &e->decisions, errors) < 0)
            r = -EINVAL;
        e->check_decisions = true;
    }
    if ((x = ytree_get(n, "regulators"))) {
        int q = load_reg_expectations(rules, x, e, errors);
        if (q == -ENOMEM)
            return q;
        if (q < 0)
            r = q;
    }
    if (!e->check_state && e->changed < 0 && e->uncertain < 0 && !e->check_confidence &&
        e->outcome < 0 && !e->reasoning_contains && !e->check_decisions &&
        !ytree_get(n, "regulators") && ytree_get(n, "at"))
        r = ytree_error(errors, n,
                        "expectation checks nothing: give state, changed, uncertain, "
                        "confidence, outcome, reasoning_contains, decisions or regulators");
    return r;
}

static int load_flags(const struct ytree_node *n, struct decide_flags *flags, struct buf *errors)
{
    static const char *const keys[] = {"paused", "dry_run", NULL};
    if (ytree_expect(n, YTREE_MAP, errors) < 0)
        return -EINVAL;
    int r = ytree_check_keys(n, keys, errors);
    const struct ytree_node *x;
    if ((x = ytree_get(n, "paused")) && ytree_get_bool(x, &flags->paused, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "dry_run")) && ytree_get_bool(x, &flags->dry_run, errors) < 0)
        r = -EINVAL;
    return r;
}

static int load_signals(const struct rules *rules, struct rtest *t, const struct ytree_node *n,
                        struct buf *errors)
{
    if (ytree_is_null(n))
        return 0;
    if (ytree_expect(n, YTREE_MAP, errors) < 0)
        return -EINVAL;
    int r = 0;
    for (size_t i = 0; i < ytree_len(n); i++) {
        const struct ytree_node *k = ytree_key(n, i), *v = ytree_value(n, i);
        const char *name, *text;
        size_t sig;
        if (ytree_get_string(k, &name, errors) < 0 ||
            find_signal(rules, k, name, &sig, errors) < 0) {
            r = -EINVAL;
            continue;
        }
        if (rules->targets.by && ytree_kind(v) == YTREE_MAP) {
            t->series[sig].listed = t->series[sig].per_target = true;
            int q = ruletest_load_target_series(rules, t, sig, v, errors);
            if (q == -ENOMEM)
                return q;
            if (q < 0)
                r = q;
            continue;
        }
        if (ytree_get_string(v, &text, errors) < 0) {
            r = -EINVAL;
            continue;
        }
        struct series *s = &t->series[sig];
        s->listed = true;
        int q = ruletest_parse_values(v, text, s, errors);
        if (q == -ENOMEM)
            return q;
        if (q < 0)
            r = q;
    }
    return r;
}

static int load_test(struct rfile *f, size_t index, const struct ytree_node *n, struct buf *errors)
{
    static const char *const keys[] = {"name",    "interval", "sample_age", "flags",
                                       "signals", "expect",   NULL};
    const struct rules *rules = f->rules;
    struct rtest *t = &f->tests[index];
    snprintf(t->default_name, sizeof(t->default_name), "#%zu", index + 1);
    t->name = t->default_name;
    t->interval_usec = f->interval_usec;
    t->series = calloc(rules->n_signals, sizeof(*t->series));
    if (!t->series)
        return -ENOMEM;
    if (ytree_expect(n, YTREE_MAP, errors) < 0)
        return -EINVAL;
    int r = ytree_check_keys(n, keys, errors);
    const struct ytree_node *x;

    if ((x = ytree_get(n, "name")) && ytree_get_string(x, &t->name, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "interval"))) {
        uint64_t u;
        if (ytree_get_duration(x, &u, errors) < 0)
            r = -EINVAL;
        else if (u == 0)
            r = ytree_error(errors, x, "interval must be more than 0");
        else
            t->interval_usec = u;
    }
    if ((x = ytree_get(n, "sample_age")) && ytree_get_duration(x, &t->sample_age_usec, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "flags")) && load_flags(x, &t->flags, errors) < 0)
        r = -EINVAL;
    if ((x = ytree_get(n, "signals"))) {
        int q = load_signals(rules, t, x, errors);
        if (q == -ENOMEM)
            return q;
        if (q < 0)
            r = q;
    }

    x = ytree_get(n, "expect");
    if (!x)
        return ytree_error(errors, n, "test '%.64s' has no expect list", t->name);
    if (ytree_expect(x, YTREE_SEQ, errors) < 0)
        return -EINVAL;
    if (ytree_len(x) == 0)
        return ytree_error(errors, x, "expect is empty");
    t->expect = calloc(ytree_len(x), sizeof(*t->expect));
    if (!t->expect)
        return -ENOMEM;
    t->n_expect = ytree_len(x);
    for (size_t i = 0; i < t->n_expect; i++)
        if (load_expectation(rules, t, ytree_item(x, i), &t->expect[i], errors) < 0)
            r = -EINVAL;

    t->n_steps = 1;
    for (size_t i = 0; i < rules->n_signals; i++)
        if (t->series[i].n > t->n_steps)
            t->n_steps = t->series[i].n;
    for (size_t i = 0; i < t->n_tseries; i++)
        if (t->tseries[i].s.n > t->n_steps)
            t->n_steps = t->tseries[i].s.n;
    for (size_t i = 0; i < t->n_expect; i++)
        if (t->expect[i].step + 1 > t->n_steps)
            t->n_steps = t->expect[i].step + 1;
    return r;
}

/* The rules file named by rule_files, relative to the test file's directory. */
static int load_rules(struct rfile *f, const char *test_path, const struct ytree_node *root,
                      struct buf *errors)
{
    const struct ytree_node *v = ytree_get(root, "rule_files");
    if (!v)
        return ytree_error(errors, root, "missing key 'rule_files': the rules file to test");
    if (ytree_expect(v, YTREE_SEQ, errors) < 0)
        return -EINVAL;
    if (ytree_len(v) != 1)
        return ytree_error(errors, v, "rule_files must name exactly one rules file, got %zu",
                           ytree_len(v));
    const struct ytree_node *item = ytree_item(v, 0);
    const char *name;
    if (ytree_get_string(item, &name, errors) < 0)
        return -EINVAL;
    char path[MAX_PATH_LEN];
    const char *slash = strrchr(test_path, '/');
    int len = name[0] == '/' || !slash ? snprintf(path, sizeof(path), "%s", name)
                                       : snprintf(path, sizeof(path), "%.*s/%s",
                                                  (int)(slash - test_path), test_path, name);
    if (len < 0 || (size_t)len >= sizeof(path))
        return ytree_error(errors, item, "rules file path too long");
    /* Validation errors name their rules file position; an I/O error is reported here,
     * at the test file's rule_files entry, instead. */
    struct buf found;
    buf_init(&found, errors ? errors->max : 0);
    int r = rules_load_file(path, &f->rules, &found);
    if (r == -EINVAL && found.len)
        buf_append(errors, found.data, found.len);
    else if (r < 0)
        r = ytree_error(errors, item, "cannot load rules file %s: %s", path, strerror(-r));
    buf_free(&found);
    return r;
}

static int load_file(const char *path, struct rfile *f, struct buf *errors)
{
    static const char *const keys[] = {"rule_files", "evaluation_interval", "tests", NULL};
    int r = ytree_load_file(path, NULL, &f->tree, errors);
    if (r < 0)
        return r;
    const struct ytree_node *root = ytree_root(f->tree), *x;
    if (ytree_kind(root) != YTREE_MAP)
        return ytree_error(errors, root, "expected a map with rule_files and tests, got %s",
                           ytree_describe(root));
    r = ytree_check_keys(root, keys, errors);
    if ((x = ytree_get(root, "evaluation_interval"))) {
        if (ytree_get_duration(x, &f->interval_usec, errors) < 0)
            r = -EINVAL;
        else if (f->interval_usec == 0)
            r = ytree_error(errors, x, "evaluation_interval must be more than 0");
    }
    int q = load_rules(f, path, root, errors);
    if (q < 0)
        return q;
    if (!f->interval_usec)
        f->interval_usec = f->rules->evaluation_interval_usec;

    x = ytree_get(root, "tests");
    if (!x)
        return ytree_error(errors, root, "missing key 'tests'");
    if (ytree_expect(x, YTREE_SEQ, errors) < 0)
        return -EINVAL;
    if (ytree_len(x) == 0)
        return ytree_error(errors, x, "tests is empty");
    f->tests = calloc(ytree_len(x), sizeof(*f->tests));
    if (!f->tests)
        return -ENOMEM;
    for (size_t i = 0; i < ytree_len(x); i++) {
        f->n_tests = i + 1;
        q = load_test(f, i, ytree_item(x, i), errors);
        if (q == -ENOMEM)
            return q;
        if (q < 0)
            r = q;
    }
    return r;
}

/* ---- running ---- */

/* The signal values of step k of test t at time now. */
static void values_at(const struct rules *rules, const struct rtest *t, size_t k, double now,
                      struct signal_value *values)
{
    for (size_t i = 0; i < rules->n_signals; i++) {
        const struct series *s = &t->series[i];
        struct signal_value *v = &values[i];
        memset(v, 0, sizeof(*v));
        v->sample_time = now - (double)t->sample_age_usec / 1e6;
        if (!s->listed)
            snprintf(v->reason, sizeof(v->reason), "not in test");
        else if (k >= s->n || !s->known[k])
            snprintf(v->reason, sizeof(v->reason), "empty result");
        else {
            v->known = true;
            v->value = s->value[k];
        }
    }
}

/* "32" for a whole number, else with the digits needed to tell two outputs apart. */
static void fmt_output(double v, char *dst, size_t dstsz)
{
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(dst, dstsz, "%.0f", v);
    else
        snprintf(dst, dstsz, "%.10g", v);
}

/* Checks a regulator's expectation; the failures go to why, with the regulator's
 * explanation after them. */
static void check_regulator(const struct rules *rules, const struct reg_expectation *g,
                            const struct step_regulator *reg, struct buf *why)
{
    const char *name = rules->regulators[g->regulator].name;
    size_t len = why->len;
    double got = reg->st.output;
    if (g->check_output && !(fabs(got - g->output) <= 1e-9 * fmax(1, fabs(g->output)))) {
        char want_text[32], got_text[32];
        fmt_output(g->output, want_text, sizeof(want_text));
        fmt_output(got, got_text, sizeof(got_text));
        buf_printf(why, "      regulator %s: output: expected %s, got %s\n", name, want_text,
                   got_text);
    }
    if (g->why >= 0 && (int)reg->last.why != g->why)
        buf_printf(why, "      regulator %s: step: expected %s, got %s\n", name,
                   regulator_why_name((enum regulator_why)g->why),
                   regulator_why_name(reg->last.why));
    if (g->explanation_contains && !strstr(reg->last.explanation, g->explanation_contains))
        buf_printf(why, "      regulator %s: explanation_contains: expected \"%s\"\n", name,
                   g->explanation_contains);
    if (g->check_changes && reg->changes != g->changes)
        buf_printf(why, "      regulator %s: changes: expected %llu, got %llu\n", name,
                   (unsigned long long)g->changes, (unsigned long long)reg->changes);
    if (why->len != len)
        buf_printf(why, "      regulator %s: explanation: %s\n", name, reg->last.explanation);
}

bool ruletest_check(const struct rules *rules, const struct rtest *t, const struct expectation *e,
                    const struct eval_result *res, enum decision_outcome outcome,
                    uint64_t decisions, const struct step_regulator *regs, struct buf *report)
{
    struct buf why;
    buf_init(&why, 0);
    if (e->check_state && res->to != e->state)
        buf_printf(&why, "      state: expected %s, got %s\n", eval_state_name(rules, e->state),
                   eval_state_name(rules, res->to));
    if (e->changed >= 0 && res->changed != (bool)e->changed)
        buf_printf(&why, "      changed: expected %s, got %s\n", e->changed ? "true" : "false",
                   res->changed ? "true" : "false");
    if (e->uncertain >= 0 && res->uncertain != (bool)e->uncertain)
        buf_printf(&why, "      uncertain: expected %s, got %s\n", e->uncertain ? "true" : "false",
                   res->uncertain ? "true" : "false");
    if (e->check_confidence &&
        !(res->confidence >= e->confidence_min && res->confidence <= e->confidence_max))
        buf_printf(&why, "      confidence: expected %g..%g, got %.4f\n", e->confidence_min,
                   e->confidence_max, res->confidence);
    if (e->outcome >= 0 && (int)outcome != e->outcome)
        buf_printf(&why, "      outcome: expected %s, got %s\n",
                   decision_outcome_name((enum decision_outcome)e->outcome),
                   decision_outcome_name(outcome));
    if (e->reasoning_contains && !strstr(res->reasoning, e->reasoning_contains))
        buf_printf(&why, "      reasoning_contains: expected \"%s\"\n", e->reasoning_contains);
    if (e->check_decisions && decisions != e->decisions)
        buf_printf(&why, "      decisions: expected %llu, got %llu\n",
                   (unsigned long long)e->decisions, (unsigned long long)decisions);
    for (size_t i = 0; regs && i < e->n_regs; i++)
        check_regulator(rules, &e->regs[i], &regs[e->regs[i].regulator], &why);
    bool ok = why.len == 0;
    if (!ok) {
        buf_printf(report, "    test \"%s\" at %s%s%s (step %zu, %s:%u:%u):\n", t->name, e->at_text,
                   e->target ? " for " : "", e->target ? e->target : "", e->step,
                   ytree_file(e->node), ytree_line(e->node), ytree_column(e->node));
        buf_append(report, why.data, why.len);
        buf_printf(report, "      reasoning: %s\n", res->reasoning);
    }
    buf_free(&why);
    return ok;
}

/* Runs one test; failures go to report. Returns the number of failed expectations or
 * -ENOMEM. */
static int run_test(const struct rules *rules, const struct rtest *t, struct buf *report)
{
    if (rules->targets.by)
        return ruletest_run_targets(rules, t, report);
    struct step_replay rp;
    struct signal_value *values = calloc(rules->n_signals ? rules->n_signals : 1, sizeof(*values));
    struct eval_result *res = malloc(sizeof(*res));
    int failed = -ENOMEM;
    if (!values || !res ||
        step_replay_init(&rp, rules, RULETEST_T0, t->flags.paused, t->flags.dry_run) < 0)
        goto out;
    failed = 0;
    uint64_t decisions = 0;
    for (size_t k = 0; k < t->n_steps; k++) {
        double now = RULETEST_T0 + (double)(k * t->interval_usec) / 1e6;
        const struct decision_def *def;
        values_at(rules, t, k, now, values);
        enum decision_outcome o = step_replay_next(&rp, values, now, res, &def);
        decisions += o != OUTCOME_NONE;
        for (size_t i = 0; i < t->n_expect; i++)
            if (t->expect[i].step == k &&
                !ruletest_check(rules, t, &t->expect[i], res, o, decisions, rp.regs, report))
                failed++;
    }
    step_replay_free(&rp);
out:
    free(values);
    free(res);
    return failed;
}

/* Orders the "PATH:LINE:COL: message" lines of errors by position, so they read top to
 * bottom whatever order the checks ran in. Leaves errors as it is when out of memory. */
static void sort_errors(struct buf *errors, const char *path)
{
    struct buf sorted;
    buf_init(&sorted, errors->max);
    ytree_errors_sorted(&sorted, errors, path);
    if (sorted.len != errors->len) {
        buf_free(&sorted);
        return;
    }
    buf_free(errors);
    *errors = sorted;
}

/* Writes the lines of text indented by four spaces. */
static void put_indented(FILE *out, const char *text)
{
    while (text && *text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        fprintf(out, "    %.*s\n", (int)len, text);
        text += len + (nl ? 1 : 0);
    }
}

static int run_file(const char *path, FILE *out)
{
    struct rfile f = {0};
    struct buf errors, report;
    buf_init(&errors, 1 << 20);
    buf_init(&report, 16 << 20);
    int ret = 0;
    fprintf(out, "Unit Testing: %s\n", path);
    int r = load_file(path, &f, &errors);
    if (r < 0) {
        fprintf(out, "  FAILED:\n");
        if (r == -ENOMEM && !errors.len)
            buf_printf(&errors, "%s: out of memory\n", path);
        sort_errors(&errors, path);
        put_indented(out, errors.data);
        ret = 2;
        goto out;
    }
    size_t n_failed = 0;
    for (size_t i = 0; i < f.n_tests; i++) {
        int q = run_test(f.rules, &f.tests[i], &report);
        if (q < 0) {
            buf_printf(&report, "    test \"%s\": out of memory\n", f.tests[i].name);
            q = 1;
        }
        n_failed += q > 0;
    }
    if (n_failed) {
        fprintf(out, "  FAILED: %zu of %zu test%s\n%s", n_failed, f.n_tests,
                f.n_tests == 1 ? "" : "s", report.data ? report.data : "");
        ret = 1;
    } else {
        fprintf(out, "  SUCCESS: %zu test%s\n", f.n_tests, f.n_tests == 1 ? "" : "s");
    }
out:
    fputc('\n', out);
    buf_free(&errors);
    buf_free(&report);
    rfile_free(&f);
    return ret;
}

int ruletest_run_files(const char *const *paths, size_t n, FILE *out)
{
    int worst = 0;
    for (size_t i = 0; i < n; i++) {
        int r = run_file(paths[i], out);
        if (r > worst)
            worst = r;
    }
    fflush(out);
    return worst;
}
