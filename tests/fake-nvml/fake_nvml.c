/* fake_nvml: a stand-in for libnvidia-ml.so.1, built as libnvidia-ml-fake.so, that the GPU
 * collector tests dlopen() through the real code path. It implements the NVML entry
 * points the collector uses; nvmlInit_v2 reads the devices and replies from the
 * "key=value" script named by $HOMEOSTAT_FAKE_NVML_SCRIPT (format in SCRIPT below). */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SCRIPT: one "key=value" per line; blank lines and lines starting with '#' are skipped.
 *   init_error=N          nvmlInit_v2 returns NVML error N (default 0)
 *   count=N               number of devices, 0..16 (default 0)
 *   count_error=N         nvmlDeviceGetCount_v2 returns N
 *   gpuI.name=TEXT        nvmlDeviceGetName (default "Fake GPU I")
 *   gpuI.uuid=TEXT        nvmlDeviceGetUUID (default "GPU-00000000-0000-0000-0000-00000000000I")
 *   gpuI.util=P           utilization.gpu in percent
 *   gpuI.util_seq=P,P,..  successive utilisation calls cycle through these (up to 32)
 *   gpuI.mem_util=P       utilization.memory in percent
 *   gpuI.mem_used=B, gpuI.mem_total=B       memory in bytes (free = total - used)
 *   gpuI.temp=C           temperature in degrees Celsius
 *   gpuI.power_mw=MW, gpuI.power_limit_mw=MW
 *   gpuI.F_error=N        the call for F returns NVML error N, F one of handle, name, uuid,
 *                         util, mem, temp, power, power_limit
 * A reading the script does not give (util, mem, temp, power, power_limit) answers
 * NVML_ERROR_NOT_SUPPORTED, as on boards without that sensor.
 * No script in the environment makes nvmlInit_v2 fail with NVML_ERROR_DRIVER_NOT_LOADED;
 * an unreadable script, an unknown key or a bad number with NVML_ERROR_UNKNOWN (and a
 * line on stderr), so a mistyped test fails loudly. */

#define FAKE_SUCCESS 0
#define FAKE_ERROR_UNINITIALIZED 1
#define FAKE_ERROR_INVALID_ARGUMENT 2
#define FAKE_ERROR_NOT_SUPPORTED 3
#define FAKE_ERROR_INSUFFICIENT_SIZE 7
#define FAKE_ERROR_DRIVER_NOT_LOADED 9
#define FAKE_ERROR_UNKNOWN 999

#define FAKE_MAX_DEVICES 16
#define FAKE_MAX_SEQ 32

enum fake_field {
    FAKE_HANDLE,
    FAKE_NAME,
    FAKE_UUID,
    FAKE_UTIL,
    FAKE_MEM,
    FAKE_TEMP,
    FAKE_POWER,
    FAKE_POWER_LIMIT,
    FAKE_N_FIELDS,
};

static const char *const fake_field_names[FAKE_N_FIELDS] = {
    "handle", "name", "uuid", "util", "mem", "temp", "power", "power_limit",
};

struct nvml_device {
    char name[96];
    char uuid[96];
    unsigned util, mem_util, temp, power_mw, power_limit_mw;
    unsigned util_seq[FAKE_MAX_SEQ];
    unsigned n_util_seq;
    atomic_uint util_calls;
    unsigned long long mem_used, mem_total;
    int error[FAKE_N_FIELDS];
    bool given[FAKE_N_FIELDS]; /* the script set this reading */
};

struct nvml_utilization {
    unsigned gpu, memory;
};

struct nvml_memory {
    unsigned long long total, free, used;
};

static struct nvml_device fake_devices[FAKE_MAX_DEVICES];
static unsigned fake_count;
static int fake_count_error;
static atomic_int fake_refcount;

/* The exported entry points, with the NVML signatures (nvmlDevice_t is an opaque
 * pointer; here it points into fake_devices). The struct tags are those the collector
 * declares, so even a sanitizer that checks function types on indirect calls agrees. */
