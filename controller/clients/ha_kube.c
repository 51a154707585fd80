/* ha_kube: the Kubernetes backend of ha (ha_kubernetes_ops). The lease is a
 * coordination.k8s.io/v1 Lease taken and renewed as client-go's leaderelection does: a
 * holder's record counts as expired when it has not changed for its leaseDurationSeconds
 * by our own clock (from when we saw it change, never by its renewTime: clocks differ), and
 * every write carries the resourceVersion read, so of two replicas writing at once the API
 * server takes one and answers the other 409 Conflict. The shared state is a ConfigMap
 * LEASE-state (binaryData.state: the gzipped bytes ha gives, base64) written with its own
 * resourceVersion right after the Lease was renewed with the Lease's. Over libcurl's easy
 * interface, no client library; configured by an API URL and token file, a kubeconfig, or
 * the pod's service account. The object limit: a ConfigMap holds at most 1 MiB (its
 * binaryData counted decoded; the API server stores objects in etcd, whose requests stop at
 * 1.5 MiB, and takes request bodies of up to 3 MiB, so the base64 in the JSON is no
 * problem); ha refuses states over HA_STATE_MAX_BYTES (900 KiB gzipped) before the fence,
 * so what reaches cm_write always fits. */
#include "ha.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base64.h"
#include "buf.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"
#include "yamltree.h"

#ifndef HOMEOSTAT_VERSION
#define HOMEOSTAT_VERSION "dev"
#endif

/* A Lease or a ConfigMap of at most 1 MiB (etcd's object limit), as base64 and JSON. */
#define KUBE_MAX_REPLY_BYTES (4u << 20)
#define KUBE_MAX_TOKEN_BYTES (64u << 10)
#define KUBE_MAX_PEM_BYTES (1u << 20)
/* Projected service account tokens rotate: the file is read again when it changed, and at
 * least this often (as client-go caches it for a minute). */
#define KUBE_TOKEN_REREAD_USEC (60ull * 1000000ull)
#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_STATE_SUFFIX "-state"
#define KUBE_DEFAULT_LEASE "homeostat-controller"
#define KUBE_DETAIL_BYTES 300

struct kube {
    char *api; /* the API server's URL, no trailing slash */
    char *ns;  /* the namespace of the Lease and the ConfigMap */
    char *lease_url, *leases_url, *cm_url, *cms_url;
    char *cm_name;
    char *token_file; /* NULL: the token below is fixed (a kubeconfig's) or there is none */
    char *token;
    struct stat token_stat;
    uint64_t token_read_usec;
    char *ca_file, *cert_file, *key_file;
    struct buf ca_data, cert_data, key_data; /* a kubeconfig's *-data fields, decoded */
    bool insecure;
    long timeout_ms;
    CURL *easy;
    struct buf reply;
    bool too_large;
    char errbuf[CURL_ERROR_SIZE];
    /* the election, as client-go's LeaderElector keeps it */
    json_t *lease;          /* the Lease as last read or written by us */
    char *observed;         /* its record (holder, times, duration, transitions) */
    uint64_t observed_usec; /* when that record last changed, by our monotonic clock */
    bool leader;            /* our write was the last one we know of */
    char *cm_rv;            /* the ConfigMap's last known resourceVersion (NULL: unknown) */
    bool cm_missing;        /* the last read of the ConfigMap answered 404 */
};

/* ---- small helpers ---------------------------------------------------------------------- */

static int fail(char *msg, size_t msg_size, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *msg, size_t msg_size, int r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (msg && msg_size)
        vsnprintf(msg, msg_size, fmt, ap);
    va_end(ap);
    return r;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    struct buf b;
    buf_init(&b, 0);
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (r < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

/* A DNS-1123 subdomain (a Lease's or ConfigMap's name: lower case letters, digits, '-'
 * and '.', alphanumeric at both ends), at most max characters. A namespace is a label (no
 * dots, 63). Also keeps these names safe inside a URL path. */
static bool dns_name(const char *s, size_t max, bool dots)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-' && !(dots && c == '.'))
            return false;
        if ((i == 0 || i == n - 1) && !alnum)
            return false;
    }
    return true;
}

/* Now as a Kubernetes MicroTime: RFC 3339 in UTC with microseconds. */
static void micro_time(char *out, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char day[32];
    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%.20s.%06ldZ", day, (long)(ts.tv_nsec / 1000) % 1000000);
}

/* text[0..n) for a message: one line, control characters as spaces, cut at
 * KUBE_DETAIL_BYTES. */
