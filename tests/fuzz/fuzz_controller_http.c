/* fuzz_controller_http: raw bytes sent to homeostat-controller's HTTP port: libmicrohttpd's
 * request parsing, common/httpd.c and the controller's API (controller/daemon/api.c: status,
 * signals, decisions, rules, metrics, the status page, and with the admin token from the
 * dictionary pause/resume, manual actions, overrides, evaluate, reload and the Alertmanager
 * webhook). The daemon is the real one (controller_run, controller/daemon/run.c) started once per
 * process with
 * --dry-run, a Prometheus URL where nothing listens, and rules whose only actions are
 * webhooks to a closed loopback port: no input can run anything. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "fuzz_http.h"

#include "run.h"

#define ADMIN_TOKEN "fuzz-admin-token"
#define AUDIT_MAX_BYTES (8u << 20)

static const char rules_yaml[] =
    "evaluation_interval: 5s\n"
    "prometheus:\n"
    "  timeout: 200ms\n"
    "signals:\n"
    "  cpu_busy:\n"
    "    query: avg(rate(node_cpu_seconds_total{mode!=\"idle\"}[1m]))\n"
    "  error_ratio:\n"
    "    help: Share of failed requests\n"
    "    query: sum(rate(app_requests_total{result=\"error\"}[1m]))\n"
    "    max_age: 1m\n"
    "states:\n"
    "  - name: critical\n"
    "    conditions: [\"cpu_busy > 0.95\", \"alert:ServiceDown == 1\"]\n"
    "    for: 10s\n"
    "    severity: critical\n"
    "  - name: stressed\n"
    "    conditions: [\"cpu_busy > 0.8\", \"error_ratio >= 0.05\"]\n"
    "    keep_for: 30s\n"
    "  - name: optimal\n"
    "on_missing_data: hold\n"
    "decisions:\n"
    "  critical:\n"
    "    min_confidence: 0.5\n"
    "    cooldown: 1m\n"
    "    revert_on_exit: true\n"
    "    actions:\n"
    "      - webhook: {url: \"http://127.0.0.1:9/hook\", timeout: 100ms}\n"
    "manual_actions:\n"
    "  flush:\n"
    "    description: Flush a cache\n"
    "    params:\n"
    "      cache: {type: string, choices: [users, sessions]}\n"
    "      limit: {type: integer, min: 1, max: 100, default: 10}\n"
    "    actions:\n"
    "      - webhook: {url: \"http://127.0.0.1:9/flush\", body: {cache: \"{{cache}}\", "
    "limit: \"{{limit}}\"}, timeout: 100ms}\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned port;
    static char audit_path[512];
    static unsigned long inputs;
    if (!port) {
        static char config_flag[600], token_flag[600], state_flag[600], audit_flag[600];
        snprintf(config_flag, sizeof(config_flag), "--config=%s",
                 fuzz_http_write("rules.yaml", rules_yaml));
        snprintf(token_flag, sizeof(token_flag), "--web.admin-token-file=%s",
                 fuzz_http_write("token", ADMIN_TOKEN "\n"));
        snprintf(state_flag, sizeof(state_flag), "--state.directory=%s", fuzz_http_dir());
        snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", fuzz_http_dir());
        snprintf(audit_flag, sizeof(audit_flag), "--audit.log=%s", audit_path);
        const char *argv[] = {
            "homeostat-controller",
            config_flag,
            "--prometheus.url=http://127.0.0.1:9",
            token_flag,
            state_flag,
            audit_flag,
            "--dry-run",
            "--log.level=error",
        };
        port = fuzz_http_start(controller_run, (int)(sizeof(argv) / sizeof(argv[0])), argv);
    }
    /* Operator requests append to the audit log: keep it small over a long campaign. */
    struct stat st;
    if (++inputs % 1000 == 0 && stat(audit_path, &st) == 0 && st.st_size > AUDIT_MAX_BYTES &&
        truncate(audit_path, 0) < 0)
        fuzz_fail("cannot truncate %s: %s", audit_path, strerror(errno));
    const char *reply;
    size_t len = fuzz_http_exchange(port, data, size, &reply);
    if (len > 0 && strncmp(reply, "HTTP/1.", 7) != 0)
        fuzz_fail("the reply does not start with a status line: '%.40s'", reply);
    return 0;
}
