/* collector_pressure: pressure stall information (PSI) from <procfs>/pressure/{cpu,
 * memory,io}: the "some" total as time waiting, the "full" total as time stalled, in
 * seconds. Exports collector_pressure; disabled at init on kernels without PSI. A
 * missing or malformed file fails the collection; the other resources still report. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"

#define PRESSURE_FILE_MAX 4096 /* two lines of about 60 bytes */

struct pressure_state {
    char dir[PATH_MAX];
};

static const struct {
    const char *file;
    bool full_optional; /* cpu "full" exists since Linux 5.13 */
    const char *waiting, *waiting_help;
    const char *stalled, *stalled_help;
} pressure_resources[] = {
    {"cpu", true, "homeostat_pressure_cpu_waiting_seconds_total",
     "Seconds in which at least one task waited for CPU.",
     "homeostat_pressure_cpu_stalled_seconds_total",
     "Seconds in which all non-idle tasks waited for CPU."},
    {"memory", false, "homeostat_pressure_memory_waiting_seconds_total",
     "Seconds in which at least one task stalled on memory.",
     "homeostat_pressure_memory_stalled_seconds_total",
     "Seconds in which all non-idle tasks stalled on memory."},
    {"io", false, "homeostat_pressure_io_waiting_seconds_total",
     "Seconds in which at least one task stalled on I/O.",
     "homeostat_pressure_io_stalled_seconds_total",
     "Seconds in which all non-idle tasks stalled on I/O."},
};

static int pressure_init(const struct exporter_config *cfg, void **ret_state)
{
    struct pressure_state *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    int r = path_join(st->dir, sizeof(st->dir), cfg->procfs, "pressure");
    if (r < 0) {
        free(st);
        return r;
    }
    struct stat sb;
    if (stat(st->dir, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        r = log_debug_errno(ENOENT, "collector pressure: no %s, kernel without PSI", st->dir);
        free(st);
        return r;
    }
    /* Older kernels booted with psi=0 have the files but refuse to read them. */
    char buf[PRESSURE_FILE_MAX + 1];
    long n = file_read_at(st->dir, "cpu", buf, PRESSURE_FILE_MAX);
    if (n == -EOPNOTSUPP) {
        free(st);
        return (int)n;
    }
    *ret_state = st;
    return 0;
}

/* "some avg10=0.77 avg60=0.41 avg300=0.35 total=3640708": the total in seconds. */
static int pressure_parse_total(char *line, double *ret_seconds)
{
    bool avg = false;
    for (char *f; (f = next_field(&line));) {
        if (strncmp(f, "avg", 3) == 0 && strchr(f, '=')) {
            avg = true;
        } else if (strncmp(f, "total=", 6) == 0) {
            unsigned long long usec;
            if (!avg || parse_u64(f + 6, &usec) < 0 || next_field(&line))
                return -EINVAL;
            *ret_seconds = (double)usec / 1e6;
            return 0;
        } else {
            return -EINVAL;
        }
    }
    return -EINVAL;
}

static int pressure_collect_one(const struct pressure_state *st, size_t i, struct mset *out)
{
    char buf[PRESSURE_FILE_MAX + 1];
    const char *file = pressure_resources[i].file;
    long len = file_read_at(st->dir, file, buf, PRESSURE_FILE_MAX);
    if (len < 0)
        return log_debug_errno((int)len, "collector pressure: cannot read %s/%s", st->dir, file);
    if (strlen(buf) != (size_t)len)
        return log_debug_errno(EINVAL, "collector pressure: %s/%s holds a NUL byte", st->dir, file);

    double some = 0, full = 0;
    bool have_some = false, have_full = false;
    int r;
    for (char *p = buf, *line; (line = strsep(&p, "\n"));) {
        char *kind = next_field(&line);
        if (!kind)
            continue;
        if (strcmp(kind, "some") == 0) {
            r = pressure_parse_total(line, &some);
            have_some = true;
        } else if (strcmp(kind, "full") == 0) {
            r = pressure_parse_total(line, &full);
            have_full = true;
        } else {
            r = -EINVAL;
        }
        if (r < 0)
            return log_debug_errno(r, "collector pressure: %s/%s: malformed line", st->dir, file);
    }
    if (!have_some || (!have_full && !pressure_resources[i].full_optional))
        return log_debug_errno(EINVAL, "collector pressure: %s/%s: missing lines", st->dir, file);

    r = mset_family(out, pressure_resources[i].waiting, METRIC_COUNTER,
                    pressure_resources[i].waiting_help);
    if (r < 0 || (r = mset_add(out, MSET_SUFFIX_NONE, NULL, some)) < 0 || !have_full)
        return r;
    r = mset_family(out, pressure_resources[i].stalled, METRIC_COUNTER,
                    pressure_resources[i].stalled_help);
    if (r < 0)
        return r;
    return mset_add(out, MSET_SUFFIX_NONE, NULL, full);
}

static int pressure_collect(void *state, struct mset *out)
{
    const struct pressure_state *st = state;
    int result = 0;
    for (size_t i = 0; i < sizeof(pressure_resources) / sizeof(pressure_resources[0]); i++) {
        int r = pressure_collect_one(st, i, out);
        if (r == -ENOMEM || r == -E2BIG)
            return r;
        if (r < 0 && result == 0)
            result = r;
    }
    return result;
}

const struct collector collector_pressure = {
    .name = "pressure",
    .description = "Pressure stall time for CPU, memory and I/O from /proc/pressure",
    .default_enabled = true,
    .init = pressure_init,
    .collect = pressure_collect,
    .cleanup = free,
};
