/* backtest_cli: `homeostat-controller backtest` (backtest_main): flags and times, the
 * rules, the ranges fetched chunk by chunk (promql_query_range), the replay, the output. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backtest.h"
#include "buf.h"
#include "evaluate.h"
#include "fileio.h"
#include "parse.h"
#include "step.h"

#include "backtest_private.h"

/* ---- the command ---------------------------------------------------------------------- */

enum {
    BT_CONFIG = 1000,
    BT_FROM,
    BT_TO,
    BT_STEP,
    BT_PROM_URL,
    BT_QUERY_TIMEOUT,
    BT_FLAP_WINDOW,
    BT_FORMAT,
    BT_OUTPUT,
    BT_BASELINES_OUTPUT,
};

/* `baseline learn`: the backtest's replay, its baselines written to --output, no report */
static bool learn_mode;
#define VERB (learn_mode ? "baseline learn" : "backtest")

static const struct option bt_options[] = {
    {"config", required_argument, NULL, BT_CONFIG},
    {"from", required_argument, NULL, BT_FROM},
    {"to", required_argument, NULL, BT_TO},
    {"step", required_argument, NULL, BT_STEP},
    {"prometheus.url", required_argument, NULL, BT_PROM_URL},
    {"query.timeout", required_argument, NULL, BT_QUERY_TIMEOUT},
    {"flap-window", required_argument, NULL, BT_FLAP_WINDOW},
    {"format", required_argument, NULL, BT_FORMAT},
    {"output", required_argument, NULL, BT_OUTPUT},
    {"baselines.output", required_argument, NULL, BT_BASELINES_OUTPUT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void learn_usage(FILE *f)
{
    fprintf(f, "Usage: " PROG " baseline learn --config=FILE --output=FILE [--from=TIME]\n"
               "                                    [--to=TIME] [--step=DURATION] [FLAGS]\n\n"
               "Learns the rules' baselines from Prometheus history: the rules are replayed\n"
               "as the backtest replays them (the daemon's own steps: a value is learned while\n"
               "the state is one of the signal's learn_in and no worse state holds), and the\n"
               "baselines learned are written to --output as JSON, for the daemon's\n"
               "--baselines.seed. Takes the backtest's flags (" PROG " backtest --help) but\n"
               "--format and --baselines.output; --output is required.\n");
}

static void bt_usage(FILE *f)
{
    if (learn_mode) {
        learn_usage(f);
        return;
    }
    fprintf(
        f, "Usage: " PROG " backtest --config=FILE [--from=TIME] [--to=TIME] [--step=DURATION]\n"
           "                                     [FLAGS]\n\n"
           "Replays the rules over Prometheus history exactly as the daemon would have\n"
           "evaluated them (states, confidence, decisions, cooldowns, the hourly budget)\n"
           "and prints a timeline and a summary. Nothing is run.\n\n"
           "Flags:\n"
           "  -h, --help                     Show this help and exit.\n"
           "      --config=FILE              The rules file (required).\n"
           "      --from=TIME                Start: RFC 3339, Unix seconds, now, or -DURATION\n"
           "                                 for that long before now (default " DEFAULT_FROM ").\n"
           "      --to=TIME                  End, in the same forms (default " DEFAULT_TO ").\n"
           "      --step=DURATION            Time between two evaluations (default: the rules'\n"
           "                                 evaluation_interval).\n"
           "      --prometheus.url=URL       Overrides prometheus.url of the rules file.\n"
           "      --query.timeout=DURATION   Limit of each query_range request (default 30s).\n"
           "      --flap-window=DURATION     A stay in a state between two changes shorter\n"
           "                                 than this is a flap (default 5m).\n"
           "      --format=FORMAT            text or json (default text).\n"
           "      --output=FILE              Write the report to FILE (default: standard\n"
           "                                 output).\n"
           "      --baselines.output=FILE    Also write the baselines learned over the range\n"
           "                                 (for the daemon's --baselines.seed).\n");
}

struct bt_cli {
    const char *config, *from, *to, *step, *prometheus_url, *output, *baselines_output;
    uint64_t query_timeout_usec, flap_window_usec;
    bool json;
};

static int bt_duration(const char *flag, const char *v, uint64_t *ret)
{
    if (parse_duration_usec(v, ret) < 0 || *ret == 0) {
        fprintf(stderr,
                PROG " %s: invalid value '%.64s' for --%s: expected a duration such as "
                     "15s, 5m or 1h30m\n",
                VERB, v, flag);
        return -EINVAL;
    }
    return 0;
}

/* 0, 1 after --help, or -EINVAL (reported). */
static int bt_parse_flags(int argc, char **argv, struct bt_cli *cli)
{
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", bt_options, NULL)) != -1) {
        switch (c) {
        case 'h': bt_usage(stdout); return 1;
        case BT_CONFIG: cli->config = optarg; break;
        case BT_FROM: cli->from = optarg; break;
        case BT_TO: cli->to = optarg; break;
        case BT_STEP: cli->step = optarg; break;
        case BT_PROM_URL: {
            const char *why = rules_url_error(optarg);
            if (why) {
                fprintf(stderr, PROG " %s: invalid value for --prometheus.url: %s\n", VERB, why);
                return -EINVAL;
            }
            cli->prometheus_url = optarg;
            break;
        }
        case BT_QUERY_TIMEOUT:
            if (bt_duration("query.timeout", optarg, &cli->query_timeout_usec) < 0)
                return -EINVAL;
            break;
        case BT_FLAP_WINDOW:
            if (bt_duration("flap-window", optarg, &cli->flap_window_usec) < 0)
                return -EINVAL;
            break;
        case BT_FORMAT:
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
                fprintf(stderr,
                        PROG " %s: invalid value '%.64s' for --format: expected text or "
                             "json\n",
                        VERB, optarg);
                return -EINVAL;
            }
            cli->json = strcmp(optarg, "json") == 0;
            break;
        case BT_OUTPUT: cli->output = optarg; break;
        case BT_BASELINES_OUTPUT: cli->baselines_output = optarg; break;
        case ':':
            fprintf(stderr, PROG " %s: flag '%s' needs a value\n", VERB, argv[optind - 1]);
            return -EINVAL;
        default:
            if (optopt)
                fprintf(stderr, PROG " %s: unknown flag '-%c'\n", VERB, optopt);
            else
                fprintf(stderr, PROG " %s: unknown flag '%s'\n", VERB, argv[optind - 1]);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, PROG " %s: unexpected argument '%.64s'\n", VERB, argv[optind]);
        return -EINVAL;
    }
    if (!cli->config) {
        fprintf(stderr, PROG " %s: --config=FILE is required\n", VERB);
        return -EINVAL;
    }
    if (learn_mode) {
        if (!cli->output || strcmp(cli->output, "-") == 0 || cli->baselines_output) {
            fprintf(stderr, PROG " baseline learn: --output=FILE is required (the baselines)\n");
            return -EINVAL;
        }
        cli->baselines_output = cli->output;
    }
    return 0;
}

