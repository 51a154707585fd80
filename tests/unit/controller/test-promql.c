/* test-promql: controller/clients/promql.c. promql_parse_reply over the reply bodies in
 * fixtures/promql (vector, scalar, NaN, ±Inf, error bodies, warnings, matrix, HTML,
 * truncated, wrong types) and a fuzz loop; promql_query_many against a fake Prometheus
 * on common/httpd (request shape, auth, headers, dedupe, keep-alive, HTTP errors,
 * too large) and a raw thread-per-connection server (one slow query among fast ones,
 * a reply cut short, an unbounded stream); a refused connection. With
 * HOMEOSTAT_PROMETHEUS_URL set (tests/integration/controller/promql_prometheus.sh) the test
 * real_prometheus_queries runs against a real Prometheus; with HOMEOSTAT_VICTORIAMETRICS_URL
 * (tests/integration/controller/victoriametrics.sh), real_victoriametrics_queries against
 * VictoriaMetrics. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "httpd.h"
#include "parse.h"
#include "ivec.h"
#include "promql.h"
#include "test.h"

#define T0 1700000000.0

/* ---- promql_parse_reply over fixtures ---------------------------------------------- */

struct reply_case {
    const char *file; /* fixtures/promql/FILE, or NULL for body */
    const char *body;
    long http_status;
    enum promql_error error;
    double value;       /* when OK */
    double sample_time; /* when OK */
    const char *detail;
    const char *warnings;
};

static const struct reply_case reply_cases[] = {
    {"vector-one.json", NULL, 200, PROMQL_OK, 0.75, T0 + 0.123, "", ""},
    {"vector-zero.json", NULL, 200, PROMQL_ERR_EMPTY, 0, 0, "empty result", ""},
    {"vector-three.json", NULL, 200, PROMQL_ERR_MULTIPLE, 0, 0, "3 series (use sum or max)", ""},
    {"scalar.json", NULL, 200, PROMQL_OK, 42, T0 + 0.5, "", ""},
    {"nan.json", NULL, 200, PROMQL_ERR_NAN, 0, 0, "NaN", ""},
    {"plus-inf.json", NULL, 200, PROMQL_OK, INFINITY, T0, "", ""},
    {"minus-inf.json", NULL, 200, PROMQL_OK, -INFINITY, T0, "", ""},
    {"inf.json", NULL, 200, PROMQL_OK, INFINITY, T0, "", ""},
    {"error-bad-data.json", NULL, 400, PROMQL_ERR_QUERY, 0, 0,
     "bad_data: 1:5: parse error: unexpected character", ""},
    {"error-bad-data.json", NULL, 200, PROMQL_ERR_QUERY, 0, 0,
     "bad_data: 1:5: parse error: unexpected character", ""},
    {"error-execution.json", NULL, 422, PROMQL_ERR_QUERY, 0, 0,
     "execution: query processing would load too many samples into memory in query execution", ""},
    {"error-timeout.json", NULL, 503, PROMQL_ERR_TIMEOUT, 0, 0,
     "timeout: query timed out in expression evaluation", ""},
    {"warnings.json", NULL, 200, PROMQL_OK, 3, T0, "",
     "PromQL info: metric might not be a counter, name does not end in _total/_sum/_count/_bucket: "
     "\"requests\"; store gateway partial response"},
    {"matrix.json", NULL, 200, PROMQL_ERR_PARSE, 0, 0, "range vector: use an instant query", ""},
    {"string.json", NULL, 200, PROMQL_ERR_PARSE, 0, 0, "string result: not a number", ""},
    {"html-502.html", NULL, 200, PROMQL_ERR_PARSE, 0, 0,
     "reply is not JSON: \"502 Bad Gateway 502 Bad Gateway nginx/1.22.1\"", ""},
    {"html-502.html", NULL, 502, PROMQL_ERR_HTTP, 0, 0,
     "HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx/1.22.1", ""},
    {"truncated.json", NULL, 200, PROMQL_ERR_PARSE, 0, 0,
     "invalid JSON at 1:107: premature end of input near '\"0.'", ""},
    {"empty.json", NULL, 200, PROMQL_ERR_PARSE, 0, 0, "empty reply", ""},
    {"empty.json", NULL, 503, PROMQL_ERR_HTTP, 0, 0, "HTTP 503: service unavailable", ""},
    {"huge-number.json", NULL, 200, PROMQL_OK, 1.7976931348623157e308, T0, "", ""},
    {"out-of-range.json", NULL, 200, PROMQL_ERR_NAN, 0, 0, "not a number: \"1e999\" (out of range)",
     ""},
    {"not-a-number.json", NULL, 200, PROMQL_ERR_NAN, 0, 0, "not a number: \"twelve\"", ""},
    {"value-number.json", NULL, 200, PROMQL_ERR_PARSE, 0, 0, "sample value is not a string", ""},
    {"missing-value.json", NULL, 200, PROMQL_ERR_PARSE, 0, 0, "series has no \"value\"", ""},
    {"native-histogram.json", NULL, 200, PROMQL_ERR_PARSE, 0, 0,
     "native histogram: use histogram_quantile, histogram_count or histogram_sum", ""},
    {"extra-fields.json", NULL, 200, PROMQL_OK, -2.5e-3, T0, "", ""},
    /* Short shapes inline. */
    {NULL, "[1,2]", 200, PROMQL_ERR_PARSE, 0, 0, "reply is not JSON: \"[1,2]\"", ""},
    {NULL, "{}", 200, PROMQL_ERR_PARSE, 0, 0, "reply has no \"status\"", ""},
    {NULL, "{\"status\":\"maybe\"}", 200, PROMQL_ERR_PARSE, 0, 0, "unknown status \"maybe\"", ""},
    {NULL, "{\"status\":\"success\"}", 200, PROMQL_ERR_PARSE, 0, 0, "reply has no \"data\" object",
     ""},
    {NULL, "{\"status\":\"success\",\"data\":{\"result\":[]}}", 200, PROMQL_ERR_PARSE, 0, 0,
     "reply has no \"resultType\"", ""},
    {NULL, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":{}}}", 200,
     PROMQL_ERR_PARSE, 0, 0, "vector result is not an array", ""},
    {NULL, "{\"status\":\"success\",\"data\":{\"resultType\":\"table\",\"result\":[]}}", 200,
     PROMQL_ERR_PARSE, 0, 0, "unknown resultType \"table\"", ""},
    {NULL, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"2\",3]}}",
     200, PROMQL_ERR_PARSE, 0, 0, "sample is not a [timestamp, \"value\"] pair", ""},
    {NULL, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[\"1\",\"2\"]}}",
     200, PROMQL_ERR_PARSE, 0, 0, "sample timestamp is not a number", ""},
    {NULL, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[7]}}", 200,
     PROMQL_ERR_PARSE, 0, 0, "series is not an object", ""},
    {NULL, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\" 2\"]}}",
     200, PROMQL_ERR_NAN, 0, 0, "not a number: \" 2\"", ""},
    {NULL, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"0x10\"]}}",
     200, PROMQL_ERR_NAN, 0, 0, "not a number: \"0x10\"", ""},
    {NULL, "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"\"]}}", 200,
     PROMQL_ERR_NAN, 0, 0, "not a number: \"\"", ""},
    {NULL, "{\"status\":\"error\"}", 200, PROMQL_ERR_QUERY, 0, 0, "error without a message", ""},
    {NULL, "{\"status\":\"error\",\"error\":\"no org id\"}", 401, PROMQL_ERR_HTTP, 0, 0,
     "HTTP 401: no org id", ""},
    {NULL, "{\"status\":\"success\"} trailing", 200, PROMQL_ERR_PARSE, 0, 0,
     "invalid JSON at 1:29: end of file expected near 'trailing'", ""},
    {NULL, "  \r\n", 200, PROMQL_ERR_PARSE, 0, 0, "empty reply", ""},
    {NULL, "upstream connect error\n", 503, PROMQL_ERR_HTTP, 0, 0,
     "HTTP 503: upstream connect error", ""},
    {NULL, "", 404, PROMQL_ERR_HTTP, 0, 0, "HTTP 404: not found", ""},
    {NULL, "", 302, PROMQL_ERR_HTTP, 0, 0, "HTTP 302: found (redirects are not followed)", ""},
    {NULL, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", 500,
     PROMQL_ERR_HTTP, 0, 0,
     "HTTP 500: {\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", ""},
    /* An error message with a line break and invalid UTF-8 stays one readable line. */
    {NULL,
     "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"line1\\nline2\\t\\u00e9\"}", 400,
     PROMQL_ERR_QUERY, 0, 0, "bad_data: line1 line2 \xc3\xa9", ""},
    {NULL, "\xff\xfe<p>caf\xe9</p>", 200, PROMQL_ERR_PARSE, 0, 0, "reply is not JSON: \"?? caf?\"",
     ""},
};