static void detail_of(const char *text, size_t n, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < size && i < KUBE_DETAIL_BYTES; i++) {
        unsigned char c = (unsigned char)text[i];
        out[o++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    if (n > KUBE_DETAIL_BYTES && o + 4 < size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* "HTTP 409 Conflict: <Status.message>" of a reply that is not a success. */
static void status_text(long status, const json_t *reply, const struct buf *raw, char *out,
                        size_t size)
{
    const char *reason = json_string_value(json_object_get(reply, "reason"));
    const char *message = json_string_value(json_object_get(reply, "message"));
    char detail[KUBE_DETAIL_BYTES + 8];
    if (message)
        detail_of(message, strlen(message), detail, sizeof(detail));
    else
        detail_of(raw->data ? raw->data : "", raw->len, detail, sizeof(detail));
    char why[80] = "";
    if (reason)
        detail_of(reason, strlen(reason), why, sizeof(why));
    snprintf(out, size, "HTTP %ld%s%s%s%s", status, why[0] ? " " : "", why, detail[0] ? ": " : "",
             detail);
}

/* ---- HTTP --------------------------------------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct kube *k = userdata;
    size_t n = size * nmemb;
    if (buf_append(&k->reply, ptr, n) < 0) {
        k->too_large = true;
        return 0;
    }
    return n;
}

/* A one-line credential: trailing whitespace trimmed, no control characters inside (it
 * goes into a header), not empty. Takes ownership of data. */
static int credential_check(const char *what, const char *where, char *data, size_t len, char **ret,
                            char *msg, size_t msg_size)
{
    while (len > 0 && isspace((unsigned char)data[len - 1]))
        data[--len] = '\0';
    int r = 0;
    if (len == 0)
        r = fail(msg, msg_size, -EINVAL, "%s: the %s is empty", where, what);
    for (size_t i = 0; r == 0 && i < len; i++)
        if ((unsigned char)data[i] < 0x20 || data[i] == 0x7f)
            r = fail(msg, msg_size, -EINVAL, "%s: the %s contains a control character", where,
                     what);
    if (r < 0) {
        explicit_bzero(data, len);
        free(data);
        return r;
    }
    *ret = data;
    return 0;
}

/* Reads the token file again when it changed (a rotated projected token is a new file
 * swapped in under the same name) or was read over a minute ago. */
static int token_refresh(struct kube *k, char *msg, size_t msg_size)
{
    if (!k->token_file)
        return 0;
    struct stat st;
    if (stat(k->token_file, &st) < 0)
        return fail(msg, msg_size, -errno, "%s: cannot read the bearer token: %s", k->token_file,
                    strerror(errno));
    uint64_t now = now_usec();
    if (k->token && st.st_ino == k->token_stat.st_ino && st.st_dev == k->token_stat.st_dev &&
        st.st_size == k->token_stat.st_size && st.st_mtim.tv_sec == k->token_stat.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == k->token_stat.st_mtim.tv_nsec &&
        now - k->token_read_usec < KUBE_TOKEN_REREAD_USEC)
        return 0;
    char *data = NULL, *token = NULL;
    size_t len = 0;
    int r = file_read_alloc(k->token_file, KUBE_MAX_TOKEN_BYTES, &data, &len);
    if (r < 0)
        return fail(msg, msg_size, r, "%s: cannot read the bearer token: %s", k->token_file,
                    r == -EFBIG ? "file too large" : strerror(-r));
    r = credential_check("bearer token", k->token_file, data, len, &token, msg, msg_size);
    if (r < 0)
        return r;
    if (k->token) {
        explicit_bzero(k->token, strlen(k->token));
        free(k->token);
    }
    k->token = token;
    k->token_stat = st;
    k->token_read_usec = now;
    return 0;
}

static bool setopt_ok(CURLcode c)
{
    return c == CURLE_OK;
}

/* Sets a PEM blob (a kubeconfig's *-data) or file. A blob the TLS backend cannot take is
 * an error naming what to do instead. */
static int set_pem(struct kube *k, CURLoption file_opt, CURLoption blob_opt, const char *file,
                   const struct buf *data, const char *what, char *msg, size_t msg_size)
{
    if (data->len > 0) {
        struct curl_blob blob = {data->data, data->len, CURL_BLOB_COPY};
        CURLcode c = curl_easy_setopt(k->easy, blob_opt, &blob);
        if (c != CURLE_OK)
            return fail(msg, msg_size, -EOPNOTSUPP,
                        "this libcurl cannot take %s as data (%s): give it as a file", what,
                        curl_easy_strerror(c));
    } else if (file && !setopt_ok(curl_easy_setopt(k->easy, file_opt, file))) {
        return fail(msg, msg_size, -EINVAL, "%s: cannot use it as the %s", file, what);
    }
    return 0;
}

/* One request: method on url with an optional JSON body. 0 when the server answered with a
 * JSON object (*ret_json, a new reference; any status in *ret_status), or -errno with a
 * message naming the URL and what went wrong. */
static int kube_http(struct kube *k, const char *method, const char *url, const char *body,
                     long *ret_status, json_t **ret_json, char *msg, size_t msg_size)
{
    int r = token_refresh(k, msg, msg_size);
    if (r < 0)
        return r;
    CURL *e = k->easy;
    curl_easy_reset(e); /* keeps the connection and TLS sessions */
    buf_reset(&k->reply);
    k->too_large = false;
    k->errbuf[0] = '\0';

    struct curl_slist *headers = NULL, *n;
    struct buf auth;
    buf_init(&auth, KUBE_MAX_TOKEN_BYTES + 64);
    bool ok = (n = curl_slist_append(headers, "Accept: application/json")) && (headers = n);
    /* no Expect: 100-continue, one round trip per request */
    ok = ok && (n = curl_slist_append(headers, "Expect:")) && (headers = n);
    if (body)
        ok = ok && (n = curl_slist_append(headers, "Content-Type: application/json")) &&
             (headers = n);
    if (k->token)
        ok = ok && buf_printf(&auth, "Authorization: Bearer %s", k->token) == 0 &&
             (n = curl_slist_append(headers, auth.data)) && (headers = n);
    if (auth.data)
        explicit_bzero(auth.data, auth.len);
    buf_free(&auth);

    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_URL, url));
#if LIBCURL_VERSION_NUM >= 0x075500
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"));
#else
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_PROTOCOLS,
                                          (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)));
#endif
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L));
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L));
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, k->timeout_ms));
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, k->timeout_ms));
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers));
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_USERAGENT,
                                          "homeostat-controller/" HOMEOSTAT_VERSION " (ha)"));
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                                          (curl_off_t)KUBE_MAX_REPLY_BYTES));
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb));
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_WRITEDATA, k));
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, k->errbuf));
    if (body) {
        ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_POSTFIELDS, body));
        ok = ok &&
             setopt_ok(curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)));
    }
    ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method));
    if (k->insecure) {
        ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L));
        ok = ok && setopt_ok(curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L));
    }
    if (!ok) {
        curl_slist_free_all(headers);
        return fail(msg, msg_size, -ENOMEM, "%s %s: cannot set up the request", method, url);
    }
    r = set_pem(k, CURLOPT_CAINFO, CURLOPT_CAINFO_BLOB, k->ca_file, &k->ca_data,
                "certificate authority", msg, msg_size);
    if (r == 0)
        r = set_pem(k, CURLOPT_SSLCERT, CURLOPT_SSLCERT_BLOB, k->cert_file, &k->cert_data,
                    "client certificate", msg, msg_size);
    if (r == 0)
        r = set_pem(k, CURLOPT_SSLKEY, CURLOPT_SSLKEY_BLOB, k->key_file, &k->key_data, "client key",
                    msg, msg_size);
    if (r < 0) {
        curl_slist_free_all(headers);
        return r;
    }

    CURLcode c = curl_easy_perform(e);
    curl_slist_free_all(headers);
    /* The token is in curl's copy of the headers no longer: reset drops the option. */
    if (c != CURLE_OK) {
        if (k->too_large || c == CURLE_FILESIZE_EXCEEDED)
            return fail(msg, msg_size, -EFBIG, "%s %s: reply larger than %u bytes", method, url,
                        KUBE_MAX_REPLY_BYTES);
        r = c == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT
            : c == CURLE_COULDNT_CONNECT  ? -ECONNREFUSED
                                          : -EIO;
        return fail(msg, msg_size, r, "%s %s: %s", method, url,
                    k->errbuf[0] ? k->errbuf : curl_easy_strerror(c));
    }
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    json_error_t jerr;
    json_t *root = json_loadb(k->reply.data ? k->reply.data : "", k->reply.len, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        char detail[KUBE_DETAIL_BYTES + 8];
        detail_of(k->reply.data ? k->reply.data : "", k->reply.len, detail, sizeof(detail));
        return fail(msg, msg_size, -EBADMSG, "%s %s: HTTP %ld: the reply is not a JSON object%s%s",
                    method, url, status, detail[0] ? ": " : "", detail);
    }
    *ret_status = status;
    *ret_json = root;
    return 0;
}

