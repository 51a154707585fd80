/* test-collectors-proc: the /proc collectors (cpu, memory, loadavg, pressure,
 * diskstats, netdev) against the fake procfs trees in tests/fixtures/proc*: golden
 * output and hand-checked values, broken, empty, binary, missing, oversized and
 * truncated input, and one run against this machine's real /proc. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector.h"
#include "config.h"
#include "fileio.h"
#include "test.h"

/* Runs init, collect and cleanup of c against procfs; the collect result, or the
 * init result (also stored in *ret_init when given) if init failed. */
static int run_with(const struct collector *c, const struct exporter_config *cfg, struct mset *out,
                    int *ret_init)
{
    void *state = NULL;
    int r = c->init ? c->init(cfg, &state) : 0;
    if (ret_init)
        *ret_init = r;
    if (r < 0)
        return r;
    r = c->collect(state, out);
    if (c->cleanup)
        c->cleanup(state);
    return r;
}

static int run(const struct collector *c, const char *procfs, struct mset *out)
{
    struct exporter_config cfg;
    exporter_config_defaults(&cfg);
    cfg.procfs = procfs;
    return run_with(c, &cfg, out, NULL);
}

static const struct mset_family *family(const struct mset *s, const char *name)
{
    for (size_t i = 0; i < s->n_families; i++)
        if (strcmp(s->families[i].name, name) == 0)
            return &s->families[i];
    return NULL;
}

/* The value of the sample of family name whose labels include the given pairs
 * (NULL-terminated name, value list); NAN when there is none. */
static double value(const struct mset *s, const char *name, ...)
{
    const struct mset_family *f = family(s, name);
    if (!f)
        return NAN;
    for (size_t i = 0; i < f->n_samples; i++) {
        const struct mset_sample *sm = &f->samples[i];
        int match = 1;
        va_list ap;
        va_start(ap, name);
        for (const char *ln; match && (ln = va_arg(ap, const char *));) {
            const char *lv = va_arg(ap, const char *);
            match = 0;
            for (unsigned j = 0; j < sm->n_labels; j++)
                if (strcmp(sm->labels[2 * j], ln) == 0 && strcmp(sm->labels[2 * j + 1], lv) == 0)
                    match = 1;
        }
        va_end(ap);
        if (match)
            return sm->value;
    }
    return NAN;
}

static size_t n_samples(const struct mset *s, const char *name)
{
    const struct mset_family *f = family(s, name);
    return f ? f->n_samples : 0;
}

static int write_file(const char *dir, const char *name, const char *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -errno;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -EIO;
}

/* Every file the proc collectors read, relative to the procfs root. */
static const char *const proc_files[] = {
    "stat",        "meminfo",   "loadavg", "pressure/cpu", "pressure/memory",
    "pressure/io", "diskstats", "net/dev",
};
#define N_PROC_FILES (sizeof(proc_files) / sizeof(proc_files[0]))

/* A fresh temporary procfs root with empty pressure/ and net/ directories, or with
 * copy set, a copy of tests/fixtures/proc. NULL on failure. */
static char *tree_new(int copy)
{
    char *dir = test_tmpdir();
    char path[4096];
    if (!dir)
        return NULL;
    snprintf(path, sizeof(path), "%s/pressure", dir);
    if (mkdir(path, 0755) < 0)
        return NULL;
    snprintf(path, sizeof(path), "%s/net", dir);
    if (mkdir(path, 0755) < 0)
        return NULL;
    for (size_t i = 0; copy && i < N_PROC_FILES; i++) {
        char *data;
        size_t len;
        if (path_join(path, sizeof(path), test_fixture("proc"), proc_files[i]) < 0 ||
            file_read_alloc(path, 1 << 20, &data, &len) < 0)
            return NULL;
        int r = write_file(dir, proc_files[i], data, len);
        free(data);
        if (r < 0)
            return NULL;
    }
    return dir;
}

