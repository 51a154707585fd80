/* test-collector-filesystem: the filesystem collector against fixture mounts files
 * (pseudo filesystems, escapes, repeats, garbage) with an injected statvfs, the stuck
 * mount timeout with a statvfs that blocks, and the real machine's "/". */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "collector_filesystem.h"
#include "fileio.h"
#include "parse.h"
#include "test.h"

static size_t family_samples(struct mset *s, const char *family)
{
    for (size_t f = 0; f < s->n_families; f++)
        if (strcmp(s->families[f].name, family) == 0)
            return s->families[f].n_samples;
    return 0;
}

/* The injected statvfs: fixed numbers per path, records what it was asked. */
static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static char fake_paths[64][256];
static size_t fake_n_paths;
static int fake_block_nfs; /* sleep 2 s for paths ending in /mnt/nfs */
static unsigned fake_nfs_calls, fake_nfs_returns;

static int fake_statvfs(const char *path, struct statvfs *st)
{
    pthread_mutex_lock(&fake_lock);
    if (fake_n_paths < 64)
        snprintf(fake_paths[fake_n_paths++], sizeof(fake_paths[0]), "%s", path);
    size_t pl = strlen(path);
    int nfs = pl >= 8 && strcmp(path + pl - 8, "/mnt/nfs") == 0;
    int block = nfs && fake_block_nfs;
    if (nfs)
        fake_nfs_calls++;
    pthread_mutex_unlock(&fake_lock);
    if (block) {
        struct timespec ts = {2, 0};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
    }
    memset(st, 0, sizeof(*st));
    int r = 0;
    if (strstr(path, "/mnt/broken")) {
        errno = EIO;
        r = -1;
    } else {
        /* Distinct numbers per path: 4 KiB blocks, size from the path length. */
        unsigned long k = (unsigned long)pl;
        st->f_bsize = 4096;
        st->f_frsize = 4096;
        st->f_blocks = 1000 * k;
        st->f_bfree = 500 * k;
        st->f_bavail = 400 * k;
        st->f_files = 100 * k;
        st->f_ffree = 60 * k;
        st->f_flag = strstr(path, "my dir") ? ST_RDONLY : 0;
    }
    pthread_mutex_lock(&fake_lock);
    if (nfs)
        fake_nfs_returns++;
    pthread_mutex_unlock(&fake_lock);
    return r;
}

static int fake_saw(const char *path)
{
    pthread_mutex_lock(&fake_lock);
    int seen = 0;
    for (size_t i = 0; i < fake_n_paths; i++)
        seen |= strcmp(fake_paths[i], path) == 0;
    pthread_mutex_unlock(&fake_lock);
    return seen;
}

static void fake_reset(void)
{
    pthread_mutex_lock(&fake_lock);
    fake_n_paths = 0;
    fake_block_nfs = 0;
    fake_nfs_calls = fake_nfs_returns = 0;
    pthread_mutex_unlock(&fake_lock);
}

static unsigned fake_get(const unsigned *v)
{
    pthread_mutex_lock(&fake_lock);
    unsigned x = *v;
    pthread_mutex_unlock(&fake_lock);
    return x;
}

static void config(struct exporter_config *cfg, const char *procfs, const char *rootfs)
{
    exporter_config_defaults(cfg);
    cfg->procfs = procfs;
    cfg->rootfs = rootfs;
}

/* Runs one collect with a fresh state; returns its result and fills out. */
static int collect_once(const struct exporter_config *cfg, struct mset *out)
{
    void *state = NULL;
    int r = collector_filesystem.init(cfg, &state);
    if (r < 0)
        return r;
    r = collector_filesystem.collect(state, out);
    collector_filesystem.cleanup(state);
    return r;
}

TEST(test_interface)
{
    CHECK_STR(collector_filesystem.name, "filesystem");
    CHECK(collector_filesystem.default_enabled);
    CHECK(collector_filesystem.init && collector_filesystem.collect);
    CHECK(collector_filesystem.cleanup);
    CHECK(strcmp(collector_filesystem.description, "not implemented yet") != 0);
    collector_filesystem.cleanup(NULL);
}

