/* scrape: per-collector worker threads with time budgets and coalesced
 * collections (see scrape.h). */
#include "scrape.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "parse.h"

#define SCRAPE_MAX_SAMPLES_PER_COLLECTOR 500000
#define SCRAPE_MAX_OUTPUT_BYTES (256u << 20)

struct worker {
    struct scraper *scraper;
    const struct collector *c;
    void *state;
    bool inline_run; /* runs on the scraping thread: no thread of its own */
    pthread_t thread;
    pthread_cond_t cond; /* a new job was posted */
    /* Protected by scraper->lock: */
    uint64_t job_gen, ran_gen;
    bool busy;
    struct mset *result;
    int result_rc;
    uint64_t result_gen;
    double result_seconds;
    int last_rc; /* for logging transitions once */
    bool detached;
};

struct generation {
    int refs; /* protected by scraper->lock */
    struct mset **sets;
    size_t n_sets;
    pthread_mutex_t render_lock;
    struct buf rendered[2][2]; /* [format][gzip] */
    bool have[2][2];
    int render_rc[2][2];
};

struct scraper {
    const struct exporter_config *cfg;
    struct registry *registry;
    struct worker **workers; /* each its own allocation: a stuck one may outlive us */
    size_t n_workers;
    pthread_mutex_t lock;
    pthread_cond_t done_cond; /* a collection finished or a worker returned */
    bool stopping;
    int refs; /* 1 for the owner + 1 per worker left behind at shutdown */
    uint64_t started, done;
    uint64_t collecting_gen; /* generation whose results workers may still hand in */
    bool running;
    struct generation *latest;
    struct metric *m_scrapes, *m_collections;
    scrape_source_fn sources[4];
    void *source_data[4];
    size_t n_sources;
};

int scraper_add_source(struct scraper *s, scrape_source_fn fn, void *userdata)
{
    if (s->n_sources == 4)
        return -E2BIG;
    s->sources[s->n_sources] = fn;
    s->source_data[s->n_sources++] = userdata;
    return 0;
}

static void generation_unref_locked(struct generation *g)
{
    if (!g || --g->refs > 0)
        return;
    size_t bytes = 0;
    for (int f = 0; f < 2; f++)
        for (int z = 0; z < 2; z++)
            bytes += g->rendered[f][z].cap;
    for (size_t i = 0; i < g->n_sets; i++)
        mset_free(g->sets[i]);
    free(g->sets);
    for (int f = 0; f < 2; f++)
        for (int z = 0; z < 2; z++)
            buf_free(&g->rendered[f][z]);
    pthread_mutex_destroy(&g->render_lock);
    free(g);
    /* A big scrape (tens of thousands of ingested series) leaves megabytes of freed
     * arena chunks that glibc would otherwise keep: give them back. */
    if (bytes > (1u << 20))
        malloc_trim(0);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct scraper *s = w->scraper;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->stopping && w->job_gen == w->ran_gen)
            pthread_cond_wait(&w->cond, &s->lock);
        if (s->stopping) {
            /* A job posted but never started is not running: say so. */
            w->busy = false;
            pthread_cond_broadcast(&s->done_cond);
            break;
        }
        uint64_t gen = w->job_gen;
        pthread_mutex_unlock(&s->lock);

        struct mset *m = mset_new();
        int rc = -ENOMEM;
        uint64_t t0 = now_usec();
        if (m) {
            m->max_samples = SCRAPE_MAX_SAMPLES_PER_COLLECTOR;
            rc = w->c->collect(w->state, m);
        }
        double seconds = (double)(now_usec() - t0) / 1e6;

        pthread_mutex_lock(&s->lock);
        w->ran_gen = gen;
        w->busy = false;
        if (s->collecting_gen == gen) {
            mset_free(w->result);
            w->result = m;
            w->result_rc = rc;
            w->result_gen = gen;
            w->result_seconds = seconds;
        } else {
            log_notice("collector %s: finished after %.3fs, past its budget; result dropped",
                       w->c->name, seconds);
            mset_free(m);
        }
        pthread_cond_broadcast(&s->done_cond);
    }
    bool detached = w->detached;
    bool last = detached && --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (detached) {
        /* The scraper is gone: this worker owns its collector state now, and the
         * last one out frees the scraper's shell. */
        if (w->c->cleanup)
            w->c->cleanup(w->state);
        mset_free(w->result);
        pthread_cond_destroy(&w->cond);
        free(w);
        if (last) {
            pthread_cond_destroy(&s->done_cond);
            pthread_mutex_destroy(&s->lock);
            free(s);
        }
    }
    return NULL;
}

