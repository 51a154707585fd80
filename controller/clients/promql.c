/* promql: the Prometheus HTTP API client. promql_client_new() copies the
 * configuration and reads the credential files; promql_query_many() sends every
 * distinct query of one evaluation at once over one curl multi handle (kept, with
 * its easy handles and connections, between evaluations); promql_query_range() fetches
 * a range chunk by chunk on an easy handle of its own. The replies are parsed by
 * promql_reply.c. */
#include "promql.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "daemon.h"
#include "fileio.h"
#include "parse.h"
#include "utf8.h"
#include "promql_reply.h"

#define CREDENTIAL_MAX_BYTES (64u << 10)
#define PROMQL_MAX_QUERY_BYTES (256u << 10)

struct promql_req {
    CURL *easy;
    struct buf body;
    char *post;     /* the form body of this call (owned) */
    bool too_large; /* the write callback stopped at PROMQL_MAX_REPLY_BYTES */
    bool done;      /* curl reported it finished in this call */
    CURLcode code;
    char errbuf[CURL_ERROR_SIZE];
};

struct promql_client {
    char *query_url;          /* base + "/api/v1/query" */
    char *range_url;          /* base + "/api/v1/query_range" */
    struct promql_req *range; /* the handle of range queries (NULL until the first) */
    char *shown_url;          /* base without user:password@, for error details */
    uint64_t timeout_usec;
    char *username;
    char *password;
    char *ca_file;
    bool insecure;
    bool no_watchdog; /* promql_client_no_watchdog: a thread other than the main loop's */
    struct curl_slist *headers;
    CURLM *multi;
    struct promql_req **reqs; /* a pool of easy handles, grown as needed; each request
                               * stays put (curl keeps pointers into it) */
    size_t n_reqs;
};

static const char *const error_names[PROMQL_ERR_MAX] = {
    [PROMQL_OK] = "ok",
    [PROMQL_ERR_TIMEOUT] = "timeout",
    [PROMQL_ERR_CONNECT] = "connect",
    [PROMQL_ERR_HTTP] = "http",
    [PROMQL_ERR_PARSE] = "bad_response",
    [PROMQL_ERR_QUERY] = "query",
    [PROMQL_ERR_EMPTY] = "empty",
    [PROMQL_ERR_MULTIPLE] = "multiple_series",
    [PROMQL_ERR_NAN] = "nan",
    [PROMQL_ERR_TOO_LARGE] = "too_large",
};

const char *promql_error_name(enum promql_error e)
{
    if ((unsigned)e >= PROMQL_ERR_MAX)
        return "unknown";
    return error_names[e];
}

/* ---- the client -------------------------------------------------------------------- */

/* Reads a one-line credential file: trailing whitespace trimmed, no line breaks or
 * control characters inside (it goes into a header). */
static int read_credential(const char *path, const char *what, char **ret, struct buf *errors)
{
    char *data = NULL;
    size_t len = 0;
    int r = file_read_alloc(path, CREDENTIAL_MAX_BYTES, &data, &len);
    if (r < 0) {
        buf_printf(errors, "%s: cannot read %s: %s\n", path, what,
                   r == -EFBIG ? "file too large" : strerror(-r));
        return r;
    }
    while (len > 0 && isspace((unsigned char)data[len - 1]))
        data[--len] = '\0';
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)data[i] < 0x20 || data[i] == 0x7f) {
            buf_printf(errors, "%s: %s contains a control character or line break\n", path, what);
            free(data);
            return -EINVAL;
        }
    if (len == 0) {
        buf_printf(errors, "%s: %s file is empty\n", path, what);
        free(data);
        return -EINVAL;
    }
    *ret = data;
    return 0;
}

static int slist_add(struct curl_slist **l, const char *s)
{
    struct curl_slist *n = curl_slist_append(*l, s);
    if (!n)
        return -ENOMEM;
    *l = n;
    return 0;
}

