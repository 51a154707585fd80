/* test-template: the report's annotation templates (controller/engine/template.c):
 * expansion of {{ $value }}, {{ $threshold }} and {{ $labels.x }}, the humanize functions
 * against Prometheus's own outputs, and the errors, each with its position. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "buf.h"
#include "template.h"
#include "test.h"

/* ---- templates ---- */

static const char *render(const char *tmpl, double value, double threshold, const char *labels)
{
    static struct buf out = BUF_INIT_MAX(0);
    json_t *l = labels ? json_loads(labels, 0, NULL) : NULL;
    struct template_vars v = {value, threshold, l};
    int r = template_render(tmpl, &v, &out);
    json_decref(l);
    return r < 0 ? "(error)" : out.data ? out.data : "";
}

TEST(template_expands)
{
    CHECK_STR(render("CPU {{ $value }} over {{$threshold}}", 0.95, 0.85, NULL),
              "CPU 0.95 over 0.85");
    CHECK_STR(render("{{ $labels.instance }} at {{ $value | humanizePercentage }}", 0.953, 0,
                     "{\"instance\": \"node-a:9100\"}"),
              "node-a:9100 at 95.3%");
    CHECK_STR(render("{{ $labels.missing }}!", 1, 0, "{\"a\": \"b\"}"), "<no value>!");
    CHECK_STR(render("{{ $labels.a }}", 1, 0, NULL), "<no value>");
    CHECK_STR(render("no braces } { here", 1, 0, NULL), "no braces } { here");
    CHECK_STR(render("", 1, 0, NULL), "");
    CHECK_STR(render("{{$value|humanize}}B {{ $value | humanize1024 }}B", 1536, 0, NULL),
              "1.536kB 1.5kiB");
    CHECK_STR(render("{{ $value | humanizeDuration }}", 3723, 0, NULL), "1h 2m 3s");
    /* a long label value is cut on a character boundary */
    char labels[TEMPLATE_MAX_OUTPUT_BYTES + 64];
    int n = snprintf(labels, sizeof(labels), "{\"x\": \"");
    for (int i = 0; i < TEMPLATE_MAX_OUTPUT_BYTES / 2; i++)
        n += snprintf(labels + n, sizeof(labels) - (size_t)n, "\xc3\xa9"); /* é */
    snprintf(labels + n, sizeof(labels) - (size_t)n, "\"}");
    const char *out = render("a{{ $labels.x }}", 1, 0, labels);
    CHECK(strlen(out) <= TEMPLATE_MAX_OUTPUT_BYTES);
    CHECK(strcmp(out + strlen(out) - 3, "...") == 0);
    CHECK_STR(out + strlen(out) - 5, "\xc3\xa9...");
    /* a label value far larger than the buffer's own maximum is cut, not an error */
    struct buf huge = BUF_INIT_MAX(0);
    buf_puts(&huge, "{\"x\": \"");
    for (int i = 0; i < 100000; i++)
        buf_puts(&huge, "abcdefghij");
    buf_puts(&huge, "\"}");
    json_t *l = json_loads(huge.data, 0, NULL);
    struct template_vars v = {1, 0, l};
    struct buf small = BUF_INIT_MAX(TEMPLATE_MAX_OUTPUT_BYTES * 2);
    CHECK_INT(template_render("{{ $labels.x }}{{ $labels.x }} {{ $value }}", &v, &small), 0);
    CHECK_INT(small.len, TEMPLATE_MAX_OUTPUT_BYTES);
    CHECK_STR(small.data + small.len - 6, "abc..."); /* 4093 = 409 x 10 + 3 */
    json_decref(l);
    buf_free(&huge);
    buf_free(&small);
}

