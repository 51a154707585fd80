/* collector_cgroup: CPU, memory and pressure per systemd unit, at most max-units (0: all) in
 * name order, from the cgroup root (--collector.cgroup.root, else <sysfs>/fs/cgroup) in any
 * of its layouts: cgroup v2 (units under system.slice), legacy cgroup v1 (one hierarchy per
 * controller, units under cpu/system.slice, cpuacct/..., memory/...), or systemd's hybrid
 * layout (the v1 controllers, and v2 without controllers under unified/, which adds its units
 * and their PSI). init never looks at the root, which may be mounted later; collect fails with
 * -ENOENT while it is missing, -EOPNOTSUPP while it is none of these. Exports
 * collector_cgroup. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"

#define CG_FILE_MAX 4096 /* every file read here is a few hundred bytes */
#define CG_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* cgroup v1 shows "no limit" as PAGE_COUNTER_MAX pages in bytes (9223372036854771712 with
 * 4 KiB pages); no real limit comes near 2^62 bytes. */
#define CG_V1_UNLIMITED_BYTES 4611686018427387904ULL

struct cg_state {
    char *root;
    char *pattern;
    unsigned max_units; /* 0: no limit */
};

/* The system.slice directories a scrape reads, "" where there is none. */
struct cg_layout {
    bool v1;           /* the controllers are cgroup v1 hierarchies */
    char v2[PATH_MAX]; /* v2: everything; v1 (hybrid): more units, CPU usage, PSI */
    char cpu[PATH_MAX], cpuacct[PATH_MAX], memory[PATH_MAX]; /* v1 only */
};

/* The metric families both layouts map their files to. */
enum {
    CG_CPU_USAGE,
    CG_CPU_USER,
    CG_CPU_SYSTEM,
    CG_CPU_PERIODS,
    CG_CPU_THROTTLED_PERIODS,
    CG_CPU_THROTTLED_SECONDS,
    CG_CPU_QUOTA,
    CG_MEMORY_CURRENT,
    CG_MEMORY_HIGH,
    CG_MEMORY_MAX,
    CG_MEMORY_EVENTS,
};

static const struct {
    const char *name;
    enum metric_type type;
    const char *help;
} cg_families[] = {
    [CG_CPU_USAGE] = {"homeostat_cgroup_cpu_usage_seconds_total", METRIC_COUNTER,
                      "Total CPU time consumed by the unit in seconds."},
    [CG_CPU_USER] = {"homeostat_cgroup_cpu_user_seconds_total", METRIC_COUNTER,
                     "User CPU time consumed by the unit in seconds."},
    [CG_CPU_SYSTEM] = {"homeostat_cgroup_cpu_system_seconds_total", METRIC_COUNTER,
                       "System CPU time consumed by the unit in seconds."},
    [CG_CPU_PERIODS] = {"homeostat_cgroup_cpu_periods_total", METRIC_COUNTER,
                        "Number of CPU bandwidth enforcement periods that elapsed with the unit "
                        "runnable."},
    [CG_CPU_THROTTLED_PERIODS] = {"homeostat_cgroup_cpu_throttled_periods_total", METRIC_COUNTER,
                                  "Number of CPU bandwidth periods in which the unit was "
                                  "throttled."},
    [CG_CPU_THROTTLED_SECONDS] = {"homeostat_cgroup_cpu_throttled_seconds_total", METRIC_COUNTER,
                                  "Total time the unit was throttled by its CPU quota in seconds."},
    [CG_CPU_QUOTA] = {"homeostat_cgroup_cpu_quota_ratio", METRIC_GAUGE,
                      "CPU quota of the unit in CPUs (cpu.max quota / period; cgroup v1: "
                      "cpu.cfs_quota_us / cpu.cfs_period_us); absent without a quota."},
    [CG_MEMORY_CURRENT] = {"homeostat_cgroup_memory_current_bytes", METRIC_GAUGE,
                           "Memory currently used by the unit in bytes (memory.current; cgroup "
                           "v1: memory.usage_in_bytes)."},
    [CG_MEMORY_HIGH] = {"homeostat_cgroup_memory_high_bytes", METRIC_GAUGE,
                        "Memory throttling limit of the unit in bytes (memory.high); +Inf when "
                        "unlimited. Absent on cgroup v1, which has no such limit."},
    [CG_MEMORY_MAX] = {"homeostat_cgroup_memory_max_bytes", METRIC_GAUGE,
                       "Hard memory limit of the unit in bytes (memory.max; cgroup v1: "
                       "memory.limit_in_bytes); +Inf when unlimited."},
    [CG_MEMORY_EVENTS] = {"homeostat_cgroup_memory_events_total", METRIC_COUNTER,
                          "Memory events of the unit (memory.events): high (throttled over "
                          "memory.high), max (hit memory.max), oom, oom_kill. cgroup v1 has only "
                          "max (memory.failcnt) and oom_kill (memory.oom_control)."},
};

