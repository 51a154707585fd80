/* test-actuator-webhook: controller/actuators/actuator_webhook.c without the network beyond
 * loopback: validate() messages and bad keys (through actuator_validate, as the rules
 * loader calls it), a port with nothing listening (ACT_RETRY, a clear error, retried by
 * actuator_run), secret_file errors, server dry run, and a one-shot in-process HTTP
 * server that records one request and answers a canned reply: headers, the signature
 * (checked here with hmac.c), the default body, status classes, the error line cut to
 * 200 bytes, the 4 KiB response limit, redirects not followed, and the revert request. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "actuator.h"
#include "buf.h"
#include "hmac.h"
#include "test.h"

/* ---- helpers --------------------------------------------------------------------- */

static struct actuator_env env = {.alert_resend_usec = 60000000};

static struct action_ctx make_ctx(void)
{
    struct action_ctx ctx = {
        .decision_id = "d-42",
        .state = "critical",
        .from = "optimal",
        .severity = "critical",
        .reasoning = "cpu_busy=0.93 > 0.85",
        .confidence = 0.87,
        .time = 1700000000.5,
        .env = &env,
    };
    return ctx;
}

/* actuator_validate on a JSON text: the message, and the bad key in *bad ("" for none;
 * copied, as the key lives in the params freed here); NULL when it is valid. */
static const char *validate_text(const char *json, const char **bad)
{
    static char msg[512], key[128];
    json_error_t e;
    json_t *p = json_loads(json, 0, &e);
    if (!p) {
        snprintf(msg, sizeof(msg), "test JSON does not parse: %s", e.text);
        *bad = "";
        return msg;
    }
    static const char *const declared[] = {"limit", NULL};
    const char *bad_key = NULL;
    int r = actuator_validate(ACTION_WEBHOOK, p, declared, &bad_key, msg, sizeof(msg));
    snprintf(key, sizeof(key), "%s", bad_key ? bad_key : "");
    json_decref(p);
    *bad = key;
    return r < 0 ? msg : NULL;
}

/* Runs the action (expansion, validate, retry loop) from a JSON text. */
static void run_text(const char *json, const struct action_ctx *ctx, struct action_result *res)
{
    json_t *p = json_loads(json, 0, NULL);
    struct action_def a = {.kind = ACTION_WEBHOOK, .params = p, .summary = (char *)"test"};
    actuator_run(&a, ctx, res, NULL);
    json_decref(p);
}

/* A loopback port with nothing listening (bound then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static char tmp_dir[256];

static const char *write_tmp(const char *name, const char *text)
{
    static char path[512];
    if (!tmp_dir[0]) {
        const char *d = test_tmpdir();
        snprintf(tmp_dir, sizeof(tmp_dir), "%s", d ? d : "/tmp");
    }
    snprintf(path, sizeof(path), "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    return path;
}

/* ---- a one-shot HTTP server ------------------------------------------------------ */

struct server {
    int fd;
    int port;
    const char *reply; /* the whole HTTP response */
    pthread_t thread;
    char request[65536]; /* what arrived: headers and body */
    size_t len;
};

/* The value of header name in the recorded request ("" when absent); static storage. */
static const char *req_header(const struct server *s, const char *name)
{
    static char out[1024];
    out[0] = '\0';
    const char *end = strstr(s->request, "\r\n\r\n");
    size_t nl = strlen(name);
    for (const char *p = strstr(s->request, "\r\n"); p && end && p < end;
         p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(strstr(v, "\r\n") - v);
            if (vl >= sizeof(out))
                vl = sizeof(out) - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return out;
        }
    }
    return out;
}

static const char *req_body(const struct server *s)
{
    const char *end = strstr(s->request, "\r\n\r\n");
    return end ? end + 4 : "";
}