int scraper_new(const struct exporter_config *cfg, struct registry *reg, struct scraper **ret)
{
    return scraper_new_with(cfg, reg, collector_table, collector_count, ret);
}

int scraper_new_with(const struct exporter_config *cfg, struct registry *reg,
                     const struct collector *const *table, size_t n, struct scraper **ret)
{
    if (n > EXPORTER_MAX_COLLECTORS)
        return -E2BIG;
    struct scraper *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->cfg = cfg;
    s->registry = reg;
    s->refs = 1;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->done_cond, NULL);
    s->workers = calloc(n ? n : 1, sizeof(*s->workers));
    if (!s->workers) {
        free(s);
        return -ENOMEM;
    }
    s->m_scrapes = registry_metric(reg, "homeostat_exporter_scrapes_total", METRIC_COUNTER,
                                   "Scrapes of the telemetry path served.");
    s->m_collections = registry_metric(reg, "homeostat_exporter_collections_total", METRIC_COUNTER,
                                       "Collections run; concurrent scrapes share one collection.");
    for (size_t i = 0; i < n; i++) {
        const struct collector *c = table[i];
        if (!cfg->enabled[i])
            continue;
        void *state = NULL;
        collector_take_reason();
        int r = c->init ? c->init(cfg, &state) : 0;
        if (r < 0) {
            const char *why = collector_take_reason();
            if (why)
                log_warning("collector %s: disabled: %s", c->name, why);
            else
                log_warning_errno(r, "collector %s: disabled, initialisation failed", c->name);
            continue;
        }
        struct worker *w = calloc(1, sizeof(*w));
        if (!w) {
            if (c->cleanup)
                c->cleanup(state);
            scraper_free(s);
            return -ENOMEM;
        }
        w->scraper = s;
        w->c = c;
        w->state = state;
        w->inline_run = !c->may_block;
        pthread_cond_init(&w->cond, NULL);
        s->workers[s->n_workers++] = w;
    }
    struct worker **ptrs = s->workers;
    for (size_t i = 0; i < s->n_workers; i++) {
        if (ptrs[i]->inline_run)
            continue;
        int r = -pthread_create(&ptrs[i]->thread, NULL, worker_main, ptrs[i]);
        if (r < 0) {
            log_error_errno(r, "scrape: cannot start the worker of collector %s", ptrs[i]->c->name);
            for (size_t j = i; j < s->n_workers; j++) {
                if (ptrs[j]->c->cleanup)
                    ptrs[j]->c->cleanup(ptrs[j]->state);
                pthread_cond_destroy(&ptrs[j]->cond);
                free(ptrs[j]);
            }
            s->n_workers = i;
            scraper_free(s);
            return r;
        }
    }
    *ret = s;
    return 0;
}

#define WORKER(s, i) ((s)->workers[i])

