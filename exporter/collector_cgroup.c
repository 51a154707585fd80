/* collector_cgroup: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int cgroup_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_cgroup = {
    .name = "cgroup",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = cgroup_collect,
};
