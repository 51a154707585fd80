/* run: the controller daemon's entry, for main.c's verb table and the fuzz harness that
 * runs the real daemon on a thread (tests/fuzz/fuzz_controller_http.c). */
#ifndef HOMEOSTAT_CONTROLLER_RUN_H
#define HOMEOSTAT_CONTROLLER_RUN_H

/* Parses the daemon's flags (argv[0] is the program) and runs until SIGTERM or SIGINT.
 * Returns the exit status: 0 after a clean stop (or -h, --version), 1 when it cannot
 * start, 2 for a bad flag or argument. */
int controller_run(int argc, char **argv);

#endif
