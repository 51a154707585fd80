/* actuator_webhook: placeholder until the webhook actuator lands (see actuator.h). */
#include "actuator.h"

static void apply_webhook(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                     struct action_result *res)
{
    action_fail(res, ACT_FAIL, "webhook: not implemented yet");
}

const struct actuator actuator_webhook = {
    .kind = ACTION_WEBHOOK,
    .apply = apply_webhook,
    .default_timeout_usec = 10000000,
};
