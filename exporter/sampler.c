/* sampler: sub-scrape-interval histograms of CPU, memory and GPU busy ratios. */
#include "sampler.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "parse.h"

#define SAMPLER_MAX_GPUS 64
#define SAMPLER_READ_MAX 8192

const double sampler_ratio_buckets[] = {0.05, 0.1,  0.2, 0.3,  0.4,  0.5,  0.6, 0.7,
                                        0.8,  0.85, 0.9, 0.95, 0.98, 0.99, 1.0};
const size_t sampler_ratio_bucket_count =
    sizeof(sampler_ratio_buckets) / sizeof(sampler_ratio_buckets[0]);

struct sampler {
    const struct exporter_config *cfg;
    struct registry *reg;
    struct scraper *scr;
    int stat_fd, meminfo_fd;
    char stat_path[PATH_MAX], meminfo_path[PATH_MAX];
    unsigned long long last_busy, last_total;
    bool have_last;
    struct metric *cpu, *mem;
    struct rfamily *gpu;
    struct metric *samples, *overruns, *cpu_seconds;
    struct rfamily *errors;
    pthread_t thread;
    bool thread_running;
    atomic_bool stop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

int sampler_parse_cpu(const char *stat, unsigned long long *ret_busy, unsigned long long *ret_total)
{
    if (strncmp(stat, "cpu ", 4) != 0)
        return -EINVAL;
    const char *p = stat + 4;
    unsigned long long v[10] = {0};
    int n = 0;
    while (n < 10) {
        while (*p == ' ')
            p++;
        if (*p < '0' || *p > '9')
            break;
        char *end;
        errno = 0;
        v[n] = strtoull(p, &end, 10);
        if (errno == ERANGE)
            return -EINVAL;
        p = end;
        n++;
    }
    if (n < 4 || (*p != '\n' && *p != ' ' && *p != '\0'))
        return -EINVAL;
    /* user nice system idle iowait irq softirq steal guest guest_nice; guest time is
     * already part of user and nice. */
    unsigned long long total = 0;
    for (int i = 0; i < n && i < 8; i++)
        total += v[i];
    unsigned long long idle = v[3] + (n > 4 ? v[4] : 0);
    *ret_busy = total - idle;
    *ret_total = total;
    return 0;
}

static int meminfo_kb(const char *text, const char *key, unsigned long long *ret)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
            const char *q = p + kl + 1;
            while (*q == ' ')
                q++;
            if (*q < '0' || *q > '9')
                return -EINVAL;
            char *end;
            errno = 0;
            unsigned long long v = strtoull(q, &end, 10);
            if (errno == ERANGE)
                return -EINVAL;
            *ret = v;
            return 0;
        }
    }
    return -ENOENT;
}

int sampler_parse_memory(const char *meminfo, double *ret_used_ratio)
{
    unsigned long long total, avail;
    if (meminfo_kb(meminfo, "MemTotal", &total) < 0 ||
        meminfo_kb(meminfo, "MemAvailable", &avail) < 0 || total == 0 || avail > total)
        return -EINVAL;
    *ret_used_ratio = 1.0 - (double)avail / (double)total;
    return 0;
}

/* Reads a /proc file from offset 0 through a descriptor kept open. */
static long reread(int *fd, const char *path, char *buf, size_t max)
{
    if (*fd < 0) {
        *fd = open(path, O_RDONLY | O_CLOEXEC);
        if (*fd < 0)
            return -errno;
    }
    ssize_t n = pread(*fd, buf, max, 0);
    if (n < 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        return -e;
    }
    buf[n] = '\0';
    return n;
}

static void count_error(struct sampler *s, const char *source)
{
    struct metric *m = registry_series(s->errors, (const char *const[]){source, NULL});
    if (m)
        metric_add(m, 1);
}

int sampler_tick(struct sampler *s)
{
    char buf[SAMPLER_READ_MAX + 1];
    int ret = 0;
    unsigned long long busy, total;
    /* Only the first line is needed; a short read of a big /proc/stat is fine. */
    long n = reread(&s->stat_fd, s->stat_path, buf, SAMPLER_READ_MAX);
    if (n < 0 || sampler_parse_cpu(buf, &busy, &total) < 0) {
        count_error(s, "cpu");
        ret = -EINVAL;
    } else {
        if (s->have_last && total > s->last_total && busy >= s->last_busy) {
            double ratio = (double)(busy - s->last_busy) / (double)(total - s->last_total);
            metric_observe(s->cpu, ratio > 1 ? 1 : ratio);
        }
        s->last_busy = busy;
        s->last_total = total;
        s->have_last = true;
    }
    double used;
    n = reread(&s->meminfo_fd, s->meminfo_path, buf, SAMPLER_READ_MAX);
    if (n < 0 || sampler_parse_memory(buf, &used) < 0) {
        count_error(s, "memory");
        ret = -EINVAL;
    } else {
        metric_observe(s->mem, used);
    }
    if (s->scr) {
        struct gpu_sample gs[SAMPLER_MAX_GPUS];
        int k = scraper_gpu_sample(s->scr, gs, SAMPLER_MAX_GPUS);
        for (int i = 0; i < k; i++) {
            struct metric *m = registry_series(s->gpu, (const char *const[]){gs[i].gpu, NULL});
            double r = gs[i].busy_ratio;
            if (m && r >= 0)
                metric_observe(m, r > 1 ? 1 : r);
        }
    }
    metric_add(s->samples, 1);
    return ret;
}

