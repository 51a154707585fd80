/* actuator_webhook: the "webhook" action: one HTTP request (libcurl easy interface) to the
 * application, with a JSON body (the params' body, or the decision itself), an
 * Idempotency-Key that stays the same across retries and an optional HMAC-SHA256
 * signature over "timestamp.body" with a secret read from a file at apply time. An
 * optional "revert" map (url/method/headers/body overriding the main ones) becomes the
 * undo object; revert sends that request. Exports actuator_webhook (see actuator.h). */
#include "actuator.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "fileio.h"
#include "hmac.h"
#include "parse.h"
#include "utf8.h"
#include "rules_loader.h"

#ifndef HOMEOSTAT_VERSION
#define HOMEOSTAT_VERSION "dev"
#endif

#define WEBHOOK_DEFAULT_TIMEOUT_USEC 5000000ull
#define WEBHOOK_MAX_CONNECT_TIMEOUT_USEC 5000000ull
#define WEBHOOK_MAX_BODY_BYTES (1u << 20)
#define WEBHOOK_MAX_RESPONSE_BYTES 4096
#define WEBHOOK_ERROR_BODY_BYTES 200
#define WEBHOOK_MAX_SECRET_BYTES 4096
#define WEBHOOK_MAX_HEADER_NAME 256
#define WEBHOOK_MAX_HEADER_VALUE 8192

static const char *const methods[] = {"POST", "PUT", "PATCH", "DELETE", "GET", NULL};

/* Headers this action sets itself and a rules file may not. */
static const char *const reserved_headers[] = {
    "Host", "Content-Length", "Transfer-Encoding", "Connection", "Expect", NULL,
};

/* ---- small text helpers ---------------------------------------------------------- */

/* src[0..n) as valid UTF-8 in b: invalid bytes become '?', control characters spaces
 * (newlines and tabs are kept unless one_line, where runs of spaces collapse). cut: src
 * was cut at n, so a character split there is dropped rather than shown as '?'. */
static void append_text(struct buf *b, const char *src, size_t n, bool one_line, bool cut)
{
    const unsigned char *s = (const unsigned char *)src;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq_len(s + i, n - i);
        if (l == 0 && cut && n - i < 4 && s[i] >= 0xc2)
            break;
        if (l == 0) {
            buf_putc(b, '?');
            i++;
        } else if (l == 1) {
            char ch = (char)s[i++];
            if ((unsigned char)ch < 0x20 || ch == 0x7f)
                ch = !one_line && (ch == '\n' || ch == '\t') ? ch : ' ';
            if (one_line && ch == ' ' && (b->len == 0 || b->data[b->len - 1] == ' '))
                continue;
            buf_putc(b, ch);
        } else {
            buf_append(b, s + i, l);
            i += l;
        }
    }
}

static bool in_list_ci(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcasecmp(*list, s) == 0)
            return true;
    return false;
}

static bool has_placeholder(const char *s)
{
    return strstr(s, "{{") != NULL;
}

/* An RFC 9110 token: the characters a header name may have. */
static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

/* ---- validation ------------------------------------------------------------------ */

static int invalid(const char **bad_key, const char *key, char *msg, size_t msg_size,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int invalid(const char **bad_key, const char *key, char *msg, size_t msg_size,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msg_size, fmt, ap);
    va_end(ap);
    *bad_key = key;
    return -EINVAL;
}

/* The bad key of a request key: itself, or "revert" inside the revert map. */
static const char *key_in(bool in_revert, const char *key)
{
    return in_revert ? "revert" : key;
}

/* The request keys (url, method, headers, body) of the main params or of the revert map
 * (whose messages start with "revert: "). url is required unless in_revert. */