TEST(test_fixture_golden)
{
    char procfs[4096];
    snprintf(procfs, sizeof(procfs), "%s", test_fixture("fs-basic"));
    struct exporter_config cfg;
    config(&cfg, procfs, "/host/");
    fake_reset();
    filesystem_set_statvfs_for_test(fake_statvfs);
    struct mset *out = mset_new();
    int r = collect_once(&cfg, out);
    filesystem_set_statvfs_for_test(NULL);
    CHECK_INT(r, 0);

    /* rootfs joined without doubled or trailing slashes, escapes decoded. */
    CHECK(fake_saw("/host"));
    CHECK(fake_saw("/host/home/my dir"));
    CHECK(fake_saw("/host/mnt/back\\slash"));
    CHECK(fake_saw("/host/mnt/tab\tname\\"));
    CHECK(!fake_saw("/host/proc"));
    CHECK(!fake_saw("/host/sys/fs/cgroup"));
    CHECK(!fake_saw("/host/run/credentials/foo.service"));

    /* "/" is "/host": 5 characters, so 5000 blocks of 4 KiB. */
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_size_bytes", "mountpoint", "/", NULL),
              5000.0 * 4096, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_free_bytes", "mountpoint", "/", NULL),
              2500.0 * 4096, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_avail_bytes", "mountpoint", "/", NULL),
              2000.0 * 4096, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_files", "mountpoint", "/", NULL), 500, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_files_free", "mountpoint", "/", NULL), 300,
              0);
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/", "device",
                              "/dev/sda1", "fstype", "ext4", NULL),
              0, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_readonly", "mountpoint", "/", NULL), 0, 0);
    /* Read-only from ST_RDONLY and from the "ro" option. */
    CHECK_DBL(
        test_mset_value(out, "homeostat_filesystem_readonly", "mountpoint", "/home/my dir", NULL),
        1, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_readonly", "mountpoint",
                              "/mnt/back\\slash", NULL),
              1, 0);
    /* The later of two mounts on /data wins. */
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/data",
                              "device", "/dev/sdd2", "fstype", "xfs", NULL),
              0, 0);
    CHECK(isnan(
        test_mset_value(out, "homeostat_filesystem_device_error", "device", "/dev/sdd1", NULL)));
    /* statvfs failing: device_error 1, no sizes. */
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/mnt/broken",
                              NULL),
              1, 0);
    CHECK(isnan(test_mset_value(out, "homeostat_filesystem_size_bytes", "mountpoint", "/mnt/broken",
                                NULL)));
    /* Excluded, garbage, relative, truncated and non-UTF-8 lines are not exported. */
    CHECK(isnan(
        test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/proc", NULL)));
    CHECK(isnan(
        test_mset_value(out, "homeostat_filesystem_device_error", "fstype", "cgroup2", NULL)));
    CHECK(isnan(
        test_mset_value(out, "homeostat_filesystem_device_error", "device", "/dev/sdc1", NULL)));
    CHECK(isnan(
        test_mset_value(out, "homeostat_filesystem_device_error", "device", "/dev/sdg1", NULL)));
    CHECK(isnan(
        test_mset_value(out, "homeostat_filesystem_device_error", "device", "/dev/sdh1", NULL)));
    /* /, /data, /home/my dir, /mnt/back\slash, /mnt/broken, /mnt/nfs, /mnt/null\000byte,
     * /mnt/tab\tname\, /run */
    CHECK_INT(family_samples(out, "homeostat_filesystem_device_error"), 9);
    CHECK_INT(family_samples(out, "homeostat_filesystem_size_bytes"), 8);
    CHECK_INT(test_golden("collector_filesystem", out), 0);
    mset_free(out);
}

TEST(test_fallback_to_self_mounts)
{
    char procfs[4096];
    snprintf(procfs, sizeof(procfs), "%s", test_fixture("fs-fallback"));
    struct exporter_config cfg;
    config(&cfg, procfs, "/");
    fake_reset();
    filesystem_set_statvfs_for_test(fake_statvfs);
    struct mset *out = mset_new();
    int r = collect_once(&cfg, out);
    filesystem_set_statvfs_for_test(NULL);
    CHECK_INT(r, 0);
    CHECK(fake_saw("/"));
    CHECK(fake_saw("/tmp"));
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_size_bytes", "mountpoint", "/", "device",
                              "/dev/root", NULL),
              1000.0 * 4096, 0);
    /* The last line has no newline and is still read. */
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_files", "mountpoint", "/tmp", "fstype",
                              "tmpfs", NULL),
              400, 0);
    CHECK_INT(family_samples(out, "homeostat_filesystem_size_bytes"), 2);
    mset_free(out);
}

TEST(test_missing_and_empty)
{
    struct exporter_config cfg;
    struct mset *out = mset_new();
    config(&cfg, "/nonexistent/homeostat/proc", "/");
    CHECK_INT(collect_once(&cfg, out), -ENOENT);
    char procfs[4096];
    snprintf(procfs, sizeof(procfs), "%s", test_fixture("fs-empty"));
    config(&cfg, procfs, "/");
    CHECK_INT(collect_once(&cfg, out), -ENODATA);
    CHECK_INT(out->n_samples_total, 0);
    mset_free(out);
}

