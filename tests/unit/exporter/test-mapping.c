/* test-mapping: the StatsD mapping of exporter/mapping.c: glob matching (whole and partial
 * components), captures into names and labels, first match wins, drop, state mappings,
 * default naming (_total, _seconds, sanitising), buckets and ttl, every load error with
 * its exact position, the built-in conventions, --check-config output, and a mutation
 * loop that must never crash the loader. */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "mapping.h"
#include "test.h"

static const char *kind_name(enum ingest_kind k)
{
    switch (k) {
    case INGEST_KIND_COUNTER: return "counter";
    case INGEST_KIND_GAUGE: return "gauge";
    case INGEST_KIND_HISTOGRAM: return "histogram";
    case INGEST_KIND_STATE: return "state";
    }
    return "?";
}

/* "KIND NAME{l=v,...}", "drop" or "error N" for compact assertions. */
static const char *describe(int r, const struct mapping_result *res)
{
    static char out[2048];
    if (r < 0) {
        snprintf(out, sizeof(out), "error %s", ingest_reason_name((enum ingest_reason) - r));
        return out;
    }
    if (res->drop) {
        snprintf(out, sizeof(out), "drop");
        return out;
    }
    size_t o = (size_t)snprintf(out, sizeof(out), "%s %s", kind_name(res->kind), res->name);
    if (res->n_labels) {
        for (size_t i = 0; i < res->n_labels; i++)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s=%s", i ? "," : "{",
                                  res->label_names[i], res->label_values[i]);
        snprintf(out + o, sizeof(out) - o, "}");
    }
    return out;
}

static const char *apply(const struct mapping *m, const char *name, enum statsd_type t,
                         struct mapping_result *res)
{
    int r = mapping_apply(m, name, strlen(name), t, res);
    return describe(r, res);
}

static struct mapping *load_fixture(const char *rel)
{
    struct buf e = BUF_INIT_MAX(0);
    struct mapping *m = NULL;
    int r = mapping_load_file(test_fixture(rel), NAMING_PROMETHEUS, &m, &e);
    if (r < 0)
        fprintf(stderr, "  loading %s: %d\n%s", rel, r, e.data ? e.data : "");
    buf_free(&e);
    return m;
}

static struct mapping *load_str(const char *yaml, struct buf *e)
{
    struct mapping *m = NULL;
    int r = mapping_load_string(yaml, strlen(yaml), "m.yaml", NAMING_PROMETHEUS, &m, e);
    if (r < 0 && e && e->data)
        fprintf(stderr, "  load failed: %s", e->data);
    return m;
}

static bool buckets_are(const struct mapping_result *res, const double *want, size_t n)
{
    if (res->n_buckets != n || !res->buckets)
        return false;
    for (size_t i = 0; i < n; i++)
        if (res->buckets[i] != want[i])
            return false;
    return true;
}

struct apply_case {
    const char *name;
    enum statsd_type type;
    const char *want; /* describe() */
    int matched;
};

