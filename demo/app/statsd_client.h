/* statsd_client: a batched, non-blocking StatsD sender over UDP. Lines are queued under a
 * lock into a datagram of at most 1400 bytes, sent when the next line would not fit and
 * by a flusher thread every 100 ms; a send that would block is dropped (counted). The
 * flusher also calls a tick callback once a second (for periodic gauges). */
#ifndef HOMEOSTAT_DEMO_STATSD_CLIENT_H
#define HOMEOSTAT_DEMO_STATSD_CLIENT_H

#include <stdint.h>

#define STATSD_CLIENT_DATAGRAM_MAX 1400

struct statsd_client;
typedef void (*statsd_tick_fn)(void *userdata);

/* Connects a UDP socket to "host:port" and starts the flusher. 0 and *ret, or -errno.
 * tick may be NULL. */
int statsd_client_new(const char *address, statsd_tick_fn tick, void *userdata,
                      struct statsd_client **ret);
/* Flushes what is queued, stops the flusher and frees. Accepts NULL. */
void statsd_client_free(struct statsd_client *c);
/* Queues one line "<prefix>.<name>:<value>" (no newline); a NULL client does nothing. */
void statsd_client_send(struct statsd_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint64_t statsd_client_dropped(struct statsd_client *c);

#endif