TEST(test_bad_config)
{
    struct exporter_config cfg;
    void *state = NULL;
    config(&cfg, "/proc", "/");
    cfg.filesystem_mount_points_exclude = "([unclosed";
    CHECK_INT(collector_filesystem.init(&cfg, &state), -EINVAL);
    config(&cfg, "/proc", "/");
    cfg.filesystem_fs_types_exclude = "*bad";
    CHECK_INT(collector_filesystem.init(&cfg, &state), -EINVAL);
    config(&cfg, "/proc", "/");
    cfg.filesystem_mount_timeout_usec = 0;
    CHECK_INT(collector_filesystem.init(&cfg, &state), -EINVAL);
    CHECK(state == NULL);
    /* Empty patterns exclude nothing. */
    config(&cfg, test_fixture("fs-basic"), "/");
    cfg.filesystem_mount_points_exclude = "";
    cfg.filesystem_fs_types_exclude = "";
    fake_reset();
    filesystem_set_statvfs_for_test(fake_statvfs);
    struct mset *out = mset_new();
    int r = collect_once(&cfg, out);
    filesystem_set_statvfs_for_test(NULL);
    CHECK_INT(r, 0);
    CHECK(fake_saw("/proc"));
    CHECK(fake_saw("/run/credentials/foo.service"));
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_readonly", "mountpoint",
                              "/run/credentials/foo.service", NULL),
              1, 0);
    CHECK_INT(family_samples(out, "homeostat_filesystem_device_error"), 13);
    mset_free(out);
}

static double elapsed_sec(uint64_t since)
{
    return (double)(now_usec() - since) / 1e6;
}

static int wait_nfs_returns(unsigned want)
{
    for (int i = 0; i < 100; i++) {
        if (fake_get(&fake_nfs_returns) >= want)
            return 1;
        usleep(50000);
    }
    return 0;
}

TEST(test_stuck_mount)
{
    char procfs[4096];
    snprintf(procfs, sizeof(procfs), "%s", test_fixture("fs-stuck"));
    struct exporter_config cfg;
    config(&cfg, procfs, "/");
    cfg.filesystem_mount_timeout_usec = 200000;
    fake_reset();
    fake_block_nfs = 1;
    filesystem_set_statvfs_for_test(fake_statvfs);
    void *state = NULL;
    CHECK_INT(collector_filesystem.init(&cfg, &state), 0);

    /* First scrape: waits the 200 ms timeout, not the 2 s statvfs. */
    struct mset *out = mset_new();
    uint64_t t0 = now_usec();
    int r = collector_filesystem.collect(state, out);
    double took = elapsed_sec(t0);
    CHECK_INT(r, 0);
    CHECK(took >= 0.15);
    CHECK(took < 1.0);
    CHECK_DBL(
        test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/mnt/nfs", NULL),
        1, 0);
    CHECK(isnan(
        test_mset_value(out, "homeostat_filesystem_size_bytes", "mountpoint", "/mnt/nfs", NULL)));
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/", NULL), 0,
              0);
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_size_bytes", "mountpoint", "/", NULL),
              1000.0 * 4096, 0);
    CHECK_INT(fake_get(&fake_nfs_calls), 1);

    /* Second scrape: the stuck mount is skipped without waiting or a second call. */
    mset_clear(out);
    t0 = now_usec();
    r = collector_filesystem.collect(state, out);
    took = elapsed_sec(t0);
    CHECK_INT(r, 0);
    CHECK(took < 0.15);
    CHECK_DBL(
        test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/mnt/nfs", NULL),
        1, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_size_bytes", "mountpoint", "/", NULL),
              1000.0 * 4096, 0);
    CHECK_INT(fake_get(&fake_nfs_calls), 1);

    /* Once the hung statvfs returns, the mark clears and the mount is read again. */
    CHECK(wait_nfs_returns(1));
    pthread_mutex_lock(&fake_lock);
    fake_block_nfs = 0;
    pthread_mutex_unlock(&fake_lock);
    mset_clear(out);
    r = collector_filesystem.collect(state, out);
    CHECK_INT(r, 0);
    CHECK_INT(fake_get(&fake_nfs_calls), 2);
    CHECK_DBL(
        test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/mnt/nfs", NULL),
        0, 0);
    CHECK_DBL(
        test_mset_value(out, "homeostat_filesystem_size_bytes", "mountpoint", "/mnt/nfs", NULL),
        8000.0 * 4096, 0);
    collector_filesystem.cleanup(state);

    /* Cleanup while a worker is still blocked: the worker returns later and frees its
     * job itself (AddressSanitizer would see a use after free or a leak here). */
    pthread_mutex_lock(&fake_lock);
    fake_block_nfs = 1;
    pthread_mutex_unlock(&fake_lock);
    state = NULL;
    CHECK_INT(collector_filesystem.init(&cfg, &state), 0);
    mset_clear(out);
    CHECK_INT(collector_filesystem.collect(state, out), 0);
    CHECK_DBL(
        test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/mnt/nfs", NULL),
        1, 0);
    collector_filesystem.cleanup(state);
    filesystem_set_statvfs_for_test(NULL);
    mset_free(out);
    CHECK(wait_nfs_returns(3));
    usleep(50000); /* let the worker finish its unref */
}