static const struct apply_case valid_cases[] = {
    /* whole-component stars, captures into labels */
    {"myapp.checkout.latency", STATSD_TIMER, "histogram myapp_latency_seconds{route=checkout}", 1},
    {"myapp.checkout.latency", STATSD_HISTOGRAM, "histogram myapp_latency_seconds{route=checkout}",
     1},
    /* first match wins: myapp.*.latency comes before myapp.debug.* */
    {"myapp.debug.latency", STATSD_TIMER, "histogram myapp_latency_seconds{route=debug}", 1},
    {"myapp.debug.anything", STATSD_COUNTER, "drop", 1},
    {"myapp.debug.x.y", STATSD_COUNTER, "counter myapp_debug_x_y_total", 0},
    {"svc.pay.breaker.db.state", STATSD_GAUGE, "state svc_breaker_state{service=pay,breaker=db}",
     1},
    {"svc.pay.breaker.db.state", STATSD_COUNTER, "error bad_type", 1},
    {"svc.pay.breaker.db.state", STATSD_GAUGE_DELTA, "error bad_type", 1},
    /* partial-component stars, ${N} and $$ */
    {"jobs.mail.req_send.count", STATSD_COUNTER,
     "counter jobs_mail_requests_total{queue=mail,kind=send,literal=cost$}", 1},
    {"jobs.mail.req_.count", STATSD_COUNTER, "counter jobs_mail_req_count_total", 0},
    /* captures are sanitised in the name, kept as sent in labels */
    {"api.v-1.get-user", STATSD_GAUGE, "gauge api_get_user{endpoint=v-1}", 1},
    {"api.v1.get", STATSD_GAUGE_DELTA, "gauge api_get{endpoint=v1}", 1},
    /* match_metric_type picks between two mappings of one glob */
    {"web.render_ms_eu", STATSD_TIMER, "histogram web_render_seconds{shard=eu}", 1},
    {"web.render_ms_eu", STATSD_DISTRIBUTION, "histogram web_render_seconds{shard=eu}", 1},
    {"web.render_ms_eu", STATSD_COUNTER, "counter web_render_calls_total", 1},
    {"web.render_ms_eu", STATSD_GAUGE, "gauge web_renderms_eu", 0}, /* ms inside: glued */
    {"web.a_ms_b_ms_c", STATSD_TIMER, "histogram web_a_seconds{shard=b_ms_c}", 1},
    {"web._ms_x", STATSD_TIMER, "histogram webms_x_seconds", 0},
    {"first.second", STATSD_COUNTER, "counter first_wins_total", 1},
    {"plain.gauge", STATSD_GAUGE, "gauge plain_level", 1},
    {"plain.gauge", STATSD_TIMER, "error bad_type", 1},
    /* a mapping without a name keeps the default name and adds its labels */
    {"keep.default.x", STATSD_COUNTER, "counter keep_default_x_total{what=x}", 1},
    {"keep.default.x", STATSD_TIMER, "histogram keep_default_x_seconds{what=x}", 1},
    /* several stars in one component: the earlier ones take as little as possible */
    {"a1b2c.x", STATSD_GAUGE, "gauge abc_1_2", 1},
    /* captured text is snake_cased (promtool rejects camelCase) */
    {"aXbYbZc.x", STATSD_GAUGE, "gauge abc_x_yb_z", 1},
    {"myApp.reqLatency", STATSD_TIMER, "histogram my_app_req_latency_seconds", 0},
    {"abc.x", STATSD_GAUGE, "gauge abc_x", 0},
    {"num.n9", STATSD_GAUGE, "gauge n9_value", 1},
    {"num.9", STATSD_GAUGE, "error bad_name", 1},
    /* unmatched: sanitised, _total for counters, _seconds for timers */
    {"my-app.req", STATSD_COUNTER, "counter my_app_req_total", 0},
    {"my-app.req", STATSD_GAUGE, "gauge my_app_req", 0},
    {"my-app.req", STATSD_TIMER, "histogram my_app_req_seconds", 0},
    {"my-app.req", STATSD_HISTOGRAM, "histogram my_app_req", 0},
    {"my-app.req", STATSD_DISTRIBUTION, "histogram my_app_req", 0},
    {"hits_total", STATSD_COUNTER, "counter hits_total", 0},
    {"db.query_seconds", STATSD_TIMER, "histogram db_query_seconds", 0},
    /* ':' is legal in names but promtool rejects it: sanitised to '_' */
    {"ns:sub/x y", STATSD_GAUGE, "gauge ns_sub_x_y", 0},
    {"1abc", STATSD_COUNTER, "counter _1abc_total", 0}, /* a '_' before a leading digit */
    {"-.-", STATSD_COUNTER, "error bad_name", 0},       /* no word: no name */
    /* the names (docs/INGEST.md's naming table) */
    {"HTTP.requests", STATSD_COUNTER, "counter http_requests_total", 0},
    {"myService.HTTPErrors", STATSD_COUNTER, "counter my_service_http_errors_total", 0},
    {"svc.response.ms", STATSD_TIMER, "histogram svc_response_seconds", 0},
    {"disk.used.mb", STATSD_GAUGE, "gauge disk_used{unit=mb}", 0},
    {"uptime.s", STATSD_GAUGE, "gauge uptime_seconds", 0},
    {"cache.gauge.size", STATSD_GAUGE, "gauge cache_size", 0},
    {"req.time_milliseconds", STATSD_TIMER, "histogram req_time_seconds", 0},
    {"getHTTPResponseCode", STATSD_COUNTER, "counter get_http_response_code_total", 0},
    {"HTTPs.IDs", STATSD_GAUGE, "gauge https_ids", 0},
    {"queue.count", STATSD_GAUGE, "gauge queue_count_value", 0},
    {"x", STATSD_SET, "error set_unsupported", 0},
};

TEST(valid_file_maps_names)
{
    struct mapping *m = load_fixture("mapping/valid.yaml");
    CHECK(m != NULL);
    CHECK_INT(mapping_count(m), 13);
    CHECK(mapping_conventions(m));
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct apply_case *c = &valid_cases[i];
        struct mapping_result res;
        const char *got = apply(m, c->name, c->type, &res);
        if (strcmp(got, c->want) != 0) {
            mapping_free(m);
            TEST_FAIL("%s (type %d): got \"%s\", expected \"%s\"", c->name, c->type, got, c->want);
        }
        if (strncmp(c->want, "error", 5) != 0 && res.matched != c->matched) {
            mapping_free(m);
            TEST_FAIL("%s: matched %d, expected %d", c->name, res.matched, c->matched);
        }
    }
    mapping_free(m);
}

TEST(buckets_ttl_help_and_states)
{
    struct mapping *m = load_fixture("mapping/valid.yaml");
    CHECK(m != NULL);
    struct mapping_result res;
    /* per-mapping buckets, ttl and help */
    CHECK_STR(apply(m, "myapp.x.latency", STATSD_TIMER, &res),
              "histogram myapp_latency_seconds{route=x}");
    static const double own[] = {0.1, 0.5, 1};
    CHECK(buckets_are(&res, own, 3));
    CHECK(res.ttl_usec == 300000000ULL);
    CHECK_STR(res.help, "Latency of myapp.");
    CHECK(res.states == NULL);
    /* the file's default buckets and ttl */
    static const double defaults[] = {0.01, 0.1, 1, 10};
    CHECK_STR(apply(m, "web.render_ms_eu", STATSD_TIMER, &res),
              "histogram web_render_seconds{shard=eu}");
    CHECK(buckets_are(&res, defaults, 4));
    CHECK(res.ttl_usec == 600000000ULL);
    CHECK(res.help == NULL);
    CHECK_STR(apply(m, "unmatched.thing", STATSD_HISTOGRAM, &res), "histogram unmatched_thing");
    CHECK(buckets_are(&res, defaults, 4));
    CHECK(res.ttl_usec == 600000000ULL);
    CHECK_INT(res.matched, 0);
    /* non-histograms carry no buckets */
    CHECK_STR(apply(m, "unmatched.thing", STATSD_COUNTER, &res), "counter unmatched_thing_total");
    CHECK(res.buckets == NULL);
    CHECK_INT(res.n_buckets, 0);
    /* state */
    CHECK_STR(apply(m, "svc.a.breaker.b.state", STATSD_GAUGE, &res),
              "state svc_breaker_state{service=a,breaker=b}");
    CHECK_INT(res.n_states, 3);
    CHECK_STR(res.states[0], "closed");
    CHECK_STR(res.states[1], "open");
    CHECK_STR(res.states[2], "half_open");
    CHECK_STR(res.state_label, "position");
    CHECK(res.buckets == NULL);
    mapping_free(m);
}