static char *read_body(const struct reply_case *tc, size_t *len)
{
    if (!tc->file) {
        *len = strlen(tc->body);
        char *copy = malloc(*len + 1);
        memcpy(copy, tc->body, *len + 1);
        return copy;
    }
    char rel[256];
    snprintf(rel, sizeof(rel), "promql/%s", tc->file);
    char *data = NULL;
    if (file_read_alloc(test_fixture(rel), 1 << 20, &data, len) < 0)
        return NULL;
    return data;
}

TEST(parse_reply_fixtures)
{
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
        const struct reply_case *tc = &reply_cases[i];
        size_t len = 0;
        char *body = read_body(tc, &len);
        if (!body)
            TEST_FAIL("cannot read fixture %s", tc->file);
        /* An exact-size copy without a NUL: the parser must respect len. */
        char *exact = malloc(len ? len : 1);
        memcpy(exact, body, len);
        free(body);
        struct promql_result r;
        memset(&r, 0xa5, sizeof(r));
        promql_parse_reply(exact, len, tc->http_status, &r);
        free(exact);
        const char *what = tc->file ? tc->file : tc->body;
        if (r.error != tc->error || strcmp(r.detail, tc->detail) != 0 ||
            strcmp(r.warnings, tc->warnings) != 0)
            TEST_FAIL("case %zu (%s, HTTP %ld): got %s \"%s\" warnings \"%s\", expected %s "
                      "\"%s\" warnings \"%s\"",
                      i, what, tc->http_status, promql_error_name(r.error), r.detail, r.warnings,
                      promql_error_name(tc->error), tc->detail, tc->warnings);
        CHECK_INT(r.http_status, tc->http_status);
        if (tc->error == PROMQL_OK) {
            if (isinf(tc->value))
                CHECK(r.value == tc->value);
            else
                CHECK_DBL(r.value, tc->value, 0);
            CHECK_DBL(r.sample_time, tc->sample_time, 1e-6);
        } else {
            CHECK(isnan(r.value));
        }
        CHECK_DBL(r.duration_seconds, 0, 0);
    }
}

TEST(parse_reply_limits)
{
    struct promql_result r;
    promql_parse_reply(NULL, 0, 200, &r);
    CHECK_INT(r.error, PROMQL_ERR_PARSE);
    CHECK_STR(r.detail, "empty reply");

    /* Over the limit: refused without being parsed. */
    size_t big = PROMQL_MAX_REPLY_BYTES + 1;
    char *body = malloc(big);
    memset(body, ' ', big);
    promql_parse_reply(body, big, 200, &r);
    free(body);
    CHECK_INT(r.error, PROMQL_ERR_TOO_LARGE);
    CHECK_STR(r.detail, "reply larger than 4194304 bytes");

    /* Deep nesting is refused by jansson's depth limit, not by the stack. */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "{\"status\":\"success\",\"data\":");
    for (int i = 0; i < 100000; i++)
        buf_putc(&b, '[');
    promql_parse_reply(b.data, b.len, 200, &r);
    buf_free(&b);
    CHECK_INT(r.error, PROMQL_ERR_PARSE);
    CHECK_CONTAINS(r.detail, "invalid JSON at 1:");

    /* A long error message is cut on a character boundary and stays NUL-terminated. */
    buf_init(&b, 0);
    buf_puts(&b, "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"");
    for (int i = 0; i < 400; i++)
        buf_puts(&b, "\xe2\x82\xac"); /* the euro sign */
    buf_puts(&b, "\"}");
    promql_parse_reply(b.data, b.len, 400, &r);
    buf_free(&b);
    CHECK_INT(r.error, PROMQL_ERR_QUERY);
    CHECK(strlen(r.detail) < sizeof(r.detail));
    CHECK(strlen(r.detail) >= sizeof(r.detail) - 4);
    json_t *s = json_string(r.detail);
    CHECK(s != NULL); /* valid UTF-8 */
    json_decref(s);

    /* Many warnings are joined and cut, never overflowed. */
    buf_init(&b, 0);
    buf_puts(&b,
             "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"1\"]},"
             "\"warnings\":[");
    for (int i = 0; i < 100; i++)
        buf_printf(&b, "%s\"warning number %d\"", i ? "," : "", i);
    buf_puts(&b, ",7]}");
    promql_parse_reply(b.data, b.len, 200, &r);
    buf_free(&b);
    CHECK_INT(r.error, PROMQL_OK);
    CHECK(strncmp(r.warnings, "warning number 0; warning number 1; ", 36) == 0);
    CHECK(strlen(r.warnings) == sizeof(r.warnings) - 1);
}

TEST(error_names)
{
    CHECK_STR(promql_error_name(PROMQL_OK), "ok");
    CHECK_STR(promql_error_name(PROMQL_ERR_TIMEOUT), "timeout");
    CHECK_STR(promql_error_name(PROMQL_ERR_CONNECT), "connect");
    CHECK_STR(promql_error_name(PROMQL_ERR_HTTP), "http");
    CHECK_STR(promql_error_name(PROMQL_ERR_PARSE), "bad_response");
    CHECK_STR(promql_error_name(PROMQL_ERR_QUERY), "query");
    CHECK_STR(promql_error_name(PROMQL_ERR_EMPTY), "empty");
    CHECK_STR(promql_error_name(PROMQL_ERR_MULTIPLE), "multiple_series");
    CHECK_STR(promql_error_name(PROMQL_ERR_NAN), "nan");
    CHECK_STR(promql_error_name(PROMQL_ERR_TOO_LARGE), "too_large");
    CHECK_STR(promql_error_name(PROMQL_ERR_MAX), "unknown");
}

/* ---- fuzz -------------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* The result's invariants, whatever the input: 0 when they hold. */
static const char *check_invariants(const struct promql_result *r)
{
    if ((unsigned)r->error >= PROMQL_ERR_MAX)
        return "error out of range";
    if (strnlen(r->detail, sizeof(r->detail)) == sizeof(r->detail))
        return "detail not terminated";
    if (strnlen(r->warnings, sizeof(r->warnings)) == sizeof(r->warnings))
        return "warnings not terminated";
    for (const char *p = r->detail; *p; p++)
        if ((unsigned char)*p < 0x20)
            return "control character in detail";
    json_t *d = json_string(r->detail), *w = json_string(r->warnings);
    bool utf8 = d && w;
    json_decref(d);
    json_decref(w);
    if (!utf8)
        return "detail or warnings not valid UTF-8";
    if (r->error == PROMQL_OK && (isnan(r->value) || r->detail[0]))
        return "OK with NaN or a detail";
    if (r->error != PROMQL_OK && (!isnan(r->value) || !r->detail[0]))
        return "an error without a detail, or with a value";
    return NULL;
}

