/* test-scrape: exporter/scrape.c with a table of fake collectors: per-collector
 * success and duration metrics, the time budget of a stuck collector (the scrape
 * does not wait for it, later scrapes skip it until it returns), coalescing of
 * concurrent scrapes (every response collected after its request), one generation
 * shared by the formats, and scraper_free() with a collector still stuck. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "expo.h"
#include "parse.h"
#include "registry.h"
#include "scrape.h"
#include "test.h"

/* --- a gate a fake collector can block on ---------------------------------------- */

struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
};

#define GATE_MAX_WAIT_SEC 10 /* a safety net: tests open their gates long before */

/* Number of sample lines whose name and labels are exactly series. */
static int count_series(const char *text, const char *series)
{
    size_t sl = strlen(series);
    int n = 0;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, sl) == 0 && p[sl] == ' ')
            n++;
    return n;
}

static void gate_set(struct gate *g, bool open)
{
    pthread_mutex_lock(&g->lock);
    g->open = open;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static void gate_wait(struct gate *g)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += GATE_MAX_WAIT_SEC;
    pthread_mutex_lock(&g->lock);
    while (!g->open)
        if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&g->lock);
}

/* Polls until *v >= want or timeout_usec passes; returns whether it got there. */
static bool wait_for(atomic_int *v, int want, uint64_t timeout_usec)
{
    uint64_t deadline = now_usec() + timeout_usec;
    while (atomic_load(v) < want) {
        if (now_usec() >= deadline)
            return false;
        usleep(1000);
    }
    return true;
}

/* --- fake collectors ------------------------------------------------------------------- */

/* fast: counts its collections; the count it saw is its only sample. */
static atomic_int fast_seq, fast_inits, fast_cleanups;

static int fast_init(const struct exporter_config *cfg, void **ret_state)
{
    int *state = malloc(sizeof(int)); /* freed by cleanup: ASan checks it happens */
    if (!state)
        return -ENOMEM;
    *state = 0;
    *ret_state = state;
    atomic_fetch_add(&fast_inits, 1);
    return 0;
}

static int fast_collect(void *state, struct mset *out)
{
    int *n = state;
    int seq = atomic_fetch_add(&fast_seq, 1) + 1;
    (*n)++;
    int r = mset_family(out, "test_seq", METRIC_GAUGE, "Collections of the fast collector.");
    if (r >= 0)
        r = mset_addl(out, seq, NULL);
    return r;
}

static void fast_cleanup(void *state)
{
    free(state);
    atomic_fetch_add(&fast_cleanups, 1);
}

static const struct collector fake_fast = {
    .name = "fast",
    .init = fast_init,
    .collect = fast_collect,
    .cleanup = fast_cleanup,
};

/* failing: adds a sample, then fails. */
static int failing_collect(void *state, struct mset *out)
{
    mset_family(out, "test_failing_partial", METRIC_GAUGE, "Added before failing.");
    mset_addl(out, 1, NULL);
    return -EIO;
}

static const struct collector fake_failing = {.name = "failing", .collect = failing_collect};

/* slow: when armed, blocks on slow_gate (a collector stuck in a read). */
static struct gate slow_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
static atomic_bool slow_armed;
static atomic_int slow_calls, slow_entered, slow_returned, slow_cleanups;

static int slow_collect(void *state, struct mset *out)
{
    int call = atomic_fetch_add(&slow_calls, 1) + 1;
    if (atomic_load(&slow_armed)) {
        atomic_fetch_add(&slow_entered, 1);
        gate_wait(&slow_gate);
        atomic_fetch_add(&slow_returned, 1);
    }
    mset_family(out, "test_slow_call", METRIC_GAUGE, "Which call of the slow collector.");
    mset_addl(out, call, NULL);
    return 0;
}

static void slow_cleanup(void *state)
{
    atomic_fetch_add(&slow_cleanups, 1);
}

static const struct collector fake_slow = {
    .name = "slow",
    .may_block = true, /* only blocking-prone collectors get a thread and a budget */
    .collect = slow_collect,
    .cleanup = slow_cleanup,
};

/* broken: fails to initialise and is switched off. */
static int broken_init(const struct exporter_config *cfg, void **ret_state)
{
    return -ENODEV;
}