TEST(default_buckets_without_a_file)
{
    struct buf e = BUF_INIT_MAX(0);
    struct mapping *m = load_str("mappings:\n  - match: x.*\n    name: x_$1\n", &e);
    CHECK(m != NULL);
    struct mapping_result res;
    CHECK_STR(apply(m, "x.y", STATSD_TIMER, &res), "histogram x_y");
    CHECK(buckets_are(&res, mapping_default_buckets, mapping_default_bucket_count));
    CHECK_INT(mapping_default_bucket_count, 11);
    CHECK(mapping_default_buckets[0] == 0.005);
    CHECK(mapping_default_buckets[10] == 10);
    CHECK(res.ttl_usec == 0);
    CHECK_INT(res.matched, 1);
    mapping_free(m);
    buf_free(&e);
}

TEST(name_and_label_limits_at_apply)
{
    struct mapping *m = load_fixture("mapping/valid.yaml");
    CHECK(m != NULL);
    struct mapping_result res;
    char name[600];
    /* 200 characters are the most a name may have; counters need room for _total */
    memset(name, 'g', 200);
    name[200] = '\0';
    CHECK_STR(apply(m, name, STATSD_GAUGE, &res) + 6, name);
    name[200] = 'g';
    name[201] = '\0';
    CHECK_STR(apply(m, name, STATSD_GAUGE, &res), "error bad_name");
    name[195] = '\0';
    CHECK_STR(apply(m, name, STATSD_COUNTER, &res), "error bad_name");
    name[194] = '\0';
    CHECK_INT(mapping_apply(m, name, strlen(name), STATSD_COUNTER, &res), 0);
    CHECK_INT(strlen(res.name), 200);
    /* a captured label value over 256 bytes, or not UTF-8 */
    size_t o = (size_t)snprintf(name, sizeof(name), "api.");
    memset(name + o, 'v', 257);
    snprintf(name + o + 257, sizeof(name) - o - 257, ".get");
    CHECK_STR(apply(m, name, STATSD_GAUGE, &res), "error bad_name");
    name[o + 256] = '\0';
    memcpy(name + o + 256, ".get", 5);
    CHECK_INT(mapping_apply(m, name, strlen(name), STATSD_GAUGE, &res), 0);
    CHECK_INT(strlen(res.label_values[0]), 256);
    CHECK_STR(apply(m, "api.\xff.get", STATSD_GAUGE, &res), "error bad_name");
    /* embedded NUL, empty name */
    CHECK_INT(mapping_apply(m, "a\0b", 3, STATSD_GAUGE, &res), -INGEST_BAD_NAME);
    CHECK_INT(mapping_apply(m, "", 0, STATSD_GAUGE, &res), -INGEST_BAD_NAME);
    /* only the given length is read */
    CHECK_INT(mapping_apply(m, "plain.gauge.extra", 11, STATSD_GAUGE, &res), 0);
    CHECK_STR(res.name, "plain_level");
    /* more components than any glob: no match, default name */
    CHECK_STR(apply(m, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g",
                    STATSD_GAUGE, &res),
              /* words promtool reads as units (b, d, h, m, s) are glued to the one before */
              "gauge ab_cd_e_f_gh_i_j_k_lm_n_o_p_q_rs_t_u_v_w_x_y_z_ab_cd_e_f_g");
    CHECK_INT(res.matched, 0);
    mapping_free(m);
}

struct convention_case {
    const char *name;
    enum statsd_type type;
    const char *want;
};

static const struct convention_case convention_cases[] = {
    {"shop.request.duration", STATSD_TIMER, "histogram app_request_duration_seconds{service=shop}"},
    {"shop.request.duration", STATSD_HISTOGRAM,
     "histogram app_request_duration_seconds{service=shop}"},
    {"shop.request.duration", STATSD_DISTRIBUTION,
     "histogram app_request_duration_seconds{service=shop}"},
    {"shop.request.success", STATSD_COUNTER,
     "counter app_requests_total{service=shop,result=success}"},
    {"shop.request.failure", STATSD_COUNTER,
     "counter app_requests_total{service=shop,result=failure}"},
    {"shop.cache.users.hit", STATSD_COUNTER,
     "counter app_cache_requests_total{service=shop,cache=users,result=hit}"},
    {"shop.cache.users.miss", STATSD_COUNTER,
     "counter app_cache_requests_total{service=shop,cache=users,result=miss}"},
    {"shop.cache.users.size", STATSD_GAUGE, "gauge app_cache_entries{service=shop,cache=users}"},
    {"shop.cache.users.size", STATSD_GAUGE_DELTA,
     "gauge app_cache_entries{service=shop,cache=users}"},
    {"shop.breaker.db.state", STATSD_GAUGE, "state app_breaker_state{service=shop,breaker=db}"},
    {"shop.breaker.db.transition.closed.open", STATSD_COUNTER,
     "counter app_breaker_transitions_total{service=shop,breaker=db,from=closed,to=open}"},
    {"shop.breaker.db.transition.half_open.closed", STATSD_COUNTER,
     "counter app_breaker_transitions_total{service=shop,breaker=db,from=half_open,to=closed}"},
    /* other types fall through to the default naming */
    {"shop.request.duration", STATSD_COUNTER, "counter shop_request_duration_total"},
    {"shop.request.success", STATSD_GAUGE, "gauge shop_request_success"},
    {"shop.cache.users.size", STATSD_COUNTER, "counter shop_cache_users_size_total"},
    {"shop.breaker.db.state", STATSD_TIMER, "histogram shop_breaker_db_state_seconds"},
    {"shop.breaker.db.state", STATSD_GAUGE_DELTA, "error bad_type"},
    {"my-shop.request.success", STATSD_COUNTER,
     "counter app_requests_total{service=my-shop,result=success}"},
    {"a.b.request.success", STATSD_COUNTER, "counter ab_request_success_total"},
};