TEST(parse_reply_fuzz)
{
    /* clang-format off */
    static const char *const tokens[] = {
        "{", "}", "[", "]", "\"", ",", ":", "null", "true", "0", "-1", "1e999", "\"NaN\"",
        "\"+Inf\"", "\"-Inf\"", "\"vector\"", "\"scalar\"", "\"matrix\"", "\"success\"",
        "\"error\"", "\"status\"", "\"data\"", "\"result\"", "\"value\"", "\"resultType\"",
        "\"warnings\"", "\\u0000", "\\ud800", "\xff", "\xc3", "\xe2\x82", "\"\\u00e9\"", "\n",
    };
    /* clang-format on */
    static const long statuses[] = {0, 200, 200, 200, 400, 422, 503, 502, 301};
    /* The corpus: every fixture body. */
    char *corpus[64];
    size_t corpus_len[64], n_corpus = 0;
    for (size_t i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]) && n_corpus < 64; i++) {
        corpus[n_corpus] = read_body(&reply_cases[i], &corpus_len[n_corpus]);
        if (corpus[n_corpus])
            n_corpus++;
    }
    CHECK(n_corpus > 20);
    rng_state = 0x9e3779b97f4a7c15ull;
    const char *env = getenv("HOMEOSTAT_FUZZ_SEED");
    unsigned long long seed;
    if (env && parse_u64(env, &seed) == 0 && seed)
        rng_state = seed;
    int ok = 0;
    for (int it = 0; it < 5000; it++) {
        struct buf b;
        buf_init(&b, 0);
        if (rng() % 5 == 0) {
            size_t n = rng() % 300;
            for (size_t i = 0; i < n; i++)
                buf_putc(&b, (char)(rng() & 0xff));
        } else {
            size_t k = rng() % n_corpus;
            buf_append(&b, corpus[k], corpus_len[k]);
            int muts = 1 + (int)(rng() % 8);
            for (int m = 0; m < muts; m++) {
                size_t pos = b.len ? rng() % (b.len + 1) : 0;
                switch (rng() % 5) {
                case 0: /* flip a byte */
                    if (b.len)
                        b.data[rng() % b.len] = (char)(rng() & 0xff);
                    break;
                case 1: /* truncate */ b.len = pos; break;
                case 2: { /* delete a range */
                    size_t n = rng() % 16;
                    if (pos + n > b.len)
                        n = b.len - pos;
                    memmove(b.data + pos, b.data + pos + n, b.len - pos - n);
                    b.len -= n;
                    break;
                }
                default: { /* insert a token */
                    const char *t = tokens[rng() % (sizeof(tokens) / sizeof(tokens[0]))];
                    size_t tl = strlen(t);
                    if (buf_reserve(&b, tl) == 0) {
                        memmove(b.data + pos + tl, b.data + pos, b.len - pos);
                        memcpy(b.data + pos, t, tl);
                        b.len += tl;
                    }
                    break;
                }
                }
            }
        }
        char *exact = malloc(b.len ? b.len : 1);
        if (b.len)
            memcpy(exact, b.data, b.len);
        size_t len = b.len;
        buf_free(&b);
        struct promql_result r;
        long status = statuses[rng() % (sizeof(statuses) / sizeof(statuses[0]))];
        promql_parse_reply(exact, len, status, &r);
        const char *bad = check_invariants(&r);
        if (bad) {
            fprintf(stderr, "  iteration %d (%zu bytes): %s: %s \"%s\"\n  input: %.*s\n", it, len,
                    bad, promql_error_name(r.error), r.detail, (int)len, exact);
            free(exact);
            for (size_t i = 0; i < n_corpus; i++)
                free(corpus[i]);
            TEST_FAIL("invariant broken");
        }
        ok += r.error == PROMQL_OK;
        free(exact);
    }
    for (size_t i = 0; i < n_corpus; i++)
        free(corpus[i]);
    CHECK(ok > 0); /* some mutations leave a valid reply */
}

/* ---- a fake Prometheus on common/httpd --------------------------------------------- */

#define MAX_PORTS 64

struct fake {
    struct httpd *h;
    char url[128];         /* http://127.0.0.1:PORT */
    const char *prefix;    /* path prefix before /api/v1/query ("" or "/prometheus") */
    const char *want_auth; /* the Authorization header expected, NULL: none */
    const char *want_org;  /* the X-Scope-OrgID expected, NULL: none */
    atomic_int requests;
    pthread_mutex_t lock;
    char problem[256];         /* the first thing wrong with a request ("" when none) */
    unsigned ports[MAX_PORTS]; /* client ports, one per request */
    size_t n_ports;
    char last_time[64];
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The decoded value of key in a form body (application/x-www-form-urlencoded), into
 * out; false when absent or malformed. */
static bool form_value(const char *body, size_t len, const char *key, char *out, size_t outsz)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end - i > kl && memcmp(body + i, key, kl) == 0 && body[i + kl] == '=') {
            size_t o = 0;
            for (size_t j = i + kl + 1; j < end; j++) {
                char c = body[j];
                if (c == '+') {
                    c = ' ';
                } else if (c == '%') {
                    if (j + 2 >= end)
                        return false;
                    int hi = hexval(body[j + 1]), lo = hexval(body[j + 2]);
                    if (hi < 0 || lo < 0)
                        return false;
                    c = (char)(hi * 16 + lo);
                    j += 2;
                }
                if (o + 1 >= outsz)
                    return false;
                out[o++] = c;
            }
            out[o] = '\0';
            return true;
        }
        i = end + 1;
    }
    return false;
}

static void fake_problem(struct fake *f, const char *what, const char *arg)
{
    pthread_mutex_lock(&f->lock);
    if (!f->problem[0])
        snprintf(f->problem, sizeof(f->problem), "%s %.200s", what, arg ? arg : "(null)");
    pthread_mutex_unlock(&f->lock);
}

#define SPECIAL_QUERY "sum(rate(http_requests_total{code=~\"5..\",path=\"/a&b=c d+e%\"}[5m]))"

static void vector_reply(struct httpd_response *resp, const char *time, const char *value)
{
    httpd_reply(resp, 200, "application/json",
                "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
                "[{\"metric\":{\"job\":\"fake\"},\"value\":[%s,\"%s\"]}]}}",
                time, value);
}

static void fake_handler(void *userdata, const struct httpd_request *req,
                         struct httpd_response *resp)
{
    struct fake *f = userdata;
    atomic_fetch_add(&f->requests, 1);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    pthread_mutex_lock(&f->lock);
    if (ci && ci->client_addr && f->n_ports < MAX_PORTS)
        f->ports[f->n_ports++] = ntohs(((const struct sockaddr_in *)ci->client_addr)->sin_port);
    pthread_mutex_unlock(&f->lock);

    char want_path[128];
    snprintf(want_path, sizeof(want_path), "%s/api/v1/query", f->prefix ? f->prefix : "");
    if (strcmp(req->method, "POST") != 0) {
        fake_problem(f, "method", req->method);
        httpd_reply_error(resp, 405, "method not allowed");
        return;
    }
    if (strcmp(req->path, want_path) != 0) {
        fake_problem(f, "path", req->path);
        httpd_reply_error(resp, 404, "not found");
        return;
    }
    const char *ct = httpd_header(req, "Content-Type");
    if (!ct || strcmp(ct, "application/x-www-form-urlencoded") != 0)
        fake_problem(f, "content type", ct);
    const char *accept = httpd_header(req, "Accept");
    if (!accept || strcmp(accept, "application/json") != 0)
        fake_problem(f, "accept", accept);
    const char *ua = httpd_header(req, "User-Agent");
    if (!ua || strcmp(ua, "homeostat-controller/" HOMEOSTAT_VERSION) != 0)
        fake_problem(f, "user agent", ua);
    const char *auth = httpd_header(req, "Authorization");
    if (f->want_auth ? !auth || strcmp(auth, f->want_auth) != 0 : auth != NULL) {
        httpd_reply_error(resp, 401, "unauthorized");
        return;
    }
    const char *org = httpd_header(req, "X-Scope-OrgID");
    if (f->want_org ? !org || strcmp(org, f->want_org) != 0 : org != NULL) {
        httpd_reply_error(resp, 401, "no org id");
        return;
    }
    char query[512], time[64], timeout[64];
    if (!form_value(req->body, req->body_len, "query", query, sizeof(query)) ||
        !form_value(req->body, req->body_len, "time", time, sizeof(time)) ||
        !form_value(req->body, req->body_len, "timeout", timeout, sizeof(timeout))) {
        fake_problem(f, "form body", req->body);
        httpd_reply(resp, 400, "application/json",
                    "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"form\"}");
        return;
    }
    pthread_mutex_lock(&f->lock);
    snprintf(f->last_time, sizeof(f->last_time), "%s", time);
    pthread_mutex_unlock(&f->lock);

