/* test-backtest: controller/cli/backtest.c and the range half of controller/clients/promql.c. Time
 * parsing (RFC 3339, Unix seconds, now, -DURATION), the chunk arithmetic around
 * Prometheus' 11,000 points, range replies (the boundary between two chunks, gaps,
 * several series, NaN, native histograms, points off the grid), promql_query_range
 * against a fake Prometheus that refuses more than 11,000 points as the real one does
 * (chunk requests, auth header, nocache=1, merge, a failing chunk), the replay of a synthetic
 * series into the expected timeline and summary (outcomes, flaps, missing data), a
 * regulator's trajectory over a recorded p95 (alone, and per target with targets), and
 * `homeostat-controller test` agreeing with the backtest on the same series, the
 * regulator's outputs included. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "backtest.h"
#include "buf.h"
#include "evaluate.h"
#include "fileio.h"
#include "httpd.h"
#include "promql.h"
#include "ruletest.h"
#include "rules.h"
#include "test.h"

#define NOW_MS 1714564800000LL /* 2024-05-01T12:00:00Z */

/* ---- times ------------------------------------------------------------------------- */

static int64_t t_or(const char *s, int64_t fallback)
{
    int64_t v = fallback;
    if (backtest_parse_time(s, NOW_MS, &v) < 0)
        return fallback;
    return v;
}

TEST(time_forms)
{
    CHECK_INT(t_or("2024-05-01T12:00:00Z", -1), NOW_MS);
    CHECK_INT(t_or("2024-05-01t12:00:00z", -1), NOW_MS);
    CHECK_INT(t_or("2024-05-01 12:00:00Z", -1), NOW_MS);
    CHECK_INT(t_or("2024-05-01T14:00:00+02:00", -1), NOW_MS);
    CHECK_INT(t_or("2024-05-01T06:30:00-05:30", -1), NOW_MS);
    CHECK_INT(t_or("2024-05-01T12:00:00.25Z", -1), NOW_MS + 250);
    CHECK_INT(t_or("2024-05-01T12:00:00.123456789Z", -1), NOW_MS + 123);
    CHECK_INT(t_or("1970-01-01T00:00:00Z", -1), 0);
    CHECK_INT(t_or("2000-02-29T00:00:00Z", -1), 951782400000LL);
    CHECK_INT(t_or("2024-12-31T23:59:59Z", -1), 1735689599000LL);
    CHECK_INT(t_or("1714564800", -1), NOW_MS);
    CHECK_INT(t_or("1714564800.5", -1), NOW_MS + 500);
    CHECK_INT(t_or("now", -1), NOW_MS);
    CHECK_INT(t_or("-24h", -1), NOW_MS - 86400000LL);
    CHECK_INT(t_or("-7d", -1), NOW_MS - 7 * 86400000LL);
    CHECK_INT(t_or("-1h30m", -1), NOW_MS - 5400000LL);
    CHECK_INT(t_or("-250ms", -1), NOW_MS - 250);
}

