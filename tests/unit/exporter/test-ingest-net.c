/* test-ingest-net: the StatsD datagram receivers (exporter/ingest_net.c) on real sockets:
 * UDP on 127.0.0.1:0 and a unix datagram socket in a temporary directory. Datagrams
 * reach the store and are counted per protocol; a datagram over the 64 KiB read buffer
 * is counted as truncated with only its whole lines kept; datagrams the kernel dropped
 * while the receiver was held up are counted (read + dropped = sent); the socket file
 * is handled safely. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "expo.h"
#include "ingest_net.h"
#include "ingest_store.h"
#include "mapping.h"
#include "mset.h"
#include "parse.h"
#include "test.h"

static struct ingest_store *store_new(size_t max_series)
{
    struct mapping *m = NULL;
    struct ingest_store *s = NULL;
    if (mapping_default(NAMING_PROMETHEUS, &m) < 0 || ingest_store_new(max_series, m, &s) < 0)
        return NULL;
    return s;
}

/* The value of SERIES in the store's exposition now; NAN when absent. */
static double value_of(struct ingest_store *s, const char *series)
{
    struct mset *ms = mset_new();
    struct buf b;
    buf_init(&b, 0);
    double v = NAN;
    if (ms && ingest_store_collect(s, ms, now_usec()) == 0 &&
        expo_render(&b, EXPO_TEXT, &ms, 1, NULL) == 0 && b.data) {
        size_t sl = strlen(series);
        for (const char *p = b.data; p && *p;) {
            if (strncmp(p, series, sl) == 0 && p[sl] == ' ') {
                v = strtod(p + sl + 1, NULL);
                break;
            }
            p = strchr(p, '\n');
            if (p)
                p++;
        }
    }
    buf_free(&b);
    mset_free(ms);
    return v;
}