static void print_errors(const struct buf *errors)
{
    if (errors->len)
        fprintf(stderr, "%.*s%s", (int)errors->len, errors->data,
                errors->data[errors->len - 1] == '\n' ? "" : "\n");
}

/* The rules with the --prometheus.url override; 0 or 2 (reported). */
static int bt_load_rules(const struct bt_cli *cli, struct rules **ret)
{
    struct buf errors;
    buf_init(&errors, 1 << 20);
    struct rules *r = NULL;
    int rc = rules_load_file(cli->config, &r, &errors);
    if (rc < 0) {
        if (rc == -EINVAL)
            fprintf(stderr, PROG " %s: %s is invalid:\n", VERB, cli->config);
        else if (!errors.len)
            fprintf(stderr, PROG " %s: cannot read %s: %s\n", VERB, cli->config, strerror(-rc));
        else
            fprintf(stderr, PROG " %s: ", VERB);
        print_errors(&errors);
        buf_free(&errors);
        return 2;
    }
    buf_free(&errors);
    if (cli->prometheus_url) {
        free(r->prometheus.url);
        r->prometheus.url = strdup(cli->prometheus_url);
        if (!r->prometheus.url) {
            rules_free(r);
            fprintf(stderr, PROG " %s: out of memory\n", VERB);
            return 2;
        }
    }
    if (!r->prometheus.url) {
        fprintf(stderr, PROG " %s: %s: prometheus.url is not set (and no --prometheus.url)\n", VERB,
                cli->config);
        rules_free(r);
        return 2;
    }
    *ret = r;
    return 0;
}

