/* ha_etcd: leader election on etcd v3 through its JSON gateway (/v3/...), over libcurl: no
 * gRPC, no client library (docs/ARCHITECTURE.md, "High availability").
 *
 * The lease is an etcd lease of the lease duration's TTL; leading is owning the key
 * PREFIX LEASE/leader, created in a transaction that succeeds only when the key does not
 * exist (create_revision 0), attached to our lease, so etcd deletes it when the lease
 * expires. The leader keeps its lease alive every retry period and checks the key still
 * has the create revision it made (someone may have deleted it). The fence is a
 * transaction comparing that create revision: it writes the shared state (PREFIX
 * LEASE/state, not attached to the lease: it outlives leaders) only while the key is ours,
 * and as every etcd request it goes through Raft: a member without quorum cannot answer it.
 *
 * Endpoints are tried in turn from the last one that answered, each request for at most a
 * third of the renew deadline. A request that timed out
 * may have been applied; the campaign's transaction is safe to repeat (the retry finds the
 * key attached to our own lease and takes it as ours), the fence's too (same compare, same
 * put). */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "ha.h"
#include "log.h"
#include "parse.h"

#define ETCD_MAX_REPLY (4u << 20)

struct etcd {
    size_t current;       /* the endpoint tried first */
    long long lease_id;   /* 0: none */
    long long leader_rev; /* our leader key's create revision, 0: not leading */
    char leader_key[512]; /* PREFIX LEASE/leader */
    char state_key[512];  /* PREFIX LEASE/state */
    struct curl_slist *headers;
};

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    return buf_append(b, ptr, size * nmemb) < 0 ? 0 : size * nmemb;
}

/* POSTs body to one endpoint's path. 0 and *ret (the reply), or -errno with msg. transport:
 * the request did not reach an answering member (try another). */
static int post_one(struct ha *h, const char *endpoint, const char *path, const char *body,
                    json_t **ret, bool *transport, char *msg, size_t msg_size)
{
    const struct ha_config *cfg = ha_config_of(h);
    struct etcd *e = ha_backend_data(h);
    *ret = NULL;
    *transport = false;
    char url[1024];
    snprintf(url, sizeof(url), "%s%s", endpoint, path);
    CURL *c = curl_easy_init();
    if (!c)
        return -ENOMEM;
    struct buf reply;
    buf_init(&reply, ETCD_MAX_REPLY);
    char errbuf[CURL_ERROR_SIZE] = "";
    /* A request lasts at most a third of the renew deadline (at least 0.5 s): a member
     * that does not answer by then is as good as down, and the next one is tried while a
     * leader can still renew in time. */
    long timeout_ms = (long)(cfg->renew_deadline_usec / 3000);
    if (timeout_ms < 500)
        timeout_ms = 500;
    curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 1000 ? timeout_ms : 1000L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "homeostat-controller/" HOMEOSTAT_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    if (cfg->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->cert_file)
        curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->cert_file);
    if (cfg->key_file)
        curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->key_file);
    CURLcode cr = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    int r = 0;
    if (cr != CURLE_OK) {
        *transport = true;
        snprintf(msg, msg_size, "etcd %.300s: %.200s", url,
                 errbuf[0] ? errbuf : curl_easy_strerror(cr));
        r = cr == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
        goto out;
    }
    json_error_t je;
    json_t *j = reply.len ? json_loadb(reply.data, reply.len, 0, &je) : NULL;
    if (status != 200) {
        /* {"error": "etcdserver: ...", "code": 14, "message": "..."}: unavailable, no
         * leader, timed out: another member may do better */
        const char *m = json_string_value(json_object_get(j, "message"));
        if (!m)
            m = json_string_value(json_object_get(j, "error"));
        snprintf(msg, msg_size, "etcd %.300s: HTTP %ld: %.150s", url, status,
                 m ? m : (reply.len ? "(a reply that is not etcd's)" : "(empty)"));
        json_decref(j);
        *transport = status >= 500;
        r = -EIO;
        goto out;
    }
    if (!json_is_object(j)) {
        snprintf(msg, msg_size, "etcd %.300s: a reply that is not a JSON object (%zu bytes)", url,
                 reply.len);
        json_decref(j);
        r = -EPROTO;
        goto out;
    }
    *ret = j;