static int validate_request(const json_t *p, bool in_revert, const char **bad_key, char *msg,
                            size_t msg_size)
{
    const char *pre = in_revert ? "revert: " : "";
    const json_t *url = json_object_get(p, "url");
    if (!url && !in_revert)
        return invalid(bad_key, NULL, msg, msg_size,
                       "url is required (the http:// or https:// address to call)");
    if (url) {
        if (!json_is_string(url))
            return invalid(bad_key, key_in(in_revert, "url"), msg, msg_size,
                           "%surl must be a string such as http://127.0.0.1:8080/admin/limits",
                           pre);
        const char *why = has_placeholder(json_string_value(url))
                              ? NULL
                              : rules_url_error(json_string_value(url));
        if (why)
            return invalid(bad_key, key_in(in_revert, "url"), msg, msg_size, "%surl '%.200s' %s",
                           pre, json_string_value(url), why);
    }
    const json_t *method = json_object_get(p, "method");
    const char *m = "POST";
    if (method) {
        if (!json_is_string(method))
            return invalid(bad_key, key_in(in_revert, "method"), msg, msg_size,
                           "%smethod must be one of POST, PUT, PATCH, DELETE or GET", pre);
        m = json_string_value(method);
        if (!has_placeholder(m) && !in_list_ci(methods, m))
            return invalid(bad_key, key_in(in_revert, "method"), msg, msg_size,
                           "%smethod '%.40s' is not one of POST, PUT, PATCH, DELETE or GET", pre,
                           m);
    }
    if (strcasecmp(m, "GET") == 0 && json_object_get(p, "body"))
        return invalid(bad_key, key_in(in_revert, "body"), msg, msg_size,
                       "%sa GET request sends no body: remove body or use POST", pre);
    const json_t *headers = json_object_get(p, "headers");
    if (headers) {
        if (!json_is_object(headers))
            return invalid(bad_key, key_in(in_revert, "headers"), msg, msg_size,
                           "%sheaders must be a map of header name to value", pre);
        if (json_object_size(headers) > RULES_MAX_HEADERS)
            return invalid(bad_key, key_in(in_revert, "headers"), msg, msg_size,
                           "%sat most %d headers", pre, RULES_MAX_HEADERS);
        const char *name;
        json_t *v;
        json_object_foreach((json_t *)headers, name, v)
        {
            if (!is_token(name) || strlen(name) > WEBHOOK_MAX_HEADER_NAME)
                return invalid(bad_key, key_in(in_revert, "headers"), msg, msg_size,
                               "%sheader name '%.64s' is not a valid HTTP header name "
                               "(letters, digits and !#$%%&'*+-.^_`|~)",
                               pre, name);
            if (in_list_ci(reserved_headers, name) || strncasecmp(name, "X-Homeostat-", 12) == 0)
                return invalid(bad_key, key_in(in_revert, "headers"), msg, msg_size,
                               "%sheader '%.64s' is set by the webhook action itself", pre, name);
            if (json_is_string(v)) {
                const char *s = json_string_value(v);
                size_t len = json_string_length(v);
                if (len > WEBHOOK_MAX_HEADER_VALUE)
                    return invalid(bad_key, key_in(in_revert, "headers"), msg, msg_size,
                                   "%sheader '%.64s': value longer than %d bytes", pre, name,
                                   WEBHOOK_MAX_HEADER_VALUE);
                if (strlen(s) != len || strpbrk(s, "\r\n"))
                    return invalid(bad_key, key_in(in_revert, "headers"), msg, msg_size,
                                   "%sheader '%.64s': value contains a line break or NUL", pre,
                                   name);
            } else if (json_is_object(v)) {
                /* {file: PATH, prefix: "Bearer "}: the value is read from the file at each
                 * request, so a secret never stands in the rules or the state file. */
                const json_t *f = json_object_get(v, "file");
                const json_t *px = json_object_get(v, "prefix");
                const char *k;
                json_t *kv;
                json_object_foreach((json_t *)v, k, kv)
                {
                    if (strcmp(k, "file") != 0 && strcmp(k, "prefix") != 0)
                        return invalid(bad_key, key_in(in_revert, "headers"), msg, msg_size,
                                       "%sheader '%.64s': unknown key '%.32s' (a value read "
                                       "from a file takes file and prefix)",
                                       pre, name, k);
                }
                if (!json_is_string(f) || !json_string_length(f))
                    return invalid(bad_key, key_in(in_revert, "headers"), msg, msg_size,
                                   "%sheader '%.64s': file must be the path of the file that "
                                   "holds the value",
                                   pre, name);
                if (px && (!json_is_string(px) || strpbrk(json_string_value(px), "\r\n") ||
                           json_string_length(px) > 64))
                    return invalid(bad_key, key_in(in_revert, "headers"), msg, msg_size,
                                   "%sheader '%.64s': prefix must be a short string without "
                                   "line breaks",
                                   pre, name);
            } else if (!json_is_number(v) && !json_is_boolean(v)) {
                return invalid(bad_key, key_in(in_revert, "headers"), msg, msg_size,
                               "%sheader '%.64s': value must be a string, or {file: PATH} to "
                               "read it from a file",
                               pre, name);
            }
        }
    }
    return 0;
}

