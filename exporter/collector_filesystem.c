/* collector_filesystem: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int filesystem_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_filesystem = {
    .name = "filesystem",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = filesystem_collect,
};
