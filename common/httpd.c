/* httpd: libmicrohttpd wrapper with explicit resource limits (see httpd.h). */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"
#include "utf8.h"
#include "webconfig.h"

/* Descriptors kept free of connections for the daemon's own files (collectors, sockets). */
#define HTTPD_FD_RESERVE 128

/* One per connection, from MHD_CONNECTION_NOTIFY_STARTED to _CLOSED (its socket
 * context), linked in httpd.conns under track_lock. libmicrohttpd calls CLOSED before
 * it closes the socket, so fd stays valid for shutdown() while the entry is linked. */
struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    uint64_t deadline_usec; /* CLOCK_MONOTONIC; the current phase must end by then */
    bool shut;              /* the reaper shut the socket down already */
};

/* What a connection is doing, for its deadline (see track_phase). */
enum track_phase {
    TRACK_REQUEST_LINE, /* the request line arrived: headers must follow in time */
    TRACK_BODY,         /* headers complete: the body must follow in time */
    TRACK_WRITE,        /* request complete: the response must be sent in time */
    TRACK_KEEPALIVE,    /* response sent: the next request may come after an idle wait */
};

struct httpd {
    struct MHD_Daemon *daemon;
    httpd_handler_fn handler;
    void *userdata;
    size_t max_body;
    char bound[80];
    unsigned port;
    bool external_loop; /* no thread of libmicrohttpd's: httpd_run drives it */
    /* --web.config.file: the configuration in force (users, headers, rate limit;
     * httpd_set_webconfig swaps it under web_lock) and the one TLS started with. */
    pthread_mutex_t web_lock;
    struct webconfig *web, *web_tls;
    unsigned connection_limit;
    uint64_t read_timeout_usec, write_timeout_usec, idle_timeout_usec;
    /* The deadline reaper: a thread that shuts down connections past their deadline. */
    pthread_mutex_t track_lock;
    pthread_cond_t track_cond;
    pthread_t reaper;
    bool reaper_started, stopping;
    struct conn_track *conns;
    unsigned long long deadline_closes;
};

struct request_ctx {
    struct buf body;
    bool too_large;
    struct webconfig *web; /* a reference for the whole request, or NULL */
    char user[128];        /* the basic-auth user web_gate checked, or "" */
};

__attribute__((format(printf, 2, 0))) static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_debug("httpd: %s", msg);
}