static int validate_webhook(const json_t *params, const char **bad_key, char *msg, size_t msg_size)
{
    *bad_key = NULL;
    if (!json_is_object(params))
        return invalid(bad_key, NULL, msg, msg_size, "expected a map of settings");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v)
    {
        if (actuator_generic_key(key) || strcmp(key, "url") == 0 || strcmp(key, "method") == 0 ||
            strcmp(key, "headers") == 0 || strcmp(key, "body") == 0 || strcmp(key, "revert") == 0)
            continue;
        if (strcmp(key, "secret_file") == 0 || strcmp(key, "ca_file") == 0 ||
            strcmp(key, "cert_file") == 0 || strcmp(key, "key_file") == 0) {
            if (!json_is_string(v) || json_string_length(v) == 0)
                return invalid(bad_key, key, msg, msg_size, "%s must be a file path", key);
            continue;
        }
        if (strcmp(key, "insecure_skip_verify") == 0) {
            if (!json_is_boolean(v))
                return invalid(bad_key, key, msg, msg_size,
                               "insecure_skip_verify must be true or false");
            continue;
        }
        return invalid(bad_key, key, msg, msg_size,
                       "unknown key '%.64s': a webhook takes url, method, headers, body, "
                       "secret_file, ca_file, cert_file, key_file, insecure_skip_verify, "
                       "revert, timeout, retries and backoff",
                       key);
    }
    if (json_object_get(params, "key_file") && !json_object_get(params, "cert_file"))
        return invalid(bad_key, "key_file", msg, msg_size,
                       "key_file needs cert_file (the client certificate)");
    int r = validate_request(params, false, bad_key, msg, msg_size);
    if (r < 0)
        return r;
    const json_t *rev = json_object_get(params, "revert");
    if (rev) {
        if (!json_is_object(rev) || json_object_size(rev) == 0)
            return invalid(bad_key, "revert", msg, msg_size,
                           "revert must be a map with url, method, headers or body (the "
                           "request that undoes this one)");
        json_object_foreach((json_t *)rev, key, v)
        {
            if (strcmp(key, "url") != 0 && strcmp(key, "method") != 0 &&
                strcmp(key, "headers") != 0 && strcmp(key, "body") != 0)
                return invalid(bad_key, "revert", msg, msg_size,
                               "revert: unknown key '%.64s': expected url, method, headers or "
                               "body",
                               key);
        }
        /* A GET revert inherits no body from the main request. */
        r = validate_request(rev, true, bad_key, msg, msg_size);
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- the request ----------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ready;

static void curl_init_once(void)
{
    curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

struct capture {
    struct buf data;
    bool truncated;
};

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct capture *c = ud;
    size_t len = size * n;
    size_t room = WEBHOOK_MAX_RESPONSE_BYTES - c->data.len;
    if (len > room) {
        c->truncated = true;
        buf_append(&c->data, p, room);
    } else {
        buf_append(&c->data, p, len);
    }
    return len; /* the rest is read and dropped: the status code is what counts */
}

/* The body the decision itself makes (when params have none). New reference. */
static json_t *default_body(const struct action_ctx *ctx)
{
    char when[32];
    time_t s = (time_t)ctx->time;
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *b = json_object();
    json_object_set_new(b, "id", json_string(ctx->decision_id ? ctx->decision_id : ""));
    json_object_set_new(b, "state", json_string(ctx->state ? ctx->state : ""));
    json_object_set_new(b, "from", json_string(ctx->from ? ctx->from : ""));
    json_object_set_new(b, "severity", ctx->severity ? json_string(ctx->severity) : json_null());
    json_object_set_new(b, "confidence", json_real(round(ctx->confidence * 1000) / 1000));
    json_object_set_new(b, "reasoning", json_string(ctx->reasoning ? ctx->reasoning : ""));
    json_object_set_new(b, "time", json_string(when));
    if (ctx->args)
        json_object_set_new(b, "args", json_deep_copy(ctx->args));
    return b;
}

/* Reads the secret: at most 4 KiB, trailing line breaks stripped, not empty. 0 and *ret
 * (caller frees), or -errno with the reason in res (never the secret itself). */
static int read_secret(const char *path, char **ret, size_t *ret_len, struct action_result *res)
{
    char *data = NULL;
    size_t len = 0;
    int r = file_read_alloc(path, WEBHOOK_MAX_SECRET_BYTES, &data, &len);
    if (r < 0) {
        action_fail(res, ACT_FAIL, "webhook: secret_file %s: %s", path,
                    r == -EFBIG ? "larger than 4 KiB" : strerror(-r));
        return r;
    }
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        data[--len] = '\0';
    if (len == 0) {
        free(data);
        action_fail(res, ACT_FAIL, "webhook: secret_file %s is empty", path);
        return -EINVAL;
    }
    *ret = data;
    *ret_len = len;
    return 0;
}

static bool retryable_curl_error(CURLcode code)
{
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return true;
    default: return false;
    }
}

