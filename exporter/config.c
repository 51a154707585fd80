/* config: the one table of homeostat-exporter defaults (see config.h). */
#include "config.h"

#include <string.h>

#include "collector.h"

void exporter_config_defaults(struct exporter_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen_address = EXPORTER_DEFAULT_LISTEN;
    cfg->telemetry_path = "/metrics";
    cfg->web_max_connections = 2048; /* > 1,000 slow clients plus scrapes: docs/RELIABILITY.md */
    cfg->web_max_connections_per_ip = 64;
    cfg->web_timeout_sec = 30;
    cfg->procfs = "/proc";
    cfg->sysfs = "/sys";
    cfg->rootfs = "/";
    cfg->sampler_interval_usec = 100000;
    cfg->collector_timeout_usec = 3000000;
    cfg->cgroup_root = NULL; /* <sysfs>/fs/cgroup */
    cfg->cgroup_unit_include = "*.service";
    cfg->cgroup_max_units = 200;
    cfg->filesystem_mount_points_exclude =
        "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
    cfg->filesystem_fs_types_exclude =
        "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|"
        "iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|"
        "sysfs|tracefs|ramfs|efivarfs|nfsd|fuse\\.lxcfs|fuse\\.portal)$";
    cfg->filesystem_mount_timeout_usec = 1000000;
    cfg->diskstats_device_exclude = "^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme[0-9]+n[0-9]+p)[0-9]+$";
    cfg->netdev_device_exclude = "";
    cfg->nvml_library = "libnvidia-ml.so.1";
    cfg->statsd_listen_udp = "127.0.0.1:9125";
    cfg->statsd_listen_unixgram = "";
    cfg->statsd_read_buffer_bytes = 8u << 20;
    cfg->statsd_mapping_config = NULL;
    cfg->statsd_naming = NAMING_PROMETHEUS;
    cfg->ingest_max_series = 10000;
    cfg->web_enable_lifecycle = false;
    for (size_t i = 0; i < collector_count; i++)
        cfg->enabled[i] = collector_table[i]->default_enabled;
}