out:
    buf_free(&reply);
    return r;
}

/* The same over the endpoints, from the one that answered last. */
static int post(struct ha *h, const char *path, json_t *req, json_t **ret, char *msg,
                size_t msg_size)
{
    const struct ha_config *cfg = ha_config_of(h);
    struct etcd *e = ha_backend_data(h);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!body)
        return -ENOMEM;
    int r = -EIO;
    char all[1024] = "";
    size_t used = 0;
    for (size_t k = 0; k < cfg->n_endpoints; k++) {
        size_t i = (e->current + k) % cfg->n_endpoints;
        bool transport = false;
        char one[512] = "";
        r = post_one(h, cfg->endpoints[i], path, body, ret, &transport, one, sizeof(one));
        if (r == 0) {
            if (i != e->current)
                log_notice("ha: etcd: now talking to %s", cfg->endpoints[i]);
            e->current = i;
            ha_set_endpoint(h, cfg->endpoints[i]);
            break;
        }
        if (used < sizeof(all))
            used += (size_t)snprintf(all + used, sizeof(all) - used, "%s%s", used ? "; " : "", one);
        if (!transport)
            break; /* an answer: another member would give the same */
    }
    free(body);
    if (r < 0)
        snprintf(msg, msg_size, "%s", all);
    return r;
}

static int b64(const char *s, size_t n, char *out, size_t out_size)
{
    struct buf b;
    buf_init(&b, out_size);
    int r = base64_encode(s, n, &b);
    if (r == 0)
        snprintf(out, out_size, "%s", b.data);
    buf_free(&b);
    return r;
}

/* etcd's int64s are JSON strings ("123"); absent is 0. */
static long long int64_of(const json_t *v)
{
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    const char *s = json_string_value(v);
    return s ? strtoll(s, NULL, 10) : 0;
}

static int etcd_init(struct ha *h, char *msg, size_t msg_size)
{
    const struct ha_config *cfg = ha_config_of(h);
    if (!cfg->n_endpoints) {
        snprintf(msg, msg_size, "--ha.backend=etcd needs --ha.etcd.endpoints");
        return -EINVAL;
    }
    for (size_t i = 0; i < cfg->n_endpoints; i++)
        if (strncmp(cfg->endpoints[i], "http://", 7) != 0 &&
            strncmp(cfg->endpoints[i], "https://", 8) != 0) {
            snprintf(msg, msg_size, "--ha.etcd.endpoints: %s is not an http:// or https:// URL",
                     cfg->endpoints[i]);
            return -EINVAL;
        }
    struct etcd *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    const char *prefix = cfg->prefix ? cfg->prefix : "/homeostat/";
    snprintf(e->leader_key, sizeof(e->leader_key), "%s%s/leader", prefix, cfg->lease_name);
    snprintf(e->state_key, sizeof(e->state_key), "%s%s/state", prefix, cfg->lease_name);
    e->headers = curl_slist_append(NULL, "Content-Type: application/json");
    ha_set_backend_data(h, e);
    if (!e->headers)
        return -ENOMEM;
    return 0;
}

/* A new lease of the lease duration's TTL. */
static int grant(struct ha *h, char *msg, size_t msg_size)
{
    const struct ha_config *cfg = ha_config_of(h);
    struct etcd *e = ha_backend_data(h);
    json_t *rep;
    long long ttl = (long long)((cfg->lease_usec + 999999) / 1000000);
    int r =
        post(h, "/v3/lease/grant", json_pack("{sI}", "TTL", (json_int_t)ttl), &rep, msg, msg_size);
    if (r < 0)
        return r;
    e->lease_id = int64_of(json_object_get(rep, "ID"));
    const char *err = json_string_value(json_object_get(rep, "error"));
    json_decref(rep);
    if (!e->lease_id) {
        snprintf(msg, msg_size, "etcd: lease grant: %s", err ? err : "no lease ID in the reply");
        return -EPROTO;
    }
    return 0;
}

