/* amreceiver: Alertmanager webhook payloads into a bounded store of firing alerts (see
 * amreceiver.h). */
#include "amreceiver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct amreceiver {
    json_t *alerts; /* fingerprint -> {labels, annotations, startsAt, ends_at, received_at, ...} */
};

int amreceiver_new(json_t *storage, struct amreceiver **ret)
{
    struct amreceiver *s = calloc(1, sizeof(*s));
    if (!s || !json_is_object(storage)) {
        free(s);
        return -ENOMEM;
    }
    s->alerts = json_incref(storage);
    /* A store saved by another version: keep only entries of the expected shape. */
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(s->alerts, tmp, k, v)
    {
        if (!json_is_object(json_object_get(v, "labels")) ||
            !json_is_number(json_object_get(v, "received_at")))
            json_object_del(s->alerts, k);
    }
    *ret = s;
    return 0;
}

void amreceiver_free(struct amreceiver *s)
{
    if (!s)
        return;
    json_decref(s->alerts);
    free(s);
}

/* RFC 3339 ("2026-11-21T10:00:00.123Z", "...+01:00") to epoch seconds; 0 for Go's zero
 * time ("0001-01-01T00:00:00Z") and for anything that does not parse. */
static double parse_time(const char *s)
{
    if (!s)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p || tm.tm_year < 70)
        return 0;
    double frac = 0;
    if (*p == '.') {
        char *end;
        frac = strtod(p, &end);
        p = end;
    }
    long off = 0;
    if (*p == '+' || *p == '-') {
        int h = 0, m = 0;
        if (sscanf(p + 1, "%2d:%2d", &h, &m) != 2)
            return 0;
        off = (h * 3600L + m * 60L) * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z') {
        return 0;
    }
    return (double)timegm(&tm) + frac - (double)off;
}

static bool all_strings(const json_t *o)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (!json_is_string(v))
            return false;
    }
    return true;
}

/* The store key of an alert: its fingerprint, or its labels as canonical JSON. */
static char *alert_key(const json_t *a)
{
    const char *fp = json_string_value(json_object_get(a, "fingerprint"));
    if (fp && *fp)
        return strdup(fp);
    return json_dumps(json_object_get(a, "labels"), JSON_COMPACT | JSON_SORT_KEYS);
}

static bool alive(const json_t *a, double now)
{
    double ends = json_number_value(json_object_get(a, "ends_at"));
    double received = json_number_value(json_object_get(a, "received_at"));
    return (ends == 0 || ends > now) && now - received < AMRECEIVER_MAX_AGE_SECONDS;
}

static void expire(struct amreceiver *s, double now)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(s->alerts, tmp, k, v)
    {
        if (!alive(v, now))
            json_object_del(s->alerts, k);
    }
}

