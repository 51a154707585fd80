/* ingest_http: POST /api/v1/push. A text/plain body holds StatsD lines; an
 * application/json body holds an array of {"name","type","value","labels"}. Both go
 * through the same mapping and store as datagrams. The reply is JSON: how many were
 * accepted and, for each rejected line or item (the first 100), its number, reason
 * and text. 200 when everything was accepted, 422 when anything was rejected (the
 * rest is kept), 400 for a body that is not a JSON array, 415 for another type. */
#ifndef HOMEOSTAT_EXPORTER_INGEST_HTTP_H
#define HOMEOSTAT_EXPORTER_INGEST_HTTP_H

#include "httpd.h"
#include "ingest_store.h"

/* The handler: answers 405 to anything but POST, else ingest_http_push_body with the
 * request's Content-Type and body. */
void ingest_http_push(struct ingest_store *store, const struct httpd_request *req,
                      struct httpd_response *resp);
/* The body of a push: content_type is the Content-Type header (NULL when absent: StatsD
 * lines), body holds body_len bytes (NULL for none). Fills resp as described above. Needs
 * no connection (tests and the fuzzer call it directly). */
void ingest_http_push_body(struct ingest_store *store, const char *content_type, const char *body,
                           size_t body_len, struct httpd_response *resp);

#endif
