/* ruletest: `homeostat-controller test FILE...`, rule unit tests without
 * Prometheus, in the spirit of `promtool test rules`: YAML cases give signal values
 * over time (missing values included) and the expected states, decisions and
 * confidence bounds; the cases run through the same evaluate() and decide() as the
 * daemon. The file format is documented in docs/RULES.md ("Testing rules"). */
#ifndef HOMEOSTAT_CONTROLLER_RULETEST_H
#define HOMEOSTAT_CONTROLLER_RULETEST_H

#include <stddef.h>
#include <stdio.h>

/* Time of a test's first step (epoch seconds); step k is at RULETEST_T0 + k * interval. */
#define RULETEST_T0 1700000000.0
/* Steps of one test (values of a series, or the step of the last expectation). */
#define RULETEST_MAX_STEPS 100000

/* Runs the test files paths[0..n-1] in order and writes, for each, "Unit Testing: FILE"
 * followed by "  SUCCESS" or "  FAILED:" and one block per failed expectation (test name,
 * time and step, expected and got, the reasoning) or the file's errors as
 * "FILE:LINE:COL: message" (of the test file or of its rules file). Returns 0 when every
 * test of every file passed, 2 when a file or its rules could not be loaded, 1 when a
 * test failed (the largest over the files). Nothing but out is written. */
int ruletest_run_files(const char *const *paths, size_t n, FILE *out);

#endif
