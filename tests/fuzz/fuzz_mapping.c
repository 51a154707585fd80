/* fuzz_mapping: the StatsD mapping YAML (--statsd.mapping-config) through mapping_load_string:
 * a file is either loaded, with no error reported, or refused with at least one
 * "NAME:LINE:COL: message" error. A loaded mapping then maps a few names of every type. */
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "fuzz_common.h"
#include "mapping.h"

static const char *const names[] = {
    "myapp.home.latency",
    "svc.db.breaker.main.state",
    "jobs.a.req_b.count",
    "api.v1.get",
    "a1b2c.x",
    "num.42",
    "x",
    "request.duration",
    "cache.hits",
    "first.second",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf errors;
    buf_init(&errors, 1 << 20);
    struct mapping *m = NULL;
    int r =
        mapping_load_string((const char *)data, size, "fuzz.yaml", NAMING_PROMETHEUS, &m, &errors);
    if (r == 0) {
        if (!m)
            fuzz_fail("mapping_load_string returned 0 without a mapping");
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            for (int t = STATSD_COUNTER; t <= STATSD_SET; t++) {
                struct mapping_result out;
                mapping_apply(m, names[i], strlen(names[i]), (enum statsd_type)t, &out);
            }
        mapping_free(m);
    } else if (r == -EINVAL && (!errors.data || !strstr(errors.data, "fuzz.yaml:"))) {
        fuzz_fail("mapping refused without an error naming its source: '%s'",
                  errors.data ? errors.data : "");
    }
    buf_free(&errors);
    return 0;
}