/* The message of a reply with an unexpected status; returns r. */
static int http_fail(struct kube *k, const char *method, const char *url, long status,
                     const json_t *reply, int r, char *msg, size_t msg_size)
{
    char text[KUBE_DETAIL_BYTES + 100];
    status_text(status, reply, &k->reply, text, sizeof(text));
    return fail(msg, msg_size, r, "%s %s: %s", method, url, text);
}

static int errno_of_status(long status)
{
    switch (status) {
    case 401:
    case 403: return -EACCES;
    case 404: return -ENOENT;
    case 409: return -EPERM;
    case 429:
    case 503: return -EAGAIN;
    default: return -EIO;
    }
}

/* ---- the Lease ---------------------------------------------------------------------------- */

struct lease_record {
    const char *holder, *renew, *acquire, *rv;
    long long duration, transitions;
};

/* Reads the record of a Lease object; -EBADMSG when it is not one. */
static int lease_record_of(const json_t *lease, struct lease_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    rec->holder = rec->renew = rec->acquire = "";
    json_t *md = json_object_get(lease, "metadata");
    rec->rv = json_string_value(json_object_get(md, "resourceVersion"));
    if (!rec->rv || !rec->rv[0])
        return -EBADMSG;
    json_t *spec = json_object_get(lease, "spec");
    if (!spec)
        return 0;
    if (!json_is_object(spec))
        return -EBADMSG;
    const json_t *v;
    if ((v = json_object_get(spec, "holderIdentity")) && !json_is_null(v)) {
        if (!json_is_string(v))
            return -EBADMSG;
        rec->holder = json_string_value(v);
    }
    if ((v = json_object_get(spec, "renewTime")) && !json_is_null(v)) {
        if (!json_is_string(v))
            return -EBADMSG;
        rec->renew = json_string_value(v);
    }
    if ((v = json_object_get(spec, "acquireTime")) && !json_is_null(v)) {
        if (!json_is_string(v))
            return -EBADMSG;
        rec->acquire = json_string_value(v);
    }
    if ((v = json_object_get(spec, "leaseDurationSeconds")) && !json_is_null(v)) {
        if (!json_is_integer(v))
            return -EBADMSG;
        rec->duration = json_integer_value(v);
    }
    if ((v = json_object_get(spec, "leaseTransitions")) && !json_is_null(v)) {
        if (!json_is_integer(v))
            return -EBADMSG;
        rec->transitions = json_integer_value(v);
    }
    return 0;
}

/* Notes the record read or written: when it differs from the one observed, it changed now. */
static void observe(struct kube *k, const struct lease_record *rec)
{
    char *s = xasprintf("%s\n%s\n%s\n%lld\n%lld", rec->holder, rec->renew, rec->acquire,
                        rec->duration, rec->transitions);
    if (!s)
        return; /* keeps the old one: it only waits longer */
    if (k->observed && strcmp(k->observed, s) == 0) {
        free(s);
        return;
    }
    free(k->observed);
    k->observed = s;
    k->observed_usec = now_usec();
}

static long long lease_seconds(const struct ha_config *cfg)
{
    long long s = (long long)((cfg->lease_usec + 999999) / 1000000);
    return s < 1 ? 1 : s;
}

/* The body of a write of our record over the Lease object base (its metadata, with the
 * resourceVersion read, kept): NULL on ENOMEM. release: the record that lets anyone take
 * over at once (client-go's ReleaseOnCancel). */
static char *lease_body(struct kube *k, const struct ha_config *cfg, const json_t *base,
                        const struct lease_record *old, bool release)
{
    char now[48];
    micro_time(now, sizeof(now));
    json_t *obj = base ? json_deep_copy(base) : json_object();
    if (!obj)
        return NULL;
    json_t *md = json_object_get(obj, "metadata");
    if (!json_is_object(md)) {
        md = json_object();
        json_object_set_new(obj, "metadata", md);
    }
    json_object_set_new(obj, "apiVersion", json_string("coordination.k8s.io/v1"));
    json_object_set_new(obj, "kind", json_string("Lease"));
    json_object_set_new(md, "name",
                        json_string(cfg->lease_name ? cfg->lease_name : KUBE_DEFAULT_LEASE));
    json_object_set_new(md, "namespace", json_string(k->ns));
    json_object_del(md, "managedFields");
    bool ours = old && strcmp(old->holder, cfg->identity) == 0;
    json_t *spec = json_object();
    if (release) {
        json_object_set_new(spec, "holderIdentity", json_string(""));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(1));
        json_object_set_new(spec, "acquireTime", json_string(now));
    } else {
        json_object_set_new(spec, "holderIdentity", json_string(cfg->identity));
        json_object_set_new(spec, "leaseDurationSeconds", json_integer(lease_seconds(cfg)));
        json_object_set_new(spec, "acquireTime",
                            json_string(ours && old->acquire[0] ? old->acquire : now));
    }
    json_object_set_new(spec, "renewTime", json_string(now));
    long long transitions = old ? old->transitions : 0;
    if (!release && old && !ours)
        transitions++;
    json_object_set_new(spec, "leaseTransitions", json_integer(transitions));
    json_object_set_new(obj, "spec", spec);
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return s;
}

