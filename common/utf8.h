/* utf8: the project's one UTF-8 check, for text from outside (label values, replies,
 * program output) that must be valid before it is shown or stored. */
#ifndef HOMEOSTAT_UTF8_H
#define HOMEOSTAT_UTF8_H

#include <stddef.h>

/* The length (1 to 4) of the well-formed UTF-8 sequence at s, n bytes available (n > 0),
 * or 0 when it is not one: a stray continuation byte, an overlong form, a surrogate, a
 * code point past U+10FFFF, or a sequence cut short by n. NUL counts as length 1. */
size_t utf8_seq_len(const void *s, size_t n);

#endif
