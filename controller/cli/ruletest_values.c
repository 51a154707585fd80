/* ruletest_values: the values of a rule test in promtool's expanding notation ("0.5x6
 * 0.91+0.01x3 _x2 stale"; docs/RULES.md, "Values"). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ruletest.h"
#include "ruletest_private.h"

#define MAX_TOKEN 64 /* bytes of one value token ("0.91+0.01x3") */

static int series_push(struct series *s, double value, bool known)
{
    if (s->n >= RULETEST_MAX_STEPS)
        return -E2BIG;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        double *v = realloc(s->value, cap * sizeof(*v));
        if (v)
            s->value = v;
        bool *k = realloc(s->known, cap * sizeof(*k));
        if (k)
            s->known = k;
        if (!v || !k)
            return -ENOMEM;
        s->cap = cap;
    }
    s->value[s->n] = value;
    s->known[s->n] = known;
    s->n++;
    return 0;
}

/* A decimal number (sign when allowed, fraction, exponent) or Inf/NaN at *p; no hex, so
 * "0x5" is 0 repeated. Advances *p past it. */
static bool scan_number(const char **p, bool allow_sign, double *ret)
{
    const char *s = *p, *q = s;
    if (allow_sign && (*q == '+' || *q == '-'))
        q++;
    if (strncasecmp(q, "inf", 3) == 0 || strncasecmp(q, "nan", 3) == 0) {
        bool nan = tolower((unsigned char)*q) == 'n';
        *ret = nan ? NAN : *s == '-' ? -INFINITY : INFINITY;
        *p = q + 3;
        return true;
    }
    size_t digits = 0;
    while (isdigit((unsigned char)*q))
        q++, digits++;
    if (*q == '.')
        for (q++; isdigit((unsigned char)*q); q++)
            digits++;
    if (!digits)
        return false;
    if (*q == 'e' || *q == 'E') {
        const char *e = q + 1;
        if (*e == '+' || *e == '-')
            e++;
        if (isdigit((unsigned char)*e))
            for (q = e; isdigit((unsigned char)*q); q++)
                ;
    }
    char tmp[MAX_TOKEN];
    size_t len = (size_t)(q - s);
    if (len >= sizeof(tmp))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    *ret = strtod(tmp, NULL);
    *p = q;
    return true;
}

/* The repetition count after 'x': decimal digits to the end of the token. */
static bool scan_count(const char *p, uint64_t *ret)
{
    if (!isdigit((unsigned char)*p))
        return false;
    uint64_t n = 0;
    for (; isdigit((unsigned char)*p); p++) {
        n = n * 10 + (uint64_t)(*p - '0');
        if (n > RULETEST_MAX_STEPS)
            n = RULETEST_MAX_STEPS + 1; /* reported as too many values */
    }
    *ret = n;
    return *p == '\0';
}

/* Expands one token into s: "_", "_xN" (N missing), "stale", "a", "axN" (N+1 times a),
 * "a+bxN", "a-bxN" (a, a±b, ..., a±N*b). 0, -EINVAL (bad token), -E2BIG, -ENOMEM. */
static int expand_token(const char *tok, struct series *s)
{
    uint64_t count;
    int r = 0;
    if (strcmp(tok, "_") == 0 || strcmp(tok, "stale") == 0)
        return series_push(s, 0, false);
    if (tok[0] == '_' && tok[1] == 'x') {
        if (!scan_count(tok + 2, &count))
            return -EINVAL;
        for (uint64_t i = 0; i < count && r == 0; i++)
            r = series_push(s, 0, false);
        return r;
    }
    const char *p = tok;
    double a, b = 0;
    if (!scan_number(&p, true, &a))
        return -EINVAL;
    if (*p == '\0')
        return series_push(s, a, true);
    if (*p == '+' || *p == '-') {
        bool minus = *p == '-';
        p++;
        if (!scan_number(&p, false, &b) || *p != 'x')
            return -EINVAL;
        b = minus ? -b : b;
    }
    if (*p != 'x' || !scan_count(p + 1, &count))
        return -EINVAL;
    for (uint64_t i = 0; i <= count && r == 0; i++)
        r = series_push(s, a + (double)i * b, true);
    return r;
}

int ruletest_parse_values(const struct ytree_node *n, const char *text, struct series *s,
                          struct buf *errors)
{
    const char *p = text;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        size_t len = (size_t)(p - start);
        char tok[MAX_TOKEN];
        int r = -EINVAL;
        if (len < sizeof(tok)) {
            memcpy(tok, start, len);
            tok[len] = '\0';
            r = expand_token(tok, s);
        }
        if (r == -ENOMEM)
            return ytree_error(errors, n, "out of memory"), -ENOMEM;
        if (r == -E2BIG)
            return ytree_error(errors, n, "more than %d values", RULETEST_MAX_STEPS);
        if (r < 0)
            return ytree_error(errors, n,
                               "bad value '%.*s': expected a number, 'AxN', 'A+BxN', 'A-BxN', "
                               "'_', '_xN' or 'stale'",
                               len > 32 ? 32 : (int)len, start);
    }
    return 0;
}