static int never_collect(void *state, struct mset *out)
{
    mset_family(out, "test_never", METRIC_GAUGE, "");
    mset_addl(out, 1, NULL);
    return 0;
}

static const struct collector fake_broken = {
    .name = "broken",
    .init = broken_init,
    .collect = never_collect,
};

/* gpu: no metrics, one busy ratio for the sampler. */
static int gpu_collect(void *state, struct mset *out)
{
    return 0;
}

static int gpu_sample(void *state, struct gpu_sample *out, size_t max)
{
    if (max < 1)
        return 0;
    snprintf(out[0].gpu, sizeof(out[0].gpu), "0");
    out[0].busy_ratio = 0.5;
    return 1;
}

static const struct collector fake_gpu = {
    .name = "gpu",
    .collect = gpu_collect,
    .sample = gpu_sample,
};

static void reset_fakes(void)
{
    atomic_store(&fast_seq, 0);
    atomic_store(&fast_inits, 0);
    atomic_store(&fast_cleanups, 0);
    atomic_store(&slow_armed, false);
    atomic_store(&slow_calls, 0);
    atomic_store(&slow_entered, 0);
    atomic_store(&slow_returned, 0);
    atomic_store(&slow_cleanups, 0);
    gate_set(&slow_gate, false);
}

/* A configuration with the first n collectors of a table enabled. */
static void config(struct exporter_config *cfg, size_t n, uint64_t timeout_usec)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->collector_timeout_usec = timeout_usec;
    for (size_t i = 0; i < n; i++)
        cfg->enabled[i] = true;
}

/* Scrapes in text format into a new string (caller frees); NULL on error. */
static char *scrape_text(struct scraper *s)
{
    struct buf out;
    buf_init(&out, 0);
    if (scraper_scrape(s, EXPO_TEXT, false, &out) < 0) {
        buf_free(&out);
        return NULL;
    }
    char *text = buf_steal(&out, NULL);
    return text ? text : strdup("");
}

/* The value of the first sample line whose name and labels are exactly series. */

#define SUCCESS(name) "homeostat_collector_success{collector=\"" name "\"}"
#define DURATION(name) "homeostat_collector_duration_seconds{collector=\"" name "\"}"

/* --- tests ---------------------------------------------------------------------------------- */

TEST(success_reported_per_collector)
{
    reset_fakes();
    static const struct collector *const table[] = {&fake_fast, &fake_failing};
    struct exporter_config cfg;
    config(&cfg, 2, 5000000);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct scraper *s = NULL;
    CHECK_INT(scraper_new_with(&cfg, reg, table, 2, &s), 0);
    char *text = scrape_text(s);
    CHECK(text);
    CHECK_SAMPLE(text, SUCCESS("fast"), 1);
    CHECK_SAMPLE(text, SUCCESS("failing"), 0);
    CHECK_SAMPLE(text, "test_seq", 1);
    /* What a failing collector added is still exposed. */
    CHECK_SAMPLE(text, "test_failing_partial", 1);
    double d;
    CHECK(test_text_value(text, DURATION("fast"), &d) && d >= 0 && d < 5);
    CHECK(test_text_value(text, DURATION("failing"), &d) && d >= 0 && d < 5);
    CHECK_CONTAINS(text, "# TYPE homeostat_collector_success gauge\n");
    CHECK_SAMPLE(text, "homeostat_exporter_scrapes_total", 1);
    CHECK_SAMPLE(text, "homeostat_exporter_collections_total", 1);
    free(text);
    text = scrape_text(s);
    CHECK(text);
    CHECK_SAMPLE(text, "test_seq", 2); /* a sequential scrape collects again */
    CHECK_SAMPLE(text, "homeostat_exporter_scrapes_total", 2);
    CHECK_INT(count_series(text, SUCCESS("fast")), 1);
    free(text);
    scraper_free(s);
    CHECK_INT(atomic_load(&fast_inits), 1);
    CHECK_INT(atomic_load(&fast_cleanups), 1);
    registry_free(reg);
}

