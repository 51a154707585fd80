/* flags: the daemon's command line (getopt_long, one table, -h and --version) into struct
 * cli (see controller.h). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "httpd.h"
#include "log.h"
#include "parse.h"

/* ---- flags ---- */

enum {
    OPT_CONFIG = 1000,
    OPT_PROM_URL,
    OPT_LISTEN,
    OPT_TOKEN,
    OPT_OPERATOR_TOKEN,
    OPT_RECEIVER_TOKEN,
    OPT_STATE_DIR,
    OPT_AUDIT,
    OPT_DRY_RUN,
    OPT_SYSTEMD_BUS,
    OPT_KUBECTL,
    OPT_KUBECTL_CHECK,
    OPT_EXTERNAL_URL,
    OPT_LOG_LEVEL,
    OPT_VERSION,
    OPT_WEB_CONFIG,
    OPT_MAX_CONNECTIONS,
    OPT_MAX_CONNECTIONS_PER_IP,
    OPT_WEB_TIMEOUT,
    OPT_BASELINES_SEED,
    OPT_HA_BACKEND,
    OPT_HA_IDENTITY,
    OPT_HA_LEASE_NAME,
    OPT_HA_LEASE,
    OPT_HA_RENEW,
    OPT_HA_RETRY,
    OPT_HA_CA,
    OPT_HA_CERT,
    OPT_HA_KEY,
    OPT_HA_ETCD_ENDPOINTS,
    OPT_HA_ETCD_PREFIX,
    OPT_HA_KUBE_URL,
    OPT_HA_KUBE_TOKEN,
    OPT_HA_KUBE_NAMESPACE,
    OPT_HA_KUBECONFIG,
};