void scraper_free(struct scraper *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    for (size_t i = 0; i < s->n_workers; i++)
        pthread_cond_signal(&WORKER(s, i)->cond);
    /* Give running collections a moment, then leave stuck ones behind. */
    uint64_t deadline = now_usec() + 1000000;
    for (;;) {
        bool any = false;
        for (size_t i = 0; i < s->n_workers; i++)
            any |= WORKER(s, i)->busy;
        if (!any || now_usec() >= deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->done_cond, &s->lock, &ts);
    }
    for (size_t i = 0; i < s->n_workers; i++) {
        struct worker *w = WORKER(s, i);
        if (w->busy) {
            log_warning("collector %s: still running at shutdown; left behind", w->c->name);
            w->detached = true;
            s->refs++;
            pthread_detach(w->thread);
            WORKER(s, i) = NULL;
        }
    }
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < s->n_workers; i++) {
        struct worker *w = WORKER(s, i);
        if (!w)
            continue;
        if (!w->inline_run)
            pthread_join(w->thread, NULL);
        if (w->c->cleanup)
            w->c->cleanup(w->state);
        mset_free(w->result);
        pthread_cond_destroy(&w->cond);
        free(w);
    }
    /* Workers left behind still use the lock: the last of them frees the shell. */
    free(s->workers);
    s->workers = NULL;
    s->n_workers = 0;
    pthread_mutex_lock(&s->lock);
    generation_unref_locked(s->latest);
    s->latest = NULL;
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (!last)
        return;
    pthread_cond_destroy(&s->done_cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Runs one collection; called with s->lock held and s->running set, returns with it
 * held. The new generation replaces s->latest. */
static void collect_locked(struct scraper *s, uint64_t gen)
{
    uint64_t t0 = now_usec();
    bool dispatched[EXPORTER_MAX_COLLECTORS] = {false};
    s->collecting_gen = gen;
    for (size_t i = 0; i < s->n_workers; i++) {
        struct worker *w = WORKER(s, i);
        if (w->inline_run || w->busy)
            continue; /* inline below, or still stuck in an earlier collection */
        w->busy = true;
        w->job_gen = gen;
        dispatched[i] = true;
        pthread_cond_signal(&w->cond);
    }
    /* Inline collectors run here while the blocking ones work on their threads.
     * `running` keeps collections exclusive, so the lock can be dropped. */
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < s->n_workers; i++) {
        struct worker *w = WORKER(s, i);
        if (!w->inline_run)
            continue;
        struct mset *m = mset_new();
        int rc = -ENOMEM;
        uint64_t c0 = now_usec();
        if (m) {
            m->max_samples = SCRAPE_MAX_SAMPLES_PER_COLLECTOR;
            rc = w->c->collect(w->state, m);
        }
        w->result_seconds = (double)(now_usec() - c0) / 1e6;
        mset_free(w->result);
        w->result = m;
        w->result_rc = rc;
        w->result_gen = gen;
        dispatched[i] = true;
    }
    pthread_mutex_lock(&s->lock);
    uint64_t deadline = t0 + s->cfg->collector_timeout_usec;
    for (;;) {
        bool pending = false;
        for (size_t i = 0; i < s->n_workers; i++)
            pending |= dispatched[i] && WORKER(s, i)->result_gen != gen;
        uint64_t now = now_usec();
        if (!pending || now >= deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait = deadline - now;
        ts.tv_sec += (time_t)(wait / 1000000);
        ts.tv_nsec += (long)(wait % 1000000) * 1000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->done_cond, &s->lock, &ts);
    }

    s->collecting_gen = 0; /* from here on, late results are dropped */
    struct generation *g = calloc(1, sizeof(*g));
    struct mset *frame = mset_new();
    size_t cap = s->n_workers + 2 + s->n_sources;
    if (g)
        g->sets = calloc(cap, sizeof(*g->sets));
    if (!g || !frame || !g->sets) {
        if (g)
            free(g->sets);
        free(g);
        mset_free(frame);
        for (size_t i = 0; i < s->n_workers; i++) {
            mset_free(WORKER(s, i)->result);
            WORKER(s, i)->result = NULL;
        }
        return; /* keep the previous generation; callers see it as the result */
    }
    g->refs = 1;
    pthread_mutex_init(&g->render_lock, NULL);
    for (int f = 0; f < 2; f++)
        for (int z = 0; z < 2; z++)
            buf_init(&g->rendered[f][z], SCRAPE_MAX_OUTPUT_BYTES);

    mset_family(frame, "homeostat_collector_success", METRIC_GAUGE,
                "Whether the collector succeeded in this scrape (1) or not (0).");
    for (size_t i = 0; i < s->n_workers; i++) {
        struct worker *w = WORKER(s, i);
        int rc;
        if (!dispatched[i])
            rc = -EBUSY;
        else if (w->result_gen != gen)
            rc = -ETIMEDOUT;
        else
            rc = w->result_rc;
        mset_addl(frame, rc >= 0 ? 1 : 0, "collector", w->c->name, NULL);
        if (rc < 0 && w->last_rc >= 0)
            log_warning_errno(rc, "collector %s: collection failed", w->c->name);
        else if (rc >= 0 && w->last_rc < 0)
            log_info("collector %s: collecting again", w->c->name);
        w->last_rc = rc;
    }
    mset_family(frame, "homeostat_collector_duration_seconds", METRIC_GAUGE,
                "Time the collector took in this scrape; the budget when it overran.");
    for (size_t i = 0; i < s->n_workers; i++) {
        struct worker *w = WORKER(s, i);
        double secs = dispatched[i] && w->result_gen == gen
                          ? w->result_seconds
                          : (double)s->cfg->collector_timeout_usec / 1e6;
        mset_addl(frame, secs, "collector", w->c->name, NULL);
        if (dispatched[i] && w->result_gen == gen && w->result) {
            g->sets[g->n_sets++] = w->result;
            w->result = NULL;
        }
    }
    metric_add(s->m_collections, 1);
    g->sets[g->n_sets++] = frame;
    /* The registry (self metrics, sampled histograms) is read without s->lock. */
    struct mset *regset = mset_new();
    struct mset *srcsets[4] = {NULL};
    pthread_mutex_unlock(&s->lock);
    if (regset)
        registry_collect(s->registry, regset);
    for (size_t i = 0; i < s->n_sources; i++) {
        srcsets[i] = mset_new();
        if (srcsets[i] && s->sources[i](s->source_data[i], srcsets[i]) < 0)
            log_debug("scrape: a metric source failed; its partial output is kept");
    }
    pthread_mutex_lock(&s->lock);
    if (regset)
        g->sets[g->n_sets++] = regset;
    for (size_t i = 0; i < s->n_sources; i++)
        if (srcsets[i])
            g->sets[g->n_sets++] = srcsets[i];
    generation_unref_locked(s->latest);
    s->latest = g;
}