static enum act_status status_of_http(long code)
{
    if (code >= 200 && code <= 299)
        return ACT_OK;
    if (code == 408 || code == 425 || code == 429 || code >= 500)
        return ACT_RETRY;
    return ACT_FAIL;
}

static int add_header(struct curl_slist **list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int add_header(struct curl_slist **list, const char *fmt, ...)
{
    struct buf b;
    buf_init(&b, 2 * WEBHOOK_MAX_HEADER_VALUE);
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(&b, fmt, ap);
    va_end(ap);
    struct curl_slist *n = r < 0 ? NULL : curl_slist_append(*list, b.data);
    buf_free(&b);
    if (!n)
        return -ENOMEM;
    *list = n;
    return 0;
}

/* The user's header value as text (numbers and booleans come from placeholders); tmp
 * holds the formatted number. */
/* A header value read from a file ({file: PATH, prefix: ...}) at this request: the file's
 * first line without its line break, after the prefix; the caller frees *ret. A file that
 * cannot be read, is empty or holds a control character fails the action, naming the
 * file, never its content. */
static int header_from_file(const char *name, const json_t *v, char **ret,
                            struct action_result *res)
{
    const char *path = json_string_value(json_object_get(v, "file"));
    const char *prefix = json_string_value(json_object_get(v, "prefix"));
    char *data = NULL;
    size_t len = 0;
    int r = file_read_alloc(path, WEBHOOK_MAX_HEADER_VALUE, &data, &len);
    if (r < 0) {
        action_fail(res, ACT_FAIL, "webhook: header %s: file %s: %s", name, path,
                    r == -EFBIG || r == -E2BIG ? "larger than 8 KiB" : strerror(-r));
        return r;
    }
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        data[--len] = '\0';
    bool bad = len == 0;
    for (size_t i = 0; i < len && !bad; i++)
        bad = (unsigned char)data[i] < 0x20 && data[i] != '\t';
    if (bad) {
        explicit_bzero(data, len);
        free(data);
        action_fail(res, ACT_FAIL,
                    "webhook: header %s: file %s is empty or holds a line break "
                    "or control character",
                    name, path);
        return -EINVAL;
    }
    struct buf b = BUF_INIT_MAX(WEBHOOK_MAX_HEADER_VALUE + 80);
    if (buf_printf(&b, "%s%s", prefix ? prefix : "", data) < 0) {
        explicit_bzero(data, len);
        free(data);
        buf_free(&b);
        action_fail(res, ACT_FAIL, "webhook: header %s: out of memory", name);
        return -ENOMEM;
    }
    explicit_bzero(data, len);
    free(data);
    *ret = b.data;
    return 0;
}

static const char *header_value(const json_t *v, char *tmp, size_t tmp_size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(tmp, tmp_size, "%lld", (long long)json_integer_value(v));
        return tmp;
    }
    if (json_is_real(v)) {
        snprintf(tmp, tmp_size, "%.15g", json_real_value(v));
        return tmp;
    }
    return json_is_true(v) ? "true" : "false";
}

