#!/bin/bash
# regulator_app_aimd.sh: the aimd law (AIMDLimit's: times 0.7 while the p95 is over the
# setpoint's band, +2 while under it) on the real demo application: regulator_app.bash says
# what is run and checked.
LAW=aimd
LAW_YAML="    aimd: {increase: 2, decrease: 0.7}"
# shellcheck source=tests/integration/demo/regulator_app.bash
. "$(dirname "${BASH_SOURCE[0]}")/regulator_app.bash"
