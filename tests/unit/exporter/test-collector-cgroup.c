/* test-collector-cgroup: the cgroup collector against the fixture hierarchies in
 * tests/fixtures: cgroup v2 in cgroup (complete, garbled and half-missing units, a socket
 * unit, a hidden and a non-directory entry), legacy cgroup v1 in cgroup-v1-legacy (separate
 * hierarchies), cgroup-v1-combined and cgroup-v1-cpuacct-cpu (one "cpu,cpuacct" hierarchy),
 * systemd's hybrid layout in cgroup-hybrid and cgroup-hybrid-v1; the max-units cap, the
 * include pattern, and the missing, unknown and slice-less roots. */
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>

#include "collector.h"
#include "test.h"

/* Number of distinct unit label values in the set. */
static size_t count_units(struct mset *s)
{
    const char *seen[64];
    size_t n = 0;
    for (size_t f = 0; f < s->n_families; f++)
        for (size_t i = 0; i < s->families[f].n_samples; i++) {
            const struct mset_sample *sm = &s->families[f].samples[i];
            for (unsigned l = 0; l < sm->n_labels; l++) {
                if (strcmp(sm->labels[2 * l], "unit") != 0)
                    continue;
                size_t k;
                for (k = 0; k < n; k++)
                    if (strcmp(seen[k], sm->labels[2 * l + 1]) == 0)
                        break;
                if (k == n && n < 64)
                    seen[n++] = sm->labels[2 * l + 1];
            }
        }
    return n;
}

/* Number of samples of the family with the unit label: 1 unless read twice. */
static size_t count_samples(struct mset *s, const char *family, const char *unit)
{
    size_t n = 0;
    for (size_t f = 0; f < s->n_families; f++) {
        if (strcmp(s->families[f].name, family) != 0)
            continue;
        for (size_t i = 0; i < s->families[f].n_samples; i++) {
            const struct mset_sample *sm = &s->families[f].samples[i];
            for (unsigned l = 0; l < sm->n_labels; l++)
                if (strcmp(sm->labels[2 * l], "unit") == 0 &&
                    strcmp(sm->labels[2 * l + 1], unit) == 0)
                    n++;
        }
    }
    return n;
}

static char root_path[4096];

static void config(struct exporter_config *cfg, const char *fixture)
{
    exporter_config_defaults(cfg);
    snprintf(root_path, sizeof(root_path), "%s", test_fixture(fixture));
    cfg->cgroup_root = root_path;
}

static int collect_once(const struct exporter_config *cfg, struct mset *out)
{
    void *state = NULL;
    int r = collector_cgroup.init(cfg, &state);
    if (r < 0)
        return r;
    r = collector_cgroup.collect(state, out);
    collector_cgroup.cleanup(state);
    return r;
}

TEST(test_interface)
{
    CHECK_STR(collector_cgroup.name, "cgroup");
    CHECK(collector_cgroup.default_enabled);
    CHECK(collector_cgroup.init && collector_cgroup.collect && collector_cgroup.cleanup);
    CHECK(strcmp(collector_cgroup.description, "not implemented yet") != 0);
    collector_cgroup.cleanup(NULL);
}

