#!/bin/bash
# regulator_app_gradient.sh: the gradient law (Gradient2's, Envoy's: the limit times
# setpoint / p95, clamped to [0.5, 2]) on the real demo application: regulator_app.bash
# says what is run and checked.
LAW=gradient
LAW_YAML=""
# shellcheck source=tests/integration/demo/regulator_app.bash
. "$(dirname "${BASH_SOURCE[0]}")/regulator_app.bash"