static int check_conventions(const struct mapping *m, const double *buckets, size_t n_buckets,
                             uint64_t ttl)
{
    for (size_t i = 0; i < sizeof(convention_cases) / sizeof(convention_cases[0]); i++) {
        const struct convention_case *c = &convention_cases[i];
        struct mapping_result res;
        const char *got = apply(m, c->name, c->type, &res);
        if (strcmp(got, c->want) != 0) {
            fprintf(stderr, "  %s (type %d): got \"%s\", expected \"%s\"\n", c->name, c->type, got,
                    c->want);
            return -1;
        }
        if (strncmp(c->want, "histogram app_", 14) == 0 && !buckets_are(&res, buckets, n_buckets)) {
            fprintf(stderr, "  %s: unexpected buckets\n", c->name);
            return -1;
        }
        if (strstr(c->want, " app_") && (!res.help || res.ttl_usec != ttl || !res.matched)) {
            fprintf(stderr, "  %s: help, ttl or matched wrong\n", c->name);
            return -1;
        }
    }
    return 0;
}

TEST(conventions_by_default)
{
    struct mapping *m = NULL;
    CHECK_INT(mapping_default(NAMING_PROMETHEUS, &m), 0);
    CHECK(m != NULL);
    CHECK_INT(mapping_count(m), 0);
    CHECK_INT(check_conventions(m, mapping_default_buckets, mapping_default_bucket_count, 0), 0);
    struct mapping_result res;
    CHECK_STR(apply(m, "shop.breaker.db.state", STATSD_GAUGE, &res),
              "state app_breaker_state{service=shop,breaker=db}");
    CHECK_INT(res.n_states, 3);
    CHECK_STR(res.states[0], "closed");
    CHECK_STR(res.states[1], "open");
    CHECK_STR(res.states[2], "half_open");
    CHECK_STR(res.state_label, "state");
    /* success and failure share one family, so one help text */
    CHECK_STR(apply(m, "s.request.success", STATSD_COUNTER, &res),
              "counter app_requests_total{service=s,result=success}");
    const char *help = res.help;
    CHECK_STR(apply(m, "s.request.failure", STATSD_COUNTER, &res),
              "counter app_requests_total{service=s,result=failure}");
    CHECK_STR(res.help, help);
    CHECK_STR(apply(m, "s.cache.c.hit", STATSD_COUNTER, &res),
              "counter app_cache_requests_total{service=s,cache=c,result=hit}");
    help = res.help;
    CHECK_STR(apply(m, "s.cache.c.miss", STATSD_COUNTER, &res),
              "counter app_cache_requests_total{service=s,cache=c,result=miss}");
    CHECK_STR(res.help, help);
    mapping_free(m);
}

TEST(conventions_follow_file_mappings_and_defaults)
{
    struct mapping *m = load_fixture("mapping/valid.yaml");
    CHECK(m != NULL);
    static const double defaults[] = {0.01, 0.1, 1, 10};
    CHECK_INT(check_conventions(m, defaults, 4, 600000000ULL), 0);
    mapping_free(m);

    /* a file mapping comes first and wins over a convention */
    struct buf e = BUF_INIT_MAX(0);
    m = load_str("mappings:\n"
                 "  - match: \"shop.request.*\"\n"
                 "    name: shop_$1\n",
                 &e);
    CHECK(m != NULL);
    struct mapping_result res;
    CHECK_STR(apply(m, "shop.request.success", STATSD_COUNTER, &res), "counter shop_success_total");
    CHECK_STR(apply(m, "web.request.success", STATSD_COUNTER, &res),
              "counter app_requests_total{service=web,result=success}");
    mapping_free(m);
    buf_free(&e);
}

TEST(conventions_false_disables_them)
{
    struct buf e = BUF_INIT_MAX(0);
    struct mapping *m = load_str("defaults: {conventions: false}\n", &e);
    CHECK(m != NULL);
    CHECK(!mapping_conventions(m));
    struct mapping_result res;
    CHECK_STR(apply(m, "shop.request.success", STATSD_COUNTER, &res),
              "counter shop_request_success_total");
    CHECK_INT(res.matched, 0);
    CHECK_STR(apply(m, "shop.breaker.db.state", STATSD_GAUGE, &res), "gauge shop_breaker_db_state");
    mapping_free(m);

    /* an empty file: conventions only */
    m = load_str("", &e);
    CHECK(m != NULL);
    CHECK_INT(mapping_count(m), 0);
    CHECK_STR(apply(m, "shop.request.success", STATSD_COUNTER, &res),
              "counter app_requests_total{service=shop,result=success}");
    mapping_free(m);
    CHECK_INT(e.len, 0);
    buf_free(&e);
}

struct error_case {
    const char *yaml;
    const char *errors;
};

