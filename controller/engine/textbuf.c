/* textbuf: see textbuf.h. */
#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char ellipsis[] = "\xe2\x80\xa6"; /* … */

void text_printf(struct text *t, const char *fmt, ...)
{
    if (t->full)
        return;
    size_t avail = t->cap - t->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->p + t->len, avail, fmt, ap);
    va_end(ap);
    if (n < 0) {
        t->p[t->len] = '\0';
        return;
    }
    if ((size_t)n < avail) {
        t->len += (size_t)n;
        return;
    }
    /* Cut at a character start that leaves room for the ellipsis and the NUL. */
    size_t end = t->cap - sizeof(ellipsis);
    while (end > 0 && ((unsigned char)t->p[end] & 0xC0) == 0x80)
        end--;
    memcpy(t->p + end, ellipsis, sizeof(ellipsis));
    t->len = end + sizeof(ellipsis) - 1;
    t->full = true;
}
