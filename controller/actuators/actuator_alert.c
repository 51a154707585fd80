/* actuator_alert: the "alert" action: posts the controller's state as one alert to every
 * Alertmanager at once (API v2, POST <base>/api/v2/alerts, over one curl multi handle).
 * The undo object keeps everything needed to send the same alert again: revert resolves
 * it (endsAt = now) and actuator_alert_resend keeps it firing (endsAt = now + 4 resend
 * intervals). Exports actuator_alert and actuator_alert_resend (see actuator.h). */
#include "actuator.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "parse.h"
#include "rules_loader.h"

#ifndef HOMEOSTAT_VERSION
#define HOMEOSTAT_VERSION "dev"
#endif

#define ALERT_DEFAULT_TIMEOUT_USEC 5000000ull
#define ALERT_MAX_CONNECT_TIMEOUT_USEC 5000000ull
#define ALERT_DEFAULT_RESEND_USEC 60000000ull
#define ALERT_DEFAULT_NAME "HomeostatState"
#define ALERT_MAX_ALERTMANAGERS 8
#define ALERT_MAX_PAIRS 32          /* labels, and annotations, a rules file may add */
#define ALERT_MAX_VALUE_BYTES 16384 /* of one label or annotation value */
#define ALERT_MAX_RESPONSE_BYTES 4096
#define ALERT_ERROR_BODY_BYTES 200

/* Labels the action sets itself: alertname and severity have their own keys. */
static const char *const reserved_labels[] = {"alertname", "state", "severity", "component", NULL};

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

