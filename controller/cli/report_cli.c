/* report_cli: `homeostat-controller report`, the health report on the command line: loads
 * the rules, builds the report from Prometheus (report.c), with --baselines compares the
 * learned signals with a baselines file as the daemon's report does (report_baselines.c),
 * prints it as text or JSON or writes it to a file, or into a directory of timestamped
 * reports of which it keeps the newest N (the example systemd timer's use). */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "baseline.h"
#include "buf.h"
#include "fileio.h"
#include "parse.h"
#include "promql.h"
#include "report.h"
#include "report_baselines.h"
#include "report_cli.h"
#include "report_source.h"
#include "rules.h"
#include "step.h"
#include "targets.h"

#define PROG "homeostat-controller report"
#define REPORT_FILE_PREFIX "report-"
#define REPORT_FILE_SUFFIX ".json"
#define REPORT_FILE_LEN 28 /* report-YYYYMMDDTHHMMSSZ.json */
#define REPORT_MAX_KEEP 100000
#define REPORT_MAX_FILES 100000                 /* files looked at in --output-dir */
#define REPORT_MAX_BASELINES_BYTES (256u << 20) /* a --baselines file */

struct report_cli_flags {
    const char *config;
    const char *prometheus_url;
    const char *output;
    const char *output_dir;
    const char *baselines;
    bool json;
    bool quick;
    unsigned keep;
};

enum {
    OPT_CONFIG = 1000,
    OPT_PROM_URL,
    OPT_FORMAT,
    OPT_QUICK,
    OPT_OUTPUT,
    OPT_OUTPUT_DIR,
    OPT_KEEP,
    OPT_BASELINES,
};

static const struct option options[] = {
    {"config", required_argument, NULL, OPT_CONFIG},
    {"prometheus.url", required_argument, NULL, OPT_PROM_URL},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"quick", no_argument, NULL, OPT_QUICK},
    {"output", required_argument, NULL, OPT_OUTPUT},
    {"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
    {"keep", required_argument, NULL, OPT_KEEP},
    {"baselines", required_argument, NULL, OPT_BASELINES},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: homeostat-controller report --config=FILE [FLAGS]\n\n"
               "Builds a health report (score, status, issues, optimizations) from one round\n"
               "of Prometheus queries and the report section of the rules file.\n\n"
               "Flags:\n"
               "  -h, --help                 Show this help and exit.\n"
               "      --config=FILE          The rules file (required).\n"
               "      --prometheus.url=URL   Overrides prometheus.url of the rules file.\n"
               "      --format=FORMAT        text or json (default text).\n"
               "      --quick                Leave out the checks and optimizations marked\n"
               "                             slow.\n"
               "      --baselines=FILE       Compare each learned signal with its baseline\n"
               "                             in FILE (the daemon's STATE_DIR/baselines.json,\n"
               "                             or baseline learn --output's file).\n"
               "      --output=FILE          Write the report to FILE instead of standard\n"
               "                             output.\n"
               "      --output-dir=DIR       Write the report as JSON to\n"
               "                             DIR/report-YYYYMMDDTHHMMSSZ.json (UTC) and print\n"
               "                             its summary line.\n"
               "      --keep=N               With --output-dir: then remove all but the\n"
               "                             newest N reports there; 0 keeps them all\n"
               "                             (default 0).\n");
}

static int parse_flags(int argc, char **argv, struct report_cli_flags *f)
{
    opterr = 0;
    optind = 1;
    int c;
    bool keep_given = false;
    while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 1;
        case OPT_CONFIG: f->config = optarg; break;
        case OPT_PROM_URL: {
            const char *why = rules_url_error(optarg);
            if (why) {
                fprintf(stderr, PROG ": invalid value for --prometheus.url: %s\n", why);
                return -EINVAL;
            }
            f->prometheus_url = optarg;
            break;
        }
        case OPT_FORMAT:
            if (strcmp(optarg, "text") != 0 && strcmp(optarg, "json") != 0) {
                fprintf(stderr,
                        PROG ": invalid value '%.64s' for --format: expected text or json\n",
                        optarg);
                return -EINVAL;
            }
            f->json = strcmp(optarg, "json") == 0;
            break;
        case OPT_QUICK: f->quick = true; break;
        case OPT_OUTPUT: f->output = optarg; break;
        case OPT_OUTPUT_DIR: f->output_dir = optarg; break;
        case OPT_BASELINES: f->baselines = optarg; break;
        case OPT_KEEP:
            if (parse_uint(optarg, &f->keep) < 0 || f->keep > REPORT_MAX_KEEP) {
                fprintf(stderr,
                        PROG ": invalid value '%.64s' for --keep: expected a number from 0 to "
                             "%d\n",
                        optarg, REPORT_MAX_KEEP);
                return -EINVAL;
            }
            keep_given = true;
            break;
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
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'\n", argv[optind]);
        return -EINVAL;
    }
    if (!f->config) {
        fprintf(stderr, PROG ": --config=FILE is required\n");
        return -EINVAL;
    }
    if (f->output && f->output_dir) {
        fprintf(stderr, PROG ": --output and --output-dir cannot be used together\n");
        return -EINVAL;
    }
    if (keep_given && !f->output_dir) {
        fprintf(stderr, PROG ": --keep only applies with --output-dir\n");
        return -EINVAL;
    }
    return 0;
}

