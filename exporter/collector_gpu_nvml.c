/* collector_gpu_nvml: NVIDIA GPUs through NVML, loaded at run time with dlopen() from
 * --collector.gpu.nvml-library, so building needs no NVIDIA headers and hosts without
 * the driver just switch the collector off. Exports collector_gpu_nvml: per-GPU info,
 * utilisation, memory, temperature and power, and busy ratios for the sampler. */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "gpu.h"
#include "log.h"

/* The few NVML declarations used, after the public NVML API reference (nvml.h). Every
 * entry point returns an nvmlReturn_t, an int here. */
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_GPU_IS_LOST 15
#define NVML_ERROR_RESET_REQUIRED 16
#define NVML_ERROR_LIB_RM_VERSION_MISMATCH 18
#define NVML_TEMPERATURE_GPU 0
/* NVML_DEVICE_NAME_V2_BUFFER_SIZE and NVML_DEVICE_UUID_V2_BUFFER_SIZE, the larger ones. */
#define NVML_STRING_BUFFER_SIZE 96

#define GPU_NVML_MAX_DEVICES 64

struct nvml_device; /* opaque: nvmlDevice_t */

struct nvml_utilization { /* nvmlUtilization_t */
    unsigned gpu;         /* percent of the last sample period a kernel ran */
    unsigned memory;      /* percent of it device memory was read or written */
};

struct nvml_memory {                      /* nvmlMemory_t (v1) */
    unsigned long long total, free, used; /* bytes */
};

struct nvml_api {
    int (*init)(void);
    int (*shutdown)(void);
    const char *(*error_string)(int result);
    int (*get_count)(unsigned *count);
    int (*get_handle)(unsigned index, struct nvml_device **device);
    int (*get_name)(struct nvml_device *device, char *name, unsigned length);
    int (*get_uuid)(struct nvml_device *device, char *uuid, unsigned length);
    int (*get_utilization)(struct nvml_device *device, struct nvml_utilization *util);
    int (*get_memory)(struct nvml_device *device, struct nvml_memory *memory);
    int (*get_temperature)(struct nvml_device *device, int sensor, unsigned *celsius);
    int (*get_power)(struct nvml_device *device, unsigned *milliwatts);
    int (*get_power_limit)(struct nvml_device *device, unsigned *milliwatts); /* or NULL */
};

static const struct {
    const char *name;
    size_t offset;
    bool required;
} nvml_symbols[] = {
    {"nvmlInit_v2", offsetof(struct nvml_api, init), true},
    {"nvmlShutdown", offsetof(struct nvml_api, shutdown), true},
    {"nvmlErrorString", offsetof(struct nvml_api, error_string), true},
    {"nvmlDeviceGetCount_v2", offsetof(struct nvml_api, get_count), true},
    {"nvmlDeviceGetHandleByIndex_v2", offsetof(struct nvml_api, get_handle), true},
    {"nvmlDeviceGetName", offsetof(struct nvml_api, get_name), true},
    {"nvmlDeviceGetUUID", offsetof(struct nvml_api, get_uuid), true},
    {"nvmlDeviceGetUtilizationRates", offsetof(struct nvml_api, get_utilization), true},
    {"nvmlDeviceGetMemoryInfo", offsetof(struct nvml_api, get_memory), true},
    {"nvmlDeviceGetTemperature", offsetof(struct nvml_api, get_temperature), true},
    {"nvmlDeviceGetPowerUsage", offsetof(struct nvml_api, get_power), true},
    {"nvmlDeviceGetEnforcedPowerLimit", offsetof(struct nvml_api, get_power_limit), false},
};

/* One device, fixed at init; only the warned flag changes afterwards. */
struct nvml_gpu {
    struct nvml_device *handle;
    char label[16];                     /* NVML index: the gpu label */
    char name[NVML_STRING_BUFFER_SIZE]; /* "" when NVML would not say */
    char uuid[NVML_STRING_BUFFER_SIZE];
    atomic_bool warned; /* the device-level failure was logged */
};

/* Immutable after init, so collect() and sample() may run at once (NVML is
 * thread-safe). */
struct gpu_nvml {
    void *dl;
    struct nvml_api api;
    size_t n_gpus;
    struct nvml_gpu gpus[];
};

static const char *nvml_strerror(const struct nvml_api *api, int result)
{
    const char *s = api->error_string ? api->error_string(result) : NULL;
    return s ? s : "unknown NVML error";
}

/* Errors that mean the device, not one query, is gone: the others (not supported, no
 * permission, no data ...) only cost one series. */
static bool nvml_device_error(int result)
{
    switch (result) {
    case NVML_ERROR_UNINITIALIZED:
    case NVML_ERROR_DRIVER_NOT_LOADED:
    case NVML_ERROR_GPU_IS_LOST:
    case NVML_ERROR_RESET_REQUIRED:
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return true;
    default: return false;
    }
}