const char *httpd_header(const struct httpd_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *httpd_query(const struct httpd_request *req, const char *key)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *httpd_client_address(const struct httpd_request *req, char *buf, size_t size)
{
    snprintf(buf, size, "unknown");
    const union MHD_ConnectionInfo *info =
        req->conn ? MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
    if (!info || !info->client_addr)
        return buf;
    const struct sockaddr *sa = info->client_addr;
    char host[INET6_ADDRSTRLEN] = "";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(buf, size, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(buf, size, "[%s]:%u", host, port);
    }
    return buf;
}

int httpd_response_header(struct httpd_response *resp, const char *name, const char *value)
{
    int r = buf_append(&resp->headers, name, strlen(name) + 1);
    if (r >= 0)
        r = buf_append(&resp->headers, value, strlen(value) + 1);
    return r;
}

int httpd_reply(struct httpd_response *resp, unsigned status, const char *content_type,
                const char *fmt, ...)
{
    resp->status = status;
    resp->content_type = content_type;
    buf_reset(&resp->body);
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(&resp->body, fmt, ap);
    va_end(ap);
    return r;
}

int httpd_reply_error(struct httpd_response *resp, unsigned status, const char *message)
{
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    int r = buf_puts(&resp->body, "{\"status\":\"error\",\"error\":\"");
    /* Messages may quote input (a JSON parser's "near '...'"): bytes that are not UTF-8
     * become U+FFFD, so that the reply stays JSON. */
    size_t len = strlen(message);
    for (size_t i = 0; i < len && r >= 0;) {
        unsigned char ch = (unsigned char)message[i];
        size_t n = ch >= 0x80 ? utf8_seq_len(message + i, len - i) : 1;
        if (ch == '"' || ch == '\\')
            r = buf_printf(&resp->body, "\\%c", ch);
        else if (ch < 0x20)
            r = buf_printf(&resp->body, "\\u%04x", ch);
        else if (n == 0)
            r = buf_puts(&resp->body, "\\ufffd");
        else
            r = buf_append(&resp->body, message + i, n);
        i += n ? n : 1;
    }
    if (r >= 0)
        r = buf_puts(&resp->body, "\"}\n");
    return r;
}

static enum MHD_Result queue(struct MHD_Connection *conn, struct httpd_response *resp)
{
    size_t len;
    char *body = buf_steal(&resp->body, &len);
    struct MHD_Response *r;
    if (body)
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        buf_free(&resp->headers);
        return MHD_NO;
    }
    if (resp->content_type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* The headers --web.config.file may set come first (web_headers); one the handler
     * sets as well (a page's own Content-Security-Policy) replaces it. */
    for (size_t off = 0; off < resp->headers.len;) {
        const char *name = resp->headers.data + off;
        const char *value = name + strlen(name) + 1;
        off = (size_t)(value + strlen(value) + 1 - resp->headers.data);
        bool replaced = false;
        for (size_t later = off;
             later < resp->headers.len && !replaced && webconfig_header_allowed(name);) {
            const char *n2 = resp->headers.data + later;
            replaced = strcasecmp(n2, name) == 0;
            later += strlen(n2) + 1;
            later += strlen(resp->headers.data + later) + 1;
        }
        if (!replaced)
            MHD_add_response_header(r, name, value);
    }
    buf_free(&resp->headers);
    enum MHD_Result ret = MHD_queue_response(conn, resp->status ? resp->status : 500, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- --web.config.file: client certificates, rate limit, basic auth, headers ---- */

static struct webconfig *web_get(struct httpd *h)
{
    pthread_mutex_lock(&h->web_lock);
    struct webconfig *w = webconfig_ref(h->web);
    pthread_mutex_unlock(&h->web_lock);
    return w;
}

/* http_server_config.headers into a response (every answer, refusals included). */
static void web_headers(struct httpd_response *resp, const struct webconfig *w)
{
    const char *name, *value;
    for (size_t i = 0; webconfig_header(w, i, &name, &value); i++)
        if (strcasecmp(name, "X-Content-Type-Options") != 0) /* queue() always sends it */
            httpd_response_header(resp, name, value);
}

/* Applies the client certificate policy, the rate limit and basic auth to a request
 * whose headers have arrived, before its body is read. Returns true when the request is
 * refused, its answer queued in *ret: 403, 429, 401 (with WWW-Authenticate: Basic) or
 * 503 when bcrypt is too busy. Like exporter-toolkit, every path is covered, the health
 * endpoints included. */
static bool web_gate(struct httpd *h, struct MHD_Connection *conn, struct request_ctx *ctx,
                     enum MHD_Result *ret)
{
    if (!ctx->web)
        return false;
    struct httpd_response resp = {0};
    buf_init(&resp.body, 0);
    buf_init(&resp.headers, 16384);
    web_headers(&resp, ctx->web);
    char why[256];
    int r;
    if (webconfig_client_auth(h->web_tls) != WEBCONFIG_NO_CLIENT_CERT) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        r = webconfig_check_client_cert(h->web_tls, ci ? ci->tls_session : NULL, why, sizeof(why));
        if (r < 0) {
            log_debug("httpd: request refused: %s", why);
            httpd_reply(&resp, 403, "text/plain; charset=utf-8", "Forbidden: %s\n", why);
            goto refused;
        }
    }
    if (!webconfig_rate_allow(ctx->web, now_usec())) {
        httpd_reply(&resp, 429, "text/plain; charset=utf-8", "Too Many Requests\n");
        goto refused;
    }
    r = webconfig_authorize_user(
        ctx->web, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        ctx->user, sizeof(ctx->user));
    if (r == -EBUSY) {
        httpd_response_header(&resp, "Retry-After", "1");
        httpd_reply(&resp, 503, "text/plain; charset=utf-8",
                    "Service Unavailable: too many password checks at once\n");
        goto refused;
    }
    if (r < 0) {
        httpd_response_header(&resp, "WWW-Authenticate", "Basic");
        httpd_reply(&resp, 401, "text/plain; charset=utf-8", "Unauthorized\n");
        goto refused;
    }
    buf_free(&resp.body);
    buf_free(&resp.headers);
    return false;
refused:
    *ret = queue(conn, &resp);
    return true;
}

/* ---- deadlines: libmicrohttpd's timeout counts only idle time ---- */

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    struct httpd *h = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct conn_track *t = ci ? calloc(1, sizeof(*t)) : NULL;
        if (!t)
            return; /* out of memory: the idle timeout alone applies to this one */
        t->fd = ci->connect_fd;
        t->deadline_usec = now_usec() + h->read_timeout_usec;
        pthread_mutex_lock(&h->track_lock);
        t->next = h->conns;
        if (h->conns)
            h->conns->prev = t;
        else
            pthread_cond_signal(&h->track_cond); /* the reaper sleeps while none is open */
        h->conns = t;
        pthread_mutex_unlock(&h->track_lock);
        *socket_context = t;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn_track *t = *socket_context;
        if (!t)
            return;
        pthread_mutex_lock(&h->track_lock);
        if (t->prev)
            t->prev->next = t->next;
        else
            h->conns = t->next;
        if (t->next)
            t->next->prev = t->prev;
        pthread_mutex_unlock(&h->track_lock);
        free(t);
        *socket_context = NULL;
    }
}

/* Moves conn's deadline for the phase it enters. Called on the connection's thread. */
static void track_phase(struct httpd *h, struct MHD_Connection *conn, enum track_phase phase)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_track *t = ci ? ci->socket_context : NULL;
    if (!t)
        return;
    uint64_t now = now_usec();
    pthread_mutex_lock(&h->track_lock);
    switch (phase) {
    case TRACK_REQUEST_LINE:
        /* A new connection keeps its deadline from accept; a kept-alive one gets its
         * read timeout from now. */
        if (t->deadline_usec > now + h->read_timeout_usec)
            t->deadline_usec = now + h->read_timeout_usec;
        break;
    case TRACK_BODY: t->deadline_usec = now + h->read_timeout_usec; break;
    case TRACK_WRITE: t->deadline_usec = now + h->write_timeout_usec; break;
    case TRACK_KEEPALIVE:
        /* Bytes of the next request end the idle wait; the request line then tightens it. */
        t->deadline_usec = now + h->idle_timeout_usec + h->read_timeout_usec;
        break;
    }
    pthread_mutex_unlock(&h->track_lock);
}

