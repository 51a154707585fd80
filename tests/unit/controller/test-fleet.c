/* test-fleet: a step of every target (controller/engine/fleet.c) through fleet_replay, as
 * `test` and the daemon take it: the storm guard (a count and a share; those that already
 * acted count; the held back start no cooldown and act once fewer are bad), the global
 * and per-target hourly budgets, the acting order, targets.max and forget_after. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "fleet.h"
#include "rules.h"
#include "test.h"

#define T0 1700000000.0

static struct rules *load(const char *limits, const char *targets)
{
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "targets: {by: [unit]%s}\n"
             "limits: {%s}\n"
             "signals:\n  load: {query: load}\n"
             "states:\n  - {name: hot, conditions: ['load > 1']}\n  - {name: fine}\n"
             "decisions:\n  hot:\n    cooldown: 1m\n    actions:\n"
             "      - exec: [/bin/true, '{{ $labels.unit }}']\n",
             targets, limits);
    struct buf e = BUF_INIT_MAX(0);
    struct rules *r = NULL;
    if (rules_load_string(yaml, strlen(yaml), "r.yaml", &r, &e) < 0)
        fprintf(stderr, "  %s", e.data ? e.data : "?");
    buf_free(&e);
    return r;
}

/* One step with load values[i] for unit "u<i>" (NAN: no series for it). */
static int step(struct fleet_replay *rp, const double *values, size_t n, double now,
                struct fleet_member **m, size_t *n_m, struct fleet_outcome *fo)
{
    json_t *vec = json_array();
    for (size_t i = 0; i < n; i++) {
        if (values[i] != values[i])
            continue;
        char unit[16], v[32];
        snprintf(unit, sizeof(unit), "u%zu", i);
        snprintf(v, sizeof(v), "%g", values[i]);
        json_array_append_new(
            vec, json_pack("{s:{s:s}, s:[f,s]}", "metric", "unit", unit, "value", now, v));
    }
    struct ivec iv;
    ivec_init(&iv);
    int r = targets_ivec_from_json(vec, NULL, 0, &iv);
    struct target_input in = {.series = &iv};
    if (r == 0)
        r = fleet_replay_next(rp, &in, now, m, n_m, fo);
    json_decref(vec);
    ivec_free(&iv);
    return r;
}

static enum decision_outcome outcome_of(struct fleet_member *m, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].key, key) == 0)
            return m[i].outcome;
    return OUTCOME_MAX;
}

static size_t count(struct fleet_member *m, size_t n, enum decision_outcome o)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += m[i].outcome == o;
    return k;
}

TEST(storm_guard_counts_those_that_acted)
{
    struct rules *r = load("max_actions_per_hour: 0, max_targets_acting: 3", "");
    CHECK(r != NULL);
    if (!r)
        return;
    struct fleet_replay rp;
    fleet_replay_init(&rp, r, false, false);
    struct fleet_member *m;
    size_t n;
    struct fleet_outcome fo;
    /* 5% past the threshold is half the margin: u0 and u1 are the least confident */
    double hot[5] = {1.05, 1.06, 2, 2, 2};
    CHECK_INT(step(&rp, hot, 5, T0, &m, &n, &fo), 0);
    CHECK_INT(n, 5);
    CHECK_INT(fo.wanted, 5);
    CHECK_INT(fo.limit, 3);
    CHECK(fo.storm);
    CHECK_INT(fo.held, 2);
    CHECK_INT(count(m, n, OUTCOME_EXECUTED), 3);
    CHECK_INT(outcome_of(m, n, "{unit=\"u2\"}"), OUTCOME_EXECUTED);
    CHECK_INT(outcome_of(m, n, "{unit=\"u4\"}"), OUTCOME_EXECUTED);
    CHECK_INT(outcome_of(m, n, "{unit=\"u0\"}"), OUTCOME_STORM);
    CHECK_INT(outcome_of(m, n, "{unit=\"u1\"}"), OUTCOME_STORM);
    /* acting order: the most confident first, then by key */
    CHECK_STR(m[0].key, "{unit=\"u2\"}");
    CHECK_STR(m[3].key, "{unit=\"u1\"}");
    CHECK_STR(m[4].key, "{unit=\"u0\"}");
    /* held back: no cooldown started */
    for (size_t i = 0; i < n; i++)
        if (m[i].outcome == OUTCOME_STORM)
            CHECK_DBL(m[i].last_exec[0], 0, 0);
    /* still 5 bad, 3 acted within their cooldown: nobody else acts */
    CHECK_INT(step(&rp, hot, 5, T0 + 5, &m, &n, &fo), 0);
    CHECK_INT(fo.held, 2);
    CHECK_INT(count(m, n, OUTCOME_EXECUTED), 0);
    CHECK_INT(outcome_of(m, n, "{unit=\"u1\"}"), OUTCOME_STORM);
    /* two recover: 3 bad, not more than 3, so the guard is off and u0, u1 act */
    double calmer[5] = {1.05, 1.06, 0.5, 0.5, 2};
    CHECK_INT(step(&rp, calmer, 5, T0 + 10, &m, &n, &fo), 0);
    CHECK(!fo.storm);
    CHECK_INT(fo.held, 0);
    CHECK_INT(outcome_of(m, n, "{unit=\"u0\"}"), OUTCOME_EXECUTED);
    CHECK_INT(outcome_of(m, n, "{unit=\"u1\"}"), OUTCOME_EXECUTED);
    fleet_replay_free(&rp);
    rules_free(r);
}

