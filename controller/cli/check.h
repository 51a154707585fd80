/* check: `homeostat-controller check FILE...`, rules files validated the way
 * `promtool check rules` validates Prometheus rule files: every file is loaded with
 * rules_load_file and its result printed, all errors included. */
#ifndef HOMEOSTAT_CONTROLLER_CHECK_H
#define HOMEOSTAT_CONTROLLER_CHECK_H

#include <stddef.h>
#include <stdio.h>

/* Checks paths[0..n) and prints, per file, "Checking FILE" then either
 * "  SUCCESS: N signals, M states, K decisions found" or "  FAILED:" followed by every
 * error ("FILE:LINE:COL: message", or "FILE: message" for I/O), then an empty line.
 * Returns 0 when every file is valid, 1 otherwise (also for n == 0). */
int check_files(const char *const *paths, size_t n, FILE *out);

#endif