/* Sends the request p describes (url, method, headers, body and the TLS and secret
 * keys) and fills res. */
static void send_request(const json_t *p, const struct action_ctx *ctx, uint64_t timeout_usec,
                         struct action_result *res)
{
    const char *url = json_string_value(json_object_get(p, "url"));
    const json_t *jm = json_object_get(p, "method");
    char method[8] = "POST";
    if (json_is_string(jm)) {
        snprintf(method, sizeof(method), "%s", json_string_value(jm));
        for (char *c = method; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
    }
    bool is_get = strcmp(method, "GET") == 0;
    const char *secret_file = json_string_value(json_object_get(p, "secret_file"));
    char *secret = NULL;
    size_t secret_len = 0;
    char *body = NULL;
    struct curl_slist *headers = NULL;
    CURL *h = NULL;
    struct capture cap = {.data = BUF_INIT_MAX(WEBHOOK_MAX_RESPONSE_BYTES + 1)};
    struct buf msg = BUF_INIT_MAX(WEBHOOK_MAX_BODY_BYTES + 64);

    if (!url) {
        action_fail(res, ACT_FAIL, "webhook: no url");
        return;
    }
    if (secret_file && read_secret(secret_file, &secret, &secret_len, res) < 0)
        return;

    /* The body: the params' (any JSON), or the decision. */
    size_t body_len = 0;
    if (!is_get) {
        const json_t *jb = json_object_get(p, "body");
        json_t *def = jb ? NULL : default_body(ctx);
        body = json_dumps(jb ? jb : def, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
        json_decref(def);
        if (!body) {
            action_fail(res, ACT_FAIL, "webhook %s %s: cannot encode the body", method, url);
            goto out;
        }
        body_len = strlen(body);
        if (body_len > WEBHOOK_MAX_BODY_BYTES) {
            action_fail(res, ACT_FAIL, "webhook %s %s: body larger than %u bytes", method, url,
                        WEBHOOK_MAX_BODY_BYTES);
            goto out;
        }
    }

    /* Idempotency-Key: the decision and a hash of what is sent, so every retry of this
     * request carries the same key and a different request a different one. */
    struct buf ik = BUF_INIT_MAX(WEBHOOK_MAX_BODY_BYTES + RULES_MAX_URL + 64);
    uint8_t digest[SHA256_DIGEST_BYTES];
    char hex[2 * SHA256_DIGEST_BYTES + 1];
    buf_printf(&ik, "%s\n%s\n", method, url);
    if (body)
        buf_append(&ik, body, body_len);
    hmac_sha256_digest(ik.data, ik.len, digest);
    buf_free(&ik);
    hmac_hex(digest, hex);
    char idem[128];
    snprintf(idem, sizeof(idem), "%.100s-%.8s",
             ctx->decision_id && *ctx->decision_id ? ctx->decision_id : "manual", hex);

    if (ctx->server_dry_run) {
        res->status = ACT_OK;
        res->detail =
            json_pack("{s:s, s:s, s:s}", "skipped", "dry run", "method", method, "url", url);
        goto out;
    }

    pthread_once(&curl_once, curl_init_once);
    if (!curl_ready || !(h = curl_easy_init())) {
        action_fail(res, ACT_RETRY, "webhook %s %s: cannot initialise libcurl", method, url);
        goto out;
    }

    /* Headers: the user's first, then ours unless the user set the same name. */
    const json_t *uh = json_object_get(p, "headers");
    bool user_ct = false, user_ua = false, user_ik = false;
    const char *name;
    json_t *v;
    int r = 0;
    json_object_foreach((json_t *)uh, name, v)
    {
        char tmp[64];
        char *from_file = NULL;
        if (json_is_object(v) && header_from_file(name, v, &from_file, res) < 0)
            goto out;
        const char *val = from_file ? from_file : header_value(v, tmp, sizeof(tmp));
        user_ct |= strcasecmp(name, "Content-Type") == 0;
        user_ua |= strcasecmp(name, "User-Agent") == 0;
        user_ik |= strcasecmp(name, "Idempotency-Key") == 0;
        /* "Name;" is curl's way to send a header with an empty value. */
        r |= *val ? add_header(&headers, "%s: %s", name, val) : add_header(&headers, "%s;", name);
        if (from_file) {
            explicit_bzero(from_file, strlen(from_file));
            free(from_file);
        }
    }
    if (!user_ct && !is_get)
        r |= add_header(&headers, "Content-Type: application/json");
    if (!user_ua)
        r |= add_header(&headers, "User-Agent: homeostat-controller/%s", HOMEOSTAT_VERSION);
    if (!user_ik)
        r |= add_header(&headers, "Idempotency-Key: %s", idem);
    r |= add_header(&headers, "X-Homeostat-Decision: %s",
                    ctx->decision_id && *ctx->decision_id ? ctx->decision_id : "manual");
    r |= add_header(&headers, "Expect:");
    if (secret) {
        long long ts = (long long)time(NULL);
        buf_printf(&msg, "%lld.", ts);
        if (body)
            buf_append(&msg, body, body_len);
        hmac_sha256(secret, secret_len, msg.data, msg.len, digest);
        hmac_hex(digest, hex);
        r |= add_header(&headers, "X-Homeostat-Timestamp: %lld", ts);
        r |= add_header(&headers, "X-Homeostat-Signature: sha256=%s", hex);
    }
    if (r) {
        action_fail(res, ACT_RETRY, "webhook %s %s: out of memory", method, url);
        goto out;
    }

    if (timeout_usec == 0)
        timeout_usec = WEBHOOK_DEFAULT_TIMEOUT_USEC;
    uint64_t connect_usec = timeout_usec < WEBHOOK_MAX_CONNECT_TIMEOUT_USEC
                                ? timeout_usec
                                : WEBHOOK_MAX_CONNECT_TIMEOUT_USEC;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)((timeout_usec + 999) / 1000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)((connect_usec + 999) / 1000));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &cap);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    if (is_get) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    const char *ca = json_string_value(json_object_get(p, "ca_file"));
    const char *cert = json_string_value(json_object_get(p, "cert_file"));
    const char *key = json_string_value(json_object_get(p, "key_file"));
    if (ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    if (cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, cert);
    if (key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, key);
    if (json_is_true(json_object_get(p, "insecure_skip_verify"))) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }

    uint64_t start = now_usec();
    CURLcode code = curl_easy_perform(h);
    double secs = (double)(now_usec() - start) / 1e6;
    long http = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &http);

    struct buf text = BUF_INIT_MAX(2 * WEBHOOK_MAX_RESPONSE_BYTES + 16);
    append_text(&text, cap.data.data ? cap.data.data : "", cap.data.len, false, cap.truncated);
    res->detail = json_object();
    json_object_set_new(res->detail, "method", json_string(method));
    json_object_set_new(res->detail, "url", json_string(url));
    json_object_set_new(res->detail, "http_status", http ? json_integer(http) : json_null());
    json_object_set_new(res->detail, "response",
                        json_stringn(text.data ? text.data : "", text.len));
    if (cap.truncated)
        json_object_set_new(res->detail, "response_truncated", json_true());
    json_object_set_new(res->detail, "duration_seconds", json_real(round(secs * 1000) / 1000));
    json_object_set_new(res->detail, "signed", json_boolean(secret != NULL));
    json_object_set_new(res->detail, "idempotency_key", json_string(idem));
    buf_free(&text);

    if (code != CURLE_OK) {
        action_fail(res, retryable_curl_error(code) ? ACT_RETRY : ACT_FAIL, "webhook %s %s: %s",
                    method, url, errbuf[0] ? errbuf : curl_easy_strerror(code));
        goto out;
    }
    res->status = status_of_http(http);
    if (res->status != ACT_OK) {
        struct buf line = BUF_INIT_MAX(4 * WEBHOOK_ERROR_BODY_BYTES + 16);
        size_t n =
            cap.data.len < WEBHOOK_ERROR_BODY_BYTES ? cap.data.len : WEBHOOK_ERROR_BODY_BYTES;
        append_text(&line, cap.data.data ? cap.data.data : "", n, true,
                    n < cap.data.len || cap.truncated);
        while (line.len && line.data[line.len - 1] == ' ')
            line.data[--line.len] = '\0';
        const char *note = http >= 300 && http <= 399 ? " (redirects are not followed)" : "";
        if (line.len)
            action_fail(res, res->status, "webhook %s %s: HTTP %ld%s: %s", method, url, http, note,
                        line.data);
        else
            action_fail(res, res->status, "webhook %s %s: HTTP %ld%s", method, url, http, note);
        buf_free(&line);
    }
