/* homeostat-demo-app: a small HTTP service that behaves like the services homeostat
 * regulates (cache in front of a slow backend, circuit breaker, concurrency and rate
 * limits, admin endpoint) and reports to homeostat-exporter over StatsD. Flags, the
 * libmicrohttpd server and signal handling live here; request handling is in app.c.
 *
 * The server runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION): a request
 * that waits in the backend's queue blocks its own thread only, so the queueing that
 * the demo is about happens in the backend semaphore, not in the HTTP server's thread
 * pool (a pool thread blocked in a handler would stall every other connection it polls).
 * --max-connections bounds the threads. */
#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "daemon.h"
#include "fileio.h"
#include "httpd.h"
#include "log.h"
#include "parse.h"

#define PROG "homeostat-demo-app"
#define MAX_BODY_BYTES 4096

struct options {
    const char *listen, *statsd, *service, *token_file;
    unsigned max_connections;
};

struct conn_ctx {
    struct buf body;
    bool too_large;
};

static void usage(void)
{
    printf("Usage: " PROG " [OPTIONS]\n"
           "A demo HTTP service for homeostat: GET /api/items/<id>, /stats, /-/healthy,\n"
           "/admin/limits, /admin/backend and /admin/breaker (bearer token).\n\n"
           "  --listen=ADDR                 Listen address (127.0.0.1:18080; port 0: any)\n"
           "  --statsd=HOST:PORT            StatsD over UDP (127.0.0.1:9125; \"\" disables)\n"
           "  --service=NAME                StatsD service name (demo)\n"
           "  --admin-token-file=FILE       Bearer token for /admin/* (without: 403)\n"
           "  --concurrency=N               Cache misses served at once (64); over it 503\n"
           "  --rate-limit=N                Requests per second, burst N (1000); over it 429\n"
           "  --cache-size=N                LRU entries (2000)\n"
           "  --cache-ttl=DURATION          Cache entry lifetime (30s)\n"
           "  --backend-workers=N           Backend calls served at once (4)\n"
           "  --backend-latency=DURATION    Time one backend call takes, +-25%% (20ms)\n"
           "  --backend-failure-ratio=R     Share of backend calls that fail (0)\n"
           "  --backend-timeout=DURATION    A call that waited longer fails (5s)\n"
           "  --breaker-failures=N          Consecutive failures that open the breaker (5)\n"
           "  --breaker-recovery=DURATION   OPEN -> HALF_OPEN after this (10s)\n"
           "  --max-connections=N           HTTP connections (threads) at once (1024)\n"
           "  --log.level=LEVEL             debug, info, warn, error (info)\n"
           "  -h, --help                    This help\n"
           "      --version                 The version\n");
}

enum {
    OPT_LISTEN = 256,
    OPT_STATSD,
    OPT_SERVICE,
    OPT_TOKEN,
    OPT_CONCURRENCY,
    OPT_RATE,
    OPT_CACHE_SIZE,
    OPT_CACHE_TTL,
    OPT_WORKERS,
    OPT_LATENCY,
    OPT_FAILURE_RATIO,
    OPT_TIMEOUT,
    OPT_BREAKER_FAILURES,
    OPT_BREAKER_RECOVERY,
    OPT_MAX_CONN,
    OPT_LOG_LEVEL,
    OPT_VERSION,
};

static int parse_positive(const char *name, const char *s, unsigned *ret)
{
    unsigned v;
    if (parse_uint(s, &v) < 0 || v == 0)
        return log_error("invalid --%s=%s: a positive integer is expected", name, s);
    *ret = v;
    return 0;
}

static int parse_dur(const char *name, const char *s, uint64_t *ret)
{
    if (parse_duration_usec(s, ret) < 0)
        return log_error("invalid --%s=%s: a duration (100ms, 5s, 1m) is expected", name, s);
    return 0;
}

