/* test-collector-gpu-amd: the gpu_amd collector against the fake sysfs tree in
 * tests/fixtures/gpu-sysfs (an MI300X, an NVIDIA card, a connector, a render node and a
 * card with a garbage busy percent), and against trees built with real sysfs symlinks. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector.h"
#include "config.h"
#include "fileio.h"
#include "test.h"

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

/* Value of label name on the homeostat_gpu_info sample for gpu, copied into out ("-" when
 * there is no such sample or label). */
static void info_label(const struct mset *set, const char *gpu, const char *name, char *out,
                       size_t outsz)
{
    snprintf(out, outsz, "-");
    for (size_t i = 0; i < set->n_families; i++) {
        const struct mset_family *f = &set->families[i];
        if (strcmp(f->name, "homeostat_gpu_info") != 0)
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
            if (g && v && strcmp(g, gpu) == 0)
                snprintf(out, outsz, "%s", v);
        }
    }
}

/* Number of samples, over all families, whose gpu label is gpu. */
static size_t samples_for(const struct mset *set, const char *gpu)
{
    size_t n = 0;
    for (size_t i = 0; i < set->n_families; i++)
        for (size_t j = 0; j < set->families[i].n_samples; j++) {
            const struct mset_sample *sm = &set->families[i].samples[j];
            for (unsigned l = 0; l < sm->n_labels; l++)
                if (strcmp(sm->labels[2 * l], "gpu") == 0 &&
                    strcmp(sm->labels[2 * l + 1], gpu) == 0)
                    n++;
        }
    return n;
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST)
                return -errno;
            *p = '/';
        }
    if (mkdir(buf, 0755) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* Writes root/rel (creating directories) with content. */
static int put(const char *root, const char *rel, const char *content)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int r = mkdir_p(path);
    *slash = '/';
    if (r < 0)
        return r;
    return file_write_atomic(path, content, strlen(content), 0644);
}

/* Makes root/rel a symlink to target (creating directories). */
static int link_to(const char *root, const char *rel, const char *target)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", root, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int r = mkdir_p(path);
    *slash = '/';
    if (r < 0)
        return r;
    return symlink(target, path) < 0 ? -errno : 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct amd_run {
    int init, collect, sampled;
    struct gpu_sample samples[8];
    struct mset *set; /* caller frees */
};

/* init, collect, sample and cleanup against the tree at sysfs. */
static void amd_run(const char *sysfs, struct amd_run *run)
{
    struct exporter_config cfg;
    exporter_config_defaults(&cfg);
    cfg.sysfs = sysfs;
    memset(run, 0, sizeof(*run));
    run->set = mset_new();
    void *st = NULL;
    run->init = collector_gpu_amd.init(&cfg, &st);
    if (run->init < 0)
        return;
    run->collect = collector_gpu_amd.collect(st, run->set);
    run->sampled = collector_gpu_amd.sample(st, run->samples, 8);
    collector_gpu_amd.cleanup(st);
}