static void tree_remove(const char *dir)
{
    char path[4096];
    for (size_t i = 0; i < N_PROC_FILES; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, proc_files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/pressure", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/net", dir);
    rmdir(path);
    rmdir(dir);
}

static const struct collector *const proc_collectors[] = {
    &collector_cpu,      &collector_memory,    &collector_loadavg,
    &collector_pressure, &collector_diskstats, &collector_netdev,
};
#define N_PROC_COLLECTORS (sizeof(proc_collectors) / sizeof(proc_collectors[0]))

TEST(test_table_entries)
{
    for (size_t i = 0; i < N_PROC_COLLECTORS; i++) {
        const struct collector *c = proc_collectors[i];
        CHECK(c->default_enabled);
        CHECK(c->init && c->collect && c->cleanup);
        CHECK(c->description && strstr(c->description, "not implemented") == NULL);
        CHECK(collector_find(c->name) >= 0);
        c->cleanup(NULL);
    }
}

/* Golden output plus values worked out by hand from tests/fixtures/proc/stat. */
TEST(test_cpu_fixture)
{
    struct mset *s = mset_new();
    CHECK_INT(run(&collector_cpu, test_fixture("proc"), s), 0);
    if (sysconf(_SC_CLK_TCK) == 100)
        CHECK_INT(test_golden("collector_cpu", s), 0);
    double hz = (double)sysconf(_SC_CLK_TCK);
    CHECK_DBL(value(s, "homeostat_cpu_seconds_total", "cpu", "0", "mode", "user", NULL),
              271092 / hz, 1e-9);
    CHECK_DBL(value(s, "homeostat_cpu_seconds_total", "cpu", "3", "mode", "idle", NULL),
              8365260 / hz, 1e-9);
    CHECK_DBL(value(s, "homeostat_cpu_seconds_total", "cpu", "0", "mode", "softirq", NULL),
              5120 / hz, 1e-9);
    CHECK_DBL(value(s, "homeostat_cpu_seconds_total", "cpu", "2", "mode", "steal", NULL), 406 / hz,
              1e-9);
    CHECK_DBL(value(s, "homeostat_cpu_guest_seconds_total", "cpu", "1", "mode", "user", NULL),
              5100 / hz, 1e-9);
    CHECK_DBL(value(s, "homeostat_cpu_guest_seconds_total", "cpu", "1", "mode", "nice", NULL),
              25 / hz, 1e-9);
    /* 4 CPUs x 8 modes; the aggregate "cpu" line is not reported. */
    CHECK_INT(n_samples(s, "homeostat_cpu_seconds_total"), 32);
    CHECK_INT(n_samples(s, "homeostat_cpu_guest_seconds_total"), 8);
    CHECK(isnan(value(s, "homeostat_cpu_seconds_total", "cpu", "", NULL)));
    CHECK_DBL(value(s, "homeostat_context_switches_total", NULL), 101283462, 0);
    CHECK_DBL(value(s, "homeostat_forks_total", NULL), 412934, 0);
    CHECK_DBL(value(s, "homeostat_intr_total", NULL), 58232961, 0);
    CHECK_DBL(value(s, "homeostat_boot_time_seconds", NULL), 1700000000, 0);
    CHECK_DBL(value(s, "homeostat_procs_running", NULL), 3, 0);
    CHECK_DBL(value(s, "homeostat_procs_blocked", NULL), 1, 0);
    CHECK_INT(family(s, "homeostat_procs_running")->type, METRIC_GAUGE);
    mset_free(s);
}

