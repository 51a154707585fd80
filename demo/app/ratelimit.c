/* ratelimit: the demo application's token bucket (see ratelimit.h). */
#include "ratelimit.h"

#include <math.h>

void ratelimit_init(struct ratelimit *rl, unsigned rate, uint64_t now_usec)
{
    rl->rate = rate ? rate : 1;
    rl->tokens = rl->rate;
    rl->last_usec = now_usec;
    pthread_mutex_init(&rl->lock, NULL);
}

void ratelimit_destroy(struct ratelimit *rl)
{
    pthread_mutex_destroy(&rl->lock);
}

static void refill(struct ratelimit *rl, uint64_t now_usec)
{
    if (now_usec > rl->last_usec) {
        rl->tokens += (double)(now_usec - rl->last_usec) * rl->rate / 1e6;
        if (rl->tokens > rl->rate)
            rl->tokens = rl->rate;
        rl->last_usec = now_usec;
    }
}

static void fill_result(const struct ratelimit *rl, bool allowed, struct ratelimit_result *ret)
{
    ret->allowed = allowed;
    ret->limit = rl->rate;
    ret->remaining = (unsigned)floor(rl->tokens + 1e-9);
    ret->reset_seconds = (unsigned)ceil((rl->rate - rl->tokens) / rl->rate - 1e-9);
    double wait = rl->tokens >= 1 ? 0 : (1 - rl->tokens) / rl->rate;
    ret->retry_seconds = (unsigned)ceil(wait - 1e-9);
    if (ret->retry_seconds < 1)
        ret->retry_seconds = 1;
}

bool ratelimit_take(struct ratelimit *rl, uint64_t now_usec, struct ratelimit_result *ret)
{
    pthread_mutex_lock(&rl->lock);
    refill(rl, now_usec);
    bool ok = rl->tokens >= 1 - 1e-9;
    if (ok)
        rl->tokens = rl->tokens >= 1 ? rl->tokens - 1 : 0;
    fill_result(rl, ok, ret);
    pthread_mutex_unlock(&rl->lock);
    return ok;
}

void ratelimit_peek(struct ratelimit *rl, uint64_t now_usec, struct ratelimit_result *ret)
{
    pthread_mutex_lock(&rl->lock);
    refill(rl, now_usec);
    fill_result(rl, rl->tokens >= 1 - 1e-9, ret);
    pthread_mutex_unlock(&rl->lock);
}
