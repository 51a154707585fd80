/* test-decide: the decision policy (controller/engine/decide.c) on hand-built rules
 * (trules.h): entering executes and staying repeats after the cooldown, below
 * min_confidence, no actions, paused and dry run, the hourly budget, and decide() after a
 * real evaluate(). */
#include <stdbool.h>
#include <stdint.h>

#include "trules.h"

/* ---- decide ---- */

/* A result for decide() without evaluate(). */
static struct eval_result result(size_t from, size_t to, double confidence)
{
    struct eval_result res;
    memset(&res, 0, sizeof(res));
    res.from = from;
    res.to = to;
    res.changed = from != to;
    res.confidence = confidence;
    return res;
}

TEST(decide_enter_executes_staying_repeats_after_cooldown)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    add_decision(&t, 0, 0.5, 120);
    double last_exec[4] = {0};
    struct decide_flags flags = {0};
    const struct decision_def *def = NULL;
    struct eval_result enter = result(2, 0, 0.8), stay = result(0, 0, 0.8);
    CHECK_INT(decide(&t.r, last_exec, &enter, T0, &flags, &def), OUTCOME_EXECUTED);
    CHECK(def == &t.decisions[0]);
    CHECK_DBL(last_exec[0], T0, 0);
    CHECK_INT(decide(&t.r, last_exec, &stay, T0 + 5, &flags, &def), OUTCOME_NONE);
    CHECK_INT(decide(&t.r, last_exec, &stay, T0 + 115, &flags, &def), OUTCOME_NONE);
    CHECK_INT(decide(&t.r, last_exec, &stay, T0 + 120, &flags, &def), OUTCOME_EXECUTED);
    CHECK_DBL(last_exec[0], T0 + 120, 0);
    /* Leaving and coming back within the cooldown: recorded, not run. */
    struct eval_result back = result(1, 0, 0.8);
    CHECK_INT(decide(&t.r, last_exec, &back, T0 + 130, &flags, &def), OUTCOME_COOLDOWN);
    CHECK_DBL(last_exec[0], T0 + 120, 0);
    /* Staying below min_confidence: nothing; entering below it: recorded. */
    struct eval_result weak = result(0, 0, 0.4);
    CHECK_INT(decide(&t.r, last_exec, &weak, T0 + 500, &flags, &def), OUTCOME_NONE);
    weak.from = 2;
    weak.changed = true;
    CHECK_INT(decide(&t.r, last_exec, &weak, T0 + 500, &flags, &def), OUTCOME_BELOW_CONFIDENCE);
    CHECK_DBL(last_exec[0], T0 + 120, 0);
    /* A state without a decision. */
    struct eval_result calm = result(0, 2, 1);
    CHECK_INT(decide(&t.r, last_exec, &calm, T0 + 600, &flags, &def), OUTCOME_NO_ACTIONS);
    CHECK(def == NULL);
    calm.from = 2;
    calm.changed = false;
    CHECK_INT(decide(&t.r, last_exec, &calm, T0 + 605, &flags, &def), OUTCOME_NONE);
    CHECK_STR(decision_outcome_name(OUTCOME_BELOW_CONFIDENCE), "below_confidence");
    CHECK_STR(decision_outcome_name(OUTCOME_NONE), "none");
}

