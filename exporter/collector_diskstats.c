/* collector_diskstats: per block device I/O counters from <procfs>/diskstats (14, 18
 * or 20 columns: discard columns since Linux 4.18, flush since 5.5), with sectors as
 * bytes and milliseconds as seconds. Exports collector_diskstats. Devices matching
 * --collector.diskstats.device-exclude are left out; a malformed line is skipped and
 * makes the collection fail after the valid devices are reported. */
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"

#define DISKSTATS_FILE_MAX (4u << 20) /* ~150 bytes a device */
#define DISKSTATS_STATS_MAX 17        /* columns after major, minor and name */

/* What a column counts, and so how it converts to base units. */
enum diskstats_unit {
    DISKSTATS_COUNT,
    DISKSTATS_SECTORS, /* always 512 bytes, whatever the device's block size */
    DISKSTATS_MSEC,
};

/* One parsed line. */
struct diskstats_device {
    const char *name; /* points into the line */
    unsigned n_stats;
    unsigned long long stats[DISKSTATS_STATS_MAX];
};

struct diskstats_state {
    char path[PATH_MAX];
    bool exclude_set;
    regex_t exclude;
};

/* One family per column after the name, in the order of the kernel's
 * Documentation/admin-guide/iostats.rst. */
static const struct {
    const char *name;
    enum metric_type type;
    enum diskstats_unit unit;
    const char *help;
} diskstats_families[] = {
    {"homeostat_disk_reads_completed_total", METRIC_COUNTER, DISKSTATS_COUNT,
     "Reads completed successfully."},
    {"homeostat_disk_reads_merged_total", METRIC_COUNTER, DISKSTATS_COUNT,
     "Adjacent reads merged."},
    {"homeostat_disk_read_bytes_total", METRIC_COUNTER, DISKSTATS_SECTORS, "Bytes read."},
    {"homeostat_disk_read_time_seconds_total", METRIC_COUNTER, DISKSTATS_MSEC,
     "Seconds spent by all reads."},
    {"homeostat_disk_writes_completed_total", METRIC_COUNTER, DISKSTATS_COUNT,
     "Writes completed successfully."},
    {"homeostat_disk_writes_merged_total", METRIC_COUNTER, DISKSTATS_COUNT,
     "Adjacent writes merged."},
    {"homeostat_disk_written_bytes_total", METRIC_COUNTER, DISKSTATS_SECTORS, "Bytes written."},
    {"homeostat_disk_write_time_seconds_total", METRIC_COUNTER, DISKSTATS_MSEC,
     "Seconds spent by all writes."},
    {"homeostat_disk_io_now", METRIC_GAUGE, DISKSTATS_COUNT, "I/Os currently in progress."},
    {"homeostat_disk_io_time_seconds_total", METRIC_COUNTER, DISKSTATS_MSEC,
     "Seconds during which the device had I/O in progress."},
    {"homeostat_disk_io_time_weighted_seconds_total", METRIC_COUNTER, DISKSTATS_MSEC,
     "Seconds spent doing I/O, weighted by the number of I/Os in progress."},
    {"homeostat_disk_discards_completed_total", METRIC_COUNTER, DISKSTATS_COUNT,
     "Discards completed successfully."},
    {"homeostat_disk_discards_merged_total", METRIC_COUNTER, DISKSTATS_COUNT,
     "Adjacent discards merged."},
    {"homeostat_disk_discarded_bytes_total", METRIC_COUNTER, DISKSTATS_SECTORS, "Bytes discarded."},
    {"homeostat_disk_discard_time_seconds_total", METRIC_COUNTER, DISKSTATS_MSEC,
     "Seconds spent by all discards."},
    {"homeostat_disk_flush_requests_total", METRIC_COUNTER, DISKSTATS_COUNT,
     "Flush requests completed successfully."},
    {"homeostat_disk_flush_requests_time_seconds_total", METRIC_COUNTER, DISKSTATS_MSEC,
     "Seconds spent by all flush requests."},
};

_Static_assert(sizeof(diskstats_families) / sizeof(diskstats_families[0]) == DISKSTATS_STATS_MAX,
               "one family per column");

static void diskstats_cleanup(void *state)
{
    struct diskstats_state *st = state;
    if (!st)
        return;
    if (st->exclude_set)
        regfree(&st->exclude);
    free(st);
}