int nvmlInit_v2(void);
int nvmlShutdown(void);
const char *nvmlErrorString(int result);
int nvmlDeviceGetCount_v2(unsigned *count);
int nvmlDeviceGetHandleByIndex_v2(unsigned index, struct nvml_device **device);
int nvmlDeviceGetName(struct nvml_device *device, char *name, unsigned length);
int nvmlDeviceGetUUID(struct nvml_device *device, char *uuid, unsigned length);
int nvmlDeviceGetUtilizationRates(struct nvml_device *device, struct nvml_utilization *util);
int nvmlDeviceGetMemoryInfo(struct nvml_device *device, struct nvml_memory *memory);
int nvmlDeviceGetTemperature(struct nvml_device *device, int sensor, unsigned *temp);
int nvmlDeviceGetPowerUsage(struct nvml_device *device, unsigned *milliwatts);
int nvmlDeviceGetEnforcedPowerLimit(struct nvml_device *device, unsigned *milliwatts);
/* Test hook, not NVML: how many nvmlInit_v2 calls are not yet matched by nvmlShutdown. */
int fake_nvml_refcount(void);

static int fake_number(const char *s, unsigned long long *ret)
{
    if (*s < '0' || *s > '9')
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

static int fake_unsigned(const char *s, unsigned *ret)
{
    unsigned long long v;
    if (fake_number(s, &v) < 0 || v > 0xffffffffULL)
        return -EINVAL;
    *ret = (unsigned)v;
    return 0;
}

static int fake_error_code(const char *s, int *ret)
{
    unsigned v;
    if (fake_unsigned(s, &v) < 0 || v > 100000)
        return -EINVAL;
    *ret = (int)v;
    return 0;
}

static int fake_util_seq(struct nvml_device *d, const char *value)
{
    d->n_util_seq = 0;
    const char *p = value;
    for (;;) {
        char item[32];
        size_t len = strcspn(p, ",");
        if (len == 0 || len >= sizeof(item) || d->n_util_seq == FAKE_MAX_SEQ)
            return -EINVAL;
        memcpy(item, p, len);
        item[len] = '\0';
        if (fake_unsigned(item, &d->util_seq[d->n_util_seq++]) < 0)
            return -EINVAL;
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

static int fake_device_key(struct nvml_device *d, const char *key, const char *value)
{
    size_t kl = strlen(key);
    if (kl > 6 && strcmp(key + kl - 6, "_error") == 0) {
        for (int f = 0; f < FAKE_N_FIELDS; f++)
            if (strlen(fake_field_names[f]) == kl - 6 &&
                memcmp(key, fake_field_names[f], kl - 6) == 0)
                return fake_error_code(value, &d->error[f]);
        return -EINVAL;
    }
    if (strcmp(key, "name") == 0 || strcmp(key, "uuid") == 0) {
        char *dst = key[0] == 'n' ? d->name : d->uuid;
        if (strlen(value) >= sizeof(d->name))
            return -EINVAL;
        memcpy(dst, value, strlen(value) + 1);
        return 0;
    }
    if (strcmp(key, "util_seq") == 0) {
        d->given[FAKE_UTIL] = true;
        return fake_util_seq(d, value);
    }
    if (strcmp(key, "mem_used") == 0 || strcmp(key, "mem_total") == 0) {
        d->given[FAKE_MEM] = true;
        return fake_number(value, key[4] == 'u' ? &d->mem_used : &d->mem_total);
    }
    static const struct {
        const char *key;
        size_t offset;
        enum fake_field field;
    } uints[] = {
        {"util", offsetof(struct nvml_device, util), FAKE_UTIL},
        {"mem_util", offsetof(struct nvml_device, mem_util), FAKE_UTIL},
        {"temp", offsetof(struct nvml_device, temp), FAKE_TEMP},
        {"power_mw", offsetof(struct nvml_device, power_mw), FAKE_POWER},
        {"power_limit_mw", offsetof(struct nvml_device, power_limit_mw), FAKE_POWER_LIMIT},
    };
    for (size_t i = 0; i < sizeof(uints) / sizeof(uints[0]); i++)
        if (strcmp(key, uints[i].key) == 0) {
            d->given[uints[i].field] = true;
            return fake_unsigned(value, (unsigned *)((char *)d + uints[i].offset));
        }
    return -EINVAL;
}

static int fake_key(char *key, const char *value, int *init_error)
{
    if (strcmp(key, "init_error") == 0)
        return fake_error_code(value, init_error);
    if (strcmp(key, "count_error") == 0)
        return fake_error_code(value, &fake_count_error);
    if (strcmp(key, "count") == 0) {
        if (fake_unsigned(value, &fake_count) < 0 || fake_count > FAKE_MAX_DEVICES)
            return -EINVAL;
        return 0;
    }
    if (strncmp(key, "gpu", 3) != 0)
        return -EINVAL;
    char *dot = strchr(key, '.');
    if (!dot)
        return -EINVAL;
    *dot = '\0';
    unsigned index;
    if (fake_unsigned(key + 3, &index) < 0 || index >= FAKE_MAX_DEVICES)
        return -EINVAL;
    return fake_device_key(&fake_devices[index], dot + 1, value);
}

static void fake_reset(void)
{
    fake_count = 0;
    fake_count_error = 0;
    for (unsigned i = 0; i < FAKE_MAX_DEVICES; i++) {
        struct nvml_device *d = &fake_devices[i];
        memset(d->name, 0, sizeof(d->name));
        snprintf(d->name, sizeof(d->name), "Fake GPU %u", i);
        snprintf(d->uuid, sizeof(d->uuid), "GPU-00000000-0000-0000-0000-%012u", i);
        d->util = d->mem_util = d->temp = d->power_mw = d->power_limit_mw = 0;
        d->n_util_seq = 0;
        atomic_store(&d->util_calls, 0);
        d->mem_used = d->mem_total = 0;
        memset(d->error, 0, sizeof(d->error));
        memset(d->given, 0, sizeof(d->given));
    }
}

/* Returns the NVML result nvmlInit_v2 should give. */
static int fake_load(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "fake_nvml: %s: %s\n", path, strerror(errno));
        return FAKE_ERROR_UNKNOWN;
    }
    int init_error = FAKE_SUCCESS, result = FAKE_SUCCESS;
    char line[512];
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        char *eq = strchr(line, '=');
        if (eq)
            *eq = '\0';
        if (!eq || fake_key(line, eq + 1, &init_error) < 0) {
            fprintf(stderr, "fake_nvml: %s:%u: bad line\n", path, lineno);
            result = FAKE_ERROR_UNKNOWN;
            break;
        }
    }
    fclose(f);
    return result != FAKE_SUCCESS ? result : init_error;
}

