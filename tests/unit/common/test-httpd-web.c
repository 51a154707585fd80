/* test-httpd-web: common/httpd.c with a --web.config.file (common/webconfig.c) over real
 * sockets on 127.0.0.1, plain HTTP: basic auth before any handler (401 with
 * WWW-Authenticate: Basic, the body never read), the configured headers on every answer
 * and a handler's own header winning over the configured one, rate_limit (429), swapping
 * the configuration at run time (httpd_set_webconfig, which tells a TLS change), and a
 * TLS server refusing plain HTTP. TLS itself is tested with curl and Prometheus in
 * tests/integration/web/web_tls.sh. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "httpd.h"
#include "test.h"
#include "webconfig.h"

/* htpasswd -nbBC 4 alice secret; htpasswd -nbBC 5 bob hunter2 */
#define ALICE "$2y$04$dfQ.VmlJTP6LQ0z1hznUyuGaQ1YG2Qx6GOS2/KBHouuozExHvauYi"
#define BOB "$2y$05$/JSJwa2kZoqyMQ71B49ItOraUbQGIuS569eGJBXmB.A3dfovXbtXi"
#define ALICE_AUTH "Authorization: Basic YWxpY2U6c2VjcmV0\r\n" /* alice:secret */
#define BOB_AUTH "Authorization: Basic Ym9iOmh1bnRlcjI=\r\n"   /* bob:hunter2 */

static atomic_int handler_calls;

static void handler(void *userdata, const struct httpd_request *req, struct httpd_response *resp)
{
    atomic_fetch_add(&handler_calls, 1);
    if (strcmp(req->path, "/own-csp") == 0)
        httpd_response_header(resp, "Content-Security-Policy", "default-src 'none'");
    httpd_reply(resp, 200, "text/plain", "%s %s %zu\n", req->method, req->path, req->body_len);
}

static struct webconfig *load(const char *yaml)
{
    struct webconfig *w = NULL;
    struct buf e = BUF_INIT_MAX(0);
    int r = webconfig_load_string(yaml, strlen(yaml), "web.yml", test_fixture("webconfig"), &w, &e);
    if (r < 0)
        fprintf(stderr, "  load: %d\n%s", r, e.data ? e.data : "");
    buf_free(&e);
    return w;
}

static struct httpd *start(struct webconfig *w)
{
    struct httpd_options o = {.listen_address = "127.0.0.1:0", .web = w};
    struct httpd *h = NULL;
    return httpd_start(&o, handler, NULL, &h) < 0 ? NULL : h;
}

/* Sends request (with "Connection: close" added) and reads the answer into out until the
 * server closes. Returns the status code, or 0 when no HTTP answer came. */
static unsigned request(unsigned port, const char *head, const char *body, struct buf *out)
{
    buf_reset(out);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    struct buf req = BUF_INIT_MAX(0);
    buf_printf(&req, "%sHost: test\r\nConnection: close\r\n\r\n%s", head, body ? body : "");
    (void)!send(fd, req.data, req.len, MSG_NOSIGNAL);
    buf_free(&req);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 5000) <= 0)
            break;
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            break;
        buf_append(out, chunk, (size_t)n);
    }
    close(fd);
    unsigned code = 0;
    if (out->data && sscanf(out->data, "HTTP/1.%*d %u", &code) != 1)
        code = 0;
    return code;
}

/* How many header lines "Name: value" (name without case) the answer has. */
static int count_header(const struct buf *out, const char *line)
{
    int n = 0;
    size_t len = strlen(line);
    for (const char *p = out->data; p && (p = strstr(p, "\r\n")); p += 2)
        if (strncasecmp(p + 2, line, len) == 0 && p[2 + len] == '\r')
            n++;
    return n;
}

static const char config[] = "http_server_config:\n"
                             "  headers:\n"
                             "    X-Frame-Options: deny\n"
                             "    Content-Security-Policy: default-src 'self'\n"
                             "    X-Content-Type-Options: nosniff\n"
                             "basic_auth_users:\n"
                             "  alice: " ALICE "\n";