static int diskstats_init(const struct exporter_config *cfg, void **ret_state)
{
    struct diskstats_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int r = path_join(st->path, sizeof(st->path), cfg->procfs, "diskstats");
    const char *re = cfg->diskstats_device_exclude;
    if (r >= 0 && re && *re) {
        int e = regcomp(&st->exclude, re, REG_EXTENDED | REG_NOSUB);
        if (e != 0) {
            char msg[128];
            regerror(e, &st->exclude, msg, sizeof(msg));
            r = log_debug_errno(EINVAL, "collector diskstats: device-exclude '%s': %s", re, msg);
        } else {
            st->exclude_set = true;
        }
    }
    if (r < 0) {
        diskstats_cleanup(st);
        return r;
    }
    *ret_state = st;
    return 0;
}

/* Kernel device names are printable ASCII; anything else is not a diskstats line. */
static bool diskstats_name_valid(const unsigned char *s)
{
    for (; *s; s++)
        if (*s <= ' ' || *s >= 0x7f)
            return false;
    return true;
}

/* "   8       0 sda 30495 6453 ...": fills d from one line, name borrowed from line. */
static int diskstats_parse_line(char *line, struct diskstats_device *d)
{
    unsigned long long dev;
    for (int i = 0; i < 2; i++) {
        char *f = next_field(&line);
        if (!f || parse_u64(f, &dev) < 0)
            return -EINVAL;
    }
    d->name = next_field(&line);
    if (!d->name || !diskstats_name_valid((const unsigned char *)d->name))
        return -EINVAL;
    d->n_stats = 0;
    for (char *f; (f = next_field(&line));) {
        if (d->n_stats == DISKSTATS_STATS_MAX || parse_u64(f, &d->stats[d->n_stats]) < 0)
            return -EINVAL;
        d->n_stats++;
    }
    if (d->n_stats != 11 && d->n_stats != 15 && d->n_stats != 17)
        return -EINVAL;
    return 0;
}

/* Adds one device's samples; each family keeps the devices in file order. */
static int diskstats_emit(const struct diskstats_device *d, struct mset *out)
{
    for (size_t i = 0; i < d->n_stats; i++) {
        double v = (double)d->stats[i];
        if (diskstats_families[i].unit == DISKSTATS_SECTORS)
            v *= 512.0;
        else if (diskstats_families[i].unit == DISKSTATS_MSEC)
            v /= 1000.0;
        int r = mset_family(out, diskstats_families[i].name, diskstats_families[i].type,
                            diskstats_families[i].help);
        if (r < 0 || (r = mset_addl(out, v, "device", d->name, NULL)) < 0)
            return r;
    }
    return 0;
}

static int diskstats_collect(void *state, struct mset *out)
{
    const struct diskstats_state *st = state;
    char *data;
    size_t len;
    int r = file_read_alloc(st->path, DISKSTATS_FILE_MAX, &data, &len);
    if (r < 0)
        return log_debug_errno(r, "collector diskstats: cannot read %s", st->path);
    if (strlen(data) != len) {
        free(data);
        return log_debug_errno(EINVAL, "collector diskstats: %s holds a NUL byte", st->path);
    }

    int bad = 0;
    unsigned lineno = 0;
    for (char *p = data, *line; r >= 0 && (line = strsep(&p, "\n"));) {
        lineno++;
        struct diskstats_device d;
        if (line[strspn(line, " \t")] == '\0')
            continue;
        if (diskstats_parse_line(line, &d) < 0) {
            if (!bad++)
                log_debug("collector diskstats: %s:%u: malformed line, skipped", st->path, lineno);
            continue;
        }
        if (!st->exclude_set || regexec(&st->exclude, d.name, 0, NULL, 0) != 0)
            r = diskstats_emit(&d, out);
    }
    free(data);
    if (r < 0)
        return r;
    return bad ? -EINVAL : 0;
}

const struct collector collector_diskstats = {
    .name = "diskstats",
    .description = "Block device I/O statistics from /proc/diskstats",
    .default_enabled = true,
    .init = diskstats_init,
    .collect = diskstats_collect,
    .cleanup = diskstats_cleanup,
};
