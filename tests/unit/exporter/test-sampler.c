/* test-sampler: exporter/sampler.c: the /proc/stat and /proc/meminfo parsers on good
 * and malformed text, sampler_tick() against a fixture procfs rewritten between
 * ticks (checking the exact bucket each ratio lands in), error counting, GPU ratios
 * from a fake collector, and the sampling thread against the real /proc. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include "expo.h"
#include "fileio.h"
#include "parse.h"
#include "registry.h"
#include "sampler.h"
#include "scrape.h"
#include "test.h"

/* --- helpers ----------------------------------------------------------------------------- */

static char procfs[PATH_MAX];

static int make_procfs(void)
{
    const char *d = test_tmpdir();
    if (!d)
        return -1;
    snprintf(procfs, sizeof(procfs), "%s", d);
    return 0;
}

/* Rewrites procfs/name in place (same inode: the sampler keeps it open). */
static int put(const char *name, const char *text)
{
    char p[PATH_MAX * 2];
    snprintf(p, sizeof(p), "%s/%s", procfs, name);
    FILE *f = fopen(p, "w");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void remove_procfs(void)
{
    DIR *d = opendir(procfs);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[PATH_MAX * 2];
        snprintf(p, sizeof(p), "%s/%s", procfs, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(procfs);
}

static void config(struct exporter_config *cfg, const char *root, uint64_t interval_usec)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->procfs = root;
    cfg->sysfs = "/sys";
    cfg->sampler_interval_usec = interval_usec;
    cfg->collector_timeout_usec = 5000000;
}

/* Renders reg in text format into a new string (caller frees). */
static char *render(struct registry *reg)
{
    struct mset *set = mset_new();
    struct buf out;
    buf_init(&out, 0);
    char *text = NULL;
    if (set && registry_collect(reg, set) == 0 && expo_render(&out, EXPO_TEXT, &set, 1, NULL) == 0)
        text = buf_steal(&out, NULL);
    buf_free(&out);
    mset_free(set);
    return text ? text : strdup("");
}

#define CPU_BUCKET(le) "homeostat_cpu_busy_ratio_bucket{le=\"" le "\"}"
#define MEM_BUCKET(le) "homeostat_memory_used_ratio_bucket{le=\"" le "\"}"

static const char meminfo_75[] = "MemTotal:        1000 kB\n"
                                 "MemFree:          100 kB\n"
                                 "MemAvailable:     250 kB\n"
                                 "Buffers:           10 kB\n";

/* --- parsers ------------------------------------------------------------------------------ */

TEST(parse_cpu_good)
{
    unsigned long long busy = 0, total = 0;
    CHECK_INT(sampler_parse_cpu("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n",
                                &busy, &total),
              0);
    CHECK_INT(total, 1000);
    CHECK_INT(busy, 150); /* idle and iowait are not busy */
    /* Guest time is already part of user and nice: not counted twice. */
    CHECK_INT(sampler_parse_cpu("cpu 10 20 30 40 50 60 70 80 90 100\n", &busy, &total), 0);
    CHECK_INT(total, 360);
    CHECK_INT(busy, 270);
    /* Old kernels: four fields only, no trailing newline. */
    CHECK_INT(sampler_parse_cpu("cpu 1 2 3 4", &busy, &total), 0);
    CHECK_INT(total, 10);
    CHECK_INT(busy, 6);
    /* The real /proc/stat parses. */
    char *stat = NULL;
    size_t len = 0;
    CHECK_INT(file_read_alloc("/proc/stat", 1 << 20, &stat, &len), 0);
    int r = sampler_parse_cpu(stat, &busy, &total);
    free(stat);
    CHECK_INT(r, 0);
    CHECK(total > 0 && busy <= total);
}

TEST(parse_cpu_malformed)
{
    static const char *const bad[] = {
        "",
        "garbage\n",
        "cpu0 1 2 3 4\n", /* a per-CPU line is not the aggregate */
        " cpu 1 2 3 4\n",
        "intr 1 2 3 4\n",
        "cpu 1 2 3\n", /* too few fields */
        "cpu 1 2 x 4\n",
        "cpu 1 2 3 4x\n",
        "cpu -1 2 3 4\n",
        "cpu 99999999999999999999999 1 2 3\n", /* overflow */
        "cpu\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned long long busy = 11, total = 22;
        int r = sampler_parse_cpu(bad[i], &busy, &total);
        if (r != -EINVAL)
            TEST_FAIL("sampler_parse_cpu(\"%s\") == %d, expected -EINVAL", bad[i], r);
        if (busy != 11 || total != 22)
            TEST_FAIL("sampler_parse_cpu(\"%s\") changed its outputs on failure", bad[i]);
    }
}

TEST(parse_memory_good)
{
    double used = -1;
    CHECK_INT(sampler_parse_memory(meminfo_75, &used), 0);
    CHECK(used == 0.75);
    /* Order does not matter; a longer key with the same prefix is not the key. */
    CHECK_INT(sampler_parse_memory("MemAvailableX: 1 kB\nMemAvailable: 500 kB\n"
                                   "MemTotalHuge: 9 kB\nMemTotal: 1000 kB\n",
                                   &used),
              0);
    CHECK(used == 0.5);
    CHECK_INT(sampler_parse_memory("MemTotal: 4 kB\nMemAvailable: 4 kB\n", &used), 0);
    CHECK(used == 0.0);
    CHECK_INT(sampler_parse_memory("MemTotal: 4 kB\nMemAvailable: 0 kB", &used), 0);
    CHECK(used == 1.0);
    char *meminfo = NULL;
    size_t len = 0;
    CHECK_INT(file_read_alloc("/proc/meminfo", 1 << 20, &meminfo, &len), 0);
    int r = sampler_parse_memory(meminfo, &used);
    free(meminfo);
    CHECK_INT(r, 0);
    CHECK(used >= 0 && used <= 1);
}

TEST(parse_memory_malformed)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "MemTotal: 1000 kB\nMemFree: 100 kB\n",       /* no MemAvailable */
        "MemAvailable: 100 kB\n",                     /* no MemTotal */
        "MemTotal: 1000 kB\nMemAvailable: 1001 kB\n", /* more available than total */
        "MemTotal: 0 kB\nMemAvailable: 0 kB\n",
        "MemTotal: abc kB\nMemAvailable: 1 kB\n",
        "MemTotal: 1000 kB\nMemAvailable: -5 kB\n",
        "MemTotal: 99999999999999999999999 kB\nMemAvailable: 1 kB\n",
        "MemTotal 1000 kB\nMemAvailable 100 kB\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double used = 42;
        int r = sampler_parse_memory(bad[i], &used);
        if (r != -EINVAL)
            TEST_FAIL("sampler_parse_memory(\"%s\") == %d, expected -EINVAL", bad[i], r);
        if (used != 42)
            TEST_FAIL("sampler_parse_memory(\"%s\") changed its output on failure", bad[i]);
    }
}

