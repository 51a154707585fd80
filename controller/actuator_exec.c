/* actuator_exec: placeholder until the exec actuator lands (see actuator.h). */
#include "actuator.h"

static void apply_exec(const json_t *params, const struct action_ctx *ctx, uint64_t timeout_usec,
                     struct action_result *res)
{
    action_fail(res, ACT_FAIL, "exec: not implemented yet");
}

const struct actuator actuator_exec = {
    .kind = ACTION_EXEC,
    .apply = apply_exec,
    .default_timeout_usec = 10000000,
};
