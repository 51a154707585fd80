/* test-demo-breaker: the demo application's circuit breaker (demo/app/breaker.c):
 * CLOSED -> OPEN after N consecutive failures, HALF_OPEN after the recovery time with one
 * trial call, forced states; time passed in. */
#include "breaker.h"
#include "test.h"

static char transitions[256];

static void record(void *userdata, enum breaker_state from, enum breaker_state to)
{
    size_t n = strlen(transitions);
    snprintf(transitions + n, sizeof(transitions) - n, "%s>%s ", breaker_state_name(from),
             breaker_state_name(to));
}

TEST(opens_after_consecutive_failures)
{
    struct breaker b;
    transitions[0] = '\0';
    breaker_init(&b, 3, 1000, record, NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(breaker_allow(&b, 0));
        breaker_record(&b, false, 0);
    }
    CHECK(breaker_allow(&b, 0));
    breaker_record(&b, true, 0); /* a success resets the count */
    for (int i = 0; i < 2; i++) {
        CHECK(breaker_allow(&b, 0));
        breaker_record(&b, false, 0);
    }
    CHECK_INT(breaker_state(&b, 0), BREAKER_CLOSED);
    CHECK(breaker_allow(&b, 0));
    breaker_record(&b, false, 10);
    CHECK_INT(breaker_state(&b, 10), BREAKER_OPEN);
    CHECK(!breaker_allow(&b, 11));
    CHECK_STR(transitions, "closed>open ");
    CHECK_INT(breaker_transitions(&b), 1);
    breaker_destroy(&b);
}

TEST(half_open_after_recovery_lets_one_trial)
{
    struct breaker b;
    transitions[0] = '\0';
    breaker_init(&b, 1, 1000, record, NULL);
    CHECK(breaker_allow(&b, 0));
    breaker_record(&b, false, 0);
    CHECK(!breaker_allow(&b, 999));
    CHECK_INT(breaker_state(&b, 999), BREAKER_OPEN);
    CHECK_INT(breaker_state(&b, 1000), BREAKER_HALF_OPEN);
    CHECK(breaker_allow(&b, 1000));  /* the trial */
    CHECK(!breaker_allow(&b, 1001)); /* only one */
    breaker_record(&b, false, 1002); /* fails: open again, recovery restarts */
    CHECK_INT(breaker_state(&b, 1500), BREAKER_OPEN);
    CHECK_INT(breaker_state(&b, 2002), BREAKER_HALF_OPEN);
    CHECK(breaker_allow(&b, 2002));
    breaker_record(&b, true, 2003);
    CHECK_INT(breaker_state(&b, 2003), BREAKER_CLOSED);
    CHECK(breaker_allow(&b, 2004));
    CHECK(breaker_allow(&b, 2004));
    CHECK_STR(transitions, "closed>open open>half_open half_open>open open>half_open "
                           "half_open>closed ");
    breaker_destroy(&b);
}

TEST(forced_states_until_auto)
{
    struct breaker b;
    transitions[0] = '\0';
    breaker_init(&b, 1, 1000, record, NULL);
    breaker_force(&b, BREAKER_FORCED_OPEN, 0);
    CHECK_INT(breaker_forced(&b), BREAKER_FORCED_OPEN);
    CHECK(!breaker_allow(&b, 0));
    CHECK_INT(breaker_state(&b, 5000), BREAKER_OPEN); /* no recovery while forced */
    CHECK(!breaker_allow(&b, 5000));
    breaker_force(&b, BREAKER_FORCED_CLOSED, 5000);
    for (int i = 0; i < 5; i++) {
        CHECK(breaker_allow(&b, 5000));
        breaker_record(&b, false, 5000); /* failures do not open a forced breaker */
    }
    CHECK_INT(breaker_state(&b, 5000), BREAKER_CLOSED);
    breaker_force(&b, BREAKER_AUTO, 6000);
    CHECK_INT(breaker_forced(&b), BREAKER_AUTO);
    CHECK(breaker_allow(&b, 6000));
    breaker_record(&b, false, 6000);
    CHECK_INT(breaker_state(&b, 6000), BREAKER_OPEN);
    CHECK_STR(transitions, "closed>open open>closed closed>open ");
    CHECK_STR(breaker_force_name(BREAKER_FORCED_CLOSED), "closed");
    CHECK_STR(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
    breaker_destroy(&b);
}

TEST_MAIN(TEST_ENTRY(opens_after_consecutive_failures),
          TEST_ENTRY(half_open_after_recovery_lets_one_trial), TEST_ENTRY(forced_states_until_auto))
