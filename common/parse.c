/* parse: strict parsers for numbers, durations, sizes and addresses (see parse.h). */
#include "parse.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <time.h>

static const char *skip_ws(const char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    return s;
}

static bool only_ws(const char *s)
{
    return *skip_ws(s) == '\0';
}

int parse_u64(const char *s, unsigned long long *ret)
{
    s = skip_ws(s);
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    if (!only_ws(end))
        return -EINVAL;
    *ret = v;
    return 0;
}

int parse_uint(const char *s, unsigned *ret)
{
    unsigned long long v;
    int r = parse_u64(s, &v);
    if (r < 0)
        return r;
    if (v > 0xffffffffULL)
        return -ERANGE;
    *ret = (unsigned)v;
    return 0;
}

int parse_double(const char *s, double *ret)
{
    s = skip_ws(s);
    if (*s == '\0')
        return -EINVAL;
    const char *t = s;
    int sign = 1;
    if (*t == '+' || *t == '-') {
        sign = *t == '-' ? -1 : 1;
        t++;
    }
    if (strncasecmp(t, "inf", 3) == 0 && only_ws(t + 3)) {
        *ret = sign * INFINITY;
        return 0;
    }
    if (strncasecmp(t, "nan", 3) == 0 && only_ws(t + 3) && t == s) {
        *ret = NAN;
        return 0;
    }
    /* strtod also takes hex floats and "infinity"; accept only decimal forms. */
    for (const char *c = t; *c && !isspace((unsigned char)*c); c++)
        if (!(isdigit((unsigned char)*c) || *c == '.' || *c == 'e' || *c == 'E' || *c == '+' ||
              *c == '-'))
            return -EINVAL;
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !only_ws(end))
        return -EINVAL;
    if (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL))
        return -ERANGE;
    *ret = v;
    return 0;
}

/* Reads "123" or "1.5" (decimal only: no sign, exponent or hex) at *p. */
static int scan_decimal(const char **p, double *ret)
{
    const char *s = *p, *start = s;
    bool dot = false;
    while (isdigit((unsigned char)*s) || (*s == '.' && !dot)) {
        dot |= *s == '.';
        s++;
    }
    if (s == start || (s == start + 1 && *start == '.'))
        return -EINVAL;
    char tmp[64];
    size_t n = (size_t)(s - start);
    if (n >= sizeof(tmp))
        return -ERANGE;
    memcpy(tmp, start, n);
    tmp[n] = '\0';
    *ret = strtod(tmp, NULL);
    *p = s;
    return 0;
}

int parse_duration_usec(const char *s, uint64_t *ret)
{
    static const struct {
        const char *unit;
        double usec;
    } units[] = {
        /* Longest first: "ms" before "m", "us" before "s". */
        {"ms", 1e3}, {"us", 1.0},  {"µs", 1.0},    {"ns", 1e-3},    {"s", 1e6},
        {"m", 6e7},  {"h", 3.6e9}, {"d", 8.64e10}, {"w", 6.048e11},
    };
    s = skip_ws(s);
    if (*s == '\0')
        return -EINVAL;
    uint64_t total = 0;
    bool any = false;
    while (*s && !isspace((unsigned char)*s)) {
        double v;
        int r = scan_decimal(&s, &v);
        if (r < 0)
            return r;
        double mult;
        if (*s == '\0' || isspace((unsigned char)*s)) {
            if (any)
                return -EINVAL; /* "1m30" is ambiguous */
            mult = 1e6;         /* a bare number is seconds */
        } else {
            size_t i;
            for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                size_t ul = strlen(units[i].unit);
                if (strncmp(s, units[i].unit, ul) == 0) {
                    s += ul;
                    break;
                }
            }
            if (i == sizeof(units) / sizeof(units[0]))
                return -EINVAL;
            mult = units[i].usec;
        }
        double us = v * mult + 0.5;
        /* 2^64 is exactly representable; anything at or past it does not fit. */
        if (!(us < 18446744073709551616.0))
            return -ERANGE;
        uint64_t part = (uint64_t)us;
        if (total > UINT64_MAX - part)
            return -ERANGE;
        total += part;
        any = true;
    }
    if (!any || !only_ws(s))
        return -EINVAL;
    *ret = total;
    return 0;
}

int parse_size_bytes(const char *s, uint64_t *ret)
{
    s = skip_ws(s);
    char trimmed[64];
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= sizeof(trimmed))
        return -EINVAL;
    memcpy(trimmed, s, n);
    trimmed[n] = '\0';
    s = trimmed;
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    uint64_t mult = 1;
    if (*end) {
        char u = (char)toupper((unsigned char)*end);
        const char *rest = end + 1;
        switch (u) {
        case 'K': mult = 1ULL << 10; break;
        case 'M': mult = 1ULL << 20; break;
        case 'G': mult = 1ULL << 30; break;
        case 'T': mult = 1ULL << 40; break;
        case 'B': mult = 1; break;
        default: return -EINVAL;
        }
        if (u != 'B') {
            if (strcasecmp(rest, "iB") == 0 || strcasecmp(rest, "B") == 0)
                rest += strlen(rest);
        }
        if (!only_ws(rest))
            return -EINVAL;
    }
    if (mult > 1 && v > UINT64_MAX / mult)
        return -ERANGE;
    *ret = v * mult;
    return 0;
}

int parse_bool(const char *s, bool *ret)
{
    static const char *yes[] = {"1", "true", "yes", "on"};
    static const char *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return 0;
        }
    }
    return -EINVAL;
}

int parse_listen_address(const char *s, char *host, size_t hostsz, unsigned *ret_port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -EINVAL;
        if (memchr(s, ':', (size_t)(colon - s)))
            return -EINVAL; /* bare IPv6 needs brackets */
        hl = (size_t)(colon - s);
    }
    if (hl >= hostsz)
        return -EINVAL;
    unsigned port;
    if (colon[1] == '\0' || parse_uint(colon + 1, &port) < 0 || port > 65535)
        return -EINVAL;
    for (const char *c = colon + 1; *c; c++)
        if (!isdigit((unsigned char)*c))
            return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *ret_port = port;
    return 0;
}

char *next_field(char **p)
{
    char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0') {
        *p = s;
        return NULL;
    }
    char *start = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    if (*s)
        *s++ = '\0';
    *p = s;
    return start;
}

uint64_t now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

double now_realtime(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *format_duration_usec(uint64_t usec, char *out, size_t size)
{
    static const struct {
        uint64_t usec;
        const char *unit;
    } units[] = {{86400000000ull, "d"}, {3600000000ull, "h"}, {60000000ull, "m"},
                 {1000000ull, "s"},     {1000ull, "ms"},      {1ull, "us"}};
    size_t o = 0;
    if (size)
        out[0] = '\0';
    if (usec == 0) {
        snprintf(out, size, "0s");
        return out;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        uint64_t q = usec / units[i].usec;
        usec %= units[i].usec;
        if (!q || o >= size)
            continue;
        int w = snprintf(out + o, size - o, "%llu%s", (unsigned long long)q, units[i].unit);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    return out;
}
