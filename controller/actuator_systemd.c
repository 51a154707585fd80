/* actuator_systemd: placeholder until the systemd actuator lands (see actuator.h). */
#include "actuator.h"

static void apply_systemd(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                     struct action_result *res)
{
    action_fail(res, ACT_FAIL, "systemd: not implemented yet");
}

const struct actuator actuator_systemd = {
    .kind = ACTION_SYSTEMD,
    .apply = apply_systemd,
    .default_timeout_usec = 10000000,
};