/* Keeps our lease alive: 0, -ENOENT when it has expired. */
static int keepalive(struct ha *h, char *msg, size_t msg_size)
{
    struct etcd *e = ha_backend_data(h);
    char id[32];
    snprintf(id, sizeof(id), "%lld", e->lease_id);
    json_t *rep;
    int r = post(h, "/v3/lease/keepalive", json_pack("{ss}", "ID", id), &rep, msg, msg_size);
    if (r < 0)
        return r;
    /* {"result": {"ID": ..., "TTL": "15"}}; no TTL: the lease expired */
    long long ttl = int64_of(json_object_get(json_object_get(rep, "result"), "TTL"));
    json_decref(rep);
    if (ttl <= 0) {
        snprintf(msg, msg_size, "etcd: our lease %lld has expired", e->lease_id);
        return -ENOENT;
    }
    return 0;
}

/* The leader key's holder and create revision from a range response's kvs. */
static void read_kv(const json_t *kvs, char *holder, size_t holder_size, long long *lease,
                    long long *create_rev)
{
    const json_t *kv = json_array_get(kvs, 0);
    *lease = int64_of(json_object_get(kv, "lease"));
    *create_rev = int64_of(json_object_get(kv, "create_revision"));
    const char *v = json_string_value(json_object_get(kv, "value"));
    holder[0] = '\0';
    if (v) {
        struct buf b;
        buf_init(&b, 1024);
        if (base64_decode(v, strlen(v), &b) == 0 && b.data)
            snprintf(holder, holder_size, "%s", b.data);
        buf_free(&b);
    }
}

static int etcd_campaign(struct ha *h, bool *leader, char *holder, size_t holder_size, char *msg,
                         size_t msg_size)
{
    const struct ha_config *cfg = ha_config_of(h);
    struct etcd *e = ha_backend_data(h);
    int r;
    if (!e->lease_id && (r = grant(h, msg, msg_size)) < 0)
        return r;
    char key[700], value[700], id[32];
    if (b64(e->leader_key, strlen(e->leader_key), key, sizeof(key)) < 0 ||
        b64(cfg->identity, strlen(cfg->identity), value, sizeof(value)) < 0)
        return -ENAMETOOLONG;
    snprintf(id, sizeof(id), "%lld", e->lease_id);
    json_t *req = json_pack("{s:[{s:s,s:s,s:s,s:s}],s:[{s:{s:s,s:s,s:s}}],s:[{s:{s:s}}]}",
                            "compare", "key", key, "target", "CREATE", "create_revision", "0",
                            "result", "EQUAL", "success", "requestPut", "key", key, "value", value,
                            "lease", id, "failure", "requestRange", "key", key);
    json_t *rep;
    if ((r = post(h, "/v3/kv/txn", req, &rep, msg, msg_size)) < 0)
        return r;
    if (json_is_true(json_object_get(rep, "succeeded"))) {
        e->leader_rev = int64_of(json_object_get(json_object_get(rep, "header"), "revision"));
        snprintf(holder, holder_size, "%s", cfg->identity);
        *leader = e->leader_rev > 0;
        json_decref(rep);
        return 0;
    }
    const json_t *range =
        json_object_get(json_array_get(json_object_get(rep, "responses"), 0), "response_range");
    long long lease = 0, create_rev = 0;
    read_kv(json_object_get(range, "kvs"), holder, holder_size, &lease, &create_rev);
    json_decref(rep);
    if (lease == e->lease_id && create_rev > 0) {
        /* ours: an earlier try that timed out was applied */
        e->leader_rev = create_rev;
        *leader = true;
        return 0;
    }
    return 0;
}

/* The fence's transaction: data written (NULL: nothing) only while the leader key is the
 * one we created. 0, -EPERM when it is not. */
