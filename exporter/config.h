/* config: homeostat-exporter's settings, one table of defaults filled from the
 * command line (main.c) and read, never written, by collectors and the sampler. */
#ifndef HOMEOSTAT_EXPORTER_CONFIG_H
#define HOMEOSTAT_EXPORTER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "naming.h"

#define EXPORTER_DEFAULT_LISTEN "127.0.0.1:19110"
#define EXPORTER_MAX_COLLECTORS 32

struct exporter_config {
    const char *listen_address;   /* --web.listen-address */
    const char *telemetry_path;   /* --web.telemetry-path */
    unsigned web_max_connections; /* --web.max-connections */
    unsigned web_max_connections_per_ip;
    unsigned web_timeout_sec;        /* --web.timeout */
    const char *procfs;              /* --path.procfs, default /proc */
    const char *sysfs;               /* --path.sysfs, default /sys */
    const char *rootfs;              /* --path.rootfs, default / (filesystem collector) */
    uint64_t sampler_interval_usec;  /* --sampler.interval, default 100ms; 0 disables */
    uint64_t collector_timeout_usec; /* --collector.timeout: per-collector scrape budget */
    /* cgroup */
    const char *cgroup_root;         /* --collector.cgroup.root, default <sysfs>/fs/cgroup */
    const char *cgroup_unit_include; /* --collector.cgroup.unit-include, fnmatch pattern */
    unsigned cgroup_max_units;       /* --collector.cgroup.max-units */
    /* filesystem */
    const char *filesystem_mount_points_exclude; /* POSIX extended regex */
    const char *filesystem_fs_types_exclude;     /* POSIX extended regex */
    uint64_t filesystem_mount_timeout_usec;
    /* diskstats, netdev */
    const char *diskstats_device_exclude; /* POSIX extended regex */
    const char *netdev_device_exclude;    /* POSIX extended regex, "" for none */
    /* application metrics ingest */
    const char *statsd_listen_udp;      /* --statsd.listen-udp, "" disables */
    const char *statsd_listen_unixgram; /* --statsd.listen-unixgram, "" disables */
    uint64_t statsd_read_buffer_bytes;  /* --statsd.read-buffer (SO_RCVBUF), 0: kernel's */
    const char *statsd_mapping_config;  /* --statsd.mapping-config, NULL: conventions */
    enum naming_mode statsd_naming;     /* --statsd.naming */
    unsigned ingest_max_series;         /* --ingest.max-series */
    bool web_enable_lifecycle;          /* --web.enable-lifecycle: POST /-/reload */
    const char *web_config_file;        /* --web.config.file: TLS, basic auth; NULL: none */
    /* GPU */
    const char *nvml_library; /* --collector.gpu.nvml-library */
    /* which collectors run, indexed like collector_table */
    bool enabled[EXPORTER_MAX_COLLECTORS];
};

/* Fills cfg with the defaults (collectors enabled per their default_enabled). */
void exporter_config_defaults(struct exporter_config *cfg);

#endif