    if (strcmp(query, "up") == 0) {
        vector_reply(resp, time, "1");
    } else if (strcmp(query, SPECIAL_QUERY) == 0) {
        vector_reply(resp, time, "42.5");
    } else if (strcmp(query, "time()") == 0) {
        httpd_reply(resp, 200, "application/json",
                    "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":"
                    "[%s,\"%s\"]}}",
                    time, time);
    } else if (strcmp(query, "absent_metric") == 0) {
        httpd_reply(resp, 200, "application/json",
                    "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}");
    } else if (strcmp(query, "up_by_instance") == 0) {
        httpd_reply(resp, 200, "application/json",
                    "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
                    "{\"metric\":{\"i\":\"a\"},\"value\":[%s,\"1\"]},"
                    "{\"metric\":{\"i\":\"b\"},\"value\":[%s,\"1\"]}]}}",
                    time, time);
    } else if (strcmp(query, "unavailable") == 0) {
        httpd_reply(resp, 503, "text/plain", "service unavailable\n");
    } else if (strcmp(query, "garbage") == 0) {
        httpd_reply(resp, 200, "text/html", "<html><body>Welcome to nginx!</body></html>\n");
    } else if (strcmp(query, "sum(") == 0) {
        httpd_reply(resp, 400, "application/json",
                    "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid "
                    "parameter \\\"query\\\": 1:5: parse error: unexpected end of input\"}");
    } else if (strcmp(query, "huge") == 0) {
        size_t n = 5u << 20;
        if (buf_reserve(&resp->body, n) == 0) {
            memset(resp->body.data, ' ', n);
            resp->body.len = n;
            resp->body.data[n] = '\0';
        }
        resp->status = 200;
        resp->content_type = "application/json";
    } else {
        fake_problem(f, "unexpected query", query);
        httpd_reply(resp, 400, "application/json",
                    "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"unknown\"}");
    }
}

static int fake_start(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->prefix = "";
    struct httpd_options o = {.listen_address = "127.0.0.1:0", .threads = 4};
    if (httpd_start(&o, fake_handler, f, &f->h) < 0)
        return -1;
    snprintf(f->url, sizeof(f->url), "http://%s", httpd_bound_address(f->h));
    return 0;
}

static void fake_stop(struct fake *f)
{
    httpd_stop(f->h);
    pthread_mutex_destroy(&f->lock);
}

static struct promql_client *client_for(const char *url, uint64_t timeout_usec)
{
    struct http_client_config cfg = {.url = (char *)url, .timeout_usec = timeout_usec};
    struct promql_client *c = NULL;
    struct buf errors;
    buf_init(&errors, 0);
    if (promql_client_new(&cfg, &c, &errors) < 0)
        fprintf(stderr, "  promql_client_new: %s", errors.data ? errors.data : "?");
    buf_free(&errors);
    return c;
}

/* ---- promql_parse_vector: the targets' reader ---- */

TEST(parse_vector)
{
    static const char *const keep[] = {"service", "job"};
    struct promql_result r;
    struct ivec v;
    ivec_init(&v);
    /* members in any order, escapes, UTF-8, unknown members skipped, labels not kept */
    const char *body =
        "{\"data\": {\"result\": [{\"value\": [1700000000.5, \"0.25\"], \"metric\": "
        "{\"__name__\": \"m\", \"service\": \"a\\\"b\\\\c\\u00e9\\ud83d\\ude00\", \"pod\": \"p\"}},"
        " {\"metric\": {\"service\": \"b\", \"job\": \"j\"}, \"value\": [1700000001, \"NaN\"], "
        "\"extra\": [1, {\"x\": null}]},"
        " {\"metric\": {\"service\": \"c\"}, \"histogram\": [1, {\"count\": \"1\"}]},"
        " {\"metric\": {\"service\": \"d\"}, \"value\": [1, \"abc\"]},"
        " {\"metric\": {\"service\": \"e\"}, \"value\": [1, \"-Inf\"]}],"
        " \"resultType\": \"vector\", \"stats\": {\"x\": [true, false]}}, \"status\": \"success\","
        " \"warnings\": [\"partial\", \"more\"]}";
    CHECK(promql_parse_vector(body, strlen(body), 200, keep, 2, &r, &v));
    CHECK_INT(r.error, PROMQL_ERR_MULTIPLE);
    CHECK_STR(r.detail, "5 series (use sum or max)");
    CHECK_STR(r.warnings, "partial; more");
    CHECK_INT(v.n, 5);
    CHECK_STR(ivec_label(&v, 0, "service"), "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(ivec_label(&v, 0, "__name__") == NULL); /* not kept */
    CHECK(ivec_label(&v, 0, "pod") == NULL);
    CHECK_INT(v.s[0].n_labels, 1);
    CHECK_INT(v.s[0].sample, IVEC_VALUE);
    CHECK_DBL(v.s[0].value, 0.25, 0);
    CHECK_DBL(v.s[0].ts, 1700000000.5, 0);
    CHECK_STR(ivec_label(&v, 1, "job"), "j");
    CHECK_INT(v.s[1].sample, IVEC_NAN);
    CHECK_INT(v.s[2].sample, IVEC_NO_VALUE); /* a native histogram */
    CHECK_INT(v.s[3].sample, IVEC_NOT_A_NUMBER);
    CHECK_STR(ivec_bad_text(&v, 3), "abc");
    CHECK_INT(v.s[4].sample, IVEC_VALUE);
    CHECK(isinf(v.s[4].value) && v.s[4].value < 0);

    /* every label kept */
    CHECK(promql_parse_vector(body, strlen(body), 200, NULL, 0, &r, &v));
    CHECK_STR(ivec_label(&v, 0, "pod"), "p");
    CHECK_STR(ivec_label(&v, 0, "__name__"), "m");

    /* one series and a scalar: the single number's words, as promql_parse_reply */
    const char *one = "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
                      "[{\"metric\":{\"service\":\"x\"},\"value\":[1700000000,\"3\"]}]}}";
    CHECK(promql_parse_vector(one, strlen(one), 200, keep, 2, &r, &v));
    CHECK_INT(r.error, PROMQL_OK);
    CHECK_DBL(r.value, 3, 0);
    CHECK_INT(v.n, 1);
    const char *scalar = "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
                         "\"result\":[1700000000,\"7\"]}}";
    CHECK(promql_parse_vector(scalar, strlen(scalar), 200, keep, 2, &r, &v));
    CHECK_INT(v.n, 1);
    CHECK_INT(v.s[0].n_labels, 0);
    CHECK_DBL(v.s[0].value, 7, 0);
    const char *empty =
        "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}";
    CHECK(promql_parse_vector(empty, strlen(empty), 200, keep, 2, &r, &v));
    CHECK_INT(v.n, 0);
    CHECK_INT(r.error, PROMQL_ERR_EMPTY);

    /* no vector: the reference's words for every error */
    static const struct {
        const char *body;
        long status;
        int error;
        const char *detail;
    } bad[] = {
        {"{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"1:5: parse error\"}", 400,
         PROMQL_ERR_QUERY, "bad_data: 1:5: parse error"},
        {"<html>502 Bad Gateway</html>", 502, PROMQL_ERR_HTTP, "HTTP 502: 502 Bad Gateway"},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}", 200,
         PROMQL_ERR_PARSE, "range vector: use an instant query"},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{]}}", 200,
         PROMQL_ERR_PARSE, NULL},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}} x", 200,
         PROMQL_ERR_PARSE, NULL},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":"
         "{\"service\":\"a\\u0000\"},\"value\":[1,\"1\"]}, {}]}}",
         200, PROMQL_ERR_PARSE, NULL},
        {"{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":"
         "{\"service\":\"a\",\"service\":\"b\"},\"value\":[1,\"1\"]}, {}]}}",
         200, PROMQL_ERR_PARSE, "a series with one label twice"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct promql_result ref;
        promql_parse_reply(bad[i].body, strlen(bad[i].body), bad[i].status, &ref);
        CHECK(
            !promql_parse_vector(bad[i].body, strlen(bad[i].body), bad[i].status, keep, 2, &r, &v));
        CHECK_INT(v.n, 0);
        CHECK_INT(r.error, bad[i].error);
        if (bad[i].detail)
            CHECK_STR(r.detail, bad[i].detail);
        else
            CHECK_STR(r.detail, ref.detail); /* jansson's own words, line and column */
    }
    ivec_free(&v);
}

