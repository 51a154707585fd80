/* collector_loadavg: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int loadavg_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_loadavg = {
    .name = "loadavg",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = loadavg_collect,
};