TEST(disabled_and_broken_collectors_do_not_run)
{
    reset_fakes();
    static const struct collector *const table[] = {&fake_fast, &fake_broken, &fake_slow};
    struct exporter_config cfg;
    config(&cfg, 2, 5000000); /* slow is switched off by configuration */
    struct registry *reg = registry_new();
    CHECK(reg);
    struct scraper *s = NULL;
    CHECK_INT(scraper_new_with(&cfg, reg, table, 3, &s), 0);
    const char *names[8];
    size_t n = scraper_enabled_names(s, names, 8);
    CHECK_INT(n, 1);
    CHECK_STR(names[0], "fast");
    CHECK_INT(scraper_enabled_names(s, names, 0), 0);
    char *text = scrape_text(s);
    CHECK(text);
    CHECK_SAMPLE(text, SUCCESS("fast"), 1);
    CHECK(strstr(text, "broken") == NULL);
    CHECK(strstr(text, "test_never") == NULL);
    CHECK(strstr(text, "slow") == NULL);
    CHECK_INT(atomic_load(&slow_calls), 0);
    free(text);
    scraper_free(s);
    registry_free(reg);
}

TEST(too_many_collectors_rejected)
{
    const struct collector *table[EXPORTER_MAX_COLLECTORS + 1];
    for (size_t i = 0; i <= EXPORTER_MAX_COLLECTORS; i++)
        table[i] = &fake_failing;
    struct exporter_config cfg;
    config(&cfg, 0, 1000000);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct scraper *s = NULL;
    CHECK_INT(scraper_new_with(&cfg, reg, table, EXPORTER_MAX_COLLECTORS + 1, &s), -E2BIG);
    CHECK(s == NULL);
    registry_free(reg);
    scraper_free(NULL);
}

TEST(stuck_collector_does_not_stall_scrapes)
{
    reset_fakes();
    static const struct collector *const table[] = {&fake_fast, &fake_failing, &fake_slow};
    struct exporter_config cfg;
    config(&cfg, 3, 200000); /* 200 ms budget */
    struct registry *reg = registry_new();
    CHECK(reg);
    struct scraper *s = NULL;
    CHECK_INT(scraper_new_with(&cfg, reg, table, 3, &s), 0);
    atomic_store(&slow_armed, true);

    /* The stuck collector would hold the scrape for 10 s without the budget. */
    uint64_t t0 = now_usec();
    char *first = scrape_text(s);
    uint64_t took_first = now_usec() - t0;
    CHECK(first);
    CHECK(took_first < 1500000);
    CHECK_SAMPLE(first, SUCCESS("slow"), 0);
    CHECK_SAMPLE(first, DURATION("slow"), 0.2); /* the budget, as documented */
    CHECK_SAMPLE(first, SUCCESS("fast"), 1);
    CHECK_SAMPLE(first, SUCCESS("failing"), 0);
    CHECK_INT(count_series(first, "test_slow_call"), 0);
    free(first);
    CHECK(wait_for(&slow_entered, 1, 5000000));

    /* Still stuck: the next scrape skips it instead of waiting again. */
    t0 = now_usec();
    char *second = scrape_text(s);
    uint64_t took_second = now_usec() - t0;
    CHECK(second);
    CHECK(took_second < 1500000);
    CHECK_SAMPLE(second, SUCCESS("slow"), 0);
    CHECK_SAMPLE(second, SUCCESS("fast"), 1);
    CHECK_INT(atomic_load(&slow_returned), 0); /* it really was stuck all along */
    CHECK_INT(atomic_load(&slow_calls), 1);    /* and was not run twice at once */
    free(second);

    /* Once it returns (its late result dropped), it is collected again. */
    atomic_store(&slow_armed, false);
    gate_set(&slow_gate, true);
    CHECK(wait_for(&slow_returned, 1, 5000000));
    char *third = NULL;
    uint64_t deadline = now_usec() + 5000000;
    double ok = 0;
    /* The worker marks itself idle just after the collector returns. */
    while (now_usec() < deadline) {
        free(third);
        third = scrape_text(s);
        CHECK(third);
        if (test_text_value(third, SUCCESS("slow"), &ok) && ok == 1)
            break;
        usleep(10000);
    }
    CHECK_SAMPLE(third, SUCCESS("slow"), 1);
    CHECK_SAMPLE(third, SUCCESS("fast"), 1);
    CHECK_SAMPLE(third, "test_slow_call", 2); /* call 1's late result was dropped */
    CHECK_INT(count_series(third, "test_slow_call"), 1);
    free(third);
    scraper_free(s);
    CHECK_INT(atomic_load(&slow_cleanups), 1);
    registry_free(reg);
}

