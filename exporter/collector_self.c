/* collector_self: the exporter's own process, in the standard Prometheus process_*
 * metrics every client library exports (CPU, memory, file descriptors, start time)
 * read from <procfs>/self/{stat,status,limits,fd} and the boot time in <procfs>/stat,
 * plus homeostat_exporter_build_info. Exports collector_self. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"

#define SELF_FILE_MAX 8192            /* self/stat, self/status, self/limits */
#define SELF_PROC_STAT_MAX (4u << 20) /* <procfs>/stat grows with CPUs and interrupts */

#if defined(__clang__)
#define SELF_COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define SELF_COMPILER "gcc " __VERSION__
#else
#define SELF_COMPILER "unknown"
#endif

struct self_state {
    char *procfs;
};

/* Fields of <procfs>/self/stat we use (1-based numbers as in proc(5)). */
struct self_stat {
    unsigned long long utime, stime; /* 14, 15: clock ticks */
    unsigned long long starttime;    /* 22: clock ticks after boot */
    unsigned long long vsize;        /* 23: bytes */
    unsigned long long rss;          /* 24: pages */
};

/* Parses a stat line "pid (comm) state ppid ...". comm may hold spaces and
 * parentheses, so the fields start after the LAST ')'. */
static int self_parse_stat(char *buf, struct self_stat *ret)
{
    char *lparen = strchr(buf, '('), *rparen = strrchr(buf, ')');
    if (!lparen || !rparen || rparen < lparen)
        return -EINVAL;
    char *nl = strchr(rparen, '\n');
    if (nl)
        *nl = '\0';
    char *p = rparen + 1;
    unsigned long long v[25] = {0};
    unsigned field = 3; /* the state letter */
    for (char *f; field <= 24 && (f = next_field(&p)); field++) {
        if (field == 3)
            continue;
        /* A few fields before the ones we use may be negative (priority, nice). */
        if (field == 14 || field == 15 || field == 22 || field == 23 || field == 24) {
            if (parse_u64(f, &v[field]) < 0)
                return -EINVAL;
        }
    }
    if (field <= 24)
        return -EINVAL; /* truncated */
    *ret = (struct self_stat){v[14], v[15], v[22], v[23], v[24]};
    return 0;
}

/* Finds "key:<spaces>N kB" in a status file: *ret in bytes, 0 or -ENOENT/-EINVAL. */
static int self_status_kb(const char *buf, const char *key, double *ret)
{
    size_t kl = strlen(key);
    for (const char *line = buf; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            char tmp[64];
            size_t l = nl ? (size_t)(nl - line) : strlen(line);
            l -= kl + 1;
            if (l >= sizeof(tmp))
                return -EINVAL;
            memcpy(tmp, line + kl + 1, l);
            tmp[l] = '\0';
            char *unit = strstr(tmp, " kB");
            if (!unit)
                return -EINVAL;
            *unit = '\0';
            unsigned long long kb;
            if (parse_u64(tmp, &kb) < 0)
                return -EINVAL;
            *ret = (double)kb * 1024.0;
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

/* Soft limit of "Max open files" in a limits file; +Inf for unlimited. */
static int self_limits_nofile(char *buf, double *ret)
{
    static const char key[] = "Max open files";
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, key, sizeof(key) - 1) == 0) {
            char *p = line + sizeof(key) - 1;
            char *soft = next_field(&p);
            unsigned long long v;
            if (!soft)
                return -EINVAL;
            if (strcmp(soft, "unlimited") == 0) {
                *ret = INFINITY;
                return 0;
            }
            if (parse_u64(soft, &v) < 0)
                return -EINVAL;
            *ret = (double)v;
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    return -ENOENT;
}

/* "btime N" of <procfs>/stat. */
static int self_read_btime(const char *procfs, double *ret)
{
    char path[PATH_MAX];
    int r = path_join(path, sizeof(path), procfs, "stat");
    if (r < 0)
        return r;
    char *buf = NULL;
    size_t len = 0;
    r = file_read_alloc(path, SELF_PROC_STAT_MAX, &buf, &len);
    if (r < 0)
        return r;
    r = -ENOENT;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, "btime ", 6) == 0) {
            unsigned long long v;
            r = parse_u64(line + 6, &v);
            if (r >= 0)
                *ret = (double)v;
            break;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(buf);
    return r;
}

static int self_count_fds(const char *procfs, double *ret)
{
    char path[PATH_MAX];
    int r = path_join(path, sizeof(path), procfs, "self/fd");
    if (r < 0)
        return r;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* Since Linux 6.2 the size of a real procfs /proc/PID/fd is its number of open
     * descriptors: a stat instead of listing them (about 1 ms with 1,000 connections). */
    struct statfs sfs;
    struct stat st;
    if (fstatfs(fd, &sfs) == 0 && sfs.f_type == 0x9fa0 /* PROC_SUPER_MAGIC */ &&
        fstat(fd, &st) == 0 && st.st_size > 0) {
        close(fd);
        *ret = (double)st.st_size;
        return 0;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = -errno;
        close(fd);
        return e;
    }
    unsigned long n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    *ret = (double)n;
    return 0;
}

