/* template: the annotation templates of the report section of the rules (docs/RULES.md,
 * report). A template is text with {{ EXPR }} or {{ EXPR | FUNC }} parts, as in
 * Prometheus alerting rules: EXPR is $value, $threshold or $labels.NAME; FUNC is one of
 * humanize, humanize1024, humanizePercentage, humanizeDuration (numbers only).
 * template_check validates a template when the rules load; template_render expands it. */
#ifndef HOMEOSTAT_CONTROLLER_TEMPLATE_H
#define HOMEOSTAT_CONTROLLER_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

#define TEMPLATE_MAX_BYTES 2048        /* of a template as written */
#define TEMPLATE_MAX_OUTPUT_BYTES 4096 /* of an expanded one; longer is cut with "..." */

/* What a template is expanded with (all borrowed). */
struct template_vars {
    double value;         /* $value */
    double threshold;     /* $threshold */
    const json_t *labels; /* $labels: an object of strings, or NULL for none */
};

/* 0 when text is a valid template; otherwise -EINVAL and why in msg, naming the part:
 * "'{{ $lables.x }}': unknown variable '$lables' (use $value, $threshold or $labels.NAME)". */
int template_check(const char *text, char *msg, size_t msg_size);

/* Expands a template that passed template_check into out (reset first). A label the
 * series lacks expands to "<no value>", as in Prometheus. 0, or -ENOMEM. At most
 * TEMPLATE_MAX_OUTPUT_BYTES are kept; more is cut on a character boundary with "...". */
int template_render(const char *text, const struct template_vars *vars, struct buf *out);

/* A number as Prometheus's templates print it. `template_format_value`: the shortest text
 * that reads back as v ("0.95", "1e+09", "NaN", "+Inf"). The others are the functions
 * above: humanize ("1.235k", "12.5m"), humanize1024 ("1.5Gi"), humanizePercentage
 * ("95%"), humanizeDuration ("1d 2h 3m 4s", "1.5s", "250ms"). Write into out. */
void template_format_value(double v, char *out, size_t size);
void template_humanize(double v, char *out, size_t size);
void template_humanize1024(double v, char *out, size_t size);
void template_humanize_percentage(double v, char *out, size_t size);
void template_humanize_duration(double v, char *out, size_t size);

#endif