/* The URL without "user:password@", for error details. */
static char *shown_url(const char *url)
{
    const char *p = strstr(url, "://");
    const char *host = p ? p + 3 : url;
    size_t hl = strcspn(host, "/?#");
    const char *at = memchr(host, '@', hl);
    if (!at)
        return strdup(url);
    size_t pre = (size_t)(host - url);
    size_t rest = strlen(at + 1);
    char *s = malloc(pre + rest + 1);
    if (!s)
        return NULL;
    memcpy(s, url, pre);
    memcpy(s + pre, at + 1, rest + 1);
    return s;
}

int promql_client_new(const struct http_client_config *cfg, struct promql_client **ret,
                      struct buf *errors)
{
    const char *url = cfg->url ? cfg->url : "";
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        buf_printf(errors, "prometheus url '%s': must start with http:// or https://\n", url);
        return -EINVAL;
    }
    if (cfg->bearer_token_file && (cfg->basic_auth_username || cfg->basic_auth_password_file)) {
        buf_printf(errors, "prometheus: bearer_token_file and basic_auth are exclusive\n");
        return -EINVAL;
    }
    for (size_t i = 0; i < cfg->n_headers; i++) {
        const char *h = cfg->headers[i];
        const char *colon = h ? strchr(h, ':') : NULL;
        bool bad = !colon || colon == h;
        for (const char *p = h; p && *p && !bad; p++)
            bad = *p == '\r' || *p == '\n' || (p < colon && (*p == ' ' || *p == '\t'));
        if (bad) {
            buf_printf(errors, "prometheus header '%s': expected \"Name: value\"\n",
                       h ? h : "(null)");
            return -EINVAL;
        }
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        buf_printf(errors, "prometheus: cannot initialise libcurl\n");
        return -ENOMEM;
    }
    struct promql_client *c = calloc(1, sizeof(*c));
    if (!c) {
        curl_global_cleanup();
        return -ENOMEM;
    }
    int r = -ENOMEM;
    size_t ul = strlen(url);
    while (ul > 0 && url[ul - 1] == '/')
        ul--;
    struct buf u;
    buf_init(&u, 0);
    if (buf_append(&u, url, ul) < 0 || buf_puts(&u, "/api/v1/query") < 0) {
        buf_free(&u);
        goto fail;
    }
    c->query_url = buf_steal(&u, NULL);
    buf_init(&u, 0);
    if (buf_append(&u, url, ul) < 0 || buf_puts(&u, "/api/v1/query_range") < 0) {
        buf_free(&u);
        goto fail;
    }
    c->range_url = buf_steal(&u, NULL);
    c->shown_url = strndup(url, ul);
    if (!c->shown_url)
        goto fail;
    char *shown = shown_url(c->shown_url);
    if (!shown)
        goto fail;
    free(c->shown_url);
    c->shown_url = shown;
    c->timeout_usec = cfg->timeout_usec ? cfg->timeout_usec : 2000000;
    c->insecure = cfg->insecure_skip_verify;
    if (cfg->ca_file) {
        if (access(cfg->ca_file, R_OK) < 0) {
            r = -errno;
            buf_printf(errors, "%s: cannot read CA file: %s\n", cfg->ca_file, strerror(errno));
            goto fail;
        }
        if (!(c->ca_file = strdup(cfg->ca_file)))
            goto fail;
    }

    if (slist_add(&c->headers, "Accept: application/json") < 0 ||
        slist_add(&c->headers, "Content-Type: application/x-www-form-urlencoded") < 0 ||
        slist_add(&c->headers, "Expect:") < 0)
        goto fail;
    if (cfg->bearer_token_file) {
        char *token = NULL;
        r = read_credential(cfg->bearer_token_file, "bearer token", &token, errors);
        if (r < 0)
            goto fail;
        struct buf h;
        buf_init(&h, 0);
        r = buf_printf(&h, "Authorization: Bearer %s", token);
        free(token);
        if (r == 0)
            r = slist_add(&c->headers, h.data);
        buf_free(&h);
        if (r < 0)
            goto fail;
    }
    if (cfg->basic_auth_username || cfg->basic_auth_password_file) {
        c->username = strdup(cfg->basic_auth_username ? cfg->basic_auth_username : "");
        if (!c->username) {
            r = -ENOMEM;
            goto fail;
        }
        if (cfg->basic_auth_password_file) {
            r = read_credential(cfg->basic_auth_password_file, "basic auth password", &c->password,
                                errors);
            if (r < 0)
                goto fail;
        } else if (!(c->password = strdup(""))) {
            r = -ENOMEM;
            goto fail;
        }
    }
    r = -ENOMEM;
    for (size_t i = 0; i < cfg->n_headers; i++)
        if (slist_add(&c->headers, cfg->headers[i]) < 0)
            goto fail;
    c->multi = curl_multi_init();
    /* Prometheus runs 20 queries at once by default: more connections only queue
     * there, and each one costs a socket on both sides. */
    if (c->multi)
        curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 16L);
    if (!c->multi)
        goto fail;
    *ret = c;
    return 0;