enum { SCRAPERS = 8, SCRAPES_EACH = 25 };

struct scrape_thread {
    struct scraper *s;
    pthread_t thread;
    int complete, fresh, scrapes;
    char error[160];
};

static void *scrape_main(void *arg)
{
    struct scrape_thread *t = arg;
    for (int i = 0; i < SCRAPES_EACH; i++) {
        int before = atomic_load(&fast_seq);
        char *text = scrape_text(t->s);
        t->scrapes++;
        double seq = 0, ok = 0;
        if (!text) {
            snprintf(t->error, sizeof(t->error), "scrape %d failed", i);
            continue;
        }
        if (test_text_value(text, "test_seq", &seq) &&
            test_text_value(text, SUCCESS("fast"), &ok) && ok == 1 &&
            strstr(text, "homeostat_exporter_scrapes_total "))
            t->complete++;
        else
            snprintf(t->error, sizeof(t->error), "scrape %d incomplete", i);
        /* A collection that started after this scrape was called. */
        if (seq >= before + 1)
            t->fresh++;
        else
            snprintf(t->error, sizeof(t->error), "scrape %d saw seq %g, called at %d", i, seq,
                     before);
        free(text);
    }
    return NULL;
}

TEST(concurrent_scrapes_coalesce)
{
    reset_fakes();
    static const struct collector *const table[] = {&fake_fast};
    struct exporter_config cfg;
    config(&cfg, 1, 10000000);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct scraper *s = NULL;
    CHECK_INT(scraper_new_with(&cfg, reg, table, 1, &s), 0);
    struct scrape_thread t[SCRAPERS];
    memset(t, 0, sizeof(t));
    for (int i = 0; i < SCRAPERS; i++) {
        t[i].s = s;
        CHECK(pthread_create(&t[i].thread, NULL, scrape_main, &t[i]) == 0);
    }
    for (int i = 0; i < SCRAPERS; i++)
        pthread_join(t[i].thread, NULL);
    struct metric *scrapes =
        registry_metric(reg, "homeostat_exporter_scrapes_total", METRIC_COUNTER, "");
    struct metric *collections =
        registry_metric(reg, "homeostat_exporter_collections_total", METRIC_COUNTER, "");
    CHECK(scrapes && collections);
    double n_scrapes = metric_value(scrapes), n_collections = metric_value(collections);
    scraper_free(s);
    registry_free(reg);
    for (int i = 0; i < SCRAPERS; i++) {
        if (t[i].error[0])
            TEST_FAIL("thread %d: %s", i, t[i].error);
        CHECK_INT(t[i].scrapes, SCRAPES_EACH);
        CHECK_INT(t[i].complete, SCRAPES_EACH);
        CHECK_INT(t[i].fresh, SCRAPES_EACH);
    }
    CHECK(n_scrapes == SCRAPERS * SCRAPES_EACH);
    CHECK(n_collections >= 1 && n_collections <= n_scrapes);
    CHECK(n_collections == atomic_load(&fast_seq)); /* every collection ran the collector */
}

/* Inflates a gzip stream into a new string (caller frees); NULL on error. */
static char *gunzip(const struct buf *in)
{
    struct buf out;
    buf_init(&out, 0);
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return NULL;
    z.next_in = (Bytef *)in->data;
    z.avail_in = (uInt)in->len;
    int zr = Z_OK;
    while (zr == Z_OK) {
        char chunk[4096];
        z.next_out = (Bytef *)chunk;
        z.avail_out = sizeof(chunk);
        zr = inflate(&z, Z_NO_FLUSH);
        if ((zr == Z_OK || zr == Z_STREAM_END) &&
            buf_append(&out, chunk, sizeof(chunk) - z.avail_out) < 0)
            zr = Z_MEM_ERROR;
    }
    inflateEnd(&z);
    if (zr != Z_STREAM_END) {
        buf_free(&out);
        return NULL;
    }
    char *text = buf_steal(&out, NULL);
    return text ? text : strdup("");
}

