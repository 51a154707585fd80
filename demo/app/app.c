/* app: request handling of the demo application (see app.h). */
#include "app.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

#define ITEMS_PREFIX "/api/items/"

static void on_transition(void *userdata, enum breaker_state from, enum breaker_state to)
{
    struct app *app = userdata;
    statsd_client_send(app->statsd, "%s.breaker.backend.transition.%s.%s:1|c", app->cfg.service,
                       breaker_state_name(from), breaker_state_name(to));
    statsd_client_send(app->statsd, "%s.breaker.backend.state:%d|g", app->cfg.service, (int)to);
}

int app_init(struct app *app, const struct app_config *cfg)
{
    memset(app, 0, sizeof(*app));
    app->cfg = *cfg;
    app->cache = cache_new(cfg->cache_size, cfg->cache_ttl_usec);
    if (!app->cache)
        return -ENOMEM;
    breaker_init(&app->breaker, cfg->breaker_failures, cfg->breaker_recovery_usec, on_transition,
                 app);
    ratelimit_init(&app->ratelimit, cfg->rate_limit, now_usec());
    backend_init(&app->backend, cfg->backend_workers, cfg->backend_latency_usec,
                 cfg->backend_timeout_usec, cfg->backend_failure_ratio);
    atomic_store(&app->concurrency_limit, cfg->concurrency);
    atomic_store(&app->ttl_usec, cfg->cache_ttl_usec);
    return 0;
}

void app_tick(void *userdata)
{
    struct app *app = userdata;
    struct cache_stats cs;
    cache_get_stats(app->cache, &cs);
    statsd_client_send(app->statsd, "%s.breaker.backend.state:%d|g", app->cfg.service,
                       (int)breaker_state(&app->breaker, now_usec()));
    statsd_client_send(app->statsd, "%s.cache.items.size:%zu|g", app->cfg.service, cs.size);
}

void app_set_statsd(struct app *app, struct statsd_client *statsd)
{
    app->statsd = statsd;
    app_tick(app);
}

void app_destroy(struct app *app)
{
    cache_free(app->cache);
    breaker_destroy(&app->breaker);
    ratelimit_destroy(&app->ratelimit);
    backend_destroy(&app->backend);
    free(app->cfg.admin_token);
}

static void security_headers(struct httpd_response *resp)
{
    httpd_response_header(resp, "X-Content-Type-Options", "nosniff");
    httpd_response_header(resp, "X-Frame-Options", "DENY");
    httpd_response_header(resp, "Content-Security-Policy", "default-src 'none'");
    httpd_response_header(resp, "Cache-Control", "no-store");
    httpd_response_header(resp, "Referrer-Policy", "no-referrer");
}

static void header_uint(struct httpd_response *resp, const char *name, unsigned v)
{
    char s[16];
    snprintf(s, sizeof(s), "%u", v);
    httpd_response_header(resp, name, s);
}

/* 1..9 decimal digits. */
static bool parse_item_id(const char *s, uint32_t *ret)
{
    size_t n = strlen(s);
    if (n < 1 || n > 9)
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *ret = v;
    return true;
}

