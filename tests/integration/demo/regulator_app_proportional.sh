#!/bin/bash
# regulator_app_proportional.sh: the proportional law (the HPA's replica calculator, here
# limit x setpoint / p95, rounded up) on the real demo application: regulator_app.bash says
# what is run and checked. The HPA's default behavior applies (100 % or +4 per 15 s up).
LAW=proportional
LAW_YAML=""
# shellcheck source=tests/integration/demo/regulator_app.bash
. "$(dirname "${BASH_SOURCE[0]}")/regulator_app.bash"
