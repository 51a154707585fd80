/* collector_memory: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int memory_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_memory = {
    .name = "memory",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = memory_collect,
};