int scraper_scrape(struct scraper *s, enum expo_format fmt, bool gzip, struct buf *out)
{
    metric_add(s->m_scrapes, 1);
    pthread_mutex_lock(&s->lock);
    uint64_t target = s->started + 1;
    while (s->done < target) {
        if (!s->running) {
            s->running = true;
            uint64_t gen = ++s->started;
            collect_locked(s, gen);
            s->done = gen;
            s->running = false;
            pthread_cond_broadcast(&s->done_cond);
            continue;
        }
        pthread_cond_wait(&s->done_cond, &s->lock);
    }
    struct generation *g = s->latest;
    if (!g) {
        pthread_mutex_unlock(&s->lock);
        return -ENOMEM;
    }
    g->refs++;
    pthread_mutex_unlock(&s->lock);

    int f = fmt == EXPO_OPENMETRICS, z = gzip ? 1 : 0;
    pthread_mutex_lock(&g->render_lock);
    if (!g->have[f][0]) {
        g->render_rc[f][0] = expo_render(&g->rendered[f][0], fmt, g->sets, g->n_sets, NULL);
        g->have[f][0] = true;
    }
    if (z && !g->have[f][1] && g->render_rc[f][0] >= 0) {
        g->render_rc[f][1] =
            expo_gzip(&g->rendered[f][1], g->rendered[f][0].data, g->rendered[f][0].len, 1);
        g->have[f][1] = true;
    }
    int rc = g->render_rc[f][z];
    if (rc >= 0) {
        buf_reset(out);
        rc = buf_append(out, g->rendered[f][z].data ? g->rendered[f][z].data : "",
                        g->rendered[f][z].len);
    }
    pthread_mutex_unlock(&g->render_lock);

    pthread_mutex_lock(&s->lock);
    generation_unref_locked(g);
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int scraper_gpu_sample(struct scraper *s, struct gpu_sample *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_workers && n < max; i++) {
        struct worker *w = WORKER(s, i);
        if (!w || !w->c->sample)
            continue;
        int r = w->c->sample(w->state, out + n, max - n);
        if (r > 0)
            n += (size_t)r;
    }
    return (int)n;
}

size_t scraper_enabled_names(const struct scraper *s, const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_workers && n < max; i++)
        names[n++] = WORKER(s, i)->c->name;
    return n;
}