TEST(time_rejects)
{
    static const char *const bad[] = {
        "",
        "yesterday",
        "Now",
        "-",
        "-x",
        "--1h",
        "-1y",
        "+1h",
        "2024-05-01",
        "2024-05-01T12:00:00",        /* no offset */
        "2024-05-01T12:00Z",          /* no seconds */
        "2024-13-01T12:00:00Z",       /* month */
        "2023-02-29T12:00:00Z",       /* not a leap year */
        "2024-04-31T12:00:00Z",       /* April has 30 days */
        "2024-05-01T24:00:00Z",       /* hour */
        "2024-05-01T12:60:00Z",       /* minute */
        "2024-05-01T12:00:61Z",       /* second */
        "2024-05-01T12:00:00+2:00",   /* offset */
        "2024-05-01T12:00:00+02:00x", /* trailing */
        "2024-05-01T12:00:00.Z",      /* empty fraction */
        "1714564800.",
        "1714564800x",
        "17145648000000", /* past the year 33658 */
        "1e9",
        " 1714564800",
        "0x10",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 42;
        if (backtest_parse_time(bad[i], NOW_MS, &v) != -EINVAL || v != 42)
            TEST_FAIL("'%s' was accepted (%lld)", bad[i], (long long)v);
    }
    char longer[200];
    memset(longer, '1', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    int64_t v = 42;
    CHECK_INT(backtest_parse_time(longer, NOW_MS, &v), -EINVAL);
}

/* ---- chunking ---------------------------------------------------------------------- */

TEST(chunk_arithmetic)
{
    CHECK_INT(PROMQL_RANGE_MAX_POINTS, 11000);
    CHECK_INT(promql_range_chunks(1), 1);
    CHECK_INT(promql_range_chunks(10999), 1);
    CHECK_INT(promql_range_chunks(11000), 1);
    CHECK_INT(promql_range_chunks(11001), 2);
    CHECK_INT(promql_range_chunks(21601), 2); /* 6 h at 1 s */
    CHECK_INT(promql_range_chunks(22000), 2);
    CHECK_INT(promql_range_chunks(22001), 3);
    CHECK_INT(promql_range_chunks(604801), 55); /* 1 week at 1 s */
    size_t first, count;
    promql_range_chunk(11000, 0, &first, &count);
    CHECK_INT(first, 0);
    CHECK_INT(count, 11000); /* (end - start) / step = 10999 <= 11000 */
    promql_range_chunk(11001, 1, &first, &count);
    CHECK_INT(first, 11000);
    CHECK_INT(count, 1);
    promql_range_chunk(21601, 0, &first, &count);
    CHECK_INT(first, 0);
    CHECK_INT(count, 11000);
    promql_range_chunk(21601, 1, &first, &count);
    CHECK_INT(first, 11000);
    CHECK_INT(count, 10601);
    promql_range_chunk(21601, 2, &first, &count); /* past the last: empty */
    CHECK_INT(first, 21601);
    CHECK_INT(count, 0);
    /* Every point in exactly one chunk, each chunk within the limit. */
    for (size_t n = 1; n < 50000; n += 997) {
        size_t next = 0;
        for (size_t i = 0; i < promql_range_chunks(n); i++) {
            promql_range_chunk(n, i, &first, &count);
            CHECK_INT(first, next);
            CHECK(count >= 1 && count <= PROMQL_RANGE_MAX_POINTS);
            next = first + count;
        }
        CHECK_INT(next, n);
    }
}

/* ---- range replies ----------------------------------------------------------------- */

#define START_MS 1700000000000LL

/* A matrix reply body with one series per spec: "k:v k:v ..." (point index : value
 * string, "h" for a native histogram), at START_MS + k * step_ms. */
static char *matrix_body(int64_t step_ms, const char *const *specs, size_t n_specs)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[");
    for (size_t s = 0; s < n_specs; s++) {
        buf_printf(&b, "%s{\"metric\":{\"i\":\"%zu\"},", s ? "," : "", s);
        bool hist = strchr(specs[s], 'h') != NULL;
        buf_puts(&b, hist ? "\"histograms\":[" : "\"values\":[");
        const char *p = specs[s];
        bool firstp = true;
        while (*p) {
            char *end;
            long k = strtol(p, &end, 10);
            if (*end != ':')
                abort();
            const char *v = end + 1;
            size_t vl = strcspn(v, " ");
            int64_t ms = START_MS + k * step_ms;
            if (hist)
                buf_printf(&b, "%s[%lld.%03lld,{\"count\":\"1\"}]", firstp ? "" : ",",
                           (long long)(ms / 1000), (long long)(ms % 1000));
            else
                buf_printf(&b, "%s[%lld.%03lld,\"%.*s\"]", firstp ? "" : ",",
                           (long long)(ms / 1000), (long long)(ms % 1000), (int)vl, v);
            firstp = false;
            p = v + vl;
            while (*p == ' ')
                p++;
        }
        buf_puts(&b, "]}");
    }
    buf_puts(&b, "]}}");
    return buf_steal(&b, NULL);
}

static void parse_into(struct promql_range *r, size_t first, size_t count, const char *body,
                       struct promql_result *out)
{
    promql_parse_range_reply(body, strlen(body), 200, r, first, count, out);
}

TEST(range_reply_points)
{
    struct promql_range r;
    CHECK_INT(promql_range_init(&r, START_MS, 1500, 10), 0);
    static const char *const specs[] = {
        "0:0.5 1:0.25 2:NaN 3:+Inf 5:1e3 6:1 7:2",
        "6:3 7:4",
        "7:5",
    };
    char *body = matrix_body(1500, specs, 3);
    struct promql_result out;
    parse_into(&r, 0, 10, body, &out);
    free(body);
    CHECK_INT(out.error, PROMQL_OK);
    CHECK_INT(r.error[0], PROMQL_OK);
    CHECK_DBL(r.value[0], 0.5, 0);
    CHECK_DBL(r.value[1], 0.25, 0);
    CHECK_INT(r.error[2], PROMQL_ERR_NAN);
    CHECK_INT(r.error[3], PROMQL_OK);
    CHECK(isinf(r.value[3]) && r.value[3] > 0);
    CHECK_INT(r.error[4], PROMQL_ERR_EMPTY); /* a gap: no series had a sample */
    CHECK_DBL(r.value[5], 1000, 0);
    CHECK_INT(r.error[6], PROMQL_ERR_MULTIPLE);
    CHECK_INT(r.error[7], PROMQL_ERR_MULTIPLE);
    CHECK_INT(r.error[8], PROMQL_ERR_EMPTY);
    char why[160];
    promql_range_reason(&r, 2, why, sizeof(why));
    CHECK_STR(why, "NaN");
    promql_range_reason(&r, 4, why, sizeof(why));
    CHECK_STR(why, "empty result");
    promql_range_reason(&r, 6, why, sizeof(why));
    CHECK_STR(why, "2 series (use sum or max)");
    promql_range_reason(&r, 7, why, sizeof(why));
    CHECK_STR(why, "3 series (use sum or max)");

    /* The same words as an instant reply at that time would give. */
    struct promql_result inst;
    const char *three = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                        "{\"metric\":{\"a\":\"1\"},\"value\":[1,\"1\"]},"
                        "{\"metric\":{\"a\":\"2\"},\"value\":[1,\"1\"]},"
                        "{\"metric\":{\"a\":\"3\"},\"value\":[1,\"1\"]}]}}";
    promql_parse_reply(three, strlen(three), 200, &inst);
    CHECK_STR(inst.detail, "3 series (use sum or max)");

    static const char *const hist[] = {"1:h 2:h"};
    body = matrix_body(1500, hist, 1);
    parse_into(&r, 0, 10, body, &out);
    free(body);
    CHECK_INT(out.error, PROMQL_OK);
    CHECK_INT(r.error[1], PROMQL_ERR_PARSE);
    promql_range_reason(&r, 1, why, sizeof(why));
    CHECK_CONTAINS(why, "native histogram");
    CHECK_INT(r.error[0], PROMQL_ERR_EMPTY); /* the span was reset before */
    promql_range_free(&r);
}

TEST(range_reply_chunk_boundary)
{
    /* 21601 points at 1 s: chunk 0 is [0, 11000), chunk 1 [11000, 21601). */
    struct promql_range r;
    CHECK_INT(promql_range_init(&r, START_MS, 1000, 21601), 0);
    static const char *const c0[] = {"0:1 10998:2 10999:3"};
    static const char *const c1[] = {"11000:4 21600:5"};
    char *b0 = matrix_body(1000, c0, 1), *b1 = matrix_body(1000, c1, 1);
    struct promql_result out;
    parse_into(&r, 0, 11000, b0, &out);
    CHECK_INT(out.error, PROMQL_OK);
    parse_into(&r, 11000, 10601, b1, &out);
    CHECK_INT(out.error, PROMQL_OK);
    CHECK_DBL(r.value[10999], 3, 0);
    CHECK_INT(r.error[10999], PROMQL_OK); /* not MULTIPLE: asked for once */
    CHECK_DBL(r.value[11000], 4, 0);
    CHECK_DBL(r.value[21600], 5, 0);
    free(b0);
    free(b1);

    /* A reply that repeats the previous chunk's last point is refused, not merged into a
     * second series, and leaves its span empty. */
    static const char *const dup[] = {"10999:9 11000:4"};
    char *bd = matrix_body(1000, dup, 1);
    parse_into(&r, 11000, 10601, bd, &out);
    free(bd);
    CHECK_INT(out.error, PROMQL_ERR_PARSE);
    CHECK_CONTAINS(out.detail, "is not a step of the range asked for");
    CHECK_INT(r.error[11000], PROMQL_ERR_EMPTY);
    CHECK_DBL(r.value[10999], 3, 0); /* the other chunk is untouched */

    /* Off the step grid, past the end, timestamps going back. */
    const char *off = "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":"
                      "[{\"metric\":{},\"values\":[[1700000000.5,\"1\"]]}]}}";
    parse_into(&r, 0, 11000, off, &out);
    CHECK_INT(out.error, PROMQL_ERR_PARSE);
    const char *back = "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":"
                       "[{\"metric\":{},\"values\":[[1700000002,\"1\"],[1700000001,\"1\"]]}]}}";
    parse_into(&r, 0, 11000, back, &out);
    CHECK_INT(out.error, PROMQL_ERR_PARSE);
    CHECK_CONTAINS(out.detail, "timestamps not increasing");
    promql_range_free(&r);
}

TEST(range_reply_errors)
{
    struct promql_range r;
    CHECK_INT(promql_range_init(&r, START_MS, 1000, 100), 0);
    struct promql_result out;
    const char *vec = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}";
    parse_into(&r, 0, 100, vec, &out);
    CHECK_INT(out.error, PROMQL_ERR_PARSE);
    CHECK_CONTAINS(out.detail, "expected matrix");
    const char *limit = "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"exceeded "
                        "maximum resolution of 11,000 points per timeseries\"}";
    promql_parse_range_reply(limit, strlen(limit), 400, &r, 0, 100, &out);
    CHECK_INT(out.error, PROMQL_ERR_QUERY);
    CHECK_CONTAINS(out.detail, "bad_data: exceeded maximum resolution");
    promql_parse_range_reply("<html>502</html>", 16, 502, &r, 0, 100, &out);
    CHECK_INT(out.error, PROMQL_ERR_HTTP);
    parse_into(&r, 0, 100, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\"", &out);
    CHECK_INT(out.error, PROMQL_ERR_PARSE);
    parse_into(&r, 0, 100,
               "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[7]}}",
               &out);
    CHECK_INT(out.error, PROMQL_ERR_PARSE);
    parse_into(&r, 0, 100,
               "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{"
               "\"values\":[[1700000000,1]]}]}}",
               &out);
    CHECK_INT(out.error, PROMQL_ERR_PARSE);
    /* A span outside the range. */
    parse_into(&r, 90, 20,
               "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
               "\"result\":[]}}",
               &out);
    CHECK_INT(out.error, PROMQL_ERR_PARSE);
    /* Over the size limit. */
    size_t big = PROMQL_MAX_REPLY_BYTES + 1;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    promql_parse_range_reply(huge, big, 200, &r, 0, 100, &out);
    free(huge);
    CHECK_INT(out.error, PROMQL_ERR_TOO_LARGE);
    CHECK_INT(promql_range_init(&r, START_MS, 0, 10), -EINVAL);
    promql_range_free(&r);
}

/* ---- promql_query_range against a fake Prometheus ----------------------------------- */

struct fake_range {
    struct httpd *h;
    char url[128];
    atomic_int requests;
    pthread_mutex_t lock;
    char problem[256];
    double starts[64], ends[64];
    size_t n_chunks;
    double fail_after; /* a chunk starting at or after this answers 503 (0: never) */
};

/* The decoded value of key in a form body, or "" (%XX and '+' decoded). */
static void form_get(const char *body, size_t len, const char *key, char *out, size_t outsz)
{
    size_t kl = strlen(key), o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end - i > kl && memcmp(body + i, key, kl) == 0 && body[i + kl] == '=') {
            for (size_t j = i + kl + 1; j < end && o + 1 < outsz; j++) {
                char c = body[j];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && j + 2 < end) {
                    char hex[3] = {body[j + 1], body[j + 2], 0};
                    c = (char)strtol(hex, NULL, 16);
                    j += 2;
                }
                out[o++] = c;
            }
            out[o] = '\0';
            return;
        }
        i = end + 1;
    }
}

/* Answers like Prometheus' query_range: refuses (end - start) / step > 11000; the series
 * has value = seconds since START, with a gap over [5000 s, 5100 s]. */
