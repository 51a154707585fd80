/* backend: the demo application's simulated slow backend. `workers` calls are served at
 * once, each taking `latency_usec` ± 25 %; callers beyond that wait in a queue (a counting
 * semaphore on a mutex and a CLOCK_MONOTONIC condition variable), so over capacity the
 * queue and the latency grow. A caller that waited longer than `timeout_usec` fails with
 * -ETIMEDOUT; a share `failure_ratio` of served calls fails with -EIO. The latency can be
 * changed while calls run (backend_set_latency). */
#ifndef HOMEOSTAT_DEMO_BACKEND_H
#define HOMEOSTAT_DEMO_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct backend {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    unsigned workers, busy, queue;
    uint64_t latency_usec, timeout_usec;
    double failure_ratio;
    uint64_t calls, failures;
    uint64_t rng;
    bool stopping;
};

struct backend_stats {
    unsigned workers, busy, queue;
    uint64_t latency_usec, calls, failures;
};

void backend_init(struct backend *b, unsigned workers, uint64_t latency_usec, uint64_t timeout_usec,
                  double failure_ratio);
void backend_destroy(struct backend *b);
/* One call for item id: waits for a worker, then works. 0 and the item's JSON in out,
 * -ETIMEDOUT (waited too long), -EIO (the call failed) or -ECANCELED (shutting down). */
int backend_call(struct backend *b, uint32_t id, char *out, size_t size);
/* Sets the time one call takes from now on (a call already working keeps its own).
 * The admin endpoint's capacity drop: workers / latency calls per second. */
void backend_set_latency(struct backend *b, uint64_t latency_usec);
/* Wakes every waiting caller (they fail with -ECANCELED). */
void backend_shutdown(struct backend *b);
void backend_get_stats(struct backend *b, struct backend_stats *ret);

#endif