int nvmlInit_v2(void)
{
    /* Like NVML, initialisation is reference counted; the script is read by the first. */
    if (atomic_load(&fake_refcount) > 0) {
        atomic_fetch_add(&fake_refcount, 1);
        return FAKE_SUCCESS;
    }
    fake_reset();
    const char *path = getenv("HOMEOSTAT_FAKE_NVML_SCRIPT");
    int r = path && *path ? fake_load(path) : FAKE_ERROR_DRIVER_NOT_LOADED;
    if (r == FAKE_SUCCESS)
        atomic_fetch_add(&fake_refcount, 1);
    return r;
}

int nvmlShutdown(void)
{
    if (atomic_load(&fake_refcount) <= 0)
        return FAKE_ERROR_UNINITIALIZED;
    atomic_fetch_sub(&fake_refcount, 1);
    return FAKE_SUCCESS;
}

int fake_nvml_refcount(void)
{
    return atomic_load(&fake_refcount);
}

const char *nvmlErrorString(int result)
{
    switch (result) {
    case 0: return "Success";
    case 1: return "Uninitialized";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 4: return "Insufficient Permissions";
    case 7: return "Insufficient Size";
    case 9: return "Driver Not Loaded";
    case 15: return "GPU is lost";
    case 16: return "GPU requires restart";
    case 21: return "No data";
    default: return "Unknown Error";
    }
}

/* Checks the library state and device handle; returns the error the call should give
 * for field, or FAKE_SUCCESS. */
static int fake_check(const struct nvml_device *d, enum fake_field field)
{
    if (atomic_load(&fake_refcount) <= 0)
        return FAKE_ERROR_UNINITIALIZED;
    if (!d || d < fake_devices || d >= fake_devices + fake_count)
        return FAKE_ERROR_INVALID_ARGUMENT;
    if (d->error[field])
        return d->error[field];
    if (field >= FAKE_UTIL && !d->given[field])
        return FAKE_ERROR_NOT_SUPPORTED;
    return FAKE_SUCCESS;
}