/* Takes reply (a Lease we wrote) as the one we hold. */
static int keep_written(struct kube *k, json_t *reply, const char *method, const char *url,
                        char *msg, size_t msg_size)
{
    struct lease_record rec;
    if (lease_record_of(reply, &rec) < 0) {
        json_decref(reply);
        return fail(msg, msg_size, -EBADMSG, "%s %s: the reply is not a Lease", method, url);
    }
    json_decref(k->lease);
    k->lease = reply;
    observe(k, &rec);
    return 0;
}

/* The leader's renewal: a PUT of the Lease with the resourceVersion it wrote last. -EPERM
 * when it is no longer ours (409: someone else wrote it; 404: deleted). */
static int lease_renew(struct kube *k, const struct ha_config *cfg, char *msg, size_t msg_size)
{
    if (!k->lease)
        return fail(msg, msg_size, -EPERM, "%s: the lease is not held", k->lease_url);
    struct lease_record old;
    if (lease_record_of(k->lease, &old) < 0)
        return fail(msg, msg_size, -EPERM, "%s: the lease is not held", k->lease_url);
    char *body = lease_body(k, cfg, k->lease, &old, false);
    if (!body)
        return fail(msg, msg_size, -ENOMEM, "PUT %s: out of memory", k->lease_url);
    long status;
    json_t *reply;
    int r = kube_http(k, "PUT", k->lease_url, body, &status, &reply, msg, msg_size);
    free(body);
    if (r < 0)
        return r;
    if (status == 200)
        return keep_written(k, reply, "PUT", k->lease_url, msg, msg_size);
    if (status == 409 || status == 404) {
        k->leader = false;
        r = http_fail(k, "PUT", k->lease_url, status, reply, -EPERM, msg, msg_size);
        size_t l = strlen(msg);
        if (msg_size > l)
            snprintf(msg + l, msg_size - l, " (the lease is no longer ours)");
    } else {
        r = http_fail(k, "PUT", k->lease_url, status, reply, errno_of_status(status), msg,
                      msg_size);
        if (r == -EPERM)
            r = -EIO;
    }
    json_decref(reply);
    return r;
}

static void set_holder(char *holder, size_t holder_size, const char *s)
{
    if (holder && holder_size)
        snprintf(holder, holder_size, "%s", s);
}

static int kube_tick(struct ha *h, bool *leader, char *holder, size_t holder_size, char *msg,
                     size_t msg_size)
{
    struct kube *k = ha_backend_data(h);
    const struct ha_config *cfg = ha_config_of(h);
    /* The leader's fast path: renew what it wrote last, without reading first (client-go
     * does the same). After a conflict, read and decide as anyone would; after another
     * failure (the server down or slow) reading would fail as well: said at once. */
    if (k->leader) {
        int r = lease_renew(k, cfg, msg, msg_size);
        if (r == 0) {
            *leader = true;
            set_holder(holder, holder_size, cfg->identity);
            return 0;
        }
        if (r != -EPERM)
            return r;
    }
    long status;
    json_t *reply;
    int r = kube_http(k, "GET", k->lease_url, NULL, &status, &reply, msg, msg_size);
    if (r < 0)
        return r;
    if (status == 404) {
        json_decref(reply);
        char *body = lease_body(k, cfg, NULL, NULL, false);
        if (!body)
            return fail(msg, msg_size, -ENOMEM, "POST %s: out of memory", k->leases_url);
        r = kube_http(k, "POST", k->leases_url, body, &status, &reply, msg, msg_size);
        free(body);
        if (r < 0)
            return r;
        if (status == 201 || status == 200) {
            r = keep_written(k, reply, "POST", k->leases_url, msg, msg_size);
            if (r < 0)
                return r;
            k->leader = true;
            *leader = true;
            set_holder(holder, holder_size, cfg->identity);
            return 0;
        }
        if (status == 409) { /* AlreadyExists: another replica created it first */
            json_decref(reply);
            k->leader = false;
            *leader = false;
            set_holder(holder, holder_size, "");
            return 0;
        }
        r = http_fail(k, "POST", k->leases_url, status, reply, errno_of_status(status), msg,
                      msg_size);
        json_decref(reply);
        return r == -EPERM ? -EIO : r;
    }
    if (status != 200) {
        r = http_fail(k, "GET", k->lease_url, status, reply, errno_of_status(status), msg,
                      msg_size);
        json_decref(reply);
        return r == -EPERM ? -EIO : r;
    }
    struct lease_record old;
    if (lease_record_of(reply, &old) < 0) {
        json_decref(reply);
        return fail(msg, msg_size, -EBADMSG, "GET %s: HTTP 200: the reply is not a Lease",
                    k->lease_url);
    }
    observe(k, &old);
    json_decref(k->lease);
    k->lease = reply; /* old points into it */
    uint64_t duration_usec = old.duration > 0 && old.duration < 86400 * 365
                                 ? (uint64_t)old.duration * 1000000
                                 : cfg->lease_usec;
    if (old.holder[0] && strcmp(old.holder, cfg->identity) != 0 &&
        now_usec() < k->observed_usec + duration_usec) {
        k->leader = false;
        *leader = false;
        set_holder(holder, holder_size, old.holder);
        return 0;
    }
    /* Free, expired, or ours (a restart with the same identity): take or renew it. */
    char *body = lease_body(k, cfg, reply, &old, false);
    if (!body)
        return fail(msg, msg_size, -ENOMEM, "PUT %s: out of memory", k->lease_url);
    char previous[256];
    snprintf(previous, sizeof(previous), "%s", old.holder);
    json_t *written;
    r = kube_http(k, "PUT", k->lease_url, body, &status, &written, msg, msg_size);
    free(body);
    if (r < 0)
        return r;
    if (status == 200) {
        r = keep_written(k, written, "PUT", k->lease_url, msg, msg_size);
        if (r < 0)
            return r;
        k->leader = true;
        *leader = true;
        set_holder(holder, holder_size, cfg->identity);
        return 0;
    }
    if (status == 409) { /* someone else wrote it since our read: they won */
        json_decref(written);
        k->leader = false;
        *leader = false;
        set_holder(holder, holder_size, strcmp(previous, cfg->identity) == 0 ? "" : previous);
        return 0;
    }
    r = http_fail(k, "PUT", k->lease_url, status, written, errno_of_status(status), msg, msg_size);
    json_decref(written);
    return r == -EPERM ? -EIO : r;
}