TEST(formats_and_gzip)
{
    reset_fakes();
    static const struct collector *const table[] = {&fake_fast, &fake_failing};
    struct exporter_config cfg;
    config(&cfg, 2, 5000000);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct scraper *s = NULL;
    CHECK_INT(scraper_new_with(&cfg, reg, table, 2, &s), 0);
    struct buf om, gz;
    buf_init(&om, 0);
    buf_init(&gz, 0);
    CHECK_INT(scraper_scrape(s, EXPO_OPENMETRICS, false, &om), 0);
    CHECK_INT(scraper_scrape(s, EXPO_OPENMETRICS, true, &gz), 0);
    scraper_free(s);
    registry_free(reg);
    CHECK(om.len > 6 && strcmp(om.data + om.len - 6, "# EOF\n") == 0);
    CHECK_CONTAINS(om.data, "# TYPE homeostat_exporter_scrapes counter\n");
    CHECK_SAMPLE(om.data, "homeostat_exporter_scrapes_total", 1);
    CHECK_SAMPLE(om.data, SUCCESS("failing"), 0);
    CHECK(gz.len > 2 && (unsigned char)gz.data[0] == 0x1f && (unsigned char)gz.data[1] == 0x8b);
    char *text = gunzip(&gz);
    CHECK(text);
    CHECK_SAMPLE(text, "homeostat_exporter_scrapes_total", 2);
    CHECK_SAMPLE(text, "test_seq", 2);
    CHECK(strlen(text) > 6 && strcmp(text + strlen(text) - 6, "# EOF\n") == 0);
    free(text);
    buf_free(&om);
    buf_free(&gz);
}

/* held: blocks on held_gate while armed, so a collection can be kept open. */
static struct gate held_gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
static atomic_bool held_armed;
static atomic_int held_seq, held_entered;

static int held_collect(void *state, struct mset *out)
{
    int seq = atomic_fetch_add(&held_seq, 1) + 1;
    if (atomic_load(&held_armed)) {
        atomic_fetch_add(&held_entered, 1);
        gate_wait(&held_gate);
    }
    mset_family(out, "test_held_seq", METRIC_GAUGE, "Collections of the held collector.");
    mset_addl(out, seq, NULL);
    return 0;
}

static const struct collector fake_held = {
    .name = "held", .may_block = true, .collect = held_collect};

struct format_thread {
    struct scraper *s;
    enum expo_format fmt;
    bool gzip;
    pthread_t thread;
    struct buf out;
    int rc;
};

static void *format_main(void *arg)
{
    struct format_thread *t = arg;
    t->rc = scraper_scrape(t->s, t->fmt, t->gzip, &t->out);
    return NULL;
}

static void start_format_thread(struct format_thread *t, struct scraper *s, enum expo_format fmt,
                                bool gzip)
{
    t->s = s;
    t->fmt = fmt;
    t->gzip = gzip;
    t->rc = -EINPROGRESS;
    buf_init(&t->out, 0);
    if (pthread_create(&t->thread, NULL, format_main, t) != 0)
        t->rc = -EAGAIN;
}

/* Requests that arrive while a collection runs share the next one: an OpenMetrics
 * and a gzipped text scrape then render the same generation. */
