/* fuzz_http: a daemon on a thread and a raw HTTP client, over TCP or over a socketpair
 * whose server side the client runs itself (see fuzz_http.h). */
#include "fuzz_http.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "httpd.h"

#define REPLY_MAX_BYTES (8u << 20)
#define REPLY_TIMEOUT_MS 8000
#define ANSWER_WAIT_MS 20
#define INCOMPLETE_WAIT_MS 1
#define START_TIMEOUT_MS 20000
/* Passes of the server's loop in a row that move nothing before the server counts as
 * waiting for the client (one is enough; the rest are cheap insurance). */
#define IDLE_PASSES 3
/* Passes of the loop after the client closes before the connection must be gone. */
#define CLOSE_PASSES 1000

static char dir[256];
static char paths[8][512];
static size_t n_paths;

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
    rmdir(dir);
}

const char *fuzz_http_dir(void)
{
    if (dir[0])
        return dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : NULL;
    if (!base)
        base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof(dir), "%s/homeostat-fuzz-XXXXXX", base);
    if (!mkdtemp(dir))
        fuzz_fail("cannot create a directory under %s: %s", base, strerror(errno));
    atexit(remove_dir);
    return dir;
}

const char *fuzz_http_write(const char *name, const char *text)
{
    if (n_paths == sizeof(paths) / sizeof(paths[0]))
        fuzz_fail("fuzz_http_write: too many files");
    char *path = paths[n_paths++];
    snprintf(path, sizeof(paths[0]), "%s/%s", fuzz_http_dir(), name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        fuzz_fail("cannot write %s: %s", path, strerror(errno));
    return path;
}

struct daemon_run {
    fuzz_main_fn main_fn;
    int argc;
    char **argv;
    volatile int exited; /* set by the thread when main returns */
};

static void *daemon_thread(void *arg)
{
    struct daemon_run *d = arg;
    int r = d->main_fn(d->argc, d->argv);
    fprintf(stderr, "fuzz: the daemon's main returned %d\n", r);
    __atomic_store_n(&d->exited, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        fuzz_fail("cannot find a free port: %s", strerror(errno));
    close(fd);
    return ntohs(sa.sin_port);
}

static int connect_port(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    /* Close with a reset: no TIME_WAIT left behind by hundreds of thousands of inputs. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    return fd;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Starts main_fn on a detached thread with argv[0..argc) and, when extra is not NULL, one
 * more argument. Returns its state (never freed: the daemon keeps running). */
static struct daemon_run *start_thread(fuzz_main_fn main_fn, int argc, const char *const *argv,
                                       const char *extra)
{
    signal(SIGPIPE, SIG_IGN);
    struct daemon_run *d = calloc(1, sizeof(*d));
    if (!d)
        fuzz_fail("out of memory");
    d->main_fn = main_fn;
    d->argc = argc + (extra != NULL);
    d->argv = calloc((size_t)argc + 2, sizeof(char *));
    if (!d->argv)
        fuzz_fail("out of memory");
    for (int i = 0; i < argc; i++)
        d->argv[i] = (char *)argv[i];
    d->argv[argc] = (char *)extra;
    optind = 0; /* getopt_long starts afresh in the daemon */
    pthread_t t;
    if (pthread_create(&t, NULL, daemon_thread, d) != 0)
        fuzz_fail("cannot start the daemon's thread");
    pthread_detach(t);
    return d;
}

unsigned fuzz_http_start(fuzz_main_fn main_fn, int argc, const char *const *argv)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        unsigned port = free_port();
        char *listen = malloc(64);
        if (!listen)
            fuzz_fail("out of memory");
        snprintf(listen, 64, "--web.listen-address=127.0.0.1:%u", port);
        struct daemon_run *d = start_thread(main_fn, argc, argv, listen);
        uint64_t deadline = now_ms() + START_TIMEOUT_MS;
        while (!__atomic_load_n(&d->exited, __ATOMIC_SEQ_CST) && now_ms() < deadline) {
            int fd = connect_port(port);
            if (fd >= 0) {
                close(fd);
                return port; /* d, its argv and listen stay with the running daemon */
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (!__atomic_load_n(&d->exited, __ATOMIC_SEQ_CST))
            fuzz_fail("the daemon did not listen on port %u within %d ms", port, START_TIMEOUT_MS);
        /* It exited (the port was taken, or bad flags: then every attempt fails). */
    }
    fuzz_fail("the daemon did not start (see its messages above)");
}

struct httpd *fuzz_http_start_local(fuzz_main_fn main_fn, int argc, const char *const *argv,
                                    struct httpd **server)
{
    struct daemon_run *d = start_thread(main_fn, argc, argv, NULL);
    uint64_t deadline = now_ms() + START_TIMEOUT_MS;
    struct httpd *h;
    while (!(h = __atomic_load_n(server, __ATOMIC_ACQUIRE))) {
        if (__atomic_load_n(&d->exited, __ATOMIC_SEQ_CST))
            fuzz_fail("the daemon did not start (see its messages above)");
        if (now_ms() >= deadline)
            fuzz_fail("the daemon did not start its server within %d ms", START_TIMEOUT_MS);
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return h;
}

/* Case-insensitive search for a header line "name:" in [p, end); returns its value. */
static const char *find_header(const char *p, const char *end, const char *name)
{
    size_t nl = strlen(name);
    for (const char *line = p; line < end;) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol)
            eol = end;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':')
            return line + nl + 1;
        line = eol + 1;
    }
    return NULL;
}

static const char *find_blank_line(const char *p, size_t len, size_t *ret_sep)
{
    const char *crlf = memmem(p, len, "\r\n\r\n", 4), *lf = memmem(p, len, "\n\n", 2);
    if (lf && (!crlf || lf < crlf)) {
        *ret_sep = 2;
        return lf;
    }
    *ret_sep = 4;
    return crlf;
}

/* Whether the input holds at least one whole request as far as a cheap look can tell: a
 * header block that ends, and the body its Content-Length or chunked encoding announces.
 * A wrong guess costs time only (see fuzz_http_exchange). */
static bool looks_complete(const char *in, size_t len)
{
    size_t sep;
    const char *blank = find_blank_line(in, len, &sep);
    if (!blank)
        return false;
    const char *body = blank + sep, *end = in + len;
    const char *te = find_header(in, blank, "Transfer-Encoding");
    if (te) {
        const char *eol = memchr(te, '\n', (size_t)(blank - te));
        return !memmem(te, (size_t)((eol ? eol : blank) - te), "chunked", 7) ||
               memmem(body, (size_t)(end - body), "0\r\n\r\n", 5) != NULL;
    }
    const char *cl = find_header(in, blank, "Content-Length");
    if (!cl)
        return true;
    unsigned long long n = strtoull(cl, NULL, 10);
    return n <= (unsigned long long)(end - body);
}

/* Whether reply holds one whole response (after any 1xx): headers, and the body its
 * Content-Length announces (none for HEAD). */
static bool reply_complete(const char *reply, size_t len, bool head)
{
    size_t pos = 0;
    for (;;) {
        const char *hdr = reply + pos;
        const char *blank = memmem(hdr, len - pos, "\r\n\r\n", 4);
        if (!blank)
            return false;
        size_t body_at = (size_t)(blank + 4 - reply);
        if (len - pos > 12 && strncmp(hdr, "HTTP/1.", 7) == 0 && hdr[9] == '1') {
            pos = body_at; /* 100 Continue: the real answer follows */
            continue;
        }
        if (head)
            return true;
        const char *cl = find_header(hdr, blank, "Content-Length");
        if (!cl)
            return false; /* until the server closes */
        return len - body_at >= strtoull(cl, NULL, 10);
    }
}

/* A whole JSON reply (the first after any 1xx) must be JSON: the daemons' errors quote
 * their input. */
static void check_json_body(const char *reply, size_t len)
{
    const char *hdr = reply, *end = reply + len, *blank;
    while ((blank = memmem(hdr, (size_t)(end - hdr), "\r\n\r\n", 4)) && (size_t)(end - hdr) > 12 &&
           strncmp(hdr, "HTTP/1.", 7) == 0 && hdr[9] == '1')
        hdr = blank + 4;
    if (!blank)
        return;
    const char *type = find_header(hdr, blank, "Content-Type");
    const char *cl = find_header(hdr, blank, "Content-Length");
    unsigned long long n = cl ? strtoull(cl, NULL, 10) : 0;
    /* A reply to HEAD has no body: what follows is the next reply (a HEAD the harness did
     * not recognise as one). */
    if (!type || !cl || strncmp(type + strspn(type, " "), "application/json", 16) != 0 ||
        n > (unsigned long long)(end - blank - 4) || (n >= 7 && !strncmp(blank + 4, "HTTP/1.", 7)))
        return;
    json_error_t err;
    json_t *j = json_loadb(blank + 4, (size_t)n, JSON_ALLOW_NUL, &err);
    if (!j)
        fuzz_fail("a JSON reply is not JSON (%s): '%.*s'", err.text, (int)(n < 300 ? n : 300),
                  blank + 4);
    json_decref(j);
    if (getenv("FUZZ_HTTP_DEBUG"))
        fprintf(stderr, "fuzz_http: a JSON reply of %llu bytes parsed\n", n);
}

static struct {
    unsigned long inputs, answered, closed, incomplete, slow, stalled;
} stats;

static void print_stats(void)
{
    fprintf(stderr,
            "fuzz_http: %lu inputs: %lu answered, %lu closed by the server, %lu incomplete "
            "requests (reset after %d ms), %lu waited for %d ms\n",
            stats.inputs, stats.answered, stats.closed, stats.incomplete, INCOMPLETE_WAIT_MS,
            stats.slow, ANSWER_WAIT_MS);
}

static void print_stats_local(void)
{
    fprintf(stderr,
            "fuzz_http: %lu inputs over a socketpair: %lu answered, %lu closed by the server, "
            "%lu incomplete requests (the server read them and waits for more), %lu half-closed "
            "by the client (the server stopped reading)\n",
            stats.inputs, stats.answered, stats.closed, stats.incomplete, stats.stalled);
}

/* The reply buffer both exchanges fill (REPLY_MAX_BYTES, and one for a NUL). */
static char *reply_buffer(void (*at_exit)(void))
{
    static char *reply;
    if (!reply) {
        if (!(reply = malloc(REPLY_MAX_BYTES + 1)))
            fuzz_fail("out of memory");
        atexit(at_exit);
    }
    return reply;
}

/* Receives what fd holds now (or, when wait_ms > 0, what arrives within wait_ms) into
 * reply[*len..]; bytes past REPLY_MAX_BYTES are dropped. Returns 1 when the server closed
 * (or reset), else 0. */
static int recv_into(int fd, char *reply, size_t *len, int wait_ms)
{
    if (wait_ms > 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, wait_ms) <= 0)
            return 0;
    }
    for (;;) {
        char scratch[65536];
        char *dst = *len < REPLY_MAX_BYTES ? reply + *len : scratch;
        size_t room = *len < REPLY_MAX_BYTES ? REPLY_MAX_BYTES - *len : sizeof(scratch);
        ssize_t n = recv(fd, dst, room, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return 1; /* closed, or reset */
        if (dst != scratch)
            *len += (size_t)n;
        if (wait_ms > 0)
            return 0;
    }
}