/* ---- the shared state: a ConfigMap ------------------------------------------------------- */

static void cm_forget(struct kube *k)
{
    free(k->cm_rv);
    k->cm_rv = NULL;
    k->cm_missing = false;
}

/* Reads the ConfigMap: its resourceVersion, and binaryData.state into out when out is not
 * NULL (empty when there is none). */
static int cm_read(struct kube *k, struct buf *out, char *msg, size_t msg_size)
{
    long status;
    json_t *reply;
    int r = kube_http(k, "GET", k->cm_url, NULL, &status, &reply, msg, msg_size);
    if (r < 0)
        return r;
    if (status == 404) {
        json_decref(reply);
        cm_forget(k);
        k->cm_missing = true;
        if (out)
            buf_reset(out);
        return 0;
    }
    if (status != 200) {
        r = http_fail(k, "GET", k->cm_url, status, reply, errno_of_status(status), msg, msg_size);
        json_decref(reply);
        return r == -EPERM ? -EIO : r;
    }
    const char *rv =
        json_string_value(json_object_get(json_object_get(reply, "metadata"), "resourceVersion"));
    json_t *bin = json_object_get(reply, "binaryData");
    json_t *state = json_object_get(bin, "state");
    if (!rv || !rv[0] || (bin && !json_is_object(bin)) || (state && !json_is_string(state))) {
        json_decref(reply);
        return fail(msg, msg_size, -EBADMSG, "GET %s: HTTP 200: the reply is not a ConfigMap",
                    k->cm_url);
    }
    char *copy = strdup(rv);
    if (!copy) {
        json_decref(reply);
        return fail(msg, msg_size, -ENOMEM, "GET %s: out of memory", k->cm_url);
    }
    cm_forget(k);
    k->cm_rv = copy;
    if (out) {
        buf_reset(out);
        if (state) {
            r = base64_decode(json_string_value(state), json_string_length(state), out);
            if (r < 0) {
                buf_reset(out);
                json_decref(reply);
                return fail(msg, msg_size, r == -EINVAL ? -EBADMSG : r,
                            "GET %s: binaryData.state: %s", k->cm_url,
                            r == -EINVAL  ? "not base64"
                            : r == -E2BIG ? "larger than the state may be"
                                          : strerror(-r));
            }
        }
    }
    json_decref(reply);
    return 0;
}

/* The ConfigMap's body with the state's base64 (b64), as a create (no resourceVersion)
 * or an update with the one we know. */
static char *cm_body(struct kube *k, const struct ha_config *cfg, const char *b64)
{
    json_t *obj =
        json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:s}}, s:{s:s}}", "apiVersion", "v1", "kind",
                  "ConfigMap", "metadata", "name", k->cm_name, "namespace", k->ns, "annotations",
                  "homeostat.io/lease", cfg->lease_name ? cfg->lease_name : KUBE_DEFAULT_LEASE,
                  "homeostat.io/written-by", cfg->identity, "binaryData", "state", b64);
    if (!obj)
        return NULL;
    if (k->cm_rv)
        json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion",
                            json_string(k->cm_rv));
    char *s = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return s;
}

/* After a 409 on the ConfigMap: read it again, and whether the Lease is still ours (its
 * resourceVersion the one we wrote last, us its holder). */
static int still_ours(struct kube *k, const struct ha_config *cfg, char *msg, size_t msg_size)
{
    int r = cm_read(k, NULL, msg, msg_size);
    if (r < 0)
        return r;
    long status;
    json_t *reply;
    r = kube_http(k, "GET", k->lease_url, NULL, &status, &reply, msg, msg_size);
    if (r < 0)
        return r;
    struct lease_record now, ours;
    bool same = status == 200 && lease_record_of(reply, &now) == 0 && k->lease &&
                lease_record_of(k->lease, &ours) == 0 && strcmp(now.rv, ours.rv) == 0 &&
                strcmp(now.holder, cfg->identity) == 0;
    if (!same && status != 200 && status != 404) {
        r = http_fail(k, "GET", k->lease_url, status, reply, errno_of_status(status), msg,
                      msg_size);
        json_decref(reply);
        return r == -EPERM ? -EIO : r;
    }
    json_decref(reply);
    if (!same) {
        k->leader = false;
        return fail(msg, msg_size, -EPERM,
                    "%s: the state was written by someone else and the lease is no longer ours",
                    k->cm_url);
    }
    return 0;
}

static int cm_write(struct kube *k, const struct ha_config *cfg, const void *data, size_t len,
                    char *msg, size_t msg_size)
{
    struct buf b64;
    buf_init(&b64, KUBE_MAX_REPLY_BYTES);
    int r = base64_encode(data, len, &b64);
    if (r < 0) {
        buf_free(&b64);
        return fail(msg, msg_size, r, "%s: the state of %zu bytes cannot be encoded: %s", k->cm_url,
                    len, strerror(-r));
    }
    if (!k->cm_rv && !k->cm_missing)
        r = cm_read(k, NULL, msg, msg_size);
    for (int attempt = 0; r == 0; attempt++) {
        bool create = k->cm_missing;
        const char *method = create ? "POST" : "PUT";
        const char *url = create ? k->cms_url : k->cm_url;
        char *body = cm_body(k, cfg, b64.data ? b64.data : "");
        if (!body) {
            r = fail(msg, msg_size, -ENOMEM, "%s %s: out of memory", method, url);
            break;
        }
        long status;
        json_t *reply;
        r = kube_http(k, method, url, body, &status, &reply, msg, msg_size);
        free(body);
        if (r < 0)
            break;
        if (status == 200 || status == 201) {
            const char *rv = json_string_value(
                json_object_get(json_object_get(reply, "metadata"), "resourceVersion"));
            char *copy = rv && rv[0] ? strdup(rv) : NULL;
            json_decref(reply);
            cm_forget(k);
            k->cm_rv = copy; /* NULL (a reply without one): read before the next write */
            break;
        }
        if ((status == 409 || status == 404) && attempt == 0) {
            /* 409: written by someone else since (or created: AlreadyExists); 404:
             * deleted. Once more if the Lease is still ours. */
            json_decref(reply);
            if (status == 404) {
                cm_forget(k);
                k->cm_missing = true;
                continue;
            }
            r = still_ours(k, cfg, msg, msg_size);
            continue;
        }
        r = http_fail(k, method, url, status, reply,
                      status == 409 ? -EPERM : errno_of_status(status), msg, msg_size);
        if (status == 409)
            k->leader = false;
        else if (r == -EPERM)
            r = -EIO;
        json_decref(reply);
        cm_forget(k);
    }
    buf_free(&b64);
    return r;
}

