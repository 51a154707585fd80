/* controller_daemon: controller/daemon/run.c compiled with its main() renamed
 * homeostat_controller_main, so that fuzz_controller_http.c runs the real daemon, flags and
 * all, on a thread of the fuzzing process. */
int homeostat_controller_main(int argc, char **argv);
#define main homeostat_controller_main
#include "../../controller/daemon/run.c"
