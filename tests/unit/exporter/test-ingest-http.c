/* test-ingest-http: the body of POST /api/v1/push (exporter/ingest_http.c
 * ingest_http_push_body) without a server: StatsD lines and JSON items into a store with the
 * built-in conventions, the reply's counts and statuses (200, 422, 400, 415), rejected items
 * echoed, and what the store then renders. The endpoint over HTTP is tested by
 * tests/integration/exporter/ingest_prometheus.sh; the body is fuzzed by tests/fuzz/fuzz_push.c. */
#include <jansson.h>
#include <string.h>

#include "expo.h"
#include "httpd.h"
#include "ingest_http.h"
#include "ingest_store.h"
#include "mapping.h"
#include "mset.h"
#include "parse.h"
#include "test.h"

struct push {
    unsigned status;
    json_t *reply; /* NULL when the body is not JSON */
};

static struct push push(struct ingest_store *s, const char *type, const char *body)
{
    struct httpd_response resp = {0};
    buf_init(&resp.body, 0);
    buf_init(&resp.headers, 16384);
    ingest_http_push_body(s, type, body, body ? strlen(body) : 0, &resp);
    struct push p = {.status = resp.status};
    json_error_t err;
    p.reply =
        resp.body.data ? json_loadb(resp.body.data, resp.body.len, JSON_ALLOW_NUL, &err) : NULL;
    buf_free(&resp.body);
    buf_free(&resp.headers);
    return p;
}

static long long count(const struct push *p, const char *key)
{
    return json_integer_value(json_object_get(p->reply, key));
}

static struct ingest_store *store_new(void)
{
    struct mapping *m = NULL;
    struct ingest_store *s = NULL;
    if (mapping_default(NAMING_PROMETHEUS, &m) < 0 || ingest_store_new(100, m, &s) < 0)
        return NULL;
    return s;
}

/* The store's exposition (caller frees). */
static char *render(struct ingest_store *s)
{
    struct mset *set = mset_new();
    struct buf out;
    buf_init(&out, 1 << 20);
    if (set && ingest_store_collect(s, set, now_usec()) == 0)
        expo_render(&out, EXPO_TEXT, &set, 1, NULL);
    mset_free(set);
    return out.data;
}

TEST(text_lines_are_accepted)
{
    struct ingest_store *s = store_new();
    CHECK(s);
    struct push p = push(s, "text/plain; charset=utf-8",
                         "shop.request.success:1|c\nshop.request.success:2|c\n");
    CHECK_INT(p.status, 200);
    CHECK_STR(json_string_value(json_object_get(p.reply, "status")), "success");
    CHECK_INT(count(&p, "accepted"), 2);
    CHECK_INT(count(&p, "rejected_count"), 0);
    json_decref(p.reply);
    char *text = render(s);
    CHECK_CONTAINS(text, "app_requests_total{result=\"success\",service=\"shop\"} 3");
    free(text);
    ingest_store_free(s);
}

TEST(no_content_type_is_statsd_text)
{
    struct ingest_store *s = store_new();
    struct push p = push(s, NULL, "shop.cache.users.size:1042|g");
    CHECK_INT(p.status, 200);
    CHECK_INT(count(&p, "accepted"), 1);
    json_decref(p.reply);
    ingest_store_free(s);
}

TEST(rejected_lines_are_numbered_and_echoed)
{
    struct ingest_store *s = store_new();
    struct push p = push(s, "text/plain", "a:1|c\nno separator\nusers:42|s\n");
    CHECK_INT(p.status, 422);
    CHECK_STR(json_string_value(json_object_get(p.reply, "status")), "partial");
    CHECK_INT(count(&p, "accepted"), 1);
    CHECK_INT(count(&p, "rejected_count"), 2);
    json_t *r = json_object_get(p.reply, "rejected");
    CHECK_INT(json_array_size(r), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(r, 0), "line")), 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(r, 0), "reason")), "malformed");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r, 0), "text")), "no separator");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r, 1), "reason")),
              "set_unsupported");
    json_decref(p.reply);
    ingest_store_free(s);
}

TEST(json_items_are_accepted_with_labels)
{
    struct ingest_store *s = store_new();
    struct push p = push(s, "application/json",
                         "[{\"name\":\"shop.request.duration\",\"type\":\"timer\",\"value\":12.5},"
                         "{\"name\":\"queue.depth\",\"type\":\"gauge\",\"value\":7,"
                         "\"labels\":{\"region\":\"eu, west\"}}]");
    CHECK_INT(p.status, 200);
    CHECK_INT(count(&p, "accepted"), 2);
    json_decref(p.reply);
    char *text = render(s);
    CHECK_CONTAINS(text, "app_request_duration_seconds_count{service=\"shop\"} 1");
    CHECK_CONTAINS(text, "queue_depth{region=\"eu, west\"} 7");
    free(text);
    ingest_store_free(s);
}

