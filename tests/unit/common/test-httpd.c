/* test-httpd: common/httpd.c over real sockets on 127.0.0.1 with a kernel-chosen
 * port: GET/HEAD/POST, body limits with Content-Length and chunked bodies, the
 * per-client connection limit, the idle timeout, query and header accessors, JSON
 * error bodies, bound address reporting, a prompt httpd_stop() and, without threads, a
 * socketpair served by the caller's own loop (external_loop). */
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
#include "parse.h"
#include "test.h"

#define IO_TIMEOUT_MSEC 5000

static atomic_int handler_calls;

static void handler(void *userdata, const struct httpd_request *req, struct httpd_response *resp)
{
    atomic_fetch_add(&handler_calls, 1);
    if (strcmp(req->path, "/hello") == 0) {
        httpd_response_header(resp, "X-Test", "yes");
        httpd_reply(resp, 200, "text/plain", "hello world\n");
    } else if (strcmp(req->path, "/echo") == 0) {
        httpd_reply(resp, 200, "text/plain", "%s got %zu bytes: %.*s", req->method, req->body_len,
                    (int)req->body_len, req->body ? req->body : "");
    } else if (strcmp(req->path, "/query") == 0) {
        const char *name = httpd_query(req, "name");
        const char *hdr = httpd_header(req, "X-Custom");
        httpd_reply(resp, 200, "text/plain", "name=[%s] header=[%s]", name ? name : "(none)",
                    hdr ? hdr : "(none)");
    } else if (strcmp(req->path, "/error") == 0) {
        httpd_reply_error(resp, 418, "bad \"thing\"\\");
    } else if (strcmp(req->path, "/zero") == 0) {
        /* status left at 0: becomes 500 */
    } else {
        httpd_reply_error(resp, 404, "not found");
    }
}

static struct httpd *start(unsigned per_ip, unsigned timeout_sec, size_t max_body)
{
    struct httpd_options o = {
        .listen_address = "127.0.0.1:0",
        .per_ip_limit = per_ip,
        .timeout_sec = timeout_sec,
        .max_body_bytes = max_body,
    };
    struct httpd *h = NULL;
    if (httpd_start(&o, handler, NULL, &h) < 0)
        return NULL;
    return h;
}

static int connect_to(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static int send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads what arrives into b until the peer closes (0), an error (-errno) or
 * IO_TIMEOUT_MSEC of silence (-ETIMEDOUT). With until_len, stops once b holds that
 * many bytes. */
static int recv_some(int fd, struct buf *b, size_t until_len)
{
    for (;;) {
        if (until_len && b->len >= until_len)
            return 1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, IO_TIMEOUT_MSEC);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return -ETIMEDOUT;
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        if (buf_append(b, chunk, (size_t)n) < 0)
            return -E2BIG;
    }
}

struct response {
    unsigned status;
    struct buf raw;   /* everything received */
    size_t head_len;  /* bytes of the status line and headers, blank line included */
    const char *body; /* into raw */
    size_t body_len;
};

static void response_free(struct response *r)
{
    buf_free(&r->raw);
}

/* Value of header name in r's header block (a static copy), or NULL. */
static const char *header(const struct response *r, const char *name)
{
    static char value[256];
    size_t nl = strlen(name);
    const char *end = r->raw.data + r->head_len;
    const char *line = strstr(r->raw.data, "\r\n"); /* skip the status line */
    while (line && line + 2 < end) {
        line += 2;
        const char *eol = strstr(line, "\r\n");
        if (!eol || eol == line)
            break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            if (vl >= sizeof(value))
                vl = sizeof(value) - 1;
            memcpy(value, v, vl);
            value[vl] = '\0';
            return value;
        }
        line = eol;
    }
    return NULL;
}

/* Whether r's body is exactly s. */
static bool body_is(const struct response *r, const char *s)
{
    return r->body && r->body_len == strlen(s) && memcmp(r->body, s, r->body_len) == 0;
}