/* Replaces anything but printable ASCII, so a label value is always valid UTF-8. */
static void nvml_sanitize(char *s)
{
    for (; *s; s++)
        if (*s < 0x20 || *s > 0x7e)
            *s = '?';
}

static int nvml_resolve(void *dl, const char *lib, struct nvml_api *api)
{
    for (size_t i = 0; i < sizeof(nvml_symbols) / sizeof(nvml_symbols[0]); i++) {
        void *sym = dlsym(dl, nvml_symbols[i].name);
        if (!sym && nvml_symbols[i].required) {
            collector_reason("%s lacks %s", lib, nvml_symbols[i].name);
            return -ENOENT;
        }
        /* POSIX guarantees a function pointer fits in (and converts from) a void *. */
        memcpy((char *)api + nvml_symbols[i].offset, &sym, sizeof(sym));
    }
    return 0;
}

static void nvml_read_string(int (*fn)(struct nvml_device *, char *, unsigned),
                             struct nvml_device *dev, char *out, size_t size)
{
    out[0] = '\0';
    if (fn(dev, out, (unsigned)size) != NVML_SUCCESS) {
        out[0] = '\0';
        return;
    }
    out[size - 1] = '\0';
    nvml_sanitize(out);
}

static int gpu_nvml_init(const struct exporter_config *cfg, void **ret_state)
{
    const char *lib = cfg->nvml_library;
    if (!lib || !*lib) /* dlopen("") would return the exporter itself */
        return -ENOENT;
    void *dl = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        /* dlerror() names the library itself. */
        if (why)
            collector_reason("%s", why);
        else
            collector_reason("cannot load %s", lib);
        return -ENOENT;
    }
    struct nvml_api api = {0};
    int r = nvml_resolve(dl, lib, &api);
    if (r < 0)
        goto fail_close;
    int nr = api.init();
    if (nr != NVML_SUCCESS) {
        collector_reason("nvmlInit_v2 failed: %s", nvml_strerror(&api, nr));
        r = -EIO;
        goto fail_close;
    }
    unsigned count = 0;
    nr = api.get_count(&count);
    if (nr != NVML_SUCCESS) {
        collector_reason("nvmlDeviceGetCount_v2 failed: %s", nvml_strerror(&api, nr));
        r = -EIO;
        goto fail_shutdown;
    }
    if (count > GPU_NVML_MAX_DEVICES) {
        log_warning("collector gpu_nvml: %u GPUs, reporting the first %d", count,
                    GPU_NVML_MAX_DEVICES);
        count = GPU_NVML_MAX_DEVICES;
    }
    struct gpu_nvml *s = calloc(1, sizeof(*s) + count * sizeof(s->gpus[0]));
    if (!s) {
        r = -ENOMEM;
        goto fail_shutdown;
    }
    s->dl = dl;
    s->api = api;
    for (unsigned i = 0; i < count; i++) {
        struct nvml_gpu *g = &s->gpus[s->n_gpus];
        nr = api.get_handle(i, &g->handle);
        if (nr != NVML_SUCCESS) {
            /* Typically a device this process may not open; the others still count. */
            log_warning("collector gpu_nvml: skipping GPU %u: %s", i, nvml_strerror(&api, nr));
            continue;
        }
        snprintf(g->label, sizeof(g->label), "%u", i);
        nvml_read_string(api.get_name, g->handle, g->name, sizeof(g->name));
        nvml_read_string(api.get_uuid, g->handle, g->uuid, sizeof(g->uuid));
        atomic_init(&g->warned, false);
        s->n_gpus++;
    }
    log_debug("collector gpu_nvml: %zu GPUs through %s", s->n_gpus, lib);
    *ret_state = s;
    return 0;

fail_shutdown:
    api.shutdown();
fail_close:
    dlclose(dl);
    return r;
}

static void gpu_nvml_cleanup(void *state)
{
    struct gpu_nvml *s = state;
    if (!s)
        return;
    s->api.shutdown();
    dlclose(s->dl);
    free(s);
}

static int nvml_emit(struct mset *out, const char *name, const char *help, const char *gpu,
                     double value)
{
    int r = mset_family(out, name, METRIC_GAUGE, help);
    if (r < 0)
        return r;
    return mset_addl(out, value, "gpu", gpu, NULL);
}

/* Notes one query's result: true when it succeeded. A device-level error sets *lost and
 * is logged once per device; other errors only at debug level, "not supported" never. */
