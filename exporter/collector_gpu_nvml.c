/* collector_gpu_nvml: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int gpu_nvml_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_gpu_nvml = {
    .name = "gpu_nvml",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = gpu_nvml_collect,
};
