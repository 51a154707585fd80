/* httpd: libmicrohttpd wrapper with explicit resource limits (see httpd.h). */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"

struct httpd {
    struct MHD_Daemon *daemon;
    httpd_handler_fn handler;
    void *userdata;
    size_t max_body;
    char bound[80];
    unsigned port;
};

struct request_ctx {
    struct buf body;
    bool too_large;
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
    for (const char *c = message; *c && r >= 0; c++) {
        if (*c == '"' || *c == '\\')
            r = buf_printf(&resp->body, "\\%c", *c);
        else if ((unsigned char)*c < 0x20)
            r = buf_printf(&resp->body, "\\u%04x", (unsigned char)*c);
        else
            r = buf_putc(&resp->body, *c);
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
    for (size_t off = 0; off < resp->headers.len;) {
        const char *name = resp->headers.data + off;
        const char *value = name + strlen(name) + 1;
        MHD_add_response_header(r, name, value);
        off = (size_t)(value + strlen(value) + 1 - resp->headers.data);
    }
    buf_free(&resp->headers);
    enum MHD_Result ret = MHD_queue_response(conn, resp->status ? resp->status : 500, r);
    MHD_destroy_response(r);
    return ret;
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
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        unsigned long long n;
        if (cl && parse_u64(cl, &n) == 0 && n > h->max_body)
            ctx->too_large = true;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!ctx->too_large && buf_append(&ctx->body, upload_data, *upload_data_size) < 0)
            ctx->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    struct httpd_response resp = {0};
    buf_init(&resp.body, 0);
    buf_init(&resp.headers, 16384);
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
    };
    h->handler(h->userdata, &req, &resp);
    return queue(conn, &resp);
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    struct request_ctx *ctx = *con_cls;
    if (!ctx)
        return;
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
    int fd = httpd_listen(opts->listen_address, h->bound, sizeof(h->bound), &h->port);
    if (fd < 0) {
        free(h);
        return fd;
    }
    unsigned threads = opts->threads ? opts->threads : 2;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
#ifdef __linux__
    flags |= MHD_USE_EPOLL;
#endif
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, access_handler, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, h,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, opts->connection_limit ? opts->connection_limit : 512u,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, opts->per_ip_limit ? opts->per_ip_limit : 64u,
        MHD_OPTION_CONNECTION_TIMEOUT, opts->timeout_sec ? opts->timeout_sec : 30u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        opts->connection_memory ? opts->connection_memory : (size_t)65536,
        MHD_OPTION_NOTIFY_COMPLETED, request_completed, h, MHD_OPTION_END);
    if (!h->daemon) {
        close(fd);
        free(h);
        return -EIO;
    }
    *ret = h;
    return 0;
}

void httpd_stop(struct httpd *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon); /* also closes the listen socket */
    free(h);
}

const char *httpd_bound_address(const struct httpd *h)
{
    return h->bound;
}

unsigned httpd_bound_port(const struct httpd *h)
{
    return h->port;
}
