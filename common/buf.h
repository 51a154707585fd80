/* buf: a growable byte buffer with a hard maximum size. Every append either fits
 * under the maximum or fails with -E2BIG and leaves the buffer as it was. */
#ifndef HOMEOSTAT_BUF_H
#define HOMEOSTAT_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* 0 means BUF_DEFAULT_MAX */
};

#define BUF_DEFAULT_MAX (64u << 20)
#define BUF_INIT_MAX(m)                                                                            \
    {                                                                                              \
        NULL, 0, 0, (m)                                                                            \
    }

void buf_init(struct buf *b, size_t max);
/* Frees the storage; the buffer may be reused after buf_init(). Accepts NULL. */
void buf_free(struct buf *b);
void buf_reset(struct buf *b); /* len = 0, storage kept */
/* Makes room for n more bytes. 0, -ENOMEM, or -E2BIG past the maximum. */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Hands the storage to the caller (free() it); the buffer is left empty. */
char *buf_steal(struct buf *b, size_t *ret_len);

#endif
