/* log: syslog-level logging to stderr with "<N>" priority prefixes that journald
 * understands. Exports log_set_level(), log_parse_level(), log_internal() and the
 * log_*() macros. Library code in common/ logs at debug level only. */
#ifndef HOMEOSTAT_LOG_H
#define HOMEOSTAT_LOG_H

#include <errno.h>
#include <syslog.h>

/* Sets the maximum level printed (LOG_ERR .. LOG_DEBUG). Default LOG_INFO. */
void log_set_level(int level);
int log_get_level(void);
/* Parses "debug", "info", "warn", "error" (node_exporter's names); returns the syslog
 * level or -EINVAL. */
int log_parse_level(const char *s);

/* Prints one line "<level>message\n" (with ": strerror(-error)" when error != 0).
 * Returns -|error| (or -EIO when error is 0 and level is an error) so callers can
 * log and return in one line. Thread-safe; one write(2) per line. */
int log_internal(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_full_errno(level, error, ...) log_internal((level), (error), __VA_ARGS__)
#define log_debug(...) log_internal(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_debug_errno(e, ...) log_internal(LOG_DEBUG, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_internal(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_internal(LOG_ERR, (e), __VA_ARGS__)

#endif
