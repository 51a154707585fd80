/* fuzz_amreceiver: an Alertmanager webhook body (POST /api/v1/alertmanager) through
 * amreceiver_apply on a fresh store, applied twice (re-notification) and once more a day
 * later (expiry); then the alerts are listed as for GET /api/v1/alerts. A refused body
 * changes nothing and says why. */
#include <jansson.h>
#include <string.h>

#include "amreceiver.h"
#include "fuzz_common.h"

#define T0 1700000000.0

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *storage = json_object();
    struct amreceiver *s = NULL;
    if (!storage || amreceiver_new(storage, &s) < 0)
        fuzz_fail("out of memory");
    static const double times[] = {T0, T0 + 30, T0 + 2 * 86400.0};
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        unsigned firing = 0, resolved = 0, dropped = 0;
        char msg[256] = "";
        size_t before = amreceiver_count(s, times[i]);
        int r = amreceiver_apply(s, (const char *)data, size, times[i], &firing, &resolved,
                                 &dropped, msg, sizeof(msg));
        if (r < 0 && (!msg[0] || amreceiver_count(s, times[i]) != before))
            fuzz_fail("amreceiver_apply refused a body without a reason or changed the store");
        if (amreceiver_count(s, times[i]) > AMRECEIVER_MAX_ALERTS)
            fuzz_fail("amreceiver holds more than %d alerts", AMRECEIVER_MAX_ALERTS);
        json_t *list = amreceiver_json(s, times[i]);
        char *text = json_dumps(list, JSON_COMPACT);
        if (!text)
            fuzz_fail("the alerts do not render as JSON");
        free(text);
        json_decref(list);
        amreceiver_firing(s, "HighLatency", times[i]);
    }
    amreceiver_free(s);
    json_decref(storage);
    return 0;
}
