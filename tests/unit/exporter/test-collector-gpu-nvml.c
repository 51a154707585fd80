/* test-collector-gpu-nvml: the gpu_nvml collector against the fake NVML library
 * (tests/fake-nvml, path in $HOMEOSTAT_FAKE_NVML), loaded through the collector's own
 * dlopen() path and scripted per test through $HOMEOSTAT_FAKE_NVML_SCRIPT. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "collector.h"
#include "config.h"
#include "fileio.h"
#include "test.h"

static char script_dir[4096];

/* Writes script to a fresh temporary file, points the fake at it and fills cfg with
 * the defaults and the fake's path. Returns 0, or -1 when the environment lacks the fake. */
static int nvml_script(struct exporter_config *cfg, const char *script)
{
    const char *lib = getenv("HOMEOSTAT_FAKE_NVML");
    if (!lib || !*lib) {
        fprintf(stderr, "  HOMEOSTAT_FAKE_NVML is not set (run through ctest)\n");
        return -1;
    }
    if (!script_dir[0]) {
        char *d = test_tmpdir();
        if (!d)
            return -1;
        snprintf(script_dir, sizeof(script_dir), "%s", d);
    }
    char path[4200];
    snprintf(path, sizeof(path), "%s/script", script_dir);
    if (file_write_atomic(path, script, strlen(script), 0600) < 0)
        return -1;
    setenv("HOMEOSTAT_FAKE_NVML_SCRIPT", path, 1);
    exporter_config_defaults(cfg);
    cfg->nvml_library = lib;
    return 0;
}

/* Value of family's sample whose gpu label is gpu; NAN when there is none. */
static double series(const struct mset *set, const char *family, const char *gpu)
{
    for (size_t i = 0; i < set->n_families; i++) {
        const struct mset_family *f = &set->families[i];
        if (strcmp(f->name, family) != 0)
            continue;
        for (size_t j = 0; j < f->n_samples; j++) {
            const struct mset_sample *sm = &f->samples[j];
            for (unsigned l = 0; l < sm->n_labels; l++)
                if (strcmp(sm->labels[2 * l], "gpu") == 0 &&
                    strcmp(sm->labels[2 * l + 1], gpu) == 0)
                    return sm->value;
        }
    }
    return NAN;
}

/* Value of label name on family's sample for gpu, or NULL. */
static const char *series_label(const struct mset *set, const char *family, const char *gpu,
                                const char *name)
{
    for (size_t i = 0; i < set->n_families; i++) {
        const struct mset_family *f = &set->families[i];
        if (strcmp(f->name, family) != 0)
            continue;
        for (size_t j = 0; j < f->n_samples; j++) {
            const struct mset_sample *sm = &f->samples[j];
            const char *g = NULL, *v = NULL;
            for (unsigned l = 0; l < sm->n_labels; l++) {
                if (strcmp(sm->labels[2 * l], "gpu") == 0)
                    g = sm->labels[2 * l + 1];
                if (strcmp(sm->labels[2 * l], name) == 0)
                    v = sm->labels[2 * l + 1];
            }
            if (g && strcmp(g, gpu) == 0)
                return v;
        }
    }
    return NULL;
}

static const char two_gpus[] = "# an H100 with every reading, and a board without power readings\n"
                               "count=2\n"
                               "gpu0.name=NVIDIA H100 80GB HBM3\n"
                               "gpu0.uuid=GPU-8f6e2c1a-3b4d-4e5f-9a0b-1c2d3e4f5a6b\n"
                               "gpu0.util=37\n"
                               "gpu0.mem_util=12\n"
                               "gpu0.mem_used=3221225472\n"
                               "gpu0.mem_total=85520809984\n"
                               "gpu0.temp=61\n"
                               "gpu0.power_mw=312500\n"
                               "gpu0.power_limit_mw=700000\n"
                               "gpu1.name=NVIDIA A10\n"
                               "gpu1.uuid=GPU-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d\n"
                               "gpu1.util=81\n"
                               "gpu1.mem_used=20401094656\n"
                               "gpu1.mem_total=24146608128\n"
                               "gpu1.temp=74\n"
                               "gpu1.power_error=3\n";