/* A key of a "KEY VALUE" file (cpu.stat, cpuacct.stat) mapped to a family. */
struct cg_key {
    const char *key;
    int family;
    double per_unit; /* the value is divided by it: 1e6 for usec, 1 for counts */
};

/* v2 cpu.stat; the first CG_CPU_STAT_USAGE_KEYS are there without the cpu controller. */
static const struct cg_key cg_cpu_stat[] = {
    {"usage_usec", CG_CPU_USAGE, 1e6},
    {"user_usec", CG_CPU_USER, 1e6},
    {"system_usec", CG_CPU_SYSTEM, 1e6},
    {"nr_periods", CG_CPU_PERIODS, 1},
    {"nr_throttled", CG_CPU_THROTTLED_PERIODS, 1},
    {"throttled_usec", CG_CPU_THROTTLED_SECONDS, 1e6},
};
#define CG_CPU_STAT_USAGE_KEYS 3

static const struct cg_key cg_v1_cpu_stat[] = {
    {"nr_periods", CG_CPU_PERIODS, 1},
    {"nr_throttled", CG_CPU_THROTTLED_PERIODS, 1},
    {"throttled_time", CG_CPU_THROTTLED_SECONDS, 1e9},
};

/* In USER_HZ ticks: divided by sysconf(_SC_CLK_TCK) too when read. */
static const struct cg_key cg_v1_cpuacct_stat[] = {
    {"user", CG_CPU_USER, 1},
    {"system", CG_CPU_SYSTEM, 1},
};

static const char *const cg_memory_events[] = {"high", "max", "oom", "oom_kill"};
static const char *const cg_v1_oom_control_events[] = {"oom_kill"};

/* A controller's cgroup v1 hierarchy: its own, or a combined one (Debian and RHEL mount
 * "cpu,cpuacct" and link cpu and cpuacct to it), known by a file only that controller has. */
struct cg_v1_controller {
    const char *dirs[3];
    const char *marker;
};

static const struct cg_v1_controller cg_v1_cpu = {{"cpu", "cpu,cpuacct", "cpuacct,cpu"},
                                                  "cpu.shares"};
static const struct cg_v1_controller cg_v1_cpuacct = {{"cpuacct", "cpu,cpuacct", "cpuacct,cpu"},
                                                      "cpuacct.usage"};
static const struct cg_v1_controller cg_v1_memory = {{"memory"}, "memory.usage_in_bytes"};

/* PSI exists per cgroup only on v2 (in the hybrid layout, in the unified tree). */
static const struct {
    const char *file;
    const char *waiting, *waiting_help;
    const char *stalled, *stalled_help;
} cg_pressure[] = {
    {"cpu.pressure", "homeostat_cgroup_pressure_cpu_waiting_seconds_total",
     "Total time in seconds some tasks of the unit waited for a CPU (PSI some).",
     "homeostat_cgroup_pressure_cpu_stalled_seconds_total",
     "Total time in seconds all non-idle tasks of the unit were stalled on CPU (PSI full)."},
    {"memory.pressure", "homeostat_cgroup_pressure_memory_waiting_seconds_total",
     "Total time in seconds some tasks of the unit waited for memory (PSI some).",
     "homeostat_cgroup_pressure_memory_stalled_seconds_total",
     "Total time in seconds all non-idle tasks of the unit were stalled on memory (PSI full)."},
    {"io.pressure", "homeostat_cgroup_pressure_io_waiting_seconds_total",
     "Total time in seconds some tasks of the unit waited for I/O (PSI some).",
     "homeostat_cgroup_pressure_io_stalled_seconds_total",
     "Total time in seconds all non-idle tasks of the unit were stalled on I/O (PSI full)."},
};