TEST(decide_paused_and_dry_run)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    add_decision(&t, 0, 0, 60);
    double last_exec[4] = {0};
    struct decide_flags flags = {.paused = true};
    const struct decision_def *def = NULL;
    struct eval_result enter = result(2, 0, 1), stay = result(0, 0, 1);
    /* Paused: the change is recorded as paused, staying records nothing, no cooldown. */
    CHECK_INT(decide(&t.r, last_exec, &enter, T0, &flags, &def), OUTCOME_PAUSED);
    CHECK_INT(decide(&t.r, last_exec, &stay, T0 + 5, &flags, &def), OUTCOME_NONE);
    CHECK_INT(decide(&t.r, last_exec, &stay, T0 + 100, &flags, &def), OUTCOME_NONE);
    CHECK_DBL(last_exec[0], 0, 0);
    /* Dry run: recorded as dry_run and starts the cooldown like a real run. */
    flags = (struct decide_flags){.dry_run = true};
    CHECK_INT(decide(&t.r, last_exec, &enter, T0 + 200, &flags, &def), OUTCOME_DRY_RUN);
    CHECK_DBL(last_exec[0], T0 + 200, 0);
    CHECK_INT(decide(&t.r, last_exec, &stay, T0 + 205, &flags, &def), OUTCOME_NONE);
    CHECK_INT(decide(&t.r, last_exec, &stay, T0 + 260, &flags, &def), OUTCOME_DRY_RUN);
    /* The decision's own dry_run does the same. */
    flags = (struct decide_flags){0};
    t.decisions[0].dry_run = true;
    CHECK_INT(decide(&t.r, last_exec, &stay, T0 + 320, &flags, &def), OUTCOME_DRY_RUN);
    CHECK_DBL(last_exec[0], T0 + 320, 0);
}

TEST(decide_budget)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    add_decision(&t, 0, 0, 60);
    double last_exec[4] = {0};
    const struct decision_def *def = NULL;
    struct eval_result enter = result(2, 0, 1), stay = result(0, 0, 1);
    /* Not limited (zero-initialised flags): runs whatever budget_left says. */
    struct decide_flags flags = {.budget_left = 0};
    CHECK_INT(decide(&t.r, last_exec, &enter, T0, &flags, &def), OUTCOME_EXECUTED);
    /* Limited with nothing left: a change is recorded as budget_exhausted, no cooldown. */
    last_exec[0] = 0;
    flags = (struct decide_flags){.budget_limited = true, .budget_left = 0};
    CHECK_INT(decide(&t.r, last_exec, &enter, T0 + 10, &flags, &def), OUTCOME_BUDGET);
    CHECK_DBL(last_exec[0], 0, 0);
    CHECK_STR(decision_outcome_name(OUTCOME_BUDGET), "budget_exhausted");
    /* Staying with no budget records nothing (no record every evaluation). */
    CHECK_INT(decide(&t.r, last_exec, &stay, T0 + 15, &flags, &def), OUTCOME_NONE);
    /* Budget back: staying runs again. */
    flags.budget_left = 5;
    CHECK_INT(decide(&t.r, last_exec, &stay, T0 + 20, &flags, &def), OUTCOME_EXECUTED);
    /* A dry run needs no budget: nothing would run. */
    last_exec[0] = 0;
    flags = (struct decide_flags){.dry_run = true, .budget_limited = true, .budget_left = 0};
    CHECK_INT(decide(&t.r, last_exec, &enter, T0 + 30, &flags, &def), OUTCOME_DRY_RUN);
    /* Paused wins over the budget. */
    flags = (struct decide_flags){.paused = true, .budget_limited = true};
    CHECK_INT(decide(&t.r, last_exec, &enter, T0 + 40, &flags, &def), OUTCOME_PAUSED);
}

/* evaluate() and decide() together, as the daemon calls them. */
TEST(decide_after_evaluate)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    add_decision(&t, 0, 0.5, 60);
    struct eval_state st;
    CHECK_INT(eval_state_init(&st, &t.r, T0), 0);
    double last_exec[4] = {0};
    struct decide_flags flags = {0};
    const struct decision_def *def = NULL;
    int executed = 0, recorded = 0;
    struct eval_result out;
    for (double now = T0; now <= T0 + 200; now += 5) {
        step(&t, &st, 0.5, 0.99, now, &out);
        enum decision_outcome o = decide(&t.r, last_exec, &out, now, &flags, &def);
        recorded += o != OUTCOME_NONE;
        executed += o == OUTCOME_EXECUTED;
    }
    /* Entered at 30 s with duration 30/45: confidence 0.667 >= 0.5, executed; repeated
     * at 90, 150. */
    CHECK_INT(executed, 3);
    CHECK_INT(recorded, 3);
    CHECK_DBL(last_exec[0], T0 + 150, 0);
    eval_state_free(&st);
}