/* --- ticks against a fixture procfs ----------------------------------------------------- */

TEST(tick_lands_in_exact_buckets)
{
    CHECK(make_procfs() == 0);
    CHECK(put("stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 100 0 100 800 0 0 0 0 0 0\n") == 0);
    CHECK(put("meminfo", meminfo_75) == 0);
    struct exporter_config cfg;
    config(&cfg, procfs, 0);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct sampler *s = NULL;
    CHECK_INT(sampler_new(&cfg, reg, NULL, &s), 0);

    /* First tick: memory 0.75; no CPU ratio yet (it needs two readings). */
    CHECK_INT(sampler_tick(s), 0);
    char *text = render(reg);
    CHECK_SAMPLE(text, "homeostat_cpu_busy_ratio_count", 0);
    CHECK_SAMPLE(text, MEM_BUCKET("0.7"), 0);
    CHECK_SAMPLE(text, MEM_BUCKET("0.8"), 1);
    CHECK_SAMPLE(text, "homeostat_memory_used_ratio_count", 1);
    CHECK_SAMPLE(text, "homeostat_memory_used_ratio_sum", 0.75);
    CHECK_SAMPLE(text, "homeostat_sampler_samples_total", 1);
    free(text);

    /* +30 busy of +100 total: exactly 0.3, which belongs to le="0.3". Memory 0.92. */
    CHECK(put("stat", "cpu  130 0 100 870 0 0 0 0 0 0\n") == 0);
    CHECK(put("meminfo", "MemTotal: 1000 kB\nMemAvailable: 80 kB\n") == 0);
    CHECK_INT(sampler_tick(s), 0);
    text = render(reg);
    CHECK_SAMPLE(text, CPU_BUCKET("0.2"), 0);
    CHECK_SAMPLE(text, CPU_BUCKET("0.3"), 1);
    CHECK_SAMPLE(text, CPU_BUCKET("1"), 1);
    CHECK_SAMPLE(text, CPU_BUCKET("+Inf"), 1);
    CHECK_SAMPLE(text, "homeostat_cpu_busy_ratio_sum", 0.3);
    CHECK_SAMPLE(text, "homeostat_cpu_busy_ratio_count", 1);
    CHECK_SAMPLE(text, MEM_BUCKET("0.8"), 1);
    CHECK_SAMPLE(text, MEM_BUCKET("0.9"), 1);
    CHECK_SAMPLE(text, MEM_BUCKET("0.95"), 2);
    CHECK_SAMPLE(text, "homeostat_memory_used_ratio_count", 2);
    CHECK_SAMPLE(text, "homeostat_sampler_samples_total", 2);
    CHECK(strstr(text, "homeostat_sampler_errors_total{") == NULL);
    free(text);

    /* Fully busy: +50 busy of +50 total lands in le="1". */
    CHECK(put("stat", "cpu  180 0 100 870 0 0 0 0 0 0\n") == 0);
    CHECK_INT(sampler_tick(s), 0);
    text = render(reg);
    CHECK_SAMPLE(text, CPU_BUCKET("0.99"), 1);
    CHECK_SAMPLE(text, CPU_BUCKET("1"), 2);
    CHECK_SAMPLE(text, "homeostat_cpu_busy_ratio_count", 2);
    free(text);

    /* Counters going backwards (a reset) observe nothing; the next delta counts. */
    CHECK(put("stat", "cpu  10 0 10 80 0 0 0 0 0 0\n") == 0);
    CHECK_INT(sampler_tick(s), 0);
    CHECK(put("stat", "cpu  10 0 15 175 0 0 0 0 0 0\n") == 0); /* 5 of 100: le="0.05" */
    CHECK_INT(sampler_tick(s), 0);
    text = render(reg);
    CHECK_SAMPLE(text, CPU_BUCKET("0.05"), 1);
    CHECK_SAMPLE(text, "homeostat_cpu_busy_ratio_count", 3);
    CHECK_SAMPLE(text, "homeostat_sampler_samples_total", 5);
    free(text);

    /* No time passed (same numbers): no ratio. */
    CHECK_INT(sampler_tick(s), 0);
    text = render(reg);
    CHECK_SAMPLE(text, "homeostat_cpu_busy_ratio_count", 3);
    free(text);

    sampler_stop(s);
    registry_free(reg);
    remove_procfs();
}