TEST(test_memory_fixture)
{
    struct mset *s = mset_new();
    CHECK_INT(run(&collector_memory, test_fixture("proc"), s), 0);
    CHECK_INT(test_golden("collector_memory", s), 0);
    CHECK_DBL(value(s, "homeostat_memory_total_bytes", NULL), 16318876.0 * 1024, 0);
    CHECK_DBL(value(s, "homeostat_memory_available_bytes", NULL), 9876540.0 * 1024, 0);
    CHECK_DBL(value(s, "homeostat_memory_free_bytes", NULL), 1234560.0 * 1024, 0);
    CHECK_DBL(value(s, "homeostat_memory_cached_bytes", NULL), 7654321.0 * 1024, 0);
    CHECK_DBL(value(s, "homeostat_memory_swap_free_bytes", NULL), 2000000.0 * 1024, 0);
    CHECK_DBL(value(s, "homeostat_memory_slab_reclaimable_bytes", NULL), 456789.0 * 1024, 0);
    CHECK_INT(s->n_families, 10);
    /* A sampler histogram owns this name. */
    CHECK(family(s, "homeostat_memory_used_ratio") == NULL);
    mset_free(s);
}

TEST(test_loadavg_fixture)
{
    struct mset *s = mset_new();
    CHECK_INT(run(&collector_loadavg, test_fixture("proc"), s), 0);
    CHECK_INT(test_golden("collector_loadavg", s), 0);
    CHECK_DBL(value(s, "homeostat_load1", NULL), 1.25, 0);
    CHECK_DBL(value(s, "homeostat_load5", NULL), 0.75, 0);
    CHECK_DBL(value(s, "homeostat_load15", NULL), 0.5, 0);
    CHECK_INT(family(s, "homeostat_load1")->type, METRIC_GAUGE);
    mset_free(s);
}

TEST(test_pressure_fixture)
{
    struct mset *s = mset_new();
    CHECK_INT(run(&collector_pressure, test_fixture("proc"), s), 0);
    CHECK_INT(test_golden("collector_pressure", s), 0);
    CHECK_DBL(value(s, "homeostat_pressure_cpu_waiting_seconds_total", NULL), 1234.56789, 1e-9);
    CHECK_DBL(value(s, "homeostat_pressure_cpu_stalled_seconds_total", NULL), 0, 0);
    CHECK_DBL(value(s, "homeostat_pressure_memory_waiting_seconds_total", NULL), 2.72857, 1e-12);
    CHECK_DBL(value(s, "homeostat_pressure_memory_stalled_seconds_total", NULL), 2.608744, 1e-12);
    CHECK_DBL(value(s, "homeostat_pressure_io_waiting_seconds_total", NULL), 45.678901, 1e-12);
    CHECK_DBL(value(s, "homeostat_pressure_io_stalled_seconds_total", NULL), 23.456789, 1e-12);
    mset_free(s);
}

/* Kernels before 5.13 have no "full" line for cpu: the stalled series is left out. */
TEST(test_pressure_cpu_without_full)
{
    char *dir = tree_new(0);
    CHECK(dir);
    char sub[4096];
    snprintf(sub, sizeof(sub), "%s/pressure", dir);
    static const char some[] = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1500000\n";
    static const char both[] = "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n"
                               "full avg10=0.00 avg60=0.00 avg300=0.00 total=2\n";
    CHECK_INT(write_file(sub, "cpu", some, sizeof(some) - 1), 0);
    CHECK_INT(write_file(sub, "memory", both, sizeof(both) - 1), 0);
    CHECK_INT(write_file(sub, "io", both, sizeof(both) - 1), 0);
    struct mset *s = mset_new();
    CHECK_INT(run(&collector_pressure, dir, s), 0);
    CHECK_DBL(value(s, "homeostat_pressure_cpu_waiting_seconds_total", NULL), 1.5, 0);
    CHECK(family(s, "homeostat_pressure_cpu_stalled_seconds_total") == NULL);
    CHECK_DBL(value(s, "homeostat_pressure_io_stalled_seconds_total", NULL), 2e-6, 0);
    /* memory and io need their "full" line. */
    CHECK_INT(write_file(sub, "io", some, sizeof(some) - 1), 0);
    mset_clear(s);
    CHECK_INT(run(&collector_pressure, dir, s), -EINVAL);
    mset_free(s);
    tree_remove(dir);
}