int nvmlDeviceGetCount_v2(unsigned *count)
{
    if (atomic_load(&fake_refcount) <= 0)
        return FAKE_ERROR_UNINITIALIZED;
    if (!count)
        return FAKE_ERROR_INVALID_ARGUMENT;
    if (fake_count_error)
        return fake_count_error;
    *count = fake_count;
    return FAKE_SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned index, struct nvml_device **device)
{
    if (atomic_load(&fake_refcount) <= 0)
        return FAKE_ERROR_UNINITIALIZED;
    if (index >= fake_count || !device)
        return FAKE_ERROR_INVALID_ARGUMENT;
    if (fake_devices[index].error[FAKE_HANDLE])
        return fake_devices[index].error[FAKE_HANDLE];
    *device = &fake_devices[index];
    return FAKE_SUCCESS;
}

static int fake_string(const struct nvml_device *d, enum fake_field field, const char *value,
                       char *out, unsigned length)
{
    int r = fake_check(d, field);
    if (r != FAKE_SUCCESS)
        return r;
    if (!out)
        return FAKE_ERROR_INVALID_ARGUMENT;
    if (strlen(value) >= length)
        return FAKE_ERROR_INSUFFICIENT_SIZE;
    memcpy(out, value, strlen(value) + 1);
    return FAKE_SUCCESS;
}

int nvmlDeviceGetName(struct nvml_device *device, char *name, unsigned length)
{
    return fake_string(device, FAKE_NAME, device ? device->name : "", name, length);
}

int nvmlDeviceGetUUID(struct nvml_device *device, char *uuid, unsigned length)
{
    return fake_string(device, FAKE_UUID, device ? device->uuid : "", uuid, length);
}

int nvmlDeviceGetUtilizationRates(struct nvml_device *device, struct nvml_utilization *util)
{
    int r = fake_check(device, FAKE_UTIL);
    if (r != FAKE_SUCCESS)
        return r;
    if (!util)
        return FAKE_ERROR_INVALID_ARGUMENT;
    util->gpu = device->util;
    if (device->n_util_seq) {
        unsigned call = atomic_fetch_add(&device->util_calls, 1);
        util->gpu = device->util_seq[call % device->n_util_seq];
    }
    util->memory = device->mem_util;
    return FAKE_SUCCESS;
}

int nvmlDeviceGetMemoryInfo(struct nvml_device *device, struct nvml_memory *memory)
{
    int r = fake_check(device, FAKE_MEM);
    if (r != FAKE_SUCCESS)
        return r;
    if (!memory)
        return FAKE_ERROR_INVALID_ARGUMENT;
    memory->total = device->mem_total;
    memory->used = device->mem_used;
    memory->free = device->mem_total > device->mem_used ? device->mem_total - device->mem_used : 0;
    return FAKE_SUCCESS;
}

int nvmlDeviceGetTemperature(struct nvml_device *device, int sensor, unsigned *temp)
{
    int r = fake_check(device, FAKE_TEMP);
    if (r != FAKE_SUCCESS)
        return r;
    if (sensor != 0 || !temp) /* NVML_TEMPERATURE_GPU is the only sensor */
        return FAKE_ERROR_INVALID_ARGUMENT;
    *temp = device->temp;
    return FAKE_SUCCESS;
}

int nvmlDeviceGetPowerUsage(struct nvml_device *device, unsigned *milliwatts)
{
    int r = fake_check(device, FAKE_POWER);
    if (r != FAKE_SUCCESS)
        return r;
    if (!milliwatts)
        return FAKE_ERROR_INVALID_ARGUMENT;
    *milliwatts = device->power_mw;
    return FAKE_SUCCESS;
}

int nvmlDeviceGetEnforcedPowerLimit(struct nvml_device *device, unsigned *milliwatts)
{
    int r = fake_check(device, FAKE_POWER_LIMIT);
    if (r != FAKE_SUCCESS)
        return r;
    if (!milliwatts)
        return FAKE_ERROR_INVALID_ARGUMENT;
    *milliwatts = device->power_limit_mw;
    return FAKE_SUCCESS;
}