/* Random bytes and mangled copies of the fixture as a mounts file. */
TEST(test_garbage_mounts)
{
    char *dir = test_tmpdir();
    CHECK(dir);
    char sub[4096], path[4096];
    snprintf(sub, sizeof(sub), "%s/1", dir);
    CHECK_INT(mkdir(sub, 0755), 0);
    snprintf(path, sizeof(path), "%s/1/mounts", dir);
    char *fixture = NULL;
    size_t flen = 0;
    char fpath[4096];
    snprintf(fpath, sizeof(fpath), "%s", test_fixture("fs-basic/1/mounts"));
    CHECK_INT(file_read_alloc(fpath, 1 << 20, &fixture, &flen), 0);
    struct exporter_config cfg;
    config(&cfg, dir, "/");
    cfg.filesystem_mount_timeout_usec = 1000000;
    fake_reset(); /* test_stuck_mount leaves /mnt/nfs blocking; its threads would outlive us */
    filesystem_set_statvfs_for_test(fake_statvfs);
    void *state = NULL;
    if (collector_filesystem.init(&cfg, &state) < 0) {
        free(fixture);
        TEST_FAIL("init failed");
    }
    struct mset *out = mset_new();
    uint32_t seed = 12345;
    char data[2048];
    int failed = 0;
    for (int round = 0; round < 200 && !failed; round++) {
        size_t len;
        if (round % 2) {
            len = (size_t)(seed % sizeof(data));
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                data[i] = (char)(seed >> 16);
            }
        } else {
            /* A truncated copy of the fixture with a few bytes flipped. */
            len = flen < sizeof(data) ? flen : sizeof(data);
            seed = seed * 1103515245u + 12345u;
            len = len ? (seed >> 8) % len : 0;
            memcpy(data, fixture, len);
            for (int k = 0; k < 4 && len; k++) {
                seed = seed * 1103515245u + 12345u;
                data[(seed >> 8) % len] = (char)(seed >> 20);
            }
        }
        if (file_write_atomic(path, data, len, 0644) < 0)
            failed = 1;
        mset_clear(out);
        int r = collector_filesystem.collect(state, out);
        if (r < 0 && r != -ENODATA)
            failed = 2;
    }
    collector_filesystem.cleanup(state);
    filesystem_set_statvfs_for_test(NULL);
    mset_free(out);
    free(fixture);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
    CHECK_INT(failed, 0);
}

TEST(test_real_machine)
{
    struct exporter_config cfg;
    config(&cfg, "/proc", "/");
    cfg.filesystem_fs_types_exclude = ""; /* "/" may be an overlay in a container */
    struct mset *out = mset_new();
    int r = collect_once(&cfg, out);
    CHECK_INT(r, 0);
    double size = test_mset_value(out, "homeostat_filesystem_size_bytes", "mountpoint", "/", NULL);
    CHECK(size > 0);
    CHECK_DBL(test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/", NULL), 0,
              0);
    double avail =
        test_mset_value(out, "homeostat_filesystem_avail_bytes", "mountpoint", "/", NULL);
    CHECK(avail >= 0 && avail <= size);
    /* /proc is excluded by the default mount point pattern. */
    CHECK(isnan(
        test_mset_value(out, "homeostat_filesystem_device_error", "mountpoint", "/proc", NULL)));
    mset_free(out);
}

TEST_MAIN(TEST_ENTRY(test_interface), TEST_ENTRY(test_fixture_golden),
          TEST_ENTRY(test_fallback_to_self_mounts), TEST_ENTRY(test_missing_and_empty),
          TEST_ENTRY(test_bad_config), TEST_ENTRY(test_stuck_mount),
          TEST_ENTRY(test_garbage_mounts), TEST_ENTRY(test_real_machine))