static int self_gauge(struct mset *out, const char *name, const char *help, double v)
{
    int r = mset_family(out, name, METRIC_GAUGE, help);
    return r < 0 ? r : mset_add(out, MSET_SUFFIX_NONE, NULL, v);
}

static int self_collect(void *state, struct mset *out)
{
    struct self_state *s = state;
    char buf[SELF_FILE_MAX + 1];
    char path[PATH_MAX];
    int ret = 0, r;

    r = mset_family(out, "homeostat_exporter_build_info", METRIC_GAUGE,
                    "A metric with a constant '1' value labeled by version and compiler from "
                    "which homeostat-exporter was built.");
    if (r >= 0)
        r = mset_addl(out, 1, "version", HOMEOSTAT_VERSION, "compiler", SELF_COMPILER, NULL);
    if (r < 0)
        return r;

    double ticks = (double)sysconf(_SC_CLK_TCK);
    if (!(ticks > 0))
        ticks = 100;
    struct self_stat st = {0}; /* set when have_stat; GCC -O1 cannot tell */
    long n = -ENAMETOOLONG;
    if (path_join(path, sizeof(path), s->procfs, "self/stat") >= 0)
        n = file_read_into(path, buf, SELF_FILE_MAX);
    if (n >= 0)
        n = self_parse_stat(buf, &st);
    bool have_stat = n >= 0;
    if (!have_stat) {
        ret = log_debug_errno((int)n, "collector self: cannot use %s", path);
    } else {
        r = mset_family(out, "process_cpu_seconds_total", METRIC_COUNTER,
                        "Total user and system CPU time spent in seconds.");
        if (r >= 0)
            r = mset_add(out, MSET_SUFFIX_NONE, NULL, (double)(st.utime + st.stime) / ticks);
        if (r >= 0)
            r = self_gauge(out, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           (double)st.vsize);
        if (r < 0)
            return r;
        /* Read every time: the kernel derives btime from the wall clock, which may be
         * stepped (NTP) after the exporter started. */
        double btime = 0;
        r = self_read_btime(s->procfs, &btime);
        if (r < 0) {
            ret = log_debug_errno(r, "collector self: no btime in %s/stat", s->procfs);
        } else {
            r = self_gauge(out, "process_start_time_seconds",
                           "Start time of the process since unix epoch in seconds.",
                           btime + (double)st.starttime / ticks);
            if (r < 0)
                return r;
        }
    }

    /* Resident memory from status (in kB, independent of the page size), else stat. */
    double rss = 0;
    n = -ENAMETOOLONG;
    if (path_join(path, sizeof(path), s->procfs, "self/status") >= 0)
        n = file_read_into(path, buf, SELF_FILE_MAX);
    if (n >= 0)
        n = self_status_kb(buf, "VmRSS", &rss);
    if (n < 0 && have_stat) {
        log_debug_errno((int)n, "collector self: no VmRSS in %s, using stat", path);
        rss = (double)st.rss * (double)sysconf(_SC_PAGESIZE);
        n = 0;
    }
    if (n < 0)
        ret = log_debug_errno((int)n, "collector self: no VmRSS in %s", path);
    else if ((r = self_gauge(out, "process_resident_memory_bytes", "Resident memory size in bytes.",
                             rss)) < 0)
        return r;

    double fds = 0;
    r = self_count_fds(s->procfs, &fds);
    if (r < 0)
        ret = log_debug_errno(r, "collector self: cannot list %s/self/fd", s->procfs);
    else if ((r = self_gauge(out, "process_open_fds", "Number of open file descriptors.", fds)) < 0)
        return r;

    double max_fds = 0;
    n = -ENAMETOOLONG;
    if (path_join(path, sizeof(path), s->procfs, "self/limits") >= 0)
        n = file_read_into(path, buf, SELF_FILE_MAX);
    if (n >= 0)
        n = self_limits_nofile(buf, &max_fds);
    if (n < 0)
        ret = log_debug_errno((int)n, "collector self: no open files limit in %s", path);
    else if ((r = self_gauge(out, "process_max_fds", "Maximum number of open file descriptors.",
                             max_fds)) < 0)
        return r;
    return ret;
}

static void self_cleanup(void *state)
{
    struct self_state *s = state;
    if (!s)
        return;
    free(s->procfs);
    free(s);
}

static int self_init(const struct exporter_config *cfg, void **ret_state)
{
    struct self_state *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->procfs = strdup(cfg->procfs ? cfg->procfs : "/proc");
    if (!s->procfs) {
        free(s);
        return -ENOMEM;
    }
    *ret_state = s;
    return 0;
}

const struct collector collector_self = {
    .name = "self",
    .description = "The exporter's own process_* metrics (CPU, memory, fds) and build info",
    .default_enabled = true,
    .init = self_init,
    .collect = self_collect,
    .cleanup = self_cleanup,
};