/* 0 to run, 1 to exit 0 (help, version), < 0 on a bad flag. */
static int parse_args(int argc, char **argv, struct options *o, struct app_config *c)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"statsd", required_argument, NULL, OPT_STATSD},
        {"service", required_argument, NULL, OPT_SERVICE},
        {"admin-token-file", required_argument, NULL, OPT_TOKEN},
        {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
        {"rate-limit", required_argument, NULL, OPT_RATE},
        {"cache-size", required_argument, NULL, OPT_CACHE_SIZE},
        {"cache-ttl", required_argument, NULL, OPT_CACHE_TTL},
        {"backend-workers", required_argument, NULL, OPT_WORKERS},
        {"backend-latency", required_argument, NULL, OPT_LATENCY},
        {"backend-failure-ratio", required_argument, NULL, OPT_FAILURE_RATIO},
        {"backend-timeout", required_argument, NULL, OPT_TIMEOUT},
        {"breaker-failures", required_argument, NULL, OPT_BREAKER_FAILURES},
        {"breaker-recovery", required_argument, NULL, OPT_BREAKER_RECOVERY},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"log.level", required_argument, NULL, OPT_LOG_LEVEL},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {0},
    };
    int ch, r = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1 && r >= 0) {
        switch (ch) {
        case 'h': usage(); return 1;
        case OPT_VERSION: printf(PROG " version %s\n", HOMEOSTAT_VERSION); return 1;
        case OPT_LISTEN: o->listen = optarg; break;
        case OPT_STATSD: o->statsd = optarg; break;
        case OPT_SERVICE:
            if (!optarg[0] || strcspn(optarg, ".:|#@ \t\n") != strlen(optarg))
                r = log_error("invalid --service=%s: one StatsD name component", optarg);
            o->service = optarg;
            break;
        case OPT_TOKEN: o->token_file = optarg; break;
        case OPT_CONCURRENCY: r = parse_positive("concurrency", optarg, &c->concurrency); break;
        case OPT_RATE: r = parse_positive("rate-limit", optarg, &c->rate_limit); break;
        case OPT_CACHE_SIZE: r = parse_positive("cache-size", optarg, &c->cache_size); break;
        case OPT_CACHE_TTL: r = parse_dur("cache-ttl", optarg, &c->cache_ttl_usec); break;
        case OPT_WORKERS: r = parse_positive("backend-workers", optarg, &c->backend_workers); break;
        case OPT_LATENCY: r = parse_dur("backend-latency", optarg, &c->backend_latency_usec); break;
        case OPT_TIMEOUT: r = parse_dur("backend-timeout", optarg, &c->backend_timeout_usec); break;
        case OPT_FAILURE_RATIO:
            if (parse_double(optarg, &c->backend_failure_ratio) < 0 ||
                !(c->backend_failure_ratio >= 0 && c->backend_failure_ratio <= 1))
                r = log_error("invalid --backend-failure-ratio=%s: 0..1 expected", optarg);
            break;
        case OPT_BREAKER_FAILURES:
            r = parse_positive("breaker-failures", optarg, &c->breaker_failures);
            break;
        case OPT_BREAKER_RECOVERY:
            r = parse_dur("breaker-recovery", optarg, &c->breaker_recovery_usec);
            break;
        case OPT_MAX_CONN:
            r = parse_positive("max-connections", optarg, &o->max_connections);
            break;
        case OPT_LOG_LEVEL: {
            int level = log_parse_level(optarg);
            if (level < 0)
                r = log_error("invalid --log.level=%s", optarg);
            else
                log_set_level(level);
            break;
        }
        case ':': r = log_error("option %s needs a value", argv[optind - 1]); break;
        default: r = log_error("unknown option %s (see --help)", argv[optind - 1]); break;
        }
    }
    if (r >= 0 && optind < argc)
        r = log_error("unexpected argument '%s'", argv[optind]);
    return r < 0 ? r : 0;
}

static int read_token(const char *path, char **ret)
{
    char *data;
    size_t len;
    int r = file_read_alloc(path, 4096, &data, &len);
    if (r < 0)
        return log_error_errno(r, "cannot read the admin token file %s", path);
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
        data[--len] = '\0';
    if (!len || strlen(data) != len) {
        free(data);
        return log_error("the admin token file %s is empty or not text", path);
    }
    *ret = data;
    return 0;
}

