/* actuator_alert: placeholder until the alert actuator lands (see actuator.h). */
#include "actuator.h"

static void apply_alert(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                     struct action_result *res)
{
    action_fail(res, ACT_FAIL, "alert: not implemented yet");
}

const struct actuator actuator_alert = {
    .kind = ACTION_ALERT,
    .apply = apply_alert,
    .default_timeout_usec = 10000000,
};

void actuator_alert_resend(const json_t *undo, const struct action_ctx *ctx,
                           uint64_t timeout_usec, struct action_result *res)
{
    action_fail(res, ACT_FAIL, "alert: not implemented yet");
}
