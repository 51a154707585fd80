/* collector_netdev: per network interface receive and transmit counters from
 * <procfs>/net/dev (two header lines, then "name: 8 receive and 8 transmit
 * columns"). Exports collector_netdev. Interfaces matching
 * --collector.netdev.device-exclude are left out; a malformed line is skipped and
 * makes the collection fail after the valid interfaces are reported. */
#include <errno.h>
#include <limits.h>
#include <regex.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "fileio.h"
#include "log.h"
#include "parse.h"

#define NETDEV_FILE_MAX (4u << 20) /* ~130 bytes an interface */
#define NETDEV_HEADER_LINES 2
#define NETDEV_STATS 16

struct netdev_state {
    char path[PATH_MAX];
    bool exclude_set;
    regex_t exclude;
};

/* One family per column, in the kernel's order (net/core/net-procfs.c). */
static const struct {
    const char *name;
    const char *help;
} netdev_families[] = {
    {"homeostat_network_receive_bytes_total", "Bytes received."},
    {"homeostat_network_receive_packets_total", "Packets received."},
    {"homeostat_network_receive_errs_total", "Receive errors."},
    {"homeostat_network_receive_drop_total", "Received packets dropped."},
    {"homeostat_network_receive_fifo_total", "Receive FIFO overruns."},
    {"homeostat_network_receive_frame_total", "Receive framing errors."},
    {"homeostat_network_receive_compressed_total", "Compressed packets received."},
    {"homeostat_network_receive_multicast_total", "Multicast packets received."},
    {"homeostat_network_transmit_bytes_total", "Bytes transmitted."},
    {"homeostat_network_transmit_packets_total", "Packets transmitted."},
    {"homeostat_network_transmit_errs_total", "Transmit errors."},
    {"homeostat_network_transmit_drop_total", "Packets dropped on transmit."},
    {"homeostat_network_transmit_fifo_total", "Transmit FIFO errors."},
    {"homeostat_network_transmit_colls_total", "Collisions detected on transmit."},
    {"homeostat_network_transmit_carrier_total", "Transmit carrier losses."},
    {"homeostat_network_transmit_compressed_total", "Compressed packets transmitted."},
};

_Static_assert(sizeof(netdev_families) / sizeof(netdev_families[0]) == NETDEV_STATS,
               "one family per column");

static void netdev_cleanup(void *state)
{
    struct netdev_state *st = state;
    if (!st)
        return;
    if (st->exclude_set)
        regfree(&st->exclude);
    free(st);
}

static int netdev_init(const struct exporter_config *cfg, void **ret_state)
{
    struct netdev_state *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int r = path_join(st->path, sizeof(st->path), cfg->procfs, "net/dev");
    const char *re = cfg->netdev_device_exclude;
    if (r >= 0 && re && *re) {
        int e = regcomp(&st->exclude, re, REG_EXTENDED | REG_NOSUB);
        if (e != 0) {
            char msg[128];
            regerror(e, &st->exclude, msg, sizeof(msg));
            r = log_debug_errno(EINVAL, "collector netdev: device-exclude '%s': %s", re, msg);
        } else {
            st->exclude_set = true;
        }
    }
    if (r < 0) {
        netdev_cleanup(st);
        return r;
    }
    *ret_state = st;
    return 0;
}

/* Interface names become label values, which must be UTF-8: printable ASCII and
 * well-formed multi-byte sequences pass, control characters and stray bytes do not. */
static bool netdev_name_valid(const unsigned char *s)
{
    for (; *s; s++) {
        if (*s > ' ' && *s < 0x7f)
            continue;
        unsigned more; /* continuation bytes after this lead byte */
        if (*s >= 0xc2 && *s <= 0xdf)
            more = 1;
        else if (*s >= 0xe0 && *s <= 0xef)
            more = 2;
        else if (*s >= 0xf0 && *s <= 0xf4)
            more = 3;
        else
            return false;
        /* No overlong forms, surrogates or code points past U+10FFFF. */
        unsigned char lo = *s == 0xe0 ? 0xa0 : *s == 0xf0 ? 0x90 : 0x80;
        unsigned char hi = *s == 0xed ? 0x9f : *s == 0xf4 ? 0x8f : 0xbf;
        if (s[1] < lo || s[1] > hi)
            return false;
        for (s++; --more > 0;)
            if (*++s < 0x80 || *s > 0xbf)
                return false;
    }
    return true;
}

/* "  eth0: 55889652 1118 0 ...": the name (borrowed from line) and the 16 columns.
 * Large counters may follow the colon without a space; the kernel forbids ':', '/'
 * and white space in names. */
static int netdev_parse_line(char *line, const char **ret_name, unsigned long long *stats)
{
    char *colon = strchr(line, ':');
    if (!colon)
        return -EINVAL;
    *colon = '\0';
    char *rest = colon + 1;
    char *name = next_field(&line);
    if (!name || next_field(&line) || !netdev_name_valid((const unsigned char *)name))
        return -EINVAL;
    unsigned n = 0;
    for (char *f; (f = next_field(&rest));) {
        if (n == NETDEV_STATS || parse_u64(f, &stats[n]) < 0)
            return -EINVAL;
        n++;
    }
    if (n != NETDEV_STATS)
        return -EINVAL;
    *ret_name = name;
    return 0;
}

static int netdev_collect(void *state, struct mset *out)
{
    const struct netdev_state *st = state;
    char *data;
    size_t len;
    int r = file_read_alloc(st->path, NETDEV_FILE_MAX, &data, &len);
    if (r < 0)
        return log_debug_errno(r, "collector netdev: cannot read %s", st->path);
    if (strlen(data) != len) {
        free(data);
        return log_debug_errno(EINVAL, "collector netdev: %s holds a NUL byte", st->path);
    }

    int bad = 0;
    unsigned lineno = 0;
    for (char *p = data, *line; r >= 0 && (line = strsep(&p, "\n"));) {
        if (++lineno <= NETDEV_HEADER_LINES || line[strspn(line, " \t")] == '\0')
            continue;
        const char *name;
        unsigned long long stats[NETDEV_STATS];
        if (netdev_parse_line(line, &name, stats) < 0) {
            if (!bad++)
                log_debug("collector netdev: %s:%u: malformed line, skipped", st->path, lineno);
            continue;
        }
        if (st->exclude_set && regexec(&st->exclude, name, 0, NULL, 0) == 0)
            continue;
        /* Each family keeps the interfaces in file order. */
        for (size_t i = 0; r >= 0 && i < NETDEV_STATS; i++) {
            r = mset_family(out, netdev_families[i].name, METRIC_COUNTER, netdev_families[i].help);
            if (r >= 0)
                r = mset_addl(out, (double)stats[i], "device", name, NULL);
        }
    }
    free(data);
    if (r < 0)
        return r;
    if (lineno < NETDEV_HEADER_LINES)
        return log_debug_errno(ENODATA, "collector netdev: %s: no header", st->path);
    return bad ? -EINVAL : 0;
}

const struct collector collector_netdev = {
    .name = "netdev",
    .description = "Network interface receive and transmit counters from /proc/net/dev",
    .default_enabled = true,
    .init = netdev_init,
    .collect = netdev_collect,
    .cleanup = netdev_cleanup,
};