TEST(query_many_fake_prometheus)
{
    struct fake f;
    CHECK(fake_start(&f) == 0);
    struct promql_client *c = client_for(f.url, 2000000);
    if (!c) {
        fake_stop(&f);
        TEST_FAIL("no client");
    }
    const char *const queries[] = {
        "up",          SPECIAL_QUERY, "time()", "absent_metric", "up_by_instance",
        "unavailable", "garbage",     "sum(",   "huge",
    };
    enum { N = sizeof(queries) / sizeof(queries[0]) };
    struct promql_result res[N];
    double t = T0 + 0.123;
    promql_query_many(c, queries, N, t, res);
    promql_client_free(c);
    int requests = atomic_load(&f.requests);
    char problem[256], last_time[64];
    snprintf(problem, sizeof(problem), "%s", f.problem);
    snprintf(last_time, sizeof(last_time), "%s", f.last_time);
    fake_stop(&f);

    CHECK_STR(problem, "");
    CHECK_INT(requests, N);
    CHECK_STR(last_time, "1700000000.123");
    for (size_t i = 0; i < N; i++) {
        CHECK(res[i].duration_seconds > 0 && res[i].duration_seconds < 10);
        CHECK_STR(res[i].warnings, "");
    }
    CHECK_INT(res[0].error, PROMQL_OK);
    CHECK_DBL(res[0].value, 1, 0);
    CHECK_DBL(res[0].sample_time, t, 1e-6);
    CHECK_INT(res[0].http_status, 200);
    CHECK_STR(res[0].detail, "");
    CHECK_INT(res[1].error, PROMQL_OK);
    CHECK_DBL(res[1].value, 42.5, 0);
    CHECK_INT(res[2].error, PROMQL_OK);
    CHECK_DBL(res[2].value, t, 1e-6);
    CHECK_INT(res[3].error, PROMQL_ERR_EMPTY);
    CHECK_STR(res[3].detail, "empty result");
    CHECK(isnan(res[3].value));
    CHECK_INT(res[4].error, PROMQL_ERR_MULTIPLE);
    CHECK_STR(res[4].detail, "2 series (use sum or max)");
    CHECK_INT(res[5].error, PROMQL_ERR_HTTP);
    CHECK_INT(res[5].http_status, 503);
    CHECK_STR(res[5].detail, "HTTP 503: service unavailable");
    CHECK_INT(res[6].error, PROMQL_ERR_PARSE);
    CHECK_STR(res[6].detail, "reply is not JSON: \"Welcome to nginx!\"");
    CHECK_INT(res[7].error, PROMQL_ERR_QUERY);
    CHECK_INT(res[7].http_status, 400);
    CHECK_STR(res[7].detail,
              "bad_data: invalid parameter \"query\": 1:5: parse error: unexpected end of input");
    CHECK_INT(res[8].error, PROMQL_ERR_TOO_LARGE);
    CHECK_STR(res[8].detail, "reply larger than 4194304 bytes");
}

TEST(query_many_dedupe_and_keepalive)
{
    struct fake f;
    CHECK(fake_start(&f) == 0);
    /* A trailing slash on the base URL and a path prefix (Mimir's /prometheus). */
    f.prefix = "/prometheus";
    char url[160];
    snprintf(url, sizeof(url), "%s/prometheus/", f.url);
    struct promql_client *c = client_for(url, 2000000);
    if (!c) {
        fake_stop(&f);
        TEST_FAIL("no client");
    }
    const char *const same[] = {"up", "up", "up", "up", "up"};
    struct promql_result res[5];
    promql_query_many(c, same, 5, T0, res);
    int after_same = atomic_load(&f.requests);
    bool all_ok = true;
    for (int i = 0; i < 5; i++)
        all_ok &= res[i].error == PROMQL_OK && res[i].value == 1;

    const char *const mixed[] = {"up", "absent_metric", "up", NULL, "absent_metric"};
    promql_query_many(c, mixed, 5, T0, res);
    int after_mixed = atomic_load(&f.requests);

    /* Three more evaluations of one query: one kept-alive connection. */
    const char *const one[] = {"up"};
    struct promql_result r1;
    for (int i = 0; i < 3; i++)
        promql_query_many(c, one, 1, T0 + i, &r1);
    promql_client_free(c);
    char problem[256];
    snprintf(problem, sizeof(problem), "%s", f.problem);
    unsigned ports[MAX_PORTS];
    size_t n_ports = f.n_ports;
    memcpy(ports, f.ports, sizeof(ports));
    fake_stop(&f);

    CHECK_STR(problem, "");
    CHECK_INT(after_same, 1);
    CHECK(all_ok);
    CHECK_INT(after_mixed - after_same, 2);
    CHECK_INT(res[0].error, PROMQL_OK);
    CHECK_INT(res[2].error, PROMQL_OK);
    CHECK_INT(res[1].error, PROMQL_ERR_EMPTY);
    CHECK_INT(res[4].error, PROMQL_ERR_EMPTY);
    CHECK_INT(res[3].error, PROMQL_ERR_PARSE);
    CHECK_STR(res[3].detail, "no query");
    CHECK_INT(r1.error, PROMQL_OK);
    CHECK_INT(n_ports, 6);
    CHECK(ports[3] != 0 && ports[3] == ports[4] && ports[4] == ports[5]);
}

static char *write_tmp(const char *dir, const char *name, const char *content)
{
    static char path[3][512];
    static int k;
    char *p = path[k++ % 3];
    snprintf(p, 512, "%s/%s", dir, name);
    if (file_write_atomic(p, content, strlen(content), 0600) < 0)
        return NULL;
    return p;
}

TEST(query_many_auth_and_headers)
{
    char *dir = test_tmpdir();
    CHECK(dir != NULL);
    char *token = write_tmp(dir, "token", "s3cret-token\n");
    char *password = write_tmp(dir, "password", "wonder land\r\n");
    CHECK(token && password);
    struct fake f;
    CHECK(fake_start(&f) == 0);
    char *headers[] = {"X-Scope-OrgID: tenant-1", "X-Extra: yes", NULL};
    const char *const q[] = {"up"};
    struct promql_result r;

    /* Bearer token (trailing newline trimmed) and the tenant header. */
    f.want_auth = "Bearer s3cret-token";
    f.want_org = "tenant-1";
    struct http_client_config cfg = {.url = f.url,
                                     .timeout_usec = 2000000,
                                     .bearer_token_file = token,
                                     .headers = headers,
                                     .n_headers = 2};
    struct promql_client *c = NULL;
    struct buf errors;
    buf_init(&errors, 0);
    int rc = promql_client_new(&cfg, &c, &errors);
    if (rc == 0) {
        promql_query_many(c, q, 1, T0, &r);
        promql_client_free(c);
    }
    enum promql_error bearer_error = rc == 0 ? r.error : PROMQL_ERR_MAX;

    /* Basic auth. */
    f.want_auth = "Basic YWxpY2U6d29uZGVyIGxhbmQ=";
    f.want_org = NULL;
    struct http_client_config basic = {.url = f.url,
                                       .timeout_usec = 2000000,
                                       .basic_auth_username = "alice",
                                       .basic_auth_password_file = password};
    rc = promql_client_new(&basic, &c, &errors);
    if (rc == 0) {
        promql_query_many(c, q, 1, T0, &r);
        promql_client_free(c);
    }
    enum promql_error basic_error = rc == 0 ? r.error : PROMQL_ERR_MAX;

    /* A server that wants a token that was not sent: HTTP 401 with its message. */
    f.want_auth = "Bearer other";
    c = client_for(f.url, 2000000);
    struct promql_result unauth = {0};
    if (c) {
        promql_query_many(c, q, 1, T0, &unauth);
        promql_client_free(c);
    }
    char problem[256];
    snprintf(problem, sizeof(problem), "%s", f.problem);
    fake_stop(&f);
    unlink(token);
    unlink(password);
    rmdir(dir);
    if (errors.len)
        fprintf(stderr, "  errors: %s", errors.data);
    buf_free(&errors);

    CHECK_STR(problem, "");
    CHECK_STR(promql_error_name(bearer_error), "ok");
    CHECK_STR(promql_error_name(basic_error), "ok");
    CHECK_INT(unauth.error, PROMQL_ERR_HTTP);
    CHECK_INT(unauth.http_status, 401);
    CHECK_STR(unauth.detail, "HTTP 401: unauthorized");
}

