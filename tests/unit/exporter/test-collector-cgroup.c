/* test-collector-cgroup: the cgroup collector against the fixture hierarchy in
 * tests/fixtures/cgroup (complete, garbled and half-missing units, a socket unit, a
 * hidden and a non-directory entry), the max-units cap, the include pattern, and the
 * missing, non-v2 and slice-less roots. */
#include <errno.h>
#include <stdarg.h>

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

    /* systemd's hybrid layout: v1 controllers at the root, v2 under unified/. */
    mset_clear(out);
    config(&cfg, "cgroup-hybrid");
    CHECK_INT(collect_once(&cfg, out), 0);
    CHECK_DBL(
        test_mset_value(out, "homeostat_cgroup_cpu_usage_seconds_total", "unit", "h.service", NULL),
        2.5, 1e-12);
    mset_free(out);
}

/* The machine's own hierarchy: whatever it is, collect must not crash, and on cgroup v2
 * with systemd the dropped-units gauge is there. */
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
          TEST_ENTRY(test_pattern), TEST_ENTRY(test_roots), TEST_ENTRY(test_real_machine))