TEST(test_diskstats_fixture)
{
    struct mset *s = mset_new();
    CHECK_INT(run(&collector_diskstats, test_fixture("proc"), s), 0);
    CHECK_INT(test_golden("collector_diskstats", s), 0);
    /* sda: 20 columns. */
    CHECK_DBL(value(s, "homeostat_disk_reads_completed_total", "device", "sda", NULL), 254180, 0);
    CHECK_DBL(value(s, "homeostat_disk_read_bytes_total", "device", "sda", NULL), 18954120.0 * 512,
              0);
    CHECK_DBL(value(s, "homeostat_disk_read_time_seconds_total", "device", "sda", NULL), 98.765, 0);
    CHECK_DBL(value(s, "homeostat_disk_written_bytes_total", "device", "sda", NULL),
              41234568.0 * 512, 0);
    CHECK_DBL(value(s, "homeostat_disk_io_now", "device", "sda", NULL), 2, 0);
    CHECK_DBL(value(s, "homeostat_disk_io_time_weighted_seconds_total", "device", "sda", NULL),
              1333.333, 0);
    CHECK_DBL(value(s, "homeostat_disk_discarded_bytes_total", "device", "sda", NULL),
              204800.0 * 512, 0);
    CHECK_DBL(value(s, "homeostat_disk_flush_requests_total", "device", "sda", NULL), 9876, 0);
    CHECK_DBL(value(s, "homeostat_disk_flush_requests_time_seconds_total", "device", "sda", NULL),
              4.321, 0);
    /* dm-0: 18 columns (discards, no flush); sdb: 14 columns (neither). */
    CHECK_DBL(value(s, "homeostat_disk_discard_time_seconds_total", "device", "dm-0", NULL), 12.3,
              0);
    CHECK(isnan(value(s, "homeostat_disk_flush_requests_total", "device", "dm-0", NULL)));
    CHECK_DBL(value(s, "homeostat_disk_io_time_seconds_total", "device", "sdb", NULL), 0.15, 0);
    CHECK(isnan(value(s, "homeostat_disk_discards_completed_total", "device", "sdb", NULL)));
    /* The default exclude drops loop, zram and partitions. */
    CHECK_INT(n_samples(s, "homeostat_disk_reads_completed_total"), 4);
    CHECK(isnan(value(s, "homeostat_disk_reads_completed_total", "device", "loop0", NULL)));
    CHECK(isnan(value(s, "homeostat_disk_reads_completed_total", "device", "sda1", NULL)));
    CHECK(isnan(value(s, "homeostat_disk_reads_completed_total", "device", "nvme0n1p1", NULL)));
    CHECK_INT(family(s, "homeostat_disk_io_now")->type, METRIC_GAUGE);
    mset_free(s);
}

TEST(test_diskstats_exclude)
{
    struct exporter_config cfg;
    exporter_config_defaults(&cfg);
    cfg.procfs = test_fixture("proc");
    struct mset *s = mset_new();
    cfg.diskstats_device_exclude = ""; /* none */
    CHECK_INT(run_with(&collector_diskstats, &cfg, s, NULL), 0);
    CHECK_INT(n_samples(s, "homeostat_disk_reads_completed_total"), 9);
    CHECK_DBL(value(s, "homeostat_disk_read_bytes_total", "device", "loop0", NULL), 5678.0 * 512,
              0);
    mset_clear(s);
    cfg.diskstats_device_exclude = "^(sd|dm-)";
    CHECK_INT(run_with(&collector_diskstats, &cfg, s, NULL), 0);
    CHECK_INT(n_samples(s, "homeostat_disk_reads_completed_total"), 5);
    CHECK(isnan(value(s, "homeostat_disk_reads_completed_total", "device", "sdb", NULL)));
    mset_clear(s);
    int init = 0;
    cfg.diskstats_device_exclude = "^(sd";
    CHECK_INT(run_with(&collector_diskstats, &cfg, s, &init), -EINVAL);
    CHECK_INT(init, -EINVAL);
    mset_free(s);
}