/* Resolves --from, --to and --step into the points; 0 or 2 (reported). */
static int bt_range(const struct bt_cli *cli, const struct rules *r, int64_t *ret_start,
                    int64_t *ret_step, size_t *ret_n)
{
    int64_t now_ms = (int64_t)(now_realtime() * 1000.0);
    int64_t from, to;
    const char *fv = cli->from ? cli->from : DEFAULT_FROM;
    const char *tv = cli->to ? cli->to : DEFAULT_TO;
    static const char *const forms =
        "expected RFC 3339 (2024-05-01T12:00:00Z), Unix seconds, now, or -DURATION (-24h)";
    if (backtest_parse_time(fv, now_ms, &from) < 0) {
        fprintf(stderr, PROG " %s: invalid value '%.64s' for --from: %s\n", VERB, fv, forms);
        return 2;
    }
    if (backtest_parse_time(tv, now_ms, &to) < 0) {
        fprintf(stderr, PROG " %s: invalid value '%.64s' for --to: %s\n", VERB, tv, forms);
        return 2;
    }
    if (to > now_ms) {
        char t[64];
        backtest_format_time(to, t, sizeof(t));
        fprintf(stderr, PROG " %s: --to (%s) is in the future\n", VERB, t);
        return 2;
    }
    if (from <= 0 || to < from) {
        char f[64], t[64];
        backtest_format_time(from, f, sizeof(f));
        backtest_format_time(to, t, sizeof(t));
        fprintf(stderr, PROG " %s: --from (%s) must be after 1970 and not after --to (%s)\n", VERB,
                f, t);
        return 2;
    }
    uint64_t step_usec = r->evaluation_interval_usec;
    if (cli->step && bt_duration("step", cli->step, &step_usec) < 0)
        return 2;
    if (step_usec % 1000 != 0) {
        fprintf(stderr, PROG " %s: --step %s is not a whole number of milliseconds\n", VERB,
                cli->step ? cli->step : "(evaluation_interval)");
        return 2;
    }
    int64_t step = (int64_t)(step_usec / 1000);
    uint64_t n = (uint64_t)((to - from) / step) + 1;
    *ret_start = from;
    *ret_step = step;
    *ret_n = (size_t)(n > SIZE_MAX ? SIZE_MAX : n);
    return 0;
}

static int write_output(const struct bt_cli *cli, const char *data, size_t len)
{
    if (!cli->output || strcmp(cli->output, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0) {
            fprintf(stderr, PROG " %s: cannot write the report: %s\n", VERB, strerror(errno));
            return 1;
        }
        return 0;
    }
    int r = file_write_atomic(cli->output, data, len, 0644);
    if (r < 0) {
        fprintf(stderr, PROG " %s: cannot write %s: %s\n", VERB, cli->output, strerror(-r));
        return 1;
    }
    return 0;
}

/* The baselines file: {"rules", "from", "to", "step_seconds", "baselines": {SIGNAL: ...}}
 * without targets, {..., "targets": {KEY: {SIGNAL: ...}}} with; and a line per signal on
 * standard output. 0, or 1 (reported). */
