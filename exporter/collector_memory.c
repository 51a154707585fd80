/* collector_memory: memory and swap sizes in bytes from <procfs>/meminfo (total,
 * available, free, buffers, cached, swap, dirty, shmem, reclaimable slab). Exports
 * collector_memory. MemTotal is required; a malformed line is skipped and makes the
 * collection fail after the valid values are reported. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"

#define MEMORY_MEMINFO_MAX (64u << 10) /* about 1.5 KiB today */

static const struct {
    const char *key; /* without the colon */
    const char *name;
    const char *help;
} memory_fields[] = {
    {"MemTotal", "homeostat_memory_total_bytes", "Usable RAM in bytes."},
    {"MemAvailable", "homeostat_memory_available_bytes",
     "Estimated bytes available for new workloads without swapping."},
    {"MemFree", "homeostat_memory_free_bytes", "Unused RAM in bytes."},
    {"Buffers", "homeostat_memory_buffers_bytes", "Bytes in block device buffers."},
    {"Cached", "homeostat_memory_cached_bytes", "Bytes in the page cache, shmem included."},
    {"SwapTotal", "homeostat_memory_swap_total_bytes", "Swap space in bytes."},
    {"SwapFree", "homeostat_memory_swap_free_bytes", "Unused swap space in bytes."},
    {"Dirty", "homeostat_memory_dirty_bytes", "Bytes waiting to be written back to disk."},
    {"Shmem", "homeostat_memory_shmem_bytes", "Bytes in shared memory and tmpfs."},
    {"SReclaimable", "homeostat_memory_slab_reclaimable_bytes",
     "Bytes of kernel slab memory that can be reclaimed."},
};

#define MEMORY_FIELDS (sizeof(memory_fields) / sizeof(memory_fields[0]))

struct memory_state {
    char path[PATH_MAX];
    char buf[MEMORY_MEMINFO_MAX + 1];
};

static int memory_init(const struct exporter_config *cfg, void **ret_state)
{
    struct memory_state *st = malloc(sizeof(*st));
    if (!st)
        return -ENOMEM;
    int r = path_join(st->path, sizeof(st->path), cfg->procfs, "meminfo");
    if (r < 0) {
        free(st);
        return r;
    }
    *ret_state = st;
    return 0;
}

/* "Key:   123 kB" (or without unit, as the HugePages_ counts): the value in bytes
 * (or units) and the key with its colon removed. */
static int memory_parse_line(char *line, char **ret_key, double *ret_value)
{
    char *key = next_field(&line);
    char *num = next_field(&line);
    char *unit = next_field(&line);
    size_t kl = key ? strlen(key) : 0;
    unsigned long long v;
    if (kl < 2 || key[kl - 1] != ':' || !num || parse_u64(num, &v) < 0 || next_field(&line))
        return -EINVAL;
    if (unit && strcmp(unit, "kB") != 0)
        return -EINVAL;
    key[kl - 1] = '\0';
    *ret_key = key;
    *ret_value = unit ? (double)v * 1024.0 : (double)v;
    return 0;
}

static int memory_collect(void *state, struct mset *out)
{
    struct memory_state *st = state;
    long len = file_read_into(st->path, st->buf, MEMORY_MEMINFO_MAX);
    if (len < 0)
        return log_debug_errno((int)len, "collector memory: cannot read %s", st->path);
    if (strlen(st->buf) != (size_t)len)
        return log_debug_errno(EINVAL, "collector memory: %s holds a NUL byte", st->path);

    double values[MEMORY_FIELDS] = {0};
    bool found[MEMORY_FIELDS] = {false};
    int bad = 0;
    unsigned lineno = 0;
    for (char *p = st->buf, *line; (line = strsep(&p, "\n"));) {
        lineno++;
        char *key;
        double v;
        if (line[strspn(line, " \t")] == '\0')
            continue;
        if (memory_parse_line(line, &key, &v) < 0) {
            if (!bad++)
                log_debug("collector memory: %s:%u: malformed line, skipped", st->path, lineno);
            continue;
        }
        for (size_t i = 0; i < MEMORY_FIELDS; i++)
            if (strcmp(key, memory_fields[i].key) == 0) {
                values[i] = v;
                found[i] = true;
                break;
            }
    }
    if (!found[0])
        return log_debug_errno(ENODATA, "collector memory: %s: no MemTotal", st->path);

    for (size_t i = 0; i < MEMORY_FIELDS; i++) {
        if (!found[i])
            continue;
        int r = mset_family(out, memory_fields[i].name, METRIC_GAUGE, memory_fields[i].help);
        if (r < 0 || (r = mset_add(out, MSET_SUFFIX_NONE, NULL, values[i])) < 0)
            return r;
    }
    return bad ? -EINVAL : 0;
}

const struct collector collector_memory = {
    .name = "memory",
    .description = "Memory and swap sizes from /proc/meminfo",
    .default_enabled = true,
    .init = memory_init,
    .collect = memory_collect,
    .cleanup = free,
};
