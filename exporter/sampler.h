/* sampler: a thread that every --sampler.interval observes the CPU busy ratio,
 * the memory used ratio and each GPU's busy ratio into histograms
 * (homeostat_cpu_busy_ratio, homeostat_memory_used_ratio, homeostat_gpu_busy_ratio),
 * so spikes shorter than the scrape interval show in the bucket counts. It reads
 * /proc/stat and /proc/meminfo through descriptors kept open (lseek + read). */
#ifndef HOMEOSTAT_EXPORTER_SAMPLER_H
#define HOMEOSTAT_EXPORTER_SAMPLER_H

#include "config.h"
#include "registry.h"
#include "scrape.h"

struct sampler;

/* Bucket upper bounds of the ratio histograms (0..1). */
extern const double sampler_ratio_buckets[];
extern const size_t sampler_ratio_bucket_count;

/* Starts sampling every cfg->sampler_interval_usec into reg (borrowed). scr
 * (borrowed, may be NULL) provides GPU busy ratios. Returns 0 and *ret, or -errno. */
int sampler_start(const struct exporter_config *cfg, struct registry *reg, struct scraper *scr,
                  struct sampler **ret);
/* Stops the thread and frees. Accepts NULL. */
void sampler_stop(struct sampler *s);
/* Takes one sample synchronously (tests; the thread must not be running). */
int sampler_tick(struct sampler *s);

/* Parsing helpers, exported for tests. Both return 0 or -EINVAL on malformed input. */
/* From the text of /proc/stat: busy and total jiffies of the aggregate "cpu" line. */
int sampler_parse_cpu(const char *stat, unsigned long long *ret_busy,
                      unsigned long long *ret_total);
/* From the text of /proc/meminfo: 1 - MemAvailable / MemTotal. */
int sampler_parse_memory(const char *meminfo, double *ret_used_ratio);

/* Creates the sampler without its thread (tests drive it with sampler_tick). */
int sampler_new(const struct exporter_config *cfg, struct registry *reg, struct scraper *scr,
                struct sampler **ret);

#endif
