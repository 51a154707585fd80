/* ha: the part of leader election every backend shares (see ha.h): the thread that renews
 * or acquires every retry period, stepping down past the renew deadline, the fence with the
 * shared state gzipped, and what the status shows. */
#include "ha.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "log.h"
#include "parse.h"

struct ha {
    struct ha_config cfg;
    const struct ha_backend_ops *ops;
    void *data; /* the backend's */
    ha_change_fn on_change;
    void *ctx;
    char identity[256];
    pthread_t thread;
    bool started;
    pthread_mutex_t io_lock; /* one backend request at a time */
    pthread_mutex_t st_lock; /* everything below */
    pthread_cond_t wake;
    bool stopping;
    bool leader;
    uint64_t renewed_usec; /* CLOCK_MONOTONIC of the last renewal (or acquisition) */
    double since;          /* epoch seconds: leader or standby since */
    char holder[256];
    char endpoint[256];
    char error[512]; /* the last failure, "" after a success */
    double error_time;
    char why[1024]; /* why we are not leading / since when we lead */
    struct ha_counters n;
};

const struct ha_config *ha_config_of(const struct ha *h)
{
    return &h->cfg;
}

void *ha_backend_data(const struct ha *h)
{
    return h->data;
}

void ha_set_backend_data(struct ha *h, void *data)
{
    h->data = data;
}

void ha_set_endpoint(struct ha *h, const char *endpoint)
{
    pthread_mutex_lock(&h->st_lock);
    snprintf(h->endpoint, sizeof(h->endpoint), "%s", endpoint ? endpoint : "");
    pthread_mutex_unlock(&h->st_lock);
}

int ha_backend_parse(const char *s, enum ha_backend_kind *out)
{
    if (strcmp(s, "none") == 0)
        *out = HA_NONE;
    else if (strcmp(s, "etcd") == 0)
        *out = HA_ETCD;
    else if (strcmp(s, "kubernetes") == 0)
        *out = HA_KUBERNETES;
    else
        return -EINVAL;
    return 0;
}

static const char *backend_name(enum ha_backend_kind k)
{
    return k == HA_ETCD ? "etcd" : k == HA_KUBERNETES ? "kubernetes" : "none";
}

/* Steps down (st_lock held): returns whether we were leading, so the caller tells. */
static bool step_down(struct ha *h, const char *why)
{
    bool was = h->leader;
    if (was) {
        h->leader = false;
        h->since = now_realtime();
        h->n.lost++;
    }
    snprintf(h->why, sizeof(h->why), "%s", why);
    return was;
}

/* One round of the thread: acquire or renew. */
static void tick(struct ha *h)
{
    char msg[512] = "", holder[256] = "";
    bool leader = false;
    pthread_mutex_lock(&h->io_lock);
    int r = h->ops->tick(h, &leader, holder, sizeof(holder), msg, sizeof(msg));
    pthread_mutex_unlock(&h->io_lock);
    uint64_t now = now_usec();
    char told[900] = "";
    bool tell_leader = false, tell = false;
    pthread_mutex_lock(&h->st_lock);
    if (r < 0) {
        h->n.errors++;
        snprintf(h->error, sizeof(h->error), "%s", msg[0] ? msg : strerror(-r));
        h->error_time = now_realtime();
        /* A leader that cannot renew keeps leading until the renew deadline, then steps
         * down: its lease on the backend lasts longer, so nobody else leads yet. */
        if (h->leader && now - h->renewed_usec >= h->cfg.renew_deadline_usec) {
            snprintf(told, sizeof(told), "could not renew the lease for %.1f s: %s",
                     (double)(now - h->renewed_usec) / 1e6, h->error);
            tell = step_down(h, told);
        } else if (!h->leader) {
            snprintf(h->why, sizeof(h->why), "cannot reach the %s backend: %s",
                     backend_name(h->cfg.backend), h->error);
        }
    } else {
        h->error[0] = '\0';
        snprintf(h->holder, sizeof(h->holder), "%s", holder);
        if (leader) {
            h->renewed_usec = now;
            if (!h->leader) {
                h->leader = true;
                h->since = now_realtime();
                h->n.acquired++;
                tell = tell_leader = true;
                snprintf(told, sizeof(told), "acquired the lease %s", h->cfg.lease_name);
                snprintf(h->why, sizeof(h->why), "%s", told);
            }
        } else if (h->leader) {
            snprintf(told, sizeof(told), "the lease is held by %s", holder[0] ? holder : "nobody");
            tell = step_down(h, told);
        } else {
            snprintf(h->why, sizeof(h->why), "standby: the lease is held by %s",
                     holder[0] ? holder : "nobody");
        }
    }
    h->n.leader = h->leader;
    pthread_mutex_unlock(&h->st_lock);
    if (tell) {
        if (tell_leader)
            log_notice("ha: leading: %s", told);
        else
            log_warning("ha: stepped down: %s", told);
        h->on_change(h->ctx, tell_leader, told);
    }
}

