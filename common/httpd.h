/* httpd: a small HTTP server on libmicrohttpd with explicit limits (connections in
 * all and per client address, idle timeout, deadlines to receive a request and to
 * send a response, memory per connection, request body size), a listen-address
 * parser in the node_exporter style and one handler callback per server.
 * libmicrohttpd's defaults have no timeout and no per-IP limit, and its timeout is
 * an idle one that a client sending a byte every few seconds (slowloris) never
 * reaches: the deadlines here are enforced by a thread of our own (see httpd.c).
 * Every limit here has a safe default. */
#ifndef HOMEOSTAT_HTTPD_H
#define HOMEOSTAT_HTTPD_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct MHD_Connection;
struct httpd;
struct webconfig;

struct httpd_options {
    const char *listen_address; /* "host:port", "[::1]:port", ":port"; port 0 = any */
    unsigned connection_limit;  /* default 512; lowered to RLIMIT_NOFILE less 128 if above */
    unsigned per_ip_limit;      /* default 64 */
    unsigned timeout_sec;       /* idle connection timeout, default 30 */
    unsigned read_timeout_sec;  /* a request's headers, then its body, must each arrive
                                 * within this, counted from accept (or from the request
                                 * line on a kept-alive connection), however the bytes
                                 * trickle in; default 10 */
    unsigned write_timeout_sec; /* a response must be sent within this; default 120 */
    size_t connection_memory;   /* bytes per connection, default 64 KiB */
    size_t max_body_bytes;      /* request body limit, default 1 MiB */
    unsigned threads;           /* polling threads, default 2 */
    /* For tests that drive the server from their own thread (the exporter's HTTP fuzz
     * harness): libmicrohttpd starts no thread, the caller runs its event loop with
     * httpd_run and may hand in connections with httpd_add_connection; threads is
     * ignored. Both daemons leave it false. */
    bool external_loop;
    /* --web.config.file (webconfig.h), or NULL for plain HTTP without authentication:
     * TLS from its tls_server_config, and before any handler runs its client
     * certificate policy (403), rate_limit (429), basic_auth_users (401 with
     * WWW-Authenticate: Basic; 503 when password checks pile up) and headers. httpd
     * takes its own reference. */
    struct webconfig *web;
};

struct httpd_request {
    const char *method;
    const char *path; /* without the query string */
    struct MHD_Connection *conn;
    const char *body; /* NUL-terminated, body_len bytes; NULL when none */
    size_t body_len;
    const char *user; /* the basic-auth user whose password was checked; NULL when none */
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
 * httpd_stop), or -errno: -EINVAL for a malformed address, -EADDRINUSE,
 * -EPROTONOSUPPORT when opts->web asks for TLS and libmicrohttpd has none, ... */
int httpd_start(const struct httpd_options *opts, httpd_handler_fn handler, void *userdata,
                struct httpd **ret);
/* Stops serving, closes every connection and frees. Accepts NULL. */
void httpd_stop(struct httpd *h);
/* With external_loop: serves a connected stream socket (a socketpair's end, say) as if
 * it had been accepted, on the next httpd_run. Takes ownership of fd: closed by the
 * server, also on failure. Returns 0, or -EINVAL on a server with its own threads, or
 * libmicrohttpd's refusal as -errno (the connection limit reached, out of memory, ...). */
int httpd_add_connection(struct httpd *h, int fd);
/* With external_loop: one pass of the event loop, without waiting: accepts, reads,
 * handles (the handler runs on the calling thread), writes, and closes what ended.
 * Returns the number of connections still open, or -EINVAL on a server with its own
 * threads, -EIO when libmicrohttpd fails. */
int httpd_run(struct httpd *h);
/* Replaces the web configuration of a running server (a reload): its users, headers and
 * rate limit apply to requests from now on (requests under way finish with the old one;
 * httpd takes a reference). TLS stays as the server started. Returns 0, 1 when w's TLS
 * settings differ from those in force (they need a restart), or -EINVAL for NULL. */
int httpd_set_webconfig(struct httpd *h, struct webconfig *w);
/* A reload of --web.config.file, as both daemons do it: loads path in full and, when it is
 * valid, puts it in force (httpd_set_webconfig). Returns 0, or 1 when its TLS settings
 * differ from those in force (they apply at the next restart), with a description of the
 * configuration in desc (webconfig_describe); or the load's -errno with every error
 * appended to errors (at least "PATH: reason"), the running configuration kept. */
int httpd_reload_webconfig(struct httpd *h, const char *path, struct buf *errors, char *desc,
                           size_t desc_size);
/* Whether the server speaks TLS (https). */
bool httpd_tls(const struct httpd *h);
/* The address actually bound, "127.0.0.1:39117" (borrowed, valid until stop). */
const char *httpd_bound_address(const struct httpd *h);
unsigned httpd_bound_port(const struct httpd *h);
/* The connection limit in force: the option's, lowered to fit RLIMIT_NOFILE. */
unsigned httpd_connection_limit(const struct httpd *h);
/* Connections closed so far because a request or a response missed its deadline
 * (read_timeout_sec, write_timeout_sec). Thread-safe. */
unsigned long long httpd_deadline_closes(struct httpd *h);

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