static void fake_range_handler(void *userdata, const struct httpd_request *req,
                               struct httpd_response *resp)
{
    struct fake_range *f = userdata;
    atomic_fetch_add(&f->requests, 1);
    char query[256], start[64], end[64], step[64], timeout[64], nocache[16];
    form_get(req->body, req->body_len, "query", query, sizeof(query));
    form_get(req->body, req->body_len, "start", start, sizeof(start));
    form_get(req->body, req->body_len, "end", end, sizeof(end));
    form_get(req->body, req->body_len, "step", step, sizeof(step));
    form_get(req->body, req->body_len, "timeout", timeout, sizeof(timeout));
    form_get(req->body, req->body_len, "nocache", nocache, sizeof(nocache));
    const char *auth = httpd_header(req, "Authorization");
    pthread_mutex_lock(&f->lock);
    if (!f->problem[0]) {
        if (strcmp(req->path, "/api/v1/query_range") != 0 || strcmp(req->method, "POST") != 0)
            snprintf(f->problem, sizeof(f->problem), "request %.20s %.200s", req->method,
                     req->path);
        else if (!auth || strcmp(auth, "Bearer s3cret") != 0)
            snprintf(f->problem, sizeof(f->problem), "authorization %.200s",
                     auth ? auth : "(none)");
        else if (strcmp(query, "up{job=\"a b\"}") != 0)
            snprintf(f->problem, sizeof(f->problem), "query %.200s", query);
        else if (strcmp(step, "1000ms") != 0 || strcmp(timeout, "7.000") != 0)
            snprintf(f->problem, sizeof(f->problem), "step %.60s timeout %.60s", step, timeout);
        else if (strcmp(nocache, "1") != 0) /* VictoriaMetrics aligns start to step without */
            snprintf(f->problem, sizeof(f->problem), "nocache '%.10s', not 1", nocache);
    }
    double s = strtod(start, NULL), e = strtod(end, NULL);
    if (f->n_chunks < 64) {
        f->starts[f->n_chunks] = s;
        f->ends[f->n_chunks] = e;
        f->n_chunks++;
    }
    pthread_mutex_unlock(&f->lock);
    if (f->fail_after > 0 && s >= f->fail_after) {
        httpd_reply(resp, 503, "application/json",
                    "{\"status\":\"error\",\"errorType\":\"unavailable\",\"error\":\"storage "
                    "is closing\"}");
        return;
    }
    if ((e - s) / 1.0 > 11000) {
        httpd_reply(resp, 400, "application/json",
                    "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"exceeded "
                    "maximum resolution of 11,000 points per timeseries. Try decreasing the "
                    "query resolution (?step=XX)\"}");
        return;
    }
    resp->status = 200;
    resp->content_type = "application/json";
    buf_puts(&resp->body, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":"
                          "[{\"metric\":{\"job\":\"a b\"},\"values\":[");
    bool first = true;
    for (double t = s; t <= e + 1e-6; t += 1.0) {
        double rel = t - START_MS / 1000.0;
        if (rel >= 5000 && rel <= 5100)
            continue;
        buf_printf(&resp->body, "%s[%.3f,\"%.0f\"]", first ? "" : ",", t, rel);
        first = false;
    }
    buf_puts(&resp->body, "]}]}}");
}

static int start_fake(struct fake_range *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    struct httpd_options o = {.listen_address = "127.0.0.1:0", .max_body_bytes = 1 << 20};
    int r = httpd_start(&o, fake_range_handler, f, &f->h);
    if (r < 0)
        return r;
    snprintf(f->url, sizeof(f->url), "http://%s", httpd_bound_address(f->h));
    return 0;
}

static struct promql_client *client_for(const char *url, char *token_path)
{
    char *dir = test_tmpdir(); /* static storage */
    snprintf(token_path, 512, "%s/token", dir);
    if (file_write_atomic(token_path, "s3cret\n", 7, 0600) < 0)
        return NULL;
    struct http_client_config cfg = {
        .url = (char *)url, .timeout_usec = 2000000, .bearer_token_file = token_path};
    struct promql_client *c = NULL;
    struct buf errors;
    buf_init(&errors, 4096);
    int r = promql_client_new(&cfg, &c, &errors);
    buf_free(&errors);
    return r < 0 ? NULL : c;
}

TEST(query_range_in_chunks)
{
    struct fake_range f;
    if (start_fake(&f) < 0)
        TEST_FAIL("cannot start the fake Prometheus");
    char token[512];
    struct promql_client *c = client_for(f.url, token);
    CHECK(c != NULL);
    struct promql_range r;
    CHECK_INT(promql_range_init(&r, START_MS, 1000, 21601), 0);
    struct promql_result err = {0};
    size_t first = 99, count = 99;
    int rc = promql_query_range(c, "up{job=\"a b\"}", &r, 7000000, &err, &first, &count);
    if (rc != 0)
        TEST_FAIL("query_range failed: %s", err.detail);
    CHECK_STR(f.problem, "");
    CHECK_INT(atomic_load(&f.requests), 2);
    CHECK_INT(f.n_chunks, 2);
    /* Each chunk within Prometheus' limit; the second starts one step after the first. */
    CHECK_DBL(f.starts[0], START_MS / 1000.0, 1e-6);
    CHECK_DBL(f.ends[0], START_MS / 1000.0 + 10999, 1e-6);
    CHECK_DBL(f.starts[1], START_MS / 1000.0 + 11000, 1e-6);
    CHECK_DBL(f.ends[1], START_MS / 1000.0 + 21600, 1e-6);
    size_t known = 0;
    for (size_t k = 0; k < r.n; k++) {
        bool gap = k >= 5000 && k <= 5100;
        if (gap) {
            CHECK_INT(r.error[k], PROMQL_ERR_EMPTY);
            continue;
        }
        if (r.error[k] != PROMQL_OK || r.value[k] != (double)k)
            TEST_FAIL("point %zu: error %d value %g", k, r.error[k], r.value[k]);
        known++;
    }
    CHECK_INT(known, 21601 - 101);

    /* A chunk that fails is reported with its span. */
    f.fail_after = START_MS / 1000.0 + 11000;
    f.n_chunks = 0;
    rc = promql_query_range(c, "up{job=\"a b\"}", &r, 7000000, &err, &first, &count);
    CHECK_INT(rc, -EIO);
    CHECK_INT(err.error, PROMQL_ERR_QUERY);
    CHECK_STR(err.detail, "unavailable: storage is closing");
    CHECK_INT(first, 11000);
    CHECK_INT(count, 10601);
    promql_range_free(&r);

    /* Without chunking, Prometheus would refuse: the fake does as it does. */
    struct promql_range one;
    CHECK_INT(promql_range_init(&one, START_MS, 1000, 11000), 0);
    f.fail_after = 0;
    rc = promql_query_range(c, "up{job=\"a b\"}", &one, 7000000, &err, &first, &count);
    CHECK_INT(rc, 0);
    promql_range_free(&one);
    promql_client_free(c);
    httpd_stop(f.h);
    unlink(token);
}

/* ---- the replay -------------------------------------------------------------------- */

static const char rules_yaml[] = "evaluation_interval: 10s\n"
                                 "prometheus: {url: http://127.0.0.1:1}\n"
                                 "signals:\n"
                                 "  cpu: {query: cpu_busy}\n"
                                 "states:\n"
                                 "  - name: critical\n"
                                 "    conditions: [\"cpu > 0.85\"]\n"
                                 "    for: 30s\n"
                                 "    keep_for: 20s\n"
                                 "  - name: stressed\n"
                                 "    conditions: [\"cpu > 0.7\"]\n"
                                 "  - name: optimal\n"
                                 "on_missing_data: unknown\n"
                                 "decisions:\n"
                                 "  critical:\n"
                                 "    min_confidence: 0.5\n"
                                 "    cooldown: 2m\n"
                                 "    actions:\n"
                                 "      - webhook: {url: \"http://127.0.0.1:1/hook\"}\n"
                                 "limits: {max_actions_per_hour: 2}\n";

/* The synthetic cpu series, in the test file's notation and point by point. */
static const char series_text[] =
    "0.5x9 0.95x5 0.5x3 0.86x5 0.5x3 _x3 0.5x6 0.95x5 0.5x1 0.95x5 0.5x5 0.95x5 0.5x3";
#define N_POINTS 70

