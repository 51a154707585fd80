/* log: "<N>"-prefixed stderr logging at syslog levels (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static atomic_int log_max_level = LOG_INFO;

void log_set_level(int level)
{
    atomic_store(&log_max_level, level);
}

int log_get_level(void)
{
    return atomic_load(&log_max_level);
}

int log_parse_level(const char *s)
{
    static const struct {
        const char *name;
        int level;
    } names[] = {
        {"debug", LOG_DEBUG},     {"info", LOG_INFO}, {"notice", LOG_NOTICE}, {"warn", LOG_WARNING},
        {"warning", LOG_WARNING}, {"error", LOG_ERR}, {"err", LOG_ERR},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0)
            return names[i].level;
    return -EINVAL;
}

int log_internal(int level, int error, const char *fmt, ...)
{
    if (error < 0)
        error = -error;
    int ret = error ? -error : (level <= LOG_ERR ? -EIO : 0);
    if (level > atomic_load(&log_max_level))
        return ret;

    char line[2048];
    int n = snprintf(line, sizeof(line), "<%d>", level);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    if (error) {
        char eb[128];
        const char *es = strerror_r(error, eb, sizeof(eb));
        int k = snprintf(line + len, sizeof(line) - len, ": %s", es);
        if (k > 0)
            len += (size_t)k;
        if (len > sizeof(line) - 2)
            len = sizeof(line) - 2;
    }
    /* Keep one record per line: journald would split embedded newlines. */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
    return ret;
}