out:
    if (h)
        curl_easy_cleanup(h);
    curl_slist_free_all(headers);
    buf_free(&cap.data);
    if (msg.data)
        memset(msg.data, 0, msg.len);
    buf_free(&msg);
    if (secret)
        memset(secret, 0, secret_len);
    free(secret);
    free(body);
}

static void apply_webhook(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                          struct action_result *res)
{
    send_request(params, ctx, timeout_usec, res);
    const json_t *rev = json_object_get(params, "revert");
    if (res->status == ACT_OK && rev && !ctx->server_dry_run)
        res->undo = json_deep_copy(rev);
}

/* The main params with the revert map's url/method/headers/body in place of theirs. */
static void revert_webhook(const json_t *params, const json_t *undo, const struct action_ctx *ctx,
                           uint64_t timeout_usec, struct action_result *res)
{
    if (!json_is_object(undo)) {
        action_fail(res, ACT_FAIL, "webhook: revert: the undo object is not a map");
        return;
    }
    json_t *p = json_is_object(params) ? json_copy((json_t *)params) : json_object();
    if (!p) {
        action_fail(res, ACT_RETRY, "webhook: revert: out of memory");
        return;
    }
    json_object_del(p, "revert");
    static const char *const keys[] = {"url", "method", "headers", "body"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        json_t *v = json_object_get(undo, keys[i]);
        if (v)
            json_object_set(p, keys[i], v);
    }
    /* A GET revert of a request with a body sends none. */
    const json_t *m = json_object_get(p, "method");
    if (json_is_string(m) && strcasecmp(json_string_value(m), "GET") == 0)
        json_object_del(p, "body");
    const char *bad_key = NULL;
    char msg[256];
    if (validate_request(p, false, &bad_key, msg, sizeof(msg)) < 0)
        action_fail(res, ACT_FAIL, "webhook: revert: %s", msg);
    else
        send_request(p, ctx, timeout_usec, res);
    json_decref(p);
}