/* Each is a whole file (one or two mappings) and every line it must report. */
static const struct error_case error_cases[] = {
    {"- a\n", "m.yaml:1:1: expected a map with 'mappings' and 'defaults', got a sequence\n"},
    {"mapings: []\n", "m.yaml:1:1: unknown key 'mapings'; did you mean 'mappings'?\n"},
    {"mappings: {a: 1}\n", "m.yaml:1:11: expected a sequence, got a map\n"},
    {"mappings:\n  - name: x\n", "m.yaml:2:5: mapping has no 'match'\n"},
    {"mappings:\n  - match: [a]\n", "m.yaml:2:12: expected a string, got a sequence\n"},
    {"mappings:\n  - match: \"\"\n", "m.yaml:2:12: match is empty\n"},
    {"mappings:\n  - match: a..b\n", "m.yaml:2:12: match 'a..b' has an empty component\n"},
    {"mappings:\n  - match: .a\n", "m.yaml:2:12: match '.a' has an empty component\n"},
    {"mappings:\n  - match: a.\n", "m.yaml:2:12: match 'a.' has an empty component\n"},
    {"mappings:\n  - match: a.**\n",
     "m.yaml:2:12: match 'a.**' has '**'; a '*' matches one or more characters of one "
     "component\n"},
    {"mappings:\n  - match: \"a:b\"\n",
     "m.yaml:2:12: match 'a:b' contains ':', which a StatsD name cannot contain\n"},
    {"mappings:\n  - match: \"a b\"\n",
     "m.yaml:2:12: match 'a b' contains ? (a space or control character), which a StatsD name "
     "cannot contain\n"},
    {"mappings:\n  - match: \"*.*.*.*.*.*.*.*.*.*\"\n",
     "m.yaml:2:12: match '*.*.*.*.*.*.*.*.*.*' has more than 9 '*'\n"},
    {"mappings:\n  - match: a.*.*\n    name: x_$3\n",
     "m.yaml:3:11: name 'x_$3' uses $3 but the match has only 2 '*'\n"},
    {"mappings:\n  - match: a.*\n    name: x_$0\n",
     "m.yaml:3:11: name 'x_$0' uses $0; captures are numbered from $1\n"},
    {"mappings:\n  - match: a.*\n    name: x_$a\n",
     "m.yaml:3:11: name 'x_$a': '$' must be followed by a capture number ($1 to $9 or ${1}) or "
     "'$'\n"},
    {"mappings:\n  - match: a.*\n    name: 1x_$1\n",
     "m.yaml:3:11: name '1x_$1' is not a valid metric name (letters, digits, '_' and ':', not "
     "starting with a digit)\n"},
    {"mappings:\n  - match: a.*\n    name: my-app\n",
     "m.yaml:3:11: name 'my-app' is not a valid metric name (letters, digits, '_' and ':', not "
     "starting with a digit)\n"},
    {"mappings:\n  - match: a.*\n    name: $1\n", ""}, /* valid: checked at apply */
    {"mappings:\n  - match: a.*\n    name: process_cpu\n",
     "m.yaml:3:11: name 'process_cpu' is reserved for the exporter's own metrics\n"},
    {"mappings:\n  - match: a.*\n    type: summary\n",
     "m.yaml:3:11: type must be counter, gauge, histogram or state, got 'summary'\n"},
    {"mappings:\n  - match: a.*\n    match_metric_type: timer\n",
     "m.yaml:3:24: match_metric_type must be counter, gauge or observer, got 'timer'\n"},
    {"mappings:\n  - match: a.*\n    match_metric_type: counter\n    type: histogram\n",
     "m.yaml:4:11: type histogram never applies to match_metric_type counter\n"},
    {"mappings:\n  - match: a.*\n    action: keep\n",
     "m.yaml:3:13: action must be map or drop, got 'keep'\n"},
    {"mappings:\n  - match: a.*\n    action: drop\n    labels: {a: b}\n    help: h\n",
     "m.yaml:4:5: 'labels' has no effect with action: drop\n"
     "m.yaml:5:5: 'help' has no effect with action: drop\n"},
    {"mappings:\n  - match: a.*\n    buckets: [1, 1]\n",
     "m.yaml:3:18: buckets must be strictly ascending: 1 after 1\n"},
    {"mappings:\n  - match: a.*\n    buckets: [2, 1, 3, .nan]\n",
     "m.yaml:3:18: buckets must be strictly ascending: 1 after 2\n"
     "m.yaml:3:24: bucket .nan is not a finite number\n"},
    {"mappings:\n  - match: a.*\n    buckets: [1, x]\n",
     "m.yaml:3:18: expected a number, got 'x'\n"},
    {"mappings:\n  - match: a.*\n    buckets: []\n", "m.yaml:3:14: buckets is empty\n"},
    {"mappings:\n  - match: a.*\n    buckets: 1\n", "m.yaml:3:14: expected a sequence, got '1'\n"},
    {"mappings:\n  - match: a.*\n    type: gauge\n    buckets: [1]\n",
     "m.yaml:4:14: buckets only apply to histograms\n"},
    {"mappings:\n  - match: a.*\n    match_metric_type: counter\n    buckets: [1]\n",
     "m.yaml:4:14: buckets only apply to histograms\n"},
    {"mappings:\n  - match: a.*\n    ttl: 5 minutes\n",
     "m.yaml:3:10: expected a duration such as 30s, 5m or 1h30m, got '5 minutes'\n"},
    {"mappings:\n  - match: a.*\n    labels: [a]\n",
     "m.yaml:3:13: expected a map, got a sequence\n"},
    {"mappings:\n  - match: a.*\n    labels: {a-b: x, __x: y, 0a: z}\n",
     "m.yaml:3:14: invalid label name 'a-b' (letters, digits and '_', not starting with a digit "
     "or '__')\n"
     "m.yaml:3:22: invalid label name '__x' (letters, digits and '_', not starting with a digit "
     "or '__')\n"
     "m.yaml:3:30: invalid label name '0a' (letters, digits and '_', not starting with a digit "
     "or '__')\n"},
    {"mappings:\n  - match: a.*\n    labels: {le: x}\n",
     "m.yaml:3:14: label 'le' is reserved for histogram buckets\n"},
    {"mappings:\n  - match: a.*\n    labels: {x: $2}\n",
     "m.yaml:3:17: label value '$2' uses $2 but the match has only 1 '*'\n"},
    {"mappings:\n  - match: a.*\n    labels: {x: {y: z}}\n",
     "m.yaml:3:17: expected a string, got a map\n"},
    {"mappings:\n  - match: a.*\n    labels: {x: ~}\n",
     "m.yaml:3:17: expected a string, got null\n"},
    {"mappings:\n  - match: a.*\n    labels: {x: 1, x: 2}\n",
     "m.yaml:3:20: duplicate key 'x' (first at 3:14)\n"},
    {"mappings:\n  - match: a.*\n    help: [h]\n",
     "m.yaml:3:11: expected a string, got a sequence\n"},
    {"mappings:\n  - match: a.*\n    type: state\n", "m.yaml:3:11: type: state needs 'states'\n"},
    {"mappings:\n  - match: a.*\n    states: [a]\n",
     "m.yaml:3:13: states only apply to type: state\n"},
    {"mappings:\n  - match: a.*\n    state_label: s\n",
     "m.yaml:3:18: state_label only applies to type: state\n"},
    {"mappings:\n  - match: a.*\n    type: state\n    states: []\n",
     "m.yaml:4:13: states must list 1 to 16 names, got 0\n"},
    {"mappings:\n  - match: a.*\n    type: state\n    states: [a, b, a, \"\"]\n",
     "m.yaml:4:20: duplicate state 'a'\n"
     "m.yaml:4:23: state '' is not a valid label value (1 to 256 bytes of UTF-8)\n"},
    {"mappings:\n  - match: a.*\n    type: state\n    states: [a]\n    state_label: 9x\n",
     "m.yaml:5:18: state_label '9x' is not a valid label name\n"},
    {"mappings:\n  - match: a.*\n    type: state\n    states: [a]\n    labels: {state: x}\n",
     "m.yaml:5:14: label 'state' is the state label\n"},
    {"mappings:\n  - match: a.*\n    type: state\n    states: [a]\n    match_metric_type: "
     "observer\n",
     "m.yaml:3:11: type state never applies to match_metric_type observer\n"},
    {"mappings:\n  - match: a.*\n  - match: b.*\n  - match: a.*\n  - match: a.*\n",
     "m.yaml:4:12: duplicate match 'a.*' (first at 2:12)\n"
     "m.yaml:5:12: duplicate match 'a.*' (first at 2:12)\n"},
    {"mappings:\n  - match: a.*\n    match_metric_type: counter\n  - match: a.*\n", ""},
    {"mappings:\n  - match: a.*\n    nmae: x\n    bukets: [1]\n",
     "m.yaml:3:5: unknown key 'nmae'; did you mean 'name'?\n"
     "m.yaml:4:5: unknown key 'bukets'; did you mean 'buckets'?\n"},
    {"mappings:\n  - a.*\n", "m.yaml:2:5: expected a map, got 'a.*'\n"},
    {"defaults: [1]\n", "m.yaml:1:11: expected a map, got a sequence\n"},
    {"defaults: {timer_type: summary}\n",
     "m.yaml:1:24: timer_type must be histogram, got 'summary'\n"},
    {"defaults: {conventions: \"no\"}\n", "m.yaml:1:25: expected true or false, got a string\n"},
    {"mappings: [\n", "m.yaml:2:1: did not find expected node content (while parsing a flow "
                      "node at 2:1)\n"},
    {"a: 1\n---\nb: 2\n", "m.yaml:2:1: expected a single document, found another one\n"},
};