fail:
    if (r == -ENOMEM)
        buf_printf(errors, "prometheus: out of memory\n");
    promql_client_free(c);
    return r;
}

void promql_client_free(struct promql_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_reqs; i++) {
        curl_easy_cleanup(c->reqs[i]->easy);
        buf_free(&c->reqs[i]->body);
        free(c->reqs[i]->post);
        free(c->reqs[i]);
    }
    free(c->reqs);
    if (c->range) {
        curl_easy_cleanup(c->range->easy);
        buf_free(&c->range->body);
        free(c->range->post);
        free(c->range);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    curl_slist_free_all(c->headers);
    free(c->query_url);
    free(c->range_url);
    free(c->shown_url);
    free(c->ca_file);
    free(c->username);
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c);
    curl_global_cleanup();
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct promql_req *q = userdata;
    size_t n = size * nmemb;
    if (buf_append(&q->body, ptr, n) < 0) {
        q->too_large = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    return n;
}

/* Sets the options that stay the same for every query of this client. */
static int setup_easy(struct promql_client *c, struct promql_req *q)
{
    CURL *e = curl_easy_init();
    if (!e)
        return -ENOMEM;
    q->easy = e;
    long timeout_ms = (long)((c->timeout_usec + 999) / 1000);
    bool ok = curl_easy_setopt(e, CURLOPT_URL, c->query_url) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    ok = ok && curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
    ok = ok && curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ==
                   CURLE_OK;
#endif
    ok = ok && curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_USERAGENT, "homeostat-controller/" HOMEOSTAT_VERSION) ==
                   CURLE_OK;
    /* No gzip: a query reply is about 120 bytes, and compressing 200 of them cost
     * Prometheus four times the CPU of answering (bench/controller-bench.sh). A small
     * receive buffer: replies are small, and the handle keeps it for its life. */
    ok = ok && curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)PROMQL_MAX_REPLY_BYTES) ==
                   CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_WRITEDATA, q) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_PRIVATE, q) == CURLE_OK;
    ok = ok && curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf) == CURLE_OK;
    if (c->username) {
        ok = ok && curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC) == CURLE_OK;
        ok = ok && curl_easy_setopt(e, CURLOPT_USERNAME, c->username) == CURLE_OK;
        ok = ok && curl_easy_setopt(e, CURLOPT_PASSWORD, c->password) == CURLE_OK;
    }
    if (c->ca_file)
        ok = ok && curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file) == CURLE_OK;
    if (c->insecure) {
        ok = ok && curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) == CURLE_OK;
        ok = ok && curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK;
    }
    return ok ? 0 : -EINVAL;
}

/* Makes sure the pool holds n requests with easy handles. */
static int grow_pool(struct promql_client *c, size_t n)
{
    if (n <= c->n_reqs)
        return 0;
    struct promql_req **reqs = realloc(c->reqs, n * sizeof(*reqs));
    if (!reqs)
        return -ENOMEM;
    c->reqs = reqs;
    while (c->n_reqs < n) {
        struct promql_req *q = calloc(1, sizeof(*q));
        if (!q)
            return -ENOMEM;
        buf_init(&q->body, PROMQL_MAX_REPLY_BYTES);
        int r = setup_easy(c, q);
        if (r < 0) {
            curl_easy_cleanup(q->easy);
            free(q);
            return r;
        }
        c->reqs[c->n_reqs++] = q;
    }
    return 0;
}