TEST(nvml_golden)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, two_gpus) < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), 0);
    struct mset *set = mset_new();
    int r = collector_gpu_nvml.collect(st, set);
    collector_gpu_nvml.cleanup(st);
    if (r != 0) {
        mset_free(set);
        TEST_FAIL("collect returned %d", r);
    }
    double util0 = series(set, "homeostat_gpu_utilization_ratio", "0");
    double util1 = series(set, "homeostat_gpu_utilization_ratio", "1");
    double used0 = series(set, "homeostat_gpu_memory_used_bytes", "0");
    double total0 = series(set, "homeostat_gpu_memory_total_bytes", "0");
    double temp1 = series(set, "homeostat_gpu_temperature_celsius", "1");
    double power0 = series(set, "homeostat_gpu_power_watts", "0");
    double power1 = series(set, "homeostat_gpu_power_watts", "1");
    double limit0 = series(set, "homeostat_gpu_power_limit_watts", "0");
    double limit1 = series(set, "homeostat_gpu_power_limit_watts", "1");
    double info1 = series(set, "homeostat_gpu_info", "1");
    char name0[128], uuid1[128], vendor0[32];
    snprintf(name0, sizeof(name0), "%s", series_label(set, "homeostat_gpu_info", "0", "name"));
    snprintf(uuid1, sizeof(uuid1), "%s", series_label(set, "homeostat_gpu_info", "1", "uuid"));
    snprintf(vendor0, sizeof(vendor0), "%s",
             series_label(set, "homeostat_gpu_info", "0", "vendor"));
    int golden = test_golden("collector_gpu_nvml", set);
    mset_free(set);

    CHECK_INT(golden, 0);
    CHECK_DBL(util0, 0.37, 1e-12);
    CHECK_DBL(util1, 0.81, 1e-12);
    CHECK_DBL(used0, 3221225472.0, 0);
    CHECK_DBL(total0, 85520809984.0, 0);
    CHECK_DBL(temp1, 74, 0);
    CHECK_DBL(power0, 312.5, 1e-12);
    CHECK(isnan(power1)); /* NOT_SUPPORTED: omitted, not zero */
    CHECK_DBL(limit0, 700, 0);
    CHECK(isnan(limit1)); /* not scripted: the fake answers NOT_SUPPORTED */
    CHECK_DBL(info1, 1, 0);
    CHECK_STR(name0, "NVIDIA H100 80GB HBM3");
    CHECK_STR(uuid1, "GPU-0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d");
    CHECK_STR(vendor0, "nvidia");
}

TEST(nvml_field_errors_omit_one_series)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, "count=2\n"
                          "gpu0.util=50\ngpu0.mem_error=4\ngpu0.temp=40\ngpu0.power_mw=100000\n"
                          "gpu0.name_error=3\n"
                          "gpu1.util=60\ngpu1.mem_used=1\ngpu1.mem_total=2\ngpu1.temp_error=21\n"
                          "gpu1.power_mw=200000\n") < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), 0);
    struct mset *set = mset_new();
    int r = collector_gpu_nvml.collect(st, set);
    collector_gpu_nvml.cleanup(st);
    double used0 = series(set, "homeostat_gpu_memory_used_bytes", "0");
    double total0 = series(set, "homeostat_gpu_memory_total_bytes", "0");
    double temp0 = series(set, "homeostat_gpu_temperature_celsius", "0");
    double power0 = series(set, "homeostat_gpu_power_watts", "0");
    double used1 = series(set, "homeostat_gpu_memory_used_bytes", "1");
    double temp1 = series(set, "homeostat_gpu_temperature_celsius", "1");
    double power1 = series(set, "homeostat_gpu_power_watts", "1");
    const char *name0 = series_label(set, "homeostat_gpu_info", "0", "name");
    int name0_empty = name0 && name0[0] == '\0';
    const char *uuid0 = series_label(set, "homeostat_gpu_info", "0", "uuid");
    int uuid0_default = uuid0 && strcmp(uuid0, "GPU-00000000-0000-0000-0000-000000000000") == 0;
    mset_free(set);

    CHECK_INT(r, 0); /* per-field errors are not a failure */
    CHECK(isnan(used0));
    CHECK(isnan(total0));
    CHECK_DBL(temp0, 40, 0);
    CHECK_DBL(power0, 100, 0);
    CHECK_DBL(used1, 1, 0);
    CHECK(isnan(temp1));
    CHECK_DBL(power1, 200, 0);
    CHECK(name0_empty); /* name error: info still there, name "" */
    CHECK(uuid0_default);
}

TEST(nvml_gpu_lost_fails_collect)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg,
                    "count=2\n"
                    "gpu0.util=10\ngpu0.temp=30\n"
                    "gpu1.util_error=15\ngpu1.temp=70\ngpu1.mem_used=1\ngpu1.mem_total=2\n") < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), 0);
    struct mset *set = mset_new();
    int r = collector_gpu_nvml.collect(st, set);
    int r2 = collector_gpu_nvml.collect(st, set); /* and again: warned once, same result */
    collector_gpu_nvml.cleanup(st);
    double util0 = series(set, "homeostat_gpu_utilization_ratio", "0");
    double util1 = series(set, "homeostat_gpu_utilization_ratio", "1");
    double temp1 = series(set, "homeostat_gpu_temperature_celsius", "1");
    double info1 = series(set, "homeostat_gpu_info", "1");
    mset_free(set);

    CHECK_INT(r, -EIO);
    CHECK_INT(r2, -EIO);
    CHECK_DBL(util0, 0.1, 1e-12); /* the healthy GPU is still reported */
    CHECK(isnan(util1));
    CHECK(isnan(temp1)); /* a lost GPU is not asked again in the same scrape */
    CHECK_DBL(info1, 1, 0);
}

