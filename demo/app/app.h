/* app: the demo application's request handling: /api/items/<id> through the rate limit,
 * the cache (a hit is answered there), then for a miss the concurrency limit, the circuit
 * breaker and the backend; /stats, /-/healthy and the token-protected admin endpoints
 * (/admin/limits, /admin/backend, /admin/breaker). Uses common/httpd.h's request
 * and response types; the server itself lives in main.c. */
#ifndef HOMEOSTAT_DEMO_APP_H
#define HOMEOSTAT_DEMO_APP_H

#include <stdatomic.h>
#include <stdint.h>

#include "backend.h"
#include "breaker.h"
#include "cache.h"
#include "httpd.h"
#include "ratelimit.h"
#include "statsd_client.h"

struct app_config {
    const char *service;
    char *admin_token; /* NULL: the admin endpoints answer 403 */
    unsigned concurrency, rate_limit, cache_size, backend_workers, breaker_failures;
    uint64_t cache_ttl_usec, backend_latency_usec, backend_timeout_usec, breaker_recovery_usec;
    double backend_failure_ratio;
};

#define APP_CODES 600

struct app {
    struct app_config cfg;
    struct cache *cache;
    struct breaker breaker;
    struct ratelimit ratelimit;
    struct backend backend;
    struct statsd_client *statsd; /* NULL: off */
    /* in_flight: the cache misses admitted, which concurrency_limit bounds */
    atomic_uint in_flight, concurrency_limit;
    atomic_ullong ttl_usec;
    atomic_ullong requests[APP_CODES];
};

/* Sets the app up from cfg (copied; admin_token is taken over). 0 or -ENOMEM. */
int app_init(struct app *app, const struct app_config *cfg);
/* Attaches the StatsD client (may be NULL) and sends the first breaker state. */
void app_set_statsd(struct app *app, struct statsd_client *statsd);
/* The periodic gauges (breaker state, cache size); the StatsD flusher calls it. */
void app_tick(void *userdata);
void app_destroy(struct app *app);
/* One request (httpd_handler_fn). */
void app_handle(void *userdata, const struct httpd_request *req, struct httpd_response *resp);

#endif
