/* main: homeostat-exporter, a Prometheus exporter of host metrics with sampled
 * busy-ratio histograms. Parses node_exporter-style flags, starts the collectors,
 * the sampler and the HTTP server, and runs the signal/watchdog loop. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "config.h"
#include "daemon.h"
#include "expo.h"
#include "httpd.h"
#include "ingest_http.h"
#include "ingest_net.h"
#include "ingest_store.h"
#include "log.h"
#include "mapping.h"
#include "parse.h"
#include "registry.h"
#include "sampler.h"
#include "scrape.h"
#include "webconfig.h"

#define PROG "homeostat-exporter"

enum {
    OPT_LISTEN = 1000,
    OPT_TELEMETRY_PATH,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_CONNECTIONS_PER_IP,
    OPT_WEB_TIMEOUT,
    OPT_PROCFS,
    OPT_SYSFS,
    OPT_ROOTFS,
    OPT_SAMPLER_INTERVAL,
    OPT_COLLECTOR_TIMEOUT,
    OPT_CGROUP_ROOT,
    OPT_CGROUP_INCLUDE,
    OPT_CGROUP_MAX_UNITS,
    OPT_FS_MOUNT_EXCLUDE,
    OPT_FS_TYPES_EXCLUDE,
    OPT_FS_MOUNT_TIMEOUT,
    OPT_DISK_EXCLUDE,
    OPT_NETDEV_EXCLUDE,
    OPT_NVML_LIBRARY,
    OPT_DISABLE_DEFAULTS,
    OPT_LOG_LEVEL,
    OPT_VERSION,
    OPT_STATSD_UDP,
    OPT_STATSD_UNIXGRAM,
    OPT_STATSD_READ_BUFFER,
    OPT_STATSD_MAPPING,
    OPT_STATSD_NAMING,
    OPT_MAX_SERIES,
    OPT_CHECK_CONFIG,
    OPT_ENABLE_LIFECYCLE,
    OPT_WEB_CONFIG,
    OPT_COLLECTOR_ON = 2000, /* + collector index */
    OPT_COLLECTOR_OFF = 3000,
};

