/* ratelimit: a token bucket of `rate` tokens per second holding at most `rate` (the
 * burst). Thread-safe; time is passed in (now_usec, CLOCK_MONOTONIC). */
#ifndef HOMEOSTAT_DEMO_RATELIMIT_H
#define HOMEOSTAT_DEMO_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
    pthread_mutex_t lock;
    unsigned rate;
    double tokens;
    uint64_t last_usec;
};

struct ratelimit_result {
    bool allowed;
    unsigned limit;         /* X-RateLimit-Limit */
    unsigned remaining;     /* X-RateLimit-Remaining: whole tokens left */
    unsigned reset_seconds; /* X-RateLimit-Reset: seconds until the bucket is full */
    unsigned retry_seconds; /* Retry-After when refused: seconds until a token (>= 1) */
};

/* A full bucket at now_usec; rate >= 1. */
void ratelimit_init(struct ratelimit *rl, unsigned rate, uint64_t now_usec);
void ratelimit_destroy(struct ratelimit *rl);
/* Takes one token when there is one; fills *ret either way. */
bool ratelimit_take(struct ratelimit *rl, uint64_t now_usec, struct ratelimit_result *ret);
/* The state now without taking a token (allowed = a token is there). */
void ratelimit_peek(struct ratelimit *rl, uint64_t now_usec, struct ratelimit_result *ret);

#endif