TEST(every_error_with_its_position)
{
    for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        struct buf e = BUF_INIT_MAX(0);
        struct mapping *m = NULL;
        int r = mapping_load_string(c->yaml, strlen(c->yaml), "m.yaml", NAMING_PROMETHEUS, &m, &e);
        const char *got = e.data ? e.data : "";
        if (strcmp(got, c->errors) != 0 || (r < 0) != (*c->errors != '\0')) {
            fprintf(stderr, "  case %zu:\n%s  got (%d):\n%s  expected:\n%s", i, c->yaml, r, got,
                    c->errors);
            mapping_free(m);
            buf_free(&e);
            TEST_FAIL("error case %zu", i);
        }
        if (r < 0) {
            CHECK_INT(r, -EINVAL);
            CHECK(m == NULL);
        }
        mapping_free(m);
        buf_free(&e);
    }
}

/* Loads yaml (built by the caller) and compares the errors. */
static int expect_errors(const char *yaml, const char *want)
{
    struct buf e = BUF_INIT_MAX(0);
    struct mapping *m = NULL;
    int r = mapping_load_string(yaml, strlen(yaml), "m.yaml", NAMING_PROMETHEUS, &m, &e);
    int ok = r == -EINVAL && m == NULL && e.data && strcmp(e.data, want) == 0;
    if (!ok)
        fprintf(stderr, "  got %d:\n%s  expected:\n%s", r, e.data ? e.data : "", want);
    mapping_free(m);
    buf_free(&e);
    return ok ? 0 : -1;
}