TEST(client_new_errors)
{
    struct buf errors;
    buf_init(&errors, 0);
    struct promql_client *c = (struct promql_client *)1;

    struct http_client_config missing = {.url = "http://127.0.0.1:9090",
                                         .bearer_token_file = "/nonexistent/homeostat/token"};
    CHECK_INT(promql_client_new(&missing, &c, &errors), -ENOENT);
    CHECK(c == (struct promql_client *)1); /* untouched on failure */
    CHECK_STR(errors.data, "/nonexistent/homeostat/token: cannot read bearer token: No such "
                           "file or directory\n");

    buf_reset(&errors);
    struct http_client_config pw = {.url = "http://127.0.0.1:9090",
                                    .basic_auth_username = "u",
                                    .basic_auth_password_file = "/nonexistent/homeostat/pw"};
    CHECK_INT(promql_client_new(&pw, &c, &errors), -ENOENT);
    CHECK_STR(errors.data, "/nonexistent/homeostat/pw: cannot read basic auth password: No such "
                           "file or directory\n");

    char *dir = test_tmpdir();
    char *empty = write_tmp(dir, "empty", "\n");
    char *twolines = write_tmp(dir, "twolines", "abc\ndef\n");
    buf_reset(&errors);
    struct http_client_config e1 = {.url = "http://127.0.0.1:9090", .bearer_token_file = empty};
    CHECK_INT(promql_client_new(&e1, &c, &errors), -EINVAL);
    CHECK_CONTAINS(errors.data, "/empty: bearer token file is empty");
    buf_reset(&errors);
    struct http_client_config e2 = {.url = "http://127.0.0.1:9090", .bearer_token_file = twolines};
    CHECK_INT(promql_client_new(&e2, &c, &errors), -EINVAL);
    CHECK_CONTAINS(errors.data, "/twolines: bearer token contains a control character");
    unlink(empty);
    unlink(twolines);
    rmdir(dir);

    buf_reset(&errors);
    struct http_client_config scheme = {.url = "ftp://example.org"};
    CHECK_INT(promql_client_new(&scheme, &c, &errors), -EINVAL);
    CHECK_CONTAINS(errors.data, "ftp://example.org");

    buf_reset(&errors);
    char *bad_headers[] = {"X-Scope-OrgID tenant", NULL};
    struct http_client_config hdr = {.url = "http://x", .headers = bad_headers, .n_headers = 1};
    CHECK_INT(promql_client_new(&hdr, &c, &errors), -EINVAL);
    CHECK_CONTAINS(errors.data, "'X-Scope-OrgID tenant'");

    buf_reset(&errors);
    char *inject[] = {"X-A: b\r\nX-Evil: 1", NULL};
    struct http_client_config inj = {.url = "http://x", .headers = inject, .n_headers = 1};
    CHECK_INT(promql_client_new(&inj, &c, &errors), -EINVAL);
    buf_free(&errors);
    promql_client_free(NULL);
}

/* A loopback port that refuses connections: bound, never listening (so nobody else
 * gets it while the test runs). Returns the socket (close it) and the port. */