TEST(test_fixture_golden)
{
    struct exporter_config cfg;
    config(&cfg, "cgroup");
    struct mset *out = mset_new();
    CHECK_INT(collect_once(&cfg, out), 0);
    const char *a = "a.service";
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_units_dropped", NULL), 0, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", a, NULL),
              1.5, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_user_seconds_total", "unit", a, NULL), 1.0,
              1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_system_seconds_total", "unit", a, NULL),
              0.5, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_periods_total", "unit", a, NULL), 10, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_throttled_periods_total", "unit", a, NULL),
              2, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_throttled_seconds_total", "unit", a, NULL),
              0.25, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_quota_ratio", "unit", a, NULL), 0.5, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", a, NULL),
              104857600, 0);
    double high = test_mset_value(out, "homeostat_cgroup_memory_high_bytes", "unit", a, NULL);
    CHECK(isinf(high) && high > 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_max_bytes", "unit", a, NULL), 209715200,
              0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_events_total", "unit", a, "event",
                              "high", NULL),
              5, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_events_total", "unit", a, "event",
                              "oom_kill", NULL),
              1, 0);
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_events_total", "unit", a, "event",
                                "low", NULL)));
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_pressure_cpu_waiting_seconds_total", "unit", a,
                              NULL),
              1.234567, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_pressure_cpu_stalled_seconds_total", "unit", a,
                              NULL),
              0.234567, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_pressure_memory_waiting_seconds_total", "unit",
                              a, NULL),
              3, 1e-12);
    CHECK_DBL(
        test_mset_value(out, "homeostat_cgroup_pressure_io_stalled_seconds_total", "unit", a, NULL),
        7e-6, 1e-15);

    /* b.service: only its well-formed lines and files. */
    const char *b = "b.service";
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_user_seconds_total", "unit", b, NULL),
              42e-6, 1e-15);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_throttled_seconds_total", "unit", b, NULL),
              3e-6, 1e-15);
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", b, NULL)));
    CHECK(
        isnan(test_mset_value(out, "homeostat_cgroup_cpu_system_seconds_total", "unit", b, NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_cpu_periods_total", "unit", b, NULL)));
    CHECK(isnan(
        test_mset_value(out, "homeostat_cgroup_cpu_throttled_periods_total", "unit", b, NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_cpu_quota_ratio", "unit", b, NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", b, NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_high_bytes", "unit", b, NULL)));
    CHECK(isinf(test_mset_value(out, "homeostat_cgroup_memory_max_bytes", "unit", b, NULL)));
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_events_total", "unit", b, "event",
                              "oom", NULL),
              9, 0);
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_events_total", "unit", b, "event",
                                "oom_kill", NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_pressure_cpu_waiting_seconds_total", "unit",
                                b, NULL)));
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_pressure_cpu_stalled_seconds_total", "unit", b,
                              NULL),
              5, 1e-12);
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_pressure_memory_waiting_seconds_total",
                                "unit", b, NULL)));

    /* d.service has only memory.current and cpu.max. */
    const char *d = "d.service";
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", d, NULL), 8192,
              0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_quota_ratio", "unit", d, NULL), 1.5, 0);
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", d, NULL)));

    /* c.socket does not match *.service; .hidden.service and the file e.service are not
     * units. */
    CHECK(isnan(
        test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", "c.socket", NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit",
                                ".hidden.service", NULL)));
    CHECK_INT(count_units(out), 3);
    CHECK_INT(test_golden("collector_cgroup", out), 0);
    mset_free(out);
}