TEST(count_limits)
{
    struct buf y = BUF_INIT_MAX(0);
    /* 17 labels; 16 are fine */
    buf_puts(&y, "mappings:\n  - match: a.*\n    labels:\n");
    for (int i = 0; i < 16; i++)
        buf_printf(&y, "      l%d: v\n", i);
    struct mapping *m = NULL;
    CHECK_INT(mapping_load_string(y.data, y.len, "m.yaml", NAMING_PROMETHEUS, &m, NULL), 0);
    struct mapping_result res;
    CHECK_INT(mapping_apply(m, "a.b", 3, STATSD_GAUGE, &res), 0);
    CHECK_INT(res.n_labels, 16);
    CHECK_STR(res.label_names[15], "l15");
    mapping_free(m);
    buf_puts(&y, "      l16: v\n");
    CHECK_INT(expect_errors(y.data, "m.yaml:4:7: more than 16 labels\n"), 0);

    /* a state mapping has room for 15, the state label being the 16th */
    buf_reset(&y);
    buf_puts(&y, "mappings:\n  - match: a.*\n    type: state\n    states: [x]\n    labels:\n");
    for (int i = 0; i < 16; i++)
        buf_printf(&y, "      l%d: v\n", i);
    CHECK_INT(expect_errors(y.data, "m.yaml:6:7: more than 15 labels (the state label counts)\n"),
              0);

    /* 17 states */
    buf_reset(&y);
    buf_puts(&y, "mappings:\n  - match: a.*\n    type: state\n    states: [");
    for (int i = 0; i < 17; i++)
        buf_printf(&y, "%ss%d", i ? ", " : "", i);
    buf_puts(&y, "]\n");
    CHECK_INT(expect_errors(y.data, "m.yaml:4:13: states must list 1 to 16 names, got 17\n"), 0);

    /* 65 buckets */
    buf_reset(&y);
    buf_puts(&y, "defaults:\n  buckets: [");
    for (int i = 0; i < 65; i++)
        buf_printf(&y, "%s%d", i ? ", " : "", i + 1);
    buf_puts(&y, "]\n");
    CHECK_INT(expect_errors(y.data, "m.yaml:2:12: more than 64 buckets\n"), 0);

    /* 33 components, 257 characters */
    buf_reset(&y);
    buf_puts(&y, "mappings:\n  - match: a");
    for (int i = 0; i < 32; i++)
        buf_puts(&y, ".a");
    buf_puts(&y, "\n");
    CHECK_INT(expect_errors(y.data, "m.yaml:2:12: match 'a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a."
                                    "a.a.a.a.a.a.a.a.a.a.a.a' has more than 32 components\n"),
              0);
    buf_reset(&y);
    buf_puts(&y, "mappings:\n  - match: ");
    for (int i = 0; i < 257; i++)
        buf_putc(&y, 'x');
    buf_puts(&y, "\n");
    CHECK_INT(expect_errors(y.data, "m.yaml:2:12: match is longer than 256 characters\n"), 0);
    buf_free(&y);
}

TEST(all_errors_of_a_file_at_once)
{
    struct buf e = BUF_INIT_MAX(0);
    struct mapping *m = NULL;
    const char *path = test_fixture("mapping/errors.yaml");
    char file[4096];
    snprintf(file, sizeof(file), "%s", path);
    CHECK_INT(mapping_load_file(file, NAMING_PROMETHEUS, &m, &e), -EINVAL);
    CHECK(m == NULL);
    static const char *const want[] = {
        ":3:16: buckets must be strictly ascending: 0.5 after 1",
        ":3:21: bucket .inf is not a finite number",
        ":4:8: expected a duration such as 30s, 5m or 1h30m, got 'forever'",
        ":5:15: timer_type must be histogram, got 'summary'",
        ":6:16: expected true or false, got 'maybe'",
        ":7:3: unknown key 'tresholds'",
        ":9:12: match 'a..b' has an empty component",
        ":11:12: match is empty",
        ":13:11: name 'app_$3' uses $3 but the match has only 2 '*'",
        ":14:14: invalid label name 'bad-label' (letters, digits and '_', not starting with a "
        "digit or '__')",
        ":14:33: label 'le' is reserved for histogram buckets",
        ":14:46: label value '$9' uses $9 but the match has only 2 '*'",
        ":16:11: name '1app' is not a valid metric name (letters, digits, '_' and ':', not "
        "starting with a digit)",
        ":17:12: duplicate match 'app.*' (first at 15:12)",
        ":21:5: 'name' has no effect with action: drop",
        ":23:13: action must be map or drop, got 'skip'",
        ":25:11: type: state needs 'states'",
        ":28:14: buckets only apply to histograms",
        ":29:10: expected a duration such as 30s, 5m or 1h30m, got '-1s'",
        ":30:5: unknown key 'nme'; did you mean 'name'?",
        ":33:11: name 'homeostat_stolen' is reserved for the exporter's own metrics",
        ":34:11: expected a string, got a sequence",
        ":35:5: expected a map, got a string",
    };
    struct buf expect = BUF_INIT_MAX(0);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        buf_printf(&expect, "%s%s\n", file, want[i]);
    CHECK_STR(e.data, expect.data);
    buf_free(&expect);
    buf_free(&e);
}

TEST(load_file_errors)
{
    struct buf e = BUF_INIT_MAX(0);
    struct mapping *m = NULL;
    CHECK_INT(mapping_load_file("/nonexistent/mapping.yaml", NAMING_PROMETHEUS, &m, &e), -ENOENT);
    CHECK_STR(e.data, "/nonexistent/mapping.yaml: cannot read: No such file or directory\n");
    CHECK(m == NULL);
    buf_free(&e);
}

static char *check_output(const char *path, int *ret)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    *ret = mapping_check_file(path, NAMING_PROMETHEUS, f);
    fclose(f);
    return out;
}