TEST(waiting_scrapes_share_one_generation)
{
    atomic_store(&held_seq, 0);
    atomic_store(&held_entered, 0);
    atomic_store(&held_armed, true);
    gate_set(&held_gate, false);
    static const struct collector *const table[] = {&fake_held};
    struct exporter_config cfg;
    config(&cfg, 1, 10000000);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct scraper *s = NULL;
    CHECK_INT(scraper_new_with(&cfg, reg, table, 1, &s), 0);
    struct metric *scrapes =
        registry_metric(reg, "homeostat_exporter_scrapes_total", METRIC_COUNTER, "");
    struct metric *collections =
        registry_metric(reg, "homeostat_exporter_collections_total", METRIC_COUNTER, "");
    CHECK(scrapes && collections);

    struct format_thread a, b, c;
    start_format_thread(&a, s, EXPO_TEXT, false);
    bool entered = wait_for(&held_entered, 1, 5000000); /* collection 1 is running */
    start_format_thread(&b, s, EXPO_OPENMETRICS, false);
    start_format_thread(&c, s, EXPO_TEXT, true);
    /* Both have called scraper_scrape (it counts first); give them a moment to queue. */
    uint64_t deadline = now_usec() + 5000000;
    while (metric_value(scrapes) < 3 && now_usec() < deadline)
        usleep(1000);
    usleep(200000);
    atomic_store(&held_armed, false);
    gate_set(&held_gate, true);
    pthread_join(a.thread, NULL);
    pthread_join(b.thread, NULL);
    pthread_join(c.thread, NULL);
    double n_collections = metric_value(collections);
    scraper_free(s);
    registry_free(reg);

    CHECK(entered);
    CHECK_INT(a.rc, 0);
    CHECK_INT(b.rc, 0);
    CHECK_INT(c.rc, 0);
    char *ctext = gunzip(&c.out);
    CHECK(ctext);
    CHECK_SAMPLE(a.out.data, "test_held_seq", 1);
    CHECK_SAMPLE(b.out.data, "test_held_seq", 2);
    CHECK_SAMPLE(ctext, "test_held_seq", 2);
    /* The same registry snapshot, too: taken once for the shared collection. */
    CHECK_SAMPLE(b.out.data, "homeostat_exporter_scrapes_total", 3);
    CHECK_SAMPLE(ctext, "homeostat_exporter_scrapes_total", 3);
    CHECK_SAMPLE(ctext, "homeostat_exporter_collections_total", 2);
    CHECK(n_collections == 2);
    CHECK(strstr(ctext, "# EOF") == NULL);
    CHECK(b.out.len > 6 && strcmp(b.out.data + b.out.len - 6, "# EOF\n") == 0);
    free(ctext);
    buf_free(&a.out);
    buf_free(&b.out);
    buf_free(&c.out);
}

TEST(gpu_sample_from_collectors)
{
    reset_fakes();
    static const struct collector *const table[] = {&fake_fast, &fake_gpu};
    struct exporter_config cfg;
    config(&cfg, 2, 5000000);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct scraper *s = NULL;
    CHECK_INT(scraper_new_with(&cfg, reg, table, 2, &s), 0);
    struct gpu_sample gs[4];
    int n = scraper_gpu_sample(s, gs, 4);
    int none = scraper_gpu_sample(s, gs, 0);
    scraper_free(s);
    registry_free(reg);
    CHECK_INT(n, 1);
    CHECK_STR(gs[0].gpu, "0");
    CHECK(gs[0].busy_ratio == 0.5);
    CHECK_INT(none, 0);
}

/* scraper_free() with a collector stuck: it returns after its grace period, leaving
 * the worker behind; the worker cleans up after itself once the collector returns.
 * Regression (fixed; exporter/scrape.c, scraper_free): with a worker left behind, the scraper
 * struct itself is never freed ("leak the scraper shell"), so LeakSanitizer fails
 * this test once the worker has finished. Fix: reference-count the shell (1 for the
 * owner + 1 per detached worker); the last of scraper_free() and the detached
 * workers to let go destroys the lock and condition and frees it. */
TEST(free_with_stuck_collector_returns)
{
    reset_fakes();
    static const struct collector *const table[] = {&fake_fast, &fake_slow};
    struct exporter_config cfg;
    config(&cfg, 2, 200000);
    struct registry *reg = registry_new();
    CHECK(reg);
    struct scraper *s = NULL;
    CHECK_INT(scraper_new_with(&cfg, reg, table, 2, &s), 0);
    atomic_store(&slow_armed, true);
    char *text = scrape_text(s);
    CHECK(text);
    CHECK_SAMPLE(text, SUCCESS("slow"), 0);
    free(text);
    CHECK(wait_for(&slow_entered, 1, 5000000));
    uint64_t t0 = now_usec();
    scraper_free(s);
    uint64_t took = now_usec() - t0;
    registry_free(reg); /* the left-behind worker must not need it */
    CHECK(took < 5000000);
    CHECK_INT(atomic_load(&fast_cleanups), 1);
    CHECK_INT(atomic_load(&slow_cleanups), 0); /* still running */
    /* Let it finish before the process exits: it then runs its own cleanup. */
    atomic_store(&slow_armed, false);
    gate_set(&slow_gate, true);
    CHECK(wait_for(&slow_cleanups, 1, 5000000));
    usleep(100000); /* the worker frees itself just after cleanup */
}

