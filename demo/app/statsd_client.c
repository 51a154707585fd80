/* statsd_client: batched non-blocking StatsD over UDP (see statsd_client.h). */
#include "statsd_client.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"

struct statsd_client {
    int fd;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool stopping;
    char data[STATSD_CLIENT_DATAGRAM_MAX];
    size_t len;
    uint64_t dropped;
    statsd_tick_fn tick;
    void *userdata;
};

/* Under the lock. */
static void flush_locked(struct statsd_client *c)
{
    if (!c->len)
        return;
    if (send(c->fd, c->data, c->len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        c->dropped++;
    c->len = 0;
}

static void *flusher(void *arg)
{
    struct statsd_client *c = arg;
    uint64_t next_tick = now_usec() + 1000000;
    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        uint64_t deadline = now_usec() + 100000;
        struct timespec ts = {.tv_sec = deadline / 1000000, .tv_nsec = (deadline % 1000000) * 1000};
        pthread_cond_timedwait(&c->wake, &c->lock, &ts);
        if (c->tick && now_usec() >= next_tick) {
            next_tick += 1000000;
            pthread_mutex_unlock(&c->lock);
            c->tick(c->userdata);
            pthread_mutex_lock(&c->lock);
        }
        flush_locked(c);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int statsd_client_new(const char *address, statsd_tick_fn tick, void *userdata,
                      struct statsd_client **ret)
{
    char host[256];
    unsigned port;
    if (parse_listen_address(address, host, sizeof(host), &port) < 0 || !host[0] || !port)
        return -EINVAL;
    char service[16];
    snprintf(service, sizeof(service), "%u", port);
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res)
        return -EADDRNOTAVAIL;
    struct statsd_client *c = calloc(1, sizeof(*c));
    if (!c) {
        freeaddrinfo(res);
        return -ENOMEM;
    }
    c->fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (c->fd < 0 || connect(c->fd, res->ai_addr, res->ai_addrlen) < 0) {
        int r = -errno;
        freeaddrinfo(res);
        if (c->fd >= 0)
            close(c->fd);
        free(c);
        return r;
    }
    freeaddrinfo(res);
    c->tick = tick;
    c->userdata = userdata;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &attr);
    pthread_condattr_destroy(&attr);
    int r = -pthread_create(&c->thread, NULL, flusher, c);
    if (r < 0) {
        close(c->fd);
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return r;
    }
    *ret = c;
    return 0;
}

void statsd_client_free(struct statsd_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    flush_locked(c);
    close(c->fd);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

void statsd_client_send(struct statsd_client *c, const char *fmt, ...)
{
    if (!c)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n <= 0 || (size_t)n >= sizeof(line))
        return;
    pthread_mutex_lock(&c->lock);
    if (c->len && c->len + 1 + (size_t)n > sizeof(c->data))
        flush_locked(c);
    if (c->len)
        c->data[c->len++] = '\n';
    memcpy(c->data + c->len, line, (size_t)n);
    c->len += (size_t)n;
    pthread_mutex_unlock(&c->lock);
}

uint64_t statsd_client_dropped(struct statsd_client *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->dropped;
    pthread_mutex_unlock(&c->lock);
    return n;
}
