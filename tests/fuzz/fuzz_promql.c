/* fuzz_promql: a Prometheus /api/v1/query reply body through promql_parse_reply, as with
 * status 200 and again as an error status: the result is always one of the documented
 * reasons with a NUL-terminated detail, and a number only when the reply gave one. */
#include <math.h>
#include <string.h>

#include "fuzz_common.h"
#include "promql.h"

static void parse(const uint8_t *data, size_t size, long status)
{
    struct promql_result res;
    memset(&res, 0x5a, sizeof(res));
    promql_parse_reply((const char *)data, size, status, &res);
    if ((unsigned)res.error >= PROMQL_ERR_MAX)
        fuzz_fail("promql_parse_reply: error %d", (int)res.error);
    if (!memchr(res.detail, '\0', sizeof(res.detail)) ||
        !memchr(res.warnings, '\0', sizeof(res.warnings)))
        fuzz_fail("promql_parse_reply: detail or warnings not terminated");
    if (res.error == PROMQL_OK && isnan(res.value))
        fuzz_fail("promql_parse_reply: OK with NaN");
    if (status != 200 && res.error == PROMQL_OK)
        fuzz_fail("promql_parse_reply: OK with status %ld", status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size, 200);
    parse(data, size, 422);
    return 0;
}