/* Regression (fixed; exporter/scrape.c, worker_main/scraper_free): a worker that was handed a job
 * but had not yet picked it up when scraper_free() set stopping leaves its loop
 * without running the job and without clearing w->busy. scraper_free() then waits its
 * full second for it, calls it "still running at shutdown; left behind", detaches it
 * and drops it: the collector's cleanup() never runs and the worker, its state and
 * the scraper shell leak. A budget of 0 makes the window certain (any budget hits it
 * when a worker thread is starved past the budget). Fix: on the stopping break in
 * worker_main, set w->busy = false and broadcast done_cond (under s->lock). */
TEST(free_cleans_up_workers_that_never_started_their_job)
{
    static const struct collector *const table[] = {&fake_fast, &fake_fast, &fake_fast};
    struct exporter_config cfg;
    config(&cfg, 3, 0);
    for (int round = 0; round < 20; round++) {
        reset_fakes();
        struct registry *reg = registry_new();
        CHECK(reg);
        struct scraper *s = NULL;
        CHECK_INT(scraper_new_with(&cfg, reg, table, 3, &s), 0);
        char *text = scrape_text(s);
        CHECK(text);
        free(text);
        scraper_free(s);
        registry_free(reg);
        int inits = atomic_load(&fast_inits), cleanups = atomic_load(&fast_cleanups);
        if (inits != 3 || cleanups != inits)
            TEST_FAIL("round %d: %d collectors initialised, %d cleaned up", round, inits, cleanups);
    }
}

/* Collectors that only read procfs run on the scraping thread; those that may block
 * run on their own worker thread (and only they are bounded by the budget). */
static pthread_t seen_inline, seen_blocking;

static int where_inline(void *state, struct mset *out)
{
    seen_inline = pthread_self();
    return 0;
}

static int where_blocking(void *state, struct mset *out)
{
    seen_blocking = pthread_self();
    return 0;
}

TEST(inline_and_blocking_collectors_run_where_declared)
{
    static const struct collector c_inline = {.name = "inl", .collect = where_inline};
    static const struct collector c_block = {
        .name = "blk", .may_block = true, .collect = where_blocking};
    static const struct collector *const table[] = {&c_inline, &c_block};
    struct exporter_config cfg;
    exporter_config_defaults(&cfg);
    cfg.enabled[0] = cfg.enabled[1] = true;
    struct registry *reg = registry_new();
    struct scraper *s = NULL;
    CHECK(reg && scraper_new_with(&cfg, reg, table, 2, &s) == 0);
    struct buf out;
    buf_init(&out, 0);
    CHECK_INT(scraper_scrape(s, EXPO_TEXT, false, &out), 0);
    bool inline_here = pthread_equal(seen_inline, pthread_self());
    bool blocking_elsewhere = !pthread_equal(seen_blocking, pthread_self());
    CHECK_CONTAINS(out.data, "homeostat_collector_success{collector=\"blk\"} 1");
    CHECK_CONTAINS(out.data, "homeostat_collector_success{collector=\"inl\"} 1");
    buf_free(&out);
    scraper_free(s);
    registry_free(reg);
    CHECK(inline_here);
    CHECK(blocking_elsewhere);
}

TEST_MAIN(TEST_ENTRY(inline_and_blocking_collectors_run_where_declared),
          TEST_ENTRY(success_reported_per_collector),
          TEST_ENTRY(disabled_and_broken_collectors_do_not_run),
          TEST_ENTRY(too_many_collectors_rejected),
          TEST_ENTRY(stuck_collector_does_not_stall_scrapes),
          TEST_ENTRY(concurrent_scrapes_coalesce), TEST_ENTRY(formats_and_gzip),
          TEST_ENTRY(waiting_scrapes_share_one_generation), TEST_ENTRY(gpu_sample_from_collectors),
          TEST_ENTRY(free_cleans_up_workers_that_never_started_their_job),
          TEST_ENTRY(free_with_stuck_collector_returns))
