/* collector_diskstats: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int diskstats_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_diskstats = {
    .name = "diskstats",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = diskstats_collect,
};