TEST(garbage_procfs_counts_errors)
{
    CHECK(make_procfs() == 0);
    CHECK(put("stat", "this is not /proc/stat\n") == 0);
    CHECK(put("meminfo", meminfo_75) == 0);
    struct exporter_config cfg;
    config(&cfg, procfs, 0);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct sampler *s = NULL;
    CHECK_INT(sampler_new(&cfg, reg, NULL, &s), 0);
    CHECK_INT(sampler_tick(s), -EINVAL);
    CHECK_INT(sampler_tick(s), -EINVAL);
    char *text = render(reg);
    CHECK_SAMPLE(text, "homeostat_sampler_errors_total{source=\"cpu\"}", 2);
    CHECK(strstr(text, "source=\"memory\"") == NULL);
    CHECK_SAMPLE(text, "homeostat_memory_used_ratio_count", 2); /* memory still sampled */
    CHECK_SAMPLE(text, "homeostat_sampler_samples_total", 2);
    free(text);

    /* Now memory breaks and the CPU recovers. */
    CHECK(put("stat", "cpu 1 2 3 4\n") == 0);
    CHECK(put("meminfo", "MemTotal: 1000 kB\n") == 0);
    CHECK_INT(sampler_tick(s), -EINVAL);
    text = render(reg);
    CHECK_SAMPLE(text, "homeostat_sampler_errors_total{source=\"cpu\"}", 2);
    CHECK_SAMPLE(text, "homeostat_sampler_errors_total{source=\"memory\"}", 1);
    CHECK_SAMPLE(text, "homeostat_memory_used_ratio_count", 2);
    free(text);
    sampler_stop(s);
    registry_free(reg);
    remove_procfs();
}

TEST(missing_procfs_counts_errors)
{
    CHECK(make_procfs() == 0);
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof(missing), "%s/nonexistent", procfs);
    struct exporter_config cfg;
    config(&cfg, missing, 0);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct sampler *s = NULL;
    CHECK_INT(sampler_new(&cfg, reg, NULL, &s), 0);
    CHECK_INT(sampler_tick(s), -EINVAL);
    char *text = render(reg);
    CHECK_SAMPLE(text, "homeostat_sampler_errors_total{source=\"cpu\"}", 1);
    CHECK_SAMPLE(text, "homeostat_sampler_errors_total{source=\"memory\"}", 1);
    CHECK_SAMPLE(text, "homeostat_sampler_samples_total", 1);
    free(text);
    sampler_stop(s);
    registry_free(reg);
    remove_procfs();
}

/* GPU ratios come from the scraper's GPU collectors. */
static int gpu_collect(void *state, struct mset *out)
{
    return 0;
}

static int gpu_sample(void *state, struct gpu_sample *out, size_t max)
{
    static const double ratios[] = {0.5, 1.7, -1};
    size_t n = 0;
    for (; n < 3 && n < max; n++) {
        snprintf(out[n].gpu, sizeof(out[n].gpu), "%zu", n);
        out[n].busy_ratio = ratios[n];
    }
    return (int)n;
}

