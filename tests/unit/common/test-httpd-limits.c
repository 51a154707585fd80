/* test-httpd-limits: common/httpd.c's connection hardening over real loopback sockets:
 * the read deadline that closes a slowloris connection whose bytes keep trickling in
 * (headers and body), kept-alive connections that wait idle without being cut, the
 * write deadline for a client that never reads, per-address limits counted per source
 * address, the global limit, and the connection limit fitted to RLIMIT_NOFILE together
 * with daemon_raise_nofile()/daemon_restore_nofile() (the latter seen from a program the
 * controller's subproc runs). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "daemon.h"
#include "httpd.h"
#include "parse.h"
#include "subproc.h"
#include "test.h"

static atomic_int handler_calls;

static void handler(void *userdata, const struct httpd_request *req, struct httpd_response *resp)
{
    (void)userdata;
    atomic_fetch_add(&handler_calls, 1);
    if (strcmp(req->path, "/big") == 0) {
        /* 16 MiB: far more than the socket buffers of a client that never reads. */
        char block[4096];
        memset(block, 'x', sizeof(block));
        for (int i = 0; i < 4096; i++)
            buf_append(&resp->body, block, sizeof(block));
        resp->status = 200;
        resp->content_type = "text/plain";
        return;
    }
    httpd_reply(resp, 200, "text/plain", "ok\n");
}

static struct httpd *start(const struct httpd_options *o)
{
    struct httpd *h = NULL;
    return httpd_start(o, handler, NULL, &h) < 0 ? NULL : h;
}

/* A connection to 127.0.0.1:port from the loopback address src (127.0.0.X). */
static int connect_from(const char *src, unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &sa.sin_addr);
    struct sockaddr_in da = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    da.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        connect(fd, (struct sockaddr *)&da, sizeof(da)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    return fd;
}

static int send_str(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Waits up to wait_msec for fd to become readable; reads what is there. Returns the
 * bytes read (> 0), 0 when the peer closed, -ETIMEDOUT, or -errno (a reset). */
static ssize_t read_some(int fd, char *data, size_t size, int wait_msec)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, wait_msec);
    if (r == 0)
        return -ETIMEDOUT;
    if (r < 0)
        return -errno;
    ssize_t n = recv(fd, data, size, 0);
    return n < 0 ? -errno : n;
}

/* Whether the server ends fd (EOF or reset) within wait_msec, discarding any data. */
static bool closed_within(int fd, int wait_msec)
{
    uint64_t end = now_usec() + (uint64_t)wait_msec * 1000;
    char tmp[65536];
    for (;;) {
        uint64_t now = now_usec();
        if (now >= end)
            return false;
        ssize_t n = read_some(fd, tmp, sizeof(tmp), (int)((end - now) / 1000) + 1);
        if (n == 0 || (n < 0 && n != -ETIMEDOUT))
            return true;
    }
}

/* One request on fd and its status, or -errno. */
static int get_status(int fd, const char *path)
{
    char req[128];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
    int r = send_str(fd, req);
    if (r < 0)
        return r;
    char resp[4096];
    ssize_t n = read_some(fd, resp, sizeof(resp) - 1, 5000);
    if (n <= 0)
        return n == 0 ? -ECONNRESET : (int)n;
    resp[n] = '\0';
    unsigned status = 0;
    return sscanf(resp, "HTTP/1.%*d %u", &status) == 1 ? (int)status : -EPROTO;
}

/* Trickles one byte of s every step_msec for up to total_msec while watching for the
 * server to close fd; returns the milliseconds until it closed, or -1. */
static long trickle_until_closed(int fd, const char *s, int step_msec, int total_msec)
{
    uint64_t t0 = now_usec();
    size_t len = strlen(s);
    for (size_t i = 0; (now_usec() - t0) / 1000 < (uint64_t)total_msec; i++) {
        if (send(fd, s + i % len, 1, MSG_NOSIGNAL) < 0)
            return (long)((now_usec() - t0) / 1000);
        if (closed_within(fd, step_msec))
            return (long)((now_usec() - t0) / 1000);
    }
    return -1;
}

