/* ingest_http: the push endpoint (see ingest_http.h). */
#include "ingest_http.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "parse.h"
#include "statsd.h"

#define PUSH_MAX_REPORTED 100
#define PUSH_MAX_TEXT 120

struct push_ctx {
    struct ingest_store *store;
    uint64_t now;
    enum ingest_reason first_drop; /* of the events of the current line */
};

static void push_event(void *userdata, const struct statsd_event *ev)
{
    struct push_ctx *c = userdata;
    enum ingest_reason r = ingest_store_apply_locked(c->store, ev, c->now);
    if (r != INGEST_OK && c->first_drop == INGEST_OK)
        c->first_drop = r;
}

static void reject(json_t *rejected, size_t *n_rejected, size_t index, enum ingest_reason r,
                   const char *text, size_t text_len)
{
    (*n_rejected)++;
    if (json_array_size(rejected) >= PUSH_MAX_REPORTED)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "line", json_integer((json_int_t)index));
    json_object_set_new(o, "reason", json_string(ingest_reason_name(r)));
    if (text) {
        size_t n = text_len > PUSH_MAX_TEXT ? PUSH_MAX_TEXT : text_len;
        /* Never cut inside a UTF-8 character: jansson would refuse the whole reply. */
        while (n > 0 && n < text_len && ((unsigned char)text[n] & 0xc0) == 0x80)
            n--;
        json_t *t = json_stringn(text, n);
        json_object_set_new(o, "text", t ? t : json_string("(not UTF-8)"));
    }
    json_array_append_new(rejected, o);
}

static void push_text(struct push_ctx *c, const char *body, size_t len, json_t *rejected,
                      size_t *accepted, size_t *n_rejected)
{
    uint64_t counts[INGEST_REASON_MAX] = {0}, fields[STATSD_FIELD_MAX] = {0};
    const char *p = body, *end = body + len;
    size_t lineno = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lineno++;
        c->first_drop = INGEST_OK;
        enum ingest_reason r = statsd_parse_line(p, (size_t)(le - p), push_event, c, fields);
        if (r != INGEST_EMPTY)
            counts[r]++;
        if (r == INGEST_OK && c->first_drop != INGEST_OK)
            r = c->first_drop;
        if (r == INGEST_OK || r == INGEST_EVENT || r == INGEST_SERVICE_CHECK)
            (*accepted)++; /* events and service checks are valid, counted as such */
        else if (r != INGEST_EMPTY)
            reject(rejected, n_rejected, lineno, r, p, (size_t)(le - p));
        p = nl ? nl + 1 : end;
    }
    ingest_store_count_lines_locked(c->store, INGEST_PROTO_HTTP_TEXT, counts);
    ingest_store_count_fields_locked(c->store, fields);
}

static int json_type_of(const char *t, enum statsd_type *ret)
{
    static const struct {
        const char *name;
        enum statsd_type type;
    } types[] = {
        {"counter", STATSD_COUNTER},
        {"c", STATSD_COUNTER},
        {"gauge", STATSD_GAUGE},
        {"g", STATSD_GAUGE},
        {"timer", STATSD_TIMER},
        {"ms", STATSD_TIMER},
        {"histogram", STATSD_HISTOGRAM},
        {"h", STATSD_HISTOGRAM},
        {"distribution", STATSD_DISTRIBUTION},
        {"d", STATSD_DISTRIBUTION},
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(t, types[i].name) == 0) {
            *ret = types[i].type;
            return 0;
        }
    return -1;
}

