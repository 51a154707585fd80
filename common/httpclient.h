/* httpclient: where and how to reach an HTTP API, as the Prometheus ecosystem's
 * http_config writes it (URL, timeout, bearer token file, basic auth, CA, extra headers).
 * The rules file's prometheus section is one (engine/), the Prometheus client takes one
 * (clients/promql): the type both sides share, so that neither includes the other. Strings
 * are owned by whoever fills it; a client copies them. */
#ifndef HOMEOSTAT_COMMON_HTTPCLIENT_H
#define HOMEOSTAT_COMMON_HTTPCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_client_config {
    char *url;                 /* http:// or https:// */
    uint64_t timeout_usec;     /* per request */
    char *bearer_token_file;   /* NULL */
    char *basic_auth_username; /* NULL */
    char *basic_auth_password_file;
    char *ca_file;
    bool insecure_skip_verify;
    char **headers; /* "Name: value" strings, NULL-terminated (X-Scope-OrgID) */
    size_t n_headers;
};

#endif
