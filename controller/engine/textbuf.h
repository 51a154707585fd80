/* textbuf: a bounded writer of readable text into a fixed buffer (a reasoning, a
 * regulator's explanation): printf-style appends; text that does not fit ends with "…"
 * at a character boundary, never inside a UTF-8 sequence, and later appends are dropped. */
#ifndef HOMEOSTAT_CONTROLLER_TEXTBUF_H
#define HOMEOSTAT_CONTROLLER_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct text {
    char *p;    /* the buffer, NUL-terminated after every append */
    size_t cap; /* its size; at least 4 (the ellipsis and the NUL) */
    size_t len;
    bool full;
};

/* An empty text over buf[0..cap). */
#define TEXT_INIT(buf, cap) ((struct text){(buf), (cap), 0, false})

void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