TEST(test_netdev_fixture)
{
    struct mset *s = mset_new();
    CHECK_INT(run(&collector_netdev, test_fixture("proc"), s), 0);
    CHECK_INT(test_golden("collector_netdev", s), 0);
    /* eth0's byte counter runs into the colon. */
    CHECK_DBL(value(s, "homeostat_network_receive_bytes_total", "device", "eth0", NULL),
              9876543210987.0, 0);
    CHECK_DBL(value(s, "homeostat_network_receive_multicast_total", "device", "eth0", NULL), 678,
              0);
    CHECK_DBL(value(s, "homeostat_network_transmit_bytes_total", "device", "eth0", NULL),
              1234567890123.0, 0);
    CHECK_DBL(value(s, "homeostat_network_transmit_colls_total", "device", "eth0", NULL), 12, 0);
    CHECK_DBL(value(s, "homeostat_network_transmit_compressed_total", "device", "eth0", NULL), 14,
              0);
    CHECK_DBL(value(s, "homeostat_network_receive_drop_total", "device", "docker0", NULL), 7, 0);
    CHECK_DBL(value(s, "homeostat_network_transmit_packets_total", "device", "docker0", NULL), 4096,
              0);
    CHECK_INT(s->n_families, 16);
    CHECK_INT(n_samples(s, "homeostat_network_receive_bytes_total"), 4);
    mset_free(s);
}

TEST(test_netdev_exclude)
{
    struct exporter_config cfg;
    exporter_config_defaults(&cfg);
    cfg.procfs = test_fixture("proc");
    cfg.netdev_device_exclude = "^(lo|docker[0-9]+)$";
    struct mset *s = mset_new();
    CHECK_INT(run_with(&collector_netdev, &cfg, s, NULL), 0);
    CHECK_INT(n_samples(s, "homeostat_network_transmit_bytes_total"), 2);
    CHECK(isnan(value(s, "homeostat_network_receive_bytes_total", "device", "lo", NULL)));
    CHECK(!isnan(value(s, "homeostat_network_receive_bytes_total", "device", "wlan0", NULL)));
    mset_clear(s);
    int init = 0;
    cfg.netdev_device_exclude = "*lo";
    CHECK_INT(run_with(&collector_netdev, &cfg, s, &init), -EINVAL);
    CHECK_INT(init, -EINVAL);
    mset_free(s);
}

/* tests/fixtures/proc-broken: each file mixes valid lines with malformed ones. The
 * collectors skip the malformed lines, report the valid ones and return -EINVAL. */
