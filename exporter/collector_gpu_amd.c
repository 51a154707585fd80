/* collector_gpu_amd: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int gpu_amd_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_gpu_amd = {
    .name = "gpu_amd",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = gpu_amd_collect,
};
