/* collector_cpu: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int cpu_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_cpu = {
    .name = "cpu",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = cpu_collect,
};
