/* template: checks and expands the report's annotation templates ({{ $value }},
 * {{ $labels.NAME }}, {{ $value | humanizePercentage }}), and formats numbers the way
 * Prometheus's template functions do (see template.h). */
#include "template.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_CHARS 128 /* of a label name */

enum tvar { TVAR_VALUE, TVAR_THRESHOLD, TVAR_LABEL };
enum tfunc { TFUNC_NONE, TFUNC_HUMANIZE, TFUNC_1024, TFUNC_PERCENT, TFUNC_DURATION };

static const char *const func_names[] = {
    [TFUNC_NONE] = "",
    [TFUNC_HUMANIZE] = "humanize",
    [TFUNC_1024] = "humanize1024",
    [TFUNC_PERCENT] = "humanizePercentage",
    [TFUNC_DURATION] = "humanizeDuration",
};

struct taction {
    enum tvar var;
    const char *label; /* TVAR_LABEL: the name, label_len bytes (not NUL-terminated) */
    size_t label_len;
    enum tfunc func;
};

static bool ident_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Parses the inside of one {{ ... }} (s[0..len)); whole is the part with its braces, for
 * messages. */
static int parse_action(const char *s, size_t len, const char *whole, size_t whole_len,
                        struct taction *a, char *msg, size_t msg_size)
{
    int wl = whole_len > 80 ? 80 : (int)whole_len;
    const char *more = whole_len > 80 ? "..." : "";
    size_t i = 0;
    memset(a, 0, sizeof(*a));
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (i == len) {
        snprintf(msg, msg_size, "'%.*s%s': empty; expected $value, $threshold or $labels.NAME", wl,
                 whole, more);
        return -EINVAL;
    }
    if (s[i] != '$') {
        snprintf(msg, msg_size,
                 "'%.*s%s': expected $value, $threshold or $labels.NAME (functions go after "
                 "a '|': {{ $value | humanize }})",
                 wl, whole, more);
        return -EINVAL;
    }
    size_t start = i++;
    while (i < len && ident_char(s[i]))
        i++;
    size_t vlen = i - start;
    if (vlen == 6 && strncmp(s + start, "$value", 6) == 0) {
        a->var = TVAR_VALUE;
    } else if (vlen == 10 && strncmp(s + start, "$threshold", 10) == 0) {
        a->var = TVAR_THRESHOLD;
    } else if (vlen == 7 && strncmp(s + start, "$labels", 7) == 0) {
        a->var = TVAR_LABEL;
        if (i >= len || s[i] != '.' || i + 1 >= len || !ident_start(s[i + 1])) {
            snprintf(msg, msg_size,
                     "'%.*s%s': $labels needs a label name: $labels.instance, $labels.service, "
                     "...",
                     wl, whole, more);
            return -EINVAL;
        }
        a->label = s + ++i;
        while (i < len && ident_char(s[i]))
            i++;
        a->label_len = (size_t)(s + i - a->label);
        if (a->label_len > NAME_MAX_CHARS) {
            snprintf(msg, msg_size, "'%.*s%s': label name longer than %d characters", wl, whole,
                     more, NAME_MAX_CHARS);
            return -EINVAL;
        }
    } else {
        snprintf(msg, msg_size,
                 "'%.*s%s': unknown variable '%.*s' (use $value, $threshold or $labels.NAME)", wl,
                 whole, more, (int)(vlen > 40 ? 40 : vlen), s + start);
        return -EINVAL;
    }
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (i == len)
        return 0;
    if (s[i] != '|') {
        snprintf(msg, msg_size, "'%.*s%s': unexpected '%.*s' after the variable", wl, whole, more,
                 (int)(len - i > 40 ? 40 : len - i), s + i);
        return -EINVAL;
    }
    i++;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    size_t fstart = i;
    while (i < len && ident_char(s[i]))
        i++;
    size_t flen = i - fstart;
    for (size_t f = TFUNC_HUMANIZE; f < sizeof(func_names) / sizeof(func_names[0]); f++)
        if (flen == strlen(func_names[f]) && strncmp(s + fstart, func_names[f], flen) == 0)
            a->func = (enum tfunc)f;
    if (a->func == TFUNC_NONE) {
        snprintf(msg, msg_size,
                 "'%.*s%s': unknown function '%.*s' (use humanize, humanize1024, "
                 "humanizePercentage or humanizeDuration)",
                 wl, whole, more, (int)(flen > 40 ? 40 : flen), s + fstart);
        return -EINVAL;
    }
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    if (i != len) {
        snprintf(msg, msg_size, "'%.*s%s': unexpected '%.*s' after %s (one function at most)", wl,
                 whole, more, (int)(len - i > 40 ? 40 : len - i), s + i, func_names[a->func]);
        return -EINVAL;
    }
    if (a->var == TVAR_LABEL) {
        snprintf(msg, msg_size, "'%.*s%s': %s needs a number: $value or $threshold", wl, whole,
                 more, func_names[a->func]);
        return -EINVAL;
    }
    return 0;
}

