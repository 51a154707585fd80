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

void ingest_http_push(struct ingest_store *store, const struct httpd_request *req,
                      struct httpd_response *resp);

#endif
