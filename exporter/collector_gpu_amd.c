/* collector_gpu_amd: AMD GPUs through the amdgpu driver's sysfs files under
 * <sysfs>/class/drm/cardN/device (PCI vendor 0x1002 only; connectors such as card0-DP-1
 * are skipped). Exports collector_gpu_amd: per-card info, busy ratio, VRAM, hwmon
 * temperature and power, and busy ratios for the sampler. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collector.h"
#include "gpu.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"

#define GPU_AMD_VENDOR 0x1002
#define GPU_AMD_MAX_CARDS 64

/* One numeric sysfs file and the series it becomes. */
struct amd_field {
    const char *file;     /* in the device directory, or its hwmon directory */
    const char *fallback; /* read when file does not exist, or NULL */
    bool hwmon;
    const char *metric, *help;
    double divisor;         /* file unit per metric unit */
    unsigned long long max; /* larger values are invalid; 0 for no limit */
};

static const struct amd_field amd_fields[] = {
    {"gpu_busy_percent", NULL, false, GPU_UTIL, GPU_UTIL_HELP, 100, 100},
    {"mem_info_vram_used", NULL, false, GPU_MEM_USED, GPU_MEM_USED_HELP, 1, 0},
    {"mem_info_vram_total", NULL, false, GPU_MEM_TOTAL, GPU_MEM_TOTAL_HELP, 1, 0},
    {"temp1_input", NULL, true, GPU_TEMP, GPU_TEMP_HELP, 1000, 0},               /* m°C */
    {"power1_average", "power1_input", true, GPU_POWER, GPU_POWER_HELP, 1e6, 0}, /* µW */
    {"power1_cap", NULL, true, GPU_POWER_LIMIT, GPU_POWER_LIMIT_HELP, 1e6, 0},   /* µW */
};

/* One card, fixed at init. */
struct amd_card {
    unsigned index;     /* N of cardN */
    char label[32];     /* "cardN": the gpu label */
    char dir[PATH_MAX]; /* <sysfs>/class/drm/cardN/device */
    char name[128];     /* product_name, or "" */
    char uuid[64];      /* unique_id, or "" */
};

/* Immutable after init, so collect() and sample() may run at once. */
struct gpu_amd {
    size_t n_cards;
    struct amd_card *cards;
};

/* Reads a short text file, without trailing whitespace, as printable ASCII (anything
 * else becomes '?', so it is always a valid label value). Returns the length or -errno. */
static long amd_read_text(const char *dir, const char *name, char *buf, size_t size)
{
    long n = file_read_at(dir, name, buf, size - 1);
    if (n < 0) {
        buf[0] = '\0';
        return n;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        buf[--n] = '\0';
    for (char *c = buf; *c; c++)
        if (*c < 0x20 || *c > 0x7e)
            *c = '?';
    return n;
}

static int amd_read_u64(const char *dir, const char *name, unsigned long long *ret)
{
    char buf[64];
    long n = file_read_at(dir, name, buf, sizeof(buf) - 1);
    if (n < 0)
        return n == -EFBIG ? -EINVAL : (int)n;
    return parse_u64(buf, ret);
}

/* A file that is not there (or that this board does not support) is no error. */
static bool amd_absent(int r)
{
    return r == -ENOENT || r == -ENODEV || r == -EOPNOTSUPP || r == -ENODATA;
}

/* Parses "cardN" (nothing after the digits, no leading zero); -EINVAL for anything else,
 * such as the connector card0-DP-1. */
static int amd_card_index(const char *name, unsigned *ret)
{
    if (strncmp(name, "card", 4) != 0 || name[4] == '\0' || (name[4] == '0' && name[5]))
        return -EINVAL;
    for (const char *c = name + 4; *c; c++)
        if (*c < '0' || *c > '9')
            return -EINVAL;
    return parse_uint(name + 4, ret);
}

static bool amd_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode); /* follows sysfs symlinks */
}

/* True when dir/vendor names AMD's PCI vendor ID. */
static bool amd_is_amd(const char *dir)
{
    char buf[32];
    if (amd_read_text(dir, "vendor", buf, sizeof(buf)) < 0)
        return false;
    if (buf[0] != '0' || (buf[1] != 'x' && buf[1] != 'X') || buf[2] == '\0')
        return false;
    char *end;
    errno = 0;
    unsigned long v = strtoul(buf + 2, &end, 16);
    return errno == 0 && *end == '\0' && v == GPU_AMD_VENDOR;
}

