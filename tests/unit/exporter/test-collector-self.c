/* test-collector-self: the self collector against fixture procfs trees (a plain one and
 * one whose comm holds spaces and parentheses), truncated and garbage files, and the
 * real /proc/self of the test process. */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector.h"
#include "fileio.h"
#include "parse.h"
#include "test.h"

/* The single sample of an unlabelled family, NAN when absent. */
static double value(struct mset *s, const char *family)
{
    for (size_t f = 0; f < s->n_families; f++)
        if (strcmp(s->families[f].name, family) == 0 && s->families[f].n_samples == 1)
            return s->families[f].samples[0].value;
    return NAN;
}

static const struct mset_sample *build_info(struct mset *s)
{
    for (size_t f = 0; f < s->n_families; f++)
        if (strcmp(s->families[f].name, "homeostat_exporter_build_info") == 0 &&
            s->families[f].n_samples == 1)
            return &s->families[f].samples[0];
    return NULL;
}

static int collect_once(const char *procfs, struct mset *out)
{
    struct exporter_config cfg;
    exporter_config_defaults(&cfg);
    cfg.procfs = procfs;
    void *state = NULL;
    int r = collector_self.init(&cfg, &state);
    if (r < 0)
        return r;
    r = collector_self.collect(state, out);
    collector_self.cleanup(state);
    return r;
}

TEST(test_interface)
{
    CHECK_STR(collector_self.name, "self");
    CHECK(collector_self.default_enabled);
    CHECK(collector_self.init && collector_self.collect && collector_self.cleanup);
    CHECK(strcmp(collector_self.description, "not implemented yet") != 0);
    collector_self.cleanup(NULL);
}

TEST(test_build_info)
{
    struct mset *out = mset_new();
    collect_once("/nonexistent/homeostat/proc", out);
    const struct mset_sample *bi = build_info(out);
    CHECK(bi);
    CHECK_DBL(bi->value, 1, 0);
    CHECK_INT(bi->n_labels, 2);
    CHECK_STR(bi->labels[0], "version");
    CHECK_STR(bi->labels[1], HOMEOSTAT_VERSION);
    CHECK_STR(bi->labels[2], "compiler");
    CHECK(strncmp(bi->labels[3], "gcc ", 4) == 0 || strncmp(bi->labels[3], "clang ", 6) == 0);
    mset_free(out);
}

TEST(test_fixture_golden)
{
    CHECK_INT(sysconf(_SC_CLK_TCK), 100); /* USER_HZ, which the fixture assumes */
    char procfs[4096];
    snprintf(procfs, sizeof(procfs), "%s", test_fixture("self"));
    struct mset *out = mset_new();
    CHECK_INT(collect_once(procfs, out), 0);
    CHECK_DBL(value(out, "process_cpu_seconds_total"), 20, 1e-9);        /* (1500 + 500) / 100 */
    CHECK_DBL(value(out, "process_resident_memory_bytes"), 10485760, 0); /* VmRSS 10240 kB */
    CHECK_DBL(value(out, "process_virtual_memory_bytes"), 104857600, 0);
    CHECK_DBL(value(out, "process_open_fds"), 4, 0);
    CHECK_DBL(value(out, "process_max_fds"), 1024, 0);
    CHECK_DBL(value(out, "process_start_time_seconds"), 1700000123.45, 1e-6);
    /* The build info carries the compiler version: checked above, left out of the file. */
    for (size_t f = 0; f < out->n_families; f++)
        if (strcmp(out->families[f].name, "homeostat_exporter_build_info") == 0)
            out->families[f].n_samples = 0;
    CHECK_INT(test_golden("collector_self", out), 0);
    mset_free(out);
}

TEST(test_weird_comm)
{
    char procfs[4096];
    snprintf(procfs, sizeof(procfs), "%s", test_fixture("self-weird"));
    struct mset *out = mset_new();
    CHECK_INT(collect_once(procfs, out), 0);
    /* Fields counted after the last ')': utime 300, stime 100, starttime 250. */
    CHECK_DBL(value(out, "process_cpu_seconds_total"), 4, 1e-9);
    CHECK_DBL(value(out, "process_virtual_memory_bytes"), 2097152, 0);
    CHECK_DBL(value(out, "process_start_time_seconds"), 1600000002.5, 1e-6);
    CHECK_DBL(value(out, "process_resident_memory_bytes"), 2097152, 0);
    CHECK_DBL(value(out, "process_open_fds"), 1, 0);
    double max = value(out, "process_max_fds");
    CHECK(isinf(max) && max > 0); /* unlimited */
    mset_free(out);
}

static int write_file(const char *dir, const char *name, const char *content)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return file_write_atomic(path, content, strlen(content), 0644);
}

