/* fuzz_promql: a Prometheus /api/v1/query reply body through promql_parse_reply, as with
 * status 200 and again as an error status: the result is always one of the documented
 * reasons with a NUL-terminated detail, and a number only when the reply gave one.
 * And through promql_parse_vector (the targets' reader, without a JSON tree), checked
 * against the reference, promql_parse_series (jansson) and targets_ivec_from_json: the
 * same answer whether there is a vector, the same series with the same labels and samples,
 * and the same result (a kept label twice in a series and a NUL byte in the reply are the
 * two documented refusals). */
#include <math.h>
#include <string.h>

#include "fuzz_common.h"
#include "ivec.h"
#include "promql.h"
#include "targets.h"

static void parse(const uint8_t *data, size_t size, long status)
{
    struct promql_result res;
    memset(&res, 0x5a, sizeof(res));
    promql_parse_reply((const char *)data, size, status, &res);
    if ((unsigned)res.error >= PROMQL_ERR_MAX)
        fuzz_fail("promql_parse_reply: error %d", (int)res.error);
    if (!memchr(res.detail, '\0', sizeof(res.detail)) ||
        !memchr(res.warnings, '\0', sizeof(res.warnings)))
        fuzz_fail("promql_parse_reply: detail or warnings not terminated");
    if (res.error == PROMQL_OK && isnan(res.value))
        fuzz_fail("promql_parse_reply: OK with NaN");
    if (status != 200 && res.error == PROMQL_OK)
        fuzz_fail("promql_parse_reply: OK with status %ld", status);
}

static bool same_double(double a, double b)
{
    return (isnan(a) && isnan(b)) || a == b;
}

static void same_vectors(const struct ivec *a, const struct ivec *b)
{
    if (a->n != b->n)
        fuzz_fail("promql_parse_vector: %zu series, the reference %zu", a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const struct ivec_series *x = &a->s[i], *y = &b->s[i];
        if (x->sample != y->sample || x->n_labels != y->n_labels)
            fuzz_fail("promql_parse_vector: series %zu: sample %d/%d, labels %u/%u", i, x->sample,
                      y->sample, x->n_labels, y->n_labels);
        if (x->sample != IVEC_NO_VALUE && !same_double(x->ts, y->ts))
            fuzz_fail("promql_parse_vector: series %zu: timestamp %.17g, the reference %.17g", i,
                      x->ts, y->ts);
        if (x->sample == IVEC_VALUE && !same_double(x->value, y->value))
            fuzz_fail("promql_parse_vector: series %zu: value differs", i);
        if (strcmp(ivec_bad_text(a, i), ivec_bad_text(b, i)) != 0)
            fuzz_fail("promql_parse_vector: series %zu: value text differs", i);
        for (size_t k = 0; k < x->n_labels; k++) {
            const char *va, *name = ivec_label_at(a, i, k, &va);
            const char *vb = ivec_label(b, i, name);
            if (!vb || strcmp(va, vb) != 0)
                fuzz_fail("promql_parse_vector: series %zu: label %s differs", i, name);
        }
    }
}

static void vector(const uint8_t *data, size_t size, const char *const *keep, size_t n_keep)
{
    struct promql_result fast, ref;
    struct ivec v, w;
    ivec_init(&v);
    ivec_init(&w);
    bool have = promql_parse_vector((const char *)data, size, 200, keep, n_keep, &fast, &v);
    json_t *series = NULL;
    promql_parse_series((const char *)data, size, 200, &ref, &series);
    bool refused = fast.error == PROMQL_ERR_PARSE &&
                   (strcmp(fast.detail, "a series with one label twice") == 0 ||
                    strcmp(fast.detail, "a NUL byte in the reply") == 0);
    if (!memchr(fast.detail, '\0', sizeof(fast.detail)))
        fuzz_fail("promql_parse_vector: detail not terminated");
    if (!refused && have != (series != NULL))
        fuzz_fail("promql_parse_vector: %s a vector, the reference %s", have ? "gave" : "no",
                  series ? "gave one" : "none");
    if (!have && v.n)
        fuzz_fail("promql_parse_vector: no vector but %zu series", v.n);
    if (have && series) {
        if (targets_ivec_from_json(series, keep, n_keep, &w) == 0)
            same_vectors(&v, &w);
        if (fast.error != ref.error || strcmp(fast.detail, ref.detail) != 0 ||
            strcmp(fast.warnings, ref.warnings) != 0)
            fuzz_fail("promql_parse_vector: result %d \"%s\", the reference %d \"%s\"",
                      (int)fast.error, fast.detail, (int)ref.error, ref.detail);
    } else if (!refused && (fast.error != ref.error || strcmp(fast.detail, ref.detail) != 0)) {
        fuzz_fail("promql_parse_vector: error %d \"%s\", the reference %d \"%s\"", (int)fast.error,
                  fast.detail, (int)ref.error, ref.detail);
    }
    json_decref(series);
    ivec_free(&v);
    ivec_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse(data, size, 200);
    parse(data, size, 422);
    static const char *const keep[] = {"job", "instance", "service"};
    vector(data, size, keep, 3);
    vector(data, size, NULL, 0);
    return 0;
}