static void handle_item(struct app *app, const char *id_text, struct httpd_response *resp)
{
    uint64_t start = now_usec();
    const char *svc = app->cfg.service;
    enum { SUCCESS, FAILURE, REJECTED, CLIENT } result = CLIENT;
    bool counted = false;

    struct ratelimit_result rl;
    bool allowed = ratelimit_take(&app->ratelimit, start, &rl);
    header_uint(resp, "X-RateLimit-Limit", rl.limit);
    header_uint(resp, "X-RateLimit-Remaining", rl.remaining);
    header_uint(resp, "X-RateLimit-Reset", rl.reset_seconds);
    uint32_t id;
    if (!allowed) {
        header_uint(resp, "Retry-After", rl.retry_seconds);
        httpd_reply_error(resp, 429, "rate limit exceeded");
        result = REJECTED;
        goto done;
    }
    if (!parse_item_id(id_text, &id)) {
        httpd_reply_error(resp, 400, "item id must be 1 to 9 decimal digits");
        goto done;
    }
    /* A hit costs the backend nothing: it is served before admission, without a slot. */
    char value[256];
    if (cache_get(app->cache, id, value, sizeof(value), start)) {
        statsd_client_send(app->statsd, "%s.cache.items.hit:1|c", svc);
        httpd_reply(resp, 200, "application/json", "%s\n", value);
        result = SUCCESS;
        goto done;
    }
    statsd_client_send(app->statsd, "%s.cache.items.miss:1|c", svc);
    /* The concurrency limit protects the backend: it bounds the misses in flight. */
    unsigned in_flight = atomic_fetch_add(&app->in_flight, 1) + 1;
    counted = true;
    if (in_flight > atomic_load(&app->concurrency_limit)) {
        httpd_response_header(resp, "Retry-After", "1");
        httpd_reply_error(resp, 503, "concurrency limit reached");
        result = REJECTED;
        goto done;
    }
    if (!breaker_allow(&app->breaker, now_usec())) {
        httpd_response_header(resp, "Retry-After", "1");
        httpd_reply_error(resp, 503, "circuit breaker open");
        result = FAILURE;
        goto done;
    }
    int r = backend_call(&app->backend, id, value, sizeof(value));
    breaker_record(&app->breaker, r == 0, now_usec());
    if (r == 0) {
        cache_put(app->cache, id, value, now_usec());
        httpd_reply(resp, 200, "application/json", "%s\n", value);
        result = SUCCESS;
    } else if (r == -ETIMEDOUT || r == -ECANCELED) {
        httpd_response_header(resp, "Retry-After", "1");
        httpd_reply_error(resp, 503, r == -ETIMEDOUT ? "backend timeout" : "shutting down");
        result = FAILURE;
    } else {
        httpd_reply_error(resp, 502, "backend call failed");
        result = FAILURE;
    }
done:
    if (counted)
        atomic_fetch_sub(&app->in_flight, 1);
    statsd_client_send(app->statsd, "%s.request.duration:%.3f|ms", svc,
                       (double)(now_usec() - start) / 1000.0);
    if (result == SUCCESS)
        statsd_client_send(app->statsd, "%s.request.success:1|c", svc);
    else if (result == FAILURE)
        statsd_client_send(app->statsd, "%s.request.failure:1|c", svc);
    else if (result == REJECTED)
        statsd_client_send(app->statsd, "%s.request.rejected:1|c", svc);
}

static void handle_stats(struct app *app, struct httpd_response *resp)
{
    uint64_t now = now_usec();
    struct cache_stats cs;
    struct backend_stats bs;
    struct ratelimit_result rl;
    cache_get_stats(app->cache, &cs);
    backend_get_stats(&app->backend, &bs);
    ratelimit_peek(&app->ratelimit, now, &rl);
    struct buf *b = &resp->body;
    resp->status = 200;
    resp->content_type = "application/json";
    buf_puts(b, "{\"requests\":{");
    const char *sep = "";
    for (unsigned code = 100; code < APP_CODES; code++) {
        unsigned long long n = atomic_load(&app->requests[code]);
        if (n) {
            buf_printf(b, "%s\"%u\":%llu", sep, code, n);
            sep = ",";
        }
    }
    buf_printf(b,
               "},\"in_flight\":%u,\"concurrency_limit\":%u,"
               "\"backend\":{\"workers\":%u,\"latency_seconds\":%.6g,\"busy\":%u,"
               "\"queue\":%u,\"calls\":%llu,\"failures\":%llu},",
               atomic_load(&app->in_flight), atomic_load(&app->concurrency_limit), bs.workers,
               (double)bs.latency_usec / 1e6, bs.busy, bs.queue, (unsigned long long)bs.calls,
               (unsigned long long)bs.failures);
    buf_printf(b,
               "\"cache\":{\"size\":%zu,\"capacity\":%zu,\"ttl_seconds\":%.6g,\"hits\":%llu,"
               "\"misses\":%llu,\"evictions\":%llu,\"expired\":%llu},",
               cs.size, cs.capacity, (double)cs.ttl_usec / 1e6, (unsigned long long)cs.hits,
               (unsigned long long)cs.misses, (unsigned long long)cs.evictions,
               (unsigned long long)cs.expired);
    buf_printf(b,
               "\"breaker\":{\"state\":\"%s\",\"forced\":\"%s\",\"transitions\":%llu},"
               "\"rate_limit\":{\"limit\":%u,\"remaining\":%u}}\n",
               breaker_state_name(breaker_state(&app->breaker, now)),
               breaker_force_name(breaker_forced(&app->breaker)),
               (unsigned long long)breaker_transitions(&app->breaker), rl.limit, rl.remaining);
}