TEST(nvml_every_device_failing_fails_collect)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, "count=2\n"
                          "gpu0.util_error=999\ngpu0.mem_error=999\ngpu0.temp_error=999\n"
                          "gpu0.power_error=999\n"
                          "gpu1.util_error=4\ngpu1.mem_error=4\n") < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), 0);
    struct mset *set = mset_new();
    int r = collector_gpu_nvml.collect(st, set);
    collector_gpu_nvml.cleanup(st);
    size_t families = set->n_families;
    mset_free(set);
    CHECK_INT(r, -EIO);
    CHECK_INT(families, 1); /* only homeostat_gpu_info */
}

TEST(nvml_no_devices)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, "count=0\n") < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), 0);
    struct mset *set = mset_new();
    int r = collector_gpu_nvml.collect(st, set);
    struct gpu_sample samples[4];
    int n = collector_gpu_nvml.sample(st, samples, 4);
    collector_gpu_nvml.cleanup(st);
    size_t families = set->n_families;
    mset_free(set);
    CHECK_INT(r, 0);
    CHECK_INT(families, 0);
    CHECK_INT(n, 0);
}

TEST(nvml_missing_library)
{
    struct exporter_config cfg;
    exporter_config_defaults(&cfg);
    void *st = NULL;
    cfg.nvml_library = "/nonexistent/libnvidia-ml.so.1";
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), -ENOENT);
    cfg.nvml_library = "";
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), -ENOENT);
    CHECK(st == NULL);
}

TEST(nvml_missing_symbol)
{
    /* A real library without NVML in it: libm. */
    struct exporter_config cfg;
    exporter_config_defaults(&cfg);
    cfg.nvml_library = "libm.so.6";
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), -ENOENT);
    CHECK(st == NULL);
}

TEST(nvml_init_error)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, "init_error=9\ncount=1\n") < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), -EIO);
    CHECK(st == NULL);
    if (nvml_script(&cfg, "count=1\ncount_error=999\n") < 0)
        TEST_FAIL("setup");
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), -EIO);
    CHECK(st == NULL);
}

TEST(nvml_handle_error_skips_device)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, "count=3\ngpu0.util=5\ngpu1.handle_error=4\ngpu2.util=25\n") < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), 0);
    struct mset *set = mset_new();
    int r = collector_gpu_nvml.collect(st, set);
    collector_gpu_nvml.cleanup(st);
    double util0 = series(set, "homeostat_gpu_utilization_ratio", "0");
    double info1 = series(set, "homeostat_gpu_info", "1");
    double util2 = series(set, "homeostat_gpu_utilization_ratio", "2");
    mset_free(set);
    CHECK_INT(r, 0);
    CHECK_DBL(util0, 0.05, 1e-12);
    CHECK(isnan(info1));
    CHECK_DBL(util2, 0.25, 1e-12); /* keeps its NVML index as the label */
}

TEST(nvml_sample)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, two_gpus) < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), 0);
    struct gpu_sample s[4];
    memset(s, 0, sizeof(s));
    int n = collector_gpu_nvml.sample(st, s, 4);
    struct gpu_sample one[1];
    int n1 = collector_gpu_nvml.sample(st, one, 1);
    collector_gpu_nvml.cleanup(st);
    CHECK_INT(n, 2);
    CHECK_STR(s[0].gpu, "0");
    CHECK_DBL(s[0].busy_ratio, 0.37, 1e-12);
    CHECK_STR(s[1].gpu, "1");
    CHECK_DBL(s[1].busy_ratio, 0.81, 1e-12);
    CHECK_INT(n1, 1);
    CHECK_STR(one[0].gpu, "0");
}

TEST(nvml_sample_sees_util_seq)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, "count=2\ngpu0.util_seq=10,90,30\ngpu1.util_error=3\n") < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), 0);
    double seen[4];
    int counts[4];
    for (int i = 0; i < 3; i++) {
        struct gpu_sample s[2];
        counts[i] = collector_gpu_nvml.sample(st, s, 2);
        seen[i] = counts[i] > 0 ? s[0].busy_ratio : -1;
    }
    struct mset *set = mset_new();
    int r = collector_gpu_nvml.collect(st, set); /* the fourth call wraps round to 10 */
    seen[3] = series(set, "homeostat_gpu_utilization_ratio", "0");
    mset_free(set);
    collector_gpu_nvml.cleanup(st);
    CHECK_INT(counts[0], 1); /* gpu1 has no utilisation: left out */
    CHECK_DBL(seen[0], 0.1, 1e-12);
    CHECK_DBL(seen[1], 0.9, 1e-12);
    CHECK_DBL(seen[2], 0.3, 1e-12);
    CHECK_INT(r, 0);
    CHECK_DBL(seen[3], 0.1, 1e-12);
}