TEST(basic_auth_before_the_handler)
{
    struct webconfig *w = load(config);
    CHECK(w != NULL);
    struct httpd *h = start(w);
    webconfig_unref(w); /* httpd keeps its own */
    CHECK(h != NULL);
    CHECK(!httpd_tls(h));
    unsigned port = httpd_bound_port(h);
    struct buf out = BUF_INIT_MAX(0);
    atomic_store(&handler_calls, 0);

    CHECK_INT(request(port, "GET /metrics HTTP/1.1\r\n", NULL, &out), 401);
    CHECK_INT(count_header(&out, "WWW-Authenticate: Basic"), 1);
    CHECK_INT(count_header(&out, "X-Frame-Options: deny"), 1);
    CHECK_INT(count_header(&out, "X-Content-Type-Options: nosniff"), 1);
    CHECK_CONTAINS(out.data, "\r\n\r\nUnauthorized\n");
    CHECK_INT(request(port, "GET /-/healthy HTTP/1.1\r\nAuthorization: Basic YWxpY2U6d3Jvbmc=\r\n",
                      NULL, &out),
              401); /* alice:wrong */
    CHECK_INT(request(port, "GET /x HTTP/1.1\r\nAuthorization: Bearer secret\r\n", NULL, &out),
              401);
    /* A body behind wrong credentials is never read: the answer comes at once. */
    CHECK_INT(request(port,
                      "POST /push HTTP/1.1\r\nContent-Length: 5\r\nAuthorization: Basic "
                      "bWFsbG9yeTpzZWNyZXQ=\r\n",
                      "hello", &out),
              401); /* mallory:secret */
    CHECK_INT(atomic_load(&handler_calls), 0);

    CHECK_INT(request(port, "GET /metrics HTTP/1.1\r\n" ALICE_AUTH, NULL, &out), 200);
    CHECK_CONTAINS(out.data, "GET /metrics 0\n");
    CHECK_INT(count_header(&out, "X-Frame-Options: deny"), 1);
    CHECK_INT(count_header(&out, "Content-Security-Policy: default-src 'self'"), 1);
    CHECK_INT(count_header(&out, "X-Content-Type-Options: nosniff"), 1);
    CHECK_INT(count_header(&out, "WWW-Authenticate: Basic"), 0);
    CHECK_INT(
        request(port, "POST /push HTTP/1.1\r\nContent-Length: 5\r\n" ALICE_AUTH, "hello", &out),
        200);
    CHECK_CONTAINS(out.data, "POST /push 5\n");
    /* The handler's own Content-Security-Policy replaces the configured one. */
    CHECK_INT(request(port, "GET /own-csp HTTP/1.1\r\n" ALICE_AUTH, NULL, &out), 200);
    CHECK_INT(count_header(&out, "Content-Security-Policy: default-src 'none'"), 1);
    CHECK_INT(count_header(&out, "Content-Security-Policy: default-src 'self'"), 0);
    CHECK_INT(atomic_load(&handler_calls), 3);
    buf_free(&out);
    httpd_stop(h);
}

TEST(reload_swaps_users_and_tells_a_tls_change)
{
    struct webconfig *w = load(config);
    struct httpd *h = start(w);
    CHECK(h != NULL);
    unsigned port = httpd_bound_port(h);
    struct buf out = BUF_INIT_MAX(0);
    CHECK_INT(request(port, "GET / HTTP/1.1\r\n" ALICE_AUTH, NULL, &out), 200);
    CHECK_INT(request(port, "GET / HTTP/1.1\r\n" BOB_AUTH, NULL, &out), 401);

    struct webconfig *w2 = load("basic_auth_users:\n  bob: " BOB "\n");
    CHECK_INT(httpd_set_webconfig(h, w2), 0); /* no TLS before, none now */
    webconfig_unref(w2);
    CHECK_INT(request(port, "GET / HTTP/1.1\r\n" BOB_AUTH, NULL, &out), 200);
    CHECK_INT(request(port, "GET / HTTP/1.1\r\n" ALICE_AUTH, NULL, &out), 401);
    CHECK_INT(count_header(&out, "X-Frame-Options: deny"), 0); /* the new file has none */

    /* A file with TLS: users apply, TLS only at a restart (1); plain HTTP goes on. */
    struct webconfig *w3 = load("tls_server_config: {cert_file: server.crt, key_file: "
                                "server.key}\nbasic_auth_users:\n  alice: " ALICE "\n");
    CHECK(w3 != NULL);
    CHECK_INT(httpd_set_webconfig(h, w3), 1);
    CHECK_INT(request(port, "GET / HTTP/1.1\r\n" ALICE_AUTH, NULL, &out), 200);
    CHECK_INT(httpd_set_webconfig(h, NULL), -EINVAL);
    /* Without users: open again. */
    struct webconfig *w4 = load("");
    CHECK_INT(httpd_set_webconfig(h, w4), 0);
    CHECK_INT(request(port, "GET / HTTP/1.1\r\n", NULL, &out), 200);
    webconfig_unref(w4);
    httpd_stop(h);
    webconfig_unref(w3);
    webconfig_unref(w);
    buf_free(&out);
}

TEST(rate_limit)
{
    struct webconfig *w = load("rate_limit: {interval: 1h, burst: 2}\n");
    struct httpd *h = start(w);
    webconfig_unref(w);
    CHECK(h != NULL);
    unsigned port = httpd_bound_port(h);
    struct buf out = BUF_INIT_MAX(0);
    CHECK_INT(request(port, "GET / HTTP/1.1\r\n", NULL, &out), 200);
    CHECK_INT(request(port, "GET / HTTP/1.1\r\n", NULL, &out), 200);
    CHECK_INT(request(port, "GET / HTTP/1.1\r\n", NULL, &out), 429);
    CHECK_CONTAINS(out.data, "Too Many Requests");
    buf_free(&out);
    httpd_stop(h);
}

TEST(tls_server_refuses_plain_http)
{
    struct webconfig *w = load("tls_server_config: {cert_file: server.crt, key_file: "
                               "server.key}\n");
    CHECK(w != NULL);
    struct httpd *h = start(w);
    CHECK(h != NULL);
    CHECK(httpd_tls(h));
    CHECK_INT(httpd_set_webconfig(h, w), 0); /* the same TLS */
    struct buf out = BUF_INIT_MAX(0);
    int calls = atomic_load(&handler_calls);
    CHECK_INT(request(httpd_bound_port(h), "GET / HTTP/1.1\r\n", NULL, &out), 0);
    CHECK_INT(atomic_load(&handler_calls), calls);
    buf_free(&out);
    httpd_stop(h);
    webconfig_unref(w);
}

TEST_MAIN(TEST_ENTRY(basic_auth_before_the_handler),
          TEST_ENTRY(reload_swaps_users_and_tells_a_tls_change), TEST_ENTRY(rate_limit),
          TEST_ENTRY(tls_server_refuses_plain_http))