static int cg_add_named(struct mset *out, const char *name, enum metric_type type, const char *help,
                        const char *unit, double value)
{
    int r = mset_family(out, name, type, help);
    return r < 0 ? r : mset_addl(out, value, "unit", unit, NULL);
}

static int cg_add(struct mset *out, int family, const char *unit, double value)
{
    return cg_add_named(out, cg_families[family].name, cg_families[family].type,
                        cg_families[family].help, unit, value);
}

static int cg_add_event(struct mset *out, const char *unit, const char *event, double value)
{
    int r = mset_family(out, cg_families[CG_MEMORY_EVENTS].name, cg_families[CG_MEMORY_EVENTS].type,
                        cg_families[CG_MEMORY_EVENTS].help);
    return r < 0 ? r : mset_addl(out, value, "unit", unit, "event", event, NULL);
}

/* Reads dir/name into buf; log and -errno when missing, too big or unreadable. */
static long cg_read(const char *dir, const char *name, char *buf)
{
    long n = file_read_at(dir, name, buf, CG_FILE_MAX);
    if (n < 0)
        log_debug_errno((int)n, "collector cgroup: cannot read %s/%s", dir, name);
    return n;
}

/* Splits the next line off *p in place, like next_field() does for fields. NULL at the
 * end of the buffer. */
