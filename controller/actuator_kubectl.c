/* actuator_kubectl: placeholder until the kubectl actuator lands (see actuator.h). */
#include "actuator.h"

static void apply_kubectl(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                     struct action_result *res)
{
    action_fail(res, ACT_FAIL, "kubectl: not implemented yet");
}

const struct actuator actuator_kubectl = {
    .kind = ACTION_KUBECTL,
    .apply = apply_kubectl,
    .default_timeout_usec = 10000000,
};
