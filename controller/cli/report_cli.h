/* report_cli: `homeostat-controller report`, the health report's command-line front-end
 * (flags, --output, --output-dir and --keep; docs/REPORT.md). */
#ifndef HOMEOSTAT_CONTROLLER_REPORT_CLI_H
#define HOMEOSTAT_CONTROLLER_REPORT_CLI_H

/* `homeostat-controller report [FLAGS]`: argv[0] is "report". Returns the exit status: 0
 * when the report was built (and written), 1 when the rules do not load, Prometheus
 * cannot be reached or the output cannot be written, 2 for a bad flag. */
int report_cli(int argc, char **argv);

#endif