static void remove_tree(const char *dir)
{
    static const char *const files[] = {"self/stat", "self/status", "self/limits", "stat",
                                        "self/fd/0"};
    char path[4096];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/self/fd", dir);
    rmdir(path);
    snprintf(path, sizeof(path), "%s/self", dir);
    rmdir(path);
    rmdir(dir);
}

/* Each broken stat line makes collect fail without losing the other metrics. */
TEST(test_broken_files)
{
    static const char *const bad_stat[] = {
        "",
        "4242",
        "4242 (name",
        "4242 name) S 1",
        ") ( S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22",
        "4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1500 500 0 0 20 0 4 0 12345 1048",
        "4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 abc 500 0 0 20 0 4 0 1 2 3 4",
        "4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 -1 500 0 0 20 0 4 0 1 2 3 4",
        ("4242 (x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1 500 0 0 20 0 4 0 1 2 "
         "99999999999999999999999 4"),
        "\xff\xfe\x01\x02(\x03)\x04",
    };
    char *dir = test_tmpdir();
    CHECK(dir);
    char sub[4096];
    snprintf(sub, sizeof(sub), "%s/self", dir);
    CHECK_INT(mkdir(sub, 0755), 0);
    snprintf(sub, sizeof(sub), "%s/self/fd", dir);
    CHECK_INT(mkdir(sub, 0755), 0);
    CHECK_INT(write_file(dir, "self/fd/0", ""), 0);
    CHECK_INT(write_file(dir, "stat", "cpu 1 2 3\nbtime x\n"), 0);
    CHECK_INT(write_file(dir, "self/status", "VmRSS: lots kB\n"), 0);
    CHECK_INT(write_file(dir, "self/limits", "Max open files\n"), 0);
    struct mset *out = mset_new();
    int failed = -1;
    for (size_t i = 0; i < sizeof(bad_stat) / sizeof(bad_stat[0]); i++) {
        if (write_file(dir, "self/stat", bad_stat[i]) < 0)
            break;
        mset_clear(out);
        int r = collect_once(dir, out);
        if (r != -EINVAL || !isnan(value(out, "process_cpu_seconds_total")) ||
            value(out, "process_open_fds") != 1 || !build_info(out)) {
            failed = (int)i;
            break;
        }
    }
    /* A good stat line but no btime, no VmRSS (falls back to stat rss pages) and no
     * open files limit: what can be read is, and collect still reports failure. */
    mset_clear(out);
    write_file(dir, "self/stat",
               "1 (x) S 1 1 1 0 -1 0 0 0 0 0 200 100 0 0 20 0 1 0 5 4096 3 0 0\n");
    int r = collect_once(dir, out);
    double rss = value(out, "process_resident_memory_bytes");
    double cpu = value(out, "process_cpu_seconds_total");
    double start = value(out, "process_start_time_seconds");
    double maxfds = value(out, "process_max_fds");
    remove_tree(dir);
    mset_free(out);
    CHECK_INT(failed, -1);
    CHECK(r < 0);
    CHECK_DBL(cpu, 3, 1e-9);
    CHECK_DBL(rss, 3.0 * (double)sysconf(_SC_PAGESIZE), 0);
    CHECK(isnan(start));
    CHECK(isnan(maxfds));
}

TEST(test_missing_procfs)
{
    struct mset *out = mset_new();
    CHECK(collect_once("/nonexistent/homeostat/proc", out) < 0);
    CHECK(isnan(value(out, "process_cpu_seconds_total")));
    CHECK(isnan(value(out, "process_open_fds")));
    CHECK(build_info(out) != NULL);
    mset_free(out);
}

TEST(test_real_proc_self)
{
    struct mset *out = mset_new();
    CHECK_INT(collect_once("/proc", out), 0);
    double now = now_realtime();
    double start = value(out, "process_start_time_seconds");
    CHECK(start > now - 600 && start < now + 2);
    CHECK(value(out, "process_cpu_seconds_total") >= 0);
    double rss = value(out, "process_resident_memory_bytes");
    CHECK(rss > 0);
    CHECK(value(out, "process_virtual_memory_bytes") >= rss);
    CHECK(value(out, "process_open_fds") >= 1);
    CHECK(value(out, "process_max_fds") >= value(out, "process_open_fds"));
    mset_free(out);
}

TEST_MAIN(TEST_ENTRY(test_interface), TEST_ENTRY(test_build_info), TEST_ENTRY(test_fixture_golden),
          TEST_ENTRY(test_weird_comm), TEST_ENTRY(test_broken_files),
          TEST_ENTRY(test_missing_procfs), TEST_ENTRY(test_real_proc_self))