/* A Prometheus label name: [a-zA-Z_][a-zA-Z0-9_]*. */
static bool is_label_name(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* labels or annotations: a map of label names to scalar values. */
static int validate_pairs(const json_t *v, const char *key, bool labels, const char **bad_key,
                          char *msg, size_t msg_size)
{
    if (!json_is_object(v))
        return invalid(bad_key, key, msg, msg_size, "%s must be a map of name to text", key);
    if (json_object_size(v) > ALERT_MAX_PAIRS)
        return invalid(bad_key, key, msg, msg_size, "at most %d %s", ALERT_MAX_PAIRS, key);
    const char *name;
    json_t *item;
    json_object_foreach((json_t *)v, name, item)
    {
        if (!is_label_name(name) || (labels && strncmp(name, "__", 2) == 0))
            return invalid(bad_key, key, msg, msg_size,
                           "'%.64s' is not a valid %s name: letters, digits and _, not "
                           "starting with a digit%s",
                           name, labels ? "label" : "annotation", labels ? " or __" : "");
        size_t i;
        for (i = 0; labels && reserved_labels[i]; i++)
            if (strcmp(name, reserved_labels[i]) == 0)
                break;
        if (labels && reserved_labels[i])
            return invalid(bad_key, key, msg, msg_size,
                           "label '%s' is set by the alert action itself%s", name,
                           strcmp(name, "alertname") == 0  ? ": use the alertname key"
                           : strcmp(name, "severity") == 0 ? ": use the severity key"
                                                           : "");
        if (json_is_string(item)) {
            if (json_string_length(item) > ALERT_MAX_VALUE_BYTES)
                return invalid(bad_key, key, msg, msg_size, "%s '%.64s': longer than %d bytes", key,
                               name, ALERT_MAX_VALUE_BYTES);
        } else if (!json_is_number(item) && !json_is_boolean(item)) {
            return invalid(bad_key, key, msg, msg_size, "%s '%.64s': value must be text", key,
                           name);
        }
    }
    return 0;
}

static int validate_alert(const json_t *params, const char **bad_key, char *msg, size_t msg_size)
{
    *bad_key = NULL;
    if (!json_is_object(params))
        return invalid(bad_key, NULL, msg, msg_size, "expected a map of settings");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v)
    {
        int r = 0;
        if (actuator_generic_key(key)) {
            continue;
        } else if (strcmp(key, "alertname") == 0) {
            if (!json_is_string(v) || json_string_length(v) == 0)
                return invalid(bad_key, key, msg, msg_size,
                               "alertname must be non-empty text such as HomeostatState");
            if (json_string_length(v) > 256)
                return invalid(bad_key, key, msg, msg_size, "alertname longer than 256 bytes");
        } else if (strcmp(key, "severity") == 0) {
            if (!json_is_string(v) || json_string_length(v) > 256)
                return invalid(bad_key, key, msg, msg_size,
                               "severity must be text such as critical or warning");
        } else if (strcmp(key, "labels") == 0) {
            r = validate_pairs(v, key, true, bad_key, msg, msg_size);
        } else if (strcmp(key, "annotations") == 0) {
            r = validate_pairs(v, key, false, bad_key, msg, msg_size);
        } else if (strcmp(key, "alertmanagers") == 0) {
            if (!json_is_array(v) || json_array_size(v) == 0 ||
                json_array_size(v) > ALERT_MAX_ALERTMANAGERS)
                return invalid(bad_key, key, msg, msg_size,
                               "alertmanagers must be a list of 1 to %d URLs such as "
                               "http://127.0.0.1:9093",
                               ALERT_MAX_ALERTMANAGERS);
            size_t i;
            json_t *u;
            json_array_foreach(v, i, u)
            {
                if (!json_is_string(u))
                    return invalid(bad_key, key, msg, msg_size,
                                   "alertmanagers: item %zu is not a URL", i + 1);
                const char *s = json_string_value(u);
                const char *why = strstr(s, "{{") ? NULL : rules_url_error(s);
                if (why)
                    return invalid(bad_key, key, msg, msg_size, "alertmanagers: '%.200s' %s", s,
                                   why);
            }
        } else {
            return invalid(bad_key, key, msg, msg_size,
                           "unknown key '%.64s': an alert takes alertname, severity, labels, "
                           "annotations, alertmanagers, timeout, retries and backoff",
                           key);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- building the alert ---------------------------------------------------------- */

/* RFC 3339 in UTC with milliseconds: "2024-05-01T12:00:00.123Z". */
static void format_time(double t, char *out, size_t size)
{
    if (!isfinite(t) || t < 0)
        t = 0;
    double whole = floor(t);
    int ms = (int)((t - whole) * 1000);
    if (ms < 0 || ms > 999)
        ms = ms < 0 ? 0 : 999;
    time_t s = (time_t)whole;
    struct tm tm;
    gmtime_r(&s, &tm);
    char base[24];
    if (strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        base[0] = '\0';
    snprintf(out, size, "%s.%03dZ", base, ms);
}

/* A scalar as label text (new reference). */
static json_t *as_text(const json_t *v)
{
    char tmp[64];
    if (json_is_string(v))
        return json_incref((json_t *)v);
    if (json_is_integer(v))
        snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(tmp, sizeof(tmp), "%.15g", json_real_value(v));
    else
        snprintf(tmp, sizeof(tmp), "%s", json_is_true(v) ? "true" : "false");
    return json_string(tmp);
}

/* Sets name to value in obj unless value is empty (an empty label is no label). */
static void set_text(json_t *obj, const char *name, const char *value)
{
    if (value && *value)
        json_object_set_new(obj, name, json_string(value));
}

/* Adds the user's pairs (as text) to obj; theirs win for annotations. */
static void add_pairs(json_t *obj, const json_t *pairs)
{
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)pairs, name, v)
    {
        json_t *t = as_text(v);
        if (t && json_string_length(t) > 0)
            json_object_set_new(obj, name, t);
        else
            json_decref(t);
    }
}

static void alert_labels(const json_t *params, const struct action_ctx *ctx, json_t *labels)
{
    const char *name = json_string_value(json_object_get(params, "alertname"));
    const char *sev = json_string_value(json_object_get(params, "severity"));
    if (!sev || !*sev)
        sev = ctx->severity && *ctx->severity ? ctx->severity : "warning";
    set_text(labels, "alertname", name && *name ? name : ALERT_DEFAULT_NAME);
    set_text(labels, "state", ctx->state);
    set_text(labels, "severity", sev);
    set_text(labels, "component", "homeostat-controller");
    add_pairs(labels, json_object_get(params, "labels"));
}

static void alert_annotations(const json_t *params, const struct action_ctx *ctx,
                              json_t *annotations)
{
    char text[256];
    snprintf(text, sizeof(text), "homeostat: %.180s (confidence %.2f)",
             ctx->state ? ctx->state : "", ctx->confidence);
    set_text(annotations, "summary", text);
    set_text(annotations, "reasoning", ctx->reasoning);
    snprintf(text, sizeof(text), "%.2f", ctx->confidence);
    set_text(annotations, "confidence", text);
    set_text(annotations, "decision_id", ctx->decision_id);
    add_pairs(annotations, json_object_get(params, "annotations"));
}

/* The Alertmanager base URLs: params' alertmanagers, else the daemon's. New reference (an
 * array, maybe empty). */
static json_t *targets_of(const json_t *list, const struct action_ctx *ctx)
{
    if (json_is_array(list) && json_array_size(list) > 0)
        return json_deep_copy(list);
    json_t *out = json_array();
    for (char *const *u = ctx->env ? ctx->env->alertmanagers : NULL; u && *u; u++)
        if (json_array_size(out) < ALERT_MAX_ALERTMANAGERS)
            json_array_append_new(out, json_string(*u));
    return out;
}

static uint64_t resend_usec(const struct action_ctx *ctx)
{
    return ctx->env && ctx->env->alert_resend_usec ? ctx->env->alert_resend_usec
                                                   : ALERT_DEFAULT_RESEND_USEC;
}

/* ---- sending --------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static bool curl_ready;

static void curl_init_once(void)
{
    curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
}

struct post {
    const char *base; /* borrowed from the targets array */
    char *url;        /* base + /api/v2/alerts */
    CURL *easy;
    struct buf reply;
    CURLcode code;
    bool done;
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    size_t len = size * n;
    size_t room = ALERT_MAX_RESPONSE_BYTES - b->len;
    buf_append(b, p, len < room ? len : room);
    return len;
}

static bool retryable(CURLcode code)
{
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR: return true;
    default: return false;
    }
}