int amreceiver_apply(struct amreceiver *s, const char *body, size_t len, double now,
                     unsigned *ret_firing, unsigned *ret_resolved, unsigned *ret_dropped, char *msg,
                     size_t msg_size)
{
    json_error_t err;
    *ret_firing = *ret_resolved = *ret_dropped = 0;
    json_t *root = json_loadb(body, len, 0, &err);
    if (!root) {
        snprintf(msg, msg_size, "body is not JSON: %s at line %d column %d", err.text, err.line,
                 err.column);
        return -EINVAL;
    }
    int ret = -EINVAL;
    const char *version = json_string_value(json_object_get(root, "version"));
    json_t *alerts = json_object_get(root, "alerts");
    const char *receiver = json_string_value(json_object_get(root, "receiver"));
    if (!json_is_object(root)) {
        snprintf(msg, msg_size, "expected a JSON object (an Alertmanager webhook payload)");
        goto out;
    }
    if (!version || strcmp(version, "4") != 0) {
        snprintf(msg, msg_size, "version: expected \"4\" (Alertmanager webhook payload), got %s",
                 version ? version : "none");
        goto out;
    }
    if (!json_is_array(alerts)) {
        snprintf(msg, msg_size, "alerts: expected an array");
        goto out;
    }
    /* Check everything before applying anything. */
    for (size_t i = 0; i < json_array_size(alerts); i++) {
        json_t *a = json_array_get(alerts, i);
        const char *status = json_string_value(json_object_get(a, "status"));
        json_t *labels = json_object_get(a, "labels");
        json_t *ann = json_object_get(a, "annotations");
        if (!json_is_object(a)) {
            snprintf(msg, msg_size, "alerts[%zu]: expected an object", i);
            goto out;
        }
        if (!status || (strcmp(status, "firing") != 0 && strcmp(status, "resolved") != 0)) {
            snprintf(msg, msg_size, "alerts[%zu].status: expected \"firing\" or \"resolved\"", i);
            goto out;
        }
        if (!json_is_object(labels) || !all_strings(labels) ||
            !json_is_string(json_object_get(labels, "alertname"))) {
            snprintf(msg, msg_size,
                     "alerts[%zu].labels: expected an object of strings with an alertname", i);
            goto out;
        }
        if (ann && (!json_is_object(ann) || !all_strings(ann))) {
            snprintf(msg, msg_size, "alerts[%zu].annotations: expected an object of strings", i);
            goto out;
        }
    }
    expire(s, now);
    for (size_t i = 0; i < json_array_size(alerts); i++) {
        json_t *a = json_array_get(alerts, i);
        char *key = alert_key(a);
        if (!key) {
            snprintf(msg, msg_size, "out of memory");
            ret = -ENOMEM;
            goto out;
        }
        double ends = parse_time(json_string_value(json_object_get(a, "endsAt")));
        bool firing = strcmp(json_string_value(json_object_get(a, "status")), "firing") == 0 &&
                      (ends == 0 || ends > now);
        if (!firing) {
            json_object_del(s->alerts, key);
            (*ret_resolved)++;
            free(key);
            continue;
        }
        (*ret_firing)++;
        json_t *o = json_object();
        json_object_set(o, "labels", json_object_get(a, "labels"));
        json_t *ann = json_object_get(a, "annotations");
        json_object_set_new(o, "annotations", ann ? json_incref(ann) : json_object());
        json_t *starts = json_object_get(a, "startsAt");
        json_object_set_new(o, "startsAt",
                            json_is_string(starts) ? json_incref(starts) : json_null());
        json_object_set_new(o, "ends_at", json_real(ends));
        json_object_set_new(o, "received_at", json_real(now));
        json_object_set_new(o, "fingerprint", json_string(key));
        json_object_set_new(o, "receiver", json_string(receiver ? receiver : ""));
        json_t *gen = json_object_get(a, "generatorURL");
        if (json_is_string(gen))
            json_object_set(o, "generatorURL", gen);
        json_object_set_new(s->alerts, key, o);
        free(key);
    }
    /* Bounded: drop the alerts received longest ago. */
    while (json_object_size(s->alerts) > AMRECEIVER_MAX_ALERTS) {
        const char *oldest = NULL, *k;
        double t = 0;
        json_t *v;
        json_object_foreach(s->alerts, k, v)
        {
            double r = json_number_value(json_object_get(v, "received_at"));
            if (!oldest || r < t) {
                oldest = k;
                t = r;
            }
        }
        json_object_del(s->alerts, oldest);
        (*ret_dropped)++;
    }
    ret = 0;
out:
    json_decref(root);
    return ret;
}

bool amreceiver_firing(struct amreceiver *s, const char *alertname, double now)
{
    const char *k;
    json_t *v;
    json_object_foreach(s->alerts, k, v)
    {
        const char *name =
            json_string_value(json_object_get(json_object_get(v, "labels"), "alertname"));
        if (name && strcmp(name, alertname) == 0 && alive(v, now))
            return true;
    }
    return false;
}

static int newest_first(const void *a, const void *b)
{
    double x = json_number_value(json_object_get(*(json_t *const *)a, "received_at"));
    double y = json_number_value(json_object_get(*(json_t *const *)b, "received_at"));
    return x < y ? 1 : x > y ? -1 : 0;
}

json_t *amreceiver_json(struct amreceiver *s, double now)
{
    size_t n = json_object_size(s->alerts), i = 0;
    json_t **items = calloc(n ? n : 1, sizeof(*items));
    json_t *arr = json_array();
    if (!items || !arr) {
        free(items);
        json_decref(arr);
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(s->alerts, k, v)
    {
        if (alive(v, now))
            items[i++] = v;
    }
    qsort(items, i, sizeof(*items), newest_first);
    for (size_t j = 0; j < i; j++) {
        json_t *o = json_deep_copy(items[j]);
        json_object_del(o, "ends_at");
        json_object_set_new(o, "received_at",
                            json_real(json_number_value(json_object_get(items[j], "received_at"))));
        json_array_append_new(arr, o);
    }
    free(items);
    return arr;
}

size_t amreceiver_count(struct amreceiver *s, double now)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(s->alerts, k, v)
    {
        n += alive(v, now);
    }
    return n;
}