static char *cg_next_line(char **p)
{
    char *s = *p;
    if (!*s)
        return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *p = nl + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

/* The next well-formed "KEY VALUE" line of *lines (split in place), read from dir/file: bad
 * lines are logged and skipped. false at the end. */
static bool cg_next_pair(char **lines, const char *dir, const char *file, char **ret_key,
                         unsigned long long *ret_value)
{
    for (char *line; (line = cg_next_line(lines));) {
        char *p = line;
        char *key = next_field(&p), *val = next_field(&p);
        unsigned long long v;
        if (!key || !val || next_field(&p) || parse_u64(val, &v) < 0) {
            log_debug("collector cgroup: %s/%s: bad line", dir, file);
            continue;
        }
        *ret_key = key;
        *ret_value = v;
        return true;
    }
    return false;
}

/* The keys of the "KEY VALUE" file dir/file found in keys, each value divided by the key's
 * per_unit and by per_unit. */
static int cg_collect_keys(const char *dir, const char *file, const struct cg_key *keys,
                           size_t n_keys, double per_unit, const char *unit, struct mset *out)
{
    char buf[CG_FILE_MAX + 1];
    if (cg_read(dir, file, buf) < 0)
        return 0;
    char *lines = buf, *key;
    unsigned long long v;
    while (cg_next_pair(&lines, dir, file, &key, &v))
        for (size_t i = 0; i < n_keys; i++) {
            if (strcmp(key, keys[i].key) != 0)
                continue;
            int r = cg_add(out, keys[i].family, unit, (double)v / (keys[i].per_unit * per_unit));
            if (r < 0)
                return r;
        }
    return 0;
}

/* The keys of the "KEY VALUE" file dir/file found in events, as memory events. */
static int cg_collect_events(const char *dir, const char *file, const char *const *events,
                             size_t n_events, const char *unit, struct mset *out)
{
    char buf[CG_FILE_MAX + 1];
    if (cg_read(dir, file, buf) < 0)
        return 0;
    char *lines = buf, *key;
    unsigned long long v;
    while (cg_next_pair(&lines, dir, file, &key, &v))
        for (size_t i = 0; i < n_events; i++) {
            if (strcmp(key, events[i]) != 0)
                continue;
            int r = cg_add_event(out, unit, events[i], (double)v);
            if (r < 0)
                return r;
        }
    return 0;
}

/* The single field on the first line of dir/file, in buf; NULL (logged) when the file is
 * missing or the line is not one field. */
static char *cg_read_field(const char *dir, const char *file, char *buf)
{
    if (cg_read(dir, file, buf) < 0)
        return NULL;
    char *lines = buf;
    char *p = cg_next_line(&lines);
    char *f = p ? next_field(&p) : NULL;
    if (!f || next_field(&p)) {
        log_debug("collector cgroup: %s/%s: not one value", dir, file);
        return NULL;
    }
    return f;
}

/* The number in dir/file; false (logged) when missing or malformed. With limit, "max" (a v2
 * limit that is not set) reads as ULLONG_MAX. */
static bool cg_read_u64(const char *dir, const char *file, bool limit, unsigned long long *ret)
{
    char buf[CG_FILE_MAX + 1];
    char *f = cg_read_field(dir, file, buf);
    if (!f)
        return false;
    if (limit && strcmp(f, "max") == 0) {
        *ret = ULLONG_MAX;
        return true;
    }
    if (parse_u64(f, ret) < 0) {
        log_debug("collector cgroup: %s/%s: not a number", dir, file);
        return false;
    }
    return true;
}

/* The number in dir/file divided by per_unit. A limit that is not set ("max" on v2, 2^62 bytes or
 * more on v1) is +Inf. */
static int cg_collect_value(const char *dir, const char *file, bool limit, int family,
                            double per_unit, const char *unit, struct mset *out)
{
    unsigned long long v;
    if (!cg_read_u64(dir, file, limit, &v))
        return 0;
    return cg_add(out, family, unit,
                  limit && v >= CG_V1_UNLIMITED_BYTES ? INFINITY : (double)v / per_unit);
}

/* v2: cpu.max is "QUOTA PERIOD", or "max PERIOD" without a quota. */
static int cg_collect_cpu_max(const char *dir, const char *unit, struct mset *out)
{
    char buf[CG_FILE_MAX + 1];
    if (cg_read(dir, "cpu.max", buf) < 0)
        return 0;
    char *lines = buf;
    char *p = cg_next_line(&lines);
    char *quota = p ? next_field(&p) : NULL, *period = p ? next_field(&p) : NULL;
    if (period && next_field(&p))
        period = NULL; /* more than two fields */
    unsigned long long q, per;
    if (quota && period && strcmp(quota, "max") == 0)
        return 0; /* no quota */
    if (!quota || !period || parse_u64(quota, &q) < 0 || parse_u64(period, &per) < 0 || per == 0) {
        log_debug("collector cgroup: %s/cpu.max: not \"QUOTA PERIOD\"", dir);
        return 0;
    }
    return cg_add(out, CG_CPU_QUOTA, unit, (double)q / (double)per);
}

/* v1: cpu.cfs_quota_us is -1 without a quota; the period is in cpu.cfs_period_us. */
static int cg_collect_cfs_quota(const char *dir, const char *unit, struct mset *out)
{
    char buf[CG_FILE_MAX + 1];
    char *quota = cg_read_field(dir, "cpu.cfs_quota_us", buf);
    unsigned long long q, per;
    if (!quota || strcmp(quota, "-1") == 0)
        return 0; /* unreadable (logged), or no quota */
    if (parse_u64(quota, &q) < 0) {
        log_debug("collector cgroup: %s/cpu.cfs_quota_us: not a number", dir);
        return 0;
    }
    if (!cg_read_u64(dir, "cpu.cfs_period_us", false, &per))
        return 0;
    if (per == 0) {
        log_debug("collector cgroup: %s/cpu.cfs_period_us: zero", dir);
        return 0;
    }
    return cg_add(out, CG_CPU_QUOTA, unit, (double)q / (double)per);
}

/* "some avg10=0.00 avg60=0.00 avg300=0.00 total=USEC" and the same for "full". */
static int cg_collect_pressure(const char *dir, size_t which, const char *unit, struct mset *out)
{
    char buf[CG_FILE_MAX + 1];
    if (cg_read(dir, cg_pressure[which].file, buf) < 0)
        return 0; /* absent without PSI, or -EOPNOTSUPP with psi=0 */
    for (char *lines = buf, *line; (line = cg_next_line(&lines));) {
        char *p = line;
        char *kind = next_field(&p);
        const char *name, *help;
        if (kind && strcmp(kind, "some") == 0) {
            name = cg_pressure[which].waiting;
            help = cg_pressure[which].waiting_help;
        } else if (kind && strcmp(kind, "full") == 0) {
            name = cg_pressure[which].stalled;
            help = cg_pressure[which].stalled_help;
        } else {
            log_debug("collector cgroup: %s/%s: bad line", dir, cg_pressure[which].file);
            continue;
        }
        unsigned long long total;
        bool found = false;
        for (char *f; (f = next_field(&p));)
            if (strncmp(f, "total=", 6) == 0)
                found = parse_u64(f + 6, &total) >= 0;
        if (!found) {
            log_debug("collector cgroup: %s/%s: no total", dir, cg_pressure[which].file);
            continue;
        }
        int r = cg_add_named(out, name, METRIC_COUNTER, help, unit, (double)total / 1e6);
        if (r < 0)
            return r;
    }
    return 0;
}

static int cg_collect_pressures(const char *dir, const char *unit, struct mset *out)
{
    int r = 0;
    for (size_t i = 0; r >= 0 && i < CG_LEN(cg_pressure); i++)
        r = cg_collect_pressure(dir, i, unit, out);
    return r;
}

/* A v2 unit: everything is in its one directory. */
static int cg_collect_unit_v2(const char *dir, const char *unit, struct mset *out)
{
    int r = cg_collect_keys(dir, "cpu.stat", cg_cpu_stat, CG_LEN(cg_cpu_stat), 1, unit, out);
    if (r >= 0)
        r = cg_collect_cpu_max(dir, unit, out);
    if (r >= 0)
        r = cg_collect_value(dir, "memory.current", false, CG_MEMORY_CURRENT, 1, unit, out);
    if (r >= 0)
        r = cg_collect_value(dir, "memory.high", true, CG_MEMORY_HIGH, 1, unit, out);
    if (r >= 0)
        r = cg_collect_value(dir, "memory.max", true, CG_MEMORY_MAX, 1, unit, out);
    if (r >= 0)
        r = cg_collect_events(dir, "memory.events", cg_memory_events, CG_LEN(cg_memory_events),
                              unit, out);
    if (r >= 0)
        r = cg_collect_pressures(dir, unit, out);
    return r;
}

/* Sets dir to slice/unit and says whether that directory exists; false without a slice. */
static bool cg_unit_dir(char *dir, const char *slice, const char *unit)
{
    struct stat st;
    return slice[0] && path_join(dir, PATH_MAX, slice, unit) >= 0 && stat(dir, &st) == 0 &&
           S_ISDIR(st.st_mode);
}

/* A v1 unit: a directory per controller where systemd made one, and in the hybrid layout
 * its v2 directory for PSI, and for CPU usage when cpuacct has none (systemd reads it there
 * too). v1 has no memory.high and no PSI. */
static int cg_collect_unit_v1(const struct cg_layout *l, const char *unit, struct mset *out)
{
    char dir[PATH_MAX];
    int r = 0;
    bool cpuacct = cg_unit_dir(dir, l->cpuacct, unit);
    if (cpuacct) {
        long hz = sysconf(_SC_CLK_TCK);
        r = cg_collect_value(dir, "cpuacct.usage", false, CG_CPU_USAGE, 1e9, unit, out);
        if (r >= 0 && hz > 0)
            r = cg_collect_keys(dir, "cpuacct.stat", cg_v1_cpuacct_stat, CG_LEN(cg_v1_cpuacct_stat),
                                (double)hz, unit, out);
    }
    if (r >= 0 && cg_unit_dir(dir, l->cpu, unit)) {
        r = cg_collect_keys(dir, "cpu.stat", cg_v1_cpu_stat, CG_LEN(cg_v1_cpu_stat), 1, unit, out);
        if (r >= 0)
            r = cg_collect_cfs_quota(dir, unit, out);
    }
    if (r >= 0 && cg_unit_dir(dir, l->memory, unit)) {
        unsigned long long failcnt;
        r = cg_collect_value(dir, "memory.usage_in_bytes", false, CG_MEMORY_CURRENT, 1, unit, out);
        if (r >= 0)
            r = cg_collect_value(dir, "memory.limit_in_bytes", true, CG_MEMORY_MAX, 1, unit, out);
        if (r >= 0 && cg_read_u64(dir, "memory.failcnt", false, &failcnt))
            r = cg_add_event(out, unit, "max", (double)failcnt);
        if (r >= 0)
            r = cg_collect_events(dir, "memory.oom_control", cg_v1_oom_control_events,
                                  CG_LEN(cg_v1_oom_control_events), unit, out);
    }
    if (r >= 0 && cg_unit_dir(dir, l->v2, unit)) {
        if (!cpuacct)
            r = cg_collect_keys(dir, "cpu.stat", cg_cpu_stat, CG_CPU_STAT_USAGE_KEYS, 1, unit, out);
        if (r >= 0)
            r = cg_collect_pressures(dir, unit, out);
    }
    return r;
}

/* Sets slice to the system.slice of the controller's v1 hierarchy under root and returns
 * true, or sets it to "" and returns false when the controller has none. */
static bool cg_find_v1(const char *root, const struct cg_v1_controller *c, char *slice)
{
    for (size_t i = 0; i < CG_LEN(c->dirs) && c->dirs[i]; i++) {
        char dir[PATH_MAX], marker[PATH_MAX];
        if (path_join(dir, sizeof(dir), root, c->dirs[i]) >= 0 &&
            path_join(marker, sizeof(marker), dir, c->marker) >= 0 && access(marker, F_OK) == 0 &&
            path_join(slice, PATH_MAX, dir, "system.slice") >= 0)
            return true;
    }
    slice[0] = '\0';
    return false;
}

/* Finds the layout of the directory root: cgroup v2 at the root; else the v1 controllers
 * (legacy, or hybrid with the v2 tree under unified/); else v2 under unified/ alone (hybrid
 * with no v1 controller found). Returns 0, or -EOPNOTSUPP (logged) when it is none. */
static int cg_find_layout(const char *root, struct cg_layout *l)
{
    char path[PATH_MAX];
    l->v1 = false;
    l->v2[0] = l->cpu[0] = l->cpuacct[0] = l->memory[0] = '\0';
    int r = path_join(path, sizeof(path), root, "cgroup.controllers");
    if (r < 0)
        return r;
    if (access(path, F_OK) == 0)
        return path_join(l->v2, sizeof(l->v2), root, "system.slice");
    bool cpu = cg_find_v1(root, &cg_v1_cpu, l->cpu);
    bool cpuacct = cg_find_v1(root, &cg_v1_cpuacct, l->cpuacct);
    bool memory = cg_find_v1(root, &cg_v1_memory, l->memory);
    l->v1 = cpu || cpuacct || memory;
    r = path_join(path, sizeof(path), root, "unified/cgroup.controllers");
    if (r < 0)
        return r;
    if (access(path, F_OK) == 0)
        return path_join(l->v2, sizeof(l->v2), root, "unified/system.slice");
    if (!l->v1)
        return log_debug_errno(
            -EOPNOTSUPP, "collector cgroup: %s is neither a cgroup v2 nor a v1 hierarchy", root);
    return 0;
}

/* systemd unit names are printable ASCII; anything else would not be a valid label. */
static bool cg_name_ok(const char *name)
{
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f)
            return false;
    return true;
}