/* Reads into reply[*len..] until the server closes, the reply is complete, or wait_ms pass.
 * Returns 1 for complete or closed, 0 for a timeout. */
static int read_reply(int fd, char *reply, size_t *len, bool head, int wait_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)wait_ms;
    for (;;) {
        if (*len > 0 && reply_complete(reply, *len, head)) {
            stats.answered++;
            return 1;
        }
        uint64_t now = now_ms();
        if (now >= deadline)
            return 0;
        if (recv_into(fd, reply, len, (int)(deadline - now))) {
            stats.closed++;
            return 1;
        }
    }
}

/* Whether the input's first request is a HEAD (whose reply has no body). libmicrohttpd
 * skips empty lines before the request line, and a line that starts with a NUL is empty
 * to it. */
static bool is_head(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data, *end = line + size;
    while (line < end && (*line == '\r' || *line == '\n' || *line == '\0')) {
        const char *nl = *line == '\0' ? memchr(line, '\n', (size_t)(end - line)) : line;
        line = nl ? nl + 1 : end;
    }
    return end - line >= 5 && memcmp(line, "HEAD ", 5) == 0;
}

/* What both exchanges do with a reply: terminate it, check a JSON one, return it. */
static size_t finish_reply(char *reply, size_t len, bool head, const char **ret_reply)
{
    reply[len] = '\0';
    if (!head)
        check_json_body(reply, len);
    if (ret_reply)
        *ret_reply = reply;
    return len;
}

