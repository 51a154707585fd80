/* fileio: bounded reads of small files (/proc, /sys, configuration) and atomic
 * writes (temp file, fsync, rename, fsync of the directory). */
#ifndef HOMEOSTAT_FILEIO_H
#define HOMEOSTAT_FILEIO_H

#include <stddef.h>

/* Reads the whole file at path into buf (NUL-terminated), at most max bytes.
 * Returns the length read, -EFBIG when the file holds more than max bytes, or -errno.
 * buf must hold max + 1 bytes. */
long file_read_into(const char *path, char *buf, size_t max);
/* Like file_read_into, but joins dir and name as dir + "/" + name. */
long file_read_at(const char *dir, const char *name, char *buf, size_t max);
/* Reads the file into a new malloc()ed NUL-terminated string (caller frees) of at
 * most max bytes. Returns 0 and sets *ret and *ret_len, or -EFBIG/-errno (ret untouched). */
int file_read_alloc(const char *path, size_t max, char **ret, size_t *ret_len);
/* Reads one unsigned integer (decimal, surrounding whitespace allowed) from a file. */
int file_read_u64(const char *path, unsigned long long *ret);
/* Writes data to path atomically: path.tmp.PID, fsync, rename, fsync(dir). */
int file_write_atomic(const char *path, const void *data, size_t len, int mode);
/* snprintf into a path buffer; -ENAMETOOLONG when it does not fit. */
int path_join(char *out, size_t outsz, const char *a, const char *b);

#endif