static int kube_fence(struct ha *h, const void *data, size_t len, char *msg, size_t msg_size)
{
    struct kube *k = ha_backend_data(h);
    const struct ha_config *cfg = ha_config_of(h);
    if (!k->leader)
        return fail(msg, msg_size, -EPERM, "%s: not holding the lease", k->lease_url);
    uint64_t start = now_usec();
    int r = lease_renew(k, cfg, msg, msg_size);
    if (r == 0 && data)
        r = cm_write(k, cfg, data, len, msg, msg_size);
    if (r < 0)
        return r;
    /* Others take over lease_usec after they saw our renewal: a fence that took longer
     * than the lease's margin over the renew deadline leaves too little of it to act in. */
    uint64_t margin = cfg->lease_usec > cfg->renew_deadline_usec
                          ? cfg->lease_usec - cfg->renew_deadline_usec
                          : cfg->lease_usec / 2;
    uint64_t took = now_usec() - start;
    if (took >= margin) {
        char a[32], b[32];
        return fail(msg, msg_size, -ETIMEDOUT,
                    "%s: the fence took %s, longer than the lease's margin of %s over the "
                    "renew deadline",
                    k->lease_url, format_duration_usec(took, a, sizeof(a)),
                    format_duration_usec(margin, b, sizeof(b)));
    }
    return 0;
}

static int kube_get(struct ha *h, struct buf *out, char *msg, size_t msg_size)
{
    struct kube *k = ha_backend_data(h);
    return cm_read(k, out, msg, msg_size);
}

static int kube_release(struct ha *h)
{
    struct kube *k = ha_backend_data(h);
    const struct ha_config *cfg = ha_config_of(h);
    if (!k || !k->leader || !k->lease)
        return 0;
    k->leader = false;
    struct lease_record old;
    if (lease_record_of(k->lease, &old) < 0)
        return -EPROTO;
    char *body = lease_body(k, cfg, k->lease, &old, true);
    if (!body)
        return -ENOMEM;
    char msg[512];
    long status;
    json_t *reply;
    int r = kube_http(k, "PUT", k->lease_url, body, &status, &reply, msg, sizeof(msg));
    free(body);
    if (r == 0 && status == 200) {
        keep_written(k, reply, "PUT", k->lease_url, msg, sizeof(msg));
        return 0;
    }
    if (r == 0) {
        http_fail(k, "PUT", k->lease_url, status, reply, -EIO, msg, sizeof(msg));
        json_decref(reply);
    }
    log_warning("ha kubernetes: could not give the lease up (the next leader waits for it to "
                "expire): %s",
                msg);
    return r < 0 ? r : -EIO;
}

/* ---- configuration ---------------------------------------------------------------------- */

/* A path of a kubeconfig, relative to its directory. */
static char *relative_to(const char *kubeconfig, const char *p)
{
    if (p[0] == '/')
        return strdup(p);
    const char *slash = strrchr(kubeconfig, '/');
    if (!slash)
        return strdup(p);
    return xasprintf("%.*s/%s", (int)(slash - kubeconfig), kubeconfig, p);
}

/* The map under name in a kubeconfig list (clusters, contexts, users) whose item's
 * "name" is want: item[key]. */
static const struct ytree_node *named(const struct ytree_node *root, const char *list,
                                      const char *key, const char *want, struct buf *errors)
{
    const struct ytree_node *seq = ytree_get(root, list);
    if (!seq || ytree_kind(seq) != YTREE_SEQ) {
        ytree_error(errors, root, "no %s list", list);
        return NULL;
    }
    for (size_t i = 0; i < ytree_len(seq); i++) {
        const struct ytree_node *item = ytree_item(seq, i);
        const struct ytree_node *n = ytree_get(item, "name");
        const char *s = n ? ytree_text(n, NULL) : NULL;
        if (s && strcmp(s, want) == 0) {
            const struct ytree_node *v = ytree_get(item, key);
            if (!v || ytree_kind(v) != YTREE_MAP) {
                ytree_error(errors, item, "%s '%s' has no %s map", list, want, key);
                return NULL;
            }
            return v;
        }
    }
    ytree_error(errors, seq, "no %s named '%s'", list, want);
    return NULL;
}

/* An optional string key of map; NULL when absent. -EINVAL with an error when not a
 * string. */
static int opt_string(const struct ytree_node *map, const char *key, const char **ret,
                      struct buf *errors)
{
    *ret = NULL;
    const struct ytree_node *n = ytree_get(map, key);
    if (!n || ytree_is_null(n))
        return 0;
    return ytree_get_string(n, ret, errors);
}

/* A file path (relative to the kubeconfig) or base64 data of a kubeconfig. */
static int kubeconfig_pem(const char *path, const struct ytree_node *map, const char *file_key,
                          char **file, struct buf *data, struct buf *errors)
{
    const char *s = NULL, *d = NULL;
    int r = opt_string(map, file_key, &s, errors);
    char data_key[64];
    snprintf(data_key, sizeof(data_key), "%s-data", file_key);
    if (r == 0)
        r = opt_string(map, data_key, &d, errors);
    if (r < 0)
        return r;
    if (d) {
        buf_reset(data);
        r = base64_decode(d, strlen(d), data);
        if (r < 0)
            return ytree_error(errors, ytree_get(map, data_key), "%s: %s", data_key,
                               r == -EINVAL ? "not base64" : strerror(-r));
    } else if (s && !*file) {
        *file = relative_to(path, s);
        if (!*file)
            return -ENOMEM;
    }
    return 0;
}