static int amd_card_cmp(const void *a, const void *b)
{
    const struct amd_card *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void gpu_amd_cleanup(void *state)
{
    struct gpu_amd *s = state;
    if (!s)
        return;
    free(s->cards);
    free(s);
}

/* Finds the AMD cards once: a GPU appearing later is rare enough to need a restart, and
 * the sampler reads gpu_busy_percent ten times a second. */
static int gpu_amd_init(const struct exporter_config *cfg, void **ret_state)
{
    char drm[PATH_MAX];
    int r = path_join(drm, sizeof(drm), cfg->sysfs, "class/drm");
    if (r < 0)
        return r;
    struct gpu_amd *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    DIR *d = opendir(drm);
    if (!d) {
        r = -errno;
        if (r != -ENOENT && r != -ENOTDIR) {
            free(s);
            return log_debug_errno(r, "collector gpu_amd: %s", drm);
        }
        log_debug("collector gpu_amd: no %s, no cards", drm);
        *ret_state = s;
        return 0;
    }
    size_t cap = 0;
    struct dirent *de;
    r = 0;
    while ((de = readdir(d))) {
        unsigned index;
        if (amd_card_index(de->d_name, &index) < 0)
            continue;
        char card[PATH_MAX], dir[PATH_MAX];
        if (path_join(card, sizeof(card), drm, de->d_name) < 0 ||
            path_join(dir, sizeof(dir), card, "device") < 0 || !amd_is_dir(dir) || !amd_is_amd(dir))
            continue;
        if (s->n_cards == GPU_AMD_MAX_CARDS) {
            log_warning("collector gpu_amd: more than %d cards, ignoring %s", GPU_AMD_MAX_CARDS,
                        de->d_name);
            continue;
        }
        if (s->n_cards == cap) {
            size_t ncap = cap ? 2 * cap : 4;
            struct amd_card *nc = realloc(s->cards, ncap * sizeof(*nc));
            if (!nc) {
                r = -ENOMEM;
                break;
            }
            s->cards = nc;
            cap = ncap;
        }
        struct amd_card *c = &s->cards[s->n_cards++];
        memset(c, 0, sizeof(*c));
        c->index = index;
        snprintf(c->label, sizeof(c->label), "card%u", index);
        snprintf(c->dir, sizeof(c->dir), "%s", dir);
        amd_read_text(dir, "product_name", c->name, sizeof(c->name));
        amd_read_text(dir, "unique_id", c->uuid, sizeof(c->uuid));
    }
    closedir(d);
    if (r < 0) {
        gpu_amd_cleanup(s);
        return r;
    }
    qsort(s->cards, s->n_cards, sizeof(s->cards[0]), amd_card_cmp);
    log_debug("collector gpu_amd: %zu cards under %s", s->n_cards, drm);
    *ret_state = s;
    return 0;
}

/* Finds the card's hwmon directory (device/hwmon/hwmonN, lowest N). -ENOENT if none. */
static int amd_hwmon_dir(const struct amd_card *c, char *out, size_t outsz)
{
    char base[PATH_MAX];
    int r = path_join(base, sizeof(base), c->dir, "hwmon");
    if (r < 0)
        return r;
    DIR *d = opendir(base);
    if (!d)
        return -errno;
    bool found = false;
    unsigned best = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned n;
        if (strncmp(de->d_name, "hwmon", 5) != 0 || parse_uint(de->d_name + 5, &n) < 0 ||
            (found && n >= best))
            continue;
        char path[PATH_MAX];
        if (path_join(path, sizeof(path), base, de->d_name) < 0 || !amd_is_dir(path))
            continue;
        best = n;
        found = true;
        snprintf(out, outsz, "%s", path);
    }
    closedir(d);
    return found ? 0 : -ENOENT;
}

/* Adds one card's series. Returns 0, a negative mset error, or (through *err) the first
 * read or parse error of a file that exists. */
static int amd_collect_card(const struct amd_card *c, struct mset *out, int *err)
{
    int r = mset_family(out, GPU_INFO, METRIC_INFO, GPU_INFO_HELP);
    if (r >= 0)
        r = mset_addl(out, 1, "gpu", c->label, "vendor", "amd", "name", c->name, "uuid", c->uuid,
                      NULL);
    if (r < 0)
        return r;
    char hwmon[PATH_MAX];
    bool have_hwmon = amd_hwmon_dir(c, hwmon, sizeof(hwmon)) == 0;
    for (size_t i = 0; i < sizeof(amd_fields) / sizeof(amd_fields[0]); i++) {
        const struct amd_field *f = &amd_fields[i];
        if (f->hwmon && !have_hwmon)
            continue;
        const char *dir = f->hwmon ? hwmon : c->dir;
        const char *file = f->file;
        unsigned long long v;
        r = amd_read_u64(dir, file, &v);
        if (r == -ENOENT && f->fallback) {
            file = f->fallback;
            r = amd_read_u64(dir, file, &v);
        }
        if (r >= 0 && f->max && v > f->max)
            r = -ERANGE;
        if (amd_absent(r))
            continue;
        if (r < 0) {
            log_debug_errno(r, "collector gpu_amd: %s/%s", dir, file);
            if (*err == 0)
                *err = r;
            continue;
        }
        r = mset_family(out, f->metric, METRIC_GAUGE, f->help);
        if (r >= 0)
            r = mset_addl(out, (double)v / f->divisor, "gpu", c->label, NULL);
        if (r < 0)
            return r;
    }
    return 0;
}

static int gpu_amd_collect(void *state, struct mset *out)
{
    const struct gpu_amd *s = state;
    int err = 0;
    for (size_t i = 0; i < s->n_cards; i++) {
        int r = amd_collect_card(&s->cards[i], out, &err);
        if (r < 0)
            return r;
    }
    return err;
}

static int gpu_amd_sample(void *state, struct gpu_sample *out, size_t max)
{
    const struct gpu_amd *s = state;
    size_t n = 0;
    int err = 0;
    for (size_t i = 0; i < s->n_cards && n < max; i++) {
        const struct amd_card *c = &s->cards[i];
        unsigned long long v;
        int r = amd_read_u64(c->dir, "gpu_busy_percent", &v);
        if (r >= 0 && v > 100)
            r = -ERANGE;
        if (r < 0) {
            if (err == 0)
                err = r;
            continue;
        }
        snprintf(out[n].gpu, sizeof(out[n].gpu), "%s", c->label);
        out[n].busy_ratio = (double)v / 100;
        n++;
    }
    if (n == 0 && err < 0)
        return err;
    return (int)n;
}

const struct collector collector_gpu_amd = {
    .name = "gpu_amd",
    .description = "AMD GPU utilisation, VRAM, temperature and power from amdgpu sysfs",
    .default_enabled = true,
    .may_block = true,
    .init = gpu_amd_init,
    .collect = gpu_amd_collect,
    .cleanup = gpu_amd_cleanup,
    .sample = gpu_amd_sample,
};