TEST(storm_guard_share)
{
    struct rules *r = load("max_actions_per_hour: 0, max_targets_acting: 25%", "");
    CHECK(r != NULL);
    if (!r)
        return;
    CHECK_INT(fleet_acting_limit(r, 8), 2);
    CHECK_INT(fleet_acting_limit(r, 9), 3); /* rounded up */
    CHECK_INT(fleet_acting_limit(r, 1), 1); /* at least 1 */
    struct fleet_replay rp;
    fleet_replay_init(&rp, r, false, false);
    struct fleet_member *m;
    size_t n;
    struct fleet_outcome fo;
    double v[8] = {2, 2, 2, 0, 0, 0, 0, 0};
    CHECK_INT(step(&rp, v, 8, T0, &m, &n, &fo), 0);
    CHECK_INT(count(m, n, OUTCOME_EXECUTED), 2);
    CHECK_INT(count(m, n, OUTCOME_STORM), 1);
    fleet_replay_free(&rp);
    rules_free(r);
    r = load("max_actions_per_hour: 0, max_targets_acting: 0", "");
    CHECK_INT(fleet_acting_limit(r, 8), (size_t)-1);
    rules_free(r);
}

TEST(budgets_global_and_per_target)
{
    struct rules *r = load("max_actions_per_hour: 2, max_actions_per_hour_per_target: 1, "
                           "max_targets_acting: 0",
                           "");
    CHECK(r != NULL);
    if (!r)
        return;
    struct fleet_replay rp;
    fleet_replay_init(&rp, r, false, false);
    struct fleet_member *m;
    size_t n;
    struct fleet_outcome fo;
    double v[3] = {1.05, 2, 3};
    CHECK_INT(step(&rp, v, 3, T0, &m, &n, &fo), 0);
    /* the global budget of 2: u1 and u2 (the most confident) act, u0 does not */
    CHECK_INT(outcome_of(m, n, "{unit=\"u2\"}"), OUTCOME_EXECUTED);
    CHECK_INT(outcome_of(m, n, "{unit=\"u1\"}"), OUTCOME_EXECUTED);
    CHECK_INT(outcome_of(m, n, "{unit=\"u0\"}"), OUTCOME_BUDGET);
    /* after the cooldown (1m) u1 and u2 would act again, but their own budgets (1/h) are
     * spent */
    CHECK_INT(step(&rp, v, 3, T0 + 70, &m, &n, &fo), 0);
    CHECK_INT(outcome_of(m, n, "{unit=\"u1\"}"), OUTCOME_BUDGET);
    CHECK_INT(outcome_of(m, n, "{unit=\"u2\"}"), OUTCOME_BUDGET);
    CHECK_INT(outcome_of(m, n, "{unit=\"u0\"}"), OUTCOME_BUDGET); /* the global one */
    /* an hour later both budgets have room again */
    CHECK_INT(step(&rp, v, 3, T0 + 3601, &m, &n, &fo), 0);
    CHECK_INT(count(m, n, OUTCOME_EXECUTED), 2);
    fleet_replay_free(&rp);
    rules_free(r);
}

TEST(max_and_forget_after)
{
    struct rules *r = load("max_targets_acting: 0", ", max: 2, forget_after: 30s");
    CHECK(r != NULL);
    if (!r)
        return;
    struct fleet_replay rp;
    fleet_replay_init(&rp, r, false, false);
    struct fleet_member *m;
    size_t n;
    struct fleet_outcome fo;
    double v[3] = {0.5, 0.5, 0.5};
    CHECK_INT(step(&rp, v, 3, T0, &m, &n, &fo), 0);
    CHECK_INT(n, 2); /* the first two label sets in key order; the third refused */
    CHECK_INT(rp.refused, 1);
    CHECK_STR(rp.targets[0]->key, "{unit=\"u0\"}");
    CHECK_STR(rp.targets[1]->key, "{unit=\"u1\"}");
    /* u0's series vanish: it stays, unknown, for 30s */
    double gone[3] = {NAN, 0.5, 0.5};
    CHECK_INT(step(&rp, gone, 3, T0 + 20, &m, &n, &fo), 0);
    CHECK_INT(n, 2);
    CHECK(fleet_replay_find(&rp, "{unit=\"u0\"}") != NULL);
    CHECK(!fleet_replay_find(&rp, "{unit=\"u0\"}")->values[0].known);
    CHECK_STR(fleet_replay_find(&rp, "{unit=\"u0\"}")->values[0].reason,
              "no series for {unit=\"u0\"}");
    CHECK_INT(step(&rp, gone, 3, T0 + 30, &m, &n, &fo), 0);
    CHECK(fleet_replay_find(&rp, "{unit=\"u0\"}") == NULL); /* forgotten: room for u2 next */
    CHECK_INT(step(&rp, gone, 3, T0 + 35, &m, &n, &fo), 0);
    CHECK(fleet_replay_find(&rp, "{unit=\"u2\"}") != NULL);
    fleet_replay_free(&rp);
    rules_free(r);
}

TEST_MAIN(TEST_ENTRY(storm_guard_counts_those_that_acted), TEST_ENTRY(storm_guard_share),
          TEST_ENTRY(budgets_global_and_per_target), TEST_ENTRY(max_and_forget_after))