/* MHD_OPTION_URI_LOG_CALLBACK: the request line is complete. Returns the request's
 * initial context: none (access_handler makes it). */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)uri;
    track_phase(cls, conn, TRACK_REQUEST_LINE);
    return NULL;
}

/* The reaper: once a second, shuts down the sockets of connections past their deadline;
 * libmicrohttpd then sees the socket end and closes the connection on its own thread. */
static void *reaper_main(void *arg)
{
    struct httpd *h = arg;
    pthread_mutex_lock(&h->track_lock);
    while (!h->stopping) {
        uint64_t now = now_usec();
        unsigned n = 0;
        for (struct conn_track *t = h->conns; t; t = t->next)
            if (!t->shut && t->deadline_usec <= now) {
                shutdown(t->fd, SHUT_RDWR);
                t->shut = true;
                n++;
            }
        if (n) {
            h->deadline_closes += n;
            log_debug("httpd: closing %u connection(s) past their read or write deadline", n);
        }
        if (!h->conns) {
            pthread_cond_wait(&h->track_cond, &h->track_lock);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&h->track_cond, &h->track_lock, &ts);
    }
    pthread_mutex_unlock(&h->track_lock);
    return NULL;
}

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct httpd *h = cls;
    struct request_ctx *ctx = *con_cls;
    if (!ctx) {
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
            return MHD_NO;
        buf_init(&ctx->body, h->max_body);
        *con_cls = ctx;
        ctx->web = web_get(h);
        enum MHD_Result refused;
        if (web_gate(h, conn, ctx, &refused))
            return refused;
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long n;
        if (cl && parse_u64(cl, &n) == 0 && n > h->max_body)
            ctx->too_large = true;
        track_phase(h, conn, TRACK_BODY);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!ctx->too_large && buf_append(&ctx->body, upload_data, *upload_data_size) < 0)
            ctx->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    track_phase(h, conn, TRACK_WRITE);
    struct httpd_response resp = {0};
    buf_init(&resp.body, 0);
    buf_init(&resp.headers, 16384);
    web_headers(&resp, ctx->web);
    if (ctx->too_large) {
        char msg[96];
        snprintf(msg, sizeof(msg), "request body larger than %zu bytes", h->max_body);
        httpd_reply_error(&resp, 413, msg);
        return queue(conn, &resp);
    }
    char path[1024];
    const char *q = strchr(url, '?');
    size_t pl = q ? (size_t)(q - url) : strlen(url);
    if (pl >= sizeof(path)) {
        httpd_reply_error(&resp, 414, "request path too long");
        return queue(conn, &resp);
    }
    memcpy(path, url, pl);
    path[pl] = '\0';
    struct httpd_request req = {
        .method = method,
        .path = path,
        .conn = conn,
        .body = ctx->body.data,
        .body_len = ctx->body.len,
        .user = ctx->user[0] ? ctx->user : NULL,
    };
    h->handler(h->userdata, &req, &resp);
    return queue(conn, &resp);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        track_phase(cls, conn, TRACK_KEEPALIVE);
    struct request_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    webconfig_unref(ctx->web);
    buf_free(&ctx->body);
    free(ctx);
    *con_cls = NULL;
}

