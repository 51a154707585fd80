/* scrape: runs the enabled collectors at scrape time and renders the result.
 * Collectors that may block (may_block: statvfs, GPU drivers) have their own worker
 * thread and a time budget (--collector.timeout): one that overruns is reported as
 * failed for that scrape and skipped until it returns, so a stuck collector never
 * stalls /metrics; those that only read procfs run inline on the scraping thread. Concurrent
 * scrapes are coalesced: a request joins the next collection that starts after it arrived, so every
 * response is collected after its request, but 16 parallel scrapers do not make 16 parallel
 * collections. */
#ifndef HOMEOSTAT_EXPORTER_SCRAPE_H
#define HOMEOSTAT_EXPORTER_SCRAPE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "collector.h"
#include "config.h"
#include "expo.h"
#include "registry.h"

struct scraper;

/* Initialises every collector enabled in cfg (one that fails init is switched off
 * with one log line), starts their workers. reg (borrowed, outlives the scraper)
 * is snapshotted into every scrape. Returns 0 and *ret, or -errno. */
int scraper_new(const struct exporter_config *cfg, struct registry *reg, struct scraper **ret);
/* Like scraper_new, with another collector table (tests): cfg->enabled[i] applies
 * to table[i]. The table must outlive the scraper. */
int scraper_new_with(const struct exporter_config *cfg, struct registry *reg,
                     const struct collector *const *table, size_t n, struct scraper **ret);
/* Stops the workers (waiting for running collections up to 1 s, then leaving stuck
 * ones detached) and frees. Accepts NULL. */
void scraper_free(struct scraper *s);

/* Collects (coalesced, see above) and renders in fmt, gzipped when gzip is true,
 * replacing out's content. Returns 0 or -errno (-E2BIG: output over the limit). */
int scraper_scrape(struct scraper *s, enum expo_format fmt, bool gzip, struct buf *out);

/* Adds a source of metrics collected with every scrape after the collectors (the
 * ingest store): fn appends to out and returns >= 0 or -errno. Call before the first
 * scrape; at most 4 sources. userdata is borrowed. */
typedef int (*scrape_source_fn)(void *userdata, struct mset *out);
int scraper_add_source(struct scraper *s, scrape_source_fn fn, void *userdata);

/* Busy ratios of every GPU from the enabled GPU collectors (for the sampler).
 * Returns the number filled (<= max). Safe to call concurrently with scrapes. */
int scraper_gpu_sample(struct scraper *s, struct gpu_sample *out, size_t max);

/* Names of the collectors that are running (for the landing page and logs). */
size_t scraper_enabled_names(const struct scraper *s, const char **names, size_t max);

#endif
