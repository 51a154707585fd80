/* httpd: a small HTTP server on libmicrohttpd with explicit limits (connections in
 * all and per client address, idle timeout, memory per connection, request body
 * size), a listen-address parser in the node_exporter style and one handler
 * callback per server. libmicrohttpd's defaults have no timeout and no per-IP
 * limit; every limit here has a safe default. */
#ifndef HOMEOSTAT_HTTPD_H
#define HOMEOSTAT_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct MHD_Connection;
struct httpd;

struct httpd_options {
    const char *listen_address; /* "host:port", "[::1]:port", ":port"; port 0 = any */
    unsigned connection_limit;  /* default 512 */
    unsigned per_ip_limit;      /* default 64 */
    unsigned timeout_sec;       /* idle connection timeout, default 30 */
    size_t connection_memory;   /* bytes per connection, default 64 KiB */
    size_t max_body_bytes;      /* request body limit, default 1 MiB */
    unsigned threads;           /* polling threads, default 2 */
};

struct httpd_request {
    const char *method;
    const char *path; /* without the query string */
    struct MHD_Connection *conn;
    const char *body; /* NUL-terminated, body_len bytes; NULL when none */
    size_t body_len;
};

struct httpd_response {
    unsigned status;
    const char *content_type; /* borrowed: must be a static string */
    struct buf body;          /* filled by the handler; freed by httpd */
    struct buf headers;       /* "Name\0Value\0" pairs, see httpd_response_header */
};

/* Called on one of the server's threads for every complete request (body read).
 * It fills resp; a status of 0 becomes 500. HEAD is answered like GET without the
 * body. */
typedef void (*httpd_handler_fn)(void *userdata, const struct httpd_request *req,
                                 struct httpd_response *resp);

/* Opens a listening TCP socket (non-blocking, close-on-exec) on a listen address in the
 * node_exporter style ("host:port", "[::1]:port", ":port" dual-stack; port 0 = any).
 * Returns the descriptor and writes the address actually bound ("127.0.0.1:39117") to
 * bound, or -errno: -EINVAL for a malformed address, -EADDRINUSE, ... For servers that
 * run libmicrohttpd their own way (MHD_OPTION_LISTEN_SOCKET). */
int httpd_listen(const char *address, char *bound, size_t size, unsigned *ret_port);

/* Binds, listens and starts serving. Returns 0 and *ret (caller stops it with
 * httpd_stop), or -errno: -EINVAL for a malformed address, -EADDRINUSE, ... */
int httpd_start(const struct httpd_options *opts, httpd_handler_fn handler, void *userdata,
                struct httpd **ret);
/* Stops serving, closes every connection and frees. Accepts NULL. */
void httpd_stop(struct httpd *h);
/* The address actually bound, "127.0.0.1:39117" (borrowed, valid until stop). */
const char *httpd_bound_address(const struct httpd *h);
unsigned httpd_bound_port(const struct httpd *h);

/* Request accessors; returned strings are borrowed for the duration of the call. */
const char *httpd_header(const struct httpd_request *req, const char *name);
const char *httpd_query(const struct httpd_request *req, const char *key);
/* The client's "address:port" into buf ("unknown" when not known); returns buf. */
const char *httpd_client_address(const struct httpd_request *req, char *buf, size_t size);

/* Response helpers. All return 0 or -ENOMEM/-E2BIG. */
int httpd_response_header(struct httpd_response *resp, const char *name, const char *value);
int httpd_reply(struct httpd_response *resp, unsigned status, const char *content_type,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* A JSON error body {"status":"error","error":"..."} with the given status. */
int httpd_reply_error(struct httpd_response *resp, unsigned status, const char *message);

#endif