size_t fuzz_http_exchange(unsigned port, const uint8_t *data, size_t size, const char **ret_reply)
{
    char *reply = reply_buffer(print_stats);
    stats.inputs++;
    int fd = -1;
    for (int attempt = 0; fd < 0; attempt++) {
        fd = connect_port(port);
        /* Only a signal (libFuzzer's timer) or a local shortage of ports or descriptors
         * is worth a retry. */
        if (fd < 0 && (attempt == 50 || (fd != -EINTR && fd != -EADDRNOTAVAIL && fd != -EAGAIN)))
            fuzz_fail("cannot connect to the daemon on port %u: %s", port, strerror(-fd));
        if (fd < 0 && fd != -EINTR) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    /* The server may answer and close before reading everything (413, a bad request
     * line): a failed send just ends the sending. */
    size_t off = 0;
    while (off < size) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    const char *in = (const char *)data;
    bool head = is_head(data, size);
    size_t len = 0;
    /* libmicrohttpd (0.9.75, epoll) may miss a client's end of stream that arrives while
     * it handles the data before it, and then keeps the connection until its idle timeout.
     * So the end of the input is not signalled: a whole request is answered, and the reply
     * parsed until complete; an incomplete one gets the server's early error, if any,
     * within a few milliseconds, then a reset. Only when a request that looked whole is not
     * answered within ANSWER_WAIT_MS does the client shut its side down, when the server
     * waits for more and sees it; a server that neither answers nor closes then hangs. */
    if (!looks_complete(in, size)) {
        stats.incomplete++;
        if (read_reply(fd, reply, &len, head, INCOMPLETE_WAIT_MS) == 0 && len > 0)
            read_reply(fd, reply, &len, head, REPLY_TIMEOUT_MS);
    } else if (read_reply(fd, reply, &len, head, ANSWER_WAIT_MS) == 0) {
        stats.slow++;
        if (getenv("FUZZ_HTTP_DEBUG")) {
            fprintf(stderr, "fuzz_http: no answer within %d ms to %zu bytes:", ANSWER_WAIT_MS,
                    size);
            for (size_t i = 0; i < size && i < 64; i++)
                fprintf(stderr, " %02x", (unsigned char)in[i]);
            fprintf(stderr, "\n");
        }
        shutdown(fd, SHUT_WR);
        if (read_reply(fd, reply, &len, head, REPLY_TIMEOUT_MS) == 0)
            fuzz_fail("the daemon neither answered nor closed within %d ms (%zu bytes so far)",
                      ANSWER_WAIT_MS + REPLY_TIMEOUT_MS, len);
    }
    close(fd); /* a reset (SO_LINGER 0) */
    return finish_reply(reply, len, head, ret_reply);
}

/* Bytes in the server's end of the socketpair that it has not read yet. Only between a
 * pass of its loop and the next, after the client found the connection open: the server
 * closes its end only within a pass, so the descriptor is still the server's. */
static int unread_by_server(int server_fd)
{
    int n = 0;
    if (ioctl(server_fd, SIOCINQ, &n) < 0)
        fuzz_fail("SIOCINQ: %s", strerror(errno));
    return n;
}

static int run_server(struct httpd *h)
{
    int open = httpd_run(h);
    if (open < 0)
        fuzz_fail("the server's loop failed: %s", strerror(-open));
    return open;
}

size_t fuzz_http_exchange_local(struct httpd *h, const uint8_t *data, size_t size,
                                const char **ret_reply)
{
    char *reply = reply_buffer(print_stats_local);
    stats.inputs++;
    int open_before = run_server(h);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
        fuzz_fail("socketpair: %s", strerror(errno));
    int r = httpd_add_connection(h, sv[1]);
    if (r < 0)
        fuzz_fail("the server refused a connection (%d open): %s", open_before, strerror(-r));
    int fd = sv[0], server_fd = sv[1];
    bool head = is_head(data, size), sending = true, shut = false;
    size_t off = 0, len = 0;
    int unread = -1;
    /* The server runs only in run_server, so after a pass that moved nothing (no byte
     * sent, read by the server or received) nothing will move: it waits for the client.
     * Then a request it has read all of is incomplete (or its reply has no length): the
     * TCP exchange's 1 ms and 20 ms guesses become certainties here. */
    for (int idle = 0; idle < IDLE_PASSES;) {
        bool moved = false;
        while (sending && off < size) {
            ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n <= 0) {
                sending = false; /* it closed early (413, a bad request line) */
                break;
            }
            off += (size_t)n;
            moved = true;
        }
        run_server(h);
        size_t before = len;
        bool closed = recv_into(fd, reply, &len, 0);
        if (len > 0 && reply_complete(reply, len, head)) {
            stats.answered++;
            goto done;
        }
        if (closed) {
            stats.closed++;
            goto done;
        }
        int u = unread_by_server(server_fd);
        moved |= len != before || u != unread;
        unread = u;
        idle = moved ? 0 : idle + 1;
        if (idle < IDLE_PASSES || (unread == 0 && (off == size || !sending)))
            continue;
        /* Unread input and a server that does not read it: end the input, as the TCP
         * exchange does; the server must then answer or close. */
        if (shut)
            fuzz_fail("the daemon neither answered nor closed after the client's end of stream "
                      "(%d bytes unread, %zu bytes of reply)",
                      unread, len);
        stats.stalled++;
        shutdown(fd, SHUT_WR);
        sending = false;
        shut = true;
        idle = 0;
    }
    stats.incomplete++;
done:
    close(fd);
    /* The server sees the end, finishes what it read (pipelined requests) and closes: all
     * of the input's work happens within the call, where libFuzzer counts its coverage. */
    int open = open_before + 1;
    for (int pass = 0; pass < CLOSE_PASSES && open > open_before; pass++)
        open = run_server(h);
    if (open > open_before)
        fuzz_fail("the daemon kept a connection open after %d passes of its loop since the "
                  "client closed",
                  CLOSE_PASSES);
    return finish_reply(reply, len, head, ret_reply);
}
