/* collector: the interface every host collector implements, and the static table
 * of all of them (collectors.c), in the style of netdata's proc plugin: {name,
 * init, collect, cleanup}. A collector whose init fails is switched off and says
 * so once. collect() runs at scrape time: inline on the scraping thread for the
 * collectors that only read procfs, on the collector's own worker thread under
 * --collector.timeout for those that may block (may_block); it never runs twice at
 * once for one collector. */
#ifndef HOMEOSTAT_EXPORTER_COLLECTOR_H
#define HOMEOSTAT_EXPORTER_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "mset.h"

/* One GPU's busy ratio, for the sampler. */
struct gpu_sample {
    char gpu[32];      /* value of the gpu label, as the collector's metrics use it */
    double busy_ratio; /* 0..1 */
};

struct collector {
    const char *name;        /* flag --collector.<name>, label collector="<name>" */
    const char *description; /* one line for -h */
    bool default_enabled;
    /* true when collect() can block (statvfs on a network mount, driver calls): it
     * then runs on its own worker thread under --collector.timeout. Collectors that
     * only read procfs run inline on the scraping thread, which saves a thread
     * hand-off per collector and scrape. */
    bool may_block;
    /* Prepares state (may be NULL). Returns >= 0, or -errno: the collector is then
     * disabled with one log line naming it and the reason. */
    int (*init)(const struct exporter_config *cfg, void **ret_state);
    /* Appends this collector's families to out. Returns >= 0 on success; < 0 makes
     * homeostat_collector_success{collector} 0 for this scrape (whatever was added
     * is still exposed). Must not log above LOG_DEBUG more than once per cause. */
    int (*collect)(void *state, struct mset *out);
    void (*cleanup)(void *state); /* accepts NULL; may be NULL */
    /* GPU collectors only (else NULL): fills up to max busy ratios, returns how
     * many or -errno. Runs on the sampler thread concurrently with collect(). */
    int (*sample)(void *state, struct gpu_sample *out, size_t max);
};

extern const struct collector collector_cpu;
extern const struct collector collector_memory;
extern const struct collector collector_loadavg;
extern const struct collector collector_pressure;
extern const struct collector collector_diskstats;
extern const struct collector collector_netdev;
extern const struct collector collector_filesystem;
extern const struct collector collector_cgroup;
extern const struct collector collector_gpu_nvml;
extern const struct collector collector_gpu_amd;
extern const struct collector collector_self;

/* Called by a collector's init() before it fails, to give the operator the reason
 * in the one log line that says the collector is disabled ("cannot load
 * libnvidia-ml.so.1: ..."). init() runs on the main thread only. */
void collector_reason(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The reason set since the last call, or NULL; clears it. */
const char *collector_take_reason(void);

/* All collectors, in flag order. */
extern const struct collector *const collector_table[];
extern const size_t collector_count;
/* Index of the collector called name in collector_table, or -ENOENT. */
int collector_find(const char *name);

#endif