TEST(test_broken_lines)
{
    const char *procfs = test_fixture("proc-broken");
    struct mset *s = mset_new();

    CHECK_INT(run(&collector_cpu, procfs, s), -EINVAL);
    CHECK(!isnan(value(s, "homeostat_cpu_seconds_total", "cpu", "0", "mode", "system", NULL)));
    /* cpu5 has columns past guest_nice, which are ignored. */
    CHECK(!isnan(value(s, "homeostat_cpu_guest_seconds_total", "cpu", "5", "mode", "nice", NULL)));
    for (const char *cpu = "1234"; *cpu; cpu++) {
        char id[2] = {*cpu, '\0'};
        CHECK(isnan(value(s, "homeostat_cpu_seconds_total", "cpu", id, "mode", "user", NULL)));
    }
    CHECK_INT(n_samples(s, "homeostat_cpu_seconds_total"), 16);
    CHECK_DBL(value(s, "homeostat_procs_running", NULL), 7, 0);
    CHECK_DBL(value(s, "homeostat_procs_blocked", NULL), 2, 0);
    CHECK(family(s, "homeostat_context_switches_total") == NULL);
    CHECK(family(s, "homeostat_boot_time_seconds") == NULL);
    CHECK(family(s, "homeostat_forks_total") == NULL);
    CHECK(family(s, "homeostat_intr_total") == NULL);

    mset_clear(s);
    CHECK_INT(run(&collector_memory, procfs, s), -EINVAL);
    CHECK_DBL(value(s, "homeostat_memory_total_bytes", NULL), 2048000.0 * 1024, 0);
    CHECK_DBL(value(s, "homeostat_memory_shmem_bytes", NULL), 512.0 * 1024, 0);
    CHECK_INT(s->n_families, 2);

    mset_clear(s);
    CHECK_INT(run(&collector_loadavg, procfs, s), -EINVAL);
    CHECK_INT(s->n_families, 0);

    /* cpu is fine, memory has an empty total, io is missing. */
    mset_clear(s);
    CHECK_INT(run(&collector_pressure, procfs, s), -EINVAL);
    CHECK_DBL(value(s, "homeostat_pressure_cpu_waiting_seconds_total", NULL), 5, 0);
    CHECK_INT(s->n_families, 1);

    mset_clear(s);
    CHECK_INT(run(&collector_diskstats, procfs, s), -EINVAL);
    CHECK_DBL(value(s, "homeostat_disk_read_bytes_total", "device", "sdc", NULL), 2000.0 * 512, 0);
    CHECK_INT(n_samples(s, "homeostat_disk_read_bytes_total"), 1);
    CHECK_INT(s->n_families, 11);

    mset_clear(s);
    CHECK_INT(run(&collector_netdev, procfs, s), -EINVAL);
    CHECK_DBL(value(s, "homeostat_network_receive_multicast_total", "device", "eth0", NULL), 1, 0);
    CHECK_INT(n_samples(s, "homeostat_network_receive_bytes_total"), 1);
    mset_free(s);
}

/* Empty files: nothing to report is an error, except for diskstats, where an empty
 * file is a host without block devices. */
TEST(test_empty_files)
{
    struct mset *s = mset_new();
    for (size_t i = 0; i < N_PROC_COLLECTORS; i++) {
        mset_clear(s);
        int r = run(proc_collectors[i], test_fixture("proc-empty"), s);
        if (proc_collectors[i] == &collector_diskstats) {
            CHECK_INT(r, 0);
        } else if (r >= 0) {
            TEST_FAIL("collector %s: %d on empty files", proc_collectors[i]->name, r);
        }
        CHECK_INT(s->n_families, 0);
    }
    mset_free(s);
}

/* Files holding NUL bytes, control characters and invalid UTF-8. */
TEST(test_binary_junk)
{
    struct mset *s = mset_new();
    for (size_t i = 0; i < N_PROC_COLLECTORS; i++) {
        mset_clear(s);
        int r = run(proc_collectors[i], test_fixture("proc-binary"), s);
        if (r != -EINVAL)
            TEST_FAIL("collector %s: %d on binary junk", proc_collectors[i]->name, r);
    }
    /* The last collector run was netdev: of its four names only the UTF-8 one passes. */
    CHECK_INT(n_samples(s, "homeostat_network_receive_bytes_total"), 1);
    CHECK_DBL(value(s, "homeostat_network_receive_bytes_total", "device", "e\xc3\xa9th", NULL), 1,
              0);
    mset_free(s);
}

/* No files at all, and no pressure directory: pressure is disabled at init. */
TEST(test_missing_files)
{
    struct mset *s = mset_new();
    for (size_t i = 0; i < N_PROC_COLLECTORS; i++) {
        int init = 0;
        mset_clear(s);
        struct exporter_config cfg;
        exporter_config_defaults(&cfg);
        cfg.procfs = test_fixture("proc-missing");
        int r = run_with(proc_collectors[i], &cfg, s, &init);
        CHECK_INT(r, -ENOENT);
        CHECK_INT(init, proc_collectors[i] == &collector_pressure ? -ENOENT : 0);
        CHECK_INT(s->n_families, 0);
    }
    mset_free(s);
}