/* on_no_effect: escalate: the worse state's decision, taken as on entering its state */
TEST(decide_escalation_takes_waits_drops)
{
    struct trules t;
    std_rules(&t, MISSING_HOLD);
    add_decision(&t, 0, 0.5, 120); /* critical */
    add_decision(&t, 1, 0, 60);    /* stressed, escalating to critical */
    t.decisions[1].escalate_on_no_effect = true;
    t.decisions[1].escalate_to = 0;
    double last_exec[4] = {0, T0 - 10};
    struct decide_flags flags = {0};
    const struct decision_def *def = NULL;
    enum decision_outcome o = OUTCOME_NONE;
    /* still stressed, certain: critical's decision runs, its cooldown starts */
    struct eval_result stay = result(1, 1, 0.8);
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &stay, T0, &flags, &o, &def), ESCALATION_TAKE);
    CHECK_INT(o, OUTCOME_EXECUTED);
    CHECK(def == &t.decisions[0]);
    CHECK_DBL(last_exec[0], T0, 0);
    CHECK_DBL(last_exec[1], T0 - 10, 0);
    /* within critical's cooldown: recorded as cooldown, nothing runs */
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &stay, T0 + 60, &flags, &o, &def),
              ESCALATION_TAKE);
    CHECK_INT(o, OUTCOME_COOLDOWN);
    CHECK_DBL(last_exec[0], T0, 0);
    /* critical's min_confidence, pause, dry run and budget apply */
    struct eval_result weak = result(1, 1, 0.4);
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &weak, T0 + 500, &flags, &o, &def),
              ESCALATION_TAKE);
    CHECK_INT(o, OUTCOME_BELOW_CONFIDENCE);
    flags.paused = true;
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &stay, T0 + 500, &flags, &o, &def),
              ESCALATION_TAKE);
    CHECK_INT(o, OUTCOME_PAUSED);
    flags = (struct decide_flags){.budget_limited = true, .budget_left = 0};
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &stay, T0 + 500, &flags, &o, &def),
              ESCALATION_TAKE);
    CHECK_INT(o, OUTCOME_BUDGET);
    CHECK_DBL(last_exec[0], T0, 0);
    flags = (struct decide_flags){.dry_run = true};
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &stay, T0 + 500, &flags, &o, &def),
              ESCALATION_TAKE);
    CHECK_INT(o, OUTCOME_DRY_RUN);
    CHECK_DBL(last_exec[0], T0 + 500, 0); /* a dry run starts the cooldown, as decide() */
    flags = (struct decide_flags){0};
    /* uncertain or unknown: never on missing data, it waits */
    struct eval_result unsure = result(1, 1, 0.8);
    unsure.uncertain = true;
    o = OUTCOME_NONE;
    def = NULL;
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &unsure, T0 + 900, &flags, &o, &def),
              ESCALATION_WAIT);
    struct eval_result unknown = result(1, EVAL_STATE_UNKNOWN, 0);
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &unknown, T0 + 900, &flags, &o, &def),
              ESCALATION_WAIT);
    CHECK_INT(o, OUTCOME_NONE);
    CHECK(def == NULL);
    /* better now, or critical already (its own decision applies): dropped */
    struct eval_result better = result(1, 2, 1), worse = result(1, 0, 1);
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &better, T0 + 900, &flags, &o, &def),
              ESCALATION_DROP);
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &worse, T0 + 900, &flags, &o, &def),
              ESCALATION_DROP);
    /* a decision that does not escalate (the rules were reloaded) */
    t.decisions[1].escalate_on_no_effect = false;
    CHECK_INT(decide_escalation(&t.r, last_exec, 1, &stay, T0 + 900, &flags, &o, &def),
              ESCALATION_DROP);
    CHECK_DBL(last_exec[0], T0 + 500, 0);
}

TEST_MAIN(TEST_ENTRY(decide_escalation_takes_waits_drops),
          TEST_ENTRY(decide_enter_executes_staying_repeats_after_cooldown),
          TEST_ENTRY(decide_paused_and_dry_run), TEST_ENTRY(decide_budget),
          TEST_ENTRY(decide_after_evaluate))
