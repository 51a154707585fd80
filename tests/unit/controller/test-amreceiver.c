/* test-amreceiver: the Alertmanager webhook store (controller/clients/amreceiver.c): firing and
 * resolved alerts by fingerprint, endsAt and the one-day expiry, payloads that are
 * refused whole (version, shape, labels), the bound on the number of alerts, and the
 * JSON listing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "amreceiver.h"
#include "test.h"

#define T0 1700000000.0 /* 2023-11-14T22:13:20Z */

/* A version 4 payload with one alert. */
static const char *payload(char *buf, size_t size, const char *status, const char *name,
                           const char *fp, const char *ends)
{
    snprintf(buf, size,
             "{\"version\":\"4\",\"status\":\"%s\",\"receiver\":\"ctl\",\"groupKey\":\"{}\","
             "\"alerts\":[{\"status\":\"%s\",\"labels\":{\"alertname\":\"%s\",\"svc\":\"shop\"},"
             "\"annotations\":{\"summary\":\"s\"},\"startsAt\":\"2023-11-14T22:00:00.5Z\","
             "\"endsAt\":\"%s\",\"generatorURL\":\"http://prom/g\",\"fingerprint\":\"%s\"}]}",
             status, status, name, ends, fp);
    return buf;
}

static int apply(struct amreceiver *s, const char *body, double now, char *msg)
{
    unsigned f, r, d;
    return amreceiver_apply(s, body, strlen(body), now, &f, &r, &d, msg, 256);
}

TEST(firing_then_resolved)
{
    json_t *storage = json_object();
    struct amreceiver *s = NULL;
    CHECK_INT(amreceiver_new(storage, &s), 0);
    char buf[1024], msg[256];
    CHECK(!amreceiver_firing(s, "HighErrorRate", T0));
    CHECK_INT(
        apply(s, payload(buf, sizeof(buf), "firing", "HighErrorRate", "a1", "0001-01-01T00:00:00Z"),
              T0, msg),
        0);
    CHECK(amreceiver_firing(s, "HighErrorRate", T0 + 1));
    CHECK(!amreceiver_firing(s, "Other", T0 + 1));
    CHECK_INT(amreceiver_count(s, T0 + 1), 1);
    CHECK_INT(json_object_size(storage), 1); /* kept in the caller's object */
    json_t *list = amreceiver_json(s, T0 + 1);
    CHECK_INT(json_array_size(list), 1);
    json_t *a = json_array_get(list, 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(a, "labels"), "svc")), "shop");
    CHECK_STR(json_string_value(json_object_get(a, "receiver")), "ctl");
    CHECK_STR(json_string_value(json_object_get(a, "fingerprint")), "a1");
    json_decref(list);
    /* The same alert again is one alert; resolved removes it. */
    apply(s, payload(buf, sizeof(buf), "firing", "HighErrorRate", "a1", "0001-01-01T00:00:00Z"),
          T0 + 5, msg);
    CHECK_INT(amreceiver_count(s, T0 + 5), 1);
    unsigned f, r, d;
    const char *resolved =
        payload(buf, sizeof(buf), "resolved", "HighErrorRate", "a1", "2023-11-14T22:14:00Z");
    CHECK_INT(amreceiver_apply(s, resolved, strlen(resolved), T0 + 60, &f, &r, &d, msg, 256), 0);
    CHECK_INT(f, 0);
    CHECK_INT(r, 1);
    CHECK(!amreceiver_firing(s, "HighErrorRate", T0 + 60));
    amreceiver_free(s);
    json_decref(storage);
}

