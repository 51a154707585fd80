/* placeholders: the {{name}} placeholders of action parameters (docs/RULES.md): the
 * built-in variables and the scanner, shared by the rules loader (manual actions'
 * implicit parameters) and the actuators (checking and expansion). */
#include "placeholders.h"

#include <errno.h>
#include <string.h>

const char *const placeholder_builtins[] = {"id",        "state",      "from", "severity",
                                            "reasoning", "confidence", "time", NULL};

/* Calls fn for every {{name}} in s; stops at the first nonzero return. -EINVAL for an
 * unterminated or empty placeholder, or a $labels. without a label name. */
int placeholder_each(const char *s, int (*fn)(const char *name, size_t len, void *ud), void *ud)
{
    const char *p = s;
    while ((p = strstr(p, "{{"))) {
        const char *start = p + 2;
        while (*start == ' ')
            start++;
        const char *end = strstr(start, "}}");
        if (!end)
            return -EINVAL;
        const char *e = end;
        while (e > start && e[-1] == ' ')
            e--;
        if (e == start)
            return -EINVAL;
        const char *q = start;
        size_t lp = strlen(PLACEHOLDER_LABELS);
        if ((size_t)(e - start) > lp && strncmp(start, PLACEHOLDER_LABELS, lp) == 0)
            q += lp; /* {{ $labels.NAME }}: NAME a label name */
        if (q < e && *q >= '0' && *q <= '9' && q > start)
            return -EINVAL;
        for (; q < e; q++)
            if (!(*q == '_' || (*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
                  (*q >= '0' && *q <= '9')))
                return -EINVAL;
        int r = fn(start, (size_t)(e - start), ud);
        if (r)
            return r;
        p = end + 2;
    }
    return 0;
}