TEST(slowloris_headers_closed_at_read_deadline)
{
    /* An idle timeout of 30 s never fires: a byte arrives every 200 ms. */
    struct httpd_options o = {
        .listen_address = "127.0.0.1:0", .timeout_sec = 30, .read_timeout_sec = 1};
    struct httpd *h = start(&o);
    CHECK(h);
    int fd = connect_from("127.0.0.1", httpd_bound_port(h));
    CHECK(fd >= 0);
    int calls = atomic_load(&handler_calls);
    CHECK_INT(send_str(fd, "GET /x HTTP/1.1\r\nHost: t\r\n"), 0);
    long ms =
        trickle_until_closed(fd, "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 200, 8000);
    unsigned long long closes = httpd_deadline_closes(h);
    close(fd);
    httpd_stop(h);
    /* Closed between the 1 s deadline and the reaper's next 1 s tick (with slack). */
    CHECK(ms >= 900);
    CHECK(ms > 0 && ms < 6000);
    CHECK_INT(closes, 1);
    CHECK_INT(atomic_load(&handler_calls), calls);
}

TEST(slow_body_closed_at_read_deadline)
{
    struct httpd_options o = {
        .listen_address = "127.0.0.1:0", .timeout_sec = 30, .read_timeout_sec = 1};
    struct httpd *h = start(&o);
    CHECK(h);
    int fd = connect_from("127.0.0.1", httpd_bound_port(h));
    CHECK(fd >= 0);
    int calls = atomic_load(&handler_calls);
    CHECK_INT(send_str(fd, "POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 10000\r\n\r\n"), 0);
    long ms = trickle_until_closed(fd, "body", 200, 8000);
    close(fd);
    httpd_stop(h);
    CHECK(ms > 0 && ms < 6000);
    CHECK_INT(atomic_load(&handler_calls), calls);
}

TEST(keepalive_connection_may_wait_longer_than_read_deadline)
{
    struct httpd_options o = {
        .listen_address = "127.0.0.1:0", .timeout_sec = 30, .read_timeout_sec = 1};
    struct httpd *h = start(&o);
    CHECK(h);
    int fd = connect_from("127.0.0.1", httpd_bound_port(h));
    CHECK(fd >= 0);
    int first = get_status(fd, "/a");
    /* Idle for more than the read deadline and a reaper tick: still open. */
    bool cut = closed_within(fd, 2500);
    int second = cut ? -ECONNRESET : get_status(fd, "/b");
    close(fd);
    unsigned long long closes = httpd_deadline_closes(h);
    httpd_stop(h);
    CHECK_INT(first, 200);
    CHECK(!cut);
    CHECK_INT(second, 200);
    CHECK_INT(closes, 0);
}

TEST(client_that_never_reads_closed_at_write_deadline)
{
    struct httpd_options o = {
        .listen_address = "127.0.0.1:0", .timeout_sec = 30, .write_timeout_sec = 1};
    struct httpd *h = start(&o);
    CHECK(h);
    int fd = connect_from("127.0.0.1", httpd_bound_port(h));
    CHECK(fd >= 0);
    CHECK_INT(send_str(fd, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    /* Read nothing for a while: the server's 16 MiB cannot all fit in the buffers. */
    uint64_t deadline = now_usec() + 6000000;
    while (httpd_deadline_closes(h) == 0 && now_usec() < deadline)
        usleep(50000);
    unsigned long long closes = httpd_deadline_closes(h);
    /* Reading now gets what was buffered, then the end. */
    bool ended = closed_within(fd, 5000);
    close(fd);
    httpd_stop(h);
    CHECK_INT(closes, 1);
    CHECK(ended);
}

TEST(per_ip_limit_is_per_source_address)
{
    struct httpd_options o = {.listen_address = "127.0.0.1:0", .per_ip_limit = 2};
    struct httpd *h = start(&o);
    CHECK(h);
    unsigned port = httpd_bound_port(h);
    /* Two held from 127.0.0.2 (each proven accepted by an answer), the third closed. */
    int a = connect_from("127.0.0.2", port), b = connect_from("127.0.0.2", port);
    int sa = get_status(a, "/"), sb = get_status(b, "/");
    int c = connect_from("127.0.0.2", port);
    int sc = c >= 0 ? get_status(c, "/") : c;
    /* Another address is served meanwhile. */
    int d = connect_from("127.0.0.3", port);
    int sd = get_status(d, "/");
    close(a);
    close(b);
    if (c >= 0)
        close(c);
    close(d);
    httpd_stop(h);
    CHECK_INT(sa, 200);
    CHECK_INT(sb, 200);
    CHECK(sc < 0);
    CHECK_INT(sd, 200);
}

TEST(global_limit_queues_new_connections)
{
    struct httpd_options o = {.listen_address = "127.0.0.1:0", .connection_limit = 2, .threads = 1};
    struct httpd *h = start(&o);
    CHECK(h);
    unsigned port = httpd_bound_port(h);
    int a = connect_from("127.0.0.2", port), b = connect_from("127.0.0.3", port);
    int sa = get_status(a, "/"), sb = get_status(b, "/");
    /* The third connects (the kernel queues it) but gets no answer while two are held. */
    int c = connect_from("127.0.0.4", port);
    CHECK(c >= 0);
    CHECK_INT(send_str(c, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    char tmp[512];
    ssize_t early = read_some(c, tmp, sizeof(tmp), 700);
    close(a);
    ssize_t later = read_some(c, tmp, sizeof(tmp) - 1, 5000);
    close(b);
    close(c);
    httpd_stop(h);
    CHECK_INT(sa, 200);
    CHECK_INT(sb, 200);
    CHECK_INT(early, -ETIMEDOUT);
    CHECK(later > 12 && memcmp(tmp, "HTTP/1.1 200", 12) == 0);
}

TEST(connection_limit_fits_nofile_and_raise_restores)
{
    struct rlimit orig;
    CHECK_INT(getrlimit(RLIMIT_NOFILE, &orig), 0);
    if (orig.rlim_max < 400)
        return; /* nothing to show under so low a hard limit */
    struct rlimit low = {.rlim_cur = 300, .rlim_max = orig.rlim_max};
    CHECK_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct httpd_options o = {.listen_address = "127.0.0.1:0", .connection_limit = 1000};
    struct httpd *h = start(&o);
    unsigned fitted = h ? httpd_connection_limit(h) : 0;
    httpd_stop(h);
    o.connection_limit = 100;
    h = start(&o);
    unsigned kept = h ? httpd_connection_limit(h) : 0;
    httpd_stop(h);
    long raised = daemon_raise_nofile();
    struct rlimit now;
    getrlimit(RLIMIT_NOFILE, &now);
    /* A program the controller runs gets the soft limit the daemon started with. */
    const char *argv[] = {"/bin/sh", "-c", "ulimit -Sn", NULL};
    struct subproc_opts so = {.argv = argv, .timeout_usec = 5000000};
    struct subproc_result sr;
    int rs = subproc_run(&so, &sr);
    char child[32] = "";
    snprintf(child, sizeof(child), "%s", rs == 0 && sr.out.data ? sr.out.data : "(failed)");
    subproc_result_free(&sr);
    daemon_restore_nofile();
    struct rlimit back;
    getrlimit(RLIMIT_NOFILE, &back);
    setrlimit(RLIMIT_NOFILE, &orig);
    CHECK_INT(fitted, 300 - 128);
    CHECK_INT(kept, 100);
    CHECK_INT(raised, (long)orig.rlim_max);
    CHECK_INT(now.rlim_cur, orig.rlim_max);
    if (getenv("HOMEOSTAT_UNDER_VALGRIND"))
        printf("  (under valgrind, which shows children its own file limit: child's limit "
               "not checked, it read %s)\n",
               child);
    else
        CHECK_STR(child, "300\n");
    CHECK_INT(back.rlim_cur, 300);
}

TEST_MAIN(TEST_ENTRY(slowloris_headers_closed_at_read_deadline),
          TEST_ENTRY(slow_body_closed_at_read_deadline),
          TEST_ENTRY(keepalive_connection_may_wait_longer_than_read_deadline),
          TEST_ENTRY(client_that_never_reads_closed_at_write_deadline),
          TEST_ENTRY(per_ip_limit_is_per_source_address),
          TEST_ENTRY(global_limit_queues_new_connections),
          TEST_ENTRY(connection_limit_fits_nofile_and_raise_restores))
