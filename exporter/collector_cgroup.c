/* collector_cgroup: CPU, memory and pressure per systemd unit: the directories under
 * system.slice (or unified/system.slice, systemd's hybrid layout) of the cgroup v2 root
 * (--collector.cgroup.root, else <sysfs>/fs/cgroup), at most max-units (0: all) in name
 * order. init never looks at the root, which may be mounted later; collect fails with
 * -ENOENT while it is missing, -EOPNOTSUPP while it is not v2. Exports collector_cgroup. */
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

struct cg_state {
    char *root;
    char *pattern;
    unsigned max_units; /* 0: no limit */
};

/* A "key value" file (cpu.stat, memory.events) mapped to metrics. */
struct cg_key {
    const char *key;
    const char *name;
    const char *help;
    double scale;
};

static const struct cg_key cg_cpu_stat[] = {
    {"usage_usec", "homeostat_cgroup_cpu_usage_seconds_total",
     "Total CPU time consumed by the unit in seconds.", 1e-6},
    {"user_usec", "homeostat_cgroup_cpu_user_seconds_total",
     "User CPU time consumed by the unit in seconds.", 1e-6},
    {"system_usec", "homeostat_cgroup_cpu_system_seconds_total",
     "System CPU time consumed by the unit in seconds.", 1e-6},
    {"nr_periods", "homeostat_cgroup_cpu_periods_total",
     "Number of CPU bandwidth enforcement periods that elapsed with the unit runnable.", 1},
    {"nr_throttled", "homeostat_cgroup_cpu_throttled_periods_total",
     "Number of CPU bandwidth periods in which the unit was throttled.", 1},
    {"throttled_usec", "homeostat_cgroup_cpu_throttled_seconds_total",
     "Total time the unit was throttled by its CPU quota in seconds.", 1e-6},
};

static const char *const cg_memory_events[] = {"high", "max", "oom", "oom_kill"};

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

static int cg_add(struct mset *out, const char *name, enum metric_type type, const char *help,
                  const char *unit, double value)
{
    int r = mset_family(out, name, type, help);
    return r < 0 ? r : mset_addl(out, value, "unit", unit, NULL);
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

static int cg_collect_cpu_stat(const char *dir, const char *unit, struct mset *out)
{
    char buf[CG_FILE_MAX + 1];
    if (cg_read(dir, "cpu.stat", buf) < 0)
        return 0;
    for (char *lines = buf, *line; (line = cg_next_line(&lines));) {
        char *p = line;
        char *key = next_field(&p), *val = next_field(&p);
        unsigned long long v;
        if (!key || !val || next_field(&p) || parse_u64(val, &v) < 0) {
            log_debug("collector cgroup: %s/cpu.stat: bad line", dir);
            continue;
        }
        for (size_t i = 0; i < sizeof(cg_cpu_stat) / sizeof(cg_cpu_stat[0]); i++) {
            if (strcmp(key, cg_cpu_stat[i].key) != 0)
                continue;
            int r = cg_add(out, cg_cpu_stat[i].name, METRIC_COUNTER, cg_cpu_stat[i].help, unit,
                           (double)v * cg_cpu_stat[i].scale);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

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
    return cg_add(out, "homeostat_cgroup_cpu_quota_ratio", METRIC_GAUGE,
                  "CPU quota of the unit in CPUs (cpu.max quota / period); absent without a "
                  "quota.",
                  unit, (double)q / (double)per);
}

/* A single number, or "max" (+Inf) where allow_max. */
static int cg_collect_value(const char *dir, const char *file, bool allow_max, const char *name,
                            const char *help, const char *unit, struct mset *out)
{
    char buf[CG_FILE_MAX + 1];
    if (cg_read(dir, file, buf) < 0)
        return 0;
    char *lines = buf;
    char *p = cg_next_line(&lines);
    char *f = p ? next_field(&p) : NULL;
    if (f && next_field(&p))
        f = NULL; /* more than one field */
    double v;
    unsigned long long u;
    if (f && allow_max && strcmp(f, "max") == 0) {
        v = INFINITY;
    } else if (f && parse_u64(f, &u) >= 0) {
        v = (double)u;
    } else {
        log_debug("collector cgroup: %s/%s: not a number", dir, file);
        return 0;
    }
    return cg_add(out, name, METRIC_GAUGE, help, unit, v);
}

static int cg_collect_memory_events(const char *dir, const char *unit, struct mset *out)
{
    char buf[CG_FILE_MAX + 1];
    if (cg_read(dir, "memory.events", buf) < 0)
        return 0;
    for (char *lines = buf, *line; (line = cg_next_line(&lines));) {
        char *p = line;
        char *key = next_field(&p), *val = next_field(&p);
        unsigned long long v;
        if (!key || !val || next_field(&p) || parse_u64(val, &v) < 0) {
            log_debug("collector cgroup: %s/memory.events: bad line", dir);
            continue;
        }
        for (size_t i = 0; i < sizeof(cg_memory_events) / sizeof(cg_memory_events[0]); i++) {
            if (strcmp(key, cg_memory_events[i]) != 0)
                continue;
            int r = mset_family(out, "homeostat_cgroup_memory_events_total", METRIC_COUNTER,
                                "Memory events of the unit (memory.events): high (throttled "
                                "over memory.high), max (hit memory.max), oom, oom_kill.");
            if (r >= 0)
                r = mset_addl(out, (double)v, "unit", unit, "event", key, NULL);
            if (r < 0)
                return r;
        }
    }
    return 0;
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
        int r = cg_add(out, name, METRIC_COUNTER, help, unit, (double)total * 1e-6);
        if (r < 0)
            return r;
    }
    return 0;
}

static int cg_collect_unit(const char *dir, const char *unit, struct mset *out)
{
    int r = cg_collect_cpu_stat(dir, unit, out);
    if (r >= 0)
        r = cg_collect_cpu_max(dir, unit, out);
    if (r >= 0)
        r = cg_collect_value(dir, "memory.current", false, "homeostat_cgroup_memory_current_bytes",
                             "Memory currently used by the unit in bytes (memory.current).", unit,
                             out);
    if (r >= 0)
        r = cg_collect_value(dir, "memory.high", true, "homeostat_cgroup_memory_high_bytes",
                             "Memory throttling limit of the unit in bytes (memory.high); +Inf "
                             "when unlimited.",
                             unit, out);
    if (r >= 0)
        r = cg_collect_value(dir, "memory.max", true, "homeostat_cgroup_memory_max_bytes",
                             "Hard memory limit of the unit in bytes (memory.max); +Inf when "
                             "unlimited.",
                             unit, out);
    if (r >= 0)
        r = cg_collect_memory_events(dir, unit, out);
    for (size_t i = 0; r >= 0 && i < sizeof(cg_pressure) / sizeof(cg_pressure[0]); i++)
        r = cg_collect_pressure(dir, i, unit, out);
    return r;
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

/* The names of the directories under slice that match pattern, sorted. Returns the count
 * with *ret (caller frees each and the array), or -errno. */
static long cg_list_units(const char *slice, const char *pattern, char ***ret)
{
    DIR *d = opendir(slice);
    if (!d)
        return -errno;
    char **names = NULL;
    size_t n = 0, cap = 0;
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
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 32;
            char **nn = realloc(names, nc * sizeof(*nn));
            if (!nn) {
                r = -ENOMEM;
                break;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name))) {
            r = -ENOMEM;
            break;
        }
        n++;
    }
    if (r == 0 && errno != 0)
        r = -errno;
    closedir(d);
    if (r < 0) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return r;
    }
    if (n)
        qsort(names, n, sizeof(*names), cg_name_cmp);
    *ret = names;
    return (long)n;
}