/* Walks text: literal runs go to lit, actions to act. Stops at the first error. */
struct walker {
    int (*lit)(void *ud, const char *s, size_t n);
    int (*act)(void *ud, const struct taction *a);
    void *ud;
};

static int walk(const char *text, const struct walker *w, char *msg, size_t msg_size)
{
    const char *p = text;
    for (;;) {
        const char *open = strstr(p, "{{");
        if (!open)
            return w->lit ? w->lit(w->ud, p, strlen(p)) : 0;
        int r = w->lit ? w->lit(w->ud, p, (size_t)(open - p)) : 0;
        if (r < 0)
            return r;
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            size_t n = strlen(open);
            snprintf(msg, msg_size, "'%.*s%s': no closing '}}'", n > 40 ? 40 : (int)n, open,
                     n > 40 ? "..." : "");
            return -EINVAL;
        }
        const char *nested = strstr(open + 2, "{{");
        if (nested && nested < close) {
            size_t n = (size_t)(close + 2 - open);
            snprintf(msg, msg_size, "'%.*s%s': '{{' inside '{{ }}'", n > 80 ? 80 : (int)n, open,
                     n > 80 ? "..." : "");
            return -EINVAL;
        }
        struct taction a;
        r = parse_action(open + 2, (size_t)(close - open - 2), open, (size_t)(close + 2 - open), &a,
                         msg, msg_size);
        if (r < 0)
            return r;
        if (w->act && (r = w->act(w->ud, &a)) < 0)
            return r;
        p = close + 2;
    }
}

int template_check(const char *text, char *msg, size_t msg_size)
{
    if (strlen(text) > TEMPLATE_MAX_BYTES) {
        snprintf(msg, msg_size, "longer than %d bytes", TEMPLATE_MAX_BYTES);
        return -EINVAL;
    }
    struct walker w = {NULL, NULL, NULL};
    return walk(text, &w, msg, msg_size);
}

/* ---- number formats ---- */

void template_format_value(double v, char *out, size_t size)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* Go's %.4g for the special values, as Prometheus prints them. */
static bool special(double v, char *out, size_t size)
{
    if (isnan(v))
        snprintf(out, size, "NaN");
    else if (isinf(v))
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    else
        return false;
    return true;
}

static const char *const small_prefixes[] = {"m", "u", "n", "p", "f", "a", "z", "y"};

void template_humanize(double v, char *out, size_t size)
{
    static const char *const big[] = {"k", "M", "G", "T", "P", "E", "Z", "Y"};
    if (special(v, out, size))
        return;
    const char *prefix = "";
    if (v == 0) {
        snprintf(out, size, "0");
        return;
    }
    if (fabs(v) >= 1) {
        for (size_t i = 0; i < 8 && fabs(v) >= 1000; i++) {
            prefix = big[i];
            v /= 1000;
        }
    } else {
        for (size_t i = 0; i < 8 && fabs(v) < 1; i++) {
            prefix = small_prefixes[i];
            v *= 1000;
        }
    }
    snprintf(out, size, "%.4g%s", v, prefix);
}

