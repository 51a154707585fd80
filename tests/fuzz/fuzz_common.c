/* fuzz_common: shared helpers of the harnesses (see fuzz_common.h). */
#include "fuzz_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz: invariant broken: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

#define MAX_FAMILIES 4096

void fuzz_check_exposition(const char *text)
{
    static char *seen[MAX_FAMILIES];
    size_t n_seen = 0;
    const char *family = NULL;
    size_t family_len = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)p[i] < 0x20)
                fuzz_fail("control character 0x%02x in exposition line '%.*s'", p[i], (int)len, p);
        if (len > 7 && strncmp(p, "# TYPE ", 7) == 0) {
            const char *name = p + 7;
            const char *sp = memchr(name, ' ', len - 7);
            if (!sp)
                fuzz_fail("TYPE line without a type: '%.*s'", (int)len, p);
            family = name;
            family_len = (size_t)(sp - name);
            for (size_t i = 0; i < n_seen; i++)
                if (strlen(seen[i]) == family_len && memcmp(seen[i], name, family_len) == 0)
                    fuzz_fail("family '%.*s' declared twice", (int)family_len, name);
            if (n_seen < MAX_FAMILIES)
                seen[n_seen++] = strndup(name, family_len);
        } else if (len > 0 && *p != '#') {
            if (!family || strncmp(p, family, family_len) != 0)
                fuzz_fail("sample outside its family '%.*s': '%.*s'", (int)family_len,
                          family ? family : "", (int)len, p);
        }
        p = nl ? nl + 1 : p + len;
    }
    for (size_t i = 0; i < n_seen; i++)
        free(seen[i]);
}
