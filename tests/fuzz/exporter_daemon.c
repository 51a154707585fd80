/* exporter_daemon: exporter/main.c compiled with its main() renamed homeostat_exporter_main,
 * so that fuzz_exporter_http.c runs the real daemon, flags and all, on a thread of the
 * fuzzing process. */
int homeostat_exporter_main(int argc, char **argv);
#define main homeostat_exporter_main
#include "../../exporter/main.c"