/* Reads one response from fd: headers, then Content-Length bytes (none for HEAD, or
 * all until close when there is no Content-Length). 0, or -errno when the
 * connection closed or failed before a complete response. */
static int read_response(int fd, bool head, struct response *r)
{
    memset(r, 0, sizeof(*r));
    buf_init(&r->raw, 1 << 20);
    char *eoh = NULL;
    while (!eoh) {
        int rc = recv_some(fd, &r->raw, r->raw.len + 1);
        if (rc <= 0)
            return rc == 0 ? -ECONNRESET : rc;
        eoh = strstr(r->raw.data, "\r\n\r\n");
    }
    r->head_len = (size_t)(eoh + 4 - r->raw.data);
    if (sscanf(r->raw.data, "HTTP/1.%*d %u", &r->status) != 1)
        return -EPROTO;
    const char *cl = header(r, "Content-Length");
    unsigned long long want = 0;
    if (head) {
        want = 0;
    } else if (cl) {
        if (parse_u64(cl, &want) < 0)
            return -EPROTO;
    } else {
        int rc = recv_some(fd, &r->raw, 0);
        if (rc < 0)
            return rc;
        want = r->raw.len - r->head_len;
    }
    if (want) {
        int rc = recv_some(fd, &r->raw, r->head_len + want);
        if (rc <= 0)
            return rc == 0 ? -ECONNRESET : rc;
    }
    r->body = r->raw.data + r->head_len;
    r->body_len = r->raw.len - r->head_len;
    return 0;
}

/* Sends raw on a fresh connection and reads one response. */
static int request(unsigned port, const char *raw, size_t len, bool head, struct response *r)
{
    memset(r, 0, sizeof(*r));
    int fd = connect_to(port);
    if (fd < 0)
        return fd;
    int rc = send_all(fd, raw, len);
    if (rc >= 0)
        rc = read_response(fd, head, r);
    close(fd);
    return rc;
}

#define REQ(port, raw, r) request((port), (raw), strlen(raw), false, (r))