/* Files past each collector's size limit fail with -EFBIG. */
TEST(test_oversized_files)
{
    char *dir = tree_new(0);
    CHECK(dir);
    size_t big = (4u << 20) + 1;
    char *junk = malloc(big);
    CHECK(junk);
    memset(junk, '1', big);
    int w = 0;
    for (size_t i = 0; w == 0 && i < N_PROC_FILES; i++)
        w = write_file(dir, proc_files[i], junk, big);
    free(junk);
    CHECK_INT(w, 0);
    struct mset *s = mset_new();
    for (size_t i = 0; i < N_PROC_COLLECTORS; i++) {
        int init = 0;
        struct exporter_config cfg;
        exporter_config_defaults(&cfg);
        cfg.procfs = dir;
        int r = run_with(proc_collectors[i], &cfg, s, &init);
        CHECK_INT(init, 0);
        if (r != -EFBIG)
            TEST_FAIL("collector %s: %d on an oversized file", proc_collectors[i]->name, r);
    }
    CHECK_INT(s->n_families, 0);
    mset_free(s);
    tree_remove(dir);
}

/* Every prefix of every fixture file, and the same files with bytes overwritten at
 * random (fixed seed): whatever the result, no crash and no read past the end (the
 * point of running this under ASan and UBSan). */
static const struct {
    const struct collector *c;
    const char *file;
} fuzz_targets[] = {
    {&collector_cpu, "stat"},
    {&collector_memory, "meminfo"},
    {&collector_loadavg, "loadavg"},
    {&collector_pressure, "pressure/memory"},
    {&collector_diskstats, "diskstats"},
    {&collector_netdev, "net/dev"},
};

TEST(test_truncated_and_mutated)
{
    char *dir = tree_new(1);
    CHECK(dir);
    struct mset *s = mset_new();
    uint32_t seed = 12345;
    for (size_t t = 0; t < sizeof(fuzz_targets) / sizeof(fuzz_targets[0]); t++) {
        char path[4096];
        char *orig;
        size_t len;
        CHECK_INT(path_join(path, sizeof(path), test_fixture("proc"), fuzz_targets[t].file), 0);
        CHECK_INT(file_read_alloc(path, 1 << 20, &orig, &len), 0);
        for (size_t cut = 0; cut <= len; cut++) {
            mset_clear(s);
            if (write_file(dir, fuzz_targets[t].file, orig, cut) < 0)
                break;
            run(fuzz_targets[t].c, dir, s);
        }
        char *buf = malloc(len + 1);
        for (int round = 0; buf && round < 300; round++) {
            memcpy(buf, orig, len);
            for (int k = 0; k < 1 + round % 4; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t at = (seed >> 8) % len;
                seed = seed * 1103515245u + 12345u;
                buf[at] = (char)(seed >> 16);
            }
            mset_clear(s);
            if (write_file(dir, fuzz_targets[t].file, buf, len) < 0)
                break;
            run(fuzz_targets[t].c, dir, s);
        }
        /* Restore the file and check that the tree still collects. */
        int w = write_file(dir, fuzz_targets[t].file, orig, len);
        free(buf);
        free(orig);
        CHECK_INT(w, 0);
        mset_clear(s);
        CHECK_INT(run(fuzz_targets[t].c, dir, s), 0);
    }
    mset_free(s);
    tree_remove(dir);
}