int httpd_listen(const char *address, char *bound, size_t size, unsigned *ret_port)
{
    char host[256];
    unsigned port;
    if (parse_listen_address(address, host, sizeof(host), &port) < 0)
        return -EINVAL;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    };
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    struct addrinfo *res;
    int gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (gai != 0)
        return gai == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL;
    int fd = -1, err = -EADDRNOTAVAIL;
    /* For ":port" prefer the IPv6 wildcard in dual-stack mode, like Go's net. */
    for (int pass = 0; pass < 2 && fd < 0; pass++)
        for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
            if (!host[0] && (pass == 0) != (ai->ai_family == AF_INET6))
                continue;
            if (host[0] && pass == 1)
                break;
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
            if (fd < 0) {
                err = -errno;
                continue;
            }
            int one = 1, zero = 0;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (ai->ai_family == AF_INET6 && !host[0])
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
                err = -errno;
                close(fd);
                fd = -1;
            }
        }
    freeaddrinfo(res);
    if (fd < 0)
        return err;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char ip[INET6_ADDRSTRLEN] = "?";
    unsigned bound_port;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        bound_port = ntohs(s6->sin6_port);
        snprintf(bound, size, "[%s]:%u", ip, bound_port);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        bound_port = ntohs(s4->sin_port);
        snprintf(bound, size, "%s:%u", ip, bound_port);
    }
    if (ret_port)
        *ret_port = bound_port;
    return fd;
}

int httpd_start(const struct httpd_options *opts, httpd_handler_fn handler, void *userdata,
                struct httpd **ret)
{
    struct httpd *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->handler = handler;
    h->userdata = userdata;
    h->max_body = opts->max_body_bytes ? opts->max_body_bytes : (1u << 20);
    if (webconfig_tls(opts->web) && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        free(h);
        return -EPROTONOSUPPORT; /* libmicrohttpd built without GnuTLS */
    }
    int fd = httpd_listen(opts->listen_address, h->bound, sizeof(h->bound), &h->port);
    if (fd < 0) {
        free(h);
        return fd;
    }
    h->external_loop = opts->external_loop;
    /* 0 is no pool: libmicrohttpd refuses one without its own polling thread. */
    unsigned threads = h->external_loop ? 0 : opts->threads ? opts->threads : 2;
    unsigned flags = MHD_USE_ERROR_LOG;
    if (!h->external_loop)
        flags |= MHD_USE_INTERNAL_POLLING_THREAD;
#ifdef __linux__
    flags |= MHD_USE_EPOLL;
#endif
    /* Past RLIMIT_NOFILE, accept() fails and so would the daemon's own open()s: keep a
     * reserve (daemon_raise_nofile() lifts the soft limit to the hard one first). */
    h->connection_limit = opts->connection_limit ? opts->connection_limit : 512u;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        (rlim_t)h->connection_limit + HTTPD_FD_RESERVE > rl.rlim_cur) {
        unsigned fit = rl.rlim_cur > 2 * HTTPD_FD_RESERVE
                           ? (unsigned)(rl.rlim_cur - HTTPD_FD_RESERVE)
                           : (unsigned)(rl.rlim_cur / 2);
        log_debug("httpd: connection limit %u lowered to %u to fit RLIMIT_NOFILE %llu",
                  h->connection_limit, fit, (unsigned long long)rl.rlim_cur);
        h->connection_limit = fit ? fit : 1;
    }
    unsigned idle_sec = opts->timeout_sec ? opts->timeout_sec : 30u;
    h->idle_timeout_usec = idle_sec * 1000000ull;
    h->read_timeout_usec = (opts->read_timeout_sec ? opts->read_timeout_sec : 10u) * 1000000ull;
    h->write_timeout_usec = (opts->write_timeout_sec ? opts->write_timeout_sec : 120u) * 1000000ull;
    pthread_mutex_init(&h->track_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->track_cond, &ca);
    pthread_condattr_destroy(&ca);
    /* TLS (--web.config.file): libmicrohttpd's GnuTLS with our priority string; with a
     * client CA it asks every client for a certificate, and web_gate applies the policy. */
    struct MHD_OptionItem tls_opts[5] = {{MHD_OPTION_END, 0, NULL}};
    if (webconfig_tls(opts->web)) {
        size_t n = 0;
        flags |= MHD_USE_TLS;
        tls_opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0,
                                                (void *)webconfig_tls_key_pem(opts->web)};
        tls_opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0,
                                                (void *)webconfig_tls_cert_pem(opts->web)};
        tls_opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                                (void *)webconfig_tls_priorities(opts->web)};
        if (webconfig_tls_client_ca_pem(opts->web))
            tls_opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0,
                                                    (void *)webconfig_tls_client_ca_pem(opts->web)};
        tls_opts[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }
    pthread_mutex_init(&h->web_lock, NULL);
    h->web = webconfig_ref(opts->web);
    h->web_tls = webconfig_ref(opts->web);
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_handler, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, h,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, h->connection_limit, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        opts->per_ip_limit ? opts->per_ip_limit : 64u, MHD_OPTION_CONNECTION_TIMEOUT, idle_sec,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        opts->connection_memory ? opts->connection_memory : (size_t)65536,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, h, MHD_OPTION_NOTIFY_CONNECTION,
        notify_connection, h, MHD_OPTION_URI_LOG_CALLBACK, uri_logged, h, MHD_OPTION_ARRAY,
        tls_opts, MHD_OPTION_END);
    int r = h->daemon ? -pthread_create(&h->reaper, NULL, reaper_main, h) : -EIO;
    if (r < 0) {
        if (h->daemon)
            MHD_stop_daemon(h->daemon);
        else
            close(fd);
        pthread_cond_destroy(&h->track_cond);
        pthread_mutex_destroy(&h->track_lock);
        webconfig_unref(h->web);
        webconfig_unref(h->web_tls);
        pthread_mutex_destroy(&h->web_lock);
        free(h);
        return r;
    }
    h->reaper_started = true;
    *ret = h;
    return 0;
}