static const struct option options[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"prometheus.url", required_argument, NULL, OPT_PROM_URL},
    {"web.listen-address", required_argument, NULL, OPT_LISTEN},
    {"web.admin-token-file", required_argument, NULL, OPT_TOKEN},
    {"web.operator-token-file", required_argument, NULL, OPT_OPERATOR_TOKEN},
    {"web.receiver-token-file", required_argument, NULL, OPT_RECEIVER_TOKEN},
    {"state.directory", required_argument, NULL, OPT_STATE_DIR},
    {"audit.log", required_argument, NULL, OPT_AUDIT},
    {"baselines.seed", required_argument, NULL, OPT_BASELINES_SEED},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"systemd.bus", required_argument, NULL, OPT_SYSTEMD_BUS},
    {"kubectl.path", required_argument, NULL, OPT_KUBECTL},
    {"kubectl.server-dry-run", no_argument, NULL, OPT_KUBECTL_CHECK},
    {"web.external-url", required_argument, NULL, OPT_EXTERNAL_URL},
    {"web.config.file", required_argument, NULL, OPT_WEB_CONFIG},
    {"web.max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"web.max-connections-per-ip", required_argument, NULL, OPT_MAX_CONNECTIONS_PER_IP},
    {"web.timeout", required_argument, NULL, OPT_WEB_TIMEOUT},
    {"ha.backend", required_argument, NULL, OPT_HA_BACKEND},
    {"ha.identity", required_argument, NULL, OPT_HA_IDENTITY},
    {"ha.lease-name", required_argument, NULL, OPT_HA_LEASE_NAME},
    {"ha.lease-duration", required_argument, NULL, OPT_HA_LEASE},
    {"ha.renew-deadline", required_argument, NULL, OPT_HA_RENEW},
    {"ha.retry-period", required_argument, NULL, OPT_HA_RETRY},
    {"ha.ca-file", required_argument, NULL, OPT_HA_CA},
    {"ha.cert-file", required_argument, NULL, OPT_HA_CERT},
    {"ha.key-file", required_argument, NULL, OPT_HA_KEY},
    {"ha.etcd.endpoints", required_argument, NULL, OPT_HA_ETCD_ENDPOINTS},
    {"ha.etcd.prefix", required_argument, NULL, OPT_HA_ETCD_PREFIX},
    {"ha.kubernetes.api-url", required_argument, NULL, OPT_HA_KUBE_URL},
    {"ha.kubernetes.token-file", required_argument, NULL, OPT_HA_KUBE_TOKEN},
    {"ha.kubernetes.namespace", required_argument, NULL, OPT_HA_KUBE_NAMESPACE},
    {"ha.kubeconfig", required_argument, NULL, OPT_HA_KUBECONFIG},
    {"log.level", required_argument, NULL, OPT_LOG_LEVEL},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: " PROG " [FLAGS] --config=FILE     run the controller\n"
            "       " PROG " check FILE...            validate rules files\n"
            "       " PROG " test FILE...             run rule unit tests\n"
            "       " PROG " report --config=FILE     health report (report --help)\n"
            "       " PROG " backtest --config=FILE   replay the rules over history\n\n"
            "Flags:\n"
            "  -h, --help                     Show this help and exit.\n"
            "      --version                  Show the version and exit.\n"
            "      --config=FILE              The rules file (required for the daemon).\n"
            "      --prometheus.url=URL       Overrides prometheus.url of the rules file.\n"
            "      --web.listen-address=ADDR  API and metrics (default " DEFAULT_LISTEN ").\n"
            "      --web.admin-token-file=FILE  Bearer tokens of the admin role: every\n"
            "                                 endpoint that changes something, reload\n"
            "                                 included (one token per line, NAME TOKEN\n"
            "                                 names it; repeatable; reread on reload).\n"
            "                                 Without any token file they answer 403.\n"
            "      --web.operator-token-file=FILE  Tokens of the operator role: pause,\n"
            "                                 resume, manual actions, overrides, evaluate.\n"
            "      --web.receiver-token-file=FILE  Tokens of the receiver role: the\n"
            "                                 Alertmanager webhook only.\n"
            "      --state.directory=DIR      State file location (default\n"
            "                                 /var/lib/homeostat-controller).\n"
            "      --audit.log=FILE           Decision log (default DIR/audit.jsonl).\n"
            "      --baselines.seed=FILE      Baselines learned from history (" PROG " baseline\n"
            "                                 learn) for the signals and targets that have\n"
            "                                 none in the state file.\n"
            "      --dry-run                  Decide and record, never act.\n"
            "      --systemd.bus=BUS          Which manager systemd actions talk to: system\n"
            "                                 (the default) or user.\n"
            "      --kubectl.path=PATH        The kubectl binary (default: kubectl in PATH).\n"
            "      --kubectl.server-dry-run   At start and on reload, run every kubectl\n"
            "                                 action with --dry-run=server; refuse rules\n"
            "                                 that the API server rejects.\n"
            "      --web.external-url=URL     This controller's URL as others reach it\n"
            "                                 (alerts' generatorURL).\n"
            "      --web.config.file=FILE     TLS and basic auth, in the Prometheus\n"
            "                                 exporter-toolkit format (default: none, plain\n"
            "                                 HTTP); reloaded with the rules.\n"
            "      --web.max-connections=N    Connections served at once (default %u).\n"
            "      --web.max-connections-per-ip=N  Per client address (default %u).\n"
            "      --web.timeout=DURATION     Idle connection timeout (default %us).\n"
            "      --ha.backend=BACKEND       none (the default), etcd or kubernetes: replicas\n"
            "                                 elect a leader; only the leader acts\n"
            "                                 (docs/ARCHITECTURE.md, \"High availability\").\n"
            "      --ha.identity=NAME         This replica in the lease (default HOSTNAME-PID).\n"
            "      --ha.lease-name=NAME       The lease (default homeostat-controller).\n"
            "      --ha.lease-duration=DURATION  How long a lease lasts unrenewed (15s).\n"
            "      --ha.renew-deadline=DURATION  A leader that could not renew for this\n"
            "                                 long stops acting (10s).\n"
            "      --ha.retry-period=DURATION  How often leases are renewed or tried (2s).\n"
            "      --ha.ca-file=FILE          CA certificates of the backend (PEM).\n"
            "      --ha.cert-file=FILE        Client certificate for the backend (PEM).\n"
            "      --ha.key-file=FILE         Its key (PEM).\n"
            "      --ha.etcd.endpoints=URLS   etcd's client URLs, comma-separated.\n"
            "      --ha.etcd.prefix=PREFIX    Keys under this prefix (default /homeostat/).\n"
            "      --ha.kubernetes.api-url=URL  The API server (default: in-cluster).\n"
            "      --ha.kubernetes.token-file=FILE  Its bearer token (reread when it\n"
            "                                 changes).\n"
            "      --ha.kubernetes.namespace=NS  The Lease's namespace.\n"
            "      --ha.kubeconfig=FILE       A kubeconfig instead (its current context).\n"
            "      --log.level=LEVEL          debug, info, warn or error (default info).\n",
            DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_WEB_TIMEOUT_SEC);
}