/* The first bytes of a reply on one line, printable ASCII only (Alertmanager's errors are
 * short JSON or text). */
static void reply_line(const struct buf *b, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; b->data && i < b->len && i < ALERT_ERROR_BODY_BYTES && o + 1 < size; i++) {
        unsigned char c = (unsigned char)b->data[i];
        char ch = c < 0x20 || c >= 0x7f ? ' ' : (char)c;
        if (ch == ' ' && (o == 0 || out[o - 1] == ' '))
            continue;
        out[o++] = ch;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

/* Posts [alert] to every target at once and fills res: ACT_OK when one accepted it,
 * otherwise ACT_RETRY when any failure may pass (5xx, 429, connect, timeout), else
 * ACT_FAIL. detail = {"alertmanagers": [{url, http_status, error}], "endsAt"}. */
static void post_alert(const json_t *targets, const json_t *alert, uint64_t timeout_usec,
                       const char *what, struct action_result *res)
{
    size_t n = json_array_size(targets);
    if (n == 0) {
        action_fail(res, ACT_FAIL, "alert: no alertmanagers configured");
        return;
    }
    if (n > ALERT_MAX_ALERTMANAGERS)
        n = ALERT_MAX_ALERTMANAGERS;
    json_t *payload = json_pack("[O]", alert);
    char *body = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
    json_decref(payload);
    struct post posts[ALERT_MAX_ALERTMANAGERS];
    memset(posts, 0, sizeof(posts));
    struct curl_slist *headers = NULL, *tmp;
    CURLM *multi = NULL;
    if (!body)
        goto oom;
    pthread_once(&curl_once, curl_init_once);
    if (!curl_ready || !(multi = curl_multi_init()))
        goto oom;
    static const char *const hdrs[] = {"Content-Type: application/json", "Accept: application/json",
                                       ("User-Agent: homeostat-controller/" HOMEOSTAT_VERSION),
                                       "Expect:"};
    for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
        if (!(tmp = curl_slist_append(headers, hdrs[i])))
            goto oom;
        headers = tmp;
    }
    if (timeout_usec == 0)
        timeout_usec = ALERT_DEFAULT_TIMEOUT_USEC;
    uint64_t connect_usec = timeout_usec < ALERT_MAX_CONNECT_TIMEOUT_USEC
                                ? timeout_usec
                                : ALERT_MAX_CONNECT_TIMEOUT_USEC;
    for (size_t i = 0; i < n; i++) {
        struct post *p = &posts[i];
        p->base = json_string_value(json_array_get(targets, i));
        buf_init(&p->reply, ALERT_MAX_RESPONSE_BYTES + 1);
        if (!p->base) {
            p->base = "";
            p->code = CURLE_URL_MALFORMAT;
            p->done = true;
            continue;
        }
        size_t len = strlen(p->base);
        while (len > 0 && p->base[len - 1] == '/')
            len--;
        struct buf u = BUF_INIT_MAX(RULES_MAX_URL + 64);
        if (buf_append(&u, p->base, len) < 0 || buf_puts(&u, "/api/v2/alerts") < 0) {
            buf_free(&u);
            goto oom;
        }
        p->url = buf_steal(&u, NULL);
        if (!(p->easy = curl_easy_init()))
            goto oom;
        CURL *h = p->easy;
        curl_easy_setopt(h, CURLOPT_URL, p->url);
        curl_easy_setopt(h, CURLOPT_PRIVATE, p);
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
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &p->reply);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, p->errbuf);
        if (curl_multi_add_handle(multi, h) != CURLM_OK)
            goto oom;
    }

    /* Every transfer has its own timeout; the deadline only guards against a loop that
     * would not end. */
    uint64_t deadline = now_usec() + timeout_usec + 2000000;
    int running = 1;
    while (running > 0 && now_usec() < deadline) {
        if (curl_multi_perform(multi, &running) != CURLM_OK)
            break;
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 200, NULL);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
        struct post *p = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&p);
        if (p) {
            p->code = m->data.result;
            p->done = true;
        }
    }

    bool ok = false, retry = false;
    struct buf err = BUF_INIT_MAX(sizeof(res->error));
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        struct post *p = &posts[i];
        long http = 0;
        char line[ALERT_ERROR_BODY_BYTES + 1] = "";
        char why[ALERT_ERROR_BODY_BYTES + 64] = "";
        if (p->easy)
            curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &http);
        if (!p->done) {
            snprintf(why, sizeof(why), "timed out");
            retry = true;
        } else if (p->code != CURLE_OK) {
            snprintf(why, sizeof(why), "%s",
                     p->errbuf[0] ? p->errbuf : curl_easy_strerror(p->code));
            retry |= retryable(p->code);
        } else if (http >= 200 && http <= 299) {
            ok = true;
        } else {
            reply_line(&p->reply, line, sizeof(line));
            snprintf(why, sizeof(why), "HTTP %ld%s%s", http, line[0] ? ": " : "", line);
            retry |= http == 408 || http == 429 || http >= 500;
        }
        json_t *one = json_pack("{s:s, s:o, s:o}", "url", p->base, "http_status",
                                http ? json_integer(http) : json_null(), "error",
                                why[0] ? json_string(why) : json_null());
        json_array_append_new(list, one);
        if (why[0])
            buf_printf(&err, "%s%s: %s", err.len ? "; " : "", p->base, why);
    }
    res->detail =
        json_pack("{s:o, s:O}", "alertmanagers", list, "endsAt", json_object_get(alert, "endsAt"));
    if (ok)
        res->status = ACT_OK;
    else
        action_fail(res, retry ? ACT_RETRY : ACT_FAIL, "alert: %s: no Alertmanager accepted it: %s",
                    what, err.data ? err.data : "");
    buf_free(&err);
    goto out;