static int refusing_port(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

TEST(query_many_connection_refused)
{
    unsigned port;
    int fd = refusing_port(&port);
    CHECK(fd >= 0);
    char url[128], shown[128];
    snprintf(url, sizeof(url), "http://admin:hunter2@127.0.0.1:%u/", port);
    snprintf(shown, sizeof(shown), "connection refused (http://127.0.0.1:%u)", port);
    struct promql_client *c = client_for(url, 2000000);
    const char *const q[] = {"up", "absent_metric"};
    struct promql_result r[2];
    uint64_t t0 = now_usec();
    if (c)
        promql_query_many(c, q, 2, T0, r);
    uint64_t took = now_usec() - t0;
    promql_client_free(c);
    close(fd);
    CHECK(c != NULL);
    CHECK_INT(r[0].error, PROMQL_ERR_CONNECT);
    CHECK_INT(r[1].error, PROMQL_ERR_CONNECT);
    CHECK_STR(r[0].detail, shown); /* the password is not shown */
    CHECK_INT(r[0].http_status, 0);
    CHECK(took < 1000000); /* long before the 2 s timeout */
}

TEST(query_many_tls_errors)
{
    struct fake f;
    CHECK(fake_start(&f) == 0);
    /* https:// to a plain HTTP server: the TLS handshake fails. */
    char url[160];
    snprintf(url, sizeof(url), "https://%s", httpd_bound_address(f.h));
    char *dir = test_tmpdir();
    char *ca = write_tmp(dir, "ca.pem", "not a certificate\n");
    struct http_client_config cfg = {.url = url, .timeout_usec = 2000000, .ca_file = ca};
    struct promql_client *c = NULL;
    struct buf errors;
    buf_init(&errors, 0);
    int rc = promql_client_new(&cfg, &c, &errors);
    const char *const q[] = {"up"};
    struct promql_result r = {0};
    if (rc == 0)
        promql_query_many(c, q, 1, T0, &r);
    promql_client_free(c);

    cfg.insecure_skip_verify = true;
    cfg.ca_file = NULL;
    c = NULL;
    int rc2 = promql_client_new(&cfg, &c, &errors);
    struct promql_result r2 = {0};
    if (rc2 == 0)
        promql_query_many(c, q, 1, T0, &r2);
    promql_client_free(c);

    buf_reset(&errors);
    cfg.ca_file = "/nonexistent/homeostat/ca.pem";
    int rc3 = promql_client_new(&cfg, &c, &errors);
    unlink(ca);
    rmdir(dir);
    fake_stop(&f);
    CHECK_INT(rc, 0);
    CHECK_INT(r.error, PROMQL_ERR_CONNECT);
    CHECK_CONTAINS(r.detail, url);
    CHECK_INT(rc2, 0);
    CHECK_INT(r2.error, PROMQL_ERR_CONNECT);
    CHECK_INT(rc3, -ENOENT);
    CHECK_STR(errors.data,
              "/nonexistent/homeostat/ca.pem: cannot read CA file: No such file or directory\n");
    buf_free(&errors);
}

/* ---- a raw thread-per-connection server ---------------------------------------------
 * common/httpd runs handlers on a small thread pool, so a handler that sleeps would also
 * stall the other connections its thread serves; this one gives every connection its
 * own thread, so a slow query delays only itself. */

struct raw {
    int fd;
    unsigned port;
    pthread_t thread;
    atomic_bool stop;
    atomic_int active;
    atomic_int requests;
};

struct raw_conn {
    struct raw *srv;
    int fd;
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void *raw_conn_main(void *arg)
{
    struct raw_conn *rc = arg;
    int fd = rc->fd;
    char req[16384];
    size_t len = 0;
    const char *body = NULL;
    size_t content_length = 0;
    /* Read the head, then Content-Length bytes of body (5 s at most). */
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            goto out;
        ssize_t n = recv(fd, req + len, sizeof(req) - 1 - len, 0);
        if (n <= 0)
            goto out;
        len += (size_t)n;
        req[len] = '\0';
        char *end = strstr(req, "\r\n\r\n");
        if (end && !body) {
            body = end + 4;
            const char *cl = strcasestr(req, "\r\nContent-Length:");
            unsigned long long v = 0;
            if (cl) {
                char num[32];
                size_t k = 0;
                for (cl += 17; *cl == ' '; cl++)
                    ;
                while (k + 1 < sizeof(num) && cl[k] >= '0' && cl[k] <= '9') {
                    num[k] = cl[k];
                    k++;
                }
                num[k] = '\0';
                parse_u64(num, &v);
            }
            content_length = (size_t)v;
        }
        if (body && (size_t)(req + len - body) >= content_length)
            break;
        if (len + 1 >= sizeof(req))
            goto out;
    }
    atomic_fetch_add(&rc->srv->requests, 1);
    char query[256] = "";
    form_value(body, content_length, "query", query, sizeof(query));
    static const char ok_body[] = "{\"status\":\"success\",\"data\":{\"resultType\":"
                                  "\"vector\",\"result\":[{\"metric\":{},\"value\":[1,\"7\"]}]}}";
    char ok[512];
    int ok_len = snprintf(ok, sizeof(ok),
                          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
                          sizeof(ok_body) - 1, ok_body);
    if (strcmp(query, "slow") == 0) {
        /* Answer after 2 s, or give up when the client hangs up first. */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 2000) == 0)
            send_all(fd, ok, (size_t)ok_len);
    } else if (strcmp(query, "stream") == 0) {
        /* No Content-Length: the body runs until the connection closes. */
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Connection: close\r\n\r\n";
        send_all(fd, head, sizeof(head) - 1);
        char chunk[65536];
        memset(chunk, ' ', sizeof(chunk));
        for (int i = 0; i < 80 && !atomic_load(&rc->srv->stop); i++) /* 5 MiB */
            send_all(fd, chunk, sizeof(chunk));
    } else if (strcmp(query, "cut") == 0) {
        static const char cut[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 500\r\n\r\n{\"status\":\"succ";
        send_all(fd, cut, sizeof(cut) - 1);
    } else {
        send_all(fd, ok, (size_t)ok_len);
    }
out:
    close(fd);
    atomic_fetch_sub(&rc->srv->active, 1);
    free(rc);
    return NULL;
}

static void *raw_accept_main(void *arg)
{
    struct raw *srv = arg;
    while (!atomic_load(&srv->stop)) {
        struct pollfd p = {.fd = srv->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int cfd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0)
            continue;
        struct raw_conn *rc = malloc(sizeof(*rc));
        rc->srv = srv;
        rc->fd = cfd;
        atomic_fetch_add(&srv->active, 1);
        pthread_t t;
        if (pthread_create(&t, NULL, raw_conn_main, rc) != 0) {
            close(cfd);
            free(rc);
            atomic_fetch_sub(&srv->active, 1);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

static int raw_start(struct raw *srv)
{
    memset(srv, 0, sizeof(*srv));
    srv->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof(sa);
    if (srv->fd < 0 || bind(srv->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(srv->fd, 64) < 0 || getsockname(srv->fd, (struct sockaddr *)&sa, &sl) < 0)
        return -1;
    srv->port = ntohs(sa.sin_port);
    if (pthread_create(&srv->thread, NULL, raw_accept_main, srv) != 0)
        return -1;
    return 0;
}

static void raw_stop(struct raw *srv)
{
    atomic_store(&srv->stop, true);
    pthread_join(srv->thread, NULL);
    close(srv->fd);
    uint64_t deadline = now_usec() + 5000000;
    while (atomic_load(&srv->active) > 0 && now_usec() < deadline)
        usleep(10000);
}

TEST(query_many_slow_query_delays_only_itself)
{
    struct raw srv;
    CHECK(raw_start(&srv) == 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", srv.port);
    struct promql_client *c = client_for(url, 300000);
    const char *const q[] = {"fast1", "slow", "fast2", "fast3", "stream", "cut"};
    enum { N = sizeof(q) / sizeof(q[0]) };
    struct promql_result r[N];
    uint64_t t0 = now_usec();
    if (c)
        promql_query_many(c, q, N, T0, r);
    double took = (now_usec() - t0) / 1e6;
    promql_client_free(c);
    raw_stop(&srv);
    CHECK(c != NULL);
    CHECK(took < 1.5);
    CHECK_INT(atomic_load(&srv.requests), N);
    CHECK_INT(r[1].error, PROMQL_ERR_TIMEOUT);
    CHECK_STR(r[1].detail, "timeout after 300ms");
    CHECK(r[1].duration_seconds >= 0.25 && r[1].duration_seconds < 1.5);
    CHECK_INT(r[0].error, PROMQL_OK);
    CHECK_INT(r[2].error, PROMQL_OK);
    CHECK_INT(r[3].error, PROMQL_OK);
    CHECK_DBL(r[0].value, 7, 0);
    CHECK_DBL(r[0].sample_time, 1, 0);
    CHECK(r[0].duration_seconds < r[1].duration_seconds);
    CHECK_INT(r[4].error, PROMQL_ERR_TOO_LARGE);
    CHECK_STR(r[4].detail, "reply larger than 4194304 bytes");
    CHECK_INT(r[5].error, PROMQL_ERR_CONNECT);
    CHECK_CONTAINS(r[5].detail, "transfer closed with 485 bytes remaining to read");
    CHECK_INT(r[5].http_status, 200);
}

/* ---- against a real Prometheus (tests/integration/controller/promql_prometheus.sh) ------------
 */

/* The queries of the tests against a real server, which scrapes the exporter. */
static const char *const real_queries[] = {
    "1 - avg(rate(homeostat_cpu_seconds_total{mode=\"idle\"}[30s]))",
    "homeostat_memory_total_bytes",
    "sum(rate(homeostat_cpu_seconds_total[30s]",
    "homeostat_no_such_metric_total",
    "homeostat_cpu_seconds_total",
    "scalar(vector(1))",
    "1",
    "homeostat_memory_total_bytes",
    "0/0",
    "-1/0",
    "homeostat_memory_total_bytes[1m]",
    "\"a string\"",
};
enum { REAL_N = sizeof(real_queries) / sizeof(real_queries[0]) };

TEST(real_prometheus_queries)
{
    const char *url = getenv("HOMEOSTAT_PROMETHEUS_URL");
    if (!url || !*url)
        TEST_FAIL("HOMEOSTAT_PROMETHEUS_URL is not set");
    char *headers[] = {"X-Scope-OrgID: homeostat-test", NULL};
    struct http_client_config cfg = {
        .url = (char *)url, .timeout_usec = 5000000, .headers = headers, .n_headers = 1};
    struct promql_client *c = NULL;
    struct buf errors;
    buf_init(&errors, 0);
    int rc = promql_client_new(&cfg, &c, &errors);
    buf_free(&errors);
    CHECK_INT(rc, 0);
    const char *const *q = real_queries;
    enum { N = REAL_N };
    struct promql_result r[N];
    double now = now_realtime();
    promql_query_many(c, q, N, now, r);
    promql_client_free(c);
    for (size_t i = 0; i < N; i++)
        fprintf(stderr, "  %-64s %s %.17g t=%.3f %s%s%s\n", q[i], promql_error_name(r[i].error),
                r[i].value, r[i].sample_time, r[i].detail, r[i].warnings[0] ? " warnings: " : "",
                r[i].warnings);
    /* CPU busy ratio: rate() extrapolation may overshoot a little. */
    CHECK_INT(r[0].error, PROMQL_OK);
    CHECK(r[0].value >= -0.05 && r[0].value <= 1.05);
    CHECK_INT(r[1].error, PROMQL_OK);
    CHECK(r[1].value > 0);
    CHECK(fabs(r[1].sample_time - now) < 60);
    CHECK_DBL(r[1].sample_time, now, 0.002); /* an instant query's samples carry its time */
    CHECK_INT(r[1].http_status, 200);
    CHECK_INT(r[2].error, PROMQL_ERR_QUERY);
    CHECK_INT(r[2].http_status, 400);
    CHECK(strncmp(r[2].detail, "bad_data: ", 10) == 0);
    CHECK_INT(r[3].error, PROMQL_ERR_EMPTY);
    CHECK_STR(r[3].detail, "empty result");
    CHECK_INT(r[4].error, PROMQL_ERR_MULTIPLE);
    CHECK_CONTAINS(r[4].detail, " series (use sum or max)");
    CHECK(strtol(r[4].detail, NULL, 10) >= 2);
    CHECK_INT(r[5].error, PROMQL_OK);
    CHECK_DBL(r[5].value, 1, 0);
    CHECK_INT(r[6].error, PROMQL_OK);
    CHECK_DBL(r[6].value, 1, 0);
    CHECK_INT(r[7].error, PROMQL_OK);
    CHECK_DBL(r[7].value, r[1].value, 0);
    CHECK_INT(r[8].error, PROMQL_ERR_NAN);
    CHECK_STR(r[8].detail, "NaN");
    CHECK_INT(r[9].error, PROMQL_OK);
    CHECK(isinf(r[9].value) && r[9].value < 0);
    CHECK_INT(r[10].error, PROMQL_ERR_PARSE);
    CHECK_STR(r[10].detail, "range vector: use an instant query");
    CHECK_INT(r[11].error, PROMQL_ERR_PARSE);
    CHECK_STR(r[11].detail, "string result: not a number");

    /* the same queries as vectors (the targets' reader) against the real Prometheus */
    static const char *const keep[] = {"cpu", "mode"};
    struct ivec v[N];
    bool have[N];
    struct promql_result rv[N];
    for (size_t i = 0; i < N; i++)
        ivec_init(&v[i]);
    buf_init(&errors, 0);
    rc = promql_client_new(&cfg, &c, &errors);
    CHECK_INT(rc, 0);
    if (rc == 0) {
        promql_query_vectors(c, q, N, now, keep, 2, rv, v, have);
        promql_client_free(c);
    }
    buf_free(&errors);
    CHECK(!have[2] && rv[2].error == PROMQL_ERR_QUERY);
    CHECK(have[3] && v[3].n == 0 && rv[3].error == PROMQL_ERR_EMPTY);
    CHECK(have[4]);
    CHECK_INT(rv[4].error, PROMQL_ERR_MULTIPLE);
    CHECK(v[4].n >= 2);
    CHECK_INT(v[4].n, (size_t)strtol(r[4].detail, NULL, 10));
    for (size_t k = 0; k < v[4].n; k++) {
        CHECK(ivec_label(&v[4], k, "cpu") != NULL && ivec_label(&v[4], k, "mode") != NULL);
        CHECK(ivec_label(&v[4], k, "__name__") == NULL);
        CHECK_INT(v[4].s[k].sample, IVEC_VALUE);
        CHECK_DBL(v[4].s[k].ts, now, 0.002);
    }
    CHECK(have[5] && v[5].n == 1 && v[5].s[0].n_labels == 0 && v[5].s[0].value == 1);
    CHECK(have[7] && v[7].n == 1 && v[7].s[0].value == r[1].value);
    CHECK(have[8] && v[8].s[0].sample == IVEC_NAN);
    CHECK(!have[10] && rv[10].error == PROMQL_ERR_PARSE);
    CHECK(!have[11]);
    for (size_t i = 0; i < N; i++)
        ivec_free(&v[i]);
}

/* ---- against VictoriaMetrics (tests/integration/controller/victoriametrics.sh) ----------
 * The same queries against VictoriaMetrics scraping the exporter: the same classes of
 * error where it answers as Prometheus does, and what it answers otherwise (documented in
 * docs/RULES.md, "Prometheus-compatible backends"). */

TEST(real_victoriametrics_queries)
{
    const char *url = getenv("HOMEOSTAT_VICTORIAMETRICS_URL");
    if (!url || !*url)
        TEST_FAIL("HOMEOSTAT_VICTORIAMETRICS_URL is not set");
    struct http_client_config cfg = {.url = (char *)url, .timeout_usec = 5000000};
    const char *const *q = real_queries;
    enum { N = REAL_N };
    struct promql_result r[N], rv[N];
    struct ivec v[N];
    bool have[N];
    static const char *const keep[] = {"cpu", "mode"};
    for (size_t i = 0; i < N; i++)
        ivec_init(&v[i]);
    double now = now_realtime();
    for (int pass = 0; pass < 2; pass++) {
        struct promql_client *c = NULL;
        struct buf errors;
        buf_init(&errors, 0);
        int rc = promql_client_new(&cfg, &c, &errors);
        buf_free(&errors);
        CHECK_INT(rc, 0);
        if (rc < 0)
            return;
        if (pass == 0)
            promql_query_many(c, q, N, now, r);
        else
            promql_query_vectors(c, q, N, now, keep, 2, rv, v, have);
        promql_client_free(c);
    }
    for (size_t i = 0; i < N; i++)
        fprintf(stderr, "  %-64s %s %.17g t=%.3f %s\n", q[i], promql_error_name(r[i].error),
                r[i].value, r[i].sample_time, r[i].detail);
    /* As against Prometheus. */
    CHECK_INT(r[0].error, PROMQL_OK);
    CHECK(r[0].value >= -0.05 && r[0].value <= 1.05);
    CHECK_INT(r[1].error, PROMQL_OK);
    CHECK(r[1].value > 0);
    CHECK_DBL(r[1].sample_time, now, 0.002); /* stamped with the query's time, as Prometheus */
    CHECK_INT(r[3].error, PROMQL_ERR_EMPTY);
    CHECK_STR(r[3].detail, "empty result");
    CHECK_INT(r[4].error, PROMQL_ERR_MULTIPLE);
    CHECK(strtol(r[4].detail, NULL, 10) >= 2);
    CHECK_INT(r[7].error, PROMQL_OK);
    CHECK_DBL(r[7].value, r[1].value, 0);
    CHECK_INT(r[9].error, PROMQL_OK);
    CHECK(isinf(r[9].value) && r[9].value < 0);
    CHECK_INT(r[10].error, PROMQL_ERR_PARSE);
    CHECK_STR(r[10].detail, "range vector: use an instant query");
    /* A syntax error: a query error too, but HTTP 422 and its errorType the status code. */
    CHECK_INT(r[2].error, PROMQL_ERR_QUERY);
    CHECK_INT(r[2].http_status, 422);
    CHECK(strncmp(r[2].detail, "422: ", 5) == 0);
    /* Scalars come as a vector of one series without labels: the same number. */
    CHECK_INT(r[5].error, PROMQL_OK);
    CHECK_DBL(r[5].value, 1, 0);
    CHECK_INT(r[6].error, PROMQL_OK);
    CHECK_DBL(r[6].value, 1, 0);
    /* NaN is left out of the result, and a string is an empty vector: unknown all the
     * same, as "empty result" instead of "NaN" and "string result: not a number". */
    CHECK_INT(r[8].error, PROMQL_ERR_EMPTY);
    CHECK_STR(r[8].detail, "empty result");
    CHECK_INT(r[11].error, PROMQL_ERR_EMPTY);

    /* The same as vectors (the targets' reader). */
    CHECK(!have[2] && rv[2].error == PROMQL_ERR_QUERY);
    CHECK(have[3] && v[3].n == 0 && rv[3].error == PROMQL_ERR_EMPTY);
    CHECK(have[4] && rv[4].error == PROMQL_ERR_MULTIPLE);
    CHECK_INT(v[4].n, (size_t)strtol(r[4].detail, NULL, 10));
    for (size_t k = 0; k < v[4].n; k++) {
        CHECK(ivec_label(&v[4], k, "cpu") != NULL && ivec_label(&v[4], k, "mode") != NULL);
        CHECK(ivec_label(&v[4], k, "__name__") == NULL);
        CHECK_INT(v[4].s[k].sample, IVEC_VALUE);
        CHECK_DBL(v[4].s[k].ts, now, 0.002);
    }
    CHECK(have[5] && v[5].n == 1 && v[5].s[0].n_labels == 0 && v[5].s[0].value == 1);
    CHECK(have[7] && v[7].n == 1 && v[7].s[0].value == r[1].value);
    CHECK(have[8] && v[8].n == 0 && rv[8].error == PROMQL_ERR_EMPTY);
    CHECK(!have[10] && rv[10].error == PROMQL_ERR_PARSE);
    CHECK(have[11] && v[11].n == 0);
    for (size_t i = 0; i < N; i++)
        ivec_free(&v[i]);
}

int main(int argc, char **argv)
{
    static const struct test_case tests[] = {
        TEST_ENTRY(parse_vector),
        TEST_ENTRY(parse_reply_fixtures),
        TEST_ENTRY(parse_reply_limits),
        TEST_ENTRY(error_names),
        TEST_ENTRY(parse_reply_fuzz),
        TEST_ENTRY(query_many_fake_prometheus),
        TEST_ENTRY(query_many_dedupe_and_keepalive),
        TEST_ENTRY(query_many_auth_and_headers),
        TEST_ENTRY(client_new_errors),
        TEST_ENTRY(query_many_connection_refused),
        TEST_ENTRY(query_many_tls_errors),
        TEST_ENTRY(query_many_slow_query_delays_only_itself),
    };
    /* Last, each left out without its server. */
    static const struct {
        struct test_case test;
        const char *env;
    } real[] = {
        {TEST_ENTRY(real_prometheus_queries), "HOMEOSTAT_PROMETHEUS_URL"},
        {TEST_ENTRY(real_victoriametrics_queries), "HOMEOSTAT_VICTORIAMETRICS_URL"},
    };
    enum { N_TESTS = sizeof(tests) / sizeof(tests[0]), N_REAL = sizeof(real) / sizeof(real[0]) };
    struct test_case run[N_TESTS + N_REAL];
    size_t n = 0;
    for (size_t i = 0; i < N_TESTS; i++)
        run[n++] = tests[i];
    for (size_t i = 0; i < N_REAL; i++) {
        const char *url = getenv(real[i].env);
        if (url && *url)
            run[n++] = real[i].test;
        else /* Not run is not passed: the test is left out of the count. */
            fprintf(stderr, "skipped %s (%s is not set)\n", real[i].test.name, real[i].env);
    }
    /* The fake servers are on loopback: never through a proxy from the environment. */
    setenv("no_proxy", "*", 1);
    setenv("NO_PROXY", "*", 1);
    return test_main(argc, argv, run, n);
}
