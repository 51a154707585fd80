/* fuzz_common: what the harnesses share: the entry point's prototype, an abort with a
 * message for a broken invariant (libFuzzer and the replay report it as a crash), and the
 * structural check of a Prometheus text exposition. */
#ifndef HOMEOSTAT_FUZZ_COMMON_H
#define HOMEOSTAT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "fuzz: invariant broken: MSG" and aborts. */
__attribute__((noreturn, format(printf, 1, 2))) void fuzz_fail(const char *fmt, ...);

/* Checks text (NUL-terminated) as a text exposition: every family's TYPE once, every
 * sample under the family declared before it, no control characters but '\n'. Calls
 * fuzz_fail on a violation. */
void fuzz_check_exposition(const char *text);

#endif