static int cg_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A growing list of unit names; each name and the array are the list's. */
struct cg_names {
    char **v;
    size_t n, cap;
};

static void cg_names_free(struct cg_names *names)
{
    for (size_t i = 0; i < names->n; i++)
        free(names->v[i]);
    free(names->v);
}

/* Sorts the names and drops the duplicates (the same unit in several hierarchies). */
static void cg_names_unique(struct cg_names *names)
{
    if (names->n == 0)
        return;
    qsort(names->v, names->n, sizeof(*names->v), cg_name_cmp);
    size_t k = 1;
    for (size_t i = 1; i < names->n; i++) {
        if (strcmp(names->v[i], names->v[k - 1]) == 0)
            free(names->v[i]);
        else
            names->v[k++] = names->v[i];
    }
    names->n = k;
}

/* Adds the names of the directories under slice that match pattern to names. Returns 0 or
 * -errno; names keeps what was added before a failure. */
static int cg_list_units(const char *slice, const char *pattern, struct cg_names *names)
{
    DIR *d = opendir(slice);
    if (!d)
        return -errno;
    int r = 0;
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (de->d_name[0] == '.' || fnmatch(pattern, de->d_name, 0) != 0)
            continue;
        bool dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            dir = fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
        }
        if (!dir)
            continue;
        if (!cg_name_ok(de->d_name)) {
            log_debug("collector cgroup: skipping a unit with an unprintable name");
            continue;
        }
        if (names->n == names->cap) {
            size_t nc = names->cap ? 2 * names->cap : 32;
            char **nn = realloc(names->v, nc * sizeof(*nn));
            if (!nn) {
                r = -ENOMEM;
                break;
            }
            names->v = nn;
            names->cap = nc;
        }
        if (!(names->v[names->n] = strdup(de->d_name))) {
            r = -ENOMEM;
            break;
        }
        names->n++;
    }
    if (r == 0 && errno != 0)
        r = -errno;
    closedir(d);
    return r;
}