TEST(json_bad_items_are_rejected_whole)
{
    struct ingest_store *s = store_new();
    struct push p = push(s, "application/json",
                         "[{\"name\":\"a\",\"type\":\"counter\",\"value\":1},"
                         "{\"name\":\"a\",\"type\":\"set\",\"value\":1},"
                         "{\"name\":\"a\",\"type\":\"counter\",\"value\":-1},"
                         "{\"name\":\"a\",\"type\":\"counter\",\"value\":1,\"extra\":1}, 5]");
    CHECK_INT(p.status, 422);
    CHECK_INT(count(&p, "accepted"), 1);
    CHECK_INT(count(&p, "rejected_count"), 4);
    json_t *r = json_object_get(p.reply, "rejected");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r, 0), "reason")), "bad_type");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r, 1), "reason")), "bad_value");
    CHECK_STR(json_string_value(json_object_get(json_array_get(r, 2), "reason")), "malformed");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(r, 3), "line")), 5);
    json_decref(p.reply);
    ingest_store_free(s);
}

TEST(json_that_is_not_an_array_is_400)
{
    struct ingest_store *s = store_new();
    struct push p = push(s, "application/json", "{\"name\":\"a\"}");
    CHECK_INT(p.status, 400);
    CHECK_CONTAINS(json_string_value(json_object_get(p.reply, "error")), "expected a JSON array");
    json_decref(p.reply);
    p = push(s, "application/json", "[1,");
    CHECK_INT(p.status, 400);
    CHECK_CONTAINS(json_string_value(json_object_get(p.reply, "error")), "body:1:");
    json_decref(p.reply);
    p = push(s, "application/json", NULL);
    CHECK_INT(p.status, 400);
    json_decref(p.reply);
    ingest_store_free(s);
}

/* jansson's error quotes the bytes near the error, here a cut UTF-8 sequence: the 400
 * reply must stay JSON (found by tests/fuzz/fuzz_push.c). */
TEST(json_error_quoting_invalid_utf8_stays_json)
{
    struct ingest_store *s = store_new();
    struct push p = push(s, "application/json", "[{\"name\": \"a\", \"\\\xcf\x8b\x01\"}]");
    CHECK_INT(p.status, 400);
    CHECK(json_is_object(p.reply));
    /* "near '"\<0xcf>'": the lead byte of a two-byte sequence cut by the quote. */
    CHECK_CONTAINS(json_string_value(json_object_get(p.reply, "error")), "invalid escape");
    CHECK_CONTAINS(json_string_value(json_object_get(p.reply, "error")), "\xef\xbf\xbd");
    json_decref(p.reply);
    ingest_store_free(s);
}

TEST(other_content_types_are_415)
{
    struct ingest_store *s = store_new();
    struct push p = push(s, "application/x-www-form-urlencoded", "a:1|c");
    CHECK_INT(p.status, 415);
    CHECK(json_is_object(p.reply));
    json_decref(p.reply);
    CHECK_INT(ingest_store_series(s), 0);
    ingest_store_free(s);
}

TEST(a_nul_byte_is_echoed_as_valid_json)
{
    struct ingest_store *s = store_new();
    struct httpd_response resp = {0};
    buf_init(&resp.body, 0);
    buf_init(&resp.headers, 16384);
    static const char body[] = "a\0b:1|c";
    ingest_http_push_body(s, "text/plain", body, sizeof(body) - 1, &resp);
    CHECK_INT(resp.status, 422);
    CHECK_CONTAINS(resp.body.data, "\"text\":\"a\\u0000b:1|c\"");
    buf_free(&resp.body);
    buf_free(&resp.headers);
    ingest_store_free(s);
}

TEST_MAIN(TEST_ENTRY(text_lines_are_accepted), TEST_ENTRY(no_content_type_is_statsd_text),
          TEST_ENTRY(rejected_lines_are_numbered_and_echoed),
          TEST_ENTRY(json_items_are_accepted_with_labels),
          TEST_ENTRY(json_bad_items_are_rejected_whole),
          TEST_ENTRY(json_that_is_not_an_array_is_400),
          TEST_ENTRY(json_error_quoting_invalid_utf8_stays_json),
          TEST_ENTRY(other_content_types_are_415), TEST_ENTRY(a_nul_byte_is_echoed_as_valid_json))