static int fence_txn(struct ha *h, const void *data, size_t len, char *msg, size_t msg_size)
{
    struct etcd *e = ha_backend_data(h);
    if (!e->leader_rev)
        return snprintf(msg, msg_size, "not leading"), -EPERM;
    char key[700], rev[32];
    if (b64(e->leader_key, strlen(e->leader_key), key, sizeof(key)) < 0)
        return -ENAMETOOLONG;
    snprintf(rev, sizeof(rev), "%lld", e->leader_rev);
    json_t *success = json_array();
    if (data) {
        char skey[700];
        struct buf v;
        buf_init(&v, HA_STATE_MAX_BYTES * 2);
        if (b64(e->state_key, strlen(e->state_key), skey, sizeof(skey)) < 0 ||
            base64_encode(data, len, &v) < 0) {
            buf_free(&v);
            json_decref(success);
            return -E2BIG;
        }
        json_array_append_new(success, json_pack("{s:{s:s,s:s}}", "requestPut", "key", skey,
                                                 "value", v.data ? v.data : ""));
        buf_free(&v);
    }
    json_t *req =
        json_pack("{s:[{s:s,s:s,s:s,s:s}],s:o}", "compare", "key", key, "target", "CREATE",
                  "create_revision", rev, "result", "EQUAL", "success", success);
    json_t *rep;
    int r = post(h, "/v3/kv/txn", req, &rep, msg, msg_size);
    if (r < 0)
        return r;
    bool ok = json_is_true(json_object_get(rep, "succeeded"));
    json_decref(rep);
    if (!ok) {
        snprintf(msg, msg_size, "etcd: %s is no longer ours (created at revision %lld)",
                 e->leader_key, e->leader_rev);
        e->leader_rev = 0;
        return -EPERM;
    }
    return 0;
}

static int etcd_tick(struct ha *h, bool *leader, char *holder, size_t holder_size, char *msg,
                     size_t msg_size)
{
    const struct ha_config *cfg = ha_config_of(h);
    struct etcd *e = ha_backend_data(h);
    *leader = false;
    holder[0] = '\0';
    int r;
    if (e->lease_id) {
        r = keepalive(h, msg, msg_size);
        if (r == -ENOENT) {
            /* expired (we were paused or cut off): a new lease, and whoever leads now leads */
            e->lease_id = 0;
            e->leader_rev = 0;
        } else if (r < 0) {
            return r;
        }
    }
    if (e->leader_rev) {
        r = fence_txn(h, NULL, 0, msg, msg_size);
        if (r == 0) {
            *leader = true;
            snprintf(holder, holder_size, "%s", cfg->identity);
            return 0;
        }
        if (r != -EPERM)
            return r;
        /* lost (deleted, or expired and taken): not leading this round, whoever holds the
         * key now; a campaign next round, so that leading again is a new acquisition and
         * the state is taken over again (someone else may have acted meanwhile) */
        return 0;
    }
    return etcd_campaign(h, leader, holder, holder_size, msg, msg_size);
}

static int etcd_get(struct ha *h, struct buf *out, char *msg, size_t msg_size)
{
    struct etcd *e = ha_backend_data(h);
    char skey[700];
    if (b64(e->state_key, strlen(e->state_key), skey, sizeof(skey)) < 0)
        return -ENAMETOOLONG;
    json_t *rep;
    int r = post(h, "/v3/kv/range", json_pack("{ss}", "key", skey), &rep, msg, msg_size);
    if (r < 0)
        return r;
    const char *v =
        json_string_value(json_object_get(json_array_get(json_object_get(rep, "kvs"), 0), "value"));
    if (v && base64_decode(v, strlen(v), out) < 0) {
        snprintf(msg, msg_size, "etcd: %s: a value that is not base64", e->state_key);
        r = -EPROTO;
    }
    json_decref(rep);
    return r;
}

static int etcd_release(struct ha *h)
{
    struct etcd *e = ha_backend_data(h);
    if (!e || !e->lease_id)
        return 0;
    char id[32], msg[512];
    snprintf(id, sizeof(id), "%lld", e->lease_id);
    json_t *rep;
    /* revoking the lease deletes the leader key: the next leader does not wait */
    int r = post(h, "/v3/lease/revoke", json_pack("{ss}", "ID", id), &rep, msg, sizeof(msg));
    if (r == 0)
        json_decref(rep);
    else
        log_warning("ha: cannot give the lease up (it expires by itself): %s", msg);
    e->lease_id = 0;
    e->leader_rev = 0;
    return r;
}

static void etcd_free(struct ha *h)
{
    struct etcd *e = ha_backend_data(h);
    if (!e)
        return;
    curl_slist_free_all(e->headers);
    free(e);
    ha_set_backend_data(h, NULL);
}

const struct ha_backend_ops ha_etcd_ops = {
    .name = "etcd",
    .init = etcd_init,
    .tick = etcd_tick,
    .fence = fence_txn,
    .get = etcd_get,
    .release = etcd_release,
    .free = etcd_free,
};