TEST(amd_golden)
{
    struct amd_run run;
    amd_run(test_fixture("gpu-sysfs"), &run);
    struct mset *set = run.set;
    int golden = run.init == 0 ? test_golden("collector_gpu_amd", set) : -1;
    double util0 = series(set, "homeostat_gpu_utilization_ratio", "card0");
    double used0 = series(set, "homeostat_gpu_memory_used_bytes", "card0");
    double total0 = series(set, "homeostat_gpu_memory_total_bytes", "card0");
    double temp0 = series(set, "homeostat_gpu_temperature_celsius", "card0");
    double power0 = series(set, "homeostat_gpu_power_watts", "card0");
    double limit0 = series(set, "homeostat_gpu_power_limit_watts", "card0");
    double util2 = series(set, "homeostat_gpu_utilization_ratio", "card2");
    double used2 = series(set, "homeostat_gpu_memory_used_bytes", "card2");
    double temp2 = series(set, "homeostat_gpu_temperature_celsius", "card2");
    size_t card1 = samples_for(set, "card1");
    size_t connector = samples_for(set, "card0-DP-1");
    size_t render = samples_for(set, "renderD128");
    char name0[128], uuid0[64], vendor0[16], name2[16], uuid2[16];
    info_label(set, "card0", "name", name0, sizeof(name0));
    info_label(set, "card0", "uuid", uuid0, sizeof(uuid0));
    info_label(set, "card0", "vendor", vendor0, sizeof(vendor0));
    info_label(set, "card2", "name", name2, sizeof(name2));
    info_label(set, "card2", "uuid", uuid2, sizeof(uuid2));
    mset_free(set);

    CHECK_INT(run.init, 0);
    CHECK_INT(run.collect, -EINVAL); /* card2's gpu_busy_percent is garbage */
    CHECK_INT(golden, 0);
    CHECK_DBL(util0, 0.42, 1e-12);
    CHECK_DBL(used0, 51539607552.0, 0);
    CHECK_DBL(total0, 205822885888.0, 0);
    CHECK_DBL(temp0, 54, 0);
    CHECK_DBL(power0, 412, 0); /* power1_average, not power1_input (398) */
    CHECK_DBL(limit0, 750, 0);
    CHECK(isnan(util2)); /* garbage: omitted */
    CHECK_DBL(used2, 1073741824.0, 0);
    CHECK(isnan(temp2)); /* no hwmon */
    CHECK_INT(card1, 0); /* vendor 0x10de */
    CHECK_INT(connector, 0);
    CHECK_INT(render, 0);
    CHECK_STR(name0, "AMD Instinct MI300X OAM");
    CHECK_STR(uuid0, "5b2c6e4a1f0d3e27");
    CHECK_STR(vendor0, "amd");
    CHECK_STR(name2, ""); /* no product_name: empty, not missing */
    CHECK_STR(uuid2, "");
}

TEST(amd_sample)
{
    struct amd_run run;
    amd_run(test_fixture("gpu-sysfs"), &run);
    mset_free(run.set);
    CHECK_INT(run.init, 0);
    CHECK_INT(run.sampled, 1); /* card2 unreadable, the others not AMD */
    CHECK_STR(run.samples[0].gpu, "card0");
    CHECK_DBL(run.samples[0].busy_ratio, 0.42, 1e-12);
}

TEST(amd_missing_sysfs)
{
    struct amd_run run;
    amd_run("/nonexistent-homeostat-sysfs", &run);
    size_t families = run.set->n_families;
    mset_free(run.set);
    CHECK_INT(run.init, 0);
    CHECK_INT(run.collect, 0);
    CHECK_INT(families, 0);
    CHECK_INT(run.sampled, 0);
}