int controller_parse_flags(int argc, char **argv, struct cli *cli)
{
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 1;
        case OPT_VERSION: printf(PROG " version %s\n", HOMEOSTAT_VERSION); return 1;
        case OPT_CONFIG: cli->config = optarg; break;
        case OPT_PROM_URL: {
            const char *why = rules_url_error(optarg);
            if (why) {
                fprintf(stderr, PROG ": invalid value for --prometheus.url: %s\n", why);
                return -EINVAL;
            }
            cli->prometheus_url = optarg;
            break;
        }
        case OPT_LISTEN: {
            char host[256];
            unsigned port;
            if (parse_listen_address(optarg, host, sizeof(host), &port) < 0) {
                fprintf(stderr,
                        PROG ": invalid value '%s' for --web.listen-address: expected "
                             "HOST:PORT, [IPV6]:PORT or :PORT\n",
                        optarg);
                return -EINVAL;
            }
            cli->listen_address = optarg;
            break;
        }
        case OPT_TOKEN:
        case OPT_OPERATOR_TOKEN:
        case OPT_RECEIVER_TOKEN: {
            enum api_role role = c == OPT_TOKEN            ? API_ROLE_ADMIN
                                 : c == OPT_OPERATOR_TOKEN ? API_ROLE_OPERATOR
                                                           : API_ROLE_RECEIVER;
            if (cli->n_token_files[role] == CREDENTIALS_MAX_FILES) {
                fprintf(stderr, PROG ": --web.%s-token-file: at most %d files\n",
                        api_role_name(role), CREDENTIALS_MAX_FILES);
                return -EINVAL;
            }
            cli->token_files[role][cli->n_token_files[role]++] = optarg;
            break;
        }
        case OPT_STATE_DIR: cli->state_directory = optarg; break;
        case OPT_AUDIT: cli->audit_log = optarg; break;
        case OPT_BASELINES_SEED: cli->baselines_seed = optarg; break;
        case OPT_DRY_RUN: cli->dry_run = true; break;
        case OPT_SYSTEMD_BUS:
            if (strcmp(optarg, "system") != 0 && strcmp(optarg, "user") != 0) {
                fprintf(stderr,
                        PROG ": invalid value '%s' for --systemd.bus: expected system or user\n",
                        optarg);
                return -EINVAL;
            }
            cli->systemd_user_bus = strcmp(optarg, "user") == 0;
            break;
        case OPT_KUBECTL: cli->kubectl_path = optarg; break;
        case OPT_KUBECTL_CHECK: cli->kubectl_server_dry_run = true; break;
        case OPT_EXTERNAL_URL: {
            const char *why = rules_url_error(optarg);
            if (why) {
                fprintf(stderr, PROG ": invalid value for --web.external-url: %s\n", why);
                return -EINVAL;
            }
            cli->external_url = optarg;
            break;
        }
        case OPT_WEB_CONFIG:
            if (!*optarg) {
                fprintf(stderr, PROG ": invalid value '' for --web.config.file: expected a "
                                     "file name\n");
                return -EINVAL;
            }
            cli->web_config_file = optarg;
            break;
        case OPT_MAX_CONNECTIONS:
        case OPT_MAX_CONNECTIONS_PER_IP: {
            unsigned u;
            if (parse_uint(optarg, &u) < 0 || u == 0 || u > 1000000) {
                fprintf(stderr,
                        PROG ": invalid value '%s' for --%s: expected a whole number from 1 "
                             "to 1000000\n",
                        optarg,
                        c == OPT_MAX_CONNECTIONS ? "web.max-connections"
                                                 : "web.max-connections-per-ip");
                return -EINVAL;
            }
            if (c == OPT_MAX_CONNECTIONS)
                cli->web_max_connections = u;
            else
                cli->web_max_connections_per_ip = u;
            break;
        }
        case OPT_WEB_TIMEOUT: {
            uint64_t usec;
            if (parse_duration_usec(optarg, &usec) < 0 || usec < 1000000 || usec > 3600000000ULL) {
                fprintf(stderr,
                        PROG ": invalid value '%s' for --web.timeout: expected a duration "
                             "from 1s to 1h\n",
                        optarg);
                return -EINVAL;
            }
            cli->web_timeout_sec = (unsigned)(usec / 1000000);
            break;
        }
        case OPT_HA_BACKEND:
            if (ha_backend_parse(optarg, &cli->ha.backend) < 0) {
                fprintf(stderr,
                        PROG ": invalid value '%s' for --ha.backend: expected none, etcd or "
                             "kubernetes\n",
                        optarg);
                return -EINVAL;
            }
            break;
        case OPT_HA_IDENTITY:
        case OPT_HA_LEASE_NAME: {
            size_t n = strlen(optarg);
            bool ok = n > 0 && n <= 200;
            for (size_t i = 0; ok && i < n; i++)
                ok = (optarg[i] >= 'a' && optarg[i] <= 'z') ||
                     (optarg[i] >= 'A' && optarg[i] <= 'Z') ||
                     (optarg[i] >= '0' && optarg[i] <= '9') || strchr("-_.", optarg[i]);
            if (!ok) {
                fprintf(stderr,
                        PROG ": invalid value '%s' for --%s: expected 1 to 200 letters, digits, "
                             "'-', '_' or '.'\n",
                        optarg, c == OPT_HA_IDENTITY ? "ha.identity" : "ha.lease-name");
                return -EINVAL;
            }
            if (c == OPT_HA_IDENTITY)
                cli->ha.identity = optarg;
            else
                cli->ha.lease_name = optarg;
            break;
        }
        case OPT_HA_LEASE:
        case OPT_HA_RENEW:
        case OPT_HA_RETRY: {
            uint64_t usec;
            const char *name = c == OPT_HA_LEASE   ? "ha.lease-duration"
                               : c == OPT_HA_RENEW ? "ha.renew-deadline"
                                                   : "ha.retry-period";
            if (parse_duration_usec(optarg, &usec) < 0 || usec < 100000 || usec > 3600000000ULL) {
                fprintf(stderr,
                        PROG ": invalid value '%s' for --%s: expected a duration from 100ms to "
                             "1h\n",
                        optarg, name);
                return -EINVAL;
            }
            if (c == OPT_HA_LEASE)
                cli->ha.lease_usec = usec;
            else if (c == OPT_HA_RENEW)
                cli->ha.renew_deadline_usec = usec;
            else
                cli->ha.retry_usec = usec;
            break;
        }
        case OPT_HA_CA: cli->ha.ca_file = optarg; break;
        case OPT_HA_CERT: cli->ha.cert_file = optarg; break;
        case OPT_HA_KEY: cli->ha.key_file = optarg; break;
        case OPT_HA_ETCD_ENDPOINTS: {
            if (strlen(optarg) >= sizeof(cli->ha_endpoints)) {
                fprintf(stderr, PROG ": --ha.etcd.endpoints is too long\n");
                return -EINVAL;
            }
            snprintf(cli->ha_endpoints, sizeof(cli->ha_endpoints), "%s", optarg);
            cli->ha.n_endpoints = 0;
            char *save = NULL;
            for (char *tok = strtok_r(cli->ha_endpoints, ",", &save); tok;
                 tok = strtok_r(NULL, ",", &save)) {
                const char *why = rules_url_error(tok);
                if (why || cli->ha.n_endpoints == HA_MAX_ENDPOINTS) {
                    fprintf(stderr, PROG ": invalid value for --ha.etcd.endpoints: %s\n",
                            why ? why : "at most 16 endpoints");
                    return -EINVAL;
                }
                cli->ha.endpoints[cli->ha.n_endpoints++] = tok;
            }
            if (!cli->ha.n_endpoints) {
                fprintf(stderr, PROG ": --ha.etcd.endpoints: expected URLs, comma-separated\n");
                return -EINVAL;
            }
            break;
        }
        case OPT_HA_ETCD_PREFIX: cli->ha.prefix = optarg; break;
        case OPT_HA_KUBE_URL: {
            const char *why = rules_url_error(optarg);
            if (why) {
                fprintf(stderr, PROG ": invalid value for --ha.kubernetes.api-url: %s\n", why);
                return -EINVAL;
            }
            cli->ha.kube_url = optarg;
            break;
        }
        case OPT_HA_KUBE_TOKEN: cli->ha.kube_token_file = optarg; break;
        case OPT_HA_KUBE_NAMESPACE: cli->ha.kube_namespace = optarg; break;
        case OPT_HA_KUBECONFIG: cli->ha.kubeconfig = optarg; break;
        case OPT_LOG_LEVEL: {
            int level = log_parse_level(optarg);
            if (level < 0) {
                fprintf(stderr,
                        PROG ": invalid value '%s' for --log.level: expected debug, "
                             "info, warn or error\n",
                        optarg);
                return -EINVAL;
            }
            log_set_level(level);
            break;
        }
        case ':':
            fprintf(stderr, PROG ": flag '%s' needs a value\n", argv[optind - 1]);
            return -EINVAL;
        default:
            if (optopt)
                fprintf(stderr, PROG ": unknown flag '-%c'\n", optopt);
            else
                fprintf(stderr, PROG ": unknown flag '%s'\n", argv[optind - 1]);
            return -EINVAL;
        }
    }
    /* client-go's defaults (LeaseDuration, RenewDeadline, RetryPeriod) */
    if (!cli->ha.lease_usec)
        cli->ha.lease_usec = 15000000;
    if (!cli->ha.renew_deadline_usec)
        cli->ha.renew_deadline_usec = 10000000;
    if (!cli->ha.retry_usec)
        cli->ha.retry_usec = 2000000;
    if (cli->ha.backend != HA_NONE && (cli->ha.renew_deadline_usec >= cli->ha.lease_usec ||
                                       cli->ha.retry_usec >= cli->ha.renew_deadline_usec)) {
        fprintf(stderr, PROG ": --ha.lease-duration must be longer than --ha.renew-deadline, and "
                             "that longer than --ha.retry-period\n");
        return -EINVAL;
    }
    if (cli->ha.backend == HA_ETCD && !cli->ha.n_endpoints) {
        fprintf(stderr, PROG ": --ha.backend=etcd needs --ha.etcd.endpoints\n");
        return -EINVAL;
    }
    return 0;
}
