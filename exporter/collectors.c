/* collectors: the compile-time table of host collectors (see collector.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "collector.h"

const struct collector *const collector_table[] = {
    &collector_cpu,       &collector_memory,  &collector_loadavg,    &collector_pressure,
    &collector_diskstats, &collector_netdev,  &collector_filesystem, &collector_cgroup,
    &collector_gpu_nvml,  &collector_gpu_amd, &collector_self,
};

const size_t collector_count = sizeof(collector_table) / sizeof(collector_table[0]);

_Static_assert(sizeof(collector_table) / sizeof(collector_table[0]) <= EXPORTER_MAX_COLLECTORS,
               "raise EXPORTER_MAX_COLLECTORS");

int collector_find(const char *name)
{
    for (size_t i = 0; i < collector_count; i++)
        if (strcmp(collector_table[i]->name, name) == 0)
            return (int)i;
    return -ENOENT;
}

static char reason_buf[512];
static bool reason_set;

void collector_reason(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason_buf, sizeof(reason_buf), fmt, ap);
    va_end(ap);
    reason_set = true;
}

const char *collector_take_reason(void)
{
    if (!reason_set)
        return NULL;
    reason_set = false;
    return reason_buf;
}