static int write_baselines(const struct bt_cli *cli, const struct rules *r,
                           const struct backtest_result *b, int64_t start_ms, int64_t step_ms,
                           size_t n)
{
    if (!b->baselines) {
        fprintf(stderr, PROG " %s: %s learns no baseline (no signal has a baseline section)\n",
                VERB, cli->config);
        return 1;
    }
    char f[64], t[64];
    backtest_format_time(start_ms, f, sizeof(f));
    backtest_format_time(start_ms + (int64_t)(n ? n - 1 : 0) * step_ms, t, sizeof(t));
    json_t *j =
        json_pack("{s:s,s:s,s:s,s:f,s:O}", "rules", cli->config, "from", f, "to", t, "step_seconds",
                  (double)step_ms / 1000.0, r->targets.by ? "targets" : "baselines", b->baselines);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!text) {
        fprintf(stderr, PROG " %s: out of memory\n", VERB);
        return 1;
    }
    int w = file_write_atomic(cli->baselines_output, text, strlen(text), 0644);
    free(text);
    if (w < 0) {
        fprintf(stderr, PROG " %s: cannot write %s: %s\n", VERB, cli->baselines_output,
                strerror(-w));
        return 1;
    }
    /* what was learned, per signal: values in all (over the targets) */
    for (size_t i = 0; learn_mode && i < r->n_signals; i++) {
        if (!r->signals[i].baseline)
            continue;
        unsigned long long learned = 0, owners = 0;
        const char *key;
        json_t *v;
        if (r->targets.by) {
            json_object_foreach(b->baselines, key, v)
            {
                json_t *one = json_object_get(v, r->signals[i].name);
                learned += (unsigned long long)json_integer_value(json_object_get(one, "learned"));
                owners += one != NULL;
            }
        } else {
            json_t *one = json_object_get(b->baselines, r->signals[i].name);
            learned = (unsigned long long)json_integer_value(json_object_get(one, "learned"));
            owners = one != NULL;
        }
        char over[48] = "";
        if (r->targets.by)
            snprintf(over, sizeof(over), " over %llu targets", owners);
        printf("%s: %llu values learned%s, %s to %s\n", r->signals[i].name, learned, over, f, t);
    }
    if (learn_mode)
        printf("written to %s\n", cli->baselines_output);
    return 0;
}

int baseline_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "learn") != 0) {
        learn_mode = true;
        learn_usage(stderr);
        return 2;
    }
    learn_mode = true;
    return backtest_main(argc - 1, argv + 1);
}