static int cgroup_collect(void *state, struct mset *out)
{
    struct cg_state *s = state;
    struct stat st;
    if (stat(s->root, &st) < 0)
        return log_debug_errno(-errno, "collector cgroup: %s", s->root);
    if (!S_ISDIR(st.st_mode))
        return log_debug_errno(-ENOTDIR, "collector cgroup: %s", s->root);
    struct cg_layout l;
    int r = cg_find_layout(s->root, &l);
    if (r < 0)
        return r;

    /* The units: the union of the slices; with v1, a unit is in the hierarchies of the
     * controllers systemd enabled for it. */
    struct cg_names names = {0};
    const char *const slices[] = {l.v2, l.cpu, l.cpuacct, l.memory};
    for (size_t i = 0; r >= 0 && i < CG_LEN(slices); i++) {
        if (!slices[i][0])
            continue;
        r = cg_list_units(slices[i], s->pattern, &names);
        if (r == -ENOENT) {
            log_debug("collector cgroup: no %s, no units there", slices[i]);
            r = 0;
        } else if (r < 0) {
            log_debug_errno(r, "collector cgroup: cannot list %s", slices[i]);
        }
    }
    if (r < 0) {
        cg_names_free(&names);
        return r;
    }
    cg_names_unique(&names);

    size_t keep = names.n;
    if (s->max_units && keep > s->max_units)
        keep = s->max_units;
    r = mset_family(out, "homeostat_cgroup_units_dropped", METRIC_GAUGE,
                    "Units matching the include pattern left out by the max-units cap.");
    if (r >= 0)
        r = mset_add(out, MSET_SUFFIX_NONE, NULL, (double)(names.n - keep));
    for (size_t i = 0; r >= 0 && i < keep; i++) {
        char dir[PATH_MAX];
        if (l.v1) {
            r = cg_collect_unit_v1(&l, names.v[i], out);
        } else if (path_join(dir, sizeof(dir), l.v2, names.v[i]) < 0) {
            log_debug("collector cgroup: path of %s too long", names.v[i]);
        } else {
            r = cg_collect_unit_v2(dir, names.v[i], out);
        }
    }
    cg_names_free(&names);
    return r < 0 ? r : 0;
}

