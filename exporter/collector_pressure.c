/* collector_pressure: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int pressure_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_pressure = {
    .name = "pressure",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = pressure_collect,
};