static void fill_series(struct promql_range *r)
{
    static const struct {
        size_t from, to;
        double v;
    } runs[] = {{0, 9, 0.5},   {10, 15, 0.95}, {16, 19, 0.5},  {20, 25, 0.86}, {26, 29, 0.5},
                {30, 32, NAN}, {33, 39, 0.5},  {40, 45, 0.95}, {46, 47, 0.5},  {48, 53, 0.95},
                {54, 59, 0.5}, {60, 65, 0.95}, {66, 69, 0.5}};
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
        for (size_t k = runs[i].from; k <= runs[i].to; k++) {
            r->error[k] = isnan(runs[i].v) ? PROMQL_ERR_EMPTY : PROMQL_OK;
            r->value[k] = runs[i].v;
        }
}

struct want_event {
    size_t step;
    const char *from, *to;
    const char *outcome;
    bool flap;
};

static const struct want_event want[] = {
    {10, "optimal", "stressed", "no_actions", false},
    {13, "stressed", "critical", "executed", true},
    {17, "critical", "optimal", "no_actions", false},
    {20, "optimal", "stressed", "no_actions", true},
    {23, "stressed", "critical", "below_confidence", true},
    {27, "critical", "optimal", "no_actions", false},
    {30, "optimal", "unknown", "uncertain", true},
    {33, "unknown", "optimal", "no_actions", true},
    {40, "optimal", "stressed", "no_actions", false},
    {43, "stressed", "critical", "executed", true},
    {47, "critical", "optimal", "no_actions", false},
    {48, "optimal", "stressed", "no_actions", true},
    {51, "stressed", "critical", "cooldown", true},
    {55, "critical", "optimal", "no_actions", false},
    {60, "optimal", "stressed", "no_actions", false},
    {63, "stressed", "critical", "budget_exhausted", true},
    {67, "critical", "optimal", "no_actions", false},
};
#define N_WANT (sizeof(want) / sizeof(want[0]))

static struct rules *load_rules(void)
{
    struct rules *r = NULL;
    struct buf e;
    buf_init(&e, 1 << 16);
    int rc = rules_load_string(rules_yaml, strlen(rules_yaml), "bt.yaml", &r, &e);
    if (rc < 0)
        fprintf(stderr, "%s", e.data ? e.data : "");
    buf_free(&e);
    return r;
}

/* The rules yaml with targets by service and then head (may be ""): NULL after saying why. */
static struct rules *load_with_targets(const char *head, const char *yaml, const char *name)
{
    struct buf y, e;
    buf_init(&y, 0);
    buf_init(&e, 1 << 16);
    buf_printf(&y, "targets: {by: [service]}\n%s%s", head, yaml);
    struct rules *r = NULL;
    if (rules_load_string(y.data, y.len, name, &r, &e) < 0)
        fprintf(stderr, "  rules: %s", e.data ? e.data : "");
    buf_free(&e);
    buf_free(&y);
    return r;
}

/* The text report of b (caller frees). */
static char *text_of(const struct backtest_result *b, const struct backtest_about *about)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    backtest_write_text(b, about, f);
    fclose(f);
    return text;
}

static struct backtest_result *replay_synthetic(struct rules *r, struct promql_range *s)
{
    if (promql_range_init(s, START_MS, 10000, N_POINTS) < 0)
        return NULL;
    fill_series(s);
    const struct promql_range *series[] = {s};
    struct backtest_result *b = NULL;
    /* 31 s: the 30 s stays are flaps, the 40 s ones not. */
    if (backtest_replay(r, series, 31000, &b) < 0)
        return NULL;
    return b;
}

TEST(replay_timeline_and_summary)
{
    struct rules *r = load_rules();
    CHECK(r != NULL);
    struct promql_range s;
    struct backtest_result *b = replay_synthetic(r, &s);
    CHECK(b != NULL);
    CHECK_INT(b->n, N_POINTS);
    CHECK_INT(b->n_events, N_WANT);
    for (size_t i = 0; i < N_WANT; i++) {
        const struct backtest_event *e = &b->events[i];
        if (e->time_ms != START_MS + (int64_t)want[i].step * 10000 || !e->changed ||
            strcmp(eval_state_name(r, e->from), want[i].from) != 0 ||
            strcmp(eval_state_name(r, e->to), want[i].to) != 0 ||
            strcmp(decision_outcome_name(e->outcome), want[i].outcome) != 0 ||
            e->flap != want[i].flap)
            TEST_FAIL("event %zu: step %lld %s -> %s %s flap %d; expected step %zu %s -> %s %s "
                      "flap %d (%s)",
                      i, (long long)((e->time_ms - START_MS) / 10000), eval_state_name(r, e->from),
                      eval_state_name(r, e->to), decision_outcome_name(e->outcome), e->flap,
                      want[i].step, want[i].from, want[i].to, want[i].outcome, want[i].flap,
                      e->reasoning);
    }
    CHECK_CONTAINS(b->events[6].reasoning, "cpu unknown (empty result)");
    CHECK(b->events[1].confidence > 0.5 && b->events[4].confidence < 0.5);

    /* Summary: states in rules order, then unknown. */
    CHECK_INT(b->states[0].evaluations, 20); /* critical */
    CHECK_INT(b->states[1].evaluations, 15); /* stressed */
    CHECK_INT(b->states[2].evaluations, 32); /* optimal */
    CHECK_INT(b->states[3].evaluations, 3);  /* unknown */
    CHECK_INT(b->states[0].entered, 5);
    CHECK_INT(b->states[1].entered, 5);
    CHECK_INT(b->states[2].entered, 6);
    CHECK_INT(b->states[3].entered, 1);
    CHECK_INT(b->transitions, 17);
    CHECK_INT(b->flaps, 9);
    CHECK_INT(b->states[0].flaps, 0);
    CHECK_INT(b->states[1].flaps, 5);
    CHECK_INT(b->states[2].flaps, 3);
    CHECK_INT(b->states[3].flaps, 1);
    CHECK_INT(b->decisions, 17);
    CHECK_INT(b->outcomes[OUTCOME_EXECUTED], 2);
    CHECK_INT(b->outcomes[OUTCOME_BELOW_CONFIDENCE], 1);
    CHECK_INT(b->outcomes[OUTCOME_COOLDOWN], 1);
    CHECK_INT(b->outcomes[OUTCOME_BUDGET], 1);
    CHECK_INT(b->outcomes[OUTCOME_UNCERTAIN], 1);
    CHECK_INT(b->outcomes[OUTCOME_NO_ACTIONS], 11);
    CHECK_INT(b->states[0].outcomes[OUTCOME_EXECUTED], 2);
    CHECK_INT(b->signals[0].missing, 3);
    CHECK_INT(b->signals[0].n_gaps, 1);
    CHECK_INT(b->signals[0].gaps[0].from_ms, START_MS + 300000);
    CHECK_INT(b->signals[0].gaps[0].to_ms, START_MS + 320000);
    CHECK_STR(b->signals[0].gaps[0].reason, "empty result");
    CHECK_INT(b->evaluations_missing, 3);
    CHECK_INT(b->evaluations_uncertain, 3);

    /* The reports say the same. */
    const char *queries[] = {"cpu_busy"};
    struct backtest_about about = {"bt.yaml", "http://127.0.0.1:1", queries, 1};
    json_t *j = backtest_json(b, &about);
    CHECK(j != NULL);
    json_t *sum = json_object_get(j, "summary");
    CHECK_INT(json_integer_value(json_object_get(sum, "transitions")), 17);
    CHECK_INT(json_integer_value(json_object_get(sum, "flaps")), 9);
    CHECK_INT(json_integer_value(json_object_get(sum, "would_fire")), 2);
    json_t *held = json_object_get(sum, "held_back");
    CHECK_INT(json_integer_value(json_object_get(held, "total")), 4);
    CHECK_INT(json_integer_value(json_object_get(held, "budget_exhausted")), 1);
    CHECK_INT(json_array_size(json_object_get(j, "timeline")), N_WANT);
    json_t *e1 = json_array_get(json_object_get(j, "timeline"), 1);
    CHECK_STR(json_string_value(json_object_get(e1, "time")), "2023-11-14T22:15:30Z");
    json_t *d1 = json_object_get(e1, "decision");
    CHECK_STR(json_string_value(json_object_get(d1, "outcome")), "executed");
    CHECK(json_is_true(json_object_get(d1, "would_fire")));
    json_decref(j);

    char *text = text_of(b, &about);
    CHECK_CONTAINS(text, "  2023-11-14T22:15:30Z  stressed -> critical  confidence 0.67, ends a "
                         "flap\n");
    CHECK_CONTAINS(text, "      decision: executed (would fire): webhook POST "
                         "http://127.0.0.1:1/hook\n");
    CHECK_CONTAINS(text, "transitions: 17; flaps: 9 (stays shorter than 31s between two "
                         "changes)");
    CHECK_CONTAINS(text, "  critical: 5 recorded, 2 would fire, held back: cooldown 1, "
                         "below_confidence 1, budget_exhausted 1\n");
    CHECK_CONTAINS(text, "\n  cpu: unknown at 3 evaluations, in 1 gap\n");
    CHECK_CONTAINS(text, "    2023-11-14T22:18:20Z .. 2023-11-14T22:18:40Z (30s): empty "
                         "result\n");
    free(text);
    backtest_result_free(b);
    promql_range_free(&s);
    rules_free(r);
}