static void *ha_main(void *arg)
{
    struct ha *h = arg;
    for (;;) {
        tick(h);
        pthread_mutex_lock(&h->st_lock);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + h->cfg.retry_usec * 1000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        while (!h->stopping && pthread_cond_timedwait(&h->wake, &h->st_lock, &ts) == 0) {
        }
        bool stop = h->stopping;
        pthread_mutex_unlock(&h->st_lock);
        if (stop)
            break;
    }
    return NULL;
}

int ha_start(const struct ha_config *cfg, ha_change_fn on_change, void *ctx, struct ha **ret,
             char *msg, size_t msg_size)
{
    *ret = NULL;
    if (cfg->backend == HA_NONE)
        return 0;
    if (!cfg->lease_usec || !cfg->renew_deadline_usec || !cfg->retry_usec ||
        cfg->renew_deadline_usec >= cfg->lease_usec ||
        cfg->retry_usec >= cfg->renew_deadline_usec) {
        snprintf(msg, msg_size,
                 "--ha.lease-duration must be longer than --ha.renew-deadline, and that longer "
                 "than --ha.retry-period");
        return -EINVAL;
    }
    struct ha *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->cfg = *cfg;
    h->ops = cfg->backend == HA_ETCD ? &ha_etcd_ops : &ha_kubernetes_ops;
    h->on_change = on_change;
    h->ctx = ctx;
    if (cfg->identity && cfg->identity[0]) {
        snprintf(h->identity, sizeof(h->identity), "%s", cfg->identity);
    } else {
        char host[200] = "";
        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
            snprintf(host, sizeof(host), "localhost");
        snprintf(h->identity, sizeof(h->identity), "%s-%ld", host, (long)getpid());
    }
    h->cfg.identity = h->identity;
    if (!h->cfg.lease_name || !h->cfg.lease_name[0])
        h->cfg.lease_name = "homeostat-controller";
    pthread_mutex_init(&h->io_lock, NULL);
    pthread_mutex_init(&h->st_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&h->wake, &ca);
    pthread_condattr_destroy(&ca);
    h->since = now_realtime();
    snprintf(h->why, sizeof(h->why), "starting: not asked the backend yet");
    int r = h->ops->init(h, msg, msg_size);
    if (r < 0) {
        ha_stop(h);
        return r;
    }
    if (pthread_create(&h->thread, NULL, ha_main, h) != 0) {
        snprintf(msg, msg_size, "cannot start the HA thread");
        ha_stop(h);
        return -EAGAIN;
    }
    h->started = true;
    *ret = h;
    return 0;
}

void ha_stop(struct ha *h)
{
    if (!h)
        return;
    if (h->started) {
        pthread_mutex_lock(&h->st_lock);
        h->stopping = true;
        pthread_cond_broadcast(&h->wake);
        pthread_mutex_unlock(&h->st_lock);
        pthread_join(h->thread, NULL);
    }
    pthread_mutex_lock(&h->st_lock);
    bool was = h->leader;
    h->leader = false;
    pthread_mutex_unlock(&h->st_lock);
    if (was && h->ops->release) {
        pthread_mutex_lock(&h->io_lock);
        int r = h->ops->release(h);
        pthread_mutex_unlock(&h->io_lock);
        if (r == 0)
            log_info("ha: gave the lease %s up", h->cfg.lease_name);
    }
    if (h->ops->free)
        h->ops->free(h);
    pthread_mutex_destroy(&h->io_lock);
    pthread_mutex_destroy(&h->st_lock);
    pthread_cond_destroy(&h->wake);
    free(h);
}

