/* ruletest: `homeostat-controller test FILE...`, rule unit tests without
 * Prometheus, in the spirit of `promtool test rules`: YAML cases give signal values
 * over time (missing values included) and the expected states, decisions and
 * confidence bounds; the cases run through the same evaluate() and decide() as the
 * daemon. PLACEHOLDER: being written. */
#ifndef HOMEOSTAT_CONTROLLER_RULETEST_H
#define HOMEOSTAT_CONTROLLER_RULETEST_H
#endif