static enum MHD_Result send_response(struct MHD_Connection *conn, struct httpd_response *resp,
                                     bool head)
{
    if (!resp->status)
        httpd_reply_error(resp, 500, "internal error");
    struct MHD_Response *r = MHD_create_response_from_buffer(
        head ? 0 : resp->body.len, head ? (void *)"" : resp->body.data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (resp->content_type)
        MHD_add_response_header(r, "Content-Type", resp->content_type);
    for (size_t off = 0; off < resp->headers.len;) {
        const char *name = resp->headers.data + off;
        const char *value = name + strlen(name) + 1;
        MHD_add_response_header(r, name, value);
        off = (size_t)(value - resp->headers.data) + strlen(value) + 1;
    }
    enum MHD_Result ret = MHD_queue_response(conn, resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct app *app = cls;
    struct conn_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
            return MHD_NO;
        buf_init(&ctx->body, MAX_BODY_BYTES);
        *con_cls = ctx;
        return MHD_YES;
    }
    if (*upload_size) {
        if (buf_append(&ctx->body, upload_data, *upload_size) < 0)
            ctx->too_large = true;
        *upload_size = 0;
        return MHD_YES;
    }
    struct httpd_response resp = {0};
    buf_init(&resp.body, 0);
    buf_init(&resp.headers, 0);
    if (ctx->too_large) {
        httpd_reply_error(&resp, 413, "request body too large");
    } else {
        struct httpd_request req = {.method = method,
                                    .path = url,
                                    .conn = conn,
                                    .body = ctx->body.data,
                                    .body_len = ctx->body.len};
        app_handle(app, &req, &resp);
    }
    enum MHD_Result ret = send_response(conn, &resp, strcmp(method, "HEAD") == 0);
    buf_free(&resp.body);
    buf_free(&resp.headers);
    return ret;
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct conn_ctx *ctx = *con_cls;
    if (ctx) {
        buf_free(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

int main(int argc, char **argv)
{
    struct options o = {.listen = "127.0.0.1:18080",
                        .statsd = "127.0.0.1:9125",
                        .service = "demo",
                        .max_connections = 1024};
    struct app_config cfg = {.concurrency = 64,
                             .rate_limit = 1000,
                             .cache_size = 2000,
                             .cache_ttl_usec = 30000000,
                             .backend_workers = 4,
                             .backend_latency_usec = 20000,
                             .backend_failure_ratio = 0,
                             .backend_timeout_usec = 5000000,
                             .breaker_failures = 5,
                             .breaker_recovery_usec = 10000000};
    int r = parse_args(argc, argv, &o, &cfg);
    if (r != 0)
        return r > 0 ? 0 : 2;
    cfg.service = o.service;
    if (o.token_file && read_token(o.token_file, &cfg.admin_token) < 0)
        return 1;

    /* Signals are taken in this thread; every other thread inherits the mask. */
    daemon_block_signals();

    static struct app app;
    if (app_init(&app, &cfg) < 0)
        return log_error("out of memory"), 1;
    struct statsd_client *statsd = NULL;
    if (o.statsd[0]) {
        r = statsd_client_new(o.statsd, app_tick, &app, &statsd);
        if (r < 0) {
            log_error_errno(r, "cannot send StatsD to --statsd=%s", o.statsd);
            app_destroy(&app);
            return 1;
        }
        app_set_statsd(&app, statsd);
    }

    char bound[80];
    int fd = httpd_listen(o.listen, bound, sizeof(bound), NULL);
    if (fd < 0) {
        log_error_errno(fd, "cannot listen on --listen=%s", o.listen);
        statsd_client_free(statsd);
        app_destroy(&app);
        return 1;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, access_handler, &app, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
        o.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)32768, MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL, MHD_OPTION_END);
    if (!d) {
        close(fd);
        statsd_client_free(statsd);
        app_destroy(&app);
        return log_error("cannot start the HTTP server on %s", bound), 1;
    }
    log_info("demo-app: listening on http://%s/ (statsd %s, service %s, admin %s)", bound,
             o.statsd[0] ? o.statsd : "off", o.service, cfg.admin_token ? "on" : "off");

    /* SIGTERM, SIGINT and SIGHUP stop it (it has nothing to reload). */
    enum daemon_event ev;
    do
        ev = daemon_wait(UINT64_MAX / 2);
    while (ev != DAEMON_EVENT_STOP && ev != DAEMON_EVENT_RELOAD);
    log_info("demo-app: stopping");
    backend_shutdown(&app.backend); /* wakes requests waiting for a worker */
    MHD_stop_daemon(d);
    statsd_client_free(statsd);
    app_destroy(&app);
    return 0;
}