TEST(amd_through_symlinks)
{
    /* The real layout: class/drm/cardN and cardN/device are symlinks into devices/. */
    char *root = test_tmpdir();
    if (!root)
        TEST_FAIL("mkdtemp");
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", root);
    static const char pci10[] = "devices/pci0000:00/0000:0a:00.0";
    static const char pci9[] = "devices/pci0000:00/0000:09:00.0";
    struct {
        const char *dir, *file, *content;
    } files[] = {
        {pci10, "vendor", "0x1002\n"},
        {pci10, "gpu_busy_percent", "7\n"},
        {pci10, "hwmon/hwmon0/temp1_input", "48500\n"},
        {pci10, "hwmon/hwmon0/power1_input", "95000000\n"}, /* no power1_average */
        {pci10, "hwmon/hwmon2/temp1_input", "99000\n"},     /* not the lowest hwmon */
        {pci10, "drm/card10/dev", "226:10\n"},
        {pci9, "vendor", "0x1002\n"},
        {pci9, "gpu_busy_percent", "100\n"},
        {pci9, "drm/card9/dev", "226:9\n"},
    };
    int r = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && r >= 0; i++) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "%s/%s", files[i].dir, files[i].file);
        r = put(dir, rel, files[i].content);
    }
    if (r >= 0)
        r = link_to(dir, "devices/pci0000:00/0000:0a:00.0/drm/card10/device",
                    "../../../0000:0a:00.0");
    if (r >= 0)
        r = link_to(dir, "devices/pci0000:00/0000:09:00.0/drm/card9/device",
                    "../../../0000:09:00.0");
    if (r >= 0)
        r = link_to(dir, "class/drm/card10", "../../devices/pci0000:00/0000:0a:00.0/drm/card10");
    if (r >= 0)
        r = link_to(dir, "class/drm/card9", "../../devices/pci0000:00/0000:09:00.0/drm/card9");
    if (r < 0) {
        rm_rf(dir);
        TEST_FAIL("building %s: %s", dir, strerror(-r));
    }
    struct amd_run run;
    amd_run(dir, &run);
    rm_rf(dir);
    double temp10 = series(run.set, "homeostat_gpu_temperature_celsius", "card10");
    double power10 = series(run.set, "homeostat_gpu_power_watts", "card10");
    double util9 = series(run.set, "homeostat_gpu_utilization_ratio", "card9");
    mset_free(run.set);

    CHECK_INT(run.init, 0);
    CHECK_INT(run.collect, 0);
    CHECK_DBL(temp10, 48.5, 1e-12);
    CHECK_DBL(power10, 95, 0); /* power1_input when there is no power1_average */
    CHECK_DBL(util9, 1, 0);
    CHECK_INT(run.sampled, 2);
    CHECK_STR(run.samples[0].gpu, "card9"); /* numeric order, not readdir's or strcmp's */
    CHECK_DBL(run.samples[0].busy_ratio, 1, 0);
    CHECK_STR(run.samples[1].gpu, "card10");
    CHECK_DBL(run.samples[1].busy_ratio, 0.07, 1e-12);
}

TEST(amd_out_of_range_busy_percent)
{
    char *root = test_tmpdir();
    if (!root)
        TEST_FAIL("mkdtemp");
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", root);
    int r = put(dir, "class/drm/card0/device/vendor", "0x1002\n");
    if (r >= 0)
        r = put(dir, "class/drm/card0/device/gpu_busy_percent", "101\n");
    if (r >= 0)
        r = put(dir, "class/drm/card0/device/mem_info_vram_used", "-5\n");
    if (r >= 0)
        r = put(dir, "class/drm/card0/device/mem_info_vram_total", "4096\n");
    if (r < 0) {
        rm_rf(dir);
        TEST_FAIL("building %s: %s", dir, strerror(-r));
    }
    struct amd_run run;
    amd_run(dir, &run);
    rm_rf(dir);
    double util = series(run.set, "homeostat_gpu_utilization_ratio", "card0");
    double used = series(run.set, "homeostat_gpu_memory_used_bytes", "card0");
    double total = series(run.set, "homeostat_gpu_memory_total_bytes", "card0");
    mset_free(run.set);

    CHECK_INT(run.init, 0);
    CHECK_INT(run.collect, -ERANGE); /* the first bad file decides */
    CHECK(isnan(util));
    CHECK(isnan(used));
    CHECK_DBL(total, 4096, 0);
    CHECK_INT(run.sampled, -ERANGE);
}

TEST(amd_description)
{
    CHECK_STR(collector_gpu_amd.name, "gpu_amd");
    CHECK(collector_gpu_amd.default_enabled);
    CHECK(collector_gpu_amd.sample != NULL);
    CHECK(strstr(collector_gpu_amd.description, "AMD") != NULL);
}

TEST_MAIN(TEST_ENTRY(amd_golden), TEST_ENTRY(amd_sample), TEST_ENTRY(amd_missing_sysfs),
          TEST_ENTRY(amd_through_symlinks), TEST_ENTRY(amd_out_of_range_busy_percent),
          TEST_ENTRY(amd_description))