/* One line cut short ends the file: the partial line is malformed, not a smaller value. */
TEST(test_cut_mid_line)
{
    char *dir = tree_new(1);
    CHECK(dir);
    struct mset *s = mset_new();
    static const char stat[] = "cpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 1 2";
    CHECK_INT(write_file(dir, "stat", stat, sizeof(stat) - 1), 0);
    CHECK_INT(run(&collector_cpu, dir, s), -EINVAL);
    CHECK_INT(n_samples(s, "homeostat_cpu_seconds_total"), 8);
    mset_clear(s);
    static const char disk[] = "8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n8 16 sdb 1 2 3 4 5 6 7 8 9";
    CHECK_INT(write_file(dir, "diskstats", disk, sizeof(disk) - 1), 0);
    CHECK_INT(run(&collector_diskstats, dir, s), -EINVAL);
    CHECK_INT(n_samples(s, "homeostat_disk_io_now"), 1);
    mset_clear(s);
    static const char mem[] = "MemTotal: 1000 kB\nMemFree: 12";
    CHECK_INT(write_file(dir, "meminfo", mem, sizeof(mem) - 1), 0);
    /* "MemFree: 12" without unit reads as a count; the cut is not detectable. */
    CHECK_INT(run(&collector_memory, dir, s), 0);
    mset_clear(s);
    static const char mem2[] = "MemTotal: 1000 kB\nMemFree: 12 k";
    CHECK_INT(write_file(dir, "meminfo", mem2, sizeof(mem2) - 1), 0);
    CHECK_INT(run(&collector_memory, dir, s), -EINVAL);
    CHECK_DBL(value(s, "homeostat_memory_total_bytes", NULL), 1024000, 0);
    mset_free(s);
    tree_remove(dir);
}

/* This machine's /proc: every collector succeeds and the key series are there. */
TEST(test_real_proc)
{
    struct mset *s = mset_new();
    for (size_t i = 0; i < N_PROC_COLLECTORS; i++) {
        const struct collector *c = proc_collectors[i];
        int init = 0;
        struct exporter_config cfg;
        exporter_config_defaults(&cfg);
        int r = run_with(c, &cfg, s, &init);
        if (c == &collector_pressure && (init == -ENOENT || init == -EOPNOTSUPP)) {
            fprintf(stderr, "  (no PSI on this kernel: pressure skipped)\n");
            continue;
        }
        if (r < 0)
            TEST_FAIL("collector %s on /proc: %s", c->name, strerror(-r));
    }
    CHECK(value(s, "homeostat_memory_total_bytes", NULL) > 0);
    CHECK(value(s, "homeostat_memory_available_bytes", NULL) >= 0);
    CHECK(value(s, "homeostat_memory_available_bytes", NULL) <=
          value(s, "homeostat_memory_total_bytes", NULL));
    CHECK(value(s, "homeostat_cpu_seconds_total", "cpu", "0", "mode", "idle", NULL) >= 0);
    CHECK(n_samples(s, "homeostat_cpu_seconds_total") >= 8);
    CHECK(value(s, "homeostat_context_switches_total", NULL) > 0);
    CHECK(value(s, "homeostat_boot_time_seconds", NULL) > 1e9);
    CHECK(value(s, "homeostat_procs_running", NULL) >= 1); /* this test */
    CHECK(value(s, "homeostat_load1", NULL) >= 0);
    CHECK(value(s, "homeostat_load15", NULL) >= 0);
    /* Every network namespace has lo. */
    CHECK(value(s, "homeostat_network_receive_bytes_total", "device", "lo", NULL) >= 0);
    CHECK(family(s, "homeostat_memory_used_ratio") == NULL);
    mset_free(s);
}

TEST_MAIN(TEST_ENTRY(test_table_entries), TEST_ENTRY(test_cpu_fixture),
          TEST_ENTRY(test_memory_fixture), TEST_ENTRY(test_loadavg_fixture),
          TEST_ENTRY(test_pressure_fixture), TEST_ENTRY(test_pressure_cpu_without_full),
          TEST_ENTRY(test_diskstats_fixture), TEST_ENTRY(test_diskstats_exclude),
          TEST_ENTRY(test_netdev_fixture), TEST_ENTRY(test_netdev_exclude),
          TEST_ENTRY(test_broken_lines), TEST_ENTRY(test_empty_files), TEST_ENTRY(test_binary_junk),
          TEST_ENTRY(test_missing_files), TEST_ENTRY(test_oversized_files),
          TEST_ENTRY(test_truncated_and_mutated), TEST_ENTRY(test_cut_mid_line),
          TEST_ENTRY(test_real_proc))