static void *serve_one(void *ud)
{
    struct server *s = ud;
    int c = accept(s->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    long want = -1;
    while (s->len + 1 < sizeof(s->request)) {
        ssize_t n = read(c, s->request + s->len, sizeof(s->request) - 1 - s->len);
        if (n <= 0)
            break;
        s->len += (size_t)n;
        s->request[s->len] = '\0';
        const char *end = strstr(s->request, "\r\n\r\n");
        if (end && want < 0) {
            const char *cl = req_header(s, "Content-Length");
            want = (long)(end + 4 - s->request) + (cl[0] ? strtol(cl, NULL, 10) : 0);
        }
        if (want >= 0 && (long)s->len >= want)
            break;
    }
    size_t rl = strlen(s->reply);
    for (size_t o = 0; o < rl;) {
        ssize_t n = write(c, s->reply + o, rl - o);
        if (n <= 0)
            break;
        o += (size_t)n;
    }
    shutdown(c, SHUT_WR);
    char sink[256];
    while (read(c, sink, sizeof(sink)) > 0)
        ;
    close(c);
    return NULL;
}

static int server_start(struct server *s, const char *reply)
{
    memset(s, 0, sizeof(*s));
    s->reply = reply;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s->fd, 4) < 0 ||
        getsockname(s->fd, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    s->port = ntohs(sa.sin_port);
    return pthread_create(&s->thread, NULL, serve_one, s) == 0 ? 0 : -1;
}

static void server_stop(struct server *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
}

/* ---- validate -------------------------------------------------------------------- */

#define CHECK_INVALID(json, key, text)                                                             \
    do {                                                                                           \
        const char *_bad;                                                                          \
        const char *_m = validate_text(json, &_bad);                                               \
        if (!_m)                                                                                   \
            TEST_FAIL("%s: accepted, expected an error", json);                                    \
        CHECK_STR(_bad, key);                                                                      \
        CHECK_CONTAINS(_m, text);                                                                  \
    } while (0)

TEST(validate_accepts_full_settings)
{
    const char *bad;
    const char *m = validate_text(
        "{\"url\":\"https://app.example:8443/admin/limits\",\"method\":\"put\","
        "\"headers\":{\"Authorization\":\"Bearer x\",\"X-Tenant\":\"a\",\"X-Count\":3},"
        "\"body\":{\"concurrency\":\"{{limit}}\",\"list\":[1,2]},\"secret_file\":\"/etc/s\","
        "\"ca_file\":\"/etc/ca.pem\",\"cert_file\":\"/etc/c.pem\",\"key_file\":\"/etc/k.pem\","
        "\"insecure_skip_verify\":false,\"timeout\":\"2s\",\"retries\":3,\"backoff\":\"200ms\","
        "\"revert\":{\"method\":\"DELETE\",\"body\":null}}",
        &bad);
    if (m)
        TEST_FAIL("rejected (%s): %s", bad, m);
    /* A URL made of a placeholder is checked after expansion, not at load time. */
    m = validate_text("{\"url\":\"{{limit}}\"}", &bad);
    if (m)
        TEST_FAIL("rejected (%s): %s", bad, m);
}

TEST(validate_messages)
{
    CHECK_INVALID("{}", "", "url is required");
    CHECK_INVALID("{\"url\":5}", "url", "url must be a string");
    CHECK_INVALID("{\"url\":\"ftp://x/y\"}", "url", "does not start with http:// or https://");
    CHECK_INVALID("{\"url\":\"http://u:p@x/y\"}", "url", "credentials");
    CHECK_INVALID("{\"url\":\"http://x\",\"method\":\"TRACE\"}", "method",
                  "method 'TRACE' is not one of POST, PUT, PATCH, DELETE or GET");
    CHECK_INVALID("{\"url\":\"http://x\",\"method\":\"GET\",\"body\":{}}", "body",
                  "GET request sends no body");
    CHECK_INVALID("{\"url\":\"http://x\",\"headers\":[]}", "headers", "headers must be a map");
    CHECK_INVALID("{\"url\":\"http://x\",\"headers\":{\"X Y\":\"1\"}}", "headers",
                  "header name 'X Y' is not a valid HTTP header name");
    CHECK_INVALID("{\"url\":\"http://x\",\"headers\":{\"X\":\"a\\r\\nInjected: 1\"}}", "headers",
                  "header 'X': value contains a line break");
    CHECK_INVALID("{\"url\":\"http://x\",\"headers\":{\"X\":[]}}", "headers",
                  "header 'X': value must be a string");
    /* a value read from a file: {file: PATH, prefix: TEXT} and nothing else */
    CHECK_INVALID("{\"url\":\"http://x\",\"headers\":{\"X\":{}}}", "headers",
                  "header 'X': file must be the path of the file");
    CHECK_INVALID("{\"url\":\"http://x\",\"headers\":{\"X\":{\"file\":\"/f\",\"mode\":1}}}",
                  "headers", "header 'X': unknown key 'mode'");
    CHECK_INVALID(
        "{\"url\":\"http://x\",\"headers\":{\"X\":{\"file\":\"/f\",\"prefix\":\"a\\nb\"}}}",
        "headers", "header 'X': prefix must be a short string");
    CHECK_INVALID("{\"url\":\"http://x\",\"headers\":{\"content-length\":\"1\"}}", "headers",
                  "is set by the webhook action itself");
    CHECK_INVALID("{\"url\":\"http://x\",\"headers\":{\"X-Homeostat-Signature\":\"1\"}}", "headers",
                  "is set by the webhook action itself");
    CHECK_INVALID("{\"url\":\"http://x\",\"secret_file\":\"\"}", "secret_file",
                  "secret_file must be a file path");
    CHECK_INVALID("{\"url\":\"http://x\",\"key_file\":\"/k\"}", "key_file",
                  "key_file needs cert_file");
    CHECK_INVALID("{\"url\":\"http://x\",\"insecure_skip_verify\":\"yes\"}", "insecure_skip_verify",
                  "true or false");
    CHECK_INVALID("{\"url\":\"http://x\",\"urls\":[]}", "urls",
                  "unknown key 'urls': a webhook takes url, method");
    CHECK_INVALID("{\"url\":\"http://x\",\"revert\":\"yes\"}", "revert",
                  "revert must be a map with url, method, headers or body");
    CHECK_INVALID("{\"url\":\"http://x\",\"revert\":{\"secret_file\":\"/s\"}}", "revert",
                  "revert: unknown key 'secret_file'");
    CHECK_INVALID("{\"url\":\"http://x\",\"revert\":{\"url\":\"file:///etc/passwd\"}}", "revert",
                  "revert: url 'file:///etc/passwd' does not start with http://");
    CHECK_INVALID("{\"url\":\"http://x\",\"retries\":11}", "retries", "retries must be");
    CHECK_INVALID("{\"url\":\"http://x\",\"body\":\"{{nope}}\"}", "body",
                  "unknown placeholder {{nope}}");
}

/* ---- apply without a server ------------------------------------------------------ */

TEST(apply_connection_refused_is_retry)
{
    int port = closed_port();
    CHECK(port > 0);
    char json[256], want[128];
    snprintf(json, sizeof(json), "{\"url\":\"http://127.0.0.1:%d/hook\",\"retries\":0}", port);
    struct action_ctx ctx = make_ctx();
    struct action_result res;
    run_text(json, &ctx, &res);
    CHECK_INT(res.status, ACT_RETRY);
    CHECK_INT(res.attempts, 1);
    snprintf(want, sizeof(want), "webhook POST http://127.0.0.1:%d/hook: ", port);
    if (strncmp(res.error, want, strlen(want)) != 0)
        TEST_FAIL("error '%s' does not start with '%s'", res.error, want);
    CHECK_CONTAINS(res.error, "onnect");
    CHECK(json_is_null(json_object_get(res.detail, "http_status")));
    CHECK(json_is_false(json_object_get(res.detail, "signed")));
    CHECK(res.undo == NULL);
    action_result_clear(&res);
}

TEST(retry_loop_calls_again)
{
    int port = closed_port();
    char json[256];
    snprintf(json, sizeof(json),
             "{\"url\":\"http://127.0.0.1:%d/\",\"retries\":2,\"backoff\":\"10ms\"}", port);
    struct action_ctx ctx = make_ctx();
    struct action_result res;
    run_text(json, &ctx, &res);
    CHECK_INT(res.status, ACT_RETRY);
    CHECK_INT(res.attempts, 3);
    action_result_clear(&res);
}

TEST(secret_file_errors)
{
    struct action_ctx ctx = make_ctx();
    struct action_result res;
    run_text("{\"url\":\"http://127.0.0.1:9/\",\"secret_file\":\"/nonexistent/secret\"}", &ctx,
             &res);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_CONTAINS(res.error, "secret_file /nonexistent/secret: No such file");
    action_result_clear(&res);

    const char *path = write_tmp("empty", "\n");
    CHECK(path);
    char json[700];
    snprintf(json, sizeof(json), "{\"url\":\"http://127.0.0.1:9/\",\"secret_file\":\"%s\"}", path);
    run_text(json, &ctx, &res);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_CONTAINS(res.error, "is empty");
    action_result_clear(&res);

    char big[5000];
    memset(big, 's', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    path = write_tmp("big", big);
    snprintf(json, sizeof(json), "{\"url\":\"http://127.0.0.1:9/\",\"secret_file\":\"%s\"}", path);
    run_text(json, &ctx, &res);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_CONTAINS(res.error, "larger than 4 KiB");
    CHECK(!strstr(res.error, "sss"));
    action_result_clear(&res);
}

TEST(server_dry_run_sends_nothing)
{
    int port = closed_port();
    char json[256];
    snprintf(json, sizeof(json),
             "{\"url\":\"http://127.0.0.1:%d/\",\"revert\":{\"method\":\"DELETE\"}}", port);
    struct action_ctx ctx = make_ctx();
    ctx.server_dry_run = true;
    struct action_result res;
    run_text(json, &ctx, &res);
    CHECK_INT(res.status, ACT_OK);
    CHECK_STR(json_string_value(json_object_get(res.detail, "skipped")), "dry run");
    CHECK(res.undo == NULL);
    action_result_clear(&res);
}

/* ---- against the one-shot server ------------------------------------------------- */

TEST(request_headers_signature_and_default_body)
{
    struct server s;
    CHECK(server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
                           "ok") == 0);
    const char *secret = write_tmp("secret", "s3cret\n");
    CHECK(secret);
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"url\":\"http://127.0.0.1:%d/admin/limits\",\"secret_file\":\"%s\","
             "\"headers\":{\"Authorization\":\"Bearer hunter2\"},"
             "\"revert\":{\"method\":\"DELETE\"}}",
             s.port, secret);
    struct action_ctx ctx = make_ctx();
    struct action_result res;
    run_text(json, &ctx, &res);
    server_stop(&s);
    if (res.status != ACT_OK)
        TEST_FAIL("status %d: %s", res.status, res.error);
    CHECK(strncmp(s.request, "POST /admin/limits HTTP/1.1\r\n", 29) == 0);
    CHECK_STR(req_header(&s, "Content-Type"), "application/json");
    CHECK(strncmp(req_header(&s, "User-Agent"), "homeostat-controller/", 21) == 0);
    CHECK_STR(req_header(&s, "X-Homeostat-Decision"), "d-42");
    CHECK_STR(req_header(&s, "Authorization"), "Bearer hunter2");
    const char *ik = req_header(&s, "Idempotency-Key");
    CHECK(strncmp(ik, "d-42-", 5) == 0 && strlen(ik) == 13);
    CHECK_STR(json_string_value(json_object_get(res.detail, "idempotency_key")), ik);

    /* The signature: HMAC-SHA256(secret, timestamp "." body), newline stripped. */
    const char *body = req_body(&s);
    char ts[32];
    snprintf(ts, sizeof(ts), "%s", req_header(&s, "X-Homeostat-Timestamp"));
    CHECK(ts[0]);
    struct buf m;
    buf_init(&m, 0);
    buf_printf(&m, "%s.%s", ts, body);
    uint8_t d[SHA256_DIGEST_BYTES];
    char hex[2 * SHA256_DIGEST_BYTES + 1], want[80];
    hmac_sha256("s3cret", 6, m.data, m.len, d);
    buf_free(&m);
    hmac_hex(d, hex);
    snprintf(want, sizeof(want), "sha256=%s", hex);
    CHECK_STR(req_header(&s, "X-Homeostat-Signature"), want);

    json_t *b = json_loads(body, 0, NULL);
    CHECK(b);
    CHECK_STR(json_string_value(json_object_get(b, "id")), "d-42");
    CHECK_STR(json_string_value(json_object_get(b, "state")), "critical");
    CHECK_STR(json_string_value(json_object_get(b, "from")), "optimal");
    CHECK_STR(json_string_value(json_object_get(b, "severity")), "critical");
    CHECK_STR(json_string_value(json_object_get(b, "reasoning")), "cpu_busy=0.93 > 0.85");
    CHECK_STR(json_string_value(json_object_get(b, "time")), "2023-11-14T22:13:20Z");
    CHECK_DBL(json_number_value(json_object_get(b, "confidence")), 0.87, 1e-9);
    CHECK(json_object_get(b, "args") == NULL);
    json_decref(b);

    /* detail: no secret, no Authorization value; the undo is the revert map. */
    char *dt = json_dumps(res.detail, JSON_COMPACT);
    CHECK(dt && !strstr(dt, "s3cret") && !strstr(dt, "hunter2"));
    CHECK_CONTAINS(dt, "\"signed\":true");
    CHECK_CONTAINS(dt, "\"http_status\":200");
    CHECK_CONTAINS(dt, "\"response\":\"ok\"");
    free(dt);
    CHECK(!strstr(res.error, "s3cret"));
    CHECK_STR(json_string_value(json_object_get(res.undo, "method")), "DELETE");
    action_result_clear(&res);
}

