/* ingest_net: recvmmsg-based StatsD datagram receivers (see ingest_net.h). */
#include "ingest_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"
#include "statsd.h"

#define NET_BATCH 32
#define NET_DATAGRAM_MAX 65536

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif

struct ingest_listener {
    int fd;
    int stop_pipe[2];
    enum ingest_protocol protocol;
    struct ingest_store *store;
    pthread_t thread;
    bool thread_started;
    char address[128];
    char unix_path[108];
    uint32_t last_ovfl;
    char *bufs; /* NET_BATCH * NET_DATAGRAM_MAX */
};

struct apply_ctx {
    struct ingest_store *store;
    uint64_t now;
};

static void apply_event(void *userdata, const struct statsd_event *ev)
{
    struct apply_ctx *c = userdata;
    ingest_store_apply_locked(c->store, ev, c->now);
}

static void *listener_main(void *arg)
{
    struct ingest_listener *l = arg;
    struct mmsghdr msgs[NET_BATCH];
    struct iovec iov[NET_BATCH];
    union {
        char buf[CMSG_SPACE(sizeof(uint32_t))];
        struct cmsghdr align;
    } ctrl[NET_BATCH];
    struct pollfd pfd[2] = {{.fd = l->fd, .events = POLLIN},
                            {.fd = l->stop_pipe[0], .events = POLLIN}};
    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error_errno(errno, "ingest %s: poll failed; receiver stops", l->address);
            break;
        }
        if (pfd[1].revents)
            break;
        for (;;) {
            for (int i = 0; i < NET_BATCH; i++) {
                iov[i].iov_base = l->bufs + (size_t)i * NET_DATAGRAM_MAX;
                iov[i].iov_len = NET_DATAGRAM_MAX;
                memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
                msgs[i].msg_hdr.msg_iov = &iov[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
                msgs[i].msg_hdr.msg_control = ctrl[i].buf;
                msgs[i].msg_hdr.msg_controllen = sizeof(ctrl[i].buf);
            }
            int n = recvmmsg(l->fd, msgs, NET_BATCH, MSG_DONTWAIT, NULL);
            if (n <= 0)
                break; /* EAGAIN: back to poll */
            uint64_t counts[INGEST_REASON_MAX] = {0}, fields[STATSD_FIELD_MAX] = {0};
            uint64_t truncated = 0, kernel_drops = 0;
            struct apply_ctx ctx = {.store = l->store, .now = now_usec()};
            ingest_store_lock(l->store);
            for (int i = 0; i < n; i++) {
                size_t len = msgs[i].msg_len;
                if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                    truncated++;
                    /* The cut last line is not complete: keep only whole lines. */
                    char *b = iov[i].iov_base;
                    while (len > 0 && b[len - 1] != '\n')
                        len--;
                }
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
                     c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                        uint32_t ovfl;
                        memcpy(&ovfl, CMSG_DATA(c), sizeof(ovfl));
                        kernel_drops += (uint32_t)(ovfl - l->last_ovfl);
                        l->last_ovfl = ovfl;
                    }
                statsd_parse_buffer(iov[i].iov_base, len, apply_event, &ctx, counts, fields);
            }
            ingest_store_count_lines_locked(l->store, l->protocol, counts);
            ingest_store_count_fields_locked(l->store, fields);
            ingest_store_count_packets_locked(l->store, l->protocol, (uint64_t)n, kernel_drops,
                                              truncated);
            ingest_store_unlock(l->store);
            if (n < NET_BATCH)
                break;
        }
    }
    return NULL;
}

static int listener_start(struct ingest_listener *l, size_t rcvbuf_bytes)
{
    if (rcvbuf_bytes > 0) {
        int v = rcvbuf_bytes > (size_t)(1 << 30) ? 1 << 30 : (int)rcvbuf_bytes;
        /* FORCE passes net.core.rmem_max when privileged; fall back to the capped one. */
        if (setsockopt(l->fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
            setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    }
    int one = 1;
    setsockopt(l->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
    l->bufs = malloc((size_t)NET_BATCH * NET_DATAGRAM_MAX);
    if (!l->bufs)
        return -ENOMEM;
    if (pipe2(l->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -errno;
    int r = -pthread_create(&l->thread, NULL, listener_main, l);
    if (r < 0)
        return r;
    l->thread_started = true;
    return 0;
}

static struct ingest_listener *listener_alloc(struct ingest_store *store, enum ingest_protocol p)
{
    struct ingest_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->fd = -1;
    l->stop_pipe[0] = l->stop_pipe[1] = -1;
    l->store = store;
    l->protocol = p;
    return l;
}

int ingest_listen_udp(const char *address, size_t rcvbuf_bytes, struct ingest_store *store,
                      struct ingest_listener **ret)
{
    char host[256];
    unsigned port;
    if (parse_listen_address(address, host, sizeof(host), &port) < 0)
        return -EINVAL;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    struct addrinfo *res;
    int gai = getaddrinfo(host[0] ? host : NULL, ps, &hints, &res);
    if (gai != 0)
        return gai == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
    struct ingest_listener *l = listener_alloc(store, INGEST_PROTO_UDP);
    int r = l ? -EADDRNOTAVAIL : -ENOMEM;
    for (struct addrinfo *ai = res; l && ai && l->fd < 0; ai = ai->ai_next) {
        l->fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (l->fd < 0) {
            r = -errno;
            continue;
        }
        if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            r = -errno;
            close(l->fd);
            l->fd = -1;
        }
    }
    freeaddrinfo(res);
    if (!l || l->fd < 0) {
        free(l);
        return r;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(l->fd, (struct sockaddr *)&ss, &sl);
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip));
        snprintf(l->address, sizeof(l->address), "[%s]:%u", ip,
                 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip));
        snprintf(l->address, sizeof(l->address), "%s:%u", ip,
                 ntohs(((struct sockaddr_in *)&ss)->sin_port));
    }
    r = listener_start(l, rcvbuf_bytes);
    if (r < 0) {
        ingest_listener_stop(l);
        return r;
    }
    *ret = l;
    return 0;
}

int ingest_listen_unixgram(const char *path, size_t rcvbuf_bytes, struct ingest_store *store,
                           struct ingest_listener **ret)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return -EEXIST; /* never delete a file that is not a socket */
        unlink(path);
    }
    struct ingest_listener *l = listener_alloc(store, INGEST_PROTO_UNIXGRAM);
    if (!l)
        return -ENOMEM;
    l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int r = -errno;
        ingest_listener_stop(l);
        return r;
    }
    snprintf(l->unix_path, sizeof(l->unix_path), "%s", path);
    snprintf(l->address, sizeof(l->address), "%s", path);
    int r = listener_start(l, rcvbuf_bytes);
    if (r < 0) {
        ingest_listener_stop(l);
        return r;
    }
    *ret = l;
    return 0;
}

void ingest_listener_stop(struct ingest_listener *l)
{
    if (!l)
        return;
    if (l->thread_started) {
        ssize_t w = write(l->stop_pipe[1], "x", 1);
        (void)w;
        pthread_join(l->thread, NULL);
    }
    if (l->fd >= 0)
        close(l->fd);
    if (l->stop_pipe[0] >= 0)
        close(l->stop_pipe[0]);
    if (l->stop_pipe[1] >= 0)
        close(l->stop_pipe[1]);
    if (l->unix_path[0])
        unlink(l->unix_path);
    free(l->bufs);
    free(l);
}

const char *ingest_listener_address(const struct ingest_listener *l)
{
    return l->address;
}
