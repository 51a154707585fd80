/* collector_netdev: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int netdev_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_netdev = {
    .name = "netdev",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = netdev_collect,
};