TEST(templated_body_and_method)
{
    struct server s;
    CHECK(server_start(&s, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n") == 0);
    char json[512];
    snprintf(json, sizeof(json),
             "{\"url\":\"http://127.0.0.1:%d/x\",\"method\":\"patch\","
             "\"body\":{\"concurrency\":\"{{limit}}\",\"why\":\"{{state}} at {{limit}}\"}}",
             s.port);
    struct action_ctx ctx = make_ctx();
    json_t *args = json_pack("{s:i}", "limit", 5);
    ctx.args = args;
    struct action_result res;
    run_text(json, &ctx, &res);
    server_stop(&s);
    json_decref(args);
    CHECK_INT(res.status, ACT_OK);
    CHECK(strncmp(s.request, "PATCH /x HTTP/1.1\r\n", 19) == 0);
    CHECK_STR(req_body(&s), "{\"concurrency\":5,\"why\":\"critical at 5\"}");
    CHECK_STR(req_header(&s, "X-Homeostat-Signature"), "");
    action_result_clear(&res);
}

TEST(http_503_is_retry_with_a_cut_error_line)
{
    char reply[2048];
    char long_body[600];
    memset(long_body, 'x', sizeof(long_body) - 1);
    long_body[sizeof(long_body) - 1] = '\0';
    memcpy(long_body, "busy\nnow", 8);
    snprintf(reply, sizeof(reply),
             "HTTP/1.1 503 Service Unavailable\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n"
             "%s",
             strlen(long_body), long_body);
    struct server s;
    CHECK(server_start(&s, reply) == 0);
    char json[256];
    snprintf(json, sizeof(json), "{\"url\":\"http://127.0.0.1:%d/admin\",\"retries\":0}", s.port);
    struct action_ctx ctx = make_ctx();
    struct action_result res;
    run_text(json, &ctx, &res);
    server_stop(&s);
    CHECK_INT(res.status, ACT_RETRY);
    char want[128];
    snprintf(want, sizeof(want), "webhook POST http://127.0.0.1:%d/admin: HTTP 503: busy nowxxx",
             s.port);
    if (strncmp(res.error, want, strlen(want)) != 0)
        TEST_FAIL("error '%s' does not start with '%s'", res.error, want);
    /* 200 bytes of body at most in the error line */
    const char *colon = strstr(res.error, "HTTP 503: ") + 10;
    CHECK(strlen(colon) <= 200);
    CHECK_INT(json_integer_value(json_object_get(res.detail, "http_status")), 503);
    action_result_clear(&res);
}

TEST(http_400_fails_and_response_is_capped)
{
    static char reply[12000];
    char body[10001];
    memset(body, 'y', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    snprintf(reply, sizeof(reply),
             "HTTP/1.1 400 Bad Request\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
             strlen(body), body);
    struct server s;
    CHECK(server_start(&s, reply) == 0);
    char json[256];
    snprintf(json, sizeof(json), "{\"url\":\"http://127.0.0.1:%d/\",\"retries\":3}", s.port);
    struct action_ctx ctx = make_ctx();
    struct action_result res;
    run_text(json, &ctx, &res);
    server_stop(&s);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_INT(res.attempts, 1);
    CHECK_INT(json_string_length(json_object_get(res.detail, "response")), 4096);
    CHECK(json_is_true(json_object_get(res.detail, "response_truncated")));
    action_result_clear(&res);
}

TEST(redirect_is_not_followed)
{
    struct server s;
    CHECK(server_start(&s, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/\r\n"
                           "Content-Length: 0\r\nConnection: close\r\n\r\n") == 0);
    char json[256];
    snprintf(json, sizeof(json), "{\"url\":\"http://127.0.0.1:%d/\"}", s.port);
    struct action_ctx ctx = make_ctx();
    struct action_result res;
    run_text(json, &ctx, &res);
    server_stop(&s);
    CHECK_INT(res.status, ACT_FAIL);
    CHECK_CONTAINS(res.error, "HTTP 302 (redirects are not followed)");
    action_result_clear(&res);
}

TEST(revert_sends_the_revert_request)
{
    struct server s;
    CHECK(server_start(&s, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n") ==
          0);
    char params[256];
    snprintf(params, sizeof(params), "{\"url\":\"http://127.0.0.1:%d/limits\",\"body\":{\"a\":1}}",
             s.port);
    json_t *p = json_loads(params, 0, NULL);
    json_t *undo = json_pack("{s:s, s:{s:s}}", "method", "DELETE", "headers", "X-Why", "revert");
    struct action_ctx ctx = make_ctx();
    struct action_result res;
    actuator_revert(ACTION_WEBHOOK, p, undo, &ctx, &res);
    server_stop(&s);
    json_decref(p);
    json_decref(undo);
    CHECK_INT(res.status, ACT_OK);
    CHECK(strncmp(s.request, "DELETE /limits HTTP/1.1\r\n", 25) == 0);
    CHECK_STR(req_header(&s, "X-Why"), "revert");
    CHECK_STR(req_body(&s), "{\"a\":1}");
    CHECK(res.undo == NULL);
    action_result_clear(&res);
}

TEST_MAIN(TEST_ENTRY(validate_accepts_full_settings), TEST_ENTRY(validate_messages),
          TEST_ENTRY(apply_connection_refused_is_retry), TEST_ENTRY(retry_loop_calls_again),
          TEST_ENTRY(secret_file_errors), TEST_ENTRY(server_dry_run_sends_nothing),
          TEST_ENTRY(request_headers_signature_and_default_body),
          TEST_ENTRY(templated_body_and_method),
          TEST_ENTRY(http_503_is_retry_with_a_cut_error_line),
          TEST_ENTRY(http_400_fails_and_response_is_capped), TEST_ENTRY(redirect_is_not_followed),
          TEST_ENTRY(revert_sends_the_revert_request))
