/* test-demo-ratelimit: the demo application's token bucket (demo/app/ratelimit.c): burst,
 * refill, the X-RateLimit-* and Retry-After values; time passed in. */
#include "ratelimit.h"
#include "test.h"

TEST(burst_then_refused)
{
    struct ratelimit rl;
    struct ratelimit_result r;
    ratelimit_init(&rl, 5, 0);
    for (unsigned i = 0; i < 5; i++) {
        CHECK(ratelimit_take(&rl, 0, &r));
        CHECK_INT(r.limit, 5);
        CHECK_INT(r.remaining, 4 - i);
    }
    CHECK(!ratelimit_take(&rl, 0, &r));
    CHECK(!r.allowed);
    CHECK_INT(r.remaining, 0);
    CHECK_INT(r.retry_seconds, 1);
    CHECK_INT(r.reset_seconds, 1);
    ratelimit_destroy(&rl);
}

TEST(refills_at_rate)
{
    struct ratelimit rl;
    struct ratelimit_result r;
    ratelimit_init(&rl, 10, 0);
    for (int i = 0; i < 10; i++)
        CHECK(ratelimit_take(&rl, 0, &r));
    CHECK(!ratelimit_take(&rl, 99999, &r)); /* 0.99 tokens */
    CHECK(ratelimit_take(&rl, 100000, &r)); /* 1 token after 100 ms */
    CHECK(!ratelimit_take(&rl, 100000, &r));
    ratelimit_peek(&rl, 600000, &r); /* 5 more */
    CHECK_INT(r.remaining, 5);
    CHECK(r.allowed);
    ratelimit_peek(&rl, 60000000, &r); /* never above the burst */
    CHECK_INT(r.remaining, 10);
    CHECK_INT(r.reset_seconds, 0);
    ratelimit_destroy(&rl);
}

TEST(slow_rate_retry_after)
{
    struct ratelimit rl;
    struct ratelimit_result r;
    ratelimit_init(&rl, 1, 0);
    CHECK(ratelimit_take(&rl, 0, &r));
    CHECK(!ratelimit_take(&rl, 250000, &r));
    CHECK_INT(r.retry_seconds, 1);
    CHECK(ratelimit_take(&rl, 1000000, &r));
    ratelimit_destroy(&rl);
}

TEST_MAIN(TEST_ENTRY(burst_then_refused), TEST_ENTRY(refills_at_rate),
          TEST_ENTRY(slow_rate_retry_after))
