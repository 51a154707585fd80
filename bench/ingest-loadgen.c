/* ingest-loadgen: the StatsD load generator of bench/ingest-bench.sh (built there with cc,
 * not part of the CMake build). Packs StatsD lines into datagrams of about 1400 bytes and
 * sends them in batches with sendmmsg(2) at a target rate of lines per second, or as fast
 * as one core can. Prints what it sent as one line of key=value pairs.
 *
 *   ingest-loadgen --target udp:127.0.0.1:9125 --rate 1000000 --seconds 3 --workload timer
 *   ingest-loadgen --target unix:/run/statsd.sock --workload pattern \
 *                  --pattern 'svc{i}.request.success:1|c' --count 100000
 *
 * Workloads: timer ("svc<k>.request.duration:<v>|ms", k < --names), counter
 * ("bench.c<k>:1|c", k < --names), pattern (--pattern with {i} replaced by 0..--count-1,
 * each line sent once; the run ends after the last). */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 256
#define RING_DATAGRAMS 4096

struct datagram {
    char *data;
    size_t len;
    unsigned lines;
};

struct opts {
    const char *target;
    double rate; /* lines/s; 0: unthrottled */
    double seconds;
    const char *workload;
    unsigned names;
    const char *pattern;
    unsigned long count;
    size_t dgram_bytes;
    unsigned batch;
};

static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
    fputs("usage: ingest-loadgen --target udp:HOST:PORT|unix:PATH [--rate LINES_PER_SEC]\n"
          "       [--seconds S] [--workload timer|counter|pattern] [--names N]\n"
          "       [--pattern 'name{i}:1|c' --count N] [--datagram-bytes B] [--batch N]\n",
          f);
}

/* A connected datagram socket for "udp:HOST:PORT" or "unix:PATH"; -1 on error. */
static int open_target(const char *target)
{
    if (strncmp(target, "unix:", 5) == 0) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        const char *path = target + 5;
        if (strlen(path) >= sizeof(sa.sun_path)) {
            fprintf(stderr, "ingest-loadgen: socket path too long: %s\n", path);
            return -1;
        }
        memcpy(sa.sun_path, path, strlen(path) + 1);
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            fprintf(stderr, "ingest-loadgen: %s: %s\n", target, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        return fd;
    }
    if (strncmp(target, "udp:", 4) != 0) {
        fprintf(stderr, "ingest-loadgen: target must be udp:HOST:PORT or unix:PATH\n");
        return -1;
    }
    char host[256];
    const char *hp = target + 4, *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= sizeof(host)) {
        fprintf(stderr, "ingest-loadgen: bad target %s\n", target);
        return -1;
    }
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "ingest-loadgen: %s: %s\n", target, gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
        fprintf(stderr, "ingest-loadgen: %s: %s\n", target, strerror(errno));
        freeaddrinfo(res);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(res);
    int sndbuf = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    return fd;
}

/* Line i of the workload into out (no newline); its length, 0 when past the end. */
static size_t make_line(const struct opts *o, unsigned long i, char *out, size_t outsz)
{
    int n;
    if (strcmp(o->workload, "timer") == 0) {
        n = snprintf(out, outsz, "svc%lu.request.duration:%lu|ms", i % o->names, 1 + (i * 7) % 997);
    } else if (strcmp(o->workload, "counter") == 0) {
        n = snprintf(out, outsz, "bench.c%lu:1|c", i % o->names);
    } else {
        if (i >= o->count)
            return 0;
        const char *ph = strstr(o->pattern, "{i}");
        if (ph)
            n = snprintf(out, outsz, "%.*s%lu%s", (int)(ph - o->pattern), o->pattern, i, ph + 3);
        else
            n = snprintf(out, outsz, "%s", o->pattern);
    }
    return n < 0 || (size_t)n >= outsz ? 0 : (size_t)n;
}

/* Packs lines from *next on into datagrams of at most o->dgram_bytes; up to max of them.
 * Returns how many were made. */
static size_t build_datagrams(const struct opts *o, unsigned long *next, struct datagram *d,
                              size_t max)
{
    size_t n = 0;
    char line[1024];
    while (n < max) {
        char *buf = malloc(o->dgram_bytes);
        size_t len = 0;
        unsigned lines = 0;
        for (;;) {
            size_t ll = make_line(o, *next, line, sizeof(line));
            if (ll == 0)
                break;
            if (len + (len ? 1 : 0) + ll > o->dgram_bytes && lines > 0)
                break;
            if (len)
                buf[len++] = '\n';
            memcpy(buf + len, line, ll);
            len += ll;
            lines++;
            (*next)++;
        }
        if (lines == 0) {
            free(buf);
            break;
        }
        d[n++] = (struct datagram){buf, len, lines};
    }
    return n;
}

