/* collector_loadavg: the 1, 5 and 15 minute load averages from <procfs>/loadavg
 * ("0.06 0.06 0.02 1/84 5170"). Exports collector_loadavg. Reports all three or
 * nothing: a short, non-numeric or negative value fails the collection. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"

#define LOADAVG_MAX 4096 /* one short line */

struct loadavg_state {
    char path[PATH_MAX];
};

static const struct {
    const char *name;
    const char *help;
} loadavg_families[3] = {
    {"homeostat_load1", "1m load average."},
    {"homeostat_load5", "5m load average."},
    {"homeostat_load15", "15m load average."},
};

static int loadavg_init(const struct exporter_config *cfg, void **ret_state)
{
    struct loadavg_state *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    int r = path_join(st->path, sizeof(st->path), cfg->procfs, "loadavg");
    if (r < 0) {
        free(st);
        return r;
    }
    *ret_state = st;
    return 0;
}

static int loadavg_collect(void *state, struct mset *out)
{
    const struct loadavg_state *st = state;
    char buf[LOADAVG_MAX + 1];
    long len = file_read_into(st->path, buf, LOADAVG_MAX);
    if (len < 0)
        return log_debug_errno((int)len, "collector loadavg: cannot read %s", st->path);

    double load[3];
    char *line = buf;
    line[strcspn(line, "\n")] = '\0';
    for (size_t i = 0; i < 3; i++) {
        char *f = next_field(&line);
        if (!f || parse_double(f, &load[i]) < 0 || !isfinite(load[i]) || load[i] < 0)
            return log_debug_errno(EINVAL, "collector loadavg: %s: malformed", st->path);
    }
    for (size_t i = 0; i < 3; i++) {
        int r = mset_family(out, loadavg_families[i].name, METRIC_GAUGE, loadavg_families[i].help);
        if (r < 0 || (r = mset_add(out, MSET_SUFFIX_NONE, NULL, load[i])) < 0)
            return r;
    }
    return 0;
}

const struct collector collector_loadavg = {
    .name = "loadavg",
    .description = "1, 5 and 15 minute load averages from /proc/loadavg",
    .default_enabled = true,
    .init = loadavg_init,
    .collect = loadavg_collect,
    .cleanup = free,
};