oom:
    action_fail(res, ACT_RETRY, "alert: %s: out of memory or libcurl unavailable", what);
out:
    for (size_t i = 0; i < n; i++) {
        if (posts[i].easy) {
            if (multi)
                curl_multi_remove_handle(multi, posts[i].easy);
            curl_easy_cleanup(posts[i].easy);
        }
        free(posts[i].url);
        buf_free(&posts[i].reply);
    }
    if (multi)
        curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    free(body);
}

/* The alert from its parts, ending at ends_at (epoch seconds). New reference. */
static json_t *make_alert(const json_t *labels, const json_t *annotations, const char *starts_at,
                          double ends_at, const char *generator_url)
{
    char ends[40];
    format_time(ends_at, ends, sizeof(ends));
    json_t *a = json_pack("{s:O, s:O, s:s, s:s}", "labels", labels, "annotations", annotations,
                          "startsAt", starts_at, "endsAt", ends);
    if (a && generator_url && *generator_url)
        json_object_set_new(a, "generatorURL", json_string(generator_url));
    return a;
}

static void apply_alert(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                        struct action_result *res)
{
    json_t *targets = targets_of(json_object_get(params, "alertmanagers"), ctx);
    json_t *labels = json_object(), *annotations = json_object();
    json_t *alert = NULL;
    if (!targets || !labels || !annotations) {
        action_fail(res, ACT_RETRY, "alert: out of memory");
        goto out;
    }
    if (json_array_size(targets) == 0) {
        action_fail(res, ACT_FAIL, "alert: no alertmanagers configured");
        goto out;
    }
    alert_labels(params, ctx, labels);
    alert_annotations(params, ctx, annotations);
    char starts[40];
    format_time(ctx->time, starts, sizeof(starts));
    const char *gen = ctx->env ? ctx->env->generator_url : NULL;
    double ends = now_realtime() + 4 * (double)resend_usec(ctx) / 1e6;
    alert = make_alert(labels, annotations, starts, ends, gen);
    if (!alert) {
        action_fail(res, ACT_RETRY, "alert: out of memory");
        goto out;
    }
    if (ctx->server_dry_run) {
        res->status = ACT_OK;
        res->detail = json_pack("{s:s, s:O}", "skipped", "dry run", "alert", alert);
        goto out;
    }
    post_alert(targets, alert, timeout_usec, "send", res);
    if (res->status == ACT_OK) {
        res->undo = json_pack("{s:O, s:O, s:s, s:O}", "labels", labels, "annotations", annotations,
                              "startsAt", starts, "alertmanagers", targets);
        if (res->undo && gen && *gen)
            json_object_set_new(res->undo, "generatorURL", json_string(gen));
    }
out:
    json_decref(alert);
    json_decref(labels);
    json_decref(annotations);
    json_decref(targets);
}