int backtest_main(int argc, char **argv)
{
    struct bt_cli cli = {.query_timeout_usec = DEFAULT_QUERY_TIMEOUT_USEC,
                         .flap_window_usec = DEFAULT_FLAP_WINDOW_USEC};
    int rc = bt_parse_flags(argc, argv, &cli);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    struct rules *r = NULL;
    if ((rc = bt_load_rules(&cli, &r)) != 0)
        return rc;

    int64_t start_ms, step_ms;
    size_t n;
    struct promql_client *client = NULL;
    size_t ns = r->n_signals;
    char **queries = calloc(ns ? ns : 1, sizeof(*queries));
    size_t *fetch = calloc(ns ? ns : 1, sizeof(*fetch)); /* signal -> range it reads */
    struct promql_range *ranges = calloc(ns ? ns : 1, sizeof(*ranges));
    const struct promql_range **series = calloc(ns ? ns : 1, sizeof(*series));
    struct backtest_result *result = NULL;
    size_t n_ranges = 0, requests = 0;
    char *text = NULL;
    size_t text_len = 0;
    rc = 2;
    if (!queries || !fetch || !ranges || !series) {
        fprintf(stderr, PROG " %s: out of memory\n", VERB);
        goto out;
    }
    if (bt_range(&cli, r, &start_ms, &step_ms, &n) != 0)
        goto out;
    for (size_t i = 0; i < ns; i++) {
        if (!(queries[i] = backtest_signal_query(&r->signals[i]))) {
            fprintf(stderr, PROG " %s: out of memory\n", VERB);
            goto out;
        }
        fetch[i] = n_ranges;
        for (size_t j = 0; j < i; j++)
            if (strcmp(queries[i], queries[j]) == 0) {
                fetch[i] = fetch[j];
                break;
            }
        if (fetch[i] == n_ranges)
            n_ranges++;
    }
    if (n_ranges && n > BACKTEST_MAX_POINTS / n_ranges) {
        char step[32];
        backtest_format_duration((uint64_t)step_ms, step, sizeof(step));
        fprintf(stderr,
                PROG " %s: %zu queries x %zu evaluations (step %s) = %llu points, over the "
                     "limit of %u: use a larger --step or a shorter range\n",
                VERB, n_ranges, n, step, (unsigned long long)n_ranges * n, BACKTEST_MAX_POINTS);
        goto out;
    }

    struct buf errors;
    buf_init(&errors, 1 << 16);
    int cr = promql_client_new(&r->prometheus, &client, &errors);
    if (cr < 0) {
        fprintf(stderr, PROG " %s: cannot query Prometheus:\n", VERB);
        print_errors(&errors);
        buf_free(&errors);
        goto out;
    }
    buf_free(&errors);

    rc = 1;
    for (size_t i = 0; i < ns; i++) {
        struct promql_range *g = &ranges[fetch[i]];
        series[i] = g;
        if (g->n)
            continue; /* fetched for an earlier signal with the same query */
        if (promql_range_init(g, start_ms, step_ms, n) < 0 ||
            (r->targets.by && !(g->matrix = json_array()))) {
            fprintf(stderr, PROG " %s: out of memory\n", VERB);
            goto out;
        }
        struct promql_result err;
        size_t first, count;
        if (promql_query_range(client, queries[i], g, cli.query_timeout_usec, &err, &first,
                               &count) < 0) {
            char f[64], t[64], step[32];
            backtest_format_time(start_ms + (int64_t)first * step_ms, f, sizeof(f));
            backtest_format_time(start_ms + (int64_t)(first + count - 1) * step_ms, t, sizeof(t));
            backtest_format_duration((uint64_t)step_ms, step, sizeof(step));
            fprintf(stderr,
                    PROG " %s: signal %s: query_range %s .. %s (step %s, points %zu..%zu "
                         "of %zu) failed: %s: %s\n",
                    VERB, r->signals[i].name, f, t, step, first, first + count - 1, n,
                    promql_error_name(err.error), err.detail);
            goto out;
        }
        requests += promql_range_chunks(n);
    }

    /* With targets, every series is replayed (each step's vectors through the daemon's
     * matching); without, each query's one value per step. */
    int q = r->targets.by ? backtest_replay_targets(r, series, cli.flap_window_usec / 1000, &result)
                          : backtest_replay(r, series, cli.flap_window_usec / 1000, &result);
    if (q == -E2BIG) {
        fprintf(stderr,
                PROG " %s: the series hold more than %u points in all: use a larger "
                     "--step, a shorter range or fewer targets\n",
                VERB, BACKTEST_MAX_SERIES_POINTS);
        rc = 2;
        goto out;
    }
    if (q < 0) {
        fprintf(stderr, PROG " %s: %s\n", VERB, q == -ENOMEM ? "out of memory" : strerror(-q));
        goto out;
    }
    struct backtest_about about = {
        .rules_path = cli.config,
        .prometheus_url = r->prometheus.url,
        .queries = (const char *const *)queries,
        .requests = requests,
    };
    if (cli.json) {
        json_t *j = backtest_json(result, &about);
        text = j ? json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
        json_decref(j);
        if (text) {
            text_len = strlen(text);
            char *nl = realloc(text, text_len + 2);
            if (nl) {
                text = nl;
                text[text_len++] = '\n';
                text[text_len] = '\0';
            }
        }
    } else {
        FILE *f = open_memstream(&text, &text_len);
        if (f) {
            backtest_write_text(result, &about, f);
            if (fclose(f) != 0) {
                free(text);
                text = NULL;
            }
        }
    }
    if (!text) {
        fprintf(stderr, PROG " %s: out of memory\n", VERB);
        goto out;
    }
    rc = learn_mode ? 0 : write_output(&cli, text, text_len);
    if (rc == 0 && cli.baselines_output)
        rc = write_baselines(&cli, r, result, start_ms, step_ms, n);
out:
    free(text);
    backtest_result_free(result);
    for (size_t i = 0; ranges && i < ns; i++)
        promql_range_free(&ranges[i]);
    for (size_t i = 0; queries && i < ns; i++)
        free(queries[i]);
    free(queries);
    free(fetch);
    free(ranges);
    free(series);
    promql_client_free(client);
    rules_free(r);
    return rc;
}
