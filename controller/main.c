/* main: homeostat-controller's verbs. `run` (the default: the daemon, daemon/run.c),
 * `check` and `test` (validate and unit-test rules files), `backtest` (replay the rules
 * over Prometheus history) and `report` (the health report). A first argument that is no
 * verb (a flag) goes to the daemon, which also names the verbs when it is given another
 * word. */
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "backtest.h"
#include "check.h"
#include "report_cli.h"
#include "ruletest.h"
#include "run.h"

/* A verb takes its arguments (argv[0] is the verb), or one FILE or more. */
struct verb {
    const char *name;
    int (*main)(int argc, char **argv);
    int (*files)(const char *const *paths, size_t n, FILE *out);
    bool curl; /* needs libcurl initialised */
};

static const struct verb verbs[] = {
    {"check", NULL, check_files, false},     {"test", NULL, ruletest_run_files, false},
    {"backtest", backtest_main, NULL, true}, {"baseline", baseline_main, NULL, true},
    {"report", report_cli, NULL, true},
};

int main(int argc, char **argv)
{
    for (size_t i = 0; argc >= 2 && i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(argv[1], verbs[i].name) != 0)
            continue;
        if (verbs[i].files) {
            if (argc < 3) {
                fprintf(stderr, "homeostat-controller: %s needs at least one FILE\n", argv[1]);
                return 2;
            }
            return verbs[i].files((const char *const *)argv + 2, (size_t)argc - 2, stdout);
        }
        if (verbs[i].curl)
            curl_global_init(CURL_GLOBAL_DEFAULT);
        int r = verbs[i].main(argc - 1, argv + 1);
        if (verbs[i].curl)
            curl_global_cleanup();
        return r;
    }
    if (argc >= 2 && strcmp(argv[1], "run") == 0) {
        argv[1] = argv[0]; /* the daemon's flags follow */
        return controller_run(argc - 1, argv + 1);
    }
    return controller_run(argc, argv);
}
