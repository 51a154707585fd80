/* collector_cpu: per-CPU time by mode, guest time, context switches, forks,
 * interrupts, boot time and runnable/blocked process counts from <procfs>/stat,
 * with node_exporter's semantics. Exports collector_cpu. A malformed line is skipped
 * and makes the collection fail after the valid lines are reported. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"

#define CPU_STAT_MAX (1u << 20) /* ~200 bytes a CPU plus one interrupt count per IRQ */
#define CPU_MODES 8             /* user .. steal; guest and guest_nice follow */
#define CPU_FIELDS_MIN 4        /* user nice system idle: the oldest format */
#define CPU_FIELDS_MAX 10       /* up to guest_nice; later columns are ignored */

struct cpu_state {
    char path[PATH_MAX];
    double user_hz;
};

static const char *const cpu_modes[CPU_MODES] = {
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
};

static const char *const cpu_guest_modes[CPU_FIELDS_MAX - CPU_MODES] = {"user", "nice"};

/* The single-value lines of /proc/stat that become one sample each. */
static const struct {
    const char *key;
    const char *name;
    enum metric_type type;
    bool more; /* further numbers follow the one reported ("intr": one per IRQ) */
    const char *help;
} cpu_scalars[] = {
    {"ctxt", "homeostat_context_switches_total", METRIC_COUNTER, false,
     "Context switches since boot."},
    {"processes", "homeostat_forks_total", METRIC_COUNTER, false,
     "Processes and threads created since boot."},
    {"intr", "homeostat_intr_total", METRIC_COUNTER, true, "Interrupts serviced since boot."},
    {"btime", "homeostat_boot_time_seconds", METRIC_GAUGE, false,
     "Boot time in seconds since the Unix epoch."},
    {"procs_running", "homeostat_procs_running", METRIC_GAUGE, false, "Threads in runnable state."},
    {"procs_blocked", "homeostat_procs_blocked", METRIC_GAUGE, false,
     "Threads blocked waiting for I/O to complete."},
};

static int cpu_init(const struct exporter_config *cfg, void **ret_state)
{
    struct cpu_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int r = path_join(st->path, sizeof(st->path), cfg->procfs, "stat");
    if (r < 0) {
        free(st);
        return r;
    }
    long hz = sysconf(_SC_CLK_TCK);
    st->user_hz = hz > 0 ? (double)hz : 100.0;
    *ret_state = st;
    return 0;
}

/* One "cpuN user nice system idle ..." line: the N in number, the times in line. */
static int cpu_add_times(const struct cpu_state *st, struct mset *out, const char *number,
                         char *line)
{
    unsigned cpu;
    char id[16];
    if (parse_uint(number, &cpu) < 0)
        return -EINVAL;
    snprintf(id, sizeof(id), "%u", cpu);
    unsigned long long ticks[CPU_FIELDS_MAX];
    unsigned n = 0;
    for (char *f; n < CPU_FIELDS_MAX && (f = next_field(&line));)
        if (parse_u64(f, &ticks[n++]) < 0)
            return -EINVAL;
    if (n < CPU_FIELDS_MIN)
        return -EINVAL;

    int r = mset_family(out, "homeostat_cpu_seconds_total", METRIC_COUNTER,
                        "Seconds the CPUs spent in each mode.");
    for (unsigned i = 0; r >= 0 && i < n && i < CPU_MODES; i++)
        r = mset_addl(out, (double)ticks[i] / st->user_hz, "cpu", id, "mode", cpu_modes[i], NULL);
    if (r < 0 || n <= CPU_MODES)
        return r;
    r = mset_family(out, "homeostat_cpu_guest_seconds_total", METRIC_COUNTER,
                    "Seconds the CPUs spent running guests, also counted in user and nice.");
    for (unsigned i = CPU_MODES; r >= 0 && i < n; i++)
        r = mset_addl(out, (double)ticks[i] / st->user_hz, "cpu", id, "mode",
                      cpu_guest_modes[i - CPU_MODES], NULL);
    return r;
}

/* A line of /proc/stat other than a cpuN line; unknown keys are ignored. */
static int cpu_add_scalar(struct mset *out, const char *key, char *line)
{
    for (size_t i = 0; i < sizeof(cpu_scalars) / sizeof(cpu_scalars[0]); i++) {
        if (strcmp(key, cpu_scalars[i].key) != 0)
            continue;
        char *f = next_field(&line);
        unsigned long long v;
        if (!f || parse_u64(f, &v) < 0 || (!cpu_scalars[i].more && next_field(&line)))
            return -EINVAL;
        int r = mset_family(out, cpu_scalars[i].name, cpu_scalars[i].type, cpu_scalars[i].help);
        if (r < 0)
            return r;
        return mset_add(out, MSET_SUFFIX_NONE, NULL, (double)v);
    }
    return 0;
}

static int cpu_collect(void *state, struct mset *out)
{
    const struct cpu_state *st = state;
    char *data;
    size_t len;
    int r = file_read_alloc(st->path, CPU_STAT_MAX, &data, &len);
    if (r < 0)
        return log_debug_errno(r, "collector cpu: cannot read %s", st->path);
    if (strlen(data) != len) {
        free(data);
        return log_debug_errno(EINVAL, "collector cpu: %s holds a NUL byte", st->path);
    }

    int bad = 0, cpus = 0;
    unsigned lineno = 0;
    r = 0;
    for (char *p = data, *line; r >= 0 && (line = strsep(&p, "\n"));) {
        lineno++;
        char *key = next_field(&line);
        if (!key)
            continue;
        if (strncmp(key, "cpu", 3) == 0 && key[3] != '\0') {
            r = cpu_add_times(st, out, key + 3, line);
            cpus++;
        } else if (strcmp(key, "cpu") != 0) {
            r = cpu_add_scalar(out, key, line);
        }
        if (r == -EINVAL) {
            if (!bad++)
                log_debug("collector cpu: %s:%u: malformed line, skipped", st->path, lineno);
            r = 0;
        }
    }
    free(data);
    if (r < 0)
        return r;
    if (bad)
        return -EINVAL;
    if (cpus == 0)
        return log_debug_errno(ENODATA, "collector cpu: %s: no per-CPU lines", st->path);
    return 0;
}

const struct collector collector_cpu = {
    .name = "cpu",
    .description = "CPU time by mode, context switches, forks, interrupts from /proc/stat",
    .default_enabled = true,
    .init = cpu_init,
    .collect = cpu_collect,
    .cleanup = free,
};