static void cgroup_cleanup(void *state)
{
    struct cg_state *s = state;
    if (!s)
        return;
    free(s->root);
    free(s->pattern);
    free(s);
}

static int cgroup_init(const struct exporter_config *cfg, void **ret_state)
{
    struct cg_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (cfg->cgroup_root && cfg->cgroup_root[0]) {
        s->root = strdup(cfg->cgroup_root);
    } else {
        char path[PATH_MAX];
        if (path_join(path, sizeof(path), cfg->sysfs ? cfg->sysfs : "/sys", "fs/cgroup") < 0) {
            cgroup_cleanup(s);
            return -ENAMETOOLONG;
        }
        s->root = strdup(path);
    }
    s->pattern =
        strdup(cfg->cgroup_unit_include && cfg->cgroup_unit_include[0] ? cfg->cgroup_unit_include
                                                                       : "*.service");
    s->max_units = cfg->cgroup_max_units;
    if (!s->root || !s->pattern) {
        cgroup_cleanup(s);
        return -ENOMEM;
    }
    *ret_state = s;
    return 0;
}

const struct collector collector_cgroup = {
    .name = "cgroup",
    .description = "CPU, memory and pressure per systemd unit from the cgroup v2 or v1 hierarchies",
    .default_enabled = true,
    .init = cgroup_init,
    .collect = cgroup_collect,
    .cleanup = cgroup_cleanup,
};
