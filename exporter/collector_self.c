/* collector_self: PLACEHOLDER, to be written. Reports failure until implemented. */
#include <errno.h>

#include "collector.h"

static int self_collect(void *state, struct mset *out)
{
    return -ENOSYS;
}

const struct collector collector_self = {
    .name = "self",
    .description = "not implemented yet",
    .default_enabled = false,
    .collect = self_collect,
};