int main(int argc, char **argv)
{
    struct opts o = {.seconds = 3,
                     .workload = "timer",
                     .names = 100,
                     .count = 0,
                     .dgram_bytes = 1400,
                     .batch = 32};
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'},
        {"rate", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'},
        {"workload", required_argument, NULL, 'w'},
        {"names", required_argument, NULL, 'n'},
        {"pattern", required_argument, NULL, 'p'},
        {"count", required_argument, NULL, 'c'},
        {"datagram-bytes", required_argument, NULL, 'b'},
        {"batch", required_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 't': o.target = optarg; break;
        case 'r': o.rate = strtod(optarg, NULL); break;
        case 's': o.seconds = strtod(optarg, NULL); break;
        case 'w': o.workload = optarg; break;
        case 'n': o.names = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'p': o.pattern = optarg; break;
        case 'c': o.count = strtoul(optarg, NULL, 10); break;
        case 'b': o.dgram_bytes = strtoul(optarg, NULL, 10); break;
        case 'B': o.batch = (unsigned)strtoul(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    bool pattern = strcmp(o.workload, "pattern") == 0;
    if (!o.target || o.names == 0 || o.dgram_bytes < 64 || o.dgram_bytes > 65000 || o.batch == 0 ||
        o.batch > MAX_BATCH || (pattern && (!o.pattern || o.count == 0)) ||
        (!pattern && strcmp(o.workload, "timer") != 0 && strcmp(o.workload, "counter") != 0)) {
        usage(stderr);
        return 2;
    }
    int fd = open_target(o.target);
    if (fd < 0)
        return 1;

    /* Every datagram is made before the clock starts: a pattern run holds all of its
     * lines, the others a ring that is sent over and over. */
    unsigned long next = 0;
    size_t cap = pattern ? o.count + 1 : RING_DATAGRAMS;
    struct datagram *ring = calloc(cap, sizeof(*ring));
    size_t n_ring = build_datagrams(&o, &next, ring, cap);
    if (n_ring == 0) {
        fprintf(stderr, "ingest-loadgen: no lines to send\n");
        return 1;
    }

    struct mmsghdr msgs[MAX_BATCH];
    struct iovec iov[MAX_BATCH];
    uint64_t lines = 0, datagrams = 0, errors = 0;
    size_t idx = 0;
    double t0 = now_sec(), elapsed = 0;
    double lines_per_dgram = 0;
    for (size_t i = 0; i < n_ring; i++)
        lines_per_dgram += ring[i].lines;
    lines_per_dgram /= (double)n_ring;
    for (;;) {
        elapsed = now_sec() - t0;
        if (pattern ? idx >= n_ring : elapsed >= o.seconds)
            break;
        size_t want = o.batch;
        if (o.rate > 0) {
            double due = (o.rate * elapsed - (double)lines) / lines_per_dgram;
            if (due < 1) {
                double wait = (1 - due) * lines_per_dgram / o.rate;
                struct timespec ts = {0, (long)(wait > 0.001 ? 1e6 : wait * 1e9)};
                if (ts.tv_nsec > 20000)
                    nanosleep(&ts, NULL);
                continue;
            }
            if (due < (double)want)
                want = (size_t)due;
        }
        if (pattern && want > n_ring - idx)
            want = n_ring - idx;
        for (size_t i = 0; i < want; i++) {
            const struct datagram *d = &ring[(idx + i) % n_ring];
            iov[i] = (struct iovec){d->data, d->len};
            msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
        }
        int n = sendmmsg(fd, msgs, (unsigned)want, 0);
        if (n < 0) {
            if (errno == ENOBUFS || errno == EAGAIN || errno == ECONNREFUSED || errno == EINTR) {
                errors++;
                continue;
            }
            fprintf(stderr, "ingest-loadgen: sendmmsg: %s\n", strerror(errno));
            return 1;
        }
        for (int i = 0; i < n; i++)
            lines += ring[(idx + (size_t)i) % n_ring].lines;
        datagrams += (uint64_t)n;
        idx += (size_t)n;
    }
    elapsed = now_sec() - t0;
    printf("lines=%llu datagrams=%llu seconds=%.3f rate=%.0f lines_per_datagram=%.1f "
           "errors=%llu\n",
           (unsigned long long)lines, (unsigned long long)datagrams, elapsed,
           elapsed > 0 ? (double)lines / elapsed : 0, lines_per_dgram, (unsigned long long)errors);
    for (size_t i = 0; i < n_ring; i++)
        free(ring[i].data);
    free(ring);
    close(fd);
    return 0;
}
