/* exporter_daemon: exporter/main.c compiled with its main() renamed homeostat_exporter_main,
 * so that fuzz_exporter_http.c runs the real daemon, flags and all, on a thread of the
 * fuzzing process. Its httpd_start is wrapped: the server starts with the daemon's own
 * options and handler but external_loop, and is published in homeostat_exporter_httpd, so
 * that the harness hands it connections and runs its loop itself (fuzz_http.h). */
#include "httpd.h"

int homeostat_exporter_main(int argc, char **argv);
struct httpd *homeostat_exporter_httpd;

static int start_external(const struct httpd_options *opts, httpd_handler_fn handler,
                          void *userdata, struct httpd **ret)
{
    struct httpd_options o = *opts;
    o.external_loop = true;
    int r = httpd_start(&o, handler, userdata, ret);
    if (r == 0)
        __atomic_store_n(&homeostat_exporter_httpd, *ret, __ATOMIC_RELEASE);
    return r;
}

#define main homeostat_exporter_main
#define httpd_start start_external
#include "../../exporter/main.c"
