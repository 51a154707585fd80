/* webconfig: the web configuration file of both daemons (--web.config.file), in the
 * Prometheus exporter-toolkit format: tls_server_config (certificate and key, TLS 1.2
 * or 1.3 only, client certificates), http_server_config (security headers),
 * basic_auth_users (bcrypt hashes) and rate_limit. A file is validated in full, every
 * error reported as "FILE:LINE:COL: message". Exports webconfig_load_*, reference
 * counting, the TLS settings as libmicrohttpd and GnuTLS take them, the client
 * certificate policy, and webconfig_authorize(), a basic-auth check whose timing does
 * not tell which users exist. */
#ifndef HOMEOSTAT_WEBCONFIG_H
#define HOMEOSTAT_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"

/* Limits of a web configuration file and of what it names. */
#define WEBCONFIG_MAX_FILE_BYTES (256u << 10) /* the YAML (inline PEM included) */
#define WEBCONFIG_MAX_DEPTH 16u
#define WEBCONFIG_MAX_PEM_BYTES (1u << 20) /* cert_file, key_file, client_ca_file */
#define WEBCONFIG_MAX_USERS 1000u
#define WEBCONFIG_MAX_USER_BYTES 256u
#define WEBCONFIG_MAX_PASSWORD_BYTES 1024u
#define WEBCONFIG_MAX_SANS 256u
#define WEBCONFIG_CACHE_SIZE 64u /* successful (user, password) checks remembered */

/* tls_server_config.client_auth_type, as Go's crypto/tls names them. */
enum webconfig_client_auth {
    WEBCONFIG_NO_CLIENT_CERT,
    WEBCONFIG_REQUEST_CLIENT_CERT,
    WEBCONFIG_REQUIRE_ANY_CLIENT_CERT,
    WEBCONFIG_VERIFY_CLIENT_CERT_IF_GIVEN,
    WEBCONFIG_REQUIRE_AND_VERIFY_CLIENT_CERT,
};

struct webconfig;

/* Loads and validates a web configuration file: the YAML (at most
 * WEBCONFIG_MAX_FILE_BYTES, nesting at most WEBCONFIG_MAX_DEPTH), then the files it
 * names (relative paths are taken from the file's directory, as exporter-toolkit does):
 * the key must match the certificate, the client CA must hold a certificate, the GnuTLS
 * priority string built from the TLS settings must be valid. Returns 0 and *ret, a new
 * configuration with one reference (webconfig_unref), or -EINVAL (invalid: one
 * "FILE:LINE:COL: message" line per error appended to errors, which may be NULL),
 * -ENOMEM, or the read's -errno ("FILE: message" appended). *ret is untouched on
 * failure. An empty file is valid: plain HTTP, no authentication, no headers. */
int webconfig_load_file(const char *path, struct webconfig **ret, struct buf *errors);
/* The same from memory: data[len] named name in messages, relative paths taken from
 * dir (NULL: the current directory). */
int webconfig_load_string(const char *data, size_t len, const char *name, const char *dir,
                          struct webconfig **ret, struct buf *errors);
/* Loads path and prints every error ("FILE:LINE:COL: message") then "FILE: FAILED", or
 * "FILE: OK (description)", to out. Returns 0 when valid, 1 otherwise. */
int webconfig_check_file(const char *path, FILE *out);
/* Another reference to w (returned); thread-safe. */
struct webconfig *webconfig_ref(struct webconfig *w);
/* Drops a reference; the last one frees. Accepts NULL; thread-safe. */
void webconfig_unref(struct webconfig *w);

/* One line for the log: "TLS 1.2-1.3, client certificates RequireAndVerifyClientCert,
 * basic auth (2 users), 1 header" or "plain HTTP, no authentication". */
void webconfig_describe(const struct webconfig *w, char *out, size_t size);

/* ---- TLS (the strings are borrowed from w) ---- */

/* Whether tls_server_config configures TLS (any of cert, key, cert_file, key_file,
 * client_ca, client_ca_file, client_auth_type set, as exporter-toolkit decides). */
bool webconfig_tls(const struct webconfig *w);
const char *webconfig_tls_cert_pem(const struct webconfig *w);      /* NULL without TLS */
const char *webconfig_tls_key_pem(const struct webconfig *w);       /* NULL without TLS */
const char *webconfig_tls_client_ca_pem(const struct webconfig *w); /* NULL when none */
/* The GnuTLS priority string: "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2..." */
const char *webconfig_tls_priorities(const struct webconfig *w);
enum webconfig_client_auth webconfig_client_auth(const struct webconfig *w);
const char *webconfig_client_auth_name(enum webconfig_client_auth a);
/* Whether a and b configure the same TLS (certificate, key and CA contents, priorities,
 * client certificate policy): what a running server cannot change without a restart.
 * NULL is a configuration without TLS. */
bool webconfig_tls_equal(const struct webconfig *a, const struct webconfig *b);
/* Applies the client certificate policy to an established TLS session (a
 * gnutls_session_t): whether a certificate is required, whether it must chain to the
 * client CA and be valid for TLS client authentication, and client_allowed_sans.
 * Returns 0 when the peer may go on, or -EACCES with the reason in why. */
int webconfig_check_client_cert(const struct webconfig *w, void *tls_session, char *why,
                                size_t size);

/* ---- HTTP ---- */

/* http_server_config.headers, in file order; name and value borrowed from w. Returns
 * false when i is out of range. */
bool webconfig_header(const struct webconfig *w, size_t i, const char **ret_name,
                      const char **ret_value);
/* Whether name is one of the headers a file may set (exporter-toolkit's list:
 * Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection,
 * Content-Security-Policy), compared without case. */
bool webconfig_header_allowed(const char *name);
/* Whether headers sets name (compared without case). */
bool webconfig_has_header(const struct webconfig *w, const char *name);

/* rate_limit: a token bucket over all requests (burst, one more token every interval).
 * True when a request may go on (always without rate_limit). Thread-safe. */
bool webconfig_rate_allow(struct webconfig *w, uint64_t now_usec);

/* ---- basic authentication ---- */

/* Whether basic_auth_users is non-empty. */
bool webconfig_auth_required(const struct webconfig *w);
/* Checks an Authorization header value (NULL when the request has none) against
 * basic_auth_users. Returns 0 when the request may go on (the right password, or no
 * users configured), -EACCES when it may not, or -EBUSY when another check held the
 * bcrypt lock for over a second (answer 503). The user name is looked up in constant
 * time, an unknown user is checked against a dummy hash of the highest configured cost
 * so it takes as long as a known one, and the computed hash is compared in constant
 * time. Successful checks are remembered (WEBCONFIG_CACHE_SIZE, keyed by an HMAC with a
 * per-configuration random key), so a scraper pays bcrypt once. bcrypt runs one at a
 * time: it keeps at most one core busy. Thread-safe. */
int webconfig_authorize(struct webconfig *w, const char *authorization);
/* The same; when the password was checked and right, also copies the user name to
 * ret_user (size bytes, truncated; "" otherwise, and when no users are configured). */
int webconfig_authorize_user(struct webconfig *w, const char *authorization, char *ret_user,
                             size_t size);
/* How many bcrypt hashes webconfig_authorize() computed (known and unknown users alike;
 * none for a remembered check). Thread-safe. */
unsigned long webconfig_bcrypt_runs(struct webconfig *w);

#endif