/* `homeostat-controller test` over the same series, with an expectation per step made
 * from the backtest's timeline: state, changes, outcomes, confidence and the decision
 * count all agree. */
TEST(ruletest_agrees_with_backtest)
{
    struct rules *r = load_rules();
    CHECK(r != NULL);
    struct promql_range s;
    struct backtest_result *b = replay_synthetic(r, &s);
    CHECK(b != NULL);
    char *dir = test_tmpdir();
    char rules_path[512], test_path[512];
    snprintf(rules_path, sizeof(rules_path), "%s/bt.yaml", dir);
    snprintf(test_path, sizeof(test_path), "%s/bt_test.yaml", dir);
    CHECK_INT(file_write_atomic(rules_path, rules_yaml, strlen(rules_yaml), 0644), 0);
    struct buf t;
    buf_init(&t, 0);
    buf_printf(&t,
               "rule_files: [bt.yaml]\ntests:\n  - name: same series\n    interval: 10s\n"
               "    signals:\n      cpu: \"%s\"\n    expect:\n",
               series_text);
    const char *state = "optimal";
    size_t ev = 0, decisions = 0;
    for (size_t k = 0; k < N_POINTS; k++) {
        const struct backtest_event *e = NULL;
        if (ev < b->n_events && b->events[ev].time_ms == START_MS + (int64_t)k * 10000)
            e = &b->events[ev++];
        if (e) {
            state = eval_state_name(r, e->to);
            decisions += e->outcome != OUTCOME_NONE;
            buf_printf(&t,
                       "      - {at: %zus, state: %s, changed: %s, outcome: %s, decisions: %zu, "
                       "confidence: {min: %.6f, max: %.6f}}\n",
                       k * 10, state, e->changed ? "true" : "false",
                       decision_outcome_name(e->outcome), decisions,
                       e->confidence > 1e-6 ? e->confidence - 1e-6 : 0,
                       e->confidence < 1 - 1e-6 ? e->confidence + 1e-6 : 1);
        } else {
            buf_printf(&t, "      - {at: %zus, state: %s, changed: false, outcome: none}\n", k * 10,
                       state);
        }
    }
    CHECK_INT(file_write_atomic(test_path, t.data, t.len, 0644), 0);
    buf_free(&t);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const char *paths[] = {test_path};
    int rc = ruletest_run_files(paths, 1, f);
    fclose(f);
    if (rc != 0)
        TEST_FAIL("homeostat-controller test disagrees (exit %d):\n%s", rc, out);
    CHECK_CONTAINS(out, "SUCCESS: 1 test");
    free(out);
    unlink(rules_path);
    unlink(test_path);
    rmdir(dir);
    backtest_result_free(b);
    promql_range_free(&s);
    rules_free(r);
}

/* ---- regulators ------------------------------------------------------------------- */

static const char reg_rules_yaml[] =
    "evaluation_interval: 10s\n"
    "prometheus: {url: http://127.0.0.1:1}\n"
    "signals:\n"
    "  p95: {query: p95_seconds}\n"
    "states:\n"
    "  - {name: slow, conditions: [\"p95 > 2\"]}\n"
    "  - {name: ok}\n"
    "regulators:\n"
    "  limit:\n"
    "    signal: p95\n"
    "    setpoint: 0.5\n"
    "    output: {min: 4, max: 64, start: 64, integer: true, name: concurrency}\n"
    "    increases_signal: true\n"
    "    law: gradient\n"
    "    settle: 0s\n"
    "    actions:\n"
    "      - webhook: {url: \"http://127.0.0.1:1/limits\", body: {concurrency: "
    "\"{{output}}\"}}\n";

/* The p95 series, in the test file's notation and point by point (NaN: missing). */
static const char reg_series_text[] = "2x4 _ 0.1x1 0.5x1 1 0.52";
static const double reg_series[] = {2, 2, 2, 2, 2, NAN, 0.1, 0.1, 0.5, 0.5, 1, 0.52};
#define REG_POINTS (sizeof(reg_series) / sizeof(reg_series[0]))

static struct backtest_result *replay_regulated(struct rules **ret_rules, struct promql_range *s)
{
    struct buf e;
    buf_init(&e, 1 << 16);
    int rc = rules_load_string(reg_rules_yaml, strlen(reg_rules_yaml), "reg.yaml", ret_rules, &e);
    if (rc < 0)
        fprintf(stderr, "%s", e.data ? e.data : "");
    buf_free(&e);
    if (rc < 0 || promql_range_init(s, START_MS, 10000, REG_POINTS) < 0)
        return NULL;
    for (size_t k = 0; k < REG_POINTS; k++) {
        s->error[k] = isnan(reg_series[k]) ? PROMQL_ERR_EMPTY : PROMQL_OK;
        s->value[k] = reg_series[k];
    }
    const struct promql_range *series[] = {s};
    struct backtest_result *b = NULL;
    if (backtest_replay(*ret_rules, series, 31000, &b) < 0)
        return NULL;
    return b;
}

/* The gradient on a recorded p95 (open loop: the series does not react): 2 s halves the
 * limit from 64 to the min 4 in four steps, the fifth is held at the min, the missing point
 * holds it, 0.1 s doubles it twice (a reversal), 0.5 s is the setpoint, 1 s halves it (a
 * second reversal), 0.52 s is within the tolerance. */