static bool nvml_ok(const struct gpu_nvml *s, struct nvml_gpu *g, const char *what, int result,
                    bool *lost)
{
    if (result == NVML_SUCCESS)
        return true;
    if (nvml_device_error(result)) {
        *lost = true;
        if (!atomic_exchange(&g->warned, true))
            log_warning("collector gpu_nvml: GPU %s (%s): %s: %s", g->label, g->uuid, what,
                        nvml_strerror(&s->api, result));
    } else if (result != NVML_ERROR_NOT_SUPPORTED) {
        log_debug("collector gpu_nvml: GPU %s: %s: %s", g->label, what,
                  nvml_strerror(&s->api, result));
    }
    return false;
}

/* Adds one device's series. Returns the number of readings that succeeded, or a
 * negative mset error; *lost is set when the device itself failed. */
static int nvml_collect_gpu(struct gpu_nvml *s, struct nvml_gpu *g, struct mset *out, bool *lost)
{
    const struct nvml_api *api = &s->api;
    int r = mset_family(out, GPU_INFO, METRIC_INFO, GPU_INFO_HELP);
    if (r >= 0)
        r = mset_addl(out, 1, "gpu", g->label, "vendor", "nvidia", "name", g->name, "uuid", g->uuid,
                      NULL);
    if (r < 0)
        return r;

    int n = 0;
    struct nvml_utilization util;
    if (nvml_ok(s, g, "utilization", api->get_utilization(g->handle, &util), lost)) {
        r = nvml_emit(out, GPU_UTIL, GPU_UTIL_HELP, g->label, util.gpu / 100.0);
        if (r < 0)
            return r;
        n++;
    }
    if (*lost) /* the rest would fail the same way, perhaps slowly */
        return n;
    struct nvml_memory mem;
    if (nvml_ok(s, g, "memory", api->get_memory(g->handle, &mem), lost)) {
        r = nvml_emit(out, GPU_MEM_USED, GPU_MEM_USED_HELP, g->label, (double)mem.used);
        if (r >= 0)
            r = nvml_emit(out, GPU_MEM_TOTAL, GPU_MEM_TOTAL_HELP, g->label, (double)mem.total);
        if (r < 0)
            return r;
        n++;
    }
    if (*lost)
        return n;
    unsigned temp;
    if (nvml_ok(s, g, "temperature", api->get_temperature(g->handle, NVML_TEMPERATURE_GPU, &temp),
                lost)) {
        r = nvml_emit(out, GPU_TEMP, GPU_TEMP_HELP, g->label, temp);
        if (r < 0)
            return r;
        n++;
    }
    if (*lost)
        return n;
    unsigned mw;
    if (nvml_ok(s, g, "power usage", api->get_power(g->handle, &mw), lost)) {
        r = nvml_emit(out, GPU_POWER, GPU_POWER_HELP, g->label, mw / 1000.0);
        if (r < 0)
            return r;
        n++;
    }
    if (*lost || !api->get_power_limit)
        return n;
    if (nvml_ok(s, g, "power limit", api->get_power_limit(g->handle, &mw), lost)) {
        r = nvml_emit(out, GPU_POWER_LIMIT, GPU_POWER_LIMIT_HELP, g->label, mw / 1000.0);
        if (r < 0)
            return r;
        n++;
    }
    return n;
}

static int gpu_nvml_collect(void *state, struct mset *out)
{
    struct gpu_nvml *s = state;
    size_t failed = 0;
    bool any_lost = false;
    for (size_t i = 0; i < s->n_gpus; i++) {
        bool lost = false;
        int n = nvml_collect_gpu(s, &s->gpus[i], out, &lost);
        if (n < 0)
            return n;
        if (lost || n == 0)
            failed++;
        any_lost |= lost;
    }
    if (any_lost || (s->n_gpus > 0 && failed == s->n_gpus))
        return -EIO;
    return 0;
}

static int gpu_nvml_sample(void *state, struct gpu_sample *out, size_t max)
{
    struct gpu_nvml *s = state;
    size_t n = 0;
    for (size_t i = 0; i < s->n_gpus && n < max; i++) {
        const struct nvml_gpu *g = &s->gpus[i];
        struct nvml_utilization util;
        if (s->api.get_utilization(g->handle, &util) != NVML_SUCCESS)
            continue;
        snprintf(out[n].gpu, sizeof(out[n].gpu), "%s", g->label);
        out[n].busy_ratio = util.gpu / 100.0;
        n++;
    }
    if (n == 0 && s->n_gpus > 0 && max > 0)
        return -EIO;
    return (int)n;
}

const struct collector collector_gpu_nvml = {
    .name = "gpu_nvml",
    .description = "NVIDIA GPU utilisation, memory, temperature and power through NVML "
                   "(loaded at run time)",
    .default_enabled = true,
    .may_block = true,
    .init = gpu_nvml_init,
    .collect = gpu_nvml_collect,
    .cleanup = gpu_nvml_cleanup,
    .sample = gpu_nvml_sample,
};