TEST(test_max_units)
{
    struct exporter_config cfg;
    config(&cfg, "cgroup");
    cfg.cgroup_max_units = 1;
    struct mset *out = mset_new();
    CHECK_INT(collect_once(&cfg, out), 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_units_dropped", NULL), 2, 0);
    /* Units are taken in name order: a.service stays. */
    CHECK_DBL(
        test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", "a.service", NULL),
        104857600, 0);
    CHECK_INT(count_units(out), 1);
    CHECK_INT(test_golden("collector_cgroup_max_units", out), 0);

    mset_clear(out);
    cfg.cgroup_max_units = 0; /* no limit */
    CHECK_INT(collect_once(&cfg, out), 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_units_dropped", NULL), 0, 0);
    CHECK_INT(count_units(out), 3);
    mset_free(out);
}

TEST(test_pattern)
{
    struct exporter_config cfg;
    config(&cfg, "cgroup");
    cfg.cgroup_unit_include = "*.socket";
    struct mset *out = mset_new();
    CHECK_INT(collect_once(&cfg, out), 0);
    CHECK_INT(count_units(out), 1);
    CHECK_DBL(
        test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", "c.socket", NULL),
        7, 1e-12);
    CHECK_DBL(
        test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", "c.socket", NULL),
        4096, 0);

    mset_clear(out);
    cfg.cgroup_unit_include = "[bd].service";
    CHECK_INT(collect_once(&cfg, out), 0);
    CHECK_INT(count_units(out), 2);
    CHECK(!isnan(
        test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", "d.service", NULL)));
    CHECK(isnan(
        test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", "a.service", NULL)));
    mset_free(out);
}

TEST(test_roots)
{
    struct exporter_config cfg;
    struct mset *out = mset_new();
    exporter_config_defaults(&cfg);
    cfg.cgroup_root = "/nonexistent/homeostat/cgroup";
    CHECK_INT(collect_once(&cfg, out), -ENOENT);
    /* A system.slice with neither cgroup.controllers nor a v1 controller hierarchy. */
    config(&cfg, "cgroup-v1");
    CHECK_INT(collect_once(&cfg, out), -EOPNOTSUPP);
    CHECK_INT(out->n_samples_total, 0);
    /* A file as root. */
    config(&cfg, "cgroup/cgroup.controllers");
    CHECK_INT(collect_once(&cfg, out), -ENOTDIR);

    /* v2 without system.slice: no units, success. */
    config(&cfg, "cgroup-noslice");
    CHECK_INT(collect_once(&cfg, out), 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_units_dropped", NULL), 0, 0);
    CHECK_INT(count_units(out), 0);

    /* Without a root set, <sysfs>/fs/cgroup. */
    mset_clear(out);
    exporter_config_defaults(&cfg);
    snprintf(root_path, sizeof(root_path), "%s", test_fixture("cgroup-sysfs"));
    cfg.sysfs = root_path;
    CHECK_INT(collect_once(&cfg, out), 0);
    CHECK_DBL(
        test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", "z.service", NULL),
        65536, 0);

    /* systemd's hybrid layout with no v1 controller hierarchy found (memory/ lacks
     * memory.usage_in_bytes): everything from v2 under unified/. */
    mset_clear(out);
    config(&cfg, "cgroup-hybrid");
    CHECK_INT(collect_once(&cfg, out), 0);
    CHECK_DBL(
        test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", "h.service", NULL),
        2.5, 1e-12);
    mset_free(out);
}

/* Legacy cgroup v1: cpu, cpuacct and memory each their own hierarchy. */
TEST(test_v1_legacy)
{
    struct exporter_config cfg;
    config(&cfg, "cgroup-v1-legacy");
    struct mset *out = mset_new();
    CHECK_INT(collect_once(&cfg, out), 0);
    double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_units_dropped", NULL), 0, 0);

    /* l.service: every file well-formed. */
    const char *l = "l.service";
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", l, NULL),
              1.5, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_user_seconds_total", "unit", l, NULL),
              250 * tick, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_system_seconds_total", "unit", l, NULL),
              50 * tick, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_periods_total", "unit", l, NULL), 40, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_throttled_periods_total", "unit", l, NULL),
              8, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_throttled_seconds_total", "unit", l, NULL),
              1.25, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_quota_ratio", "unit", l, NULL), 0.2,
              1e-15);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", l, NULL),
              52428800, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_max_bytes", "unit", l, NULL), 104857600,
              0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_events_total", "unit", l, "event",
                              "max", NULL),
              3, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_events_total", "unit", l, "event",
                              "oom_kill", NULL),
              2, 0);
    /* v1 has no memory.high, no high or oom events, no PSI. */
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_high_bytes", "unit", l, NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_events_total", "unit", l, "event",
                                "high", NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_events_total", "unit", l, "event",
                                "oom", NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_pressure_cpu_waiting_seconds_total", "unit",
                                l, NULL)));
    CHECK_INT(count_samples(out, "homeostat_cgroup_memory_events_total", l), 2);

    /* m.service: no quota, unlimited memory, and only the well-formed lines of the rest. */
    const char *m = "m.service";
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_cpu_quota_ratio", "unit", m, NULL)));
    double max = test_mset_value(out, "homeostat_cgroup_memory_max_bytes", "unit", m, NULL);
    CHECK(isinf(max) && max > 0);
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", m, NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_cpu_user_seconds_total", "unit", m, NULL)));
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_system_seconds_total", "unit", m, NULL),
              7 * tick, 1e-12);
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_cpu_periods_total", "unit", m, NULL)));
    CHECK(isnan(
        test_mset_value(out, "homeostat_cgroup_cpu_throttled_periods_total", "unit", m, NULL)));
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_throttled_seconds_total", "unit", m, NULL),
              7e-6, 1e-15);
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", m, NULL)));
    CHECK_INT(count_samples(out, "homeostat_cgroup_memory_events_total", m), 0);

    /* k.service: a quota over a zero period is no quota; o.service is only in memory, its
     * limit one byte under the v1 "unlimited" threshold. */
    CHECK(
        isnan(test_mset_value(out, "homeostat_cgroup_cpu_quota_ratio", "unit", "k.service", NULL)));
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_periods_total", "unit", "k.service", NULL),
              1, 0);
    CHECK_DBL(
        test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", "o.service", NULL),
        4096, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_max_bytes", "unit", "o.service", NULL),
              4611686018427387903.0, 0);
    CHECK_INT(count_samples(out, "homeostat_cgroup_cpu_usage_seconds_total", "o.service"), 0);

    /* Units come from the controllers, not from name=systemd (n.service); p.socket does not
     * match, and the file q.service is no unit. */
    CHECK_INT(count_units(out), 4);
    CHECK_INT(test_golden("collector_cgroup_v1", out), 0);

    /* The cap takes the union of the hierarchies in name order. */
    mset_clear(out);
    cfg.cgroup_max_units = 2;
    CHECK_INT(collect_once(&cfg, out), 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_units_dropped", NULL), 2, 0);
    CHECK_INT(count_units(out), 2);
    CHECK_INT(count_samples(out, "homeostat_cgroup_cpu_periods_total", "k.service"), 1);
    CHECK_INT(count_samples(out, "homeostat_cgroup_cpu_usage_seconds_total", "l.service"), 1);
    CHECK_INT(count_samples(out, "homeostat_cgroup_memory_current_bytes", "o.service"), 0);

    mset_clear(out);
    cfg.cgroup_max_units = 0;
    cfg.cgroup_unit_include = "*.socket";
    CHECK_INT(collect_once(&cfg, out), 0);
    CHECK_INT(count_units(out), 1);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_periods_total", "unit", "p.socket", NULL),
              5, 0);
    mset_free(out);
}

