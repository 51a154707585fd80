/* fuzz_statsd: StatsD and DogStatsD datagrams as the UDP listener receives them: the line
 * parser (statsd_parse_buffer), then every event through mapping_apply with the built-in
 * conventions and with a mapping using every feature (tests/fixtures/mapping/valid.yaml,
 * embedded). Events must point inside the datagram with a finite value and a rate in
 * (0, 1]. The ingest store behind them is fuzzed by fuzz_push (text bodies are StatsD
 * lines). */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "mapping.h"
#include "statsd.h"

static const char mapping_yaml[] = "defaults:\n"
                                   "  buckets: [0.01, 0.1, 1, 10]\n"
                                   "  ttl: 10m\n"
                                   "  timer_type: histogram\n"
                                   "mappings:\n"
                                   "  - match: \"myapp.*.latency\"\n"
                                   "    name: \"myapp_latency_seconds\"\n"
                                   "    type: histogram\n"
                                   "    buckets: [0.1, 0.5, 1]\n"
                                   "    labels: {route: \"$1\"}\n"
                                   "  - match: \"myapp.debug.*\"\n"
                                   "    action: drop\n"
                                   "  - match: \"svc.*.breaker.*.state\"\n"
                                   "    name: svc_breaker_state\n"
                                   "    type: state\n"
                                   "    states: [closed, open, half_open]\n"
                                   "    state_label: position\n"
                                   "    labels: {service: \"$1\", breaker: \"$2\"}\n"
                                   "  - match: \"jobs.*.req_*.count\"\n"
                                   "    name: \"jobs_$1_requests\"\n"
                                   "    labels: {queue: \"$1\", kind: \"${2}\"}\n"
                                   "  - match: \"api.*.*\"\n"
                                   "    name: \"api_$2\"\n"
                                   "    labels: {endpoint: \"$1\"}\n"
                                   "  - match: \"web.*_ms_*\"\n"
                                   "    match_metric_type: observer\n"
                                   "    name: \"web_$1_seconds\"\n"
                                   "    labels: {shard: \"$2\"}\n"
                                   "  - match: \"a*b*c.x\"\n"
                                   "    name: \"abc_$1_$2\"\n"
                                   "  - match: \"num.*\"\n"
                                   "    name: \"$1_value\"\n";

static struct mapping *custom, *conventions;

struct ctx {
    const char *data;
    size_t size;
};

static bool inside(const struct ctx *c, const char *p, size_t len)
{
    return p >= c->data && len <= c->size && p - c->data <= (ptrdiff_t)(c->size - len);
}

static void map(struct mapping *m, const struct statsd_event *ev)
{
    struct mapping_result out;
    int r = mapping_apply(m, ev->name, ev->name_len, ev->type, &out);
    if (r == 0 && !out.drop &&
        (out.n_labels > INGEST_MAX_LABELS || !out.name[0] || strlen(out.name) > INGEST_MAX_NAME))
        fuzz_fail("mapping_apply: %zu labels, name '%s'", out.n_labels, out.name);
    if (r > 0 || r <= -INGEST_REASON_MAX)
        fuzz_fail("mapping_apply returned %d", r);
}

static void on_event(void *userdata, const struct statsd_event *ev)
{
    const struct ctx *c = userdata;
    if (ev->name_len == 0 || !inside(c, ev->name, ev->name_len))
        fuzz_fail("event name outside the datagram");
    if (ev->tags && !inside(c, ev->tags, ev->tags_len))
        fuzz_fail("event tags outside the datagram");
    if (!isfinite(ev->value) || !(ev->sample_rate > 0 && ev->sample_rate <= 1))
        fuzz_fail("event value %g, sample rate %g", ev->value, ev->sample_rate);
    map(custom, ev);
    map(conventions, ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!custom) {
        struct buf errors;
        buf_init(&errors, 1 << 16);
        if (mapping_load_string(mapping_yaml, strlen(mapping_yaml), "fuzz-mapping.yaml",
                                NAMING_PROMETHEUS, &custom, &errors) < 0)
            fuzz_fail("the embedded mapping does not load: %s", errors.data ? errors.data : "");
        buf_free(&errors);
    }
    if (!conventions && mapping_default(NAMING_PROMETHEUS, &conventions) < 0)
        fuzz_fail("out of memory");
    struct ctx c = {.data = (const char *)data, .size = size};
    uint64_t counts[INGEST_REASON_MAX] = {0};
    statsd_parse_buffer((const char *)data, size, on_event, &c, counts, NULL);
    return 0;
}