/* The current context's cluster (server, CA, TLS check), user (token, token file, client
 * certificate) and namespace. Flags given win over the kubeconfig's. */
static int kubeconfig_load(struct kube *k, const char *path, const char **ret_ns,
                           struct buf *errors, char **ret_ns_copy)
{
    struct ytree *t = NULL;
    int r = ytree_load_file(path, NULL, &t, errors);
    if (r < 0)
        return r;
    const struct ytree_node *root = ytree_root(t), *n;
    const char *current = NULL, *cluster = NULL, *user = NULL, *ns = NULL, *server = NULL;
    const struct ytree_node *ctx = NULL, *cl = NULL, *us = NULL;
    if (ytree_kind(root) != YTREE_MAP) {
        r = ytree_error(errors, root, "expected a kubeconfig map, got %s", ytree_describe(root));
        goto out;
    }
    r = opt_string(root, "current-context", &current, errors);
    if (r == 0 && !current)
        r = ytree_error(errors, root, "no current-context");
    if (r == 0 && !(ctx = named(root, "contexts", "context", current, errors)))
        r = -EINVAL;
    if (r == 0)
        r = opt_string(ctx, "cluster", &cluster, errors);
    if (r == 0)
        r = opt_string(ctx, "user", &user, errors);
    if (r == 0)
        r = opt_string(ctx, "namespace", &ns, errors);
    if (r == 0 && !cluster)
        r = ytree_error(errors, ctx, "context '%s' names no cluster", current);
    if (r == 0 && !(cl = named(root, "clusters", "cluster", cluster, errors)))
        r = -EINVAL;
    if (r == 0)
        r = opt_string(cl, "server", &server, errors);
    if (r == 0 && !server)
        r = ytree_error(errors, cl, "cluster '%s' has no server", cluster);
    if (r == 0 && (n = ytree_get(cl, "insecure-skip-tls-verify")) && !ytree_is_null(n))
        r = ytree_get_bool(n, &k->insecure, errors);
    if (r == 0)
        r = kubeconfig_pem(path, cl, "certificate-authority", &k->ca_file, &k->ca_data, errors);
    if (r == 0 && user && !(us = named(root, "users", "user", user, errors)))
        r = -EINVAL;
    if (r == 0 && us) {
        static const char *const unsupported[] = {"exec", "auth-provider", "username", "password",
                                                  NULL};
        for (const char *const *u = unsupported; *u && r == 0; u++)
            if ((n = ytree_get(us, *u)) && !ytree_is_null(n))
                r = ytree_error(errors, n,
                                "user '%s' authenticates with %s, which is not supported: give "
                                "it a token, tokenFile or client certificate",
                                user, *u);
        const char *token = NULL, *token_file = NULL;
        if (r == 0)
            r = opt_string(us, "token", &token, errors);
        if (r == 0)
            r = opt_string(us, "tokenFile", &token_file, errors);
        if (r == 0 && token && !k->token_file && !k->token) {
            char *copy = strdup(token);
            char where[64];
            snprintf(where, sizeof(where), "user '%.40s'", user);
            char m[200];
            r = copy ? credential_check("token", where, copy, strlen(copy), &k->token, m, sizeof(m))
                     : -ENOMEM;
            if (r == -EINVAL)
                r = ytree_error(errors, ytree_get(us, "token"), "%s", m);
        } else if (r == 0 && token_file && !k->token_file) {
            k->token_file = relative_to(path, token_file);
            r = k->token_file ? 0 : -ENOMEM;
        }
        if (r == 0)
            r = kubeconfig_pem(path, us, "client-certificate", &k->cert_file, &k->cert_data,
                               errors);
        if (r == 0)
            r = kubeconfig_pem(path, us, "client-key", &k->key_file, &k->key_data, errors);
    }
    if (r == 0) {
        k->api = strdup(server);
        *ret_ns_copy = ns ? strdup(ns) : NULL;
        if (!k->api || (ns && !*ret_ns_copy))
            r = -ENOMEM;
        *ret_ns = *ret_ns_copy;
    }
out:
    ytree_free(t);
    return r;
}

static void kube_free_data(struct kube *k)
{
    if (!k)
        return;
    if (k->easy)
        curl_easy_cleanup(k->easy);
    free(k->api);
    free(k->ns);
    free(k->lease_url);
    free(k->leases_url);
    free(k->cm_url);
    free(k->cms_url);
    free(k->cm_name);
    free(k->token_file);
    if (k->token) {
        explicit_bzero(k->token, strlen(k->token));
        free(k->token);
    }
    free(k->ca_file);
    free(k->cert_file);
    free(k->key_file);
    if (k->key_data.data)
        explicit_bzero(k->key_data.data, k->key_data.len);
    buf_free(&k->ca_data);
    buf_free(&k->cert_data);
    buf_free(&k->key_data);
    buf_free(&k->reply);
    json_decref(k->lease);
    free(k->observed);
    free(k->cm_rv);
    free(k);
}

static int dup_opt(char **dst, const char *src)
{
    if (!src || *dst)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -ENOMEM;
}

/* Where the API server is and how to reach it: --ha.kubernetes.api-url, else
 * --ha.kubeconfig, else the pod's service account. */