TEST(replay_regulator_trajectory)
{
    struct rules *r = NULL;
    struct promql_range s;
    struct backtest_result *b = replay_regulated(&r, &s);
    CHECK(b != NULL);
    CHECK(b->regulators != NULL);
    const struct backtest_regulator *g = &b->regulators[0];
    static const struct {
        size_t step;
        double from, to;
    } changes[] = {{0, 64, 32}, {1, 32, 16}, {2, 16, 8}, {3, 8, 4},
                   {6, 4, 8},   {7, 8, 16},  {10, 16, 8}};
    CHECK_INT(g->n_changes, sizeof(changes) / sizeof(changes[0]));
    for (size_t i = 0; i < g->n_changes && i < sizeof(changes) / sizeof(changes[0]); i++) {
        const struct backtest_reg_change *c = &g->changes[i];
        if (c->time_ms != START_MS + (int64_t)changes[i].step * 10000 ||
            c->from != changes[i].from || c->to != changes[i].to || c->dry_run)
            TEST_FAIL("change %zu: step %lld %g -> %g; expected step %zu %g -> %g (%s)", i,
                      (long long)((c->time_ms - START_MS) / 10000), c->from, c->to, changes[i].step,
                      changes[i].from, changes[i].to, c->explanation);
    }
    CHECK_CONTAINS(g->changes[0].explanation,
                   "p95 2 > 0.5 setpoint (+300%): gradient 0.5 (clamped from 0.25) "
                   "\xe2\x86\x92 concurrency 64 \xe2\x86\x92 32");
    CHECK_CONTAINS(g->changes[4].explanation, "gradient 2 (clamped from 5)");
    CHECK_INT(g->up, 2);
    CHECK_INT(g->down, 5);
    CHECK_INT(g->reversals, 2);
    CHECK_INT(g->changes_dropped, 0);
    CHECK_INT(g->budget_exhausted, 0);
    CHECK_INT(g->steps[REG_CHANGE], 7);
    CHECK_INT(g->steps[REG_AT_LIMIT], 1);
    CHECK_INT(g->steps[REG_UNKNOWN], 1);
    CHECK_INT(g->steps[REG_TOLERANCE], 3);
    CHECK_INT(g->at_min, 3); /* after steps 3, 4 and 5 */
    CHECK_INT(g->at_max, 0);
    CHECK(g->final_output == 8 && g->lowest == 4 && g->highest == 32);

    const char *queries[] = {"p95_seconds"};
    struct backtest_about about = {"reg.yaml", "http://127.0.0.1:1", queries, 1};
    json_t *j = backtest_json(b, &about);
    CHECK(j != NULL);
    json_t *jr = json_array_get(json_object_get(j, "regulators"), 0);
    CHECK_STR(json_string_value(json_object_get(jr, "name")), "limit");
    CHECK_STR(json_string_value(json_object_get(jr, "signal")), "p95");
    CHECK_STR(json_string_value(json_object_get(jr, "law")), "gradient");
    CHECK_INT(json_integer_value(json_object_get(jr, "start")), 64);
    CHECK_INT(json_integer_value(json_object_get(jr, "final_output")), 8);
    CHECK_INT(json_integer_value(json_object_get(jr, "changes_total")), 7);
    CHECK_INT(json_integer_value(json_object_get(jr, "changes_up")), 2);
    CHECK_INT(json_integer_value(json_object_get(jr, "changes_down")), 5);
    CHECK_INT(json_integer_value(json_object_get(jr, "reversals")), 2);
    CHECK_INT(json_integer_value(json_object_get(jr, "evaluations_at_min")), 3);
    CHECK(json_real_value(json_object_get(jr, "seconds_at_min")) == 30);
    CHECK_INT(json_integer_value(json_object_get(json_object_get(jr, "steps"), "tolerance")), 3);
    json_t *c4 = json_array_get(json_object_get(jr, "changes"), 4);
    CHECK_STR(json_string_value(json_object_get(c4, "time")), "2023-11-14T22:14:20Z");
    CHECK_INT(json_integer_value(json_object_get(c4, "from")), 4);
    CHECK_INT(json_integer_value(json_object_get(c4, "to")), 8);
    CHECK_STR(json_string_value(json_object_get(c4, "direction")), "up");
    CHECK(json_is_false(json_object_get(c4, "dry_run")));
    json_decref(j);

    char *text = text_of(b, &about);
    CHECK_CONTAINS(text, "\nRegulators (open loop: the recorded signal never saw these outputs)\n"
                         "  limit: holds p95 at 0.5 (gradient); concurrency 4..64, from 64 to 8 "
                         "(lowest 4, highest 32)\n"
                         "    7 changes (2 up, 5 down), 2 reversals; at min 30s (25.0%), at max "
                         "0s (0.0%)\n"
                         "    steps: change 7, unknown 1, tolerance 3, at_limit 1\n");
    CHECK_CONTAINS(text, "    2023-11-14T22:14:20Z  4 -> 8\n"
                         "        p95 0.1 < 0.5 setpoint (-80%): gradient 2 (clamped from 5) "
                         "\xe2\x86\x92 concurrency 4 \xe2\x86\x92 8\n");
    free(text);
    backtest_result_free(b);
    promql_range_free(&s);
    rules_free(r);

    /* Rules without regulators: no regulators in either report. */
    r = load_rules();
    CHECK(r != NULL);
    b = replay_synthetic(r, &s);
    CHECK(b != NULL && b->regulators == NULL);
    j = backtest_json(b, &about);
    CHECK(j != NULL && json_object_get(j, "regulators") == NULL);
    json_decref(j);
    text = text_of(b, &about);
    CHECK(!strstr(text, "Regulators"));
    free(text);
    backtest_result_free(b);
    promql_range_free(&s);
    rules_free(r);
}

/* The same regulator in a rules file with targets: {service="a"} has the p95 above (the
 * missing point: no series of it at that step), {service="b"} stays at 0.5 and 0.52,
 * within the tolerance. a's run is the trajectory above, b's never moves from its start;
 * the totals are theirs summed, each change names its target, each target has its own
 * summary in both reports. */
TEST(replay_targets_regulator_trajectories)
{
    struct rules *r = load_with_targets("", reg_rules_yaml, "treg.yaml");
    if (!r)
        TEST_FAIL("the rules do not load");
    struct promql_range s;
    CHECK_INT(promql_range_init(&s, START_MS, 10000, REG_POINTS), 0);
    s.matrix = json_array();
    json_t *va = json_array(), *vb = json_array();
    for (size_t k = 0; k < REG_POINTS; k++) {
        double t = (double)(START_MS + (int64_t)k * 10000) / 1000.0;
        char v[32];
        snprintf(v, sizeof(v), "%g", reg_series[k]);
        if (!isnan(reg_series[k]))
            json_array_append_new(va, json_pack("[f,s]", t, v));
        json_array_append_new(vb, json_pack("[f,s]", t, k % 2 ? "0.52" : "0.5"));
    }
    json_array_append_new(s.matrix,
                          json_pack("{s:{s:s},s:o}", "metric", "service", "a", "values", va));
    json_array_append_new(s.matrix,
                          json_pack("{s:{s:s},s:o}", "metric", "service", "b", "values", vb));
    const struct promql_range *series[] = {&s};
    struct backtest_result *b = NULL;
    CHECK_INT(backtest_replay_targets(r, series, 31000, &b), 0);
    CHECK(b != NULL && b->regulators != NULL);
    CHECK_INT(b->n_targets, 2);
    const struct backtest_target_stats *ta = NULL, *tb = NULL;
    for (size_t i = 0; i < b->n_targets; i++) {
        if (strcmp(b->targets[i].key, "{service=\"a\"}") == 0)
            ta = &b->targets[i];
        else if (strcmp(b->targets[i].key, "{service=\"b\"}") == 0)
            tb = &b->targets[i];
    }
    CHECK(ta != NULL && tb != NULL && ta->regulators != NULL && tb->regulators != NULL);

    /* a moves as the regulator alone did; b holds its start. */
    const struct backtest_target_regulator *ga = &ta->regulators[0], *gb = &tb->regulators[0];
    CHECK_INT(ga->up, 2);
    CHECK_INT(ga->down, 5);
    CHECK_INT(ga->reversals, 2);
    CHECK(ga->final_output == 8 && ga->lowest == 4 && ga->highest == 32);
    CHECK_INT(gb->up + gb->down, 0);
    CHECK_INT(gb->reversals, 0);
    CHECK(gb->final_output == 64 && gb->lowest == 64 && gb->highest == 64);

    /* The totals, and every change is a's. */
    const struct backtest_regulator *g = &b->regulators[0];
    CHECK_INT(g->up, 2);
    CHECK_INT(g->down, 5);
    CHECK_INT(g->reversals, 2);
    CHECK_INT(g->steps[REG_CHANGE], 7);
    CHECK_INT(g->steps[REG_UNKNOWN], 1);
    CHECK_INT(g->steps[REG_TOLERANCE], 3 + REG_POINTS); /* b's every step */
    CHECK_INT(g->at_min, 3);
    CHECK_INT(g->at_max, REG_POINTS); /* b's */
    CHECK(isnan(g->final_output) && g->lowest == 4 && g->highest == 64);
    CHECK_INT(g->n_changes, 7);
    for (size_t k = 0; k < g->n_changes; k++)
        CHECK_STR(g->changes[k].target, "{service=\"a\"}");
    CHECK(g->changes[0].from == 64 && g->changes[0].to == 32);
    CHECK(g->changes[4].time_ms == START_MS + 60000 && g->changes[4].to == 8);

    const char *queries[] = {"p95_seconds"};
    struct backtest_about about = {"treg.yaml", "http://127.0.0.1:1", queries, 1};
    json_t *j = backtest_json(b, &about);
    CHECK(j != NULL);
    json_t *jr = json_array_get(json_object_get(j, "regulators"), 0);
    CHECK(json_is_null(json_object_get(jr, "final_output")));
    CHECK_INT(json_integer_value(json_object_get(jr, "changes_total")), 7);
    CHECK_INT(json_integer_value(json_object_get(jr, "highest")), 64);
    json_t *jc = json_object_get(jr, "changes");
    CHECK_INT(json_array_size(jc), 7);
    for (size_t k = 0; k < json_array_size(jc); k++)
        CHECK_STR(json_string_value(json_object_get(json_array_get(jc, k), "target")),
                  "{service=\"a\"}");
    json_t *jt = json_object_get(json_object_get(j, "summary"), "targets");
    CHECK_INT(json_array_size(jt), 2);
    for (size_t i = 0; i < json_array_size(jt); i++) {
        json_t *x = json_array_get(jt, i);
        bool is_a = strcmp(json_string_value(json_object_get(x, "target")), "{service=\"a\"}") == 0;
        json_t *l = json_object_get(json_object_get(x, "regulators"), "limit");
        CHECK(l != NULL);
        CHECK_INT(json_integer_value(json_object_get(l, "changes_up")), is_a ? 2 : 0);
        CHECK_INT(json_integer_value(json_object_get(l, "changes_down")), is_a ? 5 : 0);
        CHECK_INT(json_integer_value(json_object_get(l, "reversals")), is_a ? 2 : 0);
        CHECK_INT(json_integer_value(json_object_get(l, "final_output")), is_a ? 8 : 64);
        CHECK_INT(json_integer_value(json_object_get(l, "lowest")), is_a ? 4 : 64);
        CHECK_INT(json_integer_value(json_object_get(l, "highest")), is_a ? 32 : 64);
    }
    json_decref(j);

    char *text = text_of(b, &about);
    CHECK_CONTAINS(text, "\nRegulators (open loop: the recorded signal never saw these outputs)\n"
                         "  limit: holds p95 at 0.5 (gradient); concurrency 4..64, from 64 at "
                         "each target (lowest 4, highest 64 over 2 targets)\n"
                         "    7 changes over the targets (2 up, 5 down), 2 reversals; at min 30s "
                         "(12.5%), at max 2m (50.0%) (time summed over the targets)\n"
                         "    steps: change 7, unknown 1, tolerance 15, at_limit 1\n"
                         "    per target, most changes first:\n"
                         "      {service=\"a\"}: 7 changes (2 up, 5 down), 2 reversals; final 8 "
                         "(lowest 4, highest 32)\n"
                         "      {service=\"b\"}: 0 changes (0 up, 0 down), 0 reversals; final 64 "
                         "(lowest 64, highest 64)\n"
                         "    2023-11-14T22:13:20Z  {service=\"a\"}  64 -> 32\n");
    CHECK_CONTAINS(text, "    2023-11-14T22:14:20Z  {service=\"a\"}  4 -> 8\n"
                         "        p95 0.1 < 0.5 setpoint (-80%): gradient 2 (clamped from 5) "
                         "\xe2\x86\x92 concurrency 4 \xe2\x86\x92 8\n");
    free(text);
    backtest_result_free(b);

    /* 22 targets, the last one a's series: the text lists it first, then 19 of the others
     * in order of appearance, and counts the rest. */
    json_t *one_a = json_incref(json_array_get(s.matrix, 0));
    json_t *one_b = json_incref(json_array_get(s.matrix, 1));
    json_array_clear(s.matrix);
    for (int i = 0; i < 22; i++) {
        char who[8];
        snprintf(who, sizeof(who), "t%02d", i);
        json_t *x = json_deep_copy(i == 21 ? one_a : one_b);
        json_object_set_new(json_object_get(x, "metric"), "service", json_string(who));
        json_array_append_new(s.matrix, x);
    }
    json_decref(one_a);
    json_decref(one_b);
    CHECK_INT(backtest_replay_targets(r, series, 31000, &b), 0);
    CHECK_INT(b->n_targets, 22);
    text = text_of(b, &about);
    CHECK_CONTAINS(text, "    per target, most changes first:\n"
                         "      {service=\"t21\"}: 7 changes (2 up, 5 down), 2 reversals; final 8 "
                         "(lowest 4, highest 32)\n"
                         "      {service=\"t00\"}: 0 changes");
    CHECK_CONTAINS(text, "      {service=\"t18\"}: 0 changes (0 up, 0 down), 0 reversals; final 64 "
                         "(lowest 64, highest 64)\n"
                         "      ... and 2 more\n");
    CHECK(!strstr(text, "{service=\"t19\"}: 0 changes"));
    free(text);
    backtest_result_free(b);
    promql_range_free(&s);
    rules_free(r);
}