/* Leading by our own clock: renewed within the renew deadline (st_lock held). */
static bool leading_locked(const struct ha *h)
{
    return h->leader && now_usec() - h->renewed_usec < h->cfg.renew_deadline_usec;
}

bool ha_leading(struct ha *h)
{
    if (!h)
        return true;
    pthread_mutex_lock(&h->st_lock);
    bool ok = leading_locked(h);
    pthread_mutex_unlock(&h->st_lock);
    return ok;
}

/* gzip of p[0..n) into out. 0, -ENOMEM, -E2BIG (past max). */
static int gzip_into(const void *p, size_t n, struct buf *out, size_t max)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -ENOMEM;
    uLong bound = deflateBound(&z, (uLong)n);
    int r = buf_reserve(out, bound > max ? max : bound);
    if (r < 0) {
        deflateEnd(&z);
        return r;
    }
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out->data + out->len;
    z.avail_out = (uInt)(out->cap - out->len - 1);
    int zr = deflate(&z, Z_FINISH);
    size_t produced = (size_t)z.total_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END)
        return -E2BIG;
    if (produced > max)
        return -E2BIG;
    out->len += produced;
    out->data[out->len] = '\0';
    return 0;
}

static int gunzip_into(const void *p, size_t n, struct buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return -ENOMEM;
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    int zr = Z_OK;
    while (zr == Z_OK) {
        int r = buf_reserve(out, 64 * 1024);
        if (r < 0) {
            inflateEnd(&z);
            return r;
        }
        z.next_out = (Bytef *)out->data + out->len;
        z.avail_out = (uInt)(out->cap - out->len - 1);
        zr = inflate(&z, Z_NO_FLUSH);
        out->len = (size_t)((char *)z.next_out - out->data);
        out->data[out->len] = '\0';
        if (zr == Z_BUF_ERROR && z.avail_in == 0)
            break; /* cut short */
    }
    inflateEnd(&z);
    return zr == Z_STREAM_END ? 0 : -EINVAL;
}

int ha_fence(struct ha *h, const void *data, size_t len)
{
    return ha_fence_either(h, data, len, NULL, 0);
}

int ha_fence_either(struct ha *h, const void *data, size_t len, const void *alt, size_t alt_len)
{
    if (!h)
        return 0;
    if (!ha_leading(h))
        return -EPERM;
    struct buf gz;
    buf_init(&gz, HA_STATE_MAX_BYTES + 1024);
    bool share = data != NULL;
    if (share) {
        int r = gzip_into(data, len, &gz, HA_STATE_MAX_BYTES);
        if (r < 0 && alt && alt != data) {
            buf_reset(&gz);
            r = gzip_into(alt, alt_len, &gz, HA_STATE_MAX_BYTES);
            len = alt_len;
        }
        if (r < 0) {
            /* Too large to share: the fence still runs, a new leader starts from its own
             * state (docs/ARCHITECTURE.md, "High availability"). */
            share = false;
            pthread_mutex_lock(&h->st_lock);
            h->n.state_too_large++;
            pthread_mutex_unlock(&h->st_lock);
            log_warning("ha: the state (%zu bytes) is over %u bytes gzipped; not shared", len,
                        HA_STATE_MAX_BYTES);
        }
    }
    char msg[512] = "";
    pthread_mutex_lock(&h->io_lock);
    int r = h->ops->fence(h, share ? gz.data : NULL, share ? gz.len : 0, msg, sizeof(msg));
    pthread_mutex_unlock(&h->io_lock);
    buf_free(&gz);
    char told[600] = "";
    bool tell = false;
    pthread_mutex_lock(&h->st_lock);
    if (r == 0) {
        h->n.state_writes += share;
    } else if (r == -EPERM) {
        h->n.fenced++;
        snprintf(told, sizeof(told), "fenced: %s", msg[0] ? msg : "the lease is no longer ours");
        tell = step_down(h, told);
    } else {
        h->n.errors++;
        snprintf(h->error, sizeof(h->error), "%s", msg[0] ? msg : strerror(-r));
        h->error_time = now_realtime();
    }
    pthread_mutex_unlock(&h->st_lock);
    if (r == -EPERM)
        log_warning("ha: %s", told);
    else if (r < 0)
        log_error("ha: cannot check the lease before acting: %s", msg[0] ? msg : strerror(-r));
    if (tell)
        h->on_change(h->ctx, false, told);
    return r;
}