TEST(check_file_output)
{
    int r = -1;
    char path[4096];
    snprintf(path, sizeof(path), "%s", test_fixture("mapping/valid.yaml"));
    char *out = check_output(path, &r);
    CHECK(out != NULL);
    CHECK_INT(r, 0);
    char want[8192];
    snprintf(want, sizeof(want), "%s: OK (13 mappings)\n", path);
    CHECK_STR(out, want);
    free(out);

    snprintf(path, sizeof(path), "%s", test_fixture("mapping/errors.yaml"));
    out = check_output(path, &r);
    CHECK(out != NULL);
    CHECK_INT(r, 1);
    snprintf(want, sizeof(want), "%s:3:16: buckets must be strictly ascending: 0.5 after 1\n",
             path);
    CHECK(strncmp(out, want, strlen(want)) == 0);
    snprintf(want, sizeof(want), "\n%s: FAILED (23 errors)\n", path);
    CHECK(strlen(out) > strlen(want) && strcmp(out + strlen(out) - strlen(want), want) == 0);
    free(out);

    out = check_output("/nonexistent/m.yaml", &r);
    CHECK(out != NULL);
    CHECK_INT(r, 1);
    CHECK_STR(out, "/nonexistent/m.yaml: cannot read: No such file or directory\n"
                   "/nonexistent/m.yaml: FAILED (1 error)\n");
    free(out);
}

TEST(mapping_one_mapping_counts)
{
    char *dir = test_tmpdir();
    CHECK(dir != NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/one.yaml", dir);
    const char *y = "mappings:\n  - match: a.*\n    name: a_$1\n";
    CHECK_INT(file_write_atomic(path, y, strlen(y), 0644), 0);
    int r = -1;
    char *out = check_output(path, &r);
    CHECK(out != NULL);
    CHECK_INT(r, 0);
    char want[512];
    snprintf(want, sizeof(want), "%s: OK (1 mapping)\n", path);
    CHECK_STR(out, want);
    free(out);
    unlink(path);
    rmdir(dir);
}

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

TEST(mutations_never_crash)
{
    char *base = NULL;
    size_t base_len = 0;
    CHECK_INT(file_read_alloc(test_fixture("mapping/valid.yaml"), 1 << 16, &base, &base_len), 0);
    static const char alphabet[] = ":-[]{}*$.&!|>'\"\n #,?%@`~0123456789abc\t\\";
    static const char *const names[] = {
        "myapp.x.latency",
        "svc.a.breaker.b.state",
        "jobs.q.req_x.count",
        "web.a_ms_b",
        "api.v1.get",
        "shop.request.success",
        "a1b2c.x",
        "x",
    };
    static const enum statsd_type types[] = {STATSD_COUNTER, STATSD_GAUGE, STATSD_TIMER,
                                             STATSD_GAUGE_DELTA, STATSD_DISTRIBUTION};
    char *buf = malloc(base_len * 2 + 64);
    CHECK(buf != NULL);
    int loaded = 0, rejected = 0;
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(buf, base, base_len);
        size_t len = base_len;
        int n_mut = 1 + (int)(rng() % 4);
        for (int k = 0; k < n_mut && len > 0; k++) {
            size_t pos = (size_t)(rng() % len);
            switch (rng() % 6) {
            case 0: /* replace a byte */ buf[pos] = alphabet[rng() % (sizeof(alphabet) - 1)]; break;
            case 1: /* random byte, any value */ buf[pos] = (char)(rng() & 0xff); break;
            case 2: { /* delete a range */
                size_t n = 1 + (size_t)(rng() % 16);
                if (pos + n > len)
                    n = len - pos;
                memmove(buf + pos, buf + pos + n, len - pos - n);
                len -= n;
                break;
            }
            case 3: /* insert a byte */
                if (len < base_len * 2 + 32) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    buf[pos] = alphabet[rng() % (sizeof(alphabet) - 1)];
                    len++;
                }
                break;
            case 4: /* truncate */ len = pos; break;
            default: { /* duplicate a chunk */
                size_t n = 1 + (size_t)(rng() % 24);
                if (pos + n > len)
                    n = len - pos;
                if (len + n <= base_len * 2 + 32) {
                    memmove(buf + pos + n, buf + pos, len - pos);
                    len += n;
                }
                break;
            }
            }
        }
        struct buf e;
        buf_init(&e, 1 << 16);
        struct mapping *m = NULL;
        int r = mapping_load_string(buf, len, "fuzz.yaml", NAMING_PROMETHEUS, &m, &e);
        if (r == 0) {
            CHECK(m != NULL);
            loaded++;
            for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
                    struct mapping_result res;
                    int ar = mapping_apply(m, names[i], strlen(names[i]), types[t], &res);
                    if (ar == 0 && !res.drop && !metric_name_valid(res.name)) {
                        mapping_free(m);
                        buf_free(&e);
                        free(buf);
                        free(base);
                        TEST_FAIL("iteration %d: invalid name '%s'", iter, res.name);
                    }
                }
        } else {
            CHECK(m == NULL);
            CHECK(r == -EINVAL);
            /* every failure says why, one positioned line at least */
            CHECK(e.len > 0 && strncmp(e.data, "fuzz.yaml", 9) == 0);
            rejected++;
        }
        mapping_free(m);
        buf_free(&e);
    }
    free(buf);
    free(base);
    fprintf(stderr, "  %d loaded, %d rejected\n", loaded, rejected);
    CHECK(loaded > 50);
    CHECK(rejected > 50);
}

TEST_MAIN(TEST_ENTRY(valid_file_maps_names), TEST_ENTRY(buckets_ttl_help_and_states),
          TEST_ENTRY(default_buckets_without_a_file), TEST_ENTRY(name_and_label_limits_at_apply),
          TEST_ENTRY(conventions_by_default),
          TEST_ENTRY(conventions_follow_file_mappings_and_defaults),
          TEST_ENTRY(conventions_false_disables_them), TEST_ENTRY(every_error_with_its_position),
          TEST_ENTRY(count_limits), TEST_ENTRY(all_errors_of_a_file_at_once),
          TEST_ENTRY(load_file_errors), TEST_ENTRY(check_file_output),
          TEST_ENTRY(mapping_one_mapping_counts), TEST_ENTRY(mutations_never_crash))