static const struct collector fake_gpu = {
    .name = "gpu",
    .collect = gpu_collect,
    .sample = gpu_sample,
};

TEST(gpu_ratios_observed_per_gpu)
{
    CHECK(make_procfs() == 0);
    CHECK(put("stat", "cpu 1 2 3 4\n") == 0);
    CHECK(put("meminfo", meminfo_75) == 0);
    struct exporter_config cfg;
    config(&cfg, procfs, 0);
    cfg.enabled[0] = true;
    struct registry *reg = registry_new();
    CHECK(reg);
    static const struct collector *const table[] = {&fake_gpu};
    struct scraper *scr = NULL;
    CHECK_INT(scraper_new_with(&cfg, reg, table, 1, &scr), 0);
    struct sampler *s = NULL;
    CHECK_INT(sampler_new(&cfg, reg, scr, &s), 0);
    CHECK_INT(sampler_tick(s), 0);
    char *text = render(reg);
    sampler_stop(s);
    scraper_free(scr);
    registry_free(reg);
    remove_procfs();
    CHECK_SAMPLE(text, "homeostat_gpu_busy_ratio_bucket{gpu=\"0\",le=\"0.4\"}", 0);
    CHECK_SAMPLE(text, "homeostat_gpu_busy_ratio_bucket{gpu=\"0\",le=\"0.5\"}", 1);
    /* Above 1 is clamped to 1; a negative ratio (unknown) is not observed. */
    CHECK_SAMPLE(text, "homeostat_gpu_busy_ratio_bucket{gpu=\"1\",le=\"0.99\"}", 0);
    CHECK_SAMPLE(text, "homeostat_gpu_busy_ratio_bucket{gpu=\"1\",le=\"1\"}", 1);
    CHECK_SAMPLE(text, "homeostat_gpu_busy_ratio_sum{gpu=\"1\"}", 1);
    CHECK_SAMPLE(text, "homeostat_gpu_busy_ratio_count{gpu=\"2\"}", 0);
    free(text);
}

TEST(bucket_bounds_ascend_to_one)
{
    CHECK(sampler_ratio_bucket_count >= 2);
    for (size_t i = 1; i < sampler_ratio_bucket_count; i++)
        CHECK(sampler_ratio_buckets[i] > sampler_ratio_buckets[i - 1]);
    CHECK(sampler_ratio_buckets[0] > 0);
    CHECK(sampler_ratio_buckets[sampler_ratio_bucket_count - 1] == 1.0);
}

/* --- the thread, on the real /proc ---------------------------------------------------------- */

TEST(thread_samples_real_proc)
{
    struct exporter_config cfg;
    config(&cfg, "/proc", 10000); /* every 10 ms */
    struct registry *reg = registry_new();
    CHECK(reg);
    struct sampler *s = NULL;
    CHECK_INT(sampler_start(&cfg, reg, NULL, &s), 0);
    usleep(300000);
    sampler_stop(s);
    char *text = render(reg);
    registry_free(reg);
    double samples = 0, mem = 0;
    CHECK(test_text_value(text, "homeostat_sampler_samples_total", &samples));
    CHECK(test_text_value(text, "homeostat_memory_used_ratio_count", &mem));
    CHECK(strstr(text, "homeostat_sampler_errors_total{") == NULL);
    free(text);
    CHECK(samples > 5);    /* a count, not a timing: about 30 are due */
    CHECK(mem == samples); /* one memory observation per tick */
}

TEST(zero_interval_starts_no_thread)
{
    struct exporter_config cfg;
    config(&cfg, "/proc", 0);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct sampler *s = NULL;
    CHECK_INT(sampler_start(&cfg, reg, NULL, &s), 0);
    CHECK(s);
    usleep(20000);
    struct metric *samples =
        registry_metric(reg, "homeostat_sampler_samples_total", METRIC_COUNTER, "");
    CHECK(samples);
    CHECK(metric_value(samples) == 0);
    CHECK_INT(sampler_tick(s), 0); /* driven by hand instead */
    CHECK(metric_value(samples) == 1);
    sampler_stop(s);
    sampler_stop(NULL);
    registry_free(reg);
}

TEST_MAIN(TEST_ENTRY(parse_cpu_good), TEST_ENTRY(parse_cpu_malformed),
          TEST_ENTRY(parse_memory_good), TEST_ENTRY(parse_memory_malformed),
          TEST_ENTRY(tick_lands_in_exact_buckets), TEST_ENTRY(garbage_procfs_counts_errors),
          TEST_ENTRY(missing_procfs_counts_errors), TEST_ENTRY(gpu_ratios_observed_per_gpu),
          TEST_ENTRY(bucket_bounds_ascend_to_one), TEST_ENTRY(thread_samples_real_proc),
          TEST_ENTRY(zero_interval_starts_no_thread))