/* Constant-time comparison of the bearer token. */
static bool token_ok(const struct app *app, const char *auth)
{
    static const char prefix[] = "Bearer ";
    if (!auth || strncmp(auth, prefix, sizeof(prefix) - 1) != 0)
        return false;
    const char *given = auth + sizeof(prefix) - 1;
    size_t n = strlen(app->cfg.admin_token), m = strlen(given);
    unsigned char diff = n != m;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)app->cfg.admin_token[i] ^ (unsigned char)given[i < m ? i : 0];
    return diff == 0;
}

static void reply_limits(struct app *app, struct httpd_response *resp)
{
    httpd_reply(resp, 200, "application/json", "{\"concurrency\":%u,\"cache_ttl_seconds\":%.6g}\n",
                atomic_load(&app->concurrency_limit), (double)atomic_load(&app->ttl_usec) / 1e6);
}

static json_t *parse_body(const struct httpd_request *req, struct httpd_response *resp)
{
    json_error_t err;
    json_t *root = req->body ? json_loadb(req->body, req->body_len, 0, &err) : NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        httpd_reply_error(resp, 400, "body must be a JSON object");
        return NULL;
    }
    return root;
}

static void post_limits(struct app *app, const struct httpd_request *req,
                        struct httpd_response *resp)
{
    json_t *root = parse_body(req, resp);
    if (!root)
        return;
    json_t *conc = NULL, *ttl = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "concurrency") == 0)
            conc = v;
        else if (strcmp(key, "cache_ttl_seconds") == 0)
            ttl = v;
        else {
            json_decref(root);
            httpd_reply_error(resp, 400, "unknown key (expected concurrency, cache_ttl_seconds)");
            return;
        }
    }
    if ((!conc && !ttl) ||
        (conc && (!json_is_integer(conc) || json_integer_value(conc) < 1 ||
                  json_integer_value(conc) > 100000)) ||
        (ttl && (!json_is_number(ttl) || !(json_number_value(ttl) > 0) ||
                 json_number_value(ttl) > 86400))) {
        json_decref(root);
        httpd_reply_error(resp, 400,
                          "concurrency must be an integer 1..100000, cache_ttl_seconds a "
                          "number in (0, 86400]");
        return;
    }
    if (conc)
        atomic_store(&app->concurrency_limit, (unsigned)json_integer_value(conc));
    if (ttl) {
        uint64_t usec = (uint64_t)llround(json_number_value(ttl) * 1e6);
        atomic_store(&app->ttl_usec, usec);
        cache_set_ttl(app->cache, usec);
    }
    json_decref(root);
    reply_limits(app, resp);
}

static void reply_backend(struct app *app, struct httpd_response *resp)
{
    struct backend_stats bs;
    backend_get_stats(&app->backend, &bs);
    httpd_reply(resp, 200, "application/json", "{\"latency_seconds\":%.6g,\"workers\":%u}\n",
                (double)bs.latency_usec / 1e6, bs.workers);
}

/* {"latency_seconds": S}: the time one backend call takes from now on (a capacity drop or
 * its end); workers is shown, not set. */
static void post_backend(struct app *app, const struct httpd_request *req,
                         struct httpd_response *resp)
{
    json_t *root = parse_body(req, resp);
    if (!root)
        return;
    json_t *latency = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "latency_seconds") != 0) {
            json_decref(root);
            httpd_reply_error(resp, 400, "unknown key (expected latency_seconds)");
            return;
        }
        latency = v;
    }
    if (!latency || !json_is_number(latency) || !(json_number_value(latency) >= 0) ||
        json_number_value(latency) > 60) {
        json_decref(root);
        httpd_reply_error(resp, 400, "latency_seconds must be a number in [0, 60]");
        return;
    }
    backend_set_latency(&app->backend, (uint64_t)llround(json_number_value(latency) * 1e6));
    json_decref(root);
    reply_backend(app, resp);
}