/* `homeostat-controller test` over the same p95 series expects, at every step, the output
 * the backtest's trajectory has in force and the number of changes so far: they agree. */
TEST(ruletest_agrees_with_backtest_on_regulators)
{
    struct rules *r = NULL;
    struct promql_range s;
    struct backtest_result *b = replay_regulated(&r, &s);
    CHECK(b != NULL);
    const struct backtest_regulator *g = &b->regulators[0];
    char *dir = test_tmpdir();
    char rules_path[512], test_path[512];
    snprintf(rules_path, sizeof(rules_path), "%s/reg.yaml", dir);
    snprintf(test_path, sizeof(test_path), "%s/reg_test.yaml", dir);
    CHECK_INT(file_write_atomic(rules_path, reg_rules_yaml, strlen(reg_rules_yaml), 0644), 0);
    struct buf t;
    buf_init(&t, 0);
    buf_printf(&t,
               "rule_files: [reg.yaml]\ntests:\n  - name: same series\n    interval: 10s\n"
               "    signals:\n      p95: \"%s\"\n    expect:\n",
               reg_series_text);
    double output = 64;
    size_t changes = 0;
    for (size_t k = 0; k < REG_POINTS; k++) {
        if (changes < g->n_changes && g->changes[changes].time_ms == START_MS + (int64_t)k * 10000)
            output = g->changes[changes++].to;
        buf_printf(&t, "      - {at: %zus, regulators: {limit: {output: %g, changes: %zu}}}\n",
                   k * 10, output, changes);
    }
    CHECK_INT(changes, 7);
    CHECK_INT(file_write_atomic(test_path, t.data, t.len, 0644), 0);
    buf_free(&t);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const char *paths[] = {test_path};
    int rc = ruletest_run_files(paths, 1, f);
    fclose(f);
    if (rc != 0)
        TEST_FAIL("homeostat-controller test disagrees (exit %d):\n%s", rc, out);
    free(out);
    unlink(rules_path);
    unlink(test_path);
    rmdir(dir);
    backtest_result_free(b);
    promql_range_free(&s);
    rules_free(r);
}

TEST(alert_signal_query)
{
    struct signal_def a = {.name = "alert:HighErrorRate", .alert = true};
    char *q = backtest_signal_query(&a);
    CHECK_STR(q, "max(ALERTS{alertname=\"HighErrorRate\",alertstate=\"firing\"}) or vector(0)");
    free(q);
    struct signal_def p = {.name = "cpu", .query = "avg(cpu)"};
    q = backtest_signal_query(&p);
    CHECK_STR(q, "avg(cpu)");
    free(q);
}

TEST(replay_refuses_mismatched_ranges)
{
    static const char two[] = "prometheus: {url: http://127.0.0.1:1}\n"
                              "signals: {a: {query: a}, b: {query: b}}\n"
                              "states:\n  - {name: hot, conditions: [\"a > 1\", \"b > 1\"]}\n"
                              "  - {name: ok}\n";
    struct rules *r = NULL;
    struct buf e;
    buf_init(&e, 1 << 16);
    CHECK_INT(rules_load_string(two, strlen(two), "two.yaml", &r, &e), 0);
    buf_free(&e);
    struct promql_range x, y;
    CHECK_INT(promql_range_init(&x, START_MS, 1000, 10), 0);
    CHECK_INT(promql_range_init(&y, START_MS, 1000, 11), 0);
    const struct promql_range *series[] = {&x, &y};
    struct backtest_result *b = NULL;
    CHECK_INT(backtest_replay(r, series, 1000, &b), -EINVAL);
    CHECK(b == NULL);
    promql_range_free(&x);
    promql_range_free(&y);
    rules_free(r);
}

/* Did they help, on the replayed history: a decision (a webhook, verify_after 60 s,
 * window 30 s) fires once the p95 has been over 1 for 30 s (so the window before it is
 * all trouble); the p95 then falls to 0.2 (helped), stays where it was (no_effect), rises
 * (worse), or the range ends before the window after it (unknown). 10 s steps. */