void template_humanize1024(double v, char *out, size_t size)
{
    static const char *const big[] = {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"};
    if (special(v, out, size))
        return;
    const char *prefix = "";
    if (fabs(v) > 1)
        for (size_t i = 0; i < 8 && fabs(v) >= 1024; i++) {
            prefix = big[i];
            v /= 1024;
        }
    snprintf(out, size, "%.4g%s", v, prefix);
}

void template_humanize_percentage(double v, char *out, size_t size)
{
    if (special(v * 100, out, size))
        return;
    snprintf(out, size, "%.4g%%", v * 100);
}

void template_humanize_duration(double v, char *out, size_t size)
{
    if (special(v, out, size))
        return;
    if (v == 0) {
        snprintf(out, size, "0s");
        return;
    }
    if (fabs(v) >= 1) {
        const char *sign = v < 0 ? "-" : "";
        double a = fabs(v);
        if (a >= 9.2e18) { /* beyond int64 seconds: as Go would not print days */
            snprintf(out, size, "%s%.4gs", sign, a);
            return;
        }
        int64_t d = (int64_t)a;
        int64_t s = d % 60, m = d / 60 % 60, h = d / 3600 % 24, days = d / 86400;
        if (days)
            snprintf(out, size, "%s%" PRId64 "d %" PRId64 "h %" PRId64 "m %" PRId64 "s", sign, days,
                     h, m, s);
        else if (h)
            snprintf(out, size, "%s%" PRId64 "h %" PRId64 "m %" PRId64 "s", sign, h, m, s);
        else if (m)
            snprintf(out, size, "%s%" PRId64 "m %" PRId64 "s", sign, m, s);
        else
            snprintf(out, size, "%s%.4gs", sign, a);
        return;
    }
    const char *prefix = "";
    for (size_t i = 0; i < 8 && fabs(v) < 1; i++) {
        prefix = small_prefixes[i];
        v *= 1000;
    }
    snprintf(out, size, "%.4g%ss", v, prefix);
}

/* ---- rendering ---- */

struct render {
    const struct template_vars *vars;
    struct buf *out;
};

/* Appends at most what can still be shown: past TEMPLATE_MAX_OUTPUT_BYTES (and a few bytes
 * to tell a cut from a text of exactly that length) the rest is dropped, so a huge label
 * value costs no memory. */
static int put_bounded(struct render *r, const char *s, size_t n)
{
    size_t room = TEMPLATE_MAX_OUTPUT_BYTES + 4;
    room = r->out->len < room ? room - r->out->len : 0;
    return buf_append(r->out, s, n < room ? n : room);
}

static int render_lit(void *ud, const char *s, size_t n)
{
    return put_bounded(ud, s, n);
}

static int render_act(void *ud, const struct taction *a)
{
    struct render *r = ud;
    if (a->var == TVAR_LABEL) {
        const json_t *v = NULL;
        if (r->vars->labels) {
            char name[NAME_MAX_CHARS + 1];
            snprintf(name, sizeof(name), "%.*s", (int)a->label_len, a->label);
            v = json_object_get(r->vars->labels, name);
        }
        if (json_is_string(v))
            return put_bounded(r, json_string_value(v), json_string_length(v));
        return put_bounded(r, "<no value>", 10);
    }
    double x = a->var == TVAR_VALUE ? r->vars->value : r->vars->threshold;
    char num[64];
    switch (a->func) {
    case TFUNC_NONE: template_format_value(x, num, sizeof(num)); break;
    case TFUNC_HUMANIZE: template_humanize(x, num, sizeof(num)); break;
    case TFUNC_1024: template_humanize1024(x, num, sizeof(num)); break;
    case TFUNC_PERCENT: template_humanize_percentage(x, num, sizeof(num)); break;
    case TFUNC_DURATION: template_humanize_duration(x, num, sizeof(num)); break;
    }
    return put_bounded(r, num, strlen(num));
}

int template_render(const char *text, const struct template_vars *vars, struct buf *out)
{
    char msg[256];
    struct render r = {vars, out};
    struct walker w = {render_lit, render_act, &r};
    buf_reset(out);
    int ret = walk(text, &w, msg, sizeof(msg));
    if (ret == -EINVAL) { /* not checked: keep the text as it is */
        buf_reset(out);
        ret = buf_puts(out, text);
    }
    if (ret < 0)
        return ret;
    if (out->len > TEMPLATE_MAX_OUTPUT_BYTES) {
        size_t cut = TEMPLATE_MAX_OUTPUT_BYTES - 3;
        while (cut > 0 && ((unsigned char)out->data[cut] & 0xc0) == 0x80)
            cut--;
        out->len = cut;
        out->data[cut] = '\0';
        return buf_puts(out, "...");
    }
    return 0;
}