/* One JSON item into an event; labels joined as "k:v" with '\x1f' between them. */
static enum ingest_reason push_json_item(struct push_ctx *c, json_t *item, bool *ret_store)
{
    *ret_store = false;
    if (!json_is_object(item))
        return INGEST_MALFORMED;
    const char *key;
    json_t *v;
    json_object_foreach(item, key, v)
    {
        if (strcmp(key, "name") && strcmp(key, "type") && strcmp(key, "value") &&
            strcmp(key, "labels") && strcmp(key, "sample_rate"))
            return INGEST_MALFORMED;
    }
    json_t *name = json_object_get(item, "name"), *type = json_object_get(item, "type");
    json_t *value = json_object_get(item, "value"), *labels = json_object_get(item, "labels");
    json_t *rate = json_object_get(item, "sample_rate");
    if (!json_is_string(name) || json_string_length(name) == 0)
        return INGEST_MALFORMED;
    if (json_string_length(name) > INGEST_MAX_NAME)
        return INGEST_BAD_NAME;
    const char *ns = json_string_value(name);
    for (size_t i = 0; i < json_string_length(name); i++)
        if ((unsigned char)ns[i] <= ' ' || ns[i] == ':' || ns[i] == '|' || ns[i] == '#')
            return INGEST_BAD_NAME;
    struct statsd_event ev = {
        .name = ns, .name_len = json_string_length(name), .sample_rate = 1, .tag_sep = '\x1f'};
    if (!json_is_string(type) || json_type_of(json_string_value(type), &ev.type) < 0)
        return INGEST_BAD_TYPE;
    if (!json_is_number(value))
        return INGEST_BAD_VALUE;
    ev.value = json_number_value(value);
    if ((ev.type == STATSD_COUNTER || ev.type == STATSD_TIMER) && ev.value < 0)
        return INGEST_BAD_VALUE;
    if (rate) {
        if (!json_is_number(rate) || !(json_number_value(rate) >= 1e-6) ||
            json_number_value(rate) > 1)
            return INGEST_BAD_RATE;
        ev.sample_rate = json_number_value(rate);
    }
    char tags[INGEST_MAX_LINE];
    size_t tl = 0;
    if (labels) {
        if (!json_is_object(labels))
            return INGEST_BAD_TAGS;
        json_object_foreach(labels, key, v)
        {
            if (!json_is_string(v) || !*key)
                return INGEST_BAD_TAGS;
            const char *vs = json_string_value(v);
            size_t kl = strlen(key), vl = json_string_length(v);
            if (memchr(key, ':', kl) || memchr(vs, '\x1f', vl) || memchr(key, '\x1f', kl))
                return INGEST_BAD_TAGS;
            if (tl + kl + vl + 2 >= sizeof(tags))
                return INGEST_TOO_LONG;
            if (tl)
                tags[tl++] = '\x1f';
            memcpy(tags + tl, key, kl);
            tl += kl;
            tags[tl++] = ':';
            memcpy(tags + tl, vs, vl);
            tl += vl;
        }
    }
    ev.tags = tl ? tags : NULL;
    ev.tags_len = tl;
    *ret_store = true; /* from here on, drops are the store's and it counts them */
    return ingest_store_apply_locked(c->store, &ev, c->now);
}

void ingest_http_push(struct ingest_store *store, const struct httpd_request *req,
                      struct httpd_response *resp)
{
    if (strcmp(req->method, "POST") != 0) {
        httpd_response_header(resp, "Allow", "POST");
        httpd_reply_error(resp, 405, "use POST");
        return;
    }
    ingest_http_push_body(store, httpd_header(req, "Content-Type"), req->body, req->body_len, resp);
}

void ingest_http_push_body(struct ingest_store *store, const char *ct, const char *body,
                           size_t body_len, struct httpd_response *resp)
{
    bool json = ct && strncasecmp(ct, "application/json", 16) == 0;
    if (ct && !json && strncasecmp(ct, "text/plain", 10) != 0) {
        httpd_reply_error(resp, 415,
                          "Content-Type must be text/plain (StatsD lines) or "
                          "application/json");
        return;
    }
    json_t *items = NULL;
    if (json) {
        json_error_t err;
        items = json_loadb(body ? body : "", body_len, JSON_REJECT_DUPLICATES, &err);
        if (!items || !json_is_array(items)) {
            char msg[300];
            if (items)
                snprintf(msg, sizeof(msg), "body: expected a JSON array of metrics");
            else
                snprintf(msg, sizeof(msg), "body:%d:%d: %s", err.line, err.column, err.text);
            json_decref(items);
            httpd_reply_error(resp, 400, msg);
            return;
        }
    }
    json_t *rejected = json_array();
    size_t accepted = 0, n_rejected = 0;
    struct push_ctx c = {.store = store, .now = now_usec()};
    ingest_store_lock(store);
    if (json) {
        uint64_t counts[INGEST_REASON_MAX] = {0};
        size_t i;
        json_t *item;
        json_array_foreach(items, i, item)
        {
            bool store_level = false;
            enum ingest_reason r = push_json_item(&c, item, &store_level);
            /* Like a text line: an item the store took or dropped is an accepted line
             * (the store counts its drops); the others are rejected lines. */
            counts[store_level ? INGEST_OK : r]++;
            if (r == INGEST_OK) {
                accepted++;
            } else {
                char *text = json_dumps(item, JSON_COMPACT);
                reject(rejected, &n_rejected, i + 1, r, text, text ? strlen(text) : 0);
                free(text);
            }
        }
        ingest_store_count_lines_locked(store, INGEST_PROTO_HTTP_JSON, counts);
        ingest_store_count_packets_locked(store, INGEST_PROTO_HTTP_JSON, 1, 0, 0);
    } else {
        push_text(&c, body ? body : "", body_len, rejected, &accepted, &n_rejected);
        ingest_store_count_packets_locked(store, INGEST_PROTO_HTTP_TEXT, 1, 0, 0);
    }
    ingest_store_unlock(store);
    json_decref(items);

    json_t *reply = json_object();
    json_object_set_new(reply, "status", json_string(n_rejected ? "partial" : "success"));
    json_object_set_new(reply, "accepted", json_integer((json_int_t)accepted));
    json_object_set_new(reply, "rejected_count", json_integer((json_int_t)n_rejected));
    json_object_set_new(reply, "rejected", rejected);
    char *text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    resp->status = n_rejected ? 422 : 200;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    if (text) {
        buf_puts(&resp->body, text);
        buf_putc(&resp->body, '\n');
    }
    free(text);
}