TEST(nvml_sample_all_failing)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, "count=1\ngpu0.util_error=15\n") < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), 0);
    struct gpu_sample s[1];
    int n = collector_gpu_nvml.sample(st, s, 1);
    collector_gpu_nvml.cleanup(st);
    CHECK_INT(n, -EIO);
}

TEST(nvml_cleanup_shuts_down)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, "count=1\ngpu0.util=1\n") < 0)
        TEST_FAIL("setup");
    /* Our own reference keeps the fake loaded across the collector's dlclose(). */
    void *dl = dlopen(cfg.nvml_library, RTLD_NOW | RTLD_LOCAL);
    if (!dl)
        TEST_FAIL("dlopen %s: %s", cfg.nvml_library, dlerror());
    void *sym = dlsym(dl, "fake_nvml_refcount");
    int (*refcount)(void);
    memcpy(&refcount, &sym, sizeof(sym));
    if (!sym) {
        dlclose(dl);
        TEST_FAIL("fake_nvml_refcount missing");
    }
    int before = refcount();
    void *st = NULL;
    int r = collector_gpu_nvml.init(&cfg, &st);
    int during = refcount();
    collector_gpu_nvml.cleanup(st);
    int after = refcount();
    collector_gpu_nvml.cleanup(NULL); /* accepts NULL */
    dlclose(dl);
    CHECK_INT(r, 0);
    CHECK_INT(before, 0);
    CHECK_INT(during, 1);
    CHECK_INT(after, 0);
}

struct sampler_arg {
    void *state;
    int failures;
};

static void *sampler_thread(void *p)
{
    struct sampler_arg *a = p;
    for (int i = 0; i < 500; i++) {
        struct gpu_sample s[2];
        int n = collector_gpu_nvml.sample(a->state, s, 2);
        if (n != 2 || strcmp(s[1].gpu, "1") != 0 || s[1].busy_ratio != 0.81)
            a->failures++;
    }
    return NULL;
}

TEST(nvml_sample_concurrent_with_collect)
{
    struct exporter_config cfg;
    if (nvml_script(&cfg, two_gpus) < 0)
        TEST_FAIL("setup");
    void *st = NULL;
    CHECK_INT(collector_gpu_nvml.init(&cfg, &st), 0);
    struct sampler_arg arg = {st, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, sampler_thread, &arg) != 0) {
        collector_gpu_nvml.cleanup(st);
        TEST_FAIL("pthread_create");
    }
    int bad = 0;
    struct mset *set = mset_new();
    for (int i = 0; i < 200; i++) {
        mset_clear(set);
        if (collector_gpu_nvml.collect(st, set) != 0 ||
            series(set, "homeostat_gpu_power_watts", "0") != 312.5)
            bad++;
    }
    pthread_join(t, NULL);
    mset_free(set);
    collector_gpu_nvml.cleanup(st);
    CHECK_INT(bad, 0);
    CHECK_INT(arg.failures, 0);
}

TEST(nvml_description)
{
    CHECK_STR(collector_gpu_nvml.name, "gpu_nvml");
    CHECK(collector_gpu_nvml.default_enabled);
    CHECK(collector_gpu_nvml.sample != NULL);
    CHECK(strstr(collector_gpu_nvml.description, "NVML") != NULL);
}

static void remove_script(void)
{
    if (!script_dir[0])
        return;
    char path[4200];
    snprintf(path, sizeof(path), "%s/script", script_dir);
    unlink(path);
    rmdir(script_dir);
}

int main(int argc, char **argv)
{
    static const struct test_case tests[] = {
        TEST_ENTRY(nvml_golden),
        TEST_ENTRY(nvml_field_errors_omit_one_series),
        TEST_ENTRY(nvml_gpu_lost_fails_collect),
        TEST_ENTRY(nvml_every_device_failing_fails_collect),
        TEST_ENTRY(nvml_no_devices),
        TEST_ENTRY(nvml_missing_library),
        TEST_ENTRY(nvml_missing_symbol),
        TEST_ENTRY(nvml_init_error),
        TEST_ENTRY(nvml_handle_error_skips_device),
        TEST_ENTRY(nvml_sample),
        TEST_ENTRY(nvml_sample_sees_util_seq),
        TEST_ENTRY(nvml_sample_all_failing),
        TEST_ENTRY(nvml_cleanup_shuts_down),
        TEST_ENTRY(nvml_sample_concurrent_with_collect),
        TEST_ENTRY(nvml_description),
    };
    int r = test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
    remove_script();
    return r;
}
