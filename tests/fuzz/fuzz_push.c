/* fuzz_push: the body of POST /api/v1/push (exporter/ingest_http.c ingest_http_push_body)
 * into a fresh ingest store. The first byte of the input picks
 * the Content-Type ('j' application/json, 't' text/plain, 'n' none, anything else a type the
 * endpoint refuses); the rest is the body. The reply must have a status the endpoint
 * documents and a body that is one JSON object whose counts agree with the status; the
 * store's series, collected and rendered as for a scrape, must stay a well-formed text
 * exposition. The store's mapping is a small one with a histogram, a state, a drop and
 * captured labels, and without the built-in conventions: loading those takes longer than
 * the rest of an input (fuzz_statsd maps every event through them; fuzz_exporter_http
 * pushes through them). */

static const char mapping_yaml[] = "defaults: {conventions: false, buckets: [0.01, 0.1, 1]}\n"
                                   "mappings:\n"
                                   "  - match: \"shop.request.duration\"\n"
                                   "    name: app_request_duration_seconds\n"
                                   "    type: histogram\n"
                                   "  - match: \"shop.request.*\"\n"
                                   "    name: app_requests_total\n"
                                   "    labels: {result: \"$1\"}\n"
                                   "  - match: \"shop.cache.*.size\"\n"
                                   "    name: app_cache_entries\n"
                                   "    type: gauge\n"
                                   "    labels: {cache: \"$1\"}\n"
                                   "  - match: \"shop.breaker.*.state\"\n"
                                   "    name: app_breaker_state\n"
                                   "    type: state\n"
                                   "    states: [closed, open, half_open]\n"
                                   "    labels: {breaker: \"$1\"}\n"
                                   "  - match: \"debug.*\"\n"
                                   "    action: drop\n";
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "expo.h"
#include "fuzz_common.h"
#include "httpd.h"
#include "ingest_http.h"
#include "ingest_store.h"
#include "mapping.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *ct;
    switch (data[0]) {
    case 'j': ct = "application/json"; break;
    case 't': ct = "text/plain; charset=utf-8"; break;
    case 'n': ct = NULL; break;
    default: ct = "application/x-www-form-urlencoded"; break;
    }
    struct mapping *m = NULL;
    struct ingest_store *store = NULL;
    struct buf errors;
    buf_init(&errors, 1 << 16);
    if (mapping_load_string(mapping_yaml, sizeof(mapping_yaml) - 1, "fuzz-mapping.yaml",
                            NAMING_PROMETHEUS, &m, &errors) < 0 ||
        ingest_store_new(200, m, &store) < 0)
        fuzz_fail("the mapping does not load: %s", errors.data ? errors.data : "out of memory");
    buf_free(&errors);
    /* The server hands the handler a NUL-terminated copy; the parser must not need it. */
    char *body = size > 1 ? malloc(size - 1) : NULL;
    if (size > 1 && !body)
        fuzz_fail("out of memory");
    if (body)
        memcpy(body, data + 1, size - 1);
    struct httpd_response resp = {0};
    buf_init(&resp.body, 0);
    buf_init(&resp.headers, 16384);
    ingest_http_push_body(store, ct, body, size - 1, &resp);
    if (resp.status != 200 && resp.status != 422 && resp.status != 400 && resp.status != 415)
        fuzz_fail("push answered status %u", resp.status);
    json_error_t err;
    /* "\u0000" is valid JSON (a rejected line is echoed as received). */
    json_t *reply =
        json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, JSON_ALLOW_NUL, &err);
    if (!json_is_object(reply))
        fuzz_fail("push reply is not a JSON object (%s): %.*s", err.text, (int)resp.body.len,
                  resp.body.data ? resp.body.data : "");
    if (resp.status == 200 || resp.status == 422) {
        json_t *accepted = json_object_get(reply, "accepted");
        json_t *rejected = json_object_get(reply, "rejected_count");
        if (!json_is_integer(accepted) || !json_is_integer(rejected) ||
            (resp.status == 200) != (json_integer_value(rejected) == 0))
            fuzz_fail("push reply counts do not match status %u", resp.status);
    }
    json_decref(reply);

    struct mset *set = mset_new();
    struct buf text;
    buf_init(&text, 64u << 20);
    if (!set || ingest_store_collect(store, set, now_usec()) < 0 ||
        expo_render(&text, EXPO_TEXT, &set, 1, NULL) < 0)
        fuzz_fail("collecting or rendering the store failed");
    fuzz_check_exposition(text.data ? text.data : "");
    buf_free(&text);
    mset_free(set);
    free(body);
    buf_free(&resp.body);
    buf_free(&resp.headers);
    ingest_store_free(store);
    return 0;
}