TEST(ends_at_and_expiry)
{
    json_t *storage = json_object();
    struct amreceiver *s = NULL;
    CHECK_INT(amreceiver_new(storage, &s), 0);
    char buf[1024], msg[256];
    /* endsAt 100 s after T0 (with an offset written out): firing until then. */
    apply(s, payload(buf, sizeof(buf), "firing", "A", "f1", "2023-11-15T00:15:00+02:00"), T0, msg);
    CHECK(amreceiver_firing(s, "A", T0 + 99));
    CHECK(!amreceiver_firing(s, "A", T0 + 101));
    /* Firing without endsAt: until nothing re-notified it for a day. */
    apply(s, payload(buf, sizeof(buf), "firing", "B", "f2", "0001-01-01T00:00:00Z"), T0, msg);
    CHECK(amreceiver_firing(s, "B", T0 + AMRECEIVER_MAX_AGE_SECONDS - 1));
    CHECK(!amreceiver_firing(s, "B", T0 + AMRECEIVER_MAX_AGE_SECONDS + 1));
    /* A "firing" alert whose endsAt has passed counts as resolved. */
    apply(s, payload(buf, sizeof(buf), "firing", "C", "f3", "2023-11-14T22:00:00Z"), T0, msg);
    CHECK(!amreceiver_firing(s, "C", T0));
    amreceiver_free(s);
    json_decref(storage);
}

TEST(bad_payloads_change_nothing)
{
    json_t *storage = json_object();
    struct amreceiver *s = NULL;
    CHECK_INT(amreceiver_new(storage, &s), 0);
    char msg[256];
    static const struct {
        const char *body, *want;
    } bad[] = {
        {"not json", "body is not JSON"},
        {"[]", "expected a JSON object"},
        {"{\"version\":\"3\",\"alerts\":[]}", "version: expected \"4\""},
        {"{\"version\":\"4\"}", "alerts: expected an array"},
        {"{\"version\":\"4\",\"alerts\":[1]}", "alerts[0]: expected an object"},
        {"{\"version\":\"4\",\"alerts\":[{\"status\":\"on\",\"labels\":{\"alertname\":\"x\"}}]}",
         "alerts[0].status"},
        {"{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"a\":\"x\"}}]}",
         "alerts[0].labels: expected an object of strings with an alertname"},
        {"{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":1}}]}",
         "alerts[0].labels"},
        /* the second is bad: the first must not be applied either */
        {"{\"version\":\"4\",\"alerts\":[{\"status\":\"firing\",\"labels\":{\"alertname\":\"ok\"}},"
         "{\"status\":\"firing\",\"labels\":{\"alertname\":\"x\"},\"annotations\":[]}]}",
         "alerts[1].annotations"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_INT(apply(s, bad[i].body, T0, msg), -EINVAL);
        CHECK_CONTAINS(msg, bad[i].want);
    }
    CHECK_INT(json_object_size(storage), 0);
    amreceiver_free(s);
    json_decref(storage);
}

TEST(bounded)
{
    json_t *storage = json_object();
    struct amreceiver *s = NULL;
    CHECK_INT(amreceiver_new(storage, &s), 0);
    char buf[1024], msg[256], fp[32], name[32];
    unsigned f, r, d, dropped = 0;
    for (int i = 0; i < AMRECEIVER_MAX_ALERTS + 10; i++) {
        snprintf(fp, sizeof(fp), "fp%d", i);
        snprintf(name, sizeof(name), "A%d", i);
        const char *b = payload(buf, sizeof(buf), "firing", name, fp, "0001-01-01T00:00:00Z");
        CHECK_INT(amreceiver_apply(s, b, strlen(b), T0 + i, &f, &r, &d, msg, sizeof(msg)), 0);
        dropped += d;
    }
    CHECK_INT(dropped, 10);
    CHECK_INT(amreceiver_count(s, T0 + 2000), AMRECEIVER_MAX_ALERTS);
    CHECK(!amreceiver_firing(s, "A0", T0 + 2000));   /* the oldest went */
    CHECK(amreceiver_firing(s, "A1009", T0 + 2000)); /* the newest stayed */
    amreceiver_free(s);
    json_decref(storage);
}

TEST_MAIN(TEST_ENTRY(firing_then_resolved), TEST_ENTRY(ends_at_and_expiry),
          TEST_ENTRY(bad_payloads_change_nothing), TEST_ENTRY(bounded))