static int kube_configure(struct kube *k, const struct ha_config *cfg, char **ret_ns, char *msg,
                          size_t msg_size)
{
    const char *ns = cfg->kube_namespace;
    char *ns_copy = NULL;
    bool in_cluster = false;
    /* Flags win: set before the kubeconfig, which fills only what is still unset. */
    int r = dup_opt(&k->ca_file, cfg->ca_file);
    if (r == 0)
        r = dup_opt(&k->cert_file, cfg->cert_file);
    if (r == 0)
        r = dup_opt(&k->key_file, cfg->key_file);
    if (r == 0)
        r = dup_opt(&k->token_file, cfg->kube_token_file);
    if (r < 0)
        return fail(msg, msg_size, r, "out of memory");
    if (cfg->kube_url) {
        k->api = strdup(cfg->kube_url);
        if (!k->api)
            return fail(msg, msg_size, -ENOMEM, "out of memory");
    } else if (cfg->kubeconfig) {
        struct buf errors;
        buf_init(&errors, 64u << 10);
        const char *kns = NULL;
        r = kubeconfig_load(k, cfg->kubeconfig, &kns, &errors, &ns_copy);
        if (r < 0) {
            const char *e = errors.data ? errors.data : "";
            size_t l = strcspn(e, "\n");
            if (l > 0)
                fail(msg, msg_size, r, "%.*s", (int)l, e);
            else
                fail(msg, msg_size, r, "%s: %s", cfg->kubeconfig, strerror(-r));
            buf_free(&errors);
            free(ns_copy);
            return r;
        }
        buf_free(&errors);
        if (!ns)
            ns = kns;
    } else {
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !*host || !port || !*port)
            return fail(msg, msg_size, -EINVAL,
                        "no Kubernetes API server: give --ha.kubernetes.api-url or "
                        "--ha.kubeconfig, or run in a pod (KUBERNETES_SERVICE_HOST and "
                        "KUBERNETES_SERVICE_PORT are not set)");
        k->api = xasprintf(strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
        r = k->api ? dup_opt(&k->token_file, KUBE_SA_DIR "/token") : -ENOMEM;
        if (r == 0)
            r = dup_opt(&k->ca_file, KUBE_SA_DIR "/ca.crt");
        if (r < 0)
            return fail(msg, msg_size, r, "out of memory");
        in_cluster = true;
    }
    if (!ns && (in_cluster || !cfg->kubeconfig)) {
        /* the service account's namespace, when we run in a pod */
        char buf[128];
        long n = file_read_into(KUBE_SA_DIR "/namespace", buf, sizeof(buf) - 1);
        if (n > 0) {
            while (n > 0 && isspace((unsigned char)buf[n - 1]))
                buf[--n] = '\0';
            free(ns_copy);
            ns_copy = strdup(buf);
            ns = ns_copy;
        }
    }
    if (!ns)
        ns = "default";
    *ret_ns = strdup(ns);
    free(ns_copy);
    return *ret_ns ? 0 : fail(msg, msg_size, -ENOMEM, "out of memory");
}

static int kube_init(struct ha *h, char *msg, size_t msg_size)
{
    const struct ha_config *cfg = ha_config_of(h);
    struct kube *k = calloc(1, sizeof(*k));
    if (!k)
        return fail(msg, msg_size, -ENOMEM, "out of memory");
    buf_init(&k->reply, KUBE_MAX_REPLY_BYTES);
    buf_init(&k->ca_data, KUBE_MAX_PEM_BYTES);
    buf_init(&k->cert_data, KUBE_MAX_PEM_BYTES);
    buf_init(&k->key_data, KUBE_MAX_PEM_BYTES);
    const char *lease = cfg->lease_name ? cfg->lease_name : KUBE_DEFAULT_LEASE;
    int r = 0;
    if (!cfg->identity || !cfg->identity[0])
        r = fail(msg, msg_size, -EINVAL, "ha kubernetes: no identity");
    else if (!dns_name(lease, 253 - strlen(KUBE_STATE_SUFFIX), true))
        r = fail(msg, msg_size, -EINVAL,
                 "ha kubernetes: lease name '%s' is not a DNS subdomain of at most %zu "
                 "characters (lower case letters, digits, '-', '.')",
                 lease, 253 - strlen(KUBE_STATE_SUFFIX));
    if (r == 0)
        r = kube_configure(k, cfg, &k->ns, msg, msg_size);
    if (r == 0 && !dns_name(k->ns, 63, false))
        r = fail(msg, msg_size, -EINVAL,
                 "ha kubernetes: namespace '%s' is not a DNS label (lower case letters, digits, "
                 "'-', at most 63)",
                 k->ns);
    if (r == 0) {
        size_t l = strlen(k->api);
        while (l > 0 && k->api[l - 1] == '/')
            k->api[--l] = '\0';
        if (strncmp(k->api, "https://", 8) != 0 && strncmp(k->api, "http://", 7) != 0)
            r = fail(msg, msg_size, -EINVAL,
                     "ha kubernetes: API server URL '%s' is not http:// or https://", k->api);
    }
    if (r == 0) {
        k->leases_url =
            xasprintf("%s/apis/coordination.k8s.io/v1/namespaces/%s/leases", k->api, k->ns);
        k->lease_url = k->leases_url ? xasprintf("%s/%s", k->leases_url, lease) : NULL;
        k->cm_name = xasprintf("%s%s", lease, KUBE_STATE_SUFFIX);
        k->cms_url = xasprintf("%s/api/v1/namespaces/%s/configmaps", k->api, k->ns);
        k->cm_url = k->cms_url && k->cm_name ? xasprintf("%s/%s", k->cms_url, k->cm_name) : NULL;
        if (!k->lease_url || !k->cm_url)
            r = fail(msg, msg_size, -ENOMEM, "out of memory");
    }
    if (r == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        r = fail(msg, msg_size, -ENOMEM, "ha kubernetes: libcurl cannot start");
    if (r == 0 && !(k->easy = curl_easy_init())) {
        curl_global_cleanup();
        r = fail(msg, msg_size, -ENOMEM, "ha kubernetes: libcurl cannot start");
    }
    if (r < 0) {
        kube_free_data(k);
        return r;
    }
    /* Each request gets half the renew deadline: a leader gets at least two tries before it
     * steps down, and a fence that hangs gives up in time. */
    uint64_t t = cfg->renew_deadline_usec / 2000;
    k->timeout_ms = t < 100 ? 100 : t > 30000 ? 30000 : (long)t;
    /* A token read now: a missing or empty file is a bad setting, said at start. */
    r = token_refresh(k, msg, msg_size);
    if (r < 0) {
        kube_free_data(k);
        curl_global_cleanup();
        return r;
    }
    ha_set_backend_data(h, k);
    ha_set_endpoint(h, k->api);
    return 0;
}

static void kube_free(struct ha *h)
{
    struct kube *k = ha_backend_data(h);
    if (!k)
        return;
    kube_free_data(k);
    ha_set_backend_data(h, NULL);
    curl_global_cleanup();
}

const struct ha_backend_ops ha_kubernetes_ops = {
    .name = "kubernetes",
    .init = kube_init,
    .tick = kube_tick,
    .fence = kube_fence,
    .get = kube_get,
    .release = kube_release,
    .free = kube_free,
};