static bool is_report_name(const char *s)
{
    static const char shape[] = "report-DDDDDDDDTDDDDDDZ.json";
    if (strlen(s) != REPORT_FILE_LEN)
        return false;
    for (size_t i = 0; i < REPORT_FILE_LEN; i++)
        if (shape[i] == 'D' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return false;
    return true;
}

static int name_cmp_desc(const void *a, const void *b)
{
    return strcmp(*(const char *const *)b, *(const char *const *)a);
}

/* Removes all but the newest keep report-*.json files of dir (names sort by time). */
static int prune(const char *dir, unsigned keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < REPORT_MAX_FILES) {
        if (!is_report_name(de->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **grown = realloc(names, ncap * sizeof(*names));
            if (!grown) {
                r = -ENOMEM;
                break;
            }
            names = grown;
            cap = ncap;
        }
        if (!(names[n] = strdup(de->d_name))) {
            r = -ENOMEM;
            break;
        }
        n++;
    }
    if (r == 0 && n > keep) {
        qsort(names, n, sizeof(*names), name_cmp_desc);
        for (size_t i = keep; i < n; i++)
            if (unlinkat(dirfd(d), names[i], 0) < 0 && errno != ENOENT) {
                r = -errno;
                fprintf(stderr, PROG ": cannot remove %s/%s: %s\n", dir, names[i], strerror(errno));
            }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return r;
}

/* Loads the rules with the --prometheus.url override; 0 or 1 after saying why. */
static int load(const struct report_cli_flags *f, struct rules **ret)
{
    struct buf errors;
    buf_init(&errors, 1 << 20);
    struct rules *r = NULL;
    int ret_code = rules_load_file(f->config, &r, &errors);
    if (ret_code < 0) {
        if (errors.len)
            fprintf(stderr, PROG ": the rules file is invalid:\n%s", errors.data);
        else
            fprintf(stderr, PROG ": cannot read %s: %s\n", f->config, strerror(-ret_code));
        buf_free(&errors);
        return 1;
    }
    buf_free(&errors);
    if (f->prometheus_url) {
        free(r->prometheus.url);
        if (!(r->prometheus.url = strdup(f->prometheus_url))) {
            rules_free(r);
            fprintf(stderr, PROG ": out of memory\n");
            return 1;
        }
    }
    if (!r->prometheus.url) {
        fprintf(stderr, PROG ": %s: prometheus.url is not set (and no --prometheus.url)\n",
                f->config);
        rules_free(r);
        return 1;
    }
    *ret = r;
    return 0;
}

/* One owner's baselines in a --baselines file, {SIGNAL: baseline}, against the rules: each a
 * signal that learns a baseline there, with the same seasonality. 0, or 1 after saying why. */
static int check_owner(const struct report_cli_flags *f, const struct rules *r, const char *owner,
                       const json_t *obj)
{
    if (!json_is_object(obj)) {
        fprintf(stderr, PROG ": %s: the baselines of %s are not an object by signal\n",
                f->baselines, owner);
        return 1;
    }
    const char *name;
    const json_t *b;
    json_object_foreach((json_t *)obj, name, b)
    {
        int i = rules_signal_index(r, name);
        const struct baseline_def *d = i >= 0 ? r->signals[i].baseline : NULL;
        const char *season = json_string_value(json_object_get(b, "season"));
        if (!d) {
            fprintf(stderr,
                    PROG ": %s: signal '%.64s' (of %s) does not learn a baseline in %s: "
                         "baselines of other rules?\n",
                    f->baselines, name, owner, f->config);
            return 1;
        }
        if (!json_is_object(b) || !season || !json_is_object(json_object_get(b, "slots"))) {
            fprintf(stderr, PROG ": %s: signal %s (of %s) is not a baseline\n", f->baselines, name,
                    owner);
            return 1;
        }
        if (baseline_season_parse(season) != (int)d->season) {
            fprintf(stderr,
                    PROG ": %s: signal %s was learned with seasonality %.16s, %s has %s: "
                         "baselines of other rules?\n",
                    f->baselines, name, season, f->config,
                    baseline_season_name((enum baseline_season)d->season));
            return 1;
        }
    }
    return 0;
}

/* One owner's entries of the comparison (labels NULL: the controller's). 0 or 1 (said). */
static int add_owner(struct report_baselines *rb, const struct rules *r, const json_t *obj,
                     const json_t *labels, double now)
{
    struct baseline_set set = {0};
    int ret = baseline_set_init(&set, r);
    if (ret >= 0)
        ret = baseline_set_restore(&set, r, obj);
    if (ret >= 0)
        ret = report_baselines_add(rb, r, &set, NULL, labels, now);
    baseline_set_free(&set);
    if (ret < 0)
        fprintf(stderr, PROG ": out of memory\n");
    return ret < 0;
}

/* --baselines=FILE: the daemon's STATE_DIR/baselines.json ({"baselines": {SIGNAL: ...}}, or
 * {"targets": {KEY: {SIGNAL: ...}}} with targets) or `baseline learn --output`'s (the same
 * with from, to, rules and step_seconds), checked against the rules and added to rb at now
 * (each signal's value queried with the report). 0, or 1 after saying why (rb freed). */
static int load_baselines(const struct report_cli_flags *f, const struct rules *r, double now,
                          struct report_baselines *rb)
{
    bool any = false;
    for (size_t i = 0; i < r->n_signals; i++)
        any |= r->signals[i].baseline != NULL;
    if (!any) {
        fprintf(stderr,
                PROG ": --baselines: %s learns no baseline (no signal has a baseline section)\n",
                f->config);
        return 1;
    }
    char *text = NULL;
    size_t len = 0;
    int ret = file_read_alloc(f->baselines, REPORT_MAX_BASELINES_BYTES, &text, &len);
    if (ret < 0) {
        if (ret == -EFBIG)
            fprintf(stderr, PROG ": %s: larger than %u MiB: not a baselines file\n", f->baselines,
                    REPORT_MAX_BASELINES_BYTES >> 20);
        else
            fprintf(stderr, PROG ": cannot read %s: %s\n", f->baselines, strerror(-ret));
        return 1;
    }
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    free(text);
    const json_t *own = json_object_get(j, "baselines"), *targets = json_object_get(j, "targets");
    int status = 1;
    if (!j) {
        fprintf(stderr, PROG ": %s:%d:%d: not a baselines file: %s\n", f->baselines, err.line,
                err.column, err.text);
    } else if (!json_is_object(own) && !json_is_object(targets)) {
        fprintf(stderr,
                PROG ": %s: not a baselines file: expected {\"baselines\": {SIGNAL: ...}} or "
                     "{\"targets\": {TARGET: {SIGNAL: ...}}}, as the daemon's "
                     "STATE_DIR/baselines.json and baseline learn --output are\n",
                f->baselines);
    } else if (!r->targets.by != !json_is_object(targets)) {
        fprintf(stderr, PROG ": %s: baselines learned from rules %s targets, and %s has %s\n",
                f->baselines, r->targets.by ? "without" : "with", f->config,
                r->targets.by ? "targets" : "none");
    } else if (report_baselines_init(rb, r) < 0) {
        fprintf(stderr, PROG ": out of memory\n");
    } else if (!r->targets.by) {
        status = check_owner(f, r, "the controller", own);
        if (status == 0)
            status = add_owner(rb, r, own, NULL, now);
    } else {
        const char *key;
        const json_t *one;
        size_t n = 0;
        status = 0;
        json_object_foreach((json_t *)targets, key, one)
        {
            char msg[256], again[TARGETS_MAX_KEY];
            json_t *labels = NULL;
            if (targets_parse_labels(key, &labels, msg, sizeof(msg)) < 0 ||
                targets_key(r, labels, again, sizeof(again)) < 0 || strcmp(again, key) != 0) {
                fprintf(stderr,
                        PROG ": %s: target %.256s is not a label set of %s's targets.by: "
                             "baselines of other rules?\n",
                        f->baselines, key, f->config);
                status = 1;
            }
            if (status == 0)
                status = check_owner(f, r, key, one);
            if (status == 0 && n++ < REPORT_BASELINES_MAX_TARGETS)
                status = add_owner(rb, r, one, labels, now);
            json_decref(labels);
            if (status != 0)
                break;
        }
    }
    json_decref(j);
    if (status != 0)
        report_baselines_free(rb);
    return status;
}

static int write_out(const struct report_cli_flags *f, const json_t *rep)
{
    struct buf out;
    buf_init(&out, 0);
    int r = 0;
    char path[4096];
    if (f->json || f->output_dir) {
        char *s = json_dumps(rep, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        r = s ? buf_puts(&out, s) : -ENOMEM;
        if (r == 0)
            r = buf_putc(&out, '\n');
        free(s);
    } else {
        r = report_text(rep, &out);
    }
    if (r < 0) {
        buf_free(&out);
        fprintf(stderr, PROG ": out of memory\n");
        return 1;
    }
    const char *target = f->output;
    if (f->output_dir) {
        time_t now = (time_t)json_number_value(json_object_get(rep, "timestamp"));
        struct tm tm;
        char name[64];
        gmtime_r(&now, &tm);
        strftime(name, sizeof(name), REPORT_FILE_PREFIX "%Y%m%dT%H%M%SZ" REPORT_FILE_SUFFIX, &tm);
        if (path_join(path, sizeof(path), f->output_dir, name) < 0) {
            buf_free(&out);
            fprintf(stderr, PROG ": --output-dir is too long\n");
            return 1;
        }
        target = path;
    }
    if (!target || strcmp(target, "-") == 0) {
        bool ok = fwrite(out.data, 1, out.len, stdout) == out.len && fflush(stdout) == 0;
        buf_free(&out);
        if (!ok) {
            fprintf(stderr, PROG ": cannot write to standard output: %s\n", strerror(errno));
            return 1;
        }
        return 0;
    }
    r = file_write_atomic(target, out.data, out.len, 0640);
    buf_free(&out);
    if (r < 0) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", target, strerror(-r));
        return 1;
    }
    if (f->output_dir) {
        printf("%s: %s\n", target, json_string_value(json_object_get(rep, "summary")));
        fflush(stdout);
        if (f->keep && (r = prune(f->output_dir, f->keep)) < 0) {
            fprintf(stderr, PROG ": cannot prune %s: %s\n", f->output_dir, strerror(-r));
            return 1;
        }
    }
    return 0;
}

int report_cli(int argc, char **argv)
{
    struct report_cli_flags f;
    memset(&f, 0, sizeof(f));
    int r = parse_flags(argc, argv, &f);
    if (r != 0)
        return r > 0 ? 0 : 2;
    struct rules *rules = NULL;
    if (load(&f, &rules) != 0)
        return 1;
    double now = now_realtime();
    struct report_baselines rb = {0};
    if (f.baselines && load_baselines(&f, rules, now, &rb) != 0) {
        rules_free(rules);
        return 1;
    }
    struct buf errors;
    buf_init(&errors, 1 << 16);
    struct http_client_config cfg = rules->prometheus; /* borrowed strings, copied by the client */
    cfg.timeout_usec = rules->report->timeout_usec;
    struct promql_client *c = NULL;
    r = promql_client_new(&cfg, &c, &errors);
    if (r < 0) {
        fprintf(stderr, PROG ": %s", errors.len ? errors.data : "cannot create the client\n");
        buf_free(&errors);
        report_baselines_free(&rb);
        rules_free(rules);
        return 1;
    }
    buf_free(&errors);
    struct report_options o = {
        .quick = f.quick,
        .time = now,
        .prometheus_url = rules->prometheus.url,
        .rules_file = f.config,
        .target_by = (const char *const *)rules->targets.by,
        .n_target_by = rules->targets.n_by,
    };
    json_t *rep = NULL;
    char err[512];
    struct report_source src = {.query = report_source_promql, .ctx = c};
    r = report_build(rules->report, &src, &o, &rep, err, sizeof(err));
    if (r >= 0 && f.baselines)
        r = report_baselines_finish(&rb, &src, o.time, rep, err, sizeof(err));
    report_baselines_free(&rb);
    promql_client_free(c);
    int status = 1;
    if (r < 0)
        fprintf(stderr, PROG ": %s\n", err);
    else
        status = write_out(&f, rep);
    json_decref(rep);
    rules_free(rules);
    return status;
}