static const struct option base_options[] = {
    {"web.listen-address", required_argument, NULL, OPT_LISTEN},
    {"web.telemetry-path", required_argument, NULL, OPT_TELEMETRY_PATH},
    {"web.max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"web.max-connections-per-ip", required_argument, NULL, OPT_MAX_CONNECTIONS_PER_IP},
    {"web.timeout", required_argument, NULL, OPT_WEB_TIMEOUT},
    {"path.procfs", required_argument, NULL, OPT_PROCFS},
    {"path.sysfs", required_argument, NULL, OPT_SYSFS},
    {"path.rootfs", required_argument, NULL, OPT_ROOTFS},
    {"sampler.interval", required_argument, NULL, OPT_SAMPLER_INTERVAL},
    {"collector.timeout", required_argument, NULL, OPT_COLLECTOR_TIMEOUT},
    {"collector.cgroup.root", required_argument, NULL, OPT_CGROUP_ROOT},
    {"collector.cgroup.unit-include", required_argument, NULL, OPT_CGROUP_INCLUDE},
    {"collector.cgroup.max-units", required_argument, NULL, OPT_CGROUP_MAX_UNITS},
    {"collector.filesystem.mount-points-exclude", required_argument, NULL, OPT_FS_MOUNT_EXCLUDE},
    {"collector.filesystem.fs-types-exclude", required_argument, NULL, OPT_FS_TYPES_EXCLUDE},
    {"collector.filesystem.mount-timeout", required_argument, NULL, OPT_FS_MOUNT_TIMEOUT},
    {"collector.diskstats.device-exclude", required_argument, NULL, OPT_DISK_EXCLUDE},
    {"collector.netdev.device-exclude", required_argument, NULL, OPT_NETDEV_EXCLUDE},
    {"collector.gpu.nvml-library", required_argument, NULL, OPT_NVML_LIBRARY},
    {"collector.disable-defaults", no_argument, NULL, OPT_DISABLE_DEFAULTS},
    {"log.level", required_argument, NULL, OPT_LOG_LEVEL},
    {"statsd.listen-udp", required_argument, NULL, OPT_STATSD_UDP},
    {"statsd.listen-unixgram", required_argument, NULL, OPT_STATSD_UNIXGRAM},
    {"statsd.read-buffer", required_argument, NULL, OPT_STATSD_READ_BUFFER},
    {"statsd.mapping-config", required_argument, NULL, OPT_STATSD_MAPPING},
    {"statsd.naming", required_argument, NULL, OPT_STATSD_NAMING},
    {"ingest.max-series", required_argument, NULL, OPT_MAX_SERIES},
    {"check-config", no_argument, NULL, OPT_CHECK_CONFIG},
    {"web.enable-lifecycle", no_argument, NULL, OPT_ENABLE_LIFECYCLE},
    {"web.config.file", required_argument, NULL, OPT_WEB_CONFIG},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
};

static void usage(FILE *f, const struct exporter_config *d)
{
    fprintf(f,
            "Usage: " PROG " [FLAGS]\n"
            "Prometheus exporter of host metrics with sub-scrape-interval sampling.\n\n"
            "Flags:\n"
            "  -h, --help                     Show this help and exit.\n"
            "      --version                  Show the version and exit.\n"
            "      --web.listen-address=ADDR  Address to listen on (default %s; port 0 picks\n"
            "                                 a free port, logged at start).\n"
            "      --web.telemetry-path=PATH  Path of the metrics (default %s).\n"
            "      --web.max-connections=N    Connections served at once (default %u).\n"
            "      --web.max-connections-per-ip=N  Per client address (default %u).\n"
            "      --web.timeout=DURATION     Idle connection timeout (default %us).\n"
            "      --path.procfs=PATH         procfs mount point (default %s).\n"
            "      --path.sysfs=PATH          sysfs mount point (default %s).\n"
            "      --path.rootfs=PATH         Root filesystem prefix (default %s).\n"
            "      --sampler.interval=DUR     Sampling interval of the busy-ratio histograms\n"
            "                                 (default 100ms; 0 disables the sampler).\n"
            "      --collector.timeout=DUR    Time budget of each collector per scrape\n"
            "                                 (default 3s).\n"
            "      --collector.cgroup.root=PATH         cgroup root: v2, v1 or hybrid\n"
            "                                           (default SYSFS/fs/cgroup).\n"
            "      --collector.cgroup.unit-include=GLOB Units under system.slice (default %s).\n"
            "      --collector.cgroup.max-units=N       At most N units, 0 for all (default %u).\n"
            "      --collector.filesystem.mount-points-exclude=REGEX\n"
            "      --collector.filesystem.fs-types-exclude=REGEX\n"
            "      --collector.filesystem.mount-timeout=DUR  statvfs budget (default 1s).\n"
            "      --collector.diskstats.device-exclude=REGEX\n"
            "      --collector.netdev.device-exclude=REGEX\n"
            "      --collector.gpu.nvml-library=PATH    NVML library (default %s).\n"
            "      --collector.disable-defaults  Start with every collector off.\n"
            "      --log.level=LEVEL          debug, info, warn or error (default info).\n"
            "      --web.enable-lifecycle     Allow POST /-/reload (default off).\n"
            "      --web.config.file=FILE     TLS and basic auth, in the Prometheus\n"
            "                                 exporter-toolkit format (default: none, plain\n"
            "                                 HTTP); reloaded with the mapping.\n\n"
            "Application metrics (StatsD, DogStatsD, HTTP push):\n"
            "      --statsd.listen-udp=ADDR   StatsD over UDP (default %s; empty disables).\n"
            "      --statsd.listen-unixgram=PATH  StatsD over a unix datagram socket.\n"
            "      --statsd.read-buffer=SIZE  Socket receive buffer (default 8MiB).\n"
            "      --statsd.mapping-config=FILE  Mapping YAML (default: the conventions).\n"
            "      --statsd.naming=MODE       Names of unmapped metrics: prometheus (default)\n"
            "                                 or statsd_exporter; defaults.naming wins.\n"
            "      --ingest.max-series=N      Live application series at most (default %u).\n"
            "      --check-config             Validate --statsd.mapping-config and\n"
            "                                 --web.config.file, and exit.\n\n"
            "Collectors (--collector.NAME enables, --no-collector.NAME disables):\n",
            d->listen_address, d->telemetry_path, d->web_max_connections,
            d->web_max_connections_per_ip, d->web_timeout_sec, d->procfs, d->sysfs, d->rootfs,
            d->cgroup_unit_include, d->cgroup_max_units, d->nvml_library, d->statsd_listen_udp,
            d->ingest_max_series);
    for (size_t i = 0; i < collector_count; i++)
        fprintf(f, "  %-12s %-8s %s\n", collector_table[i]->name,
                collector_table[i]->default_enabled ? "[on]" : "[off]",
                collector_table[i]->description);
}

static int bad_value(const char *flag, const char *value, const char *why)
{
    fprintf(stderr, PROG ": invalid value '%s' for --%s: %s\n", value, flag, why);
    return -EINVAL;
}

static int check_regex(const char *flag, const char *value)
{
    regex_t re;
    int r = regcomp(&re, value, REG_EXTENDED | REG_NOSUB);
    if (r != 0) {
        char msg[128];
        regerror(r, &re, msg, sizeof(msg));
        return bad_value(flag, value, msg);
    }
    regfree(&re);
    return 0;
}

/* Returns 0 to run, 1 to exit 0 (help, version), or -EINVAL to exit 2. */
static int parse_flags(int argc, char **argv, struct exporter_config *cfg, bool *ret_check)
{
    size_t nbase = sizeof(base_options) / sizeof(base_options[0]);
    struct option
        opts[sizeof(base_options) / sizeof(base_options[0]) + 2 * EXPORTER_MAX_COLLECTORS + 1];
    char names[2 * EXPORTER_MAX_COLLECTORS][64];
    memcpy(opts, base_options, sizeof(base_options));
    size_t n = nbase;
    for (size_t i = 0; i < collector_count; i++) {
        snprintf(names[2 * i], sizeof(names[0]), "collector.%s", collector_table[i]->name);
        snprintf(names[2 * i + 1], sizeof(names[0]), "no-collector.%s", collector_table[i]->name);
        opts[n++] = (struct option){names[2 * i], no_argument, NULL, OPT_COLLECTOR_ON + (int)i};
        opts[n++] =
            (struct option){names[2 * i + 1], no_argument, NULL, OPT_COLLECTOR_OFF + (int)i};
    }
    opts[n] = (struct option){NULL, 0, NULL, 0};

    struct exporter_config defaults;
    exporter_config_defaults(&defaults);
    bool explicit_on[EXPORTER_MAX_COLLECTORS] = {false};
    bool explicit_off[EXPORTER_MAX_COLLECTORS] = {false};
    bool disable_defaults = false;
    opterr = 0;
    int c, idx;
    while ((c = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
        const char *flag = NULL;
        for (size_t i = 0; i < n; i++)
            if (opts[i].val == c)
                flag = opts[i].name;
        uint64_t u64;
        unsigned u;
        switch (c) {
        case 'h': usage(stdout, &defaults); return 1;
        case OPT_VERSION:
            printf(PROG " version %s (C11, libmicrohttpd)\n", HOMEOSTAT_VERSION);
            return 1;
        case OPT_LISTEN: {
            char host[256];
            if (parse_listen_address(optarg, host, sizeof(host), &u) < 0)
                return bad_value(flag, optarg, "expected HOST:PORT, [IPV6]:PORT or :PORT");
            cfg->listen_address = optarg;
            break;
        }
        case OPT_TELEMETRY_PATH:
            if (optarg[0] != '/' || optarg[1] == '\0' || strchr(optarg, '?') ||
                strcmp(optarg, "/-/healthy") == 0 || strcmp(optarg, "/-/ready") == 0)
                return bad_value(flag, optarg, "expected an absolute path such as /metrics");
            cfg->telemetry_path = optarg;
            break;
        case OPT_MAX_CONNECTIONS:
        case OPT_MAX_CONNECTIONS_PER_IP:
        case OPT_CGROUP_MAX_UNITS:
            if (parse_uint(optarg, &u) < 0 || (u == 0 && c != OPT_CGROUP_MAX_UNITS) || u > 1000000)
                return bad_value(flag, optarg,
                                 "expected a whole number up to 1000000 (0 only for max-units)");
            if (c == OPT_MAX_CONNECTIONS)
                cfg->web_max_connections = u;
            else if (c == OPT_MAX_CONNECTIONS_PER_IP)
                cfg->web_max_connections_per_ip = u;
            else
                cfg->cgroup_max_units = u;
            break;
        case OPT_WEB_TIMEOUT:
        case OPT_SAMPLER_INTERVAL:
        case OPT_COLLECTOR_TIMEOUT:
        case OPT_FS_MOUNT_TIMEOUT:
            if (parse_duration_usec(optarg, &u64) < 0)
                return bad_value(flag, optarg, "expected a duration such as 100ms, 5s or 1m");
            if (c == OPT_WEB_TIMEOUT) {
                if (u64 < 1000000 || u64 > 3600000000ULL)
                    return bad_value(flag, optarg, "must be between 1s and 1h");
                cfg->web_timeout_sec = (unsigned)(u64 / 1000000);
            } else if (c == OPT_SAMPLER_INTERVAL) {
                if (u64 != 0 && u64 < 1000)
                    return bad_value(flag, optarg, "must be 0 (off) or at least 1ms");
                cfg->sampler_interval_usec = u64;
            } else if (c == OPT_COLLECTOR_TIMEOUT) {
                if (u64 < 1000 || u64 > 600000000ULL)
                    return bad_value(flag, optarg, "must be between 1ms and 10m");
                cfg->collector_timeout_usec = u64;
            } else {
                if (u64 < 1000)
                    return bad_value(flag, optarg, "must be at least 1ms");
                cfg->filesystem_mount_timeout_usec = u64;
            }
            break;
        case OPT_PROCFS: cfg->procfs = optarg; break;
        case OPT_SYSFS: cfg->sysfs = optarg; break;
        case OPT_ROOTFS: cfg->rootfs = optarg; break;
        case OPT_CGROUP_ROOT: cfg->cgroup_root = optarg; break;
        case OPT_CGROUP_INCLUDE:
            if (!*optarg)
                return bad_value(flag, optarg, "expected a glob such as *.service");
            cfg->cgroup_unit_include = optarg;
            break;
        case OPT_FS_MOUNT_EXCLUDE:
        case OPT_FS_TYPES_EXCLUDE:
        case OPT_DISK_EXCLUDE:
        case OPT_NETDEV_EXCLUDE:
            if (check_regex(flag, optarg) < 0)
                return -EINVAL;
            if (c == OPT_FS_MOUNT_EXCLUDE)
                cfg->filesystem_mount_points_exclude = optarg;
            else if (c == OPT_FS_TYPES_EXCLUDE)
                cfg->filesystem_fs_types_exclude = optarg;
            else if (c == OPT_DISK_EXCLUDE)
                cfg->diskstats_device_exclude = optarg;
            else
                cfg->netdev_device_exclude = optarg;
            break;
        case OPT_NVML_LIBRARY: cfg->nvml_library = optarg; break;
        case OPT_DISABLE_DEFAULTS: disable_defaults = true; break;
        case OPT_STATSD_UDP:
            if (*optarg) {
                char host[256];
                if (parse_listen_address(optarg, host, sizeof(host), &u) < 0)
                    return bad_value(flag, optarg, "expected HOST:PORT, [IPV6]:PORT or :PORT");
            }
            cfg->statsd_listen_udp = optarg;
            break;
        case OPT_STATSD_UNIXGRAM:
            if (strlen(optarg) >= 108)
                return bad_value(flag, optarg, "socket path longer than 107 bytes");
            cfg->statsd_listen_unixgram = optarg;
            break;
        case OPT_STATSD_READ_BUFFER:
            if (parse_size_bytes(optarg, &u64) < 0 || u64 > (1ULL << 30))
                return bad_value(flag, optarg, "expected a size up to 1GiB such as 8MiB");
            cfg->statsd_read_buffer_bytes = u64;
            break;
        case OPT_STATSD_MAPPING: cfg->statsd_mapping_config = optarg; break;
        case OPT_STATSD_NAMING:
            if (naming_mode_parse(optarg, &cfg->statsd_naming) < 0)
                return bad_value(flag, optarg, "expected prometheus or statsd_exporter");
            break;
        case OPT_MAX_SERIES:
            if (parse_uint(optarg, &u) < 0 || u == 0 || u > 10000000)
                return bad_value(flag, optarg, "expected a number from 1 to 10000000");
            cfg->ingest_max_series = u;
            break;
        case OPT_CHECK_CONFIG: *ret_check = true; break;
        case OPT_ENABLE_LIFECYCLE: cfg->web_enable_lifecycle = true; break;
        case OPT_WEB_CONFIG:
            if (!*optarg)
                return bad_value(flag, optarg, "expected a file name");
            cfg->web_config_file = optarg;
            break;
        case OPT_LOG_LEVEL: {
            int level = log_parse_level(optarg);
            if (level < 0)
                return bad_value(flag, optarg, "expected debug, info, warn or error");
            log_set_level(level);
            break;
        }
        case ':':
            fprintf(stderr, PROG ": flag '%s' needs a value\n", argv[optind - 1]);
            return -EINVAL;
        case '?':
            if (optopt)
                fprintf(stderr, PROG ": unknown flag '-%c'\n", optopt);
            else
                fprintf(stderr, PROG ": unknown flag '%s'\n", argv[optind - 1]);
            return -EINVAL;
        default:
            if (c >= OPT_COLLECTOR_OFF && c < OPT_COLLECTOR_OFF + EXPORTER_MAX_COLLECTORS) {
                explicit_off[c - OPT_COLLECTOR_OFF] = true;
                explicit_on[c - OPT_COLLECTOR_OFF] = false;
            } else if (c >= OPT_COLLECTOR_ON && c < OPT_COLLECTOR_ON + EXPORTER_MAX_COLLECTORS) {
                explicit_on[c - OPT_COLLECTOR_ON] = true;
                explicit_off[c - OPT_COLLECTOR_ON] = false;
            } else {
                fprintf(stderr, PROG ": unknown flag '%s'\n", argv[optind - 1]);
                return -EINVAL;
            }
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s' (flags start with --)\n", argv[optind]);
        return -EINVAL;
    }
    for (size_t i = 0; i < collector_count; i++) {
        if (disable_defaults)
            cfg->enabled[i] = false;
        if (explicit_on[i])
            cfg->enabled[i] = true;
        if (explicit_off[i])
            cfg->enabled[i] = false;
    }
    return 0;
}

struct app {
    const struct exporter_config *cfg;
    struct scraper *scraper;
    struct registry *registry;
    struct rfamily *requests;
    struct ingest_store *store;
    pthread_mutex_t reload_lock;
    struct metric *reload_ok, *reload_time;
    struct httpd *http; /* set once serving (atomic); the web configuration goes to it */
};

/* Loads --statsd.mapping-config and, when valid, swaps it in; an invalid file keeps
 * the running mapping. Returns 0, or -EINVAL with the errors in errors. */
static int reload_mapping(struct app *a, struct buf *errors)
{
    pthread_mutex_lock(&a->reload_lock);
    struct mapping *m = NULL;
    int r = a->cfg->statsd_mapping_config ? mapping_load_file(a->cfg->statsd_mapping_config,
                                                              a->cfg->statsd_naming, &m, errors)
                                          : mapping_default(a->cfg->statsd_naming, &m);
    if (r >= 0) {
        ingest_store_set_mapping(a->store, m);
        metric_set(a->reload_ok, 1);
        metric_set(a->reload_time, now_realtime());
        log_info("mapping: loaded %s", a->cfg->statsd_mapping_config ? a->cfg->statsd_mapping_config
                                                                     : "the built-in conventions");
    } else {
        metric_set(a->reload_ok, 0);
        log_error("mapping: %s is invalid; keeping the running mapping:\n%s",
                  a->cfg->statsd_mapping_config, errors->data ? errors->data : "");
    }
    pthread_mutex_unlock(&a->reload_lock);
    return r;
}

/* Reloads --web.config.file: users, headers and the rate limit apply at once; TLS
 * settings only at the next start (said in the log). An invalid file keeps the running
 * configuration. Returns 0 (also without the flag), or -EINVAL with the errors in
 * errors. */
static int reload_web(struct app *a, struct buf *errors)
{
    struct httpd *http = __atomic_load_n(&a->http, __ATOMIC_ACQUIRE);
    if (!a->cfg->web_config_file || !http)
        return 0;
    pthread_mutex_lock(&a->reload_lock);
    size_t before = errors->len;
    char d[256];
    int r = httpd_reload_webconfig(http, a->cfg->web_config_file, errors, d, sizeof(d));
    if (r < 0) {
        metric_set(a->reload_ok, 0);
        log_error("web: %s is invalid; keeping the running web configuration:\n%s",
                  a->cfg->web_config_file, errors->data + before);
    } else {
        if (r > 0)
            log_warning("web: %s: the TLS settings changed; they apply at the next restart "
                        "(users, headers and the rate limit apply now)",
                        a->cfg->web_config_file);
        log_info("web: loaded %s (%s)", a->cfg->web_config_file, d);
    }
    pthread_mutex_unlock(&a->reload_lock);
    return r < 0 ? r : 0;
}

static int collect_ingest(void *userdata, struct mset *out)
{
    return ingest_store_collect(userdata, out, now_usec());
}

static void count_request(struct app *a, const char *handler, unsigned code)
{
    char cs[8];
    snprintf(cs, sizeof(cs), "%u", code);
    struct metric *m = registry_series(a->requests, (const char *const[]){handler, cs, NULL});
    if (m)
        metric_add(m, 1);
}

static bool method_is(const struct httpd_request *req, const char *m)
{
    return strcmp(req->method, m) == 0;
}

static void handle(void *userdata, const struct httpd_request *req, struct httpd_response *resp)
{
    struct app *a = userdata;
    const char *handler = "other";
    bool known = true;
    bool get = method_is(req, "GET") || method_is(req, "HEAD");
    if (strcmp(req->path, a->cfg->telemetry_path) == 0) {
        handler = "metrics";
        if (get) {
            enum expo_format f = expo_negotiate(httpd_header(req, "Accept"));
            bool gz = expo_accepts_gzip(httpd_header(req, "Accept-Encoding"));
            int r = scraper_scrape(a->scraper, f, gz, &resp->body);
            if (r < 0) {
                log_warning_errno(r, "scrape failed");
                httpd_reply_error(resp, 500, "collection failed");
            } else {
                resp->status = 200;
                resp->content_type = expo_content_type(f);
                if (gz)
                    httpd_response_header(resp, "Content-Encoding", "gzip");
                httpd_response_header(resp, "Vary", "Accept, Accept-Encoding");
            }
        }
    } else if (strcmp(req->path, "/-/healthy") == 0) {
        handler = "healthy";
        if (get)
            httpd_reply(resp, 200, "text/plain; charset=utf-8", "Healthy.\n");
    } else if (strcmp(req->path, "/-/ready") == 0) {
        handler = "ready";
        if (get)
            httpd_reply(resp, 200, "text/plain; charset=utf-8", "Ready.\n");
    } else if (strcmp(req->path, "/api/v1/push") == 0) {
        handler = "push";
        get = true; /* the push handler answers 405 itself */
        ingest_http_push(a->store, req, resp);
    } else if (strcmp(req->path, "/-/reload") == 0) {
        handler = "reload";
        get = true;
        if (!method_is(req, "POST") && !method_is(req, "PUT")) {
            httpd_response_header(resp, "Allow", "POST, PUT");
            httpd_reply(resp, 405, "text/plain; charset=utf-8", "405 method not allowed\n");
        } else if (!a->cfg->web_enable_lifecycle) {
            httpd_reply(resp, 403, "text/plain; charset=utf-8",
                        "Lifecycle API is not enabled (--web.enable-lifecycle).\n");
        } else {
            struct buf errors;
            buf_init(&errors, 1 << 16);
            int mr = reload_mapping(a, &errors);
            int wr = reload_web(a, &errors);
            if (mr < 0 || wr < 0)
                httpd_reply(resp, 500, "text/plain; charset=utf-8", "failed to reload config: %s",
                            errors.data ? errors.data : "");
            else
                httpd_reply(resp, 200, "text/plain; charset=utf-8", "Reloaded.\n");
            buf_free(&errors);
        }
    } else if (strcmp(req->path, "/") == 0) {
        handler = "landing";
        if (get) {
            const char *names[EXPORTER_MAX_COLLECTORS];
            size_t n = scraper_enabled_names(a->scraper, names, EXPORTER_MAX_COLLECTORS);
            httpd_reply(resp, 200, "text/html; charset=utf-8",
                        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                        "<title>homeostat-exporter</title></head>\n<body>\n"
                        "<h1>homeostat-exporter</h1>\n<p>Version %s</p>\n<ul>\n"
                        "<li><a href=\"%s\">Metrics</a></li>\n"
                        "<li><a href=\"/-/healthy\">Health</a></li>\n"
                        "<li><a href=\"/-/ready\">Readiness</a></li>\n</ul>\n"
                        "<h2>Collectors</h2>\n<ul>\n",
                        HOMEOSTAT_VERSION, a->cfg->telemetry_path);
            for (size_t i = 0; i < n; i++)
                buf_printf(&resp->body, "<li>%s</li>\n", names[i]);
            buf_puts(&resp->body, "</ul>\n</body></html>\n");
        }
    } else {
        known = false;
        httpd_reply(resp, 404, "text/plain; charset=utf-8", "404 page not found\n");
    }
    if (known && !get) {
        httpd_response_header(resp, "Allow", "GET, HEAD");
        httpd_reply(resp, 405, "text/plain; charset=utf-8", "405 method not allowed\n");
    }
    count_request(a, handler, resp->status);
}

int main(int argc, char **argv)
{
    struct exporter_config cfg;
    exporter_config_defaults(&cfg);
    bool check_config = false;
    int r = parse_flags(argc, argv, &cfg, &check_config);
    if (r != 0)
        return r > 0 ? 0 : 2;
    if (check_config) {
        if (!cfg.statsd_mapping_config && !cfg.web_config_file) {
            fprintf(stderr, PROG ": --check-config needs --statsd.mapping-config=FILE or "
                                 "--web.config.file=FILE\n");
            return 2;
        }
        int bad = cfg.statsd_mapping_config &&
                  mapping_check_file(cfg.statsd_mapping_config, cfg.statsd_naming, stdout) != 0;
        bad |= cfg.web_config_file && webconfig_check_file(cfg.web_config_file, stdout) != 0;
        return bad ? 1 : 0;
    }
    /* The web configuration first: an invalid one stops the start, before any thread. */
    struct webconfig *web = NULL;
    if (cfg.web_config_file) {
        struct buf errors;
        buf_init(&errors, 1 << 16);
        r = webconfig_load_file(cfg.web_config_file, &web, &errors);
        if (r < 0) {
            log_error("web: cannot start: %s is invalid:\n%s", cfg.web_config_file,
                      errors.data ? errors.data : strerror(-r));
            buf_free(&errors);
            return 1;
        }
        buf_free(&errors);
        char d[256];
        webconfig_describe(web, d, sizeof(d));
        log_info("web: loaded %s (%s)", cfg.web_config_file, d);
    }

    /* Two malloc arenas instead of one per thread: about 0.4 MiB less RSS, and the
     * threads allocate little. */
    mallopt(M_ARENA_MAX, 2);
    /* A fixed threshold: large scrape buffers are mmapped and returned when freed
     * (glibc's adaptive threshold would move them onto the heap for good). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    daemon_raise_nofile(); /* the connection limits, not a soft limit of 1024, apply */
    daemon_block_signals();
    struct registry *reg = registry_new();
    if (!reg)
        return log_error_errno(ENOMEM, PROG ": out of memory"), 1;
    struct app app = {.cfg = &cfg, .registry = reg};
    pthread_mutex_init(&app.reload_lock, NULL);
    app.reload_ok =
        registry_metric(reg, "homeostat_exporter_config_last_reload_successful", METRIC_GAUGE,
                        "Whether the last load of the mapping configuration succeeded.");
    app.reload_time = registry_metric(
        reg, "homeostat_exporter_config_last_reload_success_timestamp_seconds", METRIC_GAUGE,
        "Time of the last successful load of the mapping configuration.");
    {
        struct buf errors;
        buf_init(&errors, 1 << 16);
        struct mapping *m = NULL;
        r = cfg.statsd_mapping_config
                ? mapping_load_file(cfg.statsd_mapping_config, cfg.statsd_naming, &m, &errors)
                : mapping_default(cfg.statsd_naming, &m);
        if (r < 0) {
            log_error("mapping: %s is invalid:\n%s", cfg.statsd_mapping_config,
                      errors.data ? errors.data : "");
            buf_free(&errors);
            registry_free(reg);
            return 1;
        }
        buf_free(&errors);
        r = ingest_store_new(cfg.ingest_max_series, m, &app.store);
        if (r < 0) {
            log_error_errno(r, PROG ": cannot create the ingest store");
            registry_free(reg);
            return 1;
        }
        if (!app.reload_ok || !app.reload_time) {
            registry_free(reg);
            return 1;
        }
        metric_set(app.reload_ok, 1);
        metric_set(app.reload_time, now_realtime());
    }
    app.requests = registry_family(reg, "homeostat_exporter_http_requests_total", METRIC_COUNTER,
                                   "HTTP requests served, by handler and status code.",
                                   (const char *const[]){"handler", "code", NULL}, NULL, 0);
    r = scraper_new(&cfg, reg, &app.scraper);
    if (r < 0) {
        log_error_errno(r, PROG ": cannot start the collectors");
        registry_free(reg);
        return 1;
    }
    scraper_add_source(app.scraper, collect_ingest, app.store);
    struct ingest_listener *udp = NULL, *unixgram = NULL;
    if (*cfg.statsd_listen_udp) {
        r = ingest_listen_udp(cfg.statsd_listen_udp, cfg.statsd_read_buffer_bytes, app.store, &udp);
        if (r < 0) {
            log_error_errno(r, PROG ": cannot listen for StatsD on udp %s", cfg.statsd_listen_udp);
            scraper_free(app.scraper);
            ingest_store_free(app.store);
            registry_free(reg);
            return 1;
        }
        log_info("statsd: listening on udp %s", ingest_listener_address(udp));
    }
    if (*cfg.statsd_listen_unixgram) {
        r = ingest_listen_unixgram(cfg.statsd_listen_unixgram, cfg.statsd_read_buffer_bytes,
                                   app.store, &unixgram);
        if (r < 0) {
            log_error_errno(r, PROG ": cannot listen for StatsD on %s", cfg.statsd_listen_unixgram);
            ingest_listener_stop(udp);
            scraper_free(app.scraper);
            ingest_store_free(app.store);
            registry_free(reg);
            return 1;
        }
        log_info("statsd: listening on unixgram %s", ingest_listener_address(unixgram));
    }
    struct sampler *sampler = NULL;
    r = sampler_start(&cfg, reg, app.scraper, &sampler);
    if (r < 0)
        log_warning_errno(r, "sampler: not started");

    struct httpd_options hopts = {
        .listen_address = cfg.listen_address,
        .connection_limit = cfg.web_max_connections,
        .per_ip_limit = cfg.web_max_connections_per_ip,
        .timeout_sec = cfg.web_timeout_sec,
        .connection_memory = 64 * 1024,
        .max_body_bytes = 1 << 20,
        /* A scrape handler waits for its collection; concurrent scrapes only share a
         * collection when enough handlers can wait at once. */
        .threads = 8,
        .web = web,
    };
    struct httpd *http;
    r = httpd_start(&hopts, handle, &app, &http);
    webconfig_unref(web); /* httpd keeps its own reference */
    if (r < 0) {
        log_error_errno(r, PROG ": cannot listen on %s%s", cfg.listen_address,
                        r == -EPROTONOSUPPORT ? " with TLS: libmicrohttpd was built without it"
                                              : "");
        sampler_stop(sampler);
        ingest_listener_stop(udp);
        ingest_listener_stop(unixgram);
        scraper_free(app.scraper);
        ingest_store_free(app.store);
        registry_free(reg);
        return 1;
    }
    __atomic_store_n(&app.http, http, __ATOMIC_RELEASE);
    log_info(PROG " %s listening on %s://%s%s", HOMEOSTAT_VERSION,
             httpd_tls(http) ? "https" : "http", httpd_bound_address(http), cfg.telemetry_path);
    char status[160];
    snprintf(status, sizeof(status), "Serving on %s", httpd_bound_address(http));
    daemon_notify_ready(status);

    for (;;) {
        enum daemon_event ev = daemon_wait(60 * 1000000ULL);
        if (ev == DAEMON_EVENT_STOP)
            break;
        if (ev == DAEMON_EVENT_RELOAD) {
            daemon_notify_reloading();
            struct buf errors;
            buf_init(&errors, 1 << 16);
            reload_mapping(&app, &errors);
            reload_web(&app, &errors);
            buf_free(&errors);
            daemon_notify_ready(status);
        }
    }
    log_info(PROG ": stopping");
    daemon_notify_stopping();
    httpd_stop(http);
    ingest_listener_stop(udp);
    ingest_listener_stop(unixgram);
    sampler_stop(sampler);
    scraper_free(app.scraper);
    ingest_store_free(app.store);
    pthread_mutex_destroy(&app.reload_lock);
    registry_free(reg);
    return 0;
}