/* One "cpu,cpuacct" hierarchy, with cpu and cpuacct linked to it (Debian, RHEL) or alone in
 * the other order: each file read once. */
TEST(test_v1_combined)
{
    struct exporter_config cfg;
    config(&cfg, "cgroup-v1-combined");
    struct mset *out = mset_new();
    CHECK_INT(collect_once(&cfg, out), 0);
    double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
    const char *c = "c.service";
    CHECK_INT(count_units(out), 1);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", c, NULL), 4,
              1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_user_seconds_total", "unit", c, NULL),
              300 * tick, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_system_seconds_total", "unit", c, NULL),
              100 * tick, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_periods_total", "unit", c, NULL), 12, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_throttled_periods_total", "unit", c, NULL),
              3, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_throttled_seconds_total", "unit", c, NULL),
              0.03, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_quota_ratio", "unit", c, NULL), 0.5, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", c, NULL),
              2097152, 0);
    CHECK(isinf(test_mset_value(out, "homeostat_cgroup_memory_max_bytes", "unit", c, NULL)));
    static const char *const families[] = {
        "homeostat_cgroup_cpu_usage_seconds_total",  "homeostat_cgroup_cpu_user_seconds_total",
        "homeostat_cgroup_cpu_system_seconds_total", "homeostat_cgroup_cpu_periods_total",
        "homeostat_cgroup_cpu_quota_ratio",          "homeostat_cgroup_memory_current_bytes",
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        CHECK_INT(count_samples(out, families[i], c), 1);

    mset_clear(out);
    config(&cfg, "cgroup-v1-cpuacct-cpu");
    CHECK_INT(collect_once(&cfg, out), 0);
    const char *r = "r.service";
    CHECK_INT(count_units(out), 1);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", r, NULL),
              0.25, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_quota_ratio", "unit", r, NULL), 0.5, 0);
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", r, NULL)));
    mset_free(out);
}