int sampler_new(const struct exporter_config *cfg, struct registry *reg, struct scraper *scr,
                struct sampler **ret)
{
    struct sampler *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->cfg = cfg;
    s->reg = reg;
    s->scr = scr;
    s->stat_fd = s->meminfo_fd = -1;
    if (path_join(s->stat_path, sizeof(s->stat_path), cfg->procfs, "stat") < 0 ||
        path_join(s->meminfo_path, sizeof(s->meminfo_path), cfg->procfs, "meminfo") < 0) {
        free(s);
        return -ENAMETOOLONG;
    }
    const double *b = sampler_ratio_buckets;
    size_t nb = sampler_ratio_bucket_count;
    struct rfamily *cpu = registry_family(
        reg, "homeostat_cpu_busy_ratio", METRIC_HISTOGRAM,
        "Share of CPU time not idle, sampled every --sampler.interval.", NULL, b, nb);
    struct rfamily *mem = registry_family(
        reg, "homeostat_memory_used_ratio", METRIC_HISTOGRAM,
        "1 - MemAvailable/MemTotal, sampled every --sampler.interval.", NULL, b, nb);
    s->gpu = registry_family(reg, "homeostat_gpu_busy_ratio", METRIC_HISTOGRAM,
                             "GPU busy ratio, sampled every --sampler.interval.",
                             (const char *const[]){"gpu", NULL}, b, nb);
    s->errors = registry_family(reg, "homeostat_sampler_errors_total", METRIC_COUNTER,
                                "Samples that could not be read, by source.",
                                (const char *const[]){"source", NULL}, NULL, 0);
    s->samples = registry_metric(reg, "homeostat_sampler_samples_total", METRIC_COUNTER,
                                 "Sampler ticks run.");
    s->overruns = registry_metric(reg, "homeostat_sampler_overruns_total", METRIC_COUNTER,
                                  "Sampler ticks skipped because a tick ran late.");
    s->cpu_seconds = registry_metric(reg, "homeostat_sampler_cpu_seconds_total", METRIC_COUNTER,
                                     "CPU time used by the sampler thread.");
    if (!cpu || !mem || !s->gpu || !s->errors || !s->samples || !s->overruns || !s->cpu_seconds) {
        free(s);
        return -ENOMEM;
    }
    s->cpu = registry_series(cpu, NULL);
    s->mem = registry_series(mem, NULL);
    if (!s->cpu || !s->mem) {
        free(s);
        return -ENOMEM;
    }
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    *ret = s;
    return 0;
}

static double thread_cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sampler_main(void *arg)
{
    struct sampler *s = arg;
    uint64_t interval = s->cfg->sampler_interval_usec;
    uint64_t next = now_usec();
    double cpu_before = thread_cpu_seconds();
    bool failing = false;
    pthread_mutex_lock(&s->lock);
    while (!atomic_load(&s->stop)) {
        pthread_mutex_unlock(&s->lock);
        int r = sampler_tick(s);
        if (r < 0 && !failing)
            log_warning("sampler: cannot read %s or %s; counting errors", s->stat_path,
                        s->meminfo_path);
        failing = r < 0;
        double cpu_now = thread_cpu_seconds();
        metric_add(s->cpu_seconds, cpu_now - cpu_before);
        cpu_before = cpu_now;
        next += interval;
        uint64_t now = now_usec();
        if (now > next) {
            /* Late (suspended, overloaded): skip missed ticks, keep the phase. */
            uint64_t missed = (now - next) / interval + 1;
            metric_add(s->overruns, (double)missed);
            next += missed * interval;
        }
        pthread_mutex_lock(&s->lock);
        /* Sleep until the next tick; sampler_stop() wakes us early. */
        while (!atomic_load(&s->stop)) {
            now = now_usec();
            if (now >= next)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait = next - now;
            ts.tv_sec += (time_t)(wait / 1000000);
            ts.tv_nsec += (long)(wait % 1000000) * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->cond, &s->lock, &ts);
        }
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

int sampler_start(const struct exporter_config *cfg, struct registry *reg, struct scraper *scr,
                  struct sampler **ret)
{
    struct sampler *s;
    int r = sampler_new(cfg, reg, scr, &s);
    if (r < 0)
        return r;
    if (cfg->sampler_interval_usec > 0) {
        r = -pthread_create(&s->thread, NULL, sampler_main, s);
        if (r < 0) {
            sampler_stop(s);
            return r;
        }
        s->thread_running = true;
    }
    *ret = s;
    return 0;
}

void sampler_stop(struct sampler *s)
{
    if (!s)
        return;
    if (s->thread_running) {
        pthread_mutex_lock(&s->lock);
        atomic_store(&s->stop, true);
        pthread_cond_signal(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    if (s->stat_fd >= 0)
        close(s->stat_fd);
    if (s->meminfo_fd >= 0)
        close(s->meminfo_fd);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