static void post_breaker(struct app *app, const struct httpd_request *req,
                         struct httpd_response *resp)
{
    json_t *root = parse_body(req, resp);
    if (!root)
        return;
    const char *s = json_string_value(json_object_get(root, "state"));
    enum breaker_force f;
    if (s && strcmp(s, "open") == 0)
        f = BREAKER_FORCED_OPEN;
    else if (s && strcmp(s, "closed") == 0)
        f = BREAKER_FORCED_CLOSED;
    else if (s && strcmp(s, "auto") == 0)
        f = BREAKER_AUTO;
    else {
        json_decref(root);
        httpd_reply_error(resp, 400, "state must be \"open\", \"closed\" or \"auto\"");
        return;
    }
    json_decref(root);
    uint64_t now = now_usec();
    breaker_force(&app->breaker, f, now);
    httpd_reply(resp, 200, "application/json", "{\"state\":\"%s\",\"forced\":\"%s\"}\n",
                breaker_state_name(breaker_state(&app->breaker, now)), breaker_force_name(f));
}

static void handle_admin(struct app *app, const struct httpd_request *req,
                         struct httpd_response *resp)
{
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    bool limits = strcmp(req->path, "/admin/limits") == 0;
    bool backend = strcmp(req->path, "/admin/backend") == 0;
    bool breaker = strcmp(req->path, "/admin/breaker") == 0;
    if (!limits && !backend && !breaker) {
        httpd_reply_error(resp, 404, "not found");
        return;
    }
    if (!(post || (get && !breaker))) {
        httpd_response_header(resp, "Allow", breaker ? "POST" : "GET, POST");
        httpd_reply_error(resp, 405, "method not allowed");
        return;
    }
    if (!app->cfg.admin_token) {
        httpd_reply_error(resp, 403, "admin endpoints are off (no --admin-token-file)");
        return;
    }
    if (!token_ok(app, httpd_header(req, "Authorization"))) {
        httpd_response_header(resp, "WWW-Authenticate", "Bearer");
        httpd_reply_error(resp, 401, "missing or wrong bearer token");
        return;
    }
    if (limits && get)
        reply_limits(app, resp);
    else if (limits)
        post_limits(app, req, resp);
    else if (backend && get)
        reply_backend(app, resp);
    else if (backend)
        post_backend(app, req, resp);
    else
        post_breaker(app, req, resp);
}

void app_handle(void *userdata, const struct httpd_request *req, struct httpd_response *resp)
{
    struct app *app = userdata;
    bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
    security_headers(resp);
    if (strncmp(req->path, ITEMS_PREFIX, strlen(ITEMS_PREFIX)) == 0) {
        if (!get) {
            httpd_response_header(resp, "Allow", "GET, HEAD");
            httpd_reply_error(resp, 405, "method not allowed");
        } else {
            handle_item(app, req->path + strlen(ITEMS_PREFIX), resp);
        }
        if (resp->status >= 100 && resp->status < APP_CODES)
            atomic_fetch_add(&app->requests[resp->status], 1);
        return;
    }
    if (strncmp(req->path, "/admin/", 7) == 0) {
        handle_admin(app, req, resp);
        return;
    }
    bool stats = strcmp(req->path, "/stats") == 0, healthy = strcmp(req->path, "/-/healthy") == 0;
    if (!stats && !healthy) {
        httpd_reply_error(resp, 404, "not found");
    } else if (!get) {
        httpd_response_header(resp, "Allow", "GET, HEAD");
        httpd_reply_error(resp, 405, "method not allowed");
    } else if (stats) {
        handle_stats(app, resp);
    } else {
        httpd_reply(resp, 200, "application/json", "{\"status\":\"ok\"}\n");
    }
}
