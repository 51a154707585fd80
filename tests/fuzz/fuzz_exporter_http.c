/* fuzz_exporter_http: raw bytes sent to homeostat-exporter's HTTP server: libmicrohttpd's
 * request parsing, common/httpd.c (body limit, path, queueing) and the exporter's handler
 * (/metrics with content negotiation and gzip, /api/v1/push, /-/reload, /, /-/healthy,
 * /-/ready, 404 and 405). The daemon is the real one (exporter/main.c) started once per
 * process, with the loadavg collector reading the fixture procfs, no StatsD listener, the
 * lifecycle API on and at most 100 pushed series (a scrape renders them all). Its server
 * runs without threads of its own (exporter_daemon.c): each input goes over a socketpair
 * and the harness runs the server's loop, so the handler runs on the fuzzing thread
 * (controller-http keeps the TCP way in). */
#include <stdio.h>
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_http.h"

#ifndef HOMEOSTAT_SOURCE_DIR
#error "HOMEOSTAT_SOURCE_DIR must name the source tree (for the fixture procfs)"
#endif

int homeostat_exporter_main(int argc, char **argv);
extern struct httpd *homeostat_exporter_httpd; /* exporter_daemon.c */

static const char mapping_yaml[] = "mappings:\n"
                                   "  - match: \"api.*.latency\"\n"
                                   "    name: api_latency_seconds\n"
                                   "    type: histogram\n"
                                   "    labels: {route: \"$1\"}\n"
                                   "  - match: \"svc.*.state\"\n"
                                   "    name: svc_state\n"
                                   "    type: state\n"
                                   "    states: [ok, degraded, down]\n"
                                   "    labels: {service: \"$1\"}\n"
                                   "  - match: \"debug.*\"\n"
                                   "    action: drop\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct httpd *server;
    if (!server) {
        const char *mapping = fuzz_http_write("mapping.yaml", mapping_yaml);
        static char mapping_flag[600], rootfs_flag[300];
        snprintf(mapping_flag, sizeof(mapping_flag), "--statsd.mapping-config=%s", mapping);
        snprintf(rootfs_flag, sizeof(rootfs_flag), "--path.rootfs=%s", fuzz_http_dir());
        const char *argv[] = {
            "homeostat-exporter",
            "--path.procfs=" HOMEOSTAT_SOURCE_DIR "/tests/fixtures/proc",
            "--path.sysfs=" HOMEOSTAT_SOURCE_DIR "/tests/fixtures/gpu-sysfs",
            rootfs_flag,
            /* One small collector: a scrape renders everything, and the collectors parse
             * fixture files that no input changes. */
            "--collector.disable-defaults",
            "--collector.loadavg",
            "--sampler.interval=0",
            "--statsd.listen-udp=",
            mapping_flag,
            "--ingest.max-series=100",
            "--web.enable-lifecycle",
            /* Bound, but nothing connects to it: the inputs come over socketpairs. */
            "--web.listen-address=127.0.0.1:0",
            "--log.level=error",
        };
        server =
            fuzz_http_start_local(homeostat_exporter_main, (int)(sizeof(argv) / sizeof(argv[0])),
                                  argv, &homeostat_exporter_httpd);
    }
    const char *reply;
    size_t len = fuzz_http_exchange_local(server, data, size, &reply);
    if (len > 0 && strncmp(reply, "HTTP/1.", 7) != 0)
        fuzz_fail("the reply does not start with a status line: '%.40s'", reply);
    return 0;
}