/* Sends the alert of undo again, ending at ends_at. */
static void send_from_undo(const json_t *undo, const struct action_ctx *ctx, double ends_at,
                           uint64_t timeout_usec, const char *what, struct action_result *res)
{
    const json_t *labels = json_object_get(undo, "labels");
    const json_t *annotations = json_object_get(undo, "annotations");
    const char *starts = json_string_value(json_object_get(undo, "startsAt"));
    if (!json_is_object(labels) || json_object_size(labels) == 0 || !json_is_object(annotations) ||
        !starts) {
        action_fail(res, ACT_FAIL,
                    "alert: %s: the undo object has no labels, annotations or "
                    "startsAt",
                    what);
        return;
    }
    json_t *targets = targets_of(json_object_get(undo, "alertmanagers"), ctx);
    json_t *alert = make_alert(labels, annotations, starts, ends_at,
                               json_string_value(json_object_get(undo, "generatorURL")));
    if (!targets || !alert) {
        action_fail(res, ACT_RETRY, "alert: %s: out of memory", what);
    } else if (ctx->server_dry_run) {
        res->status = ACT_OK;
        res->detail = json_pack("{s:s, s:O}", "skipped", "dry run", "alert", alert);
    } else {
        post_alert(targets, alert, timeout_usec, what, res);
    }
    json_decref(alert);
    json_decref(targets);
}

/* Resolves the alert: the same labels with endsAt = now. */
static void revert_alert(const json_t *params, const json_t *undo, const struct action_ctx *ctx,
                         uint64_t timeout_usec, struct action_result *res)
{
    send_from_undo(undo, ctx, now_realtime(), timeout_usec, "resolve", res);
}

/* res is initialised here (as actuator_run does); free it with action_result_clear. */
void actuator_alert_resend(const json_t *undo, const struct action_ctx *ctx, uint64_t timeout_usec,
                           struct action_result *res)
{
    memset(res, 0, sizeof(*res));
    res->attempts = 1;
    res->status = ACT_OK;
    if (timeout_usec == 0)
        timeout_usec = ALERT_DEFAULT_TIMEOUT_USEC;
    send_from_undo(undo, ctx, now_realtime() + 4 * (double)resend_usec(ctx) / 1e6, timeout_usec,
                   "resend", res);
}

/* The body: a map, or nothing at all (`- alert:`, every key its default). */
static bool load_alert(struct loader *l, struct action_def *a, const struct ytree_node *v,
                       struct buf *sum)
{
    if (ytree_is_null(v)) {
        a->params = json_object();
        if (!a->params)
            l->oom = true;
        return a->params != NULL;
    }
    return loader_action_map(l, a, v) && loader_action_params(l, a, v, sum, NULL);
}

const struct actuator actuator_alert = {
    .kind = ACTION_ALERT,
    .name = "alert",
    .load = load_alert,
    .validate = validate_alert,
    .apply = apply_alert,
    .revert = revert_alert,
    .default_timeout_usec = ALERT_DEFAULT_TIMEOUT_USEC,
    .default_retries = 1,
};