int ha_get_state(struct ha *h, struct buf *out, char *msg, size_t msg_size)
{
    struct buf gz;
    buf_init(&gz, HA_STATE_MAX_BYTES + 1024);
    pthread_mutex_lock(&h->io_lock);
    int r = h->ops->get(h, &gz, msg, msg_size);
    pthread_mutex_unlock(&h->io_lock);
    if (r == 0 && gz.len) {
        r = gunzip_into(gz.data, gz.len, out);
        if (r < 0)
            snprintf(msg, msg_size, "the shared state in the %s backend is not gzip (%s)",
                     backend_name(h->cfg.backend), r == -EINVAL ? "corrupt" : strerror(-r));
    }
    buf_free(&gz);
    return r;
}

json_t *ha_status_json(struct ha *h)
{
    json_t *o = json_object();
    if (!h) {
        json_object_set_new(o, "backend", json_string("none"));
        json_object_set_new(o, "leader", json_true());
        return o;
    }
    pthread_mutex_lock(&h->st_lock);
    bool leading = leading_locked(h);
    json_object_set_new(o, "backend", json_string(backend_name(h->cfg.backend)));
    json_object_set_new(o, "identity", json_string(h->identity));
    json_object_set_new(o, "lease", json_string(h->cfg.lease_name));
    json_object_set_new(o, "leader", json_boolean(leading));
    json_object_set_new(o, "holder", h->holder[0] ? json_string(h->holder) : json_null());
    json_object_set_new(o, "since", json_real(h->since)); /* epoch seconds: the caller's form */
    json_object_set_new(o, "why", json_string(h->why));
    json_object_set_new(o, "endpoint", h->endpoint[0] ? json_string(h->endpoint) : json_null());
    json_object_set_new(o, "error", h->error[0] ? json_string(h->error) : json_null());
    json_object_set_new(o, "error_time", h->error[0] ? json_real(h->error_time) : json_null());
    json_object_set_new(o, "lease_seconds", json_real((double)h->cfg.lease_usec / 1e6));
    json_object_set_new(o, "renew_deadline_seconds",
                        json_real((double)h->cfg.renew_deadline_usec / 1e6));
    json_object_set_new(o, "retry_period_seconds", json_real((double)h->cfg.retry_usec / 1e6));
    json_object_set_new(o, "acquired", json_integer((json_int_t)h->n.acquired));
    json_object_set_new(o, "lost", json_integer((json_int_t)h->n.lost));
    json_object_set_new(o, "fenced", json_integer((json_int_t)h->n.fenced));
    json_object_set_new(o, "state_writes", json_integer((json_int_t)h->n.state_writes));
    json_object_set_new(o, "state_too_large", json_integer((json_int_t)h->n.state_too_large));
    pthread_mutex_unlock(&h->st_lock);
    return o;
}

void ha_counters(struct ha *h, struct ha_counters *out)
{
    memset(out, 0, sizeof(*out));
    if (!h) {
        out->leader = true;
        return;
    }
    pthread_mutex_lock(&h->st_lock);
    *out = h->n;
    out->leader = leading_locked(h);
    pthread_mutex_unlock(&h->st_lock);
}