TEST(get_returns_body_and_headers)
{
    struct httpd *h = start(0, 0, 0);
    CHECK(h);
    struct response r;
    int rc =
        REQ(httpd_bound_port(h), "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
    httpd_stop(h);
    CHECK_INT(rc, 0);
    CHECK_INT(r.status, 200);
    CHECK(body_is(&r, "hello world\n"));
    CHECK_STR(header(&r, "Content-Length"), "12");
    CHECK_STR(header(&r, "Content-Type"), "text/plain");
    CHECK_STR(header(&r, "X-Test"), "yes");
    CHECK_STR(header(&r, "X-Content-Type-Options"), "nosniff");
    response_free(&r);
}

TEST(head_has_no_body_but_same_length)
{
    struct httpd *h = start(0, 0, 0);
    CHECK(h);
    struct response r = {0};
    int fd = connect_to(httpd_bound_port(h));
    CHECK(fd >= 0);
    const char *req = "HEAD /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    CHECK_INT(send_all(fd, req, strlen(req)), 0);
    int rc = read_response(fd, true, &r);
    int tail = rc == 0 ? recv_some(fd, &r.raw, 0) : rc; /* anything after the headers? */
    close(fd);
    httpd_stop(h);
    CHECK_INT(rc, 0);
    CHECK_INT(tail, 0);
    CHECK_INT(r.status, 200);
    CHECK_STR(header(&r, "Content-Length"), "12");
    CHECK_INT(r.raw.len, r.head_len); /* no body bytes at all */
    response_free(&r);
}

TEST(post_body_reaches_handler)
{
    struct httpd *h = start(0, 0, 0);
    CHECK(h);
    struct response r;
    int rc = REQ(httpd_bound_port(h),
                 "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                 "Content-Length: 11\r\n\r\nhello body!",
                 &r);
    httpd_stop(h);
    CHECK_INT(rc, 0);
    CHECK_INT(r.status, 200);
    CHECK(body_is(&r, "POST got 11 bytes: hello body!"));
    response_free(&r);
}

TEST(keepalive_bodies_do_not_leak_between_requests)
{
    struct httpd *h = start(0, 0, 0);
    CHECK(h);
    int fd = connect_to(httpd_bound_port(h));
    CHECK(fd >= 0);
    const char *a = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
    const char *b = "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\ndefgh";
    const char *c = "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n";
    struct response ra = {0}, rb = {0}, rc_ = {0};
    int r1 = send_all(fd, a, strlen(a));
    if (r1 == 0)
        r1 = read_response(fd, false, &ra);
    int r2 = r1 == 0 ? send_all(fd, b, strlen(b)) : r1;
    if (r2 == 0)
        r2 = read_response(fd, false, &rb);
    int r3 = r2 == 0 ? send_all(fd, c, strlen(c)) : r2;
    if (r3 == 0)
        r3 = read_response(fd, false, &rc_);
    close(fd);
    httpd_stop(h);
    CHECK_INT(r1, 0);
    CHECK_INT(r2, 0);
    CHECK_INT(r3, 0);
    CHECK(body_is(&ra, "POST got 3 bytes: abc"));
    CHECK(body_is(&rb, "POST got 5 bytes: defgh"));
    CHECK(body_is(&rc_, "GET got 0 bytes: "));
    response_free(&ra);
    response_free(&rb);
    response_free(&rc_);
}

TEST(body_over_limit_with_content_length_is_413)
{
    struct httpd *h = start(0, 0, 64);
    CHECK(h);
    char req[512];
    char body[101];
    memset(body, 'b', 100);
    body[100] = '\0';
    snprintf(req, sizeof(req),
             "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 100\r\n\r\n%s",
             body);
    int calls = atomic_load(&handler_calls);
    struct response r;
    int rc = REQ(httpd_bound_port(h), req, &r);
    /* Exactly the limit is fine. */
    body[64] = '\0';
    snprintf(req, sizeof(req),
             "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 64\r\n\r\n%s",
             body);
    struct response ok;
    int rc2 = REQ(httpd_bound_port(h), req, &ok);
    httpd_stop(h);
    CHECK_INT(rc, 0);
    CHECK_INT(r.status, 413);
    CHECK_STR(header(&r, "Content-Type"), "application/json");
    CHECK(body_is(&r, "{\"status\":\"error\",\"error\":\"request body larger than 64 bytes\"}\n"));
    CHECK_INT(rc2, 0);
    CHECK_INT(ok.status, 200);
    CHECK(ok.body_len > 18 && memcmp(ok.body, "POST got 64 bytes: ", 19) == 0);
    CHECK_INT(atomic_load(&handler_calls), calls + 1); /* the 413 never reached it */
    response_free(&r);
    response_free(&ok);
}

TEST(body_over_limit_chunked_is_413)
{
    struct httpd *h = start(0, 0, 64);
    CHECK(h);
    char chunk[41];
    memset(chunk, 'c', 40);
    chunk[40] = '\0';
    char req[512];
    snprintf(req, sizeof(req),
             "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
             "Transfer-Encoding: chunked\r\n\r\n28\r\n%s\r\n28\r\n%s\r\n0\r\n\r\n",
             chunk, chunk);
    struct response r;
    int rc = REQ(httpd_bound_port(h), req, &r);
    /* Under the limit, chunked works and arrives whole. */
    struct response ok;
    int rc2 = REQ(httpd_bound_port(h),
                  "POST /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                  &ok);
    httpd_stop(h);
    CHECK_INT(rc, 0);
    CHECK_INT(r.status, 413);
    CHECK(body_is(&r, "{\"status\":\"error\",\"error\":\"request body larger than 64 bytes\"}\n"));
    CHECK_INT(rc2, 0);
    CHECK_INT(ok.status, 200);
    CHECK(body_is(&ok, "POST got 11 bytes: hello world"));
    response_free(&r);
    response_free(&ok);
}

TEST(per_ip_limit_refuses_extra_connection)
{
    struct httpd *h = start(2, 0, 0);
    CHECK(h);
    unsigned port = httpd_bound_port(h);
    const char *get = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    int held[2] = {-1, -1};
    int ok = 0;
    /* Two keep-alive connections, each proven accepted by one answered request. */
    for (int i = 0; i < 2; i++) {
        held[i] = connect_to(port);
        struct response r = {0};
        if (held[i] >= 0 && send_all(held[i], get, strlen(get)) == 0 &&
            read_response(held[i], false, &r) == 0 && r.status == 200)
            ok++;
        response_free(&r);
    }
    /* The third from the same address is closed without an answer. */
    struct response third;
    int rc3 = request(port, get, strlen(get), false, &third);
    response_free(&third);
    /* Once one is closed, a new connection is served again. */
    close(held[0]);
    held[0] = -1;
    int served = 0;
    uint64_t deadline = now_usec() + 3000000;
    while (!served && now_usec() < deadline) {
        struct response r = {0};
        if (request(port, get, strlen(get), false, &r) == 0 && r.status == 200)
            served = 1;
        response_free(&r);
        if (!served)
            usleep(20000);
    }
    close(held[1]);
    httpd_stop(h);
    CHECK_INT(ok, 2);
    CHECK(rc3 < 0);
    CHECK(served);
}

/* Waits for the peer to close fd; 0 when it did, -ETIMEDOUT otherwise. */
static int wait_closed(int fd)
{
    struct buf b;
    buf_init(&b, 1 << 16);
    int rc = recv_some(fd, &b, 0);
    buf_free(&b);
    return rc == -ECONNRESET ? 0 : rc;
}

TEST(idle_connection_times_out)
{
    struct httpd *h = start(0, 1, 0);
    CHECK(h);
    unsigned port = httpd_bound_port(h);
    int idle = connect_to(port);
    int partial = connect_to(port);
    CHECK(idle >= 0 && partial >= 0);
    /* A request started but never finished (slowloris) is closed too. */
    const char *unfinished = "GET /hello HTTP/1.1\r\nHost: t\r\n";
    CHECK_INT(send_all(partial, unfinished, strlen(unfinished)), 0);
    int r1 = wait_closed(idle);
    int r2 = wait_closed(partial);
    close(idle);
    close(partial);
    /* The server itself is fine afterwards. */
    struct response r;
    int rc = REQ(port, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &r);
    httpd_stop(h);
    CHECK_INT(r1, 0);
    CHECK_INT(r2, 0);
    CHECK_INT(rc, 0);
    CHECK_INT(r.status, 200);
    response_free(&r);
}

TEST(query_and_header_accessors)
{
    struct httpd *h = start(0, 0, 0);
    CHECK(h);
    struct response a, b;
    int ra = REQ(httpd_bound_port(h),
                 "GET /query?x=1&name=a%20b HTTP/1.1\r\nHost: t\r\nX-Custom: v1\r\n"
                 "Connection: close\r\n\r\n",
                 &a);
    int rb =
        REQ(httpd_bound_port(h), "GET /query HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &b);
    httpd_stop(h);
    CHECK_INT(ra, 0);
    CHECK_INT(a.status, 200);
    CHECK(body_is(&a, "name=[a b] header=[v1]"));
    CHECK_INT(rb, 0);
    CHECK(body_is(&b, "name=[(none)] header=[(none)]"));
    response_free(&a);
    response_free(&b);
}

TEST(error_replies_and_status_zero)
{
    struct httpd *h = start(0, 0, 0);
    CHECK(h);
    struct response e, z, nf;
    unsigned port = httpd_bound_port(h);
    int re = REQ(port, "GET /error HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &e);
    int rz = REQ(port, "GET /zero HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &z);
    int rn = REQ(port, "GET /nope?a=b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &nf);
    httpd_stop(h);
    CHECK_INT(re, 0);
    CHECK_INT(e.status, 418);
    CHECK_STR(header(&e, "Content-Type"), "application/json");
    CHECK(body_is(&e, "{\"status\":\"error\",\"error\":\"bad \\\"thing\\\"\\\\\"}\n"));
    CHECK_INT(rz, 0);
    CHECK_INT(z.status, 500);
    CHECK_INT(z.body_len, 0);
    CHECK_INT(rn, 0);
    CHECK_INT(nf.status, 404);
    response_free(&e);
    response_free(&z);
    response_free(&nf);
}

TEST(reply_error_json_escaping)
{
    struct httpd_response resp = {0};
    buf_init(&resp.body, 0);
    buf_init(&resp.headers, 0);
    CHECK_INT(httpd_reply_error(&resp, 400, "bad \"x\" in C:\\dir\n\ttab \x01"), 0);
    CHECK_INT(resp.status, 400);
    CHECK_STR(resp.content_type, "application/json");
    CHECK_STR(resp.body.data,
              "{\"status\":\"error\",\"error\":\"bad \\\"x\\\" in C:\\\\dir\\u000a\\u0009tab "
              "\\u0001\"}\n");
    /* UTF-8 passes through untouched. */
    CHECK_INT(httpd_reply_error(&resp, 503, "caf\xc3\xa9"), 0);
    CHECK_STR(resp.body.data, "{\"status\":\"error\",\"error\":\"caf\xc3\xa9\"}\n");
    CHECK_INT(httpd_reply(&resp, 200, "text/plain", "n=%d", 5), 0);
    CHECK_STR(resp.body.data, "n=5");
    CHECK_INT(httpd_response_header(&resp, "A", "1"), 0);
    CHECK_INT(resp.headers.len, 4);
    CHECK(memcmp(resp.headers.data, "A\0001\0", 4) == 0);
    buf_free(&resp.body);
    buf_free(&resp.headers);
}

TEST(bound_address_reported)
{
    struct httpd *h = start(0, 0, 0);
    CHECK(h);
    unsigned port = httpd_bound_port(h);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%u", port);
    char got[80];
    snprintf(got, sizeof(got), "%s", httpd_bound_address(h));
    httpd_stop(h);
    CHECK(port > 0 && port < 65536);
    CHECK_STR(got, want);
}

TEST(ipv6_and_wildcard_addresses)
{
    struct httpd_options o = {.listen_address = "[::1]:0"};
    struct httpd *h = NULL;
    int r = httpd_start(&o, handler, NULL, &h);
    if (r == 0) { /* a host without IPv6 loopback may refuse; that is fine */
        char want[64];
        snprintf(want, sizeof(want), "[::1]:%u", httpd_bound_port(h));
        char got[80];
        snprintf(got, sizeof(got), "%s", httpd_bound_address(h));
        httpd_stop(h);
        CHECK_STR(got, want);
    }
    /* ":0" listens on every address, IPv4 included. */
    o.listen_address = ":0";
    h = NULL;
    CHECK_INT(httpd_start(&o, handler, NULL, &h), 0);
    struct response resp;
    int rc = REQ(httpd_bound_port(h), "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
                 &resp);
    const char *addr = httpd_bound_address(h);
    int wildcard = strncmp(addr, "[::]:", 5) == 0 || strncmp(addr, "0.0.0.0:", 8) == 0;
    httpd_stop(h);
    CHECK(wildcard);
    CHECK_INT(rc, 0);
    CHECK_INT(resp.status, 200);
    response_free(&resp);
}

TEST(start_errors)
{
    struct httpd *h = NULL;
    struct httpd_options o = {.listen_address = "nonsense"};
    CHECK_INT(httpd_start(&o, handler, NULL, &h), -EINVAL);
    o.listen_address = "127.0.0.1:99999";
    CHECK_INT(httpd_start(&o, handler, NULL, &h), -EINVAL);
    CHECK(h == NULL);
    struct httpd *a = start(0, 0, 0);
    CHECK(a);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", httpd_bound_port(a));
    o.listen_address = addr;
    int r = httpd_start(&o, handler, NULL, &h);
    httpd_stop(a);
    CHECK_INT(r, -EADDRINUSE);
    CHECK(h == NULL);
    httpd_stop(NULL);
}

TEST(stop_returns_promptly_with_open_connections)
{
    struct httpd *h = start(0, 30, 0);
    CHECK(h);
    unsigned port = httpd_bound_port(h);
    int idle = connect_to(port);
    int keep = connect_to(port);
    CHECK(idle >= 0 && keep >= 0);
    const char *get = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    struct response r;
    CHECK_INT(send_all(keep, get, strlen(get)), 0);
    CHECK_INT(read_response(keep, false, &r), 0);
    response_free(&r);
    uint64_t t0 = now_usec();
    httpd_stop(h);
    uint64_t took = now_usec() - t0;
    /* The idle timeout is 30 s: stopping must not wait for it. */
    CHECK(took < 5000000);
    CHECK_INT(wait_closed(idle), 0);
    CHECK_INT(wait_closed(keep), 0);
    close(idle);
    close(keep);
}

/* external_loop: no thread of libmicrohttpd's; the caller hands in one end of a socketpair
 * and runs the loop, and the handler runs then, on the caller's thread. */
TEST(external_loop_serves_added_connection)
{
    struct httpd_options o = {.listen_address = "127.0.0.1:0", .external_loop = true};
    struct httpd *h = NULL;
    CHECK_INT(httpd_start(&o, handler, NULL, &h), 0);
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    CHECK_INT(httpd_add_connection(h, sv[1]), 0);
    const char *get = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    CHECK_INT(send_all(sv[0], get, strlen(get)), 0);
    int calls = atomic_load(&handler_calls);
    struct pollfd p = {.fd = sv[0], .events = POLLIN};
    CHECK_INT(poll(&p, 1, 50), 0); /* nothing answers until the loop runs */
    CHECK_INT(atomic_load(&handler_calls), calls);
    struct buf got;
    buf_init(&got, 1 << 16);
    for (int i = 0; i < 100 && !(got.data && strstr(got.data, "hello world\n")); i++) {
        CHECK_INT(httpd_run(h), 1);
        char chunk[4096];
        ssize_t n = recv(sv[0], chunk, sizeof(chunk), MSG_DONTWAIT);
        if (n > 0)
            CHECK_INT(buf_append(&got, chunk, (size_t)n), 0);
    }
    CHECK(got.data && strncmp(got.data, "HTTP/1.1 200 ", 13) == 0);
    CHECK(got.data && strstr(got.data, "\r\n\r\nhello world\n"));
    CHECK_INT(atomic_load(&handler_calls), calls + 1);
    buf_free(&got);
    close(sv[0]); /* the server sees the end and closes its side */
    int open = 1;
    for (int i = 0; i < 100 && open > 0; i++)
        open = httpd_run(h);
    CHECK_INT(open, 0);
    httpd_stop(h);

    /* A server with its own threads refuses both, and closes the descriptor all the same. */
    h = start(0, 0, 0);
    CHECK(h);
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    CHECK_INT(httpd_add_connection(h, sv[1]), -EINVAL);
    CHECK_INT(httpd_run(h), -EINVAL);
    httpd_stop(h);
    CHECK_INT(wait_closed(sv[0]), 0);
    close(sv[0]);
}

TEST_MAIN(TEST_ENTRY(get_returns_body_and_headers), TEST_ENTRY(head_has_no_body_but_same_length),
          TEST_ENTRY(post_body_reaches_handler),
          TEST_ENTRY(keepalive_bodies_do_not_leak_between_requests),
          TEST_ENTRY(body_over_limit_with_content_length_is_413),
          TEST_ENTRY(body_over_limit_chunked_is_413),
          TEST_ENTRY(per_ip_limit_refuses_extra_connection), TEST_ENTRY(idle_connection_times_out),
          TEST_ENTRY(query_and_header_accessors), TEST_ENTRY(error_replies_and_status_zero),
          TEST_ENTRY(reply_error_json_escaping), TEST_ENTRY(bound_address_reported),
          TEST_ENTRY(ipv6_and_wildcard_addresses), TEST_ENTRY(start_errors),
          TEST_ENTRY(stop_returns_promptly_with_open_connections),
          TEST_ENTRY(external_loop_serves_added_connection))