static void format_timeout(uint64_t usec, char *dst, size_t dstsz)
{
    uint64_t ms = (usec + 999) / 1000;
    if (ms % 1000 == 0)
        snprintf(dst, dstsz, "%llus", (unsigned long long)(ms / 1000));
    else
        snprintf(dst, dstsz, "%llums", (unsigned long long)ms);
}

/* The form body "query=...&time=...&timeout=..." (malloc()ed), or NULL. time is left
 * out when it is not a positive number (the server then uses its own clock); timeout
 * lets Prometheus give up on its side too. */
static char *form_body(CURL *e, const char *query, double time, uint64_t timeout_usec)
{
    size_t ql = strlen(query);
    if (ql > PROMQL_MAX_QUERY_BYTES)
        return NULL;
    char *q = curl_easy_escape(e, query, (int)ql);
    if (!q)
        return NULL;
    struct buf b;
    buf_init(&b, 0);
    int r = buf_printf(&b, "query=%s", q);
    if (r == 0 && time > 0 && isfinite(time))
        r = buf_printf(&b, "&time=%.3f", time);
    if (r == 0)
        r = buf_printf(&b, "&timeout=%.3f", timeout_usec / 1e6);
    curl_free(q);
    if (r < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

/* Parses a reply body into out: an instant reply, or a range reply (ctx: its span). */
typedef void (*reply_parser)(const char *body, size_t len, long status, void *ctx,
                             struct promql_result *out);

static void instant_parser(const char *body, size_t len, long status, void *ctx,
                           struct promql_result *out)
{
    (void)ctx;
    promql_parse_reply(body, len, status, out);
}

/* Turns one finished (or abandoned) transfer into its result; a reply goes to parse. */
static void finish_req(struct promql_client *c, struct promql_req *q, uint64_t start_usec,
                       uint64_t timeout_usec, reply_parser parse, void *ctx,
                       struct promql_result *out)
{
    long status = 0;
    curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_off_t total_usec = 0;
    if (q->done)
        curl_easy_getinfo(q->easy, CURLINFO_TOTAL_TIME_T, &total_usec);
    else
        total_usec = (curl_off_t)(now_usec() - start_usec); /* abandoned at the deadline */
    if (q->done && q->code == CURLE_OK) {
        parse(q->body.data, q->body.len, status, ctx, out);
    } else {
        memset(out, 0, sizeof(*out));
        out->value = NAN;
        out->http_status = status;
        char to[32];
        format_timeout(timeout_usec, to, sizeof(to));
        if (!q->done || q->code == CURLE_OPERATION_TIMEDOUT) {
            promql_set_result(out, PROMQL_ERR_TIMEOUT, "timeout after %s", to);
        } else if (q->too_large || q->code == CURLE_FILESIZE_EXCEEDED) {
            promql_set_result(out, PROMQL_ERR_TOO_LARGE, "reply larger than %u bytes",
                              PROMQL_MAX_REPLY_BYTES);
        } else if (q->code == CURLE_COULDNT_CONNECT) {
            long os_errno = 0;
            curl_easy_getinfo(q->easy, CURLINFO_OS_ERRNO, &os_errno);
            char what[128];
            if (os_errno > 0) {
                snprintf(what, sizeof(what), "%s", strerror((int)os_errno));
                what[0] = (char)tolower((unsigned char)what[0]);
            } else {
                snprintf(what, sizeof(what), "cannot connect");
            }
            promql_set_result(out, PROMQL_ERR_CONNECT, "%s (%s)", what, c->shown_url);
        } else if (q->code == CURLE_COULDNT_RESOLVE_HOST) {
            promql_set_result(out, PROMQL_ERR_CONNECT, "cannot resolve host (%s)", c->shown_url);
        } else {
            /* TLS, a reset or closed connection, a reply cut short: the transport. */
            const char *msg = q->errbuf[0] ? q->errbuf : curl_easy_strerror(q->code);
            promql_set_result(out, PROMQL_ERR_CONNECT, "%s (%s)", msg, c->shown_url);
        }
    }
    out->duration_seconds = total_usec / 1e6;
}

/* ---- instant vectors (the report) -------------------------------------------------- */

static void series_parser(const char *body, size_t len, long status, void *ctx,
                          struct promql_result *out)
{
    promql_parse_series(body, len, status, out, ctx);
}

/* promql_query_vectors' vectors. */
struct vectors {
    const char *const *keep;
    size_t n_keep;
    struct ivec *vec;
    bool *have;
};

struct vector_ctx {
    const struct vectors *v;
    size_t i;
};

static void vector_parser(const char *body, size_t len, long status, void *ctx,
                          struct promql_result *out)
{
    struct vector_ctx *x = ctx;
    x->v->have[x->i] =
        promql_parse_vector(body, len, status, x->v->keep, x->v->n_keep, out, &x->v->vec[x->i]);
}

/* promql_query_many, with series (non-NULL) promql_query_series, with vectors
 * promql_query_vectors. */
static void query_many(struct promql_client *c, const char *const *queries, size_t n, double time,
                       struct promql_result *results, json_t **series,
                       const struct vectors *vectors)
{
    for (size_t i = 0; series && i < n; i++)
        series[i] = NULL;
    for (size_t i = 0; vectors && i < n; i++) {
        vectors->have[i] = false;
        ivec_reset(&vectors->vec[i]);
    }
    /* first[i]: the index of the first query equal to queries[i]. */
    size_t *first = malloc((n ? n : 1) * sizeof(*first));
    size_t *slot = malloc((n ? n : 1) * sizeof(*slot)); /* request used by a first query */
    size_t n_distinct = 0;
    if (!first || !slot) {
        for (size_t i = 0; i < n; i++) {
            memset(&results[i], 0, sizeof(results[i]));
            results[i].value = NAN;
            promql_set_result(&results[i], PROMQL_ERR_CONNECT, "out of memory");
        }
        free(first);
        free(slot);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        first[i] = i;
        if (!queries[i])
            continue;
        for (size_t j = 0; j < i; j++)
            if (queries[j] && strcmp(queries[i], queries[j]) == 0) {
                first[i] = j;
                break;
            }
        if (first[i] == i)
            slot[i] = n_distinct++;
    }
    int pool_r = grow_pool(c, n_distinct);
    size_t usable = pool_r < 0 ? c->n_reqs : n_distinct;

    uint64_t start = now_usec();
    size_t added = 0;
    for (size_t i = 0; i < n; i++) {
        if (first[i] != i || !queries[i])
            continue;
        struct promql_req *q = slot[i] < usable ? c->reqs[slot[i]] : NULL;
        memset(&results[i], 0, sizeof(results[i]));
        results[i].value = NAN;
        if (!q) {
            promql_set_result(&results[i], PROMQL_ERR_CONNECT, "out of memory");
            continue;
        }
        q->done = false;
        q->too_large = false;
        q->code = CURLE_OK;
        q->errbuf[0] = '\0';
        buf_reset(&q->body);
        free(q->post);
        q->post = form_body(q->easy, queries[i], time, c->timeout_usec);
        if (!q->post || curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, q->post) != CURLE_OK ||
            curl_easy_setopt(q->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(q->post)) !=
                CURLE_OK ||
            curl_multi_add_handle(c->multi, q->easy) != CURLM_OK) {
            promql_set_result(&results[i], PROMQL_ERR_CONNECT, "cannot start the request%s",
                              strlen(queries[i]) > PROMQL_MAX_QUERY_BYTES ? ": query too long"
                                                                          : "");
            slot[i] = SIZE_MAX;
            continue;
        }
        added++;
    }

    /* curl enforces each transfer's timeout; the deadline only guards against a
     * transfer curl would keep (it never should). */
    uint64_t deadline = start + c->timeout_usec + 1000000;
    size_t finished = 0;
    while (finished < added) {
        int running = 0;
        if (curl_multi_perform(c->multi, &running) != CURLM_OK)
            break;
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(c->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            char *priv = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
            struct promql_req *q = (struct promql_req *)(void *)priv;
            if (q && !q->done) {
                q->done = true;
                q->code = m->data.result;
                finished++;
            }
        }
        if (finished >= added || running == 0)
            break;
        uint64_t now = now_usec();
        if (now >= deadline)
            break;
        uint64_t wait_ms = (deadline - now) / 1000 + 1;
        /* A slow Prometheus must not make systemd's watchdog kill us. */
        if (!c->no_watchdog)
            daemon_watchdog_pet();
        if (curl_multi_poll(c->multi, NULL, 0, wait_ms > 1000 ? 1000 : (int)wait_ms, NULL) !=
            CURLM_OK)
            break;
    }

    for (size_t i = 0; i < n; i++) {
        if (!queries[i]) {
            memset(&results[i], 0, sizeof(results[i]));
            results[i].value = NAN;
            promql_set_result(&results[i], PROMQL_ERR_PARSE, "no query");
            continue;
        }
        if (first[i] != i || slot[i] >= usable)
            continue;
        struct promql_req *q = c->reqs[slot[i]];
        struct vector_ctx vc = {vectors, i};
        if (vectors)
            finish_req(c, q, start, c->timeout_usec, vector_parser, &vc, &results[i]);
        else if (series)
            finish_req(c, q, start, c->timeout_usec, series_parser, &series[i], &results[i]);
        else
            finish_req(c, q, start, c->timeout_usec, instant_parser, NULL, &results[i]);
        curl_multi_remove_handle(c->multi, q->easy);
        /* Keep small buffers for the next evaluation, give big ones back. */
        if (q->body.cap > (64u << 10)) {
            buf_free(&q->body);
            buf_init(&q->body, PROMQL_MAX_REPLY_BYTES);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (first[i] != i) {
            results[i] = results[first[i]];
            if (series)
                series[i] = json_incref(series[first[i]]);
            if (vectors && vectors->have[first[i]] &&
                ivec_copy(&vectors->vec[i], &vectors->vec[first[i]]) == 0)
                vectors->have[i] = true;
        }
    free(first);
    free(slot);
}

void promql_query_many(struct promql_client *c, const char *const *queries, size_t n, double time,
                       struct promql_result *results)
{
    query_many(c, queries, n, time, results, NULL, NULL);
}

void promql_client_no_watchdog(struct promql_client *c)
{
    c->no_watchdog = true;
}

void promql_query_series(struct promql_client *c, const char *const *queries, size_t n, double time,
                         struct promql_result *results, json_t **series)
{
    query_many(c, queries, n, time, results, series, NULL);
}

void promql_query_vectors(struct promql_client *c, const char *const *queries, size_t n,
                          double time, const char *const *keep, size_t n_keep,
                          struct promql_result *results, struct ivec *vectors, bool *have)
{
    struct vectors v = {keep, n_keep, vectors, have};
    query_many(c, queries, n, time, results, NULL, &v);
}

/* ---- range queries ------------------------------------------------------------------ */

struct range_span {
    struct promql_range *r;
    size_t first, count;
};

static void range_parser(const char *body, size_t len, long status, void *ctx,
                         struct promql_result *out)
{
    struct range_span *s = ctx;
    promql_parse_range_reply(body, len, status, s->r, s->first, s->count, out);
}

/* Epoch milliseconds as seconds with three decimals ("1700000000.250"). */
static void ms_text(int64_t ms, char *dst, size_t dstsz)
{
    int64_t sec = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        sec--;
        rem += 1000;
    }
    snprintf(dst, dstsz, "%lld.%03lld", (long long)sec, (long long)rem);
}

/* "query=...&start=...&end=...&step=...ms&timeout=...&nocache=1" for the points [first,
 * first + count) of r (malloc()ed), or NULL. The step goes as a duration in milliseconds,
 * which Prometheus reads exactly (a float of seconds can lose a nanosecond). nocache=1:
 * VictoriaMetrics otherwise rounds start and end down to a multiple of the step (for its
 * response cache), so its points would not be the ones asked for; Prometheus ignores it,
 * as it ignores any parameter it does not know. */
static char *range_form_body(CURL *e, const char *query, const struct promql_range *r, size_t first,
                             size_t count, uint64_t timeout_usec)
{
    size_t ql = strlen(query);
    if (ql > PROMQL_MAX_QUERY_BYTES || count == 0)
        return NULL;
    char *q = curl_easy_escape(e, query, (int)ql);
    if (!q)
        return NULL;
    char start[32], end[32];
    ms_text(r->start_ms + (int64_t)first * r->step_ms, start, sizeof(start));
    ms_text(r->start_ms + (int64_t)(first + count - 1) * r->step_ms, end, sizeof(end));
    struct buf b;
    buf_init(&b, 0);
    int rc = buf_printf(&b, "query=%s&start=%s&end=%s&step=%lldms&timeout=%.3f&nocache=1", q, start,
                        end, (long long)r->step_ms, timeout_usec / 1e6);
    curl_free(q);
    if (rc < 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

int promql_query_range(struct promql_client *c, const char *query, struct promql_range *r,
                       uint64_t timeout_usec, struct promql_result *ret_err, size_t *ret_first,
                       size_t *ret_count)
{
    if (!timeout_usec)
        timeout_usec = c->timeout_usec;
    struct promql_result res;
    memset(&res, 0, sizeof(res));
    res.value = NAN;
    if (!c->range) {
        struct promql_req *q = calloc(1, sizeof(*q));
        if (q) {
            buf_init(&q->body, PROMQL_MAX_REPLY_BYTES);
            if (setup_easy(c, q) < 0 ||
                curl_easy_setopt(q->easy, CURLOPT_URL, c->range_url) != CURLE_OK) {
                curl_easy_cleanup(q->easy);
                free(q);
                q = NULL;
            }
        }
        if (!q) {
            promql_set_result(&res, PROMQL_ERR_CONNECT, "out of memory");
            *ret_err = res;
            promql_range_chunk(r->n, 0, ret_first, ret_count);
            return -EIO;
        }
        c->range = q;
    }
    struct promql_req *q = c->range;
    curl_easy_setopt(q->easy, CURLOPT_TIMEOUT_MS, (long)((timeout_usec + 999) / 1000));
    for (size_t i = 0; i < promql_range_chunks(r->n); i++) {
        size_t first, count;
        promql_range_chunk(r->n, i, &first, &count);
        q->done = false;
        q->too_large = false;
        q->code = CURLE_OK;
        q->errbuf[0] = '\0';
        buf_reset(&q->body);
        free(q->post);
        q->post = range_form_body(q->easy, query, r, first, count, timeout_usec);
        uint64_t start = now_usec();
        if (!q->post || curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, q->post) != CURLE_OK ||
            curl_easy_setopt(q->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(q->post)) !=
                CURLE_OK) {
            memset(&res, 0, sizeof(res));
            res.value = NAN;
            promql_set_result(&res, PROMQL_ERR_CONNECT, "cannot start the request%s",
                              strlen(query) > PROMQL_MAX_QUERY_BYTES ? ": query too long" : "");
        } else {
            q->code = curl_easy_perform(q->easy);
            q->done = true;
            struct range_span span = {r, first, count};
            finish_req(c, q, start, timeout_usec, range_parser, &span, &res);
        }
        if (q->body.cap > (64u << 10)) {
            buf_free(&q->body);
            buf_init(&q->body, PROMQL_MAX_REPLY_BYTES);
        }
        if (res.error != PROMQL_OK) {
            *ret_err = res;
            *ret_first = first;
            *ret_count = count;
            return -EIO;
        }
    }
    return 0;
}
