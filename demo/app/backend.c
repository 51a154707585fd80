/* backend: the simulated slow backend of the demo application (see backend.h). */
#include "backend.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "hmap.h"
#include "parse.h"

void backend_init(struct backend *b, unsigned workers, uint64_t latency_usec, uint64_t timeout_usec,
                  double failure_ratio)
{
    *b = (struct backend){.workers = workers ? workers : 1,
                          .latency_usec = latency_usec,
                          .timeout_usec = timeout_usec,
                          .failure_ratio = failure_ratio,
                          .rng = hash_random_seed() | 1};
    pthread_mutex_init(&b->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&b->freed, &attr);
    pthread_condattr_destroy(&attr);
}

void backend_destroy(struct backend *b)
{
    pthread_cond_destroy(&b->freed);
    pthread_mutex_destroy(&b->lock);
}

/* xorshift64*, under the lock: a uniform double in [0, 1). */
static double next_random(struct backend *b)
{
    b->rng ^= b->rng >> 12;
    b->rng ^= b->rng << 25;
    b->rng ^= b->rng >> 27;
    return (double)((b->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void sleep_usec(uint64_t usec)
{
    struct timespec ts = {.tv_sec = usec / 1000000, .tv_nsec = (usec % 1000000) * 1000};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR)
        ;
}

int backend_call(struct backend *b, uint32_t id, char *out, size_t size)
{
    uint64_t deadline = now_usec() + b->timeout_usec;
    struct timespec ts = {.tv_sec = deadline / 1000000, .tv_nsec = (deadline % 1000000) * 1000};
    int r = 0;
    pthread_mutex_lock(&b->lock);
    b->queue++;
    while (!b->stopping && b->busy >= b->workers && r == 0)
        if (pthread_cond_timedwait(&b->freed, &b->lock, &ts) == ETIMEDOUT && b->busy >= b->workers)
            r = -ETIMEDOUT;
    b->queue--;
    if (b->stopping)
        r = -ECANCELED;
    if (r < 0) {
        b->failures++;
        pthread_mutex_unlock(&b->lock);
        return r;
    }
    b->busy++;
    double jitter = 0.75 + 0.5 * next_random(b);
    bool fail = next_random(b) < b->failure_ratio;
    uint64_t work = (uint64_t)(b->latency_usec * jitter);
    pthread_mutex_unlock(&b->lock);

    sleep_usec(work);

    pthread_mutex_lock(&b->lock);
    b->busy--;
    b->calls++;
    if (fail)
        b->failures++;
    pthread_cond_signal(&b->freed);
    pthread_mutex_unlock(&b->lock);
    if (fail)
        return -EIO;
    snprintf(out, size, "{\"id\":%u,\"name\":\"item-%u\",\"price_cents\":%u}", id, id,
             (unsigned)(hash_bytes(&id, sizeof(id), 42) % 100000));
    return 0;
}

void backend_set_latency(struct backend *b, uint64_t latency_usec)
{
    pthread_mutex_lock(&b->lock);
    b->latency_usec = latency_usec;
    pthread_mutex_unlock(&b->lock);
}

void backend_shutdown(struct backend *b)
{
    pthread_mutex_lock(&b->lock);
    b->stopping = true;
    pthread_cond_broadcast(&b->freed);
    pthread_mutex_unlock(&b->lock);
}

void backend_get_stats(struct backend *b, struct backend_stats *ret)
{
    pthread_mutex_lock(&b->lock);
    *ret = (struct backend_stats){.workers = b->workers,
                                  .busy = b->busy,
                                  .queue = b->queue,
                                  .latency_usec = b->latency_usec,
                                  .calls = b->calls,
                                  .failures = b->failures};
    pthread_mutex_unlock(&b->lock);
}