TEST(template_functions_match_prometheus)
{
    /* Expected outputs are those of Prometheus's template functions (template.go). */
    static const struct {
        void (*fn)(double, char *, size_t);
        double v;
        const char *want;
    } cases[] = {
        {template_humanize, 0, "0"},
        {template_humanize, 1234567, "1.235M"},
        {template_humanize, 999, "999"},
        {template_humanize, 1000, "1k"},
        {template_humanize, 0.012, "12m"},
        {template_humanize, -2500, "-2.5k"},
        {template_humanize, 0.000001, "1u"},
        {template_humanize, NAN, "NaN"},
        {template_humanize, INFINITY, "+Inf"},
        {template_humanize1024, 1536, "1.5ki"},
        {template_humanize1024, 1073741824, "1Gi"},
        {template_humanize1024, 0.5, "0.5"},
        {template_humanize1024, -3.5e9, "-3.26Gi"},
        {template_humanize_percentage, 0.95, "95%"},
        {template_humanize_percentage, 0.12345, "12.35%"},
        {template_humanize_percentage, 0, "0%"},
        {template_humanize_duration, 0, "0s"},
        {template_humanize_duration, 1.5, "1.5s"},
        {template_humanize_duration, 0.25, "250ms"},
        {template_humanize_duration, 0.0005, "500us"},
        {template_humanize_duration, 61, "1m 1s"},
        {template_humanize_duration, 3723, "1h 2m 3s"},
        {template_humanize_duration, 90061, "1d 1h 1m 1s"},
        {template_humanize_duration, -61, "-1m 1s"},
        {template_format_value, 0.95, "0.95"},
        {template_format_value, 0.1 + 0.2, "0.30000000000000004"},
        {template_format_value, 1e9, "1e+09"},
        {template_format_value, 42, "42"},
        {template_format_value, -INFINITY, "-Inf"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[64];
        cases[i].fn(cases[i].v, out, sizeof(out));
        if (strcmp(out, cases[i].want) != 0)
            TEST_FAIL("case %zu (%g): got \"%s\", want \"%s\"", i, cases[i].v, out, cases[i].want);
    }
}

TEST(template_errors)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"{{ $lables.x }}",
         "'{{ $lables.x }}': unknown variable '$lables' (use $value, $threshold or $labels.NAME)"},
        {"a {{ $value ", "'{{ $value ': no closing '}}'"},
        {"{{ }}", "'{{ }}': empty; expected $value, $threshold or $labels.NAME"},
        {"{{ value }}", "'{{ value }}': expected $value, $threshold or $labels.NAME (functions "
                        "go after a '|': {{ $value | humanize }})"},
        {"{{ $labels }}",
         "'{{ $labels }}': $labels needs a label name: $labels.instance, $labels.service, ..."},
        {"{{ $labels.9x }}",
         "'{{ $labels.9x }}': $labels needs a label name: $labels.instance, $labels.service, ..."},
        {"{{ $value | humanise }}",
         "'{{ $value | humanise }}': unknown function 'humanise' (use humanize, humanize1024, "
         "humanizePercentage or humanizeDuration)"},
        {"{{ $value | humanize | humanize }}",
         "'{{ $value | humanize | humanize }}': unexpected '| humanize ' after humanize (one "
         "function at most)"},
        {"{{ $labels.a | humanize }}",
         "'{{ $labels.a | humanize }}': humanize needs a number: $value or $threshold"},
        {"{{ $value x }}", "'{{ $value x }}': unexpected 'x ' after the variable"},
        {"{{ {{ $value }}", "'{{ {{ $value }}': '{{' inside '{{ }}'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[512] = "";
        int r = template_check(cases[i].text, msg, sizeof(msg));
        if (r != -EINVAL || strcmp(msg, cases[i].want) != 0)
            TEST_FAIL("case %zu (%s): %d \"%s\", want \"%s\"", i, cases[i].text, r, msg,
                      cases[i].want);
    }
    char msg[256];
    CHECK_INT(
        template_check("ok {{ $value | humanizeDuration }} {{$labels.job}}", msg, sizeof(msg)), 0);
    char big[TEMPLATE_MAX_BYTES + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_INT(template_check(big, msg, sizeof(msg)), -EINVAL);
    CHECK_STR(msg, "longer than 2048 bytes");
}

TEST_MAIN(TEST_ENTRY(template_expands), TEST_ENTRY(template_functions_match_prometheus),
          TEST_ENTRY(template_errors))
