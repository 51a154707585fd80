/* parse: strict number, duration, size and listen-address parsers shared by both
 * daemons. All return 0 or -EINVAL/-ERANGE and leave the output untouched on failure. */
#ifndef HOMEOSTAT_PARSE_H
#define HOMEOSTAT_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int parse_u64(const char *s, unsigned long long *ret); /* decimal, whitespace-trimmed */
int parse_uint(const char *s, unsigned *ret);
int parse_double(const char *s, double *ret); /* accepts NaN, +Inf, -Inf */
/* Prometheus-style durations: "100ms", "5s", "1m30s", "2h", "1d", "250us"; a bare
 * number is seconds. Result in microseconds. */
int parse_duration_usec(const char *s, uint64_t *ret);
/* The project's one duration formatter, the inverse of parse_duration_usec: the largest
 * units first, each once, none that is zero ("1d2h", "20m15s", "1s500ms", "250us"); "0s"
 * for 0. Returns out. */
const char *format_duration_usec(uint64_t usec, char *out, size_t size);
/* Sizes: "512", "64k", "64KiB", "16M", "1G" (powers of 1024). */
int parse_size_bytes(const char *s, uint64_t *ret);
int parse_bool(const char *s, bool *ret); /* true/false/yes/no/1/0/on/off */
/* "host:port", "[v6addr]:port" or ":port" (all addresses). Host copied into
 * host (empty for all), port 0..65535. */
int parse_listen_address(const char *s, char *host, size_t hostsz, unsigned *ret_port);
/* Splits the next space- or tab-separated field off the NUL-terminated line *p,
 * terminating it in place and advancing *p. NULL when no field is left. Callers split
 * lines first (the newline is not a separator). */
char *next_field(char **p);
/* Monotonic and wall clocks. */
uint64_t now_usec(void);   /* CLOCK_MONOTONIC */
double now_realtime(void); /* seconds since the epoch */

#endif