/* Polls (5 s at most) until SERIES shows want. */
static double wait_value(struct ingest_store *s, const char *series, double want)
{
    double v = NAN;
    for (int i = 0; i < 500; i++) {
        v = value_of(s, series);
        if (v == want)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return v;
}

static int udp_sender(const char *address, struct sockaddr_in *ret)
{
    const char *colon = strrchr(address, ':');
    memset(ret, 0, sizeof(*ret));
    ret->sin_family = AF_INET;
    ret->sin_port = htons((uint16_t)strtoul(colon + 1, NULL, 10));
    inet_pton(AF_INET, "127.0.0.1", &ret->sin_addr);
    return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

TEST(udp_datagrams_reach_the_store)
{
    struct ingest_store *s = store_new(100);
    struct ingest_listener *l = NULL;
    CHECK_INT(ingest_listen_udp("127.0.0.1:0", 1 << 20, s, &l), 0);
    const char *addr = ingest_listener_address(l);
    CHECK(strncmp(addr, "127.0.0.1:", 10) == 0 && strcmp(addr, "127.0.0.1:0") != 0);
    struct sockaddr_in sa;
    int fd = udp_sender(addr, &sa);
    static const char d1[] = "net.hits:1|c\nnet.hits:2|c\nbad line\n\nnet.lat:5|ms";
    static const char d2[] = "net.hits:3|c|@0.5\r\nnet.g:7|g";
    sendto(fd, d1, sizeof(d1) - 1, 0, (struct sockaddr *)&sa, sizeof(sa));
    sendto(fd, d2, sizeof(d2) - 1, 0, (struct sockaddr *)&sa, sizeof(sa));
    double packets = wait_value(s, "homeostat_ingest_packets_total{protocol=\"udp\"}", 2);
    double accepted =
        value_of(s, "homeostat_ingest_lines_total{protocol=\"udp\",result=\"accepted\"}");
    double malformed =
        value_of(s, "homeostat_ingest_lines_total{protocol=\"udp\",result=\"malformed\"}");
    double hits = value_of(s, "net_hits_total"), g = value_of(s, "net_g");
    double lat = value_of(s, "net_lat_seconds_count");
    close(fd);
    ingest_listener_stop(l);
    ingest_store_free(s);
    CHECK(packets == 2);
    CHECK(accepted == 5);
    CHECK(malformed == 1);
    CHECK(hits == 9);
    CHECK(g == 7);
    CHECK(lat == 1);
}

TEST(bad_udp_addresses)
{
    struct ingest_store *s = store_new(10);
    struct ingest_listener *l = NULL;
    int r1 = ingest_listen_udp("no-port", 0, s, &l);
    int r2 = ingest_listen_udp("127.0.0.1:99999", 0, s, &l);
    ingest_store_free(s);
    CHECK(r1 < 0);
    CHECK(r2 < 0);
    CHECK(l == NULL);
}

/* A unix datagram sender bound to nothing; sends buf to path. */
static ssize_t unix_send(const char *path, const void *buf, size_t len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int sndbuf = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    ssize_t n = sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    return n;
}

TEST(unixgram_and_an_oversized_datagram)
{
    char dir[64];
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    char path[128];
    snprintf(path, sizeof(path), "%s/statsd.sock", dir);
    struct ingest_store *s = store_new(100);
    struct ingest_listener *l = NULL;
    CHECK_INT(ingest_listen_unixgram(path, 1 << 20, s, &l), 0);
    CHECK_STR(ingest_listener_address(l), path);
    /* 7000 lines of 15 bytes: the first 65536 bytes hold 4369 whole lines. */
    size_t len = 7000 * 15;
    char *big = malloc(len);
    for (size_t i = 0; i < 7000; i++)
        memcpy(big + i * 15, "trunc.test:1|c\n", 15);
    ssize_t sent = unix_send(path, big, len);
    free(big);
    ssize_t sent2 = unix_send(path, "u.g:3|g", 7);
    double packets = wait_value(s, "homeostat_ingest_packets_total{protocol=\"unixgram\"}", 2);
    double truncated = value_of(
        s, "homeostat_ingest_packets_dropped_total{protocol=\"unixgram\",reason=\"truncated\"}");
    double lines = value_of(s, "trunc_test_total"), g = value_of(s, "u_g");
    ingest_listener_stop(l);
    struct stat st;
    int gone = lstat(path, &st) < 0 && errno == ENOENT;
    ingest_store_free(s);
    rmdir(dir);
    CHECK(sent == (ssize_t)len);
    CHECK(sent2 == 7);
    CHECK(packets == 2);
    CHECK(truncated == 1);
    CHECK(lines == 4369);
    CHECK(g == 3);
    CHECK(gone); /* the socket file is removed on stop */
}

TEST(unixgram_socket_file_rules)
{
    char dir[48];
    snprintf(dir, sizeof(dir), "%s", test_tmpdir());
    char file[128], sock[100];
    snprintf(file, sizeof(file), "%s/not-a-socket", dir);
    snprintf(sock, sizeof(sock), "%s/stale.sock", dir);
    FILE *f = fopen(file, "w");
    fputs("keep me\n", f);
    fclose(f);
    /* A stale socket file: bind one and close it without unlinking. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    int bound = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);

    struct ingest_store *s = store_new(10);
    struct ingest_listener *l1 = NULL, *l2 = NULL;
    int r_file = ingest_listen_unixgram(file, 0, s, &l1);
    struct stat st;
    int file_kept = stat(file, &st) == 0 && S_ISREG(st.st_mode);
    int r_stale = ingest_listen_unixgram(sock, 0, s, &l2);
    char longpath[200];
    memset(longpath, 'x', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    struct ingest_listener *l3 = NULL;
    int r_long = ingest_listen_unixgram(longpath, 0, s, &l3);
    ingest_listener_stop(l2);
    ingest_listener_stop(NULL); /* accepts NULL */
    ingest_store_free(s);
    unlink(file);
    rmdir(dir);
    CHECK_INT(bound, 0);
    CHECK_INT(r_file, -EEXIST);
    CHECK(file_kept);
    CHECK_INT(r_stale, 0);
    CHECK_INT(r_long, -ENAMETOOLONG);
}

TEST(kernel_drops_are_counted)
{
    /* Hold the store lock: the receiver blocks after at most one batch, its small
     * socket buffer fills and the kernel drops the rest. Once released, one more
     * datagram carries the SO_RXQ_OVFL count: read + dropped = sent. */
    struct ingest_store *s = store_new(100);
    struct ingest_listener *l = NULL;
    CHECK_INT(ingest_listen_udp("127.0.0.1:0", 4096, s, &l), 0);
    struct sockaddr_in sa;
    int fd = udp_sender(ingest_listener_address(l), &sa);
    char line[64];
    int n = snprintf(line, sizeof(line), "drop.test:1|c");
    ingest_store_lock(s);
    for (int i = 0; i < 500; i++)
        sendto(fd, line, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa));
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    ingest_store_unlock(s);
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    sendto(fd, line, (size_t)n, 0, (struct sockaddr *)&sa, sizeof(sa));
    double read = NAN, dropped = NAN;
    for (int i = 0; i < 500; i++) {
        read = value_of(s, "homeostat_ingest_packets_total{protocol=\"udp\"}");
        dropped = value_of(
            s, "homeostat_ingest_packets_dropped_total{protocol=\"udp\",reason=\"kernel\"}");
        if (read + dropped == 501)
            break;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    double counted = value_of(s, "drop_test_total");
    close(fd);
    ingest_listener_stop(l);
    ingest_store_free(s);
    fprintf(stderr, "  read %.0f, dropped by the kernel %.0f\n", read, dropped);
    CHECK(read + dropped == 501);
    CHECK(dropped > 0);
    CHECK(counted == read);
}

TEST_MAIN(TEST_ENTRY(udp_datagrams_reach_the_store), TEST_ENTRY(bad_udp_addresses),
          TEST_ENTRY(unixgram_and_an_oversized_datagram), TEST_ENTRY(unixgram_socket_file_rules),
          TEST_ENTRY(kernel_drops_are_counted))