/* systemd's hybrid layout with the v1 controllers: their data first; the unified tree adds
 * its units, CPU usage where cpuacct has no cgroup, and PSI. */
TEST(test_hybrid_v1)
{
    struct exporter_config cfg;
    config(&cfg, "cgroup-hybrid-v1");
    struct mset *out = mset_new();
    CHECK_INT(collect_once(&cfg, out), 0);
    double tick = 1.0 / (double)sysconf(_SC_CLK_TCK);
    const char *h = "h.service", *u = "u.service";
    CHECK_INT(count_units(out), 2);
    /* h.service: cpuacct's usage, not the unified tree's 9 s. */
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", h, NULL), 2,
              1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_user_seconds_total", "unit", h, NULL),
              150 * tick, 1e-12);
    CHECK_INT(count_samples(out, "homeostat_cgroup_cpu_usage_seconds_total", h), 1);
    CHECK_INT(count_samples(out, "homeostat_cgroup_cpu_user_seconds_total", h), 1);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_periods_total", "unit", h, NULL), 100, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_throttled_periods_total", "unit", h, NULL),
              10, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_throttled_seconds_total", "unit", h, NULL),
              0.5, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_quota_ratio", "unit", h, NULL), 1.5, 0);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_memory_current_bytes", "unit", h, NULL),
              1048576, 0);
    CHECK(isinf(test_mset_value(out, "homeostat_cgroup_memory_max_bytes", "unit", h, NULL)));
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_memory_high_bytes", "unit", h, NULL)));
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_pressure_cpu_waiting_seconds_total", "unit", h,
                              NULL),
              1.5, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_pressure_cpu_stalled_seconds_total", "unit", h,
                              NULL),
              0.5, 1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_pressure_memory_stalled_seconds_total", "unit",
                              h, NULL),
              1, 1e-12);
    /* u.service, only in the unified tree: its usage keys, never its bandwidth keys. */
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", u, NULL), 3,
              1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_user_seconds_total", "unit", u, NULL), 2,
              1e-12);
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_cpu_system_seconds_total", "unit", u, NULL), 1,
              1e-12);
    CHECK(isnan(test_mset_value(out, "homeostat_cgroup_cpu_periods_total", "unit", u, NULL)));
    CHECK(isnan(
        test_mset_value(out, "homeostat_cgroup_cpu_throttled_seconds_total", "unit", u, NULL)));
    CHECK_DBL(test_mset_value(out, "homeostat_cgroup_pressure_cpu_waiting_seconds_total", "unit", u,
                              NULL),
              0.25, 1e-12);
    mset_free(out);
}

/* The machine's own hierarchy: whatever it is, collect must not crash, and on cgroup v2
 * or v1 the dropped-units gauge is there. */
TEST(test_real_machine)
{
    struct exporter_config cfg;
    exporter_config_defaults(&cfg);
    struct mset *out = mset_new();
    int r = collect_once(&cfg, out);
    CHECK(r == 0 || r == -ENOENT || r == -EOPNOTSUPP);
    if (r == 0)
        CHECK(test_mset_value(out, "homeostat_cgroup_units_dropped", NULL) >= 0);
    mset_free(out);
}

TEST_MAIN(TEST_ENTRY(test_interface), TEST_ENTRY(test_fixture_golden), TEST_ENTRY(test_max_units),
          TEST_ENTRY(test_pattern), TEST_ENTRY(test_roots), TEST_ENTRY(test_v1_legacy),
          TEST_ENTRY(test_v1_combined), TEST_ENTRY(test_hybrid_v1), TEST_ENTRY(test_real_machine))