void httpd_stop(struct httpd *h)
{
    if (!h)
        return;
    if (h->reaper_started) {
        pthread_mutex_lock(&h->track_lock);
        h->stopping = true;
        pthread_cond_signal(&h->track_cond);
        pthread_mutex_unlock(&h->track_lock);
        pthread_join(h->reaper, NULL);
    }
    MHD_stop_daemon(h->daemon); /* also closes the listen socket; NOTIFY_CLOSED for each */
    pthread_cond_destroy(&h->track_cond);
    pthread_mutex_destroy(&h->track_lock);
    webconfig_unref(h->web);
    webconfig_unref(h->web_tls);
    pthread_mutex_destroy(&h->web_lock);
    free(h);
}

int httpd_add_connection(struct httpd *h, int fd)
{
    if (!h->external_loop) {
        close(fd);
        return -EINVAL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    errno = 0;
    if (MHD_add_connection(h->daemon, fd, (struct sockaddr *)&ss, sl) == MHD_YES)
        return 0;
    return errno ? -errno : -EIO; /* libmicrohttpd closed fd */
}

int httpd_run(struct httpd *h)
{
    if (!h->external_loop)
        return -EINVAL;
    if (MHD_run(h->daemon) != MHD_YES)
        return -EIO;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info ? (int)info->num_connections : -EIO;
}

int httpd_set_webconfig(struct httpd *h, struct webconfig *w)
{
    if (!w)
        return -EINVAL;
    pthread_mutex_lock(&h->web_lock);
    struct webconfig *old = h->web;
    h->web = webconfig_ref(w);
    pthread_mutex_unlock(&h->web_lock);
    webconfig_unref(old); /* requests under way keep their own reference */
    return webconfig_tls_equal(h->web_tls, w) ? 0 : 1;
}

bool httpd_tls(const struct httpd *h)
{
    return webconfig_tls(h->web_tls);
}

unsigned httpd_connection_limit(const struct httpd *h)
{
    return h->connection_limit;
}

unsigned long long httpd_deadline_closes(struct httpd *h)
{
    pthread_mutex_lock(&h->track_lock);
    unsigned long long n = h->deadline_closes;
    pthread_mutex_unlock(&h->track_lock);
    return n;
}

const char *httpd_bound_address(const struct httpd *h)
{
    return h->bound;
}

unsigned httpd_bound_port(const struct httpd *h)
{
    return h->port;
}

int httpd_reload_webconfig(struct httpd *h, const char *path, struct buf *errors, char *desc,
                           size_t desc_size)
{
    struct webconfig *w = NULL;
    size_t before = errors->len;
    int r = webconfig_load_file(path, &w, errors);
    if (r < 0) {
        if (errors->len == before)
            buf_printf(errors, "%s: %s\n", path, strerror(-r));
        return r;
    }
    webconfig_describe(w, desc, desc_size);
    r = httpd_set_webconfig(h, w);
    webconfig_unref(w);
    return r > 0 ? 1 : 0;
}