static int cgroup_collect(void *state, struct mset *out)
{
    struct cg_state *s = state;
    struct stat st;
    if (stat(s->root, &st) < 0)
        return log_debug_errno(-errno, "collector cgroup: %s", s->root);
    if (!S_ISDIR(st.st_mode))
        return log_debug_errno(-ENOTDIR, "collector cgroup: %s", s->root);
    /* cgroup v2 at the root, or systemd's hybrid layout with v2 under unified/. */
    char path[PATH_MAX], slice[PATH_MAX];
    int r = path_join(path, sizeof(path), s->root, "cgroup.controllers");
    if (r < 0)
        return r;
    const char *slice_rel = "system.slice";
    if (access(path, F_OK) < 0) {
        r = path_join(path, sizeof(path), s->root, "unified/cgroup.controllers");
        if (r < 0)
            return r;
        if (access(path, F_OK) < 0)
            return log_debug_errno(-EOPNOTSUPP, "collector cgroup: %s is not a cgroup v2 hierarchy",
                                   s->root);
        slice_rel = "unified/system.slice";
    }
    r = path_join(slice, sizeof(slice), s->root, slice_rel);
    if (r < 0)
        return r;

    char **names = NULL;
    long n = cg_list_units(slice, s->pattern, &names);
    if (n == -ENOENT) {
        log_debug("collector cgroup: no %s, no units", slice);
        n = 0;
    } else if (n < 0) {
        return log_debug_errno((int)n, "collector cgroup: cannot list %s", slice);
    }
    size_t keep = (size_t)n;
    if (s->max_units && keep > s->max_units)
        keep = s->max_units;
    r = mset_family(out, "homeostat_cgroup_units_dropped", METRIC_GAUGE,
                    "Units matching the include pattern left out by the max-units cap.");
    if (r >= 0)
        r = mset_add(out, MSET_SUFFIX_NONE, NULL, (double)((size_t)n - keep));
    for (size_t i = 0; r >= 0 && i < keep; i++) {
        char dir[PATH_MAX];
        if (path_join(dir, sizeof(dir), slice, names[i]) < 0) {
            log_debug("collector cgroup: path of %s too long", names[i]);
            continue;
        }
        r = cg_collect_unit(dir, names[i], out);
    }
    for (long i = 0; i < n; i++)
        free(names[i]);
    free(names);
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
    .description = "CPU, memory and pressure per systemd unit from the cgroup v2 hierarchy",
    .default_enabled = true,
    .init = cgroup_init,
    .collect = cgroup_collect,
    .cleanup = cgroup_cleanup,
};