static const char verdict_rules_yaml[] =
    "evaluation_interval: 10s\n"
    "prometheus: {url: http://127.0.0.1:1}\n"
    "signals:\n"
    "  p95: {query: p95_seconds}\n"
    "states:\n"
    "  - {name: slow, for: 30s, conditions: [\"p95 > 1\"]}\n"
    "  - {name: ok}\n"
    "decisions:\n"
    "  slow:\n"
    "    cooldown: 1h\n"
    "    verify_after: 60s\n"
    "    verify_window: 30s\n"
    "    actions: [{webhook: {url: \"http://127.0.0.1:1/cut\"}}]\n";

static int verdict_of(const double *v, size_t n, enum effect_verdict *ret)
{
    struct buf e;
    buf_init(&e, 1 << 16);
    struct rules *r = NULL;
    int rc = rules_load_string(verdict_rules_yaml, strlen(verdict_rules_yaml), "v.yaml", &r, &e);
    buf_free(&e);
    struct promql_range s;
    if (rc < 0 || promql_range_init(&s, START_MS, 10000, n) < 0)
        return -1;
    for (size_t k = 0; k < n; k++) {
        s.error[k] = PROMQL_OK;
        s.value[k] = v[k];
    }
    const struct promql_range *series[] = {&s};
    struct backtest_result *b = NULL;
    rc = backtest_replay(r, series, 31000, &b);
    int found = -1;
    for (int k = 0; rc == 0 && b->has_verdicts && k < EFFECT_MAX; k++)
        if (b->verdicts[0][k]) {
            *ret = (enum effect_verdict)k;
            found = (int)b->verdicts[0][k];
        }
    backtest_result_free(b);
    promql_range_free(&s);
    rules_free(r);
    return found;
}

TEST(replay_verdicts)
{
    /* 2 from t=20 s, the decision at t=50 s (for 30 s); before it [20, 50]: 2; after it
     * [80, 110]: 0.2, 2 or 4 */
    double helped[] = {0.5, 0.5, 2, 2, 2, 2, 2, 2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2};
    double none[] = {0.5, 0.5, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    double worse[] = {0.5, 0.5, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4};
    double unknown[] = {0.5, 0.5, 2, 2, 2, 2, 2, 2, 2};
    enum effect_verdict v = EFFECT_MAX;
    CHECK_INT(verdict_of(helped, sizeof(helped) / sizeof(helped[0]), &v), 1);
    CHECK_INT(v, EFFECT_HELPED);
    CHECK_INT(verdict_of(none, sizeof(none) / sizeof(none[0]), &v), 1);
    CHECK_INT(v, EFFECT_NO_EFFECT);
    CHECK_INT(verdict_of(worse, sizeof(worse) / sizeof(worse[0]), &v), 1);
    CHECK_INT(v, EFFECT_WORSE);
    CHECK_INT(verdict_of(unknown, sizeof(unknown) / sizeof(unknown[0]), &v), 1);
    CHECK_INT(v, EFFECT_UNKNOWN);
}

/* A series of service who with the points v[0..n) of a 10 s range from START_MS. */
static void add_service(json_t *matrix, const char *who, const double *v, size_t n)
{
    json_t *values = json_array();
    for (size_t k = 0; k < n; k++) {
        char text[32];
        snprintf(text, sizeof(text), "%g", v[k]);
        json_array_append_new(
            values, json_pack("[f,s]", (double)(START_MS + (int64_t)k * 10000) / 1000.0, text));
    }
    json_array_append_new(matrix,
                          json_pack("{s:{s:s},s:o}", "metric", "service", who, "values", values));
}

/* The same decision with targets, each judged on its own series: a helped, n00..n11 did
 * not change (no effect), w got worse, u's series stops before the window after
 * (unknown). The summary counts over all targets, each target has its own counts, and the
 * text names the first 10 targets where the decision had no effect. */
TEST(replay_targets_verdicts)
{
    double helped[] = {0.5, 0.5, 2, 2, 2, 2, 2, 2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2};
    double none[] = {0.5, 0.5, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    double worse[] = {0.5, 0.5, 2, 2, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4};
    size_t n = sizeof(helped) / sizeof(helped[0]);
    struct rules *r =
        load_with_targets("limits: {max_targets_acting: 0}\n", verdict_rules_yaml, "tv.yaml");
    if (!r)
        TEST_FAIL("the rules do not load");
    struct promql_range s;
    CHECK_INT(promql_range_init(&s, START_MS, 10000, n), 0);
    s.matrix = json_array();
    add_service(s.matrix, "a", helped, n);
    for (int i = 0; i < 12; i++) {
        char who[8];
        snprintf(who, sizeof(who), "n%02d", i);
        add_service(s.matrix, who, none, n);
    }
    add_service(s.matrix, "w", worse, n);
    add_service(s.matrix, "u", helped, 9);
    const struct promql_range *series[] = {&s};
    struct backtest_result *b = NULL;
    CHECK_INT(backtest_replay_targets(r, series, 31000, &b), 0);
    CHECK(b != NULL && b->has_verdicts);
    CHECK_INT(b->n_targets, 15);
    CHECK_INT(b->verdicts[0][EFFECT_HELPED], 1);
    CHECK_INT(b->verdicts[0][EFFECT_NO_EFFECT], 12);
    CHECK_INT(b->verdicts[0][EFFECT_WORSE], 1);
    CHECK_INT(b->verdicts[0][EFFECT_UNKNOWN], 1);
    for (size_t i = 0; i < b->n_targets; i++) {
        const struct backtest_target_stats *t = &b->targets[i];
        enum effect_verdict expect = strstr(t->key, "\"a\"")   ? EFFECT_HELPED
                                     : strstr(t->key, "\"w\"") ? EFFECT_WORSE
                                     : strstr(t->key, "\"u\"") ? EFFECT_UNKNOWN
                                                               : EFFECT_NO_EFFECT;
        CHECK(t->verdicts != NULL);
        for (int k = 0; t->verdicts && k < EFFECT_MAX; k++)
            CHECK_INT(t->verdicts[0][k], k == (int)expect);
    }

    const char *queries[] = {"p95_seconds"};
    struct backtest_about about = {"tv.yaml", "http://127.0.0.1:1", queries, 1};
    json_t *j = backtest_json(b, &about);
    json_t *slow =
        json_object_get(json_object_get(json_object_get(j, "summary"), "verdicts"), "slow");
    CHECK_INT(json_integer_value(json_object_get(slow, "no_effect")), 12);
    CHECK_INT(json_integer_value(json_object_get(slow, "helped")), 1);
    json_t *jt = json_object_get(json_object_get(j, "summary"), "targets");
    for (size_t i = 0; i < json_array_size(jt); i++) {
        json_t *x = json_array_get(jt, i);
        if (strcmp(json_string_value(json_object_get(x, "target")), "{service=\"w\"}") == 0)
            CHECK_INT(json_integer_value(json_object_get(
                          json_object_get(json_object_get(x, "verdicts"), "slow"), "worse")),
                      1);
    }
    json_decref(j);

    char *text = text_of(b, &about);
    CHECK_CONTAINS(text, "  slow: helped 1, no_effect 12, worse 1, unknown 1\n"
                         "    no effect at 12 targets: {service=\"n00\"} (1 of 1), "
                         "{service=\"n01\"} (1 of 1), ");
    CHECK_CONTAINS(text, "{service=\"n09\"} (1 of 1) and 2 more\n");
    CHECK(!strstr(text, "{service=\"n10\"} (1 of 1)"));
    free(text);
    backtest_result_free(b);
    promql_range_free(&s);
    rules_free(r);
}

TEST_MAIN(TEST_ENTRY(time_forms), TEST_ENTRY(time_rejects), TEST_ENTRY(chunk_arithmetic),
          TEST_ENTRY(range_reply_points), TEST_ENTRY(range_reply_chunk_boundary),
          TEST_ENTRY(range_reply_errors), TEST_ENTRY(query_range_in_chunks),
          TEST_ENTRY(replay_timeline_and_summary), TEST_ENTRY(ruletest_agrees_with_backtest),
          TEST_ENTRY(alert_signal_query), TEST_ENTRY(replay_refuses_mismatched_ranges),
          TEST_ENTRY(replay_regulator_trajectory), TEST_ENTRY(replay_verdicts),
          TEST_ENTRY(replay_targets_verdicts), TEST_ENTRY(replay_targets_regulator_trajectories),
          TEST_ENTRY(ruletest_agrees_with_backtest_on_regulators))