/* The body: a map with a url; the summary starts with the method and the url. */
static bool load_webhook(struct loader *l, struct action_def *a, const struct ytree_node *v,
                         struct buf *sum)
{
    static const char *const primary[] = {"url", "method", NULL};
    const struct ytree_node *x;
    const char *s;
    bool ok = true;
    if (!loader_action_map(l, a, v))
        return false;
    if ((x = ytree_get(v, "method")) && !loader_get_text(l, x, "method", 16, &s))
        ok = false;
    buf_printf(sum, " %s", x && ok ? ytree_text(x, NULL) : "POST");
    if (!(x = ytree_get(v, "url"))) {
        loader_report(l, v, "webhook needs a url");
        ok = false;
    } else if (loader_get_url(l, x, &s)) {
        buf_printf(sum, " %s", s);
    } else {
        ok = false;
    }
    return ok && loader_action_params(l, a, v, sum, primary);
}

const struct actuator actuator_webhook = {
    .kind = ACTION_WEBHOOK,
    .name = "webhook",
    .load = load_webhook,
    .validate = validate_webhook,
    .apply = apply_webhook,
    .revert = revert_webhook,
    .default_timeout_usec = WEBHOOK_DEFAULT_TIMEOUT_USEC,
    .default_retries = 2,
};
